/* The pipeline: one turn per inbound message.
 *
 *   admit stage: modules' admit middlewares (dedup claim: dedup.c, which
 *   wraps the rest; inbound rate limit: inbound_limit.c)
 *   -> lock customer -> touch profile
 *   -> load conversation -> modules' turn-stage middlewares (opt-out
 *   keywords: optout.c) -> the host's middlewares (Koa style) -> router
 *   -> save conversation (CAS)
 *   -> hand replies to the transport -> unlock
 *
 * Turns of one customer are serialised in-process by the lock table, so the
 * compare-and-set on save only fails when another process (sharing the
 * storage) changed the conversation; the turn is then re-run on the fresh
 * state with its replies discarded, up to WABOT_OPT_STATE_MAX_RETRIES. */
#include <stdio.h>
#include <string.h>

#include "inbound.h"
#include "json_alloc.h"
#include "message.h"
#include "metrics.h"
#include "options.h"
#include "outbox.h"
#include "pipeline.h"
#include "state.h"
#include "strbuf.h"
#include "wabot/transport.h"

int wabot_pipeline_use(wabot_ctx *ctx, const char *name,
                       wabot_middleware_fn fn, void *ud,
                       wabot_destroy_fn destroy)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!fn)
        return wb_error(ctx, WABOT_ERR_INVAL, "middleware function is NULL");
    return wb_ctx_add_middleware(ctx, 0, name, fn, ud, destroy);
}

int wabot_pipeline_set_error_handler(wabot_ctx *ctx, wabot_error_fn fn,
                                     void *ud, wabot_destroy_fn destroy)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (ctx->err_destroy)
        ctx->err_destroy(ctx->err_ud);
    ctx->err_fn = fn;
    ctx->err_ud = fn ? ud : NULL;
    ctx->err_destroy = fn ? destroy : NULL;
    return WABOT_OK;
}

static int admit_from(wabot_turn *t, size_t k);

/* Run middleware k (or the turn's end, the router, after the last one). The running
 * middleware's position is saved and restored around the call, so a second
 * wabot_next() from the same middleware can be detected. */
static int run_from(wabot_turn *t, size_t k)
{
    wabot_ctx *ctx = t->ctx;
    if (t->admitting)
        return admit_from(t, k);
    if (k >= ctx->n_mws)
        return ctx->turn_end ? ctx->turn_end(t) : WABOT_OK;
    size_t saved_next = t->next_mw;
    int saved_called = t->next_called;
    t->next_mw = k + 1;
    t->next_called = 0;
    int rc = ctx->mws[k].fn(t, ctx->mws[k].ud);
    if (rc < 0 && !t->failed)
        wb_log(ctx, WABOT_LOG_WARN, "pipeline", "middleware %s failed: %s",
               ctx->mws[k].name ? ctx->mws[k].name : "(unnamed)",
               wabot_strerror(rc));
    t->next_mw = saved_next;
    t->next_called = saved_called;
    if (rc < 0)
        t->failed = 1;
    return rc;
}

int wabot_pipeline_next(wabot_turn *t)
{
    if (!t)
        return WABOT_ERR_INVAL;
    if (t->next_called)
        return wb_error(t->ctx, WABOT_ERR_STATE,
                        "wabot_next() called twice by one middleware");
    t->next_called = 1;
    return run_from(t, t->next_mw);
}

static void turn_init(wabot_turn *t, wabot_ctx *ctx, const wabot_message *m,
                      const char *org)
{
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->msg = m;
    t->org = org;
    t->customer = wabot_message_from(m);
}

static void turn_reset_attempt(wabot_turn *t)
{
    wb_conv conv = {t->state, t->session, 0};
    wb_conv_clear(t->ctx, &conv);
    t->state = NULL;
    t->session = NULL;
    t->dirty = 0;
    t->handled = 0;
    t->failed = 0;
    t->next_mw = 0;
    t->next_called = 0;
    wb_turn_clear_captures(t);
    for (size_t i = 0; i < t->n_locals; i++)
        wb_free(&t->ctx->alloc, t->locals[i].key);
    t->n_locals = 0;
    for (size_t i = 0; i < t->n_replies; i++)
        wb_outbound_free(t->replies[i]);
    t->n_replies = 0;
    wb_turn_jobs_free(t);
    t->committed = 0;
    t->committed_elsewhere = 0;
}

static void turn_free(wabot_turn *t)
{
    turn_reset_attempt(t);
    wb_free(&t->ctx->alloc, t->locals);
    wb_free(&t->ctx->alloc, t->replies);
    wb_free(&t->ctx->alloc, t->customer_name);
    wb_turn_fast_free(t);
}

static int load_profile(wabot_turn *t)
{
    wb_profile p = {0};
    int rc = wb_turn_fast_profile(t, &p); /* touched by the fast path */
    if (rc == 0)
        rc = wb_profile_touch(t->ctx, t->org, t->customer,
                              wabot_message_profile_name(t->msg),
                              wb_turn_inbound_ms(t), &p);
    else if (rc > 0)
        rc = WABOT_OK;
    if (rc != WABOT_OK)
        return rc;
    t->customer_name = p.name;
    t->opted_out = p.opted_out;
    return WABOT_OK;
}

static int load_conversation(wabot_turn *t)
{
    wb_conv c = {0};
    int rc = wb_turn_fast_conv(t, &c); /* read by the fast path */
    if (rc == 0)
        rc = wb_conv_load(t->ctx, t->org, t->customer, &c);
    else if (rc > 0)
        rc = WABOT_OK;
    if (rc != WABOT_OK)
        return rc;
    t->state = c.state;
    t->session = c.session;
    t->version = c.version;
    return WABOT_OK;
}

static void report_failure(wabot_turn *t, int rc)
{
    wabot_ctx *ctx = t->ctx;
    const char *detail = wabot_ctx_errmsg(ctx);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", *detail ? detail : wabot_strerror(rc));
    wb_log(ctx, WABOT_LOG_WARN, "pipeline", "message %s from %s failed: %s",
           wabot_message_id(t->msg), t->customer, copy);
    wb_count(ctx, "messages.failed", 1);
    if (ctx->err_fn)
        ctx->err_fn(t, rc, copy, ctx->err_ud);
}

/* One attempt: load, run, commit (the conversation if it changed, the
 * replies and jobs, the marker: outbox.c). WABOT_ERR_CONFLICT means "run
 * again". */
static int run_attempt(wabot_turn *t)
{
    int rc = load_conversation(t);
    if (rc != WABOT_OK)
        return rc;
    rc = run_from(t, 0);
    if (rc < 0)
        return rc;
    return wb_turn_commit(t, t->dirty);
}

static int run_turn(wabot_turn *t)
{
    int rc = wb_turn_committed_before(t);
    if (rc != 0) {
        t->handled = rc > 0;
        return rc < 0 ? rc : WABOT_OK;
    }
    rc = load_profile(t);
    if (rc != WABOT_OK)
        return rc;
    for (int64_t attempt = 0;; attempt++) {
        rc = run_attempt(t);
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
        /* The attempt's replies answer a state that was never saved. */
        turn_reset_attempt(t);
        if (attempt >= t->ctx->cfg.state_max_retries)
            return wb_error(t->ctx, WABOT_ERR_CONFLICT,
                            "conversation changed concurrently %lld times",
                            (long long)attempt + 1);
    }
}

static int validate(wabot_ctx *ctx, const wabot_message *m)
{
    if (!m)
        return wb_error(ctx, WABOT_ERR_INVAL, "message is NULL");
    if (!*wabot_message_id(m))
        return wb_error(ctx, WABOT_ERR_INVAL, "message has no id");
    if (!*wabot_message_from(m))
        return wb_error(ctx, WABOT_ERR_INVAL, "message has no sender");
    return WABOT_OK;
}


/* Replies queued at the admit stage go to the outbound queue (never
 * inline), before the turn begins or when the message is dropped; what
 * else the stage changed on the turn (state, session, locals: nothing is
 * loaded yet) is discarded, as a re-run attempt discards it. */
static int send_admit_replies(wabot_turn *t)
{
    int rc = t->n_replies ? wb_turn_send_replies(t) : WABOT_OK;
    turn_reset_attempt(t);
    return rc;
}

/* The end of the admit stage: the turn itself, under the customer's lock.
 * Returns the turn's status (what the admit middlewares' wabot_next()
 * returns). */
static int locked_turn(wabot_turn *t)
{
    wabot_ctx *ctx = t->ctx;
    t->entered = 1;
    t->admitting = 0;
    send_admit_replies(t);
    t->sink = t->admit_sink;
    char key[512];
    if (WB_JOIN(key, sizeof key, t->org, "\x1f", t->customer) < 0)
        snprintf(key, sizeof key, "%s\x1f%s", t->org, t->customer);
    int rc = wb_lock(ctx->locks, key);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot lock the conversation");
    wb_error_clear(ctx); /* the error handler's detail is this turn's only */
    rc = run_turn(t);
    if (rc < 0)
        report_failure(t, rc);
    else
        wb_count(ctx, t->handled ? "messages.handled" : "messages.unhandled",
                 1);
    wb_turn_outcome outcome = rc < 0      ? WB_TURN_FAILED
                              : t->handled ? WB_TURN_HANDLED
                                           : WB_TURN_UNHANDLED;
    /* Committed turns: their replies and jobs go to the queues now. If the
     * queues cannot take them the turn stands (it is committed) but the
     * message is answered as failed, so the claim is released and the
     * provider's redelivery relays them (and the sweep would, later).
     * Failed turns still send what they and the error handler queued,
     * directly: a reply that cannot be queued fails the message the same
     * way; replies queued already are not queued twice (their job ids). */
    int qrc = wb_turn_relay(t);
    int src = wb_turn_send_replies(t);
    if (qrc >= 0)
        qrc = src;
    if (qrc < 0 && rc >= 0)
        rc = qrc;
    wb_failpoint(ctx, "outbox.after_relay");
    wb_unlock(ctx->locks, key);
    /* The admit stage (dedup) marks the message done only after this:
     * the replies are queued, and a crash before leaves the claim to
     * expire, so the redelivery is handled. */
    wb_metrics_turn_done(ctx, qrc < 0 ? WB_TURN_FAILED : outcome,
                         t->started);
    return rc;
}

/* Admit middleware k, or the locked turn after the last one. Positions
 * are saved and restored like run_from's (the turn resets them). */
static int admit_from(wabot_turn *t, size_t k)
{
    wabot_ctx *ctx = t->ctx;
    size_t saved_next = t->next_mw;
    int saved_called = t->next_called;
    int rc;
    if (k >= ctx->n_admit) {
        rc = locked_turn(t);
    } else {
        t->next_mw = k + 1;
        t->next_called = 0;
        rc = ctx->admit[k].fn(t, ctx->admit[k].ud);
    }
    t->next_mw = saved_next;
    t->next_called = saved_called;
    return rc;
}

static int handle(wabot_ctx *ctx, const wabot_message *m, wb_inline *sink)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    int rc = validate(ctx, m);
    if (rc != WABOT_OK)
        return rc;
    const char *org = wabot_message_organization(m);
    if (!*org)
        org = wabot_ctx_sender_org(ctx, wabot_message_to(m)); /* its owner */
    if (!org)
        org = ctx->cfg.default_org;
    wb_count(ctx, "messages.received", 1);
    wabot_turn t;
    turn_init(&t, ctx, m, org);
    t.started = wb_stopwatch_start(ctx);
    t.admitting = 1;
    t.admit_sink = sink;
    rc = admit_from(&t, 0);
    if (!t.entered) /* dropped at the admit stage (duplicate, limited) */
        send_admit_replies(&t);
    turn_free(&t);
    return rc < 0 ? rc : WABOT_OK;
}

/* JSON the turn builds goes through the context's allocator when the host
 * routed jansson there (wabot_allocator_route_json). */
static int handle_scoped(wabot_ctx *ctx, const wabot_message *m,
                         wb_inline *sink)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    int rc = handle(ctx, m, sink);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_ctx_handle_message(wabot_ctx *ctx, const wabot_message *m)
{
    return handle_scoped(ctx, m, NULL);
}

int wb_ctx_handle_message_inline(wabot_ctx *ctx, const wabot_message *m,
                                 wb_inline *sink)
{
    return handle_scoped(ctx, m, sink);
}

void wb_inline_clear(wabot_ctx *ctx, wb_inline *sink)
{
    for (size_t i = 0; i < sink->n; i++)
        wb_outbound_free(sink->items[i]);
    wb_free(&ctx->alloc, sink->items);
    sink->items = NULL;
    sink->n = sink->cap = 0;
}

/* ------------------------------------------------------------------ */

wabot_ctx *wabot_turn_ctx(const wabot_turn *t) { return t ? t->ctx : NULL; }
const wabot_message *wabot_turn_message(const wabot_turn *t)
{
    return t ? t->msg : NULL;
}
const char *wabot_turn_organization(const wabot_turn *t)
{
    return t ? t->org : "";
}
const char *wabot_turn_customer(const wabot_turn *t)
{
    return t ? t->customer : "";
}
void wabot_turn_set_handled(wabot_turn *t)
{
    if (t)
        t->handled = 1;
}
int wabot_turn_handled(const wabot_turn *t) { return t ? t->handled : 0; }

const char *wabot_turn_customer_name(const wabot_turn *t)
{
    if (!t)
        return "";
    if (t->customer_name && *t->customer_name)
        return t->customer_name;
    return wabot_message_profile_name(t->msg);
}

int wabot_turn_customer_opted_out(const wabot_turn *t)
{
    return t ? t->opted_out : 0;
}

int wb_turn_set_capture(wabot_turn *t, size_t i, const char *s, size_t n)
{
    if (i >= WB_MAX_CAPTURES)
        return WABOT_ERR_INVAL;
    char *copy = wb_strndup(&t->ctx->alloc, s ? s : "", s ? n : 0);
    if (!copy)
        return WABOT_ERR_NOMEM;
    wb_free(&t->ctx->alloc, t->caps[i]);
    t->caps[i] = copy;
    if (i >= t->n_caps)
        t->n_caps = i + 1;
    return WABOT_OK;
}

void wb_turn_clear_captures(wabot_turn *t)
{
    for (size_t i = 0; i < WB_MAX_CAPTURES; i++) {
        wb_free(&t->ctx->alloc, t->caps[i]);
        t->caps[i] = NULL;
    }
    t->n_caps = 0;
}

const char *wabot_turn_capture(const wabot_turn *t, size_t i)
{
    return t && i < t->n_caps ? t->caps[i] : NULL;
}

size_t wabot_turn_capture_count(const wabot_turn *t)
{
    return t ? t->n_caps : 0;
}

int wabot_turn_set_local(wabot_turn *t, const char *key, void *value)
{
    if (!t || !key)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < t->n_locals; i++) {
        if (strcmp(t->locals[i].key, key) == 0) {
            t->locals[i].value = value;
            return WABOT_OK;
        }
    }
    wb_local *l = wb_realloc(&t->ctx->alloc, t->locals,
                             (t->n_locals + 1) * sizeof *l);
    if (!l)
        return WABOT_ERR_NOMEM;
    t->locals = l;
    if (!(l[t->n_locals].key = wb_strdup(&t->ctx->alloc, key)))
        return WABOT_ERR_NOMEM;
    l[t->n_locals++].value = value;
    return WABOT_OK;
}

void *wabot_turn_get_local(const wabot_turn *t, const char *key)
{
    for (size_t i = 0; t && key && i < t->n_locals; i++)
        if (strcmp(t->locals[i].key, key) == 0)
            return t->locals[i].value;
    return NULL;
}
