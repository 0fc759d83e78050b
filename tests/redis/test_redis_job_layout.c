/* The Redis scheduler's job hash (doc/redis.md, "The job hash"): what
 * enqueue writes now (eight fields, the six that never change packed into
 * `fixed`), and jobs of the earlier layout (17 fields, as the
 * enqueue before the eighth session wrote them; a Redis upgraded in place
 * with jobs waiting) taken through every operation of their life by the
 * current code: get, reserve (single and batched), extend, fail, release,
 * promotion, recovery, complete (single and batched), cancel, the failed
 * list and its retry, trim.
 *
 * Without redis-server: exit 77 (skip), except under CI=true. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "jobs.h" /* wb_scheduler_poll_many, the failed list (lib/internal) */
#include "redis_harness.h"
#include "testutil.h"
#include "wabot.h"
#include "wabot/redis.h"

#define T0 TU_EPOCH_MS
#define Q "layout-queue"

static rh_server g_srv;
static char g_prefix[64];
static wabot_redis *R;
static wabot_scheduler *S;
static redisContext *C; /* a plain connection, for writing by hand */

static void setup(void)
{
    /* Each test runs in a child process of its own: its pid makes the
     * prefix fresh. */
    snprintf(g_prefix, sizeof g_prefix, "layout%ld:", (long)getpid());
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.prefix = g_prefix;
    cfg.command_timeout_ms = 10000;
    const char *err = NULL;
    R = wabot_redis_new(&cfg, &err);
    ck_assert_msg(R != NULL, "wabot_redis_new: %s", err ? err : "?");
    S = wabot_scheduler_redis_new(R);
    ck_assert_ptr_nonnull(S);
    C = redisConnect("127.0.0.1", g_srv.port);
    ck_assert(C != NULL && C->err == 0);
}

static void teardown(void)
{
    wabot_scheduler_free(S);
    wabot_redis_free(R);
    redisFree(C);
    S = NULL;
    R = NULL;
    C = NULL;
}

/* The job's hash key. */
static void job_key(char *buf, size_t n, const char *id)
{
    snprintf(buf, n, "%s{%s}:job:%s", g_prefix, Q, id);
}

static void queue_key(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s{%s}:%s", g_prefix, Q, name);
}

static long long int_reply(redisReply *r)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The fields of an earlier-layout job that are not fixed by enqueue. */
typedef struct old_job {
    const char *id;
    const char *payload;
    size_t payload_len;
    int state; /* 0 waiting (into the ready set) or 1 delayed */
    int64_t run_at;
    int32_t priority;
} old_job;

/* Write a job as the enqueue before the eighth session did: the queue's
 * sequence, one HSET of its 17 fields, the ready member (its rank) or the
 * delayed entry. Its fixed fields: max_attempts 4, backoff 1,
 * backoff_ms 250, backoff_max_ms 9000, jitter 20, created T0 - 1000. */
static void write_old_job(const old_job *j)
{
    char jk[256], seqk[128], ready[128], delayed[128];
    job_key(jk, sizeof jk, j->id);
    queue_key(seqk, sizeof seqk, "seq");
    queue_key(ready, sizeof ready, "ready");
    queue_key(delayed, sizeof delayed, "delayed");
    long long seq = int_reply(redisCommand(C, "INCR %s", seqk));
    char rank[320], run_at[24], prio[24], seqs[24];
    snprintf(rank, sizeof rank, "%08" PRIx32 "%016" PRIx64 "%016llx%s",
             (uint32_t)(INT32_MAX - j->priority),
             (uint64_t)j->run_at ^ UINT64_C(0x8000000000000000), seq, j->id);
    snprintf(run_at, sizeof run_at, "%" PRId64, j->run_at);
    snprintf(prio, sizeof prio, "%" PRId32, j->priority);
    snprintf(seqs, sizeof seqs, "%lld", seq);
    const char *argv[] = {
        "HSET", jk, "payload", j->payload, "state", j->state ? "1" : "0",
        "attempts", "0", "max_attempts", "4", "stalls", "0", "token", "0",
        "created", "1767225599000", "run_at", run_at, "lease_until", "0",
        "finished", "0", "backoff", "1", "backoff_ms", "250",
        "backoff_max_ms", "9000", "jitter", "20", "priority", prio,
        "seq", seqs, "rank", rank};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
        lens[i] = i == 3 ? j->payload_len : strlen(argv[i]);
    ck_assert_int_eq(int_reply(redisCommandArgv(
                         C, (int)(sizeof argv / sizeof argv[0]), argv, lens)),
                     17);
    if (j->state == 0)
        ck_assert_int_eq(
            int_reply(redisCommand(C, "ZADD %s 0 %s", ready, rank)), 1);
    else
        ck_assert_int_eq(int_reply(redisCommand(C, "ZADD %s %s %s", delayed,
                                                run_at, j->id)),
                         1);
}

/* The fixed fields write_old_job gives every job. */
static void check_old_fixed(const wabot_job_record *g)
{
    ck_assert_int_eq(g->max_attempts, 4);
    ck_assert_int_eq(g->backoff, 1);
    ck_assert_int_eq(g->backoff_ms, 250);
    ck_assert_int_eq(g->backoff_max_ms, 9000);
    ck_assert_int_eq(g->jitter_pct, 20);
    ck_assert_int_eq(g->created_ms, T0 - 1000);
}

static const wabot_job_record *get(wabot_job_info *info, const char *id)
{
    ck_assert_int_eq(wabot_scheduler_get(S, Q, id, info), WABOT_OK);
    return wabot_job_info_record(info);
}

static long long exists(const char *id)
{
    char jk[256];
    job_key(jk, sizeof jk, id);
    return int_reply(redisCommand(C, "EXISTS %s", jk));
}

/* ------------------------------------------------------------------ */

START_TEST(test_enqueue_writes_eight_fields_with_the_fixed_ones_packed)
{
    wabot_job_record r;
    memset(&r, 0, sizeof r);
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "new";
    r.payload = "hello";
    r.payload_len = 5;
    r.max_attempts = 7;
    r.backoff = 1;
    r.backoff_ms = 1500;
    r.backoff_max_ms = 60000;
    r.jitter_pct = 15;
    r.priority = -3;
    r.created_ms = T0 - 5;
    r.run_at_ms = T0;
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    char jk[256];
    job_key(jk, sizeof jk, "new");
    ck_assert_int_eq(int_reply(redisCommand(C, "HLEN %s", jk)), 8);
    redisReply *f = redisCommand(C, "HGET %s fixed", jk);
    ck_assert_int_eq(f->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(f->str, "7 1 1500 60000 15 1767225599995");
    freeReplyObject(f);
    /* stalls, token, lease_until, finished: absent, read as 0. */
    wabot_job_info *info = wabot_job_info_new();
    const wabot_job_record *g = get(info, "new");
    ck_assert_str_eq(g->payload, "hello");
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->max_attempts, 7);
    ck_assert_int_eq(g->backoff, 1);
    ck_assert_int_eq(g->backoff_ms, 1500);
    ck_assert_int_eq(g->backoff_max_ms, 60000);
    ck_assert_int_eq(g->jitter_pct, 15);
    ck_assert_int_eq(g->priority, -3);
    ck_assert_int_eq(g->created_ms, T0 - 5);
    ck_assert_int_eq(g->stalls, 0);
    ck_assert_uint_eq(g->token, 0);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_int_eq(g->finished_ms, 0);
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_a_job_of_the_earlier_layout_lives_its_whole_life)
{
    static const char bin[] = "pay\0load with a space";
    old_job j = {"old", bin, sizeof bin - 1, 0, T0, 5};
    write_old_job(&j);
    wabot_job_info *info = wabot_job_info_new();
    const wabot_job_record *g = get(info, "old");
    ck_assert_uint_eq(g->payload_len, sizeof bin - 1);
    ck_assert_mem_eq(g->payload, bin, sizeof bin - 1);
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->priority, 5);
    ck_assert_int_eq(g->run_at_ms, T0);
    check_old_fixed(g);

    /* Reserved (its rank orders it before a newer job of priority 0),
     * extended, failed with a retry: delayed, with the reason. */
    wabot_job_record n;
    memset(&n, 0, sizeof n);
    n.version = WABOT_JOB_RECORD_VERSION;
    n.id = "newer";
    n.payload = "n";
    n.payload_len = 1;
    n.max_attempts = 1;
    n.run_at_ms = T0;
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &n, T0), WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, T0, 100, info), WABOT_OK);
    g = wabot_job_info_record(info);
    ck_assert_str_eq(g->id, "old");
    ck_assert_int_eq(g->attempts, 1);
    ck_assert_int_eq(g->lease_until_ms, T0 + 100);
    check_old_fixed(g);
    uint64_t tok = g->token;
    ck_assert_int_eq(wabot_scheduler_extend(S, Q, "old", tok, T0 + 200),
                     WABOT_OK);
    ck_assert_int_eq(
        wabot_scheduler_fail(S, Q, "old", tok, T0 + 1, "boom", T0 + 500),
        WABOT_OK);
    g = get(info, "old");
    ck_assert_int_eq(g->state, WABOT_JOB_DELAYED);
    ck_assert_str_eq(g->last_error, "boom");
    ck_assert_int_eq(g->run_at_ms, T0 + 500);
    ck_assert_int_eq(wabot_scheduler_cancel(S, Q, "newer"), WABOT_OK);
    int64_t due = 0;
    ck_assert_int_eq(wabot_scheduler_next_due(S, Q, T0 + 1, &due), WABOT_OK);
    ck_assert_int_eq(due, T0 + 500);

    /* Promoted and reserved when due, released (attempts back), taken by
     * the worker's batched poll, its lease left to expire: recovered. */
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, T0 + 500, 100, info),
                     WABOT_OK);
    g = wabot_job_info_record(info);
    ck_assert_str_eq(g->id, "old");
    ck_assert_int_eq(g->attempts, 2);
    ck_assert_int_eq(
        wabot_scheduler_release(S, Q, "old", g->token, T0 + 501, T0 + 501),
        WABOT_OK);
    ck_assert_int_eq(get(info, "old")->attempts, 1);
    wabot_job_info *outs[] = {info};
    wb_sched_poll p = {.queue = Q, .max = 1, .out = outs, .poll = 1};
    ck_assert_int_eq(wb_scheduler_poll_many(S, 1, &p, T0 + 600, 100, 5),
                     WABOT_OK);
    ck_assert_int_eq(p.rc, WABOT_OK);
    ck_assert_uint_eq(p.got, 1);
    g = wabot_job_info_record(info);
    ck_assert_str_eq(g->id, "old");
    ck_assert_int_eq(g->attempts, 2);
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_mem_eq(g->payload, bin, sizeof bin - 1);
    check_old_fixed(g);
    int32_t moved = 0;
    ck_assert_int_eq(wabot_scheduler_recover(S, Q, T0 + 700, 5, &moved),
                     WABOT_OK);
    ck_assert_int_eq(moved, 1);
    g = get(info, "old");
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->stalls, 1);

    /* Completed, then trimmed: the hash is gone. */
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, T0 + 800, 100, info),
                     WABOT_OK);
    tok = wabot_job_info_record(info)->token;
    ck_assert_int_eq(wabot_scheduler_complete(S, Q, "old", tok, T0 + 801),
                     WABOT_OK);
    g = get(info, "old");
    ck_assert_int_eq(g->state, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(g->finished_ms, T0 + 801);
    ck_assert_int_eq(g->lease_until_ms, 0);
    int64_t removed = 0;
    ck_assert_int_eq(wabot_scheduler_trim(S, Q, WABOT_JOB_COMPLETED, 0,
                                          T0 + 802, &removed),
                     WABOT_OK);
    ck_assert_int_eq(removed, 1);
    ck_assert_int_eq(wabot_scheduler_get(S, Q, "old", info),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(exists("old"), 0);
    wabot_job_info_free(info);
}
END_TEST

/* The failed list's visitor: the ids seen, and the fixed fields checked. */
static void seen_failed(const wabot_job_record *rec, void *ud)
{
    check_old_fixed(rec);
    ck_assert_str_eq(rec->last_error, "dead");
    (*(int *)ud)++;
}

START_TEST(test_earlier_layout_jobs_are_cancelled_listed_retried_in_batches)
{
    old_job c = {"cancel-me", "c", 1, 1, T0 + 1000, 0};
    old_job f = {"fail-me", "f", 1, 0, T0, 0};
    write_old_job(&c);
    write_old_job(&f);
    ck_assert_int_eq(wabot_scheduler_cancel(S, Q, "cancel-me"), WABOT_OK);
    ck_assert_int_eq(exists("cancel-me"), 0);

    /* Failed for good: listed with its fields, retried, completed by the
     * worker's batched completion. */
    wabot_job_info *info = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, T0, 100, info), WABOT_OK);
    uint64_t tok = wabot_job_info_record(info)->token;
    ck_assert_int_eq(
        wabot_scheduler_fail(S, Q, "fail-me", tok, T0 + 1, "dead", -1),
        WABOT_OK);
    int n = 0;
    int64_t total = 0;
    ck_assert_ptr_nonnull(S->failed);
    ck_assert_int_eq(
        S->failed->each(S->impl, Q, 0, 10, seen_failed, &n, &total),
        WABOT_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(total, 1);
    ck_assert_int_eq(S->failed->retry(S->impl, Q, "fail-me", T0 + 2),
                     WABOT_OK);
    const wabot_job_record *g = get(info, "fail-me");
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->attempts, 0);
    ck_assert_int_eq(wabot_scheduler_reserve(S, Q, T0 + 2, 100, info),
                     WABOT_OK);
    const char *ids[] = {"fail-me"};
    uint64_t toks[] = {wabot_job_info_record(info)->token};
    int results[1] = {-1};
    wb_scheduler_complete_many(S, Q, 1, ids, toks, T0 + 3, results);
    ck_assert_int_eq(results[0], WABOT_OK);
    ck_assert_int_eq(get(info, "fail-me")->state, WABOT_JOB_COMPLETED);
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_a_malformed_fixed_field_is_a_storage_error)
{
    wabot_job_record r;
    memset(&r, 0, sizeof r);
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "bad";
    r.payload = "p";
    r.payload_len = 1;
    r.max_attempts = 1;
    r.run_at_ms = T0;
    ck_assert_int_eq(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    char jk[256];
    job_key(jk, sizeof jk, "bad");
    const char *bad[] = {"", "1 2 3", "1 2 3 4 5 6 7", "1 2 3 4 5 x",
                         "1 2 3 4 5 6 ", "99999999999 0 0 0 0 0"};
    wabot_job_info *info = wabot_job_info_new();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        freeReplyObject(redisCommand(C, "HSET %s fixed %s", jk, bad[i]));
        ck_assert_int_eq(wabot_scheduler_get(S, Q, "bad", info),
                         WABOT_ERR_STORAGE);
    }
    wabot_job_info_free(info);
}
END_TEST

int main(void)
{
    int started = rh_main_start(&g_srv);
    if (started != 0)
        return started;
    Suite *s = suite_create("redis-job-layout");
    TCase *tc = tcase_create("layout");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc,
                   test_enqueue_writes_eight_fields_with_the_fixed_ones_packed);
    tcase_add_test(tc, test_a_job_of_the_earlier_layout_lives_its_whole_life);
    tcase_add_test(
        tc, test_earlier_layout_jobs_are_cancelled_listed_retried_in_batches);
    tcase_add_test(tc, test_a_malformed_fixed_field_is_a_storage_error);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    rh_destroy(&g_srv);
    return rc;
}
