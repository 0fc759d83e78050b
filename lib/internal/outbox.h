/* The turn outbox (lib/pipeline/outbox.c): a turn's state, jobs and
 * "committed" marker in one storage transaction, then relayed to the
 * scheduler; a sweep relays what a dead process left. Private. */
#ifndef WB_OUTBOX_H
#define WB_OUTBOX_H

#include <stdint.h>

#include "ctx.h"
#include "wabot/pipeline.h"

/* One job a turn enqueues (its spec resolved to absolute numbers). */
typedef struct wb_outjob {
    char *queue;
    char *id;
    char *payload;
    size_t len;
    int64_t run_at;
    int32_t max_attempts, backoff;
    int64_t backoff_ms, backoff_max_ms;
    int32_t jitter_pct, priority;
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
/* Relay outbox records older than grace_ms, at most max_records looked at.
 * Returns how many were relayed, or a negative status. */
int wb_outbox_sweep(wabot_ctx *ctx, int64_t grace_ms, size_t max_records);

/* The outbox module (options outbox.sweep_ms, outbox.grace_ms). */
struct wabot_module_def;
extern const struct wabot_module_def wb_outbox_module;

#endif
