/* HTTP server internals: the route table and the request a route handler
 * sees. Private.
 *
 * Layering: this module sits above lib/webhook. The request record
 * (wb_request) and the response object are the webhook's
 * (internal/webhook.h, lib/webhook/http_response.c), as they were before
 * routes existed; the webhook code never includes this header, so the
 * route table adds no include cycle. */
#ifndef WB_HTTP_SERVER_H
#define WB_HTTP_SERVER_H

#include <stddef.h>

#include "wabot/http_server.h"
#include "alloc.h"
#include "ctx.h"
#include "webhook.h"

/* ------------------------------------------------------------------ */
/* Requests                                                            */

typedef struct wb_route wb_route;

/* What a handler sees: the raw request plus what routing learned. */
struct wabot_http_server_request {
    wb_request raw;
    wabot_ctx *ctx;
    const char *path;   /* NUL-terminated copy of the path */
    const char *query;  /* into raw.target after '?', or "" */
    const wb_route *route;
    char **params;      /* decoded values, one per parameter of the route */
    const char *rest;   /* what the wildcard matched, or NULL */
    wb_form *qform;     /* the decoded query, on first use */
    int q_state;        /* 0 not decoded yet, 1 decoded, -1 undecodable */
};

/* ------------------------------------------------------------------ */
/* Routes                                                              */

typedef struct wb_http_routes wb_http_routes;

/* A built-in handler that makes its own response from the raw request
 * (the webhook's): WABOT_OK with *resp set, or an error status, which
 * wabot_http_handle() returns (no answer could be built). */
typedef int (*wb_http_builtin_fn)(wabot_ctx *ctx, const wb_request *req,
                                  wabot_http_response **resp);

/* The HTTP route table on ctx->http_routes, with the webhook routes
 * registered: created as a subsystem of wabot_ctx_new (WABOT_OK or NOMEM,
 * the detail recorded), freed by wabot_ctx_free (each route's destroy
 * runs once; safe when creation failed or never ran). */
int wb_http_server_init(wabot_ctx *ctx);
/* The "webhook" module (webhook_module.c): provider registry and the
 * routes of their paths. */
extern const wabot_module_def wb_webhook_module;
void wb_http_server_free(wabot_ctx *ctx);

/* The bare table: create on ctx->http_routes / free (routes.c). */
int wb_http_routes_new(wabot_ctx *ctx);
void wb_http_routes_free(wabot_ctx *ctx);

/* Register a built-in route on a literal path (any bytes but '?', '#' and
 * blanks: configured webhook paths are not patterns, a ':' or '*' in
 * them is literal). One trailing '/' is ignored. WABOT_OK, EXISTS,
 * INVAL, NOMEM. */
int wb_http_route_builtin(wabot_ctx *ctx, const char *method,
                          const char *path, wb_http_builtin_fn fn);

/* Routing outcome for one method and path. */
typedef struct wb_route_match {
    const wb_route *route; /* NULL: no route for this method */
    unsigned allowed;      /* methods of every route matching the path */
    int path_matched;      /* some route matches the path */
} wb_route_match;

/* Find the route for `method` on `path` (path[0..len), without the
 * query). Lock-free: safe against concurrent wb_http_route_* calls. */
void wb_http_route_find(const wb_http_routes *t, const char *method,
                        const char *path, size_t len, wb_route_match *m);

/* Fill req->params / req->rest for the matched route (allocated with
 * ctx's allocator, freed by wb_http_request_clear). WABOT_OK or NOMEM. */
int wb_http_route_capture(const wb_route *route,
                          wabot_http_server_request *req, size_t path_len);
void wb_http_request_clear(wabot_http_server_request *req);

/* Call the route's handler: *resp gets the response it made (a public
 * handler fills a fresh 200), or NULL with the handler's error status. */
int wb_http_route_call(const wb_route *route, wabot_ctx *ctx,
                       const wabot_http_server_request *req,
                       wabot_http_response **resp);
int wb_http_route_is_builtin(const wb_route *route);
/* "GET /x" for logs (the route's method and pattern; static lifetime of
 * the route). */
const char *wb_http_route_name(const wb_route *route);

/* Method bits (WB_HTTP_ANY for "*"); 0 for a method no route names. */
#define WB_HTTP_GET 0x01u
#define WB_HTTP_HEAD 0x02u
#define WB_HTTP_POST 0x04u
#define WB_HTTP_PUT 0x08u
#define WB_HTTP_PATCH 0x10u
#define WB_HTTP_DELETE 0x20u
#define WB_HTTP_OPTIONS 0x40u
#define WB_HTTP_ANY 0x7fu
unsigned wb_http_method_bit(const char *method);
/* "GET, HEAD, POST" for a set of method bits (HEAD added with GET), into
 * out[0..n). */
void wb_http_allow_list(unsigned methods, char *out, size_t n);

/* Path scanning shared by patterns and requests: the next '/'-separated
 * segment after *pos in s[0..len) (s starts with '/'), 0 at the end. */
int wb_http_next_segment(const char *s, size_t len, size_t *pos,
                         const char **seg, size_t *seg_len);
/* len of path without one trailing '/' (the root "/" stays). */
size_t wb_http_path_trim(const char *path, size_t len);

#endif
