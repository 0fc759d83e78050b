/*
 * Jobs: every piece of delayed or retried work (sending replies, processing
 * orders, invoices, reminders, campaign fan-out) is a job on a named queue.
 *
 * Semantics (identical for every backend; tests/conformance checks them):
 *  - at-least-once: a worker reserves a job with a lease; a job whose lease
 *    expires is "stalled" and goes back to waiting (or fails after too many
 *    stalls), so a crashed worker loses nothing;
 *  - fencing: each reservation gets a new token; complete/fail/extend/
 *    release with an old token are refused (WABOT_ERR_CONFLICT), so a late
 *    worker cannot finish a job it lost;
 *  - states: waiting -> active -> completed, or -> delayed (retry with
 *    backoff) -> waiting ..., or -> failed (dead letter) once attempts are
 *    spent or the error is permanent;
 *  - job ids deduplicate: enqueueing an id that exists (in any state,
 *    until retention removes it) gives WABOT_ERR_EXISTS;
 *  - order: highest priority first, then earliest run time, then FIFO.
 *
 * Queues used by the library: "outbound" (replies; its worker is built in),
 * "order-processing", "invoice-processing", "reminders", "campaigns" (their
 * workers come with their features; hosts may register their own).
 * Hosts may add any queue. Queue names: 1..64 bytes of [A-Za-z0-9._:-].
 */
#ifndef WABOT_JOBS_H
#define WABOT_JOBS_H

#include "core.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WABOT_QUEUE_OUTBOUND "outbound"
#define WABOT_QUEUE_ORDERS "order-processing"
#define WABOT_QUEUE_INVOICES "invoice-processing"
#define WABOT_QUEUE_REMINDERS "reminders"
#define WABOT_QUEUE_CAMPAIGNS "campaigns"

/** Job states. Append-only; also the index into count arrays. */
typedef enum wabot_job_state {
    WABOT_JOB_WAITING = 0,
    WABOT_JOB_DELAYED = 1,
    WABOT_JOB_ACTIVE = 2,
    WABOT_JOB_COMPLETED = 3,
    WABOT_JOB_FAILED = 4
} wabot_job_state;
/** Number of states known to this header (size of a full counts array). */
#define WABOT_JOB_STATE_COUNT 5
/** Static lower-case name ("waiting", ...; "unknown"). */
WABOT_API const char *wabot_job_state_name(wabot_job_state s);

typedef enum wabot_backoff {
    WABOT_BACKOFF_FIXED = 0,      /**< every retry after backoff_ms */
    WABOT_BACKOFF_EXPONENTIAL = 1 /**< backoff_ms * 2^(attempt-1), capped */
} wabot_backoff;

#define WABOT_JOB_SPEC_VERSION 1
/**
 * How to enqueue a job. Initialise with wabot_job_spec_init() (it sets the
 * version and every default), then change what you need. Strings are
 * borrowed for the duration of the call.
 */
typedef struct wabot_job_spec {
    uint32_t version;       /**< WABOT_JOB_SPEC_VERSION */
    const char *job_id;     /**< NULL: a unique id is generated */
    int64_t run_at_ms;      /**< absolute time; 0: now + delay_ms */
    int64_t delay_ms;       /**< default 0 */
    int32_t max_attempts;   /**< default 5; >= 1 */
    int32_t backoff;        /**< wabot_backoff; default EXPONENTIAL */
    int64_t backoff_ms;     /**< base delay; default 1000 */
    int64_t backoff_max_ms; /**< cap; default 3600000 */
    int32_t jitter_pct;     /**< 0..100: retry delay drawn uniformly from
                                 [d*(100-j)/100, d]; default 20 */
    int32_t priority;       /**< higher runs first; default 0 */
} wabot_job_spec;

/** Fill *spec with the defaults above. */
WABOT_API void wabot_job_spec_init(wabot_job_spec *spec);

/**
 * A job as stored. Backends fill one and hand it to wabot_job_info_set();
 * readers get it from wabot_job_info_record(). `version` says which members
 * exist (this header's: WABOT_JOB_RECORD_VERSION).
 */
#define WABOT_JOB_RECORD_VERSION 1
typedef struct wabot_job_record {
    uint32_t version;
    const char *id;
    const char *payload;    /**< JSON text or any bytes */
    size_t payload_len;
    int32_t state;          /**< wabot_job_state */
    int32_t attempts;       /**< reservations so far (the running one included) */
    int32_t max_attempts;
    int32_t stalls;         /**< times its lease expired */
    uint64_t token;         /**< fencing token of the current/last reservation */
    int64_t created_ms;
    int64_t run_at_ms;      /**< when it is (or was) due */
    int64_t lease_until_ms; /**< while active */
    int64_t finished_ms;    /**< completed/failed time, else 0 */
    int32_t backoff;
    int64_t backoff_ms;
    int64_t backoff_max_ms;
    int32_t jitter_pct;
    int32_t priority;
    const char *last_error; /**< reason of the last failure, or NULL */
} wabot_job_record;

/** A snapshot of one job (owned by whoever created it). */
typedef struct wabot_job_info wabot_job_info;
/** An empty snapshot (libc memory; NULL on out of memory), to pass to
 *  wabot_scheduler_reserve/get; free with wabot_job_info_free (NULL ok).
 *  Not thread-safe: one snapshot, one thread. */
WABOT_API wabot_job_info *wabot_job_info_new(void);
WABOT_API void wabot_job_info_free(wabot_job_info *info);
/** Copy `rec` (and its strings) into info. NOMEM, INVAL. For backends. */
WABOT_API int wabot_job_info_set(wabot_job_info *info,
                                 const wabot_job_record *rec);
/** The record (borrowed from info, valid until info changes or is freed);
 *  NULL if info is NULL or was never set. */
WABOT_API const wabot_job_record *wabot_job_info_record(
    const wabot_job_info *info);

/* ------------------------------------------------------------------ */
/* The scheduler interface (backends)                                  */

#define WABOT_SCHEDULER_VTABLE_VERSION 1

/**
 * A job backend. Every operation is atomic (one Lua script on Redis) and
 * synchronous; times are given by the library (the context's clock), so
 * backends keep no clock. Thread-safe. Errors: WABOT_ERR_NOT_FOUND (no such
 * job / nothing ready), WABOT_ERR_EXISTS, WABOT_ERR_CONFLICT (stale token or
 * the job is not active), WABOT_ERR_STATE (cancel of an active or finished
 * job), WABOT_ERR_STORAGE.
 *
 * enqueue   store `job` (id always set; state/attempts/token ignored):
 *           waiting if run_at_ms <= now_ms, else delayed.
 * reserve   promote due delayed jobs, take the best waiting job, make it
 *           active: attempts+1, a new token (greater than every earlier
 *           token of the queue), lease_until = now + lease_ms; fill `out`.
 * extend    lease_until = until_ms, if token matches an active job.
 * complete  active -> completed (finished_ms = now_ms), token must match.
 * fail      token must match; retry_at_ms < 0: -> failed with `reason`;
 *           else -> delayed until retry_at_ms, keeping `reason` as
 *           last_error.
 * release   token must match; -> delayed until run_at_ms (waiting if due)
 *           with attempts-1: the reservation does not count (throttling).
 * cancel    remove a waiting or delayed job.
 * get       fill `out` with the job.
 * counts    counts[s] = number of jobs in state s, for s < n.
 * recover   active jobs with lease_until <= now: stalls+1; if stalls >
 *           max_stalls -> failed ("stalled"), else -> waiting. *recovered
 *           = how many were moved.
 * next_due  the earliest time something needs doing: now_ms if a job is
 *           waiting, else the earliest delayed run_at or active lease_until.
 *           WABOT_ERR_NOT_FOUND if the queue has neither.
 * trim      remove jobs in `state` (completed or failed) beyond the newest
 *           keep_count, and those finished before finished_before_ms.
 *           *removed = how many.
 * destroy   release the backend.
 */
typedef struct wabot_scheduler_vtable {
    uint32_t version; /**< WABOT_SCHEDULER_VTABLE_VERSION */
    int (*enqueue)(void *impl, const char *queue, const wabot_job_record *job,
                   int64_t now_ms);
    int (*reserve)(void *impl, const char *queue, int64_t now_ms,
                   int64_t lease_ms, wabot_job_info *out);
    int (*extend)(void *impl, const char *queue, const char *id,
                  uint64_t token, int64_t until_ms);
    int (*complete)(void *impl, const char *queue, const char *id,
                    uint64_t token, int64_t now_ms);
    int (*fail)(void *impl, const char *queue, const char *id, uint64_t token,
                int64_t now_ms, const char *reason, int64_t retry_at_ms);
    int (*release)(void *impl, const char *queue, const char *id,
                   uint64_t token, int64_t now_ms, int64_t run_at_ms);
    int (*cancel)(void *impl, const char *queue, const char *id);
    int (*get)(void *impl, const char *queue, const char *id,
               wabot_job_info *out);
    int (*counts)(void *impl, const char *queue, int64_t *counts, size_t n);
    int (*recover)(void *impl, const char *queue, int64_t now_ms,
                   int32_t max_stalls, int32_t *recovered);
    int (*next_due)(void *impl, const char *queue, int64_t now_ms,
                    int64_t *due_ms);
    int (*trim)(void *impl, const char *queue, int32_t state,
                int64_t keep_count, int64_t finished_before_ms,
                int64_t *removed);
    void (*destroy)(void *impl);
} wabot_scheduler_vtable;

typedef struct wabot_scheduler wabot_scheduler;

/** Wrap a backend (vt borrowed, impl owned). NULL if vt is NULL, version 0
 *  or an operation is NULL; NOMEM. */
WABOT_API wabot_scheduler *wabot_scheduler_new(
    const wabot_scheduler_vtable *vt, void *impl);
WABOT_API void wabot_scheduler_free(wabot_scheduler *s);
WABOT_API const char *wabot_scheduler_name(const wabot_scheduler *s);
/** Job backend for a context. Borrowed: it must outlive every context
 *  using it. NULL: the context creates and owns a memory backend. */
WABOT_API int wabot_options_set_scheduler(wabot_options *opts,
                                          wabot_scheduler *sched);

/** The memory backend: thread-safe, a heap per queue for delayed jobs and
 *  for leases, O(log n) per operation. */
WABOT_API wabot_scheduler *wabot_scheduler_memory_new(void);

/* Wrappers over the backend (argument checks, then the vtable): what the
 * library itself uses, and what tests/conformance exercises. */
WABOT_API int wabot_scheduler_enqueue(wabot_scheduler *s, const char *queue,
                                      const wabot_job_record *job,
                                      int64_t now_ms);
WABOT_API int wabot_scheduler_reserve(wabot_scheduler *s, const char *queue,
                                      int64_t now_ms, int64_t lease_ms,
                                      wabot_job_info *out);
WABOT_API int wabot_scheduler_extend(wabot_scheduler *s, const char *queue,
                                     const char *id, uint64_t token,
                                     int64_t until_ms);
WABOT_API int wabot_scheduler_complete(wabot_scheduler *s, const char *queue,
                                       const char *id, uint64_t token,
                                       int64_t now_ms);
WABOT_API int wabot_scheduler_fail(wabot_scheduler *s, const char *queue,
                                   const char *id, uint64_t token,
                                   int64_t now_ms, const char *reason,
                                   int64_t retry_at_ms);
WABOT_API int wabot_scheduler_release(wabot_scheduler *s, const char *queue,
                                      const char *id, uint64_t token,
                                      int64_t now_ms, int64_t run_at_ms);
WABOT_API int wabot_scheduler_cancel(wabot_scheduler *s, const char *queue,
                                     const char *id);
WABOT_API int wabot_scheduler_get(wabot_scheduler *s, const char *queue,
                                  const char *id, wabot_job_info *out);
WABOT_API int wabot_scheduler_counts(wabot_scheduler *s, const char *queue,
                                     int64_t *counts, size_t n);
WABOT_API int wabot_scheduler_recover(wabot_scheduler *s, const char *queue,
                                      int64_t now_ms, int32_t max_stalls,
                                      int32_t *recovered);
WABOT_API int wabot_scheduler_next_due(wabot_scheduler *s, const char *queue,
                                       int64_t now_ms, int64_t *due_ms);
WABOT_API int wabot_scheduler_trim(wabot_scheduler *s, const char *queue,
                                   int32_t state, int64_t keep_count,
                                   int64_t finished_before_ms,
                                   int64_t *removed);

/* ------------------------------------------------------------------ */
/* Jobs through a context                                              */

/**
 * Enqueue a job on `queue` with `payload` (len bytes, copied) and `spec`
 * (NULL: defaults). *job_id (may be NULL) receives the job's id, owned (free
 * with wabot_ctx_mem_free), also when the id already existed
 * (WABOT_ERR_EXISTS). Thread-safe; wakes the loop if the job is due
 * earlier than the armed timer. Errors: INVAL, EXISTS, STORAGE, NOMEM.
 */
WABOT_API int wabot_job_enqueue(wabot_ctx *ctx, const char *queue,
                                const char *payload, size_t len,
                                const wabot_job_spec *spec, char **job_id);
/** Most jobs one wabot_job_enqueue_many() call takes. */
#define WABOT_JOB_ENQUEUE_MANY_MAX 1000

/**
 * Enqueue n jobs (1..WABOT_JOB_ENQUEUE_MANY_MAX) on `queue` at once: on
 * the Redis scheduler one round trip for all of them (pipelined; each job
 * is still its own atomic enqueue), elsewhere one enqueue per job.
 *
 * payloads[i] is job i's payload, lens[i] bytes (copied); lens NULL: each
 * payload is a NUL-terminated string. A NULL payload is empty. specs NULL:
 * the defaults for every job; else specs[i] for job i (a NULL entry: the
 * defaults). Job ids are generated unless a spec names one.
 *
 * results (may be NULL) receives n statuses: WABOT_OK (enqueued),
 * WABOT_ERR_EXISTS (a job with that id is on the queue already: left as
 * it is), or the failure of that job. job_ids (may be NULL) receives n
 * ids, owned (free each with wabot_ctx_mem_free; NULL where no id was
 * made), set also for EXISTS.
 *
 * Returns WABOT_OK when every job is on the queue (enqueued now or
 * before: see results for EXISTS; an id named twice in one call is
 * enqueued once, the second answers EXISTS). Bad arguments (queue name,
 * n, a spec out of range or a bad job id) return WABOT_ERR_INVAL before
 * anything is enqueued (every results[i] is then that status). A storage failure returns WABOT_ERR_STORAGE
 * with results saying which jobs are in: a call cut off mid-way may have
 * enqueued some, so retry with the same job ids (those already in answer
 * EXISTS). Also NOMEM. Thread-safe, like wabot_job_enqueue(); wakes the
 * loop if a job is due earlier than the armed timer.
 */
WABOT_API int wabot_job_enqueue_many(wabot_ctx *ctx, const char *queue,
                                     size_t n, const char *const *payloads,
                                     const size_t *lens,
                                     const wabot_job_spec *const *specs,
                                     char **job_ids, int *results);
/** Snapshot of a job (owned; wabot_job_info_free). NOT_FOUND, INVAL. */
WABOT_API int wabot_job_get(wabot_ctx *ctx, const char *queue,
                            const char *id, wabot_job_info **out);
/** Cancel a waiting or delayed job. NOT_FOUND, STATE (active/finished). */
WABOT_API int wabot_job_cancel(wabot_ctx *ctx, const char *queue,
                               const char *id);
/** counts[s] for s < n (like BullMQ's getJobCounts). */
WABOT_API int wabot_queue_counts(wabot_ctx *ctx, const char *queue,
                                 int64_t *counts, size_t n);
/**
 * Retention of finished jobs of `queue`: keep at most keep_n and none older
 * than keep_ms (0 = no age limit) of completed / failed jobs. Defaults:
 * completed 1000 / 24 h, failed 10000 / 7 days. Applied as jobs finish.
 */
WABOT_API int wabot_queue_set_retention(wabot_ctx *ctx, const char *queue,
                                        int64_t completed_keep_n,
                                        int64_t completed_keep_ms,
                                        int64_t failed_keep_n,
                                        int64_t failed_keep_ms);

/* ------------------------------------------------------------------ */
/* Workers                                                             */

/** An active job handed to a worker (valid until it is finished). */
typedef struct wabot_job wabot_job;

/** Returned by a worker that will finish the job later with
 *  wabot_job_finish(). */
#define WABOT_JOB_PENDING 1

/**
 * A worker: return WABOT_OK (job done), WABOT_JOB_PENDING (it finishes
 * later), or a negative status (the attempt failed: retried with backoff
 * until attempts are spent, or failed at once if marked permanent).
 */
typedef int (*wabot_job_fn)(wabot_job *job, void *ud);

/**
 * Run `fn` for jobs of `queue`, at most `concurrency` (>= 1) at a time per
 * context. One worker per queue (WABOT_ERR_EXISTS for a second). Register
 * before driving the loop. On failure `destroy` is not called.
 */
WABOT_API int wabot_queue_add_worker(wabot_ctx *ctx, const char *queue,
                                     wabot_job_fn fn, void *ud,
                                     wabot_destroy_fn destroy,
                                     int concurrency);
/** Older spelling of wabot_queue_add_worker(), kept for compatibility. */
WABOT_API int wabot_worker_add(wabot_ctx *ctx, const char *queue,
                               wabot_job_fn fn, void *ud,
                               wabot_destroy_fn destroy, int concurrency);

/** The job's context, queue name and id (borrowed, valid until the job is
 *  finished). Call from the worker, or from the thread that finishes the
 *  job, while it is active; never fail (a NULL job gives NULL / ""). */
WABOT_API wabot_ctx *wabot_job_ctx(const wabot_job *job);
WABOT_API const char *wabot_job_queue(const wabot_job *job);
WABOT_API const char *wabot_job_id(const wabot_job *job);
/** Payload bytes (borrowed, NUL-terminated) and length (may be NULL). */
WABOT_API const char *wabot_job_payload(const wabot_job *job, size_t *len);
/**
 * Host data for this run of the job: what a worker that returns
 * WABOT_JOB_PENDING needs when it finishes the job later (a request handle,
 * a buffer). Lives for one attempt only: `destroy` (may be NULL) runs with
 * `user` once the attempt is finished (or abandoned when the context is
 * freed), on the loop thread; setting another value first destroys the
 * previous one. What must survive a retry or another process belongs in
 * the payload. Call from the worker or the code that finishes the job.
 */
WABOT_API void wabot_job_set_user(wabot_job *job, void *user,
                                  wabot_destroy_fn destroy);
/** The value given to wabot_job_set_user() for this run (borrowed), or
 *  NULL. Same threads as wabot_job_set_user(). */
WABOT_API void *wabot_job_user(const wabot_job *job);
/** 1 for the first attempt. */
WABOT_API int wabot_job_attempt(const wabot_job *job);
WABOT_API int wabot_job_max_attempts(const wabot_job *job);
/** Reason recorded when the attempt fails (copied). */
WABOT_API int wabot_job_set_error(wabot_job *job, const char *reason);
/** Mark the failure permanent: no retry whatever attempts remain. */
WABOT_API void wabot_job_set_permanent(wabot_job *job);
/** Give the job back to run again in `ms` without spending the attempt
 *  (throttling); takes precedence over the returned status. */
WABOT_API void wabot_job_retry_in(wabot_job *job, int64_t ms);
/**
 * Finish a job whose worker returned WABOT_JOB_PENDING: status as a worker
 * would return it. Call once, from the loop thread (inside a loop function
 * or a callback it runs). Also valid before the worker returned.
 */
WABOT_API void wabot_job_finish(wabot_job *job, int status);

/**
 * Per-queue counts and counters as JSON: {"queues":{"<name>":{"waiting":n,
 * "delayed":n,"active":n,"completed":n,"failed":n,"processed":n,
 * "retried":n,"dead":n,"stalled":n,"throttled":n,"fenced":n}},
 * "timestamp":ms}
 * for the library's queues and every queue with a worker. Owned (free with
 * wabot_ctx_mem_free); NULL on failure.
 */
WABOT_API char *wabot_jobs_stats_json(wabot_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_JOBS_H */
