/* Work posted to the loop thread by other threads (wb_loop_post): it runs
 * on the loop thread, once per post, in the next dispatch pass, and a
 * burst costs one wake-up. And a job enqueued while the loop re-arms its
 * timer is not left waiting for an unrelated event. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "flaky_scheduler.h"
#include "runtime.h"
#include "testutil.h"

typedef struct counter {
    int runs;
    int on_loop_thread;
    pthread_t loop;
} counter;

static void count(void *ud)
{
    counter *c = ud;
    c->runs++;
    c->on_loop_thread += pthread_equal(pthread_self(), c->loop) != 0;
}

static wabot_ctx *ctx;

static void setup(void)
{
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
}

static void teardown(void)
{
    wabot_ctx_free(ctx);
    ctx = NULL;
}

/* The wake-up fd's counter (and resets it): writes since the last read. */
static uint64_t wakes(void)
{
    uint64_t v = 0;
    if (read(ctx->rt->wake_fd, &v, sizeof v) != sizeof v)
        return 0;
    return v;
}

typedef struct poster {
    wb_post *posts;
    int n;
} poster;

static void *post_all(void *arg)
{
    poster *p = arg;
    for (int i = 0; i < p->n; i++)
        wb_loop_post(ctx, &p->posts[i]);
    return NULL;
}

/* n nodes counting into c, posted by another thread (joined on return). */
static void post_from_a_thread(counter *c, wb_post *posts, int n)
{
    for (int i = 0; i < n; i++)
        posts[i] = (wb_post){count, c, NULL, 0};
    poster p = {posts, n};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_all, &p), 0);
    pthread_join(th, NULL);
}

START_TEST(test_posts_from_another_thread_run_on_the_loop_thread_once_each)
{
    counter c = {.loop = pthread_self()};
    wb_post posts[5];
    post_from_a_thread(&c, posts, 5);
    ck_assert_int_eq(c.runs, 0); /* nothing runs until the loop does */
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(ctx), 0);
    ck_assert_int_ge(wabot_ctx_poll(ctx, 1000), 0);
    ck_assert_int_eq(c.runs, 5);
    ck_assert_int_eq(c.on_loop_thread, 5);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(ctx), -1);
}
END_TEST

START_TEST(test_a_burst_of_posts_wakes_the_loop_once)
{
    counter c = {.loop = pthread_self()};
    wb_post posts[10];
    post_from_a_thread(&c, posts, 10);
    ck_assert_uint_eq(wakes(), 1);
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 10);
    /* Drained: the next burst wakes again. */
    wb_loop_post(ctx, &posts[0]);
    ck_assert_uint_eq(wakes(), 1);
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 1);
    ck_assert_int_eq(c.runs, 11);
}
END_TEST

START_TEST(test_posting_a_queued_node_again_runs_it_once)
{
    counter c = {.loop = pthread_self()};
    wb_post post = {count, &c, NULL, 0};
    wb_loop_post(ctx, &post);
    wb_loop_post(ctx, &post);
    wb_loop_post(ctx, &post);
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 1);
    ck_assert_int_eq(c.runs, 1);
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 0);
}
END_TEST

typedef struct noted {
    int order[4];
    int n;
} noted;

typedef struct tagged {
    noted *log;
    int id;
} tagged;

static void note(void *ud)
{
    tagged *t = ud;
    t->log->order[t->log->n++] = t->id;
}

START_TEST(test_unposted_node_does_not_run_and_the_others_keep_their_order)
{
    noted log = {{0}, 0};
    tagged t[3] = {{&log, 1}, {&log, 2}, {&log, 3}};
    wb_post posts[3];
    for (int i = 0; i < 3; i++) {
        posts[i] = (wb_post){note, &t[i], NULL, 0};
        wb_loop_post(ctx, &posts[i]);
    }
    wb_loop_unpost(ctx, &posts[2]); /* the tail */
    wb_loop_unpost(ctx, &posts[0]); /* the head */
    wb_loop_unpost(ctx, &posts[0]); /* not queued: nothing */
    wb_loop_post(ctx, &posts[0]);   /* queued again, now after 2 */
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 2);
    ck_assert_int_eq(log.n, 2);
    ck_assert_int_eq(log.order[0], 2);
    ck_assert_int_eq(log.order[1], 1);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(ctx), -1);
}
END_TEST

typedef struct reposter {
    wb_post *again;
    int runs;
} reposter;

static void post_again(void *ud)
{
    reposter *r = ud;
    r->runs++;
    if (r->runs == 1)
        wb_loop_post(ctx, r->again);
}

/* A posts C while B still waits: no wake-up from that post (the queue was
 * not empty), and the pass must not leave C behind unannounced. */
START_TEST(test_a_post_made_during_a_pass_behind_its_nodes_wakes_the_loop)
{
    counter c = {.loop = pthread_self()};
    wb_post cpost = {count, &c, NULL, 0};
    reposter r = {&cpost, 0};
    wb_post a = {post_again, &r, NULL, 0}, b = {count, &c, NULL, 0};
    wb_loop_post(ctx, &a);
    wb_loop_post(ctx, &b);
    ck_assert_uint_eq(wakes(), 1);
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 2); /* A and B, not C */
    ck_assert_int_eq(c.runs, 1);
    ck_assert_uint_eq(wakes(), 1); /* C announced */
    ck_assert_uint_eq(wb_loop_run_posted(ctx), 1);
    ck_assert_int_eq(c.runs, 2);
    ck_assert_uint_eq(wakes(), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A job enqueued while the loop re-arms                                */

/* What the host's loop was asked for, as a libuv host would keep it. */
typedef struct host {
    int64_t timer_ms; /* -2: never armed; -1: disarmed */
    int timers;
} host;

static int host_watch(int fd, unsigned events, void *ud)
{
    (void)fd, (void)events, (void)ud;
    return 0;
}

static int host_timer(int64_t ms, void *ud)
{
    host *h = ud;
    h->timer_ms = ms;
    h->timers++;
    return 0;
}

typedef struct rearm_race {
    wabot_ctx *ctx;
    int armed;        /* enqueue at the next next_due() of queue "q" */
    int64_t delay_ms; /* that job's delay */
    int runs;
    flaky fl;
    wabot_scheduler *sched;
    host h;
} rearm_race;

/* After the deadline of "q" was read and before it is used: the job of
 * another thread (a webhook's reply) lands in that gap. */
static void enqueue_behind_the_deadline(flaky *f, const char *queue)
{
    rearm_race *r = f->ud;
    if (!r->armed || strcmp(queue, "q") != 0)
        return;
    r->armed = 0;
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.delay_ms = r->delay_ms;
    ck_assert_int_eq(wabot_job_enqueue(r->ctx, "q", "x", 1, &spec, NULL),
                     WABOT_OK);
}

static int count_job(wabot_job *job, void *ud)
{
    (void)job;
    ((rearm_race *)ud)->runs++;
    return WABOT_OK;
}

/* A context on host hooks (h) and a scheduler whose next_due() runs
 * enqueue_behind_the_deadline, with a worker counting the jobs of "q". */
static void race_start(rearm_race *r)
{
    r->h = (host){-2, 0};
    r->fl.inner = wabot_scheduler_memory_new();
    r->fl.after_next_due = enqueue_behind_the_deadline;
    r->fl.ud = r;
    r->sched = wabot_scheduler_new(&flaky_vt, &r->fl);
    wabot_options *o = wabot_options_new();
    wabot_loop_hooks hooks = {WABOT_LOOP_HOOKS_VERSION, host_watch,
                              host_timer, &r->h};
    ck_assert_int_eq(wabot_options_set_loop(o, &hooks), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_scheduler(o, r->sched), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&r->ctx, o), WABOT_OK);
    wabot_options_free(o);
    ck_assert_int_eq(
        wabot_queue_add_worker(r->ctx, "q", count_job, r, NULL, 1), WABOT_OK);
}

static void race_stop(rearm_race *r)
{
    wabot_ctx_free(r->ctx);
    wabot_scheduler_free(r->sched);
    wabot_scheduler_free(r->fl.inner);
}

/* The host was told to come back now (a timer of 0, or the wake-up fd it
 * watches written), and coming back runs the job, once. Then stop. */
static void come_back_runs_the_job(rearm_race *r)
{
    uint64_t woken = 0;
    ssize_t got = read(r->ctx->rt->wake_fd, &woken, sizeof woken);
    ck_assert_msg(r->h.timer_ms == 0 || (got == sizeof woken && woken > 0),
                  "the job waits: timer %lld ms, wake-up fd %s",
                  (long long)r->h.timer_ms, got > 0 ? "written" : "quiet");
    ck_assert_int_ge(wabot_ctx_on_timeout(r->ctx), 0);
    ck_assert_int_eq(r->runs, 1);
    race_stop(r);
}

/* The loop re-arms at the end of every pass: it reads the queues' next
 * due time, then stores it as armed. A job enqueued between the two by
 * another thread saw the loop "in a pass" (nothing armed) and did not wake
 * it; the timer was then armed for the deadline read before the job. With
 * host hooks (libuv, libevent) the job waited for the next unrelated
 * event or timer: with an idle queue, until the next webhook. */
START_TEST(test_a_job_enqueued_while_the_loop_rearms_is_not_left_waiting)
{
    rearm_race r = {0};
    race_start(&r);
    /* A pass with nothing due; the job arrives as it re-arms. */
    r.armed = 1;
    ck_assert_int_ge(wabot_ctx_on_timeout(r.ctx), 0);
    ck_assert_int_eq(r.armed, 0); /* the job came in that gap */
    ck_assert_int_eq(r.runs, 0);
    come_back_runs_the_job(&r);
}
END_TEST

/* The same gap in a pass that did not start from the timer (a socket's
 * event): what is armed is the deadline of a job already run, due before
 * the new one, so the new job's notify wakes nothing either, and the
 * re-arm replaces that timer with the deadline read before the job. */
START_TEST(test_a_job_enqueued_while_a_stale_timer_is_replaced_is_not_left_waiting)
{
    rearm_race r = {0};
    race_start(&r);
    /* Armed for a moment already past (the job it was for has run). */
    pthread_mutex_lock(&r.ctx->rt->lock);
    r.ctx->rt->armed_at = 1;
    pthread_mutex_unlock(&r.ctx->rt->lock);
    uint64_t drained;
    while (read(r.ctx->rt->wake_fd, &drained, sizeof drained) ==
           sizeof drained)
        ;
    r.armed = 1;
    wb_loop_rearm(r.ctx); /* the end of that pass */
    ck_assert_int_eq(r.armed, 0);
    come_back_runs_the_job(&r);
}
END_TEST

/* A delayed job in that gap (a reminder, a dedup lease's end) moves the
 * timer to its own time, not to now: a pass for it, none before. */
START_TEST(test_a_delayed_job_enqueued_while_the_loop_rearms_sets_the_timer_to_its_time)
{
    rearm_race r = {0};
    race_start(&r);
    r.armed = 1;
    r.delay_ms = 300; /* before the loop's own next deadline (1 s) */
    ck_assert_int_ge(wabot_ctx_on_timeout(r.ctx), 0);
    ck_assert_int_eq(r.armed, 0);
    ck_assert_msg(r.h.timer_ms > 0 && r.h.timer_ms <= 300, /* not at once */
                  "timer %lld ms for a job due in 300 ms",
                  (long long)r.h.timer_ms);
    race_stop(&r);
}
END_TEST

static Suite *post_suite(void)
{
    Suite *s = suite_create("loop_post");
    TCase *tc = tcase_create("post");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_posts_from_another_thread_run_on_the_loop_thread_once_each);
    tcase_add_test(tc, test_a_burst_of_posts_wakes_the_loop_once);
    tcase_add_test(tc, test_posting_a_queued_node_again_runs_it_once);
    tcase_add_test(tc, test_unposted_node_does_not_run_and_the_others_keep_their_order);
    tcase_add_test(tc, test_a_post_made_during_a_pass_behind_its_nodes_wakes_the_loop);
    suite_add_tcase(s, tc);
    TCase *rearm = tcase_create("rearm");
    tcase_add_test(rearm, test_a_job_enqueued_while_the_loop_rearms_is_not_left_waiting);
    tcase_add_test(rearm, test_a_job_enqueued_while_a_stale_timer_is_replaced_is_not_left_waiting);
    tcase_add_test(rearm, test_a_delayed_job_enqueued_while_the_loop_rearms_sets_the_timer_to_its_time);
    suite_add_tcase(s, rearm);
    return s;
}

int main(void)
{
    return tu_run_suite(post_suite());
}
