/* A send in flight when its wabot-server is killed (issue 19, item 1),
 * over real HTTP: a wabot-server on a real Redis sends a reply through
 * the Twilio API of the fake provider, which takes the message at once
 * but holds its answer; the server is killed (SIGKILL) before the answer
 * comes, and another server takes over the job when its lease expires.
 *
 * With status callbacks on, the fake provider's callback (echoing the
 * send's correlation on the StatusCallback URL) reached the first server
 * before the kill: the reply is not sent again. With them off, the outcome
 * is unknown: it is sent again after the grace period (at-least-once) and
 * the unknown outcome is logged.
 *
 *   test_crash_reconcile <path of wabot-server> */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "crash_main.h"
#include "fake_provider.h"
#include "http_client.h"
#include "redis_harness.h"
#include "server_proc.h"

#define BUSINESS "+14155238886"

static crash_env crash;
static server_proc first, second;

static void start(server_proc *p, int port, int receipts)
{
    char redis_var[40], base_var[200], listen_var[64], cb_var[160];
    snprintf(redis_var, sizeof redis_var, "REDIS_PORT=%d", crash.redis.port);
    snprintf(base_var, sizeof base_var, "TWILIO_API_BASE=%s",
             fp_base_url(crash.fp));
    snprintf(listen_var, sizeof listen_var, "WABOT_LISTEN=127.0.0.1:%d",
             port);
    snprintf(cb_var, sizeof cb_var,
             "TWILIO_STATUS_CALLBACK_URL=http://127.0.0.1:%d/whatsapp/webhook",
             port);
    const char *env[] = {listen_var, "WABOT_BOT=echo",
                         "WABOT_LOG_LEVEL=info", "REDIS_HOST=127.0.0.1",
                         redis_var, "WABOT_PROVIDER=twilio",
                         "TWILIO_ACCOUNT_SID=" FP_DEFAULT_TWILIO_SID,
                         "TWILIO_AUTH_TOKEN=" FP_DEFAULT_TWILIO_TOKEN,
                         "TWILIO_WHATSAPP_FROM=" BUSINESS, base_var,
                         "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         "WABOT_DEDUP_LEASE_MS=1s",
                         /* a dead process's jobs wait for their lease */
                         "WABOT_JOB_LEASE_MS=1s",
                         "WABOT_SEND_RECONCILE_GRACE_MS=1s",
                         receipts ? cb_var : NULL, NULL};
    ck_assert_msg(sp_start(p, crash.server_path, env, 10000) == 0,
                  "wabot-server did not start");
}

static long post(const server_proc *p, const char *sid, const char *from)
{
    char *form = NULL;
    char wa[40], url[128];
    snprintf(wa, sizeof wa, "whatsapp:%s", from);
    http_form_add(&form, "MessageSid", sid);
    http_form_add(&form, "From", wa);
    http_form_add(&form, "To", "whatsapp:" BUSINESS);
    http_form_add(&form, "Body", "hello");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/whatsapp/webhook",
             p->port);
    http_client *c = http_client_new();
    http_result r;
    long status = http_request(c, "POST", url,
                               "application/x-www-form-urlencoded", form,
                               strlen(form), HTTP_BODY_LENGTH, &r) == 0
                      ? r.status
                      : 0;
    http_result_free(&r);
    http_client_free(c);
    free(form);
    return status;
}

/* The first server sends the reply to `to`; the provider takes it but
 * holds the answer; the server dies. Then the second server starts. */
static void send_and_kill(const char *sid, const char *to, int receipts,
                          size_t callbacks_before)
{
    fp_fault hold = {.kind = FP_FAULT_DELAY, .delay_ms = 60000};
    ck_assert_int_eq(fp_fault_push(crash.fp, FP_TWILIO, &hold, 1), 0);
    start(&first, sp_free_port(), receipts);
    ck_assert_int_eq(post(&first, sid, to), 200);
    for (int i = 0; i < 1000 && fp_count_to(crash.fp, to) == 0; i++)
        sp_sleep_ms(10);
    ck_assert_uint_eq(fp_count_to(crash.fp, to), 1);
    if (receipts) /* the callback reached the first server before it died */
        for (int i = 0; i < 1000 &&
                        fp_status_callbacks_sent(crash.fp) == callbacks_before;
             i++)
            sp_sleep_ms(10);
    int st = 0;
    ck_assert_int_eq(sp_stop(&first, SIGKILL, 10000, &st), 0);
    start(&second, sp_free_port(), receipts);
}

START_TEST(test_a_send_in_flight_at_a_kill_whose_receipt_came_is_not_sent_again)
{
    size_t before = fp_status_callbacks_sent(crash.fp);
    send_and_kill("SMcrash000000000000000000000000001", "+14155550101", 1,
                  before);
    ck_assert_uint_gt(fp_status_callbacks_sent(crash.fp), before);
    ck_assert_msg(sp_wait_lines(&second, SP_STDERR,
                                "a receipt shows the provider took it", 1,
                                30000),
                  "the second server did not reconcile the send");
    ck_assert_uint_eq(sp_count_lines(&second, SP_STDERR, "outcome unknown"),
                      1);
    sp_sleep_ms(1500); /* a resend, if any, would show now */
    ck_assert_uint_eq(fp_count_to(crash.fp, "+14155550101"), 1);
    sp_free(&first);
    sp_free(&second);
}
END_TEST

START_TEST(test_without_receipts_a_send_in_flight_at_a_kill_is_sent_again_once)
{
    send_and_kill("SMcrash000000000000000000000000002", "+14155550102", 0, 0);
    ck_assert_msg(sp_wait_lines(&second, SP_STDERR,
                                "sent again (at-least-once)", 1, 30000),
                  "the second server did not resend");
    ck_assert_uint_eq(sp_count_lines(&second, SP_STDERR, "outcome unknown"),
                      1);
    for (int i = 0; i < 1000 && fp_count_to(crash.fp, "+14155550102") < 2; i++)
        sp_sleep_ms(10);
    sp_sleep_ms(1500);
    ck_assert_uint_eq(fp_count_to(crash.fp, "+14155550102"), 2);
    sp_free(&first);
    sp_free(&second);
}
END_TEST

int main(int argc, char **argv)
{
    fp_config cfg = {.send_status_callbacks = 1};
    Suite *su = suite_create("crash-reconcile");
    TCase *tc = tcase_create("kill");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc,
        test_a_send_in_flight_at_a_kill_whose_receipt_came_is_not_sent_again);
    tcase_add_test(tc,
        test_without_receipts_a_send_in_flight_at_a_kill_is_sent_again_once);
    suite_add_tcase(su, tc);
    return crash_main(argc, argv, &crash, &cfg, su);
}
