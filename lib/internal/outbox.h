/* The turn outbox (lib/pipeline/outbox.c): a turn's state, jobs and
 * "committed" marker in one storage transaction, then relayed to the
 * scheduler; a sweep relays what a dead process left. Private. */
#ifndef WB_OUTBOX_H
#define WB_OUTBOX_H

#include <stdint.h>

#include "ctx.h"
#include "inbound.h"
#include "storage.h"
#include "wabot/pipeline.h"

/* One job a turn enqueues (its spec resolved to absolute numbers).
 * queue, id and payload (NUL-terminated, payload len bytes before its
 * NUL) live in one allocation, starting at queue: wb_outjob_free frees
 * it. */
typedef struct wb_outjob {
    char *queue;
    char *id;
    char *payload;
    size_t len;
    int64_t run_at;
    int32_t max_attempts, backoff;
    int64_t backoff_ms, backoff_max_ms;
    int32_t jitter_pct, priority;
    /* A reply to the turn's own customer: when the turn's inbound message
     * was sent (the 24-hour window's lower bound); 0 for any other job.
     * Carried to the job when it is leased at commit (wabot_job). */
    int64_t inbound_ms;
} wb_outjob;

void wb_outjob_free(const wabot_allocator *a, wb_outjob *j);
void wb_turn_jobs_free(wabot_turn *t);

/* Before running a turn: 1 if this message's turn was committed by an
 * earlier attempt (whatever its outbox record still holds is relayed now,
 * and the handlers must not run again), 0 if not, or a negative status. */
int wb_turn_committed_before(wabot_turn *t);
/* After the handlers succeeded: the conversation (when save_state), the
 * replies and jobs, and the marker in one transaction. WABOT_ERR_CONFLICT:
 * the conversation changed since it was loaded (run the turn again);
 * WABOT_OK with t->committed_elsewhere set: another attempt committed this
 * message first (ours is dropped). */
int wb_turn_commit(wabot_turn *t, int save_state);
/* After a commit: enqueue the jobs and delete the outbox record. On a
 * failure the record stays (the redelivery or the sweep relays it) and the
 * status is returned, so the message can be answered as failed. */
int wb_turn_relay(wabot_turn *t);
/* The marker on a process-local store: once the dedup "done" mark has
 * replaced this turn's own claim (compare-and-set on the claim's version:
 * no other attempt claimed the message since, so none is running its
 * turn, and every later one finds the mark), the marker this turn
 * committed guards nothing the mark does not, and is deleted: a record
 * fewer per message for the dedup TTL (issue 12). On a shared store it
 * stays (it alone covers a crash between the commit and the mark).
 * droppable: 1 if this turn committed a marker that may go that way. */
int wb_turn_marker_droppable(const wabot_turn *t);
void wb_turn_marker_drop(wabot_turn *t);
/* Relay outbox records older than grace_ms, at most max_records looked at:
 * those listed in the pending index on a shared store (outbox.c, "The
 * pending index"), else found by a scan. Returns how many were relayed,
 * or a negative status. */
int wb_outbox_sweep(wabot_ctx *ctx, int64_t grace_ms, size_t max_records);
/* The same by a scan of every outbox: key, listed or not (records written
 * before the index existed): the module's first sweep. */
int wb_outbox_sweep_all(wabot_ctx *ctx, int64_t grace_ms,
                        size_t max_records);

/* ------------------------------------------------------------------ */
/* The turn fast path (lib/pipeline/turn_fast.c; the storage capability  */
/* in storage.h). On a storage that offers it for the context's         */
/* scheduler and limiter, dedup's admit step runs one "begin" (claim,   */
/* limit, marker, profile, conversation) and wb_turn_commit() one        */
/* "commit" (conversation, marker, jobs onto their queues, dedup done).  */
/* Every step keeps its generic fallback: a turn may leave the fast path */
/* at any point (a profile the backend cannot edit, a job the commit     */
/* cannot take) and go on the generic way.                               */

struct wb_profile;
struct wb_conv;

typedef struct wb_turn_fast {
    const wb_turn_path *path;
    wb_turn_begin_res res;
    int limit_checked;       /* res.limited is the limit's verdict */
    int conv_used;           /* the first attempt took res.conv */
    int claim_held;          /* done_key is our claim */
    int relayed;             /* the commit put the jobs on their queues */
    int done;                /* the commit marked done_key done */
    /* The dedup key, as long as it is: a 1 KiB array here made every
     * turn's allocation a large one, for which glibc first consolidates
     * its fast bins (~12k instructions a turn; doc/performance.md,
     * ninth session). */
    char done_key[];
} wb_turn_fast;

/* When t's customer wrote, as the turn stamps it on the profile's last
 * inbound: the message's timestamp, or now without one. Also the 24-hour
 * window's lower bound a reply to that customer carries
 * (wb_outjob.inbound_ms). Any thread. */
int64_t wb_turn_inbound_ms(const wabot_turn *t);
/* Run begin for t, as dedup's claim: WABOT_ERR_UNSUPPORTED when there is
 * no fast path (claim the generic way); else what wb_dedup_claim()
 * returns, with *d filled. */
int wb_turn_fast_begin(wabot_turn *t, wb_dedup *d);
/* Begin's inbound limit verdict: 1 over (counted, *notify set as
 * wb_inbound_limited() sets it), 0 under, -1 begin did not check it. */
int wb_turn_fast_limited(wabot_turn *t, int *notify);
/* Begin's marker check: 1 committed before, 0 not, -1 not checked. */
int wb_turn_fast_committed(const wabot_turn *t);
/* Begin's profile: 1 and *p filled (p->name on ctx->alloc), 0 if begin
 * did not touch it (touch it the generic way). */
int wb_turn_fast_profile(wabot_turn *t, struct wb_profile *p);
/* Begin's conversation, for the first attempt only: 1 and *c loaded, 0
 * (load it), or a negative status. */
int wb_turn_fast_conv(wabot_turn *t, struct wb_conv *c);
/* 1 if the turn's commit marked the dedup key done. */
int wb_turn_fast_done(const wabot_turn *t);
void wb_turn_fast_free(wabot_turn *t);

/* The outbox module (options outbox.sweep_ms, outbox.grace_ms). */
struct wabot_module_def;
extern const struct wabot_module_def wb_outbox_module;

#endif
