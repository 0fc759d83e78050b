/*
 * Migration off a legacy bot (the `migration` module; doc/migration.md).
 *
 * Both bots run side by side behind the same webhook paths. For every
 * inbound message the library decides which system handles it, per
 * customer, in this order:
 *   1. the customer is on the deny list        -> legacy;
 *   2. the customer is on the allow list       -> new (libwabot);
 *   3. migration.use_new_bot is off            -> legacy (USE_NEW_WHATSAPP_BOT=false);
 *   4. the customer's bucket < migration.percent -> new, else legacy.
 * The bucket is a stable hash of the customer's number (the first 8 bytes
 * of SHA-256 of the number, mod 100): the same customer always falls in the
 * same bucket, in every process and after every restart, so raising the
 * percentage only ever moves customers from legacy to new, and lowering it
 * back moves them back (instant rollback: percent 0).
 *
 * Nothing is diverted until a legacy handler is set (wabot_migration_set_
 * legacy): without one every message is handled here. Messages decided
 * "legacy" are not handled here; the original request (method, target,
 * headers, body: the provider's signature still verifies) goes to the
 * legacy handler, and its answer is relayed to the provider. A Meta batch
 * with customers of both systems is handled here for the new side, then
 * forwarded whole to the legacy bot, which must share the dedup keys
 * (WABOT_OPT_DEDUP_KEY_FORMAT "processed:{id}") to skip the messages
 * already handled. Every decision is counted (migration.new,
 * migration.legacy, migration.mixed_batches, migration.legacy_errors).
 *
 * Settings come from the options (migration.percent, .use_new_bot,
 * .allow, .deny; environment WABOT_MIGRATION_PERCENT, USE_NEW_WHATSAPP_BOT,
 * WABOT_MIGRATION_ALLOW, WABOT_MIGRATION_DENY) and change at runtime
 * through the functions below or the admin route
 * {admin prefix}/migration (GET, PUT); a change applies to the next
 * message in the process where it was made. The settings are shared
 * through the context's storage (key "migration:settings", written with
 * compare-and-set on every change, so concurrent changes in several
 * processes are all kept): other processes on the same storage take a
 * change within migration.sync_interval (default 1 s; read when a
 * webhook request is diverted and by wabot_migration_json). Once a change
 * was made, the stored settings win over the options in every process.
 * wabot_migration_decide() reads this process's copy and never blocks.
 * The counters stay per process.
 */
#ifndef WABOT_MIGRATION_H
#define WABOT_MIGRATION_H

#include "core.h"
#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The system a message goes to. Append-only. */
typedef enum wabot_system {
    WABOT_SYSTEM_LEGACY = 0,
    WABOT_SYSTEM_NEW = 1
} wabot_system;

/**
 * The legacy bot. Called with the provider's original request when
 * messages of it are decided "legacy"; fills `out` (through
 * wabot_http_response_set_status / _set_body / _add_header) with the
 * answer to relay to the provider, and returns WABOT_OK. Any other return
 * (or an answer left at status 0) answers the provider 502 so it
 * redelivers; counted as migration.legacy_errors. Runs on the thread that
 * called wabot_http_handle(), possibly on several at once.
 */
typedef int (*wabot_legacy_fn)(void *ud, const char *method,
                               const char *target,
                               const wabot_http_header *headers,
                               size_t nheaders, const char *body, size_t len,
                               wabot_http_response *out);

/**
 * Set (fn non-NULL) or clear the legacy handler. `ud` is borrowed (it must
 * outlive the context or the next call). Call before requests are
 * handled, or at any time from any thread (the next request sees it).
 * Errors: WABOT_ERR_INVAL (NULL ctx), WABOT_ERR_STATE (the context has no
 * migration module).
 */
WABOT_API int wabot_migration_set_legacy(wabot_ctx *ctx, wabot_legacy_fn fn,
                                         void *ud);

/** Which system handles `customer`'s messages now (order above). Any
 *  thread, no allocation. WABOT_SYSTEM_NEW for a NULL argument or a
 *  context without the module. */
WABOT_API wabot_system wabot_migration_decide(const wabot_ctx *ctx,
                                              const char *customer);

/** The customer's stable bucket, 0..99 (see above); -1 for NULL. Any
 *  thread; needs no context. */
WABOT_API int wabot_migration_bucket(const char *customer);

/** Set the percentage of customers (by bucket) handled here, 0..100.
 *  Any thread; takes effect on the next message (other processes: see
 *  above). WABOT_ERR_INVAL out of range (detail in wabot_errmsg()),
 *  WABOT_ERR_STATE without the module, WABOT_ERR_STORAGE when the shared
 *  settings cannot be written (nothing changes then). The other setters
 *  below may fail the same way. */
WABOT_API int wabot_migration_set_percent(wabot_ctx *ctx, int percent);

/** All-or-nothing switch (USE_NEW_WHATSAPP_BOT): 0 sends everyone not on
 *  the allow list to the legacy bot. Any thread. */
WABOT_API int wabot_migration_set_enabled(wabot_ctx *ctx, int use_new_bot);

/** Put `customer` on the allow list (list WABOT_SYSTEM_NEW) or the deny
 *  list (WABOT_SYSTEM_LEGACY), off the other one. Any thread. Errors:
 *  WABOT_ERR_INVAL (empty or over 32 bytes), NOMEM, STATE. */
WABOT_API int wabot_migration_pin(wabot_ctx *ctx, const char *customer,
                                  wabot_system list);
/** Take `customer` off both lists. WABOT_ERR_NOT_FOUND if on neither. */
WABOT_API int wabot_migration_unpin(wabot_ctx *ctx, const char *customer);

/**
 * The settings and counters as JSON:
 * {"use_new_bot":true,"percent":10,"allow":[...],"deny":[...],
 *  "legacy_handler":true,"decisions":{"new":N,"legacy":N},
 *  "mixed_batches":N,"legacy_errors":N}.
 * Owned by the caller: free with wabot_ctx_mem_free(ctx, p). NULL on
 * NOMEM or without the module (detail in wabot_errmsg()).
 */
WABOT_API char *wabot_migration_json(wabot_ctx *ctx);

/**
 * Apply a JSON update: any of "use_new_bot" (bool), "percent" (0..100),
 * "allow" and "deny" (arrays of numbers; each replaces its whole list).
 * All or nothing: a bad member changes nothing. Errors: WABOT_ERR_PARSE
 * (not a JSON object), WABOT_ERR_INVAL (a member of the wrong type or
 * range, or an unknown member; wabot_errmsg() names it), NOMEM, STATE.
 */
WABOT_API int wabot_migration_update_json(wabot_ctx *ctx, const char *json,
                                          size_t len);

#ifdef __cplusplus
}
#endif

#endif
