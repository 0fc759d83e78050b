/* The turn outbox across a crash (issue 11): a wabot-server on a real
 * Redis kills itself (SIGKILL) at each point between the end of a turn and
 * the end of its webhook -- before the commit, after it, after the relay,
 * after the dedup completion -- and is restarted; the webhook is
 * redelivered, as a provider does when it got no answer. Every time the
 * reply reaches the (fake) provider exactly once and the conversation was
 * saved exactly once: the counter bot answers "count <n>: ..." and the next
 * message must say count 2.
 *
 *   test_redis_outbox_crash <path of wabot-server> */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <check.h>

#include "crash_main.h"
#include "fake_provider.h"
#include "http_client.h"
#include "redis_harness.h"
#include "server_proc.h"

static crash_env crash;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Servers live outside the test's stack: a failed assertion (no fork)
 * leaves the test early, and their reader threads must not outlive them. */
static server_proc dying, again;

/* Start a server on the shared Redis and the fake provider (Twilio API),
 * with WABOT_FAILPOINT=failpoint when not NULL. The dying server's sends
 * go nowhere (a closed port): what it queued must be sent by the next
 * one, and a send in flight at the kill (a known, separate problem: the
 * library cannot know whether the provider took it) cannot blur what this
 * test counts. */
static void start(server_proc *p, const char *failpoint)
{
    char port_var[40], base_var[200], fp_var[80];
    snprintf(port_var, sizeof port_var, "REDIS_PORT=%d", crash.redis.port);
    snprintf(base_var, sizeof base_var, "TWILIO_API_BASE=%s",
             failpoint ? "http://127.0.0.1:9" : fp_base_url(crash.fp));
    snprintf(fp_var, sizeof fp_var, "WABOT_FAILPOINT=%s",
             failpoint ? failpoint : "");
    const char *env[] = {"WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=counter",
                         "WABOT_LOG_LEVEL=error", "REDIS_HOST=127.0.0.1",
                         port_var, "WABOT_PROVIDER=twilio",
                         "TWILIO_ACCOUNT_SID=" FP_DEFAULT_TWILIO_SID,
                         "TWILIO_AUTH_TOKEN=" FP_DEFAULT_TWILIO_TOKEN,
                         "TWILIO_WHATSAPP_FROM=+14155238886", base_var,
                         "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         /* a dead process's claim blocks redeliveries until
                          * it expires: keep it short here */
                         "WABOT_DEDUP_LEASE_MS=1s",
                         "WABOT_OUTBOX_GRACE_MS=1s",
                         /* and a dead process's jobs wait for their lease */
                         "WABOT_JOB_LEASE_MS=2s",
                         fp_var, NULL};
    ck_assert_msg(sp_start(p, crash.server_path, env, 10000) == 0,
                  "wabot-server did not start");
}

/* POST a Twilio webhook; the HTTP status, or 0 when no answer came (the
 * server died). */
static long post(const server_proc *p, const char *sid, const char *from,
                 const char *text)
{
    char *form = NULL;
    http_form_add(&form, "MessageSid", sid);
    char wa[40];
    snprintf(wa, sizeof wa, "whatsapp:%s", from);
    http_form_add(&form, "From", wa);
    http_form_add(&form, "To", "whatsapp:+14155238886");
    http_form_add(&form, "Body", text);
    char url[128];
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

/* Redeliver until answered 200 (503 while a claim is held). */
static void redeliver(const server_proc *p, const char *sid, const char *from,
                      const char *text)
{
    for (int i = 0; i < 100; i++) {
        long status = post(p, sid, from, text);
        if (status == 200)
            return;
        ck_assert_msg(status == 503, "redelivery answered %ld", status);
        sleep_ms(200);
    }
    ck_abort_msg("redelivery of %s never answered 200", sid);
}

/* The texts the fake provider received for `to`, joined with '|'. */
static void bodies_to(const char *to, char *out, size_t n)
{
    out[0] = '\0';
    char want[40];
    snprintf(want, sizeof want, "whatsapp:%s", to);
    for (size_t i = 0; i < fp_request_count(crash.fp); i++) {
        fp_request req;
        if (fp_request_get(crash.fp, i, &req) != 0)
            continue;
        const char *dest = fp_request_form(&req, "To", 0);
        const char *body = fp_request_form(&req, "Body", 0);
        if (dest && body && strcmp(dest, want) == 0) {
            size_t len = strlen(out);
            snprintf(out + len, n - len, "%s%s", len ? "|" : "", body);
        }
        fp_request_free(&req);
    }
}

/* Occurrences of `body` among the parts of a '|'-joined list. */
static int count_of(const char *list, const char *body)
{
    int n = 0;
    size_t len = strlen(body);
    for (const char *p = list; *p;) {
        size_t part = strcspn(p, "|");
        n += part == len && strncmp(p, body, len) == 0;
        p += part;
        if (*p == '|')
            p++;
    }
    return n;
}

/* Wait until `to` got exactly `a` and `b` once each (in any order: a
 * reply held by a dead process's lease goes out after later ones). */
static void wait_bodies(const char *to, const char *a, const char *b)
{
    char got[1024] = "";
    for (int i = 0; i < 300; i++) {
        bodies_to(to, got, sizeof got);
        if (count_of(got, a) >= 1 && count_of(got, b) >= 1)
            break;
        sleep_ms(50);
    }
    sleep_ms(1500); /* a late duplicate would show now */
    bodies_to(to, got, sizeof got);
    int parts = got[0] ? 1 : 0;
    for (const char *p = got; *p; p++)
        parts += *p == '|';
    ck_assert_msg(count_of(got, a) == 1 && count_of(got, b) == 1 &&
                      parts == 2,
                  "sent to %s: \"%s\"", to, got);
}

static const char *const points[] = {
    "outbox.before_commit", "outbox.after_commit", "outbox.after_relay",
    "turn.after_done"};

START_TEST(test_a_crash_at_each_point_sends_once_and_saves_once)
{
    const char *point = points[_i];
    char from[24], sid1[40], sid2[40];
    snprintf(from, sizeof from, "+1415555%04d", 100 + _i);
    snprintf(sid1, sizeof sid1, "SM%030d01", _i);
    snprintf(sid2, sizeof sid2, "SM%030d02", _i);

    start(&dying, point);
    /* The process dies at the failpoint: no answer. */
    ck_assert_int_eq(post(&dying, sid1, from, "first"), 0);
    int st = -1;
    ck_assert_int_eq(sp_wait_exit(&dying, 10000, &st), 0);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "%s: the server did not die by SIGKILL", point);
    sp_free(&dying);

    start(&again, NULL);
    redeliver(&again, sid1, from, "first");
    /* A 503 (Retry-After) while the restarted server settles is what a
     * provider redelivers; only 200 or 503 are acceptable answers. */
    redeliver(&again, sid2, from, "second");
    wait_bodies(from, "count 1: first", "count 2: second");
    st = -1;
    ck_assert_int_eq(sp_stop(&again, SIGTERM, 15000, &st), 0);
    sp_free(&again);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *su = suite_create("redis-outbox-crash");
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_a_crash_at_each_point_sends_once_and_saves_once,
                        0, (int)(sizeof points / sizeof points[0]));
    suite_add_tcase(su, tc);
    return crash_main(argc, argv, &crash, NULL, su);
}
