/* Reminders in storage. Every key of an organisation shares its hash tag,
 * so a reminder and its indexes change in one transaction:
 *   rem:{<org>}:r:<id>          the reminder's JSON (versioned; once SENT,
 *                               FAILED or CANCELLED it expires after
 *                               campaign.reminders_ttl)
 *   rem:{<org>}:all             sorted: every reminder, by creation time
 *   rem:{<org>}:st:<STATUS>     sorted: reminders in a status, by due time
 *   rem:{<org>}:cu:<phone>      sorted: a customer's reminders, by creation
 *   rem:{<org>}:exp             sorted: "<STATUS> <phone> <id>" of the
 *                               ended reminders, by expiry time: what
 *                               wb_rem_prune takes out of the indexes
 *   rem:{<org>}:type:<TYPE>     counter: reminders created of a type */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/storage.h"
#include "campaign_metrics.h"
#include "reminder.h"
#include "wabot/jobs.h"
#include "wabot/storage.h"

static const char *const status_names[WB_REM_N_STATUS] = {
    "SCHEDULED", "SENT", "FAILED", "CANCELLED"};
static const char *const type_names[WB_REM_N_TYPE] = {
    "PAYMENT_DUE", "APPOINTMENT", "ORDER_PICKUP", "CUSTOM"};

static int by_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; name != NULL && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *wb_rem_status_name(int s)
{
    return s >= 0 && s < WB_REM_N_STATUS ? status_names[s] : NULL;
}

int wb_rem_status_by_name(const char *name)
{
    return by_name(status_names, WB_REM_N_STATUS, name);
}

const char *wb_rem_type_name(int t)
{
    return t >= 0 && t < WB_REM_N_TYPE ? type_names[t] : NULL;
}

int wb_rem_type_by_name(const char *name)
{
    return by_name(type_names, WB_REM_N_TYPE, name);
}

int wb_rem_org_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > WB_REM_ORG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '{' || c == '}')
            return 0;
    }
    return 1;
}

#define KEY_MAX 256

static void key(char *buf, const char *org, const char *what,
                const char *arg)
{
    snprintf(buf, KEY_MAX, "rem:{%s}:%s%s%s", org, what, arg ? ":" : "",
             arg ? arg : "");
}

static const char *str(const json_t *doc, const char *name)
{
    return json_string_value(json_object_get(doc, name));
}

static int64_t num(const json_t *doc, const char *name)
{
    return (int64_t)json_integer_value(json_object_get(doc, name));
}

static int storage_error(wabot_ctx *ctx, int rc, const char *what)
{
    return wb_error(ctx, rc, "reminder: %s: %s", what,
                    wabot_storage_errmsg(ctx->storage));
}

int wb_rem_load(wabot_ctx *ctx, const char *org, const char *id, wb_rem *r)
{
    char k[KEY_MAX];
    char *val = NULL;
    size_t len = 0;
    r->doc = NULL;
    r->version = 0;
    key(k, org, "r", id);
    int rc = wabot_storage_get(ctx->storage, k, &val, &len, &r->version);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "reminder: no reminder %s in %s", id, org);
    if (rc != WABOT_OK)
        return storage_error(ctx, rc, "load");
    r->doc = json_loadb(val, len, 0, NULL);
    wabot_free(val);
    if (!json_is_object(r->doc)) {
        json_decref(r->doc);
        r->doc = NULL;
        return wb_error(ctx, WABOT_ERR_PARSE, "reminder: %s is corrupt", id);
    }
    return WABOT_OK;
}

static int add_indexes(wabot_storage_txn *t, const char *org,
                       const json_t *old, const json_t *doc)
{
    char k[KEY_MAX];
    const char *id = str(doc, "id"), *phone = str(doc, "customerPhone");
    size_t idlen = strlen(id);
    int rc = WABOT_OK;
    if (old == NULL) {
        key(k, org, "all", NULL);
        rc = wabot_storage_txn_sorted_add(t, k, id, idlen,
                                          num(doc, "createdMs"));
        key(k, org, "cu", phone);
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_sorted_add(t, k, id, idlen,
                                              num(doc, "createdMs"));
        key(k, org, "type", str(doc, "type"));
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_incr(t, k, 1, 0);
    }
    const char *was = old ? str(old, "status") : NULL;
    if (rc == WABOT_OK && was && strcmp(was, str(doc, "status")) != 0) {
        key(k, org, "st", was);
        rc = wabot_storage_txn_sorted_remove(t, k, id, idlen);
    }
    key(k, org, "st", str(doc, "status"));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, id, idlen,
                                          num(doc, "nextRunMs"));
    return rc;
}

/* An ended reminder's expiry: the record's TTL and its entry in the
 * expiry index (0: it stays). */
static int64_t ended_ttl(wabot_ctx *ctx, const char *org, const json_t *doc)
{
    int st = wb_rem_status_by_name(str(doc, "status"));
    if (st < 0 || st == WABOT_REMINDER_SCHEDULED)
        return 0;
    return wb_reminders_ttl_ms(ctx, org);
}

static int add_expiry(wabot_storage_txn *t, wabot_ctx *ctx, const char *org,
                      const json_t *doc, int64_t ttl)
{
    char k[KEY_MAX], member[KEY_MAX];
    int n = snprintf(member, sizeof member, "%s %s %s", str(doc, "status"),
                     str(doc, "customerPhone"), str(doc, "id"));
    key(k, org, "exp", NULL);
    return wabot_storage_txn_sorted_add(t, k, member, (size_t)n,
                                        wb_now(ctx) + ttl);
}

int wb_rem_store(wabot_ctx *ctx, const char *org, const json_t *old,
                 uint64_t version, json_t *doc)
{
    char k[KEY_MAX];
    int64_t ttl = ended_ttl(ctx, org, doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    wabot_storage_txn *t = text ? wabot_storage_txn_new(ctx->storage) : NULL;
    if (t == NULL) {
        wb_json_free(text);
        return wb_error(ctx, WABOT_ERR_NOMEM, "reminder: out of memory");
    }
    key(k, org, "r", str(doc, "id"));
    int rc = wabot_storage_txn_cas(t, k, old ? version : 0, text,
                                   strlen(text), ttl);
    wb_json_free(text);
    if (rc == WABOT_OK)
        rc = add_indexes(t, org, old, doc);
    if (rc == WABOT_OK && ttl > 0)
        rc = add_expiry(t, ctx, org, doc, ttl);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    if (rc == WABOT_ERR_CONFLICT && old == NULL)
        rc = wb_error(ctx, WABOT_ERR_EXISTS, "reminder: %s exists in %s",
                      str(doc, "id"), org);
    else if (rc != WABOT_OK && rc != WABOT_ERR_CONFLICT)
        rc = storage_error(ctx, rc, "store");
    wabot_storage_txn_free(t);
    return rc;
}

void wb_rem_job_id(char *buf, size_t n, const char *org, const char *id,
                   int64_t occurrence)
{
    snprintf(buf, n, "rem:%s:%s:%lld", org, id, (long long)occurrence);
}

int wb_rem_cancel(wabot_ctx *ctx, const char *org, const char *id,
                  const char *reason)
{
    for (int tries = 0; tries < 16; tries++) {
        wb_rem r;
        int rc = wb_rem_load(ctx, org, id, &r);
        if (rc != WABOT_OK)
            return rc;
        const char *status = str(r.doc, "status");
        if (wb_rem_status_by_name(status) != WABOT_REMINDER_SCHEDULED) {
            rc = wb_error(ctx, WABOT_ERR_STATE,
                          "reminder: %s is %s, not SCHEDULED", id, status);
            json_decref(r.doc);
            return rc;
        }
        json_t *doc = json_deep_copy(r.doc);
        int64_t next = num(doc, "sent") + 1;
        json_object_set_new(doc, "status", json_string("CANCELLED"));
        json_object_set_new(doc, "reason", json_string(reason));
        json_object_set_new(doc, "updatedMs", json_integer(wb_now(ctx)));
        rc = wb_rem_store(ctx, org, r.doc, r.version, doc);
        if (rc == WABOT_OK)
            wb_campaign_metrics_reminder(ctx, org, str(doc, "type"),
                                         "cancelled");
        json_decref(doc);
        json_decref(r.doc);
        if (rc == WABOT_ERR_CONFLICT)
            continue;
        if (rc != WABOT_OK)
            return rc;
        /* The job would find it CANCELLED anyway; removing it keeps the
         * queue's delayed count honest. Active or gone: nothing to do. */
        char job[KEY_MAX];
        wb_rem_job_id(job, sizeof job, org, id, next);
        wabot_job_cancel(ctx, WABOT_QUEUE_REMINDERS, job);
        wb_error_clear(ctx);
        return WABOT_OK;
    }
    return wb_error(ctx, WABOT_ERR_CONFLICT,
                    "reminder: %s changed concurrently too often", id);
}

int wb_rem_index_page(wabot_ctx *ctx, const char *org, const char *index,
                      int64_t offset, size_t count, json_t *ids, int *more)
{
    wabot_storage_items *it = NULL;
    /* One more than asked: whether another page exists. */
    int rc = wabot_storage_sorted_range(ctx->storage, index,
                                        WABOT_STORAGE_SCORE_MIN,
                                        WABOT_STORAGE_SCORE_MAX, offset,
                                        (int64_t)count + 1, 0, &it);
    (void)org;
    if (rc != WABOT_OK)
        return storage_error(ctx, rc, "list");
    size_t n = wabot_storage_items_count(it);
    *more = n > count;
    for (size_t i = 0; i < n && i < count; i++)
        json_array_append_new(ids,
                              json_string(wabot_storage_items_key(it, i,
                                                                  NULL)));
    wabot_storage_items_free(it);
    return WABOT_OK;
}

int wb_rem_counts(wabot_ctx *ctx, const char *org, json_t *by_status,
                  json_t *by_type)
{
    char k[KEY_MAX];
    for (int s = 0; s < WB_REM_N_STATUS; s++) {
        int64_t n = 0;
        key(k, org, "st", status_names[s]);
        int rc = wabot_storage_sorted_count(ctx->storage, k,
                                            WABOT_STORAGE_SCORE_MIN,
                                            WABOT_STORAGE_SCORE_MAX, &n);
        if (rc != WABOT_OK)
            return storage_error(ctx, rc, "stats");
        json_object_set_new(by_status, status_names[s], json_integer(n));
    }
    for (int t = 0; t < WB_REM_N_TYPE; t++) {
        char *val = NULL;
        key(k, org, "type", type_names[t]);
        int rc = wabot_storage_get(ctx->storage, k, &val, NULL, NULL);
        if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
            return storage_error(ctx, rc, "stats");
        json_object_set_new(by_type, type_names[t],
                            json_integer(val ? strtoll(val, NULL, 10) : 0));
        wabot_free(val);
    }
    return WABOT_OK;
}

void wb_rem_index_key(char *buf, const char *org, const char *phone,
                      const char *status)
{
    if (phone != NULL)
        key(buf, org, "cu", phone);
    else if (status != NULL)
        key(buf, org, "st", status);
    else
        key(buf, org, "all", NULL);
}

/* Take the reminder an expiry entry names out of the indexes, unless a
 * reminder with its id exists again (created anew after it expired): then
 * only the entry goes. */
static int prune_one(wabot_ctx *ctx, const char *org, const char *member)
{
    char status[16], phone[WB_REM_PHONE_MAX + 1], id[WB_REM_ID_MAX + 1];
    char k[KEY_MAX];
    char *val = NULL;
    int rc = WABOT_ERR_NOT_FOUND;
    int gone = 0; /* a malformed entry: only it goes */
    if (sscanf(member, "%15s %32s %64s", status, phone, id) == 3) {
        key(k, org, "r", id);
        rc = wabot_storage_get(ctx->storage, k, &val, NULL, NULL);
        wabot_free(val);
        gone = rc == WABOT_ERR_NOT_FOUND;
    }
    if (rc != WABOT_OK && !gone)
        return rc;
    wabot_storage_txn *t = wabot_storage_txn_new(ctx->storage);
    if (t == NULL)
        return WABOT_ERR_NOMEM;
    size_t idlen = strlen(id);
    rc = WABOT_OK;
    if (gone) {
        key(k, org, "all", NULL);
        rc = wabot_storage_txn_sorted_remove(t, k, id, idlen);
        key(k, org, "cu", phone);
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_sorted_remove(t, k, id, idlen);
        key(k, org, "st", status);
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_sorted_remove(t, k, id, idlen);
    }
    key(k, org, "exp", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_remove(t, k, member, strlen(member));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    wabot_storage_txn_free(t);
    return rc;
}

int wb_rem_prune(wabot_ctx *ctx, const char *org, size_t max)
{
    char k[KEY_MAX];
    key(k, org, "exp", NULL);
    wabot_storage_items *it = NULL;
    int rc = wabot_storage_sorted_range(ctx->storage, k,
                                        WABOT_STORAGE_SCORE_MIN, wb_now(ctx),
                                        0, (int64_t)max, 0, &it);
    size_t n = rc == WABOT_OK ? wabot_storage_items_count(it) : 0;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++)
        rc = prune_one(ctx, org, wabot_storage_items_key(it, i, NULL));
    wabot_storage_items_free(it);
    if (rc != WABOT_OK)
        return storage_error(ctx, rc, "prune");
    return WABOT_OK;
}
