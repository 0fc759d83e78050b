/*
 * Webhook security and inbound hygiene: request signatures, Meta's
 * verification handshake, delivery receipts, inbound dedup, the
 * per-customer inbound rate limit and opt-out keywords (doc/security.md).
 *
 * wabot_http_handle() applies all of it; the options live in the
 * wabot_option enum (core.h, WABOT_OPT_TWILIO_AUTH_TOKEN and following):
 *
 *  Signatures (WABOT_OPT_VERIFY_SIGNATURES, default 1). A form POST is a
 *  Twilio webhook and must carry a valid X-Twilio-Signature for
 *  WABOT_OPT_TWILIO_AUTH_TOKEN over the public URL (WABOT_OPT_PUBLIC_URL
 *  joined with the request target; without it, the Host header);
 *  a JSON POST is a Meta webhook and must carry a valid
 *  X-Hub-Signature-256 for WABOT_OPT_META_APP_SECRET. A missing or wrong
 *  signature, or a provider whose secret is not configured, is answered
 *  403 {"error":{"code":"invalid_signature"|"signature_not_configured",..}}
 *  before the body is parsed, and counted as webhook.rejected.<code>.
 *  Only WABOT_OPT_VERIFY_SIGNATURES = 0 accepts unsigned requests (local
 *  development), and the library then logs a warning.
 *
 *  Handshake: GET on a webhook path with hub.mode=subscribe and
 *  hub.verify_token equal to WABOT_OPT_META_VERIFY_TOKEN is answered 200
 *  text/plain with hub.challenge; anything else 403.
 *
 *  Dedup, rate limit and opt-out run inside wabot_ctx_handle_message(),
 *  so hosts that parse webhooks themselves get them too:
 *   - a message whose provider id was handled already (or is being
 *     handled) is not handled again: wabot_ctx_handle_message() returns
 *     WABOT_OK and counts messages.duplicates (WABOT_OPT_DEDUP...);
 *   - a customer over WABOT_OPT_INBOUND_RATE_* is not handled
 *     (messages.rate_limited) and gets WABOT_OPT_INBOUND_RATE_NOTICE once
 *     per period;
 *   - a text equal (folded as keyword routes fold) to an opt-out keyword
 *     sets the customer's opted-out flag and is answered with
 *     WABOT_OPT_OPTOUT_REPLY; an opt-in keyword from an opted-out customer
 *     clears it (WABOT_OPT_OPTIN_REPLY). Neither reaches the middlewares.
 *
 *  Delivery receipts: Twilio status callbacks and Meta statuses[] update
 *  the delivery state of the message they name (wabot/delivery.h).
 */
#ifndef WABOT_SECURITY_H
#define WABOT_SECURITY_H

#include "core.h"
#include "delivery.h" /* delivery receipts' records, declared here before */
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Signature verification (also usable on its own, e.g. by hosts with
 * their own endpoints). Comparisons are constant-time. Any thread.     */

/** How the body of a Twilio request is signed. */
typedef enum wabot_twilio_body {
    /** application/x-www-form-urlencoded: the signature covers the URL and
     *  every decoded parameter (sorted by name, then value). */
    WABOT_TWILIO_BODY_FORM = 0,
    /** Any other body (JSON): the URL must carry bodySHA256=<hex SHA-256
     *  of the body>; the signature covers the URL alone. */
    WABOT_TWILIO_BODY_RAW = 1
} wabot_twilio_body;

/**
 * Check an X-Twilio-Signature value. `url` is the full URL Twilio
 * requested, query included; it is tried with and without the port (the
 * default port added when absent), as Twilio's SDKs do. `body` is the raw
 * request body (len bytes; NULL when len is 0).
 * WABOT_OK if valid; WABOT_ERR_AUTH if not (wrong signature, body hash
 * mismatch, missing bodySHA256 for a raw body); WABOT_ERR_INVAL for NULL
 * or empty auth_token/url/signature; WABOT_ERR_PARSE for a form body that
 * does not decode; WABOT_ERR_NOMEM.
 */
WABOT_API int wabot_twilio_signature_check(const char *auth_token,
                                           const char *url,
                                           wabot_twilio_body kind,
                                           const char *body, size_t len,
                                           const char *signature);

/**
 * Check an X-Hub-Signature-256 value ("sha256=" and the hex HMAC-SHA256
 * of the raw body with the app secret; hex digits in either case).
 * WABOT_OK if valid, WABOT_ERR_AUTH if not, WABOT_ERR_INVAL for a NULL or
 * empty app_secret or header.
 */
WABOT_API int wabot_meta_signature_check(const char *app_secret,
                                         const char *body, size_t len,
                                         const char *header_value);

/** Bytes wabot_twilio_signature_compute writes, NUL included. */
#define WABOT_TWILIO_SIGNATURE_SIZE 29
/** Bytes wabot_meta_signature_compute writes, NUL included
 *  ("sha256=" and 64 hex digits). */
#define WABOT_META_SIGNATURE_SIZE 72

/**
 * The X-Twilio-Signature Twilio would send for a form `body` POSTed to
 * `url` (the full URL, query included): base64 HMAC-SHA1 of the URL and
 * the sorted, decoded parameters. For tests and for signing requests to
 * your own server by hand (`wabot-sign`). Writes a NUL-terminated value
 * into out (out_size >= WABOT_TWILIO_SIGNATURE_SIZE). Any thread.
 * Errors: WABOT_ERR_INVAL (NULL/empty token or url, NULL body with a
 * length, out too small), WABOT_ERR_PARSE (a body that is not a form),
 * NOMEM; the detail in wabot_errmsg().
 */
WABOT_API int wabot_twilio_signature_compute(const char *auth_token,
                                             const char *url,
                                             const char *body, size_t len,
                                             char *out, size_t out_size);

/**
 * The X-Hub-Signature-256 Meta would send for `body`: "sha256=" and the
 * lower-case hex HMAC-SHA256 with the app secret. out_size >=
 * WABOT_META_SIGNATURE_SIZE. Any thread. Errors: WABOT_ERR_INVAL, NOMEM.
 */
WABOT_API int wabot_meta_signature_compute(const char *app_secret,
                                           const char *body, size_t len,
                                           char *out, size_t out_size);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_SECURITY_H */
