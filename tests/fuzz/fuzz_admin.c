/* libFuzzer target: the admin API's request handling (lib/admin,
 * lib/migration, lib/monitoring, lib/commerce/admin_routes.c, the
 * customers', invoices' and jobs' routes).
 * Input: "<method>\n<target>\n<body>" (missing parts: GET, "/", empty).
 * The request carries the admin token and a JSON content type, so the
 * fuzzer reaches the handlers: route parameters, query strings, bodies.
 *
 *  - wabot_http_handle() never fails and never crashes;
 *  - the answer is one the admin API documents: 200, 201, 204, 400, 404,
 *    405, 409, 413, 415, 422, 501 (a route whose module does not serve it
 *    yet) or 503, never a 500 (a handler that failed);
 *  - an error answer is the JSON error shape {"error":{"code":...}};
 *  - the migration settings stay in range whatever was PUT. */
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

#define RESET_EVERY 2048

static wabot_ctx *g_ctx;
static int g_uses;

static wabot_ctx *admin_ctx(void)
{
    if (g_ctx != NULL && ++g_uses < RESET_EVERY)
        return g_ctx;
    wabot_ctx_free(g_ctx);
    g_uses = 0;
    wabot_options *o = wabot_options_new();
    CHECK(o != NULL);
    CHECK(wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, WABOT_LOG_NONE) ==
          WABOT_OK);
    CHECK(wabot_options_set(o, "admin.token", "fuzz-admin") == WABOT_OK);
    CHECK(wabot_ctx_new(&g_ctx, o) == WABOT_OK);
    wabot_options_free(o);
    return g_ctx;
}

/* Split off the next '\n'-terminated part of [*p, end) into a fresh
 * NUL-terminated string (NULL when the input has no more parts). */
static char *next_part(const uint8_t **p, const uint8_t *end, int last)
{
    if (*p > end)
        return NULL;
    const uint8_t *nl = last ? NULL : memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl != NULL ? nl + 1 : end + 1;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *method = next_part(&p, end, 0);
    char *target = next_part(&p, end, 0);
    const uint8_t *body = p <= end ? p : end;
    size_t blen = (size_t)(end - body);
    const char *m = method != NULL && method[0] != '\0' && strlen(method) < 16
                        ? method
                        : "GET";
    char *t = target;
    char with_prefix[512];
    if (t == NULL || t[0] != '/') {
        snprintf(with_prefix, sizeof with_prefix, "/whatsapp-v2/%.400s",
                 t != NULL ? t : "");
        t = with_prefix;
    }
    wabot_http_header h[2] = {{"Authorization", "Bearer fuzz-admin"},
                              {"Content-Type", "application/json"}};
    wabot_ctx *ctx = admin_ctx();
    wabot_http_response *r = NULL;
    CHECK(wabot_http_handle(ctx, m, t, h, 2, (const char *)body, blen, &r) ==
          WABOT_OK);
    int st = wabot_http_response_status(r);
    CHECK(st == 200 || st == 201 || st == 204 || st == 400 || st == 403 ||
          st == 404 || st == 405 || st == 409 || st == 413 || st == 415 ||
          st == 422 || st == 501 || st == 503);
    size_t len = 0;
    const char *b = wabot_http_response_body(r, &len);
    if (st >= 400 && st != 422 && strcmp(m, "HEAD") != 0)
        CHECK(strncmp(b, "{\"error\":{\"code\":", 17) == 0);
    wabot_http_response_free(r);
    int pct = -1;
    char *json = wabot_migration_json(ctx);
    CHECK(json != NULL);
    const char *pp = strstr(json, "\"percent\":");
    CHECK(pp != NULL && sscanf(pp + 10, "%d", &pct) == 1);
    CHECK(pct >= 0 && pct <= 100);
    wabot_ctx_mem_free(ctx, json);
    free(method);
    free(target);
    return 0;
}
