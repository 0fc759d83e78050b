/* Dedup claims: short leases (a dead process's claims free themselves in
 * seconds) renewed by the loop while a live turn runs (a long turn keeps
 * its message). Fake clock; the turn runs on its own thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "marks.h"
#include "storage.h"
#include "testutil.h"

static tu_env E;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int entered, release_turn;
static atomic_int turns;

static int slow_turn(wabot_turn *t, void *ud)
{
    (void)t;
    (void)ud;
    atomic_fetch_add(&turns, 1);
    pthread_mutex_lock(&mu);
    entered = 1;
    pthread_cond_broadcast(&cv);
    while (!release_turn)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return WABOT_OK;
}

static void *run_turn(void *arg)
{
    wabot_message *m = tu_text("SM1", "+15550000001", "hi");
    *(int *)arg = wabot_ctx_handle_message(E.ctx, m);
    wabot_message_free(m);
    return NULL;
}

static void setup(void)
{
    entered = release_turn = 0;
    atomic_store(&turns, 0);
    tu_env_init(&E);
    ck_assert_int_eq(wabot_pipeline_use(E.ctx, "slow", slow_turn, NULL, NULL),
                     WABOT_OK);
}

static void teardown(void)
{
    tu_env_free(&E);
}

static int redeliver(void)
{
    wabot_message *m = tu_text("SM1", "+15550000001", "hi");
    int rc = wabot_ctx_handle_message(E.ctx, m);
    wabot_message_free(m);
    return rc;
}

START_TEST(test_a_long_turn_keeps_its_claim_past_the_lease)
{
    int rc_a = -99;
    pthread_t a;
    ck_assert_int_eq(pthread_create(&a, NULL, run_turn, &rc_a), 0);
    pthread_mutex_lock(&mu);
    while (!entered)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    /* The default lease is 5 s; the loop renews a third of the way. */
    for (int i = 0; i < 6; i++) {
        tu_clock_advance(&E.clock, 2000);
        wabot_ctx_run_until_idle(E.ctx, wabot_ctx_now_ms(E.ctx));
    }
    /* 12 s later the turn still holds the message: a redelivery is busy
     * (the provider tries again), not handled a second time. */
    ck_assert_int_eq(redeliver(), WABOT_ERR_BUSY);
    ck_assert_int_ge(wabot_metrics_counter(E.ctx, "dedup.claims_renewed"), 4);
    pthread_mutex_lock(&mu);
    release_turn = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(a, NULL);
    ck_assert_int_eq(rc_a, WABOT_OK);
    /* Done now: the redelivery is a duplicate; the turn ran once. */
    ck_assert_int_eq(redeliver(), WABOT_OK);
    ck_assert_int_eq(atomic_load(&turns), 1);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "messages.duplicates"), 1);
}
END_TEST

START_TEST(test_a_dead_processs_claim_frees_itself_within_the_lease)
{
    /* What a process killed mid-turn leaves: the claim, with its lease. */
    ck_assert_int_eq(wabot_storage_set_nx(E.storage, "dedup:SM1", "claim", 5,
                                          5000, NULL),
                     WABOT_OK);
    release_turn = 1; /* turns run straight through */
    ck_assert_int_eq(redeliver(), WABOT_ERR_BUSY);
    tu_clock_advance(&E.clock, 5000);
    ck_assert_int_eq(redeliver(), WABOT_OK);
    ck_assert_int_eq(atomic_load(&turns), 1);
}
END_TEST

/* On the memory store the "done" mark is a mark (marks.h), not a key:
 * the claim's key is gone once the turn ends, a redelivery within the
 * dedup TTL (a day by default) is a duplicate, one after it is handled. */
START_TEST(test_a_handled_message_is_marked_done_without_a_key_for_the_ttl)
{
    release_turn = 1;
    ck_assert_int_eq(redeliver(), WABOT_OK);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(E.storage, "dedup:SM1", &v, NULL,
                                       NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert(wb_marks_has(E.storage->marks, "dedup:SM1"));
    ck_assert(!wb_marks_has(E.storage->marks, "dedup:SM2"));
    tu_clock_advance(&E.clock, 24LL * 3600 * 1000 - 1);
    ck_assert_int_eq(redeliver(), WABOT_OK);
    ck_assert_int_eq(atomic_load(&turns), 1);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "messages.duplicates"), 1);
    tu_clock_advance(&E.clock, 1);
    ck_assert_int_eq(redeliver(), WABOT_OK);
    ck_assert_int_eq(atomic_load(&turns), 2);
}
END_TEST

/* A claim taken while the message is marked done (its attempt marked it,
 * then let its claim go, between our look and our claim) is let go: the
 * message is a duplicate, not handled twice. */
START_TEST(test_a_claim_taken_after_the_done_mark_is_let_go)
{
    release_turn = 1;
    ck_assert_int_eq(wb_marks_add(E.storage->marks, "dedup:SM1", 60000),
                     WABOT_OK);
    ck_assert_int_eq(redeliver(), WABOT_OK);
    ck_assert_int_eq(atomic_load(&turns), 0);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "messages.duplicates"), 1);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(E.storage, "dedup:SM1", &v, NULL,
                                       NULL),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

Suite *dedup_lease_suite(void)
{
    Suite *s = suite_create("dedup_lease");
    TCase *tc = tcase_create("dedup_lease");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_a_long_turn_keeps_its_claim_past_the_lease);
    tcase_add_test(tc, test_a_dead_processs_claim_frees_itself_within_the_lease);
    tcase_add_test(tc,
                   test_a_handled_message_is_marked_done_without_a_key_for_the_ttl);
    tcase_add_test(tc, test_a_claim_taken_after_the_done_mark_is_let_go);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(dedup_lease_suite());
}
