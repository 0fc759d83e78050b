/* Conversation and profile persistence on top of wabot_storage, plus the
 * per-customer lock table. Private. */
#ifndef WB_STATE_H
#define WB_STATE_H

#include <jansson.h>

#include "ctx.h"
#include "wabot/state.h"

/* A loaded conversation. */
typedef struct wb_conv {
    char *state;      /* NULL = none; allocated with ctx->alloc */
    json_t *session;  /* always an object after a successful load */
    uint64_t version; /* storage version; 0 = does not exist yet */
} wb_conv;

/* Load (org, customer); an absent conversation loads as empty with
 * version 0. A corrupt stored value is logged and loads as empty with the
 * stored version, so the next save overwrites it. WABOT_OK,
 * WABOT_ERR_STORAGE, NOMEM. */
int wb_conv_load(wabot_ctx *ctx, const char *org, const char *customer,
                 wb_conv *out);
/* wb_conv_load() from a stored record read elsewhere (the turn fast
 * path): record/rlen as stored (NULL: absent), version its version. */
int wb_conv_load_stored(wabot_ctx *ctx, const char *org,
                        const char *customer, const char *record,
                        size_t rlen, uint64_t version, wb_conv *out);
/* Save with compare-and-set against c->version (0 = must be absent), TTL
 * ctx->cfg.state_ttl_ms. On success c->version is updated.
 * WABOT_ERR_CONFLICT if another writer won. */
int wb_conv_save(wabot_ctx *ctx, const char *org, const char *customer,
                 wb_conv *c);
void wb_conv_clear(wabot_ctx *ctx, wb_conv *c);
/* The storage key (into key[WB_STORAGE_KEY_MAX + 1]) and the record
 * (*record, libc memory: wabot_free) that wb_conv_save would write, for a
 * caller that writes it in a transaction. INVAL, NOMEM. */
int wb_conv_encode(wabot_ctx *ctx, const char *org, const char *customer,
                   const wb_conv *c, char *key, char **record, size_t *len);

typedef struct wb_profile {
    char *name;       /* ctx->alloc; NULL = unknown */
    int64_t last_inbound_ms;
    int opted_out;
} wb_profile;

/* Record an inbound message atomically (CAS loop): set last_inbound_ms to
 * now_ms (if later), set the name if `name` is non-empty. Fills *out (may be
 * NULL) with the profile after the update. */
int wb_profile_touch(wabot_ctx *ctx, const char *org, const char *phone,
                     const char *name, int64_t now_ms, wb_profile *out);
void wb_profile_clear(wabot_ctx *ctx, wb_profile *p);
/* The campaign module's view of the same record (lib/state/customer.c).
 * Merge: each member of `fields` (an object) replaces the stored one, a
 * null member removes it ("name" and "opted_out" included); a new profile
 * gets created_ms = now_ms and *created = 1. *doc (may be NULL) gets a new
 * reference to the profile after the change. Doc: the stored profile
 * (WABOT_ERR_NOT_FOUND if none). Delete: WABOT_ERR_NOT_FOUND if none. */
int wb_profile_merge(wabot_ctx *ctx, const char *org, const char *phone,
                     json_t *fields, int64_t now_ms, int *created,
                     json_t **doc);
int wb_profile_doc(wabot_ctx *ctx, const char *org, const char *phone,
                   json_t **doc);
int wb_profile_delete(wabot_ctx *ctx, const char *org, const char *phone);
/* wabot_customer_set_opted_out recording who changed it: `source` is
 * "api", "keyword" or the provider code ("131050", "21610"); a change
 * stores opt_source and opt_changed_ms (now). */
int wb_profile_set_opt(wabot_ctx *ctx, const char *org, const char *phone,
                       int opted_out, const char *source);
/* One scan page of org's profiles: each (with "phone") appended to `arr`;
 * *next (ctx->alloc) is the cursor for the next page, "0" at the end. A
 * page may hold fewer than `count` profiles, even none, before the end. */
int wb_profile_list(wabot_ctx *ctx, const char *org, const char *cursor,
                    size_t count, json_t *arr, char **next);

/* What the outbound policy needs of a profile, from its stored value
 * (read by the send path in a batch, lib/delivery/worker.c): WABOT_OK,
 * WABOT_ERR_PARSE (corrupt), UNSUPPORTED (a newer schema) or NOMEM.
 * wb_profile_key checks org and phone as wabot_customer_get does (an
 * error recorded on ctx). */
int wb_profile_key(wabot_ctx *ctx, const char *org, const char *phone,
                   char *key /* WB_STORAGE_KEY_MAX + 1 bytes */);
int wb_profile_policy_decode(const char *val, size_t len, int *opted_out,
                             int64_t *last_inbound_ms);

/* Per-customer lock table: serialises turns of one customer in-process. */
wb_locktab *wb_locktab_new(const wabot_allocator *a);
void wb_locktab_free(wb_locktab *t);
/* Lock/unlock the key (copied while held). Not re-entrant for the same key
 * on one thread. wb_lock returns WABOT_OK or NOMEM. */
int wb_lock(wb_locktab *t, const char *key);
void wb_unlock(wb_locktab *t, const char *key);

/* Storage keys: "conv:{<org>:<customer>}", "cust:{<org>:<phone>}"; the
 * braces make "<org>:<customer>" the Redis hash tag of every key of one
 * customer, so one transaction (the turn's commit) may touch them all.
 * Written into buf; returns buf, or NULL if it does not fit. */
char *wb_conv_key(char *buf, size_t n, const char *org, const char *customer);
char *wb_cust_key(char *buf, size_t n, const char *org, const char *phone);

#endif
