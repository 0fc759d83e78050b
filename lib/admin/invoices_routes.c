/* The invoices' admin routes (doc/admin.md), mounted by the invoices
 * module behind the admin token, over include/wabot/invoice.h:
 *   GET  {prefix}/invoices/:org[?status=&customer=&cursor=&limit=]
 *   GET  {prefix}/invoices/:org/:number
 *   GET  {prefix}/invoices/:org/:number/pdf     application/pdf
 *   POST {prefix}/invoices/:org/:number/paid    mark paid (409 if final)
 *   POST {prefix}/invoices/:org/:number/void    void (409 if paid) */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "wabot/invoice.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 1000

static const char *org_of(const wabot_http_server_request *req)
{
    return wabot_http_server_request_param(req, "org");
}

static const char *number_of(const wabot_http_server_request *req)
{
    return wabot_http_server_request_param(req, "number");
}

/* The status named in the query (0: any); -1 when unknown. */
static int status_named(const char *name)
{
    if (name == NULL || *name == '\0')
        return 0;
    for (int s = WABOT_INVOICE_ISSUED; s <= WABOT_INVOICE_VOID; s++)
        if (strcmp(name, wabot_invoice_status_name(s)) == 0)
            return s;
    return -1;
}

/* The cursor: an offset into the list; "0" or absent: the start. */
static int64_t offset_of(const char *cursor)
{
    if (cursor == NULL)
        return 0;
    char *end = NULL;
    long long v = strtoll(cursor, &end, 10);
    return end != cursor && *end == '\0' && v >= 0 ? (int64_t)v : -1;
}

static int invoices_list(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    (void)ud;
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, PAGE_DEFAULT, PAGE_MAX, &limit, &rc))
        return rc;
    int status = status_named(
        wabot_http_server_request_query_param(req, "status", NULL));
    if (status < 0)
        return wabot_admin_error(resp, 400, "invalid_field", "status",
                                 "status must be issued, sent, paid, "
                                 "overdue or void");
    int64_t offset = offset_of(
        wabot_http_server_request_query_param(req, "cursor", NULL));
    if (offset < 0)
        return wabot_admin_error(resp, 400, "invalid_field", "cursor",
                                 "cursor must be one a list answered");
    char *json = NULL;
    rc = wabot_invoice_list(
        ctx, org_of(req),
        wabot_http_server_request_query_param(req, "customer", NULL),
        (wabot_invoice_status)status, offset, limit, &json);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    /* {"invoices":[..],"next_offset":n} as the other lists answer:
     * {"invoices":[..],"cursor":"n"}, "0" when there is no more. */
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *o = json_loads(json, 0, NULL);
    wabot_ctx_mem_free(ctx, json);
    json_int_t next = json_integer_value(json_object_get(o, "next_offset"));
    char cursor[32];
    snprintf(cursor, sizeof cursor, "%lld", next > 0 ? (long long)next : 0);
    json_object_del(o, "next_offset");
    json_object_set_new(o, "cursor", json_string(cursor));
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    rc = text != NULL ? wabot_http_response_set_json(resp, 200, text)
                      : WABOT_ERR_NOMEM;
    wb_json_free(text);
    wb_json_scope_leave(prev);
    return rc;
}

static int invoice_answer(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp)
{
    char *json = NULL;
    int rc = wabot_invoice_get(ctx, org_of(req), number_of(req), &json);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    return wb_admin_answer_owned(ctx, resp, 200, json);
}

static int invoice_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ud;
    return invoice_answer(ctx, req, resp);
}

static int invoice_pdf(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ud;
    char *pdf = NULL;
    size_t len = 0;
    int rc = wabot_invoice_render_pdf(ctx, org_of(req), number_of(req), &pdf,
                                      &len);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    rc = wabot_http_response_set_body(resp, "application/pdf", pdf, len);
    wabot_ctx_mem_free(ctx, pdf);
    return rc;
}

/* Move the invoice to `status`; answer it as it is then. */
static int invoice_move(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, wabot_invoice_status status)
{
    int rc = wabot_invoice_set_status(ctx, org_of(req), number_of(req),
                                      status);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    return invoice_answer(ctx, req, resp);
}

static int invoice_paid(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    return invoice_move(ctx, req, resp, WABOT_INVOICE_PAID);
}

static int invoice_void(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    return invoice_move(ctx, req, resp, WABOT_INVOICE_VOID);
}

int wb_admin_invoices_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"GET", "/invoices/:org", invoices_list},
        {"GET", "/invoices/:org/:number", invoice_get},
        {"GET", "/invoices/:org/:number/pdf", invoice_pdf},
        {"POST", "/invoices/:org/:number/paid", invoice_paid},
        {"POST", "/invoices/:org/:number/void", invoice_void},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
