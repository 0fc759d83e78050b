/* The turn outbox: a turn's effects commit as one unit.
 *
 * Everything a turn wants to happen afterwards -- its replies and the jobs
 * it enqueues (wabot_turn_enqueue) -- is collected on the turn. When the
 * turn ends, one storage transaction writes, under the customer's hash
 * tag:
 *   conv:{<org>:<cust>}          the conversation (compare-and-set), if it
 *                                changed;
 *   outbox:{<org>:<cust>}:<msg>  the jobs, as one record;
 *   turn:{<org>:<cust>}:<msg>    the marker "this message's turn is
 *                                committed" (must be absent; kept for the
 *                                dedup TTL, or on a process-local store
 *                                until the dedup mark replaces it:
 *                                wb_turn_marker_drop()).
 * Either all of it is written or none. Then the jobs are relayed to the
 * scheduler (job ids make that idempotent) and the outbox record deleted.
 *
 * After a crash: before the commit nothing happened, and the redelivered
 * webhook runs the turn as new. After it, the redelivery finds the marker,
 * does not run the handlers again, and relays what the record still holds;
 * a record nobody comes back for is relayed by the sweep (a loop deadline
 * that reads the index of pending records, or scans outbox: on a
 * process-local store, for records older than a grace period). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "message.h"
#include "metrics.h"
#include "outbox.h"
#include "pipeline.h"
#include "runtime.h"
#include "state.h"
#include "storage.h"
#include "strbuf.h"
#include "wabot/module.h"
#include "wabot/storage.h"

#define MODULE "outbox"
#define OUTBOX_SCHEMA 1
/* An uncommitted record is worthless after this; committed ones are gone
 * in milliseconds. A week outlives any outage the sweep must bridge. */
#define OUTBOX_TTL_MS (7LL * 24 * 3600 * 1000)
#define MAX_TURN_JOBS 64

static const wabot_schema outbox_schema = {WABOT_SCHEMA_VERSION,
                                           OUTBOX_SCHEMA, NULL, NULL};

/* ------------------------------------------------------------------ */
/* Jobs on the turn                                                    */

void wb_outjob_free(const wabot_allocator *a, wb_outjob *j)
{
    wb_free(a, j->queue); /* the block: id and payload are in it */
    memset(j, 0, sizeof *j);
}

/* j's queue, id and payload copied into one block. WABOT_OK or NOMEM. */
static int outjob_fill(const wabot_allocator *a, wb_outjob *j,
                       const char *queue, size_t qlen, const char *id,
                       size_t idlen, const char *payload, size_t len)
{
    if (len > SIZE_MAX - qlen - idlen - 3)
        return WABOT_ERR_NOMEM;
    char *m = wb_malloc(a, qlen + idlen + len + 3);
    if (!m)
        return WABOT_ERR_NOMEM;
    j->queue = m;
    memcpy(m, queue, qlen);
    m[qlen] = '\0';
    j->id = m + qlen + 1;
    memcpy(j->id, id, idlen);
    j->id[idlen] = '\0';
    j->payload = j->id + idlen + 1;
    if (len)
        memcpy(j->payload, payload, len);
    j->payload[len] = '\0';
    j->len = len;
    return WABOT_OK;
}

static int add_job(wabot_turn *t, const char *queue, const char *id,
                   const char *payload, size_t len,
                   const wabot_job_spec *spec)
{
    const wabot_allocator *a = &t->ctx->alloc;
    void *items = t->jobs;
    if (wb_grow(a, &items, t->n_jobs + 1, &t->cap_jobs, sizeof *t->jobs))
        return WABOT_ERR_NOMEM;
    t->jobs = items;
    wb_outjob *j = &t->jobs[t->n_jobs];
    memset(j, 0, sizeof *j);
    if (outjob_fill(a, j, queue, strlen(queue), id, strlen(id), payload,
                    len) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    int64_t now = wb_now(t->ctx);
    j->run_at = spec->run_at_ms ? spec->run_at_ms : now + spec->delay_ms;
    j->max_attempts = spec->max_attempts;
    j->backoff = spec->backoff;
    j->backoff_ms = spec->backoff_ms;
    j->backoff_max_ms = spec->backoff_max_ms;
    j->jitter_pct = spec->jitter_pct;
    j->priority = spec->priority;
    t->n_jobs++;
    return WABOT_OK;
}

int wabot_turn_enqueue(wabot_turn *t, const char *queue, const char *payload,
                       size_t len, const wabot_job_spec *spec, char **job_id)
{
    if (job_id)
        *job_id = NULL;
    if (!t)
        return WABOT_ERR_INVAL;
    wabot_ctx *ctx = t->ctx;
    if (!wb_queue_name_ok(queue))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "queue name must be 1..64 bytes of [A-Za-z0-9._:-]");
    if (!payload && len)
        return wb_error(ctx, WABOT_ERR_INVAL, "payload is NULL");
    if (t->n_jobs >= MAX_TURN_JOBS)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                        "a turn enqueues at most %d jobs", MAX_TURN_JOBS);
    wabot_job_spec dflt;
    if (!spec) {
        wabot_job_spec_init(&dflt);
        spec = &dflt;
    }
    if (spec->version < 1 || spec->max_attempts < 1 || spec->delay_ms < 0 ||
        spec->run_at_ms < 0 || spec->jitter_pct < 0 ||
        spec->jitter_pct > 100)
        return wb_error(ctx, WABOT_ERR_INVAL, "job spec out of range");
    /* The id is the turn's own unless given: a re-run of the same turn
     * (a conflict, a redelivery) enqueues the same job, not a second one. */
    char id[256];
    if (spec->job_id) {
        if (!*spec->job_id || strlen(spec->job_id) >= sizeof id)
            return wb_error(ctx, WABOT_ERR_INVAL, "job id must be 1..255 "
                            "bytes");
        snprintf(id, sizeof id, "%s", spec->job_id);
    } else {
        snprintf(id, sizeof id, "%s:j%zu", wabot_message_id(t->msg),
                 t->n_jobs);
    }
    if (add_job(t, queue, id, payload, len, spec) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (job_id && !(*job_id = wb_strdup(&ctx->alloc, id)))
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    return WABOT_OK;
}

/* A reply becomes a job of the outbound queue, its id the reply's id. */
static int reply_job(wabot_turn *t, const wabot_outbound *o)
{
    char *json = wb_outbound_to_payload(o);
    if (!json)
        return WABOT_ERR_NOMEM;
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.max_attempts = (int32_t)t->ctx->cfg.outbound_max_attempts;
    int rc = add_job(t, WABOT_QUEUE_OUTBOUND, wabot_outbound_id(o), json,
                     strlen(json), &spec);
    wabot_free(json);
    if (rc == WABOT_OK && strcmp(wabot_outbound_to(o), t->customer) == 0 &&
        strcmp(wabot_outbound_organization(o), t->org) == 0)
        t->jobs[t->n_jobs - 1].inbound_ms = wb_turn_inbound_ms(t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The record                                                          */

static void put_bytes(wb_strbuf *b, const char *s, size_t n)
{
    wb_strbuf_int(b, (int64_t)n);
    wb_strbuf_putc(b, ':');
    wb_strbuf_append(b, s, n);
}

/* " <v>": one of a job's numbers (no printf: a turn writes nine). */
static void put_number(wb_strbuf *b, int64_t v)
{
    wb_strbuf_putc(b, ' ');
    wb_strbuf_int(b, v);
}

/* "<created ms>\n<n>\n" then per job: <len>:<queue><len>:<id><len>:<payload> and a line
 * of its numbers. Binary-safe: payloads may be any bytes. */
static char *encode_jobs(const wabot_allocator *a, const wb_outjob *jobs,
                         size_t n, int64_t created, size_t *len)
{
    wb_strbuf b;
    wb_strbuf_init(&b, a);
    size_t need = 48; /* the two header lines */
    for (size_t i = 0; i < n; i++) /* lengths, numbers, separators */
        need += strlen(jobs[i].queue) + strlen(jobs[i].id) + jobs[i].len +
                7 * 21 + 40;
    wb_strbuf_reserve(&b, need);
    wb_strbuf_int(&b, created);
    wb_strbuf_putc(&b, '\n');
    wb_strbuf_int(&b, (int64_t)n);
    wb_strbuf_putc(&b, '\n');
    for (size_t i = 0; i < n; i++) {
        const wb_outjob *j = &jobs[i];
        put_bytes(&b, j->queue, strlen(j->queue));
        put_bytes(&b, j->id, strlen(j->id));
        put_bytes(&b, j->payload, j->len);
        put_number(&b, j->run_at);
        put_number(&b, j->max_attempts);
        put_number(&b, j->backoff);
        put_number(&b, j->backoff_ms);
        put_number(&b, j->backoff_max_ms);
        put_number(&b, j->jitter_pct);
        put_number(&b, j->priority);
        wb_strbuf_putc(&b, '\n');
    }
    if (b.oom) {
        wb_strbuf_free(&b);
        return NULL;
    }
    *len = b.len;
    return wb_strbuf_take(&b);
}

typedef struct reader {
    const char *p, *end;
} reader;

/* A decimal number ending at `stop`, at most `max`. */
static int get_number(reader *r, unsigned long long max, char stop,
                      unsigned long long *n)
{
    char *e;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return -1;
    unsigned long long v = strtoull(r->p, &e, 10);
    if (e >= r->end || *e != stop || v > max)
        return -1;
    *n = v;
    r->p = e + 1;
    return 0;
}

/* A length: no more than the bytes left. */
static int get_size(reader *r, size_t *n, char stop)
{
    unsigned long long v;
    if (r->p >= r->end ||
        get_number(r, (unsigned long long)(r->end - r->p), stop, &v) != 0)
        return -1;
    *n = (size_t)v;
    return 0;
}

/* <len>:<bytes>: *out points into the record. */
static int get_bytes(reader *r, const char **out, size_t *len)
{
    size_t n;
    if (get_size(r, &n, ':') != 0 || (size_t)(r->end - r->p) < n)
        return -1;
    *out = r->p;
    *len = n;
    r->p += n;
    return 0;
}

static int get_numbers(reader *r, wb_outjob *j)
{
    int used = 0;
    int64_t v[7];
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (!nl || nl - r->p > 200)
        return -1;
    char line[208];
    memcpy(line, r->p, (size_t)(nl - r->p));
    line[nl - r->p] = '\0';
    if (sscanf(line, " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64
               " %" SCNd64 " %" SCNd64 " %" SCNd64 "%n",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &used) != 7 ||
        line[used] != '\0')
        return -1;
    j->run_at = v[0];
    j->max_attempts = (int32_t)v[1];
    j->backoff = (int32_t)v[2];
    j->backoff_ms = v[3];
    j->backoff_max_ms = v[4];
    j->jitter_pct = (int32_t)v[5];
    j->priority = (int32_t)v[6];
    r->p = nl + 1;
    return 0;
}

/* Parse a record into *jobs (allocated with a). WABOT_ERR_PARSE when it
 * is not one. */
static int decode_jobs(const wabot_allocator *a, const char *val, size_t len,
                       wb_outjob **jobs, size_t *n)
{
    reader r = {val, val + len};
    unsigned long long when, count;
    *jobs = NULL;
    *n = 0;
    if (get_number(&r, INT64_MAX, '\n', &when) != 0 ||
        get_number(&r, MAX_TURN_JOBS * 2, '\n', &count) != 0)
        return WABOT_ERR_PARSE;
    wb_outjob *js = wb_calloc(a, count ? count : 1, sizeof *js);
    if (!js)
        return WABOT_ERR_NOMEM;
    size_t i = 0;
    int rc = WABOT_OK;
    for (; i < count; i++) {
        wb_outjob *j = &js[i];
        const char *q, *id, *payload;
        size_t qlen, idlen, len;
        if (get_bytes(&r, &q, &qlen) || get_bytes(&r, &id, &idlen) ||
            get_bytes(&r, &payload, &len) || get_numbers(&r, j)) {
            rc = WABOT_ERR_PARSE;
            break;
        }
        if (outjob_fill(a, j, q, qlen, id, idlen, payload, len) != WABOT_OK) {
            rc = WABOT_ERR_NOMEM;
            break;
        }
    }
    if (rc == WABOT_OK && r.p != r.end)
        rc = WABOT_ERR_PARSE;
    if (rc != WABOT_OK) {
        for (size_t k = 0; k < i && k < count; k++)
            wb_outjob_free(a, &js[k]);
        wb_free(a, js);
        return rc;
    }
    *jobs = js;
    *n = count;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */

static int key_of(char *buf, const char *kind, const char *org,
                  const char *customer, const char *msg_id)
{
    int w = WB_JOIN(buf, WB_STORAGE_KEY_MAX + 1, kind, ":{", org, ":",
                    customer, "}:", msg_id);
    return w > 0 && w <= WB_STORAGE_KEY_MAX ? WABOT_OK : WABOT_ERR_INVAL;
}

/* ------------------------------------------------------------------ */
/* The pending index                                                   */
/*                                                                     */
/* On a store other processes share, every outbox record is listed in */
/* the sorted index "outbox-pending" (member: the record's key, score: */
/* when it was listed) before the transaction that writes the record,  */
/* and taken out after the record is deleted. So every record that     */
/* exists is listed, and the sweep reads the listed ones older than    */
/* the grace period instead of scanning the keyspace. An entry without */
/* a record (the commit failed or lost a race, the process died before */
/* committing or before taking the entry out) is dropped by the sweep. */
/* The entry cannot be written by the commit itself: a transaction's   */
/* keys share the customer's hash tag (doc/redis.md, Cluster notes).   */
/* A process-local store (memory) keeps no index: nothing it holds is  */
/* read after a crash, and its scan of "outbox:" walks only those keys. */

#define PENDING_INDEX "outbox-pending"

static int indexed(const wabot_ctx *ctx)
{
    return !ctx->storage->process_local;
}

/* List key as pending since `at`. WABOT_OK, also when the store has no
 * sorted indexes (its sweep scans). */
static int pending_add(wabot_ctx *ctx, const char *key, int64_t at)
{
    if (!indexed(ctx))
        return WABOT_OK;
    int rc = wabot_storage_sorted_add(ctx->storage, PENDING_INDEX, key,
                                      strlen(key), at);
    return rc == WABOT_ERR_UNSUPPORTED ? WABOT_OK : rc;
}

/* key's record is gone. Best effort: an entry left is the sweep's. */
static void pending_remove(wabot_ctx *ctx, const char *key)
{
    if (indexed(ctx))
        (void)wabot_storage_sorted_remove(ctx->storage, PENDING_INDEX, key,
                                          strlen(key));
}

/* ------------------------------------------------------------------ */
/* Relay                                                               */

/* Enqueue every job (a job that exists already was relayed before: fine).
 * WABOT_OK when all are on their queues. */
static int relay_jobs(wabot_ctx *ctx, const wb_outjob *jobs, size_t n)
{
    int first = WABOT_OK;
    for (size_t i = 0; i < n; i++) {
        const wb_outjob *j = &jobs[i];
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = j->id;
        spec.run_at_ms = j->run_at > 0 ? j->run_at : 0;
        spec.max_attempts = j->max_attempts;
        spec.backoff = j->backoff;
        spec.backoff_ms = j->backoff_ms;
        spec.backoff_max_ms = j->backoff_max_ms;
        spec.jitter_pct = j->jitter_pct;
        spec.priority = j->priority;
        int rc = wabot_job_enqueue(ctx, j->queue, j->payload, j->len, &spec,
                                   NULL);
        if (rc == WABOT_ERR_EXISTS) {
            if (strcmp(j->queue, WABOT_QUEUE_OUTBOUND) == 0)
                wb_count(ctx, "outbound.duplicates", 1);
            continue;
        }
        if (rc != WABOT_OK) {
            wb_log(ctx, WABOT_LOG_WARN, MODULE, "job %s on %s not relayed "
                   "yet (the sweep retries): %s", j->id, j->queue,
                   wabot_strerror(rc));
            if (first == WABOT_OK)
                first = rc;
        }
    }
    return first;
}

/* Relay the record at `key` (version `version`) and delete it. */
static int relay_record(wabot_ctx *ctx, const char *key, const char *val,
                        size_t len, uint64_t version)
{
    wb_outjob *jobs;
    size_t n;
    int rc = decode_jobs(&ctx->alloc, val, len, &jobs, &n);
    if (rc == WABOT_ERR_PARSE) {
        wb_log(ctx, WABOT_LOG_ERROR, MODULE, "outbox record %s is corrupt; "
               "dropped", key);
        wb_count(ctx, "outbox.corrupt", 1);
        if (wabot_storage_del_if(ctx->storage, key, version) == WABOT_OK)
            pending_remove(ctx, key);
        return rc;
    }
    if (rc != WABOT_OK)
        return rc;
    rc = relay_jobs(ctx, jobs, n);
    for (size_t i = 0; i < n; i++)
        wb_outjob_free(&ctx->alloc, &jobs[i]);
    wb_free(&ctx->alloc, jobs);
    if (rc == WABOT_OK) {
        /* Changed since it was read: whoever changed it takes it out. */
        if (wabot_storage_del_if(ctx->storage, key, version) == WABOT_OK)
            pending_remove(ctx, key);
        wb_count(ctx, "outbox.relayed", 1);
    }
    return rc;
}

/* Read the record at key and relay it: 1 relayed, 0 absent, or a
 * negative status. */
static int relay_key(wabot_ctx *ctx, const char *key)
{
    char *val = NULL;
    size_t len = 0;
    uint64_t version = 0;
    int rc = wabot_storage_get_record(ctx->storage, key, &outbox_schema,
                                      &val, &len, &version);
    if (rc == WABOT_ERR_NOT_FOUND)
        return 0;
    if (rc == WABOT_OK)
        rc = relay_record(ctx, key, val, len, version);
    free(val);
    return rc == WABOT_OK ? 1 : rc;
}

/* ------------------------------------------------------------------ */
/* The turn's commit                                                   */

/* The marker: 1 present, 0 absent, or a negative status. */
static int marker_exists(wabot_turn *t, const char *key)
{
    int fast = wb_turn_fast_committed(t); /* the fast path's begin saw it */
    if (fast >= 0)
        return fast;
    char *val = NULL;
    int rc = wabot_storage_get(t->ctx->storage, key, &val, NULL, NULL);
    free(val);
    if (rc == WABOT_ERR_NOT_FOUND)
        return 0;
    if (rc != WABOT_OK)
        return wb_error(t->ctx, rc, "reading turn marker %s: %s", key,
                        wabot_strerror(rc));
    return 1;
}

int wb_turn_committed_before(wabot_turn *t)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    if (key_of(key, "turn", t->org, t->customer, wabot_message_id(t->msg)))
        return WABOT_ERR_INVAL;
    int rc = marker_exists(t, key);
    if (rc <= 0)
        return rc;
    /* Committed by an earlier attempt that died before it was done: what
     * its record still holds goes out now; the handlers do not run. */
    if (key_of(key, "outbox", t->org, t->customer, wabot_message_id(t->msg)))
        return WABOT_ERR_INVAL;
    rc = relay_key(t->ctx, key);
    if (rc < 0 && rc != WABOT_ERR_PARSE)
        return wb_error(t->ctx, rc, "relaying outbox %s: %s", key,
                        wabot_strerror(rc));
    wb_count(t->ctx, "outbox.recovered_turns", 1);
    return 1;
}

/* The replies that leave through the outbound queue (inline TwiML ones are
 * the webhook's answer) become jobs. */
static int collect_replies(wabot_turn *t)
{
    for (size_t i = 0; i < t->n_replies; i++) {
        if (wb_reply_inline_ok(t, i))
            continue;
        if (reply_job(t, t->replies[i]) != WABOT_OK)
            return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    return WABOT_OK;
}

/* Drop the jobs from index `keep` on: the replies' jobs (a re-run collects
 * them again). */
static void drop_jobs(wabot_turn *t, size_t keep)
{
    for (size_t i = keep; i < t->n_jobs; i++)
        wb_outjob_free(&t->ctx->alloc, &t->jobs[i]);
    t->n_jobs = keep;
}

static int add_ops(wabot_turn *t, wabot_storage_txn *txn, int save_state,
                   const char *outbox_key, const char *turn_key,
                   size_t *conv_op)
{
    wabot_ctx *ctx = t->ctx;
    int rc = WABOT_OK;
    *conv_op = (size_t)-1;
    if (save_state) {
        wb_conv c = {t->state, t->session, t->version};
        char key[WB_STORAGE_KEY_MAX + 1];
        char *rec = NULL;
        size_t len = 0;
        rc = wb_conv_encode(ctx, t->org, t->customer, &c, key, &rec, &len);
        if (rc != WABOT_OK)
            return rc;
        *conv_op = wabot_storage_txn_count(txn);
        rc = wabot_storage_txn_cas(txn, key, t->version, rec, len,
                                   ctx->cfg.state_ttl_ms);
        wabot_free(rec);
    }
    if (rc == WABOT_OK && t->n_jobs > 0) {
        size_t len = 0;
        char *jobs = encode_jobs(&ctx->alloc, t->jobs, t->n_jobs,
                                 wb_now(ctx), &len);
        char *rec = NULL;
        size_t rlen = 0;
        rc = jobs ? wabot_storage_record_encode(OUTBOX_SCHEMA, jobs, len,
                                                &rec, &rlen)
                  : WABOT_ERR_NOMEM;
        wb_free(&ctx->alloc, jobs);
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_set(txn, outbox_key, rec, rlen,
                                       OUTBOX_TTL_MS);
        wabot_free(rec);
    }
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_cas(txn, turn_key, 0, "1", 1,
                                   ctx->cfg.dedup_ttl_ms);
    return rc;
}

/* The fast path's commit (outbox.h): the jobs go onto their queues in
 * the same atomic step, so no outbox record is written. WABOT_OK,
 * WABOT_ERR_CONFLICT (res->failed says which), a storage failure, or
 * WABOT_ERR_UNSUPPORTED: a job the backend may not take as it is (the
 * generic path's relay reports it). */
static int fast_commit(wabot_turn *t, int save_state, const char *turn_key,
                       wb_turn_commit_res *res)
{
    wabot_ctx *ctx = t->ctx;
    wb_turn_fast *f = t->fast;
    if (t->n_jobs > WB_TURN_MAX_JOBS)
        return WABOT_ERR_UNSUPPORTED;
    int64_t now = wb_now(ctx);
    wabot_job_record recs[MAX_TURN_JOBS * 2 + 1];
    const char *queues[MAX_TURN_JOBS * 2 + 1];
    if (t->n_jobs > sizeof recs / sizeof recs[0])
        return WABOT_ERR_UNSUPPORTED;
    for (size_t i = 0; i < t->n_jobs; i++) {
        const wb_outjob *j = &t->jobs[i];
        wabot_job_record *r = &recs[i];
        memset(r, 0, sizeof *r);
        r->version = WABOT_JOB_RECORD_VERSION;
        r->id = j->id;
        r->payload = j->payload;
        r->payload_len = j->len;
        r->max_attempts = j->max_attempts;
        r->created_ms = now;
        r->run_at_ms = j->run_at > 0 ? j->run_at : now;
        r->backoff = j->backoff;
        r->backoff_ms = j->backoff_ms;
        r->backoff_max_ms = j->backoff_max_ms;
        r->jitter_pct = j->jitter_pct;
        r->priority = j->priority;
        queues[i] = j->queue;
        if (!wb_queue_name_ok(j->queue) || !wb_job_record_ok(r))
            return WABOT_ERR_UNSUPPORTED;
    }
    char conv_key[WB_STORAGE_KEY_MAX + 1];
    char *rec = NULL;
    size_t len = 0;
    if (save_state) {
        wb_conv c = {t->state, t->session, t->version};
        int rc = wb_conv_encode(ctx, t->org, t->customer, &c, conv_key, &rec,
                                &len);
        if (rc != WABOT_OK)
            return rc;
    }
    /* Jobs leased at commit: a job due now on a queue this process works
     * is enqueued reserved by it and started from memory (no reserve, no
     * poll); see wb_jobs_intake_room. */
    int64_t leases[MAX_TURN_JOBS * 2 + 1];
    for (size_t i = 0; i < t->n_jobs; i++)
        if (!wb_jobs_intake_room(ctx, queues[i], recs[i].run_at_ms, now,
                                 &leases[i]))
            leases[i] = 0;
    wb_turn_commit_req req = {
        save_state ? conv_key : NULL, t->version, rec, len,
        ctx->cfg.state_ttl_ms, turn_key, ctx->cfg.dedup_ttl_ms,
        f->claim_held ? f->done_key : NULL, WB_DEDUP_DONE_VALUE,
        ctx->cfg.dedup_ttl_ms, queues, recs, t->n_jobs, now, leases};
    wb_failpoint(ctx, "outbox.before_commit");
    int rc = f->path->commit(ctx->storage, &req, res);
    wabot_free(rec);
    if (rc != WABOT_OK) {
        for (size_t i = 0; i < t->n_jobs; i++)
            if (leases[i] > 0)
                wb_jobs_intake_cancel(ctx, queues[i]);
        return rc;
    }
    f->relayed = 1;
    f->done = f->claim_held;
    for (size_t i = 0; i < t->n_jobs; i++) {
        if (res->token[i] != 0 && leases[i] > 0) {
            wabot_job_record r = recs[i];
            r.state = WABOT_JOB_ACTIVE;
            r.attempts = 1;
            r.token = res->token[i];
            r.lease_until_ms = leases[i];
            wb_jobs_intake_push(ctx, queues[i], &r, t->jobs[i].inbound_ms);
            continue;
        }
        if (leases[i] > 0)
            wb_jobs_intake_cancel(ctx, queues[i]);
        if (!res->existed[i])
            wb_job_enqueued(ctx, queues[i], recs[i].run_at_ms);
        else if (strcmp(queues[i], WABOT_QUEUE_OUTBOUND) == 0)
            wb_count(ctx, "outbound.duplicates", 1);
    }
    return WABOT_OK;
}

int wb_turn_commit(wabot_turn *t, int save_state)
{
    wabot_ctx *ctx = t->ctx;
    size_t own_jobs = t->n_jobs;
    int rc = collect_replies(t);
    if (rc != WABOT_OK)
        return rc;
    if (!save_state && t->n_jobs == 0)
        return WABOT_OK; /* nothing to make durable */
    const char *msg = wabot_message_id(t->msg);
    char outbox_key[WB_STORAGE_KEY_MAX + 1], turn_key[WB_STORAGE_KEY_MAX + 1];
    if (key_of(outbox_key, "outbox", t->org, t->customer, msg) ||
        key_of(turn_key, "turn", t->org, t->customer, msg)) {
        drop_jobs(t, own_jobs);
        return wb_error(ctx, WABOT_ERR_INVAL, "organisation, customer and "
                        "message id are too long for a storage key");
    }
    size_t conv_op = 0, failed = (size_t)-1;
    uint64_t version = 0;
    wb_turn_commit_res fres;
    rc = t->fast ? fast_commit(t, save_state, turn_key, &fres)
                 : WABOT_ERR_UNSUPPORTED;
    if (rc != WABOT_ERR_UNSUPPORTED) {
        conv_op = 0;
        failed = rc == WABOT_ERR_CONFLICT ? (size_t)fres.failed : failed;
        version = rc == WABOT_OK && save_state ? fres.conv_version : 0;
    } else {
        wabot_storage_txn *txn = wabot_storage_txn_new(ctx->storage);
        rc = txn ? add_ops(t, txn, save_state, outbox_key, turn_key,
                           &conv_op)
                 : WABOT_ERR_NOMEM;
        /* Listed before it can exist; on a failure the entry stays for
         * the sweep (a conflict may mean another attempt's record). */
        if (rc == WABOT_OK && t->n_jobs > 0)
            rc = pending_add(ctx, outbox_key, wb_now(ctx));
        if (rc == WABOT_OK) {
            wb_failpoint(ctx, "outbox.before_commit");
            rc = wabot_storage_txn_commit(txn, &failed);
        }
        version = rc == WABOT_OK && conv_op != (size_t)-1
                      ? wabot_storage_txn_version(txn, conv_op)
                      : 0;
        wabot_storage_txn_free(txn);
    }
    if (rc == WABOT_ERR_CONFLICT && failed == conv_op) {
        drop_jobs(t, own_jobs);
        wb_count(ctx, "state.conflicts", 1);
        return wb_error(ctx, rc, "conversation of %s changed since it was "
                        "loaded", t->customer);
    }
    if (rc == WABOT_ERR_CONFLICT) {
        /* The marker exists: another attempt committed this message while
         * ours ran (its claim had expired). Its effects stand, ours go. */
        drop_jobs(t, own_jobs);
        wb_count(ctx, "outbox.lost_race", 1);
        t->committed_elsewhere = 1;
        return WABOT_OK;
    }
    if (rc != WABOT_OK) {
        drop_jobs(t, own_jobs);
        return wb_error(ctx, rc, "committing the turn of %s: %s %s",
                        t->customer, wabot_strerror(rc),
                        wabot_storage_errmsg(ctx->storage));
    }
    wb_failpoint(ctx, "outbox.after_commit");
    if (version)
        t->version = version;
    t->committed = 1;
    wb_count(ctx, "outbox.commits", 1);
    return WABOT_OK;
}

int wb_turn_marker_droppable(const wabot_turn *t)
{
    return t->committed && !t->fast && t->ctx->storage->process_local;
}

void wb_turn_marker_drop(wabot_turn *t)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    if (!wb_turn_marker_droppable(t) ||
        key_of(key, "turn", t->org, t->customer, wabot_message_id(t->msg)))
        return;
    int rc = wabot_storage_del(t->ctx->storage, key);
    if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
        wb_log(t->ctx, WABOT_LOG_WARN, MODULE, "turn marker %s not dropped: "
               "%s (it expires)", key, wabot_strerror(rc));
}

int wb_turn_relay(wabot_turn *t)
{
    if (!t->committed || t->n_jobs == 0 || (t->fast && t->fast->relayed))
        return WABOT_OK;
    wabot_ctx *ctx = t->ctx;
    int rc = relay_jobs(ctx, t->jobs, t->n_jobs);
    if (rc != WABOT_OK)
        return rc; /* durable in the outbox: a redelivery or the sweep */
    char key[WB_STORAGE_KEY_MAX + 1];
    if (key_of(key, "outbox", t->org, t->customer, wabot_message_id(t->msg)) ==
            WABOT_OK &&
        wabot_storage_del(ctx->storage, key) == WABOT_OK)
        pending_remove(ctx, key);
    return WABOT_OK;
}

void wb_turn_jobs_free(wabot_turn *t)
{
    for (size_t i = 0; i < t->n_jobs; i++)
        wb_outjob_free(&t->ctx->alloc, &t->jobs[i]);
    wb_free(&t->ctx->alloc, t->jobs);
    t->jobs = NULL;
    t->n_jobs = t->cap_jobs = 0;
}

/* ------------------------------------------------------------------ */
/* The sweep                                                           */

/* The creation time at the head of a record, or -1 when there is none
 * (a corrupt record: relaying it drops and counts it). */
static int64_t record_created(const char *payload, size_t len)
{
    reader r = {payload, payload + len};
    unsigned long long when;
    return get_number(&r, INT64_MAX, '\n', &when) == 0 ? (int64_t)when : -1;
}

static int relayed_note(wabot_ctx *ctx, int relayed)
{
    if (relayed > 0)
        wb_log(ctx, WABOT_LOG_INFO, MODULE, "sweep relayed %d outbox "
               "record(s) left by earlier turns", relayed);
    return relayed;
}

int wb_outbox_sweep_all(wabot_ctx *ctx, int64_t grace_ms, size_t max_records)
{
    int64_t now = wb_now(ctx);
    char *cursor = NULL; /* storage cursors have no fixed length */
    size_t seen = 0;
    int relayed = 0;
    do {
        wabot_storage_items *page = NULL;
        int rc = wabot_storage_scan(ctx->storage, "outbox:",
                                    cursor != NULL ? cursor : "0", 100,
                                    WABOT_STORAGE_SCAN_VALUES, &page);
        if (rc != WABOT_OK) {
            wb_free(&ctx->alloc, cursor);
            return rc == WABOT_ERR_UNSUPPORTED ? 0 : rc;
        }
        for (size_t i = 0; i < wabot_storage_items_count(page); i++) {
            size_t vlen = 0;
            const char *key = wabot_storage_items_key(page, i, NULL);
            const char *val = wabot_storage_items_value(page, i, &vlen);
            char *payload = NULL;
            size_t plen = 0;
            uint32_t stored = 0;
            if (!val || wabot_storage_record_decode(&outbox_schema, val, vlen,
                                                    &payload, &plen, &stored))
                continue;
            /* Young records belong to turns still relaying them. */
            int young = record_created(payload, plen) > now - grace_ms;
            if (!young &&
                relay_record(ctx, key, payload, plen,
                             wabot_storage_items_version(page, i)) ==
                    WABOT_OK)
                relayed++;
            free(payload);
            seen++;
        }
        wb_free(&ctx->alloc, cursor);
        cursor = wb_strdup(&ctx->alloc, wabot_storage_items_cursor(page));
        wabot_storage_items_free(page);
        if (cursor == NULL)
            return wb_error(ctx, WABOT_ERR_NOMEM, "outbox: out of memory");
    } while (strcmp(cursor, "0") != 0 && seen < max_records);
    wb_free(&ctx->alloc, cursor);
    return relayed_note(ctx, relayed);
}

/* The listed record at key: relayed (1), absent (0: its entry goes), or
 * a negative status (the entry stays, the next sweep tries again). */
static int relay_listed(wabot_ctx *ctx, const char *key)
{
    int rc = relay_key(ctx, key);
    if (rc == 0)
        pending_remove(ctx, key);
    return rc;
}

/* The listed records older than the grace period, oldest first. */
static int sweep_listed(wabot_ctx *ctx, int64_t grace_ms, size_t max_records)
{
    int64_t limit = max_records < WABOT_STORAGE_PAGE_MAX
                        ? (int64_t)max_records
                        : WABOT_STORAGE_PAGE_MAX;
    if (limit < 1)
        return 0;
    wabot_storage_items *page = NULL;
    int rc = wabot_storage_sorted_range(ctx->storage, PENDING_INDEX,
                                        WABOT_STORAGE_SCORE_MIN,
                                        wb_now(ctx) - grace_ms, 0, limit, 0,
                                        &page);
    if (rc != WABOT_OK)
        return rc;
    int relayed = 0;
    for (size_t i = 0; i < wabot_storage_items_count(page); i++)
        if (relay_listed(ctx, wabot_storage_items_key(page, i, NULL)) > 0)
            relayed++;
    wabot_storage_items_free(page);
    return relayed_note(ctx, relayed);
}

int wb_outbox_sweep(wabot_ctx *ctx, int64_t grace_ms, size_t max_records)
{
    if (indexed(ctx)) {
        int rc = sweep_listed(ctx, grace_ms, max_records);
        if (rc != WABOT_ERR_UNSUPPORTED)
            return rc;
    }
    return wb_outbox_sweep_all(ctx, grace_ms, max_records);
}

/* ------------------------------------------------------------------ */
/* The module: the sweep on the loop                                   */

enum { OPT_SWEEP_MS, OPT_GRACE_MS };

static const wabot_option_def outbox_options[] = {
    {WABOT_OPTION_DEF_VERSION, "sweep_ms", WABOT_OPTION_DURATION, 0, 10000,
     0, 24LL * 3600 * 1000, NULL,
     "how often the loop relays outbox records a dead process left "
     "(0 = never)",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "grace_ms", WABOT_OPTION_DURATION, 0, 30000,
     1000, 24LL * 3600 * 1000, NULL,
     "age of an outbox record before the sweep relays it", NULL, NULL,
     NULL},
};

typedef struct sweeper {
    wabot_module *m;
    int64_t next;
    int scanned; /* the first sweep scanned every outbox: key */
} sweeper;

static int64_t sweep_deadline(void *ud)
{
    const sweeper *s = ud;
    return s->next;
}

static void sweep_fire(void *ud)
{
    sweeper *s = ud;
    wabot_ctx *ctx = wabot_module_ctx(s->m);
    int64_t every = 0, grace = 0;
    wabot_module_option_int(s->m, NULL, OPT_SWEEP_MS, &every);
    wabot_module_option_int(s->m, NULL, OPT_GRACE_MS, &grace);
    /* Once per process the whole keyspace: records written before the
     * pending index existed (an older version) are not listed in it. */
    int rc = s->scanned ? wb_outbox_sweep(ctx, grace, 1000)
                        : wb_outbox_sweep_all(ctx, grace, 1000);
    s->scanned = 1;
    if (rc < 0)
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "sweep: %s", wabot_strerror(rc));
    s->next = wb_now(ctx) + every;
}

static int outbox_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    int64_t every = 0;
    wabot_module_option_int(m, NULL, OPT_SWEEP_MS, &every);
    if (every == 0)
        return WABOT_OK;
    sweeper *s = wb_calloc(&ctx->alloc, 1, sizeof *s);
    if (!s)
        return WABOT_ERR_NOMEM;
    s->m = m;
    s->next = wb_now(ctx) + every;
    wabot_module_set_data(m, s);
    wb_source src = {sweep_deadline, sweep_fire, s, 1};
    return wb_loop_add_source(ctx, &src);
}

static void outbox_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wb_free(&wabot_module_ctx(m)->alloc, wabot_module_data(m));
}

const wabot_module_def wb_outbox_module = {
    WABOT_MODULE_DEF_VERSION, "outbox",
    "a turn's effects commit as one unit; the sweep relays what a dead "
    "process left",
    NULL, outbox_options, 2, NULL, outbox_create, outbox_destroy};
