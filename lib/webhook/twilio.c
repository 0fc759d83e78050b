/* Twilio webhooks: form-encoded inbound messages and MessageStatus
 * callbacks, turned into a wb_webhook_batch. */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal/transport.h"
#include "internal/webhook.h"

/* Twilio sends at most 10 media per message; a larger NumMedia is not
 * Twilio and would only make us probe for fields that cannot exist. */
#define TWILIO_MAX_MEDIA 10

static size_t cfg_size(int64_t v)
{
    return v > 0 ? (size_t)v : 0;
}

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF) without NUL bytes. */
static int valid_utf8_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* Look up `key` for use in a message: *out is NULL when absent. Values
 * that are not text (NUL bytes, invalid UTF-8) are rejected rather than
 * truncated or passed on, since every string of the message model is
 * NUL-terminated UTF-8. */
static int text_field(const wb_form *f, const char *key,
                      const wb_form_param **out, wb_reject *rej)
{
    const wb_form_param *p = wb_form_find(f, key);
    *out = p;
    if (p == NULL || valid_utf8_text((const unsigned char *)p->value,
                                     p->value_len))
        return WABOT_OK;
    *out = NULL;
    return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "invalid_field",
                         "%s: not valid UTF-8 text", key);
}

/* Copy the value of `key` (if present) into *field of m. */
static int set_from(wabot_message *m, char **field, const wb_form *f,
                    const char *key, wb_reject *rej)
{
    const wb_form_param *p;
    int rc = text_field(f, key, &p, rej);
    if (rc != WABOT_OK || p == NULL)
        return rc;
    return wb_message_setn(m, field, p->value, p->value_len);
}

/* Value of a field read as a whole (a number, a phone number), or NULL
 * when absent. A value with a NUL byte gives "\x7f", which no such field
 * accepts: "+1415%00junk" must not pass as "+1415". */
static const char *whole_value(const wb_form *f, const char *key)
{
    const wb_form_param *p = wb_form_find(f, key);
    if (p == NULL)
        return NULL;
    return strlen(p->value) == p->value_len ? p->value : "\x7f";
}

static int present(const wb_form *f, const char *key)
{
    const wb_form_param *p = wb_form_find(f, key);
    return p != NULL && p->value_len > 0;
}

/* Parse a decimal coordinate. strtod() follows LC_NUMERIC, which a host
 * may have changed, so it runs under the C locale on this thread only. */
static int parse_coord(const char *s, double limit, double *out)
{
    if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return -1; /* also keeps out "nan", "inf" and hex floats */
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c == (locale_t)0)
        return -1;
    locale_t old = uselocale(c);
    char *end = NULL;
    double v = strtod(s, &end);
    uselocale(old);
    freelocale(c);
    if (end == s || *end != '\0' || !isfinite(v) || fabs(v) > limit)
        return -1;
    *out = v;
    return 0;
}

static int parse_location(wabot_message *m, const wb_form *f, wb_reject *rej)
{
    const char *lat = whole_value(f, "Latitude");
    const char *lon = whole_value(f, "Longitude");
    if (lat == NULL || lon == NULL)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "missing_field",
                             "%s: missing (Latitude and Longitude go "
                             "together)", lat == NULL ? "Latitude"
                                                      : "Longitude");
    if (parse_coord(lat, 90.0, &m->lat) != 0)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "invalid_field",
                             "Latitude: not a number in -90..90");
    if (parse_coord(lon, 180.0, &m->lon) != 0)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "invalid_field",
                             "Longitude: not a number in -180..180");
    m->has_location = 1;
    m->type = WABOT_MSG_LOCATION;
    int rc = set_from(m, &m->loc_name, f, "Label", rej);
    if (rc == WABOT_OK)
        rc = set_from(m, &m->loc_address, f, "Address", rej);
    return rc;
}

static wabot_msg_type media_type(const char *content_type)
{
    /* image/webp is how stickers arrive, but Twilio does not mark them
     * and a customer can send a webp image too: it stays IMAGE. */
    static const struct {
        const char *prefix;
        wabot_msg_type type;
    } map[] = {
        {"image/", WABOT_MSG_IMAGE},
        {"audio/", WABOT_MSG_AUDIO},
        {"video/", WABOT_MSG_VIDEO},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncasecmp(content_type, map[i].prefix,
                        strlen(map[i].prefix)) == 0)
            return map[i].type;
    return WABOT_MSG_DOCUMENT;
}

static int parse_num_media(const wb_form *f, size_t *n, wb_reject *rej)
{
    const char *s = whole_value(f, "NumMedia");
    *n = 0;
    if (s == NULL || *s == '\0')
        return WABOT_OK;
    if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 2 ||
        (*n = (size_t)atoi(s)) > TWILIO_MAX_MEDIA)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "invalid_field",
                             "NumMedia: not a number in 0..%d",
                             TWILIO_MAX_MEDIA);
    return WABOT_OK;
}

static int parse_media(wabot_message *m, const wb_form *f, wb_reject *rej)
{
    size_t n;
    int rc = parse_num_media(f, &n, rej);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        char url_key[32], type_key[40]; /* i <= TWILIO_MAX_MEDIA */
        snprintf(url_key, sizeof url_key, "MediaUrl%zu", i);
        snprintf(type_key, sizeof type_key, "MediaContentType%zu", i);
        const wb_form_param *url, *type;
        rc = text_field(f, url_key, &url, rej);
        if (rc == WABOT_OK)
            rc = text_field(f, type_key, &type, rej);
        if (rc != WABOT_OK)
            break;
        if (url == NULL || url->value_len == 0)
            return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "missing_field",
                                 "%s: missing (NumMedia is %zu)", url_key, n);
        const char *ct = type != NULL ? type->value : "";
        rc = wb_message_add_media(m, url->value, ct);
        if (rc == WABOT_OK && i == 0)
            m->type = media_type(ct);
    }
    return rc;
}

/* Quick-reply and template buttons. Twilio always sends ButtonText and
 * sends ButtonPayload only when the button has one; routes match on the
 * payload, so the text stands in for a missing payload. */
static int parse_button(wabot_message *m, const wb_form *f, wb_reject *rej)
{
    const wb_form_param *payload, *text;
    int rc = text_field(f, "ButtonPayload", &payload, rej);
    if (rc == WABOT_OK)
        rc = text_field(f, "ButtonText", &text, rej);
    if (rc != WABOT_OK)
        return rc;
    const wb_form_param *p = payload != NULL && payload->value_len > 0
                                 ? payload : text;
    m->type = WABOT_MSG_BUTTON_REPLY;
    rc = wb_message_setn(m, &m->payload, p->value, p->value_len);
    if (rc == WABOT_OK && text != NULL)
        rc = wb_message_setn(m, &m->payload_title, text->value,
                             text->value_len);
    if (rc == WABOT_OK && text != NULL)
        rc = wb_message_setn(m, &m->text, text->value, text->value_len);
    return rc;
}

static int set_numbers(wabot_message *m, const wb_form *f, wb_reject *rej)
{
    const char *from = whole_value(f, "From");
    if (from == NULL || *from == '\0')
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "missing_field",
                             "From: missing");
    char e164[32];
    if (wb_e164_normalize(from, e164, sizeof e164) != WABOT_OK)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "invalid_field",
                             "From: '%.40s' is not a phone number", from);
    int rc = wb_message_setn(m, &m->from, e164, strlen(e164));
    /* The business number is informative only: an odd To does not make
     * the customer's message unusable. */
    const char *to = whole_value(f, "To");
    if (rc == WABOT_OK && to != NULL &&
        wb_e164_normalize(to, e164, sizeof e164) == WABOT_OK)
        rc = wb_message_setn(m, &m->to, e164, strlen(e164));
    return rc;
}

static int build_message(wabot_ctx *ctx, const wb_form *f,
                         const wb_form_param *sid, wabot_message *m,
                         wb_reject *rej)
{
    m->provider = WABOT_PROVIDER_TWILIO;
    m->type = WABOT_MSG_TEXT;
    m->timestamp_ms = wb_now(ctx); /* Twilio sends no timestamp */
    int rc = set_numbers(m, f, rej);
    if (rc == WABOT_OK)
        rc = wb_message_setn(m, &m->id, sid->value, sid->value_len);
    if (rc == WABOT_OK)
        rc = set_from(m, &m->to_id, f, "AccountSid", rej);
    if (rc == WABOT_OK)
        rc = set_from(m, &m->profile_name, f, "ProfileName", rej);
    if (rc == WABOT_OK)
        rc = set_from(m, &m->text, f, "Body", rej);
    if (rc == WABOT_OK)
        rc = parse_media(m, f, rej);
    if (rc == WABOT_OK &&
        (present(f, "Latitude") || present(f, "Longitude")))
        rc = parse_location(m, f, rej);
    if (rc == WABOT_OK &&
        (present(f, "ButtonPayload") || present(f, "ButtonText")))
        rc = parse_button(m, f, rej);
    return rc;
}

/* A MessageStatus callback about one of our outbound messages, as opposed
 * to an inbound message (which carries Body and NumMedia). */
static int is_status_callback(const wb_form *f)
{
    return wb_form_find(f, "MessageStatus") != NULL &&
           wb_form_find(f, "Body") == NULL &&
           wb_form_find(f, "NumMedia") == NULL;
}

static int dup_opt(wb_webhook_batch *b, char **slot, const wb_form *f,
                   const char *key, wb_reject *rej)
{
    const wb_form_param *p;
    int rc = text_field(f, key, &p, rej);
    if (rc != WABOT_OK || p == NULL)
        return rc;
    *slot = wb_strndup(&b->alloc, p->value, p->value_len);
    return *slot != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
}

static int parse_status(wabot_ctx *ctx, const wb_form *f,
                        wb_webhook_batch *out, wb_reject *rej)
{
    wb_status_update *s = wb_webhook_batch_add_status(out);
    if (s == NULL)
        return WABOT_ERR_NOMEM;
    s->provider = WABOT_PROVIDER_TWILIO;
    s->timestamp_ms = wb_now(ctx);
    int rc = dup_opt(out, &s->id, f, "MessageSid", rej);
    if (rc == WABOT_OK && s->id == NULL)
        rc = dup_opt(out, &s->id, f, "SmsMessageSid", rej);
    if (rc == WABOT_OK)
        rc = dup_opt(out, &s->status, f, "MessageStatus", rej);
    if (rc == WABOT_OK)
        rc = dup_opt(out, &s->recipient, f, "To", rej);
    if (rc == WABOT_OK)
        rc = dup_opt(out, &s->error_code, f, "ErrorCode", rej);
    return rc;
}

static const wb_form_param *message_sid(const wb_form *f)
{
    const wb_form_param *p = wb_form_find(f, "MessageSid");
    if (p == NULL || p->value_len == 0)
        p = wb_form_find(f, "SmsMessageSid"); /* deprecated duplicate */
    return p != NULL && p->value_len > 0 ? p : NULL;
}

static int parse_form(wabot_ctx *ctx, const wb_form *f, wb_webhook_batch *out,
                      wb_reject *rej)
{
    const wb_form_param *sid = message_sid(f);
    if (sid == NULL)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "missing_field",
                             "MessageSid: missing (SmsMessageSid neither)");
    if (!valid_utf8_text((const unsigned char *)sid->value, sid->value_len))
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "invalid_field",
                             "MessageSid: not valid UTF-8 text");
    if (is_status_callback(f))
        return parse_status(ctx, f, out, rej);
    wabot_message *m = wb_message_alloc(&ctx->alloc);
    if (m == NULL)
        return WABOT_ERR_NOMEM;
    int rc = build_message(ctx, f, sid, m, rej);
    if (rc != WABOT_OK) {
        wabot_message_free(m);
        return rc;
    }
    return wb_webhook_batch_add_msg(out, m);
}

int wb_twilio_parse_form(wabot_ctx *ctx, const wb_form *f,
                         wb_webhook_batch *out, wb_reject *rej)
{
    if (ctx == NULL || f == NULL || out == NULL || rej == NULL)
        return WABOT_ERR_INVAL;
    int rc = parse_form(ctx, f, out, rej);
    if (rc != WABOT_OK)
        wb_webhook_batch_clear(out);
    return rc;
}

int wb_twilio_parse(wabot_ctx *ctx, const char *body, size_t len,
                    wb_webhook_batch *out, wb_reject *rej)
{
    if (ctx == NULL || out == NULL || rej == NULL || (body == NULL && len))
        return WABOT_ERR_INVAL;
    wb_form_limits lim = {cfg_size(ctx->cfg.max_params),
                          cfg_size(ctx->cfg.max_field_bytes)};
    wb_form *f = NULL;
    int rc = wb_form_parse(&ctx->alloc, body, len, &lim, &f, rej);
    if (rc == WABOT_OK)
        rc = wb_twilio_parse_form(ctx, f, out, rej);
    wb_form_free(f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The provider module                                                 */

/* Status callbacks arrive on the per-message StatusCallback URL, whose
 * query carries the send's correlation (WB_SEND_KEY_PARAM, lib/transport/
 * twilio.c): copied onto each status of the batch. A query that does
 * not parse carries none. */
static int take_send_key(wabot_ctx *ctx, const wb_request *r,
                         wb_webhook_batch *out)
{
    const char *q = r->target ? strchr(r->target, '?') : NULL;
    if (q == NULL || out->n_statuses == 0)
        return WABOT_OK;
    wb_form_limits lim = {64, 1024};
    wb_form *f = NULL;
    wb_reject rej;
    if (wb_form_parse(&ctx->alloc, q + 1, strlen(q + 1), &lim, &f, &rej) !=
        WABOT_OK)
        return WABOT_OK;
    const char *key = wb_form_get(f, WB_SEND_KEY_PARAM);
    int rc = WABOT_OK;
    for (size_t i = 0; key && *key && i < out->n_statuses && !rc; i++)
        if (!(out->statuses[i].send_key = wb_strdup(&out->alloc, key)))
            rc = WABOT_ERR_NOMEM;
    wb_form_free(f);
    return rc;
}

/* The form is decoded (with its limits) first because the signature
 * covers the decoded parameters; nothing is interpreted before the
 * signature holds. */
static int twilio_read(wabot_ctx *ctx, const wb_request *r,
                       wb_webhook_batch *out, wb_reject *rej)
{
    wb_form_limits lim = {
        ctx->cfg.max_params > 0 ? (size_t)ctx->cfg.max_params : 0,
        ctx->cfg.max_field_bytes > 0 ? (size_t)ctx->cfg.max_field_bytes : 0};
    wb_form *f = NULL;
    int rc = wb_form_parse(&ctx->alloc, r->body, r->len, &lim, &f, rej);
    if (rc == WABOT_OK)
        rc = wb_verify_twilio(ctx, r, f, rej);
    if (rc == WABOT_OK)
        rc = wb_twilio_parse_form(ctx, f, out, rej);
    if (rc == WABOT_OK && (rc = take_send_key(ctx, r, out)) != WABOT_OK)
        wb_webhook_batch_clear(out);
    wb_form_free(f);
    return rc;
}

static int twilio_inline_replies(const wabot_ctx *ctx)
{
    return ctx->cfg.twilio_inline_replies != 0;
}

static wabot_http_response *twilio_answer(const wabot_ctx *ctx,
                                          wabot_outbound *const *replies,
                                          size_t n)
{
    return n > 0 ? wb_response_twiml_messages(ctx, replies, n)
                 : wb_response_twiml_empty(ctx);
}

static const wb_webhook_provider twilio_provider = {
    "twilio", WB_CT_FORM, NULL, twilio_read, twilio_inline_replies,
    twilio_answer};

static int twilio_create(wabot_module *m, void *ud)
{
    (void)ud;
    return wb_webhook_provider_add(m, &twilio_provider,
                                   wabot_module_ctx(m)->cfg.twilio_path);
}

static const char *const twilio_requires[] = {"webhook", NULL};

const wabot_module_def wb_twilio_module = {
    WABOT_MODULE_DEF_VERSION, "twilio",
    "reads Twilio webhooks (form-encoded, X-Twilio-Signature) on "
    "twilio_webhook_path; answers TwiML",
    twilio_requires, NULL, 0, NULL, twilio_create, NULL};
