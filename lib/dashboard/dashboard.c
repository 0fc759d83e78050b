/* The `dashboard` module: the operator's page at {admin prefix}/dashboard
 * (doc/dashboard.md). Static files compiled into the library, served
 * without the token (they hold no data; the page asks for the token and
 * sends it on its API calls), only while the admin API is on. */
#include <stdio.h>
#include <string.h>

#include "wabot/admin.h"
#include "wabot/http_server.h"
#include "wabot/module.h"
#include "internal/ctx.h"
#include "assets.h"
#include "dashboard.h"

/* The page's own files only; everything else it loads is the admin API.
 * No inline script or style anywhere, so 'self' is all it needs. */
static const char CSP[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const wb_dashboard_asset *asset_named(const char *name)
{
    for (size_t i = 0; i < wb_dashboard_asset_count; i++)
        if (strcmp(wb_dashboard_assets[i].name, name) == 0)
            return &wb_dashboard_assets[i];
    return NULL;
}

/* Does If-None-Match name this ETag ("*", or one of a comma list)? */
static int etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL)
        return 0;
    size_t n = strlen(etag);
    for (const char *p = inm; *p != '\0';) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if ((len == 1 && p[0] == '*') || (len == n && !memcmp(p, etag, n)) ||
            (len == n + 2 && !memcmp(p, "W/", 2) && !memcmp(p + 2, etag, n)))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

static int headers(wabot_http_response *resp, const wb_dashboard_asset *a)
{
    static const char *const H[][2] = {
        {"Cache-Control", "no-cache"}, /* revalidate: 304 by the ETag */
        {"Content-Security-Policy", CSP},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", "DENY"},
    };
    int rc = wabot_http_response_add_header(resp, "ETag", a->etag);
    for (size_t i = 0; rc == WABOT_OK && i < sizeof H / sizeof H[0]; i++)
        rc = wabot_http_response_add_header(resp, H[i][0], H[i][1]);
    return rc;
}

static int serve(wabot_http_response *resp,
                 const wabot_http_server_request *req,
                 const wb_dashboard_asset *a)
{
    if (a == NULL)
        return wabot_admin_error(resp, 404, "not_found", NULL,
                                 "no such dashboard file");
    if (etag_matches(wabot_http_server_request_header(req, "If-None-Match"),
                     a->etag)) {
        int rc = wabot_http_response_set_status(resp, 304);
        return rc == WABOT_OK ? headers(resp, a) : rc;
    }
    int rc = wabot_http_response_set_status(resp, 200);
    if (rc == WABOT_OK)
        rc = wabot_http_response_set_body(resp, a->content_type,
                                          (const char *)a->data, a->len);
    return rc == WABOT_OK ? headers(resp, a) : rc;
}

static int page_route(wabot_ctx *ctx, const wabot_http_server_request *req,
                      wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)ud;
    return serve(resp, req, asset_named("index.html"));
}

static int file_route(wabot_ctx *ctx, const wabot_http_server_request *req,
                      wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)ud;
    const char *name = wabot_http_server_request_param(req, "file");
    return serve(resp, req, name != NULL ? asset_named(name) : NULL);
}

/* The admin prefix as configured, without trailing '/' (the admin
 * module's first option). */
static int admin_prefix(wabot_ctx *ctx, char *out, size_t cap)
{
    const char *p =
        wabot_module_option_str(wabot_ctx_module(ctx, "admin"), NULL, 0);
    size_t n = p != NULL ? strlen(p) : 0;
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n >= cap)
        return wb_error(ctx, WABOT_ERR_INVAL, "dashboard: prefix too long");
    memcpy(out, p, n);
    out[n] = '\0';
    return WABOT_OK;
}

static int dashboard_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    if (!wabot_admin_enabled(ctx))
        return WABOT_OK; /* off with the admin API: 404 */
    char prefix[160], path[200];
    int rc = admin_prefix(ctx, prefix, sizeof prefix);
    if (rc != WABOT_OK)
        return rc;
    snprintf(path, sizeof path, "%s/dashboard", prefix);
    rc = wabot_http_route_add(ctx, "GET", path, page_route, NULL, NULL);
    snprintf(path, sizeof path, "%s/dashboard/:file", prefix);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "GET", path, file_route, NULL, NULL);
    return rc;
}

static const char *const dashboard_requires[] = {"admin", NULL};

const wabot_module_def wb_dashboard_module = {
    WABOT_MODULE_DEF_VERSION, "dashboard",
    "the operator's web page at {admin prefix}/dashboard (on with the admin "
    "API)",
    dashboard_requires, NULL, 0, NULL, dashboard_create, NULL};
