/* Shared by the Twilio and Meta transports. Private. */
#ifndef WB_PROVIDER_H
#define WB_PROVIDER_H

#include "http.h"
#include "strbuf.h"
#include "transport.h"

/* Complete op from an HTTP answer: success with `provider_id`, or the
 * classified failure with the provider's code/message and Retry-After. */
void wb_provider_complete(wabot_send_op *op, wabot_provider provider,
                          const wb_http_response *r, const char *provider_id,
                          int code, const char *message);
/* The string at `path` (member names; "#0" = an array's first element;
 * NULL-terminated) of a JSON answer, without decoding it
 * (lib/transport/answer_id.c): FOUND with the id copied into id[n],
 * ABSENT when the document is valid JSON without a string there, UNSURE
 * when the caller must decode it to know (malformed, escapes, too long). */
#define WB_PROVIDER_ID_MAX 256 /* longer ids take the decoding path */
#define WB_ANSWER_FOUND 0
#define WB_ANSWER_ABSENT 1
#define WB_ANSWER_UNSURE (-1)
int wb_answer_id(const char *body, size_t len, const char *const *path,
                 char *id, size_t n);
/* Retry-After (seconds, or an HTTP date) in ms; 0 if absent. */
int64_t wb_retry_after_ms(const wb_http_response *r);
/* Append s percent-encoded for a form value. */
void wb_form_encode(wb_strbuf *b, const char *s);
/* A byte a form value carries as itself (wb_form_encode). */
int wb_form_unreserved(unsigned char c);
/* 1 if url is an absolute http(s) URL without trailing slash issues. */
int wb_url_ok(const char *url);
/* Characters (UTF-8 code points) in s. */
size_t wb_utf8_length(const char *s);

#endif
