/* The turn outbox: a turn's state change, replies and jobs commit as one
 * unit; a message whose turn was committed is never handled twice; what a
 * failed relay leaves behind goes out with the redelivery or the sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flaky_scheduler.h"
#include "marks.h"
#include "outbox.h"
#include "storage.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

typedef struct fixture {
    tu_env e;
    flaky fl;
    wabot_scheduler *sched;
    int handler_runs;
    int touch_storage; /* the handler changes the conversation behind its
                          back this many times (a concurrent writer) */
    int steal_claim;   /* the handler's claim is taken over meanwhile (it
                          expired and a redelivery claimed the message) */
} fixture;

static fixture F;

#define ORG "default"
#define FROM "+14155550100"
#define CONV_KEY "conv:{" ORG ":" FROM "}"

static int handler(wabot_turn *t, void *ud)
{
    (void)ud;
    F.handler_runs++;
    int64_t n = wabot_turn_session_int(t, "n", 0);
    ck_assert_int_eq(wabot_turn_session_set_int(t, "n", n + 1), WABOT_OK);
    ck_assert_int_eq(wabot_reply_text(t, "noted"), WABOT_OK);
    char *id = NULL;
    ck_assert_int_eq(wabot_turn_enqueue(t, "orders", "{\"order\":1}", 11,
                                        NULL, &id),
                     WABOT_OK);
    char want[128];
    snprintf(want, sizeof want, "%s:j0",
             wabot_message_id(wabot_turn_message(t)));
    ck_assert_str_eq(id, want);
    wabot_ctx_mem_free(wabot_turn_ctx(t), id);
    if (F.steal_claim) {
        char key[160];
        snprintf(key, sizeof key, "dedup:%s",
                 wabot_message_id(wabot_turn_message(t)));
        ck_assert_int_eq(wabot_storage_set(wabot_ctx_storage(
                                               wabot_turn_ctx(t)),
                                           key, "claim", 5, 60000, NULL),
                         WABOT_OK);
    }
    if (F.touch_storage > 0) {
        F.touch_storage--;
        /* Another process saves the conversation meanwhile. */
        wabot_storage *s = wabot_ctx_storage(wabot_turn_ctx(t));
        ck_assert_int_eq(wabot_storage_set(s, CONV_KEY,
                                           "#schema 1\n{\"state\":\"\","
                                           "\"session\":{\"n\":10}}",
                                           41, 0, NULL),
                         WABOT_OK);
    }
    return WABOT_OK;
}

static int orders_done;
static int orders_worker(wabot_job *job, void *ud)
{
    (void)job;
    (void)ud;
    orders_done++;
    return WABOT_OK;
}

static void setup(void)
{
    memset(&F, 0, sizeof F);
    orders_done = 0;
    F.fl.inner = wabot_scheduler_memory_new();
    F.sched = wabot_scheduler_new(&flaky_vt, &F.fl);
    ck_assert_ptr_nonnull(F.sched);
    wabot_options *o = wabot_options_new();
    wabot_options_set_scheduler(o, F.sched);
    tu_env_init_opts(&F.e, o);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_route_fallback(F.e.ctx, NULL, handler, NULL, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_worker_add(F.e.ctx, "orders", orders_worker, NULL,
                                      NULL, 1),
                     WABOT_OK);
}

static void teardown(void)
{
    tu_env_free(&F.e);
    wabot_scheduler_free(F.sched);
    wabot_scheduler_free(F.fl.inner);
}

static int deliver(const char *id)
{
    wabot_message *m = tu_text(id, FROM, "hello");
    int rc = wabot_ctx_handle_message(F.e.ctx, m);
    wabot_message_free(m);
    return rc;
}

static int exists(const char *key)
{
    char *v = NULL;
    int rc = wabot_storage_get(F.e.storage, key, &v, NULL, NULL);
    free(v);
    return rc == WABOT_OK;
}

/* The memory store keeps the dedup's "done" marks as marks (marks.h). */
static int marked(const char *key)
{
    return wb_marks_has(F.e.storage->marks, key);
}

static int64_t session_n(void)
{
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(F.e.ctx, ORG, FROM, &c),
                     WABOT_OK);
    json_t *s = json_loads(wabot_conversation_session(c), 0, NULL);
    int64_t n = json_integer_value(json_object_get(s, "n"));
    json_decref(s);
    wabot_conversation_free(c);
    return n;
}

/* ------------------------------------------------------------------ */

START_TEST(test_state_replies_and_jobs_commit_together_then_reach_queues)
{
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert_int_eq(session_n(), 1);
    /* The memory store is process-local: the dedup mark replaced the
     * marker (test_the_done_mark_replaces_the_marker_on_a_local_store). */
    ck_assert(!exists("turn:{" ORG ":" FROM "}:m1"));
    ck_assert(marked("dedup:m1"));
    ck_assert(!exists("dedup:m1")); /* a mark, not a key (marks.h) */
    ck_assert(!exists("outbox:{" ORG ":" FROM "}:m1")); /* relayed */
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(F.e.ctx, "orders", "m1:j0", &info),
                     WABOT_OK);
    ck_assert_str_eq(wabot_job_info_record(info)->payload, "{\"order\":1}");
    wabot_job_info_free(info);
    tu_drain(F.e.ctx);
    ck_assert_int_eq(orders_done, 1);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
    ck_assert_int_eq(wabot_metrics_counter(F.e.ctx, "outbox.commits"), 1);
}
END_TEST

START_TEST(test_a_conflict_reruns_the_turn_and_keeps_one_job)
{
    F.touch_storage = 1;
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert_int_eq(F.handler_runs, 2);
    ck_assert_int_eq(session_n(), 11); /* ran again on the other's state */
    tu_drain(F.e.ctx);
    ck_assert_int_eq(orders_done, 1);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
    ck_assert_int_eq(wabot_metrics_counter(F.e.ctx, "state.conflicts"), 1);
}
END_TEST

/* The queues refuse the relay after the commit (a crash at that point
 * looks the same to the next attempt): the message is answered as
 * failed, the redelivery finds the turn committed, does not run the
 * handler again and relays what the outbox kept. */
START_TEST(test_redelivery_after_a_failed_relay_sends_once_without_rerun)
{
    F.fl.fail_enqueues = 1;
    ck_assert_int_eq(deliver("m1"), WABOT_ERR_STORAGE);
    ck_assert_int_eq(F.handler_runs, 1);
    ck_assert(exists("outbox:{" ORG ":" FROM "}:m1"));
    ck_assert_int_eq(session_n(), 1); /* the state is committed */

    ck_assert_int_eq(deliver("m1"), WABOT_OK); /* the provider's retry */
    ck_assert_int_eq(F.handler_runs, 1);
    ck_assert(!exists("outbox:{" ORG ":" FROM "}:m1"));
    ck_assert_int_eq(session_n(), 1);
    tu_drain(F.e.ctx);
    ck_assert_int_eq(orders_done, 1);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
    ck_assert_int_eq(wabot_metrics_counter(F.e.ctx, "outbox.recovered_turns"),
                     1);
}
END_TEST

/* Nobody comes back for the message: the sweep relays the record once it
 * is older than the grace period, and not before. */
START_TEST(test_the_sweep_relays_records_left_behind)
{
    F.fl.fail_enqueues = 1;
    ck_assert_int_eq(deliver("m1"), WABOT_ERR_STORAGE);
    ck_assert_int_eq(wb_outbox_sweep(F.e.ctx, 30000, 100), 0); /* young */
    tu_clock_advance(&F.e.clock, 31000);
    ck_assert_int_eq(wb_outbox_sweep(F.e.ctx, 30000, 100), 1);
    ck_assert(!exists("outbox:{" ORG ":" FROM "}:m1"));
    ck_assert_int_eq(wb_outbox_sweep(F.e.ctx, 30000, 100), 0);
    tu_drain(F.e.ctx);
    ck_assert_int_eq(orders_done, 1);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
}
END_TEST

/* The loop runs the sweep on its own (outbox.sweep_ms). */
START_TEST(test_the_loop_sweeps_on_its_own)
{
    F.fl.fail_enqueues = 1;
    ck_assert_int_eq(deliver("m1"), WABOT_ERR_STORAGE);
    tu_clock_advance(&F.e.clock, 41000);
    tu_drain(F.e.ctx); /* fires the due sweep, then the jobs it relayed */
    tu_drain(F.e.ctx);
    ck_assert(!exists("outbox:{" ORG ":" FROM "}:m1"));
    ck_assert_int_eq(orders_done, 1);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
}
END_TEST

static int enqueue_bad(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    ck_assert_int_eq(wabot_turn_enqueue(t, "bad queue!", "x", 1, NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_turn_enqueue(t, "q", NULL, 3, NULL, NULL),
                     WABOT_ERR_INVAL);
    spec.max_attempts = 0;
    ck_assert_int_eq(wabot_turn_enqueue(t, "q", "x", 1, &spec, NULL),
                     WABOT_ERR_INVAL);
    wabot_job_spec_init(&spec);
    spec.job_id = "mine";
    char *id = NULL;
    ck_assert_int_eq(wabot_turn_enqueue(t, "q", "x", 1, &spec, &id),
                     WABOT_OK);
    ck_assert_str_eq(id, "mine");
    wabot_ctx_mem_free(wabot_turn_ctx(t), id);
    for (int i = 1; i < 64; i++)
        ck_assert_int_eq(wabot_turn_enqueue(t, "q", "x", 1, NULL, NULL),
                         WABOT_OK);
    ck_assert_int_eq(wabot_turn_enqueue(t, "q", "x", 1, NULL, NULL),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_turn_enqueue(NULL, "q", "x", 1, NULL, NULL),
                     WABOT_ERR_INVAL);
    wabot_turn_set_handled(t);
    return WABOT_OK;
}

/* Issue 19 item 2: a redelivery long after (the completed reply forgotten
 * by the queue's retention) and with its dedup mark lost (the crash window
 * between commit and "done") still sends nothing twice: the turn marker
 * outlives the queue's memory of finished jobs (dedup_ttl_ms). */
START_TEST(test_redelivery_after_the_queue_forgot_the_reply_sends_nothing_twice)
{
    /* A shared store (the crash window exists only there): the memory
     * store standing in for one keeps its markers. */
    F.e.storage->process_local = 0;
    ck_assert_int_eq(wabot_queue_set_retention(F.e.ctx, "outbound", 10, 0,
                                               10, 0),
                     WABOT_OK);
    ck_assert_int_eq(deliver("SMold"), WABOT_OK);
    tu_drain(F.e.ctx);
    size_t sent = wabot_transport_recorder_count(F.e.rec);
    ck_assert_uint_eq(sent, 1);
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(F.e.ctx, "outbound", "SMold:r0", &info),
                     WABOT_OK); /* completed, still remembered */
    wabot_job_info_free(info);
    info = NULL;
    char id[32];
    /* 70 more replies to the customer, paced as its limits want (the
     * queue trims finished jobs every 64). */
    for (int i = 0; i < 70; i++) {
        snprintf(id, sizeof id, "SMother%d", i);
        ck_assert_int_eq(deliver(id), WABOT_OK);
        tu_clock_advance(&F.e.clock, 7000);
        tu_drain(F.e.ctx);
    }
    ck_assert_uint_eq(wabot_transport_recorder_count(F.e.rec), 71);
    /* The first reply's job is gone from the queue... */
    ck_assert_int_eq(wabot_job_get(F.e.ctx, "outbound", "SMold:r0", &info),
                     WABOT_ERR_NOT_FOUND);
    /* ...and its dedup mark lost. */
    ck_assert_int_eq(wabot_storage_del(F.e.storage, "dedup:SMold"), WABOT_OK);
    int runs = F.handler_runs;
    ck_assert_int_eq(deliver("SMold"), WABOT_OK);
    tu_drain(F.e.ctx);
    ck_assert_int_eq(F.handler_runs, runs);
    ck_assert_uint_eq(wabot_transport_recorder_count(F.e.rec), 71);
}
END_TEST

/* On a process-local store nothing survives a crash, so the marker only
 * guards against an attempt overlapping ours; once the "done" mark has
 * replaced our own claim, none can be running (none claimed meanwhile)
 * and every later one finds the mark: the marker is dropped, and a
 * redelivery is still a duplicate. */
START_TEST(test_the_done_mark_replaces_the_marker_on_a_local_store)
{
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert(!exists("turn:{" ORG ":" FROM "}:m1"));
    ck_assert(marked("dedup:m1"));
    ck_assert(!exists("dedup:m1")); /* the claim is gone */
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert_int_eq(F.handler_runs, 1);
    tu_drain(F.e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
    ck_assert_int_eq(wabot_metrics_counter(F.e.ctx, "messages.duplicates"),
                     1);
}
END_TEST

/* Our claim expired mid-turn and another attempt claimed the message: it
 * may still be running its turn, so our marker stays for it to find, and
 * that attempt's turn is dropped, not run a second time. */
START_TEST(test_a_claim_taken_over_mid_turn_keeps_the_marker)
{
    F.steal_claim = 1;
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert(exists("turn:{" ORG ":" FROM "}:m1"));
    /* the message is done all the same; the other claim is replaced */
    ck_assert(marked("dedup:m1"));
    ck_assert(!exists("dedup:m1"));
    /* The other attempt, which claimed before the mark, reaches its turn:
     * the marker stops it. */
    ck_assert_int_eq(wb_marks_del(F.e.storage->marks, "dedup:m1"), WABOT_OK);
    F.steal_claim = 0;
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert_int_eq(F.handler_runs, 1);
    tu_drain(F.e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(F.e.rec), 1);
    ck_assert_int_eq(orders_done, 1);
}
END_TEST

/* On a shared store the marker stays whatever the mark: it alone covers a
 * crash between the commit and the mark. */
START_TEST(test_a_shared_store_keeps_the_marker)
{
    F.e.storage->process_local = 0;
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    ck_assert(exists("turn:{" ORG ":" FROM "}:m1"));
    ck_assert(exists("dedup:m1"));
}
END_TEST

START_TEST(test_turn_enqueue_checks_its_arguments)
{
    wabot_use(F.e.ctx, "bad", enqueue_bad, NULL, NULL);
    ck_assert_int_eq(deliver("m1"), WABOT_OK);
    int64_t counts[WABOT_JOB_STATE_COUNT] = {0};
    ck_assert_int_eq(wabot_queue_counts(F.e.ctx, "q", counts,
                                        WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(counts[WABOT_JOB_WAITING], 64);
}
END_TEST

static int fail_after_enqueue(wabot_turn *t, void *ud)
{
    (void)ud;
    ck_assert_int_eq(wabot_turn_enqueue(t, "orders", "x", 1, NULL, NULL),
                     WABOT_OK);
    return WABOT_ERR_HANDLER;
}

START_TEST(test_a_failed_turn_enqueues_nothing)
{
    wabot_use(F.e.ctx, "fail", fail_after_enqueue, NULL, NULL);
    ck_assert_int_eq(deliver("m1"), WABOT_ERR_HANDLER);
    ck_assert(!exists("turn:{" ORG ":" FROM "}:m1"));
    tu_drain(F.e.ctx);
    ck_assert_int_eq(orders_done, 0);
}
END_TEST

/* Records that are not records (truncated, forged lengths, garbage) are
 * dropped and counted by the sweep, never relayed, never a crash. */
START_TEST(test_corrupt_records_are_dropped_by_the_sweep)
{
    static const char *const bad[] = {
        "#schema 1\n",
        "#schema 1\n1767225600000\n1\n",
        "#schema 1\n1767225600000\n1\n6:orders4:m1:j99999:x 0 5 1 1000 3600000 20 0\n",
        "#schema 1\n1767225600000\n1\n6:orders4:m1:j1:x 0 5 1 1000\n",
        "#schema 1\n1767225600000\n200\n",
        "#schema 1\n-5\n0\n",
        "#schema 1\n1767225600000\n1\n6:orders4:m1:j1:x 0 5 1 1000 3600000 20 0\ntrailing",
    };
    char key[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(key, sizeof key, "outbox:{o:+1}:bad%zu", i);
        ck_assert_int_eq(wabot_storage_set(F.e.storage, key, bad[i],
                                           strlen(bad[i]), 0, NULL),
                         WABOT_OK);
    }
    tu_clock_advance(&F.e.clock, 60000);
    ck_assert_int_eq(wb_outbox_sweep(F.e.ctx, 30000, 100), 0);
    ck_assert_int_eq(wabot_metrics_counter(F.e.ctx, "outbox.corrupt"),
                     (int64_t)(sizeof bad / sizeof bad[0]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(key, sizeof key, "outbox:{o:+1}:bad%zu", i);
        ck_assert(!exists(key));
    }
    tu_drain(F.e.ctx);
    ck_assert_int_eq(orders_done, 0);
}
END_TEST

static Suite *outbox_suite(void)
{
    Suite *s = suite_create("outbox");
    TCase *tc = tcase_create("outbox");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc,
                   test_state_replies_and_jobs_commit_together_then_reach_queues);
    tcase_add_test(tc, test_a_conflict_reruns_the_turn_and_keeps_one_job);
    tcase_add_test(tc,
                   test_redelivery_after_a_failed_relay_sends_once_without_rerun);
    tcase_add_test(tc, test_the_sweep_relays_records_left_behind);
    tcase_add_test(tc, test_the_loop_sweeps_on_its_own);
    tcase_add_test(tc, test_turn_enqueue_checks_its_arguments);
    tcase_add_test(tc, test_the_done_mark_replaces_the_marker_on_a_local_store);
    tcase_add_test(tc, test_a_claim_taken_over_mid_turn_keeps_the_marker);
    tcase_add_test(tc, test_a_shared_store_keeps_the_marker);
    tcase_add_test(tc, test_redelivery_after_the_queue_forgot_the_reply_sends_nothing_twice);
    tcase_add_test(tc, test_a_failed_turn_enqueues_nothing);
    tcase_add_test(tc, test_corrupt_records_are_dropped_by_the_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(outbox_suite());
}
