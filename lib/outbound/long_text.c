/* Long texts: a text over the provider's limit is split into ordered
 * parts, truncated with a marker, or refused, as the organisation's
 * option texts.long_text says -- decided when the message is composed,
 * so a handler asking to refuse gets WABOT_ERR_TOO_LARGE from
 * wabot_reply_* and nothing fails at send time.
 *
 * Counting as the providers do: Twilio limits a Body to 1600 characters
 * counted in UTF-16 code units (a character outside the Basic
 * Multilingual Plane, such as most emoji, counts two); Meta limits a text
 * to 4096 characters, counted here as Unicode code points like the
 * builder's other limits. Any other transport gets WhatsApp's 4096. A part
 * never ends inside a code point (UTF-8 sequences are kept whole); it
 * ends at the last line break in its second half, else the last blank
 * there, else where the limit falls. */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "metrics.h"
#include "outbound.h"
#include "provider.h"
#include "transport.h"

typedef struct limits {
    int utf16;          /* count UTF-16 code units, not code points */
    size_t part;        /* units in a plain text part */
    size_t last;        /* units left for the text of the last part */
} limits;

/* ------------------------------------------------------------------ */
/* Counting and cutting, UTF-8 safe                                    */

/* Bytes of the code point at s (a lead byte and its continuation bytes;
 * a stray continuation byte counts alone), never past the NUL. */
static size_t cp_bytes(const char *s)
{
    size_t n = 1;
    while (s[n] && ((unsigned char)s[n] & 0xC0) == 0x80)
        n++;
    return n;
}

static size_t cp_units(size_t bytes, int utf16)
{
    return utf16 && bytes >= 4 ? 2 : 1;
}

size_t wb_long_text_units(const char *s, int utf16)
{
    size_t u = 0;
    for (size_t i = 0; s[i]; ) {
        size_t n = cp_bytes(s + i);
        u += cp_units(n, utf16);
        i += n;
    }
    return u;
}

/* Bytes at the start of s that fit in `budget` units. */
static size_t fit_bytes(const char *s, size_t budget, int utf16)
{
    size_t i = 0, u = 0;
    while (s[i]) {
        size_t n = cp_bytes(s + i);
        if (u + cp_units(n, utf16) > budget)
            break;
        u += cp_units(n, utf16);
        i += n;
    }
    return i;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The last `c` in s[from, to), or 0 when there is none. */
static size_t last_of(const char *s, size_t from, size_t to, char c)
{
    for (size_t i = to; i > from; i--)
        if (s[i - 1] == c)
            return i - 1;
    return 0;
}

/* The first part of s within `budget` units: its length in *len, and
 * where the rest starts (blanks after the cut skipped). A break is only
 * taken in the second half of the part, so no part is made tiny. */
static void cut(const char *s, size_t budget, int utf16, size_t *len,
                size_t *next)
{
    size_t fit = fit_bytes(s, budget, utf16);
    if (fit == 0 && s[0])
        fit = cp_bytes(s); /* a budget smaller than one character */
    size_t at = fit;
    if (s[fit]) {
        size_t brk = last_of(s, fit / 2, fit + 1, '\n');
        if (!brk)
            brk = last_of(s, fit / 2, fit + 1, ' ');
        if (brk)
            at = brk;
    }
    size_t end = at;
    while (end > 0 && blank(s[end - 1]))
        end--;
    *len = end ? end : at; /* a part of blanks only stays as it is */
    while (s[at] && blank(s[at]))
        at++;
    *next = at;
}

/* ------------------------------------------------------------------ */
/* The provider's limits                                               */

static limits limits_for(wabot_provider p, const wabot_outbound *o)
{
    limits l = {0, WB_WA_TEXT_MAX, WB_WA_TEXT_MAX};
    if (p != WABOT_PROVIDER_TWILIO)
        return l;
    /* Twilio: buttons and rows become numbered options in the Body. */
    size_t body = wb_twilio_body_chars(o);
    size_t text = wb_utf8_length(o->text ? o->text : "");
    size_t options = body > text ? body - text : 0;
    l.utf16 = 1;
    l.part = WB_TWILIO_BODY_MAX;
    l.last = options < WB_TWILIO_BODY_MAX ? WB_TWILIO_BODY_MAX - options : 0;
    return l;
}

/* ------------------------------------------------------------------ */
/* Parts                                                               */

static int copy(const wabot_allocator *a, char **dst, const char *src)
{
    *dst = src ? wb_strdup(a, src) : NULL;
    return !src || *dst ? 0 : -1;
}

/* A plain text part k (1-based) of o: o's addressing, id "<id>:p<k>". */
static wabot_outbound *part_new(const wabot_outbound *o, size_t k,
                                const char *text, size_t len)
{
    wabot_outbound *p = wb_outbound_alloc(o->alloc, WABOT_OUT_TEXT);
    if (!p)
        return NULL;
    char id[WB_OUTBOUND_PART_ID_MAX];
    snprintf(id, sizeof id, "%s:p%zu", o->id ? o->id : "", k);
    p->category = o->category;
    p->provider = o->provider;
    p->text = wb_malloc(o->alloc, len + 1);
    if (p->text) {
        memcpy(p->text, text, len);
        p->text[len] = '\0';
    }
    if (!p->text || copy(o->alloc, &p->id, id) ||
        copy(o->alloc, &p->to, o->to) || copy(o->alloc, &p->from, o->from) ||
        copy(o->alloc, &p->organization, o->organization) ||
        copy(o->alloc, &p->in_reply_to, o->in_reply_to) ||
        copy(o->alloc, &p->correlation_id, o->correlation_id)) {
        wb_outbound_free(p);
        return NULL;
    }
    return p;
}

void wb_long_text_parts_free(const wabot_allocator *a, wabot_outbound **parts,
                             size_t n)
{
    for (size_t i = 0; i < n; i++)
        wb_outbound_free(parts[i]);
    wb_free(a, parts);
}

static int set_text(wabot_outbound *o, const char *s, size_t len,
                    const char *suffix)
{
    size_t slen = suffix ? strlen(suffix) : 0;
    char *t = wb_malloc(o->alloc, len + slen + 1);
    if (!t)
        return WABOT_ERR_NOMEM;
    memcpy(t, s, len);
    memcpy(t + len, suffix ? suffix : "", slen);
    t[len + slen] = '\0';
    wb_outbound_free_str(o, o->text);
    o->text = t;
    return WABOT_OK;
}

/* Cut o's text into parts of l.part units, the last within l.last: the
 * earlier ones into *head, o keeping the last. */
static int split(wabot_ctx *ctx, const limits *l, wabot_outbound *o,
                 wabot_outbound ***head, size_t *n_head)
{
    wabot_outbound *parts[WB_LONG_TEXT_MAX_PARTS];
    size_t n = 0;
    const char *s = o->text;
    int rc = WABOT_OK;
    while (rc == WABOT_OK && wb_long_text_units(s, l->utf16) > l->last) {
        size_t len, next;
        /* Room for the last part's text comes first: a remainder that
         * would fit a plain part but not the last one is cut shorter. */
        size_t budget = wb_long_text_units(s, l->utf16) > l->part
                            ? l->part
                            : l->last;
        cut(s, budget, l->utf16, &len, &next);
        if (n + 1 >= WB_LONG_TEXT_MAX_PARTS)
            rc = wb_error(ctx, WABOT_ERR_TOO_LARGE, "the text needs more "
                          "than %d messages at this provider's limit of "
                          "%zu characters", WB_LONG_TEXT_MAX_PARTS, l->part);
        else if (!(parts[n] = part_new(o, n + 1, s, len)))
            rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
        else
            n++;
        s += next;
    }
    /* Blanks after the last cut leave nothing for o: the last part
     * becomes o's text. */
    if (rc == WABOT_OK && !*s && n) {
        wabot_outbound *last = parts[--n];
        rc = set_text(o, last->text, strlen(last->text), NULL);
        wb_outbound_free(last);
        s = o->text;
        if (rc != WABOT_OK)
            rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    if (rc == WABOT_OK && n &&
        !(*head = wb_malloc(&ctx->alloc, n * sizeof **head)))
        rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (rc == WABOT_OK && s != o->text &&
        set_text(o, s, strlen(s), NULL) != WABOT_OK)
        rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (rc != WABOT_OK) {
        for (size_t i = 0; i < n; i++)
            wb_outbound_free(parts[i]);
        wb_free(&ctx->alloc, *head);
        *head = NULL;
        return rc;
    }
    if (n)
        memcpy(*head, parts, n * sizeof *parts);
    *n_head = n;
    wb_count(ctx, "outbound.long_text.split", 1);
    return WABOT_OK;
}

static int truncate_text(wabot_ctx *ctx, const limits *l, wabot_outbound *o,
                         const char *marker)
{
    size_t mu = wb_long_text_units(marker, l->utf16);
    if (mu >= l->last)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "no room for the "
                        "truncation marker within the provider's limit");
    size_t len, next;
    cut(o->text, l->last - mu, l->utf16, &len, &next);
    if (set_text(o, o->text, len, marker) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    wb_count(ctx, "outbound.long_text.truncated", 1);
    return WABOT_OK;
}

int wb_long_text_fit(wabot_ctx *ctx, wabot_provider provider,
                     wabot_outbound *o, const char *locale,
                     wabot_outbound ***head, size_t *n_head)
{
    *head = NULL;
    *n_head = 0;
    if (o->kind == WABOT_OUT_TEMPLATE || !o->text)
        return WABOT_OK;
    limits l = limits_for(provider, o);
    size_t units = wb_long_text_units(o->text, l.utf16);
    if (units <= l.last)
        return WABOT_OK;
    if (l.last == 0)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "the message's options "
                        "alone exceed %zu characters", l.part);
    switch (wb_texts_long_text(ctx, o->organization)) {
    case WB_LONG_TEXT_SPLIT:
        return split(ctx, &l, o, head, n_head);
    case WB_LONG_TEXT_TRUNCATE: {
        /* Only now: the catalog lookup was 2 % of a webhook's work when
         * made for every reply. */
        const char *marker = wabot_ctx_text(ctx, o->organization, locale,
                                            "truncation_marker");
        return truncate_text(ctx, &l, o, marker ? marker : "");
    }
    case WB_LONG_TEXT_REFUSE:
        break;
    }
    wb_count(ctx, "outbound.long_text.refused", 1);
    return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                    "%s sends at most %zu characters in one message; this "
                    "text has %zu%s (texts.long_text=refuse)",
                    provider == WABOT_PROVIDER_TWILIO ? "Twilio" : "WhatsApp",
                    l.part, units,
                    l.last < l.part ? " and numbered options" : "");
}
