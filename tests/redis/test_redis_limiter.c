/* The Redis GCRA limiter against a real redis-server: the memory limiter's
 * behaviours (tests/unit/test_resilience.c) with injected times, limits
 * shared by two handles (two processes), and the connection layer under
 * failure: a Redis outage (kill, restart), an unresponsive server
 * (command timeout), a flushed script cache (NOSCRIPT) and a small pool
 * shared by many threads. Ends with a throughput figure. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"
#include "limiter_suite.h"
#include "redis_harness.h"
#include "testutil.h"

#define T0 TU_EPOCH_MS
#define THREADS 4

static rh_server g_srv;
static wabot_redis *R;
static wabot_limiter *L;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fresh_prefix(char *buf, size_t n)
{
    static int counter;
    snprintf(buf, n, "lim%ld-%d:", (long)getpid(), ++counter);
}

static wabot_redis *new_handle_on(const rh_server *s, const char *prefix,
                                  int64_t command_timeout_ms, int pool)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = s->port;
    cfg.prefix = prefix;
    cfg.command_timeout_ms = command_timeout_ms;
    cfg.connect_timeout_ms = command_timeout_ms;
    cfg.pool_size = pool;
    const char *err = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &err);
    ck_assert_msg(r != NULL, "wabot_redis_new: %s", err ? err : "?");
    return r;
}

static void setup(void)
{
    char prefix[64];
    fresh_prefix(prefix, sizeof prefix);
    R = new_handle_on(&g_srv, prefix, 2000, 4);
    L = wabot_limiter_redis_new(R);
    ck_assert_ptr_nonnull(L);
}

static void teardown(void)
{
    wabot_limiter_free(L);
    wabot_redis_free(R);
    L = NULL;
    R = NULL;
}

static wabot_rate_limit rl(const char *key, int64_t count, int64_t period,
                           int64_t burst)
{
    return (wabot_rate_limit){
        .key = key, .count = count, .period_ms = period, .burst = burst};
}

/* The shared GCRA suite (tests/conformance/limiter_suite.c) on Redis: each
 * limiter on its own handle and a fresh key prefix. */
static wabot_redis *suite_handle;

static wabot_limiter *redis_create(void *ud)
{
    (void)ud;
    char prefix[64];
    fresh_prefix(prefix, sizeof prefix);
    suite_handle = new_handle_on(&g_srv, prefix, 2000, 4);
    return wabot_limiter_redis_new(suite_handle);
}

static void redis_destroy(wabot_limiter *l, void *ud)
{
    (void)ud;
    wabot_limiter_free(l);
    wabot_redis_free(suite_handle);
    suite_handle = NULL;
}

static int check1(wabot_limiter *l, wabot_rate_limit r, int64_t now,
                  int64_t *retry)
{
    return wabot_limiter_check(l, &r, 1, now, retry);
}


/* ------------------------------------------------------------------ */
/* GCRA, as the memory backend                                          */













START_TEST(test_redis_limiter_idle_key_answers_like_a_new_one)
{
    wabot_rate_limit r = rl("pair:a:b", 1, 6000, 2);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(check1(L, r, T0, NULL), WABOT_OK);
    int64_t later = T0 + 60000;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(check1(L, r, later, NULL), WABOT_OK);
    int64_t retry = 0;
    ck_assert_int_eq(check1(L, r, later, &retry), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 6000);
}
END_TEST

START_TEST(test_redis_limiter_keys_expire_a_second_after_their_tat)
{
    char prefix[64], args[128], out[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle_on(&g_srv, prefix, 2000, 1);
    wabot_limiter *l = wabot_limiter_redis_new(r);
    /* T = 100 ms, burst 4: five calls put the TAT 500 ms ahead. */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(check1(l, rl("c", 10, 1000, 4), T0, NULL),
                         WABOT_OK);
    snprintf(args, sizeof args, "PTTL %sgcra:c", prefix);
    ck_assert_int_eq(rh_cli(&g_srv, args, out, sizeof out), 0);
    long ttl = strtol(out, NULL, 10);
    ck_assert_int_gt(ttl, 1000);
    ck_assert_int_le(ttl, 1500);
    wabot_limiter_free(l);
    wabot_redis_free(r);
}
END_TEST



START_TEST(test_redis_limiter_rejects_bad_arguments_before_redis)
{
    wabot_rate_limit good = rl("k", 1, 1000, 0);
    int64_t retry = 77;
    wabot_rate_limit bad[] = {rl(NULL, 1, 1000, 0), rl("", 1, 1000, 0),
                              rl("k", 0, 1000, 0), rl("k", 1, 0, 0),
                              rl("k", 1, 1000, -1)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wabot_rate_limit pair[2] = {good, bad[i]};
        ck_assert_int_eq(wabot_limiter_check(L, pair, 2, T0, &retry),
                         WABOT_ERR_INVAL);
    }
    ck_assert_int_eq(retry, 77);
    ck_assert_int_eq(check1(L, good, T0, NULL), WABOT_OK);
    ck_assert_int_eq(check1(L, good, T0, NULL), WABOT_ERR_RATE_LIMITED);
}
END_TEST

START_TEST(test_redis_limiter_extreme_limits_stay_sane)
{
    /* Beyond the exact range the answers are still "allowed once, then
     * refused": nothing overflows into allowing more. */
    wabot_rate_limit huge = rl("h", 1, INT64_MAX, INT64_MAX);
    ck_assert_int_eq(check1(L, huge, T0, NULL), WABOT_OK);
    wabot_rate_limit slow = rl("s", 1, INT64_MAX / 2, 0);
    int64_t retry = 0;
    ck_assert_int_eq(check1(L, slow, T0, NULL), WABOT_OK);
    ck_assert_int_eq(check1(L, slow, T0, &retry), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_gt(retry, 0);
    ck_assert_int_eq(check1(L, rl("f", 1, 1000, 0), INT64_MAX, NULL),
                     WABOT_OK);
    ck_assert_int_eq(check1(L, rl("g", 1, 1000, 0), INT64_MIN, NULL),
                     WABOT_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The connection layer under failure (each test has its own server)    */

START_TEST(test_redis_outage_fails_fast_then_recovers_without_new_handle)
{
    rh_server s;
    ck_assert_int_eq(rh_start(&s, 1), 0);
    wabot_redis *r = new_handle_on(&s, "out:", 500, 4);
    wabot_limiter *l = wabot_limiter_redis_new(r);
    wabot_storage *st = wabot_storage_redis_new(r);
    wabot_rate_limit lim = rl("pair:a:b", 1, 6000, 0);
    ck_assert_int_eq(check1(l, lim, T0, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_storage_set(st, "k", "v", 1, 0, NULL), WABOT_OK);

    rh_kill(&s);
    /* While down: every call fails with a storage error, at once. */
    int64_t worst = 0;
    for (int i = 0; i < 50; i++) {
        int64_t t = mono_ms();
        ck_assert_int_eq(check1(l, lim, T0 + 10000 + i, NULL),
                         WABOT_ERR_STORAGE);
        ck_assert_int_eq(wabot_storage_get(st, "k", &(char *){NULL}, NULL,
                                           NULL),
                         WABOT_ERR_STORAGE);
        t = mono_ms() - t;
        if (t > worst)
            worst = t;
        sleep_ms(10);
    }
    printf("outage: slowest failing call pair took %lld ms\n",
           (long long)worst);
    ck_assert_int_lt(worst, 500); /* well within the command timeout */
    wb_redis_stats stats;
    wb_redis_stats_of(r, &stats);
    ck_assert_int_gt(stats.fast_failures, 0); /* backoff spared connects */
    char why[128];
    wb_redis_last_error(r, why, sizeof why);
    ck_assert_msg(why[0] != '\0', "no failure description");

    /* Back up (AOF replayed): the same handle works again. */
    ck_assert_int_eq(rh_restart(&s), 0);
    int64_t t0 = mono_ms();
    int rc;
    while ((rc = check1(l, lim, T0 + 20000, NULL)) == WABOT_ERR_STORAGE &&
           mono_ms() - t0 < 10000)
        sleep_ms(20);
    ck_assert_int_eq(rc, WABOT_OK);
    printf("outage: recovered %lld ms after the restart\n",
           (long long)(mono_ms() - t0));
    /* The state written before the outage survived it (AOF). */
    int64_t retry = 0;
    ck_assert_int_eq(check1(l, lim, T0 + 20000, &retry),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 6000);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(st, "k", &val, NULL, NULL), WABOT_OK);
    ck_assert_str_eq(val, "v");
    wabot_free(val);

    wabot_storage_free(st);
    wabot_limiter_free(l);
    wabot_redis_free(r);
    rh_destroy(&s);
}
END_TEST

START_TEST(test_redis_idle_connections_survive_a_clean_restart)
{
    /* A restart while the pool is idle costs no failed call: idle
     * connections are checked before use. */
    rh_server s;
    ck_assert_int_eq(rh_start(&s, 1), 0);
    wabot_redis *r = new_handle_on(&s, "idle:", 1000, 2);
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "k", "v", 1, 0, NULL), WABOT_OK);
    ck_assert_int_eq(rh_restart(&s), 0);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(st, "k", &val, NULL, NULL), WABOT_OK);
    ck_assert_str_eq(val, "v");
    wabot_free(val);
    wabot_storage_free(st);
    wabot_redis_free(r);
    rh_destroy(&s);
}
END_TEST

START_TEST(test_redis_unresponsive_server_times_out_then_recovers)
{
    rh_server s;
    ck_assert_int_eq(rh_start(&s, 0), 0);
    wabot_redis *r = new_handle_on(&s, "slow:", 300, 2);
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "k", "v", 1, 0, NULL), WABOT_OK);
    ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
    int64_t t = mono_ms();
    int rc = wabot_storage_set(st, "k", "w", 1, 0, NULL);
    t = mono_ms() - t;
    kill(s.pid, SIGCONT);
    ck_assert_int_eq(rc, WABOT_ERR_TIMEOUT);
    ck_assert_int_ge(t, 250);
    ck_assert_int_lt(t, 1500);
    /* The timed-out connection was dropped: no late reply is misread. */
    char *val = NULL;
    uint64_t v = 0;
    ck_assert_int_eq(wabot_storage_get(st, "k", &val, NULL, &v), WABOT_OK);
    /* A timed-out write may or may not have happened (here the server
     * still had it in its socket buffer); either way no stale reply. */
    ck_assert_msg(strcmp(val, "v") == 0 || strcmp(val, "w") == 0, "%s", val);
    wabot_free(val);
    ck_assert_int_eq(wabot_storage_incr(st, "n", 2, 0, NULL), WABOT_OK);
    wb_redis_stats stats;
    wb_redis_stats_of(r, &stats);
    ck_assert_int_ge(stats.broken, 1);
    wabot_storage_free(st);
    wabot_redis_free(r);
    rh_destroy(&s);
}
END_TEST

START_TEST(test_redis_flushed_script_cache_is_reloaded)
{
    ck_assert_int_eq(check1(L, rl("k", 1, 1000, 0), T0, NULL), WABOT_OK);
    wb_redis_stats before, after;
    wb_redis_stats_of(R, &before);
    char out[32];
    ck_assert_int_eq(rh_cli(&g_srv, "SCRIPT FLUSH", out, sizeof out), 0);
    ck_assert_int_eq(check1(L, rl("k", 1, 1000, 0), T0, NULL),
                     WABOT_ERR_RATE_LIMITED);
    wb_redis_stats_of(R, &after);
    ck_assert_int_eq(after.script_loads, before.script_loads + 1);
}
END_TEST

START_TEST(test_redis_write_on_a_dead_connection_raises_no_sigpipe)
{
    /* SIGPIPE at its default (fatal) disposition, as in a host that never
     * touched it: a write on a connection that can no longer send must
     * fail with a storage error, not kill the process. */
    signal(SIGPIPE, SIG_DFL);
    int rc;
    redisContext *c = wb_redis_acquire(R, &rc);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    const char *argv[] = {"PING"};
    redisReply *rep = NULL;
    ck_assert_int_eq(wb_redis_command_on(R, c, 1, argv, NULL, &rep),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(rep);
    wb_redis_release(R, c, 1);
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert(!sigismember(&pending, SIGPIPE));
    /* The pool replaces the connection. */
    ck_assert_int_eq(check1(L, rl("k", 1, 1000, 0), T0, NULL), WABOT_OK);
}
END_TEST

typedef struct pool_worker {
    wabot_storage *st;
    int errors;
} pool_worker;

static void *incr_many(void *arg)
{
    pool_worker *w = arg;
    for (int i = 0; i < 300; i++)
        w->errors += wabot_storage_incr(w->st, "n", 1, 0, NULL) != WABOT_OK;
    return NULL;
}

START_TEST(test_redis_small_pool_serves_many_threads)
{
    char prefix[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle_on(&g_srv, prefix, 2000, 2);
    wabot_storage *st = wabot_storage_redis_new(r);
    enum { N = 8 };
    pthread_t th[N];
    pool_worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (pool_worker){.st = st};
        ck_assert_int_eq(pthread_create(&th[i], NULL, incr_many, &w[i]), 0);
    }
    int errors = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    ck_assert_int_eq(errors, 0);
    int64_t n = 0;
    ck_assert_int_eq(wabot_storage_incr(st, "n", 0, 0, &n), WABOT_OK);
    ck_assert_int_eq(n, N * 300);
    wb_redis_stats stats;
    wb_redis_stats_of(r, &stats);
    ck_assert_int_le(stats.open, 2);
    ck_assert_int_le(stats.connects, 2);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* Scripts from several threads leave together (lib/redis/pool.c,
 * "Scripts from several threads, sent together"). The echo script answers
 * its argument, or an error reply for one that starts with "bad". */
static wb_redis_script echo_script = WB_REDIS_SCRIPT(
    "echo", "if string.sub(ARGV[1], 1, 3) == 'bad' then "
            "return redis.error_reply('refused ' .. ARGV[1]) end "
            "return ARGV[1]");

typedef struct echo_worker {
    wabot_redis *r;
    int id, calls;
    int wrong;       /* a reply that was not this call's own */
    int failures;    /* a good call that failed */
    int bad_missed;  /* a bad call that did not fail with its own error */
    const int *flushes; /* if set: go on until it reaches 3 */
} echo_worker;

static int echo_call(wabot_redis *r, const char *arg, redisReply **rep)
{
    const char *args[] = {arg};
    return wb_redis_eval(r, &echo_script, 0, NULL, 1, args, NULL, rep);
}

static void *echo_many(void *arg)
{
    echo_worker *w = arg;
    for (int i = 0;
         i < w->calls ||
         (w->flushes != NULL && i < 100000 &&
          __atomic_load_n(w->flushes, __ATOMIC_ACQUIRE) < 3);
         i++) {
        char v[48];
        int bad = i % 7 == 3;
        snprintf(v, sizeof v, "%s-%d-%d", bad ? "bad" : "ok", w->id, i);
        redisReply *rep = NULL;
        int rc = echo_call(w->r, v, &rep);
        if (bad) {
            w->bad_missed += rc != WABOT_ERR_STORAGE;
        } else if (rc != WABOT_OK) {
            w->failures++;
        } else if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, v)) {
            w->wrong++;
        }
        if (rep != NULL)
            wb_redis_reply_free(rep);
    }
    return NULL;
}

static void run_echo_workers(echo_worker *w, int n)
{
    pthread_t th[16];
    ck_assert_int_le(n, 16);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, echo_many, &w[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

START_TEST(test_redis_scripts_of_many_threads_share_batches_each_with_its_own_reply)
{
    wabot_redis *r = new_handle_on(&g_srv, "batch:", 2000, 4);
    enum { N = 8, CALLS = 400 };
    echo_worker w[N];
    for (int i = 0; i < N; i++)
        w[i] = (echo_worker){.r = r, .id = i, .calls = CALLS};
    int64_t trips = wabot_redis_round_trips(r);
    run_echo_workers(w, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(w[i].wrong, 0);
        ck_assert_int_eq(w[i].failures, 0);
        ck_assert_int_eq(w[i].bad_missed, 0);
    }
    wb_redis_stats st;
    wb_redis_stats_of(r, &st);
    /* Every call went through a batch; while one was on the wire the
     * others queued and left together: fewer batches than calls, one
     * round trip each (a script load or two besides). */
    ck_assert_int_eq(st.batch_calls, N * CALLS);
    ck_assert_int_lt(st.batches, st.batch_calls);
    ck_assert_int_le(wabot_redis_round_trips(r) - trips, st.batches + 2);
    /* One batch on the wire at a time: one connection did it all. */
    ck_assert_int_le(st.connects, 2);
    /* A lone call leaves at once, in a batch of its own. */
    redisReply *rep = NULL;
    ck_assert_int_eq(echo_call(r, "alone", &rep), WABOT_OK);
    ck_assert_str_eq(rep->str, "alone");
    wb_redis_reply_free(rep);
    wb_redis_stats after;
    wb_redis_stats_of(r, &after);
    ck_assert_int_eq(after.batches, st.batches + 1);
    ck_assert_int_eq(after.batch_calls, st.batch_calls + 1);
    /* The error reply of a refused call names it. */
    ck_assert_int_eq(echo_call(r, "bad-one", &rep), WABOT_ERR_STORAGE);
    ck_assert_ptr_null(rep);
    char msg[256];
    wb_redis_last_error(r, msg, sizeof msg);
    ck_assert_msg(strstr(msg, "refused bad-one") != NULL, "%s", msg);
    wabot_redis_free(r);
}
END_TEST

typedef struct flusher {
    int stop;    /* set by the test */
    int flushes; /* SCRIPT FLUSHes done */
} flusher;

static void *flush_scripts(void *arg)
{
    flusher *f = arg;
    char out[32];
    while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
        if (rh_cli(&g_srv, "SCRIPT FLUSH", out, sizeof out) == 0)
            __atomic_add_fetch(&f->flushes, 1, __ATOMIC_RELEASE);
        sleep_ms(5);
    }
    return NULL;
}

START_TEST(test_redis_batched_calls_survive_a_flushed_script_cache)
{
    /* NOSCRIPT for some calls of a batch: each is loaded and run again on
     * its own, and its caller sees only its reply. */
    wabot_redis *r = new_handle_on(&g_srv, "batchflush:", 2000, 4);
    enum { N = 6, CALLS = 300 };
    flusher f = {0, 0};
    echo_worker w[N];
    /* The calls go on until the server's cache was flushed three times
     * under them, however fast they are. */
    for (int i = 0; i < N; i++)
        w[i] = (echo_worker){
            .r = r, .id = i, .calls = CALLS, .flushes = &f.flushes};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, flush_scripts, &f), 0);
    run_echo_workers(w, N);
    __atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    ck_assert_int_ge(f.flushes, 3);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(w[i].wrong, 0);
        ck_assert_int_eq(w[i].failures, 0);
        ck_assert_int_eq(w[i].bad_missed, 0);
    }
    wb_redis_stats st;
    wb_redis_stats_of(r, &st);
    ck_assert_int_ge(st.script_loads, 2); /* flushed under the calls */
    ck_assert_int_eq(st.broken, 0);
    wabot_redis_free(r);
}
END_TEST

typedef struct stalled_call {
    wabot_redis *r;
    int rc;
    int64_t ms;
} stalled_call;

static void *call_once(void *arg)
{
    stalled_call *c = arg;
    redisReply *rep = NULL;
    int64_t t = mono_ms();
    c->rc = echo_call(c->r, "stalled", &rep);
    c->ms = mono_ms() - t;
    if (rep != NULL)
        wb_redis_reply_free(rep);
    return NULL;
}

START_TEST(test_redis_a_batch_that_times_out_fails_every_call_then_recovers)
{
    /* A frozen server: the batch on the wire times out, every caller
     * queued behind it or in it gets an error within a bounded time (no
     * caller waits forever for a leader), and calls work again once the
     * server is back. */
    rh_server s;
    ck_assert_int_eq(rh_start(&s, 0), 0);
    wabot_redis *r = new_handle_on(&s, "batchslow:", 300, 2);
    redisReply *rep = NULL;
    ck_assert_int_eq(echo_call(r, "warm", &rep), WABOT_OK); /* loaded */
    wb_redis_reply_free(rep);
    ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
    enum { N = 6 };
    pthread_t th[N];
    stalled_call c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (stalled_call){.r = r};
        ck_assert_int_eq(pthread_create(&th[i], NULL, call_once, &c[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    kill(s.pid, SIGCONT);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(c[i].rc == WABOT_ERR_TIMEOUT ||
                          c[i].rc == WABOT_ERR_STORAGE ||
                          c[i].rc == WABOT_ERR_BUSY,
                      "call %d: %d", i, c[i].rc);
        /* each batch waits at most a connect and a command timeout */
        ck_assert_int_lt(c[i].ms, 10000);
    }
    for (int i = 0; i < 3; i++) {
        int rc = echo_call(r, "back", &rep);
        if (rc == WABOT_OK) {
            ck_assert_str_eq(rep->str, "back");
            wb_redis_reply_free(rep);
            break;
        }
        sleep_ms(300);
        ck_assert_int_lt(i, 2);
    }
    wabot_redis_free(r);
    rh_destroy(&s);
}
END_TEST

START_TEST(test_redis_throughput_figures)
{
    /* Not an assertion of speed: a figure for the closing note. */
    wabot_storage *st = wabot_storage_redis_new(R);
    enum { OPS = 5000 };
    int64_t t = mono_ms();
    for (int i = 0; i < OPS; i++)
        ck_assert_int_eq(check1(L, rl("bench", 1000000, 1000, 0), T0 + i,
                                NULL),
                         WABOT_OK);
    int64_t lim_ms = mono_ms() - t;
    t = mono_ms();
    for (int i = 0; i < OPS; i++)
        ck_assert_int_eq(wabot_storage_set(st, "bench", "value", 5, 0, NULL),
                         WABOT_OK);
    int64_t set_ms = mono_ms() - t;
    t = mono_ms();
    for (int i = 0; i < OPS; i++) {
        char *val = NULL;
        ck_assert_int_eq(wabot_storage_get(st, "bench", &val, NULL, NULL),
                         WABOT_OK);
        wabot_free(val);
    }
    int64_t get_ms = mono_ms() - t;
    printf("redis throughput (1 thread, loopback): limiter check %.0f/s, "
           "storage set %.0f/s, storage get %.0f/s\n",
           OPS * 1000.0 / (double)(lim_ms ? lim_ms : 1),
           OPS * 1000.0 / (double)(set_ms ? set_ms : 1),
           OPS * 1000.0 / (double)(get_ms ? get_ms : 1));
    wabot_storage_free(st);
}
END_TEST

int main(void)
{
    int started = rh_main_start(&g_srv);
    if (started != 0)
        return started;
    Suite *s = suite_create("redis-limiter");
    static const wb_limiter_backend redis = {"redis", redis_create,
                                             redis_destroy, NULL};
    suite_add_tcase(s, wb_limiter_conformance_tcase(&redis));
    TCase *tc = tcase_create("gcra");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_redis_limiter_idle_key_answers_like_a_new_one);
    tcase_add_test(tc, test_redis_limiter_keys_expire_a_second_after_their_tat);
    tcase_add_test(tc, test_redis_limiter_rejects_bad_arguments_before_redis);
    tcase_add_test(tc, test_redis_limiter_extreme_limits_stay_sane);
    suite_add_tcase(s, tc);

    tc = tcase_create("connection");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_redis_outage_fails_fast_then_recovers_without_new_handle);
    tcase_add_test(tc, test_redis_idle_connections_survive_a_clean_restart);
    tcase_add_test(tc, test_redis_unresponsive_server_times_out_then_recovers);
    tcase_add_test(tc, test_redis_flushed_script_cache_is_reloaded);
    tcase_add_test(tc, test_redis_write_on_a_dead_connection_raises_no_sigpipe);
    tcase_add_test(tc, test_redis_small_pool_serves_many_threads);
    tcase_add_test(
        tc,
        test_redis_scripts_of_many_threads_share_batches_each_with_its_own_reply);
    tcase_add_test(tc, test_redis_batched_calls_survive_a_flushed_script_cache);
    tcase_add_test(
        tc, test_redis_a_batch_that_times_out_fails_every_call_then_recovers);
    tcase_add_test(tc, test_redis_throughput_figures);
    suite_add_tcase(s, tc);

    int rc = tu_run_suite(s);
    rh_destroy(&g_srv);
    return rc;
}
