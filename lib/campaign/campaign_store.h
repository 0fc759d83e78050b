/* Campaigns' storage and fan-out, shared by lib/campaign/campaigns.c (the
 * C API: create, lifecycle, progress) and lib/campaign/fanout.c (the
 * "campaigns" queue's worker). Private.
 *
 * Keys (the organisation in braces keeps one campaign's keys together on
 * a Redis cluster):
 *   campaign:{<org>}:<id>              the campaign (JSON, CAS-updated)
 *   campaign-n:{<org>}:<id>:<counter>  progress counters (storage incr)
 *   campaign-r:{<org>}:<id>:<phone>    recipient handled (exactly once)
 *   campaign-b:{<org>}:<id>:<batch>    batch's exclusions counted
 *   campaign-q:{<org>}:<id>:<n>-<hash> a chunk of messages queued (Redis)
 *   campaign-ix:{<org>}                sorted: the organisation's
 *                                      campaign keys, by creation time
 *   campaign-orgs                      sorted: organisations with
 *                                      campaigns (the metrics' refresh
 *                                      reads these two instead of
 *                                      scanning the keyspace) */
#ifndef WB_CAMPAIGN_STORE_H
#define WB_CAMPAIGN_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "wabot/campaign.h"
#include "wabot/message.h"
#include "wabot/module.h"

#define WB_CAMPAIGN_ORGS "campaign-orgs"

/* Longest organisation and campaign id, in bytes. */
#define WB_CAMPAIGN_ORG_MAX 128
#define WB_CAMPAIGN_ID_MAX 64

/* Default and largest recipients per fan-out job. */
#define WB_CAMPAIGN_BATCH 500
#define WB_CAMPAIGN_BATCH_MAX 1000
/* How long recipient and batch markers are kept. */
#define WB_CAMPAIGN_MARK_TTL_MS (90LL * 24 * 3600 * 1000)
/* Outbound correlation ids of campaign messages start with this. */
#define WB_CAMPAIGN_CORR_PREFIX "campaign:"

/* Counter names under campaign-n:... */
#define WB_CN_QUEUED "queued"
#define WB_CN_SENT "sent"
#define WB_CN_DELIVERED "delivered"
#define WB_CN_READ "read"
#define WB_CN_FAILED "failed"
extern const char *const wb_campaign_skip_names[WABOT_CAMPAIGN_SKIP_COUNT];

/* "campaign:{org}:id" style key of `kind` ("campaign", "campaign-n", ...)
 * with an optional suffix (NULL: none) into buf; NULL if it does not fit. */
char *wb_campaign_key(char *buf, size_t n, const char *kind, const char *org,
                      const char *id, const char *suffix);

/* Read the campaign: *doc (decref) and its storage version. NOT_FOUND,
 * PARSE, STORAGE, NOMEM (detail set). Inside a json scope. */
int wb_campaign_load(wabot_ctx *ctx, const char *org, const char *id,
                     json_t **doc, uint64_t *version);

/* Change the campaign: fn edits doc (returns WABOT_OK to write it, or a
 * status to stop with); retried on a concurrent change. *after (may be
 * NULL) gets the written doc (decref). */
typedef int (*wb_campaign_edit_fn)(wabot_ctx *ctx, json_t *doc, void *ud);
int wb_campaign_update(wabot_ctx *ctx, const char *org, const char *id,
                       wb_campaign_edit_fn fn, void *ud, json_t **after);

/* Add delta to counter `name` of the campaign. Storage status. */
int wb_campaign_count(wabot_ctx *ctx, const char *org, const char *id,
                      const char *name, int64_t delta);

/* Queue a job on the "campaigns" queue: its id (deterministic: queuing it
 * twice is one job; under 256 bytes), payload p (reference taken; NULL:
 * NOMEM) and due time (0: now). */
int wb_campaign_enqueue_job(wabot_ctx *ctx, const char *job_id, json_t *p,
                            int64_t run_at_ms);

/* Queue fan-out batch `batch` of generation `gen` from `cursor` at
 * run_at_ms (its job id is deterministic: queuing it twice is one job). */
int wb_campaign_enqueue_batch(wabot_ctx *ctx, const char *org,
                              const char *id, int64_t gen, int64_t batch,
                              const char *cursor, int64_t run_at_ms);

/* Queue n composed messages of the campaign on the outbound queue (one
 * atomic step on Redis, lib/campaign/outbound_batch.c; one by one
 * elsewhere); a message queued before counts as queued. Status with a
 * detail. */
int wb_campaign_queue_outbound(wabot_ctx *ctx, const char *org,
                               const char *id, size_t n,
                               wabot_outbound *const *msgs);

/* The running instance of the context's store into buf (at least
 * WB_CAMPAIGN_INSTANCE_MAX + 1 bytes): on Redis the server's run_id,
 * which every server start draws anew (lib/campaign/store_instance.c).
 * WABOT_ERR_UNSUPPORTED for any other store (or a server that does not
 * say), a Redis status when the server cannot be asked. */
#define WB_CAMPAIGN_INSTANCE_MAX 64
int wb_campaign_store_instance(wabot_ctx *ctx, char *buf, size_t n);

/* Status name <-> value; -1 for an unknown name. */
int wb_campaign_status_of(const char *name);

/* The fan-out worker and the progress hooks, registered by the module's
 * create (lib/campaign/module.c). */
int wb_campaign_fanout_register(wabot_module *m);
/* The module's pending "sent" counts (module.c), or NULL. */
struct wb_sent_counts *wb_campaign_sent_counts(const wabot_ctx *ctx);

#endif
