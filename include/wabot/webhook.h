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
 * The webhook paths are routes of the HTTP server (http_server.h): HEAD is
 * answered like GET without a body, a 405 carries "Allow: GET, HEAD,
 * POST", a 503 carries "Retry-After: 1".
 *
 * Thread-safe: may be called from several threads at once.
 */
#ifndef WABOT_WEBHOOK_H
#define WABOT_WEBHOOK_H

#include "core.h"
/* wabot_http_handle(), wabot_http_header and the response accessors are
 * declared there. */
#include "http_server.h"

#endif /* WABOT_WEBHOOK_H */
