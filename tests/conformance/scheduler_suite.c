/* The scheduler conformance suite (see scheduler_suite.h). Written only
 * against the public wabot_scheduler_* / wabot_job_info_* functions. */
#include "scheduler_suite.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A realistic instant (2026-01-01T00:00:00Z); tests move time by hand. */
#define T0 1767225600000LL
#define LEASE 30000
#define Q "test-queue"
#define ID_BUF 260

/* ------------------------------------------------------------------ */
/* Fixtures: one slot per registered backend                           */

static wb_scheduler_backend g_backends[WB_SCHEDULER_SUITE_MAX_BACKENDS];
static char g_names[WB_SCHEDULER_SUITE_MAX_BACKENDS][96];
static int g_nbackends;

static const wb_scheduler_backend *B; /* the backend under test */
static wabot_scheduler *S;            /* this test's scheduler */
static wabot_job_info *INFO;          /* scratch snapshot for get() */

static void fixture_setup(int slot)
{
    B = &g_backends[slot];
    S = B->create(B->ud);
    ck_assert_msg(S != NULL, "backend %s: create() failed", B->name);
    INFO = wabot_job_info_new();
    ck_assert_ptr_nonnull(INFO);
}

static void fixture_teardown(void)
{
    wabot_job_info_free(INFO);
    INFO = NULL;
    if (S != NULL)
        B->destroy(S, B->ud);
    S = NULL;
}

#define SLOT_SETUP(n)                                                         \
    static void setup_##n(void)                                               \
    {                                                                         \
        fixture_setup(n);                                                     \
    }
SLOT_SETUP(0)
SLOT_SETUP(1)
SLOT_SETUP(2)
SLOT_SETUP(3)
static void (*const g_setups[WB_SCHEDULER_SUITE_MAX_BACKENDS])(void) = {
    setup_0, setup_1, setup_2, setup_3};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define ASSERT_RC(expr, want)                                                 \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        int want_ = (want);                                                   \
        ck_assert_msg(rc_ == want_, "%s: got %d (%s), want %d (%s)", #expr,   \
                      rc_, wabot_strerror(rc_), want_,                        \
                      wabot_strerror(want_));                                 \
    } while (0)

/* A record as the library would enqueue it: the spec defaults. */
static wabot_job_record job_rec(const char *id, int64_t run_at_ms)
{
    wabot_job_record r = tu_job_record(id, "{}", run_at_ms);
    r.created_ms = T0;
    return r;
}

static void put_prio(const char *id, int64_t run_at_ms, int32_t priority,
                     int64_t now_ms)
{
    wabot_job_record r = job_rec(id, run_at_ms);
    r.priority = priority;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, now_ms), WABOT_OK);
}

/* Enqueue `id` due at run_at_ms, at time T0. */
static void put(const char *id, int64_t run_at_ms)
{
    put_prio(id, run_at_ms, 0, T0);
}

/* The job as stored (borrowed from INFO until the next get()). */
static const wabot_job_record *get(const char *id)
{
    ASSERT_RC(wabot_scheduler_get(S, Q, id, INFO), WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(INFO);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->id, id);
    return r;
}

static void expect_state(const char *id, wabot_job_state want)
{
    const wabot_job_record *r = get(id);
    ck_assert_msg(r->state == (int32_t)want, "%s: state %s, want %s", id,
                  wabot_job_state_name((wabot_job_state)r->state),
                  wabot_job_state_name(want));
}

static void expect_absent(const char *id)
{
    ASSERT_RC(wabot_scheduler_get(S, Q, id, INFO), WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(wabot_job_info_record(INFO));
}

static void expect_counts(int64_t waiting, int64_t delayed, int64_t active,
                          int64_t completed, int64_t failed)
{
    int64_t c[WABOT_JOB_STATE_COUNT];
    ASSERT_RC(wabot_scheduler_counts(S, Q, c, WABOT_JOB_STATE_COUNT),
              WABOT_OK);
    ck_assert_msg(c[WABOT_JOB_WAITING] == waiting &&
                      c[WABOT_JOB_DELAYED] == delayed &&
                      c[WABOT_JOB_ACTIVE] == active &&
                      c[WABOT_JOB_COMPLETED] == completed &&
                      c[WABOT_JOB_FAILED] == failed,
                  "counts w/d/a/c/f = %lld/%lld/%lld/%lld/%lld, "
                  "want %lld/%lld/%lld/%lld/%lld",
                  (long long)c[0], (long long)c[1], (long long)c[2],
                  (long long)c[3], (long long)c[4], (long long)waiting,
                  (long long)delayed, (long long)active,
                  (long long)completed, (long long)failed);
}

/* A reservation as a worker keeps it. */
typedef struct leased {
    char id[ID_BUF];
    uint64_t token;
    int32_t attempts;
    int64_t lease_until_ms;
} leased;

static leased take(int64_t now_ms, int64_t lease_ms)
{
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_ptr_nonnull(out);
    ASSERT_RC(wabot_scheduler_reserve(S, Q, now_ms, lease_ms, out), WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(out);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->state, WABOT_JOB_ACTIVE);
    leased l;
    ck_assert_uint_lt(strlen(r->id), sizeof l.id);
    strcpy(l.id, r->id);
    l.token = r->token;
    l.attempts = r->attempts;
    l.lease_until_ms = r->lease_until_ms;
    wabot_job_info_free(out);
    return l;
}

static void expect_nothing_ready(int64_t now_ms)
{
    wabot_job_info *out = wabot_job_info_new();
    ASSERT_RC(wabot_scheduler_reserve(S, Q, now_ms, LEASE, out),
              WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(wabot_job_info_record(out));
    wabot_job_info_free(out);
}

static int32_t recover(int64_t now_ms, int32_t max_stalls)
{
    int32_t n = -1;
    ASSERT_RC(wabot_scheduler_recover(S, Q, now_ms, max_stalls, &n),
              WABOT_OK);
    return n;
}

static int64_t trim(int32_t state, int64_t keep, int64_t before_ms)
{
    int64_t n = -1;
    ASSERT_RC(wabot_scheduler_trim(S, Q, state, keep, before_ms, &n),
              WABOT_OK);
    return n;
}

static int64_t next_due(int64_t now_ms)
{
    int64_t due = -1;
    ASSERT_RC(wabot_scheduler_next_due(S, Q, now_ms, &due), WABOT_OK);
    return due;
}

/* Take `id` (it must be the next job) and complete it at now_ms. */
static void run_to_completion(const char *id, int64_t now_ms)
{
    leased l = take(now_ms, LEASE);
    ck_assert_str_eq(l.id, id);
    ASSERT_RC(wabot_scheduler_complete(S, Q, l.id, l.token, now_ms),
              WABOT_OK);
}

/* Take `id` and fail it for good at now_ms. */
static void run_to_failure(const char *id, int64_t now_ms)
{
    leased l = take(now_ms, LEASE);
    ck_assert_str_eq(l.id, id);
    ASSERT_RC(
        wabot_scheduler_fail(S, Q, l.id, l.token, now_ms, "boom", -1),
        WABOT_OK);
}

/* ------------------------------------------------------------------ */
/* enqueue / get                                                       */

START_TEST(test_enqueue_due_job_is_waiting)
{
    put("a", T0 - 5);
    expect_state("a", WABOT_JOB_WAITING);
    expect_counts(1, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_enqueue_job_due_exactly_now_is_waiting)
{
    put("a", T0);
    expect_state("a", WABOT_JOB_WAITING);
}
END_TEST

START_TEST(test_enqueue_future_job_is_delayed)
{
    put("a", T0 + 1);
    expect_state("a", WABOT_JOB_DELAYED);
    expect_counts(0, 1, 0, 0, 0);
}
END_TEST

START_TEST(test_enqueue_stores_every_field_of_the_record)
{
    wabot_job_record r = job_rec("order-17", T0 + 500);
    r.payload = "{\"order\":17}";
    r.payload_len = strlen(r.payload);
    r.max_attempts = 7;
    r.backoff = WABOT_BACKOFF_FIXED;
    r.backoff_ms = 250;
    r.backoff_max_ms = 9000;
    r.jitter_pct = 0;
    r.priority = -3;
    r.created_ms = T0 - 10;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    const wabot_job_record *g = get("order-17");
    ck_assert_uint_ge(g->version, 1);
    ck_assert_uint_eq(g->payload_len, r.payload_len);
    ck_assert_str_eq(g->payload, r.payload);
    ck_assert_int_eq(g->state, WABOT_JOB_DELAYED);
    ck_assert_int_eq(g->attempts, 0);
    ck_assert_int_eq(g->max_attempts, 7);
    ck_assert_int_eq(g->stalls, 0);
    ck_assert_uint_eq(g->token, 0);
    ck_assert_int_eq(g->created_ms, T0 - 10);
    ck_assert_int_eq(g->run_at_ms, T0 + 500);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_int_eq(g->finished_ms, 0);
    ck_assert_int_eq(g->backoff, WABOT_BACKOFF_FIXED);
    ck_assert_int_eq(g->backoff_ms, 250);
    ck_assert_int_eq(g->backoff_max_ms, 9000);
    ck_assert_int_eq(g->jitter_pct, 0);
    ck_assert_int_eq(g->priority, -3);
    ck_assert_ptr_null(g->last_error);
}
END_TEST

START_TEST(test_enqueue_ignores_the_records_history)
{
    wabot_job_record r = job_rec("a", T0);
    r.state = WABOT_JOB_COMPLETED;
    r.attempts = 4;
    r.stalls = 2;
    r.token = 99;
    r.lease_until_ms = T0 + 5;
    r.finished_ms = T0 - 1;
    r.last_error = "old";
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->attempts, 0);
    ck_assert_int_eq(g->stalls, 0);
    ck_assert_uint_eq(g->token, 0);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_int_eq(g->finished_ms, 0);
    ck_assert_ptr_null(g->last_error);
    expect_counts(1, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_enqueue_without_created_time_uses_now)
{
    wabot_job_record r = job_rec("a", 0);
    r.created_ms = 0;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0 + 42), WABOT_OK);
    ck_assert_int_eq(get("a")->created_ms, T0 + 42);
}
END_TEST

START_TEST(test_enqueue_duplicate_id_is_exists_and_original_untouched)
{
    put_prio("a", T0 + 100, 1, T0);
    wabot_job_record dup = job_rec("a", T0);
    dup.payload = "other";
    dup.payload_len = 5;
    dup.priority = 9;
    dup.max_attempts = 1;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &dup, T0), WABOT_ERR_EXISTS);
    const wabot_job_record *g = get("a");
    ck_assert_str_eq(g->payload, "{}");
    ck_assert_int_eq(g->priority, 1);
    ck_assert_int_eq(g->max_attempts, 5);
    ck_assert_int_eq(g->state, WABOT_JOB_DELAYED);
    ck_assert_int_eq(g->run_at_ms, T0 + 100);
    expect_counts(0, 1, 0, 0, 0);
}
END_TEST

START_TEST(test_enqueue_duplicate_of_active_job_is_exists)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    wabot_job_record dup = job_rec("a", T0);
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &dup, T0), WABOT_ERR_EXISTS);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_uint_eq(g->token, l.token);
    expect_counts(0, 0, 1, 0, 0);
}
END_TEST

START_TEST(test_enqueue_duplicate_of_finished_job_is_exists)
{
    put("done", T0);
    run_to_completion("done", T0);
    put("dead", T0);
    run_to_failure("dead", T0);
    wabot_job_record dup = job_rec("done", T0);
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &dup, T0), WABOT_ERR_EXISTS);
    dup.id = "dead";
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &dup, T0), WABOT_ERR_EXISTS);
    expect_counts(0, 0, 0, 1, 1);
}
END_TEST

START_TEST(test_same_id_on_two_queues_is_two_jobs)
{
    put("a", T0);
    wabot_job_record r = job_rec("a", T0);
    ASSERT_RC(wabot_scheduler_enqueue(S, "other", &r, T0), WABOT_OK);
    run_to_completion("a", T0);
    ASSERT_RC(wabot_scheduler_get(S, "other", "a", INFO), WABOT_OK);
    ck_assert_int_eq(wabot_job_info_record(INFO)->state, WABOT_JOB_WAITING);
    int64_t c[WABOT_JOB_STATE_COUNT];
    ASSERT_RC(wabot_scheduler_counts(S, "other", c, WABOT_JOB_STATE_COUNT),
              WABOT_OK);
    ck_assert_int_eq(c[WABOT_JOB_WAITING], 1);
    ck_assert_int_eq(c[WABOT_JOB_COMPLETED], 0);
    expect_counts(0, 0, 0, 1, 0);
}
END_TEST

START_TEST(test_get_missing_job_is_not_found)
{
    expect_absent("nope");
    put("a", T0);
    expect_absent("nope");
    ASSERT_RC(wabot_scheduler_get(S, "never-used", "a", INFO),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_payload_with_nul_bytes_round_trips)
{
    static const char bin[] = {'a', '\0', 'b', '\0', '\0', (char)0xff,
                               (char)0x80, '\n', 'z'};
    wabot_job_record r = job_rec("bin", T0);
    r.payload = bin;
    r.payload_len = sizeof bin;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    const wabot_job_record *g = get("bin");
    ck_assert_uint_eq(g->payload_len, sizeof bin);
    ck_assert(memcmp(g->payload, bin, sizeof bin) == 0);
    ck_assert_int_eq(g->payload[sizeof bin], '\0');

    wabot_job_info *out = wabot_job_info_new();
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0, LEASE, out), WABOT_OK);
    const wabot_job_record *o = wabot_job_info_record(out);
    ck_assert_uint_eq(o->payload_len, sizeof bin);
    ck_assert(memcmp(o->payload, bin, sizeof bin) == 0);
    ck_assert_int_eq(o->payload[sizeof bin], '\0');
    wabot_job_info_free(out);
}
END_TEST

START_TEST(test_empty_payload_round_trips)
{
    wabot_job_record r = job_rec("empty", T0);
    r.payload = NULL;
    r.payload_len = 0;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    const wabot_job_record *g = get("empty");
    ck_assert_uint_eq(g->payload_len, 0);
    ck_assert_ptr_nonnull(g->payload);
    ck_assert_str_eq(g->payload, "");
}
END_TEST

START_TEST(test_large_payload_round_trips)
{
    size_t n = 256 * 1024;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 131u >> 3);
    wabot_job_record r = job_rec("big", T0);
    r.payload = big;
    r.payload_len = n;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    const wabot_job_record *g = get("big");
    ck_assert_uint_eq(g->payload_len, n);
    ck_assert(memcmp(g->payload, big, n) == 0);
    free(big);
}
END_TEST

START_TEST(test_longest_id_and_queue_name_are_accepted)
{
    char id[257], queue[65];
    memset(id, 'i', 256);
    id[256] = '\0';
    memset(queue, 'q', 64);
    queue[64] = '\0';
    wabot_job_record r = job_rec(id, T0);
    ASSERT_RC(wabot_scheduler_enqueue(S, queue, &r, T0), WABOT_OK);
    ASSERT_RC(wabot_scheduler_get(S, queue, id, INFO), WABOT_OK);
    ck_assert_str_eq(wabot_job_info_record(INFO)->id, id);
}
END_TEST

START_TEST(test_every_allowed_queue_character_is_accepted)
{
    const char *queue = "AZaz09._:-";
    wabot_job_record r = job_rec("x", T0);
    ASSERT_RC(wabot_scheduler_enqueue(S, queue, &r, T0), WABOT_OK);
    ASSERT_RC(wabot_scheduler_get(S, queue, "x", INFO), WABOT_OK);
}
END_TEST

START_TEST(test_id_with_spaces_and_utf8_is_accepted)
{
    const char *id = "SM 1234 \xc3\xa9t\xc3\xa9:{}/\"";
    put(id, T0);
    run_to_completion(id, T0);
}
END_TEST

START_TEST(test_enqueue_accepts_newer_record_version)
{
    wabot_job_record r = job_rec("a", T0);
    r.version = WABOT_JOB_RECORD_VERSION + 1;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_OK);
    expect_state("a", WABOT_JOB_WAITING);
}
END_TEST

/* ------------------------------------------------------------------ */
/* reserve and ordering                                                */

START_TEST(test_reserve_empty_queue_is_not_found)
{
    expect_nothing_ready(T0);
    put("a", T0);
    run_to_completion("a", T0);
    expect_nothing_ready(T0);
}
END_TEST

START_TEST(test_reserve_unknown_queue_is_not_found)
{
    wabot_job_info *out = wabot_job_info_new();
    ASSERT_RC(wabot_scheduler_reserve(S, "never-used", T0, LEASE, out),
              WABOT_ERR_NOT_FOUND);
    wabot_job_info_free(out);
}
END_TEST

START_TEST(test_reserve_leaves_future_delayed_job)
{
    put("later", T0 + 1000);
    expect_nothing_ready(T0 + 999);
    expect_state("later", WABOT_JOB_DELAYED);
    expect_counts(0, 1, 0, 0, 0);
}
END_TEST

START_TEST(test_reserve_promotes_due_delayed_job)
{
    put("later", T0 + 1000);
    leased l = take(T0 + 1000, LEASE);
    ck_assert_str_eq(l.id, "later");
    expect_counts(0, 0, 1, 0, 0);
}
END_TEST

START_TEST(test_reserve_promotes_every_due_delayed_job)
{
    put("d1", T0 + 10);
    put("d2", T0 + 20);
    put("d3", T0 + 30);
    put("d4", T0 + 5000);
    take(T0 + 100, LEASE);
    expect_counts(2, 1, 1, 0, 0);
}
END_TEST

START_TEST(test_reserve_makes_job_active_with_attempt_token_and_lease)
{
    put("a", T0);
    wabot_job_info *out = wabot_job_info_new();
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0 + 7, 5000, out), WABOT_OK);
    const wabot_job_record *o = wabot_job_info_record(out);
    ck_assert_str_eq(o->id, "a");
    ck_assert_str_eq(o->payload, "{}");
    ck_assert_int_eq(o->state, WABOT_JOB_ACTIVE);
    ck_assert_int_eq(o->attempts, 1);
    ck_assert_uint_gt(o->token, 0);
    ck_assert_int_eq(o->lease_until_ms, T0 + 7 + 5000);
    ck_assert_int_eq(o->max_attempts, 5);

    /* What reserve handed out is what is stored. */
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_int_eq(g->attempts, 1);
    ck_assert_uint_eq(g->token, o->token);
    ck_assert_int_eq(g->lease_until_ms, T0 + 7 + 5000);
    expect_counts(0, 0, 1, 0, 0);
    wabot_job_info_free(out);
}
END_TEST

START_TEST(test_reserve_takes_highest_priority_first)
{
    put_prio("low", T0 - 100, -1, T0);
    put_prio("mid", T0 - 200, 0, T0);
    put_prio("high", T0, 10, T0);
    ck_assert_str_eq(take(T0, LEASE).id, "high");
    ck_assert_str_eq(take(T0, LEASE).id, "mid");
    ck_assert_str_eq(take(T0, LEASE).id, "low");
}
END_TEST

START_TEST(test_reserve_takes_earliest_run_at_within_a_priority)
{
    put("c", T0 - 10);
    put("a", T0 - 30);
    put("b", T0 - 20);
    ck_assert_str_eq(take(T0, LEASE).id, "a");
    ck_assert_str_eq(take(T0, LEASE).id, "b");
    ck_assert_str_eq(take(T0, LEASE).id, "c");
}
END_TEST

START_TEST(test_reserve_is_fifo_for_equal_priority_and_run_at)
{
    char id[16];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "job-%02d", i);
        put(id, T0);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "job-%02d", i);
        ck_assert_str_eq(take(T0, LEASE).id, id);
    }
}
END_TEST

typedef struct order_want {
    char id[16];
    int32_t prio;
    int64_t run_at;
    int seq;
} order_want;

static int order_cmp(const void *pa, const void *pb)
{
    const order_want *a = pa, *b = pb;
    if (a->prio != b->prio)
        return a->prio > b->prio ? -1 : 1;
    if (a->run_at != b->run_at)
        return a->run_at < b->run_at ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Jobs that arrive in order (one priority, each due after the last) mixed
 * with jobs that do not (a higher priority, an earlier run time): reserve
 * takes them all in priority, run time, enqueue order. (The memory backend
 * keeps the in-order ones in a sorted run beside its heap.) */
START_TEST(test_reserve_order_holds_for_jobs_arriving_in_and_out_of_order)
{
    enum { N = 120 };
    order_want want[N];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        unsigned kind = (x >> 16) % 4;
        want[i].prio = kind == 0 ? (int32_t)((x >> 20) % 3) + 1 : 0;
        want[i].run_at = kind == 1 ? T0 - 2000 + (int64_t)((x >> 8) % 500)
                                   : T0 - 1000 + i;
        want[i].seq = i;
        snprintf(want[i].id, sizeof want[i].id, "j%03d", i);
        put_prio(want[i].id, want[i].run_at, want[i].prio, T0);
    }
    qsort(want, N, sizeof want[0], order_cmp);
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(take(T0, LEASE).id, want[i].id);
    expect_nothing_ready(T0);
}
END_TEST

/* Leases of different lengths, taken in and out of expiry order, two of
 * them extended (one to earlier than the others, one to later): recover
 * finds exactly the expired ones each time. */
START_TEST(test_recover_finds_expired_leases_taken_in_and_out_of_order)
{
    static const char *const ids[] = {"a", "b", "c", "d", "e", "f"};
    static const int64_t lease[] = {100, 200, 50, 300, 300, 400};
    uint64_t token[6];
    for (int i = 0; i < 6; i++)
        put(ids[i], T0);
    for (int i = 0; i < 6; i++) {
        leased l = take(T0, lease[i]);
        ck_assert_str_eq(l.id, ids[i]);
        token[i] = l.token;
    }
    ASSERT_RC(wabot_scheduler_extend(S, Q, "b", token[1], T0 + 10),
              WABOT_OK);
    ASSERT_RC(wabot_scheduler_extend(S, Q, "d", token[3], T0 + 1000),
              WABOT_OK);
    ck_assert_int_eq(recover(T0 + 9, 3), 0);
    ck_assert_int_eq(recover(T0 + 60, 3), 2); /* b (extended), c */
    expect_state("b", WABOT_JOB_WAITING);
    expect_state("c", WABOT_JOB_WAITING);
    expect_state("a", WABOT_JOB_ACTIVE);
    ck_assert_int_eq(recover(T0 + 150, 3), 1); /* a */
    ck_assert_int_eq(recover(T0 + 350, 3), 1); /* e; d was extended */
    expect_state("d", WABOT_JOB_ACTIVE);
    expect_state("e", WABOT_JOB_WAITING);
    ck_assert_int_eq(recover(T0 + 450, 3), 1); /* f */
    ck_assert_int_eq(recover(T0 + 999, 3), 0);
    ck_assert_int_eq(recover(T0 + 1000, 3), 1); /* d */
}
END_TEST

START_TEST(test_promoted_job_competes_by_priority)
{
    put_prio("waiting-low", T0, 0, T0);
    put_prio("delayed-high", T0 + 100, 5, T0);
    ck_assert_str_eq(take(T0 + 100, LEASE).id, "delayed-high");
    ck_assert_str_eq(take(T0 + 100, LEASE).id, "waiting-low");
}
END_TEST

START_TEST(test_promoted_job_keeps_its_run_at_for_ordering)
{
    /* Both due by T0+100: the one due earlier goes first even though it
     * was delayed and the other was enqueued waiting. */
    put("delayed-early", T0 + 50);
    put_prio("waiting-late", T0 + 80, 0, T0 + 80);
    ck_assert_str_eq(take(T0 + 100, LEASE).id, "delayed-early");
    ck_assert_str_eq(take(T0 + 100, LEASE).id, "waiting-late");
}
END_TEST

START_TEST(test_tokens_strictly_increase)
{
    put("a", T0);
    put("b", T0);
    leased a1 = take(T0, LEASE);
    leased b1 = take(T0, LEASE);
    ck_assert_uint_gt(b1.token, a1.token);
    ASSERT_RC(wabot_scheduler_release(S, Q, a1.id, a1.token, T0, T0),
              WABOT_OK);
    leased a2 = take(T0, LEASE);
    ck_assert_str_eq(a2.id, "a");
    ck_assert_uint_gt(a2.token, b1.token);
    ck_assert_int_eq(recover(T0 + LEASE, 5), 2);
    leased x = take(T0 + LEASE, LEASE);
    leased y = take(T0 + LEASE, LEASE);
    ck_assert_uint_gt(x.token, a2.token);
    ck_assert_uint_gt(y.token, x.token);
}
END_TEST

START_TEST(test_tokens_keep_increasing_when_an_id_is_reused)
{
    put("a", T0);
    leased first = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", first.token, T0),
              WABOT_OK);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, 0), 1);
    put("a", T0);
    leased second = take(T0, LEASE);
    ck_assert_uint_gt(second.token, first.token);
    /* The first life's token cannot finish the second life. */
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", first.token, T0),
              WABOT_ERR_CONFLICT);
}
END_TEST

START_TEST(test_failed_reserve_leaves_out_without_record)
{
    put("a", T0);
    wabot_job_info *out = wabot_job_info_new();
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0, LEASE, out), WABOT_OK);
    ck_assert_ptr_nonnull(wabot_job_info_record(out));
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0, LEASE, out),
              WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(wabot_job_info_record(out));
    wabot_job_info_free(out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* extend                                                              */

START_TEST(test_extend_moves_the_lease)
{
    put("a", T0);
    leased l = take(T0, 1000);
    ASSERT_RC(wabot_scheduler_extend(S, Q, "a", l.token, T0 + 5000),
              WABOT_OK);
    ck_assert_int_eq(get("a")->lease_until_ms, T0 + 5000);
    ck_assert_int_eq(recover(T0 + 1000, 5), 0);
    expect_state("a", WABOT_JOB_ACTIVE);
    ck_assert_int_eq(recover(T0 + 5000, 5), 1);
    expect_state("a", WABOT_JOB_WAITING);
}
END_TEST

START_TEST(test_extend_may_shorten_the_lease)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_extend(S, Q, "a", l.token, T0 + 10), WABOT_OK);
    ck_assert_int_eq(next_due(T0), T0 + 10);
    ck_assert_int_eq(recover(T0 + 10, 5), 1);
}
END_TEST

START_TEST(test_extend_with_stale_token_is_conflict)
{
    put("a", T0);
    leased l = take(T0, 1000);
    ASSERT_RC(wabot_scheduler_extend(S, Q, "a", l.token + 1, T0 + 9000),
              WABOT_ERR_CONFLICT);
    ASSERT_RC(wabot_scheduler_extend(S, Q, "a", 0, T0 + 9000),
              WABOT_ERR_CONFLICT);
    ck_assert_int_eq(get("a")->lease_until_ms, T0 + 1000);
}
END_TEST

START_TEST(test_extend_of_job_no_longer_active_is_conflict)
{
    put("a", T0);
    leased l = take(T0, 1000);
    ck_assert_int_eq(recover(T0 + 1000, 5), 1);
    ASSERT_RC(wabot_scheduler_extend(S, Q, "a", l.token, T0 + 9000),
              WABOT_ERR_CONFLICT);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->lease_until_ms, 0);
}
END_TEST

START_TEST(test_extend_missing_job_is_not_found)
{
    ASSERT_RC(wabot_scheduler_extend(S, Q, "nope", 1, T0),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------ */
/* complete and fencing                                                */

START_TEST(test_complete_moves_active_job_to_completed)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token, T0 + 250),
              WABOT_OK);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(g->finished_ms, T0 + 250);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_int_eq(g->attempts, 1);
    ck_assert_uint_eq(g->token, l.token);
    expect_counts(0, 0, 0, 1, 0);
}
END_TEST

START_TEST(test_complete_with_stale_token_is_conflict_and_job_stays_active)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token - 1, T0),
              WABOT_ERR_CONFLICT);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token + 1, T0),
              WABOT_ERR_CONFLICT);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_int_eq(g->finished_ms, 0);
    expect_counts(0, 0, 1, 0, 0);
}
END_TEST

START_TEST(test_complete_twice_is_conflict)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token, T0 + 1),
              WABOT_OK);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token, T0 + 2),
              WABOT_ERR_CONFLICT);
    ck_assert_int_eq(get("a")->finished_ms, T0 + 1);
    expect_counts(0, 0, 0, 1, 0);
}
END_TEST

START_TEST(test_complete_of_waiting_or_delayed_job_is_conflict)
{
    put("w", T0);
    put("d", T0 + 1000);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "w", 0, T0), WABOT_ERR_CONFLICT);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "d", 0, T0), WABOT_ERR_CONFLICT);
    expect_counts(1, 1, 0, 0, 0);
}
END_TEST

START_TEST(test_complete_missing_job_is_not_found)
{
    ASSERT_RC(wabot_scheduler_complete(S, Q, "nope", 1, T0),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_late_ack_after_recover_and_rereserve_is_refused)
{
    put("a", T0);
    leased slow = take(T0, 1000); /* this worker stalls */
    ck_assert_int_eq(recover(T0 + 1000, 5), 1);
    leased fast = take(T0 + 1001, 1000);
    ck_assert_str_eq(fast.id, "a");
    ck_assert_int_eq(fast.attempts, 2);
    ck_assert_uint_gt(fast.token, slow.token);

    /* The stalled worker wakes up: every call with its token is refused. */
    ASSERT_RC(wabot_scheduler_extend(S, Q, "a", slow.token, T0 + 9000),
              WABOT_ERR_CONFLICT);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", slow.token, T0 + 1500),
              WABOT_ERR_CONFLICT);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", slow.token, T0 + 1500, "late",
                                   -1),
              WABOT_ERR_CONFLICT);
    ASSERT_RC(
        wabot_scheduler_release(S, Q, "a", slow.token, T0 + 1500, T0 + 1500),
        WABOT_ERR_CONFLICT);
    expect_state("a", WABOT_JOB_ACTIVE);

    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", fast.token, T0 + 1600),
              WABOT_OK);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", slow.token, T0 + 1700),
              WABOT_ERR_CONFLICT);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(g->finished_ms, T0 + 1600);
    ck_assert_ptr_null(g->last_error);
    expect_counts(0, 0, 0, 1, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* fail                                                                */

START_TEST(test_fail_with_retry_delays_job_with_last_error)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0 + 10, "HTTP 503",
                                   T0 + 2000),
              WABOT_OK);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_DELAYED);
    ck_assert_int_eq(g->run_at_ms, T0 + 2000);
    ck_assert_str_eq(g->last_error, "HTTP 503");
    ck_assert_int_eq(g->attempts, 1);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_int_eq(g->finished_ms, 0);
    expect_counts(0, 1, 0, 0, 0);
}
END_TEST

START_TEST(test_failed_job_with_retry_is_due_again_at_retry_time)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(
        wabot_scheduler_fail(S, Q, "a", l.token, T0, "timeout", T0 + 2000),
        WABOT_OK);
    expect_nothing_ready(T0 + 1999);
    ck_assert_int_eq(next_due(T0 + 1999), T0 + 2000);
    leased again = take(T0 + 2000, LEASE);
    ck_assert_str_eq(again.id, "a");
    ck_assert_int_eq(again.attempts, 2);
    ck_assert_uint_gt(again.token, l.token);
    /* The reason of the earlier failure stays visible while it runs. */
    ck_assert_str_eq(get("a")->last_error, "timeout");
}
END_TEST

START_TEST(test_fail_with_retry_already_due_is_waiting)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0 + 5, "x", T0 + 5),
              WABOT_OK);
    expect_state("a", WABOT_JOB_WAITING);
    expect_counts(1, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_fail_final_moves_job_to_failed_with_reason)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0 + 30,
                                   "invalid number 21211", -1),
              WABOT_OK);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_FAILED);
    ck_assert_str_eq(g->last_error, "invalid number 21211");
    ck_assert_int_eq(g->finished_ms, T0 + 30);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_int_eq(g->attempts, 1);
    expect_counts(0, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_fail_replaces_the_previous_reason)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0, "first", T0),
              WABOT_OK);
    l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0, "second", -1),
              WABOT_OK);
    ck_assert_str_eq(get("a")->last_error, "second");
}
END_TEST

START_TEST(test_fail_without_reason_leaves_no_last_error)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0, "first", T0),
              WABOT_OK);
    l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token, T0, NULL, -1),
              WABOT_OK);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_FAILED);
    ck_assert_ptr_null(g->last_error);
}
END_TEST

START_TEST(test_fail_with_stale_token_is_conflict_and_job_stays_active)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "a", l.token + 1, T0, "x", -1),
              WABOT_ERR_CONFLICT);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_ptr_null(g->last_error);
}
END_TEST

START_TEST(test_fail_missing_job_is_not_found)
{
    ASSERT_RC(wabot_scheduler_fail(S, Q, "nope", 1, T0, "x", -1),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------ */
/* release                                                             */

START_TEST(test_release_does_not_spend_the_attempt)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ck_assert_int_eq(l.attempts, 1);
    ASSERT_RC(wabot_scheduler_release(S, Q, "a", l.token, T0, T0 + 6000),
              WABOT_OK);
    ck_assert_int_eq(get("a")->attempts, 0);
    leased again = take(T0 + 6000, LEASE);
    ck_assert_int_eq(again.attempts, 1);
}
END_TEST

START_TEST(test_release_into_the_future_is_delayed)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_release(S, Q, "a", l.token, T0, T0 + 6000),
              WABOT_OK);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_DELAYED);
    ck_assert_int_eq(g->run_at_ms, T0 + 6000);
    ck_assert_int_eq(g->lease_until_ms, 0);
    expect_counts(0, 1, 0, 0, 0);
    expect_nothing_ready(T0 + 5999);
}
END_TEST

START_TEST(test_release_already_due_is_waiting)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_release(S, Q, "a", l.token, T0 + 3, T0 + 3),
              WABOT_OK);
    expect_state("a", WABOT_JOB_WAITING);
    expect_counts(1, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_release_with_stale_token_is_conflict)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_release(S, Q, "a", l.token + 1, T0, T0),
              WABOT_ERR_CONFLICT);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_int_eq(g->attempts, 1);
}
END_TEST

START_TEST(test_release_missing_job_is_not_found)
{
    ASSERT_RC(wabot_scheduler_release(S, Q, "nope", 1, T0, T0),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------ */
/* cancel                                                              */

START_TEST(test_cancel_waiting_job_removes_it)
{
    put("a", T0);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "a"), WABOT_OK);
    expect_absent("a");
    expect_counts(0, 0, 0, 0, 0);
    expect_nothing_ready(T0);
}
END_TEST

START_TEST(test_cancel_delayed_job_removes_it)
{
    put("a", T0 + 1000);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "a"), WABOT_OK);
    expect_absent("a");
    expect_counts(0, 0, 0, 0, 0);
    expect_nothing_ready(T0 + 1000);
    ASSERT_RC(wabot_scheduler_next_due(S, Q, T0, &(int64_t){0}),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_cancel_active_job_is_state_and_keeps_it)
{
    put("a", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "a"), WABOT_ERR_STATE);
    expect_state("a", WABOT_JOB_ACTIVE);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token, T0), WABOT_OK);
}
END_TEST

START_TEST(test_cancel_finished_job_is_state)
{
    put("done", T0);
    run_to_completion("done", T0);
    put("dead", T0);
    run_to_failure("dead", T0);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "done"), WABOT_ERR_STATE);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "dead"), WABOT_ERR_STATE);
    expect_counts(0, 0, 0, 1, 1);
}
END_TEST

START_TEST(test_cancel_missing_job_is_not_found)
{
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "nope"), WABOT_ERR_NOT_FOUND);
    ASSERT_RC(wabot_scheduler_cancel(S, "never-used", "nope"),
              WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_cancelled_id_can_be_enqueued_again)
{
    put("a", T0 + 1000);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "a"), WABOT_OK);
    put("a", T0);
    expect_state("a", WABOT_JOB_WAITING);
    run_to_completion("a", T0);
}
END_TEST

START_TEST(test_cancel_leaves_other_jobs_in_order)
{
    put_prio("p1", T0, 1, T0);
    put_prio("p2", T0, 2, T0);
    put_prio("p3", T0, 3, T0);
    put_prio("p4", T0, 4, T0);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "p3"), WABOT_OK);
    ck_assert_str_eq(take(T0, LEASE).id, "p4");
    ck_assert_str_eq(take(T0, LEASE).id, "p2");
    ck_assert_str_eq(take(T0, LEASE).id, "p1");
    expect_nothing_ready(T0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* recover (stalls)                                                    */

START_TEST(test_recover_returns_expired_lease_to_waiting)
{
    put("a", T0);
    leased l = take(T0, 1000);
    ck_assert_int_eq(recover(T0 + 1000, 3), 1);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_WAITING);
    ck_assert_int_eq(g->stalls, 1);
    ck_assert_int_eq(g->attempts, 1);
    ck_assert_int_eq(g->lease_until_ms, 0);
    ck_assert_uint_eq(g->token, l.token);
    expect_counts(1, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_recover_leaves_unexpired_lease)
{
    put("a", T0);
    take(T0, 1000);
    ck_assert_int_eq(recover(T0 + 999, 3), 0);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_ACTIVE);
    ck_assert_int_eq(g->stalls, 0);
    expect_counts(0, 0, 1, 0, 0);
}
END_TEST

START_TEST(test_recover_moves_only_expired_leases)
{
    put("short", T0);
    put("long", T0);
    take(T0, 100);
    take(T0, 10000);
    put("waiting", T0);
    put("delayed", T0 + 50);
    ck_assert_int_eq(recover(T0 + 5000, 3), 1);
    expect_state("short", WABOT_JOB_WAITING);
    expect_state("long", WABOT_JOB_ACTIVE);
    expect_state("delayed", WABOT_JOB_DELAYED);
    expect_counts(2, 1, 1, 0, 0);
}
END_TEST

START_TEST(test_recover_counts_every_moved_job)
{
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "j%d", i);
        put(id, T0);
        take(T0, 100 + i);
    }
    ck_assert_int_eq(recover(T0 + 104, 3), 5);
    ck_assert_int_eq(recover(T0 + 104, 3), 0);
    ck_assert_int_eq(recover(T0 + 200, 3), 5);
    expect_counts(10, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_recover_fails_job_stalled_beyond_max_stalls)
{
    put("a", T0);
    int64_t now = T0;
    for (int stall = 1; stall <= 2; stall++) {
        take(now, 100);
        now += 100;
        ck_assert_int_eq(recover(now, 2), 1);
        ck_assert_int_eq(get("a")->stalls, stall);
        expect_state("a", WABOT_JOB_WAITING);
    }
    take(now, 100);
    now += 100;
    ck_assert_int_eq(recover(now, 2), 1);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_FAILED);
    ck_assert_int_eq(g->stalls, 3);
    ck_assert_str_eq(g->last_error, "stalled");
    ck_assert_int_eq(g->finished_ms, now);
    ck_assert_int_eq(g->lease_until_ms, 0);
    expect_counts(0, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_recover_with_max_stalls_zero_fails_on_first_stall)
{
    put("a", T0);
    take(T0, 100);
    ck_assert_int_eq(recover(T0 + 100, 0), 1);
    const wabot_job_record *g = get("a");
    ck_assert_int_eq(g->state, WABOT_JOB_FAILED);
    ck_assert_str_eq(g->last_error, "stalled");
}
END_TEST

START_TEST(test_recover_unknown_or_idle_queue_moves_nothing)
{
    int32_t n = -1;
    ASSERT_RC(wabot_scheduler_recover(S, "never-used", T0, 3, &n), WABOT_OK);
    ck_assert_int_eq(n, 0);
    put("w", T0);
    put("d", T0 - 100000); /* long overdue, but not active */
    ck_assert_int_eq(recover(T0 + 1000000, 3), 0);
}
END_TEST

START_TEST(test_stale_worker_is_refused_after_recover)
{
    put("a", T0);
    leased l = take(T0, 100);
    ck_assert_int_eq(recover(T0 + 100, 3), 1);
    ASSERT_RC(wabot_scheduler_complete(S, Q, "a", l.token, T0 + 150),
              WABOT_ERR_CONFLICT);
    expect_state("a", WABOT_JOB_WAITING);
    expect_counts(1, 0, 0, 0, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* next_due                                                            */

START_TEST(test_next_due_of_empty_queue_is_not_found)
{
    int64_t due = 12345;
    ASSERT_RC(wabot_scheduler_next_due(S, Q, T0, &due), WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(due, 12345);
    put("a", T0);
    run_to_completion("a", T0);
    put("b", T0);
    run_to_failure("b", T0);
    ASSERT_RC(wabot_scheduler_next_due(S, Q, T0, &due), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_next_due_with_waiting_job_is_now)
{
    put("later", T0 + 10);
    put("now", T0 - 1000);
    ck_assert_int_eq(next_due(T0 + 3), T0 + 3);
}
END_TEST

START_TEST(test_next_due_with_delayed_job_is_its_run_at)
{
    put("b", T0 + 900);
    put("a", T0 + 500);
    ck_assert_int_eq(next_due(T0), T0 + 500);
}
END_TEST

START_TEST(test_next_due_with_active_job_is_its_lease_end)
{
    put("a", T0);
    take(T0, 700);
    ck_assert_int_eq(next_due(T0 + 1), T0 + 700);
}
END_TEST

START_TEST(test_next_due_is_earliest_of_delayed_run_at_and_lease_end)
{
    put("a", T0);
    take(T0, 700);
    put("d", T0 + 400);
    ck_assert_int_eq(next_due(T0), T0 + 400);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "d"), WABOT_OK);
    put("d2", T0 + 900);
    ck_assert_int_eq(next_due(T0), T0 + 700);
}
END_TEST

/* ------------------------------------------------------------------ */
/* counts                                                              */

START_TEST(test_counts_follow_every_transition)
{
    expect_counts(0, 0, 0, 0, 0);
    put("a", T0);
    put("b", T0);
    put("c", T0 + 100);
    expect_counts(2, 1, 0, 0, 0);
    leased a = take(T0, 50);
    expect_counts(1, 1, 1, 0, 0);
    leased b = take(T0, LEASE);
    expect_counts(0, 1, 2, 0, 0);
    ASSERT_RC(wabot_scheduler_complete(S, Q, b.id, b.token, T0), WABOT_OK);
    expect_counts(0, 1, 1, 1, 0);
    ASSERT_RC(wabot_scheduler_extend(S, Q, a.id, a.token, T0 + 60),
              WABOT_OK);
    expect_counts(0, 1, 1, 1, 0);
    ck_assert_int_eq(recover(T0 + 60, 3), 1);
    expect_counts(1, 1, 0, 1, 0);
    a = take(T0 + 60, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, a.id, a.token, T0 + 60, "x",
                                   T0 + 500),
              WABOT_OK);
    expect_counts(0, 2, 0, 1, 0);
    leased c = take(T0 + 100, LEASE);
    expect_counts(0, 1, 1, 1, 0);
    ASSERT_RC(wabot_scheduler_release(S, Q, c.id, c.token, T0 + 100, T0),
              WABOT_OK);
    expect_counts(1, 1, 0, 1, 0);
    c = take(T0 + 100, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, c.id, c.token, T0 + 100, "x", -1),
              WABOT_OK);
    expect_counts(0, 1, 0, 1, 1);
    ASSERT_RC(wabot_scheduler_cancel(S, Q, "a"), WABOT_OK);
    expect_counts(0, 0, 0, 1, 1);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, 0), 1);
    expect_counts(0, 0, 0, 0, 1);
    ck_assert_int_eq(trim(WABOT_JOB_FAILED, 0, 0), 1);
    expect_counts(0, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_counts_of_unknown_queue_are_zero)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {7, 7, 7, 7, 7};
    ASSERT_RC(wabot_scheduler_counts(S, "never-used", c,
                                     WABOT_JOB_STATE_COUNT),
              WABOT_OK);
    for (int i = 0; i < WABOT_JOB_STATE_COUNT; i++)
        ck_assert_int_eq(c[i], 0);
}
END_TEST

START_TEST(test_counts_write_only_the_first_n_states)
{
    put("a", T0);
    put("b", T0 + 100);
    int64_t c[WABOT_JOB_STATE_COUNT] = {-1, -1, -1, -1, -1};
    ASSERT_RC(wabot_scheduler_counts(S, Q, c, 2), WABOT_OK);
    ck_assert_int_eq(c[0], 1);
    ck_assert_int_eq(c[1], 1);
    ck_assert_int_eq(c[2], -1);
    ck_assert_int_eq(c[4], -1);
    ASSERT_RC(wabot_scheduler_counts(S, Q, NULL, 0), WABOT_OK);
}
END_TEST

START_TEST(test_counts_beyond_known_states_are_zero)
{
    put("a", T0);
    int64_t c[WABOT_JOB_STATE_COUNT + 3];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        c[i] = -1;
    ASSERT_RC(wabot_scheduler_counts(S, Q, c, sizeof c / sizeof c[0]),
              WABOT_OK);
    ck_assert_int_eq(c[WABOT_JOB_WAITING], 1);
    for (size_t i = WABOT_JOB_STATE_COUNT; i < sizeof c / sizeof c[0]; i++)
        ck_assert_int_eq(c[i], 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* trim (retention)                                                    */

/* Complete (or fail) jobs f0..f(n-1), one per ms from T0+1. */
static void finish_n(int n, int32_t state)
{
    char id[16];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "f%d", i);
        put(id, T0);
        if (state == WABOT_JOB_COMPLETED)
            run_to_completion(id, T0 + 1 + i);
        else
            run_to_failure(id, T0 + 1 + i);
    }
}

static void expect_finished_range(int from, int to_excl, int n)
{
    char id[16];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "f%d", i);
        if (i >= from && i < to_excl)
            get(id);
        else
            expect_absent(id);
    }
}

START_TEST(test_trim_by_count_keeps_newest_completed)
{
    finish_n(10, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 4, 0), 6);
    expect_finished_range(6, 10, 10);
    expect_counts(0, 0, 0, 4, 0);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 4, 0), 0);
}
END_TEST

/* More than a backend removes in one step (Redis deletes the trimmed
 * jobs' hashes 500 at a time): every one goes, the newest stay (a tenth
 * of the jobs under valgrind: tu_scale). */
START_TEST(test_trim_by_count_removes_more_than_a_chunk)
{
    int n = tu_scale(1203);
    finish_n(n, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 100, 0), n - 100);
    expect_finished_range(n - 100, n, n);
    expect_counts(0, 0, 0, 100, 0);
}
END_TEST

START_TEST(test_trim_by_count_keeps_newest_failed)
{
    finish_n(10, WABOT_JOB_FAILED);
    ck_assert_int_eq(trim(WABOT_JOB_FAILED, 3, 0), 7);
    expect_finished_range(7, 10, 10);
    expect_counts(0, 0, 0, 0, 3);
}
END_TEST

START_TEST(test_trim_by_age_removes_completed_finished_before)
{
    finish_n(10, WABOT_JOB_COMPLETED); /* finished at T0+1 .. T0+10 */
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 1000, T0 + 5), 4);
    expect_finished_range(4, 10, 10);
    expect_counts(0, 0, 0, 6, 0);
}
END_TEST

START_TEST(test_trim_by_age_removes_failed_finished_before)
{
    finish_n(10, WABOT_JOB_FAILED);
    ck_assert_int_eq(trim(WABOT_JOB_FAILED, 1000, T0 + 8), 7);
    expect_finished_range(7, 10, 10);
}
END_TEST

START_TEST(test_trim_applies_count_and_age_together)
{
    finish_n(10, WABOT_JOB_COMPLETED);
    /* Age alone would remove 2, count alone 5: both limits hold. */
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 5, T0 + 3), 5);
    expect_finished_range(5, 10, 10);
    /* Now age is the stricter one. */
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 5, T0 + 9), 3);
    expect_finished_range(8, 10, 10);
}
END_TEST

START_TEST(test_trim_zero_keep_removes_all_of_the_state)
{
    finish_n(5, WABOT_JOB_COMPLETED);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, 0), 5);
    expect_counts(0, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_trim_never_touches_unfinished_jobs)
{
    put_prio("w", T0 - 10, -1, T0); /* stays behind everything below */
    put("d", T0 + 10000);
    put("a", T0 - 20);
    ck_assert_str_eq(take(T0, LEASE).id, "a");
    put("done", T0);
    run_to_completion("done", T0);
    put("dead", T0);
    run_to_failure("dead", T0);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, INT64_MAX), 1);
    ck_assert_int_eq(trim(WABOT_JOB_FAILED, 0, INT64_MAX), 1);
    expect_state("w", WABOT_JOB_WAITING);
    expect_state("d", WABOT_JOB_DELAYED);
    expect_state("a", WABOT_JOB_ACTIVE);
    expect_counts(1, 1, 1, 0, 0);
}
END_TEST

START_TEST(test_trim_of_one_state_leaves_the_other)
{
    put("done", T0);
    run_to_completion("done", T0);
    put("dead", T0);
    run_to_failure("dead", T0);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, 0), 1);
    expect_state("dead", WABOT_JOB_FAILED);
    expect_counts(0, 0, 0, 0, 1);
}
END_TEST

START_TEST(test_trim_unknown_queue_removes_nothing)
{
    int64_t n = -1;
    ASSERT_RC(wabot_scheduler_trim(S, "never-used", WABOT_JOB_COMPLETED, 0,
                                   INT64_MAX, &n),
              WABOT_OK);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_trimmed_id_can_be_enqueued_again)
{
    put("a", T0);
    run_to_completion("a", T0);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, 0), 1);
    expect_absent("a");
    put("a", T0);
    expect_state("a", WABOT_JOB_WAITING);
    ck_assert_int_eq(get("a")->attempts, 0);
}
END_TEST

START_TEST(test_retried_job_trims_by_its_final_finish)
{
    /* A job that failed, retried and completed is "finished" when it
     * completed, not when it first failed. */
    put("old", T0);
    leased l = take(T0, LEASE);
    ASSERT_RC(wabot_scheduler_fail(S, Q, "old", l.token, T0, "x", T0 + 100),
              WABOT_OK);
    put("mid", T0);
    run_to_completion("mid", T0 + 50);
    run_to_completion("old", T0 + 100);
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 1, 0), 1);
    expect_absent("mid");
    expect_state("old", WABOT_JOB_COMPLETED);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A random walk checked against a reference model of the ordering     */

#define MODEL_JOBS 400

typedef struct model_job {
    int state; /* 0 absent, 1 waiting or delayed, 2 active, 3 completed */
    int32_t priority;
    int64_t run_at;
    int seq; /* enqueue order */
    uint64_t token;
} model_job;

static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

/* The job reserve must pick: due, highest priority, earliest, first. */
static int model_best(const model_job *m, int64_t now)
{
    int best = -1;
    for (int i = 0; i < MODEL_JOBS; i++) {
        const model_job *j = &m[i];
        if (j->state != 1 || j->run_at > now)
            continue;
        if (best < 0 || j->priority > m[best].priority ||
            (j->priority == m[best].priority &&
             (j->run_at < m[best].run_at ||
              (j->run_at == m[best].run_at && j->seq < m[best].seq))))
            best = i;
    }
    return best;
}

static int model_pick(const model_job *m, int state, uint32_t *rng)
{
    int start = (int)(lcg(rng) % MODEL_JOBS);
    for (int k = 0; k < MODEL_JOBS; k++) {
        int i = (start + k) % MODEL_JOBS;
        if (m[i].state == state)
            return i;
    }
    return -1;
}

static void model_trim_completed(model_job *m)
{
    int64_t n = 0;
    for (int i = 0; i < MODEL_JOBS; i++)
        if (m[i].state == 3) {
            m[i].state = 0;
            n++;
        }
    ck_assert_int_eq(trim(WABOT_JOB_COMPLETED, 0, 0), n);
}

static void model_step(model_job *m, int *next_seq, int64_t now,
                       uint32_t *rng)
{
    char id[16];
    uint32_t op = lcg(rng) % 10;
    int i;
    if (op < 4) { /* enqueue a fresh id */
        i = model_pick(m, 0, rng);
        if (i < 0)
            return;
        snprintf(id, sizeof id, "m%d", i);
        m[i].state = 1;
        m[i].priority = (int32_t)(lcg(rng) % 5) - 2;
        m[i].run_at = now - 50 + (int64_t)(lcg(rng) % 150);
        m[i].seq = (*next_seq)++;
        put_prio(id, m[i].run_at, m[i].priority, now);
    } else if (op < 5) { /* cancel */
        if ((i = model_pick(m, 1, rng)) < 0)
            return;
        snprintf(id, sizeof id, "m%d", i);
        ASSERT_RC(wabot_scheduler_cancel(S, Q, id), WABOT_OK);
        m[i].state = 0;
    } else if (op < 6) { /* release an active job to a new time */
        if ((i = model_pick(m, 2, rng)) < 0)
            return;
        snprintf(id, sizeof id, "m%d", i);
        m[i].run_at = now - 20 + (int64_t)(lcg(rng) % 100);
        ASSERT_RC(wabot_scheduler_release(S, Q, id, m[i].token, now,
                                          m[i].run_at),
                  WABOT_OK);
        m[i].state = 1;
    } else if (op < 7) { /* complete an active job */
        if ((i = model_pick(m, 2, rng)) < 0)
            return;
        snprintf(id, sizeof id, "m%d", i);
        ASSERT_RC(wabot_scheduler_complete(S, Q, id, m[i].token, now),
                  WABOT_OK);
        m[i].state = 3;
        if (lcg(rng) % 4 == 0) /* retention frees ids for reuse */
            model_trim_completed(m);
    } else { /* reserve: must pick exactly the model's best */
        int want = model_best(m, now);
        if (want < 0) {
            expect_nothing_ready(now);
            return;
        }
        leased l = take(now, 1000000);
        snprintf(id, sizeof id, "m%d", want);
        ck_assert_str_eq(l.id, id);
        m[want].state = 2;
        m[want].token = l.token;
    }
}

START_TEST(test_random_operations_keep_reserve_order)
{
    model_job *m = calloc(MODEL_JOBS, sizeof *m);
    ck_assert_ptr_nonnull(m);
    uint32_t rng = 20260101u;
    int next_seq = 0;
    int64_t now = T0;
    for (int step = 0; step < 6000; step++) {
        now += (int64_t)(lcg(&rng) % 4);
        model_step(m, &next_seq, now, &rng);
    }
    int64_t pending = 0, active = 0, completed = 0;
    for (int i = 0; i < MODEL_JOBS; i++) {
        pending += m[i].state == 1;
        active += m[i].state == 2;
        completed += m[i].state == 3;
    }
    int64_t c[WABOT_JOB_STATE_COUNT];
    ASSERT_RC(wabot_scheduler_counts(S, Q, c, WABOT_JOB_STATE_COUNT),
              WABOT_OK);
    ck_assert_int_eq(c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED], pending);
    ck_assert_int_eq(c[WABOT_JOB_ACTIVE], active);
    ck_assert_int_eq(c[WABOT_JOB_COMPLETED], completed);
    free(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Argument errors (the wrapper checks them for every backend)         */

START_TEST(test_null_scheduler_is_inval)
{
    wabot_job_record r = job_rec("a", T0);
    int64_t c[WABOT_JOB_STATE_COUNT];
    int64_t v = 0;
    int32_t n = 0;
    ASSERT_RC(wabot_scheduler_enqueue(NULL, Q, &r, T0), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_reserve(NULL, Q, T0, LEASE, INFO),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_extend(NULL, Q, "a", 1, T0), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_complete(NULL, Q, "a", 1, T0), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_fail(NULL, Q, "a", 1, T0, "x", -1),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_release(NULL, Q, "a", 1, T0, T0),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_cancel(NULL, Q, "a"), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_get(NULL, Q, "a", INFO), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_counts(NULL, Q, c, 5), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_recover(NULL, Q, T0, 1, &n), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_next_due(NULL, Q, T0, &v), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_trim(NULL, Q, WABOT_JOB_COMPLETED, 0, 0, &v),
              WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_invalid_queue_names_are_inval)
{
    char too_long[66];
    memset(too_long, 'q', 65);
    too_long[65] = '\0';
    const char *bad[] = {NULL, "", too_long, "a b", "a/b", "a\nb",
                         "caf\xc3\xa9", "q*", "{q}"};
    wabot_job_record r = job_rec("a", T0);
    int64_t c[WABOT_JOB_STATE_COUNT];
    int64_t v = 0;
    int32_t n = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *q = bad[i];
        ASSERT_RC(wabot_scheduler_enqueue(S, q, &r, T0), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_reserve(S, q, T0, LEASE, INFO),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_extend(S, q, "a", 1, T0), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_complete(S, q, "a", 1, T0),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_fail(S, q, "a", 1, T0, "x", -1),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_release(S, q, "a", 1, T0, T0),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_cancel(S, q, "a"), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_get(S, q, "a", INFO), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_counts(S, q, c, 5), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_recover(S, q, T0, 1, &n), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_next_due(S, q, T0, &v), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_trim(S, q, WABOT_JOB_COMPLETED, 0, 0, &v),
                  WABOT_ERR_INVAL);
    }
}
END_TEST

START_TEST(test_invalid_job_ids_are_inval)
{
    char too_long[258];
    memset(too_long, 'i', 257);
    too_long[257] = '\0';
    const char *bad[] = {NULL, "", too_long, "a\tb", "a\nb", "x\x7f",
                         "\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *id = bad[i];
        wabot_job_record r = job_rec(id, T0);
        ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_extend(S, Q, id, 1, T0), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_complete(S, Q, id, 1, T0),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_fail(S, Q, id, 1, T0, "x", -1),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_release(S, Q, id, 1, T0, T0),
                  WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_cancel(S, Q, id), WABOT_ERR_INVAL);
        ASSERT_RC(wabot_scheduler_get(S, Q, id, INFO), WABOT_ERR_INVAL);
    }
    expect_counts(0, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_invalid_records_are_inval_and_store_nothing)
{
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, NULL, T0), WABOT_ERR_INVAL);
    wabot_job_record r;
    r = job_rec("a", T0);
    r.version = 0;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r = job_rec("a", T0);
    r.payload = NULL;
    r.payload_len = 3;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r = job_rec("a", T0);
    r.max_attempts = 0;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r = job_rec("a", T0);
    r.backoff = 2;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r = job_rec("a", T0);
    r.backoff_ms = -1;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r = job_rec("a", T0);
    r.backoff_max_ms = -1;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r = job_rec("a", T0);
    r.jitter_pct = 101;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    r.jitter_pct = -1;
    ASSERT_RC(wabot_scheduler_enqueue(S, Q, &r, T0), WABOT_ERR_INVAL);
    expect_absent("a");
    expect_counts(0, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_reserve_with_nonpositive_lease_is_inval)
{
    put("a", T0);
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0, 0, INFO), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0, -5, INFO), WABOT_ERR_INVAL);
    expect_state("a", WABOT_JOB_WAITING);
}
END_TEST

START_TEST(test_null_out_pointers_are_inval)
{
    put("a", T0);
    ASSERT_RC(wabot_scheduler_reserve(S, Q, T0, LEASE, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_get(S, Q, "a", NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_next_due(S, Q, T0, NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_counts(S, Q, NULL, 5), WABOT_ERR_INVAL);
    expect_state("a", WABOT_JOB_WAITING);
}
END_TEST

START_TEST(test_optional_out_pointers_may_be_null)
{
    put("a", T0);
    take(T0, 10);
    ASSERT_RC(wabot_scheduler_recover(S, Q, T0 + 10, 0, NULL), WABOT_OK);
    ASSERT_RC(
        wabot_scheduler_trim(S, Q, WABOT_JOB_FAILED, 0, INT64_MAX, NULL),
        WABOT_OK);
    expect_absent("a");
}
END_TEST

START_TEST(test_recover_with_negative_max_stalls_is_inval)
{
    int32_t n = 0;
    ASSERT_RC(wabot_scheduler_recover(S, Q, T0, -1, &n), WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_trim_of_unfinished_state_or_negative_keep_is_inval)
{
    put("a", T0);
    int64_t n = 0;
    ASSERT_RC(wabot_scheduler_trim(S, Q, WABOT_JOB_WAITING, 0, 0, &n),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_trim(S, Q, WABOT_JOB_DELAYED, 0, 0, &n),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_trim(S, Q, WABOT_JOB_ACTIVE, 0, 0, &n),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_trim(S, Q, 99, 0, 0, &n), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_scheduler_trim(S, Q, WABOT_JOB_COMPLETED, -1, 0, &n),
              WABOT_ERR_INVAL);
    expect_state("a", WABOT_JOB_WAITING);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */

#define N_PRODUCERS 4
#define N_CONSUMERS 4
#define N_JOBS 20000

typedef struct conc_state {
    atomic_int reserved[N_JOBS];
    atomic_int completed[N_JOBS];
    atomic_int done; /* successful completions */
    atomic_int errors;
    atomic_llong now; /* the shared fake clock of the stall test */
    int jobs;         /* how many jobs this run enqueues */
    int64_t lease_ms;
    pthread_barrier_t start;
} conc_state;

typedef struct conc_arg {
    conc_state *st;
    int index;
    pthread_t tid;
} conc_arg;

static int id_index(const char *id)
{
    int i = -1;
    if (sscanf(id, "job-%d", &i) != 1 || i < 0 || i >= N_JOBS)
        return -1;
    return i;
}

static void *producer(void *p)
{
    conc_arg *a = p;
    conc_state *st = a->st;
    char id[32];
    pthread_barrier_wait(&st->start);
    for (int i = a->index; i < st->jobs; i += N_PRODUCERS) {
        snprintf(id, sizeof id, "job-%d", i);
        wabot_job_record r = job_rec(id, T0);
        if (wabot_scheduler_enqueue(S, Q, &r, atomic_load(&st->now)) !=
            WABOT_OK)
            atomic_fetch_add(&st->errors, 1);
    }
    return NULL;
}

/* Reserve and complete until every job is done. A refused completion is
 * fine (the lease was lost to recovery); a second success is not. */
static void *consumer(void *p)
{
    conc_arg *a = p;
    conc_state *st = a->st;
    wabot_job_info *out = wabot_job_info_new();
    pthread_barrier_wait(&st->start);
    while (atomic_load(&st->done) < st->jobs) {
        int64_t now = atomic_load(&st->now);
        int rc = wabot_scheduler_reserve(S, Q, now, st->lease_ms, out);
        if (rc == WABOT_ERR_NOT_FOUND) {
            sched_yield();
            continue;
        }
        const wabot_job_record *r = wabot_job_info_record(out);
        int i = r != NULL ? id_index(r->id) : -1;
        if (rc != WABOT_OK || i < 0) {
            atomic_fetch_add(&st->errors, 1);
            break;
        }
        atomic_fetch_add(&st->reserved[i], 1);
        rc = wabot_scheduler_complete(S, Q, r->id, r->token,
                                      atomic_load(&st->now));
        if (rc == WABOT_OK) {
            atomic_fetch_add(&st->completed[i], 1);
            atomic_fetch_add(&st->done, 1);
        } else if (rc != WABOT_ERR_CONFLICT) {
            atomic_fetch_add(&st->errors, 1);
        }
    }
    wabot_job_info_free(out);
    return NULL;
}

/* Moves the shared clock and recovers expired leases while the others
 * work, so leases are lost and jobs re-reserved mid-flight. */
static void *stall_maker(void *p)
{
    conc_state *st = p;
    pthread_barrier_wait(&st->start);
    while (atomic_load(&st->done) < st->jobs) {
        int64_t now = atomic_fetch_add(&st->now, 1) + 1;
        if (wabot_scheduler_recover(S, Q, now, INT32_MAX, NULL) != WABOT_OK)
            atomic_fetch_add(&st->errors, 1);
        sched_yield();
    }
    return NULL;
}

static conc_state *conc_new(int jobs, int64_t lease_ms, int extra_threads)
{
    conc_state *st = calloc(1, sizeof *st);
    ck_assert_ptr_nonnull(st);
    st->jobs = jobs;
    st->lease_ms = lease_ms;
    atomic_store(&st->now, T0);
    pthread_barrier_init(&st->start, NULL,
                         N_PRODUCERS + N_CONSUMERS + extra_threads);
    return st;
}

static void conc_run(conc_state *st, int with_stalls)
{
    conc_arg args[N_PRODUCERS + N_CONSUMERS];
    for (int i = 0; i < N_PRODUCERS + N_CONSUMERS; i++) {
        args[i].st = st;
        args[i].index = i < N_PRODUCERS ? i : i - N_PRODUCERS;
        ck_assert_int_eq(pthread_create(&args[i].tid, NULL,
                                        i < N_PRODUCERS ? producer : consumer,
                                        &args[i]),
                         0);
    }
    pthread_t ticker;
    if (with_stalls)
        ck_assert_int_eq(pthread_create(&ticker, NULL, stall_maker, st), 0);
    for (int i = 0; i < N_PRODUCERS + N_CONSUMERS; i++)
        pthread_join(args[i].tid, NULL);
    if (with_stalls)
        pthread_join(ticker, NULL);
    pthread_barrier_destroy(&st->start);
}

START_TEST(test_concurrent_producers_and_consumers_complete_each_job_once)
{
    conc_state *st = conc_new(N_JOBS, 3600000, 0);
    conc_run(st, 0);
    ck_assert_int_eq(atomic_load(&st->errors), 0);
    for (int i = 0; i < N_JOBS; i++) {
        ck_assert_msg(atomic_load(&st->reserved[i]) == 1,
                      "job-%d reserved %d times", i,
                      atomic_load(&st->reserved[i]));
        ck_assert_msg(atomic_load(&st->completed[i]) == 1,
                      "job-%d completed %d times", i,
                      atomic_load(&st->completed[i]));
    }
    expect_counts(0, 0, 0, N_JOBS, 0);
    free(st);
}
END_TEST

START_TEST(test_concurrent_recovery_never_completes_a_job_twice)
{
    int jobs = N_JOBS / 4;
    conc_state *st = conc_new(jobs, 2, 1);
    conc_run(st, 1);
    ck_assert_int_eq(atomic_load(&st->errors), 0);
    for (int i = 0; i < jobs; i++) {
        ck_assert_msg(atomic_load(&st->completed[i]) == 1,
                      "job-%d completed %d times", i,
                      atomic_load(&st->completed[i]));
        ck_assert_int_ge(atomic_load(&st->reserved[i]), 1);
    }
    expect_counts(0, 0, 0, jobs, 0);
    free(st);
}
END_TEST

/* ------------------------------------------------------------------ */

TCase *wb_scheduler_conformance_tcase(const wb_scheduler_backend *b)
{
    if (b == NULL || b->create == NULL || b->destroy == NULL ||
        g_nbackends >= WB_SCHEDULER_SUITE_MAX_BACKENDS)
        abort();
    int slot = g_nbackends++;
    g_backends[slot] = *b;
    snprintf(g_names[slot], sizeof g_names[slot], "scheduler:%s",
             b->name != NULL ? b->name : "?");
    TCase *tc = tcase_create(g_names[slot]);
    tcase_add_checked_fixture(tc, g_setups[slot], fixture_teardown);

    tcase_add_test(tc, test_enqueue_due_job_is_waiting);
    tcase_add_test(tc, test_enqueue_job_due_exactly_now_is_waiting);
    tcase_add_test(tc, test_enqueue_future_job_is_delayed);
    tcase_add_test(tc, test_enqueue_stores_every_field_of_the_record);
    tcase_add_test(tc, test_enqueue_ignores_the_records_history);
    tcase_add_test(tc, test_enqueue_without_created_time_uses_now);
    tcase_add_test(tc,
                   test_enqueue_duplicate_id_is_exists_and_original_untouched);
    tcase_add_test(tc, test_enqueue_duplicate_of_active_job_is_exists);
    tcase_add_test(tc, test_enqueue_duplicate_of_finished_job_is_exists);
    tcase_add_test(tc, test_same_id_on_two_queues_is_two_jobs);
    tcase_add_test(tc, test_get_missing_job_is_not_found);
    tcase_add_test(tc, test_payload_with_nul_bytes_round_trips);
    tcase_add_test(tc, test_empty_payload_round_trips);
    tcase_add_test(tc, test_large_payload_round_trips);
    tcase_add_test(tc, test_longest_id_and_queue_name_are_accepted);
    tcase_add_test(tc, test_every_allowed_queue_character_is_accepted);
    tcase_add_test(tc, test_id_with_spaces_and_utf8_is_accepted);
    tcase_add_test(tc, test_enqueue_accepts_newer_record_version);

    tcase_add_test(tc, test_reserve_empty_queue_is_not_found);
    tcase_add_test(tc, test_reserve_unknown_queue_is_not_found);
    tcase_add_test(tc, test_reserve_leaves_future_delayed_job);
    tcase_add_test(tc, test_reserve_promotes_due_delayed_job);
    tcase_add_test(tc, test_reserve_promotes_every_due_delayed_job);
    tcase_add_test(tc,
                   test_reserve_makes_job_active_with_attempt_token_and_lease);
    tcase_add_test(tc, test_reserve_takes_highest_priority_first);
    tcase_add_test(tc, test_reserve_takes_earliest_run_at_within_a_priority);
    tcase_add_test(tc, test_reserve_is_fifo_for_equal_priority_and_run_at);
    tcase_add_test(tc,
        test_reserve_order_holds_for_jobs_arriving_in_and_out_of_order);
    tcase_add_test(tc,
        test_recover_finds_expired_leases_taken_in_and_out_of_order);
    tcase_add_test(tc, test_promoted_job_competes_by_priority);
    tcase_add_test(tc, test_promoted_job_keeps_its_run_at_for_ordering);
    tcase_add_test(tc, test_tokens_strictly_increase);
    tcase_add_test(tc, test_tokens_keep_increasing_when_an_id_is_reused);
    tcase_add_test(tc, test_failed_reserve_leaves_out_without_record);

    tcase_add_test(tc, test_extend_moves_the_lease);
    tcase_add_test(tc, test_extend_may_shorten_the_lease);
    tcase_add_test(tc, test_extend_with_stale_token_is_conflict);
    tcase_add_test(tc, test_extend_of_job_no_longer_active_is_conflict);
    tcase_add_test(tc, test_extend_missing_job_is_not_found);

    tcase_add_test(tc, test_complete_moves_active_job_to_completed);
    tcase_add_test(
        tc, test_complete_with_stale_token_is_conflict_and_job_stays_active);
    tcase_add_test(tc, test_complete_twice_is_conflict);
    tcase_add_test(tc, test_complete_of_waiting_or_delayed_job_is_conflict);
    tcase_add_test(tc, test_complete_missing_job_is_not_found);
    tcase_add_test(tc, test_late_ack_after_recover_and_rereserve_is_refused);

    tcase_add_test(tc, test_fail_with_retry_delays_job_with_last_error);
    tcase_add_test(tc, test_failed_job_with_retry_is_due_again_at_retry_time);
    tcase_add_test(tc, test_fail_with_retry_already_due_is_waiting);
    tcase_add_test(tc, test_fail_final_moves_job_to_failed_with_reason);
    tcase_add_test(tc, test_fail_replaces_the_previous_reason);
    tcase_add_test(tc, test_fail_without_reason_leaves_no_last_error);
    tcase_add_test(
        tc, test_fail_with_stale_token_is_conflict_and_job_stays_active);
    tcase_add_test(tc, test_fail_missing_job_is_not_found);

    tcase_add_test(tc, test_release_does_not_spend_the_attempt);
    tcase_add_test(tc, test_release_into_the_future_is_delayed);
    tcase_add_test(tc, test_release_already_due_is_waiting);
    tcase_add_test(tc, test_release_with_stale_token_is_conflict);
    tcase_add_test(tc, test_release_missing_job_is_not_found);

    tcase_add_test(tc, test_cancel_waiting_job_removes_it);
    tcase_add_test(tc, test_cancel_delayed_job_removes_it);
    tcase_add_test(tc, test_cancel_active_job_is_state_and_keeps_it);
    tcase_add_test(tc, test_cancel_finished_job_is_state);
    tcase_add_test(tc, test_cancel_missing_job_is_not_found);
    tcase_add_test(tc, test_cancelled_id_can_be_enqueued_again);
    tcase_add_test(tc, test_cancel_leaves_other_jobs_in_order);

    tcase_add_test(tc, test_recover_returns_expired_lease_to_waiting);
    tcase_add_test(tc, test_recover_leaves_unexpired_lease);
    tcase_add_test(tc, test_recover_moves_only_expired_leases);
    tcase_add_test(tc, test_recover_counts_every_moved_job);
    tcase_add_test(tc, test_recover_fails_job_stalled_beyond_max_stalls);
    tcase_add_test(tc,
                   test_recover_with_max_stalls_zero_fails_on_first_stall);
    tcase_add_test(tc, test_recover_unknown_or_idle_queue_moves_nothing);
    tcase_add_test(tc, test_stale_worker_is_refused_after_recover);

    tcase_add_test(tc, test_next_due_of_empty_queue_is_not_found);
    tcase_add_test(tc, test_next_due_with_waiting_job_is_now);
    tcase_add_test(tc, test_next_due_with_delayed_job_is_its_run_at);
    tcase_add_test(tc, test_next_due_with_active_job_is_its_lease_end);
    tcase_add_test(tc,
                   test_next_due_is_earliest_of_delayed_run_at_and_lease_end);

    tcase_add_test(tc, test_counts_follow_every_transition);
    tcase_add_test(tc, test_counts_of_unknown_queue_are_zero);
    tcase_add_test(tc, test_counts_write_only_the_first_n_states);
    tcase_add_test(tc, test_counts_beyond_known_states_are_zero);

    tcase_add_test(tc, test_trim_by_count_keeps_newest_completed);
    tcase_add_test(tc, test_trim_by_count_removes_more_than_a_chunk);
    tcase_add_test(tc, test_trim_by_count_keeps_newest_failed);
    tcase_add_test(tc, test_trim_by_age_removes_completed_finished_before);
    tcase_add_test(tc, test_trim_by_age_removes_failed_finished_before);
    tcase_add_test(tc, test_trim_applies_count_and_age_together);
    tcase_add_test(tc, test_trim_zero_keep_removes_all_of_the_state);
    tcase_add_test(tc, test_trim_never_touches_unfinished_jobs);
    tcase_add_test(tc, test_trim_of_one_state_leaves_the_other);
    tcase_add_test(tc, test_trim_unknown_queue_removes_nothing);
    tcase_add_test(tc, test_trimmed_id_can_be_enqueued_again);
    tcase_add_test(tc, test_retried_job_trims_by_its_final_finish);

    tcase_add_test(tc, test_random_operations_keep_reserve_order);

    tcase_add_test(tc, test_null_scheduler_is_inval);
    tcase_add_test(tc, test_invalid_queue_names_are_inval);
    tcase_add_test(tc, test_invalid_job_ids_are_inval);
    tcase_add_test(tc, test_invalid_records_are_inval_and_store_nothing);
    tcase_add_test(tc, test_reserve_with_nonpositive_lease_is_inval);
    tcase_add_test(tc, test_null_out_pointers_are_inval);
    tcase_add_test(tc, test_optional_out_pointers_may_be_null);
    tcase_add_test(tc, test_recover_with_negative_max_stalls_is_inval);
    tcase_add_test(tc,
                   test_trim_of_unfinished_state_or_negative_keep_is_inval);

    tcase_add_test(
        tc, test_concurrent_producers_and_consumers_complete_each_job_once);
    tcase_add_test(tc, test_concurrent_recovery_never_completes_a_job_twice);
    return tc;
}
