/* Meta WhatsApp Cloud API webhooks: one JSON document carrying entries,
 * changes, messages and statuses, turned into a wb_webhook_batch.
 *
 * The whole batch is validated before anything is handled: Meta redelivers
 * a batch as a unit, so handling half of it and then answering 400 would
 * run those messages twice. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/webhook.h"

#define META_OBJECT "whatsapp_business_account"

/* JSON paths in messages are short ("entry[0].changes[1].value.messages
 * [999].interactive.button_reply.title"); longer ones are truncated. */
#define PATH_MAX_LEN 160

typedef struct meta_parser {
    wabot_ctx *ctx;
    wb_webhook_batch *out;
    wb_reject *rej;
    size_t n_messages;   /* messages and statuses so far in the batch */
    size_t max_messages; /* cfg.max_batch_messages */
    size_t max_field_bytes; /* cfg.max_field_bytes: longest string value */
} meta_parser;

/* What every message of one change shares. */
typedef struct meta_value_ctx {
    char to[32];         /* normalised display_phone_number, "" if none */
    const char *to_id;   /* phone_number_id (borrowed from the JSON), or NULL */
    json_t *contacts;    /* value.contacts array (borrowed), or NULL */
} meta_value_ctx;

static size_t cfg_size(int64_t v)
{
    return v > 0 ? (size_t)v : 0;
}

/* Reject the batch as 400 invalid_payload: "<path>: <problem>". */
static int bad(meta_parser *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(meta_parser *p, const char *path, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return wb_reject_set(p->rej, WABOT_ERR_PARSE, 400, "invalid_payload",
                         "%s: %s", path, what);
}

/* dst = base + "." + key (+ "[i]" when i >= 0). A path too long for the
 * buffer ends in "..." rather than being cut silently. */
static void path_join(char *dst, const char *base, const char *key, long i)
{
    int n = i >= 0 ? snprintf(dst, PATH_MAX_LEN, "%s%s%s[%ld]", base,
                              *base ? "." : "", key, i)
                   : snprintf(dst, PATH_MAX_LEN, "%s%s%s", base,
                              *base ? "." : "", key);
    if (n >= PATH_MAX_LEN)
        memcpy(dst + PATH_MAX_LEN - 4, "...", 4);
}

static void sub_path(char *dst, const char *base, const char *key)
{
    path_join(dst, base, key, -1);
}

static void index_path(char *dst, const char *base, const char *key, size_t i)
{
    path_join(dst, base, key, (long)i);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Member `key` of obj with JSON type `want` into *out (NULL if absent and
 * not required). Wrong type, or absent when required: invalid_payload. */
static int member(meta_parser *p, json_t *obj, const char *path,
                  const char *key, json_type want, int required, json_t **out)
{
    char where[PATH_MAX_LEN];
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    sub_path(where, path, key);
    if (v == NULL || (json_is_null(v) && !required)) {
        if (required)
            return bad(p, where, "missing");
        return WABOT_OK;
    }
    if (json_typeof(v) != want) {
        static const char *const want_names[] = {
            [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
            [JSON_STRING] = "a string", [JSON_INTEGER] = "an integer",
            [JSON_REAL] = "a number", [JSON_TRUE] = "true",
            [JSON_FALSE] = "false", [JSON_NULL] = "null"};
        return bad(p, where, "expected %s, got %s", want_names[want],
                   type_name(v));
    }
    *out = v;
    return WABOT_OK;
}

/* String member; *s is NULL when absent and optional. Required strings
 * must also be non-empty (an empty id or number is as good as none). */
static int str_member(meta_parser *p, json_t *obj, const char *path,
                      const char *key, int required, const char **s)
{
    json_t *v;
    int rc = member(p, obj, path, key, JSON_STRING, required, &v);
    *s = v != NULL ? json_string_value(v) : NULL;
    if (rc == WABOT_OK && v != NULL &&
        json_string_length(v) > p->max_field_bytes) {
        char where[PATH_MAX_LEN];
        sub_path(where, path, key);
        *s = NULL;
        return wb_reject_set(p->rej, WABOT_ERR_TOO_LARGE, 413,
                             "field_too_large",
                             "%s is %zu bytes, over the limit of %zu "
                             "(max_field_bytes)", where,
                             json_string_length(v), p->max_field_bytes);
    }
    if (rc == WABOT_OK && required && **s == '\0') {
        char where[PATH_MAX_LEN];
        sub_path(where, path, key);
        return bad(p, where, "empty");
    }
    return rc;
}

static int set_str(wabot_message *m, char **field, const char *s)
{
    return s != NULL ? wb_message_setn(m, field, s, strlen(s)) : WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Depth pre-scan                                                      */

size_t wb_json_depth(const char *s, size_t len, size_t limit)
{
    size_t depth = 0, max = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped char, which may be a quote */
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max && (max = depth) > limit)
                return limit + 1;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

/* ------------------------------------------------------------------ */
/* Message types                                                        */

typedef int (*type_parser)(meta_parser *p, json_t *msg, const char *path,
                           wabot_message *m);

static int parse_text(meta_parser *p, json_t *msg, const char *path,
                      wabot_message *m)
{
    json_t *text;
    const char *body;
    char where[PATH_MAX_LEN];
    sub_path(where, path, "text");
    int rc = member(p, msg, path, "text", JSON_OBJECT, 1, &text);
    if (rc == WABOT_OK)
        rc = str_member(p, text, where, "body", 0, &body);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->text, body);
    return rc;
}

/* Media: Meta sends a media id, not a URL (the URL must be fetched with
 * the id and the access token), so the id is the media item's "url".
 * The object is named by the type: "image": {...}, "document": {...}. */
static int parse_media(meta_parser *p, json_t *msg, const char *path,
                       wabot_message *m)
{
    const char *kind = wabot_msg_type_name(m->type);
    json_t *media;
    const char *id, *mime, *caption;
    char where[PATH_MAX_LEN];
    sub_path(where, path, kind);
    int rc = member(p, msg, path, kind, JSON_OBJECT, 1, &media);
    if (rc == WABOT_OK)
        rc = str_member(p, media, where, "id", 1, &id);
    if (rc == WABOT_OK)
        rc = str_member(p, media, where, "mime_type", 0, &mime);
    if (rc == WABOT_OK)
        rc = str_member(p, media, where, "caption", 0, &caption);
    if (rc == WABOT_OK)
        rc = wb_message_add_media(m, id, mime != NULL ? mime : "");
    if (rc == WABOT_OK)
        rc = set_str(m, &m->text, caption);
    return rc;
}

/* A reply (button or list row): payload = id, title and text = title. */
static int set_reply(wabot_message *m, wabot_msg_type type, const char *id,
                     const char *title)
{
    m->type = type;
    int rc = set_str(m, &m->payload, id);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->payload_title, title);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->text, title);
    return rc;
}

static int parse_interactive(meta_parser *p, json_t *msg, const char *path,
                             wabot_message *m)
{
    json_t *in, *reply;
    const char *kind, *id, *title;
    char where[PATH_MAX_LEN], rwhere[PATH_MAX_LEN];
    sub_path(where, path, "interactive");
    int rc = member(p, msg, path, "interactive", JSON_OBJECT, 1, &in);
    if (rc == WABOT_OK)
        rc = str_member(p, in, where, "type", 1, &kind);
    if (rc != WABOT_OK)
        return rc;
    wabot_msg_type t = WABOT_MSG_UNKNOWN;
    if (strcmp(kind, "button_reply") == 0)
        t = WABOT_MSG_BUTTON_REPLY;
    else if (strcmp(kind, "list_reply") == 0)
        t = WABOT_MSG_LIST_REPLY;
    if (t == WABOT_MSG_UNKNOWN) { /* e.g. nfm_reply (Flows): later issue */
        m->type = WABOT_MSG_UNKNOWN;
        return WABOT_OK;
    }
    sub_path(rwhere, where, kind);
    rc = member(p, in, where, kind, JSON_OBJECT, 1, &reply);
    if (rc == WABOT_OK)
        rc = str_member(p, reply, rwhere, "id", 1, &id);
    if (rc == WABOT_OK)
        rc = str_member(p, reply, rwhere, "title", 0, &title);
    /* list_reply.description has no place in the message model. */
    return rc == WABOT_OK ? set_reply(m, t, id, title) : rc;
}

/* Template quick-reply button: {"button": {"payload", "text"}}. As for
 * Twilio, the text stands in for a missing payload. */
static int parse_button(meta_parser *p, json_t *msg, const char *path,
                        wabot_message *m)
{
    json_t *b;
    const char *payload, *text;
    char where[PATH_MAX_LEN];
    sub_path(where, path, "button");
    int rc = member(p, msg, path, "button", JSON_OBJECT, 1, &b);
    if (rc == WABOT_OK)
        rc = str_member(p, b, where, "payload", 0, &payload);
    if (rc == WABOT_OK)
        rc = str_member(p, b, where, "text", 0, &text);
    if (rc != WABOT_OK)
        return rc;
    return set_reply(m, WABOT_MSG_BUTTON_REPLY,
                     payload != NULL && *payload ? payload : text, text);
}

static int coord(meta_parser *p, json_t *loc, const char *path,
                 const char *key, double limit, double *out)
{
    char where[PATH_MAX_LEN];
    sub_path(where, path, key);
    json_t *v = json_object_get(loc, key);
    if (v == NULL)
        return bad(p, where, "missing");
    if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
        fabs(json_number_value(v)) > limit)
        return bad(p, where, "not a number in -%g..%g", limit, limit);
    *out = json_number_value(v);
    return WABOT_OK;
}

static int parse_location(meta_parser *p, json_t *msg, const char *path,
                          wabot_message *m)
{
    json_t *loc;
    const char *name = NULL, *address = NULL;
    char where[PATH_MAX_LEN];
    sub_path(where, path, "location");
    int rc = member(p, msg, path, "location", JSON_OBJECT, 1, &loc);
    if (rc == WABOT_OK)
        rc = coord(p, loc, where, "latitude", 90.0, &m->lat);
    if (rc == WABOT_OK)
        rc = coord(p, loc, where, "longitude", 180.0, &m->lon);
    if (rc == WABOT_OK)
        rc = str_member(p, loc, where, "name", 0, &name);
    if (rc == WABOT_OK)
        rc = str_member(p, loc, where, "address", 0, &address);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->loc_name, name);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->loc_address, address);
    m->has_location = rc == WABOT_OK;
    return rc;
}

/* Reaction: text = the emoji ("" when a reaction is removed). */
static int parse_reaction(meta_parser *p, json_t *msg, const char *path,
                          wabot_message *m)
{
    json_t *r;
    const char *emoji;
    char where[PATH_MAX_LEN];
    sub_path(where, path, "reaction");
    int rc = member(p, msg, path, "reaction", JSON_OBJECT, 1, &r);
    if (rc == WABOT_OK)
        rc = str_member(p, r, where, "emoji", 0, &emoji);
    return rc == WABOT_OK ? set_str(m, &m->text, emoji) : rc;
}

/* Shared contact cards are not part of the message model yet: the type
 * says what arrived, the shape is still checked. */
static int parse_contacts(meta_parser *p, json_t *msg, const char *path,
                          wabot_message *m)
{
    json_t *c;
    (void)m;
    return member(p, msg, path, "contacts", JSON_ARRAY, 1, &c);
}

static const struct {
    const char *name;
    wabot_msg_type type;
    type_parser parse;
} meta_types[] = {
    {"text", WABOT_MSG_TEXT, parse_text},
    {"image", WABOT_MSG_IMAGE, parse_media},
    {"audio", WABOT_MSG_AUDIO, parse_media},
    {"video", WABOT_MSG_VIDEO, parse_media},
    {"document", WABOT_MSG_DOCUMENT, parse_media},
    {"sticker", WABOT_MSG_STICKER, parse_media},
    {"interactive", WABOT_MSG_BUTTON_REPLY, parse_interactive},
    {"button", WABOT_MSG_BUTTON_REPLY, parse_button},
    {"location", WABOT_MSG_LOCATION, parse_location},
    {"contacts", WABOT_MSG_CONTACTS, parse_contacts},
    {"reaction", WABOT_MSG_REACTION, parse_reaction},
};

static int parse_by_type(meta_parser *p, json_t *msg, const char *path,
                         const char *type, wabot_message *m)
{
    for (size_t i = 0; i < sizeof meta_types / sizeof meta_types[0]; i++) {
        if (strcmp(type, meta_types[i].name) == 0) {
            m->type = meta_types[i].type;
            return meta_types[i].parse(p, msg, path, m);
        }
    }
    /* order, system, unsupported, ...: still handled, as UNKNOWN. */
    m->type = WABOT_MSG_UNKNOWN;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Messages, statuses, changes                                          */

/* Unix seconds, sent as a decimal string (accepted as an integer too);
 * absent: `dflt`. */
static int timestamp_ms(meta_parser *p, json_t *obj, const char *path,
                        int64_t dflt, int64_t *out)
{
    char where[PATH_MAX_LEN];
    json_t *v = json_object_get(obj, "timestamp");
    sub_path(where, path, "timestamp");
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return WABOT_OK;
    long long secs = -1;
    if (json_is_integer(v)) {
        secs = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        if (*s >= '0' && *s <= '9')
            secs = strtoll(s, &end, 10);
        if (end == NULL || *end != '\0' || errno != 0)
            secs = -1;
    }
    /* Up to year 9999: keeps the ms value far from overflow. */
    if (secs < 0 || secs > 253402300799LL)
        return bad(p, where, "not a number of seconds since the epoch");
    *out = (int64_t)secs * 1000;
    return WABOT_OK;
}

/* Profile name of `from` from value.contacts[] (lenient: contacts only
 * add a name, so odd entries are skipped rather than rejected). */
static const char *profile_name(const meta_value_ctx *vc, const char *from_e164)
{
    size_t i;
    json_t *c;
    json_array_foreach(vc->contacts, i, c) {
        const char *wa_id = json_string_value(json_object_get(c, "wa_id"));
        char e164[32];
        if (wa_id == NULL ||
            wb_e164_normalize(wa_id, e164, sizeof e164) != WABOT_OK ||
            strcmp(e164, from_e164) != 0)
            continue;
        json_t *profile = json_object_get(c, "profile");
        return json_string_value(json_object_get(profile, "name"));
    }
    return NULL;
}

static int message_header(meta_parser *p, json_t *msg, const char *path,
                          const meta_value_ctx *vc, wabot_message *m)
{
    const char *from, *id;
    char e164[32], where[PATH_MAX_LEN];
    int rc = str_member(p, msg, path, "from", 1, &from);
    if (rc == WABOT_OK)
        rc = str_member(p, msg, path, "id", 1, &id);
    if (rc != WABOT_OK)
        return rc;
    if (wb_e164_normalize(from, e164, sizeof e164) != WABOT_OK) {
        sub_path(where, path, "from");
        return bad(p, where, "'%.40s' is not a phone number", from);
    }
    m->provider = WABOT_PROVIDER_META;
    rc = timestamp_ms(p, msg, path, wb_now(p->ctx), &m->timestamp_ms);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->id, id);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->from, e164);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->to, vc->to);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->to_id, vc->to_id);
    if (rc == WABOT_OK)
        rc = set_str(m, &m->profile_name, profile_name(vc, e164));
    return rc;
}

static int parse_message(meta_parser *p, json_t *msg, const char *path,
                         const meta_value_ctx *vc)
{
    if (!json_is_object(msg))
        return bad(p, path, "expected an object, got %s", type_name(msg));
    wabot_message *m = wb_message_alloc(&p->ctx->alloc);
    if (m == NULL)
        return WABOT_ERR_NOMEM;
    const char *type;
    int rc = message_header(p, msg, path, vc, m);
    if (rc == WABOT_OK)
        rc = str_member(p, msg, path, "type", 1, &type);
    if (rc == WABOT_OK)
        rc = parse_by_type(p, msg, path, type, m);
    if (rc != WABOT_OK) {
        wabot_message_free(m);
        return rc;
    }
    return wb_webhook_batch_add_msg(p->out, m);
}

static int dup_to(wb_webhook_batch *b, char **slot, const char *s)
{
    if (s == NULL)
        return WABOT_OK;
    *slot = wb_strdup(&b->alloc, s);
    return *slot != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* errors[0].code of a failed status, as text (Meta sends an integer). */
static void status_error_code(json_t *st, char *buf, size_t n)
{
    json_t *code = json_object_get(json_array_get(json_object_get(st,
                                                  "errors"), 0), "code");
    buf[0] = '\0';
    if (json_is_integer(code))
        snprintf(buf, n, "%lld", (long long)json_integer_value(code));
    else if (json_is_string(code))
        snprintf(buf, n, "%s", json_string_value(code));
}

static int parse_status(meta_parser *p, json_t *st, const char *path)
{
    if (!json_is_object(st))
        return bad(p, path, "expected an object, got %s", type_name(st));
    const char *id, *status, *recipient, *send_key;
    int rc = str_member(p, st, path, "id", 1, &id);
    if (rc == WABOT_OK)
        rc = str_member(p, st, path, "status", 1, &status);
    if (rc == WABOT_OK)
        rc = str_member(p, st, path, "recipient_id", 0, &recipient);
    /* our correlation, echoed (lib/delivery/reconcile.c) */
    if (rc == WABOT_OK)
        rc = str_member(p, st, path, "biz_opaque_callback_data", 0,
                        &send_key);
    int64_t ts = 0;
    if (rc == WABOT_OK)
        rc = timestamp_ms(p, st, path, wb_now(p->ctx), &ts);
    if (rc != WABOT_OK)
        return rc;
    wb_status_update *s = wb_webhook_batch_add_status(p->out);
    if (s == NULL)
        return WABOT_ERR_NOMEM;
    char code[32];
    status_error_code(st, code, sizeof code);
    s->provider = WABOT_PROVIDER_META;
    s->timestamp_ms = ts;
    rc = dup_to(p->out, &s->id, id);
    if (rc == WABOT_OK)
        rc = dup_to(p->out, &s->status, status);
    if (rc == WABOT_OK)
        rc = dup_to(p->out, &s->recipient, recipient);
    if (rc == WABOT_OK && code[0] != '\0')
        rc = dup_to(p->out, &s->error_code, code);
    if (rc == WABOT_OK && send_key != NULL && *send_key)
        rc = dup_to(p->out, &s->send_key, send_key);
    return rc;
}

static int value_context(meta_parser *p, json_t *value, const char *path,
                         meta_value_ctx *vc)
{
    json_t *meta;
    const char *display = NULL;
    char where[PATH_MAX_LEN];
    memset(vc, 0, sizeof *vc);
    sub_path(where, path, "metadata");
    int rc = member(p, value, path, "metadata", JSON_OBJECT, 0, &meta);
    if (rc == WABOT_OK && meta != NULL)
        rc = str_member(p, meta, where, "display_phone_number", 0, &display);
    if (rc == WABOT_OK && meta != NULL)
        rc = str_member(p, meta, where, "phone_number_id", 0, &vc->to_id);
    if (rc == WABOT_OK)
        rc = member(p, value, path, "contacts", JSON_ARRAY, 0, &vc->contacts);
    /* The business number is informative: unusable means "". */
    if (display == NULL ||
        wb_e164_normalize(display, vc->to, sizeof vc->to) != WABOT_OK)
        vc->to[0] = '\0';
    return rc;
}

/* Messages and statuses share one budget: Meta batches up to 1000
 * updates of either kind, and each costs us a turn or a storage write. */
static int count_items(meta_parser *p, json_t *array)
{
    p->n_messages += json_array_size(array);
    if (p->n_messages > p->max_messages)
        return wb_reject_set(p->rej, WABOT_ERR_TOO_LARGE, 413,
                             "too_many_messages",
                             "more than %zu messages and statuses in one "
                             "webhook (max_batch_messages)", p->max_messages);
    return WABOT_OK;
}

static int parse_messages(meta_parser *p, json_t *value, const char *path,
                          const meta_value_ctx *vc)
{
    json_t *msgs, *msg;
    char where[PATH_MAX_LEN];
    size_t i;
    int rc = member(p, value, path, "messages", JSON_ARRAY, 0, &msgs);
    if (rc != WABOT_OK || msgs == NULL)
        return rc;
    rc = count_items(p, msgs);
    if (rc != WABOT_OK)
        return rc;
    json_array_foreach(msgs, i, msg) {
        index_path(where, path, "messages", i);
        rc = parse_message(p, msg, where, vc);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

static int parse_statuses(meta_parser *p, json_t *value, const char *path)
{
    json_t *sts, *st;
    char where[PATH_MAX_LEN];
    size_t i;
    int rc = member(p, value, path, "statuses", JSON_ARRAY, 0, &sts);
    if (rc == WABOT_OK && sts != NULL)
        rc = count_items(p, sts);
    if (rc != WABOT_OK)
        return rc;
    json_array_foreach(sts, i, st) {
        index_path(where, path, "statuses", i);
        rc = parse_status(p, st, where);
        if (rc != WABOT_OK)
            return rc;
    }
    return rc;
}

static int parse_change(meta_parser *p, json_t *change, const char *path)
{
    if (!json_is_object(change))
        return bad(p, path, "expected an object, got %s", type_name(change));
    const char *field;
    json_t *value;
    char where[PATH_MAX_LEN];
    int rc = str_member(p, change, path, "field", 1, &field);
    if (rc != WABOT_OK)
        return rc;
    if (strcmp(field, "messages") != 0) {
        /* account_update, message_template_status_update, ...: acknowledged
         * so Meta stops retrying, not handled. */
        p->out->n_ignored_changes++;
        return WABOT_OK;
    }
    rc = member(p, change, path, "value", JSON_OBJECT, 1, &value);
    if (rc != WABOT_OK)
        return rc;
    sub_path(where, path, "value");
    meta_value_ctx vc;
    rc = value_context(p, value, where, &vc);
    if (rc == WABOT_OK)
        rc = parse_messages(p, value, where, &vc);
    if (rc == WABOT_OK)
        rc = parse_statuses(p, value, where);
    return rc;
}

static int parse_entry(meta_parser *p, json_t *entry, const char *path)
{
    if (!json_is_object(entry))
        return bad(p, path, "expected an object, got %s", type_name(entry));
    json_t *changes, *change;
    char where[PATH_MAX_LEN];
    size_t i;
    int rc = member(p, entry, path, "changes", JSON_ARRAY, 1, &changes);
    json_array_foreach(changes, i, change) {
        index_path(where, path, "changes", i);
        rc = parse_change(p, change, where);
        if (rc != WABOT_OK)
            return rc;
    }
    return rc;
}

static int parse_root(meta_parser *p, json_t *root)
{
    if (!json_is_object(root))
        return bad(p, "(root)", "expected an object, got %s",
                   type_name(root));
    json_t *object = json_object_get(root, "object");
    if (!json_is_string(object))
        return wb_reject_set(p->rej, WABOT_ERR_PARSE, 400,
                             "unsupported_object",
                             "object: %s, expected \"" META_OBJECT "\"",
                             object ? "not a string" : "missing");
    if (strcmp(json_string_value(object), META_OBJECT) != 0)
        return wb_reject_set(p->rej, WABOT_ERR_PARSE, 400,
                             "unsupported_object",
                             "object: \"%.60s\" is not \"" META_OBJECT "\"",
                             json_string_value(object));
    json_t *entries, *entry;
    char where[PATH_MAX_LEN];
    size_t i;
    int rc = member(p, root, "", "entry", JSON_ARRAY, 1, &entries);
    json_array_foreach(entries, i, entry) {
        index_path(where, "", "entry", i);
        rc = parse_entry(p, entry, where);
        if (rc != WABOT_OK)
            return rc;
    }
    return rc;
}

static json_t *load(meta_parser *p, const char *body, size_t len, int *rc)
{
    json_error_t e;
    /* Duplicate keys are rejected: with two "from" members there is no
     * right answer to which customer wrote, and Meta never sends them. */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (root != NULL) {
        *rc = WABOT_OK;
    } else if (json_error_code(&e) == json_error_out_of_memory) {
        *rc = WABOT_ERR_NOMEM;
    } else {
        *rc = wb_reject_set(p->rej, WABOT_ERR_PARSE, 400, "malformed_json",
                            "invalid JSON at line %d, column %d (byte %d): "
                            "%s", e.line, e.column, e.position, e.text);
    }
    return root;
}

int wb_meta_parse(wabot_ctx *ctx, const char *body, size_t len,
                  wb_webhook_batch *out, wb_reject *rej)
{
    if (ctx == NULL || out == NULL || rej == NULL || (body == NULL && len))
        return WABOT_ERR_INVAL;
    meta_parser p = {ctx, out, rej, 0, cfg_size(ctx->cfg.max_batch_messages),
                     cfg_size(ctx->cfg.max_field_bytes)};
    /* jansson recurses without a configurable limit: measure first. */
    size_t max_depth = cfg_size(ctx->cfg.max_json_depth);
    if (wb_json_depth(body, len, max_depth) > max_depth)
        return wb_reject_set(rej, WABOT_ERR_TOO_LARGE, 413, "json_too_deep",
                             "JSON nested deeper than %zu levels "
                             "(max_json_depth)", max_depth);
    int rc;
    json_t *root = load(&p, body != NULL ? body : "", len, &rc);
    if (root == NULL)
        return rc;
    rc = parse_root(&p, root);
    json_decref(root);
    if (rc != WABOT_OK)
        wb_webhook_batch_clear(out);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The provider module                                                 */

static int meta_read(wabot_ctx *ctx, const wb_request *r,
                     wb_webhook_batch *out, wb_reject *rej)
{
    int rc = wb_verify_meta(ctx, r, rej);
    if (rc == WABOT_OK)
        rc = wb_meta_parse(ctx, r->body, r->len, out, rej);
    return rc;
}

static wabot_http_response *meta_answer(const wabot_ctx *ctx,
                                        wabot_outbound *const *replies,
                                        size_t n)
{
    (void)replies;
    (void)n; /* Meta takes no replies in the answer */
    return wb_response_json_ok(ctx);
}

static const wb_webhook_provider meta_provider = {
    "meta", WB_CT_JSON, wb_meta_handshake, meta_read, NULL, meta_answer};

static int meta_create(wabot_module *m, void *ud)
{
    (void)ud;
    return wb_webhook_provider_add(m, &meta_provider,
                                   wabot_module_ctx(m)->cfg.meta_path);
}

static const char *const meta_requires[] = {"webhook", NULL};

const wabot_module_def wb_meta_module = {
    WABOT_MODULE_DEF_VERSION, "meta",
    "reads WhatsApp Cloud API webhooks (JSON, X-Hub-Signature-256) on "
    "meta_webhook_path, and its GET verification handshake",
    meta_requires, NULL, 0, NULL, meta_create, NULL};
