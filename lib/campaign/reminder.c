/* Reminders' public calls (include/wabot/campaign.h): create from the
 * replaced system's JSON, get, cancel, list, stats; scheduling of an
 * occurrence's job past the organisation's quiet hours. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/message.h"
#include "internal/metrics.h"
#include "internal/runtime.h"
#include "internal/state.h"
#include "internal/storage.h"
#include "campaign_metrics.h"
#include "json_io.h"
#include "reminder.h"
#include "tz.h"
#include "wabot/jobs.h"
#include "wabot/template.h"

#define REPEAT_MAX 100
#define INTERVAL_MIN_MS 60000
#define LIST_MAX 1000
#define TEMPLATE_NAME_MAX 512
#define TEMPLATE_LANGUAGE_MAX 16

static const char *str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static int bad(wabot_ctx *ctx, const char *field, const char *why)
{
    return wb_error(ctx, WABOT_ERR_INVAL, "reminder: field \"%s\": %s",
                    field, why);
}

static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > WB_REM_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Scheduling                                                          */

/* The customer's time zone, else the organisation's; NULL: UTC. */
static wb_tz *zone_for(wabot_ctx *ctx, const char *org, const char *phone)
{
    json_t *cust = NULL;
    const char *name = NULL;
    if (phone && wb_profile_doc(ctx, org, phone, &cust) == WABOT_OK)
        name = str(cust, "timezone");
    if (name == NULL || *name == '\0')
        name = wabot_ctx_option_str(ctx, org, "campaign.timezone");
    wb_tz *z = NULL;
    if (name && *name && strcmp(name, "UTC") != 0 &&
        wb_tz_load(&ctx->alloc, name, &z) != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, "campaign",
               "unknown time zone %s for %s: quiet hours in UTC", name,
               phone ? phone : org);
    json_decref(cust);
    wb_error_clear(ctx);
    return z;
}

int64_t wb_rem_quiet_release(wabot_ctx *ctx, const char *org,
                             const char *phone, int64_t t_ms)
{
    int start, end;
    const char *spec = wabot_ctx_option_str(ctx, org, "campaign.quiet_hours");
    if (!wb_quiet_parse(spec, &start, &end) || start == end)
        return t_ms;
    wb_tz *z = zone_for(ctx, org, phone);
    int64_t at = wb_quiet_release_ms(z, start, end, t_ms);
    wb_tz_free(z);
    return at;
}

int wb_rem_schedule(wabot_ctx *ctx, const char *org, const json_t *doc,
                    int64_t occurrence, int64_t run_at_ms)
{
    char job[256];
    const char *id = str(doc, "id");
    wb_rem_job_id(job, sizeof job, org, id, occurrence);
    json_t *p = json_pack("{s:s,s:s,s:I}", "org", org, "id", id, "n",
                          (json_int_t)occurrence);
    char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (payload == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "reminder: out of memory");
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = job;
    spec.run_at_ms = run_at_ms;
    int rc = wabot_job_enqueue(ctx, WABOT_QUEUE_REMINDERS, payload,
                               strlen(payload), &spec, NULL);
    wb_json_free(payload);
    if (rc == WABOT_ERR_EXISTS) { /* a retried step: scheduled already */
        wb_error_clear(ctx);
        rc = WABOT_OK;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Create                                                              */

static int check_repeat(wabot_ctx *ctx, json_t *v, json_t *doc)
{
    if (v == NULL || json_is_null(v))
        return WABOT_OK;
    json_t *count = json_object_get(v, "count");
    json_t *every = json_object_get(v, "intervalMs");
    if (!json_is_object(v) || json_object_size(v) != 2 ||
        !json_is_integer(count) || !json_is_integer(every) ||
        json_integer_value(count) < 1 ||
        json_integer_value(count) > REPEAT_MAX ||
        json_integer_value(every) < INTERVAL_MIN_MS ||
        json_integer_value(every) > 366LL * 86400000)
        return bad(ctx, "repeat",
                   "must be {\"count\":1..100,\"intervalMs\":>=60000}");
    json_object_set(doc, "repeat", v);
    return WABOT_OK;
}

static int check_template(wabot_ctx *ctx, json_t *v, json_t *doc)
{
    if (v == NULL || json_is_null(v))
        return WABOT_OK;
    const char *name = str(v, "name"), *lang = str(v, "language");
    if (!json_is_object(v) || json_object_size(v) != 2 || !name || !*name ||
        strlen(name) > TEMPLATE_NAME_MAX || !lang || !*lang ||
        strlen(lang) > TEMPLATE_LANGUAGE_MAX)
        return bad(ctx, "template",
                   "must be {\"name\":\"...\",\"language\":\"...\"} (name "
                   "1..512 bytes, language 1..16)");
    json_object_set(doc, "template", v);
    return WABOT_OK;
}

static int check_message(wabot_ctx *ctx, const char *text)
{
    if (text == NULL || *text == '\0')
        return bad(ctx, "message", "must be a non-empty string");
    wabot_template *t = NULL;
    int rc = wabot_template_compile(ctx, text, strlen(text), &t);
    wabot_template_free(t);
    if (rc != WABOT_OK) /* keep the template's detail, naming the field */
        return wb_error(ctx, rc, "reminder: field \"message\": %s",
                        wabot_errmsg());
    return WABOT_OK;
}

static const char *const known_members[] = {
    "organizationId", "customerId", "customerPhone", "type", "message",
    "scheduledFor", "id", "repeat", "cancelOnReply", "template", "metadata",
    NULL};

static int check_members(wabot_ctx *ctx, json_t *in)
{
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        int known = 0;
        for (size_t i = 0; known_members[i]; i++)
            known |= strcmp(k, known_members[i]) == 0;
        if (!known)
            return wb_error(ctx, WABOT_ERR_INVAL,
                            "reminder: unknown field \"%s\"", k);
    }
    return WABOT_OK;
}

/* Members that are plain strings: check and copy into doc. */
static int copy_strings(wabot_ctx *ctx, json_t *in, json_t *doc)
{
    const char *cid = str(in, "customerId");
    json_t *v = json_object_get(in, "customerId");
    if (v && !json_is_null(v) &&
        (!cid || strlen(cid) > 128 || !wb_storage_key_part_ok(cid)))
        return bad(ctx, "customerId", "must be a string of 1..128 bytes");
    if (cid)
        json_object_set(doc, "customerId", v);
    const char *type = str(in, "type");
    if (wb_rem_type_by_name(type) < 0)
        return bad(ctx, "type", "must be PAYMENT_DUE, APPOINTMENT, "
                                "ORDER_PICKUP or CUSTOM");
    json_object_set_new(doc, "type", json_string(type));
    int rc = check_message(ctx, str(in, "message"));
    if (rc != WABOT_OK)
        return rc;
    json_object_set(doc, "message", json_object_get(in, "message"));
    v = json_object_get(in, "metadata");
    if (v && !json_is_null(v) && !json_is_object(v))
        return bad(ctx, "metadata", "must be an object");
    if (json_is_object(v))
        json_object_set(doc, "metadata", v);
    return WABOT_OK;
}

static int new_id(wabot_ctx *ctx, json_t *in, char *id)
{
    json_t *v = json_object_get(in, "id");
    if (v == NULL || json_is_null(v)) {
        snprintf(id, WB_REM_ID_MAX + 1, "rem_%016" PRIx64, wb_random(ctx));
        return WABOT_OK;
    }
    if (!id_ok(json_string_value(v)))
        return bad(ctx, "id", "must be 1..64 bytes of [A-Za-z0-9_.-]");
    snprintf(id, WB_REM_ID_MAX + 1, "%s", json_string_value(v));
    return WABOT_OK;
}

/* The reminder `in` describes, as stored (status SCHEDULED). */
static int build(wabot_ctx *ctx, json_t *in, const char *org, json_t *doc)
{
    char phone[WB_REM_PHONE_MAX], id[WB_REM_ID_MAX + 1];
    int64_t at = 0;
    int rc = check_members(ctx, in);
    if (rc == WABOT_OK && (!str(in, "customerPhone") ||
                           wb_e164_normalize(str(in, "customerPhone"), phone,
                                             sizeof phone) != WABOT_OK))
        rc = bad(ctx, "customerPhone", "must be an E.164 number");
    if (rc == WABOT_OK && (!str(in, "scheduledFor") ||
                           !wb_iso8601_ms(str(in, "scheduledFor"), &at)))
        rc = bad(ctx, "scheduledFor",
                 "must be an ISO 8601 time with Z or an offset "
                 "(2025-01-15T10:00:00Z)");
    json_t *cor = json_object_get(in, "cancelOnReply");
    if (rc == WABOT_OK && cor && !json_is_boolean(cor))
        rc = bad(ctx, "cancelOnReply", "must be true or false");
    if (rc == WABOT_OK)
        rc = new_id(ctx, in, id);
    if (rc == WABOT_OK)
        rc = copy_strings(ctx, in, doc);
    if (rc == WABOT_OK)
        rc = check_repeat(ctx, json_object_get(in, "repeat"), doc);
    if (rc == WABOT_OK)
        rc = check_template(ctx, json_object_get(in, "template"), doc);
    if (rc != WABOT_OK)
        return rc;
    int64_t now = wb_now(ctx);
    int64_t run = wb_rem_quiet_release(ctx, org, phone, at > now ? at : now);
    json_object_set_new(doc, "id", json_string(id));
    json_object_set_new(doc, "organizationId", json_string(org));
    json_object_set_new(doc, "customerPhone", json_string(phone));
    json_object_set(doc, "scheduledFor", json_object_get(in, "scheduledFor"));
    json_object_set_new(doc, "scheduledMs", json_integer(at));
    json_object_set_new(doc, "cancelOnReply",
                        json_boolean(!json_is_false(cor)));
    json_object_set_new(doc, "status", json_string("SCHEDULED"));
    json_object_set_new(doc, "sent", json_integer(0));
    json_object_set_new(doc, "nextRunMs", json_integer(run));
    json_object_set_new(doc, "createdMs", json_integer(now));
    json_object_set_new(doc, "updatedMs", json_integer(now));
    return WABOT_OK;
}

/* Expired reminders taken out of the indexes per create. */
#define PRUNE_ON_CREATE 16

static void count_scheduled(wabot_ctx *ctx, const char *org,
                            const json_t *doc)
{
    const char *type = str(doc, "type");
    wb_campaign_metrics_reminder(ctx, org, type, "scheduled");
    int64_t at = json_integer_value(json_object_get(doc, "scheduledMs"));
    int64_t created = json_integer_value(json_object_get(doc, "createdMs"));
    if (json_integer_value(json_object_get(doc, "nextRunMs")) >
        (at > created ? at : created))
        wb_campaign_metrics_reminder(ctx, org, type, "deferred_quiet_hours");
}

/* The job could not be queued: the reminder must not stay SCHEDULED
 * without one. */
static void unschedule(wabot_ctx *ctx, const char *org, json_t *doc)
{
    wb_rem r;
    if (wb_rem_load(ctx, org, str(doc, "id"), &r) != WABOT_OK)
        return;
    json_object_set_new(doc, "status", json_string("FAILED"));
    json_object_set_new(doc, "reason", json_string("not_scheduled"));
    wb_rem_store(ctx, org, r.doc, r.version, doc);
    json_decref(r.doc);
}

int wb_rem_create(wabot_ctx *ctx, json_t *in, char **out)
{
    const char *org = str(in, "organizationId");
    if (!wb_rem_org_ok(org))
        return bad(ctx, "organizationId",
                   "must be 1..64 bytes without '{', '}' or control bytes");
    int rc = wabot_campaign_feature_check(ctx, org,
                                          WABOT_CAMPAIGN_FEATURE_REMINDERS);
    if (rc != WABOT_OK)
        return rc;
    json_t *doc = json_object();
    if (doc == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "reminder: out of memory");
    rc = build(ctx, in, org, doc);
    if (rc == WABOT_OK)
        rc = wb_rem_store(ctx, org, NULL, 0, doc);
    if (rc == WABOT_OK) {
        rc = wb_rem_schedule(ctx, org, doc, 1,
                             json_integer_value(
                                 json_object_get(doc, "nextRunMs")));
        if (rc != WABOT_OK)
            unschedule(ctx, org, doc);
    }
    if (rc == WABOT_OK) {
        wb_count(ctx, "reminders.created", 1);
        count_scheduled(ctx, org, doc);
        /* Each create takes a few expired reminders out of the indexes,
         * so an organisation that never lists them still has bounded
         * indexes. */
        if (wb_rem_prune(ctx, org, PRUNE_ON_CREATE) != WABOT_OK)
            wb_error_clear(ctx);
        if (out)
            rc = wb_campaign_json_out(ctx, doc, out);
    }
    json_decref(doc);
    return rc;
}

int wabot_reminder_create_json(wabot_ctx *ctx, const char *json, size_t len,
                               char **out)
{
    if (out)
        *out = NULL;
    if (ctx == NULL || (json == NULL && len > 0))
        return wb_error(ctx, WABOT_ERR_INVAL, "reminder: NULL argument");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *in = NULL;
    int rc = wb_campaign_json_in(ctx, json ? json : "", len, 0, "reminder",
                                 &in);
    if (rc == WABOT_OK)
        rc = wb_rem_create(ctx, in, out);
    json_decref(in);
    wb_json_scope_leave(prev);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Get, cancel, list, stats                                            */

static int org_arg(wabot_ctx *ctx, const char *org, const char *id)
{
    if (!wb_rem_org_ok(org))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "reminder: organisation must be 1..64 bytes "
                        "without '{', '}' or control bytes");
    if (id != NULL && !id_ok(id))
        return wb_error(ctx, WABOT_ERR_INVAL, "reminder: bad id");
    return WABOT_OK;
}

int wabot_reminder_get_json(wabot_ctx *ctx, const char *org, const char *id,
                            char **out)
{
    if (out)
        *out = NULL;
    if (ctx == NULL || out == NULL || id == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "reminder: NULL argument");
    int rc = org_arg(ctx, org, id);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    wb_rem r;
    rc = wb_rem_load(ctx, org, id, &r);
    if (rc == WABOT_OK)
        rc = wb_campaign_json_out(ctx, r.doc, out);
    json_decref(r.doc);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_reminder_cancel(wabot_ctx *ctx, const char *org, const char *id)
{
    if (ctx == NULL || id == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "reminder: NULL argument");
    int rc = org_arg(ctx, org, id);
    if (rc == WABOT_OK)
        rc = wabot_campaign_feature_check(ctx, org,
                                          WABOT_CAMPAIGN_FEATURE_REMINDERS);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = wb_rem_cancel(ctx, org, id, "cancelled");
    wb_json_scope_leave(prev);
    if (rc == WABOT_OK)
        wb_count(ctx, "reminders.cancelled", 1);
    return rc;
}

static int parse_cursor(const char *cursor, int64_t *offset)
{
    char *end = NULL;
    if (cursor == NULL || *cursor == '\0') {
        *offset = 0;
        return 1;
    }
    long long v = strtoll(cursor, &end, 10);
    *offset = v;
    return *end == '\0' && v >= 0 && cursor[0] >= '0' && cursor[0] <= '9';
}

/* The page's reminders (those of `status` only, when filtering a
 * customer's index) into arr. */
static int load_page(wabot_ctx *ctx, const char *org, json_t *ids,
                     const char *filter, json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        wb_rem r;
        int rc = wb_rem_load(ctx, org, json_string_value(v), &r);
        if (rc == WABOT_ERR_NOT_FOUND)
            continue;
        if (rc != WABOT_OK)
            return rc;
        if (filter == NULL || strcmp(filter, str(r.doc, "status")) == 0)
            json_array_append(arr, r.doc);
        json_decref(r.doc);
    }
    wb_error_clear(ctx);
    return WABOT_OK;
}

static int list(wabot_ctx *ctx, const char *org, const char *phone,
                const char *status, int64_t offset, size_t count, char **out)
{
    char k[256];
    /* A listing that starts takes the expired reminders out of the
     * indexes first (a page further on must not move under it). */
    int rc = offset == 0 ? wb_rem_prune(ctx, org, LIST_MAX) : WABOT_OK;
    if (rc != WABOT_OK)
        return rc;
    wb_rem_index_key(k, org, phone, status);
    json_t *ids = json_array(), *arr = json_array();
    int more = 0;
    rc = ids && arr ? wb_rem_index_page(ctx, org, k, offset, count, ids,
                                            &more)
                        : wb_error(ctx, WABOT_ERR_NOMEM, "reminder: list");
    if (rc == WABOT_OK)
        rc = load_page(ctx, org, ids, phone ? status : NULL, arr);
    if (rc == WABOT_OK) {
        char next[32];
        snprintf(next, sizeof next, "%lld",
                 more ? (long long)(offset + (int64_t)count) : 0LL);
        json_t *o = json_pack("{s:O,s:s}", "reminders", arr, "cursor", next);
        rc = wb_campaign_json_out(ctx, o, out);
        json_decref(o);
    }
    json_decref(ids);
    json_decref(arr);
    return rc;
}

int wabot_reminder_list_json(wabot_ctx *ctx, const char *org,
                             const char *customer, const char *status,
                             const char *cursor, size_t count, char **out)
{
    if (out)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "reminder: NULL argument");
    int64_t offset;
    char phone[WB_REM_PHONE_MAX];
    int rc = org_arg(ctx, org, NULL);
    if (rc != WABOT_OK)
        return rc;
    if (count < 1 || count > LIST_MAX || !parse_cursor(cursor, &offset))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "reminder: count must be 1..1000 and the cursor "
                        "one a listing returned");
    if (status != NULL && wb_rem_status_by_name(status) < 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "reminder: unknown status \"%s\"", status);
    if (customer != NULL &&
        wb_e164_normalize(customer, phone, sizeof phone) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "reminder: customer is not an E.164 number");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = list(ctx, org, customer ? phone : NULL, status, offset, count, out);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_reminder_stats_json(wabot_ctx *ctx, const char *org, char **out)
{
    if (out)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "reminder: NULL argument");
    int rc = org_arg(ctx, org, NULL);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *st = json_object(), *ty = json_object();
    rc = st && ty ? wb_rem_prune(ctx, org, LIST_MAX)
                  : wb_error(ctx, WABOT_ERR_NOMEM, "reminder: stats");
    if (rc == WABOT_OK)
        rc = wb_rem_counts(ctx, org, st, ty);
    if (rc == WABOT_OK) {
        json_t *o = json_pack("{s:O,s:O}", "by_status", st,
                              "created_by_type", ty);
        rc = wb_campaign_json_out(ctx, o, out);
        json_decref(o);
    }
    json_decref(st);
    json_decref(ty);
    wb_json_scope_leave(prev);
    return rc;
}
