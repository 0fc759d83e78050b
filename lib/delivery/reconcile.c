/* Sends of unknown outcome (issue 19, item 1).
 *
 * A process can die after a send's request left and before it learnt the
 * answer: the provider may have accepted the message, but the job's lease
 * runs out and another process would send it again. So every send leaves
 * a record before its request leaves, "send:<outbound id>":
 *   {"state":"sending","attempt":2,"at_ms":...}       before the request
 *   {"state":"sent","provider_id":"SM...","at_ms":...} after a success
 * (deleted after a failure the provider answered), kept dedup_ttl_ms --
 * or, on a process-local store, deleted instead once the job is
 * completed (wb_send_record_spent: no attempt is left to read it). The
 * request carries the outbound id as its correlation (Twilio: the
 * `wabot_send` parameter of the per-message StatusCallback URL; Meta:
 * biz_opaque_callback_data), the provider echoes it in every status
 * callback, and the receipt leaves "sendack:<outbound id>" = provider id.
 *
 * A request that timed out may also have reached the provider: its
 * record is kept (not deleted as after an answered failure) and stamped
 * as an unknown outcome at once, so the retry reconciles it exactly like
 * a crash's (wb_send_mark_timed_out). When the attempt that timed out was
 * the job's last, the job is given back without spending it and that
 * same attempt reconciles: a receipt completes it, none within the grace
 * period fails it (no attempt is left to send again).
 *
 * A later attempt (attempt > 1, or the last one) reads the record first:
 *   none       the earlier attempt never reached the provider, or failed:
 *              send.
 *   "sent"     it succeeded but its job was not settled: done, no send.
 *   "sending"  unknown outcome (counted once: sends.unknown_outcome, and
 *              logged with the message id). A receipt echoing it arrived
 *              -> done; none yet -> wait up to send_reconcile_grace_ms
 *              from the first detection; then the policy: at-most-once
 *              for the categories in send_at_most_once (not sent again),
 *              else at-least-once (sent again). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backlog.h"
#include "delivery.h"
#include "jobs.h"
#include "json_alloc.h"
#include "message.h"
#include "metrics.h"
#include "runtime.h"
#include "storage.h"
#include "strbuf.h"

#define MODULE "delivery"
#define SEND_PREFIX "send:"
#define ACK_PREFIX "sendack:"
/* CAS attempts on one record: only lost to pathological contention. */
#define MAX_TRIES 8

int wb_out_categories_parse(const char *list, unsigned *mask)
{
    unsigned m = 0;
    const char *p = list != NULL ? list : "";
    while (*p) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 && n == 0)
            break;
        int found = 0;
        for (int c = WABOT_CAT_REPLY; c <= WABOT_CAT_CAMPAIGN; c++) {
            const char *name = wabot_out_category_name((wabot_out_category)c);
            if (strlen(name) == len && strncmp(p, name, len) == 0) {
                m |= 1u << c;
                found = 1;
            }
        }
        if (!found)
            return WABOT_ERR_INVAL;
        p += n;
    }
    if (mask != NULL)
        *mask = m;
    return WABOT_OK;
}

/* "<prefix><outbound id>" into buf; NULL when the id is unusable. */
static const char *key_of(char *buf, size_t n, const char *prefix,
                          const char *id)
{
    if (!wb_storage_key_part_ok(id))
        return NULL;
    return WB_JOIN(buf, n, prefix, id) > 0 ? buf : NULL;
}

static int64_t ttl_of(const wabot_ctx *ctx)
{
    return ctx->cfg.dedup_ttl_ms > 0 ? ctx->cfg.dedup_ttl_ms : 86400000;
}

/* Store a record made by json_pack (reference taken): WABOT_OK or the
 * storage's status. expected > 0: compare-and-set against it. */
static int put(wabot_ctx *ctx, const char *key, json_t *rec,
               uint64_t expected)
{
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!text)
        return WABOT_ERR_NOMEM;
    int rc = expected
                 ? wabot_storage_cas(ctx->storage, key, expected, text,
                                     strlen(text), ttl_of(ctx), NULL)
                 : wabot_storage_set(ctx->storage, key, text, strlen(text),
                                     ttl_of(ctx), NULL);
    wb_json_free(text); /* json_dumps output */
    return rc;
}

static int put_sent(wabot_ctx *ctx, const char *key, const char *provider_id)
{
    size_t len;
    char *text = wb_send_record(ctx, WABOT_OK, 0, provider_id, &len);
    if (!text)
        return WABOT_ERR_NOMEM;
    int rc = wabot_storage_set(ctx->storage, key, text, len, ttl_of(ctx),
                               NULL);
    free(text);
    return rc;
}

int wb_send_record_spent(wabot_ctx *ctx, const char *outbound_id)
{
    /* A later attempt needs the job back on its queue: the lease of this
     * one lost while its request was out. A completed job -- its
     * completion accepted under this attempt's lease -- has none to come.
     * Asking is cheap only of the in-process scheduler, and only a
     * process-local store has no crash to outlive (a dead process's
     * in-flight send is what the record is for elsewhere). */
    if (!ctx->storage->process_local || !wb_scheduler_is_local(ctx))
        return 0;
    /* The in-process scheduler answers without copying the job. */
    const wabot_scheduler *s = ctx->rt->sched;
    int32_t state;
    return s->state_of != NULL &&
           s->state_of(s->impl, WABOT_QUEUE_OUTBOUND, outbound_id,
                       &state) == WABOT_OK &&
           state == WABOT_JOB_COMPLETED;
}

const char *wb_send_key(char *buf, size_t n, const wabot_outbound *o)
{
    return key_of(buf, n, SEND_PREFIX, wabot_outbound_id(o));
}

char *wb_send_record(wabot_ctx *ctx, int status, int attempt,
                     const char *provider_id, size_t *len)
{
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    if (status == WB_SEND_SENDING) {
        /* two records per send: appended, not printf'd */
        wb_strbuf_puts(&b, "{\"state\":\"sending\",\"attempt\":");
        wb_strbuf_int(&b, attempt);
    } else {
        wb_strbuf_puts(&b, "{\"state\":\"sent\",\"provider_id\":");
        wb_strbuf_json_str(&b, provider_id ? provider_id : "");
    }
    wb_strbuf_puts(&b, ",\"at_ms\":");
    wb_strbuf_int(&b, wb_now(ctx));
    wb_strbuf_putc(&b, '}');
    *len = b.len;
    return wb_strbuf_take(&b);
}

int64_t wb_send_record_ttl(const wabot_ctx *ctx)
{
    return ttl_of(ctx);
}

void wb_send_mark_done(wabot_ctx *ctx, const wabot_outbound *o, int status,
                       const char *provider_id)
{
    char buf[WB_STORAGE_KEY_MAX + 1];
    const char *key = wb_send_key(buf, sizeof buf, o);
    if (!key)
        return;
    int rc;
    if (status == WABOT_OK)
        rc = put_sent(ctx, key, provider_id);
    else
        rc = wabot_storage_del(ctx->storage, key);
    wb_send_done_result(ctx, wabot_outbound_id(o), rc);
}

void wb_send_done_result(wabot_ctx *ctx, const char *outbound_id, int rc)
{
    if (rc < 0 && rc != WABOT_ERR_NOT_FOUND)
        /* The next attempt (if any) takes it for an unknown outcome and
         * reconciles it: never a lost message, at worst a grace wait. */
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s: outcome not recorded: %s", outbound_id,
               wabot_strerror(rc));
}

int wb_send_ack(wabot_ctx *ctx, const char *send_key, const char *provider_id)
{
    char buf[WB_STORAGE_KEY_MAX + 1];
    const char *key = key_of(buf, sizeof buf, ACK_PREFIX, send_key);
    if (!key)
        return WABOT_OK; /* not one of ours */
    const char *v = provider_id ? provider_id : "";
    return wabot_storage_set(ctx->storage, key, v, strlen(v), ttl_of(ctx),
                             NULL);
}

/* The earlier attempt's record. */
typedef struct send_rec {
    char state[16];
    int attempt;        /* the attempt that wrote it */
    int64_t unknown_ms; /* first seen with an unknown outcome; 0 = not yet */
    uint64_t version;
    json_t *root; /* the decoded record, or NULL */
} send_rec;

/* A stored record's fields (r->version set by the caller). */
static void decode_rec(const char *val, size_t len, send_rec *r)
{
    r->root = json_loadb(val, len, 0, NULL);
    const char *s = json_string_value(json_object_get(r->root, "state"));
    snprintf(r->state, sizeof r->state, "%s", s ? s : "sending");
    r->unknown_ms = json_integer_value(json_object_get(r->root,
                                                       "unknown_ms"));
    r->attempt = (int)json_integer_value(json_object_get(r->root,
                                                         "attempt"));
}

static int read_rec(wabot_ctx *ctx, const char *key, send_rec *r)
{
    char *val = NULL;
    size_t len = 0;
    memset(r, 0, sizeof *r);
    int rc = wabot_storage_get(ctx->storage, key, &val, &len, &r->version);
    if (rc != WABOT_OK)
        return rc;
    decode_rec(val, len, r);
    wabot_free(val);
    return WABOT_OK;
}

/* First detection of the unknown outcome: stamp it (compare-and-set, so
 * of two processes only one counts it). Returns 1 when this call
 * stamped, 0 when another had, or a negative status. */
static int stamp_unknown(wabot_ctx *ctx, const char *key, send_rec *r,
                         int64_t now)
{
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        if (r->unknown_ms > 0 || strcmp(r->state, "sending") != 0)
            return 0;
        json_t *rec = r->root && json_is_object(r->root)
                          ? json_incref(r->root)
                          : json_object();
        if (!rec || json_object_set_new(rec, "unknown_ms",
                                        json_integer(now)) != 0) {
            json_decref(rec);
            return WABOT_ERR_NOMEM;
        }
        int rc = put(ctx, key, rec, r->version);
        if (rc == WABOT_OK) {
            r->unknown_ms = now;
            return 1;
        }
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
        json_decref(r->root);
        if ((rc = read_rec(ctx, key, r)) != WABOT_OK)
            return rc == WABOT_ERR_NOT_FOUND ? 0 : rc;
    }
    return WABOT_ERR_CONFLICT;
}

static int at_most_once(const wabot_ctx *ctx, const wabot_outbound *o)
{
    unsigned mask = 0;
    if (wb_out_categories_parse(ctx->cfg.send_at_most_once, &mask) != 0)
        return 0;
    return (mask >> wabot_outbound_category(o)) & 1u;
}

/* Stamp the unknown outcome of o's record; the first to stamp counts
 * and logs it with `cause`. WABOT_OK or a negative status. */
static int note_unknown(wabot_ctx *ctx, const wabot_outbound *o,
                        const char *key, send_rec *r, int64_t now,
                        const char *cause)
{
    int rc = stamp_unknown(ctx, key, r, now);
    if (rc == 1) {
        wb_count(ctx, "sends.unknown_outcome", 1);
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s to %s: outcome unknown (%s); reconciling before "
               "any retry", wabot_outbound_id(o), wabot_outbound_to(o),
               cause);
    }
    return rc < 0 ? rc : WABOT_OK;
}

void wb_send_mark_timed_out(wabot_ctx *ctx, const wabot_outbound *o)
{
    char buf[WB_STORAGE_KEY_MAX + 1];
    const char *key = key_of(buf, sizeof buf, SEND_PREFIX,
                             wabot_outbound_id(o));
    wb_count(ctx, "sends.timed_out", 1);
    if (!key)
        return;
    send_rec r;
    int rc = read_rec(ctx, key, &r);
    if (rc == WABOT_OK)
        rc = note_unknown(ctx, o, key, &r, wb_now(ctx),
                          "the request timed out");
    json_decref(r.root);
    if (rc < 0 && rc != WABOT_ERR_NOT_FOUND)
        /* The "sending" record stays: the retry stamps it instead, the
         * grace period then counting from there. */
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s timed out; unknown outcome not stamped: %s",
               wabot_outbound_id(o), wabot_strerror(rc));
}

/* The outcome is unknown: a receipt, the grace period, then the policy.
 * `own`: the unknown send is this very attempt's (it timed out on the
 * job's last attempt), so nothing may be sent again. */
static int decide_unknown(wabot_ctx *ctx, const wabot_outbound *o,
                          const char *key, send_rec *r, int own,
                          wb_reconcile_verdict *v, int64_t *wait_ms)
{
    const char *id = wabot_outbound_id(o);
    int64_t now = wb_now(ctx);
    int rc = note_unknown(ctx, o, key, r, now,
                          "its attempt's process died or lost its lease "
                          "mid-send");
    if (rc < 0)
        return rc;
    char abuf[WB_STORAGE_KEY_MAX + 1];
    const char *ack = key_of(abuf, sizeof abuf, ACK_PREFIX, id);
    char *pid = NULL;
    rc = ack ? wabot_storage_get(ctx->storage, ack, &pid, NULL, NULL)
             : WABOT_ERR_NOT_FOUND;
    if (rc == WABOT_OK) {
        wb_count(ctx, "sends.reconciled_by_receipt", 1);
        wb_log(ctx, WABOT_LOG_INFO, MODULE,
               "send of %s: a receipt shows the provider took it as %s; "
               "not sent again", id, pid);
        (void)put_sent(ctx, key, pid); /* best effort: the ack stays */
        wabot_free(pid);
        *v = WB_RECONCILE_DONE;
        return WABOT_OK;
    }
    if (rc != WABOT_ERR_NOT_FOUND)
        return rc;
    int64_t until = r->unknown_ms + ctx->cfg.send_reconcile_grace_ms;
    if (now < until) {
        *v = WB_RECONCILE_WAIT;
        *wait_ms = until - now;
        return WABOT_OK;
    }
    if (own) {
        wb_count(ctx, "sends.unknown_not_resent", 1);
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s: timed out on its last attempt and no receipt "
               "came; failed, not sent again", id);
        *v = WB_RECONCILE_EXHAUSTED;
        return WABOT_OK;
    }
    if (at_most_once(ctx, o)) {
        wb_count(ctx, "sends.unknown_not_resent", 1);
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "send of %s (%s): no receipt; not sent again (at-most-once)",
               id, wabot_out_category_name(wabot_outbound_category(o)));
        *v = WB_RECONCILE_DROP;
        return WABOT_OK;
    }
    wb_count(ctx, "sends.unknown_resent", 1);
    wb_log(ctx, WABOT_LOG_WARN, MODULE,
           "send of %s: no receipt; sent again (at-least-once)", id);
    *v = WB_RECONCILE_SEND;
    return WABOT_OK;
}

int wb_send_reconcile_needed(const wabot_outbound *o, int attempt,
                             int max_attempts)
{
    /* A first attempt has no earlier one to reconcile, unless it is also
     * the last: then it may be running again after it timed out. */
    char buf[WB_STORAGE_KEY_MAX + 1];
    return !(attempt <= 1 && attempt < max_attempts) &&
           wb_send_key(buf, sizeof buf, o) != NULL;
}

int wb_send_reconcile_with(wabot_ctx *ctx, const wabot_outbound *o,
                           int attempt, int read_rc, const char *val,
                           size_t len, uint64_t version,
                           wb_reconcile_verdict *v, int64_t *wait_ms)
{
    *v = WB_RECONCILE_SEND;
    *wait_ms = 0;
    if (read_rc == WABOT_ERR_NOT_FOUND)
        return WABOT_OK;
    if (read_rc != WABOT_OK)
        return read_rc;
    char buf[WB_STORAGE_KEY_MAX + 1];
    const char *key = wb_send_key(buf, sizeof buf, o);
    if (!key)
        return WABOT_OK;
    send_rec r;
    memset(&r, 0, sizeof r);
    r.version = version;
    decode_rec(val, len, &r);
    int rc = WABOT_OK;
    if (strcmp(r.state, "sent") == 0) {
        wb_count(ctx, "sends.already_sent", 1);
        wb_log(ctx, WABOT_LOG_INFO, MODULE,
               "send of %s: an earlier attempt was accepted; not sent again",
               wabot_outbound_id(o));
        *v = WB_RECONCILE_DONE;
    } else {
        rc = decide_unknown(ctx, o, key, &r, r.attempt >= attempt, v,
                            wait_ms);
    }
    json_decref(r.root);
    return rc;
}
