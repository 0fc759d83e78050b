/* Message internals, shared by the webhook parsers, the pipeline and the
 * transports. Private. Absent strings are NULL; accessors map them to "". */
#ifndef WB_MESSAGE_H
#define WB_MESSAGE_H

#include "wabot/message.h"
#include "alloc.h"

typedef struct wb_media {
    char *url;
    char *type;
} wb_media;

struct wabot_message {
    const wabot_allocator *alloc; /* NULL = libc; must outlive the message */
    wabot_provider provider;
    wabot_msg_type type;
    char *id, *from, *to, *to_id, *profile_name, *text;
    char *payload, *payload_title, *organization;
    char *loc_name, *loc_address;
    double lat, lon;
    int has_location;
    int64_t timestamp_ms;
    wb_media *media;
    size_t n_media;
    /* String fields that fit are copied here rather than each to its own
     * heap block: a message is built, handled and freed per webhook, often
     * on one thread and freed on another. Only through wb_message_setn. */
    size_t inl_used;
    char inl[192];
};

/* An empty message (provider UNKNOWN, type TEXT). NULL on NOMEM. */
wabot_message *wb_message_alloc(const wabot_allocator *a);
/* Set a string field of m to a copy of s[0..n) (NUL-terminated copy).
 * WABOT_OK or WABOT_ERR_NOMEM. */
int wb_message_setn(wabot_message *m, char **field, const char *s, size_t n);
int wb_message_add_media(wabot_message *m, const char *url,
                         const char *type);
/* Normalise a phone number to E.164 in place-free fashion: accepts
 * "whatsapp:+1415...", "+1415...", "1415..." (digits, optional spaces,
 * dashes, dots, parentheses). Writes "+<digits>" into out (size outsz).
 * WABOT_OK, or WABOT_ERR_PARSE if no 6..15 digits remain / other chars. */
int wb_e164_normalize(const char *in, char *out, size_t outsz);

typedef struct wb_out_option {
    char *id;
    char *title;
    char *description; /* list rows only; NULL = none */
} wb_out_option;

struct wabot_outbound {
    const wabot_allocator *alloc;
    wabot_out_kind kind;
    wabot_out_category category;
    wabot_provider provider;
    char *id, *to, *from, *organization, *text, *media_url, *in_reply_to;
    char *template_name, *template_language;
    char *correlation_id; /* the sender's own reference, kept with receipts */
    char *list_button;    /* list messages: the button and section texts, */
    char *list_section;   /* resolved from the texts catalog when built */
    wb_out_option *opts;
    size_t n_opts;
    char **params; /* template body parameters */
    size_t n_params;
};

wabot_outbound *wb_outbound_alloc(const wabot_allocator *a,
                                  wabot_out_kind kind);
void wb_outbound_free(wabot_outbound *o);
/* Append a button or row (description may be NULL). NOMEM. */
int wb_outbound_add_option(wabot_outbound *o, const char *id,
                           const char *title, const char *description);
int wb_outbound_add_param(wabot_outbound *o, const char *param);
/* The job payload: wabot_outbound_to_json()'s object without its empty
 * members (issue 12: a queued reply's "media_url":"", "list_button":"",
 * "list_section":"", "options":[] and the like were ~90 of its ~355
 * bytes). Owned by the caller (wabot_free); NULL on NOMEM. */
char *wb_outbound_to_payload(const wabot_outbound *o);
/* The job payload codec's decoder: a message from a job payload, either
 * form (wb_outbound_to_payload's, or wabot_outbound_to_json's with every
 * member, as earlier versions queued it: the same message). NULL when the
 * text is not an outbound message (or on NOMEM). */
wabot_outbound *wb_outbound_from_json(const wabot_allocator *a,
                                      const char *json, size_t len);
/* The same through a jansson tree only (what wb_outbound_from_json gives
 * for any text, by a scan when it can): for the tests that compare. */
wabot_outbound *wb_outbound_from_json_tree(const wabot_allocator *a,
                                           const char *json, size_t len);
/* Deep copy with allocator a. NULL on NOMEM. */
wabot_outbound *wb_outbound_dup(const wabot_allocator *a,
                                const wabot_outbound *o);

#endif
