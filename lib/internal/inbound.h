/* Inbound hygiene: the built-in steps every inbound message passes before
 * the user's pipeline (dedup, per-customer rate limit, opt-out keywords).
 * Their options' defaults and checks are the core's (options.h).
 * Private. */
#ifndef WB_INBOUND_H
#define WB_INBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "wabot/core.h"
#include "wabot/message.h"
#include "wabot/pipeline.h"
#include "wabot/resilience.h"

/* ------------------------------------------------------------------ */
/* Dedup (lib/pipeline/dedup.c)                                         */

/* Longest dedup key, without the NUL (the storage wrappers' limit). */
#define WB_DEDUP_KEY_MAX 1024

typedef struct wb_dedup {
    char key[WB_DEDUP_KEY_MAX + 1];
    uint64_t version; /* of our claim */
    int held;         /* 1 while this handler holds the claim */
} wb_dedup;

/* Expand the key format for message m of organisation org into out (size
 * n): "{id}" (also "{MessageSid}", "{wamid}") is the provider message id,
 * "{org}" the organisation, "{provider}" "twilio"/"meta"/... WABOT_OK, or
 * WABOT_ERR_INVAL when the key would be too long or hold control
 * characters. Exposed for tests. */
int wb_dedup_key(const char *format, const wabot_message *m, const char *org,
                 char *out, size_t n);

/* The value of a claim held by an attempt in progress, and of a message
 * handled. */
#define WB_DEDUP_CLAIM_VALUE "claim"
#define WB_DEDUP_DONE_VALUE "done"

/* Reset *d and build m's key into d->key: 1 if m is to be claimed, 0 if
 * not (dedup off, or an id unusable in a key: logged). */
int wb_dedup_prepare(wabot_ctx *ctx, const wabot_message *m, const char *org,
                     wb_dedup *d);
/* What a claim attempt's outcome (WB_CLAIM_* of storage.h; version: the
 * claim's when taken) means: WABOT_OK (d holds the claim), WABOT_ERR_BUSY
 * or WABOT_ERR_EXISTS, counted and logged as wb_dedup_claim() does. */
int wb_dedup_outcome(wabot_ctx *ctx, const wabot_message *m, wb_dedup *d,
                     int claim, uint64_t version);
/* Claim m for handling: set-if-absent with the lease as TTL.
 * WABOT_OK: handle it (d->held says whether a claim is held: dedup may be
 * off). WABOT_ERR_EXISTS: handled or being handled already (counted as
 * messages.duplicates). Storage failures are returned as they are. */
int wb_dedup_claim(wabot_ctx *ctx, const wabot_message *m, const char *org,
                   wb_dedup *d);
/* After the turn: mark the message done for the dedup TTL, or, when the
 * turn failed for a reason a redelivery may not meet again (`rc` is a
 * storage, time-out, busy or memory failure), release the claim so the
 * provider's retry is handled. No-op when no claim is held. */
void wb_dedup_finish(wabot_ctx *ctx, wb_dedup *d, int rc);
/* 1 if a failed turn with status rc is worth a redelivery (infrastructure
 * trouble, not the message's fault). */
int wb_inbound_transient(int rc);

/* ------------------------------------------------------------------ */
/* Per-customer inbound rate limit (lib/pipeline/inbound_limit.c)       */

/* Take one unit of the customer's inbound allowance. 0: go ahead (also
 * when the limit is off or the limiter fails: a broken limiter must not
 * silence the bot). 1: over the limit (counted as messages.rate_limited);
 * *notify is then 1 if this is the first limited message of the period,
 * so the caller sends the notice. */
int wb_inbound_limited(wabot_ctx *ctx, const char *org, const char *customer,
                       int *notify);
/* The customer's inbound limit: 1 and *lim (its key in key[WB_STORAGE_KEY_MAX
 * + 1]) when it applies (a count > 0 and a limiter), else 0. */
int wb_inbound_limit_of(wabot_ctx *ctx, const char *org, const char *customer,
                        char *key, wabot_rate_limit *lim);
/* The customer is over the limit (decided elsewhere: the turn fast path):
 * count, log, and *notify as wb_inbound_limited() sets it. */
void wb_inbound_over(wabot_ctx *ctx, const char *org, const char *customer,
                     int64_t retry_after_ms, int *notify);

/* ------------------------------------------------------------------ */
/* Opt-out keywords (lib/pipeline/optout.c)                             */

/* The dedup and inbound_limit modules (admit-stage middlewares, dedup
 * wrapping the rate limit and the turn). */
struct wabot_module_def;
extern const struct wabot_module_def wb_dedup_module;
extern const struct wabot_module_def wb_inbound_limit_module;

/* The opt-out module (STOP/START keywords, a turn-stage middleware). */
struct wabot_module_def;
extern const struct wabot_module_def wb_optout_module;

/* 1 if `text` folds to one of the comma-separated keywords of `list`. */
int wb_keyword_in_list(const char *list, const char *text);

#endif
