/* The outbound queue's worker. Every queued message is a job whose id is
 * its idempotency key (a reply's is "<inbound id>:r<n>", so a webhook
 * delivered twice cannot send twice while the first job is retained).
 * For each attempt: the outbound policy (opt-out, window), the breaker of
 * the routed transport, the rate limits, then the transport; the job is
 * settled when the transport completes, and a successful send is
 * recorded for delivery receipts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "delivery.h"
#include "json_alloc.h"
#include "message.h"
#include "metrics.h"
#include "outbound.h"
#include "runtime.h"
#include "transport.h"
#include "wabot/module.h"

/* What a send in flight needs when it completes. */
typedef struct send_ctx {
    wb_delivery *d;
    wabot_outbound *o;
    wabot_transport *transport;
    wabot_breaker *breaker;
} send_ctx;

static void free_send_ctx(void *p)
{
    send_ctx *s = p;
    wb_outbound_free(s->o);
    free(s);
}

static int is_final_refusal(int status)
{
    return status == WABOT_ERR_PERMANENT || status == WABOT_ERR_WINDOW_CLOSED ||
           status == WABOT_ERR_OPTED_OUT || status == WABOT_ERR_INVAL ||
           status == WABOT_ERR_TOO_LARGE || status == WABOT_ERR_PARSE;
}

static wabot_breaker_outcome outcome_of(int status)
{
    if (status == WABOT_OK)
        return WABOT_OUTCOME_SUCCESS;
    if (status == WABOT_ERR_TRANSPORT || status == WABOT_ERR_TIMEOUT)
        return WABOT_OUTCOME_FAILURE;
    return WABOT_OUTCOME_IGNORED; /* throttled, or the message's own fault */
}

/* A final failure: recorded with its reason, never retried. */
static int refuse(wabot_job *job, int status, const char *counter,
                  const char *reason)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    wb_count(ctx, counter, 1);
    wb_count(ctx, "outbound.failed", 1);
    wabot_job_set_error(job, reason);
    wabot_job_set_permanent(job);
    return status;
}

/* Tell the subscribers of "delivery.sent" (the receipts module records
 * the send for the status callbacks to find) -- built only when someone
 * listens. */
static void emit_sent(wb_delivery *d, const wabot_outbound *o,
                      const char *provider_id)
{
    if (wabot_hook_subscriber_count(d->ctx, "delivery.sent") == 0)
        return;
    json_t *ev = json_pack(
        "{s:s,s:s,s:s?,s:s?,s:s?,s:s}", "outbound_id", wabot_outbound_id(o),
        "provider_id", provider_id, "to", wabot_outbound_to(o),
        "organization", wabot_outbound_organization(o), "correlation_id",
        wabot_outbound_correlation_id(o), "provider",
        wabot_provider_name(wabot_outbound_provider(o)));
    char *json = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int rc = json ? wabot_hook_emit(d->module, "sent", json, strlen(json))
                  : WABOT_ERR_NOMEM;
    if (rc < 0)
        wb_log(d->ctx, WABOT_LOG_WARN, "delivery",
               "send of %s as %s: a delivery.sent subscriber failed: %s",
               wabot_outbound_id(o), provider_id, wabot_strerror(rc));
    wb_json_free(json); /* json_dumps output */
}

/* The request timed out: it may have reached the provider, so it is not
 * simply retried. Its record stays as an unknown outcome and the next run
 * reconciles it (reconcile.c): a receipt within the grace period finishes
 * the job without a second send. The attempt is spent as any failure's,
 * except the last, which is given back once to wait for the receipt
 * (otherwise a message the provider took would end as failed). */
static void timed_out(wabot_job *job, const wabot_outbound *o,
                      const wb_send_result *r)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    wb_send_mark_timed_out(ctx, o);
    char reason[300];
    snprintf(reason, sizeof reason, "%s %s; outcome unknown, reconciled "
             "before any retry", wabot_strerror(r->status), r->message);
    wb_log(ctx, WABOT_LOG_WARN, "transport",
           "send %s to %s: %s (attempt %d of %d)", wabot_outbound_id(o),
           wabot_outbound_to(o), reason, wabot_job_attempt(job),
           wabot_job_max_attempts(job));
    wb_count(ctx, "outbound.failed_attempts", 1);
    wabot_job_set_error(job, reason);
    if (wabot_job_attempt(job) >= wabot_job_max_attempts(job))
        wabot_job_retry_in(job, ctx->cfg.send_reconcile_grace_ms > 0
                                    ? ctx->cfg.send_reconcile_grace_ms
                                    : 1);
    wabot_job_finish(job, r->status);
}

static void on_sent(void *ud, const wabot_outbound *o, const wb_send_result *r)
{
    wabot_job *job = ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    wb_breaker_report(sc->d, sc->transport, sc->breaker, wb_now(ctx),
                      outcome_of(r->status));
    if (r->status == WABOT_ERR_TIMEOUT) {
        timed_out(job, o, r);
        return;
    }
    wb_send_mark_done(ctx, o, r->status, r->provider_id);
    if (r->status == WABOT_OK) {
        wb_count(ctx, "outbound.sent", 1);
        if (r->provider_id && *r->provider_id)
            emit_sent(sc->d, o, r->provider_id);
        wabot_job_finish(job, WABOT_OK);
        return;
    }
    char reason[300];
    snprintf(reason, sizeof reason, "%s (provider code %d) %s",
             wabot_strerror(r->status), r->provider_code, r->message);
    wb_log(ctx, WABOT_LOG_WARN, "transport",
           "send %s to %s: %s (attempt %d of %d)", wabot_outbound_id(o),
           wabot_outbound_to(o), reason, wabot_job_attempt(job),
           wabot_job_max_attempts(job));
    if (r->status == WABOT_ERR_RATE_LIMITED) {
        wb_count(ctx, "outbound.throttled", 1);
        wabot_job_retry_in(job, r->retry_after_ms > 0 ? r->retry_after_ms
                                                      : 1000);
        wabot_job_finish(job, r->status);
        return;
    }
    wb_count(ctx, "outbound.failed_attempts", 1);
    if (is_final_refusal(r->status)) {
        refuse(job, r->status, "outbound.refused", reason);
    } else {
        wabot_job_set_error(job, reason);
        if (wabot_job_attempt(job) >= wabot_job_max_attempts(job))
            wb_count(ctx, "outbound.failed", 1);
    }
    wabot_job_finish(job, r->status);
}

/* The local limits: per sender number, per recipient pair, per
 * organisation, all-or-nothing. WABOT_OK, or RATE_LIMITED with the job
 * given back for later. */
static int check_limits(wabot_job *job, const wabot_outbound *o,
                        const wabot_transport *t)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    const wb_config *c = &ctx->cfg;
    const char *from = *wabot_outbound_from(o) ? wabot_outbound_from(o)
                                               : wabot_transport_name(t);
    char sender[96], pair[128], org[160];
    snprintf(sender, sizeof sender, "sender:%s", from);
    snprintf(pair, sizeof pair, "pair:%s:%s", from, wabot_outbound_to(o));
    snprintf(org, sizeof org, "org:%s", wabot_outbound_organization(o));
    wabot_rate_limit l[3];
    size_t n = 0;
    if (c->rate_sender_per_s > 0)
        /* A tenth of a second's worth may go at once: smooth, yet a
         * turn's few replies are not spread over 12.5 ms steps. */
        l[n++] = (wabot_rate_limit){sender, c->rate_sender_per_s, 1000,
                                    c->rate_sender_per_s / 10};
    if (c->rate_pair_period_ms > 0)
        l[n++] = (wabot_rate_limit){pair, 1, c->rate_pair_period_ms,
                                    c->rate_pair_burst};
    if (c->rate_org_per_s > 0)
        l[n++] = (wabot_rate_limit){org, c->rate_org_per_s, 1000, 0};
    if (n == 0)
        return WABOT_OK;
    int64_t wait = 0;
    int rc = wabot_limiter_check(ctx->limiter, l, n, wb_now(ctx), &wait);
    if (rc == WABOT_ERR_RATE_LIMITED) {
        wb_count(ctx, "outbound.throttled", 1);
        wabot_job_retry_in(job, wait > 0 ? wait : 1);
    }
    return rc;
}

/* Opt-out and the window: a refusal is final, a storage error retried. */
static int admit(wabot_job *job, wabot_outbound *o)
{
    wb_refusal why = {NULL, NULL};
    int rc = wb_outbound_admit(wabot_job_ctx(job), o, &why);
    return rc != WABOT_OK && why.reason
               ? refuse(job, rc, why.counter, why.reason)
               : rc;
}

/* What became of an earlier attempt that never settled (reconcile.c):
 * WABOT_OK to send, 1 when the job is settled without a send, or a
 * negative status with the job given back for later. */
static int reconcile(wabot_job *job, const wabot_outbound *o)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    wb_reconcile_verdict v = WB_RECONCILE_SEND;
    int64_t wait = 0;
    int rc = wb_send_reconcile(ctx, o, wabot_job_attempt(job),
                               wabot_job_max_attempts(job), &v, &wait);
    if (rc != WABOT_OK) {
        /* Unread, it cannot be known whether it was sent: ask later. */
        wabot_job_set_error(job, "send record unreadable");
        wabot_job_retry_in(job, 1000);
        return rc;
    }
    switch (v) {
    case WB_RECONCILE_DONE:
        return 1;
    case WB_RECONCILE_WAIT:
        wabot_job_retry_in(job, wait > 0 ? wait : 1);
        return WABOT_ERR_BUSY;
    case WB_RECONCILE_DROP:
        return refuse(job, WABOT_ERR_PERMANENT, "outbound.refused",
                      "outcome of an earlier attempt unknown and no receipt "
                      "came; not sent again (send_at_most_once)");
    case WB_RECONCILE_EXHAUSTED:
        wb_count(ctx, "outbound.failed", 1);
        wabot_job_set_error(job, "the last attempt timed out and no receipt "
                                 "came within the grace period; not sent "
                                 "again (no attempt left)");
        wabot_job_set_permanent(job);
        return WABOT_ERR_TIMEOUT;
    default:
        return WABOT_OK;
    }
}

static int deliver(wabot_job *job, void *ud)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len;
    const char *payload = wabot_job_payload(job, &len);
    send_ctx *sc = calloc(1, sizeof *sc);
    if (!sc)
        return WABOT_ERR_NOMEM;
    sc->d = ud;
    job->user = sc;
    job->user_free = free_send_ctx;
    if (!(sc->o = wb_outbound_from_json(&ctx->alloc, payload, len)))
        return refuse(job, WABOT_ERR_PARSE, "outbound.refused",
                      "payload is not an outbound message");
    wabot_outbound *o = sc->o;
    const char *from = "";
    wabot_transport *t = wb_sender_route(ctx, o, &from);
    if (strcmp(from, wabot_outbound_from(o)) != 0 &&
        wb_str_replace(o->alloc, &o->from, from) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    int rc = admit(job, o);
    if (rc != WABOT_OK)
        return rc;
    if ((rc = reconcile(job, o)) != WABOT_OK)
        return rc > 0 ? WABOT_OK : rc;
    /* The breaker first: while it is open, no rate-limit units are spent
     * on sends that cannot happen. */
    int64_t retry_at = 0, now = wb_now(ctx);
    sc->transport = t;
    if (wb_breaker_acquire(sc->d, t, &sc->breaker, now, &retry_at) !=
        WABOT_OK) {
        /* Not failed, not lost: back in the queue until half-open. */
        wb_count(ctx, "outbound.circuit_open", 1);
        wabot_job_retry_in(job, retry_at > now ? retry_at - now : 1);
        return WABOT_ERR_CIRCUIT_OPEN;
    }
    if ((rc = check_limits(job, o, t)) != WABOT_OK) {
        /* give the permit (maybe a probe) back */
        wb_breaker_report(sc->d, t, sc->breaker, now, WABOT_OUTCOME_IGNORED);
        sc->breaker = NULL;
        return rc;
    }
    /* Durably before the request leaves: a crash from here on leaves an
     * outcome the next attempt reconciles instead of sending blindly. */
    if ((rc = wb_send_mark_sending(ctx, o, wabot_job_attempt(job))) !=
        WABOT_OK) {
        wb_breaker_report(sc->d, t, sc->breaker, now, WABOT_OUTCOME_IGNORED);
        sc->breaker = NULL;
        wabot_job_set_error(job, "send record not written");
        wabot_job_retry_in(job, 1000);
        return rc;
    }
    rc = wb_transport_send(ctx, t, o, on_sent, job);
    if (rc < 0) {
        wb_send_mark_done(ctx, o, rc, NULL); /* not taken: nothing left */
        wb_breaker_report(sc->d, t, sc->breaker, wb_now(ctx),
                          WABOT_OUTCOME_IGNORED);
        wabot_job_set_error(job, "transport refused the message");
        wb_count(ctx, "outbound.failed_attempts", 1);
        return rc;
    }
    return WABOT_JOB_PENDING;
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

/* "sent": {"outbound_id","provider_id","to","organization",
 * "correlation_id" (when set),"provider"} after each accepted send. */
static const char *const delivery_hooks[] = {"sent", NULL};

static int delivery_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    wb_delivery *d = wb_calloc(&ctx->alloc, 1, sizeof *d);
    if (!d)
        return WABOT_ERR_NOMEM;
    d->ctx = ctx;
    d->module = m;
    pthread_mutex_init(&d->lock, NULL);
    wabot_module_set_data(m, d);
    return wabot_worker_add(ctx, WABOT_QUEUE_OUTBOUND, deliver, d, NULL,
                            (int)ctx->cfg.outbound_concurrency);
}

/* After the runtime is gone (wabot_ctx_free), so no send still holds a
 * breaker. */
static void delivery_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wb_delivery *d = wabot_module_data(m);
    if (!d)
        return;
    wb_breakers_free(d);
    pthread_mutex_destroy(&d->lock);
    wb_free(&d->ctx->alloc, d);
    wabot_module_set_data(m, NULL);
}

const wabot_module_def wb_delivery_module = {
    WABOT_MODULE_DEF_VERSION, "delivery",
    "the outbound queue's worker: policy, breakers, rate limits, sends",
    NULL, NULL, 0, delivery_hooks, delivery_create, delivery_destroy};
