/* Replies: built on the turn, handed to the transport when the turn ends.
 * Limits are WhatsApp's (Meta's are the stricter ones), checked here so a
 * handler learns of a bad reply at the call, not from a provider error
 * later. */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "metrics.h"
#include "pipeline.h"
#include "provider.h"
#include "runtime.h"

#define MAX_TEXT 4096
#define MAX_BUTTONS 3
#define MAX_ROWS 10
#define MAX_BUTTON_TITLE 20
#define MAX_ROW_TITLE 24
#define MAX_OPTION_ID 256
#define MAX_URL 2048

static int check_text(wabot_turn *t, const char *text, int required)
{
    if (!text || (required && !*text))
        return wb_error(t->ctx, WABOT_ERR_INVAL, "reply text is empty");
    if (strlen(text) > MAX_TEXT)
        return wb_error(t->ctx, WABOT_ERR_TOO_LARGE,
                        "reply text is %zu bytes; the limit is %d",
                        strlen(text), MAX_TEXT);
    return WABOT_OK;
}

/* Fill the addressing of a reply from the turn. */
static int address(wabot_turn *t, wabot_outbound *o)
{
    const wabot_message *m = t->msg;
    char id[300];
    snprintf(id, sizeof id, "%s:r%zu", wabot_message_id(m), t->n_replies);
    o->provider = wabot_message_provider(m);
    o->category = WABOT_CAT_REPLY;
    const wabot_allocator *a = o->alloc;
    if (!(o->id = wb_strdup(a, id)) ||
        !(o->to = wb_strdup(a, t->customer)) ||
        !(o->from = wb_strdup(a, wabot_message_to(m))) ||
        !(o->organization = wb_strdup(a, t->org)) ||
        !(o->in_reply_to = wb_strdup(a, wabot_message_id(m))))
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

/* Takes ownership of o. */
static int queue(wabot_turn *t, wabot_outbound *o)
{
    wabot_ctx *ctx = t->ctx;
    if (t->n_replies == t->cap_replies) {
        size_t cap = t->cap_replies ? t->cap_replies * 2 : 4;
        wabot_outbound **r =
            wb_realloc(&ctx->alloc, t->replies, cap * sizeof *r);
        if (!r) {
            wb_outbound_free(o);
            return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
        }
        t->replies = r;
        t->cap_replies = cap;
    }
    if (address(t, o) != WABOT_OK) {
        wb_outbound_free(o);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    t->replies[t->n_replies++] = o;
    return WABOT_OK;
}

static wabot_outbound *new_reply(wabot_turn *t, wabot_out_kind kind,
                                 const char *text)
{
    wabot_outbound *o = wb_outbound_alloc(&t->ctx->alloc, kind);
    if (o && text && !(o->text = wb_strdup(o->alloc, text))) {
        wb_outbound_free(o);
        o = NULL;
    }
    if (!o)
        wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    return o;
}

int wabot_reply_text(wabot_turn *t, const char *text)
{
    if (!t)
        return WABOT_ERR_INVAL;
    int rc = check_text(t, text, 1);
    if (rc != WABOT_OK)
        return rc;
    wabot_outbound *o = new_reply(t, WABOT_OUT_TEXT, text);
    return o ? queue(t, o) : WABOT_ERR_NOMEM;
}

int wabot_reply_media(wabot_turn *t, const char *url, const char *caption)
{
    if (!t)
        return WABOT_ERR_INVAL;
    if (!url || !*url)
        return wb_error(t->ctx, WABOT_ERR_INVAL, "media URL is empty");
    if (strlen(url) > MAX_URL)
        return wb_error(t->ctx, WABOT_ERR_TOO_LARGE,
                        "media URL longer than %d bytes", MAX_URL);
    int rc = check_text(t, caption ? caption : "", 0);
    if (rc != WABOT_OK)
        return rc;
    wabot_outbound *o = new_reply(t, WABOT_OUT_MEDIA, caption ? caption : "");
    if (!o)
        return WABOT_ERR_NOMEM;
    if (!(o->media_url = wb_strdup(o->alloc, url))) {
        wb_outbound_free(o);
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    return queue(t, o);
}

static int check_options(wabot_turn *t, size_t n, size_t max_n,
                         const char *const *ids, const char *const *titles,
                         size_t max_title)
{
    if (n == 0 || !ids || !titles)
        return wb_error(t->ctx, WABOT_ERR_INVAL, "no options given");
    if (n > max_n)
        return wb_error(t->ctx, WABOT_ERR_TOO_LARGE,
                        "%zu options; the limit is %zu", n, max_n);
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || !*ids[i] || !titles[i] || !*titles[i])
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "option %zu has an empty id or title", i);
        if (strlen(ids[i]) > MAX_OPTION_ID)
            return wb_error(t->ctx, WABOT_ERR_TOO_LARGE,
                            "option %zu id longer than %d bytes", i,
                            MAX_OPTION_ID);
        if (strlen(titles[i]) > max_title)
            return wb_error(t->ctx, WABOT_ERR_TOO_LARGE,
                            "option %zu title \"%s\" longer than %zu bytes",
                            i, titles[i], max_title);
    }
    return WABOT_OK;
}

static int reply_options(wabot_turn *t, wabot_out_kind kind, const char *body,
                         size_t n, const char *const *ids,
                         const char *const *titles, size_t max_n,
                         size_t max_title)
{
    if (!t)
        return WABOT_ERR_INVAL;
    int rc = check_text(t, body, 1);
    if (rc == WABOT_OK)
        rc = check_options(t, n, max_n, ids, titles, max_title);
    if (rc != WABOT_OK)
        return rc;
    wabot_outbound *o = new_reply(t, kind, body);
    if (!o)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (wb_outbound_add_option(o, ids[i], titles[i]) != WABOT_OK) {
            wb_outbound_free(o);
            return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
        }
    }
    return queue(t, o);
}

int wabot_reply_buttons(wabot_turn *t, const char *body, size_t n,
                        const char *const *ids, const char *const *titles)
{
    return reply_options(t, WABOT_OUT_BUTTONS, body, n, ids, titles,
                         MAX_BUTTONS, MAX_BUTTON_TITLE);
}

int wabot_reply_list(wabot_turn *t, const char *body, size_t n,
                     const char *const *ids, const char *const *titles)
{
    return reply_options(t, WABOT_OUT_LIST, body, n, ids, titles, MAX_ROWS,
                         MAX_ROW_TITLE);
}

int wabot_reply_template(wabot_turn *t, const char *name,
                         const char *language, size_t n,
                         const char *const *params)
{
    if (!t)
        return WABOT_ERR_INVAL;
    wabot_outbound *o = new_reply(t, WABOT_OUT_TEMPLATE, "");
    if (!o)
        return WABOT_ERR_NOMEM;
    int rc = wb_outbound_set_template(t->ctx, o, name, language, n, params);
    if (rc != WABOT_OK) {
        wb_outbound_free(o);
        return rc;
    }
    return queue(t, o);
}

size_t wabot_turn_reply_count(const wabot_turn *t)
{
    return t ? t->n_replies : 0;
}

/* Queue every reply as an outbound job, in order. The job id is the
 * reply id, so a redelivered webhook cannot send the same reply twice. */
/* Text and media fit in a TwiML <Message> (Twilio's 1600 characters);
 * buttons, lists and templates need the API. */
static int inline_ok(const wabot_outbound *o)
{
    wabot_out_kind k = wabot_outbound_kind(o);
    return (k == WABOT_OUT_TEXT || k == WABOT_OUT_MEDIA) &&
           wb_utf8_length(wabot_outbound_text(o)) <= 1600;
}

static int take_inline(wabot_turn *t, size_t i)
{
    wb_inline *s = t->sink;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        wabot_outbound **items =
            wb_realloc(&t->ctx->alloc, s->items, cap * sizeof *items);
        if (!items)
            return 0;
        s->items = items;
        s->cap = cap;
    }
    s->items[s->n++] = t->replies[i];
    t->replies[i] = NULL;
    wb_count(t->ctx, "outbound.inline", 1);
    return 1;
}

int wb_reply_inline_ok(const wabot_turn *t, size_t i)
{
    return t->sink && i < t->n_replies && t->replies[i] &&
           inline_ok(t->replies[i]);
}

int wb_turn_send_replies(wabot_turn *t)
{
    int first_error = WABOT_OK;
    int committed = t->committed || t->committed_elsewhere;
    for (size_t i = 0; i < t->n_replies; i++) {
        if (wb_reply_inline_ok(t, i)) {
            if (take_inline(t, i))
                continue;
            /* out of memory for the sink: queue it as any reply */
        } else if (committed) {
            continue; /* the outbox holds it (or the other attempt's) */
        }
        int rc = wb_outbound_enqueue(t->ctx, t->replies[i]);
        if (rc < 0) {
            wb_count(t->ctx, "outbound.failed", 1);
            wb_log(t->ctx, WABOT_LOG_ERROR, "outbound",
                   "cannot queue reply %s: %s", wabot_outbound_id(t->replies[i]),
                   wabot_strerror(rc));
            if (first_error == WABOT_OK)
                first_error = rc;
        }
    }
    return first_error;
}
