/* The `admin` module: the admin API's prefix and bearer tokens, and the
 * mount function every admin route goes through (include/wabot/admin.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wabot/admin.h"
#include "wabot/module.h"
#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/metrics.h"
#include "internal/secret.h"
#include "internal/strbuf.h"

enum { OPT_PREFIX, OPT_TOKEN, OPT_IDEM_TTL };

static const wabot_option_def admin_options[] = {
    {WABOT_OPTION_DEF_VERSION, "prefix", WABOT_OPTION_STRING, 0, 0, 0, 0,
     "/whatsapp-v2", "path prefix of the admin API (routes, /monitoring)",
     "WABOT_ADMIN_PREFIX", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "token", WABOT_OPTION_STRING,
     WABOT_OPTION_SECRET, 0, 0, 0, "",
     "bearer token(s) of the admin API, comma-separated; empty: the admin "
     "API is off (404)",
     "WABOT_ADMIN_TOKEN", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "idempotency_ttl", WABOT_OPTION_DURATION, 0,
     86400000, 1000, INT64_C(30) * 86400000, NULL,
     "how long the answer to an admin POST with an Idempotency-Key is kept "
     "(in the storage, shared by every process on it)",
     "WABOT_ADMIN_IDEMPOTENCY_TTL", NULL, NULL},
};

/* The module's data: the prefix without a trailing '/', and the token
 * list as configured (split at commas when checked). */
typedef struct admin {
    char prefix[128];
    const char *tokens; /* the option's string: valid for the ctx's life */
    int64_t idem_ttl_ms;
    /* Every mounted route as JSON items (wb_admin_routes_json); routes
     * may be added from any thread. */
    pthread_mutex_t lock;
    wb_strbuf routes;
} admin;

static const admin *admin_of(const wabot_ctx *ctx)
{
    wabot_module *m = wabot_ctx_module(ctx, "admin");
    return m != NULL ? wabot_module_data(m) : NULL;
}

int wabot_admin_enabled(const wabot_ctx *ctx)
{
    const admin *a = ctx != NULL ? admin_of(ctx) : NULL;
    return a != NULL && a->tokens[0] != '\0';
}

/* Is `given` one of the comma-separated tokens? Every configured token is
 * compared (in constant time each), so the position of a match does not
 * show either. */
static int token_ok(const char *tokens, const char *given, size_t glen)
{
    int ok = 0;
    for (const char *t = tokens; *t != '\0';) {
        size_t n = strcspn(t, ",");
        if (n > 0)
            ok |= wb_secret_equal(given, glen, t, n);
        t += n;
        if (*t == ',')
            t++;
    }
    return ok;
}

int wabot_admin_error(wabot_http_response *resp, int http_status,
                      const char *code, const char *field,
                      const char *message)
{
    if (resp == NULL || code == NULL || message == NULL ||
        http_status < 400 || http_status > 599)
        return wb_detail(NULL, WABOT_ERR_INVAL,
                         "wabot_admin_error: NULL resp/code/message or a "
                         "status outside 400..599");
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_puts(&b, "{\"error\":{\"code\":");
    wb_strbuf_json_str(&b, code);
    wb_strbuf_puts(&b, ",\"message\":");
    wb_strbuf_json_str(&b, message);
    if (field != NULL) {
        wb_strbuf_puts(&b, ",\"field\":");
        wb_strbuf_json_str(&b, field);
    }
    wb_strbuf_puts(&b, "}}");
    char *json = wb_strbuf_take(&b);
    if (json == NULL)
        return wb_detail(NULL, WABOT_ERR_NOMEM, "admin: out of memory");
    int rc = wabot_http_response_set_json(resp, http_status, json);
    free(json);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Mounting                                                            */

typedef struct mounted {
    wabot_http_handler_fn fn;
    void *ud;
    wabot_destroy_fn destroy;
    const char *extra; /* more accepted tokens (comma-separated) or "" */
} mounted;

static void mounted_free(void *p)
{
    mounted *mt = p;
    if (mt->destroy != NULL)
        mt->destroy(mt->ud);
    free(mt);
}

/* "Authorization: Bearer <token>" (scheme case-insensitive, RFC 7235). */
static const char *bearer_of(const char *h, size_t *len)
{
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    h += strspn(h, " ");
    size_t n = strlen(h);
    while (n > 0 && h[n - 1] == ' ')
        n--;
    *len = n;
    return n > 0 ? h : NULL;
}

static int guarded(wabot_ctx *ctx, const wabot_http_server_request *req,
                   wabot_http_response *resp, void *ud)
{
    const mounted *mt = ud;
    const admin *a = admin_of(ctx);
    size_t len = 0;
    const char *given = bearer_of(
        wabot_http_server_request_header(req, "Authorization"), &len);
    if (given == NULL) {
        wb_count(ctx, "admin.unauthorized", 1);
        int rc = wabot_admin_error(resp, 401, "unauthorized", NULL,
                                   "an Authorization: Bearer token is "
                                   "required");
        return rc == WABOT_OK ? wabot_http_response_add_header(
                                    resp, "WWW-Authenticate", "Bearer")
                              : rc;
    }
    /* Both lists are always compared: which one matched does not show. */
    int ok = a != NULL && token_ok(a->tokens, given, len);
    ok |= token_ok(mt->extra, given, len);
    if (!ok) {
        wb_count(ctx, "admin.forbidden", 1);
        return wabot_admin_error(resp, 403, "forbidden", NULL,
                                 "the bearer token is not valid");
    }
    wb_count(ctx, "admin.requests", 1);
    if (a != NULL &&
        strcmp(wabot_http_server_request_method(req), "POST") == 0)
        return wb_admin_idempotent(ctx, given, len, a->idem_ttl_ms, req, resp,
                                   mt->fn, mt->ud);
    return mt->fn(ctx, req, resp, mt->ud);
}

int wb_admin_mount(wabot_ctx *ctx, const char *method, const char *path,
                   int under_prefix, const char *extra,
                   wabot_http_handler_fn fn, void *ud,
                   wabot_destroy_fn destroy)
{
    if (ctx == NULL || method == NULL || path == NULL || fn == NULL ||
        path[0] != '/')
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_admin_route_add: NULL argument or a path "
                        "without a leading '/'");
    const admin *a = admin_of(ctx);
    if (a == NULL)
        return wb_error(ctx, WABOT_ERR_STATE,
                        "wabot_admin_route_add: no admin module");
    if (extra == NULL)
        extra = "";
    if (a->tokens[0] == '\0' && extra[0] == '\0') {
        if (destroy != NULL)
            destroy(ud);
        return WABOT_OK; /* off: nothing is served */
    }
    const char *prefix = under_prefix ? a->prefix : "";
    char pattern[WABOT_HTTP_ROUTE_MAX_PATTERN + 1];
    int n = snprintf(pattern, sizeof pattern, "%s%s", prefix,
                     under_prefix && strcmp(path, "/") == 0 ? "" : path);
    if (n < 0 || (size_t)n >= sizeof pattern)
        return wb_error(ctx, WABOT_ERR_INVAL, "admin route %s%s is too long",
                        prefix, path);
    if (pattern[0] == '\0')
        strcpy(pattern, "/");
    mounted *mt = malloc(sizeof *mt);
    if (mt == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "admin: out of memory");
    *mt = (mounted){fn, ud, destroy, extra};
    int rc = wabot_http_route_add(ctx, method, pattern, guarded, mt,
                                  mounted_free);
    if (rc != WABOT_OK) {
        free(mt); /* the caller keeps ud: destroy is not called */
        return rc;
    }
    admin *w = (admin *)a;
    pthread_mutex_lock(&w->lock);
    wb_strbuf_puts(&w->routes, w->routes.len > 0 ? ",{\"method\":"
                                                 : "{\"method\":");
    wb_strbuf_json_str(&w->routes, method);
    wb_strbuf_puts(&w->routes, ",\"path\":");
    wb_strbuf_json_str(&w->routes, pattern);
    wb_strbuf_putc(&w->routes, '}');
    pthread_mutex_unlock(&w->lock);
    return WABOT_OK;
}

char *wb_admin_routes_json(const wabot_ctx *ctx)
{
    admin *a = (admin *)admin_of(ctx);
    if (a == NULL)
        return NULL;
    pthread_mutex_lock(&a->lock);
    size_t n = a->routes.len;
    char *out = a->routes.oom ? NULL : malloc(n + 3);
    if (out != NULL) {
        out[0] = '[';
        if (n > 0)
            memcpy(out + 1, a->routes.data, n);
        memcpy(out + 1 + n, "]", 2);
    }
    pthread_mutex_unlock(&a->lock);
    return out;
}

int wabot_admin_route_add(wabot_ctx *ctx, const char *method,
                          const char *subpath, wabot_http_handler_fn fn,
                          void *ud, wabot_destroy_fn destroy)
{
    return wb_admin_mount(ctx, method, subpath, 1, NULL, fn, ud, destroy);
}

int wb_admin_mount_table(wabot_ctx *ctx, const wb_admin_route *routes,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = wabot_admin_route_add(ctx, routes[i].method, routes[i].path,
                                       routes[i].fn, NULL, NULL);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static void admin_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    admin *a = wabot_module_data(m);
    if (a == NULL)
        return;
    wb_strbuf_free(&a->routes);
    pthread_mutex_destroy(&a->lock);
    wb_free(&wabot_module_ctx(m)->alloc, a);
    wabot_module_set_data(m, NULL);
}

static int admin_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    const char *prefix = wabot_module_option_str(m, NULL, OPT_PREFIX);
    const char *tokens = wabot_module_option_str(m, NULL, OPT_TOKEN);
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;
    admin *a = wb_calloc(&ctx->alloc, 1, sizeof *a);
    if (a == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "admin: out of memory");
    if (plen >= sizeof a->prefix || (plen > 0 && prefix[0] != '/')) {
        wb_free(&ctx->alloc, a);
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "admin.prefix must start with '/' and be under %zu "
                        "bytes", sizeof a->prefix);
    }
    memcpy(a->prefix, prefix, plen);
    a->tokens = tokens != NULL ? tokens : "";
    a->idem_ttl_ms = 86400000;
    wabot_module_option_int(m, NULL, OPT_IDEM_TTL, &a->idem_ttl_ms);
    pthread_mutex_init(&a->lock, NULL);
    wb_strbuf_init(&a->routes, NULL);
    wabot_module_set_data(m, a);
    /* The jobs subsystem has no module of its own: its routes mount here. */
    int rc = wb_admin_jobs_routes(ctx);
    if (rc != WABOT_OK) /* not created: destroy will not run */
        admin_destroy(m, NULL);
    return rc;
}

const wabot_module_def wb_admin_module = {
    WABOT_MODULE_DEF_VERSION, "admin",
    "the admin API's prefix and bearer tokens; off without a token",
    NULL, admin_options, sizeof admin_options / sizeof admin_options[0],
    NULL, admin_create, admin_destroy};
