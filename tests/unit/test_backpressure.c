/* The outbound backlog bound (lib/delivery/backlog.c, issue 12): a webhook
 * carrying messages while the outbound queue holds outbound_backlog_max
 * replies is answered 503 with Retry-After and nothing of it is handled,
 * so the provider's redelivery loses nothing and duplicates nothing. */
#include <check.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wabot.h>

#include "backlog.h" /* wb_backlog_size (lib/internal) */
#include "flaky_scheduler.h"
#include "testutil.h"

#define FLOOD 50
#define BOUND 10

static int echo(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, wabot_message_text(wabot_turn_message(t)));
}

/* policy < 0: the default policy and wait. */
static void env_with_bound(tu_env *e, int64_t bound, int policy,
                           int64_t wait_ms)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0),
                     WABOT_OK);
    /* Sends are not paced here: the fake clock stands still while the
     * queue drains, and pacing is not the subject. */
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 0),
                     WABOT_OK);
    ck_assert_int_eq(
        wabot_options_set_int(o, WABOT_OPT_OUTBOUND_BACKLOG_MAX, bound),
        WABOT_OK);
    if (policy >= 0) {
        ck_assert_int_eq(wabot_options_set_int(
                             o, WABOT_OPT_OUTBOUND_BACKLOG_POLICY, policy),
                         WABOT_OK);
        ck_assert_int_eq(wabot_options_set_int(
                             o, WABOT_OPT_OUTBOUND_BACKLOG_WAIT_MS, wait_ms),
                         WABOT_OK);
    }
    tu_env_init_opts(e, o);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_route_fallback(e->ctx, NULL, echo, NULL, NULL),
                     WABOT_OK);
}

/* POST message i (customer i, text "m<i>"); the answer's status. When it
 * is 503, Retry-After must say when to come back. */
static int post(wabot_ctx *ctx, int i)
{
    char body[256];
    snprintf(body, sizeof body,
             "MessageSid=SM%032x&From=whatsapp%%3A%%2B1415555%04d"
             "&To=whatsapp%%3A%%2B14155238886&Body=m%d",
             (unsigned)i, i, i);
    wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(ctx, "POST", "/whatsapp/webhook", h, 1,
                                       body, strlen(body), &r),
                     WABOT_OK);
    int status = wabot_http_response_status(r);
    if (status == 503) {
        int has_retry_after = 0;
        for (size_t k = 0; k < wabot_http_response_header_count(r); k++)
            has_retry_after |= strcmp(wabot_http_response_header_name(r, k),
                                      "Retry-After") == 0;
        ck_assert_msg(has_retry_after, "503 without Retry-After");
    }
    wabot_http_response_free(r);
    return status;
}

START_TEST(test_flood_past_backlog_bound_delivers_every_accepted_reply_once)
{
    tu_env e;
    env_with_bound(&e, BOUND, WABOT_BACKLOG_REJECT, 0);
    int accepted[FLOOD] = {0};
    int pending = FLOOD, rounds = 0;
    int64_t refused = 0;
    /* The provider: deliver everything not yet accepted, then let the
     * loop send; redeliver what got 503, until all is accepted. */
    while (pending > 0) {
        int taken = 0;
        for (int i = 0; i < FLOOD; i++) {
            if (accepted[i])
                continue;
            int status = post(e.ctx, i);
            ck_assert_msg(status == 200 || status == 503, "status %d",
                          status);
            if (status == 200) {
                accepted[i] = 1;
                taken++;
            } else {
                refused++;
            }
        }
        /* One reply per message: exactly BOUND fit while nothing drains. */
        ck_assert_int_eq(taken, pending < BOUND ? pending : BOUND);
        pending -= taken;
        tu_drain(e.ctx);
        ck_assert_int_lt(++rounds, FLOOD);
    }
    ck_assert_int_eq(rounds, FLOOD / BOUND);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), FLOOD);
    int seen[FLOOD] = {0};
    for (size_t k = 0; k < FLOOD; k++) {
        const char *text =
            wabot_outbound_text(wabot_recorder_get(e.rec, k));
        int i = atoi(text + 1);
        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, FLOOD);
        ck_assert_int_eq(seen[i]++, 0); /* exactly once */
    }
    ck_assert_int_eq(
        wabot_metrics_counter(e.ctx, "webhook.rejected.overloaded"), refused);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.duplicates"), 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_backlog_bound_zero_admits_everything)
{
    tu_env e;
    env_with_bound(&e, 0, WABOT_BACKLOG_REJECT, 0);
    for (int i = 0; i < FLOOD; i++)
        ck_assert_int_eq(post(e.ctx, i), 200);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), FLOOD);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_status_callbacks_pass_while_backlog_is_full)
{
    tu_env e;
    env_with_bound(&e, 1, WABOT_BACKLOG_REJECT, 0);
    ck_assert_int_eq(post(e.ctx, 1), 200);
    ck_assert_int_eq(post(e.ctx, 2), 503);
    const char *body = "MessageSid=SM00000000000000000000000000000abc"
                       "&MessageStatus=delivered&To=whatsapp%3A%2B14155550001"
                       "&From=whatsapp%3A%2B14155238886";
    wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(e.ctx, "POST", "/whatsapp/webhook", h, 1,
                                       body, strlen(body), &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    wabot_http_response_free(r);
    tu_env_free(&e);
}
END_TEST

/* Policy "wait" holds the webhook (real time, 10 ms here: the bound is
 * about the host's threads) and answers 503 when nothing drained. */
START_TEST(test_wait_policy_answers_503_when_backlog_stays_full)
{
    tu_env e;
    env_with_bound(&e, 1, WABOT_BACKLOG_WAIT, 10);
    ck_assert_int_eq(post(e.ctx, 1), 200);
    ck_assert_int_eq(post(e.ctx, 2), 503);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.backlog_waits"),
                     1);
    tu_drain(e.ctx);
    ck_assert_int_eq(post(e.ctx, 2), 200);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    tu_env_free(&e);
}
END_TEST

/* The default policy, "wait": a webhook that finds the backlog full is
 * held on its HTTP thread while the loop thread drains the queue, then
 * handled (200), not refused -- Twilio redelivers a refused webhook only
 * when told to. */
typedef struct poster {
    wabot_ctx *ctx;
    int status;
} poster;

static void *post_second(void *arg)
{
    poster *p = arg;
    p->status = post(p->ctx, 2);
    return NULL;
}

START_TEST(test_default_policy_holds_the_webhook_until_the_loop_drains)
{
    tu_env e;
    env_with_bound(&e, 1, -1, 0);
    ck_assert_int_eq(post(e.ctx, 1), 200); /* the backlog is now full */
    poster p = {e.ctx, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_second, &p), 0);
    /* Wait (real time, generous) until the second webhook is held. */
    for (int i = 0; i < 10000 &&
                    wabot_metrics_counter(e.ctx, "outbound.backlog_waits") == 0;
         i++) {
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.backlog_waits"),
                     1);
    tu_drain(e.ctx); /* the reply to the first leaves: room */
    pthread_join(th, NULL);
    ck_assert_int_eq(p.status, 200);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    ck_assert_int_eq(
        wabot_metrics_counter(e.ctx, "webhook.rejected.overloaded"), 0);
    tu_env_free(&e);
}
END_TEST

static int64_t policy_of(const wabot_options *o)
{
    int64_t v = -1;
    ck_assert_int_eq(
        wabot_options_get_int(o, WABOT_OPT_OUTBOUND_BACKLOG_POLICY, &v),
        WABOT_OK);
    return v;
}

START_TEST(test_backlog_policy_is_set_by_name)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(policy_of(o), WABOT_BACKLOG_WAIT); /* the default */
    ck_assert_int_eq(wabot_options_set(o, "outbound_backlog_policy", "reject"),
                     WABOT_OK);
    ck_assert_int_eq(policy_of(o), WABOT_BACKLOG_REJECT);
    ck_assert_int_eq(wabot_options_set(o, "outbound_backlog_policy", "wait"),
                     WABOT_OK);
    ck_assert_int_eq(policy_of(o), WABOT_BACKLOG_WAIT);
    ck_assert_int_ne(wabot_options_set(o, "outbound_backlog_policy", "drop"),
                     WABOT_OK);
    wabot_options_free(o);
}
END_TEST

/* With a scheduler other processes share (Redis), the backlog's count
 * is a round trip: its answer is reused for a while, and when it is stale
 * one thread asks again while the others keep the last answer instead of
 * all asking at once (they used to: ~6.5 counts per refresh under load),
 * however long the answer takes. Here the count is held on its way until
 * the other threads are done (under valgrind that is well past the 20 ms
 * an answer is reused for). */
typedef struct held {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int asked, open;
} held;

static void hold_counts(flaky *f, const char *queue)
{
    held *h = f->ud;
    if (strcmp(queue, WABOT_QUEUE_OUTBOUND) != 0)
        return;
    pthread_mutex_lock(&h->mu);
    h->asked++;
    pthread_cond_broadcast(&h->cv);
    while (!h->open)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

typedef struct sizer {
    wabot_ctx *ctx;
    int64_t size;
} sizer;

static void *size_of_backlog(void *arg)
{
    sizer *z = arg;
    z->size = wb_backlog_size(z->ctx);
    return NULL;
}

START_TEST(test_one_thread_at_a_time_asks_a_shared_scheduler_the_backlog)
{
    held h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    flaky fl;
    memset(&fl, 0, sizeof fl);
    fl.inner = wabot_scheduler_memory_new();
    fl.before_counts = hold_counts;
    fl.ud = &h;
    wabot_scheduler *sched = wabot_scheduler_new(&flaky_vt, &fl);
    ck_assert_ptr_nonnull(sched);
    for (int i = 0; i < 3; i++) { /* three replies waiting */
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        wabot_job_record r;
        memset(&r, 0, sizeof r);
        r.version = WABOT_JOB_RECORD_VERSION;
        r.id = id;
        r.payload = "{}";
        r.payload_len = 2;
        r.max_attempts = 1;
        ck_assert_int_eq(wabot_scheduler_enqueue(fl.inner,
                                                 WABOT_QUEUE_OUTBOUND, &r, 1),
                         WABOT_OK);
    }
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_scheduler(o, sched), WABOT_OK);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);

    enum { OTHERS = 7 };
    sizer first = {ctx, -2}, others[OTHERS];
    pthread_t t0, t[OTHERS];
    ck_assert_int_eq(pthread_create(&t0, NULL, size_of_backlog, &first), 0);
    pthread_mutex_lock(&h.mu);
    while (h.asked == 0)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    /* the first thread's count is on its way: the others do not ask */
    for (int i = 0; i < OTHERS; i++) {
        others[i] = (sizer){ctx, -2};
        ck_assert_int_eq(
            pthread_create(&t[i], NULL, size_of_backlog, &others[i]), 0);
    }
    for (int i = 0; i < OTHERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(others[i].size, 0); /* no answer yet: admits */
    }
    pthread_mutex_lock(&h.mu);
    ck_assert_int_eq(h.asked, 1);
    h.open = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(t0, NULL);
    ck_assert_int_eq(first.size, 3);
    /* stale again (the answer is reused for 20 ms): asked once more */
    struct timespec pause = {0, 60 * 1000000L};
    nanosleep(&pause, NULL);
    ck_assert_int_eq(wb_backlog_size(ctx), 3);
    ck_assert_int_eq(h.asked, 2);
    wabot_ctx_free(ctx);
    wabot_scheduler_free(sched);
    wabot_scheduler_free(fl.inner);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("backpressure");
    TCase *tc = tcase_create("backlog");
    tcase_add_test(tc,
                   test_flood_past_backlog_bound_delivers_every_accepted_reply_once);
    tcase_add_test(tc,
                   test_default_policy_holds_the_webhook_until_the_loop_drains);
    tcase_add_test(tc, test_backlog_bound_zero_admits_everything);
    tcase_add_test(tc, test_status_callbacks_pass_while_backlog_is_full);
    tcase_add_test(tc, test_wait_policy_answers_503_when_backlog_stays_full);
    tcase_add_test(tc, test_backlog_policy_is_set_by_name);
    tcase_add_test(tc,
                   test_one_thread_at_a_time_asks_a_shared_scheduler_the_backlog);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
