/* Campaigns (include/wabot/campaign.h): create from the replaced system's
 * JSON, the lifecycle, listing and progress. The fan-out itself is the
 * "campaigns" queue's worker (fanout.c). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign_store.h"
#include "tz.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/metrics.h"
#include "internal/runtime.h"
#include "internal/storage.h"
#include "json_io.h"
#include "wabot/jobs.h"
#include "wabot/storage.h"
#include "wabot/template.h"

#define ORG_MAX WB_CAMPAIGN_ORG_MAX
#define UPDATE_TRIES 16

static const char *const STATUS[] = {"DRAFT",  "SCHEDULED", "RUNNING",
                                     "PAUSED", "COMPLETED", "CANCELLED"};
static const char *const TYPES[] = {"PROMOTIONAL", "TRANSACTIONAL",
                                    "UTILITY"};
const char *const wb_campaign_skip_names[WABOT_CAMPAIGN_SKIP_COUNT] = {
    "opted_out", "window_closed", "not_found", "invalid"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *wabot_campaign_status_name(wabot_campaign_status s)
{
    return (unsigned)s < N_OF(STATUS) ? STATUS[s] : "UNKNOWN";
}

int wb_campaign_status_of(const char *name)
{
    for (size_t i = 0; name != NULL && i < N_OF(STATUS); i++)
        if (strcmp(name, STATUS[i]) == 0)
            return (int)i;
    return -1;
}

static int status_in(json_t *doc)
{
    return wb_campaign_status_of(
        json_string_value(json_object_get(doc, "status")));
}

/* ------------------------------------------------------------------ */
/* Storage                                                             */

char *wb_campaign_key(char *buf, size_t n, const char *kind, const char *org,
                      const char *id, const char *suffix)
{
    int w = snprintf(buf, n, "%s:{%s}:%s%s%s", kind, org, id,
                     suffix != NULL ? ":" : "", suffix != NULL ? suffix : "");
    return w >= 0 && (size_t)w < n ? buf : NULL;
}

static int check_ref(wabot_ctx *ctx, const char *org, const char *id)
{
    if (ctx == NULL)
        return WABOT_ERR_INVAL;
    if (org == NULL || !wb_storage_key_part_ok(org) || strlen(org) > ORG_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "campaign: organisation must be 1..%d bytes without "
                        "control characters", ORG_MAX);
    if (id == NULL || !wb_storage_key_part_ok(id) ||
        strlen(id) > WB_CAMPAIGN_ID_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "campaign: id must be 1..64 bytes without control "
                        "characters");
    return WABOT_OK;
}

int wb_campaign_load(wabot_ctx *ctx, const char *org, const char *id,
                     json_t **doc, uint64_t *version)
{
    char key[WB_STORAGE_KEY_MAX + 1], *val = NULL;
    size_t len = 0;
    *doc = NULL;
    if (wb_campaign_key(key, sizeof key, "campaign", org, id, NULL) == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: key too long");
    int rc = wabot_storage_get(ctx->storage, key, &val, &len, version);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "campaign %s of %s not found", id, org);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "campaign %s: reading: %s", id,
                        wabot_storage_errmsg(ctx->storage));
    *doc = json_loadb(val, len, 0, NULL);
    wabot_free(val);
    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        return wb_error(ctx, WABOT_ERR_PARSE, "campaign %s: stored record "
                        "is corrupt", id);
    }
    return WABOT_OK;
}

/* Write doc: create (expected 0, refused if it exists) or compare and
 * set against `expected`. */
static int store(wabot_ctx *ctx, const char *org, const char *id,
                 json_t *doc, uint64_t expected)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    if (wb_campaign_key(key, sizeof key, "campaign", org, id, NULL) == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: key too long");
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    int rc = expected == 0
                 ? wabot_storage_set_nx(ctx->storage, key, text, strlen(text),
                                        0, NULL)
                 : wabot_storage_cas(ctx->storage, key, expected, text,
                                     strlen(text), 0, NULL);
    wb_json_free(text);
    return rc;
}

/* Write a new campaign and add it to its organisation's index in one
 * transaction, the organisation to WB_CAMPAIGN_ORGS first (so no indexed
 * campaign has an organisation missing there). */
static int store_new(wabot_ctx *ctx, const char *org, const char *id,
                     json_t *doc, int64_t now)
{
    char key[WB_STORAGE_KEY_MAX + 1], ix[WB_STORAGE_KEY_MAX + 1];
    int w = snprintf(ix, sizeof ix, "campaign-ix:{%s}", org);
    if (wb_campaign_key(key, sizeof key, "campaign", org, id, NULL) == NULL ||
        w < 0 || (size_t)w >= sizeof ix)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: key too long");
    int rc = wabot_storage_sorted_add(ctx->storage, WB_CAMPAIGN_ORGS, org,
                                      strlen(org), now);
    if (rc != WABOT_OK)
        return rc;
    char *text = json_dumps(doc, JSON_COMPACT);
    wabot_storage_txn *t = text ? wabot_storage_txn_new(ctx->storage) : NULL;
    rc = t ? wabot_storage_txn_cas(t, key, 0, text, strlen(text), 0)
           : WABOT_ERR_NOMEM;
    wb_json_free(text);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, ix, id, strlen(id), now);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    wabot_storage_txn_free(t);
    return rc == WABOT_ERR_CONFLICT ? WABOT_ERR_EXISTS : rc;
}

int wb_campaign_update(wabot_ctx *ctx, const char *org, const char *id,
                       wb_campaign_edit_fn fn, void *ud, json_t **after)
{
    for (int i = 0; i < UPDATE_TRIES; i++) {
        json_t *doc;
        uint64_t version = 0;
        int rc = wb_campaign_load(ctx, org, id, &doc, &version);
        if (rc == WABOT_OK)
            rc = fn(ctx, doc, ud);
        if (rc == WABOT_OK) {
            json_object_set_new(doc, "updated_ms", json_integer(wb_now(ctx)));
            rc = store(ctx, org, id, doc, version);
            if (rc == WABOT_ERR_CONFLICT) {
                json_decref(doc);
                continue;
            }
            if (rc != WABOT_OK)
                rc = wb_error(ctx, rc, "campaign %s: writing: %s", id,
                              wabot_storage_errmsg(ctx->storage));
        }
        if (rc == WABOT_OK && after != NULL)
            *after = doc;
        else
            json_decref(doc);
        return rc;
    }
    return wb_error(ctx, WABOT_ERR_CONFLICT,
                    "campaign %s: changed concurrently %d times", id,
                    UPDATE_TRIES);
}

int wb_campaign_count(wabot_ctx *ctx, const char *org, const char *id,
                      const char *name, int64_t delta)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    if (wb_campaign_key(key, sizeof key, "campaign-n", org, id, name) == NULL)
        return WABOT_ERR_INVAL;
    return wabot_storage_incr(ctx->storage, key, delta, 0, NULL);
}

int wb_campaign_enqueue_job(wabot_ctx *ctx, const char *job_id, json_t *p,
                            int64_t run_at_ms)
{
    if (strlen(job_id) >= 256) {
        json_decref(p);
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: job id too long");
    }
    char *text = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (text == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = job_id;
    spec.run_at_ms = run_at_ms > 0 ? run_at_ms : wb_now(ctx);
    spec.max_attempts = 20;
    int rc = wabot_job_enqueue(ctx, WABOT_QUEUE_CAMPAIGNS, text,
                               strlen(text), &spec, NULL);
    wb_json_free(text);
    return rc == WABOT_ERR_EXISTS ? WABOT_OK : rc;
}

int wb_campaign_enqueue_batch(wabot_ctx *ctx, const char *org,
                              const char *id, int64_t gen, int64_t batch,
                              const char *cursor, int64_t run_at_ms)
{
    char job_id[300];
    snprintf(job_id, sizeof job_id, "campaign:%s:%s:g%" PRId64 ":b%" PRId64,
             org, id, gen, batch);
    return wb_campaign_enqueue_job(
        ctx, job_id,
        json_pack("{s:s,s:s,s:I,s:I,s:s}", "org", org, "id", id, "gen",
                  (json_int_t)gen, "batch", (json_int_t)batch, "cursor",
                  cursor),
        run_at_ms);
}

/* ------------------------------------------------------------------ */
/* Create                                                              */

static int field_err(wabot_ctx *ctx, int status, const char *field,
                     const char *why)
{
    return wb_error(ctx, status, "campaign: field \"%s\": %s", field, why);
}

/* Compile `text` as a template to check it; the detail names the field
 * and the byte position. */
static int check_template(wabot_ctx *ctx, const char *field, const char *text)
{
    wabot_template *t = NULL;
    int rc = wabot_template_compile(ctx, text, strlen(text), &t);
    wabot_template_free(t);
    if (rc == WABOT_OK)
        return rc;
    char why[512];
    snprintf(why, sizeof why, "%s", wabot_errmsg());
    return field_err(ctx, rc, field, why);
}

static int check_params(wabot_ctx *ctx, json_t *a, const char *field)
{
    size_t i;
    json_t *v;
    if (a == NULL)
        return WABOT_OK;
    if (!json_is_array(a) || json_array_size(a) > 20)
        return field_err(ctx, WABOT_ERR_INVAL, field,
                         "must be an array of 0..20 strings");
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > 1024)
            return field_err(ctx, WABOT_ERR_INVAL, field,
                             "must be an array of strings of 0..1024 bytes");
        int rc = check_template(ctx, field, json_string_value(v));
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

static int short_string(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > 0 &&
           json_string_length(v) <= max;
}

/* providerTemplate: Meta {name, language, parameters} or Twilio
 * {contentSid, variables}. */
static int check_provider_template(wabot_ctx *ctx, json_t *t)
{
    const char *f = "providerTemplate";
    if (!json_is_object(t))
        return field_err(ctx, WABOT_ERR_INVAL, f, "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(t, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "language") != 0 &&
            strcmp(key, "parameters") != 0 && strcmp(key, "contentSid") != 0 &&
            strcmp(key, "variables") != 0)
            return wb_error(ctx, WABOT_ERR_INVAL, "campaign: field "
                            "\"providerTemplate\": unknown member \"%s\"",
                            key);
    }
    json_t *sid = json_object_get(t, "contentSid");
    if (sid != NULL) {
        if (!short_string(sid, 512) || json_object_get(t, "name") != NULL)
            return field_err(ctx, WABOT_ERR_INVAL, f,
                             "contentSid must be 1..512 bytes, without "
                             "name");
        return check_params(ctx, json_object_get(t, "variables"),
                            "providerTemplate.variables");
    }
    if (!short_string(json_object_get(t, "name"), 512) ||
        !short_string(json_object_get(t, "language"), 16))
        return field_err(ctx, WABOT_ERR_INVAL, f,
                         "needs name (1..512 bytes) and language (1..16 "
                         "bytes), or contentSid");
    if (json_object_get(t, "variables") != NULL)
        return field_err(ctx, WABOT_ERR_INVAL, f,
                         "variables go with contentSid (Twilio)");
    return check_params(ctx, json_object_get(t, "parameters"),
                        "providerTemplate.parameters");
}

static int int_in(wabot_ctx *ctx, json_t *v, const char *field, int64_t lo,
                  int64_t hi)
{
    if (v == NULL)
        return WABOT_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi) {
        char why[96];
        snprintf(why, sizeof why, "must be an integer %" PRId64 "..%" PRId64,
                 lo, hi);
        return field_err(ctx, WABOT_ERR_INVAL, field, why);
    }
    return WABOT_OK;
}

static int known_member(const char *k)
{
    static const char *const ok[] = {
        "organizationId", "name",     "message",          "type",
        "targetAudience", "startImmediately", "scheduledFor",
        "providerTemplate", "sendRate", "batchSize"};
    for (size_t i = 0; i < N_OF(ok); i++)
        if (strcmp(k, ok[i]) == 0)
            return 1;
    return 0;
}

static int check_type(json_t *v)
{
    for (size_t i = 0; json_is_string(v) && i < N_OF(TYPES); i++)
        if (strcmp(json_string_value(v), TYPES[i]) == 0)
            return 1;
    return 0;
}

/* The audience is checked by resolving one entry of it. */
static int check_audience(wabot_ctx *ctx, const char *org, json_t *a)
{
    if (!json_is_object(a))
        return field_err(ctx, WABOT_ERR_INVAL, "targetAudience",
                         "must be an object such as {\"type\":\"all\"}");
    char *text = json_dumps(a, JSON_COMPACT), *page = NULL;
    if (text == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    int rc = wabot_audience_resolve_json(ctx, org, text, strlen(text), "0", 1,
                                         &page);
    wb_json_free(text);
    wb_free(&ctx->alloc, page);
    if (rc == WABOT_ERR_INVAL || rc == WABOT_ERR_PARSE) {
        char why[512];
        snprintf(why, sizeof why, "%s", wabot_errmsg());
        return field_err(ctx, WABOT_ERR_INVAL, "targetAudience", why);
    }
    return rc;
}

static int check_create(wabot_ctx *ctx, json_t *in, int64_t *scheduled_ms)
{
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v) if (!known_member(key)) return wb_error(
        ctx, WABOT_ERR_INVAL, "campaign: unknown member \"%s\"", key);
    json_t *org = json_object_get(in, "organizationId");
    if (!short_string(org, ORG_MAX) ||
        !wb_storage_key_part_ok(json_string_value(org)))
        return field_err(ctx, WABOT_ERR_INVAL, "organizationId",
                         "is required: 1..128 bytes without control "
                         "characters");
    if (!short_string(json_object_get(in, "name"), 256))
        return field_err(ctx, WABOT_ERR_INVAL, "name",
                         "is required: a string of 1..256 bytes");
    json_t *msg = json_object_get(in, "message");
    if (!json_is_string(msg) || json_string_length(msg) == 0)
        return field_err(ctx, WABOT_ERR_INVAL, "message",
                         "is required: a non-empty string");
    if (!check_type(json_object_get(in, "type")))
        return field_err(ctx, WABOT_ERR_INVAL, "type",
                         "is required: PROMOTIONAL, TRANSACTIONAL or "
                         "UTILITY");
    v = json_object_get(in, "startImmediately");
    if (v != NULL && !json_is_boolean(v))
        return field_err(ctx, WABOT_ERR_INVAL, "startImmediately",
                         "must be true or false");
    v = json_object_get(in, "scheduledFor");
    *scheduled_ms = 0;
    if (v != NULL && !json_is_null(v) &&
        (!json_is_string(v) ||
         !wb_iso8601_ms(json_string_value(v), scheduled_ms)))
        return field_err(ctx, WABOT_ERR_INVAL, "scheduledFor",
                         "must be an ISO 8601 date-time with Z or an "
                         "offset, such as 2026-12-24T09:00:00Z");
    int rc = int_in(ctx, json_object_get(in, "sendRate"), "sendRate", 1,
                    10000);
    if (rc == WABOT_OK)
        rc = int_in(ctx, json_object_get(in, "batchSize"), "batchSize", 1,
                    WB_CAMPAIGN_BATCH_MAX);
    if (rc == WABOT_OK)
        rc = check_template(ctx, "message", json_string_value(msg));
    if (rc == WABOT_OK && (v = json_object_get(in, "providerTemplate")) &&
        !json_is_null(v))
        rc = check_provider_template(ctx, v);
    if (rc == WABOT_OK)
        rc = check_audience(ctx, json_string_value(org),
                            json_object_get(in, "targetAudience"));
    return rc;
}

/* Drop the fan-out's bookkeeping from a doc to be shown. */
static void strip_bookkeeping(json_t *doc)
{
    json_object_del(doc, "gen");
    json_object_del(doc, "batch");
    json_object_del(doc, "cursor");
    json_object_del(doc, "audience_total");
    json_object_del(doc, "pass");
    json_object_del(doc, "store");
    json_object_del(doc, "store_moved");
}

/* The doc as shown: without the fan-out's bookkeeping. */
static int doc_out(wabot_ctx *ctx, json_t *doc, char **out)
{
    json_t *shown = json_copy(doc);
    if (shown == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    strip_bookkeeping(shown);
    int rc = wb_campaign_json_out(ctx, shown, out);
    json_decref(shown);
    return rc;
}

/* A list audience's size is known now: every entry ends up queued or
 * skipped (not_found included), which gives the ETA its total from the
 * start (fill_progress). Other audiences of a paced campaign are counted
 * by the fan-out (fanout.c). */
static int set_list_total(json_t *doc)
{
    json_t *a = json_object_get(doc, "targetAudience");
    const char *type = json_string_value(json_object_get(a, "type"));
    if (type == NULL || strcmp(type, "list") != 0)
        return 0;
    return json_object_set_new(
        doc, "audience_total",
        json_integer((json_int_t)json_array_size(
            json_object_get(a, "customers"))));
}

static int create(wabot_ctx *ctx, json_t *in, char **out)
{
    int64_t at = 0;
    int rc = check_create(ctx, in, &at);
    const char *org = json_string_value(json_object_get(in, "organizationId"));
    if (rc == WABOT_OK)
        rc = wabot_campaign_feature_check(ctx, org,
                                          WABOT_CAMPAIGN_FEATURE_CAMPAIGNS);
    if (rc != WABOT_OK)
        return rc;
    char id[32];
    snprintf(id, sizeof id, "cmp-%016" PRIx64, wb_random(ctx));
    int64_t now = wb_now(ctx);
    int now_start = json_is_true(json_object_get(in, "startImmediately"));
    wabot_campaign_status st = now_start ? WABOT_CAMPAIGN_RUNNING
                               : at > 0  ? WABOT_CAMPAIGN_SCHEDULED
                                         : WABOT_CAMPAIGN_DRAFT;
    json_t *doc = json_deep_copy(in);
    if (doc == NULL ||
        json_object_set_new(doc, "id", json_string(id)) != 0 ||
        json_object_set_new(doc, "status", json_string(STATUS[st])) != 0 ||
        json_object_set_new(doc, "created_ms", json_integer(now)) != 0 ||
        json_object_set_new(doc, "updated_ms", json_integer(now)) != 0 ||
        json_object_set_new(doc, "gen", json_integer(1)) != 0 ||
        json_object_set_new(doc, "batch", json_integer(0)) != 0 ||
        json_object_set_new(doc, "cursor", json_string("0")) != 0 ||
        (at > 0 &&
         json_object_set_new(doc, "scheduled_ms", json_integer(at)) != 0) ||
        (now_start &&
         json_object_set_new(doc, "started_ms", json_integer(now)) != 0) ||
        set_list_total(doc) != 0) {
        json_decref(doc);
        return wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    }
    rc = store_new(ctx, org, id, doc, now);
    if (rc != WABOT_OK)
        rc = wb_error(ctx, rc, "campaign %s: writing: %s", id,
                      wabot_storage_errmsg(ctx->storage));
    /* A crash right here leaves a RUNNING campaign without a job: resume
     * after pause, or start again, re-queues it. */
    if (rc == WABOT_OK && st != WABOT_CAMPAIGN_DRAFT)
        rc = wb_campaign_enqueue_batch(ctx, org, id, 1, 0, "0",
                                       now_start ? now : at);
    if (rc == WABOT_OK) {
        wb_count(ctx, "campaigns.created", 1);
        if (out != NULL)
            rc = doc_out(ctx, doc, out);
    }
    json_decref(doc);
    return rc;
}

int wabot_campaign_create_json(wabot_ctx *ctx, const char *json, size_t len,
                               char **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || json == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: NULL argument");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *in = NULL;
    int rc = wb_campaign_json_in(ctx, json, len, 0, "campaign", &in);
    if (rc == WABOT_OK)
        rc = create(ctx, in, out);
    json_decref(in);
    wb_json_scope_leave(prev);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

int wabot_campaign_get_json(wabot_ctx *ctx, const char *org, const char *id,
                            char **out)
{
    if (out != NULL)
        *out = NULL;
    int rc = check_ref(ctx, org, id);
    if (rc != WABOT_OK)
        return rc;
    if (out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: NULL out");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *doc = NULL;
    rc = wb_campaign_load(ctx, org, id, &doc, NULL);
    if (rc == WABOT_OK)
        rc = doc_out(ctx, doc, out);
    json_decref(doc);
    wb_json_scope_leave(prev);
    return rc;
}

/* Listing reads the organisation's index campaign-ix:{org} (creation
 * time, then id), never a scan: on Redis a scan walks the whole keyspace.
 * The cursor names where the last page stopped: "<score>:<k>:<id>", the
 * last campaign's score and id, and k, how many members of that score the
 * pages so far covered (the next page starts at offset k of that score).
 * A campaign created meanwhile with the same score and a smaller id would
 * shift that offset by one: members of the cursor's score up to its id
 * are dropped, so none is returned twice. */
typedef struct list_pos {
    int64_t score, k;
    const char *last; /* NULL: from the start */
} list_pos;

static int parse_list_cursor(const char *c, list_pos *pos)
{
    memset(pos, 0, sizeof *pos);
    pos->score = WABOT_STORAGE_SCORE_MIN;
    if (strcmp(c, "0") == 0)
        return 1;
    char *end;
    pos->score = strtoll(c, &end, 10);
    if (end == c || *end != ':')
        return 0;
    c = end + 1;
    pos->k = strtoll(c, &end, 10);
    if (end == c || *end != ':' || pos->k < 0 || end[1] == '\0')
        return 0;
    pos->last = end + 1;
    return pos->score >= WABOT_STORAGE_SCORE_MIN &&
           pos->score <= WABOT_STORAGE_SCORE_MAX;
}

/* The cursor after `ids` (fetched from pos with offset pos->k); "0" when
 * the index had no more. */
static void next_list_cursor(const list_pos *pos, wabot_storage_items *ids,
                             size_t count, char *buf, size_t n)
{
    size_t got = wabot_storage_items_count(ids);
    if (got < count) {
        snprintf(buf, n, "0");
        return;
    }
    int64_t ls = wabot_storage_items_score(ids, got - 1);
    int64_t k = 0;
    if (pos->last != NULL && ls == pos->score)
        k = pos->k + (int64_t)got; /* every fetched member has that score */
    else
        for (size_t i = got; i > 0 && wabot_storage_items_score(ids, i - 1) == ls;
             i--)
            k++;
    snprintf(buf, n, "%" PRId64 ":%" PRId64 ":%s", ls, k,
             wabot_storage_items_key(ids, got - 1, NULL));
}

/* Whether fetched member i was on an earlier page (see above). */
static int listed_before(const list_pos *pos, wabot_storage_items *ids,
                         size_t i)
{
    return pos->last != NULL &&
           wabot_storage_items_score(ids, i) == pos->score &&
           strcmp(wabot_storage_items_key(ids, i, NULL), pos->last) <= 0;
}

/* The documents of the page's ids (those not listed before) with status
 * `status` (< 0: any), as shown, appended to arr. */
static int list_docs(wabot_ctx *ctx, const char *org, const list_pos *pos,
                     wabot_storage_items *ids, int status, json_t *arr)
{
    size_t got = wabot_storage_items_count(ids), n = 0;
    const size_t width = WB_STORAGE_KEY_MAX + 1;
    char *keys = got > 0 ? wb_malloc(&ctx->alloc, got * width) : NULL;
    const char **k = got > 0 ? wb_calloc(&ctx->alloc, got, sizeof *k) : NULL;
    int rc = got > 0 && (keys == NULL || k == NULL) ? WABOT_ERR_NOMEM
                                                     : WABOT_OK;
    for (size_t i = 0; rc == WABOT_OK && i < got; i++) {
        if (listed_before(pos, ids, i))
            continue;
        k[n] = wb_campaign_key(keys + n * width, width, "campaign", org,
                               wabot_storage_items_key(ids, i, NULL), NULL);
        rc = k[n++] != NULL ? WABOT_OK : WABOT_ERR_INVAL;
    }
    wabot_storage_items *docs = NULL;
    if (rc == WABOT_OK && n > 0)
        rc = wabot_storage_get_many(ctx->storage, n, k, &docs);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        size_t len = 0;
        const char *val = wabot_storage_items_status(docs, i) == WABOT_OK
                              ? wabot_storage_items_value(docs, i, &len)
                              : NULL; /* indexed, then gone */
        json_t *doc = val != NULL ? json_loadb(val, len, 0, NULL) : NULL;
        if (json_is_object(doc) && (status < 0 || status_in(doc) == status)) {
            strip_bookkeeping(doc);
            json_array_append(arr, doc);
        }
        json_decref(doc);
    }
    wabot_storage_items_free(docs);
    wb_free(&ctx->alloc, k);
    wb_free(&ctx->alloc, keys);
    return rc;
}

static int list_page(wabot_ctx *ctx, const char *org, int status,
                     const char *cursor, size_t count, char **out)
{
    list_pos pos;
    if (!parse_list_cursor(cursor, &pos))
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: listing: bad cursor");
    char ix[WB_STORAGE_KEY_MAX + 1], next[WB_STORAGE_KEY_MAX + 64];
    snprintf(ix, sizeof ix, "campaign-ix:{%s}", org);
    wabot_storage_items *ids = NULL;
    int rc = wabot_storage_sorted_range(ctx->storage, ix, pos.score,
                                        WABOT_STORAGE_SCORE_MAX, pos.k,
                                        (int64_t)count, 0, &ids);
    json_t *arr = rc == WABOT_OK ? json_array() : NULL;
    if (rc == WABOT_OK)
        rc = arr != NULL ? list_docs(ctx, org, &pos, ids, status, arr)
                         : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        next_list_cursor(&pos, ids, count, next, sizeof next);
    wabot_storage_items_free(ids);
    if (rc != WABOT_OK) {
        json_decref(arr);
        return wb_error(ctx, rc, "campaign: listing: %s",
                        rc == WABOT_ERR_NOMEM
                            ? "out of memory"
                            : wabot_storage_errmsg(ctx->storage));
    }
    json_t *o = json_pack("{s:o,s:s}", "campaigns", arr, "cursor", next);
    rc = o != NULL ? wb_campaign_json_out(ctx, o, out)
                   : wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    json_decref(o);
    return rc;
}

int wabot_campaign_list_json(wabot_ctx *ctx, const char *org,
                             const char *status, const char *cursor,
                             size_t count, char **out)
{
    if (out != NULL)
        *out = NULL;
    int rc = check_ref(ctx, org, "x");
    if (rc != WABOT_OK)
        return rc;
    int want = -1;
    if (out == NULL || count == 0 || count > WABOT_STORAGE_PAGE_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "campaign: list needs out and a count 1..%d",
                        WABOT_STORAGE_PAGE_MAX);
    if (status != NULL && (want = wb_campaign_status_of(status)) < 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "campaign: unknown status \"%s\"", status);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = list_page(ctx, org, want, cursor != NULL ? cursor : "0", count,
                   out);
    wb_json_scope_leave(prev);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

typedef struct move {
    wabot_campaign_status to;
    int64_t at_ms;      /* schedule */
    int64_t gen, batch; /* after the move: the fan-out to queue */
    char *cursor;       /* the doc's cursor (storage cursors have no
                         * fixed length); freed by do_move */
    int queue;          /* 1: queue a batch after writing */
} move;

static int allowed(int from, wabot_campaign_status to)
{
    switch (to) {
    case WABOT_CAMPAIGN_SCHEDULED:
        return from == WABOT_CAMPAIGN_DRAFT;
    case WABOT_CAMPAIGN_RUNNING:
        return from == WABOT_CAMPAIGN_DRAFT ||
               from == WABOT_CAMPAIGN_SCHEDULED ||
               from == WABOT_CAMPAIGN_PAUSED;
    case WABOT_CAMPAIGN_PAUSED:
        return from == WABOT_CAMPAIGN_RUNNING;
    case WABOT_CAMPAIGN_CANCELLED:
        return from >= 0 && from != WABOT_CAMPAIGN_COMPLETED &&
               from != WABOT_CAMPAIGN_CANCELLED;
    default:
        return 0;
    }
}

/* Each move that (re)starts the fan-out opens a new generation: jobs of
 * the older one find a different "gen" and stop, so a pause and resume
 * never leaves two chains of batches running. */
static int apply_move(wabot_ctx *ctx, json_t *doc, void *ud)
{
    move *m = ud;
    int from = status_in(doc);
    if (!allowed(from, m->to))
        return wb_error(ctx, WABOT_ERR_STATE,
                        "campaign %s: cannot go from %s to %s",
                        json_string_value(json_object_get(doc, "id")),
                        from >= 0 ? STATUS[from] : "UNKNOWN", STATUS[m->to]);
    int64_t now = wb_now(ctx);
    m->queue = m->to == WABOT_CAMPAIGN_RUNNING ||
               m->to == WABOT_CAMPAIGN_SCHEDULED;
    m->gen = json_integer_value(json_object_get(doc, "gen")) + 1;
    m->batch = json_integer_value(json_object_get(doc, "batch"));
    const char *c = json_string_value(json_object_get(doc, "cursor"));
    wb_free(&ctx->alloc, m->cursor);
    m->cursor = wb_strdup(&ctx->alloc, c != NULL ? c : "0");
    if (m->cursor == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    json_object_set_new(doc, "status", json_string(STATUS[m->to]));
    if (m->queue)
        json_object_set_new(doc, "gen", json_integer(m->gen));
    if (m->to == WABOT_CAMPAIGN_SCHEDULED)
        json_object_set_new(doc, "scheduled_ms", json_integer(m->at_ms));
    if (m->to == WABOT_CAMPAIGN_RUNNING &&
        json_object_get(doc, "started_ms") == NULL)
        json_object_set_new(doc, "started_ms", json_integer(now));
    if (m->to == WABOT_CAMPAIGN_CANCELLED)
        json_object_set_new(doc, "finished_ms", json_integer(now));
    return WABOT_OK;
}

static int do_move(wabot_ctx *ctx, const char *org, const char *id,
                   wabot_campaign_status to, int64_t at_ms)
{
    int rc = check_ref(ctx, org, id);
    if (rc == WABOT_OK)
        rc = wabot_campaign_feature_check(ctx, org,
                                          WABOT_CAMPAIGN_FEATURE_CAMPAIGNS);
    if (rc != WABOT_OK)
        return rc;
    move m;
    memset(&m, 0, sizeof m);
    m.to = to;
    m.at_ms = at_ms;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = wb_campaign_update(ctx, org, id, apply_move, &m, NULL);
    if (rc == WABOT_OK && m.queue)
        rc = wb_campaign_enqueue_batch(
            ctx, org, id, m.gen, m.batch, m.cursor,
            to == WABOT_CAMPAIGN_SCHEDULED ? at_ms : wb_now(ctx));
    wb_free(&ctx->alloc, m.cursor);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_campaign_start(wabot_ctx *ctx, const char *org, const char *id)
{
    return do_move(ctx, org, id, WABOT_CAMPAIGN_RUNNING, 0);
}

int wabot_campaign_schedule(wabot_ctx *ctx, const char *org, const char *id,
                            int64_t at_ms)
{
    if (at_ms <= 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "campaign: schedule needs a "
                        "time after the epoch");
    return do_move(ctx, org, id, WABOT_CAMPAIGN_SCHEDULED, at_ms);
}

int wabot_campaign_pause(wabot_ctx *ctx, const char *org, const char *id)
{
    return do_move(ctx, org, id, WABOT_CAMPAIGN_PAUSED, 0);
}

int wabot_campaign_resume(wabot_ctx *ctx, const char *org, const char *id)
{
    int rc = check_ref(ctx, org, id);
    if (rc != WABOT_OK)
        return rc;
    /* Only a paused campaign resumes (start covers the others). */
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *doc = NULL;
    rc = wb_campaign_load(ctx, org, id, &doc, NULL);
    int from = rc == WABOT_OK ? status_in(doc) : -1;
    json_decref(doc);
    wb_json_scope_leave(prev);
    if (rc == WABOT_OK && from != WABOT_CAMPAIGN_PAUSED)
        return wb_error(ctx, WABOT_ERR_STATE,
                        "campaign %s: cannot resume from %s (only PAUSED)",
                        id, from >= 0 ? STATUS[from] : "UNKNOWN");
    return rc == WABOT_OK ? do_move(ctx, org, id, WABOT_CAMPAIGN_RUNNING, 0)
                          : rc;
}

int wabot_campaign_cancel(wabot_ctx *ctx, const char *org, const char *id)
{
    return do_move(ctx, org, id, WABOT_CAMPAIGN_CANCELLED, 0);
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */

#define N_COUNTERS (5 + WABOT_CAMPAIGN_SKIP_COUNT)

static int read_counters(wabot_ctx *ctx, const char *org, const char *id,
                         int64_t *v)
{
    static const char *const base[] = {WB_CN_QUEUED, WB_CN_SENT,
                                       WB_CN_DELIVERED, WB_CN_READ,
                                       WB_CN_FAILED};
    char keys[N_COUNTERS][WB_STORAGE_KEY_MAX + 1];
    const char *k[N_COUNTERS];
    for (size_t i = 0; i < N_COUNTERS; i++) {
        char name[64];
        if (i < 5)
            snprintf(name, sizeof name, "%s", base[i]);
        else
            snprintf(name, sizeof name, "skipped.%s",
                     wb_campaign_skip_names[i - 5]);
        k[i] = wb_campaign_key(keys[i], sizeof keys[i], "campaign-n", org, id,
                               name);
        if (k[i] == NULL)
            return wb_error(ctx, WABOT_ERR_INVAL, "campaign: key too long");
    }
    wabot_storage_items *it = NULL;
    int rc = wabot_storage_get_many(ctx->storage, N_COUNTERS, k, &it);
    for (size_t i = 0; rc == WABOT_OK && i < N_COUNTERS; i++) {
        const char *val = wabot_storage_items_status(it, i) == WABOT_OK
                              ? wabot_storage_items_value(it, i, NULL)
                              : NULL;
        v[i] = val != NULL ? strtoll(val, NULL, 10) : 0;
    }
    wabot_storage_items_free(it);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "campaign %s: reading progress: %s", id,
                        wabot_storage_errmsg(ctx->storage));
    return WABOT_OK;
}

/* The recipients the campaign will have in the end: queued + skipped once
 * the fan-out is done; before, the audience's size when it is known
 * ("audience_total": a list's length, or a paced campaign's count), else
 * -1 for a paced campaign (its fan-out, not the sending, is what is left)
 * and the queued + skipped so far for another (its fan-out runs ahead of
 * the sending, whose queue is what is left). */
static int64_t final_total(json_t *doc, int64_t seen, int status)
{
    json_t *at = json_object_get(doc, "audience_total");
    if (status == WABOT_CAMPAIGN_COMPLETED)
        return seen;
    if (json_is_integer(at))
        return json_integer_value(at) > seen ? json_integer_value(at) : seen;
    return json_integer_value(json_object_get(doc, "sendRate")) > 0 ? -1
                                                                   : seen;
}

/* ms until every recipient not yet sent, failed or skipped is sent: at the
 * campaign's sendRate, or at the rate measured since it started when that
 * is slower (the context's limits) or there is no sendRate. -1 unknown, 0
 * done. */
static int64_t eta(json_t *doc, const wabot_campaign_progress *p,
                   int64_t skipped, int64_t now)
{
    int64_t total = final_total(doc, p->queued + skipped, p->status);
    int64_t left = total - p->sent - p->failed - skipped;
    if (total < 0)
        return -1;
    if (left <= 0)
        return p->status == WABOT_CAMPAIGN_COMPLETED ? 0 : -1;
    int64_t rate = json_integer_value(json_object_get(doc, "sendRate"));
    int64_t started = json_integer_value(json_object_get(doc, "started_ms"));
    int64_t by_rate = rate > 0 ? left * 1000 / rate : -1;
    int64_t measured = started > 0 && now > started && p->sent > 0
                           ? left * (now - started) / p->sent
                           : -1;
    return measured > by_rate ? measured : by_rate;
}

static void fill_progress(json_t *doc, const int64_t *v, int64_t now,
                          wabot_campaign_progress *p)
{
    p->status = status_in(doc);
    p->queued = v[0];
    p->sent = v[1];
    p->delivered = v[2];
    p->read = v[3];
    p->failed = v[4];
    int64_t skipped = 0;
    for (size_t i = 0; i < WABOT_CAMPAIGN_SKIP_COUNT; i++)
        skipped += p->skipped[i] = v[5 + i];
    p->total = p->queued + skipped;
    int64_t done = p->sent + p->failed + skipped;
    p->percent = 0;
    if (p->status == WABOT_CAMPAIGN_COMPLETED && p->total > 0)
        p->percent = (int32_t)(done >= p->total ? 100 : done * 100 / p->total);
    else if (p->status == WABOT_CAMPAIGN_COMPLETED)
        p->percent = 100;
    p->eta_ms = eta(doc, p, skipped, now);
}

static int progress(wabot_ctx *ctx, const char *org, const char *id,
                    wabot_campaign_progress *p)
{
    int64_t v[N_COUNTERS];
    json_t *doc = NULL;
    int rc = wb_campaign_load(ctx, org, id, &doc, NULL);
    if (rc == WABOT_OK)
        rc = read_counters(ctx, org, id, v);
    if (rc == WABOT_OK)
        fill_progress(doc, v, wb_now(ctx), p);
    json_decref(doc);
    return rc;
}

int wabot_campaign_progress_get(wabot_ctx *ctx, const char *org,
                                const char *id, wabot_campaign_progress *out)
{
    int rc = check_ref(ctx, org, id);
    if (rc != WABOT_OK)
        return rc;
    if (out == NULL || out->version < 1)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "campaign: progress needs a struct with version");
    wabot_campaign_progress p;
    memset(&p, 0, sizeof p);
    p.version = WABOT_CAMPAIGN_PROGRESS_VERSION;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = progress(ctx, org, id, &p);
    wb_json_scope_leave(prev);
    if (rc != WABOT_OK)
        return rc;
    /* Copy what the caller's version has (version 1: up to eta_ms); a
     * later version appends members, never read from an older caller. */
    size_t n = offsetof(wabot_campaign_progress, eta_ms) + sizeof p.eta_ms;
    memcpy((char *)out + sizeof out->version, (char *)&p + sizeof p.version,
           n - sizeof p.version);
    return WABOT_OK;
}

static json_t *progress_json(const char *id, const wabot_campaign_progress *p)
{
    json_t *sk = json_object();
    for (size_t i = 0; sk != NULL && i < WABOT_CAMPAIGN_SKIP_COUNT; i++)
        json_object_set_new(sk, wb_campaign_skip_names[i],
                            json_integer(p->skipped[i]));
    return sk == NULL ? NULL
                      : json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:i,"
                                  "s:I}",
                                  "id", id, "status",
                                  wabot_campaign_status_name(p->status),
                                  "total", (json_int_t)p->total, "queued",
                                  (json_int_t)p->queued, "sent",
                                  (json_int_t)p->sent, "delivered",
                                  (json_int_t)p->delivered, "read",
                                  (json_int_t)p->read, "failed",
                                  (json_int_t)p->failed, "skipped", sk,
                                  "percent", (int)p->percent, "eta_ms",
                                  (json_int_t)p->eta_ms);
}

int wabot_campaign_progress_json(wabot_ctx *ctx, const char *org,
                                 const char *id, char **out)
{
    if (out != NULL)
        *out = NULL;
    wabot_campaign_progress p;
    memset(&p, 0, sizeof p);
    p.version = WABOT_CAMPAIGN_PROGRESS_VERSION;
    int rc = out != NULL ? wabot_campaign_progress_get(ctx, org, id, &p)
                         : wb_error(ctx, WABOT_ERR_INVAL,
                                    "campaign: NULL out");
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *o = progress_json(id, &p);
    rc = o != NULL ? wb_campaign_json_out(ctx, o, out)
                   : wb_error(ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    json_decref(o);
    wb_json_scope_leave(prev);
    return rc;
}
