/* The provider transports over real HTTP (the context's libcurl client,
 * driven by its loop) against the fake provider on loopback. The
 * library's time is a fake clock, moved only while no request is in
 * flight, so a minute-long outage takes a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_provider.h"
#include "testutil.h"

#define ORG "acme"
#define NUMBER "+14155238886"

typedef struct world {
    fp_server *fp;
    tu_env e;
    wabot_transport *meta, *twilio;
} world;

static int reply_ok(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "Thanks, we got your message.");
}

static void world_init(world *w, wabot_options *o, int use_twilio)
{
    w->fp = fp_start(NULL);
    ck_assert_ptr_nonnull(w->fp);
    wabot_meta_config mc;
    wabot_meta_config_init(&mc);
    mc.access_token = FP_DEFAULT_META_TOKEN;
    mc.phone_number_id = "106540352242922";
    mc.base_url = fp_base_url(w->fp);
    mc.timeout_ms = 2000;
    w->meta = wabot_transport_meta_new(&mc);
    wabot_twilio_config tc;
    wabot_twilio_config_init(&tc);
    tc.account_sid = FP_DEFAULT_TWILIO_SID;
    tc.auth_token = FP_DEFAULT_TWILIO_TOKEN;
    tc.from = NUMBER;
    tc.base_url = fp_base_url(w->fp);
    tc.timeout_ms = 2000;
    /* Carries each send's correlation (?wabot_send=<id>); nothing listens
     * there: a test that wants the callback delivers it itself. */
    tc.status_callback_url = "http://127.0.0.1:9/whatsapp/webhook";
    w->twilio = wabot_transport_twilio_new(&tc);
    ck_assert_ptr_nonnull(w->meta);
    ck_assert_ptr_nonnull(w->twilio);
    tu_env_init_opts(&w->e, o);
    ck_assert_int_eq(wabot_ctx_add_sender(w->e.ctx, ORG, NUMBER,
                                          use_twilio ? w->twilio : w->meta),
                     WABOT_OK);
    wabot_route_fallback(w->e.ctx, NULL, reply_ok, NULL, NULL);
}

static void world_free(world *w)
{
    tu_env_free(&w->e);
    wabot_transport_free(w->meta);
    wabot_transport_free(w->twilio);
    fp_stop(w->fp);
}

static int64_t outbound(world *w, wabot_job_state s)
{
    int64_t n[WABOT_JOB_STATE_COUNT];
    ck_assert_int_eq(wabot_queue_counts(w->e.ctx, WABOT_QUEUE_OUTBOUND, n,
                                        WABOT_JOB_STATE_COUNT), WABOT_OK);
    return n[s];
}

/* Run the loop in real time until nothing is in flight and nothing is due
 * on the fake clock. */
static void settle(world *w)
{
    for (int i = 0; i < 20000; i++) {
        wabot_ctx_poll(w->e.ctx, 5);
        if (outbound(w, WABOT_JOB_ACTIVE) == 0 &&
            wabot_ctx_next_timeout_ms(w->e.ctx) != 0)
            return;
    }
    ck_abort_msg("the loop did not settle");
}

/* Move the fake clock by `ms` in steps no larger than `step`, settling the
 * loop after each step. */
static void run_for(world *w, int64_t ms, int64_t step)
{
    for (int64_t done = 0; done < ms; done += step) {
        settle(w);
        tu_clock_advance(&w->e.clock, step);
    }
    settle(w);
}

static void customers_write(world *w, int n, int first)
{
    for (int i = first; i < first + n; i++) {
        char id[40], from[24];
        snprintf(id, sizeof id, "wamid.in%06d", i);
        snprintf(from, sizeof from, "+1415555%04d", i);
        wabot_message *m = wabot_message_new(id, from, NUMBER);
        wabot_message_set_text(m, "hello");
        ck_assert_int_eq(wabot_ctx_handle_message(w->e.ctx, m), WABOT_OK);
        wabot_message_free(m);
    }
}

START_TEST(test_outage_of_a_minute_loses_and_duplicates_nothing)
{
    world w;
    wabot_options *o = wabot_options_new();
    world_init(&w, o, 0);
    wabot_options_free(o);
    fp_set_down(w.fp, FP_META, 1);
    customers_write(&w, 1000, 0); /* 1000 replies queued */
    run_for(&w, 60000, 250);      /* a minute of outage */
    size_t during = fp_request_count(w.fp);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_FAILED), 0);
    ck_assert_int_gt(wabot_metrics_counter(w.e.ctx, "outbound.circuit_open"), 0);
    fp_set_down(w.fp, FP_META, 0);
    run_for(&w, 120000, 250);     /* recovery: probes, close, drain at 80/s */
    printf("outage: %zu requests while down, %lld circuit-open delays, "
           "%zu sends after\n", during,
           (long long)wabot_metrics_counter(w.e.ctx, "outbound.circuit_open"),
           fp_count_sent(w.fp));
    ck_assert_msg(during < 100, "the breaker let %zu requests through", during);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_COMPLETED), 1000);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_FAILED), 0);
    ck_assert_uint_eq(fp_count_sent(w.fp), 1000);
    for (int i = 0; i < 1000; i++) {
        char to[24];
        snprintf(to, sizeof to, "+1415555%04d", i);
        ck_assert_msg(fp_count_to(w.fp, to) == 1, "%s got %zu", to,
                      fp_count_to(w.fp, to));
    }
    world_free(&w);
}
END_TEST

START_TEST(test_sends_from_one_number_respect_its_rate)
{
    world w;
    wabot_options *o = wabot_options_new();
    world_init(&w, o, 1);
    wabot_options_free(o);
    customers_write(&w, 1000, 0);
    size_t per_second[20] = {0}, last = 0;
    for (int sec = 0; sec < 20; sec++) {
        run_for(&w, 1000, 50);
        size_t now = fp_count_sent(w.fp);
        per_second[sec] = now - last;
        last = now;
    }
    /* 80 per second with a burst of 8; each window here spans both of
     * its ends (1001 ms), so one more send may fall into it. */
    for (int sec = 0; sec < 20; sec++)
        ck_assert_msg(per_second[sec] <= 80 + 8 + 1, "second %d: %zu sends",
                      sec, per_second[sec]);
    ck_assert_uint_ge(per_second[5], 79); /* and the rate is really used */
    ck_assert_uint_eq(fp_count_sent(w.fp), 1000);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_FAILED), 0);
    world_free(&w);
}
END_TEST

START_TEST(test_sends_to_one_recipient_respect_the_pair_limit)
{
    world w;
    wabot_options *o = wabot_options_new();
    world_init(&w, o, 0);
    wabot_options_free(o);
    customers_write(&w, 1, 0);
    settle(&w);
    ck_assert_uint_eq(fp_count_sent(w.fp), 1);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(wabot_send_text(w.e.ctx, ORG, "+14155550000", "update",
                                         WABOT_CAT_NOTICE, NULL, NULL), WABOT_OK);
    run_for(&w, 200, 25); /* past the sender limit's own spacing */
    ck_assert_uint_eq(fp_count_sent(w.fp), 11); /* 1 + a burst of 10 */
    for (int i = 0; i < 10; i++) {
        run_for(&w, 6000, 500);
        ck_assert_uint_eq(fp_count_sent(w.fp), 12 + (size_t)i);
    }
    ck_assert_int_eq(outbound(&w, WABOT_JOB_FAILED), 0);
    world_free(&w);
}
END_TEST

START_TEST(test_timeouts_and_retry_after_over_real_http)
{
    world w;
    wabot_options *o = wabot_options_new();
    world_init(&w, o, 1);
    wabot_options_free(o);
    fp_fault hang = {.kind = FP_FAULT_HANG};
    fp_fault slow_down = {.kind = FP_FAULT_RATE_LIMIT, .retry_after_s = 9};
    ck_assert_int_eq(fp_fault_push(w.fp, FP_TWILIO, &hang, 1), 0);
    ck_assert_int_eq(fp_fault_push(w.fp, FP_TWILIO, &slow_down, 1), 0);
    customers_write(&w, 1, 0);
    settle(&w); /* hangs until curl's 2 s timeout: a retryable failure */
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "jobs.outbound.retried"), 1);
    /* The provider may have it: no resend before the reconcile grace
     * period (5 s) has passed without a receipt; then the retry meets the
     * 429. */
    run_for(&w, 4500, 100);
    ck_assert_uint_eq(fp_request_count(w.fp), 1);
    run_for(&w, 1000, 100);
    ck_assert_uint_eq(fp_request_count(w.fp), 2);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "outbound.throttled"), 1);
    ck_assert_int_ge(wabot_ctx_next_timeout_ms(w.e.ctx), 8000);
    run_for(&w, 9000, 500);
    ck_assert_uint_eq(fp_count_sent(w.fp), 1);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_COMPLETED), 1);
    world_free(&w);
}
END_TEST

/* ---- Timed-out sends (issue 19): reconciled before any retry ---- */

#define GRACE_MS 5000

/* A Twilio world whose first send the provider takes at once but answers
 * only after the 2 s transport timeout (FP_FAULT_DELAY): the send times
 * out though the message was sent. The reply is queued and its request
 * times out before this returns. */
static void send_that_times_out(world *w, const char *at_most_once)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(
                         o, WABOT_OPT_SEND_RECONCILE_GRACE_MS, GRACE_MS),
                     WABOT_OK);
    if (at_most_once)
        ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_SEND_AT_MOST_ONCE,
                                               at_most_once), WABOT_OK);
    world_init(w, o, 1);
    wabot_options_free(o);
    fp_fault stall = {.kind = FP_FAULT_DELAY, .delay_ms = 4000};
    ck_assert_int_eq(fp_fault_push(w->fp, FP_TWILIO, &stall, 1), 0);
    customers_write(w, 1, 0);
    settle(w); /* until curl gives up after 2 s */
    ck_assert_uint_eq(fp_count_sent(w->fp), 1); /* the provider has it */
    ck_assert_int_eq(wabot_metrics_counter(w->e.ctx, "sends.timed_out"), 1);
    ck_assert_int_eq(wabot_metrics_counter(w->e.ctx, "sends.unknown_outcome"),
                     1);
}

/* The status callback Twilio posts for the first recorded send, to the
 * StatusCallback URL that send carried (path and query, so its
 * correlation comes back), delivered to the context. */
static void deliver_status_callback(world *w, const char *status)
{
    fp_request r;
    ck_assert_int_eq(fp_request_get(w->fp, 0, &r), 0);
    const char *url = fp_request_form(&r, "StatusCallback", 0);
    ck_assert_ptr_nonnull(url);
    ck_assert_ptr_nonnull(strstr(url, "?wabot_send="));
    ck_assert_ptr_nonnull(r.message_id);
    const char *path = strstr(url, "/whatsapp/");
    ck_assert_ptr_nonnull(path);
    char form[512];
    snprintf(form, sizeof form,
             "MessageSid=%s&AccountSid=%s&From=whatsapp%%3A%%2B14155238886"
             "&To=whatsapp%%3A%%2B14155550000&MessageStatus=%s",
             r.message_id, FP_DEFAULT_TWILIO_SID, status);
    wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    wabot_http_response *resp = NULL;
    ck_assert_int_eq(wabot_http_handle(w->e.ctx, "POST", path, h, 1, form,
                                       strlen(form), &resp), WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(resp), 200);
    wabot_http_response_free(resp);
    fp_request_free(&r);
}

START_TEST(test_timed_out_send_whose_callback_comes_is_not_sent_again)
{
    world w;
    send_that_times_out(&w, NULL);
    run_for(&w, GRACE_MS / 2, 250); /* the retry waits for a receipt */
    ck_assert_uint_eq(fp_request_count(w.fp), 1);
    deliver_status_callback(&w, "sent");
    run_for(&w, GRACE_MS, 250);
    ck_assert_uint_eq(fp_request_count(w.fp), 1);
    ck_assert_uint_eq(fp_count_sent(w.fp), 1);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_COMPLETED), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx,
                                           "sends.reconciled_by_receipt"), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.unknown_resent"), 0);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.unknown_outcome"),
                     1);
    world_free(&w);
}
END_TEST

START_TEST(test_timed_out_send_without_callback_is_retried_once_after_grace)
{
    world w;
    send_that_times_out(&w, NULL);
    run_for(&w, GRACE_MS - 500, 250);
    ck_assert_uint_eq(fp_request_count(w.fp), 1); /* not before the grace */
    run_for(&w, 60000, 1000);
    ck_assert_uint_eq(fp_request_count(w.fp), 2); /* once, not more */
    ck_assert_uint_eq(fp_count_sent(w.fp), 2);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_COMPLETED), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.unknown_resent"), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.unknown_outcome"),
                     1);
    world_free(&w);
}
END_TEST

START_TEST(test_timed_out_send_without_callback_at_most_once_is_failed)
{
    world w;
    send_that_times_out(&w, "reply");
    run_for(&w, 60000, 1000);
    ck_assert_uint_eq(fp_request_count(w.fp), 1);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_FAILED), 1);
    ck_assert_int_eq(outbound(&w, WABOT_JOB_COMPLETED), 0);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx,
                                           "sends.unknown_not_resent"), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "outbound.failed"), 1);
    world_free(&w);
}
END_TEST

/* The provider closes the connection after reading the request, without
 * an answer (a reset, an empty reply): it may have acted on it, so this
 * is an unknown outcome like a timeout, reconciled before any retry --
 * not a plain failure sent again at once. */
START_TEST(test_connection_lost_after_the_request_is_reconciled_not_resent)
{
    world w;
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(
                         o, WABOT_OPT_SEND_RECONCILE_GRACE_MS, GRACE_MS),
                     WABOT_OK);
    world_init(&w, o, 1);
    wabot_options_free(o);
    fp_fault drop = {.kind = FP_FAULT_DROP};
    ck_assert_int_eq(fp_fault_push(w.fp, FP_TWILIO, &drop, 1), 0);
    customers_write(&w, 1, 0);
    settle(&w);
    ck_assert_uint_eq(fp_request_count(w.fp), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.timed_out"), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.unknown_outcome"),
                     1);
    run_for(&w, GRACE_MS - 500, 250);
    ck_assert_uint_eq(fp_request_count(w.fp), 1); /* not before the grace */
    run_for(&w, 60000, 1000);
    ck_assert_uint_eq(fp_request_count(w.fp), 2); /* once, not more */
    ck_assert_int_eq(outbound(&w, WABOT_JOB_COMPLETED), 1);
    ck_assert_int_eq(wabot_metrics_counter(w.e.ctx, "sends.unknown_resent"), 1);
    world_free(&w);
}
END_TEST

static Suite *providers_suite(void)
{
    Suite *s = suite_create("providers-http");
    TCase *tc = tcase_create("scenarios");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_outage_of_a_minute_loses_and_duplicates_nothing);
    tcase_add_test(tc, test_sends_from_one_number_respect_its_rate);
    tcase_add_test(tc, test_sends_to_one_recipient_respect_the_pair_limit);
    tcase_add_test(tc, test_timeouts_and_retry_after_over_real_http);
    suite_add_tcase(s, tc);
    TCase *to = tcase_create("timed_out_sends");
    tcase_set_timeout(to, 120);
    tcase_add_test(to, test_timed_out_send_whose_callback_comes_is_not_sent_again);
    tcase_add_test(to, test_timed_out_send_without_callback_is_retried_once_after_grace);
    tcase_add_test(to, test_connection_lost_after_the_request_is_reconciled_not_resent);
    tcase_add_test(to, test_timed_out_send_without_callback_at_most_once_is_failed);
    suite_add_tcase(s, to);
    return s;
}

int main(void)
{
    return tu_run_suite(providers_suite());
}
