/*
 * The normalised message model.
 *
 * wabot_message is one inbound message from a customer, whatever provider
 * delivered it. wabot_outbound is one message the bot sends. Both are opaque
 * and read through accessors. String accessors return borrowed pointers
 * valid as long as the object; they return "" (never NULL) for an absent
 * text field, except where noted.
 *
 * Messages handed to middlewares and handlers belong to the library and are
 * valid for the duration of the turn. Messages built with wabot_message_new()
 * belong to the caller. Reading a message from several threads is safe;
 * modifying it is not.
 */
#ifndef WABOT_MESSAGE_H
#define WABOT_MESSAGE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wabot_provider {
    WABOT_PROVIDER_UNKNOWN = 0,
    WABOT_PROVIDER_TWILIO = 1,
    WABOT_PROVIDER_META = 2,
    WABOT_PROVIDER_TEST = 3 /**< built by the host (wabot_message_new) */
} wabot_provider;

/** Static lower-case provider name ("twilio", "meta", "test", "unknown"). */
WABOT_API const char *wabot_provider_name(wabot_provider p);

typedef enum wabot_msg_type {
    WABOT_MSG_UNKNOWN = 0,
    WABOT_MSG_TEXT = 1,
    WABOT_MSG_IMAGE = 2,
    WABOT_MSG_AUDIO = 3,
    WABOT_MSG_VIDEO = 4,
    WABOT_MSG_DOCUMENT = 5,
    WABOT_MSG_STICKER = 6,
    WABOT_MSG_LOCATION = 7,
    WABOT_MSG_BUTTON_REPLY = 8, /**< quick-reply / template button pressed */
    WABOT_MSG_LIST_REPLY = 9,   /**< list row chosen */
    WABOT_MSG_CONTACTS = 10,
    WABOT_MSG_REACTION = 11
} wabot_msg_type;

/** Static lower-case type name ("text", "image", ..., "button_reply"). */
WABOT_API const char *wabot_msg_type_name(wabot_msg_type t);
/** Type from its name (as wabot_msg_type_name); WABOT_MSG_UNKNOWN if none. */
WABOT_API wabot_msg_type wabot_msg_type_from_name(const char *name);

/* ------------------------------------------------------------------ */
/* Inbound                                                             */

typedef struct wabot_message wabot_message;

/* Accessors: any thread while the message lives; borrowed strings valid
 * as long as the message; a NULL message reads as empty. */
WABOT_API wabot_provider wabot_message_provider(const wabot_message *m);
/** Provider message id (Twilio MessageSid, Meta wamid). */
WABOT_API const char *wabot_message_id(const wabot_message *m);
/** Customer number, E.164 with a leading '+'. */
WABOT_API const char *wabot_message_from(const wabot_message *m);
/** Business number the customer wrote to, E.164 (may be "" for Meta when
 *  only the phone number id is known; see wabot_message_to_id()). */
WABOT_API const char *wabot_message_to(const wabot_message *m);
/** Provider-side id of the business number (Meta phone_number_id,
 *  Twilio AccountSid); "" if unknown. */
WABOT_API const char *wabot_message_to_id(const wabot_message *m);
WABOT_API const char *wabot_message_profile_name(const wabot_message *m);
WABOT_API wabot_msg_type wabot_message_type(const wabot_message *m);
/** Text body; for media the caption; for button/list replies the title. */
WABOT_API const char *wabot_message_text(const wabot_message *m);
/** Button or list-row payload (id); "" if not a reply. */
WABOT_API const char *wabot_message_payload(const wabot_message *m);
/** Button or list-row title; "" if not a reply. */
WABOT_API const char *wabot_message_payload_title(const wabot_message *m);
WABOT_API size_t wabot_message_media_count(const wabot_message *m);
/** URL / content type of media item i; NULL if i is out of range. */
WABOT_API const char *wabot_message_media_url(const wabot_message *m, size_t i);
WABOT_API const char *wabot_message_media_type(const wabot_message *m, size_t i);
/** Location: returns 1 and fills lat/lon when the message has one, else 0. */
WABOT_API int wabot_message_location(const wabot_message *m, double *lat,
                                     double *lon);
WABOT_API const char *wabot_message_location_name(const wabot_message *m);
WABOT_API const char *wabot_message_location_address(const wabot_message *m);
/** Provider timestamp in ms since the epoch (receive time if the provider
 *  sends none). */
WABOT_API int64_t wabot_message_timestamp_ms(const wabot_message *m);
/** Organisation (tenant) the message belongs to. */
WABOT_API const char *wabot_message_organization(const wabot_message *m);

/**
 * Build a message, for tests and hosts with their own parsing (hand it to
 * wabot_ctx_handle_message()). Required: id, from (E.164, with or without
 * '+', optionally prefixed "whatsapp:"), to (may be "" or NULL). Returns NULL
 * on invalid arguments or out of memory. Type starts as WABOT_MSG_TEXT with
 * empty text, organisation "" (the context's default is then used) and
 * timestamp 0 (receive time is then used). Free with wabot_message_free().
 */
WABOT_API wabot_message *wabot_message_new(const char *id, const char *from,
                                           const char *to);
WABOT_API void wabot_message_free(wabot_message *m);
/* Setters for messages from wabot_message_new(): strings are copied;
 * WABOT_ERR_INVAL on NULL m or a bad value, NOMEM. */
WABOT_API int wabot_message_set_type(wabot_message *m, wabot_msg_type t);
WABOT_API int wabot_message_set_text(wabot_message *m, const char *text);
WABOT_API int wabot_message_set_payload(wabot_message *m, const char *payload,
                                        const char *title);
WABOT_API int wabot_message_set_profile_name(wabot_message *m,
                                             const char *name);
WABOT_API int wabot_message_add_media(wabot_message *m, const char *url,
                                      const char *content_type);
WABOT_API int wabot_message_set_location(wabot_message *m, double lat,
                                         double lon, const char *name,
                                         const char *address);
WABOT_API int wabot_message_set_timestamp_ms(wabot_message *m, int64_t ts);
WABOT_API int wabot_message_set_organization(wabot_message *m,
                                             const char *org);

/* ------------------------------------------------------------------ */
/* Outbound                                                            */

typedef enum wabot_out_kind {
    WABOT_OUT_TEXT = 1,
    WABOT_OUT_MEDIA = 2,   /**< image/document/... by URL, optional caption */
    WABOT_OUT_BUTTONS = 3, /**< body text + reply buttons */
    WABOT_OUT_LIST = 4,    /**< body text + a list of rows */
    WABOT_OUT_TEMPLATE = 5 /**< approved template by name, with parameters */
} wabot_out_kind;

/** Why a message is sent; opt-out and the 24-hour window depend on it. */
typedef enum wabot_out_category {
    WABOT_CAT_REPLY = 0,    /**< answer within a conversation */
    WABOT_CAT_NOTICE = 1,   /**< service notice (order, invoice) */
    WABOT_CAT_REMINDER = 2,
    WABOT_CAT_CAMPAIGN = 3
} wabot_out_category;

typedef struct wabot_outbound wabot_outbound;

/** Static names ("text", ...; "reply", ...). */
WABOT_API const char *wabot_out_kind_name(wabot_out_kind k);
WABOT_API const char *wabot_out_category_name(wabot_out_category c);

/** Idempotency id of this outbound message (e.g. "<inbound id>:r0"). */
WABOT_API const char *wabot_outbound_id(const wabot_outbound *o);
WABOT_API wabot_out_kind wabot_outbound_kind(const wabot_outbound *o);
WABOT_API wabot_out_category wabot_outbound_category(const wabot_outbound *o);
WABOT_API wabot_provider wabot_outbound_provider(const wabot_outbound *o);
/** Recipient, E.164. */
WABOT_API const char *wabot_outbound_to(const wabot_outbound *o);
/** Sender (business number, E.164; "" = the transport's default). */
WABOT_API const char *wabot_outbound_from(const wabot_outbound *o);
WABOT_API const char *wabot_outbound_organization(const wabot_outbound *o);
/** Text, or body text for buttons/lists, or caption for media. */
WABOT_API const char *wabot_outbound_text(const wabot_outbound *o);
/** Media URL; "" unless kind is MEDIA. */
WABOT_API const char *wabot_outbound_media_url(const wabot_outbound *o);
/** Provider message id this replies to; "" if none. */
WABOT_API const char *wabot_outbound_in_reply_to(const wabot_outbound *o);
/** Buttons or list rows: count, then id/title of item i (NULL if out of
 *  range). */
WABOT_API size_t wabot_outbound_option_count(const wabot_outbound *o);
WABOT_API const char *wabot_outbound_option_id(const wabot_outbound *o,
                                               size_t i);
WABOT_API const char *wabot_outbound_option_title(const wabot_outbound *o,
                                                  size_t i);
/** Description of list row i ("" if none; NULL if out of range). */
WABOT_API const char *wabot_outbound_option_description(
    const wabot_outbound *o, size_t i);
/** The sender's reference for this message (wabot_out_set_correlation_id;
 *  generated when not set), kept with its delivery record. "" for
 *  messages queued before correlation ids existed. */
WABOT_API const char *wabot_outbound_correlation_id(const wabot_outbound *o);
/** List messages: the text of the button that opens the list and the
 *  title of its section, resolved from the texts catalog (wabot/out.h)
 *  when the message was built. "" for other kinds. */
WABOT_API const char *wabot_outbound_list_button(const wabot_outbound *o);
WABOT_API const char *wabot_outbound_list_section(const wabot_outbound *o);
/** Template name and language code; "" unless kind is TEMPLATE. */
WABOT_API const char *wabot_outbound_template_name(const wabot_outbound *o);
WABOT_API const char *wabot_outbound_template_language(
    const wabot_outbound *o);
/** Template body parameters ({{1}}, {{2}}, ...): count, then param i (NULL
 *  if out of range). */
WABOT_API size_t wabot_outbound_param_count(const wabot_outbound *o);
WABOT_API const char *wabot_outbound_param(const wabot_outbound *o, size_t i);

/**
 * Serialise to a JSON object (owned by the caller, free with wabot_free()).
 * Keys: id, kind, category, provider, to, from, organization, text,
 * media_url, in_reply_to, correlation_id, list_button, list_section,
 * options [{id,title[,description]}], template {name, language, params []}
 * (templates only). NULL on out of memory.
 */
WABOT_API char *wabot_outbound_to_json(const wabot_outbound *o);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_MESSAGE_H */
