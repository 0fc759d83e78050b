/* The customers' admin routes (doc/admin.md), mounted by the campaign
 * module behind the admin token, over the customer C API of
 * include/wabot/campaign.h:
 *   GET  {prefix}/customers/:org[?cursor=&limit=]   a page and the cursor
 *   POST {prefix}/customers/:org                    upsert (201 + Location
 *                                                   when new, else 200)
 *   GET  {prefix}/customers/:org/:phone
 *   PUT  {prefix}/customers/:org/:phone             upsert, phone from path
 *   POST {prefix}/customers/:org/import[?partial=1] 422 with the bad rows
 *   POST {prefix}/customers/:org/:phone/opt-out     {"source":..} optional */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/admin.h"
#include "internal/campaign.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "wabot/storage.h"

#define PAGE_DEFAULT 50

static const char *org_of(const wabot_http_server_request *req)
{
    return wabot_http_server_request_param(req, "org");
}

static int customers_list(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, PAGE_DEFAULT, WABOT_STORAGE_PAGE_MAX,
                        &limit, &rc))
        return rc;
    char *out = NULL;
    rc = wabot_customer_list_json(
        ctx, org_of(req),
        wabot_http_server_request_query_param(req, "cursor", NULL),
        (size_t)limit, &out);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "cursor");
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

static int customer_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    char *out = NULL;
    int rc = wabot_customer_get_json(
        ctx, org_of(req), wabot_http_server_request_param(req, "phone"), &out);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "phone");
    return wb_admin_answer_owned(ctx, resp, 200, out);
}

/* Upsert `o` (phone set): 201 + Location for a new customer, else 200. */
static int upsert(wabot_ctx *ctx, const wabot_http_server_request *req,
                  wabot_http_response *resp, json_t *o, const char *location)
{
    const char *org = org_of(req);
    const char *phone = json_string_value(json_object_get(o, "phone"));
    char *before = NULL;
    /* Whether it existed decides 201 or 200 (a concurrent create of the
     * same customer may get 200 for both: the data is right either way). */
    int existed = phone != NULL &&
                  wabot_customer_get_json(ctx, org, phone, &before) ==
                      WABOT_OK;
    wabot_ctx_mem_free(ctx, before);
    char *text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        return WABOT_ERR_NOMEM;
    char *out = NULL;
    int rc = wabot_customer_upsert_json(ctx, org, text, strlen(text), &out);
    wb_json_free(text);
    if (rc != WABOT_OK) {
        char field[72];
        return wb_admin_answer_status(ctx, resp, rc,
                                      wb_admin_errmsg_field(ctx, field, sizeof field));
    }
    if (existed)
        return wb_admin_answer_owned(ctx, resp, 200, out);
    json_t *c = json_loads(out, 0, NULL);
    const char *stored = json_string_value(json_object_get(c, "phone"));
    char where[512];
    if (location != NULL)
        snprintf(where, sizeof where, "%s", location);
    else
        wb_admin_location(where, sizeof where,
                          wabot_http_server_request_path(req),
                          stored != NULL ? stored : "");
    json_decref(c);
    rc = wb_admin_answer_owned(ctx, resp, 201, out);
    return rc == WABOT_OK
               ? wabot_http_response_add_header(resp, "Location", where)
               : rc;
}

static int customer_post(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    json_t *o = wb_admin_body_object(req, resp, &rc);
    if (o == NULL)
        return rc;
    rc = upsert(ctx, req, resp, o, NULL);
    json_decref(o);
    return rc;
}

static int customer_put(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    json_t *o = wb_admin_body_object(req, resp, &rc);
    if (o == NULL)
        return rc;
    const char *phone = wabot_http_server_request_param(req, "phone");
    json_t *p = json_object_get(o, "phone");
    if (p != NULL && (!json_is_string(p) ||
                      strcmp(json_string_value(p), phone) != 0)) {
        json_decref(o);
        return wabot_admin_error(resp, 400, "invalid_field", "phone",
                                 "the body's phone differs from the path's");
    }
    json_object_set_new(o, "phone", json_string(phone));
    rc = upsert(ctx, req, resp, o, wabot_http_server_request_path(req));
    json_decref(o);
    return rc;
}

static int customer_opt_out(wabot_ctx *ctx,
                            const wabot_http_server_request *req,
                            wabot_http_response *resp, void *ud)
{
    (void)ud;
    size_t len = 0;
    wabot_http_server_request_body(req, &len);
    json_t *in = NULL;
    int rc = WABOT_OK;
    if (len > 0 && (in = wb_admin_body_object(req, resp, &rc)) == NULL)
        return rc;
    json_t *src = json_object_get(in, "source");
    const char *phone = wabot_http_server_request_param(req, "phone");
    /* Only an existing customer opts out here: 404 otherwise. */
    char *out = NULL;
    rc = wabot_customer_get_json(ctx, org_of(req), phone, &out);
    wabot_ctx_mem_free(ctx, out);
    json_t *o = NULL;
    if (rc == WABOT_OK)
        o = json_pack("{s:s,s:b,s:o}", "phone", phone, "opted_out", 1,
                      "opt_source",
                      src != NULL ? json_incref(src) : json_string("api"));
    json_decref(in);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "phone");
    if (o == NULL)
        return WABOT_ERR_NOMEM;
    rc = upsert(ctx, req, resp, o, NULL);
    json_decref(o);
    return rc;
}

/* "failed" of an import report. */
static json_int_t failed_rows(const char *report)
{
    json_t *r = json_loads(report, 0, NULL);
    json_int_t n = json_integer_value(json_object_get(r, "failed"));
    json_decref(r);
    return n;
}

static int customers_import(wabot_ctx *ctx,
                            const wabot_http_server_request *req,
                            wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    if (!wb_admin_json_content(req, resp, &rc))
        return rc;
    size_t len = 0;
    const char *body = wabot_http_server_request_body(req, &len);
    char *report = NULL;
    if (!wb_admin_partial(req)) {
        /* All or nothing: a bad row and nothing is written. */
        rc = wb_customer_import_check_json(ctx, org_of(req), body, len,
                                           &report);
        if (rc != WABOT_OK)
            return wb_admin_answer_status(ctx, resp, rc, NULL);
        if (failed_rows(report) > 0)
            return wb_admin_answer_owned(ctx, resp, 422, report);
        wabot_ctx_mem_free(ctx, report);
        report = NULL;
    }
    rc = wabot_customer_import_json(ctx, org_of(req), body, len, &report);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    return wb_admin_answer_owned(ctx, resp, 200, report);
}

int wb_campaign_admin_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"GET", "/customers/:org", customers_list},
        {"POST", "/customers/:org", customer_post},
        {"GET", "/customers/:org/:phone", customer_get},
        {"PUT", "/customers/:org/:phone", customer_put},
        {"POST", "/customers/:org/import", customers_import},
        {"POST", "/customers/:org/:phone/opt-out", customer_opt_out},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
