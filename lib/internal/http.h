/* The HTTP client, as the library's components (the provider transports)
 * use it. Private.
 *
 * wb_http_send() hands a request to the context's client: the host's (from
 * wabot_options_set_http_client) or, by default, the context's own libcurl
 * client (lib/http/curl.c), created on first use and driven by the
 * context's loop (or, with the http_threads option, by sender threads of
 * its own: lib/http/curl_threads.c). Everything here runs on the loop
 * thread, done callbacks included. */
#ifndef WB_HTTP_H
#define WB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "wabot/http.h"

/* Used when wb_http_send() gets timeout_ms <= 0. */
#define WB_HTTP_DEFAULT_TIMEOUT_MS 30000
/* Connecting never takes longer than this, whatever the whole timeout. */
#define WB_HTTP_CONNECT_TIMEOUT_MS 10000
/* The curl client fails a response whose body is larger than this. */
#define WB_HTTP_MAX_RESPONSE_BODY (4 * 1024 * 1024)
/* ... or that has more headers than this. */
#define WB_HTTP_MAX_RESPONSE_HEADERS 100
/* The curl client's connections: HTTP/1.1 hosts get at most
 * http_host_connections (option, default 16) in parallel (transfers beyond
 * wait for one to free up; HTTP/2 hosts multiplex on them), all hosts
 * together twice that but at least this many, and as many idle ones stay
 * open for reuse. */
#define WB_HTTP_MAX_HOST_CONNECTIONS 16 /* http_host_connections' default */
#define WB_HTTP_MAX_TOTAL_CONNECTIONS 32

/* What a request ended with. Valid only during the done callback. */
typedef struct wb_http_response {
    int status; /* WABOT_OK: a response arrived (any HTTP code); else
                   WABOT_ERR_TIMEOUT or WABOT_ERR_TRANSPORT */
    int code;   /* HTTP status code; 0 when status < 0 */
    const wabot_http_header *headers;
    size_t n_headers;
    const char *body; /* NUL-terminated ("" when empty or status < 0) */
    size_t len;
    const char *error; /* description when status < 0, else "" */
} wb_http_response;

/* Called exactly once per accepted request, on the loop thread, possibly
 * before wb_http_send() returns (a host client completing inline). It may
 * call wb_http_send() again. */
typedef void (*wb_http_done_fn)(void *ud, const wb_http_response *r);

/* Send a request through the context's client. Everything is copied:
 * method ("GET", "POST", ...), url (absolute http:// or https://), the n
 * headers (names and values without CR/LF) and the body (len bytes; NULL
 * when len is 0). timeout_ms bounds the whole request, connecting and
 * queueing for a connection included (<= 0: WB_HTTP_DEFAULT_TIMEOUT_MS).
 *
 * Returns WABOT_OK when done will run (or already ran), or a negative
 * status when the request was refused and done will NOT run: INVAL (bad
 * arguments), NOMEM, STATE (the context is shutting down), or what the
 * client's start() returned. Loop thread only (or setup code on that thread
 * while no loop function runs). */
int wb_http_send(wabot_ctx *ctx, const char *method, const char *url,
                 const wabot_http_header *headers, size_t n, const char *body,
                 size_t len, int64_t timeout_ms, wb_http_done_fn done,
                 void *ud);

/* Value of the response header `name` (case-insensitive, the first one if
 * repeated), borrowed from r; NULL if absent. */
const char *wb_http_header_get(const wb_http_response *r, const char *name);

/* Requests of ctx handed to its client and not completed yet. */
size_t wb_http_in_flight(wabot_ctx *ctx);

/* Set up with the context, after the runtime: tells the loop about the
 * requests in flight (wb_http_in_flight), so wabot_ctx_run_until_idle()
 * waits for them. WABOT_OK. */
int wb_http_attach(wabot_ctx *ctx, const wabot_options *opts);

/* Called by wabot_ctx_free() BEFORE the runtime is freed (the curl client
 * unwatches its sockets through it): completes every request of ctx still
 * in flight with WABOT_ERR_TRANSPORT "shutting down" (a host client's late
 * completion is then ignored), frees the context's own curl client, and
 * makes later wb_http_send() calls fail with WABOT_ERR_STATE. Idempotent. */
void wb_http_shutdown(wabot_ctx *ctx);

/* ---- between lib/http/client.c and lib/http/curl.c ---- */

/* The context's libcurl client (owned by the caller, freed with
 * wabot_http_client_free). NULL on failure (the reason is logged). */
wabot_http_client *wb_curl_client_new(wabot_ctx *ctx);

/* The impl of c if it was created with vt (to recognise built-ins). */
void *wb_http_client_impl(const wabot_http_client *c,
                          const wabot_http_client_vtable *vt);

/* Complete a call with a response the client already holds in the right
 * shape (r->body NUL-terminated, r->status OK / TIMEOUT / TRANSPORT): no
 * copy. wabot_http_call_done/_fail are the checked, copying versions. */
void wb_http_call_finish(wabot_http_call *call, const wb_http_response *r);

#endif
