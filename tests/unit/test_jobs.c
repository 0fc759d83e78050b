/* Jobs through a context: workers, retries, backoff, stalls, fencing,
 * dedup, counts, retention, throttling, the outbound queue. Time moves by
 * the fake clock; nothing sleeps. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "testutil.h"

#define Q "test-q"

typedef struct worker_log {
    int runs;
    char order[256];
    int status;            /* what the worker returns */
    int permanent;
    int64_t retry_in;      /* >= 0: throttle */
    int pending;           /* return WABOT_JOB_PENDING and keep the job */
    wabot_job *kept[16];
    int n_kept;
    int reenter_rc;
} worker_log;

static int record_worker(wabot_job *job, void *ud)
{
    worker_log *w = ud;
    w->runs++;
    size_t len;
    const char *p = wabot_job_payload(job, &len);
    strncat(w->order, p, sizeof w->order - strlen(w->order) - 1);
    if (w->retry_in >= 0) {
        wabot_job_retry_in(job, w->retry_in);
        return WABOT_OK;
    }
    if (w->pending) {
        w->kept[w->n_kept++] = job;
        return WABOT_JOB_PENDING;
    }
    if (w->status < 0) {
        wabot_job_set_error(job, "boom");
        if (w->permanent)
            wabot_job_set_permanent(job);
    }
    return w->status;
}

static void env_with_worker(tu_env *e, worker_log *w, int concurrency)
{
    memset(w, 0, sizeof *w);
    w->retry_in = -1;
    tu_env_init(e);
    ck_assert_int_eq(wabot_worker_add(e->ctx, Q, record_worker, w, NULL,
                                      concurrency), WABOT_OK);
}

static void enqueue(wabot_ctx *ctx, const char *id, const char *payload,
                    int64_t delay_ms, int max_attempts)
{
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = id;
    spec.delay_ms = delay_ms;
    if (max_attempts)
        spec.max_attempts = max_attempts;
    int rc = wabot_job_enqueue(ctx, Q, payload, strlen(payload), &spec, NULL);
    ck_assert_msg(rc == WABOT_OK, "enqueue %s: %s", id, wabot_ctx_errmsg(ctx));
}

static void counts(wabot_ctx *ctx, int64_t w, int64_t d, int64_t a, int64_t c,
                   int64_t f)
{
    int64_t n[WABOT_JOB_STATE_COUNT];
    ck_assert_int_eq(wabot_queue_counts(ctx, Q, n, WABOT_JOB_STATE_COUNT), WABOT_OK);
    ck_assert_msg(n[0] == w && n[1] == d && n[2] == a && n[3] == c && n[4] == f,
                  "counts waiting %lld delayed %lld active %lld completed %lld "
                  "failed %lld, expected %lld %lld %lld %lld %lld",
                  (long long)n[0], (long long)n[1], (long long)n[2],
                  (long long)n[3], (long long)n[4], (long long)w, (long long)d,
                  (long long)a, (long long)c, (long long)f);
}

static const wabot_job_record *get(wabot_ctx *ctx, const char *id,
                                   wabot_job_info **info)
{
    ck_assert_int_eq(wabot_job_get(ctx, Q, id, info), WABOT_OK);
    return wabot_job_info_record(*info);
}

START_TEST(test_delayed_job_runs_exactly_at_its_time)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    enqueue(e.ctx, "j1", "a", 5000, 0);
    counts(e.ctx, 0, 1, 0, 0, 0);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), 5000);
    tu_clock_advance(&e.clock, 4999);
    ck_assert_int_eq(wabot_ctx_on_timeout(e.ctx), 0);
    ck_assert_int_eq(w.runs, 0);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), 1);
    tu_clock_advance(&e.clock, 1);
    ck_assert_int_eq(wabot_ctx_on_timeout(e.ctx), 1);
    ck_assert_int_eq(w.runs, 1);
    counts(e.ctx, 0, 0, 0, 1, 0);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), -1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_jobs_run_in_due_order)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    enqueue(e.ctx, "j1", "c", 300, 0);
    enqueue(e.ctx, "j2", "a", 100, 0);
    enqueue(e.ctx, "j3", "b", 200, 0);
    enqueue(e.ctx, "j4", "0", 0, 0);
    tu_clock_advance(&e.clock, 1000);
    tu_drain(e.ctx);
    ck_assert_str_eq(w.order, "0abc");
    tu_env_free(&e);
}
END_TEST

START_TEST(test_backoff_stays_within_jitter_bounds)
{
    tu_env e;
    tu_env_init(&e);
    wabot_job_record r = {.version = 1, .backoff = WABOT_BACKOFF_EXPONENTIAL,
                          .backoff_ms = 1000, .backoff_max_ms = 30000,
                          .jitter_pct = 20};
    for (int attempt = 1; attempt <= 8; attempt++) {
        int64_t full = 1000LL << (attempt - 1);
        if (full > 30000)
            full = 30000;
        int64_t lo = full * 80 / 100, min = INT64_MAX, max = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t d = wb_backoff_delay(e.ctx, &r, attempt);
            ck_assert_msg(d >= lo && d <= full, "attempt %d: %lld not in "
                          "[%lld, %lld]", attempt, (long long)d, (long long)lo,
                          (long long)full);
            min = d < min ? d : min;
            max = d > max ? d : max;
        }
        ck_assert_int_lt(min, max); /* jitter really spreads */
    }
    r.backoff = WABOT_BACKOFF_FIXED;
    r.jitter_pct = 0;
    ck_assert_int_eq(wb_backoff_delay(e.ctx, &r, 7), 1000);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_attempts_are_spent_then_job_fails_with_reason)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    w.status = WABOT_ERR_TRANSPORT;
    enqueue(e.ctx, "j1", "a", 0, 3);
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 1);
    counts(e.ctx, 0, 1, 0, 0, 0);
    wabot_job_info *info;
    const wabot_job_record *r = get(e.ctx, "j1", &info);
    ck_assert_int_eq(r->attempts, 1);
    ck_assert_str_eq(r->last_error, "boom");
    /* exponential from 1 s: retry 1 within [0.8 s, 1 s] */
    ck_assert_int_le(r->run_at_ms - tu_clock_now(&e.clock), 1000);
    ck_assert_int_ge(r->run_at_ms - tu_clock_now(&e.clock), 800);
    wabot_job_info_free(info);
    for (int i = 0; i < 5; i++) {
        tu_clock_advance(&e.clock, 2000);
        tu_drain(e.ctx);
    }
    ck_assert_int_eq(w.runs, 3);
    counts(e.ctx, 0, 0, 0, 0, 1);
    r = get(e.ctx, "j1", &info);
    ck_assert_int_eq(r->state, WABOT_JOB_FAILED);
    ck_assert_int_eq(r->attempts, 3);
    ck_assert_str_eq(r->last_error, "boom");
    wabot_job_info_free(info);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs." Q ".retried"), 2);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs." Q ".dead"), 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_permanent_error_skips_retries)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    w.status = WABOT_ERR_INVAL;
    w.permanent = 1;
    enqueue(e.ctx, "j1", "a", 0, 5);
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 1);
    counts(e.ctx, 0, 0, 0, 0, 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_throttled_job_is_redelayed_without_spending_an_attempt)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    w.retry_in = 6000;
    enqueue(e.ctx, "j1", "a", 0, 1);
    tu_drain(e.ctx);
    counts(e.ctx, 0, 1, 0, 0, 0);
    wabot_job_info *info;
    ck_assert_int_eq(get(e.ctx, "j1", &info)->attempts, 0);
    wabot_job_info_free(info);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), 6000);
    w.retry_in = -1;
    tu_clock_advance(&e.clock, 6000);
    tu_drain(e.ctx);
    counts(e.ctx, 0, 0, 0, 1, 0); /* max_attempts 1 was enough */
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs." Q ".throttled"), 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_duplicate_job_id_is_not_enqueued_twice)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    enqueue(e.ctx, "same", "a", 0, 0);
    char *id = NULL;
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, Q, "b", 1, NULL, NULL), WABOT_OK);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "same";
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, Q, "x", 1, &spec, &id),
                     WABOT_ERR_EXISTS);
    ck_assert_str_eq(id, "same");
    wabot_ctx_mem_free(e.ctx, id);
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 2);
    ck_assert_str_eq(w.order, "ab");
    tu_env_free(&e);
}
END_TEST

START_TEST(test_enqueue_many_queues_every_job_with_its_spec_and_id)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    enqueue(e.ctx, "old", "o", 0, 0);
    wabot_job_spec later, named, old;
    wabot_job_spec_init(&later);
    later.delay_ms = 5000;
    wabot_job_spec_init(&named);
    named.job_id = "mine";
    named.priority = 9; /* runs before the others of its time */
    wabot_job_spec_init(&old);
    old.job_id = "old";
    const char *payloads[] = {"a", "bc", "later", "n", "x"};
    const size_t lens[] = {1, 1, 5, 1, 1}; /* "bc" is sent as "b" */
    const wabot_job_spec *specs[] = {NULL, NULL, &later, &named, &old};
    char *ids[5];
    int results[5];
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 5, payloads, lens, specs,
                                            ids, results),
                     WABOT_OK);
    int want[] = {WABOT_OK, WABOT_OK, WABOT_OK, WABOT_OK, WABOT_ERR_EXISTS};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(results[i], want[i]);
        ck_assert_ptr_nonnull(ids[i]);
    }
    ck_assert_str_eq(ids[3], "mine");
    ck_assert_str_eq(ids[4], "old");
    ck_assert_str_ne(ids[0], ids[1]); /* generated, distinct */
    counts(e.ctx, 4, 1, 0, 0, 0);
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(e.ctx, Q, ids[1], &info), WABOT_OK);
    size_t plen = wabot_job_info_record(info)->payload_len;
    ck_assert_uint_eq(plen, 1);
    wabot_job_info_free(info);
    for (int i = 0; i < 5; i++)
        wabot_ctx_mem_free(e.ctx, ids[i]);
    tu_drain(e.ctx);
    ck_assert_str_eq(w.order, "noab"); /* priority first; "old" kept its payload */
    tu_clock_advance(&e.clock, 5000);
    tu_drain(e.ctx);
    ck_assert_str_eq(w.order, "noablater");
    counts(e.ctx, 0, 0, 0, 5, 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_enqueue_many_refuses_bad_input_before_enqueueing_anything)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    const char *payloads[] = {"a", NULL, "c"};
    const size_t lens[] = {1, 3, 1};
    int results[3] = {1, 1, 1};
    char *ids[3] = {(char *)"x", (char *)"x", (char *)"x"};
    /* a NULL payload with a length */
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 3, payloads, lens, NULL,
                                            ids, results),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(e.ctx), "payload 1"));
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(ids[i]);
        ck_assert_int_eq(results[i], WABOT_ERR_INVAL);
    }
    /* a spec out of range names its job */
    wabot_job_spec bad;
    wabot_job_spec_init(&bad);
    bad.max_attempts = 0;
    const wabot_job_spec *specs[] = {NULL, NULL, &bad};
    const char *ok[] = {"a", "b", "c"};
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 3, ok, NULL, specs,
                                            NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(e.ctx), "job 2"));
    /* a job id with a control character */
    wabot_job_spec ctl;
    wabot_job_spec_init(&ctl);
    ctl.job_id = "a\nb";
    specs[2] = &ctl;
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 3, ok, NULL, specs,
                                            NULL, NULL),
                     WABOT_ERR_INVAL);
    /* no jobs, too many, no payloads, a bad queue name */
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 0, ok, NULL, NULL, NULL,
                                            NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q,
                                            WABOT_JOB_ENQUEUE_MANY_MAX + 1, ok,
                                            NULL, NULL, NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 3, NULL, NULL, NULL,
                                            NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, "bad queue", 3, ok, NULL,
                                            NULL, NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_job_enqueue_many(NULL, Q, 3, ok, NULL, NULL, NULL,
                                            NULL),
                     WABOT_ERR_INVAL);
    counts(e.ctx, 0, 0, 0, 0, 0);
    /* an id named twice in one call goes in once */
    wabot_job_spec twice;
    wabot_job_spec_init(&twice);
    twice.job_id = "twice";
    const wabot_job_spec *both[] = {&twice, &twice};
    ck_assert_int_eq(wabot_job_enqueue_many(e.ctx, Q, 2, ok, NULL, both, NULL,
                                            results),
                     WABOT_OK);
    ck_assert_int_eq(results[0], WABOT_OK);
    ck_assert_int_eq(results[1], WABOT_ERR_EXISTS);
    tu_drain(e.ctx);
    ck_assert_str_eq(w.order, "a");
    tu_env_free(&e);
}
END_TEST

START_TEST(test_concurrency_limit_and_async_finish)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 2);
    w.pending = 1;
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "j%d", i);
        enqueue(e.ctx, id, "x", 0, 0);
    }
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 2);
    counts(e.ctx, 3, 0, 2, 0, 0);
    wabot_job_finish(w.kept[0], WABOT_OK); /* later, outside the worker */
    counts(e.ctx, 3, 0, 1, 1, 0);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), 0); /* a slot is free */
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 3);
    counts(e.ctx, 2, 0, 2, 1, 0);
    w.pending = 0;
    for (int i = 1; i < w.n_kept; i++)
        wabot_job_finish(w.kept[i], WABOT_OK);
    tu_drain(e.ctx);
    counts(e.ctx, 0, 0, 0, 5, 0);
    tu_env_free(&e);
}
END_TEST

static int finish_inline(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_job_finish(job, WABOT_OK); /* before returning: still valid */
    return WABOT_JOB_PENDING;
}

START_TEST(test_finish_before_worker_returns)
{
    tu_env e;
    tu_env_init(&e);
    wabot_worker_add(e.ctx, Q, finish_inline, NULL, NULL, 1);
    enqueue(e.ctx, "j1", "x", 0, 0);
    tu_drain(e.ctx);
    counts(e.ctx, 0, 0, 0, 1, 0);
    tu_env_free(&e);
}
END_TEST

/* Host data on a run of a job: a worker that finishes later keeps what it
 * needs on the job itself. */
typedef struct user_log {
    int destroyed[4];   /* destroy calls per value */
    int values[4];
    int seen_at_start;  /* runs that found user data already set */
    int runs;
    int fail;           /* the run fails (retried) instead of pending */
    wabot_job *kept;
} user_log;

static user_log *g_user_log;

static void count_destroy(void *user)
{
    g_user_log->destroyed[(int *)user - g_user_log->values]++;
}

static int user_worker(wabot_job *job, void *ud)
{
    user_log *u = ud;
    if (wabot_job_user(job))
        u->seen_at_start++;
    wabot_job_set_user(job, &u->values[u->runs], count_destroy);
    u->runs++;
    if (u->fail)
        return WABOT_ERR_TRANSPORT;
    u->kept = job;
    return WABOT_JOB_PENDING;
}

/* A context whose worker on Q sets user data, and job j1 run once. */
static void run_user_worker(tu_env *e, user_log *u, int max_attempts)
{
    g_user_log = u;
    tu_env_init(e);
    ck_assert_int_eq(wabot_queue_add_worker(e->ctx, Q, user_worker, u, NULL,
                                            1), WABOT_OK);
    enqueue(e->ctx, "j1", "x", 0, max_attempts);
    tu_drain(e->ctx);
    ck_assert_int_eq(u->runs, 1);
}

START_TEST(test_job_user_data_lives_until_the_run_finishes)
{
    tu_env e;
    user_log u = {0};
    run_user_worker(&e, &u, 0);
    ck_assert_ptr_eq(wabot_job_user(u.kept), &u.values[0]);
    ck_assert_int_eq(u.destroyed[0], 0);
    /* Replacing the value destroys the previous one, once. */
    wabot_job_set_user(u.kept, &u.values[1], count_destroy);
    ck_assert_int_eq(u.destroyed[0], 1);
    ck_assert_ptr_eq(wabot_job_user(u.kept), &u.values[1]);
    wabot_job_finish(u.kept, WABOT_OK);
    tu_drain(e.ctx);
    ck_assert_int_eq(u.destroyed[0], 1);
    ck_assert_int_eq(u.destroyed[1], 1);
    counts(e.ctx, 0, 0, 0, 1, 0);
    ck_assert_ptr_null(wabot_job_user(NULL));
    wabot_job_set_user(NULL, &u.values[2], count_destroy); /* no-op */
    ck_assert_int_eq(u.destroyed[2], 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_job_user_data_does_not_reach_the_retry)
{
    tu_env e;
    user_log u = {0};
    u.fail = 1;
    run_user_worker(&e, &u, 2);
    ck_assert_int_eq(u.destroyed[0], 1); /* destroyed with the failed run */
    tu_clock_advance(&e.clock, 3600 * 1000);
    tu_drain(e.ctx);
    ck_assert_int_eq(u.runs, 2);
    ck_assert_int_eq(u.seen_at_start, 0);
    ck_assert_int_eq(u.destroyed[1], 1);
    counts(e.ctx, 0, 0, 0, 0, 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_job_user_data_of_an_abandoned_run_is_destroyed_with_the_ctx)
{
    tu_env e;
    user_log u = {0};
    run_user_worker(&e, &u, 0);
    tu_env_free(&e);
    ck_assert_int_eq(u.destroyed[0], 1);
}
END_TEST

/* Webhook threads enqueue into one memory queue at once (the job is made
 * before the queue's lock is taken): four threads offer the same ids, and
 * each id is taken exactly once, the others answered EXISTS. */
#define RACE_THREADS 4
#define RACE_IDS 3000

typedef struct race_arg {
    wabot_ctx *ctx;
    int offset;
    _Atomic int *taken; /* per id */
    int exists;
} race_arg;

static void *race_enqueue(void *p)
{
    race_arg *a = p;
    for (int k = 0; k < RACE_IDS; k++) {
        int i = (k + a->offset) % RACE_IDS; /* threads start apart */
        char id[24], payload[32];
        snprintf(id, sizeof id, "j%d", i);
        snprintf(payload, sizeof payload, "payload of %d", i);
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = id;
        int rc = wabot_job_enqueue(a->ctx, Q, payload, strlen(payload), &spec,
                                   NULL);
        if (rc == WABOT_OK)
            a->taken[i]++;
        else if (rc == WABOT_ERR_EXISTS)
            a->exists++;
    }
    return NULL;
}

START_TEST(test_memory_queue_takes_each_id_once_from_many_threads)
{
    tu_env e;
    tu_env_init(&e);
    static _Atomic int taken[RACE_IDS];
    for (int i = 0; i < RACE_IDS; i++)
        taken[i] = 0;
    pthread_t th[RACE_THREADS];
    race_arg args[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) {
        args[t] = (race_arg){e.ctx, t * RACE_IDS / RACE_THREADS, taken, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, race_enqueue, &args[t]),
                         0);
    }
    int exists = 0;
    for (int t = 0; t < RACE_THREADS; t++) {
        pthread_join(th[t], NULL);
        exists += args[t].exists;
    }
    for (int i = 0; i < RACE_IDS; i++)
        ck_assert_msg(taken[i] == 1, "id j%d taken %d times", i, taken[i]);
    ck_assert_int_eq(exists, (RACE_THREADS - 1) * RACE_IDS);
    counts(e.ctx, RACE_IDS, 0, 0, 0, 0);
    wabot_job_info *info;
    ck_assert_int_eq(wabot_job_get(e.ctx, Q, "j2999", &info), WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_int_eq((int)r->payload_len, (int)strlen("payload of 2999"));
    ck_assert(memcmp(r->payload, "payload of 2999", r->payload_len) == 0);
    wabot_job_info_free(info);
    tu_env_free(&e);
}
END_TEST

/* wb_random (reply ids, jitter) is taken by every webhook thread without
 * a lock: values drawn on four threads at once are all distinct, and
 * spread over the whole 64 bits. */
#define RAND_PER_THREAD 20000

typedef struct rand_arg {
    wabot_ctx *ctx;
    uint64_t *out;
} rand_arg;

static void *draw_random(void *p)
{
    rand_arg *a = p;
    for (int i = 0; i < RAND_PER_THREAD; i++)
        a->out[i] = wb_random(a->ctx);
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

START_TEST(test_random_from_many_threads_never_repeats)
{
    tu_env e;
    tu_env_init(&e);
    uint64_t *all = calloc(4 * RAND_PER_THREAD, sizeof *all);
    ck_assert_ptr_nonnull(all);
    pthread_t th[4];
    rand_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (rand_arg){e.ctx, all + t * RAND_PER_THREAD};
        ck_assert_int_eq(pthread_create(&th[t], NULL, draw_random, &args[t]),
                         0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    qsort(all, 4 * RAND_PER_THREAD, sizeof *all, cmp_u64);
    int high = 0, odd = 0;
    for (int i = 0; i < 4 * RAND_PER_THREAD; i++) {
        if (i > 0)
            ck_assert_msg(all[i] != all[i - 1], "value repeated");
        high += all[i] >> 63 != 0;
        odd += (int)(all[i] & 1);
    }
    /* 80 000 fair bits each way: 40 000 +- 1 000 is > 7 sigma */
    ck_assert_int_gt(high, 39000);
    ck_assert_int_lt(high, 41000);
    ck_assert_int_gt(odd, 39000);
    ck_assert_int_lt(odd, 41000);
    free(all);
    tu_env_free(&e);
}
END_TEST

/* Two contexts share one scheduler, as two processes share Redis. A's
 * worker takes a job and hangs (a crash: A's loop never runs again); after
 * the lease B recovers it and completes it; A's late outcome is fenced. */
/* The memory backend answers reserve, recover and next_due about an
 * empty or absent queue without its lock (the first 16 queues are listed
 * for that). Every answer is the locked one, for 20 queues (the last
 * four only under the lock), in each state a queue can be in. */
#define IDLE_QUEUES 20
#define T0 1700000000000LL

static void idle_answers(wabot_scheduler *s, const char *q, int64_t now)
{
    wabot_job_info *info = wabot_job_info_new();
    int32_t moved = -1;
    int64_t due = -1;
    ck_assert_int_eq(wabot_scheduler_reserve(s, q, now, 1000, info),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_scheduler_recover(s, q, now, 1, &moved), WABOT_OK);
    ck_assert_int_eq(moved, 0);
    ck_assert_int_eq(wabot_scheduler_next_due(s, q, now, &due),
                     WABOT_ERR_NOT_FOUND);
    wabot_job_info_free(info);
}

START_TEST(test_memory_queues_idle_or_not_answer_as_under_the_lock)
{
    wabot_scheduler *s = wabot_scheduler_memory_new();
    ck_assert_ptr_nonnull(s);
    char q[IDLE_QUEUES][16];
    for (int i = 0; i < IDLE_QUEUES; i++) {
        snprintf(q[i], sizeof q[i], "q%02d", i);
        idle_answers(s, q[i], T0); /* absent */
        wabot_job_record r = {.version = WABOT_JOB_RECORD_VERSION,
                              .id = "late", .payload = "p",
                              .payload_len = 1, .max_attempts = 3,
                              .run_at_ms = T0 + 500};
        ck_assert_int_eq(wabot_scheduler_enqueue(s, q[i], &r, T0), WABOT_OK);
    }
    wabot_job_info *info = wabot_job_info_new();
    for (int i = 0; i < IDLE_QUEUES; i++) {
        int64_t due = 0;
        int32_t moved = -1;
        /* delayed: due later, nothing to take yet */
        ck_assert_int_eq(wabot_scheduler_next_due(s, q[i], T0, &due),
                         WABOT_OK);
        ck_assert_int_eq(due, T0 + 500);
        ck_assert_int_eq(wabot_scheduler_reserve(s, q[i], T0, 1000, info),
                         WABOT_ERR_NOT_FOUND);
        /* due: taken, then active until its lease ends */
        ck_assert_int_eq(
            wabot_scheduler_reserve(s, q[i], T0 + 500, 1000, info), WABOT_OK);
        const wabot_job_record *r = wabot_job_info_record(info);
        ck_assert_str_eq(r->id, "late");
        uint64_t token = r->token;
        ck_assert_int_eq(wabot_scheduler_next_due(s, q[i], T0 + 500, &due),
                         WABOT_OK);
        ck_assert_int_eq(due, T0 + 1500);
        ck_assert_int_eq(
            wabot_scheduler_recover(s, q[i], T0 + 600, 1, &moved), WABOT_OK);
        ck_assert_int_eq(moved, 0);
        ck_assert_int_eq(wabot_scheduler_complete(s, q[i], "late", token,
                                                  T0 + 700),
                         WABOT_OK);
        idle_answers(s, q[i], T0 + 700); /* only finished jobs left */
    }
    /* an active job whose lease ended is recovered in every queue */
    for (int i = 0; i < IDLE_QUEUES; i++) {
        wabot_job_record r = {.version = WABOT_JOB_RECORD_VERSION,
                              .id = "stall", .payload = "p",
                              .payload_len = 1, .max_attempts = 3,
                              .run_at_ms = T0};
        int32_t moved = 0;
        ck_assert_int_eq(wabot_scheduler_enqueue(s, q[i], &r, T0), WABOT_OK);
        ck_assert_int_eq(wabot_scheduler_reserve(s, q[i], T0, 100, info),
                         WABOT_OK);
        ck_assert_int_eq(
            wabot_scheduler_recover(s, q[i], T0 + 100, 5, &moved), WABOT_OK);
        ck_assert_int_eq(moved, 1);
        /* waiting again: a waiting job cancelled leaves the queue empty */
        ck_assert_int_eq(wabot_scheduler_cancel(s, q[i], "stall"), WABOT_OK);
        idle_answers(s, q[i], T0 + 100);
    }
    wabot_job_info_free(info);
    wabot_scheduler_free(s);
}
END_TEST

/* A queue's first job, enqueued on one thread while another keeps asking
 * for a job there (the loop's pattern): each job is taken exactly once,
 * and the queue reads idle once all are taken and completed. */
#define IDLE_RACE_JOBS 2000

typedef struct idle_race {
    wabot_scheduler *s;
    atomic_int done;
} idle_race;

static void *idle_race_enqueue(void *p)
{
    idle_race *a = p;
    for (int i = 0; i < IDLE_RACE_JOBS; i++) {
        char id[16];
        snprintf(id, sizeof id, "j%d", i);
        wabot_job_record r = {.version = WABOT_JOB_RECORD_VERSION, .id = id,
                              .payload = "p", .payload_len = 1,
                              .max_attempts = 1, .run_at_ms = T0};
        ck_assert_int_eq(wabot_scheduler_enqueue(a->s, "race", &r, T0),
                         WABOT_OK);
    }
    atomic_store(&a->done, 1);
    return NULL;
}

START_TEST(test_memory_queue_filling_while_polled_gives_every_job_once)
{
    idle_race a = {wabot_scheduler_memory_new(), 0};
    static char taken[IDLE_RACE_JOBS];
    memset(taken, 0, sizeof taken);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, idle_race_enqueue, &a), 0);
    wabot_job_info *info = wabot_job_info_new();
    int got = 0;
    for (;;) {
        int finished = atomic_load(&a.done);
        int rc;
        while ((rc = wabot_scheduler_reserve(a.s, "race", T0, 60000,
                                             info)) == WABOT_OK) {
            const wabot_job_record *r = wabot_job_info_record(info);
            int k = atoi(r->id + 1);
            ck_assert_int_eq(taken[k], 0);
            taken[k] = 1;
            got++;
            ck_assert_int_eq(wabot_scheduler_complete(a.s, "race", r->id,
                                                      r->token, T0),
                             WABOT_OK);
        }
        ck_assert_int_eq(rc, WABOT_ERR_NOT_FOUND);
        if (finished)
            break; /* asked again after the last enqueue: none left */
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(got, IDLE_RACE_JOBS);
    idle_answers(a.s, "race", T0);
    wabot_job_info_free(info);
    wabot_scheduler_free(a.s);
}
END_TEST

START_TEST(test_stalled_job_recovered_once_and_late_ack_fenced)
{
    tu_clock clock;
    tu_clock_init(&clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&clock);
    wabot_scheduler *sched = wabot_scheduler_memory_new();
    wabot_ctx *a, *b;
    worker_log wa, wb;
    memset(&wa, 0, sizeof wa);
    memset(&wb, 0, sizeof wb);
    wa.retry_in = wb.retry_in = -1;
    wa.pending = 1;
    for (int i = 0; i < 2; i++) {
        wabot_options *o = wabot_options_new();
        wabot_options_set_clock(o, &k);
        wabot_options_set_scheduler(o, sched);
        wabot_options_set_int(o, WABOT_OPT_JOB_LEASE_MS, 1000);
        ck_assert_int_eq(wabot_ctx_new(i ? &b : &a, o), WABOT_OK);
        wabot_options_free(o);
    }
    wabot_worker_add(a, Q, record_worker, &wa, NULL, 1);
    wabot_worker_add(b, Q, record_worker, &wb, NULL, 1);
    enqueue(a, "j1", "x", 0, 0);
    ck_assert_int_eq(wabot_ctx_on_timeout(a), 1);
    ck_assert_int_eq(wabot_ctx_on_timeout(b), 0); /* A holds the lease */
    tu_clock_advance(&clock, 1000);
    ck_assert_int_eq(wabot_ctx_on_timeout(b), 1); /* recovered, re-run */
    ck_assert_int_eq(wb.runs, 1);
    ck_assert_int_eq(wabot_metrics_counter(b, "jobs." Q ".stalled"), 1);
    wabot_job_finish(wa.kept[0], WABOT_OK); /* A wakes up, too late */
    ck_assert_int_eq(wabot_metrics_counter(a, "jobs." Q ".fenced"), 1);
    /* counted as fenced, not as processed: the backend refused it */
    ck_assert_int_eq(wabot_metrics_counter(a, "jobs." Q ".processed"), 0);
    wabot_job_info *info;
    ck_assert_int_eq(wabot_job_get(b, Q, "j1", &info), WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_int_eq(r->state, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(r->stalls, 1);
    ck_assert_int_eq(r->attempts, 2);
    wabot_job_info_free(info);
    int64_t n[WABOT_JOB_STATE_COUNT];
    wabot_queue_counts(b, Q, n, WABOT_JOB_STATE_COUNT);
    ck_assert_int_eq(n[WABOT_JOB_COMPLETED], 1);
    ck_assert_int_eq(wa.runs + wb.runs, 2);
    wabot_ctx_free(a);
    wabot_ctx_free(b);
    wabot_scheduler_free(sched);
}
END_TEST

START_TEST(test_active_job_lease_is_renewed_while_running)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_JOB_LEASE_MS, 1000);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    worker_log w;
    memset(&w, 0, sizeof w);
    w.retry_in = -1;
    w.pending = 1;
    wabot_worker_add(e.ctx, Q, record_worker, &w, NULL, 1);
    enqueue(e.ctx, "j1", "x", 0, 0);
    tu_drain(e.ctx);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), 500); /* renew at half */
    for (int i = 0; i < 10; i++) { /* 5 s of a slow job: never stalls */
        tu_clock_advance(&e.clock, 500);
        wabot_ctx_on_timeout(e.ctx);
    }
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs." Q ".stalled"), 0);
    wabot_job_finish(w.kept[0], WABOT_OK);
    counts(e.ctx, 0, 0, 0, 1, 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_retention_trims_finished_jobs)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 8);
    ck_assert_int_eq(wabot_queue_set_retention(e.ctx, Q, 10, 0, 5, 0), WABOT_OK);
    for (int i = 0; i < 128; i++)
        ck_assert_int_eq(wabot_job_enqueue(e.ctx, Q, "x", 1, NULL, NULL), WABOT_OK);
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 128);
    counts(e.ctx, 0, 0, 0, 10, 0); /* trimmed every 64 finished jobs */
    ck_assert_int_eq(wabot_queue_set_retention(e.ctx, Q, -1, 0, 0, 0),
                     WABOT_ERR_INVAL);
    tu_env_free(&e);
}
END_TEST

static int reenter(wabot_job *job, void *ud)
{
    worker_log *w = ud;
    w->reenter_rc = wabot_ctx_on_timeout(wabot_job_ctx(job));
    return WABOT_OK;
}

START_TEST(test_callbacks_cannot_reenter_the_loop)
{
    tu_env e;
    tu_env_init(&e);
    worker_log w;
    memset(&w, 0, sizeof w);
    wabot_worker_add(e.ctx, Q, reenter, &w, NULL, 1);
    enqueue(e.ctx, "j1", "x", 0, 0);
    tu_drain(e.ctx);
    ck_assert_int_eq(w.reenter_rc, WABOT_ERR_STATE);
    counts(e.ctx, 0, 0, 0, 1, 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_worker_registration_errors)
{
    tu_env e;
    tu_env_init(&e);
    ck_assert_int_eq(wabot_worker_add(e.ctx, "bad name", record_worker, NULL, NULL, 1),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_worker_add(e.ctx, Q, NULL, NULL, NULL, 1), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_worker_add(e.ctx, Q, record_worker, NULL, NULL, 0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_worker_add(e.ctx, WABOT_QUEUE_OUTBOUND, record_worker,
                                      NULL, NULL, 1), WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, "", "x", 1, NULL, NULL), WABOT_ERR_INVAL);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.max_attempts = 0;
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, Q, "x", 1, &spec, NULL), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(e.ctx), "max_attempts"));
    ck_assert_int_eq(wabot_job_cancel(e.ctx, Q, "nope"), WABOT_ERR_NOT_FOUND);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_cancel_removes_waiting_job)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    enqueue(e.ctx, "j1", "a", 1000, 0);
    ck_assert_int_eq(wabot_job_cancel(e.ctx, Q, "j1"), WABOT_OK);
    tu_clock_advance(&e.clock, 2000);
    tu_drain(e.ctx);
    ck_assert_int_eq(w.runs, 0);
    counts(e.ctx, 0, 0, 0, 0, 0);
    tu_env_free(&e);
}
END_TEST

static int reply_hi(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "hi");
}

START_TEST(test_webhook_delivered_twice_sends_once)
{
    tu_env e;
    /* Unsigned requests, and without the inbound dedup, which would stop
     * the second delivery before the outbound queue's own dedup (by job
     * id, the subject here) is reached. */
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_DEDUP, 0), WABOT_OK);
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    wabot_route_fallback(e.ctx, NULL, reply_hi, NULL, NULL);
    wabot_http_header h[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    const char *body = "MessageSid=SM00000000000000000000000000000001&From="
                       "whatsapp%3A%2B14155550100&To=whatsapp%3A%2B14155238886&Body=hello";
    for (int i = 0; i < 2; i++) {
        wabot_http_response *r;
        ck_assert_int_eq(wabot_http_handle(e.ctx, "POST", "/whatsapp/webhook", h, 1,
                                           body, strlen(body), &r), WABOT_OK);
        ck_assert_int_eq(wabot_http_response_status(r), 200);
        wabot_http_response_free(r);
        tu_drain(e.ctx);
    }
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    /* The second delivery finds its turn committed (the turn outbox's
     * marker): the handler does not run again and nothing is re-queued. */
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbox.recovered_turns"),
                     1);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.sent"), 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_stats_json_lists_queues_with_counts)
{
    tu_env e;
    worker_log w;
    env_with_worker(&e, &w, 1);
    enqueue(e.ctx, "j1", "a", 0, 0);
    enqueue(e.ctx, "j2", "b", 5000, 0);
    tu_drain(e.ctx);
    char *s = wabot_jobs_stats_json(e.ctx);
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "%s", err.text);
    json_t *q = json_object_get(json_object_get(j, "queues"), Q);
    ck_assert_int_eq(json_integer_value(json_object_get(q, "completed")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(q, "delayed")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(q, "processed")), 1);
    const char *lib_queues[] = {"outbound", "order-processing",
                                "invoice-processing", "reminders", "campaigns"};
    for (size_t i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "queues"),
                                              lib_queues[i]));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "timestamp")),
                     tu_clock_now(&e.clock));
    json_decref(j);
    wabot_ctx_mem_free(e.ctx, s);
    tu_env_free(&e);
}
END_TEST

/* ---- loop hooks ----------------------------------------------------- */

typedef struct fake_loop {
    int fds[8];
    unsigned events[8];
    int n_fds;
    int64_t timers[64];
    int n_timers;
} fake_loop;

static int fl_watch(int fd, unsigned events, void *ud)
{
    fake_loop *l = ud;
    for (int i = 0; i < l->n_fds; i++)
        if (l->fds[i] == fd) {
            l->events[i] = events;
            return 0;
        }
    l->fds[l->n_fds] = fd;
    l->events[l->n_fds++] = events;
    return 0;
}

static int fl_timer(int64_t ms, void *ud)
{
    fake_loop *l = ud;
    if (l->n_timers < 64)
        l->timers[l->n_timers++] = ms;
    return 0;
}

START_TEST(test_timer_is_always_armed_at_the_earliest_deadline)
{
    fake_loop l;
    memset(&l, 0, sizeof l);
    wabot_loop_hooks hooks = {WABOT_LOOP_HOOKS_VERSION, fl_watch, fl_timer, &l};
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_loop(o, &hooks), WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    worker_log w;
    memset(&w, 0, sizeof w);
    w.retry_in = -1;
    wabot_worker_add(e.ctx, Q, record_worker, &w, NULL, 1);
    ck_assert_int_eq(l.n_fds, 1); /* the wake-up fd */
    ck_assert_uint_eq(l.events[0], WABOT_POLL_IN);

    enqueue(e.ctx, "late", "c", 5000, 0); /* outside the loop: wakes it */
    uint64_t v;
    ck_assert_int_eq(read(l.fds[0], &v, sizeof v), (ssize_t)sizeof v);
    ck_assert_int_eq(wabot_ctx_on_fd(e.ctx, l.fds[0], WABOT_POLL_IN), 0);
    ck_assert_int_eq(l.timers[l.n_timers - 1], 5000);

    enqueue(e.ctx, "early", "a", 2000, 0); /* earlier: wake and re-arm */
    ck_assert_int_eq(wabot_ctx_on_fd(e.ctx, l.fds[0], WABOT_POLL_IN), 0);
    ck_assert_int_eq(l.timers[l.n_timers - 1], 2000);

    int before = l.n_timers;
    enqueue(e.ctx, "later", "d", 9000, 0); /* later than armed: no wake */
    ck_assert_int_lt(read(l.fds[0], &v, sizeof v), 0);
    ck_assert_int_eq(l.n_timers, before);

    tu_clock_advance(&e.clock, 2000); /* the timer fires */
    ck_assert_int_eq(wabot_ctx_on_timeout(e.ctx), 1);
    ck_assert_int_eq(l.timers[l.n_timers - 1], 3000); /* "late" is next */
    tu_clock_advance(&e.clock, 3000);
    wabot_ctx_on_timeout(e.ctx);
    ck_assert_int_eq(l.timers[l.n_timers - 1], 4000);
    tu_clock_advance(&e.clock, 4000);
    wabot_ctx_on_timeout(e.ctx);
    ck_assert_int_eq(l.timers[l.n_timers - 1], -1); /* nothing left: disarmed */
    ck_assert_str_eq(w.order, "acd");
    ck_assert_int_eq(wabot_ctx_on_fd(e.ctx, 12345, WABOT_POLL_IN), WABOT_ERR_INVAL);
    int fd = l.fds[0];
    tu_env_free(&e);
    ck_assert_uint_eq(l.events[0], 0); /* unwatched at free */
    (void)fd;
}
END_TEST

/* A context freed with jobs its own (memory) scheduler never ran says so:
 * replies a host forgot to flush are not lost in silence. */
static void keep_warnings(void *ud, wabot_log_level level, const char *module,
                          const char *msg)
{
    (void)module;
    if (level == WABOT_LOG_WARN && strstr(msg, "never run") != NULL)
        snprintf(ud, 256, "%s", msg);
}

static int never_called(wabot_job *job, void *ud)
{
    (void)job;
    (void)ud;
    return WABOT_OK;
}

START_TEST(test_free_with_unrun_jobs_warns)
{
    static char warned[256];
    warned[0] = '\0';
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_log(o, keep_warnings, warned),
                     WABOT_OK);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    ck_assert_int_eq(
        wabot_queue_add_worker(ctx, "later", never_called, NULL, NULL, 1),
        WABOT_OK);
    ck_assert_int_eq(wabot_job_enqueue(ctx, "later", "{}", 2, NULL, NULL),
                     WABOT_OK);
    wabot_ctx_free(ctx);
    ck_assert_ptr_nonnull(strstr(warned, "1 job(s) of queue later"));
    ck_assert_ptr_nonnull(strstr(warned, "wabot_ctx_run_until_idle"));

    /* A job due next week: the loop could not have run it; the warning
     * says what loses it (the scheduler in memory), not "drive the loop". */
    warned[0] = '\0';
    o = wabot_options_new();
    wabot_options_set_log(o, keep_warnings, warned);
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    ck_assert_int_eq(
        wabot_queue_add_worker(ctx, "later", never_called, NULL, NULL, 1),
        WABOT_OK);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.delay_ms = 7LL * 24 * 3600 * 1000;
    ck_assert_int_eq(wabot_job_enqueue(ctx, "later", "{}", 2, &spec, NULL),
                     WABOT_OK);
    wabot_ctx_free(ctx);
    ck_assert_ptr_nonnull(
        strstr(warned, "1 job(s) of queue later scheduled for later"));
    ck_assert_ptr_nonnull(strstr(warned, "memory scheduler"));
    ck_assert_ptr_null(strstr(warned, "wabot_ctx_run_until_idle"));

    /* Nothing pending: nothing to say. */
    warned[0] = '\0';
    o = wabot_options_new();
    wabot_options_set_log(o, keep_warnings, warned);
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_ctx_free(ctx);
    ck_assert_str_eq(warned, "");
}
END_TEST

static Suite *jobs_suite(void)
{
    Suite *s = suite_create("jobs");
    TCase *tc = tcase_create("jobs");
    tcase_add_test(tc, test_delayed_job_runs_exactly_at_its_time);
    tcase_add_test(tc, test_jobs_run_in_due_order);
    tcase_add_test(tc, test_backoff_stays_within_jitter_bounds);
    tcase_add_test(tc, test_attempts_are_spent_then_job_fails_with_reason);
    tcase_add_test(tc, test_permanent_error_skips_retries);
    tcase_add_test(tc, test_throttled_job_is_redelayed_without_spending_an_attempt);
    tcase_add_test(tc, test_duplicate_job_id_is_not_enqueued_twice);
    tcase_add_test(tc, test_enqueue_many_queues_every_job_with_its_spec_and_id);
    tcase_add_test(tc, test_enqueue_many_refuses_bad_input_before_enqueueing_anything);
    tcase_add_test(tc, test_concurrency_limit_and_async_finish);
    tcase_add_test(tc, test_finish_before_worker_returns);
    tcase_add_test(tc, test_job_user_data_lives_until_the_run_finishes);
    tcase_add_test(tc, test_job_user_data_does_not_reach_the_retry);
    tcase_add_test(tc, test_job_user_data_of_an_abandoned_run_is_destroyed_with_the_ctx);
    tcase_add_test(tc, test_stalled_job_recovered_once_and_late_ack_fenced);
    tcase_add_test(tc, test_memory_queue_takes_each_id_once_from_many_threads);
    tcase_add_test(tc, test_memory_queues_idle_or_not_answer_as_under_the_lock);
    tcase_add_test(tc,
                   test_memory_queue_filling_while_polled_gives_every_job_once);
    tcase_add_test(tc, test_random_from_many_threads_never_repeats);
    tcase_add_test(tc, test_active_job_lease_is_renewed_while_running);
    tcase_add_test(tc, test_retention_trims_finished_jobs);
    tcase_add_test(tc, test_callbacks_cannot_reenter_the_loop);
    tcase_add_test(tc, test_worker_registration_errors);
    tcase_add_test(tc, test_cancel_removes_waiting_job);
    tcase_add_test(tc, test_webhook_delivered_twice_sends_once);
    tcase_add_test(tc, test_stats_json_lists_queues_with_counts);
    tcase_add_test(tc, test_timer_is_always_armed_at_the_earliest_deadline);
    tcase_add_test(tc, test_free_with_unrun_jobs_warns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(jobs_suite());
}
