/*
 * The HTTP entry point: hand every request for the bot's paths to
 * wabot_http_handle() and send back the response it returns.
 *
 * Paths (WABOT_OPT_TWILIO_WEBHOOK_PATH, WABOT_OPT_META_WEBHOOK_PATH):
 * a POST to either path is parsed by its Content-Type, so both paths accept
 * both providers:
 *   application/x-www-form-urlencoded  Twilio webhook (X-Twilio-Signature
 *                                      checked); answered 200 with an empty
 *                                      TwiML <Response/>, or with the turn's
 *                                      replies as TwiML when
 *                                      WABOT_OPT_TWILIO_INLINE_REPLIES is 1;
 *   application/json                   Meta Cloud API webhook
 *                                      (X-Hub-Signature-256 checked; every
 *                                      entry, change and message of a batch);
 *                                      answered 200 {"status":"ok"}.
 * A GET is Meta's verification handshake: 200 with hub.challenge as the
 * body when hub.verify_token matches WABOT_OPT_META_VERIFY_TOKEN, else 403.
 * Errors are answered with a JSON body {"error":{"code":"...","message":
 * "..."}} and counted in metrics:
 *   400 malformed body or missing required field, 403 missing or wrong
 *   signature (or no secret configured), 404 unknown path, 405 wrong
 *   method, 413 body or field over a limit, 415 unsupported Content-Type,
 *   503 the storage could not be reached (the provider redelivers).
 * A message whose handling fails for its own sake (a handler error) is
 * logged and counted but still answered 200, so the provider does not
 * redeliver a message that will fail again. See doc/webhook.md and
 * doc/security.md.
 *
 * Thread-safe: may be called from several threads at once.
 */
#ifndef WABOT_WEBHOOK_H
#define WABOT_WEBHOOK_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One request header as received (name case-insensitive). */
typedef struct wabot_http_header {
    const char *name;
    const char *value;
} wabot_http_header;

typedef struct wabot_http_response wabot_http_response;

/**
 * Handle one HTTP request. `method` ("GET", "POST"), `target` (path with
 * query, e.g. "/whatsapp/webhook?x=1"), `headers` (n of them, borrowed),
 * the raw `body` (len bytes, need not be NUL-terminated; NULL if len is 0).
 * On WABOT_OK *resp owns the response to send (free it with
 * wabot_http_response_free); HTTP errors are responses, not error returns.
 * Errors: WABOT_ERR_INVAL (NULL ctx/method/target/resp), NOMEM.
 */
WABOT_API int wabot_http_handle(wabot_ctx *ctx, const char *method,
                                const char *target,
                                const wabot_http_header *headers,
                                size_t nheaders, const char *body, size_t len,
                                wabot_http_response **resp);

WABOT_API int wabot_http_response_status(const wabot_http_response *r);
/** Content-Type value (borrowed). */
WABOT_API const char *wabot_http_response_content_type(
    const wabot_http_response *r);
/** Body bytes (borrowed; NUL-terminated for convenience) and length. */
WABOT_API const char *wabot_http_response_body(const wabot_http_response *r,
                                               size_t *len);
WABOT_API void wabot_http_response_free(wabot_http_response *r);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_WEBHOOK_H */
