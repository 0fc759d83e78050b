/* Jobs across real processes on one real Redis (issue 6):
 *
 *  - 4 worker processes drain 10,000 jobs from one queue: each job
 *    completes exactly once;
 *  - a worker that hangs on its jobs is killed with SIGKILL: its jobs come
 *    back after the lease, finish once in another process, and the old
 *    fencing token refuses a late ack;
 *  - Redis is killed and restarted (AOF, appendfsync always) while jobs
 *    flow: calls fail with a storage error while it is down, the processes
 *    keep running, and no job is lost.
 *
 * Every process has its own wabot_ctx on wabot_scheduler_redis_new and is
 * driven by wabot_ctx_poll with the system clock. Each test starts its own
 * redis-server (tests/redis/redis_harness.h). Without redis-server: exit
 * 77 (skip), except under CI=true, where that is a failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "redis_harness.h"
#include "wabot.h"
#include "wabot/jobs.h"
#include "wabot/loop.h"
#include "wabot/redis.h"

#define SCHED_PREFIX "wbjobs:"   /* the scheduler's keys */
#define TEST_PREFIX "wbjobs-test:" /* what the test workers record */
#define WAIT_MS 90000            /* for any one phase of a test */

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static wabot_redis *redis_connect(int port)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = port;
    cfg.prefix = SCHED_PREFIX;
    cfg.command_timeout_ms = 2000;
    return wabot_redis_new(&cfg, NULL);
}

static redisContext *raw_connect(int port)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && c->err != 0) {
        redisFree(c);
        return NULL;
    }
    if (c != NULL)
        redisSetTimeout(c, tv);
    return c;
}

/* A context on the Redis scheduler (system clock). */
static wabot_ctx *ctx_on(wabot_scheduler *sched, int64_t lease_ms,
                         wabot_log_fn log, void *log_ud)
{
    wabot_options *o = wabot_options_new();
    if (o == NULL)
        return NULL;
    wabot_options_set_scheduler(o, sched);
    wabot_options_set_int(o, WABOT_OPT_JOB_LEASE_MS, lease_ms);
    wabot_options_set_int(o, WABOT_OPT_JOB_POLL_MS, 20);
    /* An outage may strand a job once; it must come back, not fail. */
    wabot_options_set_int(o, WABOT_OPT_JOB_MAX_STALLS, 5);
    if (log != NULL)
        wabot_options_set_log(o, log, log_ud);
    wabot_ctx *ctx = NULL;
    int rc = wabot_ctx_new(&ctx, o);
    wabot_options_free(o);
    return rc == WABOT_OK ? ctx : NULL;
}

/* ------------------------------------------------------------------ */
/* Worker processes                                                    */

enum wk_mode {
    WK_RECORD_IN_REDIS, /* HINCRBY done <id> on a side connection */
    WK_RECORD_IN_FILE,  /* append the id to a file (survives an outage) */
    WK_HANG             /* return PENDING and never finish */
};

typedef struct wk_cfg {
    int port;
    const char *queue;
    enum wk_mode mode;
    int64_t lease_ms;
    int concurrency;
    const char *file; /* WK_RECORD_IN_FILE */
} wk_cfg;

typedef struct wk_state {
    const wk_cfg *cfg;
    redisContext *side;
    FILE *out;
    int failures;      /* could not record a job */
    long storage_logs; /* the library's error logs (Redis down) */
} wk_state;

static volatile sig_atomic_t g_stop;

static void on_sigterm(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void wk_log(void *ud, wabot_log_level level, const char *module,
                   const char *msg)
{
    wk_state *st = ud;
    (void)module;
    if (level >= WABOT_LOG_WARN &&
        (strstr(msg, wabot_strerror(WABOT_ERR_STORAGE)) != NULL ||
         strstr(msg, wabot_strerror(WABOT_ERR_TIMEOUT)) != NULL))
        st->storage_logs++;
}

static int record_in_redis(wk_state *st, const char *id)
{
    redisReply *r = redisCommand(st->side, "HINCRBY %sdone %s 1", TEST_PREFIX,
                                 id);
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    r = redisCommand(st->side, "HINCRBY %sby-pid %d 1", TEST_PREFIX,
                     (int)getpid());
    freeReplyObject(r);
    return ok;
}

static int wk_job(wabot_job *job, void *ud)
{
    wk_state *st = ud;
    const char *id = wabot_job_id(job);
    switch (st->cfg->mode) {
    case WK_HANG:
        return WABOT_JOB_PENDING; /* never finished: a hung worker */
    case WK_RECORD_IN_FILE:
        fprintf(st->out, "%s\n", id);
        fflush(st->out);
        return WABOT_OK;
    case WK_RECORD_IN_REDIS:
        break;
    }
    if (!record_in_redis(st, id)) {
        st->failures++;
        return WABOT_ERR_STORAGE;
    }
    return WABOT_OK;
}

/* The body of a worker process: run the queue until SIGTERM. The exit
 * code says whether it could set itself up and record every job. */
static int worker_main(const wk_cfg *cfg)
{
    signal(SIGTERM, on_sigterm);
    wk_state st = {cfg, NULL, NULL, 0, 0};
    if (cfg->mode == WK_RECORD_IN_REDIS && !(st.side = raw_connect(cfg->port)))
        return 10;
    if (cfg->mode == WK_RECORD_IN_FILE && !(st.out = fopen(cfg->file, "w")))
        return 11;
    wabot_redis *r = redis_connect(cfg->port);
    wabot_scheduler *sched = r ? wabot_scheduler_redis_new(r) : NULL;
    wabot_ctx *ctx = sched ? ctx_on(sched, cfg->lease_ms, wk_log, &st) : NULL;
    if (ctx == NULL)
        return 12;
    /* Keep every finished job, so the test can count them all. */
    wabot_queue_set_retention(ctx, cfg->queue, 1000000, 0, 1000000, 0);
    if (wabot_worker_add(ctx, cfg->queue, wk_job, &st, NULL,
                         cfg->concurrency) != WABOT_OK)
        return 13;
    int64_t deadline = now_ms() + 4 * WAIT_MS;
    while (!g_stop && now_ms() < deadline)
        wabot_ctx_poll(ctx, 20);
    if (st.out != NULL) {
        fprintf(st.out, "#storage-logs %ld\n", st.storage_logs);
        fclose(st.out);
    }
    wabot_ctx_free(ctx);
    wabot_scheduler_free(sched);
    wabot_redis_free(r);
    if (st.side != NULL)
        redisFree(st.side);
    return st.failures == 0 ? 0 : 14;
}

static pid_t spawn_worker(const wk_cfg *cfg)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        exit(worker_main(cfg)); /* exit: sanitizers check the worker too */
    return pid;
}

static int still_running(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* SIGTERM, then wait; every worker must exit 0. */
static void stop_workers(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    for (int i = 0; i < n; i++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "worker %d ended with status %#x", (int)pids[i],
                      status);
    }
}

/* ------------------------------------------------------------------ */
/* The test process's own context                                      */

typedef struct client {
    wabot_redis *r;
    wabot_scheduler *sched;
    wabot_ctx *ctx;
} client;

static void client_open(client *c, int port)
{
    c->r = redis_connect(port);
    ck_assert_ptr_nonnull(c->r);
    c->sched = wabot_scheduler_redis_new(c->r);
    ck_assert_ptr_nonnull(c->sched);
    c->ctx = ctx_on(c->sched, 30000, NULL, NULL);
    ck_assert_ptr_nonnull(c->ctx);
}

static void client_close(client *c)
{
    wabot_ctx_free(c->ctx);
    wabot_scheduler_free(c->sched);
    wabot_redis_free(c->r);
}

static int enqueue_later(client *c, const char *queue, int i,
                         int64_t delay_ms)
{
    char id[32];
    snprintf(id, sizeof id, "job-%05d", i);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = id;
    spec.delay_ms = delay_ms;
    return wabot_job_enqueue(c->ctx, queue, id, strlen(id), &spec, NULL);
}

static int enqueue_one(client *c, const char *queue, int i)
{
    return enqueue_later(c, queue, i, 0);
}

static void counts_of(client *c, const char *queue, int64_t *counts)
{
    ck_assert_int_eq(
        wabot_queue_counts(c->ctx, queue, counts, WABOT_JOB_STATE_COUNT),
        WABOT_OK);
}

/* Wait until `queue` has `want` jobs in `state` (asserts on timeout). */
static void wait_for_count(client *c, const char *queue, int state,
                           int64_t want)
{
    int64_t deadline = now_ms() + WAIT_MS, counts[WABOT_JOB_STATE_COUNT];
    for (;;) {
        counts_of(c, queue, counts);
        if (counts[state] == want)
            return;
        ck_assert_msg(now_ms() < deadline,
                      "%s: %lld %s jobs, want %lld (w/d/a/c/f %lld/%lld/"
                      "%lld/%lld/%lld)",
                      queue, (long long)counts[state],
                      wabot_job_state_name(state), (long long)want,
                      (long long)counts[0], (long long)counts[1],
                      (long long)counts[2], (long long)counts[3],
                      (long long)counts[4]);
        sleep_ms(20);
    }
}

static void expect_counts(client *c, const char *queue, int64_t completed)
{
    int64_t counts[WABOT_JOB_STATE_COUNT];
    counts_of(c, queue, counts);
    ck_assert_int_eq(counts[WABOT_JOB_WAITING], 0);
    ck_assert_int_eq(counts[WABOT_JOB_DELAYED], 0);
    ck_assert_int_eq(counts[WABOT_JOB_ACTIVE], 0);
    ck_assert_int_eq(counts[WABOT_JOB_COMPLETED], completed);
    ck_assert_int_eq(counts[WABOT_JOB_FAILED], 0);
}

/* HGET <TEST_PREFIX>done <id> as a number (0 if absent). */
static long long times_done(redisContext *rc, const char *id)
{
    redisReply *r = redisCommand(rc, "HGET %sdone %s", TEST_PREFIX, id);
    ck_assert_ptr_nonnull(r);
    long long n = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return n;
}

/* ------------------------------------------------------------------ */
/* 4 processes, 10,000 jobs                                            */

#define DRAIN_JOBS 10000
#define DRAIN_WORKERS 4

static void print_distribution(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "HGETALL %sby-pid", TEST_PREFIX);
    ck_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
    fprintf(stderr, "jobs per worker process:");
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        fprintf(stderr, " pid %s: %s", r->element[i]->str,
                r->element[i + 1]->str);
    fprintf(stderr, "\n");
    freeReplyObject(r);
}

START_TEST(test_four_processes_drain_10000_jobs_each_exactly_once)
{
    rh_server srv;
    ck_assert_int_eq(rh_start(&srv, 0), 0);
    wk_cfg cfg = {srv.port, "drain", WK_RECORD_IN_REDIS, 30000, 8, NULL};
    pid_t pids[DRAIN_WORKERS];
    for (int i = 0; i < DRAIN_WORKERS; i++)
        pids[i] = spawn_worker(&cfg);

    /* Enqueue while the workers already drain. */
    client c;
    client_open(&c, srv.port);
    int64_t t0 = now_ms();
    for (int i = 0; i < DRAIN_JOBS; i++)
        ck_assert_int_eq(enqueue_one(&c, "drain", i), WABOT_OK);
    wait_for_count(&c, "drain", WABOT_JOB_COMPLETED, DRAIN_JOBS);
    fprintf(stderr, "%d jobs through %d processes in %lld ms\n", DRAIN_JOBS,
            DRAIN_WORKERS, (long long)(now_ms() - t0));
    stop_workers(pids, DRAIN_WORKERS);

    redisContext *rc = raw_connect(srv.port);
    ck_assert_ptr_nonnull(rc);
    redisReply *r = redisCommand(rc, "HLEN %sdone", TEST_PREFIX);
    ck_assert_int_eq(r->integer, DRAIN_JOBS);
    freeReplyObject(r);
    char id[32];
    for (int i = 0; i < DRAIN_JOBS; i++) {
        snprintf(id, sizeof id, "job-%05d", i);
        ck_assert_msg(times_done(rc, id) == 1, "%s done %lld times", id,
                      times_done(rc, id));
    }
    print_distribution(rc);
    expect_counts(&c, "drain", DRAIN_JOBS);
    redisFree(rc);
    client_close(&c);
    rh_destroy(&srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SIGKILL in the middle of jobs                                       */

#define HANG_JOBS 20
#define HANG_HELD 5
#define HANG_LEASE_MS 1000

typedef struct held_job {
    char id[32];
    uint64_t token;
    int64_t lease_until_ms;
} held_job;

/* The jobs the hung worker holds, with their tokens, as the store says. */
static int collect_held(client *c, held_job *held)
{
    int n = 0;
    for (int i = 0; i < HANG_JOBS; i++) {
        char id[32];
        snprintf(id, sizeof id, "job-%05d", i);
        wabot_job_info *info = NULL;
        ck_assert_int_eq(wabot_job_get(c->ctx, "hang", id, &info), WABOT_OK);
        const wabot_job_record *g = wabot_job_info_record(info);
        if (g->state == WABOT_JOB_ACTIVE) {
            ck_assert_int_lt(n, HANG_HELD);
            snprintf(held[n].id, sizeof held[n].id, "%s", id);
            held[n].token = g->token;
            held[n].lease_until_ms = g->lease_until_ms;
            n++;
        }
        wabot_job_info_free(info);
    }
    return n;
}

START_TEST(test_killed_worker_jobs_return_after_lease_and_late_ack_is_fenced)
{
    rh_server srv;
    ck_assert_int_eq(rh_start(&srv, 0), 0);
    client c;
    client_open(&c, srv.port);
    for (int i = 0; i < HANG_JOBS; i++)
        ck_assert_int_eq(enqueue_one(&c, "hang", i), WABOT_OK);

    wk_cfg hang = {srv.port, "hang", WK_HANG, HANG_LEASE_MS, HANG_HELD,
                   NULL};
    pid_t hanger = spawn_worker(&hang);
    wait_for_count(&c, "hang", WABOT_JOB_ACTIVE, HANG_HELD);
    held_job held[HANG_HELD], later[HANG_HELD];
    ck_assert_int_eq(collect_held(&c, held), HANG_HELD);

    /* While it lives, the hung worker renews its leases: after three
     * lease lengths it still holds the same jobs under the same tokens. */
    sleep_ms(3 * HANG_LEASE_MS);
    ck_assert_int_eq(collect_held(&c, later), HANG_HELD);
    for (int i = 0; i < HANG_HELD; i++) {
        ck_assert_str_eq(later[i].id, held[i].id);
        ck_assert_uint_eq(later[i].token, held[i].token);
    }

    ck_assert_int_eq(kill(hanger, SIGKILL), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(hanger, &status, 0), hanger);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* The leases as the dead process left them. */
    ck_assert_int_eq(collect_held(&c, held), HANG_HELD);

    wk_cfg rescue = {srv.port, "hang", WK_RECORD_IN_REDIS, HANG_LEASE_MS, 4,
                     NULL};
    pid_t rescuer = spawn_worker(&rescue);
    wait_for_count(&c, "hang", WABOT_JOB_COMPLETED, HANG_JOBS);
    stop_workers(&rescuer, 1);

    redisContext *rc = raw_connect(srv.port);
    ck_assert_ptr_nonnull(rc);
    char id[32];
    for (int i = 0; i < HANG_JOBS; i++) {
        snprintf(id, sizeof id, "job-%05d", i);
        ck_assert_int_eq(times_done(rc, id), 1);
    }
    redisFree(rc);

    for (int i = 0; i < HANG_HELD; i++) {
        const held_job *h = &held[i];
        wabot_job_info *info = NULL;
        ck_assert_int_eq(wabot_job_get(c.ctx, "hang", h->id, &info),
                         WABOT_OK);
        const wabot_job_record *g = wabot_job_info_record(info);
        ck_assert_int_eq(g->state, WABOT_JOB_COMPLETED);
        ck_assert_int_eq(g->stalls, 1);
        ck_assert_int_eq(g->attempts, 2);
        ck_assert_uint_gt(g->token, h->token);
        /* Not taken back before the dead worker's lease ran out. */
        ck_assert_int_ge(g->finished_ms, h->lease_until_ms);
        wabot_job_info_free(info);

        /* The late ack of the killed worker, had it survived. */
        int64_t now = now_ms();
        ck_assert_int_eq(wabot_scheduler_complete(c.sched, "hang", h->id,
                                                  h->token, now),
                         WABOT_ERR_CONFLICT);
        ck_assert_int_eq(wabot_scheduler_fail(c.sched, "hang", h->id,
                                              h->token, now, "late", -1),
                         WABOT_ERR_CONFLICT);
        ck_assert_int_eq(wabot_scheduler_extend(c.sched, "hang", h->id,
                                                h->token, now + 1000),
                         WABOT_ERR_CONFLICT);
        ck_assert_int_eq(wabot_scheduler_release(c.sched, "hang", h->id,
                                                 h->token, now, now),
                         WABOT_ERR_CONFLICT);
    }
    expect_counts(&c, "hang", HANG_JOBS);
    client_close(&c);
    rh_destroy(&srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Redis stops and comes back while jobs flow                          */

#define OUTAGE_JOBS 3000
#define OUTAGE_WORKERS 3
#define OUTAGE_CONCURRENCY 4
#define OUTAGE_AT 1000 /* jobs enqueued before Redis is killed */
#define OUTAGE_MS 1500
#define OUTAGE_DELAY_MS 1000 /* of every fifth job */

/* Enqueue job i, retrying until it is stored. A retry after a lost reply
 * may find the job already there: the id deduplicates, so EXISTS means
 * stored. Every fifth job is delayed, so the outage finds jobs in every
 * unfinished state. */
static void enqueue_until_stored(client *c, int i)
{
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        int rc = enqueue_later(c, "flow", i, i % 5 == 0 ? OUTAGE_DELAY_MS : 0);
        if (rc == WABOT_OK || rc == WABOT_ERR_EXISTS)
            return;
        ck_assert_msg(rc == WABOT_ERR_STORAGE || rc == WABOT_ERR_TIMEOUT ||
                          rc == WABOT_ERR_BUSY,
                      "enqueue: %s", wabot_strerror(rc));
        ck_assert_int_lt(now_ms(), deadline);
        sleep_ms(20);
    }
}

/* While Redis is down: every call fails fast with a storage error (the
 * loop is never blocked for long) and says so in the context's message. */
static void expect_outage_errors(client *c, const pid_t *pids, int n)
{
    int64_t end = now_ms() + OUTAGE_MS;
    int calls = 0;
    char msg[256] = "";
    while (now_ms() < end) {
        int64_t t = now_ms();
        int rc = enqueue_one(c, "flow", OUTAGE_JOBS + 1);
        ck_assert_msg(rc == WABOT_ERR_STORAGE || rc == WABOT_ERR_TIMEOUT,
                      "enqueue while Redis is down: %s", wabot_strerror(rc));
        snprintf(msg, sizeof msg, "%s", wabot_ctx_errmsg(c->ctx));
        ck_assert_ptr_nonnull(strstr(msg, wabot_strerror(rc)));
        int64_t counts[WABOT_JOB_STATE_COUNT];
        rc = wabot_queue_counts(c->ctx, "flow", counts, WABOT_JOB_STATE_COUNT);
        ck_assert(rc == WABOT_ERR_STORAGE || rc == WABOT_ERR_TIMEOUT);
        ck_assert_int_lt(now_ms() - t, 5000);
        calls++;
        sleep_ms(50);
    }
    fprintf(stderr, "while down: %d enqueue attempts, e.g. \"%s\"\n", calls,
            msg);
    for (int i = 0; i < n; i++)
        ck_assert_msg(still_running(pids[i]), "worker %d died in the outage",
                      (int)pids[i]);
}

/* Read one worker's file: how often each job ran, and its log count. */
static long read_worker_file(const char *path, int *runs)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[64];
    long logs = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        int i;
        if (sscanf(line, "#storage-logs %ld", &logs) == 1)
            continue;
        ck_assert_int_eq(sscanf(line, "job-%d", &i), 1);
        ck_assert(i >= 0 && i < OUTAGE_JOBS);
        runs[i]++;
    }
    fclose(f);
    return logs;
}

START_TEST(test_redis_restart_with_aof_loses_no_job)
{
    rh_server srv;
    ck_assert_int_eq(rh_start(&srv, 1), 0);
    char files[OUTAGE_WORKERS][300];
    wk_cfg cfgs[OUTAGE_WORKERS];
    pid_t pids[OUTAGE_WORKERS];
    for (int i = 0; i < OUTAGE_WORKERS; i++) {
        snprintf(files[i], sizeof files[i], "%s/worker-%d.jobs", srv.dir, i);
        cfgs[i] = (wk_cfg){srv.port, "flow", WK_RECORD_IN_FILE, 1000,
                           OUTAGE_CONCURRENCY, files[i]};
        pids[i] = spawn_worker(&cfgs[i]);
    }
    client c;
    client_open(&c, srv.port);
    for (int i = 0; i < OUTAGE_AT; i++)
        enqueue_until_stored(&c, i);

    int64_t at_kill[WABOT_JOB_STATE_COUNT];
    counts_of(&c, "flow", at_kill);
    fprintf(stderr, "Redis killed with w/d/a/c/f %lld/%lld/%lld/%lld/%lld\n",
            (long long)at_kill[0], (long long)at_kill[1],
            (long long)at_kill[2], (long long)at_kill[3],
            (long long)at_kill[4]);
    rh_kill(&srv); /* no clean shutdown: only the AOF saves the jobs */
    expect_outage_errors(&c, pids, OUTAGE_WORKERS);
    ck_assert_int_eq(rh_restart(&srv), 0);

    for (int i = OUTAGE_AT; i < OUTAGE_JOBS; i++)
        enqueue_until_stored(&c, i);
    wait_for_count(&c, "flow", WABOT_JOB_COMPLETED, OUTAGE_JOBS);
    stop_workers(pids, OUTAGE_WORKERS);
    expect_counts(&c, "flow", OUTAGE_JOBS);

    static int runs[OUTAGE_JOBS];
    memset(runs, 0, sizeof runs);
    long logs = 0;
    for (int i = 0; i < OUTAGE_WORKERS; i++) {
        long l = read_worker_file(files[i], runs);
        ck_assert_int_ge(l, 0);
        logs += l;
    }
    /* Every job ran; a second run is only possible for a job whose
     * outcome was in flight when Redis died (at-least-once). */
    int again = 0;
    for (int i = 0; i < OUTAGE_JOBS; i++) {
        ck_assert_msg(runs[i] >= 1, "job-%05d never ran", i);
        again += runs[i] - 1;
    }
    fprintf(stderr, "after the restart: %d jobs completed, %d ran twice, "
            "%ld storage errors logged by the workers\n", OUTAGE_JOBS, again,
            logs);
    ck_assert_int_le(again, OUTAGE_WORKERS * OUTAGE_CONCURRENCY);
    ck_assert_int_gt(logs, 0); /* the workers saw the outage */
    client_close(&c);
    rh_destroy(&srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Many jobs in one call                                               */

#define MANY 1000

static int many_runs[MANY];

static int count_run(wabot_job *job, void *ud)
{
    (void)ud;
    size_t len;
    int i = atoi(wabot_job_payload(job, &len));
    if (i >= 0 && i < MANY)
        many_runs[i]++;
    return WABOT_OK;
}

START_TEST(test_enqueue_many_is_one_round_trip_and_each_job_runs_once)
{
    rh_server srv;
    ck_assert_int_eq(rh_start(&srv, 0), 0);
    wabot_redis *r = redis_connect(srv.port);
    ck_assert_ptr_nonnull(r);
    wabot_scheduler *sched = wabot_scheduler_redis_new(r);
    ck_assert_ptr_nonnull(sched);
    wabot_ctx *ctx = ctx_on(sched, 5000, NULL, NULL);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(wabot_queue_add_worker(ctx, "many", count_run, NULL, NULL,
                                            16),
                     WABOT_OK);
    memset(many_runs, 0, sizeof many_runs);

    /* Job 7 is on the queue already. */
    wabot_job_spec spec[MANY];
    const wabot_job_spec *specs[MANY];
    static char payload[MANY][8], id[MANY][16];
    const char *payloads[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(payload[i], sizeof payload[i], "%d", i);
        snprintf(id[i], sizeof id[i], "m-%04d", i);
        payloads[i] = payload[i];
        wabot_job_spec_init(&spec[i]);
        spec[i].job_id = id[i];
        specs[i] = &spec[i];
    }
    ck_assert_int_eq(wabot_job_enqueue(ctx, "many", "7", 1, &spec[7], NULL),
                     WABOT_OK);

    static int results[MANY];
    static char *ids[MANY];
    /* The first call loads the script: a round trip of its own. */
    const char *warm[] = {"-1"};
    ck_assert_int_eq(wabot_job_enqueue_many(ctx, "many", 1, warm, NULL, NULL,
                                            NULL, NULL),
                     WABOT_OK);
    int64_t rt0 = wabot_redis_round_trips(r);
    ck_assert_int_eq(wabot_job_enqueue_many(ctx, "many", MANY, payloads, NULL,
                                            specs, ids, results),
                     WABOT_OK);
    ck_assert_int_eq(wabot_redis_round_trips(r) - rt0, 1);
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_eq(results[i], i == 7 ? WABOT_ERR_EXISTS : WABOT_OK);
        ck_assert_str_eq(ids[i], id[i]);
        wabot_ctx_mem_free(ctx, ids[i]);
    }
    int64_t n[WABOT_JOB_STATE_COUNT];
    ck_assert_int_eq(wabot_queue_counts(ctx, "many", n, WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(n[WABOT_JOB_WAITING], MANY + 1);

    int64_t t0 = now_ms();
    do
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    while (wabot_metrics_counter(ctx, "jobs.many.processed") < MANY + 1 &&
           now_ms() - t0 < WAIT_MS);
    for (int i = 0; i < MANY; i++)
        ck_assert_msg(many_runs[i] == 1, "job %d ran %d times", i,
                      many_runs[i]);

    /* Redis gone: every job answers the failure, none has an id. */
    rh_stop(&srv);
    for (int i = 0; i < MANY; i++)
        spec[i].job_id = NULL;
    ck_assert_int_eq(wabot_job_enqueue_many(ctx, "many", 3, payloads, NULL,
                                            NULL, ids, results),
                     WABOT_ERR_STORAGE);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(results[i], WABOT_ERR_STORAGE);
        ck_assert_ptr_null(ids[i]);
    }
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(ctx), "3 of 3 jobs failed"));
    wabot_ctx_free(ctx);
    wabot_scheduler_free(sched);
    wabot_redis_free(r);
    rh_destroy(&srv);
}
END_TEST

int main(void)
{
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    Suite *s = suite_create("redis-jobs");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_four_processes_drain_10000_jobs_each_exactly_once);
    tcase_add_test(
        tc, test_killed_worker_jobs_return_after_lease_and_late_ack_is_fenced);
    tcase_add_test(tc, test_redis_restart_with_aof_loses_no_job);
    tcase_add_test(tc, test_enqueue_many_is_one_round_trip_and_each_job_runs_once);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
