/* The context's job runtime: workers, the active jobs, the loop state.
 * Private; owned by lib/jobs/workers.c and lib/loop/loop.c. */
#ifndef WB_RUNTIME_H
#define WB_RUNTIME_H

#include <pthread.h>

#include "ctx.h"
#include "wabot/jobs.h"
#include "wabot/loop.h"
#include "wabot/metrics.h"
#include "metrics.h"

#define WB_NO_DEADLINE INT64_MAX

typedef struct wb_retention {
    int64_t completed_n, completed_ms, failed_n, failed_ms;
} wb_retention;

/* A queue the context knows: the library's five, plus any with a worker
 * or retention settings. */
typedef struct wb_queue {
    char *name;
    wabot_job_fn fn; /* NULL: no worker in this context */
    void *ud;
    wabot_destroy_fn destroy;
    int concurrency;
    int active; /* jobs of this queue running here (loop thread) */
    wb_retention keep;
    unsigned finished_since_trim;
    /* Batched backends (Redis): the queue's next due time as the last
     * poll saw it, lowered by every enqueue, retry and throttle of this
     * process since, so computing the deadline costs no round trip
     * (WB_DUE_UNKNOWN: ask the backend). `lowered` collects lowerings
     * made while a poll is under way. Atomics: enqueues come from any
     * thread. See wb_jobs_deadline. */
    int64_t due_ms;
    int64_t lowered;
    /* Batched backends: when this process last polled the queue (loop
     * thread only); a queue not due is polled again after job_poll_ms
     * (another process's jobs), not on every dispatch. */
    int64_t polled_ms;
    /* wabot_job_duration_seconds{queue=name}, resolved on first use */
    wabot_metric_series *duration;
    /* Atomic: jobs leased at commit for this queue (wb_jobs_intake_*) and
     * not started yet, the room taken for them included; at most
     * `concurrency`; intake_ready those of them in the runtime's list. */
    int intake_n;
    int intake_ready;
} wb_queue;

#define WB_DUE_UNKNOWN INT64_MIN

struct wabot_job {
    wabot_ctx *ctx;
    wb_queue *q;
    wabot_job_info *info;
    const wabot_job_record *rec; /* borrowed from info */
    char *error;
    int permanent;
    int64_t retry_in_ms; /* < 0: not set */
    int finished;        /* wabot_job_finish() was called */
    int finish_status;
    int returned;        /* the worker function returned */
    int64_t lease_until;
    int settle_pending;  /* the outcome is known but not recorded yet */
    int settle_status;
    int64_t settle_at;   /* when to try recording it again */
    int complete_deferred; /* completed: recorded with the next batch */
    wb_stopwatch started;  /* reserved: its processing time from here */
    /* Leased at commit, a reply to the turn's customer: when the turn's
     * inbound message was sent (wb_outjob.inbound_ms), so the delivery
     * knows the 24-hour window open without reading the profile; 0 for
     * any other job. */
    int64_t inbound_ms;
    void *user;          /* built-in workers' per-job data */
    void (*user_free)(void *user);
    struct wabot_job *prev, *next;
};

/* Called on the loop thread when a watched fd is ready. */
typedef void (*wb_fd_fn)(void *ud, int fd, unsigned events);

typedef struct wb_watch {
    int fd;
    unsigned events;
    wb_fd_fn fn; /* NULL for the wake-up fd */
    void *ud;
} wb_watch;

/* A component with its own deadline (the curl client): deadline() returns
 * the absolute time it needs fire() called, or WB_NO_DEADLINE. Both run on
 * the loop thread. */
typedef struct wb_source {
    int64_t (*deadline)(void *ud);
    void (*fire)(void *ud);
    void *ud;
    /* 1: housekeeping (the outbox sweep) that runs when the loop runs
     * anyway: fired when due, but its deadline neither arms the host's
     * timer nor keeps wabot_ctx_run_until_idle() from returning. */
    int background;
} wb_source;

#define WB_MAX_SOURCES 16

/* Work another thread hands to the loop thread (the threaded curl
 * client's finished transfers): fn(ud) runs on the loop thread, in the
 * dispatch pass of a loop function. The node belongs to the poster and
 * stays queued at most once: posting it again while it waits does
 * nothing, so a poster that batches behind one node costs one wake-up
 * per burst. */
typedef struct wb_post {
    void (*fn)(void *ud);
    void *ud;
    struct wb_post *next; /* the runtime's post_lock */
    int queued;           /* the runtime's post_lock */
} wb_post;

typedef struct wb_runtime {
    wabot_scheduler *sched;
    int own_sched;
    int sched_exact; /* the backend is private to this process: its
                        next_due is the whole truth (no polling needed) */
    wb_queue *queues;
    size_t n_queues, cap_queues;
    wabot_job *active; /* doubly linked, loop thread only */
    size_t n_active;
    /* Loop thread only: while set (a batched dispatch starts the jobs it
     * reserved on this queue), its jobs that complete are recorded
     * together afterwards. */
    wb_queue *defer_completes;
    size_t n_deferred;
    /* loop */
    wabot_loop_hooks hooks;
    int has_hooks;
    int wake_fd;                /* eventfd */
    wb_watch *watches;          /* fds the library asked to watch */
    size_t n_watches, cap_watches;
    wb_source sources[WB_MAX_SOURCES];
    size_t n_sources;
    /* Work of ctx in flight outside the jobs (the HTTP client's calls),
     * which keeps wabot_ctx_run_until_idle() waiting; NULL: none. Set by
     * the module that owns that work (lib/http), so the loop knows it by
     * no name. */
    size_t (*in_flight)(wabot_ctx *ctx);
    /* Posted work (wb_loop_post), FIFO; n_posted is read without the
     * lock to skip it when empty. */
    pthread_mutex_t post_lock;
    wb_post *posted, *posted_tail;
    size_t n_posted; /* atomic */
    pthread_mutex_t lock;       /* guards armed_at and notified_due */
    int64_t armed_at;           /* absolute deadline armed, or NO_DEADLINE;
                                   -1 while a pass runs (nothing armed) */
    int64_t notified_due;       /* the earliest due time of the
                                   notifications that woke nothing since
                                   the last re-arm began: its deadline may
                                   miss those jobs (wb_loop_rearm) */
    int in_loop;                /* loop thread only */
    /* Jobs leased at commit by other threads, FIFO, started by the loop's
     * next dispatch (wb_jobs_intake_push). */
    pthread_mutex_t intake_lock;
    struct wb_intake *intake, *intake_tail;
    size_t n_intake; /* atomic: the list's length */
    uint64_t rng;               /* atomic: wb_random()'s counter */
    /* options */
    int64_t lease_ms;
    int64_t max_stalls;
    int64_t poll_ms;
} wb_runtime;

int wb_runtime_init(wabot_ctx *ctx, const wabot_loop_hooks *hooks,
                    wabot_scheduler *sched);
void wb_runtime_free(wabot_ctx *ctx);

/* Jobs (lib/jobs/workers.c). */
/* The library's queues, created with the runtime; freed with it (running
 * their workers' destroy callbacks). */
int wb_jobs_init_queues(wabot_ctx *ctx);
void wb_jobs_free_queues(wabot_ctx *ctx);
wb_queue *wb_queue_find(wabot_ctx *ctx, const char *name);
/* Jobs leased at commit (the turn fast path, lib/pipeline/outbox.c): a
 * turn's job due now, on a queue with a worker here, can be enqueued
 * reserved by this process and started from memory, without a reserve.
 * Any thread. wb_jobs_intake_room takes room for one on `queue` (at most
 * its concurrency waiting) and gives the lease's end: 1, or 0 when the
 * job is to be enqueued for any worker (no batched backend, no worker,
 * not due, no room, or jobs for any worker due on the queue already).
 * Each room taken is given back by exactly one of
 * wb_jobs_intake_cancel (not leased after all) and wb_jobs_intake_push
 * (leased: rec is the job as the commit left it, copied; the loop is
 * woken and starts it in its next dispatch, or leaves it to stall
 * recovery if its lease ran out first; inbound_ms becomes the started
 * job's, see struct wabot_job). */
int wb_jobs_intake_room(wabot_ctx *ctx, const char *queue, int64_t run_at_ms,
                        int64_t now_ms, int64_t *lease_until);
void wb_jobs_intake_cancel(wabot_ctx *ctx, const char *queue);
void wb_jobs_intake_push(wabot_ctx *ctx, const char *queue,
                         const wabot_job_record *rec, int64_t inbound_ms);
/* Forget the jobs not started (wb_runtime_free: their leases expire). */
void wb_jobs_intake_free(wabot_ctx *ctx);
/* Start every job that is due and fits its queue's concurrency, recover
 * stalled jobs, renew leases. Returns jobs started or a negative status. */
int wb_jobs_dispatch(wabot_ctx *ctx);
/* Earliest absolute time the runtime needs to run again; WB_NO_DEADLINE. */
int64_t wb_jobs_deadline(wabot_ctx *ctx);
/* 64 random bits from the context's generator (ids, jitter). */
uint64_t wb_random(wabot_ctx *ctx);
/* Retry delay for the attempt-th failure of a job with this record. */
int64_t wb_backoff_delay(wabot_ctx *ctx, const wabot_job_record *rec,
                         int attempt);

/* Loop (lib/loop/loop.c). */
/* Watch fd for events (WABOT_POLL_IN|OUT) and call fn when it is ready;
 * events 0 stops watching. Loop thread (or setup). */
int wb_loop_watch(wabot_ctx *ctx, int fd, unsigned events, wb_fd_fn fn,
                  void *ud);
/* Add a deadline source (kept until the context is freed). */
int wb_loop_add_source(wabot_ctx *ctx, const wb_source *src);
/* Earliest deadline of the sources; WB_NO_DEADLINE. */
int64_t wb_sources_deadline(wabot_ctx *ctx);
/* Re-arm the host timer (loop thread) at wb_jobs_deadline(). */
void wb_loop_rearm(wabot_ctx *ctx);
/* Called by any thread after making work due at `due_ms`: wakes the loop
 * when that is earlier than the armed timer. */
void wb_loop_notify(wabot_ctx *ctx, int64_t due_ms);
/* After a job was put on `queue` other than through wabot_job_enqueue()
 * (the turn fast path's commit): count it and wake the loop as
 * wabot_job_enqueue() does. */
void wb_job_enqueued(wabot_ctx *ctx, const char *queue, int64_t run_at_ms);
/* Queue p for the loop thread (any thread): p->fn(p->ud) runs in the
 * next dispatch pass; the loop is woken (its wake-up fd) when the queue
 * was empty. Nothing happens if p is already queued. */
void wb_loop_post(wabot_ctx *ctx, wb_post *p);
/* Take p out of the queue if it is there (any thread): its fn will not
 * run for that post. For an owner about to free p. */
void wb_loop_unpost(wabot_ctx *ctx, wb_post *p);
/* Run what was posted so far (loop thread; the dispatch pass does it).
 * Returns how many posts ran. */
size_t wb_loop_run_posted(wabot_ctx *ctx);
/* 1 if this thread is inside a loop function of ctx. */
int wb_loop_active(const wabot_ctx *ctx);

#endif
