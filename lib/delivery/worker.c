/* The outbound queue's worker. Every queued message is a job whose id is
 * its idempotency key (a reply's is "<inbound id>:r<n>", so a webhook
 * delivered twice cannot send twice while the first job is retained).
 * For each attempt: the outbound policy (opt-out, window), the breaker of
 * the routed transport, the rate limits, then the transport; the job is
 * settled when the transport completes, and a successful send is
 * recorded for delivery receipts. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "delivery.h"
#include "http.h"
#include "json_alloc.h"
#include "message.h"
#include "metrics.h"
#include "module.h"
#include "outbound.h"
#include "runtime.h"
#include "state.h"
#include "storage.h"
#include "strbuf.h"
#include "transport.h"
#include "wabot/module.h"

/* Sends handed to one transport and not yet answered (or picked to be
 * handed in this pass). Nodes are made on a transport's first send and
 * live as long as the module, so a send may point at its own. */
typedef struct wb_in_flight {
    const wabot_transport *t;
    int n; /* atomic */
    struct wb_in_flight *next;
} wb_in_flight;

/* What a send in flight needs when it completes. */
typedef struct send_ctx {
    wb_delivery *d;
    wabot_outbound *o;
    wabot_transport *transport;
    wabot_breaker *breaker;
    wb_in_flight *flight; /* counted there while picked or in flight */
    /* The send record's version as this attempt read it (0: absent, or a
     * first attempt, which reads none): its "sending" record is written
     * only over that one, so an attempt that lost its job's lease to
     * another process, which wrote its own record meanwhile, does not
     * send as well. */
    uint64_t rec_version;
} send_ctx;

/* The send no longer holds its place among the transport's in flight;
 * once per send (any later call does nothing). */
static void unflight(send_ctx *sc)
{
    if (!sc->flight)
        return;
    __atomic_sub_fetch(&sc->flight->n, 1, __ATOMIC_ACQ_REL);
    sc->flight = NULL;
}

static void free_send_ctx(void *p)
{
    send_ctx *s = p;
    unflight(s);
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

static void sent_json(const void *event, wb_strbuf *b)
{
    const wb_sent_event *ev = event;
    wb_strbuf_puts(b, "{\"outbound_id\":");
    wb_strbuf_json_str(b, ev->outbound_id);
    wb_strbuf_puts(b, ",\"provider_id\":");
    wb_strbuf_json_str(b, ev->provider_id);
    wb_strbuf_puts(b, ",\"to\":");
    wb_strbuf_json_str(b, ev->to);
    wb_strbuf_puts(b, ",\"organization\":");
    wb_strbuf_json_str_or_null(b, ev->organization);
    wb_strbuf_puts(b, ",\"correlation_id\":");
    wb_strbuf_json_str_or_null(b, ev->correlation_id);
    wb_strbuf_puts(b, ",\"provider\":");
    wb_strbuf_json_str(b, wabot_provider_name(ev->provider));
    wb_strbuf_putc(b, '}');
}

/* Tell the subscribers of "delivery.sent" (the receipts module records
 * the send for the status callbacks to find): the library's own get the
 * event as is, the host's its JSON (sent_json), built only for them. */
static void emit_sent(wb_delivery *d, const wabot_outbound *o,
                      const char *provider_id)
{
    wb_sent_event ev = {wabot_outbound_id(o),
                        provider_id,
                        wabot_outbound_to(o),
                        wabot_outbound_organization(o),
                        wabot_outbound_correlation_id(o),
                        wabot_outbound_provider(o)};
    int rc = wb_hook_emit_event(d->module, "sent", &ev, sent_json);
    if (rc < 0)
        wb_log(d->ctx, WABOT_LOG_WARN, "delivery",
               "send of %s as %s: a delivery.sent subscriber failed: %s",
               wabot_outbound_id(o), provider_id, wabot_strerror(rc));
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

static void record_done(wb_delivery *d, const wabot_outbound *o, int status,
                        const char *provider_id);

static void mark_due(wb_delivery *d);

static void on_sent(void *ud, const wabot_outbound *o, const wb_send_result *r)
{
    wabot_job *job = ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    unflight(sc); /* a connection is free: a waiting message may go */
    if (sc->d->n_ready > 0)
        mark_due(sc->d);
    wb_breaker_report(sc->d, sc->transport, sc->breaker, wb_now(ctx),
                      outcome_of(r->status));
    if (r->status == WABOT_ERR_TIMEOUT) {
        timed_out(job, o, r);
        return;
    }
    record_done(sc->d, o, r->status, r->provider_id);
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
    /* Keys only for the limits that are on (formatting all three was
     * the send path's only printf work when none is). */
    char sender[96], pair[128], org[160];
    wabot_rate_limit l[3];
    size_t n = 0;
    if (c->rate_sender_per_s > 0) {
        snprintf(sender, sizeof sender, "sender:%s", from);
        /* A tenth of a second's worth may go at once: smooth, yet a
         * turn's few replies are not spread over 12.5 ms steps. */
        l[n++] = (wabot_rate_limit){sender, c->rate_sender_per_s, 1000,
                                    c->rate_sender_per_s / 10};
    }
    if (c->rate_pair_period_ms > 0) {
        snprintf(pair, sizeof pair, "pair:%s:%s", from, wabot_outbound_to(o));
        l[n++] = (wabot_rate_limit){pair, 1, c->rate_pair_period_ms,
                                    c->rate_pair_burst};
    }
    if (c->rate_org_per_s > 0) {
        snprintf(org, sizeof org, "org:%s", wabot_outbound_organization(o));
        l[n++] = (wabot_rate_limit){org, c->rate_org_per_s, 1000, 0};
    }
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

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/*                                                                     */
/* The worker only parks each job it is handed; on the loop's next pass */
/* (a source due at once) every parked job goes through the send path  */
/* together, so the storage work of a whole batch costs two round     */
/* trips on Redis instead of about five per message (issue 12):        */
/*   1. the outcome records of the sends answered since the last pass  */
/*      and the rider's writes (the receipts module's records of the   */
/*      same sends: wb_delivery_rider), then the reads: each customer's */
/*      profile (opt-out, window) and, for a retry, the earlier        */
/*      attempt's send record -- one batch, in that order;             */
/*   2. the "sending" records of the messages about to leave.          */
/* Each op is atomic on its own, exactly as before; only the round     */
/* trips are shared. Records are written in the same order as before:  */
/* an earlier attempt's outcome lands before a retry reads it (the     */
/* batch runs its ops in order).                                       */

/* Most jobs one pass takes through the path at once. */
#define BATCH_MAX 256
/* Most outcome records and rider's writes in a pass's first batch; the
 * rest wait for the next pass, due at once. */
#define HEAD_MAX 1024

/* An outcome record waiting for the next pass: "sent" (text) or, after
 * a failure the provider answered, deleted (text NULL). */
typedef struct wb_done_rec {
    char *key, *text;
    char *outbound_id; /* in key's block, after it */
    size_t len;
} wb_done_rec;

static void mark_due(wb_delivery *d)
{
    __atomic_store_n(&d->due, 1, __ATOMIC_RELEASE);
    wb_loop_notify(d->ctx, 0);
}

static void done_free(wb_done_rec *r)
{
    free(r->key);
    free(r->text);
}

/* "<key>\0<outbound id>\0" in one block: r->key and r->outbound_id. */
static int done_names(wb_done_rec *r, const char *key, const char *id)
{
    size_t klen = strlen(key), ilen = strlen(id);
    char *m = malloc(klen + ilen + 2);
    if (!m)
        return -1;
    memcpy(m, key, klen + 1);
    memcpy(m + klen + 1, id, ilen + 1);
    r->key = m;
    r->outbound_id = m + klen + 1;
    return 0;
}

/* The provider answered o's send: record the outcome on the next pass;
 * written at once when it cannot wait (out of memory). */
static void record_done(wb_delivery *d, const wabot_outbound *o, int status,
                        const char *provider_id)
{
    char buf[WB_STORAGE_KEY_MAX + 1];
    if (!wb_send_key(buf, sizeof buf, o))
        return;
    if (d->n_done == d->cap_done) {
        size_t cap = d->cap_done ? d->cap_done * 2 : 64;
        wb_done_rec *n = realloc(d->done, cap * sizeof *n);
        if (!n) {
            wb_send_mark_done(d->ctx, o, status, provider_id);
            return;
        }
        d->done = n;
        d->cap_done = cap;
    }
    wb_done_rec r = {NULL, NULL, NULL, 0};
    int names = done_names(&r, buf, wabot_outbound_id(o));
    if (names == 0 && status == WABOT_OK)
        r.text = wb_send_record(d->ctx, WABOT_OK, 0, provider_id, &r.len);
    if (names != 0 || (status == WABOT_OK && !r.text)) {
        done_free(&r);
        wb_send_mark_done(d->ctx, o, status, provider_id);
        return;
    }
    d->done[d->n_done++] = r;
    mark_due(d);
}

/* The writes that lead a pass's first batch (step 1): outcome records
 * taken off d->done, then the rider's. */
typedef struct head {
    wb_done_rec *recs; /* taken: settled and freed by head_settle */
    size_t n_recs, n_rider;
} head;

/* Put the head's ops at the front of ops (room for HEAD_MAX); returns
 * how many. Records beyond HEAD_MAX stay for the next pass. */
static size_t head_take(wb_delivery *d, head *h, wb_storage_bop *ops)
{
    memset(h, 0, sizeof *h);
    size_t n = d->n_done < HEAD_MAX ? d->n_done : HEAD_MAX;
    /* Out of memory the records wait for the next pass the delivery has
     * (any send's answer makes one), not for one of their own: that pass
     * would find no memory either, at once, again and again. */
    if (n > 0 && (h->recs = malloc(n * sizeof *h->recs)) != NULL) {
        memcpy(h->recs, d->done, n * sizeof *h->recs);
        d->n_done -= n;
        memmove(d->done, d->done + n, d->n_done * sizeof *d->done);
        if (d->n_done > 0)
            mark_due(d);
        h->n_recs = n;
    }
    int64_t ttl = wb_send_record_ttl(d->ctx);
    for (size_t i = 0; i < h->n_recs; i++) {
        wb_done_rec *r = &h->recs[i];
        int keep = r->text && !wb_send_record_spent(d->ctx, r->outbound_id);
        ops[i] = (wb_storage_bop){.kind = keep ? WB_BOP_SET : WB_BOP_DEL,
                                  .key = r->key, .val = r->text,
                                  .len = r->len, .ttl_ms = ttl};
    }
    if (d->rider.take != NULL)
        h->n_rider = d->rider.take(d->rider.ud, ops + h->n_recs,
                                   HEAD_MAX - h->n_recs);
    return h->n_recs + h->n_rider;
}

/* The head's ops ran (their statuses set): report and free. */
static void head_settle(wb_delivery *d, head *h, wb_storage_bop *ops)
{
    for (size_t i = 0; i < h->n_recs; i++) {
        wb_send_done_result(d->ctx, h->recs[i].outbound_id, ops[i].status);
        done_free(&h->recs[i]);
    }
    free(h->recs);
    if (h->n_rider > 0)
        d->rider.settle(d->rider.ud, ops + h->n_recs, h->n_rider);
    memset(h, 0, sizeof *h);
}

/* The buffer of a pass's head ops (made once), or NULL when out of
 * memory. */
static wb_storage_bop *hops_of(wb_delivery *d)
{
    if (!d->hops)
        d->hops = malloc(HEAD_MAX * sizeof *d->hops);
    return d->hops;
}

/* Step 1 without reads: the head alone (no job was parked, or at the
 * module's end). Out of memory, the records wait for the next pass. */
static void flush_head(wb_delivery *d)
{
    if (d->n_done == 0 && d->rider.take == NULL)
        return;
    wb_storage_bop *ops = hops_of(d);
    if (!ops)
        return; /* out of memory: see head_take */
    head h;
    size_t n = head_take(d, &h, ops);
    if (n > 0)
        (void)wb_storage_batch(d->ctx->storage, n, ops); /* status per op */
    head_settle(d, &h, ops);
}

/* ctx's delivery module's state, or NULL. */
static wb_delivery *delivery_of(wabot_ctx *ctx)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, "delivery") : NULL;
    return m ? wabot_module_data(m) : NULL;
}

const int *wb_delivery_due_flag(wabot_ctx *ctx)
{
    wb_delivery *d = delivery_of(ctx);
    return d ? &d->due : NULL;
}

int wb_delivery_set_rider(wabot_ctx *ctx, const wb_delivery_rider *r)
{
    wb_delivery *d = delivery_of(ctx);
    if (!d)
        return WABOT_ERR_STATE;
    if (r)
        d->rider = *r;
    else
        memset(&d->rider, 0, sizeof d->rider);
    return WABOT_OK;
}

/* A parked job's place in the batch. */
typedef struct slot {
    wabot_job *job;
    int prof, rec, mark; /* its ops' indexes, or -1 */
} slot;

/* Decode the job's message and pick its sender. WABOT_OK, or the job is
 * finished (slot emptied). */
static int open_job(slot *sl)
{
    wabot_job *job = sl->job;
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    size_t len;
    const char *payload = wabot_job_payload(job, &len);
    int rc = WABOT_OK;
    if (!(sc->o = wb_outbound_from_json(&ctx->alloc, payload, len))) {
        rc = refuse(job, WABOT_ERR_PARSE, "outbound.refused",
                    "payload is not an outbound message");
    } else {
        wabot_outbound *o = sc->o;
        const char *from = "";
        sc->transport = wb_sender_route(ctx, o, &from);
        if (strcmp(from, wabot_outbound_from(o)) != 0 &&
            wb_outbound_set_str(o, &o->from, from) != WABOT_OK)
            rc = WABOT_ERR_NOMEM;
    }
    if (rc != WABOT_OK) {
        sl->job = NULL;
        wabot_job_finish(job, rc);
    }
    return rc;
}

/* Opt-out and the window from the profile read in the batch: a refusal is
 * final, a storage error retried. */
static int admit(wabot_job *job, const wb_storage_bop *prof)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    if (!prof)
        return WABOT_OK;
    int opted_out = 0;
    int64_t last = 0;
    int rc = prof->status;
    if (rc == WABOT_OK)
        rc = wb_profile_policy_decode(prof->out, prof->out_len, &opted_out,
                                      &last);
    else if (rc == WABOT_ERR_NOT_FOUND)
        rc = WABOT_OK;
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "reading profile %s: %s", prof->key,
                        wabot_strerror(rc));
    wb_refusal why = {NULL, NULL};
    rc = wb_outbound_admit_with(ctx, sc->o, opted_out, last, &why);
    return rc != WABOT_OK && why.reason
               ? refuse(job, rc, why.counter, why.reason)
               : rc;
}

/* What became of an earlier attempt that never settled (reconcile.c),
 * from its record read in the batch: WABOT_OK to send, 1 when the job is
 * settled without a send, or a negative status with the job given back
 * for later. */
static int reconcile(wabot_job *job, const wb_storage_bop *rec)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    if (!rec)
        return WABOT_OK;
    wb_reconcile_verdict v = WB_RECONCILE_SEND;
    int64_t wait = 0;
    int rc = wb_send_reconcile_with(ctx, sc->o, wabot_job_attempt(job),
                                    rec->status, rec->out, rec->out_len,
                                    rec->version, &v, &wait);
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

/* The policy and the earlier attempt, from the batch's reads: WABOT_OK
 * when the message may go on, 1 when the job is settled without a send,
 * else the job's outcome. */
static int vet(slot *sl, const wb_storage_bop *ops)
{
    wabot_job *job = sl->job;
    int rc = admit(job, sl->prof >= 0 ? &ops[sl->prof] : NULL);
    if (rc != WABOT_OK)
        return rc;
    const wb_storage_bop *rec = sl->rec >= 0 ? &ops[sl->rec] : NULL;
    send_ctx *sc = job->user;
    sc->rec_version = rec && rec->status == WABOT_OK ? rec->version : 0;
    rc = reconcile(job, rec);
    return rc > 0 ? 1 : rc;
}

/* Returned by gate() in a batch's first round: the breaker refused; ask
 * again after this round's sends (a transport that answers at once may
 * have closed it by then, as sending one by one would have). */
#define GATE_LATER 2

/* The breaker, then the limits. WABOT_OK when the message may go (a
 * breaker permit held), GATE_LATER, else the job's outcome. */
static int gate(wabot_job *job, int first_round)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    /* The breaker first: while it is open, no rate-limit units are spent
     * on sends that cannot happen. */
    int64_t retry_at = 0, now = wb_now(ctx);
    wabot_transport *t = sc->transport;
    if (wb_breaker_acquire(sc->d, t, &sc->breaker, now, &retry_at) !=
        WABOT_OK) {
        if (first_round)
            return GATE_LATER;
        /* Not failed, not lost: back in the queue until half-open. */
        wb_count(ctx, "outbound.circuit_open", 1);
        wabot_job_retry_in(job, retry_at > now ? retry_at - now : 1);
        return WABOT_ERR_CIRCUIT_OPEN;
    }
    int rc = check_limits(job, sc->o, t);
    if (rc != WABOT_OK) {
        /* give the permit (maybe a probe) back */
        wb_breaker_report(sc->d, t, sc->breaker, now, WABOT_OUTCOME_IGNORED);
        sc->breaker = NULL;
    }
    return rc;
}

/* The "sending" record is written (mark_rc): hand the message to the
 * transport. Returns WABOT_JOB_PENDING, or the job's outcome. */
static int send_one(wabot_job *job, int mark_rc)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    wabot_transport *t = sc->transport;
    if (mark_rc != WABOT_OK) {
        wb_breaker_report(sc->d, t, sc->breaker, wb_now(ctx),
                          WABOT_OUTCOME_IGNORED);
        sc->breaker = NULL;
        wabot_job_set_error(job, "send record not written");
        wabot_job_retry_in(job, 1000);
        return mark_rc;
    }
    int64_t now = wb_now(ctx), retry_at = 0;
    if (sc->breaker &&
        wabot_breaker_state_of(sc->breaker, now) == WABOT_BREAKER_OPEN) {
        /* A send earlier in this batch failed and opened the breaker (a
         * transport that answers at once): this one stays back, as if it
         * had met the open breaker in decide(). */
        wb_breaker_report(sc->d, t, sc->breaker, now, WABOT_OUTCOME_IGNORED);
        sc->breaker = NULL;
        record_done(sc->d, sc->o, WABOT_ERR_CIRCUIT_OPEN, NULL);
        wabot_breaker *b = NULL;
        if (wb_breaker_acquire(sc->d, t, &b, now, &retry_at) == WABOT_OK)
            wb_breaker_report(sc->d, t, b, now, WABOT_OUTCOME_IGNORED);
        wb_count(ctx, "outbound.circuit_open", 1);
        wabot_job_retry_in(job, retry_at > now ? retry_at - now : 1);
        return WABOT_ERR_CIRCUIT_OPEN;
    }
    int rc = wb_transport_send(ctx, t, sc->o, on_sent, job);
    if (rc < 0) {
        record_done(sc->d, sc->o, rc, NULL); /* not taken: nothing left */
        wb_breaker_report(sc->d, t, sc->breaker, wb_now(ctx),
                          WABOT_OUTCOME_IGNORED);
        wabot_job_set_error(job, "transport refused the message");
        wb_count(ctx, "outbound.failed_attempts", 1);
        return rc;
    }
    return WABOT_JOB_PENDING;
}

/* The keys and values of a batch's ops live in one buffer (a batch
 * of 256 messages would need 256 KiB of fixed-size key slots, and a
 * large block per pass costs more than the allocations it saves); the
 * ops get their pointers once the buffer stops moving. */
typedef struct op_text {
    wb_strbuf b;
    size_t *key_at, *val_at; /* per op: offsets into b */
} op_text;

static int op_text_init(op_text *t, size_t n)
{
    wb_strbuf_init(&t->b, NULL);
    t->key_at = malloc(n * sizeof *t->key_at);
    t->val_at = malloc(n * sizeof *t->val_at);
    return t->key_at && t->val_at ? WABOT_OK : WABOT_ERR_NOMEM;
}

static void op_text_free(op_text *t)
{
    wb_strbuf_free(&t->b);
    free(t->key_at);
    free(t->val_at);
}

/* Copy s (with its NUL) into the buffer; its offset. */
static size_t op_text_put(op_text *t, const char *s, size_t len)
{
    size_t at = t->b.len;
    wb_strbuf_append(&t->b, s, len);
    wb_strbuf_putc(&t->b, '\0');
    return at;
}

/* Point ops[0..n) at their text; WABOT_OK, or NOMEM if the buffer could
 * not grow (then no op may run). */
static int op_text_resolve(op_text *t, wb_storage_bop *ops, size_t n)
{
    if (t->b.oom)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        ops[i].key = t->b.data + t->key_at[i];
        if (ops[i].kind == WB_BOP_SET || ops[i].kind == WB_BOP_CAS)
            ops[i].val = t->b.data + t->val_at[i];
    }
    return WABOT_OK;
}

/* Add a GET of key to the batch; its index. */
static int add_get(wb_storage_bop *ops, size_t *nops, op_text *t,
                   const char *key)
{
    t->key_at[*nops] = op_text_put(t, key, strlen(key));
    ops[*nops] = (wb_storage_bop){.kind = WB_BOP_GET};
    return (int)(*nops)++;
}

/* A picked message that does not leave: its place among the transport's
 * sends in flight is free again, and the job ends with rc. */
static void not_sent(wabot_job *job, int rc)
{
    unflight(job->user);
    wabot_job_finish(job, rc);
}

/* The messages of the batch that may go (their slots still hold a job
 * not yet sent) pass the breaker and the limits, get their "sending"
 * records in one batch, and leave. marks has room for n. In the first
 * round a job the breaker refused stays for the second. */
static void send_round(wabot_ctx *ctx, slot *sl, size_t n,
                       wb_storage_bop *marks, int first_round)
{
    op_text t;
    int rc = op_text_init(&t, n);
    if (rc != WABOT_OK) {
        for (size_t i = 0; i < n; i++)
            if (sl[i].job) {
                not_sent(sl[i].job, rc); /* retried */
                sl[i].job = NULL;
            }
        op_text_free(&t);
        return;
    }
    size_t nmarks = 0;
    int64_t ttl = wb_send_record_ttl(ctx);
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        wabot_job *job = sl[i].job;
        if (!job || sl[i].mark != -1)
            continue;
        send_ctx *sc = job->user;
        int g = gate(job, first_round);
        if (g == GATE_LATER)
            continue;
        if (g != WABOT_OK) {
            sl[i].job = NULL;
            not_sent(job, g);
            continue;
        }
        any = 1;
        sl[i].mark = -2; /* going, no record (no usable id) */
        char key[WB_STORAGE_KEY_MAX + 1];
        if (!wb_send_key(key, sizeof key, sc->o))
            continue; /* no usable id: sent unrecorded */
        size_t len = 0;
        char *text = wb_send_record(ctx, WB_SEND_SENDING,
                                    wabot_job_attempt(job), NULL, &len);
        if (!text) { /* no record, no send: given back for later */
            sl[i].job = NULL;
            not_sent(job, send_one(job, WABOT_ERR_NOMEM));
            continue;
        }
        t.key_at[nmarks] = op_text_put(&t, key, strlen(key));
        t.val_at[nmarks] = op_text_put(&t, text, len);
        free(text);
        marks[nmarks] = (wb_storage_bop){.kind = WB_BOP_CAS, .len = len,
                                         .ttl_ms = ttl,
                                         .expected = sc->rec_version};
        sl[i].mark = (int)nmarks++;
    }
    rc = op_text_resolve(&t, marks, nmarks);
    if (rc == WABOT_OK && any)
        /* Durably before the requests leave: a crash from here on leaves
         * an outcome the next attempt reconciles instead of sending
         * blindly. */
        (void)wb_storage_batch(ctx->storage, nmarks, marks);
    for (size_t i = 0; any && i < n; i++) {
        wabot_job *job = sl[i].job;
        if (!job || sl[i].mark == -1)
            continue;
        int st = rc != WABOT_OK      ? rc
                 : sl[i].mark >= 0 ? marks[sl[i].mark].status
                                   : WABOT_OK;
        int out = send_one(job, st);
        sl[i].job = NULL; /* sent or settled: on_sent owns it now */
        if (out != WABOT_JOB_PENDING)
            not_sent(job, out);
    }
    op_text_free(&t);
}

/* Step 1's reads for n (<= BATCH_MAX) parked jobs, after the head's
 * nhead writes (hops: their statuses and versions set on return) when it
 * returns 1; those that may go join the ready ones (d->ready has room
 * for n more). Returns 0 when out of memory before the batch: the jobs
 * are given back and the head was not written. */
static int run_batch(wb_delivery *d, wabot_job **jobs, size_t n,
                     wb_storage_bop *hops, size_t nhead)
{
    wabot_ctx *ctx = d->ctx;
    slot *sl = calloc(n, sizeof *sl);
    /* the head's writes, then the reads: one batch */
    wb_storage_bop *all = calloc(nhead + 2 * n, sizeof *all);
    wb_storage_bop *ops = all ? all + nhead : NULL; /* the reads */
    op_text t;
    int rc = op_text_init(&t, 2 * n);
    if (!sl || !all || rc != WABOT_OK) {
        free(sl);
        free(all);
        op_text_free(&t);
        for (size_t i = 0; i < n; i++)
            wabot_job_finish(jobs[i], WABOT_ERR_NOMEM); /* retried */
        return 0;
    }
    size_t nops = 0;
    for (size_t i = 0; i < n; i++) {
        sl[i] = (slot){jobs[i], -1, -1, -1};
        if (open_job(&sl[i]) != WABOT_OK)
            continue;
        wabot_job *job = sl[i].job;
        send_ctx *sc = job->user;
        char key[WB_STORAGE_KEY_MAX + 1];
        /* A reply leased at commit knows its customer just wrote: the
         * window is open without the profile (wabot_job.inbound_ms). */
        if (wb_outbound_admit_needs_profile(ctx, sc->o) &&
            !wb_outbound_admit_known(ctx, sc->o, job->inbound_ms)) {
            int prc = wb_profile_key(ctx, wabot_outbound_organization(sc->o),
                                     wabot_outbound_to(sc->o), key);
            if (prc != WABOT_OK) {
                sl[i].job = NULL;
                wabot_job_finish(job, prc);
                continue;
            }
            sl[i].prof = add_get(ops, &nops, &t, key);
        }
        if (wb_send_reconcile_needed(sc->o, wabot_job_attempt(job),
                                     wabot_job_max_attempts(job)) &&
            wb_send_key(key, sizeof key, sc->o))
            sl[i].rec = add_get(ops, &nops, &t, key);
    }
    rc = op_text_resolve(&t, ops, nops);
    if (nhead > 0)
        memcpy(all, hops, nhead * sizeof *all);
    if (rc == WABOT_OK)
        (void)wb_storage_batch(ctx->storage, nhead + nops, all);
    else if (nhead > 0)
        (void)wb_storage_batch(ctx->storage, nhead, all);
    if (nhead > 0) /* the head's statuses, for head_settle */
        memcpy(hops, all, nhead * sizeof *all);
    if (rc != WABOT_OK)
        for (size_t i = 0; i < nops; i++)
            ops[i].status = rc; /* read as a storage failure: retried */
    for (size_t i = 0; i < n; i++) {
        if (!sl[i].job)
            continue;
        int v = vet(&sl[i], ops);
        wabot_job *job = sl[i].job;
        if (v != WABOT_OK)
            wabot_job_finish(job, v > 0 ? WABOT_OK : v);
        else
            d->ready[d->n_ready++] = job; /* room made by the caller */
    }
    wb_storage_bops_clear(nops, ops);
    op_text_free(&t);
    free(sl);
    free(all);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Pacing when the request leaves                                      */
/*                                                                     */
/* The worker admits up to outbound_concurrency messages (step 2:      */
/* reserved, decoded, policy and earlier attempt checked); step 3 (the */
/* breaker, the rate limits, the "sending" records, the hand-off) takes */
/* only as many as can leave at once. While outbound pacing is on that */
/* is http_host_connections per transport: a message beyond waits in  */
/* d->ready, no rate-limit unit spent, until a send of its transport is */
/* answered, so the limiter decides when the request can leave. Handed */
/* to libcurl, it would take its unit, wait for a connection, and the  */
/* waiting ones would leave together (test redis-servers: 302 sends in */
/* one second against a shared 100/s with outbound_concurrency 64).    */
/* Without pacing every admitted message is handed over at once:       */
/* libcurl starts a waiting request the moment a connection frees,     */
/* without a pass of the loop and a round trip for its record.         */

static int pacing_on(const wb_config *c)
{
    return c->rate_sender_per_s > 0 || c->rate_pair_period_ms > 0 ||
           c->rate_org_per_s > 0;
}

/* How many sends one transport may have in flight. */
static int flight_cap(const wb_config *c)
{
    if (!pacing_on(c))
        return INT_MAX;
    return c->http_host_connections > 0 ? (int)c->http_host_connections
                                        : WB_HTTP_MAX_HOST_CONNECTIONS;
}

/* t's counter, made on first use; NULL when out of memory (t's sends
 * then go uncounted, as without pacing). */
static wb_in_flight *flight_of(wb_delivery *d, const wabot_transport *t)
{
    for (wb_in_flight *f = d->in_flight; f; f = f->next)
        if (f->t == t)
            return f;
    wb_in_flight *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->t = t;
    f->next = d->in_flight;
    d->in_flight = f;
    return f;
}

/* Room in d->ready for `more` messages. */
static int ready_room(wb_delivery *d, size_t more)
{
    if (d->n_ready + more <= d->cap_ready)
        return WABOT_OK;
    size_t cap = d->cap_ready ? d->cap_ready : 64;
    while (cap < d->n_ready + more)
        cap *= 2;
    wabot_job **r = realloc(d->ready, cap * sizeof *r);
    if (!r)
        return WABOT_ERR_NOMEM;
    d->ready = r;
    d->cap_ready = cap;
    return WABOT_OK;
}

/* Take from d->ready, in order, up to max messages whose transport has
 * a place; each holds it from now (unflight gives it back). The others
 * stay, in order. Returns how many were taken. */
static size_t pick_ready(wb_delivery *d, slot *sl, size_t max)
{
    int cap = flight_cap(&d->ctx->cfg);
    size_t n = 0, keep = 0;
    for (size_t i = 0; i < d->n_ready; i++) {
        wabot_job *job = d->ready[i];
        send_ctx *sc = job->user;
        wb_in_flight *f = n < max ? flight_of(d, sc->transport) : NULL;
        if (n < max &&
            (!f || __atomic_load_n(&f->n, __ATOMIC_ACQUIRE) < cap)) {
            if (f) {
                __atomic_add_fetch(&f->n, 1, __ATOMIC_ACQ_REL);
                sc->flight = f;
            }
            sl[n++] = (slot){job, -1, -1, -1};
        } else {
            d->ready[keep++] = job;
        }
    }
    d->n_ready = keep;
    return n;
}

/* Step 3 for the ready messages that can leave now. A message the
 * breaker or the limiter sends back frees its place at once, so another
 * may take it in the same pass. */
static void dispatch(wb_delivery *d)
{
    slot sl[BATCH_MAX];
    size_t n;
    while (d->n_ready > 0 && (n = pick_ready(d, sl, BATCH_MAX)) > 0) {
        wb_storage_bop *marks = calloc(n, sizeof *marks);
        if (!marks) {
            for (size_t i = 0; i < n; i++)
                not_sent(sl[i].job, WABOT_ERR_NOMEM); /* retried */
            continue;
        }
        send_round(d->ctx, sl, n, marks, 1);
        send_round(d->ctx, sl, n, marks, 0); /* GATE_LATER */
        free(marks);
    }
}

static int64_t batch_deadline(void *ud)
{
    wb_delivery *d = ud;
    return __atomic_load_n(&d->due, __ATOMIC_ACQUIRE) ? 0 : WB_NO_DEADLINE;
}

/* The loop's pass: the outcome records and the rider's writes, with the
 * first parked jobs' reads, then every other parked job. */
static void batch_fire(void *ud)
{
    wb_delivery *d = ud;
    __atomic_store_n(&d->due, 0, __ATOMIC_RELEASE);
    wb_storage_bop *hops = NULL;
    head h = {NULL, 0, 0};
    size_t nhead = 0;
    if (d->n_done > 0 || d->rider.take != NULL) {
        if ((hops = hops_of(d)) != NULL) /* else they wait: head_take */
            nhead = head_take(d, &h, hops);
    }
    while (d->n_parked > 0) {
        wabot_job **jobs = d->parked;
        size_t n = d->n_parked;
        d->parked = NULL;
        d->n_parked = d->cap_parked = 0;
        for (size_t i = 0; i < n; i += BATCH_MAX) {
            size_t k = n - i < BATCH_MAX ? n - i : BATCH_MAX;
            if (ready_room(d, k) == WABOT_OK) {
                if (run_batch(d, jobs + i, k, hops, nhead))
                    nhead = 0; /* written with the reads */
                continue;
            }
            for (size_t j = i; j < i + k; j++)
                wabot_job_finish(jobs[j], WABOT_ERR_NOMEM); /* retried */
        }
        free(jobs);
    }
    if (nhead > 0) /* no read carried them */
        (void)wb_storage_batch(d->ctx->storage, nhead, hops);
    if (hops)
        head_settle(d, &h, hops);
    dispatch(d);
    /* Sends the transport answered at once (a synchronous transport)
     * wait for the next pass, which is due now. */
}

/* The worker: the job waits for the loop's next pass (batch_fire). */
static int deliver(wabot_job *job, void *ud)
{
    wb_delivery *d = ud;
    send_ctx *sc = calloc(1, sizeof *sc);
    if (!sc)
        return WABOT_ERR_NOMEM;
    sc->d = d;
    job->user = sc;
    job->user_free = free_send_ctx;
    if (d->n_parked == d->cap_parked) {
        size_t cap = d->cap_parked ? d->cap_parked * 2 : 64;
        wabot_job **p = realloc(d->parked, cap * sizeof *p);
        if (!p) {
            if (ready_room(d, 1) != WABOT_OK)
                return WABOT_ERR_NOMEM; /* retried */
            run_batch(d, &job, 1, NULL, 0); /* on its own, at once */
            mark_due(d);
            return WABOT_JOB_PENDING;
        }
        d->parked = p;
        d->cap_parked = cap;
    }
    d->parked[d->n_parked++] = job;
    mark_due(d);
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
    wb_source src = {batch_deadline, batch_fire, d, 0};
    int rc = wb_loop_add_source(ctx, &src);
    if (rc != WABOT_OK)
        return rc;
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
    /* The runtime is gone: parked jobs were abandoned with it (their
     * leases expire and they run again); outcomes still waiting are
     * written now, while the storage is there. */
    flush_head(d);
    for (size_t i = 0; i < d->n_done; i++) /* out of memory: unwritten */
        done_free(&d->done[i]);
    free(d->hops);
    free(d->done);
    free(d->parked);
    free(d->ready);
    while (d->in_flight) {
        wb_in_flight *f = d->in_flight;
        d->in_flight = f->next;
        free(f);
    }
    wb_breakers_free(d);
    pthread_mutex_destroy(&d->lock);
    wb_free(&d->ctx->alloc, d);
    wabot_module_set_data(m, NULL);
}

const wabot_module_def wb_delivery_module = {
    WABOT_MODULE_DEF_VERSION, "delivery",
    "the outbound queue's worker: policy, breakers, rate limits, sends",
    NULL, NULL, 0, delivery_hooks, delivery_create, delivery_destroy};
