/*
 * The outbound message builder and the texts catalog.
 *
 * A wabot_out describes one message to a customer. It is built once with
 * setters, then either queued (wabot_out_enqueue: notices, reminders and
 * campaigns, outside any turn) or added to a turn's replies
 * (wabot_turn_reply_out: sent when the turn ends). Both copy the message:
 * the builder stays the caller's, to free with wabot_out_free, and may be
 * queued again (the same idempotency key then gives WABOT_ERR_EXISTS).
 *
 *   wabot_out *o = wabot_out_new(ctx);
 *   wabot_out_set_to(o, "+14155550100");
 *   wabot_out_set_category(o, WABOT_CAT_NOTICE);
 *   wabot_out_set_text(o, "Your order has shipped.");
 *   wabot_out_set_idempotency_key(o, "order-1234-shipped");
 *   int rc = wabot_out_enqueue(o, NULL);
 *   wabot_out_free(o);
 *
 * Every limit of WhatsApp (and of the provider, when it is known) is
 * checked when a value is set or, for what depends on the whole message,
 * when it is queued or added to a turn: a message that cannot be sent
 * fails there with a status and a detail in wabot_ctx_errmsg(), never
 * later at send time. Limits (characters are UTF-8 code points):
 *   text, body, caption        4096 characters
 *   buttons                    1..3, title 1..20 characters
 *   list rows                  1..10, title 1..24, description 0..72
 *   list button text           1..20 characters
 *   button/row ids             1..256 bytes
 *   media URL                  1..2048 bytes
 *   template                   name 1..512 bytes, language 1..16 bytes,
 *                              0..20 parameters of 0..1024 bytes
 *   Twilio (provider known)    1600 characters of Body, numbered options
 *                              of buttons and lists included
 * Over a limit is WABOT_ERR_TOO_LARGE; a missing, empty or conflicting
 * value (text on a template, buttons and rows together) WABOT_ERR_INVAL.
 *
 * Threads: a builder is used by one thread at a time; different builders
 * may be used concurrently. wabot_out_enqueue is thread-safe.
 */
#ifndef WABOT_OUT_H
#define WABOT_OUT_H

#include "core.h"
#include "message.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A message under construction (opaque). */
typedef struct wabot_out wabot_out;

/**
 * A new, empty builder for context `ctx` (borrowed: it must outlive the
 * builder). Category WABOT_CAT_REPLY, the default organisation, a
 * generated idempotency key ("send-<16 hex>") and correlation id
 * ("corr-<16 hex>"). NULL when ctx is NULL or on out of memory. Free with
 * wabot_out_free. Any thread.
 */
WABOT_API wabot_out *wabot_out_new(wabot_ctx *ctx);
/** Free a builder. NULL is a no-op. */
WABOT_API void wabot_out_free(wabot_out *out);

/* ------------------------------------------------------------------ */
/* Addressing. Each setter copies its arguments and returns WABOT_OK or
 * a negative status (the builder is then unchanged). NULL out: INVAL.    */

/** Recipient: an E.164 number ("+14155550100"; "whatsapp:" prefixes and
 *  spaces are accepted). Required for wabot_out_enqueue; a turn's reply
 *  goes to the turn's customer unless set. INVAL if not a number. */
WABOT_API int wabot_out_set_to(wabot_out *out, const char *to);
/** Organisation sending it (NULL or "": the context's default; a turn's
 *  reply: the turn's). INVAL over 256 bytes. */
WABOT_API int wabot_out_set_org(wabot_out *out, const char *org);
/** Business number to send from (E.164; NULL or "": the organisation's
 *  first sender). INVAL if not a number. */
WABOT_API int wabot_out_set_from(wabot_out *out, const char *from);
/** Why the message is sent; opt-out (REMINDER, CAMPAIGN) and the 24-hour
 *  window depend on it. INVAL for an unknown category. */
WABOT_API int wabot_out_set_category(wabot_out *out,
                                     wabot_out_category category);
/** Locale of the library's own texts in this message (the list button,
 *  ...): a BCP 47 tag such as "pt-BR" or "de". NULL or "": the
 *  organisation's option texts.locale. INVAL unless 1..35 bytes of
 *  letters, digits, '-' and '_'. */
WABOT_API int wabot_out_set_locale(wabot_out *out, const char *locale);

/* ------------------------------------------------------------------ */
/* Content. The kind follows from what is set: a template, else buttons,
 * else list rows, else media, else text.                                */

/** Text, or the body of buttons and lists. INVAL when NULL or empty or on
 *  a template, TOO_LARGE over 4096 characters. */
WABOT_API int wabot_out_set_text(wabot_out *out, const char *text);
/** Media by URL (Meta picks the type from the extension) with
 *  an optional caption (NULL: none; replaces the text). INVAL for an empty
 *  URL or with buttons, rows or a template; TOO_LARGE over 2048 bytes of
 *  URL or 4096 characters of caption. */
WABOT_API int wabot_out_set_media(wabot_out *out, const char *url,
                                  const char *caption);
/** Append a reply button. INVAL for an empty id or title, or with rows,
 *  media or a template; TOO_LARGE for a 4th button, a title over 20
 *  characters or an id over 256 bytes. */
WABOT_API int wabot_out_add_button(wabot_out *out, const char *id,
                                   const char *title);
/** Append a list row (description may be NULL). INVAL for an empty id or
 *  title, or with buttons, media or a template; TOO_LARGE for an 11th
 *  row, a title over 24 or a description over 72 characters, an id over
 *  256 bytes. */
WABOT_API int wabot_out_add_row(wabot_out *out, const char *id,
                                const char *title, const char *description);
/** Text of the button that opens a list (default: the catalog's
 *  "list_button" for the message's organisation and locale). INVAL when
 *  empty, TOO_LARGE over 20 characters; a message with a list button text
 *  but no rows is INVAL when queued. */
WABOT_API int wabot_out_set_list_button(wabot_out *out, const char *text);
/** An approved template by name and language code. INVAL with text,
 *  media, buttons or rows, or for an empty name or language; TOO_LARGE
 *  over 512 bytes of name or 16 of language. */
WABOT_API int wabot_out_set_template(wabot_out *out, const char *name,
                                     const char *language);
/** Append a template body parameter ({{1}}, {{2}}, ... in order). INVAL
 *  for NULL, TOO_LARGE for a 21st parameter or over 1024 bytes. */
WABOT_API int wabot_out_add_template_param(wabot_out *out, const char *value);

/* ------------------------------------------------------------------ */
/* Identity                                                            */

/**
 * Idempotency key: the outbound job's id. A second message queued with a
 * key the queue still retains is WABOT_ERR_EXISTS and sends nothing, so a
 * retried campaign step cannot message a customer twice. When not set, a
 * queued message has the generated key and a turn's reply
 * "<inbound id>:r<n>" (a webhook delivered twice cannot reply twice).
 * INVAL unless 1..200 bytes without control characters.
 */
WABOT_API int wabot_out_set_idempotency_key(wabot_out *out, const char *key);
/** The key the message will be queued under (set or generated; a turn's
 *  reply without a set key uses "<inbound id>:r<n>" instead). Borrowed,
 *  valid until the key changes or the builder is freed. "" for NULL. */
WABOT_API const char *wabot_out_idempotency_key(const wabot_out *out);
/**
 * Correlation id: the caller's own reference (an order, a campaign
 * step), carried with the job and recorded with the send, so delivery
 * receipts can be matched to it (wabot_delivery_correlation_id) and
 * transports see it (wabot_outbound_correlation_id). Generated when not
 * set. INVAL unless 1..128 bytes without control characters.
 */
WABOT_API int wabot_out_set_correlation_id(wabot_out *out, const char *id);
/** The correlation id (set or generated). Borrowed, valid until it
 *  changes or the builder is freed. "" for NULL. */
WABOT_API const char *wabot_out_correlation_id(const wabot_out *out);
/** Provider message id this answers (Meta shows it quoted; NULL or "":
 *  none; a turn's reply: the inbound message). INVAL over 256 bytes. */
WABOT_API int wabot_out_set_in_reply_to(wabot_out *out,
                                        const char *message_id);

/* ------------------------------------------------------------------ */
/* Sending                                                             */

/**
 * Queue the message as an outbound job and return at once; the outbound
 * path then applies opt-out, the 24-hour window (with its template
 * fallback), rate limits and the circuit breaker, and retries. `out` is
 * borrowed (copied): the caller still frees it. *id (may be NULL) gets
 * the idempotency key, owned (wabot_ctx_mem_free), also on EXISTS.
 * Errors: INVAL (no recipient, no content), TOO_LARGE (the routed
 * provider's limits), EXISTS (the key was queued already), STORAGE,
 * NOMEM; wabot_ctx_errmsg() says why. Thread-safe.
 */
WABOT_API int wabot_out_enqueue(wabot_out *out, char **id);
/**
 * Add the message to the turn's replies, sent in order when the turn ends
 * successfully (like wabot_reply_text). Recipient, sender, organisation
 * and in-reply-to default to the turn's; the provider is the inbound
 * message's, so its limits are checked here. `out` is borrowed (copied).
 * Errors: INVAL (NULL, no content), TOO_LARGE, NOMEM. The turn's thread.
 */
WABOT_API int wabot_turn_reply_out(wabot_turn *turn, wabot_out *out);

/* ------------------------------------------------------------------ */
/* Texts catalog: the library's own customer-visible words              */

/**
 * Set text `key` for organisation `org` and locale `locale` (either may be
 * NULL: any). Keys: "list_button" (opens a list, default "Choose"),
 * "list_section" (the list's section title, default "Options").
 * Resolution for (org, locale), first match wins:
 *   1. (org, locale)  2. (org, language of locale, "pt" for "pt-BR")
 *   3. (org, any): wabot_ctx_set_text, else the organisation's override of
 *      option texts.<key> (wabot_ctx_set_org_option)
 *   4. (any, locale)  5. (any, language)  6. (any, any)
 *   7. option texts.<key> (the built-in default unless set)
 * Locales compare case-insensitively, '_' equal to '-'. Providers' limits
 * on the resolved text (Meta: 20 characters of list button) are checked
 * when a message uses it. `value` is copied. Errors: NOT_FOUND (unknown
 * key), INVAL (empty or over 1024 bytes, bad locale), NOMEM. Thread-safe.
 */
WABOT_API int wabot_ctx_set_text(wabot_ctx *ctx, const char *org,
                                 const char *locale, const char *key,
                                 const char *value);
/**
 * Text `key` as resolved for `org` (NULL: the default organisation) and
 * `locale` (NULL or "": the organisation's texts.locale). Borrowed, valid
 * for the context's lifetime. NULL for an unknown key. Thread-safe.
 */
WABOT_API const char *wabot_ctx_text(const wabot_ctx *ctx, const char *org,
                                     const char *locale, const char *key);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_OUT_H */
