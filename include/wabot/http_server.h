/*
 * The HTTP server side of libwabot: requests, responses and routes. The
 * host's HTTP server hands every request to wabot_http_handle() and sends
 * back the status, headers and body of the response it returns; the
 * library picks the route. See doc/http_server.md.
 *
 * Routes. A route is a method, a path pattern and a handler:
 *   method   "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"
 *            (case-sensitive, like HTTP) or "*" for every method;
 *   pattern  '/'-separated segments, each one of
 *              literal    matched byte for byte (no percent-decoding),
 *                         e.g. "orders";
 *              :name      a parameter: one non-empty segment, percent-
 *                         decoded ("%2B1555" -> "+1555"), e.g. ":id";
 *              *          only as the last segment: the rest of the path
 *                         (zero or more segments), e.g. "/static/ *"
 *                         (in this file a blank separates '/' and '*',
 *                         which a C comment cannot hold together);
 *            "/" alone is the root.
 * The webhook paths (WABOT_OPT_TWILIO_WEBHOOK_PATH, _META_WEBHOOK_PATH)
 * are routes the context registers when it is created: GET (Meta's
 * handshake) and POST on each (see webhook.h).
 *
 * Matching. The path is the target up to the first '?'; one trailing '/'
 * is ignored ("/a/" is "/a"). Among the routes whose pattern matches the
 * path and whose method accepts the request's method, the most specific
 * wins, deterministically:
 *   1. segment by segment from the left, a literal beats a parameter,
 *      which beats the wildcard ("/orders/new" beats "/orders/:id" beats
 *      "/orders/ *");
 *   2. then a pattern without a wildcard beats the same one with a
 *      wildcard matching nothing ("/static" beats "/static/ *");
 *   3. then the exact method beats GET serving a HEAD, which beats "*".
 * HEAD is served by a GET route when no HEAD route matches: the answer is
 * the GET answer with its status and headers, without a body (no answer
 * to a HEAD, a 404 or 405 included, has a body).
 * No route matches the path: 404 not_found. Routes match the path but
 * none accepts the method: 405 method_not_allowed with an Allow header
 * listing the methods that do (HEAD included when GET is). There is no
 * implicit OPTIONS answer: register an OPTIONS route to serve one.
 * Parameters and the wildcard never match a dot segment ("." or "..",
 * also percent-encoded), nor a parameter a segment with a malformed %
 * escape or one that decodes to a NUL byte.
 *
 * Threads. wabot_http_handle() may be called from any number of threads
 * at once. Routes may be added at any time from any thread, also while
 * requests are being handled and from inside a handler; a request sees
 * the routes that were registered when it started matching. Routes are
 * never removed: each route's `destroy` runs once, in wabot_ctx_free().
 * Handlers run on the thread that called wabot_http_handle(), possibly
 * on several threads at once.
 */
#ifndef WABOT_HTTP_SERVER_H
#define WABOT_HTTP_SERVER_H

#include "core.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One request header as received (name case-insensitive). */
typedef struct wabot_http_header {
    const char *name;
    const char *value;
} wabot_http_header;

/** A response: status, content type, headers and body. Opaque. */
typedef struct wabot_http_response wabot_http_response;
/** The request a route handler serves (wabot_http_request is the HTTP
 *  client's, http.h). Opaque; borrowed for the call. */
typedef struct wabot_http_server_request wabot_http_server_request;

/** Longest route pattern accepted, in bytes. */
#define WABOT_HTTP_ROUTE_MAX_PATTERN 256
/** Most segments in a route pattern (the wildcard included). */
#define WABOT_HTTP_ROUTE_MAX_SEGMENTS 32
/** Longest parameter name, in bytes. */
#define WABOT_HTTP_ROUTE_MAX_NAME 32

/**
 * Handle one HTTP request. `method` ("GET", "POST", ...), `target` (path
 * with query, e.g. "/whatsapp/webhook?x=1"), `headers` (n of them,
 * borrowed), the raw `body` (len bytes, need not be NUL-terminated; NULL
 * if len is 0). The route is chosen as the file comment says.
 * On WABOT_OK *resp owns the response to send (free it with
 * wabot_http_response_free); HTTP errors are responses, not error
 * returns: 404/405 (JSON, see above), 500 {"error":{"code":"internal",...}}
 * when a route's handler returns an error (logged, counted as
 * http.handler_errors). The response keeps a copy of the context's
 * allocator, so it may be sent and freed after the context is gone.
 * Any thread, concurrently. Errors: WABOT_ERR_INVAL (NULL
 * ctx/method/target/resp, or NULL headers/body with a non-zero count),
 * NOMEM.
 */
WABOT_API int wabot_http_handle(wabot_ctx *ctx, const char *method,
                                const char *target,
                                const wabot_http_header *headers,
                                size_t nheaders, const char *body, size_t len,
                                wabot_http_response **resp);

/* ---- Routes ------------------------------------------------------- */

/**
 * A route handler. Fill `resp` (it starts as 200 with no content type, no
 * headers and an empty body) and return WABOT_OK; any negative status
 * discards what was filled and answers 500 {"error":{"code":"internal",
 * "message":...}} (logged with wabot_ctx_errmsg() of the calling thread).
 * `req` and `resp` are borrowed for the call. Runs on the thread that
 * called wabot_http_handle(), possibly on several threads at once.
 */
typedef int (*wabot_http_handler_fn)(wabot_ctx *ctx,
                                     const wabot_http_server_request *req,
                                     wabot_http_response *resp, void *ud);

/**
 * Serve `method` on paths matching `pattern` (syntax and precedence in
 * the file comment) with `fn`, which gets `ud`. The strings are copied.
 * `destroy` (may be NULL) runs once on `ud` in wabot_ctx_free(); on
 * failure it is not called. Any thread, at any time (see Threads above).
 * Errors: WABOT_ERR_INVAL (NULL ctx/method/pattern/fn, an unknown method,
 * a bad pattern: empty, no leading '/', an empty segment or a trailing
 * '/', a "." or ".." segment, a byte outside the URL path characters, a
 * parameter name not [A-Za-z_][A-Za-z0-9_]* or longer than
 * WABOT_HTTP_ROUTE_MAX_NAME, a repeated name, '*' not alone as the last
 * segment, over WABOT_HTTP_ROUTE_MAX_PATTERN bytes or
 * WABOT_HTTP_ROUTE_MAX_SEGMENTS segments; the detail in
 * wabot_ctx_errmsg()), WABOT_ERR_EXISTS (a route with the same method and
 * the same pattern up to parameter names, e.g. "/a/:x" and "/a/:y"),
 * NOMEM.
 */
WABOT_API int wabot_http_route_add(wabot_ctx *ctx, const char *method,
                                   const char *pattern,
                                   wabot_http_handler_fn fn, void *ud,
                                   wabot_destroy_fn destroy);

/* ---- The request (inside a handler) ------------------------------- */
/* Every string is borrowed from the request and valid until the handler
 * returns; every function returns NULL (or "") for a NULL request. Only
 * the thread running the handler may use the request. */

/** The method as received, e.g. "GET" (also "HEAD" when a GET route
 *  serves a HEAD). */
WABOT_API const char *wabot_http_server_request_method(
    const wabot_http_server_request *r);
/** The path (the target up to '?'), as received: not decoded. */
WABOT_API const char *wabot_http_server_request_path(
    const wabot_http_server_request *r);
/** The raw query after '?', not decoded; "" when there is none. */
WABOT_API const char *wabot_http_server_request_query(
    const wabot_http_server_request *r);
/**
 * The first query parameter called `name` (compared after decoding,
 * case-sensitive), decoded as a form ('+' is a space, %XX a byte), or
 * NULL when absent or when the query cannot be decoded (a malformed %
 * escape, or over WABOT_OPT_MAX_PARAMS / _MAX_FIELD_BYTES). `len`
 * (may be NULL) gets the decoded length, which counts bytes after a
 * decoded NUL ("%00").
 */
WABOT_API const char *wabot_http_server_request_query_param(
    const wabot_http_server_request *r, const char *name, size_t *len);
/** The value of path parameter `name` (":name" in the pattern), percent-
 *  decoded; "*" gives the part of the path the wildcard matched, not
 *  decoded, without its leading '/' ("" when it matched nothing). NULL if
 *  the route has no such parameter. */
WABOT_API const char *wabot_http_server_request_param(
    const wabot_http_server_request *r, const char *name);
/** The first request header called `name` (case-insensitive), or NULL. */
WABOT_API const char *wabot_http_server_request_header(
    const wabot_http_server_request *r, const char *name);
/** The body (borrowed, not necessarily NUL-terminated; "" when empty) and
 *  its length in *len (may be NULL). */
WABOT_API const char *wabot_http_server_request_body(
    const wabot_http_server_request *r, size_t *len);

/* ---- The response (handlers fill, hosts read) --------------------- */

/** Set the status (100..599). Only inside a handler. WABOT_ERR_INVAL. */
WABOT_API int wabot_http_response_set_status(wabot_http_response *r,
                                             int status);
/**
 * Append a header (copied; several with one name are all kept, in
 * order). The name must be an HTTP token, the value free of CR, LF and
 * other control bytes but HTAB; "Content-Type" (use set_body) and
 * "Content-Length" / "Transfer-Encoding" (the host's business) are
 * refused. Only inside a handler. Errors: WABOT_ERR_INVAL, NOMEM.
 */
WABOT_API int wabot_http_response_add_header(wabot_http_response *r,
                                             const char *name,
                                             const char *value);
/**
 * Replace the body with a copy of body[0..len) (body may be NULL when len
 * is 0) and its content type (copied; NULL or "" for none; CR/LF
 * refused). Only inside a handler. Errors: WABOT_ERR_INVAL, NOMEM.
 */
WABOT_API int wabot_http_response_set_body(wabot_http_response *r,
                                           const char *content_type,
                                           const char *body, size_t len);
/** Status plus a JSON body (NUL-terminated text, not checked) with
 *  content type application/json. Errors as set_status and set_body. */
WABOT_API int wabot_http_response_set_json(wabot_http_response *r,
                                           int status, const char *json);
/** Status plus a text body with content type "text/plain; charset=utf-8".
 *  Errors as set_status and set_body. */
WABOT_API int wabot_http_response_set_text(wabot_http_response *r,
                                           int status, const char *text);

/** The status code (0 for NULL). Any thread owning the response. */
WABOT_API int wabot_http_response_status(const wabot_http_response *r);
/** Content-Type value (borrowed, "" when there is none). */
WABOT_API const char *wabot_http_response_content_type(
    const wabot_http_response *r);
/** Body bytes (borrowed; NUL-terminated for convenience) and length. */
WABOT_API const char *wabot_http_response_body(const wabot_http_response *r,
                                               size_t *len);
/** How many headers the host must send besides Content-Type (0 for
 *  NULL). */
WABOT_API size_t wabot_http_response_header_count(
    const wabot_http_response *r);
/** Name of header i (borrowed, valid until the response is freed), or
 *  NULL when i is out of range. */
WABOT_API const char *wabot_http_response_header_name(
    const wabot_http_response *r, size_t i);
/** Value of header i (borrowed), or NULL when i is out of range. */
WABOT_API const char *wabot_http_response_header_value(
    const wabot_http_response *r, size_t i);
/** Value of the first header called `name` (case-insensitive; borrowed),
 *  or NULL. */
WABOT_API const char *wabot_http_response_header(
    const wabot_http_response *r, const char *name);
/** Free a response from wabot_http_handle(). NULL is a no-op. Not for
 *  the response a handler is given. */
WABOT_API void wabot_http_response_free(wabot_http_response *r);

/* ------------------------------------------------------------------ */
/* Health: liveness and readiness (doc/reliability.md)                 */

/**
 * Readiness of ctx: whether this process should be sent traffic now.
 * Checks that the storage answers (one read), that no transport's circuit
 * breaker is open (as this process sees it, including an opening another
 * process shared through the storage), and that the outbound backlog
 * (waiting, delayed and active jobs) is under the health module's option
 * health.max_backlog (0, the default: reported, not checked). *ready is 1
 * or 0; *json is
 *   {"storage":{"status":"ok"|"unreachable","error":..},
 *    "breakers":[{"transport":..,"organization":..,"state":"closed"|
 *                 "open"|"half_open","open_until_ms":..}],
 *    "backlog":{"outbound":n,"max":n,"status":"ok"|"full"|"unknown"},
 *    "status":"ready"|"not_ready"}
 * owned by the caller (wabot_ctx_mem_free). Any thread; the storage read
 * may block for the backend's timeout. Errors: WABOT_ERR_INVAL (NULL
 * argument), WABOT_ERR_NOMEM; *json is NULL and *ready 0 then.
 */
WABOT_API int wabot_health_readiness(wabot_ctx *ctx, int *ready,
                                     char **json);

/**
 * Register GET routes (HEAD answered too) for container probes:
 * liveness_path (NULL: "/healthz") answers 200 {"status":"ok"} whenever
 * the process serves HTTP; readiness_path (NULL: "/readyz") answers
 * wabot_health_readiness()'s JSON with 200 when ready, 503 when not. Both
 * carry Cache-Control: no-store. Any thread. Errors: those of
 * wabot_http_route_add() (WABOT_ERR_EXISTS when a path is taken: the
 * liveness route may then be registered and the readiness one not).
 */
WABOT_API int wabot_health_routes_add(wabot_ctx *ctx,
                                      const char *liveness_path,
                                      const char *readiness_path);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_HTTP_SERVER_H */
