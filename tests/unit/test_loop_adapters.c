/* The header-only loop adapters (wabot/adapters/libuv.h, libevent.h) and
 * wabot_ctx_poll() drive one job scenario the same way.
 *
 * Real time (the system clock): the adapters are about real timers and
 * real file descriptors, so delays are tens of milliseconds and every
 * assertion on time has slack. Each scenario runs three ways: the libuv
 * adapter, the libevent adapter and a plain wabot_ctx_poll() loop. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wabot.h>
#include <wabot/adapters/libevent.h>
#include <wabot/adapters/libuv.h>
#include <wabot/jobs.h>
#include <wabot/loop.h>

#include "testutil.h"

#define QUEUE "test-q"
#define WAKE_QUEUE "test-wake"
#define SAFETY_MS 3000 /* a hung loop fails the test after this */
#define SLACK_MS 5     /* real time moves while we compare */
/* A wake-up must start the job within this: far less than SAFETY_MS, the
 * wait of a loop that was never woken, yet loose enough for valgrind on a
 * loaded CI machine (305 ms seen). */
#define PROMPT_MS 1500
#define MAX_TIMER_LOG 64

typedef enum driver_kind { DRIVE_UV, DRIVE_EVENT, DRIVE_POLL } driver_kind;
static const char *driver_names[] = {"libuv", "libevent", "poll"};

/* The four jobs of the scenario, in due order. */
enum { J_NOW, J_PENDING, J_SOON, J_LATER, N_JOBS };
static const char *job_names[N_JOBS] = {"now", "pending", "soon", "later"};
static const int64_t job_delays[N_JOBS] = {0, 10, 20, 60};
/* Enqueued in this order, so due order differs from enqueue order. */
static const int enqueue_order[N_JOBS] = {J_LATER, J_SOON, J_NOW, J_PENDING};
/* The pending job's helper thread enqueues the job that finishes it after
 * this long: between "soon" (20) and "later" (60), while the loop sleeps. */
#define FINISHER_AFTER_MS 20

typedef struct timer_call {
    int64_t ms;   /* the value set_timer received */
    int64_t next; /* wabot_ctx_next_timeout_ms() at that moment */
    int64_t at;   /* real time of the call, ms since the scenario began */
    int64_t earliest; /* ms to the earliest job not yet started, or -1 */
    /* Real time passes between the library's clock reading behind `ms`
     * and ours behind `next` and `earliest` (18 ms seen under valgrind on
     * a loaded machine): how much, from the clock's own log. */
    int64_t lag_next, lag_earliest;
} timer_call;

typedef struct harness {
    driver_kind kind;
    wabot_ctx *ctx;
    int checking; /* ctx is set and not being freed: hooks may inspect it */
    int64_t t0;
    /* the drivers */
    wabot_loop_hooks inner; /* the adapter's hooks, wrapped below */
    uv_loop_t uv;
    wabot_uv uva;
    uv_timer_t uv_safety;
    struct event_base *base;
    wabot_event eva;
    struct event *ev_safety;
    int stop, timed_out;
    /* what the hooks saw */
    timer_call timers[MAX_TIMER_LOG];
    int n_timers, n_timers_total;
    int wake_fd, wake_fd_watched, wake_fd_unwatched;
    /* the scenario */
    int64_t due[N_JOBS];
    int64_t started[N_JOBS];
    int runs[N_JOBS];
    int order[N_JOBS + 4];
    int n_order;
    int completed; /* jobs of QUEUE done */
    int needed;    /* stop once completed reaches this */
    wabot_job *pending;
    pthread_t helper;
    int helper_started;
    int helper_rc;
    int64_t helper_delay_ms;
    int64_t finisher_enqueued, finisher_started;
    int finisher_runs;
} harness;

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The context's clock: real time, remembering this thread's last reading
 * (the one wb_loop_rearm took just before it called set_timer). */
static _Thread_local int64_t tls_last_clock;

static int64_t logging_clock(void *ud)
{
    (void)ud;
    return tls_last_clock = real_ms();
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- hooks: record, check, then hand to the adapter ---------------- */

/* Milliseconds from now to the earliest job of QUEUE not started yet. */
static int64_t earliest_unstarted(const harness *h, int64_t now)
{
    int64_t best = -1;
    for (int i = 0; i < N_JOBS; i++) {
        if (!h->due[i] || h->runs[i])
            continue;
        int64_t ms = h->due[i] > now ? h->due[i] - now : 0;
        if (best < 0 || ms < best)
            best = ms;
    }
    return best;
}

static int rec_watch_fd(int fd, unsigned events, void *ud)
{
    harness *h = ud;
    if (events) {
        h->wake_fd = fd;
        h->wake_fd_watched++;
    } else if (fd == h->wake_fd) {
        h->wake_fd_unwatched++;
    }
    return h->inner.watch_fd ? h->inner.watch_fd(fd, events, h->inner.ud)
                             : 0;
}

static int rec_set_timer(int64_t ms, void *ud)
{
    harness *h = ud;
    if (h->checking) {
        int64_t lib_read = tls_last_clock; /* behind `ms` */
        int64_t now = wabot_ctx_now_ms(h->ctx);
        int64_t next = wabot_ctx_next_timeout_ms(h->ctx);
        timer_call c = {ms,
                        next,
                        now - h->t0,
                        earliest_unstarted(h, now),
                        tls_last_clock - lib_read,
                        now - lib_read};
        if (h->n_timers < MAX_TIMER_LOG)
            h->timers[h->n_timers++] = c;
        h->n_timers_total++;
    }
    return h->inner.set_timer ? h->inner.set_timer(ms, h->inner.ud) : 0;
}

/* ---- the drivers ---------------------------------------------------- */

static void stop_loop(harness *h)
{
    h->stop = 1;
    if (h->kind == DRIVE_UV)
        uv_stop(&h->uv);
    else if (h->kind == DRIVE_EVENT)
        event_base_loopbreak(h->base);
}

static void uv_safety_fired(uv_timer_t *t)
{
    harness *h = t->data;
    h->timed_out = 1;
    uv_stop(&h->uv);
}

static void ev_safety_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    harness *h = arg;
    h->timed_out = 1;
    event_base_loopbreak(h->base);
}

static void harness_new_ctx(harness *h, wabot_options *opts)
{
    wabot_loop_hooks rec = {WABOT_LOOP_HOOKS_VERSION, rec_watch_fd,
                            rec_set_timer, h};
    if (h->kind == DRIVE_UV) {
        ck_assert_int_eq(uv_loop_init(&h->uv), 0);
        ck_assert_int_eq(wabot_uv_init(&h->uva, &h->uv, &h->inner), WABOT_OK);
    } else if (h->kind == DRIVE_EVENT) {
        ck_assert_ptr_nonnull(h->base = event_base_new());
        ck_assert_int_eq(wabot_event_init(&h->eva, h->base, &h->inner),
                         WABOT_OK);
    }
    /* The plain poll loop gives no hooks at all. */
    if (h->kind != DRIVE_POLL)
        ck_assert_int_eq(wabot_options_set_loop(opts, &rec), WABOT_OK);
    wabot_clock clock = {WABOT_CLOCK_VERSION, logging_clock, NULL};
    ck_assert_int_eq(wabot_options_set_clock(opts, &clock), WABOT_OK);
    int rc = wabot_ctx_new(&h->ctx, opts);
    ck_assert_msg(rc == WABOT_OK, "wabot_ctx_new: %s",
                  wabot_options_errmsg(opts));
    if (h->kind == DRIVE_UV)
        wabot_uv_attach(&h->uva, h->ctx);
    else if (h->kind == DRIVE_EVENT)
        wabot_event_attach(&h->eva, h->ctx);
    h->t0 = wabot_ctx_now_ms(h->ctx);
    h->checking = 1;
}

static void harness_init(harness *h, driver_kind kind)
{
    memset(h, 0, sizeof *h);
    h->kind = kind;
    h->wake_fd = -1;
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    /* Replies are not part of these scenarios; keep the console quiet. */
    wabot_transport *rec = wabot_recorder_new();
    ck_assert_ptr_nonnull(rec);
    ck_assert_int_eq(wabot_options_set_transport(o, rec), WABOT_OK);
    harness_new_ctx(h, o); /* harness_free frees the recorder after it */
    wabot_options_free(o);
}

/* Run until stop_loop() or the safety timeout. */
static void harness_run(harness *h)
{
    if (h->kind == DRIVE_UV) {
        ck_assert_int_eq(uv_timer_init(&h->uv, &h->uv_safety), 0);
        h->uv_safety.data = h;
        uv_timer_start(&h->uv_safety, uv_safety_fired, SAFETY_MS, 0);
        while (!h->stop && !h->timed_out)
            uv_run(&h->uv, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&h->uv_safety, NULL);
    } else if (h->kind == DRIVE_EVENT) {
        h->ev_safety = evtimer_new(h->base, ev_safety_fired, h);
        ck_assert_ptr_nonnull(h->ev_safety);
        struct timeval tv = {SAFETY_MS / 1000, (SAFETY_MS % 1000) * 1000};
        evtimer_add(h->ev_safety, &tv);
        while (!h->stop && !h->timed_out)
            ck_assert_int_ge(event_base_dispatch(h->base), 0);
        event_free(h->ev_safety);
    } else {
        int64_t end = real_ms() + SAFETY_MS;
        while (!h->stop && !(h->timed_out = real_ms() >= end)) {
            int rc = wabot_ctx_poll(h->ctx, 100);
            ck_assert_msg(rc >= 0, "wabot_ctx_poll: %s", wabot_strerror(rc));
        }
    }
}

static void harness_free(harness *h)
{
    if (h->helper_started)
        pthread_join(h->helper, NULL);
    wabot_transport *rec = wabot_ctx_transport(h->ctx);
    h->checking = 0;
    wabot_ctx_free(h->ctx);
    wabot_transport_free(rec);
    if (h->kind == DRIVE_UV) {
        wabot_uv_detach(&h->uva);
        /* Runs the close callbacks; returns at once if nothing is left. */
        ck_assert_int_eq(uv_run(&h->uv, UV_RUN_DEFAULT), 0);
        ck_assert_int_eq(uv_loop_close(&h->uv), 0); /* no handle leaked */
    } else if (h->kind == DRIVE_EVENT) {
        wabot_event_detach(&h->eva);
        ck_assert_int_eq(event_base_get_num_events(h->base,
                                                   EVENT_BASE_COUNT_ADDED),
                         0);
        event_base_free(h->base);
    }
    if (h->kind != DRIVE_POLL) {
        ck_assert_int_ge(h->wake_fd, 0);
        ck_assert_int_eq(h->wake_fd_watched, 1);
        ck_assert_int_eq(h->wake_fd_unwatched, 1);
    }
}

/* ---- workers -------------------------------------------------------- */

static int job_index(const wabot_job *job)
{
    const char *p = wabot_job_payload(job, NULL);
    for (int i = 0; i < N_JOBS; i++)
        if (strcmp(p, job_names[i]) == 0)
            return i;
    return -1;
}

static void job_completed(harness *h)
{
    if (++h->completed >= h->needed)
        stop_loop(h);
}

/* Another thread enqueues the job that finishes the pending one: the loop
 * is asleep until "later", so only the wake-up fd can start it in time. */
static void *finisher_thread(void *arg)
{
    harness *h = arg;
    sleep_ms(h->helper_delay_ms);
    h->finisher_enqueued = real_ms();
    h->helper_rc = wabot_job_enqueue(h->ctx, WAKE_QUEUE, "finish", 6, NULL,
                                     NULL);
    return NULL;
}

static int scenario_worker(wabot_job *job, void *ud)
{
    harness *h = ud;
    int i = job_index(job);
    ck_assert_int_ge(i, 0);
    h->runs[i]++;
    h->started[i] = wabot_ctx_now_ms(h->ctx);
    if (h->n_order < (int)(sizeof h->order / sizeof *h->order))
        h->order[h->n_order++] = i;
    if (i == J_PENDING) {
        h->pending = job;
        h->helper_delay_ms = FINISHER_AFTER_MS;
        ck_assert_int_eq(pthread_create(&h->helper, NULL, finisher_thread, h),
                         0);
        h->helper_started = 1;
        return WABOT_JOB_PENDING;
    }
    job_completed(h);
    return WABOT_OK;
}

static int finisher_worker(wabot_job *job, void *ud)
{
    (void)job;
    harness *h = ud;
    h->finisher_runs++;
    h->finisher_started = real_ms();
    ck_assert_ptr_nonnull(h->pending);
    wabot_job *pending = h->pending;
    h->pending = NULL;
    wabot_job_finish(pending, WABOT_OK); /* settles at once: loop thread */
    job_completed(h);
    return WABOT_OK;
}

/* ---- checks --------------------------------------------------------- */

static void print_timer_log(const harness *h)
{
    printf("%s: %d set_timer calls\n", driver_names[h->kind],
           h->n_timers_total);
    for (int i = 0; i < h->n_timers; i++)
        printf("  t=%3lld set_timer(%lld) next_timeout=%lld "
               "earliest_job_in=%lld\n",
               (long long)h->timers[i].at, (long long)h->timers[i].ms,
               (long long)h->timers[i].next, (long long)h->timers[i].earliest);
}

/* The one timer always stands at the earliest deadline: what the library
 * reports at that moment, and never after a job that has not started. */
static void assert_timer_at_earliest_deadline(const harness *h)
{
    if (h->kind == DRIVE_POLL)
        return; /* no hooks: wabot_ctx_poll reads the deadline itself */
    ck_assert_int_gt(h->n_timers, 0);
    for (int i = 0; i < h->n_timers; i++) {
        const timer_call *c = &h->timers[i];
        /* what `ms` becomes once the real time of our readings passed */
        int64_t want_next = c->ms - c->lag_next;
        ck_assert_msg(c->ms < 0 ? c->next < 0
                                : c->next >= 0 &&
                                      llabs((want_next < 0 ? 0 : want_next) -
                                            c->next) <= SLACK_MS,
                      "%s: set_timer(%lld) at t=%lld, next timeout %lld "
                      "(%lld ms later)",
                      driver_names[h->kind], (long long)c->ms,
                      (long long)c->at, (long long)c->next,
                      (long long)c->lag_next);
        if (c->earliest >= 0)
            ck_assert_msg(c->ms >= 0 &&
                              c->ms - c->lag_earliest <= c->earliest + SLACK_MS,
                          "%s: set_timer(%lld) at t=%lld, a job is due in "
                          "%lld ms",
                          driver_names[h->kind], (long long)c->ms,
                          (long long)c->at, (long long)c->earliest);
    }
}

static void assert_queue_drained(harness *h, const char *queue,
                                 int64_t completed)
{
    int64_t c[WABOT_JOB_STATE_COUNT];
    ck_assert_int_eq(wabot_queue_counts(h->ctx, queue, c,
                                        WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(c[WABOT_JOB_WAITING], 0);
    ck_assert_int_eq(c[WABOT_JOB_DELAYED], 0);
    ck_assert_int_eq(c[WABOT_JOB_ACTIVE], 0);
    ck_assert_int_eq(c[WABOT_JOB_FAILED], 0);
    ck_assert_int_eq(c[WABOT_JOB_COMPLETED], completed);
}

static void enqueue_scenario(harness *h)
{
    for (int k = 0; k < N_JOBS; k++) {
        int i = enqueue_order[k];
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.delay_ms = job_delays[i];
        char *id = NULL;
        ck_assert_int_eq(wabot_job_enqueue(h->ctx, QUEUE, job_names[i],
                                           strlen(job_names[i]), &spec, &id),
                         WABOT_OK);
        wabot_job_info *info = NULL;
        ck_assert_int_eq(wabot_job_get(h->ctx, QUEUE, id, &info), WABOT_OK);
        h->due[i] = wabot_job_info_record(info)->run_at_ms;
        wabot_job_info_free(info);
        wabot_ctx_mem_free(h->ctx, id);
    }
}

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_jobs_run_once_in_due_order_with_the_timer_at_the_earliest_deadline)
{
    harness h;
    harness_init(&h, (driver_kind)_i);
    ck_assert_int_eq(wabot_worker_add(h.ctx, QUEUE, scenario_worker, &h,
                                      NULL, 4),
                     WABOT_OK);
    ck_assert_int_eq(wabot_worker_add(h.ctx, WAKE_QUEUE, finisher_worker, &h,
                                      NULL, 1),
                     WABOT_OK);
    h.needed = N_JOBS;
    enqueue_scenario(&h);

    harness_run(&h);
    print_timer_log(&h);
    ck_assert_msg(!h.timed_out, "%s: the loop hung (%d of %d jobs done)",
                  driver_names[h.kind], h.completed, N_JOBS);

    for (int i = 0; i < N_JOBS; i++) {
        ck_assert_msg(h.runs[i] == 1, "%s: job %s ran %d times",
                      driver_names[h.kind], job_names[i], h.runs[i]);
        ck_assert_msg(h.started[i] >= h.due[i], "%s: job %s started %lld ms "
                      "early", driver_names[h.kind], job_names[i],
                      (long long)(h.due[i] - h.started[i]));
    }
    ck_assert_int_eq(h.n_order, N_JOBS);
    /* Started in due order. The delays make that J_NOW, J_PENDING, J_SOON,
     * J_LATER, unless enqueueing itself took longer than they are apart
     * (valgrind): then the due times decide, as they should. */
    for (int k = 0; k + 1 < N_JOBS; k++)
        ck_assert_msg(h.due[h.order[k]] <= h.due[h.order[k + 1]],
                      "%s: job %s (due %lld) started before job %s (due %lld)",
                      driver_names[h.kind], job_names[h.order[k]],
                      (long long)h.due[h.order[k]], job_names[h.order[k + 1]],
                      (long long)h.due[h.order[k + 1]]);
    ck_assert_int_eq(h.finisher_runs, 1);
    ck_assert_int_eq(h.helper_rc, WABOT_OK);
    /* That the other thread's enqueue wakes the loop promptly is checked by
     * its own test; here the thread may start late (valgrind, a loaded
     * machine), so its timing relative to "later" is not asserted. */
    ck_assert_ptr_null(h.pending);
    assert_queue_drained(&h, QUEUE, N_JOBS);
    assert_queue_drained(&h, WAKE_QUEUE, 1);
    assert_timer_at_earliest_deadline(&h);
    harness_free(&h);
}
END_TEST

static int wake_worker(wabot_job *job, void *ud)
{
    (void)job;
    harness *h = ud;
    h->finisher_runs++;
    h->finisher_started = real_ms();
    job_completed(h);
    return WABOT_OK;
}

START_TEST(test_enqueue_from_another_thread_wakes_a_sleeping_loop)
{
    harness h;
    harness_init(&h, (driver_kind)_i);
    ck_assert_int_eq(wabot_worker_add(h.ctx, WAKE_QUEUE, wake_worker, &h,
                                      NULL, 1),
                     WABOT_OK);
    h.needed = 1;
    /* Nothing is scheduled: the loop sleeps until the wake-up fd. */
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(h.ctx), -1);
    h.helper_delay_ms = 50;
    ck_assert_int_eq(pthread_create(&h.helper, NULL, finisher_thread, &h), 0);
    h.helper_started = 1;
    if (h.kind == DRIVE_POLL) {
        /* A long cap: only the wake-up fd can end this poll in time. */
        int64_t end = real_ms() + SAFETY_MS;
        while (!h.stop && !(h.timed_out = real_ms() >= end))
            ck_assert_int_ge(wabot_ctx_poll(h.ctx, SAFETY_MS), 0);
    } else {
        harness_run(&h);
    }
    ck_assert_msg(!h.timed_out, "%s: never woken", driver_names[h.kind]);
    ck_assert_int_eq(h.helper_rc, WABOT_OK);
    ck_assert_int_eq(h.finisher_runs, 1);
    int64_t latency = h.finisher_started - h.finisher_enqueued;
    printf("%s: enqueue to start %lld ms\n", driver_names[h.kind],
           (long long)latency);
    ck_assert_msg(latency < PROMPT_MS, "%s: woken after %lld ms",
                  driver_names[h.kind], (long long)latency);
    assert_queue_drained(&h, WAKE_QUEUE, 1);
    harness_free(&h);
}
END_TEST

/* The hooks may be called before attach (wabot_ctx_new watches the wake-up
 * fd) and after the context is gone; neither may dispatch anything. */
START_TEST(test_adapters_ignore_events_before_attach_and_after_detach)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    wabot_uv uva;
    wabot_loop_hooks uh;
    ck_assert_int_eq(wabot_uv_init(&uva, &loop, &uh), WABOT_OK);
    ck_assert_int_eq(uh.version, WABOT_LOOP_HOOKS_VERSION);
    ck_assert_ptr_eq(uh.ud, &uva);
    /* Not attached: an expiring timer is dropped. */
    ck_assert_int_eq(uh.set_timer(0, uh.ud), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
    ck_assert_int_eq(uh.set_timer(-1, uh.ud), 0);
    wabot_uv_detach(&uva);
    ck_assert_int_lt(uh.set_timer(5, uh.ud), 0);
    ck_assert_int_lt(uh.watch_fd(0, WABOT_POLL_IN, uh.ud), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);

    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    wabot_event eva;
    wabot_loop_hooks eh;
    ck_assert_int_eq(wabot_event_init(&eva, base, &eh), WABOT_OK);
    ck_assert_int_eq(eh.set_timer(0, eh.ud), 0);
    ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
    wabot_event_detach(&eva);
    ck_assert_int_lt(eh.set_timer(5, eh.ud), 0);
    ck_assert_int_lt(eh.watch_fd(0, WABOT_POLL_IN, eh.ud), 0);
    ck_assert_int_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED),
                     0);
    event_base_free(base);

    ck_assert_int_eq(wabot_uv_init(NULL, &loop, &uh), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_event_init(&eva, NULL, &eh), WABOT_ERR_INVAL);
}
END_TEST

/* ---- what the adapters need from the library ------------------------ */

typedef struct fake_loop {
    int wake_fd;
    int set_timer_calls;
    int64_t last_ms;
} fake_loop;

static int fake_watch_fd(int fd, unsigned events, void *ud)
{
    fake_loop *f = ud;
    if (events)
        f->wake_fd = fd;
    return 0;
}

static int fake_set_timer(int64_t ms, void *ud)
{
    fake_loop *f = ud;
    f->set_timer_calls++;
    f->last_ms = ms;
    return 0;
}

static int count_worker(wabot_job *job, void *ud)
{
    (void)job;
    ++*(int *)ud;
    return WABOT_OK;
}

/* libuv counts time in whole milliseconds of a cached loop time, and a
 * default libevent base reads a coarse clock: their timers may fire a
 * little before the deadline. The one-shot timer is then spent, so the
 * library must arm it again even though its deadline did not change
 * (libcurl's multi_socket clears its "last call" for the same reason). */
START_TEST(test_timer_that_fires_early_is_armed_again)
{
    fake_loop f = {-1, 0, 0};
    wabot_loop_hooks hooks = {WABOT_LOOP_HOOKS_VERSION, fake_watch_fd,
                              fake_set_timer, &f};
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_loop(o, &hooks), WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    int ran = 0;
    ck_assert_int_eq(wabot_worker_add(e.ctx, QUEUE, count_worker, &ran, NULL,
                                      1),
                     WABOT_OK);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.delay_ms = 100;
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, QUEUE, "x", 1, &spec, NULL),
                     WABOT_OK);
    ck_assert_int_ge(f.wake_fd, 0);
    ck_assert_int_ge(wabot_ctx_on_fd(e.ctx, f.wake_fd, WABOT_POLL_IN), 0);
    ck_assert_int_eq(f.last_ms, 100);

    tu_clock_advance(&e.clock, 99); /* the host's timer fires 1 ms early */
    int calls = f.set_timer_calls;
    ck_assert_int_eq(wabot_ctx_on_timeout(e.ctx), 0);
    ck_assert_int_eq(ran, 0);
    ck_assert_msg(f.set_timer_calls > calls,
                  "the timer fired early and was not armed again: the job "
                  "would wait for some other event");
    ck_assert_int_eq(f.last_ms, 1);

    tu_clock_advance(&e.clock, 1);
    ck_assert_int_eq(wabot_ctx_on_timeout(e.ctx), 1);
    ck_assert_int_eq(ran, 1);
    tu_env_free(&e);
}
END_TEST

static Suite *loop_adapters_suite(void)
{
    Suite *s = suite_create("loop-adapters");
    TCase *tc = tcase_create("scenario");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(
        tc, test_jobs_run_once_in_due_order_with_the_timer_at_the_earliest_deadline,
        DRIVE_UV, DRIVE_POLL + 1);
    tcase_add_loop_test(tc,
                        test_enqueue_from_another_thread_wakes_a_sleeping_loop,
                        DRIVE_UV, DRIVE_POLL + 1);
    tcase_add_test(tc,
                   test_adapters_ignore_events_before_attach_and_after_detach);
    suite_add_tcase(s, tc);
    TCase *contract = tcase_create("contract");
    tcase_add_test(contract, test_timer_that_fires_early_is_armed_again);
    suite_add_tcase(s, contract);
    return s;
}

int main(void)
{
    return tu_run_suite(loop_adapters_suite());
}
