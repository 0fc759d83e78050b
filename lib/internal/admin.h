/* The admin module's descriptor (lib/admin/admin.c). Private. */
#ifndef WB_ADMIN_H
#define WB_ADMIN_H

#include <jansson.h>

#include "wabot/admin.h"
#include "wabot/module.h"
#include "strbuf.h"

extern const wabot_module_def wb_admin_module;

/* wabot_admin_route_add() with two more choices: `path` under the admin
 * prefix or as it is (under_prefix 0: /metrics), and `extra`, more
 * accepted tokens (comma-separated; NULL or "": none; borrowed, valid for
 * the context's life). The route is served when the admin API is on or
 * extra names a token. */
int wb_admin_mount(wabot_ctx *ctx, const char *method, const char *path,
                   int under_prefix, const char *extra,
                   wabot_http_handler_fn fn, void *ud,
                   wabot_destroy_fn destroy);

/* The admin routes of the library's own modules, mounted from their
 * create functions (each file lists its routes; doc/admin.md). */
int wb_admin_invoices_routes(wabot_ctx *ctx);    /* invoices_routes.c */
int wb_admin_jobs_routes(wabot_ctx *ctx);        /* jobs_routes.c */

/* Every route mounted through wb_admin_mount on ctx, as JSON text in
 * libc memory (free()): [{"method":"GET","path":"/whatsapp-v2/x/:id"}, ..]
 * in mounting order. NULL without the admin module or on NOMEM. Any
 * thread. For the OpenAPI check (tests/unit/test_admin_openapi.c). */
char *wb_admin_routes_json(const wabot_ctx *ctx);

/* Run fn for a request that passed the token check (token[0..token_len):
 * the bearer token given). With an Idempotency-Key header: the first
 * answer to that key (per token) is kept ttl_ms in the context's storage
 * and given again to a repeat of the same request; a repeat with another
 * request answers 422, one while the first runs 409 (idempotency.c). */
int wb_admin_idempotent(wabot_ctx *ctx, const char *token, size_t token_len,
                        int64_t ttl_ms,
                        const wabot_http_server_request *req,
                        wabot_http_response *resp, wabot_http_handler_fn fn,
                        void *ud);

/* One admin route of a route file's table. */
typedef struct wb_admin_route {
    const char *method, *path;
    wabot_http_handler_fn fn;
} wb_admin_route;
/* wabot_admin_route_add() for each of routes[0..n) (no ud); stops at the
 * first failure. */
int wb_admin_mount_table(wabot_ctx *ctx, const wb_admin_route *routes,
                         size_t n);

/* ---- Answers shared by the route files (answer.c) ------------------ */

/* A library status `rc` as the admin API's error answer (field: the member
 * at fault, or NULL; the message from wabot_ctx_errmsg()): INVAL 400,
 * PARSE 400, NOT_FOUND 404, EXISTS 409, CONFLICT 409 version_conflict,
 * STATE 409 state_conflict, UNSUPPORTED 501, TOO_LARGE 413, STORAGE and
 * TIMEOUT 503. Any other status is returned as it is (500). */
int wb_admin_answer_status(wabot_ctx *ctx, wabot_http_response *resp, int rc,
                           const char *field);
/* 1 when the request says Content-Type: application/json; else 0 and
 * *rc the 415 answer's status. */
int wb_admin_json_content(const wabot_http_server_request *req,
                          wabot_http_response *resp, int *rc);
/* 1 when the query says partial=1 (imports: keep the good rows). */
int wb_admin_partial(const wabot_http_server_request *req);
/* The body as a JSON object (the caller decrefs), or NULL with a 415 or
 * 400 answered (*rc its status). */
json_t *wb_admin_body_object(const wabot_http_server_request *req,
                             wabot_http_response *resp, int *rc);
/* "<path>/<id>" for a Location header, bytes outside a URL path's
 * characters percent-encoded (path is as received and may hold anything
 * a client sent); cut at n bytes. */
void wb_admin_location(char *out, size_t n, const char *path, const char *id);
/* Answer `status` with `json` (text from a wabot_* call, freed here with
 * wabot_ctx_mem_free; NULL: WABOT_ERR_NOMEM). */
int wb_admin_answer_owned(wabot_ctx *ctx, wabot_http_response *resp,
                          int status, char *json);
/* Answer `status` with the JSON text built in b (libc memory; b is
 * emptied). WABOT_ERR_NOMEM when an append failed. */
int wb_admin_answer_strbuf(wabot_http_response *resp, int status,
                           wb_strbuf *b);
/* The member wabot_errmsg() names (`field "tags": ...`), copied into
 * field (n bytes), or NULL: the "field" of an error answer. */
const char *wb_admin_errmsg_field(wabot_ctx *ctx, char *field, size_t n);
/* The "limit" query parameter (dflt when absent) in 1..max: 1 and *out,
 * or 0 with a 400 answered (*rc its status). */
int wb_admin_limit(const wabot_http_server_request *req,
                   wabot_http_response *resp, long dflt, long max, long *out,
                   int *rc);

#endif
