/* Jobs internals shared by the scheduler wrapper, the built-in backends
 * and the worker side. Private. Append-only while several people work on
 * the jobs module. */
#ifndef WB_JOBS_H
#define WB_JOBS_H

#include "wabot/jobs.h"

/* Limits the wrappers enforce (bytes, without the NUL). */
#define WB_QUEUE_NAME_MAX 64
#define WB_JOB_ID_MAX 256

struct wb_sched_batch;
struct wb_sched_failed;

struct wabot_scheduler {
    const wabot_scheduler_vtable *vt; /* borrowed */
    void *impl;                       /* owned: vt->destroy(impl) on free */
    const char *name;                 /* static string */
    /* Batched operations (below), or NULL: a built-in backend whose every
     * call is a round trip may offer them; wabot_scheduler_new() backends
     * never do. */
    const struct wb_sched_batch *batch;
    /* Failed jobs listed and retried (the admin API), or NULL: the
     * backends that offer it (memory); elsewhere those routes answer 501. */
    const struct wb_sched_failed *failed;
    /* A job's state (wabot_job_state) without a copy of its record, or
     * NULL (then wabot_scheduler_get): the memory backend offers it for
     * the delivery worker's question after each send (is the job
     * completed?), which copied id and payload to read one number.
     * WABOT_OK or WABOT_ERR_NOT_FOUND. Any thread. */
    int (*state_of)(void *impl, const char *queue, const char *id,
                    int32_t *state);
};

/* Called for each listed job; runs under the backend's lock (it must not
 * call the scheduler). */
typedef void (*wb_job_visit_fn)(const wabot_job_record *rec, void *ud);

typedef struct wb_sched_failed {
    /* The failed jobs of `queue`, newest first: fn for each of at most
     * `limit` after skipping `offset`; *total gets how many failed. */
    int (*each)(void *impl, const char *queue, int64_t offset, int64_t limit,
                wb_job_visit_fn fn, void *ud, int64_t *total);
    /* Failed -> waiting, due at now_ms, attempts and stalls back to 0
     * (last_error kept until it fails again). NOT_FOUND, STATE (not
     * failed), NOMEM. */
    int (*retry)(void *impl, const char *queue, const char *id,
                 int64_t now_ms);
} wb_sched_failed;

/* Through ctx's scheduler: WABOT_ERR_UNSUPPORTED when its backend cannot.
 * Retry wakes the loop when the queue has a worker. Any thread. */
int wb_jobs_each_failed(wabot_ctx *ctx, const char *queue, int64_t offset,
                        int64_t limit, wb_job_visit_fn fn, void *ud,
                        int64_t *total);
int wb_jobs_retry_failed(wabot_ctx *ctx, const char *queue, const char *id);

/* A deep copy of one record. `rec` points into `strings`, one libc block
 * holding id, payload and last_error (each NUL-terminated), so a snapshot
 * is one allocation and is replaced all at once. */
struct wabot_job_info {
    wabot_job_record rec;
    char *strings; /* NULL until set */
};

/* Wrap a backend under a static `name` without the public checks (for the
 * built-in backends, whose tables are known to be complete). Takes
 * ownership of impl only on success. NULL on out of memory. */
wabot_scheduler *wb_scheduler_wrap(const wabot_scheduler_vtable *vt,
                                   void *impl, const char *name);

/* Forget info's record (wabot_job_info_record() gives NULL afterwards). */
void wb_job_info_clear(wabot_job_info *info);

/* 1 if s is a valid queue name: 1..64 bytes of [A-Za-z0-9._:-]. */
int wb_queue_name_ok(const char *s);
/* 1 if s is a valid job id: 1..256 bytes, no control characters. */
int wb_job_id_ok(const char *s);
/* ------------------------------------------------------------------ */
/* Batches: the worker side's reserve and complete, several jobs per    */
/* call (one round trip on Redis). Internal capability of a backend;    */
/* the wrappers below fall back to one call per job.                    */

/* One queue of a poll (wb_sched_batch.poll_many): in: queue, max (0:
 * only the due time), out[0..max) (cleared); out: got, recovered, rc
 * (that queue's outcome), due_ms when has_due (else the queue holds
 * nothing: next_due's NOT_FOUND). Completions ride along. */
typedef struct wb_sched_poll {
    const char *queue;
    size_t max;
    wabot_job_info *const *out;
    size_t got;
    int32_t recovered;
    int rc;
    int has_due;
    int64_t due_ms;
    /* First, in the same round trip: complete n_complete jobs of the
     * queue (as complete_many; results[i] each one's status). Then, if
     * `poll`, the reservation and due time above. */
    size_t n_complete;
    const char *const *ids;
    const uint64_t *tokens;
    int *results;
    int poll;
} wb_sched_poll;

typedef struct wb_sched_batch {
    /* vt->complete for each job; results[i] its status. WABOT_OK when the
     * batch ran (see results), else a storage failure for all. */
    int (*complete_many)(void *impl, const char *queue, size_t n,
                         const char *const *ids, const uint64_t *tokens,
                         int64_t now_ms, int *results);
    /* For each of n queues: reserve_many (max may be 0), then next_due of
     * what is left, each queue its own atomic step, all in one round
     * trip. WABOT_OK when the calls ran (outcomes in polls[i].rc), else a
     * failure for all. The reserve of each queue is one atomic step:
     * recover (as vt->recover), then up to max reserves (as vt->reserve). */
    int (*poll_many)(void *impl, size_t n, wb_sched_poll *polls,
                     int64_t now_ms, int64_t lease_ms, int32_t max_stalls);
    /* vt->enqueue for each of n jobs of queue, in order, each its own
     * atomic step, all in one round trip; results[i] job i's status
     * (WABOT_OK, WABOT_ERR_EXISTS, ...). WABOT_OK when the calls ran (see
     * results), else a failure for all (some may have been enqueued: a
     * lost answer says nothing of what the server did). */
    int (*enqueue_many)(void *impl, const char *queue, size_t n,
                        const wabot_job_record *jobs, int64_t now_ms,
                        int *results);
} wb_sched_batch;

/* 1 if s batches (worth reserving several jobs at once). */
int wb_scheduler_batched(const wabot_scheduler *s);
/* Recover expired leases of queue, then reserve up to max (>= 1) jobs
 * into out[0..*got). WABOT_OK (*got may be 0: nothing due) or the
 * failure of the first reserve. */
int wb_scheduler_reserve_many(wabot_scheduler *s, const char *queue,
                              int64_t now_ms, int64_t lease_ms,
                              int32_t max_stalls, size_t max,
                              wabot_job_info *const *out, size_t *got,
                              int32_t *recovered);
/* Poll n queues (see wb_sched_poll): one round trip on Redis, one
 * reserve_many and one next_due per queue elsewhere. Returns WABOT_OK
 * or the failure that hit every queue; per-queue outcomes in polls. */
int wb_scheduler_poll_many(wabot_scheduler *s, size_t n, wb_sched_poll *polls,
                           int64_t now_ms, int64_t lease_ms,
                           int32_t max_stalls);
/* Enqueue n jobs on queue: results[i] as wabot_scheduler_enqueue() would
 * return for job i (a record it would refuse is not enqueued: INVAL). One
 * round trip on a batched backend, one call per job elsewhere. */
void wb_scheduler_enqueue_many(wabot_scheduler *s, const char *queue,
                               size_t n, const wabot_job_record *jobs,
                               int64_t now_ms, int *results);
/* Complete n jobs of queue: results[i] as wabot_scheduler_complete()
 * would return for job i. */
void wb_scheduler_complete_many(wabot_scheduler *s, const char *queue,
                                size_t n, const char *const *ids,
                                const uint64_t *tokens, int64_t now_ms,
                                int *results);

/* 1 if job is what a backend may rely on in an enqueued record (the
 * enqueue wrapper's check, for a caller that enqueues another way). */
int wb_job_record_ok(const wabot_job_record *job);

#endif
