/* Replies: built with the outbound builder (wabot/out.h) on the turn,
 * handed to the outbound queue (or the webhook's inline answer) when the
 * turn ends. The builder checks WhatsApp's limits as values are set and
 * the provider's (the one the customer wrote from) when the reply is
 * added, so a handler learns of a bad reply at the call. */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "metrics.h"
#include "outbound.h"
#include "pipeline.h"
#include "strbuf.h"
#include "transport.h"

/* The reply's address: the turn's customer, from the number they wrote
 * to, in reply to their message. */
static wb_out_address turn_address(const wabot_turn *t, char *id, size_t n)
{
    const wabot_message *m = t->msg;
    char k[WB_FMT_U64_SIZE];
    wb_fmt_u64(k, t->n_replies);
    if (WB_JOIN(id, n, wabot_message_id(m), ":r", k) < 0) /* cut, as before */
        snprintf(id, n, "%s:r%s", wabot_message_id(m), k);
    wb_out_address a = {id,
                        t->customer,
                        wabot_message_to(m),
                        t->org,
                        wabot_message_id(m),
                        wabot_message_provider(m)};
    return a;
}

int wabot_turn_reply_out(wabot_turn *t, wabot_out *out)
{
    if (!t || !out)
        return WABOT_ERR_INVAL;
    wabot_ctx *ctx = t->ctx;
    char id[300];
    wb_out_address a = turn_address(t, id, sizeof id);
    wabot_outbound *o = NULL, **head = NULL;
    size_t n_head = 0;
    int rc = wb_out_compose(out, &a, &o, &head, &n_head);
    if (rc != WABOT_OK)
        return rc;
    /* A long text's parts are replies of their own, in order before it. */
    if (wb_grow(&ctx->alloc, (void **)&t->replies, t->n_replies + n_head + 1,
                &t->cap_replies, sizeof *t->replies) != WABOT_OK) {
        wb_long_text_parts_free(&ctx->alloc, head, n_head);
        wb_outbound_free(o);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_head; i++)
        t->replies[t->n_replies++] = head[i];
    t->replies[t->n_replies++] = o;
    wb_free(&ctx->alloc, head); /* the parts now belong to the turn */
    return WABOT_OK;
}

/* The wrappers: a builder filled by `fill`, added to the turn. */
typedef int (*fill_fn)(wabot_ctx *ctx, wabot_out *b, const void *arg);

static int reply_with(wabot_turn *t, fill_fn fill, const void *arg)
{
    if (!t)
        return WABOT_ERR_INVAL;
    wabot_out *b = wabot_out_new(t->ctx);
    if (!b)
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    int rc = fill(t->ctx, b, arg);
    if (rc == WABOT_OK)
        rc = wabot_turn_reply_out(t, b);
    wabot_out_free(b);
    return rc;
}

static int fill_text(wabot_ctx *ctx, wabot_out *b, const void *arg)
{
    (void)ctx;
    return wabot_out_set_text(b, arg);
}

int wabot_reply_text(wabot_turn *t, const char *text)
{
    return reply_with(t, fill_text, text);
}

typedef struct media_arg {
    const char *url, *caption;
} media_arg;

static int fill_media(wabot_ctx *ctx, wabot_out *b, const void *arg)
{
    (void)ctx;
    const media_arg *m = arg;
    return wabot_out_set_media(b, m->url, m->caption);
}

int wabot_reply_media(wabot_turn *t, const char *url, const char *caption)
{
    media_arg m = {url, caption};
    return reply_with(t, fill_media, &m);
}

typedef struct options_arg {
    int list;
    const char *body;
    size_t n;
    const char *const *ids, *const *titles;
} options_arg;

static int fill_options(wabot_ctx *ctx, wabot_out *b, const void *arg)
{
    const options_arg *o = arg;
    int rc = wabot_out_set_text(b, o->body);
    if (rc == WABOT_OK && (o->n == 0 || !o->ids || !o->titles))
        return wb_error(ctx, WABOT_ERR_INVAL, "no options given");
    for (size_t i = 0; rc == WABOT_OK && i < o->n; i++)
        rc = o->list ? wabot_out_add_row(b, o->ids[i], o->titles[i], NULL)
                     : wabot_out_add_button(b, o->ids[i], o->titles[i]);
    return rc;
}

int wabot_reply_buttons(wabot_turn *t, const char *body, size_t n,
                        const char *const *ids, const char *const *titles)
{
    options_arg o = {0, body, n, ids, titles};
    return reply_with(t, fill_options, &o);
}

int wabot_reply_list(wabot_turn *t, const char *body, size_t n,
                     const char *const *ids, const char *const *titles)
{
    options_arg o = {1, body, n, ids, titles};
    return reply_with(t, fill_options, &o);
}

typedef struct template_arg {
    const char *name, *language;
    size_t n;
    const char *const *params;
} template_arg;

static int fill_template(wabot_ctx *ctx, wabot_out *b, const void *arg)
{
    const template_arg *a = arg;
    int rc = wabot_out_set_template(b, a->name, a->language);
    if (rc == WABOT_OK && a->n && !a->params)
        return wb_error(ctx, WABOT_ERR_INVAL, "%zu template parameters but "
                        "no array", a->n);
    for (size_t i = 0; rc == WABOT_OK && i < a->n; i++)
        rc = wabot_out_add_template_param(b, a->params[i]);
    return rc;
}

int wabot_reply_template(wabot_turn *t, const char *name,
                         const char *language, size_t n,
                         const char *const *params)
{
    template_arg a = {name, language, n, params};
    return reply_with(t, fill_template, &a);
}

size_t wabot_turn_reply_count(const wabot_turn *t)
{
    return t ? t->n_replies : 0;
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
           wb_twilio_inline_ok(t->replies[i]);
}

/* Queue every reply as an outbound job, in order (or answer inline, when
 * the transport says the reply fits its webhook answer). The job id is the
 * reply id, so a redelivered webhook cannot send the same reply twice. */
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
