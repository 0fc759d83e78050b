/* The catalog's admin routes (doc/admin.md), mounted by the commerce
 * module behind the admin token:
 *   GET    {prefix}/catalog/:org/products[?category=&active=1&cursor=&limit=]
 *   POST   {prefix}/catalog/:org/products          201 + Location
 *   GET    {prefix}/catalog/:org/products/:sku
 *   PUT    {prefix}/catalog/:org/products/:sku     If-Match: <version>
 *   DELETE {prefix}/catalog/:org/products/:sku     If-Match: <version>
 *   POST   {prefix}/catalog/:org/import[?partial=1]
 *   GET    {prefix}/catalog/:org/export
 * JSON in and out; errors as wabot_admin_error() builds them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wabot/admin.h"
#include "commerce.h"
#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"

#define LIST_LIMIT_DEFAULT 50

/* If-Match: a product version; 0 when absent. -1 (answered 400) when it
 * is not a number. */
static int64_t if_match(const wabot_http_server_request *req,
                        wabot_http_response *resp, int *rc)
{
    const char *v = wabot_http_server_request_header(req, "If-Match");
    if (v == NULL)
        return 0;
    v += strspn(v, " \"");
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || (*end != '\0' && *end != '"' && *end != ' ')) {
        *rc = wabot_admin_error(resp, 400, "invalid_field", "If-Match",
                                "If-Match must be a product version");
        return -1;
    }
    return (int64_t)n;
}

static int answer_product(wabot_ctx *ctx, wabot_http_response *resp,
                          int status, const wabot_product *p)
{
    json_t *o = wb_product_to_json_obj(p, 0);
    if (o == NULL)
        return WABOT_ERR_NOMEM;
    json_object_set_new(o, "version",
                        json_integer((json_int_t)wabot_product_version(p)));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return WABOT_ERR_NOMEM;
    int rc = wabot_http_response_set_json(resp, status, text);
    wb_json_free(text);
    char etag[32];
    snprintf(etag, sizeof etag, "\"%llu\"",
             (unsigned long long)wabot_product_version(p));
    if (rc == WABOT_OK)
        rc = wabot_http_response_add_header(resp, "ETag", etag);
    (void)ctx;
    return rc;
}

/* Fill a new product from the body; answers and returns NULL on a bad
 * body. `sku` (the path's, or NULL) must match the body's when both. */
static wabot_product *product_from_body(wabot_ctx *ctx,
                                        const wabot_http_server_request *req,
                                        wabot_http_response *resp,
                                        const char *sku, int *rc)
{
    json_t *o = wb_admin_body_object(req, resp, rc);
    if (o == NULL)
        return NULL;
    json_object_del(o, "version"); /* what GET answered may come back */
    json_t *s = json_object_get(o, "sku");
    if (sku != NULL && s == NULL)
        json_object_set_new(o, "sku", json_string(sku));
    else if (sku != NULL && (!json_is_string(s) ||
                             strcmp(json_string_value(s), sku) != 0)) {
        json_decref(o);
        *rc = wabot_admin_error(resp, 400, "invalid_field", "sku",
                                "the body's sku differs from the path's");
        return NULL;
    }
    /* Named here, as the field at fault (the import's check reports rows,
     * not member names). */
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!wb_product_member_known(key)) {
            char why[160];
            snprintf(why, sizeof why, "unknown member \"%.60s\"", key);
            *rc = wabot_admin_error(resp, 400, "invalid_field", key, why);
            json_decref(o);
            return NULL;
        }
    }
    wabot_product *p = wabot_product_new(ctx);
    if (p == NULL) {
        json_decref(o);
        *rc = WABOT_ERR_NOMEM;
        return NULL;
    }
    int r = wb_product_from_json_obj(p, o, 0);
    json_decref(o);
    if (r == WABOT_OK)
        r = wb_product_complete(p);
    if (r != WABOT_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s",
                 p->bad_reason ? p->bad_reason : wabot_ctx_errmsg(ctx));
        *rc = wabot_admin_error(resp, 400, "invalid_field",
                                p->bad_field && *p->bad_field ? p->bad_field
                                                              : NULL,
                                why);
        wabot_product_free(p);
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */

static int products_list(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    (void)ud;
    const char *org = wabot_http_server_request_param(req, "org");
    const char *cat = wabot_http_server_request_query_param(req, "category",
                                                            NULL);
    const char *active = wabot_http_server_request_query_param(req, "active",
                                                               NULL);
    const char *cursor = wabot_http_server_request_query_param(req, "cursor",
                                                               NULL);
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, LIST_LIMIT_DEFAULT, 1000, &limit, &rc))
        return rc;
    wabot_product_list *l = NULL;
    rc = wabot_catalog_list(
        ctx, org, cat, active && strcmp(active, "1") == 0
                           ? WABOT_CATALOG_ACTIVE_ONLY
                           : 0,
        cursor, (size_t)limit, &l);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < wabot_product_list_count(l); i++) {
        const wabot_product *p = wabot_product_list_at(l, i);
        json_t *o = wb_product_to_json_obj(p, 0);
        if (o != NULL)
            json_object_set_new(
                o, "version",
                json_integer((json_int_t)wabot_product_version(p)));
        json_array_append_new(arr, o);
    }
    json_t *page = json_pack("{s:o, s:s}", "products", arr, "cursor",
                             wabot_product_list_cursor(l));
    wabot_product_list_free(l);
    char *text = page ? json_dumps(page, JSON_COMPACT) : NULL;
    json_decref(page);
    if (text == NULL)
        return WABOT_ERR_NOMEM;
    rc = wabot_http_response_set_json(resp, 200, text);
    wb_json_free(text);
    return rc;
}

static int product_get(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ud;
    wabot_product *p = NULL;
    int rc = wabot_catalog_get(ctx, wabot_http_server_request_param(req, "org"),
                               wabot_http_server_request_param(req, "sku"),
                               &p);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    rc = answer_product(ctx, resp, 200, p);
    wabot_product_free(p);
    return rc;
}

static int product_create(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    wabot_product *p = product_from_body(ctx, req, resp, NULL, &rc);
    if (p == NULL)
        return rc;
    const char *org = wabot_http_server_request_param(req, "org");
    rc = wabot_catalog_create(ctx, org, p, NULL);
    if (rc == WABOT_OK) {
        rc = answer_product(ctx, resp, 201, p);
        char where[1024];
        wb_admin_location(where, sizeof where, wabot_http_server_request_path(req),
                 wabot_product_sku(p));
        if (rc == WABOT_OK)
            rc = wabot_http_response_add_header(resp, "Location", where);
    } else {
        rc = wb_admin_answer_status(ctx, resp, rc, "sku");
    }
    wabot_product_free(p);
    return rc;
}

static int product_update(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    int64_t expected = if_match(req, resp, &rc);
    if (expected < 0)
        return rc;
    const char *sku = wabot_http_server_request_param(req, "sku");
    wabot_product *p = product_from_body(ctx, req, resp, sku, &rc);
    if (p == NULL)
        return rc;
    rc = wabot_catalog_update(ctx, wabot_http_server_request_param(req, "org"),
                              p, (uint64_t)expected, NULL);
    rc = rc == WABOT_OK ? answer_product(ctx, resp, 200, p)
                        : wb_admin_answer_status(ctx, resp, rc, NULL);
    wabot_product_free(p);
    return rc;
}

static int product_delete(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    int64_t expected = if_match(req, resp, &rc);
    if (expected < 0)
        return rc;
    rc = wabot_catalog_delete(ctx, wabot_http_server_request_param(req, "org"),
                              wabot_http_server_request_param(req, "sku"),
                              (uint64_t)expected);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    return wabot_http_response_set_status(resp, 204);
}

static int catalog_import(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    int rc = WABOT_OK;
    if (!wb_admin_json_content(req, resp, &rc))
        return rc;
    size_t len = 0;
    const char *body = wabot_http_server_request_body(req, &len);
    wabot_import_report *r = NULL;
    rc = wabot_catalog_import(
        ctx, wabot_http_server_request_param(req, "org"), body, len,
        wb_admin_partial(req) ? WABOT_IMPORT_PARTIAL : 0, &r);
    /* INVAL with a report: bad rows; without one: a bad organisation. */
    if (rc != WABOT_OK && (rc != WABOT_ERR_INVAL || r == NULL)) {
        wabot_import_report_free(r);
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    }
    char *json = r != NULL ? wabot_import_report_json(r) : NULL;
    wabot_import_report_free(r);
    if (json == NULL)
        return WABOT_ERR_NOMEM;
    /* All or nothing and a bad row: nothing written, the rows named. */
    int st = wabot_http_response_set_json(resp, rc == WABOT_OK ? 200 : 422,
                                          json);
    wabot_ctx_mem_free(ctx, json);
    return st;
}

static int catalog_export(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ud;
    char *json = NULL;
    int rc = wabot_catalog_export(
        ctx, wabot_http_server_request_param(req, "org"), &json, NULL);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    rc = wabot_http_response_set_json(resp, 200, json);
    wabot_ctx_mem_free(ctx, json);
    return rc;
}

int wb_commerce_admin_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"GET", "/catalog/:org/products", products_list},
        {"POST", "/catalog/:org/products", product_create},
        {"GET", "/catalog/:org/products/:sku", product_get},
        {"PUT", "/catalog/:org/products/:sku", product_update},
        {"DELETE", "/catalog/:org/products/:sku", product_delete},
        {"POST", "/catalog/:org/import", catalog_import},
        {"GET", "/catalog/:org/export", catalog_export},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
