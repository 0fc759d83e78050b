/*
 * The HTTP client the provider transports use.
 *
 * By default a context uses its own client on libcurl's multi interface,
 * driven entirely by the context's loop (curl's sockets through watch_fd,
 * curl's timeouts folded into the one timer): no blocking call, no thread,
 * connections reused. With WABOT_OPT_HTTP_THREADS N > 0 its transfers run
 * on N threads of its own instead, and completions still come back to the
 * loop thread (doc/http.md). A host with its own HTTP stack implements
 * wabot_http_client_vtable instead and passes it with
 * wabot_options_set_http_client().
 *
 * A client receives a request (read through the accessors below) and a
 * call, and completes the call exactly once with wabot_http_call_done()
 * (a response arrived, whatever its status code) or wabot_http_call_fail()
 * (no response: connection refused or reset, DNS, timeout) — inline or
 * later from the loop thread. The request and the call are valid until
 * then.
 */
#ifndef WABOT_HTTP_H
#define WABOT_HTTP_H

#include "core.h"
#include "webhook.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wabot_http_request wabot_http_request;
typedef struct wabot_http_call wabot_http_call;
typedef struct wabot_http_client wabot_http_client;

/** "GET", "POST", ... */
WABOT_API const char *wabot_http_request_method(const wabot_http_request *r);
/** Absolute URL. */
WABOT_API const char *wabot_http_request_url(const wabot_http_request *r);
WABOT_API size_t wabot_http_request_header_count(const wabot_http_request *r);
/** Header i as "Name" / "value"; NULL if out of range. */
WABOT_API const char *wabot_http_request_header_name(
    const wabot_http_request *r, size_t i);
WABOT_API const char *wabot_http_request_header_value(
    const wabot_http_request *r, size_t i);
/** Body bytes (NUL-terminated) and length. */
WABOT_API const char *wabot_http_request_body(const wabot_http_request *r,
                                              size_t *len);
/** Whole-request timeout in ms (connect included). */
WABOT_API int64_t wabot_http_request_timeout_ms(const wabot_http_request *r);

/** Complete a call with the response (headers and body are copied). */
WABOT_API void wabot_http_call_done(wabot_http_call *call, int status_code,
                                    const wabot_http_header *headers,
                                    size_t nheaders, const char *body,
                                    size_t len);
/** Complete a call without a response: status WABOT_ERR_TIMEOUT or
 *  WABOT_ERR_TRANSPORT, with a description (copied, may be NULL). */
WABOT_API void wabot_http_call_fail(wabot_http_call *call, int status,
                                    const char *message);

#define WABOT_HTTP_CLIENT_VTABLE_VERSION 1
typedef struct wabot_http_client_vtable {
    uint32_t version; /**< WABOT_HTTP_CLIENT_VTABLE_VERSION */
    /** Start the request. WABOT_OK: the call will be (or was) completed.
     *  Negative: not taken; the call will not be completed. */
    int (*start)(void *impl, const wabot_http_request *req,
                 wabot_http_call *call);
    void (*destroy)(void *impl); /**< may be NULL */
} wabot_http_client_vtable;

/** Wrap a client (vt borrowed, impl owned). NULL on bad vtable / NOMEM. */
WABOT_API wabot_http_client *wabot_http_client_new(
    const wabot_http_client_vtable *vt, void *impl);
WABOT_API void wabot_http_client_free(wabot_http_client *c);
/** Use `c` (borrowed; must outlive the context) instead of the context's
 *  libcurl client. NULL restores the default. */
WABOT_API int wabot_options_set_http_client(wabot_options *opts,
                                            wabot_http_client *c);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_HTTP_H */
