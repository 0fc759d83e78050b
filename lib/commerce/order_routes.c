/* The orders' admin routes (doc/admin.md, doc/openapi.json), mounted by
 * the orders module behind the admin token, over include/wabot/order.h:
 *   GET  {prefix}/orders/:org[?customer=&status=&cursor=&limit=]
 *   GET  {prefix}/orders/:org/:id
 *   POST {prefix}/orders/:org/:id/status   {"status":"confirmed"}: 200 and
 *        the order; 409 for a change its status does not allow or stock
 *        that no longer covers it */
#include <jansson.h>
#include <strings.h>

#include "commerce/order_internal.h"
#include "internal/admin.h"
#include "wabot/order.h"

#define PAGE_DEFAULT 50

static const char *org_of(const wabot_http_server_request *req)
{
    return wabot_http_server_request_param(req, "org");
}

/* "confirmed" (any case) to its status; 0 when unknown. */
static wabot_order_status status_named(const char *name)
{
    for (int s = WABOT_ORDER_PENDING; s < WABOT_ORDER_STATUS_COUNT; s++)
        if (name != NULL &&
            strcasecmp(name, wabot_order_status_name((wabot_order_status)s)) ==
                0)
            return (wabot_order_status)s;
    return (wabot_order_status)0;
}

static int orders_list(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ud;
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, PAGE_DEFAULT, 1000, &limit, &rc))
        return rc;
    const char *st = wabot_http_server_request_query_param(req, "status", NULL);
    wabot_order_status status = (wabot_order_status)0;
    if (st != NULL && (status = status_named(st)) == 0)
        return wabot_admin_error(resp, 400, "invalid", "status",
                                 "status: one of pending, confirmed, "
                                 "processing, fulfilled, cancelled");
    char *out = NULL;
    rc = wabot_order_list(
        ctx, org_of(req),
        wabot_http_server_request_query_param(req, "customer", NULL), status,
        wabot_http_server_request_query_param(req, "cursor", NULL), limit,
        &out);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

static int order_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)ud;
    char *out = NULL;
    int rc = wabot_order_get(ctx, org_of(req),
                             wabot_http_server_request_param(req, "id"), &out);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "id");
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

static int order_status(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    json_t *o = wb_admin_body_object(req, resp, &rc);
    if (o == NULL)
        return rc;
    wabot_order_status to =
        status_named(json_string_value(json_object_get(o, "status")));
    json_decref(o);
    if (to == 0)
        return wabot_admin_error(resp, 400, "invalid", "status",
                                 "status: one of pending, confirmed, "
                                 "processing, fulfilled, cancelled");
    const char *id = wabot_http_server_request_param(req, "id");
    rc = wabot_order_set_status(ctx, org_of(req), id, to);
    if (rc == WABOT_ERR_TOO_LARGE) /* the stock no longer covers it */
        return wabot_admin_error(resp, 409, "out_of_stock", "status",
                                 wabot_ctx_errmsg(ctx));
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "status");
    char *out = NULL;
    rc = wabot_order_get(ctx, org_of(req), id, &out);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "id");
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

int wb_order_admin_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"GET", "/orders/:org", orders_list},
        {"GET", "/orders/:org/:id", order_get},
        {"POST", "/orders/:org/:id/status", order_status},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
