/* libFuzzer target: the HTTP route matcher behind wabot_http_handle().
 * Input: "<method>\n<target>" (no newline: GET and the whole input as the
 * target; bytes after a NUL in the target are ignored, as a C string
 * ends there).
 *
 * Against a fixed table (literals, parameters, wildcards, the root, the
 * webhook paths, several methods):
 *  - wabot_http_handle() never fails and never crashes;
 *  - the status is one a route or the router gives: 200 from a route,
 *    403/415 from the webhook paths, 404, 405; a 405 carries a non-empty
 *    Allow, a 404 none; a HEAD answer has no body;
 *  - a parameter value is never empty, "." or "..", and the wildcard's
 *    rest never holds a dot segment (handlers may use them as names). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wabot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            abort();                                                         \
    } while (0)

/* "." or "..", also with dots written %2e / %2E. Written again here on
 * purpose: the oracle must not share the matcher's code. */
static int is_dot(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n; i++, dots++) {
        if (s[i] == '.')
            continue;
        if (s[i] == '%' && n - i >= 3 && s[i + 1] == '2' &&
            (s[i + 2] == 'e' || s[i + 2] == 'E')) {
            i += 2;
            continue;
        }
        return 0;
    }
    return dots == 1 || dots == 2;
}

/* Answers 200 after checking what routing captured. */
static int check_params(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)ud;
    static const char *const names[] = {"id", "item", "name"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = wabot_http_server_request_param(req, names[i]);
        if (v != NULL)
            CHECK(v[0] != '\0' && !is_dot(v, strlen(v)));
    }
    const char *rest = wabot_http_server_request_param(req, "*");
    for (const char *p = rest; p != NULL;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        CHECK(!is_dot(p, n));
        p = slash ? slash + 1 : NULL;
    }
    CHECK(wabot_http_server_request_path(req)[0] == '/');
    (void)wabot_http_server_request_query_param(req, "q", NULL);
    return wabot_http_response_set_text(resp, 200, "ok");
}

static wabot_ctx *routes_ctx(void)
{
    static wabot_ctx *ctx;
    if (ctx != NULL)
        return ctx;
    wabot_options *o = wabot_options_new();
    CHECK(o != NULL);
    CHECK(wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, WABOT_LOG_NONE) ==
          WABOT_OK);
    CHECK(wabot_ctx_new(&ctx, o) == WABOT_OK);
    wabot_options_free(o);
    static const struct {
        const char *method, *pattern;
    } routes[] = {
        {"GET", "/"},
        {"GET", "/admin/orders"},
        {"GET", "/admin/orders/:id"},
        {"PATCH", "/admin/orders/:id"},
        {"DELETE", "/admin/orders/:id"},
        {"GET", "/admin/orders/:id/items/:item"},
        {"GET", "/admin/orders/new"},
        {"POST", "/admin/orders"},
        {"GET", "/static/*"},
        {"GET", "/files/:name/*"},
        {"*", "/any/:name"},
        {"HEAD", "/probe"},
        {"OPTIONS", "/admin/*"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        CHECK(wabot_http_route_add(ctx, routes[i].method, routes[i].pattern,
                                   check_params, NULL, NULL) == WABOT_OK);
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    size_t mlen = nl != NULL ? (size_t)(nl - data) : 0;
    char method[16] = "GET";
    if (nl != NULL && mlen < sizeof method) {
        memcpy(method, data, mlen);
        method[mlen] = '\0';
    }
    const uint8_t *t = nl != NULL ? nl + 1 : data;
    size_t tlen = size - (size_t)(t - data);
    char *target = malloc(tlen + 1);
    CHECK(target != NULL);
    if (tlen > 0)
        memcpy(target, t, tlen);
    target[tlen] = '\0';

    wabot_ctx *ctx = routes_ctx();
    wabot_http_response *r = NULL;
    CHECK(wabot_http_handle(ctx, method, target, NULL, 0, NULL, 0, &r) ==
          WABOT_OK);
    int status = wabot_http_response_status(r);
    CHECK(status == 200 || status == 403 || status == 404 || status == 405 ||
          status == 415);
    const char *allow = wabot_http_response_header(r, "Allow");
    if (status == 405)
        CHECK(allow != NULL && allow[0] != '\0');
    else
        CHECK(allow == NULL);
    size_t len = 0;
    const char *body = wabot_http_response_body(r, &len);
    CHECK(strlen(body) <= len);
    if (strcmp(method, "HEAD") == 0)
        CHECK(len == 0);
    wabot_http_response_free(r);
    free(target);
    return 0;
}
