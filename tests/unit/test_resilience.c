/* Resilience: the circuit breaker and the GCRA rate limiter. Time is only
 * ever an argument, so every test moves it by hand; nothing sleeps. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resilience.h"
#include "limiter_suite.h"
#include "testutil.h"

#define T0 TU_EPOCH_MS /* a whole second, so bucket edges are round */

/* ------------------------------------------------------------------ */
/* Breaker helpers                                                     */

/* 10 s window of 10 one-second buckets, opens at >= 50 % failures of at
 * least 10 calls, stays open 5 s, closes after 2 good probes. */
static wabot_breaker_config small_config(void)
{
    wabot_breaker_config c;
    wabot_breaker_config_init(&c);
    c.window_ms = 10000;
    c.buckets = 10;
    c.failure_rate_pct = 50;
    c.min_volume = 10;
    c.open_ms = 5000;
    c.half_open_probes = 2;
    return c;
}

static wabot_breaker *small_breaker(void)
{
    wabot_breaker_config c = small_config();
    wabot_breaker *b = wabot_breaker_new(&c);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* An allowed call with the given outcome. */
static void call(wabot_breaker *b, int64_t now, wabot_breaker_outcome o)
{
    ck_assert_int_eq(wabot_breaker_acquire(b, now, NULL), WABOT_OK);
    wabot_breaker_record(b, now, o);
}

static void calls(wabot_breaker *b, int64_t now, int n,
                  wabot_breaker_outcome o)
{
    for (int i = 0; i < n; i++)
        call(b, now, o);
}

static wb_breaker_snapshot snap(wabot_breaker *b, int64_t now)
{
    wb_breaker_snapshot s;
    wb_breaker_snapshot_of(b, now, &s);
    return s;
}

/* Open `b` (small_config) at `now` with 10 failures. */
static void trip(wabot_breaker *b, int64_t now)
{
    calls(b, now, 10, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, now), WABOT_BREAKER_OPEN);
}

/* ------------------------------------------------------------------ */
/* Breaker: closed -> open                                              */

START_TEST(test_breaker_stays_closed_below_min_volume)
{
    wabot_breaker *b = small_breaker();
    calls(b, T0, 9, WABOT_OUTCOME_FAILURE); /* 100 % of 9 < min_volume */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_CLOSED);
    ck_assert_int_eq(wabot_breaker_acquire(b, T0, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_breaker_transitions(b), 0);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_opens_at_failure_rate_threshold)
{
    wabot_breaker *b = small_breaker();
    calls(b, T0, 6, WABOT_OUTCOME_SUCCESS);
    calls(b, T0, 4, WABOT_OUTCOME_FAILURE); /* 4/10 = 40 % */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_CLOSED);
    call(b, T0, WABOT_OUTCOME_FAILURE); /* 5/11 = 45 % */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_CLOSED);
    call(b, T0 + 1, WABOT_OUTCOME_FAILURE); /* 6/12 = 50 %: opens */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 1), WABOT_BREAKER_OPEN);
    ck_assert_int_eq(snap(b, T0 + 1).opened_at_ms, T0 + 1);
    ck_assert_int_eq(wabot_breaker_transitions(b), 1);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_opens_when_min_volume_reached_by_a_success)
{
    /* The threshold is evaluated at every record: a success that brings
     * the volume up to min_volume opens it if the rate is already high. */
    wabot_breaker *b = small_breaker();
    calls(b, T0, 9, WABOT_OUTCOME_FAILURE);
    call(b, T0, WABOT_OUTCOME_SUCCESS); /* 9/10 = 90 % */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_OPEN);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_open_refuses_with_retry_at_half_open_time)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t retry_at = 0;
    ck_assert_int_eq(wabot_breaker_acquire(b, T0 + 1, &retry_at),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(retry_at, T0 + 5000);
    retry_at = 0;
    ck_assert_int_eq(wabot_breaker_acquire(b, T0 + 4999, &retry_at),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(retry_at, T0 + 5000);
    ck_assert_int_eq(wabot_breaker_acquire(b, T0 + 4999, NULL),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(wabot_breaker_acquire(b, T0 + 5000, &retry_at),
                     WABOT_OK);
    wabot_breaker_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Breaker: half-open                                                   */

START_TEST(test_breaker_half_opens_lazily_on_first_acquire_after_open_ms)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    /* No timer: long after open_ms it still reports open ... */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 60000),
                     WABOT_BREAKER_OPEN);
    ck_assert_int_eq(wabot_breaker_transitions(b), 1);
    /* ... until someone asks; that call is the first probe. */
    ck_assert_int_eq(wabot_breaker_acquire(b, T0 + 60000, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 60000),
                     WABOT_BREAKER_HALF_OPEN);
    ck_assert_int_eq(snap(b, T0 + 60000).probes_in_flight, 1);
    ck_assert_int_eq(wabot_breaker_transitions(b), 2);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_half_open_limits_probes_in_flight)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t t = T0 + 5000;
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
    int64_t retry_at = 0;
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 10, &retry_at),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(retry_at, t + 10 + wb_breaker_half_open_pause_ms(5000));
    ck_assert_int_eq(wb_breaker_half_open_pause_ms(5000), 500);
    /* One success leaves its slot used: two probes in all, not in flight. */
    wabot_breaker_record(b, t + 20, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 20, NULL),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(wabot_breaker_state_of(b, t + 20),
                     WABOT_BREAKER_HALF_OPEN);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_half_open_pause_has_a_floor)
{
    ck_assert_int_eq(wb_breaker_half_open_pause_ms(1), 100);
    ck_assert_int_eq(wb_breaker_half_open_pause_ms(999), 100);
    ck_assert_int_eq(wb_breaker_half_open_pause_ms(30000), 3000);
}
END_TEST

START_TEST(test_breaker_ignored_probe_frees_its_slot)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t t = T0 + 5000;
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL),
                     WABOT_ERR_CIRCUIT_OPEN);
    wabot_breaker_record(b, t, WABOT_OUTCOME_IGNORED);
    wb_breaker_snapshot s = snap(b, t);
    ck_assert_int_eq(s.state, WABOT_BREAKER_HALF_OPEN);
    ck_assert_int_eq(s.probes_in_flight, 1);
    ck_assert_int_eq(s.probes_succeeded, 0);
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_closes_when_all_probes_succeed_and_clears_window)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t t = T0 + 5000;
    call(b, t, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_state_of(b, t), WABOT_BREAKER_HALF_OPEN);
    call(b, t, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_state_of(b, t), WABOT_BREAKER_CLOSED);
    wb_breaker_snapshot s = snap(b, t);
    ck_assert_int_eq(s.successes, 0);
    ck_assert_int_eq(s.failures, 0);
    /* The 10 failures that tripped it (5 s ago, inside the 10 s window)
     * are gone: 9 new failures stay below min_volume. */
    calls(b, t, 9, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, t), WABOT_BREAKER_CLOSED);
    call(b, t, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, t), WABOT_BREAKER_OPEN);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_probe_failure_reopens_with_doubled_open_time)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t t = T0 + 7000;
    call(b, t, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 300, NULL), WABOT_OK);
    wabot_breaker_record(b, t + 400, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, t + 400), WABOT_BREAKER_OPEN);
    wb_breaker_snapshot s = snap(b, t + 400);
    ck_assert_int_eq(s.opened_at_ms, t + 400);
    ck_assert_int_eq(s.reopens, 1);
    ck_assert_int_eq(s.open_until_ms, t + 400 + 10000);
    /* Still down after the first 5 s: the next opening lasts 10 s. */
    int64_t retry_at = 0;
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 400 + 9999, &retry_at),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(retry_at, t + 400 + 10000);
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 400 + 10000, NULL),
                     WABOT_OK);
    ck_assert_int_eq(snap(b, t + 400 + 10000).probes_succeeded, 0);
    wabot_breaker_free(b);
}
END_TEST

/* Each failed half-open doubles the wait (5, 10, 20, 40 s), capped at
 * 8 x open_ms; a half-open whose probes all succeed closes the breaker
 * and the next opening is back to open_ms. */
START_TEST(test_breaker_failed_probes_back_off_to_a_cap_and_reset_on_close)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t t = T0, expect[] = {5000, 10000, 20000, 40000, 40000, 40000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int64_t retry_at = 0;
        ck_assert_int_eq(wabot_breaker_acquire(b, t + 1, &retry_at),
                         WABOT_ERR_CIRCUIT_OPEN);
        ck_assert_int_eq(retry_at - t, expect[i]);
        ck_assert_int_eq(wabot_breaker_acquire(b, t + expect[i] - 1, NULL),
                         WABOT_ERR_CIRCUIT_OPEN);
        t += expect[i];
        /* The half-open probe fails: open again, for longer. */
        ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
        wabot_breaker_record(b, t, WABOT_OUTCOME_FAILURE);
        ck_assert_int_eq(wabot_breaker_state_of(b, t), WABOT_BREAKER_OPEN);
    }
    ck_assert_int_eq(snap(b, t).reopens, 6);
    t += 40000;
    call(b, t, WABOT_OUTCOME_SUCCESS);
    call(b, t, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_state_of(b, t), WABOT_BREAKER_CLOSED);
    ck_assert_int_eq(snap(b, t).reopens, 0);
    trip(b, t + 1);
    int64_t retry_at = 0;
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 2, &retry_at),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(retry_at, t + 1 + 5000);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_open_time_backoff_is_bounded)
{
    ck_assert_int_eq(wb_breaker_open_for_ms(30000, 0), 30000);
    ck_assert_int_eq(wb_breaker_open_for_ms(30000, 2), 120000);
    ck_assert_int_eq(wb_breaker_open_for_ms(30000, 1000), 240000);
    /* Near the longest span the cap is the span, never an overflow. */
    ck_assert_int_eq(wb_breaker_open_for_ms(WB_BREAKER_MAX_SPAN_MS, 5),
                     WB_BREAKER_MAX_SPAN_MS);
    ck_assert_int_eq(wb_breaker_open_for_ms(WB_BREAKER_MAX_SPAN_MS / 3, 5),
                     WB_BREAKER_MAX_SPAN_MS);
}
END_TEST

START_TEST(test_breaker_presumes_unreported_probes_lost_after_open_ms)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    int64_t t = T0 + 5000;
    ck_assert_int_eq(wabot_breaker_acquire(b, t, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 100, NULL), WABOT_OK);
    /* Neither probe ever reports. */
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 5099, NULL),
                     WABOT_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(wabot_breaker_acquire(b, t + 5100, NULL), WABOT_OK);
    wb_breaker_snapshot s = snap(b, t + 5100);
    ck_assert_int_eq(s.state, WABOT_BREAKER_HALF_OPEN);
    ck_assert_int_eq(s.probes_in_flight, 1);
    wabot_breaker_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Breaker: what counts                                                 */

START_TEST(test_breaker_ignored_outcomes_never_open_it)
{
    wabot_breaker *b = small_breaker();
    for (int i = 0; i < 1000; i++)
        call(b, T0 + i, WABOT_OUTCOME_IGNORED); /* 1000 throttled answers */
    wb_breaker_snapshot s = snap(b, T0 + 1000);
    ck_assert_int_eq(s.state, WABOT_BREAKER_CLOSED);
    ck_assert_int_eq(s.successes, 0);
    ck_assert_int_eq(s.failures, 0);
    ck_assert_int_eq(wabot_breaker_transitions(b), 0);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_old_buckets_roll_out_of_window)
{
    wabot_breaker *b = small_breaker();
    calls(b, T0, 9, WABOT_OUTCOME_FAILURE);
    /* 9.999 s later the first bucket is still inside the 10 s window. */
    ck_assert_int_eq(snap(b, T0 + 9999).failures, 9);
    /* 10 s later it has left it: a failure then is 1 of 1. */
    call(b, T0 + 10000, WABOT_OUTCOME_FAILURE);
    wb_breaker_snapshot s = snap(b, T0 + 10000);
    ck_assert_int_eq(s.failures, 1);
    ck_assert_int_eq(s.state, WABOT_BREAKER_CLOSED);
    /* Long ago failures in a bucket whose slot is reused are cleared. */
    calls(b, T0 + 20000, 9, WABOT_OUTCOME_SUCCESS);
    s = snap(b, T0 + 20000);
    ck_assert_int_eq(s.failures, 0);
    ck_assert_int_eq(s.successes, 9);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_opens_on_failures_spread_across_buckets)
{
    wabot_breaker *b = small_breaker();
    for (int i = 0; i < 9; i++)
        call(b, T0 + i * 1000, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 9000),
                     WABOT_BREAKER_CLOSED);
    call(b, T0 + 9500, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 9500),
                     WABOT_BREAKER_OPEN);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_late_outcomes_do_not_corrupt_state)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);
    /* Calls made while closed report after it opened: ignored. */
    wabot_breaker_record(b, T0 + 10, WABOT_OUTCOME_FAILURE);
    wabot_breaker_record(b, T0 + 20, WABOT_OUTCOME_SUCCESS);
    wb_breaker_snapshot s = snap(b, T0 + 20);
    ck_assert_int_eq(s.state, WABOT_BREAKER_OPEN);
    ck_assert_int_eq(s.opened_at_ms, T0);
    ck_assert_int_eq(wabot_breaker_transitions(b), 1);
    /* Half-open with no probe in flight: an outcome fills no slot. */
    ck_assert_int_eq(wabot_breaker_acquire(b, T0 + 5000, NULL), WABOT_OK);
    wabot_breaker_record(b, T0 + 5001, WABOT_OUTCOME_SUCCESS);
    wabot_breaker_record(b, T0 + 5002, WABOT_OUTCOME_FAILURE); /* stray */
    s = snap(b, T0 + 5002);
    ck_assert_int_eq(s.state, WABOT_BREAKER_HALF_OPEN);
    ck_assert_int_eq(s.probes_in_flight, 0);
    ck_assert_int_eq(s.probes_succeeded, 1);
    /* Unknown outcome values and an earlier clock change nothing. */
    wabot_breaker_record(b, T0 + 5003, (wabot_breaker_outcome)7);
    ck_assert_int_eq(wabot_breaker_acquire(b, T0, NULL), WABOT_OK);
    wabot_breaker_record(b, T0, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_CLOSED);
    wabot_breaker_free(b);
}
END_TEST

START_TEST(test_breaker_counts_transitions)
{
    wabot_breaker *b = small_breaker();
    trip(b, T0);                                     /* closed -> open */
    call(b, T0 + 5000, WABOT_OUTCOME_FAILURE);       /* -> half -> open */
    /* Reopened for 10 s (backoff). */
    call(b, T0 + 15000, WABOT_OUTCOME_SUCCESS);      /* -> half */
    call(b, T0 + 15000, WABOT_OUTCOME_SUCCESS);      /* -> closed */
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 15000),
                     WABOT_BREAKER_CLOSED);
    ck_assert_int_eq(wabot_breaker_transitions(b), 5);
    ck_assert_int_eq(wabot_breaker_transitions(NULL), 0);
    wabot_breaker_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Breaker: configuration                                               */

START_TEST(test_breaker_config_init_gives_documented_defaults)
{
    wabot_breaker_config c;
    memset(&c, 0xab, sizeof c);
    wabot_breaker_config_init(&c);
    ck_assert_uint_eq(c.version, WABOT_BREAKER_CONFIG_VERSION);
    ck_assert_int_eq(c.window_ms, 60000);
    ck_assert_int_eq(c.buckets, 10);
    ck_assert_int_eq(c.failure_rate_pct, 50);
    ck_assert_int_eq(c.min_volume, 20);
    ck_assert_int_eq(c.open_ms, 30000);
    ck_assert_int_eq(c.half_open_probes, 3);
    wabot_breaker_config_init(NULL); /* no crash */
}
END_TEST

START_TEST(test_breaker_rejects_bad_configs)
{
    wabot_breaker_config c;
#define REJECTS(field, value)                                                \
    do {                                                                     \
        c = small_config();                                                  \
        c.field = value;                                                     \
        ck_assert_msg(wabot_breaker_new(&c) == NULL, #field " = " #value);   \
    } while (0)
    REJECTS(version, 0);
    REJECTS(window_ms, 0);
    REJECTS(window_ms, -1);
    REJECTS(window_ms, WB_BREAKER_MAX_SPAN_MS + 1);
    REJECTS(window_ms, 9); /* fewer ms than buckets */
    REJECTS(buckets, 0);
    REJECTS(buckets, 1001);
    REJECTS(failure_rate_pct, 0);
    REJECTS(failure_rate_pct, 101);
    REJECTS(min_volume, 0);
    REJECTS(open_ms, 0);
    REJECTS(open_ms, WB_BREAKER_MAX_SPAN_MS + 1);
    REJECTS(half_open_probes, 0);
    REJECTS(half_open_probes, -3);
#undef REJECTS
}
END_TEST

START_TEST(test_breaker_accepts_defaults_edges_and_newer_versions)
{
    wabot_breaker *b = wabot_breaker_new(NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_CLOSED);
    wabot_breaker_free(b);

    wabot_breaker_config c = small_config();
    c.version = WABOT_BREAKER_CONFIG_VERSION + 1; /* built against newer */
    c.buckets = 1000;
    c.window_ms = 1000;
    c.failure_rate_pct = 100;
    c.min_volume = 1;
    c.open_ms = 1;
    c.half_open_probes = 1;
    b = wabot_breaker_new(&c);
    ck_assert_ptr_nonnull(b);
    call(b, T0, WABOT_OUTCOME_FAILURE);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0), WABOT_BREAKER_OPEN);
    call(b, T0 + 1, WABOT_OUTCOME_SUCCESS);
    ck_assert_int_eq(wabot_breaker_state_of(b, T0 + 1), WABOT_BREAKER_CLOSED);
    wabot_breaker_free(b);
    wabot_breaker_free(NULL);
}
END_TEST

START_TEST(test_breaker_state_names)
{
    ck_assert_str_eq(wabot_breaker_state_name(WABOT_BREAKER_CLOSED), "closed");
    ck_assert_str_eq(wabot_breaker_state_name(WABOT_BREAKER_OPEN), "open");
    ck_assert_str_eq(wabot_breaker_state_name(WABOT_BREAKER_HALF_OPEN),
                     "half_open");
    ck_assert_str_eq(wabot_breaker_state_name((wabot_breaker_state)9),
                     "unknown");
}
END_TEST

START_TEST(test_breaker_rejects_null)
{
    ck_assert_int_eq(wabot_breaker_acquire(NULL, T0, NULL), WABOT_ERR_INVAL);
    wabot_breaker_record(NULL, T0, WABOT_OUTCOME_FAILURE); /* no crash */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Breaker: threads                                                     */

#define THREADS 4
#define CALLS_PER_THREAD 60000

typedef struct breaker_worker {
    wabot_breaker *b;
    int id;
    int64_t successes, failures, allowed;
} breaker_worker;

/* Every thread records a known mix inside one window (times vary within
 * it, and are not monotonic across threads). */
static void *count_outcomes(void *arg)
{
    breaker_worker *w = arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        int64_t now = T0 + (i % 5000) + w->id;
        /* Closed: outcomes count whether or not an acquire preceded them;
         * most go without, so records really overlap. */
        if (i % 8 == 0)
            ck_assert_int_eq(wabot_breaker_acquire(w->b, now, NULL),
                             WABOT_OK);
        wabot_breaker_outcome o = (i % 3 == 0) ? WABOT_OUTCOME_FAILURE
                                  : (i % 3 == 1) ? WABOT_OUTCOME_SUCCESS
                                                 : WABOT_OUTCOME_IGNORED;
        wabot_breaker_record(w->b, now, o);
        w->failures += o == WABOT_OUTCOME_FAILURE;
        w->successes += o == WABOT_OUTCOME_SUCCESS;
    }
    return NULL;
}

static void run_workers(wabot_breaker *b, void *(*fn)(void *),
                        breaker_worker *w)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (breaker_worker){.b = b, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
}

START_TEST(test_breaker_concurrent_records_add_up)
{
    wabot_breaker_config c = small_config();
    c.min_volume = INT32_MAX; /* never opens: every outcome is counted */
    wabot_breaker *b = wabot_breaker_new(&c);
    ck_assert_ptr_nonnull(b);
    breaker_worker w[THREADS];
    run_workers(b, count_outcomes, w);
    int64_t ok = 0, failed = 0;
    for (int i = 0; i < THREADS; i++) {
        ok += w[i].successes;
        failed += w[i].failures;
    }
    wb_breaker_snapshot s = snap(b, T0);
    ck_assert_int_eq(s.successes, ok);
    ck_assert_int_eq(s.failures, failed);
    /* i % 3: 0 failure, 1 success, 2 ignored. */
    ck_assert_int_eq(ok, THREADS * CALLS_PER_THREAD / 3);
    ck_assert_int_eq(failed, THREADS * CALLS_PER_THREAD / 3);
    wabot_breaker_free(b);
}
END_TEST

/* Threads drive the breaker through every state: mostly failures while
 * time moves, so it opens, half-opens and closes again and again. */
static void *churn(void *arg)
{
    breaker_worker *w = arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        int64_t now = T0 + i;
        if (wabot_breaker_acquire(w->b, now, NULL) != WABOT_OK)
            continue;
        w->allowed++;
        int phase = (i / 2000) % 2; /* failing, then healthy */
        wabot_breaker_record(w->b, now,
                             phase == 0 && i % 2 ? WABOT_OUTCOME_FAILURE
                                                 : WABOT_OUTCOME_SUCCESS);
        wb_breaker_snapshot s = snap(w->b, now);
        ck_assert_int_le(s.probes_in_flight + s.probes_succeeded, 2);
        ck_assert_int_ge(s.probes_in_flight, 0);
    }
    return NULL;
}

START_TEST(test_breaker_concurrent_state_changes_keep_invariants)
{
    wabot_breaker_config c = small_config();
    c.open_ms = 50;
    c.window_ms = 100;
    wabot_breaker *b = wabot_breaker_new(&c);
    ck_assert_ptr_nonnull(b);
    breaker_worker w[THREADS];
    run_workers(b, churn, w);
    ck_assert_int_gt(wabot_breaker_transitions(b), 3);
    /* Healthy at the end: the last phase was all successes. */
    for (int i = 0; i < 10; i++) {
        int64_t now = T0 + CALLS_PER_THREAD + 1000 + i;
        if (wabot_breaker_acquire(b, now, NULL) == WABOT_OK)
            wabot_breaker_record(b, now, WABOT_OUTCOME_SUCCESS);
    }
    ck_assert_int_eq(
        wabot_breaker_state_of(b, T0 + CALLS_PER_THREAD + 2000),
        WABOT_BREAKER_CLOSED);
    wabot_breaker_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limiter helpers                                                      */

static wabot_limiter *memory_create(void *ud)
{
    (void)ud;
    return wabot_limiter_memory_new();
}

static void memory_destroy(wabot_limiter *l, void *ud)
{
    (void)ud;
    wabot_limiter_free(l);
}

static wabot_limiter *mem_limiter(void)
{
    wabot_limiter *l = wabot_limiter_memory_new();
    ck_assert_ptr_nonnull(l);
    return l;
}

static wabot_rate_limit rl(const char *key, int64_t count, int64_t period,
                           int64_t burst)
{
    return (wabot_rate_limit){
        .key = key, .count = count, .period_ms = period, .burst = burst};
}

/* One-key check; returns the status, *retry the wait (0 when allowed). */
static int check1(wabot_limiter *l, wabot_rate_limit r, int64_t now,
                  int64_t *retry)
{
    return wabot_limiter_check(l, &r, 1, now, retry);
}


/* ------------------------------------------------------------------ */
/* Limiter: GCRA                                                        */

START_TEST(test_limiter_forgets_idle_keys)
{
    wabot_limiter *l = mem_limiter();
    wb_limiter_memory_stats st;
    size_t max_keys = 0, max_buckets = 0;
    /* 100k customers, one new one every ms, each limited to 1/s: at any
     * moment ~1000 are live (+1000 within the forgetting grace). */
    for (int i = 0; i < 100000; i++) {
        char key[32];
        snprintf(key, sizeof key, "customer:+1555%07d", i);
        ck_assert_int_eq(check1(l, rl(key, 1, 1000, 0), T0 + i, NULL),
                         WABOT_OK);
        ck_assert_int_eq(wb_limiter_memory_stats_of(l, &st), WABOT_OK);
        if (st.keys > max_keys)
            max_keys = st.keys;
        if (st.buckets > max_buckets)
            max_buckets = st.buckets;
    }
    printf("limiter: 100000 keys over 100 s: at most %zu held, "
           "%zu buckets\n", max_keys, max_buckets);
    ck_assert_uint_le(max_keys, 8192);
    ck_assert_uint_le(max_buckets, 8192);
    ck_assert_int_eq(wb_limiter_memory_stats_of(NULL, &st), WABOT_ERR_INVAL);
    wabot_limiter_free(l);
}
END_TEST

START_TEST(test_limiter_forgetting_a_key_changes_no_verdict)
{
    /* A key forgotten after its TAT passed answers like one still held. */
    wabot_limiter *l = mem_limiter();
    wabot_rate_limit r = rl("pair:a:b", 1, 6000, 2);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(check1(l, r, T0, NULL), WABOT_OK);
    /* Churn through other keys far in the future so everything is swept. */
    int64_t later = T0 + 60000;
    for (int i = 0; i < 5000; i++) {
        char key[16];
        snprintf(key, sizeof key, "x%d", i);
        ck_assert_int_eq(check1(l, rl(key, 1, 1, 0), later, NULL), WABOT_OK);
    }
    wb_limiter_memory_stats st;
    ck_assert_int_eq(wb_limiter_memory_stats_of(l, &st), WABOT_OK);
    ck_assert_uint_eq(st.keys, 5000); /* the pair key is gone */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(check1(l, r, later, NULL), WABOT_OK);
    int64_t retry = 0;
    ck_assert_int_eq(check1(l, r, later, &retry), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 6000);
    wabot_limiter_free(l);
}
END_TEST


/* ------------------------------------------------------------------ */
/* Limiter: the handle                                                  */

START_TEST(test_limiter_rejects_bad_arguments)
{
    wabot_limiter *l = mem_limiter();
    wabot_rate_limit good = rl("k", 1, 1000, 0);
    int64_t retry = 77;
    ck_assert_int_eq(wabot_limiter_check(NULL, &good, 1, T0, &retry),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_limiter_check(l, NULL, 1, T0, &retry),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_limiter_check(l, &good, 0, T0, &retry),
                     WABOT_ERR_INVAL);
    wabot_rate_limit bad[] = {rl(NULL, 1, 1000, 0), rl("", 1, 1000, 0),
                              rl("k", 0, 1000, 0),  rl("k", -5, 1000, 0),
                              rl("k", 1, 0, 0),     rl("k", 1, -1, 0),
                              rl("k", 1, 1000, -1)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wabot_rate_limit pair[2] = {good, bad[i]};
        ck_assert_int_eq(check1(l, bad[i], T0, &retry), WABOT_ERR_INVAL);
        ck_assert_int_eq(wabot_limiter_check(l, pair, 2, T0, &retry),
                         WABOT_ERR_INVAL);
    }
    ck_assert_int_eq(retry, 77); /* untouched on argument errors */
    /* The good key in the rejected pairs took nothing. */
    ck_assert_int_eq(check1(l, good, T0, NULL), WABOT_OK);
    ck_assert_int_eq(check1(l, good, T0, NULL), WABOT_ERR_RATE_LIMITED);
    wabot_limiter_free(l);
    wabot_limiter_free(NULL);
}
END_TEST

typedef struct fake_backend {
    int checks, destroyed;
    size_t last_n;
    int64_t last_now;
    const char *last_key;
} fake_backend;

static int fake_check(void *impl, const wabot_rate_limit *limits, size_t n,
                      int64_t now_ms, int64_t *retry_after_ms)
{
    fake_backend *f = impl;
    f->checks++;
    f->last_n = n;
    f->last_now = now_ms;
    f->last_key = limits[0].key;
    *retry_after_ms = 42;
    return f->checks % 2 ? WABOT_ERR_RATE_LIMITED : WABOT_OK;
}

static void fake_destroy(void *impl)
{
    ((fake_backend *)impl)->destroyed++;
}

START_TEST(test_custom_limiter_is_called_through)
{
    fake_backend f = {0};
    wabot_limiter_vtable vt = {.version = WABOT_LIMITER_VTABLE_VERSION,
                               .check = fake_check,
                               .destroy = fake_destroy};
    wabot_limiter *l = wabot_limiter_new(&vt, &f);
    ck_assert_ptr_nonnull(l);
    wabot_rate_limit lim[2] = {rl("sender:a", 80, 1000, 0),
                               rl("pair:a:b", 1, 6000, 2)};
    int64_t retry = 0;
    ck_assert_int_eq(wabot_limiter_check(l, lim, 2, T0 + 5, &retry),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 42);
    ck_assert_int_eq(f.checks, 1);
    ck_assert_uint_eq(f.last_n, 2);
    ck_assert_int_eq(f.last_now, T0 + 5);
    ck_assert_ptr_eq(f.last_key, lim[0].key);
    /* Allowed: the wait reads 0 whatever the backend left in it. */
    ck_assert_int_eq(wabot_limiter_check(l, lim, 2, T0 + 6, &retry),
                     WABOT_OK);
    ck_assert_int_eq(retry, 0);
    /* Arguments are checked before the backend sees them. */
    ck_assert_int_eq(wabot_limiter_check(l, lim, 0, T0, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(f.checks, 2);
    ck_assert_int_eq(wb_limiter_memory_stats_of(
                         l, &(wb_limiter_memory_stats){0}),
                     WABOT_ERR_INVAL);
    wabot_limiter_free(l);
    ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

START_TEST(test_limiter_new_validates_the_vtable)
{
    fake_backend f = {0};
    wabot_limiter_vtable vt = {.version = 0, .check = fake_check};
    ck_assert_ptr_null(wabot_limiter_new(NULL, &f));
    ck_assert_ptr_null(wabot_limiter_new(&vt, &f)); /* version 0 */
    vt.version = WABOT_LIMITER_VTABLE_VERSION;
    vt.check = NULL;
    ck_assert_ptr_null(wabot_limiter_new(&vt, &f));
    /* A newer table and no destroy are fine. */
    vt.version = WABOT_LIMITER_VTABLE_VERSION + 1;
    vt.check = fake_check;
    wabot_limiter *l = wabot_limiter_new(&vt, &f);
    ck_assert_ptr_nonnull(l);
    wabot_limiter_free(l);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Figures (printed, never asserted)                                    */

static double seconds_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

START_TEST(test_report_limiter_and_breaker_throughput)
{
    enum { KEYS = 10000 };
    /* A report, no assertion: 100,000 under ASan and valgrind
     * (WABOT_TEST_SMALL), whose figures mean nothing there. */
    const int N = tu_scale(1000000);
    static char keys[KEYS][32];
    for (int i = 0; i < KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "customer:+1555%06d", i);
    wabot_limiter *l = mem_limiter();
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < N; i++)
        check1(l, rl(keys[i % KEYS], 80, 1000, 4), T0 + i / 1000, NULL);
    double s1 = seconds_since(&t);

    wabot_rate_limit lim[3] = {rl("sender:x", 80, 1000, 0), rl("", 1, 6000, 2),
                               rl("org:acme", 1000, 1000, 100)};
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < N; i++) {
        lim[1].key = keys[i % KEYS];
        wabot_limiter_check(l, lim, 3, T0 + 1000 + i / 1000, NULL);
    }
    double s3 = seconds_since(&t);
    wabot_limiter_free(l);

    wabot_breaker *b = wabot_breaker_new(NULL);
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < N; i++)
        if (wabot_breaker_acquire(b, T0 + i / 100, NULL) == WABOT_OK)
            wabot_breaker_record(b, T0 + i / 100, WABOT_OUTCOME_SUCCESS);
    double sb = seconds_since(&t);
    wabot_breaker_free(b);

    printf("limiter: %.2f M single-key checks/s (10k keys), "
           "%.2f M 3-key checks/s; breaker: %.2f M acquire+record/s "
           "(one thread)\n",
           N / s1 / 1e6, N / s3 / 1e6, N / sb / 1e6);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resilience");

    TCase *tc = tcase_create("breaker");
    tcase_add_test(tc, test_breaker_stays_closed_below_min_volume);
    tcase_add_test(tc, test_breaker_opens_at_failure_rate_threshold);
    tcase_add_test(tc, test_breaker_opens_when_min_volume_reached_by_a_success);
    tcase_add_test(tc, test_breaker_open_refuses_with_retry_at_half_open_time);
    tcase_add_test(tc,
                   test_breaker_half_opens_lazily_on_first_acquire_after_open_ms);
    tcase_add_test(tc, test_breaker_half_open_limits_probes_in_flight);
    tcase_add_test(tc, test_breaker_half_open_pause_has_a_floor);
    tcase_add_test(tc, test_breaker_ignored_probe_frees_its_slot);
    tcase_add_test(tc,
                   test_breaker_closes_when_all_probes_succeed_and_clears_window);
    tcase_add_test(tc, test_breaker_probe_failure_reopens_with_doubled_open_time);
    tcase_add_test(tc,
                   test_breaker_failed_probes_back_off_to_a_cap_and_reset_on_close);
    tcase_add_test(tc, test_breaker_open_time_backoff_is_bounded);
    tcase_add_test(tc,
                   test_breaker_presumes_unreported_probes_lost_after_open_ms);
    tcase_add_test(tc, test_breaker_ignored_outcomes_never_open_it);
    tcase_add_test(tc, test_breaker_old_buckets_roll_out_of_window);
    tcase_add_test(tc, test_breaker_opens_on_failures_spread_across_buckets);
    tcase_add_test(tc, test_breaker_late_outcomes_do_not_corrupt_state);
    tcase_add_test(tc, test_breaker_counts_transitions);
    tcase_add_test(tc, test_breaker_config_init_gives_documented_defaults);
    tcase_add_test(tc, test_breaker_rejects_bad_configs);
    tcase_add_test(tc, test_breaker_accepts_defaults_edges_and_newer_versions);
    tcase_add_test(tc, test_breaker_state_names);
    tcase_add_test(tc, test_breaker_rejects_null);
    tcase_add_test(tc, test_breaker_concurrent_records_add_up);
    tcase_add_test(tc, test_breaker_concurrent_state_changes_keep_invariants);
    suite_add_tcase(s, tc);

    /* The GCRA behaviours every backend shares: tests/conformance. */
    static const wb_limiter_backend memory = {"memory", memory_create,
                                              memory_destroy, NULL};
    suite_add_tcase(s, wb_limiter_conformance_tcase(&memory));
    tc = tcase_create("limiter");
    tcase_add_test(tc, test_limiter_forgets_idle_keys);
    tcase_add_test(tc, test_limiter_forgetting_a_key_changes_no_verdict);
    tcase_add_test(tc, test_limiter_rejects_bad_arguments);
    tcase_add_test(tc, test_custom_limiter_is_called_through);
    tcase_add_test(tc, test_limiter_new_validates_the_vtable);
    suite_add_tcase(s, tc);

    tc = tcase_create("figures");
    tcase_add_test(tc, test_report_limiter_and_breaker_throughput);
    suite_add_tcase(s, tc);

    return tu_run_suite(s);
}
