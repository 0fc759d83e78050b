/* Queuing a chunk of a fan-out's composed messages on the outbound queue.
 *
 * One message, one enqueue: on Redis that is a round trip per recipient,
 * which bounded a fan-out to about 800 recipients/s. Where the storage
 * offers the turn fast path for the context's scheduler (the Redis
 * backends on one handle), the chunk goes onto the queue in ONE atomic
 * step instead: the turn commit with no conversation and no dedup key,
 * only its "marker" and the jobs. The marker is named by a hash of the
 * chunk's job ids, so a chunk queued before a crash (all of it: the step
 * is all or nothing) finds its marker on the re-run and is not queued
 * again; a chunk that differs (the re-run's page is not the same) gets a
 * new marker, and its jobs already on the queue are counted as existing,
 * as a single enqueue would count them. Elsewhere (memory, host
 * backends) the messages go one by one. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "campaign_store.h"
#include "internal/ctx.h"
#include "internal/jobs.h"
#include "internal/message.h"
#include "internal/metrics.h"
#include "internal/outbound.h"
#include "internal/runtime.h"
#include "internal/siphash.h"
#include "internal/storage.h"

/* Fixed: the marker of a chunk must be the same in every process. */
#define CHUNK_K0 UINT64_C(0x63616d706169676e) /* "campaign" */
#define CHUNK_K1 UINT64_C(0x2d6368756e6b2d71) /* "-chunk-q" */

static int queue_singly(wabot_ctx *ctx, size_t n, wabot_outbound *const *msgs)
{
    int rc = WABOT_OK;
    for (size_t i = 0; i < n && rc == WABOT_OK; i++)
        if ((rc = wb_outbound_enqueue_new(ctx, msgs[i])) == WABOT_ERR_EXISTS)
            rc = WABOT_OK; /* queued before a crash: the same message */
    return rc;
}

/* The chunk's marker key: its job ids, in order, hashed. */
static const char *chunk_key(char *buf, size_t size, const char *org,
                             const char *id, size_t n,
                             wabot_outbound *const *msgs)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        const char *jid = wabot_outbound_id(msgs[i]);
        uint64_t part[2] = {h, wb_siphash13(CHUNK_K0, CHUNK_K1, jid,
                                            strlen(jid))};
        h = wb_siphash13(CHUNK_K0, CHUNK_K1, part, sizeof part);
    }
    char suffix[40];
    snprintf(suffix, sizeof suffix, "%zu-%016" PRIx64, n, h);
    return wb_campaign_key(buf, size, "campaign-q", org, id, suffix);
}

/* The record wabot_job_enqueue() would make for the outbound queue. */
static void record_of(wabot_ctx *ctx, wabot_outbound *o, char *payload,
                      int64_t now, wabot_job_record *r)
{
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    memset(r, 0, sizeof *r);
    r->version = WABOT_JOB_RECORD_VERSION;
    r->id = wabot_outbound_id(o);
    r->payload = payload;
    r->payload_len = strlen(payload);
    r->max_attempts = (int32_t)ctx->cfg.outbound_max_attempts;
    r->created_ms = now;
    r->run_at_ms = now;
    r->backoff = spec.backoff;
    r->backoff_ms = spec.backoff_ms;
    r->backoff_max_ms = spec.backoff_max_ms;
    r->jitter_pct = spec.jitter_pct;
    r->priority = spec.priority;
}

static int queue_commit(wabot_ctx *ctx, const wb_turn_path *path,
                        const char *org, const char *id, size_t n,
                        wabot_outbound *const *msgs)
{
    wabot_job_record recs[WB_TURN_MAX_JOBS];
    const char *queues[WB_TURN_MAX_JOBS];
    char *payloads[WB_TURN_MAX_JOBS];
    char marker[WB_STORAGE_KEY_MAX + 1];
    int64_t now = wb_now(ctx);
    size_t made = 0;
    int rc = chunk_key(marker, sizeof marker, org, id, n, msgs) != NULL
                 ? WABOT_OK
                 : WABOT_ERR_UNSUPPORTED;
    for (; rc == WABOT_OK && made < n; made++) {
        if ((payloads[made] = wb_outbound_to_payload(msgs[made])) == NULL) {
            rc = WABOT_ERR_NOMEM;
            break;
        }
        record_of(ctx, msgs[made], payloads[made], now, &recs[made]);
        queues[made] = WABOT_QUEUE_OUTBOUND;
        if (!wb_job_record_ok(&recs[made]))
            rc = WABOT_ERR_UNSUPPORTED; /* the loop still counts it made */
    }
    wb_turn_commit_req req = {NULL, 0, NULL, 0, 0, marker,
                              WB_CAMPAIGN_MARK_TTL_MS, NULL, NULL, 0,
                              queues, recs, n, now, NULL};
    wb_turn_commit_res res;
    memset(&res, 0, sizeof res);
    if (rc == WABOT_OK)
        rc = path->commit(ctx->storage, &req, &res);
    if (rc == WABOT_OK)
        for (size_t i = 0; i < n; i++) {
            if (!res.existed[i])
                wb_job_enqueued(ctx, WABOT_QUEUE_OUTBOUND, now);
            else
                wb_count(ctx, "outbound.duplicates", 1);
        }
    else if (rc == WABOT_ERR_CONFLICT && res.failed == 1)
        rc = WABOT_OK; /* this very chunk was queued before a crash */
    for (size_t i = 0; i < made; i++)
        wabot_free(payloads[i]);
    return rc;
}

int wb_campaign_queue_outbound(wabot_ctx *ctx, const char *org,
                               const char *id, size_t n,
                               wabot_outbound *const *msgs)
{
    const wb_turn_path *path =
        n > 1 && n <= WB_TURN_MAX_JOBS
            ? wb_storage_turn_path(ctx->storage, ctx->rt->sched, NULL)
            : NULL;
    int rc = path != NULL ? queue_commit(ctx, path, org, id, n, msgs)
                          : WABOT_ERR_UNSUPPORTED;
    if (rc == WABOT_ERR_UNSUPPORTED)
        return queue_singly(ctx, n, msgs);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "campaign %s: queuing %zu messages: %s", id,
                        n, wabot_strerror(rc));
    return WABOT_OK;
}
