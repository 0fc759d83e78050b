/* The scheduler conformance suite on the Redis backend, unchanged: one
 * redis-server for the run (tests/redis/redis_harness.h), a fresh key
 * prefix per test, its keys deleted afterwards. Then what only a server
 * backend has: key layout, script reloading, exact 64-bit times, and two
 * handles (as two processes would be) sharing one queue.
 *
 * Without redis-server: exit 77 (skip), except under CI=true, where that
 * is a failure. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "redis_harness.h"
#include "scheduler_suite.h"
#include "testutil.h"
#include "wabot/redis.h"

#define T0 TU_EPOCH_MS
#define Q "test-queue"

static rh_server g_srv;      /* started by main, shared by every test */
static wabot_redis *g_redis; /* the current test's handle */
static char g_prefix[64];    /* and its key prefix */

/* ------------------------------------------------------------------ */
/* Server helpers                                                      */

static redisContext *raw_connect(void)
{
    redisContext *c = redisConnect("127.0.0.1", g_srv.port);
    ck_assert_msg(c != NULL && c->err == 0, "cannot connect to redis");
    return c;
}

/* Every key under `prefix`, by SCAN (never KEYS on a shared server). */
static redisReply *scan_prefix(redisContext *c, const char *prefix,
                               const char *cursor)
{
    char match[80];
    snprintf(match, sizeof match, "%s*", prefix);
    return redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, match);
}

/* Call fn for each key under prefix; returns how many there were. */
static int for_each_key(const char *prefix,
                        void (*fn)(redisContext *c, const char *key,
                                   void *ud),
                        void *ud)
{
    redisContext *c = raw_connect();
    char cursor[32] = "0";
    int n = 0;
    do {
        redisReply *r = scan_prefix(c, prefix, cursor);
        ck_assert(r != NULL && r->type == REDIS_REPLY_ARRAY &&
                  r->elements == 2);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++, n++)
            if (fn)
                fn(c, keys->element[i]->str, ud);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
    return n;
}

static void del_key(redisContext *c, const char *key, void *ud)
{
    (void)ud;
    freeReplyObject(redisCommand(c, "DEL %s", key));
}

static wabot_redis *connect_with_prefix(const char *prefix)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.prefix = prefix;
    /* The suite's threaded tests run 9 threads on one handle. */
    cfg.pool_size = 9;
    /* Sanitizer builds are slow; a timeout here is not what is tested. */
    cfg.command_timeout_ms = 10000;
    const char *err = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &err);
    if (r == NULL)
        fprintf(stderr, "wabot_redis_new: %s\n", err ? err : "?");
    return r;
}

/* ------------------------------------------------------------------ */
/* Backend descriptor: a fresh prefix per test                         */

static wabot_scheduler *redis_create(void *ud)
{
    (void)ud;
    static int n;
    snprintf(g_prefix, sizeof g_prefix, "wbtest:%ld:%d:", (long)getpid(),
             ++n);
    g_redis = connect_with_prefix(g_prefix);
    if (g_redis == NULL)
        return NULL;
    wabot_scheduler *s = wabot_scheduler_redis_new(g_redis);
    if (s == NULL) {
        wabot_redis_free(g_redis);
        g_redis = NULL;
    }
    return s;
}

static void redis_destroy(wabot_scheduler *s, void *ud)
{
    (void)ud;
    wabot_scheduler_free(s);
    for_each_key(g_prefix, del_key, NULL);
    wabot_redis_free(g_redis);
    g_redis = NULL;
}

/* For the Redis-specific tests. */
static wabot_scheduler *S;

static void setup(void)
{
    S = redis_create(NULL);
    ck_assert_ptr_nonnull(S);
}

static void teardown(void)
{
    if (S != NULL)
        redis_destroy(S, NULL);
    S = NULL;
}

static wabot_job_record rec(const char *id, int64_t run_at)
{
    wabot_job_record r;
    memset(&r, 0, sizeof r);
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = id;
    r.payload = "p";
    r.payload_len = 1;
    r.max_attempts = 3;
    r.run_at_ms = run_at;
    return r;
}

static void put(wabot_scheduler *s, const char *id, int64_t run_at,
                int32_t priority)
{
    wabot_job_record r = rec(id, run_at);
    r.priority = priority;
    ck_assert_int_eq(wabot_scheduler_enqueue(s, Q, &r, T0), WABOT_OK);
}

/* Reserve at now; the id (copied into buf) and token. */
static uint64_t take(wabot_scheduler *s, int64_t now, int64_t lease,
                     char *buf, size_t bufsz)
{
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(s, Q, now, lease, out),
                     WABOT_OK);
    const wabot_job_record *g = wabot_job_info_record(out);
    snprintf(buf, bufsz, "%s", g->id);
    uint64_t token = g->token;
    wabot_job_info_free(out);
    return token;
}

/* ------------------------------------------------------------------ */
/* Redis-specific                                                      */

START_TEST(test_redis_backend_is_named_redis)
{
    ck_assert_str_eq(wabot_scheduler_name(S), "redis");
    ck_assert_ptr_null(wabot_scheduler_redis_new(NULL));
}
END_TEST

static void check_key_layout(redisContext *c, const char *key, void *ud)
{
    (void)c;
    char want[96];
    snprintf(want, sizeof want, "%s{%s}:", g_prefix, (const char *)ud);
    ck_assert_msg(strncmp(key, want, strlen(want)) == 0,
                  "key %s is not under %s", key, want);
}

START_TEST(test_every_key_of_a_queue_is_prefixed_and_hash_tagged)
{
    /* One hash tag per queue keeps every script in one cluster slot. */
    char id[300];
    put(S, "a", T0, 0);
    put(S, "b", T0 + 100, 0);
    put(S, "c", T0, 0);
    uint64_t t = take(S, T0, 1000, id, sizeof id);
    ck_assert_int_eq(wabot_scheduler_complete(S, Q, id, t, T0), WABOT_OK);
    t = take(S, T0, 1000, id, sizeof id);
    ck_assert_int_eq(wabot_scheduler_fail(S, Q, id, t, T0, "x", -1),
                     WABOT_OK);
    ck_assert_int_gt(for_each_key(g_prefix, check_key_layout, Q), 5);
}
END_TEST

START_TEST(test_scripts_are_reloaded_after_script_flush)
{
    /* A restarted or flushed server has no scripts: EVALSHA's NOSCRIPT
     * falls back to loading them, invisibly to the caller. */
    char id[300];
    put(S, "a", T0, 0);
    redisContext *c = raw_connect();
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    put(S, "b", T0, 0);
    uint64_t t = take(S, T0, 1000, id, sizeof id);
    ck_assert_str_eq(id, "a");
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    ck_assert_int_eq(wabot_scheduler_complete(S, Q, id, t, T0), WABOT_OK);
    redisFree(c);
}
END_TEST

START_TEST(test_payload_is_read_by_its_length_only)
{
    /* No terminator after the bytes: under ASan an over-read fails. */
    char *bytes = malloc(5);
    ck_assert_ptr_nonnull(bytes);
    memcpy(bytes, "abcde", 5);
    wabot_job_record r = rec("unterminated", T0);
    r.payload = bytes;
    r.payload_len = 5;
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    free(bytes);
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_get(S, Q, "unterminated", out),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_job_info_record(out)->payload_len, 5);
    ck_assert_str_eq(wabot_job_info_record(out)->payload, "abcde");
    wabot_job_info_free(out);
}
END_TEST

START_TEST(test_huge_lease_saturates_and_compares_exactly)
{
    /* Times travel as exact decimal strings: INT64_MAX - 1 is not the
     * same instant as INT64_MAX even though both are the same double. */
    put(S, "a", T0, 0);
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, T0, INT64_MAX, out),
                     WABOT_OK);
    ck_assert_int_eq(wabot_job_info_record(out)->lease_until_ms, INT64_MAX);
    int32_t n = -1;
    ck_assert_int_eq(wabot_scheduler_recover(S, Q, INT64_MAX - 1, 0, &n),
                     WABOT_OK);
    ck_assert_int_eq(n, 0);
    int64_t due = 0;
    ck_assert_int_eq(wabot_scheduler_next_due(S, Q, T0, &due), WABOT_OK);
    ck_assert_int_eq(due, INT64_MAX);
    ck_assert_int_eq(wabot_scheduler_recover(S, Q, INT64_MAX, 0, &n),
                     WABOT_OK);
    ck_assert_int_eq(n, 1);
    wabot_job_info_free(out);
}
END_TEST

START_TEST(test_extreme_priorities_and_run_times_keep_their_order)
{
    /* The ready set orders by the bytes of a composed member; check the
     * corners of the encoding (sign of run_at, int32 priority limits, and
     * run times beyond double precision). */
    char id[300];
    int64_t big = (INT64_C(1) << 60) + 1;
    wabot_job_record r = rec("late-big", big + 1);
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, INT64_MAX), WABOT_OK);
    r = rec("early-big", big);
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, INT64_MAX), WABOT_OK);
    r = rec("negative", -5);
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, INT64_MAX), WABOT_OK);
    r = rec("min-prio", INT64_MIN);
    r.priority = INT32_MIN;
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, INT64_MAX), WABOT_OK);
    r = rec("max-prio", INT64_MAX);
    r.priority = INT32_MAX;
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, INT64_MAX), WABOT_OK);
    const char *want[] = {"max-prio", "negative", "early-big", "late-big",
                          "min-prio"};
    for (size_t i = 0; i < 5; i++) {
        take(S, INT64_MAX, 1, id, sizeof id);
        ck_assert_str_eq(id, want[i]);
    }
}
END_TEST

START_TEST(test_delayed_job_beyond_double_precision_is_due_exactly)
{
    int64_t at = (INT64_C(1) << 60) + 1;
    put(S, "d", at, 0);
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, at - 1, 10, out),
                     WABOT_ERR_NOT_FOUND);
    int64_t due = 0;
    ck_assert_int_eq(wabot_scheduler_next_due(S, Q, T0, &due), WABOT_OK);
    ck_assert_int_eq(due, at);
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, at, 10, out), WABOT_OK);
    ck_assert_int_eq(wabot_job_info_record(out)->run_at_ms, at);
    wabot_job_info_free(out);
}
END_TEST

START_TEST(test_two_handles_on_one_prefix_share_the_queue)
{
    /* Two handles are what two processes have: one queue, one order, one
     * token sequence. */
    wabot_redis *r2 = connect_with_prefix(g_prefix);
    ck_assert_ptr_nonnull(r2);
    wabot_scheduler *s2 = wabot_scheduler_redis_new(r2);
    ck_assert_ptr_nonnull(s2);
    char id[300];
    put(S, "first", T0, 0);
    put(s2, "second", T0, 0);
    uint64_t t1 = take(s2, T0, 100, id, sizeof id);
    ck_assert_str_eq(id, "first");
    uint64_t t2 = take(S, T0, 100, id, sizeof id);
    ck_assert_str_eq(id, "second");
    ck_assert_uint_gt(t2, t1);
    /* The lease of "first" expires; the other handle recovers it. */
    int32_t n = 0;
    ck_assert_int_eq(wabot_scheduler_recover(S, Q, T0 + 100, 5, &n),
                     WABOT_OK);
    ck_assert_int_eq(n, 2);
    uint64_t t3 = take(S, T0 + 100, 100, id, sizeof id);
    ck_assert_str_eq(id, "first");
    ck_assert_int_eq(wabot_scheduler_complete(s2, Q, "first", t1, T0 + 101),
                     WABOT_ERR_CONFLICT);
    ck_assert_int_eq(wabot_scheduler_complete(s2, Q, "first", t3, T0 + 101),
                     WABOT_OK);
    wabot_scheduler_free(s2);
    wabot_redis_free(r2);
}
END_TEST

START_TEST(test_queues_under_different_prefixes_are_separate)
{
    char other[80];
    snprintf(other, sizeof other, "%sother:", g_prefix);
    wabot_redis *r2 = connect_with_prefix(other);
    ck_assert_ptr_nonnull(r2);
    wabot_scheduler *s2 = wabot_scheduler_redis_new(r2);
    put(S, "a", T0, 0);
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(s2, Q, T0, 10, out),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_scheduler_get(s2, Q, "a", out),
                     WABOT_ERR_NOT_FOUND);
    wabot_job_info_free(out);
    wabot_scheduler_free(s2);
    wabot_redis_free(r2);
}
END_TEST

int main(void)
{
    int started = rh_main_start(&g_srv);
    if (started != 0)
        return started;
    Suite *s = suite_create("scheduler-redis");
    wb_scheduler_backend redis = {"redis", redis_create, redis_destroy,
                                  NULL};
    suite_add_tcase(s, wb_scheduler_conformance_tcase(&redis));

    TCase *tc = tcase_create("redis");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_redis_backend_is_named_redis);
    tcase_add_test(tc, test_every_key_of_a_queue_is_prefixed_and_hash_tagged);
    tcase_add_test(tc, test_scripts_are_reloaded_after_script_flush);
    tcase_add_test(tc, test_payload_is_read_by_its_length_only);
    tcase_add_test(tc, test_huge_lease_saturates_and_compares_exactly);
    tcase_add_test(tc, test_extreme_priorities_and_run_times_keep_their_order);
    tcase_add_test(tc, test_delayed_job_beyond_double_precision_is_due_exactly);
    tcase_add_test(tc, test_two_handles_on_one_prefix_share_the_queue);
    tcase_add_test(tc, test_queues_under_different_prefixes_are_separate);
    suite_add_tcase(s, tc);

    int rc = tu_run_suite(s);
    rh_destroy(&g_srv);
    return rc;
}
