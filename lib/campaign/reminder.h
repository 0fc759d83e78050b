/* Reminders (include/wabot/campaign.h): the record and its storage
 * (reminder_store.c), the public calls (reminder.c), the `reminders`
 * queue's worker with cancel-on-reply, and the invoice hooks
 * (reminder_worker.c). Private to the campaign module. */
#ifndef WB_CAMPAIGN_REMINDER_H
#define WB_CAMPAIGN_REMINDER_H

#include <jansson.h>

#include "wabot/campaign.h"
#include "wabot/module.h"

#define WB_REM_ID_MAX 64
#define WB_REM_ORG_MAX 64
#define WB_REM_PHONE_MAX 32

/* Status and type names as in JSON; NULL / -1 when unknown. */
const char *wb_rem_status_name(int status);
int wb_rem_status_by_name(const char *name);
const char *wb_rem_type_name(int type);
int wb_rem_type_by_name(const char *name);
#define WB_REM_N_STATUS 4
#define WB_REM_N_TYPE 4

/* 1 if s is an organisation a reminder key can hold (1..64 bytes, no
 * control bytes, '{' or '}'). */
int wb_rem_org_ok(const char *s);

/* A loaded reminder: its JSON (a new reference) and storage version. */
typedef struct wb_rem {
    json_t *doc;
    uint64_t version;
} wb_rem;

/* Create the reminder `in` describes (wabot_reminder_create_json's
 * work; the invoice hook calls it too). Inside a wb_json_scope. */
int wb_rem_create(wabot_ctx *ctx, json_t *in, char **out);
/* Load reminder `id` of `org`. NOT_FOUND, PARSE (corrupt), STORAGE. Call
 * inside a wb_json_scope of the context. */
int wb_rem_load(wabot_ctx *ctx, const char *org, const char *id, wb_rem *r);
/* Store `doc` (its status, nextRunMs and the customer's phone decide the
 * indexes) in place of `old` (NULL: a new reminder, which must not
 * exist). One transaction with the indexes. CONFLICT: changed since
 * loaded (EXISTS for a new one that exists); STORAGE. */
int wb_rem_store(wabot_ctx *ctx, const char *org, const json_t *old,
                 uint64_t version, json_t *doc);
/* Move a SCHEDULED reminder to CANCELLED with `reason` and remove its
 * job; retries on conflicts. STATE when not SCHEDULED. */
int wb_rem_cancel(wabot_ctx *ctx, const char *org, const char *id,
                  const char *reason);
/* Page of an index: members from offset, at most count. */
int wb_rem_index_page(wabot_ctx *ctx, const char *org, const char *index,
                      int64_t offset, size_t count, json_t *ids, int *more);
/* The index key (buf: 256 bytes) of a listing: a customer's reminders
 * (phone), those in a status, or all. */
void wb_rem_index_key(char *buf, const char *org, const char *phone,
                      const char *status);
/* Storage counts: per-status index sizes and created-per-type counters. */
int wb_rem_counts(wabot_ctx *ctx, const char *org, json_t *by_status,
                  json_t *by_type);

/* Take up to `max` reminders whose record expired (campaign.reminders_ttl)
 * out of org's indexes, oldest expiry first. Storage status. Listing
 * offsets after a pruned entry move back by one. */
int wb_rem_prune(wabot_ctx *ctx, const char *org, size_t max);

/* The job of occurrence n (1-based) of a reminder: its id into buf. */
void wb_rem_job_id(char *buf, size_t n, const char *org, const char *id,
                   int64_t occurrence);
/* Enqueue the job of occurrence n of the reminder to run at run_at_ms
 * (already moved past the quiet hours); EXISTS counts as success. */
int wb_rem_schedule(wabot_ctx *ctx, const char *org, const json_t *doc,
                    int64_t occurrence, int64_t run_at_ms);
/* The first instant >= t_ms outside org's quiet hours for customer
 * `phone` (their time zone, else campaign.timezone). */
int64_t wb_rem_quiet_release(wabot_ctx *ctx, const char *org,
                             const char *phone, int64_t t_ms);

/* How long a reminder of org is kept once SENT, FAILED or CANCELLED
 * (campaign.reminders_ttl; 0: for ever). */
int64_t wb_reminders_ttl_ms(const wabot_ctx *ctx, const char *org);

/* Module wiring (reminder_worker.c): the queue's worker and the invoice
 * hooks. From the campaign module's create. */
int wb_reminders_create(wabot_module *m);

#endif
