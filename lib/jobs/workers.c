/* Jobs through a context: enqueueing, workers, outcomes, dispatch.
 *
 * The scheduler backend stores jobs; this file decides what happens to
 * them: which worker runs a reserved job, whether a failure is retried
 * (backoff with jitter) or final, when leases are renewed and stalled jobs
 * recovered, and when finished jobs are trimmed. Everything here that
 * touches active jobs runs on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "metrics.h"
#include "runtime.h"
#include "strbuf.h"

#define DAY_MS (24LL * 3600 * 1000)
#define TRIM_EVERY 64 /* finished jobs between two trims of a queue */

static const char *library_queues[] = {
    WABOT_QUEUE_OUTBOUND, WABOT_QUEUE_ORDERS, WABOT_QUEUE_INVOICES,
    WABOT_QUEUE_REMINDERS, WABOT_QUEUE_CAMPAIGNS};

static int queue_name_ok(const char *q)
{
    size_t n = q ? strlen(q) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
              (*q >= '0' && *q <= '9') || strchr("._:-", *q)))
            return 0;
    return 1;
}

wb_queue *wb_queue_find(wabot_ctx *ctx, const char *name)
{
    wb_runtime *rt = ctx->rt;
    for (size_t i = 0; i < rt->n_queues; i++)
        if (strcmp(rt->queues[i].name, name) == 0)
            return &rt->queues[i];
    return NULL;
}

/* Find or add. Registration happens before serving, so the array may
 * move; pointers to queues are taken only after setup. */
static wb_queue *queue_get(wabot_ctx *ctx, const char *name)
{
    wb_runtime *rt = ctx->rt;
    wb_queue *q = wb_queue_find(ctx, name);
    if (q)
        return q;
    if (rt->n_queues == rt->cap_queues) {
        size_t cap = rt->cap_queues ? rt->cap_queues * 2 : 8;
        wb_queue *qs = wb_realloc(&ctx->alloc, rt->queues, cap * sizeof *qs);
        if (!qs)
            return NULL;
        rt->queues = qs;
        rt->cap_queues = cap;
    }
    q = &rt->queues[rt->n_queues];
    memset(q, 0, sizeof *q);
    if (!(q->name = wb_strdup(&ctx->alloc, name)))
        return NULL;
    q->keep = (wb_retention){1000, DAY_MS, 10000, 7 * DAY_MS};
    q->due_ms = WB_DUE_UNKNOWN;
    q->lowered = WB_NO_DEADLINE;
    rt->n_queues++;
    return q;
}

int wb_jobs_init_queues(wabot_ctx *ctx)
{
    for (size_t i = 0; i < sizeof library_queues / sizeof *library_queues; i++)
        if (!queue_get(ctx, library_queues[i]))
            return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

void wb_jobs_free_queues(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    for (size_t i = 0; i < rt->n_queues; i++) {
        if (rt->queues[i].destroy)
            rt->queues[i].destroy(rt->queues[i].ud);
        wb_free(&ctx->alloc, rt->queues[i].name);
    }
    wb_free(&ctx->alloc, rt->queues);
    rt->queues = NULL;
    rt->n_queues = 0;
}

int wabot_queue_add_worker(wabot_ctx *ctx, const char *queue,
                           wabot_job_fn fn, void *ud,
                           wabot_destroy_fn destroy, int concurrency)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!queue_name_ok(queue))
        return wb_error(ctx, WABOT_ERR_INVAL, "bad queue name");
    if (!fn || concurrency < 1)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "worker needs a function and concurrency >= 1");
    wb_queue *q = queue_get(ctx, queue);
    if (!q)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (q->fn)
        return wb_error(ctx, WABOT_ERR_EXISTS,
                        "queue %s already has a worker", queue);
    q->fn = fn;
    q->ud = ud;
    q->destroy = destroy;
    q->concurrency = concurrency;
    return WABOT_OK;
}

int wabot_queue_set_retention(wabot_ctx *ctx, const char *queue,
                              int64_t completed_keep_n,
                              int64_t completed_keep_ms,
                              int64_t failed_keep_n, int64_t failed_keep_ms)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!queue_name_ok(queue))
        return wb_error(ctx, WABOT_ERR_INVAL, "bad queue name");
    if (completed_keep_n < 0 || completed_keep_ms < 0 || failed_keep_n < 0 ||
        failed_keep_ms < 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "retention must be >= 0");
    wb_queue *q = queue_get(ctx, queue);
    if (!q)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    q->keep = (wb_retention){completed_keep_n, completed_keep_ms,
                             failed_keep_n, failed_keep_ms};
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Randomness for ids and jitter: SplitMix64, seeded per context.      */

/* Every reply's id takes one, on every webhook thread: the state is a
 * counter stepped by one atomic add (no lock), and each step's value is
 * mixed into the output (Steele, Lea and Flood's SplitMix64). */
uint64_t wb_random(wabot_ctx *ctx)
{
    uint64_t z = __atomic_add_fetch(&ctx->rt->rng, 0x9E3779B97F4A7C15ULL,
                                    __ATOMIC_RELAXED);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int64_t wb_backoff_delay(wabot_ctx *ctx, const wabot_job_record *rec,
                         int attempt)
{
    int64_t d = rec->backoff_ms > 0 ? rec->backoff_ms : 1000;
    int64_t cap = rec->backoff_max_ms > 0 ? rec->backoff_max_ms : INT64_MAX;
    if (rec->backoff == WABOT_BACKOFF_EXPONENTIAL)
        for (int i = 1; i < attempt && d < cap; i++)
            d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
    if (d > cap)
        d = cap;
    int j = rec->jitter_pct < 0 ? 0 : rec->jitter_pct > 100 ? 100
                                                             : rec->jitter_pct;
    int64_t spread = d / 100 * j + (d % 100) * j / 100;
    if (spread > 0)
        d -= (int64_t)(wb_random(ctx) % (uint64_t)(spread + 1));
    return d;
}

/* ------------------------------------------------------------------ */
/* Enqueue and inspection.                                              */

static int spec_to_record(wabot_ctx *ctx, const wabot_job_spec *spec,
                          const char *payload, size_t len, int64_t now,
                          char *idbuf, size_t idsz, wabot_job_record *rec)
{
    wabot_job_spec dflt;
    if (!spec) {
        wabot_job_spec_init(&dflt);
        spec = &dflt;
    }
    if (spec->version < 1)
        return wb_error(ctx, WABOT_ERR_INVAL, "job spec version must be >= 1");
    if (spec->max_attempts < 1 || spec->delay_ms < 0 || spec->run_at_ms < 0 ||
        spec->backoff_ms < 0 || spec->backoff_max_ms < 0 ||
        spec->jitter_pct < 0 || spec->jitter_pct > 100 ||
        (spec->backoff != WABOT_BACKOFF_FIXED &&
         spec->backoff != WABOT_BACKOFF_EXPONENTIAL))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "job spec out of range (max_attempts >= 1, delays >= "
                        "0, jitter 0..100, known backoff)");
    const char *id = spec->job_id;
    if (!id) {
        snprintf(idbuf, idsz, "%016llx", (unsigned long long)wb_random(ctx));
        id = idbuf;
    }
    memset(rec, 0, sizeof *rec);
    rec->version = WABOT_JOB_RECORD_VERSION;
    rec->id = id;
    rec->payload = payload;
    rec->payload_len = len;
    rec->max_attempts = spec->max_attempts;
    rec->created_ms = now;
    rec->run_at_ms = spec->run_at_ms ? spec->run_at_ms : now + spec->delay_ms;
    rec->backoff = spec->backoff;
    rec->backoff_ms = spec->backoff_ms;
    rec->backoff_max_ms = spec->backoff_max_ms;
    rec->jitter_pct = spec->jitter_pct;
    rec->priority = spec->priority;
    return WABOT_OK;
}

int wabot_job_enqueue(wabot_ctx *ctx, const char *queue, const char *payload,
                      size_t len, const wabot_job_spec *spec, char **job_id)
{
    if (job_id)
        *job_id = NULL;
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!queue_name_ok(queue))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "queue name must be 1..64 bytes of [A-Za-z0-9._:-]");
    if (!payload && len)
        return wb_error(ctx, WABOT_ERR_INVAL, "payload is NULL");
    char idbuf[32];
    wabot_job_record rec;
    int rc = spec_to_record(ctx, spec, payload ? payload : "", len,
                            wb_now(ctx), idbuf, sizeof idbuf, &rec);
    if (rc != WABOT_OK)
        return rc;
    rc = wabot_scheduler_enqueue(ctx->rt->sched, queue, &rec, rec.created_ms);
    if (rc != WABOT_OK && rc != WABOT_ERR_EXISTS)
        return wb_error(ctx, rc, "enqueue on %s failed: %s", queue,
                        wabot_strerror(rc));
    if (job_id && !(*job_id = wb_strdup(&ctx->alloc, rec.id)))
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (rc == WABOT_ERR_EXISTS)
        return wb_error(ctx, rc, "job %s already exists on %s", rec.id, queue);
    wb_job_enqueued(ctx, queue, rec.run_at_ms);
    return WABOT_OK;
}

/* The records of wabot_job_enqueue_many's jobs, each checked; ids[i]
 * holds a generated id. */
static int many_records(wabot_ctx *ctx, size_t n, const char *const *payloads,
                        const size_t *lens, const wabot_job_spec *const *specs,
                        char (*ids)[32], wabot_job_record *recs)
{
    int64_t now = wb_now(ctx); /* one instant: due now means waiting */
    for (size_t i = 0; i < n; i++) {
        const char *p = payloads[i] ? payloads[i] : "";
        size_t len = lens ? lens[i] : strlen(p);
        if (!payloads[i] && len)
            return wb_error(ctx, WABOT_ERR_INVAL, "payload %zu is NULL", i);
        int rc = spec_to_record(ctx, specs ? specs[i] : NULL, p, len, now,
                                ids[i], sizeof ids[i], &recs[i]);
        if (rc != WABOT_OK) {
            char why[200];
            snprintf(why, sizeof why, "%s", wabot_ctx_errmsg(ctx));
            return wb_error(ctx, rc, "job %zu: %s", i, why);
        }
        if (!wb_job_id_ok(recs[i].id))
            return wb_error(ctx, WABOT_ERR_INVAL,
                            "job %zu: a job id is 1..256 bytes without "
                            "control characters", i);
    }
    return WABOT_OK;
}

int wabot_job_enqueue_many(wabot_ctx *ctx, const char *queue, size_t n,
                           const char *const *payloads, const size_t *lens,
                           const wabot_job_spec *const *specs, char **job_ids,
                           int *results)
{
    for (size_t i = 0; job_ids && i < n && i < WABOT_JOB_ENQUEUE_MANY_MAX; i++)
        job_ids[i] = NULL;
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (n < 1 || n > WABOT_JOB_ENQUEUE_MANY_MAX || !payloads)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "enqueue_many takes 1..%d jobs and their payloads",
                        WABOT_JOB_ENQUEUE_MANY_MAX);
    if (!queue_name_ok(queue))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "queue name must be 1..64 bytes of [A-Za-z0-9._:-]");
    const wabot_allocator *a = &ctx->alloc;
    char (*ids)[32] = wb_malloc(a, n * sizeof *ids);
    wabot_job_record *recs = wb_malloc(a, n * sizeof *recs);
    int *res = results ? results : wb_malloc(a, n * sizeof *res);
    int rc = ids && recs && res ? WABOT_OK
                                : wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (rc == WABOT_OK)
        rc = many_records(ctx, n, payloads, lens, specs, ids, recs);
    if (rc == WABOT_OK)
        wb_scheduler_enqueue_many(ctx->rt->sched, queue, n, recs,
                                  recs[0].created_ms, res);
    for (size_t i = 0; rc != WABOT_OK && results && i < n; i++)
        results[i] = rc; /* refused before the queue: none went in */
    size_t failed = 0, first = 0;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        if (res[i] == WABOT_OK)
            wb_job_enqueued(ctx, queue, recs[i].run_at_ms);
        else if (res[i] != WABOT_ERR_EXISTS && failed++ == 0)
            first = i;
    }
    for (size_t i = 0; rc == WABOT_OK && job_ids && i < n; i++)
        if ((res[i] == WABOT_OK || res[i] == WABOT_ERR_EXISTS) &&
            !(job_ids[i] = wb_strdup(a, recs[i].id)))
            rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (rc == WABOT_OK && failed)
        rc = wb_error(ctx, res[first], "enqueue on %s: %zu of %zu jobs failed "
                      "(job %zu: %s)", queue, failed, n, first,
                      wabot_strerror(res[first]));
    if (res != results)
        wb_free(a, res);
    wb_free(a, recs);
    wb_free(a, ids);
    return rc;
}

int wb_jobs_each_failed(wabot_ctx *ctx, const char *queue, int64_t offset,
                        int64_t limit, wb_job_visit_fn fn, void *ud,
                        int64_t *total)
{
    if (!queue_name_ok(queue))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "queue name must be 1..64 bytes of [A-Za-z0-9._:-]");
    wabot_scheduler *s = ctx->rt->sched;
    if (s->failed == NULL)
        return wb_error(ctx, WABOT_ERR_UNSUPPORTED,
                        "the %s job backend cannot list failed jobs",
                        s->name);
    int rc = s->failed->each(s->impl, queue, offset, limit, fn, ud, total);
    return rc == WABOT_OK ? rc
                          : wb_error(ctx, rc, "listing failed jobs: %s",
                                     wabot_strerror(rc));
}

int wb_jobs_retry_failed(wabot_ctx *ctx, const char *queue, const char *id)
{
    if (!queue_name_ok(queue) || id == NULL || !wb_job_id_ok(id))
        return wb_error(ctx, WABOT_ERR_INVAL, "bad queue name or job id");
    wabot_scheduler *s = ctx->rt->sched;
    if (s->failed == NULL)
        return wb_error(ctx, WABOT_ERR_UNSUPPORTED,
                        "the %s job backend cannot retry failed jobs",
                        s->name);
    int64_t now = wb_now(ctx);
    int rc = s->failed->retry(s->impl, queue, id, now);
    if (rc == WABOT_ERR_STATE)
        return wb_error(ctx, rc, "job %s of %s has not failed", id, queue);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "job %s of %s: %s", id, queue,
                        wabot_strerror(rc));
    wb_count(ctx, "jobs.retried_by_admin", 1);
    wb_job_enqueued(ctx, queue, now);
    return WABOT_OK;
}

/* *v = min(*v, at), atomically; an unknown *v stays unknown. */
static void atomic_lower(int64_t *v, int64_t at)
{
    int64_t cur = __atomic_load_n(v, __ATOMIC_SEQ_CST);
    while (cur != WB_DUE_UNKNOWN && at < cur &&
           !__atomic_compare_exchange_n(v, &cur, at, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
        ;
}

/* Something of q may be due at `at`: the cached due time must not be
 * later. `lowered` first, then due_ms: see due_store. */
static void due_lower(wb_queue *q, int64_t at)
{
    atomic_lower(&q->lowered, at);
    atomic_lower(&q->due_ms, at);
}

/* Before asking the backend: collect the lowerings made meanwhile. */
static void due_begin(wb_queue *q)
{
    __atomic_store_n(&q->lowered, WB_NO_DEADLINE, __ATOMIC_SEQ_CST);
}

/* The backend's answer (asked after due_begin), then every lowering made
 * since: one that wrote due_ms before this store wrote `lowered` before
 * it too, so it is read here; a later one lowers due_ms itself. */
static void due_store(wb_queue *q, int64_t due)
{
    __atomic_store_n(&q->due_ms, due, __ATOMIC_SEQ_CST);
    atomic_lower(&q->due_ms, __atomic_load_n(&q->lowered, __ATOMIC_SEQ_CST));
}

void wb_job_enqueued(wabot_ctx *ctx, const char *queue, int64_t run_at_ms)
{
    wb_count(ctx, "jobs.enqueued", 1);
    wb_queue *q = wb_queue_find(ctx, queue);
    if (q)
        due_lower(q, run_at_ms);
    if (q && q->fn)
        wb_loop_notify(ctx, run_at_ms);
}

int wabot_job_get(wabot_ctx *ctx, const char *queue, const char *id,
                  wabot_job_info **out)
{
    if (!ctx || !out)
        return WABOT_ERR_INVAL;
    *out = wabot_job_info_new();
    if (!*out)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    int rc = wabot_scheduler_get(ctx->rt->sched, queue, id, *out);
    if (rc != WABOT_OK) {
        wabot_job_info_free(*out);
        *out = NULL;
        return wb_error(ctx, rc, "job %s on %s: %s", id ? id : "(null)",
                        queue ? queue : "(null)", wabot_strerror(rc));
    }
    return WABOT_OK;
}

int wabot_job_cancel(wabot_ctx *ctx, const char *queue, const char *id)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    int rc = wabot_scheduler_cancel(ctx->rt->sched, queue, id);
    return rc == WABOT_OK ? rc
                          : wb_error(ctx, rc, "cancel %s: %s", id ? id : "",
                                     wabot_strerror(rc));
}

int wabot_queue_counts(wabot_ctx *ctx, const char *queue, int64_t *counts,
                       size_t n)
{
    if (!ctx || !counts)
        return WABOT_ERR_INVAL;
    int rc = wabot_scheduler_counts(ctx->rt->sched, queue, counts, n);
    return rc == WABOT_OK ? rc : wb_error(ctx, rc, "counts of %s: %s",
                                          queue ? queue : "(null)",
                                          wabot_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* The active job handed to a worker.                                   */

wabot_ctx *wabot_job_ctx(const wabot_job *j) { return j ? j->ctx : NULL; }
const char *wabot_job_queue(const wabot_job *j) { return j ? j->q->name : ""; }
const char *wabot_job_id(const wabot_job *j) { return j ? j->rec->id : ""; }

const char *wabot_job_payload(const wabot_job *j, size_t *len)
{
    if (len)
        *len = j ? j->rec->payload_len : 0;
    return j ? j->rec->payload : "";
}

void *wabot_job_user(const wabot_job *j) { return j ? j->user : NULL; }

void wabot_job_set_user(wabot_job *j, void *user, wabot_destroy_fn destroy)
{
    if (!j)
        return;
    if (j->user_free && j->user != user)
        j->user_free(j->user);
    j->user = user;
    j->user_free = destroy;
}

int wabot_job_attempt(const wabot_job *j) { return j ? j->rec->attempts : 0; }
int wabot_job_max_attempts(const wabot_job *j)
{
    return j ? j->rec->max_attempts : 0;
}

int wabot_job_set_error(wabot_job *j, const char *reason)
{
    if (!j)
        return WABOT_ERR_INVAL;
    int rc = wb_str_replace(&j->ctx->alloc, &j->error, reason);
    return rc;
}

void wabot_job_set_permanent(wabot_job *j)
{
    if (j)
        j->permanent = 1;
}

void wabot_job_retry_in(wabot_job *j, int64_t ms)
{
    if (j)
        j->retry_in_ms = ms < 0 ? 0 : ms;
}

static void qcount(wabot_ctx *ctx, const wb_queue *q, const char *what)
{
    char name[96];
    /* once per finished job: joined, printf only for a name too long */
    if (WB_JOIN(name, sizeof name, "jobs.", q->name, ".", what) < 0)
        snprintf(name, sizeof name, "jobs.%s.%s", q->name, what);
    wb_count(ctx, name, 1);
}

static void maybe_trim(wabot_ctx *ctx, wb_queue *q, int64_t now)
{
    if (++q->finished_since_trim < TRIM_EVERY)
        return;
    q->finished_since_trim = 0;
    int64_t removed;
    const wb_retention *k = &q->keep;
    wabot_scheduler_trim(ctx->rt->sched, q->name, WABOT_JOB_COMPLETED,
                         k->completed_n,
                         k->completed_ms ? now - k->completed_ms : 0, &removed);
    wabot_scheduler_trim(ctx->rt->sched, q->name, WABOT_JOB_FAILED,
                         k->failed_n, k->failed_ms ? now - k->failed_ms : 0,
                         &removed);
}

/* Apply the outcome to the backend. */
/* Apply the outcome to the backend; the counter moves only once the
 * backend recorded it (a settle may be retried, see job_done). */
static int settle(wabot_job *j, int status, int64_t now)
{
    wabot_ctx *ctx = j->ctx;
    wabot_scheduler *s = ctx->rt->sched;
    const wabot_job_record *r = j->rec;
    const char *q = j->q->name;
    const char *what;
    int rc;
    if (j->retry_in_ms >= 0) {
        what = "throttled";
        rc = wabot_scheduler_release(s, q, r->id, r->token, now,
                                     now + j->retry_in_ms);
        due_lower(j->q, now + j->retry_in_ms);
    } else if (status >= 0) {
        what = "processed";
        rc = wabot_scheduler_complete(s, q, r->id, r->token, now);
    } else if (j->permanent || r->attempts >= r->max_attempts) {
        const char *reason = j->error ? j->error : wabot_strerror(status);
        what = "dead";
        rc = wabot_scheduler_fail(s, q, r->id, r->token, now, reason, -1);
        if (rc == WABOT_OK)
            wb_log(ctx, WABOT_LOG_WARN, "jobs", "job %s on %s failed after "
                   "%d attempt(s)%s: %s", r->id, q, r->attempts,
                   j->permanent ? " (permanent)" : "", reason);
    } else {
        const char *reason = j->error ? j->error : wabot_strerror(status);
        int64_t at = now + wb_backoff_delay(ctx, r, r->attempts);
        what = "retried";
        rc = wabot_scheduler_fail(s, q, r->id, r->token, now, reason, at);
        due_lower(j->q, at);
    }
    if (rc == WABOT_OK)
        qcount(ctx, j->q, what);
    return rc;
}

static void unlink_job(wabot_job *j)
{
    wb_runtime *rt = j->ctx->rt;
    if (j->prev)
        j->prev->next = j->next;
    else
        rt->active = j->next;
    if (j->next)
        j->next->prev = j->prev;
    rt->n_active--;
    j->q->active--;
}

static void job_free(wabot_job *j)
{
    if (j->user_free)
        j->user_free(j->user);
    wabot_job_info_free(j->info);
    wb_free(&j->ctx->alloc, j->error);
    wb_free(&j->ctx->alloc, j);
}

/* The backend could not be reached: the outcome (a message already sent,
 * say) must not be lost, or the job would run again after its lease. */
static int backend_down(int rc)
{
    return rc == WABOT_ERR_STORAGE || rc == WABOT_ERR_TIMEOUT ||
           rc == WABOT_ERR_BUSY || rc == WABOT_ERR_NOMEM;
}

#define SETTLE_RETRY_MS 250

/* The outcome is recorded (rc: how that went): release the job. */
static void job_settled(wabot_job *j, int status, int rc, int64_t now)
{
    wabot_ctx *ctx = j->ctx;
    if (backend_down(rc)) {
        /* Keep the job (and its slot) and record the outcome again soon,
         * while its lease still holds. */
        if (!j->settle_pending)
            wb_log(ctx, WABOT_LOG_WARN, "jobs", "job %s on %s: cannot record "
                   "outcome yet (%s); retrying", j->rec->id, j->q->name,
                   wabot_strerror(rc));
        j->settle_pending = 1;
        j->settle_status = status;
        j->settle_at = now + SETTLE_RETRY_MS;
        return;
    }
    if (rc == WABOT_ERR_CONFLICT) {
        /* The lease expired and the job went back to the queue (maybe to
         * another worker): the fencing token refused this late outcome. */
        qcount(ctx, j->q, "fenced");
        wb_log(ctx, WABOT_LOG_WARN, "jobs", "job %s on %s: outcome refused, "
               "its lease was lost", j->rec->id, j->q->name);
    } else if (rc != WABOT_OK) {
        wb_log(ctx, WABOT_LOG_ERROR, "jobs", "job %s on %s: cannot record "
               "outcome: %s", j->rec->id, j->q->name, wabot_strerror(rc));
    }
    wb_metrics_job_done(ctx, &j->q->duration, j->q->name, j->started);
    maybe_trim(ctx, j->q, now);
    unlink_job(j);
    job_free(j);
}

static void job_done(wabot_job *j, int status)
{
    wabot_ctx *ctx = j->ctx;
    int64_t now = wb_now(ctx);
    int batch = ctx->rt->defer_completes == j->q ||
                (wb_loop_active(ctx) && wb_scheduler_batched(ctx->rt->sched));
    if (batch && status >= 0 && j->retry_in_ms < 0 && !j->settle_pending) {
        /* Completions are recorded together: those of a batched dispatch
         * right after it, those made inside a loop function (a send's
         * answer) by the dispatch every loop function ends with. */
        j->complete_deferred = 1;
        j->settle_status = status;
        ctx->rt->n_deferred++;
        return;
    }
    job_settled(j, status, settle(j, status, now), now);
}

/* The deferred completions of one queue, taken out to be recorded. */
typedef struct completes {
    wabot_job **jobs;
    const char **ids;
    uint64_t *tokens;
    int *results;
    size_t n;
} completes;

/* Take queue q's deferred completions into c (c->n may be 0). Out of
 * memory, they are recorded one by one here instead. */
static void completes_take(wabot_ctx *ctx, wb_queue *q, completes *c)
{
    wb_runtime *rt = ctx->rt;
    size_t n = 0;
    memset(c, 0, sizeof *c);
    for (wabot_job *j = rt->active; j; j = j->next)
        n += j->complete_deferred && j->q == q;
    if (n == 0)
        return;
    rt->n_deferred -= n;
    c->jobs = wb_calloc(&ctx->alloc, n, sizeof *c->jobs);
    c->ids = wb_calloc(&ctx->alloc, n, sizeof *c->ids);
    c->tokens = wb_calloc(&ctx->alloc, n, sizeof *c->tokens);
    c->results = wb_calloc(&ctx->alloc, n, sizeof *c->results);
    int ok = c->jobs && c->ids && c->tokens && c->results;
    wabot_job *next;
    for (wabot_job *j = rt->active; j; j = next) {
        next = j->next; /* job_settled may free j */
        if (!j->complete_deferred || j->q != q)
            continue;
        j->complete_deferred = 0;
        if (!ok) {
            /* out of memory: the generic way, one by one */
            int64_t now = wb_now(ctx);
            job_settled(j, j->settle_status, settle(j, j->settle_status, now),
                        now);
            continue;
        }
        c->jobs[c->n] = j;
        c->ids[c->n] = j->rec->id;
        c->tokens[c->n++] = j->rec->token;
    }
}

/* The completions were recorded (results): release the jobs. */
static void completes_settle(wabot_ctx *ctx, completes *c, int64_t now)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->results[i] == WABOT_OK)
            qcount(ctx, c->jobs[i]->q, "processed");
        job_settled(c->jobs[i], c->jobs[i]->settle_status, c->results[i],
                    now);
    }
    wb_free(&ctx->alloc, c->jobs);
    wb_free(&ctx->alloc, c->ids);
    wb_free(&ctx->alloc, c->tokens);
    wb_free(&ctx->alloc, c->results);
    memset(c, 0, sizeof *c);
}

/* Record the deferred completions of every queue: one round trip on a
 * batched backend (wb_scheduler_poll_many without polls). */
static void flush_all_completes(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    if (rt->n_deferred == 0)
        return;
    completes *cs = wb_calloc(&ctx->alloc, rt->n_queues, sizeof *cs);
    wb_sched_poll *ps = wb_calloc(&ctx->alloc, rt->n_queues, sizeof *ps);
    if (!cs || !ps) { /* one queue at a time, each without arrays */
        wb_free(&ctx->alloc, cs);
        wb_free(&ctx->alloc, ps);
        for (size_t i = 0; i < rt->n_queues && rt->n_deferred > 0; i++) {
            completes c;
            completes_take(ctx, &rt->queues[i], &c);
            completes_settle(ctx, &c, wb_now(ctx));
        }
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < rt->n_queues && rt->n_deferred > 0; i++) {
        completes_take(ctx, &rt->queues[i], &cs[n]);
        if (cs[n].n == 0)
            continue;
        ps[n] = (wb_sched_poll){.queue = rt->queues[i].name,
                                .n_complete = cs[n].n, .ids = cs[n].ids,
                                .tokens = cs[n].tokens,
                                .results = cs[n].results};
        n++;
    }
    int64_t now = wb_now(ctx);
    if (n > 0)
        wb_scheduler_poll_many(rt->sched, n, ps, now, rt->lease_ms,
                               (int32_t)rt->max_stalls);
    for (size_t k = 0; k < n; k++)
        completes_settle(ctx, &cs[k], now);
    wb_free(&ctx->alloc, cs);
    wb_free(&ctx->alloc, ps);
}

/* Outcomes that could not be recorded while the backend was down. */
static void retry_settles(wabot_ctx *ctx, int64_t now)
{
    wabot_job *next;
    for (wabot_job *j = ctx->rt->active; j; j = next) {
        next = j->next; /* job_done may free j */
        if (j->settle_pending && j->settle_at <= now)
            job_done(j, j->settle_status);
    }
}

void wabot_job_finish(wabot_job *j, int status)
{
    if (!j || j->finished)
        return;
    j->finished = 1;
    j->finish_status = status;
    if (!j->returned)
        return; /* the worker is still running: settled when it returns */
    wabot_ctx *ctx = j->ctx;
    job_done(j, status); /* frees j */
    if (!wb_loop_active(ctx))
        wb_loop_notify(ctx, 0); /* capacity freed: let the loop refill */
}

/* ------------------------------------------------------------------ */
/* Dispatch.                                                            */

/* Hand a reserved job (info: taken) to the queue's worker. */
static void start_reserved(wabot_ctx *ctx, wb_queue *q, wabot_job *j,
                           wabot_job_info *info)
{
    wb_runtime *rt = ctx->rt;
    j->ctx = ctx;
    j->q = q;
    j->info = info;
    j->rec = wabot_job_info_record(info);
    j->started = wb_stopwatch_start(ctx);
    j->retry_in_ms = -1;
    j->lease_until = j->rec->lease_until_ms;
    j->next = rt->active;
    if (rt->active)
        rt->active->prev = j;
    rt->active = j;
    rt->n_active++;
    q->active++;

    int st = q->fn(j, q->ud);
    j->returned = 1;
    if (j->finished)
        job_done(j, j->finish_status);
    else if (st != WABOT_JOB_PENDING)
        job_done(j, st);
}

/* ------------------------------------------------------------------ */
/* Jobs leased at commit (runtime.h, wb_jobs_intake_room)               */

typedef struct wb_intake {
    struct wb_intake *next;
    wb_queue *q;
    wabot_job_info *info;
    int64_t inbound_ms;
} wb_intake;

int wb_jobs_intake_room(wabot_ctx *ctx, const char *queue, int64_t run_at_ms,
                        int64_t now_ms, int64_t *lease_until)
{
    wb_runtime *rt = ctx->rt;
    if (!wb_scheduler_batched(rt->sched) || run_at_ms > now_ms)
        return 0;
    wb_queue *q = wb_queue_find(ctx, queue);
    if (!q || !q->fn)
        return 0;
    /* Jobs due for any worker wait on the queue (enqueued when the intake
     * was full, retries, other processes'): a new one joins them rather
     * than pass them, until a poll has taken them. */
    int64_t due = __atomic_load_n(&q->due_ms, __ATOMIC_SEQ_CST);
    if (due != WB_DUE_UNKNOWN && due <= now_ms)
        return 0;
    if (__atomic_add_fetch(&q->intake_n, 1, __ATOMIC_ACQ_REL) >
        q->concurrency) {
        __atomic_sub_fetch(&q->intake_n, 1, __ATOMIC_ACQ_REL);
        return 0;
    }
    *lease_until = now_ms + rt->lease_ms;
    return 1;
}

void wb_jobs_intake_cancel(wabot_ctx *ctx, const char *queue)
{
    wb_queue *q = wb_queue_find(ctx, queue);
    if (q)
        __atomic_sub_fetch(&q->intake_n, 1, __ATOMIC_ACQ_REL);
}

void wb_jobs_intake_push(wabot_ctx *ctx, const char *queue,
                         const wabot_job_record *rec, int64_t inbound_ms)
{
    wb_runtime *rt = ctx->rt;
    wb_queue *q = wb_queue_find(ctx, queue);
    if (!q)
        return; /* no room was taken for it */
    wb_count(ctx, "jobs.enqueued", 1);
    wb_intake *n = wb_calloc(&ctx->alloc, 1, sizeof *n);
    wabot_job_info *info = wabot_job_info_new();
    if (!n || !info || wabot_job_info_set(info, rec) != WABOT_OK) {
        wb_free(&ctx->alloc, n);
        wabot_job_info_free(info);
        __atomic_sub_fetch(&q->intake_n, 1, __ATOMIC_ACQ_REL);
        wb_log(ctx, WABOT_LOG_WARN, "jobs", "job %s on %s leased at commit "
               "is left to stall recovery: out of memory", rec->id, q->name);
        return;
    }
    n->q = q;
    n->info = info;
    n->inbound_ms = inbound_ms;
    pthread_mutex_lock(&rt->intake_lock);
    if (rt->intake_tail)
        rt->intake_tail->next = n;
    else
        rt->intake = n;
    rt->intake_tail = n;
    __atomic_add_fetch(&q->intake_ready, 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&rt->n_intake, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&rt->intake_lock);
    wb_loop_notify(ctx, 0);
}

/* n leaves the intake (taken off the list by the caller). */
static void intake_leave(wb_runtime *rt, wb_intake *n)
{
    __atomic_sub_fetch(&n->q->intake_ready, 1, __ATOMIC_ACQ_REL);
    __atomic_sub_fetch(&n->q->intake_n, 1, __ATOMIC_ACQ_REL);
    __atomic_sub_fetch(&rt->n_intake, 1, __ATOMIC_ACQ_REL);
}

void wb_jobs_intake_free(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    wb_intake *n = rt->intake;
    rt->intake = rt->intake_tail = NULL;
    while (n) {
        wb_intake *next = n->next;
        intake_leave(rt, n);
        wabot_job_info_free(n->info);
        wb_free(&ctx->alloc, n);
        n = next;
    }
}

/* Start the jobs leased at commit whose queue has a free slot, in the
 * order they came; the others wait for the next dispatch. A job whose
 * lease ran out meanwhile is not started here: stall recovery puts it
 * back (this process's or another's), as for any expired lease. */
static int intake_start(wabot_ctx *ctx, int64_t now)
{
    wb_runtime *rt = ctx->rt;
    if (__atomic_load_n(&rt->n_intake, __ATOMIC_ACQUIRE) == 0)
        return 0;
    pthread_mutex_lock(&rt->intake_lock);
    wb_intake *list = rt->intake;
    rt->intake = rt->intake_tail = NULL;
    pthread_mutex_unlock(&rt->intake_lock);
    wb_intake *keep = NULL, *keep_tail = NULL;
    int started = 0;
    while (list) {
        wb_intake *n = list;
        list = n->next;
        n->next = NULL;
        wb_queue *q = n->q;
        if (q->active >= q->concurrency) {
            if (keep_tail)
                keep_tail->next = n;
            else
                keep = n;
            keep_tail = n;
            continue;
        }
        intake_leave(rt, n);
        wabot_job_info *info = n->info;
        int64_t inbound_ms = n->inbound_ms;
        wb_free(&ctx->alloc, n);
        wabot_job *j = NULL;
        if (wabot_job_info_record(info)->lease_until_ms <= now ||
            !(j = wb_calloc(&ctx->alloc, 1, sizeof *j))) {
            wabot_job_info_free(info);
            continue;
        }
        j->inbound_ms = inbound_ms;
        rt->defer_completes = q;
        start_reserved(ctx, q, j, info);
        rt->defer_completes = NULL;
        started++;
    }
    if (keep) { /* ahead of what came meanwhile */
        pthread_mutex_lock(&rt->intake_lock);
        keep_tail->next = rt->intake;
        if (!rt->intake)
            rt->intake_tail = keep_tail;
        rt->intake = keep;
        pthread_mutex_unlock(&rt->intake_lock);
    }
    return started;
}

static int start_one(wabot_ctx *ctx, wb_queue *q, int64_t now)
{
    wb_runtime *rt = ctx->rt;
    wabot_job *j = wb_calloc(&ctx->alloc, 1, sizeof *j);
    wabot_job_info *info = wabot_job_info_new();
    if (!j || !info) {
        wb_free(&ctx->alloc, j);
        wabot_job_info_free(info);
        return WABOT_ERR_NOMEM;
    }
    int rc = wabot_scheduler_reserve(rt->sched, q->name, now, rt->lease_ms,
                                     info);
    if (rc != WABOT_OK) {
        wb_free(&ctx->alloc, j);
        wabot_job_info_free(info);
        return rc;
    }
    start_reserved(ctx, q, j, info);
    return WABOT_OK;
}

/* Most jobs one batched reserve asks for. */
#define RESERVE_BATCH 32

/* Whether q is polled in this pass: when it is due (or its due time is
 * unknown), or job_poll_ms after its last poll, which is when another
 * process's jobs must be seen (a queue not due would only answer what
 * the cached due time already says: each poll is a script on the
 * server). */
static int poll_due(const wb_runtime *rt, const wb_queue *q, int64_t now)
{
    int64_t due = __atomic_load_n(&q->due_ms, __ATOMIC_SEQ_CST);
    return due == WB_DUE_UNKNOWN || due <= now ||
           now - q->polled_ms >= rt->poll_ms;
}

/* A batched backend: for every queue with a worker, record the
 * completions deferred since the last pass, recover, reserve up to its
 * free slots and learn its next due time, all in one round trip; run the
 * jobs; record the completions they made at once in one more. A queue
 * that had more waiting is due now: the loop polls again (run_due).
 * Returns how many started. */
static int poll_all(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    size_t n = 0;
    for (size_t i = 0; i < rt->n_queues; i++)
        n += rt->queues[i].fn != NULL;
    if (n == 0)
        return 0;
    wb_sched_poll *polls = wb_calloc(&ctx->alloc, n, sizeof *polls);
    wb_queue **qs = wb_calloc(&ctx->alloc, n, sizeof *qs);
    completes *cs = wb_calloc(&ctx->alloc, n, sizeof *cs);
    wabot_job_info **infos =
        wb_calloc(&ctx->alloc, n * RESERVE_BATCH, sizeof *infos);
    if (!polls || !qs || !cs || !infos) {
        wb_free(&ctx->alloc, polls);
        wb_free(&ctx->alloc, qs);
        wb_free(&ctx->alloc, cs);
        wb_free(&ctx->alloc, infos);
        wb_log(ctx, WABOT_LOG_ERROR, "jobs", "poll: out of memory");
        return 0;
    }
    int64_t now = wb_now(ctx);
    size_t k = 0;
    for (size_t i = 0; i < rt->n_queues; i++) {
        wb_queue *q = &rt->queues[i];
        if (!q->fn)
            continue;
        completes_take(ctx, q, &cs[k]);
        if (!poll_due(rt, q, now)) {
            if (cs[k].n == 0) { /* nothing to send for it */
                completes_settle(ctx, &cs[k], now); /* frees, settles none */
                continue;
            }
            qs[k] = q;
            polls[k] = (wb_sched_poll){.queue = q->name,
                                       .n_complete = cs[k].n,
                                       .ids = cs[k].ids,
                                       .tokens = cs[k].tokens,
                                       .results = cs[k].results};
            k++;
            continue;
        }
        /* the slots of the jobs completed here free up; the jobs leased
         * at commit that wait for one take theirs (not the commits still
         * under way: counting those would leave slots idle) */
        int free_slots = q->concurrency - q->active + (int)cs[k].n -
                         __atomic_load_n(&q->intake_ready, __ATOMIC_ACQUIRE);
        size_t want = free_slots <= 0 ? 0
                      : free_slots > RESERVE_BATCH ? RESERVE_BATCH
                                                   : (size_t)free_slots;
        wabot_job_info **out = &infos[k * RESERVE_BATCH];
        size_t have = 0;
        while (have < want && (out[have] = wabot_job_info_new()))
            have++;
        qs[k] = q;
        polls[k] = (wb_sched_poll){.queue = q->name, .max = have,
                                   .out = out, .poll = 1,
                                   .n_complete = cs[k].n, .ids = cs[k].ids,
                                   .tokens = cs[k].tokens,
                                   .results = cs[k].results};
        k++;
        q->polled_ms = now;
        due_begin(q);
    }
    n = k;
    int rc = n == 0 ? WABOT_OK
                    : wb_scheduler_poll_many(rt->sched, n, polls, now,
                                             rt->lease_ms,
                                             (int32_t)rt->max_stalls);
    if (rc != WABOT_OK)
        wb_log(ctx, WABOT_LOG_ERROR, "jobs", "poll: %s", wabot_strerror(rc));
    for (size_t k = 0; k < n; k++)
        completes_settle(ctx, &cs[k], now);
    int started = 0;
    for (size_t k = 0; k < n; k++) {
        wb_queue *q = qs[k];
        wb_sched_poll *p = &polls[k];
        if (rc == WABOT_OK && p->rc != WABOT_OK)
            wb_log(ctx, WABOT_LOG_ERROR, "jobs", "reserve on %s: %s",
                   q->name, wabot_strerror(p->rc));
        for (int32_t s = 0; s < p->recovered; s++)
            qcount(ctx, q, "stalled");
        if (!p->poll)
            continue; /* completions only: its due time stands */
        /* A failed poll knows nothing: ask again next time. */
        due_store(q, rc != WABOT_OK || p->rc != WABOT_OK ? WB_DUE_UNKNOWN
                     : p->has_due                         ? p->due_ms
                                                          : WB_NO_DEADLINE);
        rt->defer_completes = q;
        for (size_t i = 0; i < p->got; i++) {
            wabot_job *j = wb_calloc(&ctx->alloc, 1, sizeof *j);
            if (!j) {
                /* its lease expires and it comes back */
                wabot_job_info_free(p->out[i]);
                continue;
            }
            start_reserved(ctx, q, j, p->out[i]);
            started++;
        }
        rt->defer_completes = NULL;
        for (size_t i = p->got; i < p->max; i++)
            wabot_job_info_free(p->out[i]);
    }
    flush_all_completes(ctx);
    wb_free(&ctx->alloc, polls);
    wb_free(&ctx->alloc, qs);
    wb_free(&ctx->alloc, cs);
    wb_free(&ctx->alloc, infos);
    return started;
}

static void renew_leases(wabot_ctx *ctx, int64_t now)
{
    wb_runtime *rt = ctx->rt;
    for (wabot_job *j = rt->active; j; j = j->next) {
        if (j->lease_until - now > rt->lease_ms / 2)
            continue;
        int64_t until = now + rt->lease_ms;
        int rc = wabot_scheduler_extend(rt->sched, j->q->name, j->rec->id,
                                        j->rec->token, until);
        if (rc == WABOT_OK)
            j->lease_until = until;
        else
            wb_log(ctx, WABOT_LOG_WARN, "jobs", "cannot renew lease of %s on "
                   "%s: %s", j->rec->id, j->q->name, wabot_strerror(rc));
    }
}

int wb_jobs_dispatch(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    int started = 0;
    int64_t now = wb_now(ctx);
    if (!wb_scheduler_batched(rt->sched))
        flush_all_completes(ctx); /* batched: with the poll below */
    retry_settles(ctx, now);
    renew_leases(ctx, now);
    started += intake_start(ctx, now);
    if (wb_scheduler_batched(rt->sched))
        started += poll_all(ctx);
    for (size_t i = 0; i < rt->n_queues; i++) {
        wb_queue *q = &rt->queues[i];
        if (!q->fn)
            continue;
        if (wb_scheduler_batched(rt->sched))
            continue; /* polled together below */
        int32_t recovered = 0;
        wabot_scheduler_recover(rt->sched, q->name, now,
                                (int32_t)rt->max_stalls, &recovered);
        for (int32_t k = 0; k < recovered; k++)
            qcount(ctx, q, "stalled");
        /* At most a batch per queue per dispatch, as a batched backend's
         * poll: jobs that finish at once (a fan-out's pages) free their
         * slot for the next, and must not keep the loop to themselves. */
        for (int budget = RESERVE_BATCH;
             q->active < q->concurrency && budget > 0; budget--) {
            int rc = start_one(ctx, q, now);
            if (rc == WABOT_ERR_NOT_FOUND)
                break;
            if (rc != WABOT_OK) {
                wb_log(ctx, WABOT_LOG_ERROR, "jobs", "reserve on %s: %s",
                       q->name, wabot_strerror(rc));
                break;
            }
            started++;
            now = wb_now(ctx);
        }
    }
    return started;
}

/* Queue q's next due time: on a batched backend the cached one (no round
 * trip), else the backend's. 0 when q holds nothing. */
static int next_due_of(wabot_ctx *ctx, wb_queue *q, int64_t now,
                       int64_t *due)
{
    wb_runtime *rt = ctx->rt;
    if (!wb_scheduler_batched(rt->sched))
        return wabot_scheduler_next_due(rt->sched, q->name, now, due) ==
               WABOT_OK;
    int64_t d = __atomic_load_n(&q->due_ms, __ATOMIC_SEQ_CST);
    if (d == WB_DUE_UNKNOWN) {
        due_begin(q);
        int rc = wabot_scheduler_next_due(rt->sched, q->name, now, &d);
        if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
            return 0; /* unknown still: asked again next time */
        due_store(q, rc == WABOT_OK ? d : WB_NO_DEADLINE);
        d = __atomic_load_n(&q->due_ms, __ATOMIC_SEQ_CST);
    }
    *due = d;
    return d != WB_NO_DEADLINE && d != WB_DUE_UNKNOWN;
}

int64_t wb_jobs_deadline(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    int64_t now = wb_now(ctx), best = wb_sources_deadline(ctx);
    for (wabot_job *j = rt->active; j; j = j->next) {
        int64_t renew = j->settle_pending ? j->settle_at
                                          : j->lease_until - rt->lease_ms / 2;
        if (renew < best)
            best = renew;
    }
    int any_worker = 0;
    for (size_t i = 0; i < rt->n_queues; i++) {
        wb_queue *q = &rt->queues[i];
        if (!q->fn)
            continue;
        any_worker = 1;
        if (__atomic_load_n(&q->intake_ready, __ATOMIC_ACQUIRE) > 0 &&
            q->active < q->concurrency && now < best)
            best = now; /* jobs leased at commit to start */
        int64_t due;
        if (!next_due_of(ctx, q, now, &due))
            continue;
        /* A full queue gets nothing new before a slot frees; only its
         * stall recovery (a lease expiring) matters then. */
        if (q->active >= q->concurrency && due <= now)
            continue;
        if (due < best)
            best = due;
    }
    if (any_worker && !rt->sched_exact && now + rt->poll_ms < best)
        best = now + rt->poll_ms;
    return best;
}

/* ------------------------------------------------------------------ */

static void stats_queue(wabot_ctx *ctx, wb_strbuf *b, const wb_queue *q)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    wabot_scheduler_counts(ctx->rt->sched, q->name, c, WABOT_JOB_STATE_COUNT);
    wb_strbuf_json_str(b, q->name);
    wb_strbuf_putc(b, ':');
    wb_strbuf_putc(b, '{');
    for (int s = 0; s < WABOT_JOB_STATE_COUNT; s++)
        wb_strbuf_printf(b, "\"%s\":%lld,", wabot_job_state_name(s),
                         (long long)c[s]);
    static const char *counters[] = {"processed", "retried", "dead",
                                     "stalled", "throttled", "fenced"};
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++) {
        char name[96];
        snprintf(name, sizeof name, "jobs.%s.%s", q->name, counters[i]);
        wb_strbuf_printf(b, "%s\"%s\":%lld", i ? "," : "", counters[i],
                         (long long)wabot_metrics_counter(ctx, name));
    }
    wb_strbuf_putc(b, '}');
}

char *wabot_jobs_stats_json(wabot_ctx *ctx)
{
    if (!ctx)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, "{\"queues\":{");
    for (size_t i = 0; i < ctx->rt->n_queues; i++) {
        if (i)
            wb_strbuf_putc(&b, ',');
        stats_queue(ctx, &b, &ctx->rt->queues[i]);
    }
    wb_strbuf_printf(&b, "},\"timestamp\":%lld}", (long long)wb_now(ctx));
    return wb_strbuf_take(&b);
}
