/* The turn fast path on a real redis-server (lib/redis/turn.c): a turn is
 * one "begin" and one "commit" script, with the generic path's semantics
 * for every outcome -- a duplicate, a claim in progress, a limited
 * customer, a redelivery after the commit, a conversation changed by
 * another writer (the CAS retry) -- and the generic path when the
 * limiter is not on the same Redis. Each test uses its own key prefix on
 * one shared server. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h" /* the batch capability (lib/internal) */
#include "runtime.h" /* wb_jobs_dispatch (lib/internal) */
#include "redis_harness.h"
#include "testutil.h"
#include "wabot.h"
#include "wabot/redis.h"

static rh_server srv;
static int prefix_no;
/* > 0: env_init's contexts take this outbound concurrency */
static int outbound_concurrency;

typedef struct env {
    wabot_redis *r;
    wabot_storage *st;
    wabot_scheduler *sc;
    wabot_limiter *li;
    wabot_transport *rec;
    wabot_ctx *ctx;
    tu_clock clock;
    int runs;          /* handler runs */
    int clobber_once;  /* the handler writes the conversation behind the
                          turn's back on its first run */
    char prefix[32];
} env;

static int answer(wabot_turn *t, void *ud)
{
    env *e = ud;
    e->runs++;
    if (e->clobber_once) {
        e->clobber_once = 0;
        char key[256];
        snprintf(key, sizeof key, "conv:{%s:%s}", wabot_turn_organization(t),
                 wabot_turn_customer(t));
        const char *rec = "#schema 1\n{\"state\":\"\",\"session\":{\"n\":10}}";
        ck_assert_int_eq(wabot_storage_set(e->st, key, rec, strlen(rec), 0,
                                           NULL),
                         WABOT_OK);
    }
    int64_t n = wabot_turn_session_int(t, "n", 0) + 1;
    wabot_turn_session_set_int(t, "n", n);
    char text[64];
    snprintf(text, sizeof text, "n=%lld%s", (long long)n,
             wabot_turn_customer_opted_out(t) ? " (opted out)" : "");
    return wabot_reply_text(t, text);
}

/* limit_count > 0: the inbound limit (period 60 s; a burst of 20 unless
 * the count is 1) on the Redis limiter, or on a memory one when
 * memory_limiter is set. The scripts are loaded before the test starts
 * (a first use costs a SCRIPT LOAD: not the steady state). */
/* Options on e's storage, scheduler, limiter, transport and clock, the
 * outbound rate limits off: what every context of a test shares. */
static wabot_options *env_options(env *e)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    wabot_options_set_storage(o, e->st);
    wabot_options_set_scheduler(o, e->sc);
    wabot_options_set_limiter(o, e->li);
    wabot_options_set_transport(o, e->rec);
    wabot_clock k = tu_clock_wabot(&e->clock); /* copied */
    wabot_options_set_clock(o, &k);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 0);
    return o;
}

static void env_init(env *e, int64_t limit_count, int memory_limiter)
{
    memset(e, 0, sizeof *e);
    tu_clock_init(&e->clock, TU_EPOCH_MS);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = srv.port;
    /* unique under Check's fork mode too */
    snprintf(e->prefix, sizeof e->prefix, "t%ld.%d:", (long)getpid(),
             ++prefix_no);
    cfg.prefix = e->prefix;
    const char *why = NULL;
    e->r = wabot_redis_new(&cfg, &why);
    ck_assert_msg(e->r != NULL, "wabot_redis_new: %s", why ? why : "?");
    e->st = wabot_storage_redis_new(e->r);
    e->sc = wabot_scheduler_redis_new(e->r);
    e->li = memory_limiter ? wabot_limiter_memory_new()
                           : wabot_limiter_redis_new(e->r);
    e->rec = wabot_recorder_new();
    wabot_options *o = env_options(e);
    wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT, limit_count);
    if (outbound_concurrency > 0)
        wabot_options_set_int(o, WABOT_OPT_OUTBOUND_CONCURRENCY,
                              outbound_concurrency);
    if (limit_count > 0) {
        wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_PERIOD_MS, 60000);
        wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_BURST,
                              limit_count > 1 ? 20 : 0);
    }
    ck_assert_int_eq(wabot_ctx_new(&e->ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_route_fallback(e->ctx, NULL, answer, e, NULL);
    wabot_message *m = tu_text("warm-up", "+15559999999", "hello");
    ck_assert_int_eq(wabot_ctx_handle_message(e->ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e->ctx);
    wabot_recorder_clear(e->rec);
    e->runs = 0;
}

static void env_free(env *e)
{
    wabot_ctx_free(e->ctx);
    wabot_transport_free(e->rec);
    wabot_limiter_free(e->li);
    wabot_scheduler_free(e->sc);
    wabot_storage_free(e->st);
    wabot_redis_free(e->r);
}

/* A second context on e's storage, scheduler and clock: another process,
 * or the one that comes after one that died. */
static wabot_ctx *next_process(env *e)
{
    wabot_options *o = env_options(e);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    return ctx;
}

/* Handle message `id` from `from`; returns its status, *rt the round
 * trips it cost. */
static int handle(env *e, const char *id, const char *from, int64_t *rt)
{
    wabot_message *m = tu_text(id, from, "hello");
    wabot_message_set_profile_name(m, "Ana");
    int64_t before = wabot_redis_round_trips(e->r);
    int rc = wabot_ctx_handle_message(e->ctx, m);
    if (rt)
        *rt = wabot_redis_round_trips(e->r) - before;
    wabot_message_free(m);
    return rc;
}

static int64_t session_n(env *e, const char *from)
{
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(e->ctx, "default", from, &c),
                     WABOT_OK);
    const char *s = wabot_conversation_session(c);
    const char *p = strstr(s, "\"n\":");
    int64_t n = p ? atoll(p + 4) : -1;
    wabot_conversation_free(c);
    return n;
}

static size_t sent(env *e)
{
    tu_drain(e->ctx);
    return wabot_recorder_count(e->rec);
}

START_TEST(test_turn_is_two_round_trips_and_saves_touches_and_replies)
{
    env e;
    env_init(&e, 30, 0);
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "m1", "+15550000001", &rt), WABOT_OK);
    ck_assert_int_eq(rt, 2); /* begin + commit; the generic path costs 9 */
    ck_assert_int_eq(handle(&e, "m2", "+15550000001", &rt), WABOT_OK);
    ck_assert_int_eq(rt, 2);
    ck_assert_int_eq(e.runs, 2);
    ck_assert_int_eq(session_n(&e, "+15550000001"), 2);
    ck_assert_uint_eq(sent(&e), 2);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(e.ctx, "default", "+15550000001", &c),
                     WABOT_OK);
    ck_assert_str_eq(wabot_customer_name(c), "Ana");
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), TU_EPOCH_MS);
    ck_assert_int_eq(wabot_customer_opted_out(c), 0);
    wabot_customer_free(c);
    env_free(&e);
}
END_TEST

/* A customer the campaign module keeps (tags, attributes) is touched by
 * an inbound message without losing any member: the script leaves such a
 * profile to the generic path, which keeps the whole document. */
START_TEST(test_inbound_touch_keeps_the_campaign_members_of_a_profile)
{
    env e;
    env_init(&e, 0, 0);
    const char *doc = "{\"phone\":\"+15550000009\",\"name\":\"Ana\","
                      "\"tags\":[\"vip\"],\"attributes\":{\"city\":\"Lima\"}}";
    char *out = NULL;
    ck_assert_int_eq(wabot_customer_upsert_json(e.ctx, "default", doc,
                                                strlen(doc), &out),
                     WABOT_OK);
    wabot_ctx_mem_free(e.ctx, out);
    tu_clock_advance(&e.clock, 5000);
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "m9", "+15550000009", &rt), WABOT_OK);
    ck_assert_int_eq(wabot_customer_get_json(e.ctx, "default", "+15550000009",
                                             &out),
                     WABOT_OK);
    ck_assert_msg(strstr(out, "\"vip\"") != NULL, "tags lost: %s", out);
    ck_assert_msg(strstr(out, "\"Lima\"") != NULL, "attributes lost: %s", out);
    wabot_ctx_mem_free(e.ctx, out);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(e.ctx, "default", "+15550000009", &c),
                     WABOT_OK);
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), TU_EPOCH_MS + 5000);
    wabot_customer_free(c);
    env_free(&e);
}
END_TEST

START_TEST(test_profile_written_the_generic_way_is_read_by_the_script)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(wabot_customer_set_opted_out(e.ctx, "default",
                                                  "+15550000002", 1),
                     WABOT_OK);
    tu_clock_advance(&e.clock, 5000);
    ck_assert_int_eq(handle(&e, "m1", "+15550000002", NULL), WABOT_OK);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(e.ctx, "default", "+15550000002", &c),
                     WABOT_OK);
    ck_assert_int_eq(wabot_customer_opted_out(c), 1); /* kept */
    ck_assert_str_eq(wabot_customer_name(c), "Ana");
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), TU_EPOCH_MS + 5000);
    wabot_customer_free(c);
    env_free(&e);
}
END_TEST

/* The begin script reads the profile shape it writes with one pattern and
 * takes cjson for anything else: each stored shape keeps its name
 * (escapes and all), its opt-out and its creation time through a turn,
 * and only last_inbound_ms moves. */
START_TEST(test_every_stored_profile_shape_keeps_its_members_through_a_turn)
{
    static const struct {
        const char *stored, *name; /* name NULL: none */
        int opted;
        const char *created; /* in the document after the turn, or NULL */
    } shapes[] = {
        /* the script's own shape, read by the pattern */
        {"{\"name\":\"Bo\",\"last_inbound_ms\":12,\"opted_out\":true,"
         "\"created_ms\":3}", "Bo", 1, "\"created_ms\":3"},
        {"{\"name\":null,\"last_inbound_ms\":0,\"opted_out\":false}", NULL, 0,
         NULL},
        {"{\"name\":\"\",\"last_inbound_ms\":7,\"opted_out\":false}", NULL, 0,
         NULL},
        /* escapes in the name, members in another order, spaces: cjson */
        {"{\"name\":\"A \\\"b\\\" c/d\",\"last_inbound_ms\":5,"
         "\"opted_out\":true}", "A \"b\" c/d", 1, NULL},
        {"{\"last_inbound_ms\":5,\"name\":\"Cy\",\"opted_out\":false,"
         "\"created_ms\":9}", "Cy", 0, "\"created_ms\":9"},
        {"{ \"name\": \"Di\", \"last_inbound_ms\": 5, \"opted_out\": true }",
         "Di", 1, NULL},
        /* a name that holds the next member's text */
        {"{\"name\":\"x,\\\"last_inbound_ms\\\":1,\",\"last_inbound_ms\":5,"
         "\"opted_out\":true}", "x,\"last_inbound_ms\":1,", 1, NULL},
    };
    env e;
    env_init(&e, 0, 0);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char phone[32], key[64], id[16], val[256];
        snprintf(phone, sizeof phone, "+1555000%04zu", i);
        snprintf(key, sizeof key, "cust:{default:%s}", phone);
        snprintf(id, sizeof id, "ps%zu", i);
        int n = snprintf(val, sizeof val, "#schema 1\n%s", shapes[i].stored);
        ck_assert_int_eq(wabot_storage_set(e.st, key, val, (size_t)n, 0, NULL),
                         WABOT_OK);
        tu_clock_advance(&e.clock, 1000);
        wabot_message *m = tu_text(id, phone, "hello"); /* no profile name */
        ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
        wabot_message_free(m);
        wabot_customer *c = NULL;
        ck_assert_int_eq(wabot_customer_get(e.ctx, "default", phone, &c),
                         WABOT_OK);
        const char *name = wabot_customer_name(c);
        if (shapes[i].name)
            ck_assert_msg(name && strcmp(name, shapes[i].name) == 0,
                          "shape %zu: name %s", i, name ? name : "(none)");
        else
            ck_assert_msg(name == NULL || *name == '\0',
                          "shape %zu: name %s", i, name);
        ck_assert_int_eq(wabot_customer_opted_out(c), shapes[i].opted);
        ck_assert_int_eq(wabot_customer_last_inbound_ms(c),
                         wabot_ctx_now_ms(e.ctx));
        wabot_customer_free(c);
        char *doc = NULL;
        ck_assert_int_eq(wabot_customer_get_json(e.ctx, "default", phone,
                                                 &doc),
                         WABOT_OK);
        if (shapes[i].created)
            ck_assert_msg(strstr(doc, shapes[i].created) != NULL,
                          "shape %zu: creation time lost: %s", i, doc);
        wabot_ctx_mem_free(e.ctx, doc);
    }
    env_free(&e);
}
END_TEST

START_TEST(test_duplicate_delivery_is_dropped_in_one_round_trip)
{
    env e;
    env_init(&e, 30, 0);
    ck_assert_int_eq(handle(&e, "m1", "+15550000003", NULL), WABOT_OK);
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "m1", "+15550000003", &rt), WABOT_OK);
    ck_assert_int_eq(rt, 1);
    ck_assert_int_eq(e.runs, 1);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.duplicates"), 1);
    ck_assert_int_eq(session_n(&e, "+15550000003"), 1);
    ck_assert_uint_eq(sent(&e), 1);
    env_free(&e);
}
END_TEST

START_TEST(test_claim_held_by_another_attempt_answers_busy)
{
    env e;
    env_init(&e, 30, 0);
    ck_assert_int_eq(wabot_storage_set(e.st, "dedup:m1", "claim", 5, 60000,
                                       NULL),
                     WABOT_OK);
    ck_assert_int_eq(handle(&e, "m1", "+15550000004", NULL), WABOT_ERR_BUSY);
    ck_assert_int_eq(e.runs, 0);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.in_progress"), 1);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(e.st, "dedup:m1", &v, NULL, NULL),
                     WABOT_OK);
    ck_assert_str_eq(v, "claim"); /* the other attempt's claim stands */
    wabot_free(v);
    env_free(&e);
}
END_TEST

START_TEST(test_limited_customer_is_dropped_with_one_notice_per_period)
{
    env e;
    env_init(&e, 1, 0);
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "m1", "+15550000005", &rt), WABOT_OK);
    ck_assert_int_eq(rt, 2);
    ck_assert_int_eq(handle(&e, "m2", "+15550000005", NULL), WABOT_OK);
    ck_assert_int_eq(handle(&e, "m3", "+15550000005", NULL), WABOT_OK);
    ck_assert_int_eq(e.runs, 1);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.rate_limited"),
                     2);
    /* the reply and one notice; the limited messages are done */
    ck_assert_uint_eq(sent(&e), 2);
    ck_assert_int_eq(handle(&e, "m2", "+15550000005", &rt), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.duplicates"), 1);
    /* a period later the customer is let in again */
    tu_clock_advance(&e.clock, 60000);
    ck_assert_int_eq(handle(&e, "m4", "+15550000005", NULL), WABOT_OK);
    ck_assert_int_eq(e.runs, 2);
    env_free(&e);
}
END_TEST

START_TEST(test_redelivery_after_commit_runs_nothing_again)
{
    env e;
    env_init(&e, 30, 0);
    ck_assert_int_eq(handle(&e, "m1", "+15550000006", NULL), WABOT_OK);
    /* The dedup mark is gone (a legacy TTL, a flush): the redelivery gets
     * past the claim and finds the turn's marker. */
    ck_assert_int_eq(wabot_storage_del(e.st, "dedup:m1"), WABOT_OK);
    ck_assert_int_eq(handle(&e, "m1", "+15550000006", NULL), WABOT_OK);
    ck_assert_int_eq(e.runs, 1);
    ck_assert_int_eq(session_n(&e, "+15550000006"), 1);
    ck_assert_uint_eq(sent(&e), 1);
    ck_assert_int_eq(
        wabot_metrics_counter(e.ctx, "outbox.recovered_turns"), 1);
    env_free(&e);
}
END_TEST

START_TEST(test_conversation_changed_behind_the_turn_is_retried_on_fresh_state)
{
    env e;
    env_init(&e, 30, 0);
    e.clobber_once = 1;
    ck_assert_int_eq(handle(&e, "m1", "+15550000007", NULL), WABOT_OK);
    ck_assert_int_eq(e.runs, 2);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "state.conflicts"), 1);
    ck_assert_int_eq(session_n(&e, "+15550000007"), 11);
    ck_assert_uint_eq(sent(&e), 1); /* only the retry's reply */
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    env_free(&e);
}
END_TEST

START_TEST(test_limiter_elsewhere_takes_the_generic_path)
{
    env e;
    env_init(&e, 30, 1); /* memory limiter: no single store */
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "m1", "+15550000008", &rt), WABOT_OK);
    ck_assert_int_gt(rt, 2);
    ck_assert_int_eq(session_n(&e, "+15550000008"), 1);
    ck_assert_uint_eq(sent(&e), 1);
    env_free(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Worker-side batches (lib/redis/scheduler.c: reserve_many,            */
/* complete_many)                                                      */

static int finish_now(wabot_job *j, void *ud)
{
    (void)j;
    (void)ud;
    return WABOT_OK;
}

static int64_t enqueue_in(env *e, const char *queue, const char *id,
                           int64_t delay_ms)
{
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = id;
    spec.delay_ms = delay_ms;
    ck_assert_int_eq(wabot_job_enqueue(e->ctx, queue, "x", 1, &spec, NULL),
                     WABOT_OK);
    return wabot_redis_round_trips(e->r);
}

/* The deadline comes from what the last poll learnt, lowered by this
 * process's own enqueues (from any thread): no round trip, and never
 * later than the job. Other processes' jobs are seen by the next poll,
 * at most job_poll_ms away. */
START_TEST(test_the_deadline_costs_no_round_trip_and_sees_own_enqueues)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(wabot_queue_add_worker(e.ctx, "work", finish_now, NULL,
                                            NULL, 4),
                     WABOT_OK);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    int64_t rt = wabot_redis_round_trips(e.r);
    int64_t idle_wait = wabot_ctx_next_timeout_ms(e.ctx);
    ck_assert_int_gt(idle_wait, 0);
    ck_assert_int_eq(wabot_redis_round_trips(e.r), rt);

    rt = enqueue_in(&e, "work", "later", 60000);
    ck_assert_int_le(wabot_ctx_next_timeout_ms(e.ctx), idle_wait);
    ck_assert_int_eq(wabot_redis_round_trips(e.r), rt);
    rt = enqueue_in(&e, "work", "now", 0);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(e.ctx), 0);
    ck_assert_int_eq(wabot_redis_round_trips(e.r), rt);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.work.processed"), 1);

    /* A second context on the same queues stands for another process:
     * its enqueue is not seen until the next poll, which the timer
     * brings within job_poll_ms. */
    wabot_ctx *other = next_process(&e);
    ck_assert_int_eq(wabot_job_enqueue(other, "work", "y", 1, NULL, NULL),
                     WABOT_OK);
    ck_assert_int_le(wabot_ctx_next_timeout_ms(e.ctx), idle_wait);
    tu_clock_advance(&e.clock, idle_wait);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.work.processed"), 2);
    wabot_ctx_free(other);
    env_free(&e);
}
END_TEST

START_TEST(test_workers_reserve_and_complete_in_batches)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(wabot_queue_add_worker(e.ctx, "work", finish_now, NULL,
                                            NULL, 16),
                     WABOT_OK);
    /* What one pass costs with nothing to do: one round trip, the poll
     * of every queue with a worker pipelined (the library's own modules
     * run several: orders, invoices, reminders, campaigns, ...; it was a
     * reserve_many and two next_due per queue, 18 in all), and the
     * deadline from what the poll learnt. */
    int64_t idle0 = wabot_redis_round_trips(e.r);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    int64_t idle = wabot_redis_round_trips(e.r) - idle0;
    ck_assert_int_eq(idle, 1);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.work.processed"), 0);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "j%d", i);
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = id;
        ck_assert_int_eq(wabot_job_enqueue(e.ctx, "work", "x", 1, &spec, NULL),
                         WABOT_OK);
    }
    int64_t before = wabot_redis_round_trips(e.r);
    int passes = 0;
    for (; passes < 10 &&
           wabot_metrics_counter(e.ctx, "jobs.work.processed") < 40;
         passes++)
        wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    int64_t used = wabot_redis_round_trips(e.r) - before;
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.work.processed"), 40);
    /* 16 slots: 3 polls + 3 complete_many (the third poll also says
     * nothing is left); one call per job would be 80 and more. */
    fprintf(stderr, "40 jobs: %lld round trips in %d calls, %lld per idle "
            "call\n", (long long)used, passes, (long long)idle);
    ck_assert_int_le(used, 6 + 2 * passes * idle);
    ck_assert_int_lt(used, 40);
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    ck_assert_int_eq(wabot_queue_counts(e.ctx, "work", c,
                                        WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(c[WABOT_JOB_COMPLETED], 40);
    ck_assert_int_eq(c[WABOT_JOB_ACTIVE] + c[WABOT_JOB_WAITING], 0);
    env_free(&e);
}
END_TEST

/* The recorder's send i has its "sent" record and its delivery record
 * (the receipts module's) under its provider id. */
static void assert_sent_recorded(env *e, size_t i)
{
    const char *oid = wabot_outbound_id(wabot_recorder_get(e->rec, i));
    char key[128], *v = NULL;
    snprintf(key, sizeof key, "send:%s", oid);
    ck_assert_int_eq(wabot_storage_get(e->st, key, &v, NULL, NULL),
                     WABOT_OK);
    ck_assert_msg(strstr(v, "\"state\":\"sent\"") != NULL, "%s: %s", key,
                  v);
    wabot_free(v);
    char pid[32];
    /* the recorder numbers its sends; rec-1 was env_init's warm-up */
    snprintf(pid, sizeof pid, "rec-%zu", i + 2);
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(e->ctx, pid, &d), WABOT_OK);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), oid);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_SENT);
    wabot_delivery_free(d);
}

/* The send path's storage work for a pass of replies is shared: the
 * profile reads, the "sending" records, the outcome records and the
 * receipt records each one pipelined batch per pass (it was about five
 * round trips per reply, one after the other), with the same records
 * in the end. */
START_TEST(test_the_send_path_shares_round_trips_across_a_pass)
{
    env e;
    env_init(&e, 0, 0);
    for (int i = 0; i < 40; i++) {
        char id[16], from[24];
        snprintf(id, sizeof id, "SMb%d", i);
        snprintf(from, sizeof from, "+1415555%04d", i);
        ck_assert_int_eq(handle(&e, id, from, NULL), WABOT_OK);
    }
    int64_t before = wabot_redis_round_trips(e.r);
    for (int pass = 0; pass < 10 && wabot_recorder_count(e.rec) < 40; pass++)
        tu_drain(e.ctx);
    tu_drain(e.ctx); /* the last pass's records */
    int64_t used = wabot_redis_round_trips(e.r) - before;
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 40);
    fprintf(stderr, "40 replies delivered in %lld round trips\n",
            (long long)used);
    ck_assert_int_le(used, 24);
    for (size_t i = 0; i < 40; i++)
        assert_sent_recorded(&e, i);
    env_free(&e);
}
END_TEST

/* One message at a time (a quiet bot): the webhook's two round trips,
 * then the reply's "sending" record, and after the send its "sent" record
 * with the receipts module's record of the send in one batch, and the
 * job's completion: five in all. The reply is leased at commit and knows
 * its customer just wrote, so no profile read decides the window; the
 * "sent" record and the receipt were a round trip each. */
START_TEST(test_a_reply_alone_costs_three_round_trips_after_its_webhook)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(handle(&e, "SMw0", "+14155550100", NULL), WABOT_OK);
    ck_assert_uint_eq(sent(&e), 1); /* warm: scripts loaded, queues polled */
    tu_drain(e.ctx);
    for (int i = 1; i <= 5; i++) {
        char id[16], from[24];
        snprintf(id, sizeof id, "SMw%d", i);
        snprintf(from, sizeof from, "+1415555%04d", 100 + i);
        int64_t before = wabot_redis_round_trips(e.r), rt = 0;
        ck_assert_int_eq(handle(&e, id, from, &rt), WABOT_OK);
        ck_assert_int_eq(rt, 2);
        ck_assert_uint_eq(sent(&e), (size_t)i + 1);
        tu_drain(e.ctx); /* the send's records */
        int64_t used = wabot_redis_round_trips(e.r) - before;
        ck_assert_msg(used == 5, "message %d: %lld round trips", i,
                      (long long)used);
        assert_sent_recorded(&e, (size_t)i);
    }
    env_free(&e);
}
END_TEST

/* Replies are queued without their empty members; one an earlier version
 * queued in Redis with every member (what wabot_outbound_to_json writes)
 * is sent after the upgrade as it would have been. */
START_TEST(test_a_reply_queued_in_redis_with_every_member_is_sent_as_before)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(handle(&e, "SMq1", "+14155550123", NULL), WABOT_OK);
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(e.ctx, WABOT_QUEUE_OUTBOUND, "SMq1:r0",
                                   &info),
                     WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_ptr_null(strstr(r->payload, "media_url"));
    ck_assert_ptr_null(strstr(r->payload, "\"options\""));
    wabot_job_info_free(info);
    ck_assert_uint_eq(sent(&e), 1);
    char *full = wabot_outbound_to_json(wabot_recorder_get(e.rec, 0));
    ck_assert_ptr_nonnull(strstr(full, "\"list_section\":\"\""));
    char *id = strstr(full, "SMq1:r0");
    ck_assert_ptr_nonnull(id);
    id[3] = '9'; /* the same reply under the id "SMq9:r0" */
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "SMq9:r0";
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, WABOT_QUEUE_OUTBOUND, full,
                                       strlen(full), &spec, NULL),
                     WABOT_OK);
    ck_assert_uint_eq(sent(&e), 2);
    char *again = wabot_outbound_to_json(wabot_recorder_get(e.rec, 1));
    ck_assert_str_eq(again, full);
    wabot_free(again);
    wabot_free(full);
    env_free(&e);
}
END_TEST

START_TEST(test_a_fenced_job_in_a_batch_is_refused_alone)
{
    env e;
    env_init(&e, 0, 0);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "f%d", i);
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = id;
        ck_assert_int_eq(wabot_job_enqueue(e.ctx, "q", "x", 1, &spec, NULL),
                         WABOT_OK);
    }
    wabot_job_info *infos[4];
    for (int i = 0; i < 4; i++)
        infos[i] = wabot_job_info_new();
    size_t got = 0;
    int32_t recovered = -1;
    int64_t now = wabot_ctx_now_ms(e.ctx);
    ck_assert_int_eq(wb_scheduler_reserve_many(e.sc, "q", now, 30000, 3, 4,
                                               infos, &got, &recovered),
                     WABOT_OK);
    ck_assert_uint_eq(got, 3);
    ck_assert_int_eq(recovered, 0);
    const char *ids[3];
    uint64_t tokens[3];
    char fenced[16];
    for (int i = 0; i < 3; i++) {
        const wabot_job_record *r = wabot_job_info_record(infos[i]);
        ids[i] = r->id;
        tokens[i] = r->token;
    }
    snprintf(fenced, sizeof fenced, "%s", ids[1]);
    tokens[1] += 1000; /* a stale reservation's token */
    int results[3];
    wb_scheduler_complete_many(e.sc, "q", 3, ids, tokens, now, results);
    ck_assert_int_eq(results[0], WABOT_OK);
    ck_assert_int_eq(results[1], WABOT_ERR_CONFLICT);
    ck_assert_int_eq(results[2], WABOT_OK);
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    wabot_queue_counts(e.ctx, "q", c, WABOT_JOB_STATE_COUNT);
    ck_assert_int_eq(c[WABOT_JOB_COMPLETED], 2);
    ck_assert_int_eq(c[WABOT_JOB_ACTIVE], 1);
    /* its lease expires: the next batch recovers it first */
    got = 0;
    ck_assert_int_eq(wb_scheduler_reserve_many(e.sc, "q", now + 30001, 30000,
                                               3, 4, infos, &got, &recovered),
                     WABOT_OK);
    ck_assert_int_eq(recovered, 1);
    ck_assert_uint_eq(got, 1);
    ck_assert_str_eq(wabot_job_info_record(infos[0])->id, fenced);
    for (int i = 0; i < 4; i++)
        wabot_job_info_free(infos[i]);
    env_free(&e);
}
END_TEST

/* Twin queues "a" and "b" get the same jobs: a (priority, run_at) mix, a
 * delayed job already due and one not yet due. */
static void twin_job(env *e, const char *id, int32_t prio, int64_t run_at,
                     int64_t now)
{
    wabot_job_record r = tu_job_record(id, id, run_at);
    r.priority = prio;
    r.created_ms = now - 10;
    ck_assert_int_eq(wabot_scheduler_enqueue(e->sc, "a", &r, now - 10),
                     WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_enqueue(e->sc, "b", &r, now - 10),
                     WABOT_OK);
}

static void same_record(const wabot_job_record *x, const wabot_job_record *y)
{
    ck_assert_str_eq(x->id, y->id);
    ck_assert_int_eq(x->state, y->state);
    ck_assert_int_eq(x->attempts, y->attempts);
    ck_assert_uint_eq(x->token, y->token);
    ck_assert_int_eq(x->lease_until_ms, y->lease_until_ms);
    ck_assert_int_eq(x->run_at_ms, y->run_at_ms);
    ck_assert_int_eq(x->finished_ms, y->finished_ms);
    ck_assert_int_eq(x->priority, y->priority);
    ck_assert_uint_eq(x->payload_len, y->payload_len);
    ck_assert(memcmp(x->payload, y->payload, x->payload_len) == 0);
}

/* The batched poll and complete_many (one ZPOPMIN, INCRBY, ZADD, ZREM
 * for the whole batch) leave every job exactly as the single-job
 * scripts run one after the other do: same order, tokens, attempts,
 * leases, and the same completion codes, a job named twice included. */
START_TEST(test_batched_poll_and_completion_match_the_single_job_scripts)
{
    env e;
    env_init(&e, 0, 0);
    int64_t now = wabot_ctx_now_ms(e.ctx);
    twin_job(&e, "low", 0, now - 5, now);
    twin_job(&e, "high", 7, now - 1, now);
    twin_job(&e, "early", 0, now - 9, now);
    twin_job(&e, "due", 3, now - 2, now); /* enqueued delayed, now due */
    twin_job(&e, "later", 9, now + 60000, now);
    twin_job(&e, "last", -1, now, now);
    enum { N = 5 };
    wabot_job_info *a[N + 1], *b[N + 1];
    for (int i = 0; i <= N; i++) {
        a[i] = wabot_job_info_new();
        b[i] = wabot_job_info_new();
    }
    size_t got = 0;
    int32_t recovered = -1;
    /* two polls: a full batch (jobs left: due now), then the rest */
    ck_assert_int_eq(wb_scheduler_reserve_many(e.sc, "a", now, 30000, 3, 2,
                                               a, &got, &recovered),
                     WABOT_OK);
    ck_assert_uint_eq(got, 2);
    int64_t due = 0;
    ck_assert_int_eq(wabot_scheduler_next_due(e.sc, "a", now, &due),
                     WABOT_OK);
    ck_assert_int_eq(due, now);
    ck_assert_int_eq(wb_scheduler_reserve_many(e.sc, "a", now, 30000, 3,
                                               N - 1, a + 2, &got,
                                               &recovered),
                     WABOT_OK);
    ck_assert_uint_eq(got, N - 2);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(wabot_scheduler_reserve(e.sc, "b", now, 30000,
                                                 b[i]),
                         WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_reserve(e.sc, "b", now, 30000, b[N]),
                     WABOT_ERR_NOT_FOUND);
    const char *want[N] = {"high", "due", "early", "low", "last"};
    for (int i = 0; i < N; i++) {
        const wabot_job_record *x = wabot_job_info_record(a[i]);
        ck_assert_str_eq(x->id, want[i]);
        ck_assert_uint_eq(x->token, (uint64_t)i + 1);
        ck_assert_int_eq(x->attempts, 1);
        same_record(x, wabot_job_info_record(b[i]));
        wabot_job_info *ga = wabot_job_info_new(), *gb = wabot_job_info_new();
        ck_assert_int_eq(wabot_scheduler_get(e.sc, "a", want[i], ga),
                         WABOT_OK);
        ck_assert_int_eq(wabot_scheduler_get(e.sc, "b", want[i], gb),
                         WABOT_OK);
        same_record(wabot_job_info_record(ga), wabot_job_info_record(gb));
        same_record(wabot_job_info_record(ga), x);
        wabot_job_info_free(ga);
        wabot_job_info_free(gb);
    }
    int64_t due_a = 0, due_b = 0;
    ck_assert_int_eq(wabot_scheduler_next_due(e.sc, "a", now, &due_a),
                     WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_next_due(e.sc, "b", now, &due_b),
                     WABOT_OK);
    ck_assert_int_eq(due_a, due_b);
    /* complete: "due" twice, "low" with a stale token */
    const char *ids[5] = {"high", "due", "low", "due", "early"};
    uint64_t toks[5];
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < N; j++)
            if (strcmp(wabot_job_info_record(a[j])->id, ids[i]) == 0)
                toks[i] = wabot_job_info_record(a[j])->token;
    }
    toks[2] += 100;
    int res[5];
    wb_scheduler_complete_many(e.sc, "a", 5, ids, toks, now + 1, res);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(res[i], wabot_scheduler_complete(e.sc, "b", ids[i],
                                                          toks[i], now + 1));
    ck_assert_int_eq(res[0], WABOT_OK);
    ck_assert_int_eq(res[2], WABOT_ERR_CONFLICT);
    ck_assert_int_eq(res[3], WABOT_ERR_CONFLICT);
    int64_t ca[WABOT_JOB_STATE_COUNT], cb[WABOT_JOB_STATE_COUNT];
    ck_assert_int_eq(wabot_scheduler_counts(e.sc, "a", ca,
                                            WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_counts(e.sc, "b", cb,
                                            WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    for (int i = 0; i < WABOT_JOB_STATE_COUNT; i++)
        ck_assert_int_eq(ca[i], cb[i]);
    ck_assert_int_eq(ca[WABOT_JOB_COMPLETED], 3);
    /* the same finish order: trimming to the newest one keeps the same */
    int64_t ra = 0, rb = 0;
    ck_assert_int_eq(wabot_scheduler_trim(e.sc, "a", WABOT_JOB_COMPLETED, 1,
                                          0, &ra), WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_trim(e.sc, "b", WABOT_JOB_COMPLETED, 1,
                                          0, &rb), WABOT_OK);
    ck_assert_int_eq(ra, 2);
    ck_assert_int_eq(rb, 2);
    for (int i = 0; i < 3; i++) {
        const char *id = (const char *[]){"high", "due", "early"}[i];
        wabot_job_info *ga = wabot_job_info_new(), *gb = wabot_job_info_new();
        int rca = wabot_scheduler_get(e.sc, "a", id, ga);
        ck_assert_int_eq(rca, wabot_scheduler_get(e.sc, "b", id, gb));
        if (rca == WABOT_OK)
            same_record(wabot_job_info_record(ga), wabot_job_info_record(gb));
        wabot_job_info_free(ga);
        wabot_job_info_free(gb);
    }
    for (int i = 0; i <= N; i++) {
        wabot_job_info_free(a[i]);
        wabot_job_info_free(b[i]);
    }
    env_free(&e);
}
END_TEST

/* A turn's scripts take their storage versions with one INCRBY each
 * (begin: the claim and the profile; commit: the conversation, the
 * marker and the dedup key), and the versions are still new. */
START_TEST(test_a_turn_takes_its_versions_with_one_incrby_per_script)
{
    env e;
    env_init(&e, 0, 0);
    uint64_t before = 0, conv = 0, after = 0;
    ck_assert_int_eq(wabot_storage_set(e.st, "x", "1", 1, 0, &before),
                     WABOT_OK);
    long long i0 = rh_cmd_calls(&srv, "incrby");
    long long c0 = rh_cmd_calls(&srv, "incr");
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "v1", "+15550000031", &rt), WABOT_OK);
    ck_assert_int_eq(rt, 2);
    ck_assert_int_eq(rh_cmd_calls(&srv, "incrby") - i0, 2);
    /* the INCRs left: the queue's enqueue sequence, and the fencing
     * token of the reply leased at commit (a reserve would take one) */
    ck_assert_int_eq(rh_cmd_calls(&srv, "incr") - c0, 2);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(e.st, "conv:{default:+15550000031}",
                                       &v, NULL, &conv),
                     WABOT_OK);
    wabot_free(v);
    ck_assert_int_eq(wabot_storage_set(e.st, "x", "2", 1, 0, &after),
                     WABOT_OK);
    ck_assert_uint_gt(conv, before);
    ck_assert_uint_gt(after, conv);
    ck_assert_int_eq(session_n(&e, "+15550000031"), 1);
    env_free(&e);
}
END_TEST

/* Run a Lua script on the test's server with one key (e's prefix
 * prepended) and up to two arguments; its answer in out. */
static void lua1(env *e, const char *script, const char *key,
                 const char *a1, const char *a2, char *out, size_t n)
{
    char args[1024];
    snprintf(args, sizeof args, "EVAL \"%s\" 1 '%s%s' '%s' '%s'", script,
             e->prefix, key, a1, a2);
    ck_assert_int_eq(rh_cli(&srv, args, out, n), 0);
    size_t len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
}

/* A value in the earlier layout: as is, its version at key "\0v". */
static void old_layout(env *e, const char *key, const char *val,
                       const char *version)
{
    char out[64];
    lua1(e,
         "redis.call('SET', KEYS[1], ARGV[1]) "
         "return redis.call('SET', KEYS[1] .. string.char(0) .. 'v', "
         "ARGV[2]).ok",
         key, val, version, out, sizeof out);
    ck_assert_str_eq(out, "OK");
}

/* The earlier layout's version keys under e's prefix. */
static long version_keys(env *e)
{
    char out[64];
    lua1(e,
         "return #redis.call('KEYS', KEYS[1] .. '*' .. string.char(0) .. "
         "'v')",
         "", "", "", out, sizeof out);
    return strtol(out, NULL, 10);
}

/* A Redis upgraded in place: the turn reads a conversation and a profile
 * of the earlier layout (value and version key), commits against the
 * conversation's old version, and from then on each value is one key. */
START_TEST(test_a_turn_reads_and_moves_values_of_the_earlier_layout)
{
    env e;
    env_init(&e, 0, 0);
    char out[64];
    /* The store's counter, past every version it gave. */
    lua1(&e,
         "return redis.call('INCRBY', KEYS[1] .. string.char(0) .. "
         "'version', 1000)",
         "", "", "", out, sizeof out);
    old_layout(&e, "conv:{default:+15550000041}",
               "#schema 1\n{\"state\":\"\",\"session\":{\"n\":7}}", "500");
    old_layout(&e, "cust:{default:+15550000041}",
               "#schema 1\n{\"name\":\"Ana\",\"last_inbound_ms\":5,"
               "\"opted_out\":true}", "501");
    ck_assert_int_eq(version_keys(&e), 2);
    int64_t rt = 0;
    ck_assert_int_eq(handle(&e, "o1", "+15550000041", &rt), WABOT_OK);
    ck_assert_int_eq(rt, 2);
    ck_assert_int_eq(e.runs, 1);
    ck_assert_int_eq(session_n(&e, "+15550000041"), 8);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(e.ctx, "default", "+15550000041", &c),
                     WABOT_OK);
    ck_assert_int_eq(wabot_customer_opted_out(c), 1);
    ck_assert_int_eq(wabot_customer_last_inbound_ms(c), TU_EPOCH_MS);
    wabot_customer_free(c);
    /* Both values now carry their version in a header. */
    ck_assert_int_eq(handle(&e, "o2", "+15550000041", &rt), WABOT_OK);
    ck_assert_int_eq(session_n(&e, "+15550000041"), 9);
    lua1(&e, "return string.sub(redis.call('GET', KEYS[1]), 2, 3)",
         "conv:{default:+15550000041}", "", "", out, sizeof out);
    ck_assert_str_eq(out, "wv");
    env_free(&e);
}
END_TEST

/* Every value a turn writes (claim, profile, conversation, marker, dedup
 * "done") is one key with its version in it: no version keys. */
START_TEST(test_a_turn_writes_no_version_keys)
{
    env e;
    env_init(&e, 30, 0);
    long long s0 = rh_cmd_calls(&srv, "set");
    ck_assert_int_eq(handle(&e, "w1", "+15550000042", NULL), WABOT_OK);
    tu_clock_advance(&e.clock, 1000); /* so the profile changes again */
    ck_assert_int_eq(handle(&e, "w2", "+15550000042", NULL), WABOT_OK);
    /* per turn: claim, limiter, profile, conversation, marker, done (11
     * with the version keys) */
    ck_assert_int_eq(rh_cmd_calls(&srv, "set") - s0, 12);
    ck_assert_int_eq(version_keys(&e), 0);
    ck_assert_int_eq(session_n(&e, "+15550000042"), 2);
    env_free(&e);
}
END_TEST

static int count_job(wabot_job *j, void *ud)
{
    (void)j;
    ++*(int *)ud;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Jobs leased at commit                                                */

/* Field f of the outbound job `id`'s hash ("" when absent). */
static void job_field(env *e, const char *id, const char *f, char *out,
                      size_t n)
{
    char key[160];
    snprintf(key, sizeof key, "{outbound}:job:%s", id);
    lua1(e, "return redis.call('HGET', KEYS[1], ARGV[1]) or ''", key, f, "",
         out, n);
}

/* ZCARD of the outbound queue's `set` (ready, active, ...). */
static long outbound_set(env *e, const char *set)
{
    char key[64], out[64];
    snprintf(key, sizeof key, "{outbound}:%s", set);
    lua1(e, "return redis.call('ZCARD', KEYS[1])", key, "", "", out,
         sizeof out);
    return strtol(out, NULL, 10);
}

static void assert_job(env *e, const char *id, const char *field,
                       const char *want)
{
    char v[64];
    job_field(e, id, field, v, sizeof v);
    ck_assert_msg(strcmp(v, want) == 0, "job %s: %s is '%s', expected '%s'",
                  id, field, v, want);
}

/* Job `id` was recovered once after its lease ran out and then
 * completed: its second attempt. */
static void assert_recovered_once(env *e, const char *id)
{
    assert_job(e, id, "state", "3");
    assert_job(e, id, "attempts", "2");
    assert_job(e, id, "stalls", "1");
}

/* The turn's commit enqueues the reply already reserved by this process
 * (active, attempts 1, a fencing token, in the active set: what a reserve
 * would have left), and the loop starts it from memory: no reserve takes
 * it again, and it is completed with the commit's token. */
START_TEST(test_a_reply_is_leased_to_its_process_at_commit_and_sent_without_a_reserve)
{
    env e;
    env_init(&e, 0, 0);
    int64_t enqueued = wabot_metrics_counter(e.ctx, "jobs.enqueued");
    ck_assert_int_eq(handle(&e, "SMl1", "+15550000101", NULL), WABOT_OK);
    assert_job(&e, "SMl1:r0", "state", "2");
    assert_job(&e, "SMl1:r0", "attempts", "1");
    char tok[64], until[64];
    job_field(&e, "SMl1:r0", "token", tok, sizeof tok);
    job_field(&e, "SMl1:r0", "lease_until", until, sizeof until);
    ck_assert_int_gt(strtoll(tok, NULL, 10), 0);
    ck_assert_int_eq(strtoll(until, NULL, 10),
                     wabot_ctx_now_ms(e.ctx) + 30000); /* job_lease_ms */
    ck_assert_int_eq(outbound_set(&e, "ready"), 0);
    ck_assert_int_eq(outbound_set(&e, "active"), 1);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.enqueued"),
                     enqueued + 1);

    ck_assert_uint_eq(sent(&e), 1);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "n=1");
    assert_job(&e, "SMl1:r0", "state", "3");
    assert_job(&e, "SMl1:r0", "attempts", "1");
    assert_job(&e, "SMl1:r0", "token", tok);
    ck_assert_int_eq(outbound_set(&e, "active"), 0);
    ck_assert_int_eq(
        wabot_metrics_counter(e.ctx, "jobs.outbound.processed"), 2);
    env_free(&e);
}
END_TEST

/* At most the queue's concurrency waits leased in a process; the jobs
 * past it are enqueued for any worker, and every reply is sent once. */
START_TEST(test_jobs_leased_at_commit_are_at_most_the_queues_concurrency)
{
    env e;
    outbound_concurrency = 2;
    env_init(&e, 0, 0);
    outbound_concurrency = 0;
    for (int i = 0; i < 5; i++) {
        char id[16], from[24];
        snprintf(id, sizeof id, "SMc%d", i);
        snprintf(from, sizeof from, "+1555000020%d", i);
        ck_assert_int_eq(handle(&e, id, from, NULL), WABOT_OK);
    }
    assert_job(&e, "SMc0:r0", "state", "2");
    assert_job(&e, "SMc1:r0", "state", "2");
    for (int i = 2; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "SMc%d:r0", i);
        assert_job(&e, id, "state", "0");
    }
    ck_assert_int_eq(outbound_set(&e, "active"), 2);
    ck_assert_int_eq(outbound_set(&e, "ready"), 3);
    ck_assert_uint_eq(sent(&e), 5);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "SMc%d:r0", i);
        assert_job(&e, id, "state", "3");
        assert_job(&e, id, "attempts", "1");
    }
    ck_assert_uint_eq(sent(&e), 5);
    env_free(&e);
}
END_TEST

/* A worker that keeps every job it is handed (counted) until the test
 * finishes it. */
typedef struct held {
    wabot_job *jobs[16];
    int n;
} held;

static int hold_job(wabot_job *j, void *ud)
{
    held *h = ud;
    ck_assert_int_lt(h->n, 16);
    h->jobs[h->n++] = j;
    return WABOT_JOB_PENDING;
}

/* The room a commit under way takes for its leased job (on another HTTP
 * thread) does not keep the pass's poll from the queue's free slots: the
 * poll leaves out only the leased jobs already waiting to start. Counting
 * every room left slots idle while commits were in flight (seventeenth
 * session: backlogs of 3 000-4 800 replies at the end of the load). */
START_TEST(test_a_commit_under_way_leaves_the_poll_every_free_slot)
{
    env e;
    env_init(&e, 0, 0);
    held h = {{NULL}, 0};
    ck_assert_int_eq(wabot_queue_add_worker(e.ctx, "work", hold_job, &h,
                                            NULL, 4),
                     WABOT_OK);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    int64_t now = wabot_ctx_now_ms(e.ctx), lease = 0;
    /* a commit in flight: its room taken, its job not pushed yet */
    ck_assert_int_eq(wb_jobs_intake_room(e.ctx, "work", now, now, &lease), 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wabot_job_enqueue(e.ctx, "work", "x", 1, NULL, NULL),
                         WABOT_OK);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    ck_assert_int_eq(h.n, 4);
    /* the commit failed after all: its room goes back; nothing changes */
    wb_jobs_intake_cancel(e.ctx, "work");
    for (int i = 0; i < h.n; i++)
        wabot_job_finish(h.jobs[i], WABOT_OK);
    wabot_ctx_run_until_idle(e.ctx, wabot_ctx_now_ms(e.ctx));
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.work.processed"), 4);
    env_free(&e);
}
END_TEST

/* A reply leased at commit skips the profile read only while the message
 * it answers proves the window open: to a message sent 25 hours ago (a
 * late redelivery) the profile is read — one GET more than for a message
 * of now — says the same, and the reply is refused as before (no window
 * template set). */
static long long gets_for(env *e, const char *id, const char *from,
                          int64_t age_ms)
{
    long long get0 = rh_cmd_calls(&srv, "get");
    wabot_message *m = tu_text(id, from, "hello");
    ck_assert_int_eq(wabot_message_set_timestamp_ms(
                         m, wabot_ctx_now_ms(e->ctx) - age_ms),
                     WABOT_OK);
    ck_assert_int_eq(wabot_ctx_handle_message(e->ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e->ctx);
    tu_drain(e->ctx);
    return rh_cmd_calls(&srv, "get") - get0;
}

START_TEST(test_a_reply_to_a_message_older_than_the_window_reads_the_profile)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(handle(&e, "SMo0", "+14155550300", NULL), WABOT_OK);
    ck_assert_uint_eq(sent(&e), 1);
    long long now_gets = gets_for(&e, "SMo1", "+14155550301", 0);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    assert_job(&e, "SMo1:r0", "state", "3");
    long long old_gets =
        gets_for(&e, "SMo2", "+14155550302", 25LL * 3600 * 1000);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.window_closed"),
                     1);
    assert_job(&e, "SMo2:r0", "state", "4"); /* failed for good */
    ck_assert_int_eq(old_gets, now_gets + 1);
    env_free(&e);
}
END_TEST

/* While the queue holds a job due for any worker (enqueued when the
 * intake was full, a retry, another process's), a new reply joins it
 * there instead of passing it leased; once a poll has taken them, replies
 * are leased again. */
START_TEST(test_a_reply_joins_jobs_already_due_instead_of_passing_them)
{
    env e;
    env_init(&e, 0, 0);
    /* the customer writes first: a message to them is in the window */
    ck_assert_int_eq(handle(&e, "SMj0", "+15550000602", NULL), WABOT_OK);
    ck_assert_uint_eq(sent(&e), 1);
    const char *payload =
        "{\"id\":\"q1\",\"kind\":\"text\",\"category\":\"reply\","
        "\"provider\":\"twilio\",\"to\":\"+15550000602\","
        "\"from\":\"+14155238886\",\"organization\":\"default\","
        "\"text\":\"queued first\"}";
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "q1";
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, WABOT_QUEUE_OUTBOUND, payload,
                                       strlen(payload), &spec, NULL),
                     WABOT_OK);
    ck_assert_int_eq(handle(&e, "SMj1", "+15550000602", NULL), WABOT_OK);
    assert_job(&e, "SMj1:r0", "state", "0");
    ck_assert_int_eq(outbound_set(&e, "ready"), 2);
    ck_assert_uint_eq(sent(&e), 3);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "queued first");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 2)),
                     "n=2");
    ck_assert_int_eq(handle(&e, "SMj2", "+15550000602", NULL), WABOT_OK);
    assert_job(&e, "SMj2:r0", "state", "2");
    ck_assert_uint_eq(sent(&e), 4);
    env_free(&e);
}
END_TEST

/* The process dies between the commit and the send: the job stays
 * active until its lease runs out, then stall recovery puts it back and
 * the next process sends it, once. */
START_TEST(test_a_job_leased_at_commit_is_recovered_after_its_process_dies)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(handle(&e, "SMd1", "+15550000301", NULL), WABOT_OK);
    assert_job(&e, "SMd1:r0", "state", "2");
    wabot_ctx_free(e.ctx); /* gone before its loop ran */
    e.ctx = next_process(&e);
    ck_assert_uint_eq(sent(&e), 0); /* leased to the dead one */
    tu_clock_advance(&e.clock, 29000);
    ck_assert_uint_eq(sent(&e), 0);
    tu_clock_advance(&e.clock, 1001);
    ck_assert_uint_eq(sent(&e), 1);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "n=1");
    assert_recovered_once(&e, "SMd1:r0");
    tu_clock_advance(&e.clock, 60000);
    ck_assert_uint_eq(sent(&e), 1);
    env_free(&e);
}
END_TEST

/* A job whose lease ran out before its process's loop took it is not
 * started from memory (another process may have it by now): stall
 * recovery puts it back and it is sent once, on its second attempt. */
START_TEST(test_a_job_whose_lease_ran_out_before_its_start_is_left_to_recovery)
{
    env e;
    env_init(&e, 0, 0);
    ck_assert_int_eq(handle(&e, "SMx1", "+15550000401", NULL), WABOT_OK);
    assert_job(&e, "SMx1:r0", "state", "2");
    tu_clock_advance(&e.clock, 30001);
    ck_assert_uint_eq(sent(&e), 1);
    assert_recovered_once(&e, "SMx1:r0");
    ck_assert_int_eq(
        wabot_metrics_counter(e.ctx, "jobs.outbound.stalled"), 1);
    ck_assert_uint_eq(sent(&e), 1);
    env_free(&e);
}
END_TEST

/* A redelivered webhook whose reply job is on its queue already (the
 * dedup mark gone, the turn marker too) leases nothing: the id is
 * counted as a duplicate and the reply is not sent twice. The room taken
 * for it is given back: with room for one, the next reply is leased. */
START_TEST(test_a_job_id_on_its_queue_already_is_not_leased_again)
{
    env e;
    outbound_concurrency = 1;
    env_init(&e, 0, 0);
    outbound_concurrency = 0;
    ck_assert_int_eq(handle(&e, "SMr1", "+15550000501", NULL), WABOT_OK);
    ck_assert_uint_eq(sent(&e), 1);
    char out[64];
    lua1(&e,
         "return redis.call('DEL', KEYS[1], KEYS[1] .. ARGV[1])",
         "dedup:SMr1", "", "", out, sizeof out);
    lua1(&e, "return redis.call('DEL', KEYS[1])",
         "turn:{default:+15550000501}:SMr1", "", "", out, sizeof out);
    ck_assert_int_eq(handle(&e, "SMr1", "+15550000501", NULL), WABOT_OK);
    ck_assert_int_eq(
        wabot_metrics_counter(e.ctx, "outbound.duplicates"), 1);
    assert_job(&e, "SMr1:r0", "state", "3");
    ck_assert_uint_eq(sent(&e), 1);
    ck_assert_int_eq(handle(&e, "SMr2", "+15550000502", NULL), WABOT_OK);
    assert_job(&e, "SMr2:r0", "state", "2");
    ck_assert_uint_eq(sent(&e), 2);
    env_free(&e);
}
END_TEST

/* On Redis each queue's poll is a script: a queue that is not due is
 * not polled on every dispatch of the loop (its due time is cached), but
 * once job_poll_ms after its last poll, which is when a job another
 * process enqueued is seen. */
START_TEST(test_a_queue_not_due_is_polled_every_job_poll_ms_not_every_dispatch)
{
    env e;
    env_init(&e, 0, 0);
    int ran = 0;
    ck_assert_int_eq(wabot_queue_add_worker(e.ctx, "other", count_job, &ran,
                                            NULL, 1),
                     WABOT_OK);
    wb_jobs_dispatch(e.ctx); /* every queue polled now */
    long long ev0 = rh_cmd_calls(&srv, "evalsha");
    for (int i = 0; i < 5; i++)
        wb_jobs_dispatch(e.ctx);
    ck_assert_int_eq(rh_cmd_calls(&srv, "evalsha") - ev0, 0);
    /* another process's job (not through this context: no lowering) */
    int64_t now = wabot_ctx_now_ms(e.ctx);
    wabot_job_record r = tu_job_record("from-b", "{}", now);
    ck_assert_int_eq(wabot_scheduler_enqueue(e.sc, "other", &r,
                                             now),
                     WABOT_OK);
    wb_jobs_dispatch(e.ctx);
    tu_drain(e.ctx);
    ck_assert_int_eq(ran, 0);
    tu_clock_advance(&e.clock, 999);
    wb_jobs_dispatch(e.ctx);
    ck_assert_int_eq(ran, 0);
    tu_clock_advance(&e.clock, 1); /* job_poll_ms (1 s) after the poll */
    wb_jobs_dispatch(e.ctx);
    tu_drain(e.ctx);
    ck_assert_int_eq(ran, 1);
    env_free(&e);
}
END_TEST

int main(void)
{
    if (!rh_available())
        return getenv("CI") ? 1 : 77;
    if (rh_start(&srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    Suite *s = suite_create("redis-turn");
    TCase *tc = tcase_create("fast path");
    tcase_set_timeout(tc, 60);
    tcase_add_test(
        tc, test_turn_is_two_round_trips_and_saves_touches_and_replies);
    tcase_add_test(
        tc, test_profile_written_the_generic_way_is_read_by_the_script);
    tcase_add_test(tc, test_inbound_touch_keeps_the_campaign_members_of_a_profile);
    tcase_add_test(
        tc, test_every_stored_profile_shape_keeps_its_members_through_a_turn);
    tcase_add_test(tc, test_duplicate_delivery_is_dropped_in_one_round_trip);
    tcase_add_test(tc, test_claim_held_by_another_attempt_answers_busy);
    tcase_add_test(
        tc, test_limited_customer_is_dropped_with_one_notice_per_period);
    tcase_add_test(tc, test_redelivery_after_commit_runs_nothing_again);
    tcase_add_test(
        tc,
        test_conversation_changed_behind_the_turn_is_retried_on_fresh_state);
    tcase_add_test(tc, test_limiter_elsewhere_takes_the_generic_path);
    tcase_add_test(
        tc, test_batched_poll_and_completion_match_the_single_job_scripts);
    tcase_add_test(tc,
                   test_a_turn_takes_its_versions_with_one_incrby_per_script);
    tcase_add_test(
        tc,
        test_a_queue_not_due_is_polled_every_job_poll_ms_not_every_dispatch);
    suite_add_tcase(s, tc);
    tc = tcase_create("worker batches");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_workers_reserve_and_complete_in_batches);
    tcase_add_test(tc,
                   test_a_turn_reads_and_moves_values_of_the_earlier_layout);
    tcase_add_test(tc, test_a_turn_writes_no_version_keys);
    tcase_add_test(tc,
                   test_the_deadline_costs_no_round_trip_and_sees_own_enqueues);
    tcase_add_test(tc, test_a_fenced_job_in_a_batch_is_refused_alone);
    tcase_add_test(
        tc, test_a_reply_queued_in_redis_with_every_member_is_sent_as_before);
    tcase_add_test(tc, test_the_send_path_shares_round_trips_across_a_pass);
    tcase_add_test(tc,
                   test_a_reply_alone_costs_three_round_trips_after_its_webhook);

    suite_add_tcase(s, tc);
    tc = tcase_create("jobs leased at commit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(
        tc,
        test_a_reply_is_leased_to_its_process_at_commit_and_sent_without_a_reserve);
    tcase_add_test(tc,
                   test_jobs_leased_at_commit_are_at_most_the_queues_concurrency);
    tcase_add_test(tc, test_a_commit_under_way_leaves_the_poll_every_free_slot);
    tcase_add_test(
        tc, test_a_reply_to_a_message_older_than_the_window_reads_the_profile);
    tcase_add_test(tc,
                   test_a_reply_joins_jobs_already_due_instead_of_passing_them);
    tcase_add_test(tc,
                   test_a_job_leased_at_commit_is_recovered_after_its_process_dies);
    tcase_add_test(
        tc,
        test_a_job_whose_lease_ran_out_before_its_start_is_left_to_recovery);
    tcase_add_test(tc, test_a_job_id_on_its_queue_already_is_not_leased_again);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    rh_destroy(&srv);
    return rc;
}
