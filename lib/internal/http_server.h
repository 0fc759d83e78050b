/* HTTP server internals: the route table, the request and response
 * objects behind wabot_http_handle(). Private. */
#ifndef WB_HTTP_SERVER_H
#define WB_HTTP_SERVER_H

#include <stddef.h>

#include "wabot/http_server.h"
#include "alloc.h"
#include "ctx.h"

/* ------------------------------------------------------------------ */
/* Requests                                                            */

/* One request as wabot_http_handle() received it (all borrowed). */
typedef struct wb_request {
    const char *method;
    const char *target; /* path and query, as received */
    const wabot_http_header *headers;
    size_t nheaders;
    const char *body;
    size_t len;
} wb_request;

/* Header value by case-insensitive name (the first one), or NULL. */
const char *wb_header_get(const wb_request *r, const char *name);

typedef struct wb_route wb_route;
typedef struct wb_form wb_form;

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
/* Responses                                                           */

typedef struct wb_http_header_field {
    char *name;  /* one allocation: "name\0value\0" */
    char *value; /* points into name's block */
} wb_http_header_field;

struct wabot_http_response {
    wabot_allocator alloc;    /* copy: the response may outlive the ctx */
    int status;
    const char *content_type; /* static string, or ct_owned */
    char *body;               /* NUL-terminated, allocated with alloc */
    size_t len;
    char *ct_owned;           /* a content type set by a handler */
    wb_http_header_field *hdrs;
    size_t n_hdrs, cap_hdrs;
    const wabot_ctx *err_ctx; /* for error details while a handler runs */
};

/* A response with a copy of body[0..len). NULL on NOMEM. */
wabot_http_response *wb_response_new(const wabot_ctx *ctx, int status,
                                     const char *content_type,
                                     const char *body, size_t len);
/* Append a header after the same checks as wabot_http_response_add_header.
 * WABOT_OK, WABOT_ERR_INVAL, NOMEM. */
int wb_response_add_header(wabot_http_response *r, const char *name,
                           const char *value);
/* Drop the body, keep status, content type and headers (HEAD). */
void wb_response_drop_body(wabot_http_response *r);

/* ------------------------------------------------------------------ */
/* Routes                                                              */

typedef struct wb_http_routes wb_http_routes;

/* A built-in handler that makes its own response (the webhook code):
 * WABOT_OK with *resp set, or an error status (answered 500). */
typedef int (*wb_http_builtin_fn)(wabot_ctx *ctx,
                                  const wabot_http_server_request *req,
                                  wabot_http_response **resp);

/* The table on ctx->http_routes, with the webhook routes registered
 * (called by wabot_ctx_new). WABOT_OK or NOMEM (the detail recorded). */
int wb_http_server_init(wabot_ctx *ctx);
/* Free the table; each route's destroy runs once. No request may be
 * running. Safe when init failed or never ran. */
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
