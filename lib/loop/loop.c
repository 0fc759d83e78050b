/* Host loop integration: one wake-up fd, one timer, poll(2) for hosts
 * without a loop.
 *
 * The timer is always armed at wb_jobs_deadline(): the earliest of due
 * jobs, lease renewals, stall recoveries (and, later, transport timeouts).
 * Other threads that make work due earlier write to the wake-up eventfd;
 * the loop thread then re-arms. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "json_alloc.h"
#include "metrics.h"
#include "runtime.h"
#include "siphash.h"
#include "versioned.h"

/* wabot_loop_hooks as each version laid it out. */
static const size_t loop_hooks_sizes[] = {sizeof(wabot_loop_hooks)};


static void remove_watch(wabot_ctx *ctx, size_t i)
{
    wb_runtime *rt = ctx->rt;
    if (rt->has_hooks)
        rt->hooks.watch_fd(rt->watches[i].fd, 0, rt->hooks.ud);
    rt->watches[i] = rt->watches[--rt->n_watches];
}

int wb_loop_watch(wabot_ctx *ctx, int fd, unsigned events, wb_fd_fn fn,
                  void *ud)
{
    wb_runtime *rt = ctx->rt;
    size_t i = 0;
    while (i < rt->n_watches && rt->watches[i].fd != fd)
        i++;
    if (events == 0) {
        if (i < rt->n_watches)
            remove_watch(ctx, i);
        return WABOT_OK;
    }
    if (i == rt->n_watches) {
        if (rt->n_watches == rt->cap_watches) {
            size_t cap = rt->cap_watches ? rt->cap_watches * 2 : 4;
            wb_watch *w = wb_realloc(&ctx->alloc, rt->watches, cap * sizeof *w);
            if (!w)
                return WABOT_ERR_NOMEM;
            rt->watches = w;
            rt->cap_watches = cap;
        }
        rt->n_watches++;
    } else if (rt->watches[i].events == events) {
        rt->watches[i].fn = fn;
        rt->watches[i].ud = ud;
        return WABOT_OK; /* nothing changes for the host */
    }
    rt->watches[i] = (wb_watch){fd, events, fn, ud};
    if (rt->has_hooks && rt->hooks.watch_fd(fd, events, rt->hooks.ud) < 0)
        wb_log(ctx, WABOT_LOG_ERROR, "loop", "host refused to watch fd %d",
               fd);
    return WABOT_OK;
}

static int add_watch(wabot_ctx *ctx, int fd, unsigned events)
{
    return wb_loop_watch(ctx, fd, events, NULL, NULL);
}

int wb_loop_add_source(wabot_ctx *ctx, const wb_source *src)
{
    wb_runtime *rt = ctx->rt;
    if (rt->n_sources == WB_MAX_SOURCES)
        return WABOT_ERR_NOMEM;
    rt->sources[rt->n_sources++] = *src;
    return WABOT_OK;
}

int64_t wb_sources_deadline(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    int64_t best = WB_NO_DEADLINE;
    for (size_t i = 0; i < rt->n_sources; i++) {
        if (rt->sources[i].background)
            continue;
        int64_t d = rt->sources[i].deadline(rt->sources[i].ud);
        if (d < best)
            best = d;
    }
    return best;
}

static void fire_sources(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    int64_t now = wb_now(ctx);
    for (size_t i = 0; i < rt->n_sources; i++)
        if (rt->sources[i].deadline(rt->sources[i].ud) <= now)
            rt->sources[i].fire(rt->sources[i].ud);
}

/* The system's entropy (ids from several processes share one Redis),
 * mixed with time and identity in case it is unavailable. */
static uint64_t seed(const wabot_ctx *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t k0 = 0, k1 = 0;
    wb_siphash_key((void *)ctx, &k0, &k1);
    uint64_t s = k0 ^ k1 ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)ctx ^
                 ((uint64_t)getpid() << 16);
    return s ? s : 0x9E3779B97F4A7C15ULL;
}

int wb_runtime_init(wabot_ctx *ctx, const wabot_loop_hooks *hooks,
                    wabot_scheduler *sched)
{
    wb_runtime *rt = wb_calloc(&ctx->alloc, 1, sizeof *rt);
    if (!rt)
        return WABOT_ERR_NOMEM;
    ctx->rt = rt;
    rt->wake_fd = -1;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_mutex_init(&rt->post_lock, NULL);
    pthread_mutex_init(&rt->intake_lock, NULL);
    rt->armed_at = WB_NO_DEADLINE;
    rt->notified_due = WB_NO_DEADLINE;
    rt->rng = seed(ctx);
    rt->lease_ms = ctx->cfg.job_lease_ms;
    rt->max_stalls = ctx->cfg.job_max_stalls;
    rt->poll_ms = ctx->cfg.job_poll_ms;
    if (hooks) {
        rt->hooks = *hooks; /* options already copied it by its version */
        rt->has_hooks = 1;
    }
    rt->sched = sched;
    if (!rt->sched) {
        if (!(rt->sched = wabot_scheduler_memory_new()))
            return WABOT_ERR_NOMEM;
        rt->own_sched = 1;
    }
    rt->sched_exact = strcmp(wabot_scheduler_name(rt->sched), "memory") == 0;
    /* The outbound queue's worker comes with the delivery module. */
    int rc = wb_jobs_init_queues(ctx);
    if (rc != WABOT_OK)
        return rc;
    rt->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt->wake_fd < 0)
        return WABOT_ERR_NOMEM;
    return add_watch(ctx, rt->wake_fd, WABOT_POLL_IN);
}

/* Jobs of a process-local scheduler (the context's own memory one) that
 * never ran die with the context: replies a host forgot to flush. Say so,
 * loudly; a shared scheduler (Redis) keeps them for other processes. */
static void warn_unfinished(wabot_ctx *ctx, wb_runtime *rt)
{
    if (!rt->own_sched)
        return;
    int64_t lost = 0;
    for (size_t i = 0; i < rt->n_queues; i++) {
        int64_t c[WABOT_JOB_STATE_COUNT] = {0};
        if (wabot_scheduler_counts(rt->sched, rt->queues[i].name, c,
                                   WABOT_JOB_STATE_COUNT) != WABOT_OK)
            continue;
        int64_t due = c[WABOT_JOB_WAITING] + c[WABOT_JOB_ACTIVE];
        int64_t later = c[WABOT_JOB_DELAYED];
        if (due > 0)
            wb_log(ctx, WABOT_LOG_WARN, "jobs",
                   "%lld job(s) of queue %s were never run and are lost with "
                   "the context: drive the loop (wabot_ctx_run_until_idle) "
                   "before wabot_ctx_free",
                   (long long)due, rt->queues[i].name);
        /* Due later (a reminder next week): no loop would have run them
         * by now; what loses them is a scheduler kept in memory. */
        if (later > 0)
            wb_log(ctx, WABOT_LOG_WARN, "jobs",
                   "%lld job(s) of queue %s scheduled for later were never "
                   "run and are lost with the context: the memory scheduler "
                   "keeps nothing across a restart (a Redis scheduler does)",
                   (long long)later, rt->queues[i].name);
        lost += due + later;
    }
    if (lost > 0)
        wb_count(ctx, "jobs.lost_at_free", lost);
}

void wb_runtime_free(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    if (!rt)
        return;
    warn_unfinished(ctx, rt);
    /* Jobs still running are abandoned: their leases expire and another
     * worker (or this process, restarted) runs them again. */
    while (rt->active) {
        wabot_job *j = rt->active;
        rt->active = j->next;
        if (j->user_free)
            j->user_free(j->user);
        wabot_job_info_free(j->info);
        wb_free(&ctx->alloc, j->error);
        wb_free(&ctx->alloc, j);
    }
    if (rt->wake_fd >= 0) {
        if (rt->has_hooks)
            rt->hooks.watch_fd(rt->wake_fd, 0, rt->hooks.ud);
        close(rt->wake_fd);
    }
    if (rt->has_hooks)
        rt->hooks.set_timer(-1, rt->hooks.ud);
    wb_jobs_intake_free(ctx);
    wb_jobs_free_queues(ctx);
    if (rt->own_sched)
        wabot_scheduler_free(rt->sched);
    wb_free(&ctx->alloc, rt->watches);
    pthread_mutex_destroy(&rt->lock);
    pthread_mutex_destroy(&rt->post_lock);
    pthread_mutex_destroy(&rt->intake_lock);
    wb_free(&ctx->alloc, rt);
    ctx->rt = NULL;
}

int wabot_options_set_loop(wabot_options *o, const wabot_loop_hooks *hooks)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!hooks) {
        o->has_loop = 0;
        return WABOT_OK;
    }
    if (hooks->version < 1 || !hooks->watch_fd || !hooks->set_timer) {
        return wb_options_error(o, WABOT_ERR_INVAL, "loop hooks need version "
                                ">= 1, watch_fd and set_timer");
    }
    wb_copy_versioned(&o->loop, sizeof o->loop, hooks, hooks->version,
                      loop_hooks_sizes, WB_N_VERSIONS(loop_hooks_sizes));
    o->has_loop = 1;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */

/* The deadline is read from the queues outside the lock (on Redis it may
 * cost a round trip, and webhook threads notify under the lock). A job
 * enqueued after that read and before the deadline is stored may not
 * have woken the loop: nothing was armed (-1: a pass runs), or what was
 * armed is due before the job (a timer this re-arm replaces). Every
 * notify that wakes nothing lowers `notified_due` to its due time, and
 * the re-arm arms no later than that, rather than at a deadline read
 * before the job existed. Reset under the lock before the read: a
 * notification before the reset came after its job was enqueued, so the
 * read sees that job; one after the store sees what is armed now and
 * wakes the loop if its job is due earlier. */
void wb_loop_rearm(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    pthread_mutex_lock(&rt->lock);
    rt->notified_due = WB_NO_DEADLINE;
    pthread_mutex_unlock(&rt->lock);
    int64_t deadline = wb_jobs_deadline(ctx);
    pthread_mutex_lock(&rt->lock);
    if (rt->notified_due < deadline)
        deadline = rt->notified_due;
    int changed = deadline != rt->armed_at;
    rt->armed_at = deadline;
    pthread_mutex_unlock(&rt->lock);
    if (!changed || !rt->has_hooks)
        return;
    int64_t ms = -1;
    if (deadline != WB_NO_DEADLINE) {
        ms = deadline - wb_now(ctx);
        if (ms < 0)
            ms = 0;
    }
    if (rt->hooks.set_timer(ms, rt->hooks.ud) < 0)
        wb_log(ctx, WABOT_LOG_ERROR, "loop", "host refused to arm the timer");
}

/* The context whose loop function is running on this thread, if any:
 * only that thread may skip the wake-up (it re-arms before returning). */
static _Thread_local const wabot_ctx *tls_in_loop;
/* jansson's allocator scope to restore when the loop function returns. */
static _Thread_local const wabot_allocator *tls_json_prev;

/* Write the wake-up eventfd (any thread). */
static void wake_up(wb_runtime *rt)
{
    uint64_t one = 1;
    ssize_t n = write(rt->wake_fd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is already non-zero */
}

void wb_loop_notify(wabot_ctx *ctx, int64_t due_ms)
{
    wb_runtime *rt = ctx->rt;
    if (tls_in_loop == ctx)
        return;
    pthread_mutex_lock(&rt->lock);
    int wake = due_ms < rt->armed_at;
    if (wake)
        rt->armed_at = due_ms; /* one wake-up per earlier deadline */
    else if (due_ms < rt->notified_due)
        rt->notified_due = due_ms; /* for a re-arm under way (above) */
    pthread_mutex_unlock(&rt->lock);
    if (wake)
        wake_up(rt);
}

int wb_loop_active(const wabot_ctx *ctx)
{
    return tls_in_loop == ctx;
}

/* ------------------------------------------------------------------ */
/* Work posted by other threads                                         */

void wb_loop_post(wabot_ctx *ctx, wb_post *p)
{
    wb_runtime *rt = ctx->rt;
    int wake = 0;
    pthread_mutex_lock(&rt->post_lock);
    if (!p->queued) {
        p->queued = 1;
        p->next = NULL;
        if (rt->posted_tail) {
            rt->posted_tail->next = p;
        } else {
            rt->posted = p;
            wake = 1; /* the first of a burst: the rest ride on it */
        }
        rt->posted_tail = p;
        __atomic_add_fetch(&rt->n_posted, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&rt->post_lock);
    /* Always, even from the loop thread: the host's loop must come back
     * for it, and an armed timer says nothing about posts. */
    if (wake)
        wake_up(rt);
}

void wb_loop_unpost(wabot_ctx *ctx, wb_post *p)
{
    wb_runtime *rt = ctx->rt;
    pthread_mutex_lock(&rt->post_lock);
    if (p->queued) {
        wb_post **pp = &rt->posted, *prev = NULL;
        while (*pp && *pp != p) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = p->next;
            if (rt->posted_tail == p)
                rt->posted_tail = prev;
            __atomic_sub_fetch(&rt->n_posted, 1, __ATOMIC_RELEASE);
        }
        p->queued = 0;
        p->next = NULL;
    }
    pthread_mutex_unlock(&rt->post_lock);
}

/* One at a time, the lock released around fn: fn may post again (that
 * waits for the next pass: a poster that never stops cannot hold the
 * loop here) or unpost another node. */
size_t wb_loop_run_posted(wabot_ctx *ctx)
{
    wb_runtime *rt = ctx->rt;
    size_t budget = __atomic_load_n(&rt->n_posted, __ATOMIC_ACQUIRE);
    size_t ran = 0;
    while (ran < budget) {
        pthread_mutex_lock(&rt->post_lock);
        wb_post *p = rt->posted;
        if (!p) {
            pthread_mutex_unlock(&rt->post_lock);
            break;
        }
        rt->posted = p->next;
        if (!rt->posted)
            rt->posted_tail = NULL;
        p->queued = 0;
        p->next = NULL;
        __atomic_sub_fetch(&rt->n_posted, 1, __ATOMIC_RELEASE);
        void (*fn)(void *) = p->fn;
        void *ud = p->ud;
        pthread_mutex_unlock(&rt->post_lock);
        fn(ud);
        ran++;
    }
    /* Posted while this pass ran, behind a node of the pass: that burst's
     * wake-up was drained before the pass. Another pass must come. */
    if (__atomic_load_n(&rt->n_posted, __ATOMIC_ACQUIRE))
        wake_up(rt);
    return ran;
}

static int enter(wabot_ctx *ctx)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (__atomic_exchange_n(&ctx->rt->in_loop, 1, __ATOMIC_ACQ_REL))
        return wb_error(ctx, WABOT_ERR_STATE,
                        "loop functions must not be called from callbacks "
                        "or from two threads at once");
    tls_in_loop = ctx;
    tls_json_prev = wb_json_scope_enter(&ctx->alloc);
    return WABOT_OK;
}

static int leave(wabot_ctx *ctx, int rc)
{
    wb_json_scope_leave(tls_json_prev);
    tls_in_loop = NULL;
    __atomic_store_n(&ctx->rt->in_loop, 0, __ATOMIC_RELEASE);
    wb_loop_rearm(ctx);
    return rc;
}

/* Longest a loop function keeps dispatching while work stays due (on
 * the context's clock), before it returns so the host's loop can serve
 * the sockets (send answers) and call again at once. */
#define RUN_DUE_SLICE_MS 20

/* Run due work until nothing more is due right now (a finished job may
 * free a slot for the next one), or for a slice of time. The sources run
 * on every round: a queue whose next job is always due at once (a
 * campaign's fan-out) must not keep the delivery worker's parked sends,
 * or anything else a source does, waiting. */
static int run_due(wabot_ctx *ctx)
{
    int total = 0;
    int64_t until = wb_now(ctx) + RUN_DUE_SLICE_MS;
    for (;;) {
        /* Completions first: they free the slots the dispatch fills. */
        wb_loop_run_posted(ctx);
        fire_sources(ctx);
        int n = wb_jobs_dispatch(ctx);
        total += n;
        int64_t now = wb_now(ctx);
        if (n == 0 || wb_jobs_deadline(ctx) > now || now >= until)
            return total;
    }
}

/* The host's one-shot timer is spent whenever we get here, even if it
 * fired early (libuv and libevent round their clocks) and nothing is due
 * yet: forget what was armed so leave() always arms it again, as libcurl
 * does for a premature multi_socket timeout. */
static void timer_spent(wb_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    rt->armed_at = -1;
    pthread_mutex_unlock(&rt->lock);
}

static void drain_wake(wb_runtime *rt)
{
    /* One read takes an eventfd's whole count and resets it (a second
     * one only answered EAGAIN: a system call per loop pass). */
    uint64_t v;
    ssize_t r;
    do
        r = read(rt->wake_fd, &v, sizeof v);
    while (r < 0 && errno == EINTR);
    /* A notifier lowered armed_at without arming anything. */
    timer_spent(rt);
}

int wabot_ctx_on_timeout(wabot_ctx *ctx)
{
    int rc = enter(ctx);
    if (rc != WABOT_OK)
        return rc;
    timer_spent(ctx->rt);
    return leave(ctx, run_due(ctx));
}

static int dispatch_fd(wabot_ctx *ctx, int fd, unsigned events)
{
    wb_runtime *rt = ctx->rt;
    for (size_t i = 0; i < rt->n_watches; i++) {
        if (rt->watches[i].fd == fd && rt->watches[i].fn) {
            rt->watches[i].fn(rt->watches[i].ud, fd, events);
            return WABOT_OK;
        }
    }
    return WABOT_ERR_NOT_FOUND;
}

int wabot_ctx_on_fd(wabot_ctx *ctx, int fd, unsigned events)
{
    int rc = enter(ctx);
    if (rc != WABOT_OK)
        return rc;
    wb_runtime *rt = ctx->rt;
    if (fd == rt->wake_fd) {
        drain_wake(rt);
        return leave(ctx, run_due(ctx));
    }
    if (dispatch_fd(ctx, fd, events) != WABOT_OK)
        return leave(ctx, wb_error(ctx, WABOT_ERR_INVAL,
                                   "fd %d is not watched by the library", fd));
    return leave(ctx, run_due(ctx));
}

int64_t wabot_ctx_next_timeout_ms(wabot_ctx *ctx)
{
    if (!ctx)
        return -1;
    if (__atomic_load_n(&ctx->rt->n_posted, __ATOMIC_ACQUIRE))
        return 0; /* posted work waits for the loop */
    int64_t deadline = wb_jobs_deadline(ctx);
    if (deadline == WB_NO_DEADLINE)
        return -1;
    int64_t ms = deadline - wb_now(ctx);
    return ms < 0 ? 0 : ms;
}

#define MAX_POLL_FDS 64

int wabot_ctx_poll(wabot_ctx *ctx, int64_t max_wait_ms)
{
    int rc = enter(ctx);
    if (rc != WABOT_OK)
        return rc;
    wb_runtime *rt = ctx->rt;
    int64_t wait = wabot_ctx_next_timeout_ms(ctx);
    if (max_wait_ms >= 0 && (wait < 0 || wait > max_wait_ms))
        wait = max_wait_ms;
    if (wait > 3600 * 1000)
        wait = 3600 * 1000;
    struct pollfd stack_fds[MAX_POLL_FDS];
    struct pollfd *fds = stack_fds;
    if (rt->n_watches > MAX_POLL_FDS &&
        !(fds = wb_malloc(&ctx->alloc, rt->n_watches * sizeof *fds)))
        return leave(ctx, wb_error(ctx, WABOT_ERR_NOMEM, "out of memory"));
    nfds_t n = 0;
    for (size_t i = 0; i < rt->n_watches; i++) {
        unsigned ev = rt->watches[i].events;
        fds[n].fd = rt->watches[i].fd;
        fds[n].events = (short)((ev & WABOT_POLL_IN ? POLLIN : 0) |
                                (ev & WABOT_POLL_OUT ? POLLOUT : 0));
        fds[n++].revents = 0;
    }
    int ready = poll(fds, n, (int)wait);
    if (ready < 0 && errno != EINTR) {
        if (fds != stack_fds)
            wb_free(&ctx->alloc, fds);
        return leave(ctx, wb_error(ctx, WABOT_ERR_UNSUPPORTED, "poll: %s",
                                   strerror(errno)));
    }
    for (nfds_t i = 0; ready > 0 && i < n; i++) {
        short re = fds[i].revents;
        if (!re)
            continue;
        if (fds[i].fd == rt->wake_fd) {
            drain_wake(rt);
            continue;
        }
        unsigned ev = (re & (POLLIN | POLLHUP | POLLERR) ? WABOT_POLL_IN : 0) |
                      (re & POLLOUT ? WABOT_POLL_OUT : 0);
        dispatch_fd(ctx, fds[i].fd, ev);
    }
    if (fds != stack_fds)
        wb_free(&ctx->alloc, fds);
    return leave(ctx, run_due(ctx));
}

int wabot_ctx_run_until_idle(wabot_ctx *ctx, int64_t deadline_ms)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    int total = 0;
    for (;;) {
        int n = wabot_ctx_on_timeout(ctx);
        if (n < 0)
            return n;
        total += n;
        int64_t next = wabot_ctx_next_timeout_ms(ctx);
        int64_t now = wb_now(ctx);
        if (next == 0)
            continue;
        if (now >= deadline_ms)
            return total;
        int busy = ctx->rt->n_active > 0 ||
                   __atomic_load_n(&ctx->rt->n_intake, __ATOMIC_ACQUIRE) ||
                   (ctx->rt->in_flight && ctx->rt->in_flight(ctx) > 0);
        if (!busy && (next < 0 || now + next > deadline_ms))
            return total;
        int64_t wait = deadline_ms - now;
        if (next >= 0 && next < wait)
            wait = next;
        n = wabot_ctx_poll(ctx, wait);
        if (n < 0)
            return n;
        total += n;
    }
}
