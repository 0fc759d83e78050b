/*
 * Campaigns and reminders (the `campaign` module; doc/campaigns.md).
 *
 * The module's feature flags, customers, audiences and campaigns (their
 * fan-out runs on the "campaigns" queue). Message templating is in
 * wabot/template.h. Reminders build on the same module (issue 14).
 *
 * Both features can be switched off per context or per organisation:
 *   campaign.enabled            env ENABLE_CAMPAIGNS   (default on)
 *   campaign.reminders_enabled  env ENABLE_REMINDERS   (default on)
 * A call into a disabled feature refuses with WABOT_ERR_UNSUPPORTED and a
 * detail in wabot_errmsg() naming the option and its variable.
 */
#ifndef WABOT_CAMPAIGN_H
#define WABOT_CAMPAIGN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A feature of the campaign module. Append-only. */
typedef enum wabot_campaign_feature {
    WABOT_CAMPAIGN_FEATURE_CAMPAIGNS = 0, /**< campaign.enabled */
    WABOT_CAMPAIGN_FEATURE_REMINDERS = 1  /**< campaign.reminders_enabled */
} wabot_campaign_feature;

/**
 * Whether `feature` is on for organisation `org` (NULL: the context-wide
 * setting). Any thread, no allocation. Returns WABOT_OK when on;
 * WABOT_ERR_UNSUPPORTED when switched off (the detail names the option);
 * WABOT_ERR_STATE when the context has no campaign module;
 * WABOT_ERR_INVAL for a NULL context or an unknown feature.
 */
WABOT_API int wabot_campaign_feature_check(const wabot_ctx *ctx,
                                           const char *org,
                                           wabot_campaign_feature feature);

/* ------------------------------------------------------------------ */
/* Customers (per organisation; the profile of wabot/state.h, grown)    */

/*
 * A customer as JSON (what the functions below return):
 *   {"phone":"+351912345678","name":"Ana","tags":["vip"],
 *    "attributes":{"city":"Porto"},"locale":"pt-PT",
 *    "timezone":"Europe/Lisbon","opted_out":false,"opt_source":"api",
 *    "opt_changed_ms":...,"created_ms":...,"last_inbound_ms":...}
 * Members never set are absent (name: "", opted_out: false and
 * last_inbound_ms: 0 always present). Inbound messages keep name and
 * last_inbound_ms current and never lose the other members.
 *
 * Writable members (wabot_customer_upsert_json):
 *   phone       required; any spelling wb accepts ("whatsapp:+1 415-...")
 *               that is E.164 (6..15 digits); stored as "+<digits>"
 *   name        string ("" or null: unknown)
 *   tags        array of 0..100 strings of 1..64 bytes, no control
 *               characters; duplicates dropped; replaces the stored list
 *   attributes  object of 0..100 members: names 1..64 bytes of
 *               [A-Za-z0-9_-] (so {{customer.<attr>}} can name them),
 *               string values up to 1024 bytes; replaces the stored object
 *   locale      1..35 bytes of [A-Za-z0-9_-] ("pt-BR")
 *   timezone    1..64 bytes of [A-Za-z0-9_/+-] ("America/Sao_Paulo")
 *   opted_out   bool; records opt_changed_ms (now) and
 *               opt_source
 *   opt_source  with opted_out: "api" (default), "keyword", "131050",
 *               "21610" (the provider codes of a customer who stopped
 *               marketing messages / replied STOP)
 * Any other member (created_ms, last_inbound_ms included) is refused.
 * null for a member other than phone removes it.
 */

/**
 * Create or update the customer `json` describes (members above; those
 * absent are kept). All or nothing. On success *out (may be NULL) is the
 * customer after the change as JSON, freed with wabot_ctx_mem_free(ctx,
 * *out). Any thread. Counts customers.created for a new one. Errors:
 * WABOT_ERR_PARSE (not a JSON object), WABOT_ERR_INVAL (a member of the
 * wrong type or value, or an unknown member: wabot_errmsg() names it as
 * `field "tags": ...`), WABOT_ERR_UNSUPPORTED (campaigns disabled for
 * `org`), WABOT_ERR_STORAGE, WABOT_ERR_CONFLICT (changed concurrently too
 * often), NOMEM.
 */
WABOT_API int wabot_customer_upsert_json(wabot_ctx *ctx, const char *org,
                                         const char *json, size_t len,
                                         char **out);

/**
 * Bulk import: `json` is an array of customer objects (members as for
 * wabot_customer_upsert_json), each created or updated on its own. A row
 * that is refused does not stop the others; *report (may be NULL; free
 * with wabot_ctx_mem_free) says what happened:
 *   {"rows":N,"created":N,"updated":N,"failed":N,
 *    "errors":[{"row":3,"field":"phone","reason":"..."}]}
 * "row" is the 0-based index in the array; "errors" lists the first 1000
 * refused rows ("failed" counts them all). Any thread. Errors:
 * WABOT_ERR_PARSE (not a JSON array), WABOT_ERR_UNSUPPORTED (campaigns
 * disabled), and a storage failure, which stops the import there
 * (rows before it are imported; wabot_errmsg() names the row): STORAGE,
 * CONFLICT, NOMEM.
 */
WABOT_API int wabot_customer_import_json(wabot_ctx *ctx, const char *org,
                                         const char *json, size_t len,
                                         char **report);

/**
 * The customer with `phone` (any accepted spelling) as JSON in *out (free
 * with wabot_ctx_mem_free). Any thread. Errors: WABOT_ERR_NOT_FOUND,
 * WABOT_ERR_INVAL (bad phone or org), WABOT_ERR_PARSE (stored profile
 * corrupt), WABOT_ERR_STORAGE, NOMEM.
 */
WABOT_API int wabot_customer_get_json(wabot_ctx *ctx, const char *org,
                                      const char *phone, char **out);

/**
 * Delete the customer (profile and opt-out state: a deleted customer is
 * opted in again). Any thread. Errors: WABOT_ERR_NOT_FOUND,
 * WABOT_ERR_INVAL, WABOT_ERR_UNSUPPORTED (campaigns disabled),
 * WABOT_ERR_STORAGE.
 */
WABOT_API int wabot_customer_delete(wabot_ctx *ctx, const char *org,
                                    const char *phone);

/**
 * One page of the organisation's customers, streaming through storage:
 * *out is {"customers":[...],"cursor":"..."} (free with
 * wabot_ctx_mem_free). Start with cursor "0" (or NULL); stop when the
 * returned cursor is "0". A page holds at most `count`
 * (1..WABOT_STORAGE_PAGE_MAX) customers, possibly fewer, even none, before
 * the end; every customer present for the whole iteration is listed at
 * least once, in no particular order. Any thread. Errors: WABOT_ERR_INVAL
 * (bad org, count or cursor), WABOT_ERR_UNSUPPORTED (version-1 storage),
 * WABOT_ERR_STORAGE, NOMEM.
 */
WABOT_API int wabot_customer_list_json(wabot_ctx *ctx, const char *org,
                                       const char *cursor, size_t count,
                                       char **out);

/* ------------------------------------------------------------------ */
/* Audiences                                                           */

/**
 * Resolve one page of an audience of organisation `org`. `audience` is
 * JSON, one of:
 *   {"type":"all"}
 *   {"type":"tags","any":["vip","new"]}     (or "all": every tag)
 *   {"type":"list","customers":["+15550100", ...]}   (1..100000 phones;
 *                                            customer ids are phones)
 *   {"type":"attribute","name":"city","equals":"Porto"}
 * Resolution streams through storage: each call reads one page (at most
 * `count`, 1..WABOT_STORAGE_PAGE_MAX, customers; for a list, `count`
 * entries of it) and answers, in *out (free with wabot_ctx_mem_free):
 *   {"recipients":["+1555..."],"cursor":"...",
 *    "excluded":{"opted_out":N,"not_matched":N,"not_found":N}}
 * for that page (the caller adds the pages up). Start with cursor "0" (or
 * NULL); stop when the returned cursor is "0". Opted-out customers are
 * never recipients; not_matched counts customers the tags or attribute
 * left out, not_found the list entries without a customer. On Redis a
 * customer may come back on a later page of a scan (as with
 * wabot_storage_scan): a caller that needs exactly-once deduplicates (a
 * campaign's per-recipient id does). Any thread. Errors: WABOT_ERR_PARSE
 * (not a JSON object), WABOT_ERR_INVAL (a bad member, named in
 * wabot_errmsg(); bad count, org or cursor), WABOT_ERR_STORAGE, NOMEM.
 */
WABOT_API int wabot_audience_resolve_json(wabot_ctx *ctx, const char *org,
                                          const char *audience,
                                          size_t len, const char *cursor,
                                          size_t count, char **out);


/* ================================================================== */
/* Reminders (issue 14; doc/campaigns.md "Reminders")                  */
/* ================================================================== */

/** A reminder's type. Append-only; JSON spells them as named here
 *  without the prefix ("PAYMENT_DUE"). */
typedef enum wabot_reminder_type {
    WABOT_REMINDER_PAYMENT_DUE = 0,
    WABOT_REMINDER_APPOINTMENT = 1,
    WABOT_REMINDER_ORDER_PICKUP = 2,
    WABOT_REMINDER_CUSTOM = 3
} wabot_reminder_type;

/** A reminder's status. Append-only. SCHEDULED -> SENT, FAILED or
 *  CANCELLED; those three are final. */
typedef enum wabot_reminder_status {
    WABOT_REMINDER_SCHEDULED = 0,
    WABOT_REMINDER_SENT = 1,
    WABOT_REMINDER_FAILED = 2,
    WABOT_REMINDER_CANCELLED = 3
} wabot_reminder_status;

/*
 * A reminder as JSON. Created from the replaced system's fields:
 *   {"organizationId":"test-org","customerId":"cust-123",
 *    "customerPhone":"+1234567890","type":"PAYMENT_DUE",
 *    "message":"Test reminder","scheduledFor":"2025-01-15T10:00:00Z"}
 * organizationId   required; the organisation (a storage key part)
 * customerId       optional; the caller's own id of the customer (kept)
 * customerPhone    required; E.164 (any spelling wabot accepts); the
 *                  customer the reminder goes to
 * type             required; PAYMENT_DUE, APPOINTMENT, ORDER_PICKUP,
 *                  CUSTOM
 * message          required; a message template (wabot/template.h:
 *                  {{name}}, {{customer.<attr>}}, {{org.<attr>}}),
 *                  checked now, rendered when the reminder fires
 * scheduledFor     required; ISO 8601 with Z or an offset
 *                  ("2026-03-01T09:30:00+01:00", seconds and fractions
 *                  optional); in the past: sent now
 * Optional:
 * id               1..64 bytes of [A-Za-z0-9_.-]: the reminder's id
 *                  (default generated, "rem_<16 hex>"); a second create
 *                  with the same id is WABOT_ERR_EXISTS
 * repeat           {"count":N,"intervalMs":ms}: N (1..100) sends in all,
 *                  intervalMs (>= 60000) apart
 * cancelOnReply    bool, default true: a message from the customer
 *                  after the reminder was created and before it fires
 *                  cancels it (decided when it fires: the status reads
 *                  SCHEDULED until then)
 * template         {"name":"...","language":"en"}: the provider template
 *                  sent (the rendered message as {{1}}) when the
 *                  customer's 24-hour window is closed
 * metadata         any JSON object, kept as given
 * Read-only members in answers: "id", "status" (SCHEDULED, SENT, FAILED,
 * CANCELLED), "sent" (sends so far), "nextRunMs", "createdMs",
 * "updatedMs", "reason" (why FAILED or CANCELLED: "opted_out",
 * "window_closed", "customer_replied", "cancelled", "invoice_paid", ...).
 */

/**
 * Create a reminder from `json` (members above) and schedule it on the
 * WABOT_QUEUE_REMINDERS queue as a delayed job (id "rem:<org>:<id>:1"),
 * due at scheduledFor (now if in the past), moved past the organisation's
 * quiet hours (campaign.quiet_hours) in the customer's time zone, else
 * campaign.timezone. *out (may be NULL) gets the stored reminder as JSON
 * (free with wabot_ctx_mem_free). Any thread. Counts reminders.created.
 * Errors: WABOT_ERR_PARSE (not a JSON object), WABOT_ERR_INVAL (a missing
 * or bad member, named in wabot_errmsg(), the template's error with its
 * byte position), WABOT_ERR_EXISTS (the id exists), WABOT_ERR_UNSUPPORTED
 * (reminders disabled for the organisation), STORAGE, NOMEM.
 */
WABOT_API int wabot_reminder_create_json(wabot_ctx *ctx, const char *json,
                                         size_t len, char **out);

/**
 * The reminder `id` of organisation `org` as JSON in *out (free with
 * wabot_ctx_mem_free). Any thread. Errors: WABOT_ERR_NOT_FOUND,
 * WABOT_ERR_INVAL, STORAGE, NOMEM.
 */
WABOT_API int wabot_reminder_get_json(wabot_ctx *ctx, const char *org,
                                      const char *id, char **out);

/**
 * Cancel a SCHEDULED reminder (status CANCELLED, reason "cancelled"; its
 * job is removed). Any thread. Errors: WABOT_ERR_STATE (already SENT,
 * FAILED or CANCELLED: wabot_errmsg() names the status),
 * WABOT_ERR_NOT_FOUND, WABOT_ERR_INVAL, WABOT_ERR_UNSUPPORTED (reminders
 * disabled), STORAGE.
 */
WABOT_API int wabot_reminder_cancel(wabot_ctx *ctx, const char *org,
                                    const char *id);

/**
 * One page of organisation `org`'s reminders, oldest first: all of them
 * (customer and status NULL), those of one customer (`customer`: a
 * phone), or those in one status (`status`: "SCHEDULED", ...; with a
 * customer too, filtered on the page). *out (free with
 * wabot_ctx_mem_free) is {"reminders":[...],"cursor":"..."}. Start with
 * cursor "0" (or NULL); stop when the returned cursor is "0". At most
 * `count` (1..1000) per page. A reminder that changes status during a
 * listing by status may be skipped or listed twice. Any thread. Errors:
 * WABOT_ERR_INVAL (bad org, phone, status, cursor or count), STORAGE,
 * NOMEM.
 */
WABOT_API int wabot_reminder_list_json(wabot_ctx *ctx, const char *org,
                                       const char *customer,
                                       const char *status,
                                       const char *cursor, size_t count,
                                       char **out);

/**
 * Counts of organisation `org`'s reminders as JSON in *out (free with
 * wabot_ctx_mem_free):
 *   {"by_status":{"SCHEDULED":n,"SENT":n,"FAILED":n,"CANCELLED":n},
 *    "created_by_type":{"PAYMENT_DUE":n,...}}
 * Read from storage (shared by every process). Any thread. Errors:
 * WABOT_ERR_INVAL, STORAGE, NOMEM.
 */
WABOT_API int wabot_reminder_stats_json(wabot_ctx *ctx, const char *org,
                                        char **out);

/* ------------------------------------------------------------------ */
/* Campaigns                                                           */

/** Where a campaign is in its life. Append-only. Allowed moves:
 *  DRAFT -> SCHEDULED -> RUNNING <-> PAUSED -> (RUNNING) -> COMPLETED;
 *  DRAFT -> RUNNING (start now); DRAFT, SCHEDULED, RUNNING, PAUSED ->
 *  CANCELLED. Anything else is WABOT_ERR_STATE. */
typedef enum wabot_campaign_status {
    WABOT_CAMPAIGN_DRAFT = 0,
    WABOT_CAMPAIGN_SCHEDULED = 1,
    WABOT_CAMPAIGN_RUNNING = 2,
    WABOT_CAMPAIGN_PAUSED = 3,
    WABOT_CAMPAIGN_COMPLETED = 4,
    WABOT_CAMPAIGN_CANCELLED = 5
} wabot_campaign_status;

/** The campaign's "type" (the replaced system's names). Append-only. */
typedef enum wabot_campaign_type {
    WABOT_CAMPAIGN_PROMOTIONAL = 0,
    WABOT_CAMPAIGN_TRANSACTIONAL = 1,
    WABOT_CAMPAIGN_UTILITY = 2
} wabot_campaign_type;

/** Static upper-case name ("DRAFT", ..., "RUNNING"); "UNKNOWN". */
WABOT_API const char *wabot_campaign_status_name(wabot_campaign_status s);

/*
 * A campaign as JSON. Created from the replaced system's body:
 *   {"organizationId":"test-org","name":"Test Campaign",
 *    "message":"Test message {{name}}","type":"PROMOTIONAL",
 *    "targetAudience":{"type":"all"},"startImmediately":true}
 * plus, optionally:
 *   scheduledFor      ISO 8601 date-time with Z or an offset
 *                     ("2026-12-24T09:00:00+01:00"): SCHEDULED, fan-out
 *                     starts then (a time in the past: at once)
 *   providerTemplate  sent instead of the text to recipients outside the
 *                     24-hour window (without one they are skipped):
 *                     Meta {"name":"promo_1","language":"en_US",
 *                           "parameters":["{{name}}", ...]}   (0..20)
 *                     Twilio {"contentSid":"HX...",
 *                             "variables":["{{name}}", ...]} (0..20)
 *                     parameters are templates like "message"
 *   sendRate          messages per second of this campaign, 1..10000
 *                     (absent: only the context's limits)
 *   batchSize         recipients per fan-out job, 1..1000 (default 500)
 * Neither startImmediately nor scheduledFor: DRAFT. Answers add "id",
 * "status", "created_ms", "updated_ms" and, once known, "scheduled_ms",
 * "started_ms", "finished_ms".
 */

/**
 * Create a campaign from `json` (above). "message" and the template's
 * parameters are compiled here: an unknown placeholder or a brace error
 * is WABOT_ERR_INVAL with the byte position in wabot_errmsg() (as
 * wabot_template_compile). The audience is checked here too. On success
 * *out (may be NULL) is the campaign as JSON (wabot_ctx_mem_free); a
 * campaign created RUNNING or SCHEDULED has its first fan-out job queued
 * on the "campaigns" queue. Counts campaigns.created. Any thread. Errors:
 * WABOT_ERR_PARSE, WABOT_ERR_INVAL (the member is named), TOO_LARGE
 * (message over 64 KiB), WABOT_ERR_UNSUPPORTED (campaign.enabled off for
 * the organisation), STORAGE, NOMEM.
 */
WABOT_API int wabot_campaign_create_json(wabot_ctx *ctx, const char *json,
                                         size_t len, char **out);

/**
 * The campaign `id` of organisation `org` as JSON in *out (free with
 * wabot_ctx_mem_free). Any thread. Errors: WABOT_ERR_NOT_FOUND,
 * WABOT_ERR_INVAL, STORAGE, NOMEM.
 */
WABOT_API int wabot_campaign_get_json(wabot_ctx *ctx, const char *org,
                                      const char *id, char **out);

/**
 * One page of the organisation's campaigns in creation order, those with
 * status `status` (NULL: any; "RUNNING", ...): *out is
 * {"campaigns":[...],"cursor":"..."} (wabot_ctx_mem_free). Start with
 * cursor "0" (or NULL), stop when the cursor comes back "0"; a page holds
 * at most `count` (1..WABOT_STORAGE_PAGE_MAX), possibly none before the
 * end. Reads the organisation's campaign index, never a keyspace scan;
 * each campaign comes once per listing. Any thread. Errors: WABOT_ERR_INVAL (bad org, status, count or
 * cursor), STORAGE, NOMEM.
 */
WABOT_API int wabot_campaign_list_json(wabot_ctx *ctx, const char *org,
                                       const char *status,
                                       const char *cursor, size_t count,
                                       char **out);

/**
 * Lifecycle. start: DRAFT or SCHEDULED -> RUNNING now; schedule: DRAFT ->
 * SCHEDULED at `at_ms` (ms since the epoch); pause: RUNNING -> PAUSED (no
 * new fan-out batch starts; messages already queued still go); resume:
 * PAUSED -> RUNNING, continuing where the fan-out stopped; cancel: any
 * state but COMPLETED and CANCELLED -> CANCELLED. COMPLETED is reached by
 * the fan-out itself once every recipient was queued or skipped. Any
 * thread. Errors: WABOT_ERR_STATE (move not allowed; wabot_errmsg() names
 * both states), WABOT_ERR_NOT_FOUND, WABOT_ERR_INVAL,
 * WABOT_ERR_UNSUPPORTED (campaigns disabled), STORAGE, CONFLICT (changed
 * concurrently too often), NOMEM.
 */
WABOT_API int wabot_campaign_start(wabot_ctx *ctx, const char *org,
                                   const char *id);
WABOT_API int wabot_campaign_schedule(wabot_ctx *ctx, const char *org,
                                      const char *id, int64_t at_ms);
WABOT_API int wabot_campaign_pause(wabot_ctx *ctx, const char *org,
                                   const char *id);
WABOT_API int wabot_campaign_resume(wabot_ctx *ctx, const char *org,
                                    const char *id);
WABOT_API int wabot_campaign_cancel(wabot_ctx *ctx, const char *org,
                                    const char *id);

/** Why a recipient got no message. Append-only. */
typedef enum wabot_campaign_skip {
    WABOT_CAMPAIGN_SKIP_OPTED_OUT = 0,     /**< opted out (audience) */
    WABOT_CAMPAIGN_SKIP_WINDOW_CLOSED = 1, /**< outside the 24-hour window
                                                and no provider template */
    WABOT_CAMPAIGN_SKIP_NOT_FOUND = 2,     /**< a list entry without a customer */
    WABOT_CAMPAIGN_SKIP_INVALID = 3        /**< the message could not be
                                                built (too long for the
                                                provider, ...) */
} wabot_campaign_skip;
#define WABOT_CAMPAIGN_SKIP_COUNT 4

#define WABOT_CAMPAIGN_PROGRESS_VERSION 1
/** Progress of a campaign (wabot_campaign_progress). The caller sets
 *  `version`; the library fills the members that version has. */
typedef struct wabot_campaign_progress {
    uint32_t version;     /**< WABOT_CAMPAIGN_PROGRESS_VERSION */
    int32_t status;       /**< wabot_campaign_status */
    int64_t total;        /**< recipients seen so far: queued + skipped
                               (final once COMPLETED) */
    int64_t queued;       /**< outbound messages queued */
    int64_t sent;         /**< accepted by the provider */
    int64_t delivered;    /**< delivered receipts (read ones included) */
    int64_t read;         /**< read receipts */
    int64_t failed;       /**< refused for good (send or receipt) */
    int64_t skipped[WABOT_CAMPAIGN_SKIP_COUNT]; /**< by wabot_campaign_skip */
    int32_t percent;      /**< 0..100: (sent + failed + skipped) / total,
                               of a complete fan-out; 0 before */
    int64_t eta_ms;       /**< estimated ms until every recipient not yet
                               sent, failed or skipped is sent (those the
                               fan-out has not reached included once the
                               audience's size is known), at sendRate or
                               the rate so far if slower; -1 unknown, 0
                               done (doc/campaigns.md) */
} wabot_campaign_progress;

/**
 * Progress of campaign `id` into *out (out->version set by the caller).
 * Counts come from the fan-out and from the outbound path (sent) and
 * delivery receipts (delivered, read, failed) of the messages it queued.
 * Any thread. Errors: WABOT_ERR_NOT_FOUND, WABOT_ERR_INVAL (bad version),
 * STORAGE, NOMEM.
 */
WABOT_API int wabot_campaign_progress_get(wabot_ctx *ctx, const char *org,
                                          const char *id,
                                          wabot_campaign_progress *out);

/**
 * The same as JSON in *out (wabot_ctx_mem_free):
 *   {"id":"...","status":"RUNNING","total":N,"queued":N,"sent":N,
 *    "delivered":N,"read":N,"failed":N,
 *    "skipped":{"opted_out":N,"window_closed":N,"not_found":N,
 *               "invalid":N},"percent":N,"eta_ms":N}
 * Errors as wabot_campaign_progress_get.
 */
WABOT_API int wabot_campaign_progress_json(wabot_ctx *ctx, const char *org,
                                           const char *id, char **out);

#ifdef __cplusplus
}
#endif

#endif
