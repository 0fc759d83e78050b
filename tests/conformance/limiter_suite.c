/* See limiter_suite.h. The tests came from the memory limiter's unit
 * tests; the Redis limiter runs them unchanged. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "limiter_suite.h"
#include "testutil.h"

#define T0 TU_EPOCH_MS /* a whole second, so bucket edges are round */
#define THREADS 4

static const wb_limiter_backend *B;

static wabot_limiter *new_limiter(void)
{
    wabot_limiter *l = B->create(B->ud);
    ck_assert_msg(l != NULL, "%s: cannot create a limiter", B->name);
    return l;
}

static void free_limiter(wabot_limiter *l)
{
    B->destroy(l, B->ud);
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

static int allowed1(wabot_limiter *l, wabot_rate_limit r, int64_t now)
{
    int rc = check1(l, r, now, NULL);
    ck_assert_msg(rc == WABOT_OK || rc == WABOT_ERR_RATE_LIMITED,
                  "check: %s", wabot_strerror(rc));
    return rc == WABOT_OK;
}

START_TEST(test_limiter_80_per_second_allows_one_per_12_5_ms)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit r = rl("sender:+14155238886", 80, 1000, 0);
    int n = 0;
    for (int64_t ms = 0; ms < 1000; ms++) {
        if (!allowed1(l, r, T0 + ms))
            continue;
        /* The k-th call goes in the ms that contains k * 12.5 ms. */
        ck_assert_int_eq(ms, n * 25 / 2);
        n++;
    }
    ck_assert_int_eq(n, 80);
    /* Ten more seconds of sends at every ms: exactly 800 more. */
    int more = 0;
    for (int64_t ms = 1000; ms < 11000; ms++)
        more += allowed1(l, r, T0 + ms);
    ck_assert_int_eq(more, 800);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_never_exceeds_rate_in_any_one_second)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit r = rl("sender:x", 80, 1000, 0);
    enum { SPAN = 5000 };
    static char ok[SPAN];
    for (int ms = 0; ms < SPAN; ms++) /* three tries per ms */
        ok[ms] = (char)(allowed1(l, r, T0 + ms) + allowed1(l, r, T0 + ms) +
                        allowed1(l, r, T0 + ms));
    int in_window = 0;
    for (int ms = 0; ms < SPAN; ms++) {
        ck_assert_int_le(ok[ms], 1);
        in_window += ok[ms] - (ms >= 1000 ? ok[ms - 1000] : 0);
        ck_assert_int_le(in_window, 80);
    }
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_rates_above_one_per_ms_are_exact)
{
    /* T = 200 us: several calls fit in one millisecond. */
    wabot_limiter *l = new_limiter();
    wabot_rate_limit r = rl("org:acme", 5000, 1000, 0);
    int n = 0;
    for (int64_t ms = 0; ms < 1000; ms++)
        for (int i = 0; i < 10; i++)
            n += allowed1(l, r, T0 + ms);
    ck_assert_int_eq(n, 5000);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_burst_allows_b_plus_1_at_once_then_spaced)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit r = rl("customer:+15550001", 10, 1000, 4); /* T=100ms */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(check1(l, r, T0, NULL), WABOT_OK);
    int64_t retry = 0;
    ck_assert_int_eq(check1(l, r, T0, &retry), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 100);
    for (int k = 1; k <= 5; k++) { /* then one per T */
        ck_assert_int_eq(check1(l, r, T0 + k * 100 - 1, &retry),
                         WABOT_ERR_RATE_LIMITED);
        ck_assert_int_eq(retry, 1);
        ck_assert_int_eq(check1(l, r, T0 + k * 100, &retry), WABOT_OK);
        ck_assert_int_eq(retry, 0);
    }
    /* After a quiet spell the burst is back, but never more than it. */
    int n = 0;
    while (allowed1(l, r, T0 + 60000))
        n++;
    ck_assert_int_eq(n, 5);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_pair_limit_one_per_6s_with_burst_2)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit r = rl("pair:+14155238886:+15551234567", 1, 6000, 2);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(check1(l, r, T0, NULL), WABOT_OK);
    int64_t retry = 0;
    ck_assert_int_eq(check1(l, r, T0, &retry), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 6000);
    ck_assert_int_eq(check1(l, r, T0 + 1000, &retry),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 5000);
    ck_assert_int_eq(check1(l, r, T0 + 6000, &retry), WABOT_OK);
    ck_assert_int_eq(check1(l, r, T0 + 6000, &retry),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 6000);
    free_limiter(l);
}
END_TEST

/* Drive `r` hard from `t`; at every refusal the wait must be exact. */
static void assert_retry_exact(wabot_limiter *l, wabot_rate_limit r,
                               int64_t t, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int64_t retry = -1;
        int rc = check1(l, r, t, &retry);
        if (rc == WABOT_OK) {
            ck_assert_int_eq(retry, 0);
            continue;
        }
        ck_assert_int_eq(rc, WABOT_ERR_RATE_LIMITED);
        ck_assert_int_ge(retry, 1);
        int64_t again = 0;
        ck_assert_int_eq(check1(l, r, t + retry - 1, &again),
                         WABOT_ERR_RATE_LIMITED);
        ck_assert_int_eq(again, 1);
        ck_assert_int_eq(check1(l, r, t + retry, NULL), WABOT_OK);
        t += retry + (i % 7); /* sometimes come back a little later */
    }
}

START_TEST(test_limiter_retry_after_is_exact)
{
    wabot_limiter *l = new_limiter();
    assert_retry_exact(l, rl("a", 80, 1000, 0), T0, 500);
    assert_retry_exact(l, rl("b", 7, 1000, 3), T0 + 3, 500);
    assert_retry_exact(l, rl("c", 1, 6000, 2), T0 + 5, 200);
    assert_retry_exact(l, rl("d", 3, 1, 0), T0, 500); /* T = 334 us */
    assert_retry_exact(l, rl("e", 1000, 86400000, 10), T0, 200);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_inexact_interval_rounds_towards_fewer_calls)
{
    /* 3 per ms is T = 333.33 us, rounded up to 334 us: 2994 in a second,
     * never 3001. */
    wabot_limiter *l = new_limiter();
    wabot_rate_limit r = rl("k", 3, 1, 0);
    int n = 0;
    for (int64_t ms = 0; ms < 1000; ms++)
        for (int i = 0; i < 5; i++)
            n += allowed1(l, r, T0 + ms);
    ck_assert_int_le(n, 3000);
    ck_assert_int_ge(n, 2990);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_multi_key_is_all_or_nothing)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit lim[2] = {rl("org:acme", 1, 1000, 2),
                               rl("pair:x:y", 1, 6000, 0)};
    /* Exhaust the pair alone. */
    ck_assert_int_eq(check1(l, lim[1], T0, NULL), WABOT_OK);
    /* Together: refused, as long as the pair says so, many times over. */
    for (int i = 0; i < 10; i++) {
        int64_t retry = 0;
        ck_assert_int_eq(wabot_limiter_check(l, lim, 2, T0 + i, &retry),
                         WABOT_ERR_RATE_LIMITED);
        ck_assert_int_eq(retry, 6000 - i);
    }
    /* The organisation key was not touched: its whole burst is there. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(check1(l, lim[0], T0 + 10, NULL), WABOT_OK);
    ck_assert_int_eq(check1(l, lim[0], T0 + 10, NULL),
                     WABOT_ERR_RATE_LIMITED);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_multi_key_retry_is_the_longest_wait)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit lim[3] = {rl("a", 1, 1000, 0), rl("b", 1, 3000, 0),
                               rl("c", 1, 2000, 0)};
    ck_assert_int_eq(wabot_limiter_check(l, lim, 3, T0, NULL), WABOT_OK);
    int64_t retry = 0;
    ck_assert_int_eq(wabot_limiter_check(l, lim, 3, T0, &retry),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(retry, 3000);
    ck_assert_int_eq(wabot_limiter_check(l, lim, 3, T0 + 2999, NULL),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(wabot_limiter_check(l, lim, 3, T0 + 3000, NULL),
                     WABOT_OK);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_same_key_twice_takes_two_units)
{
    wabot_limiter *l = new_limiter();
    wabot_rate_limit lim[2] = {rl("k", 1, 1000, 1), rl("k", 1, 1000, 1)};
    ck_assert_int_eq(wabot_limiter_check(l, lim, 2, T0, NULL), WABOT_OK);
    ck_assert_int_eq(check1(l, lim[0], T0, NULL), WABOT_ERR_RATE_LIMITED);
    /* A third unit cannot fit: refused, and nothing taken. */
    ck_assert_int_eq(wabot_limiter_check(l, lim, 2, T0 + 1000, NULL),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(check1(l, lim[0], T0 + 1000, NULL), WABOT_OK);
    free_limiter(l);
}
END_TEST

START_TEST(test_limiter_many_keys_in_one_check)
{
    /* More limits than fit the on-stack scratch space. */
    enum { N = 40 };
    char keys[N][16];
    wabot_rate_limit lim[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        lim[i] = rl(keys[i], 1, 1000, 0);
    }
    wabot_limiter *l = new_limiter();
    ck_assert_int_eq(wabot_limiter_check(l, lim, N, T0, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_limiter_check(l, lim, N, T0, NULL),
                     WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(check1(l, lim[N - 1], T0 + 1000, NULL), WABOT_OK);
    free_limiter(l);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limiter: memory backend                                              */


typedef struct limiter_worker {
    wabot_limiter *l;
    int allowed;
} limiter_worker;

/* Periods of 100 s: a real-time backend (Redis) expires a key when its
 * TAT passes on the wall clock, and these tests inject a fixed "now"; with
 * one-second periods the org key (100 units of 1 ms) expired 100 ms after
 * the last take on a loaded machine, and the final count saw a fresh key. */
static void *take_units(void *arg)
{
    limiter_worker *w = arg;
    wabot_rate_limit lim[2] = {rl("sender:shared", 80, 100000, 99),
                               rl("org:shared", 1000, 100000, 1000)};
    for (int i = 0; i < 2000; i++)
        w->allowed += wabot_limiter_check(w->l, lim, 2, T0, NULL) == WABOT_OK;
    return NULL;
}

START_TEST(test_limiter_concurrent_checks_take_exactly_the_burst)
{
    wabot_limiter *l = new_limiter();
    pthread_t th[THREADS];
    limiter_worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (limiter_worker){.l = l};
        ck_assert_int_eq(pthread_create(&th[i], NULL, take_units, &w[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += w[i].allowed;
    }
    ck_assert_int_eq(total, 100); /* burst 99 + 1, however they interleave */
    /* The organisation key took exactly those 100 units too. */
    int org = 0;
    while (allowed1(l, rl("org:shared", 1000, 100000, 1000), T0))
        org++;
    ck_assert_int_eq(org, 1001 - 100);
    free_limiter(l);
}
END_TEST

TCase *wb_limiter_conformance_tcase(const wb_limiter_backend *b)
{
    B = b;
    static char name[96]; /* Check keeps the pointer; one backend a run */
    snprintf(name, sizeof name, "limiter-conformance:%s", b->name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_limiter_80_per_second_allows_one_per_12_5_ms);
    tcase_add_test(tc, test_limiter_never_exceeds_rate_in_any_one_second);
    tcase_add_test(tc, test_limiter_rates_above_one_per_ms_are_exact);
    tcase_add_test(tc, test_limiter_burst_allows_b_plus_1_at_once_then_spaced);
    tcase_add_test(tc, test_limiter_pair_limit_one_per_6s_with_burst_2);
    tcase_add_test(tc, test_limiter_retry_after_is_exact);
    tcase_add_test(tc, test_limiter_inexact_interval_rounds_towards_fewer_calls);
    tcase_add_test(tc, test_limiter_multi_key_is_all_or_nothing);
    tcase_add_test(tc, test_limiter_multi_key_retry_is_the_longest_wait);
    tcase_add_test(tc, test_limiter_same_key_twice_takes_two_units);
    tcase_add_test(tc, test_limiter_many_keys_in_one_check);
    tcase_add_test(tc, test_limiter_concurrent_checks_take_exactly_the_burst);
    return tc;
}
