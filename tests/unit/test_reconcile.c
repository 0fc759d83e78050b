/* Sends of unknown outcome (lib/delivery/reconcile.c): two contexts share
 * one storage and one job scheduler, as two processes share Redis. The
 * first takes a send and "dies" with it in flight (its transport never
 * answers and its loop never runs again); once the job's lease expires
 * the second reconciles the send before any retry. All on the fake
 * clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "internal/delivery.h"
#include "internal/storage.h"
#include "wabot/security.h"

#define LEASE_MS 1000
#define GRACE_MS 5000
#define TO "+14155550100"
#define SID "SM0123456789abcdef0123456789abcdef"

/* A transport whose sends never complete: the process died mid-send. */
typedef struct held {
    wabot_send_op *ops[16];
    size_t n;
} held;

static int held_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    (void)m;
    held *h = impl;
    ck_assert_uint_lt(h->n, 16);
    h->ops[h->n++] = op;
    return WABOT_OK;
}

static const wabot_transport_vtable held_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, held_send, NULL};

typedef struct world {
    tu_clock clock;
    wabot_storage *storage;
    wabot_scheduler *sched;
    held h;
    wabot_transport *dying_tr, *rec;
    wabot_ctx *dying, *live;
} world;

static world W;
static int max_attempts; /* > 0: WABOT_OPT_OUTBOUND_MAX_ATTEMPTS */
/* Set: one connection per provider host, sender pacing on but never
 * binding, no per-recipient pacing (a second send waits for the first's
 * connection). */
static int one_connection;

static wabot_ctx *ctx_new(wabot_transport *t, const char *at_most_once)
{
    wabot_options *o = wabot_options_new();
    wabot_clock k = tu_clock_wabot(&W.clock);
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(o, W.storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_scheduler(o, W.sched), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_transport(o, t), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_JOB_LEASE_MS,
                                           LEASE_MS), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(
                         o, WABOT_OPT_SEND_RECONCILE_GRACE_MS, GRACE_MS),
                     WABOT_OK);
    if (at_most_once)
        ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_SEND_AT_MOST_ONCE,
                                               at_most_once), WABOT_OK);
    if (max_attempts > 0)
        ck_assert_int_eq(wabot_options_set_int(
                             o, WABOT_OPT_OUTBOUND_MAX_ATTEMPTS, max_attempts),
                         WABOT_OK);
    if (one_connection) {
        ck_assert_int_eq(wabot_options_set_int(
                             o, WABOT_OPT_HTTP_HOST_CONNECTIONS, 1), WABOT_OK);
        ck_assert_int_eq(wabot_options_set_int(
                             o, WABOT_OPT_RATE_SENDER_PER_S, 100000), WABOT_OK);
        ck_assert_int_eq(wabot_options_set_int(
                             o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0), WABOT_OK);
    }
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    return ctx;
}

static void world_init(const char *at_most_once)
{
    memset(&W, 0, sizeof W);
    tu_clock_init(&W.clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&W.clock);
    W.storage = wabot_storage_memory_new(&k);
    W.sched = wabot_scheduler_memory_new();
    W.dying_tr = wabot_transport_new(&held_vt, &W.h, "twilio");
    W.rec = wabot_recorder_new();
    ck_assert_ptr_nonnull(W.dying_tr);
    W.dying = ctx_new(W.dying_tr, at_most_once);
    W.live = ctx_new(W.rec, at_most_once);
}

static void setup(void)
{
    max_attempts = 0;
    world_init(NULL);
}

static void setup_one_attempt(void)
{
    max_attempts = 1;
    world_init(NULL);
}

static void setup_at_most_once(void)
{
    max_attempts = 0;
    world_init("campaign");
}

static void teardown(void)
{
    /* The dead process's requests end (their jobs are someone else's). */
    for (size_t i = 0; i < W.h.n; i++)
        wabot_send_op_fail(W.h.ops[i], WABOT_ERR_TRANSPORT, 0, "gone", 0);
    wabot_ctx_free(W.dying);
    wabot_ctx_free(W.live);
    wabot_transport_free(W.dying_tr);
    wabot_transport_free(W.rec);
    wabot_scheduler_free(W.sched);
    wabot_storage_free(W.storage);
}

static int64_t counter(const char *name)
{
    return wabot_metrics_counter(W.live, name);
}

/* The customer writes (the 24-hour window opens), then `id` is queued
 * and taken by the dying process, whose send never comes back. */
static void send_and_die(const char *id, wabot_out_category cat)
{
    wabot_message *m = tu_text("SMin1", TO, "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(W.dying, "default", TO, "Your order",
                                     cat, id, NULL), WABOT_OK);
    tu_drain(W.dying);
    ck_assert_uint_eq(W.h.n, 1);
}

/* Time passes beyond the dead process's lease; the live one runs. */
static void lease_expires(void)
{
    tu_clock_advance(&W.clock, LEASE_MS + 1);
    tu_drain(W.live);
}

static void tick(int64_t ms)
{
    tu_clock_advance(&W.clock, ms);
    tu_drain(W.live);
}

/* POST a webhook to the live process; it must answer 200. */
static void post_ok(const char *path, const char *ctype, const char *body)
{
    wabot_http_header h[] = {{"Content-Type", ctype}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(W.live, "POST", path, h, 1, body,
                                       strlen(body), &r), WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    wabot_http_response_free(r);
}

/* A Twilio status callback on the per-message StatusCallback URL, which
 * carries the send's correlation. */
static void twilio_receipt(const char *send_key, const char *status)
{
    char path[256], form[512];
    snprintf(path, sizeof path, "/whatsapp/webhook?wabot_send=%s", send_key);
    snprintf(form, sizeof form,
             "MessageSid=" SID "&AccountSid=AC1&From=whatsapp%%3A%%2B14155238886"
             "&To=whatsapp%%3A%%2B14155550100&MessageStatus=%s", status);
    post_ok(path, "application/x-www-form-urlencoded", form);
}

/* A Meta statuses[] entry echoing the send as biz_opaque_callback_data. */
static void meta_receipt(const char *send_key)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
             "\"1\",\"changes\":[{\"field\":\"messages\",\"value\":{"
             "\"messaging_product\":\"whatsapp\",\"statuses\":[{\"id\":"
             "\"wamid.OUT1\",\"status\":\"sent\",\"timestamp\":"
             "\"1767225700\",\"recipient_id\":\"14155550100\","
             "\"biz_opaque_callback_data\":\"%s\"}]}}]}]}", send_key);
    post_ok("/whatsapp-v2/webhook", "application/json", json);
}

static void job_is(const char *id, wabot_job_state state)
{
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(W.live, WABOT_QUEUE_OUTBOUND, id, &info),
                     WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_msg(r->state == (int32_t)state, "job %s: %s, expected %s (%s)", id,
                  wabot_job_state_name(r->state), wabot_job_state_name(state),
                  r->last_error ? r->last_error : "");
    wabot_job_info_free(info);
}

/* The first process's second send waits for its one connection (pacing
 * on) while both jobs' leases run out; the live process takes them,
 * reconciles the first (in flight: it waits) and sends the second, which
 * had no record yet. When the first process's connection frees, it must
 * not send the second as well: its "sending" record is written only over
 * the record it read (none), and the live process's is there now. */
START_TEST(test_an_attempt_that_lost_its_lease_before_leaving_does_not_send)
{
    /* The memory store stands in for a shared one (Redis): settled send
     * records stay for their TTL, as they do there. */
    W.storage->process_local = 0;
    wabot_ctx_free(W.dying);
    one_connection = 1;
    W.dying = ctx_new(W.dying_tr, NULL);
    one_connection = 0;

    wabot_message *m = tu_text("SMin1", TO, "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(W.dying, "default", TO, "one",
                                     WABOT_CAT_NOTICE, "first", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_send_text(W.dying, "default", TO, "two",
                                     WABOT_CAT_NOTICE, "second", NULL),
                     WABOT_OK);
    tu_drain(W.dying);
    ck_assert_uint_eq(W.h.n, 1); /* "second" waits for the connection */

    lease_expires();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(W.rec, 0)), "two");

    /* The first process's send is answered: its connection is free. */
    wabot_send_op_ok(W.h.ops[0], "SMfirst");
    W.h.n = 0;
    for (int i = 0; i < 5; i++) /* a few passes of its loop */
        wabot_ctx_poll(W.dying, 0);
    ck_assert_msg(W.h.n == 0, "the job the live process sent went twice");
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1);
}
END_TEST

START_TEST(test_a_send_whose_receipt_arrived_is_not_sent_again)
{
    send_and_die("n1", WABOT_CAT_NOTICE);
    twilio_receipt("n1", "sent"); /* the provider had it */
    lease_expires();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
    ck_assert_int_eq(counter("sends.reconciled_by_receipt"), 1);
    ck_assert_int_eq(counter("sends.unknown_resent"), 0);
    /* The receipt also names the message its record had never seen. */
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(W.live, SID, &d), WABOT_OK);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "n1");
    wabot_delivery_free(d);
}
END_TEST

START_TEST(test_a_meta_receipt_echoing_the_send_reconciles_it)
{
    send_and_die("n1", WABOT_CAT_NOTICE);
    meta_receipt("n1");
    lease_expires();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.reconciled_by_receipt"), 1);
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(W.live, "wamid.OUT1", &d), WABOT_OK);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "n1");
    wabot_delivery_free(d);
}
END_TEST

START_TEST(test_a_receipt_within_the_grace_period_prevents_the_resend)
{
    send_and_die("n1", WABOT_CAT_NOTICE);
    lease_expires();
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
    tick(GRACE_MS / 2);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0); /* still waiting */
    twilio_receipt("n1", "delivered");
    tick(GRACE_MS);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.reconciled_by_receipt"), 1);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1); /* counted once */
}
END_TEST

START_TEST(test_without_a_receipt_it_is_sent_again_after_the_grace_period)
{
    send_and_die("n1", WABOT_CAT_NOTICE);
    lease_expires();
    tick(GRACE_MS - 10);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    tick(20);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1);
    ck_assert_str_eq(wabot_outbound_id(wabot_recorder_get(W.rec, 0)), "n1");
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
    ck_assert_int_eq(counter("sends.unknown_resent"), 1);
}
END_TEST

START_TEST(test_a_receipt_for_another_send_does_not_count)
{
    send_and_die("n1", WABOT_CAT_NOTICE);
    twilio_receipt("n2", "sent");
    lease_expires();
    tick(GRACE_MS + 1);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1);
    ck_assert_int_eq(counter("sends.reconciled_by_receipt"), 0);
}
END_TEST

START_TEST(test_at_most_once_category_is_not_sent_again_without_a_receipt)
{
    send_and_die("c1", WABOT_CAT_CAMPAIGN);
    lease_expires();
    tick(GRACE_MS + 1);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("c1", WABOT_JOB_FAILED);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
    ck_assert_int_eq(counter("sends.unknown_not_resent"), 1);
}
END_TEST

START_TEST(test_at_most_once_leaves_other_categories_at_least_once)
{
    send_and_die("n1", WABOT_CAT_NOTICE);
    lease_expires();
    tick(GRACE_MS + 1);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1);
    ck_assert_int_eq(counter("sends.unknown_resent"), 1);
}
END_TEST

START_TEST(test_a_failed_attempt_is_retried_without_reconciling)
{
    /* The provider answered a failure: the outcome is known. */
    wabot_recorder_fail_next(W.rec, 1, WABOT_ERR_TRANSPORT, 500, "oops");
    wabot_message *m = tu_text("SMin1", TO, "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(W.live, "default", TO, "x",
                                     WABOT_CAT_NOTICE, "n1", NULL), WABOT_OK);
    tu_drain(W.live);
    tick(60000); /* past the retry backoff */
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1); /* successes */
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(wabot_metrics_counter(W.live, "outbound.failed_attempts"),
                     1);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 0);
}
END_TEST

/* The live process sends `id`; its request times out (the recorder
 * fails it as curl would): the provider may have the message. */
static void send_times_out(const char *id)
{
    ck_assert_int_eq(wabot_recorder_fail_next(W.rec, 1, WABOT_ERR_TIMEOUT,
                                              0, "request timed out"),
                     WABOT_OK);
    wabot_message *m = tu_text("SMin1", TO, "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(W.live, "default", TO, "Your order",
                                     WABOT_CAT_NOTICE, id, NULL), WABOT_OK);
    tu_drain(W.live);
    ck_assert_int_eq(counter("sends.timed_out"), 1);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
}

/* A minute passes, a second at a time (retries, grace, backoff). */
static void a_minute_passes(void)
{
    for (int i = 0; i < 60; i++)
        tick(1000);
}

START_TEST(test_a_timed_out_send_whose_receipt_comes_is_not_sent_again)
{
    send_times_out("n1");
    tick(GRACE_MS / 2);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    twilio_receipt("n1", "sent");
    a_minute_passes();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.reconciled_by_receipt"), 1);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
}
END_TEST

START_TEST(test_a_timed_out_send_without_receipt_is_sent_again_once_after_grace)
{
    send_times_out("n1");
    tick(GRACE_MS - 10);
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    a_minute_passes();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 1);
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.unknown_resent"), 1);
    ck_assert_int_eq(counter("sends.unknown_outcome"), 1);
}
END_TEST

START_TEST(test_a_send_that_always_times_out_fails_after_its_attempts)
{
    ck_assert_int_eq(wabot_recorder_fail_next(W.rec, 100, WABOT_ERR_TIMEOUT,
                                              0, "request timed out"),
                     WABOT_OK);
    wabot_message *m = tu_text("SMin1", TO, "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(W.live, "default", TO, "x",
                                     WABOT_CAT_NOTICE, "n1", NULL), WABOT_OK);
    for (int i = 0; i < 10; i++)
        a_minute_passes();
    job_is("n1", WABOT_JOB_FAILED);
    ck_assert_int_eq(counter("sends.timed_out"), 5); /* the default 5 */
    ck_assert_int_eq(counter("sends.unknown_outcome"), 5);
    ck_assert_int_eq(counter("sends.unknown_resent"), 4);
    ck_assert_int_eq(counter("sends.unknown_not_resent"), 1);
}
END_TEST

START_TEST(test_a_timeout_on_the_last_attempt_completes_when_its_receipt_comes)
{
    send_times_out("n1");
    twilio_receipt("n1", "delivered");
    a_minute_passes();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("n1", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(counter("sends.reconciled_by_receipt"), 1);
}
END_TEST

START_TEST(test_a_timeout_on_the_last_attempt_without_receipt_fails_unsent)
{
    send_times_out("n1");
    a_minute_passes();
    ck_assert_uint_eq(wabot_recorder_count(W.rec), 0);
    job_is("n1", WABOT_JOB_FAILED);
    ck_assert_int_eq(counter("sends.unknown_not_resent"), 1);
    ck_assert_int_eq(counter("outbound.failed"), 1);
}
END_TEST

START_TEST(test_categories_option_is_checked)
{
    unsigned mask = 0;
    ck_assert_int_eq(wb_out_categories_parse(" campaign , reminder", &mask),
                     WABOT_OK);
    ck_assert_uint_eq(mask, (1u << WABOT_CAT_CAMPAIGN) |
                                (1u << WABOT_CAT_REMINDER));
    ck_assert_int_eq(wb_out_categories_parse("", &mask), WABOT_OK);
    ck_assert_uint_eq(mask, 0);
    ck_assert_int_eq(wb_out_categories_parse("campaign,bogus", NULL),
                     WABOT_ERR_INVAL);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_SEND_AT_MOST_ONCE,
                                           "campaigns"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_SEND_AT_MOST_ONCE,
                                           "campaign,reminder"), WABOT_OK);
    wabot_options_free(o);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Records written in batches (lib/delivery/worker.c)                  */

static char *stored(const char *key)
{
    char *v = NULL;
    int rc = wabot_storage_get(W.storage, key, &v, NULL, NULL);
    return rc == WABOT_OK ? v : NULL;
}

/* The delivery record naming outbound id `oid`, or NULL (read as the
 * API reads it: the stored form differs by store). */
static wabot_delivery *receipt_of(const char *oid)
{
    wabot_storage_items *page = NULL;
    ck_assert_int_eq(wabot_storage_scan(W.storage, "receipt:", "0", 1000, 0,
                                        &page),
                     WABOT_OK);
    wabot_delivery *found = NULL;
    for (size_t i = 0; i < wabot_storage_items_count(page) && !found; i++) {
        const char *k = wabot_storage_items_key(page, i, NULL);
        wabot_delivery *d = NULL;
        ck_assert_int_eq(wabot_delivery_get(W.live ? W.live : W.dying,
                                            k + strlen("receipt:"), &d),
                         WABOT_OK);
        if (strcmp(wabot_delivery_outbound_id(d), oid) == 0)
            found = d;
        else
            wabot_delivery_free(d);
    }
    wabot_storage_items_free(page);
    return found;
}

/* 40 sends from 40 customers' turns, through the batched path until all
 * are sent. */
static void send_forty(void)
{
    char id[16], to[24], in[16];
    for (int i = 0; i < 40; i++) {
        /* 40 customers (one message each: the pair pacing never waits),
         * each inside its 24-hour window */
        snprintf(to, sizeof to, "+1415555%04d", i);
        snprintf(in, sizeof in, "SMin%d", i);
        wabot_message *m = tu_text(in, to, "hi");
        ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
        wabot_message_free(m);
        snprintf(id, sizeof id, "p%d", i);
        ck_assert_int_eq(wabot_send_text(W.live, "default", to, "hello",
                                         WABOT_CAT_NOTICE, id, NULL),
                         WABOT_OK);
    }
    tu_drain(W.live);
    /* the sender's pace (80/s, a tenth of it at once) spreads them */
    for (int k = 0; k < 100 && counter("outbound.sent") < 40; k++)
        tick(100);
}

/* On a shared store (the memory one standing in) every accepted send
 * keeps its "sent" record: another process may run an attempt of it. */
START_TEST(test_every_send_of_a_pass_gets_its_record_and_receipt)
{
    char id[16];
    W.storage->process_local = 0;
    send_forty();
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(id, sizeof id, "p%d", i);
        snprintf(key, sizeof key, "send:%s", id);
        char *v = stored(key);
        ck_assert_msg(v && strstr(v, "\"state\":\"sent\"") &&
                          strstr(v, "\"provider_id\":\"rec-"),
                      "%s: %s", key, v ? v : "(absent)");
        free(v);
        wabot_delivery *r = receipt_of(id);
        ck_assert_msg(r != NULL, "no receipt record names %s", id);
        ck_assert_int_eq(wabot_delivery_state_of(r), WABOT_DELIVERY_SENT);
        wabot_delivery_free(r);
        job_is(id, WABOT_JOB_COMPLETED);
    }
    ck_assert_int_eq(counter("outbound.sent"), 40);
}
END_TEST

/* On a process-local store with the in-process scheduler, a send whose
 * job completed has no attempt to come: its record is deleted instead of
 * written "sent" (a record fewer per reply for the dedup TTL); the
 * receipt record stays. */
START_TEST(test_a_completed_send_leaves_no_record_on_a_local_store)
{
    char id[16];
    send_forty();
    ck_assert_int_eq(counter("outbound.sent"), 40);
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(id, sizeof id, "p%d", i);
        snprintf(key, sizeof key, "send:%s", id);
        char *v = stored(key);
        ck_assert_msg(v == NULL, "%s: %s", key, v ? v : "");
        wabot_delivery *r = receipt_of(id);
        ck_assert_msg(r != NULL, "no receipt record names %s", id);
        wabot_delivery_free(r);
        job_is(id, WABOT_JOB_COMPLETED);
    }
}
END_TEST

/* Spent only when the job is completed, and only where a record cannot
 * be read by another process. */
START_TEST(test_a_send_record_is_spent_only_once_its_job_completed)
{
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "waiting1";
    spec.delay_ms = 3600000;
    ck_assert_int_eq(wabot_job_enqueue(W.live, WABOT_QUEUE_OUTBOUND, "{}", 2,
                                       &spec, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wb_send_record_spent(W.live, "waiting1"), 0);
    ck_assert_int_eq(wb_send_record_spent(W.live, "no-such-job"), 0);
    send_forty();
    job_is("p0", WABOT_JOB_COMPLETED);
    ck_assert_int_eq(wb_send_record_spent(W.live, "p0"), 1);
    W.storage->process_local = 0;
    ck_assert_int_eq(wb_send_record_spent(W.live, "p0"), 0);
}
END_TEST

/* A send answered on the context's last pass: its outcome record and
 * its receipt record wait for the next pass, which never comes; freeing
 * the context writes them (the storage outlives it). */
START_TEST(test_records_of_the_last_pass_are_written_when_the_context_ends)
{
    wabot_message *m = tu_text("SMin1", TO, "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(W.live, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(W.live, "default", TO, "bye",
                                     WABOT_CAT_NOTICE, "last1", NULL),
                     WABOT_OK);
    for (int i = 0; i < 10 && counter("outbound.sent") == 0; i++)
        ck_assert_int_ge(wabot_ctx_on_timeout(W.live), 0);
    ck_assert_int_eq(counter("outbound.sent"), 1);
    char *v = stored("send:last1");
    ck_assert_msg(v && strstr(v, "\"state\":\"sending\""),
                  "before the next pass the record still says sending: %s",
                  v ? v : "(absent)");
    free(v);
    wabot_ctx_free(W.live);
    W.live = NULL;
    v = stored("send:last1");
    ck_assert_msg(v && strstr(v, "\"state\":\"sent\""), "after free: %s",
                  v ? v : "(absent)");
    free(v);
    wabot_delivery *r = receipt_of("last1");
    ck_assert_msg(r != NULL, "the receipt record was not written at free");
    wabot_delivery_free(r);
}
END_TEST


static Suite *reconcile_suite(void)
{
    Suite *s = suite_create("reconcile");
    TCase *t = tcase_create("unknown_outcomes");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_a_send_whose_receipt_arrived_is_not_sent_again);
    tcase_add_test(t,
                   test_an_attempt_that_lost_its_lease_before_leaving_does_not_send);
    tcase_add_test(t, test_a_meta_receipt_echoing_the_send_reconciles_it);
    tcase_add_test(t, test_a_receipt_within_the_grace_period_prevents_the_resend);
    tcase_add_test(t, test_without_a_receipt_it_is_sent_again_after_the_grace_period);
    tcase_add_test(t, test_a_receipt_for_another_send_does_not_count);
    tcase_add_test(t, test_a_failed_attempt_is_retried_without_reconciling);
    tcase_add_test(t, test_categories_option_is_checked);
    suite_add_tcase(s, t);
    TCase *to = tcase_create("timeouts");
    tcase_add_checked_fixture(to, setup, teardown);
    tcase_add_test(to, test_a_timed_out_send_whose_receipt_comes_is_not_sent_again);
    tcase_add_test(to, test_a_timed_out_send_without_receipt_is_sent_again_once_after_grace);
    tcase_add_test(to, test_a_send_that_always_times_out_fails_after_its_attempts);
    suite_add_tcase(s, to);
    TCase *last = tcase_create("timeout_on_the_last_attempt");
    tcase_add_checked_fixture(last, setup_one_attempt, teardown);
    tcase_add_test(last, test_a_timeout_on_the_last_attempt_completes_when_its_receipt_comes);
    tcase_add_test(last, test_a_timeout_on_the_last_attempt_without_receipt_fails_unsent);
    suite_add_tcase(s, last);
    TCase *b = tcase_create("batched_records");
    tcase_add_checked_fixture(b, setup, teardown);
    tcase_add_test(b, test_every_send_of_a_pass_gets_its_record_and_receipt);
    tcase_add_test(b, test_a_completed_send_leaves_no_record_on_a_local_store);
    tcase_add_test(b, test_a_send_record_is_spent_only_once_its_job_completed);
    tcase_add_test(b, test_records_of_the_last_pass_are_written_when_the_context_ends);
    suite_add_tcase(s, b);

    TCase *a = tcase_create("at_most_once");
    tcase_add_checked_fixture(a, setup_at_most_once, teardown);
    tcase_add_test(a, test_at_most_once_category_is_not_sent_again_without_a_receipt);
    tcase_add_test(a, test_at_most_once_leaves_other_categories_at_least_once);
    suite_add_tcase(s, a);
    return s;
}


int main(void)
{
    return tu_run_suite(reconcile_suite());
}
