/* Campaign fan-out: the "campaigns" queue's worker. Each job is one batch
 * of the audience (its cursor is in the payload); it queues one outbound
 * message per recipient and chains the next batch, so a crash or a
 * restart re-runs at most the batch in hand. Exactly once per customer:
 * the message's idempotency key is campaign + customer, and a recipient
 * marker (campaign-r:...) records that the customer was handled; a batch
 * run again, or a customer a Redis scan returns twice, finds it.
 *
 * Progress counters come from here (queued, skipped by reason) and from
 * the delivery hooks: "delivery.sent" for sends (correlation id
 * "campaign:<id>"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign_store.h"
#include "internal/ctx.h"
#include "internal/delivery.h"
#include "internal/json_alloc.h"
#include "internal/module.h"
#include "internal/options.h"
#include "json_io.h"
#include "sent_counts.h"
#include "internal/message.h"
#include "internal/outbound.h"
#include "internal/storage.h"
#include "wabot/jobs.h"
#include "wabot/out.h"
#include "wabot/storage.h"
#include "wabot/template.h"

#define MODULE "campaign"
#define MAX_PARAMS 20

/* What one batch needs, prepared once per job. */
typedef struct batch {
    wabot_ctx *ctx;
    const char *org, *id;
    json_t *doc;
    wabot_template *msg;
    wabot_template *params[MAX_PARAMS];
    size_t n_params;
    const char *tpl_name, *tpl_lang; /* NULL: no provider template */
    int64_t window_ms, now;
    char corr[128];
} batch;

/* ------------------------------------------------------------------ */
/* Preparing                                                           */

static int compile(wabot_ctx *ctx, json_t *v, wabot_template **t)
{
    const char *s = json_string_value(v);
    return wabot_template_compile(ctx, s != NULL ? s : "",
                                  s != NULL ? strlen(s) : 0, t);
}

static int prepare(batch *b)
{
    int rc = compile(b->ctx, json_object_get(b->doc, "message"), &b->msg);
    json_t *t = json_object_get(b->doc, "providerTemplate");
    if (rc != WABOT_OK || !json_is_object(t))
        return rc;
    json_t *sid = json_object_get(t, "contentSid");
    /* Twilio: the template name is the content SID; the language is not
     * sent, but the outbound builder wants one. */
    b->tpl_name = json_string_value(sid != NULL ? sid
                                                : json_object_get(t, "name"));
    b->tpl_lang = sid != NULL ? "und"
                              : json_string_value(
                                    json_object_get(t, "language"));
    json_t *ps = json_object_get(t, sid != NULL ? "variables" : "parameters");
    for (size_t i = 0; rc == WABOT_OK && i < json_array_size(ps) &&
                       i < MAX_PARAMS;
         i++, b->n_params++)
        rc = compile(b->ctx, json_array_get(ps, i), &b->params[i]);
    return rc;
}

static void release(batch *b)
{
    wabot_template_free(b->msg);
    for (size_t i = 0; i < b->n_params; i++)
        wabot_template_free(b->params[i]);
}

/* ------------------------------------------------------------------ */
/* One recipient                                                       */

typedef struct who {
    json_t *doc;
    const char *org;
} who;

static const char *lookup(void *ud, wabot_template_scope scope,
                          const char *attr)
{
    who *w = ud;
    switch (scope) {
    case WABOT_TEMPLATE_NAME:
        return json_string_value(json_object_get(w->doc, "name"));
    case WABOT_TEMPLATE_CUSTOMER:
        return json_string_value(
            json_object_get(json_object_get(w->doc, "attributes"), attr));
    case WABOT_TEMPLATE_ORG:
        return strcmp(attr, "id") == 0 ? w->org : NULL;
    }
    return NULL;
}

static int render(const wabot_template *t, who *w, char **out)
{
    return wabot_template_render(t, lookup, w, out, NULL);
}

/* The content: the text inside the window, the provider template outside
 * it; WABOT_CAMPAIGN_SKIP_COUNT + 1 when neither may go. */
static int content(batch *b, wabot_out *o, json_t *cust, int *skip)
{
    who w = {cust, b->org};
    int64_t last =
        json_integer_value(json_object_get(cust, "last_inbound_ms"));
    int open = b->window_ms <= 0 || b->now - last <= b->window_ms;
    if (!open && b->tpl_name == NULL) {
        *skip = WABOT_CAMPAIGN_SKIP_WINDOW_CLOSED;
        return WABOT_OK;
    }
    char *s = NULL;
    int rc;
    if (open) {
        rc = render(b->msg, &w, &s);
        if (rc == WABOT_OK)
            rc = wabot_out_set_text(o, s);
        wb_free(&b->ctx->alloc, s);
        return rc;
    }
    rc = wabot_out_set_template(o, b->tpl_name, b->tpl_lang);
    for (size_t i = 0; rc == WABOT_OK && i < b->n_params; i++) {
        rc = render(b->params[i], &w, &s);
        if (rc == WABOT_OK)
            rc = wabot_out_add_template_param(o, s);
        wb_free(&b->ctx->alloc, s);
        s = NULL;
    }
    return rc;
}

/* One recipient of a page: a customer to message, or an opted-out one
 * (cust NULL) to count. */
typedef struct rcpt {
    const char *phone;
    json_t *cust;        /* as the audience page read it; NULL: opted out */
    int skip;            /* -1: queued; else the wabot_campaign_skip */
    int done;            /* handled before (marker), or a duplicate */
    wabot_outbound *msg; /* composed, to queue */
} rcpt;

/* Recipients per chunk: one job commit and one marker transaction each
 * (markers + counters within WABOT_STORAGE_TXN_MAX_OPS). */
#define CHUNK 100

/* Compose the recipient's message into r->msg, or set r->skip when the
 * customer gets none. The parts of a long text split in several are
 * queued here, before the message (their keys make them once each). */
static int compose(batch *b, rcpt *r)
{
    char key[220];
    snprintf(key, sizeof key, "campaign:%s:%s", b->id, r->phone);
    wabot_out *o = wabot_out_new(b->ctx);
    if (o == NULL)
        return wb_error(b->ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    int rc = wabot_out_set_to(o, r->phone);
    if (rc == WABOT_OK)
        rc = wabot_out_set_org(o, b->org);
    if (rc == WABOT_OK)
        rc = wabot_out_set_category(o, WABOT_CAT_CAMPAIGN);
    if (rc == WABOT_OK)
        rc = wabot_out_set_idempotency_key(o, key);
    if (rc == WABOT_OK)
        rc = wabot_out_set_correlation_id(o, b->corr);
    if (rc == WABOT_OK)
        rc = content(b, o, r->cust, &r->skip);
    wabot_outbound **head = NULL;
    size_t n_head = 0;
    if (rc == WABOT_OK && r->skip < 0)
        rc = wb_out_compose(o, NULL, &r->msg, &head, &n_head);
    for (size_t i = 0; i < n_head && rc == WABOT_OK; i++)
        if ((rc = wb_outbound_enqueue_new(b->ctx, head[i])) ==
            WABOT_ERR_EXISTS)
            rc = WABOT_OK;
    wb_long_text_parts_free(&b->ctx->alloc, head, n_head);
    wabot_out_free(o);
    if (rc == WABOT_ERR_INVAL || rc == WABOT_ERR_TOO_LARGE) {
        wb_log(b->ctx, WABOT_LOG_WARN, MODULE,
               "campaign %s: no message for %s: %s", b->id, r->phone,
               wabot_errmsg());
        wb_outbound_free(r->msg);
        r->msg = NULL;
        r->skip = WABOT_CAMPAIGN_SKIP_INVALID;
        rc = WABOT_OK;
    }
    return rc;
}

static int by_phone(const void *a, const void *b)
{
    const rcpt *const *x = a, *const *y = b;
    return strcmp((*x)->phone, (*y)->phone);
}

/* A customer a page holds twice (a Redis scan may return a key twice) is
 * handled once: later copies are done. */
static int drop_duplicates(batch *b, rcpt *r, size_t n)
{
    rcpt **order = n > 1 ? wb_calloc(&b->ctx->alloc, n, sizeof *order) : NULL;
    if (n > 1 && order == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n && n > 1; i++)
        order[i] = &r[i];
    if (n > 1)
        qsort(order, n, sizeof *order, by_phone);
    for (size_t i = 1; i < n; i++)
        if (strcmp(order[i - 1]->phone, order[i]->phone) == 0)
            (order[i - 1] < order[i] ? order[i] : order[i - 1])->done = 1;
    wb_free(&b->ctx->alloc, order);
    return WABOT_OK;
}

/* Which recipients were handled already (their markers, read in one
 * batch): r[i].done. */
static int handled(batch *b, rcpt *r, size_t n)
{
    const size_t width = WB_STORAGE_KEY_MAX + 1;
    char *keys = wb_malloc(&b->ctx->alloc, n * width);
    const char **k = wb_calloc(&b->ctx->alloc, n, sizeof *k);
    int rc = keys == NULL || k == NULL ? WABOT_ERR_NOMEM : WABOT_OK;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        k[i] = wb_campaign_key(keys + i * width, width, "campaign-r", b->org,
                               b->id, r[i].phone);
        if (k[i] == NULL)
            rc = WABOT_ERR_INVAL;
    }
    wabot_storage_items *it = NULL;
    if (rc == WABOT_OK)
        rc = wabot_storage_get_many(b->ctx->storage, n, k, &it);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++)
        if (wabot_storage_items_status(it, i) == WABOT_OK)
            r[i].done = 1;
    wabot_storage_items_free(it);
    wb_free(&b->ctx->alloc, k);
    wb_free(&b->ctx->alloc, keys);
    return rc;
}

/* The counter a recipient counts under: queued or skipped.<reason>. */
static void counter_name(char *name, size_t size, int skip)
{
    if (skip < 0)
        snprintf(name, size, "%s", WB_CN_QUEUED);
    else
        snprintf(name, size, "skipped.%s", wb_campaign_skip_names[skip]);
}

/* Mark the recipient handled and count it (skip < 0: queued, else the
 * skip's reason) in one transaction: a crash between the two would leave
 * a marker whose recipient is never counted (the re-run finds the marker).
 * A recipient marked already (a batch run again, a customer a scan
 * returned twice) is neither marked nor counted again. */
static int mark_counted(batch *b, const char *phone, int skip)
{
    char key[WB_STORAGE_KEY_MAX + 1], counter[WB_STORAGE_KEY_MAX + 1];
    char name[64];
    counter_name(name, sizeof name, skip);
    const char *what = skip < 0 ? "queued" : wb_campaign_skip_names[skip];
    if (wb_campaign_key(key, sizeof key, "campaign-r", b->org, b->id,
                        phone) == NULL ||
        wb_campaign_key(counter, sizeof counter, "campaign-n", b->org, b->id,
                        name) == NULL)
        return WABOT_ERR_INVAL;
    wabot_storage_txn *t = wabot_storage_txn_new(b->ctx->storage);
    int rc = t != NULL ? wabot_storage_txn_cas(t, key, 0, what, strlen(what),
                                               WB_CAMPAIGN_MARK_TTL_MS)
                       : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, counter, 1, 0);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    wabot_storage_txn_free(t);
    return rc == WABOT_ERR_CONFLICT ? WABOT_OK : rc;
}

/* The chunk's markers and counts in one transaction: every marker absent
 * (handled() read them), each counter incremented by its recipients. A
 * marker that appeared meanwhile (a second run of the same job) fails the
 * whole transaction: then each recipient on its own (mark_counted). */
static int mark_chunk(batch *b, rcpt *r, size_t n)
{
    int64_t per[WABOT_CAMPAIGN_SKIP_COUNT + 1] = {0};
    char key[WB_STORAGE_KEY_MAX + 1], name[64];
    wabot_storage_txn *t = wabot_storage_txn_new(b->ctx->storage);
    int rc = t != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        if (r[i].done)
            continue;
        const char *what =
            r[i].skip < 0 ? "queued" : wb_campaign_skip_names[r[i].skip];
        per[r[i].skip + 1]++;
        rc = wb_campaign_key(key, sizeof key, "campaign-r", b->org, b->id,
                             r[i].phone) != NULL
                 ? wabot_storage_txn_cas(t, key, 0, what, strlen(what),
                                         WB_CAMPAIGN_MARK_TTL_MS)
                 : WABOT_ERR_INVAL;
    }
    for (int s = -1; rc == WABOT_OK && s < WABOT_CAMPAIGN_SKIP_COUNT; s++) {
        if (per[s + 1] == 0)
            continue;
        counter_name(name, sizeof name, s);
        rc = wb_campaign_key(key, sizeof key, "campaign-n", b->org, b->id,
                             name) != NULL
                 ? wabot_storage_txn_incr(t, key, per[s + 1], 0)
                 : WABOT_ERR_INVAL;
    }
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    wabot_storage_txn_free(t);
    for (size_t i = 0; rc == WABOT_ERR_CONFLICT && i < n; i++)
        if (!r[i].done && (rc = mark_counted(b, r[i].phone, r[i].skip)) ==
                              WABOT_OK)
            rc = WABOT_ERR_CONFLICT; /* go on with the next one */
    return rc == WABOT_ERR_CONFLICT ? WABOT_OK : rc;
}

/* A chunk of recipients not handled yet: compose, queue (one step on
 * Redis), then mark and count. Queue first, mark after: a crash in
 * between re-runs the batch, whose queuing then finds the messages
 * queued (not queued twice), and marks. */
static int run_chunk(batch *b, rcpt *r, size_t n)
{
    wabot_outbound *msgs[CHUNK];
    size_t m = 0;
    int rc = WABOT_OK;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        if (r[i].done || r[i].cust == NULL)
            continue;
        rc = compose(b, &r[i]);
        if (rc == WABOT_OK && r[i].msg != NULL)
            msgs[m++] = r[i].msg;
    }
    if (rc == WABOT_OK && m > 0)
        rc = wb_campaign_queue_outbound(b->ctx, b->org, b->id, m, msgs);
    for (size_t i = 0; i < n; i++) {
        wb_outbound_free(r[i].msg);
        r[i].msg = NULL;
    }
    return rc == WABOT_OK ? mark_chunk(b, r, n) : rc;
}

/* The page's recipients and opted-out customers into r[0..*n) (a
 * recipient without a phone is passed over). */
static size_t gather(json_t *page, rcpt *r)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(json_object_get(page, "recipients"), i, v)
    {
        const char *phone = json_string_value(json_object_get(v, "phone"));
        if (phone != NULL)
            r[n++] = (rcpt){phone, v, -1, 0, NULL};
    }
    json_array_foreach(json_object_get(page, "opted_out_phones"), i, v)
    {
        if (json_string_value(v) != NULL)
            r[n++] = (rcpt){json_string_value(v), NULL,
                            WABOT_CAMPAIGN_SKIP_OPTED_OUT, 0, NULL};
    }
    return n;
}

/* Every recipient of the page (and every opted-out customer, counted):
 * once each, however many times a batch runs or a scan returns it. */
static int run_page(batch *b, json_t *page)
{
    size_t cap = json_array_size(json_object_get(page, "recipients")) +
                 json_array_size(json_object_get(page, "opted_out_phones"));
    if (cap == 0)
        return WABOT_OK;
    rcpt *r = wb_calloc(&b->ctx->alloc, cap, sizeof *r);
    if (r == NULL)
        return wb_error(b->ctx, WABOT_ERR_NOMEM, "campaign: out of memory");
    size_t n = gather(page, r);
    int rc = n > 0 ? drop_duplicates(b, r, n) : WABOT_OK;
    if (rc == WABOT_OK && n > 0)
        rc = handled(b, r, n);
    for (size_t at = 0; rc == WABOT_OK && at < n; at += CHUNK)
        rc = run_chunk(b, r + at, n - at < CHUNK ? n - at : CHUNK);
    wb_free(&b->ctx->alloc, r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Counting the audience                                               */

/* A paced campaign's fan-out is its bottleneck: until it is done, the
 * recipients it has not reached are unknown, and so is its ETA. A chain of
 * count jobs (beside the batches, on the same queue) reads the audience a
 * page at a time and records its size as "audience_total" in the
 * campaign: recipients plus opted-out customers, who both end up queued or
 * skipped. Its position travels in the job's payload, like a batch's. */
#define COUNT_PAGE 1000

static int enqueue_count(wabot_ctx *ctx, const char *org, const char *id,
                         int64_t step, const char *cursor, int64_t counted)
{
    char job_id[300];
    snprintf(job_id, sizeof job_id, "campaign:%s:%s:count%" PRId64, org, id,
             step);
    return wb_campaign_enqueue_job(
        ctx, job_id,
        json_pack("{s:s,s:s,s:b,s:I,s:s,s:I}", "org", org, "id", id, "count",
                  1, "step", (json_int_t)step, "cursor", cursor, "counted",
                  (json_int_t)counted),
        0);
}

/* Whether the campaign wants its audience counted: paced, not yet
 * counted (a list audience's size is known at creation). */
static int wants_count(json_t *doc)
{
    return json_integer_value(json_object_get(doc, "sendRate")) > 0 &&
           json_object_get(doc, "audience_total") == NULL;
}

static int set_total(wabot_ctx *ctx, json_t *doc, void *ud)
{
    (void)ctx;
    if (json_object_get(doc, "audience_total") != NULL)
        return WABOT_ERR_EXISTS; /* counted already: keep it */
    return json_object_set_new(doc, "audience_total",
                               json_integer(*(int64_t *)ud)) == 0
               ? WABOT_OK
               : WABOT_ERR_NOMEM;
}

static int run_count(wabot_ctx *ctx, const char *org, const char *id,
                     json_t *doc, json_t *p)
{
    int st = wb_campaign_status_of(
        json_string_value(json_object_get(doc, "status")));
    if (!wants_count(doc) || st == WABOT_CAMPAIGN_COMPLETED ||
        st == WABOT_CAMPAIGN_CANCELLED)
        return WABOT_OK; /* the fan-out's own count is final, or moot */
    const char *cursor = json_string_value(json_object_get(p, "cursor"));
    int64_t step = json_integer_value(json_object_get(p, "step"));
    int64_t counted = json_integer_value(json_object_get(p, "counted"));
    json_t *page = NULL;
    int rc = wb_audience_page(ctx, org, json_object_get(doc, "targetAudience"),
                              cursor != NULL ? cursor : "0", COUNT_PAGE,
                              &page);
    const char *next = json_string_value(json_object_get(page, "cursor"));
    counted += (int64_t)json_array_size(json_object_get(page, "recipients")) +
               json_integer_value(json_object_get(
                   json_object_get(page, "excluded"), "opted_out"));
    if (rc == WABOT_OK && next != NULL && strcmp(next, "0") != 0)
        rc = enqueue_count(ctx, org, id, step + 1, next, counted);
    else if (rc == WABOT_OK) {
        rc = wb_campaign_update(ctx, org, id, set_total, &counted, NULL);
        if (rc == WABOT_ERR_EXISTS)
            rc = WABOT_OK;
    }
    json_decref(page);
    return rc;
}

/* ------------------------------------------------------------------ */
/* One batch                                                           */

/* List entries without a customer, counted once per batch. */
static int count_excluded(batch *b, int64_t n, json_t *excluded)
{
    char key[WB_STORAGE_KEY_MAX + 1], suffix[32];
    snprintf(suffix, sizeof suffix, "%" PRId64, n);
    if (wb_campaign_key(key, sizeof key, "campaign-b", b->org, b->id,
                        suffix) == NULL)
        return WABOT_ERR_INVAL;
    int rc = wabot_storage_set_nx(b->ctx->storage, key, "1", 1,
                                  WB_CAMPAIGN_MARK_TTL_MS, NULL);
    if (rc == WABOT_ERR_EXISTS)
        return WABOT_OK;
    if (rc != WABOT_OK)
        return rc;
    json_int_t nf = json_integer_value(json_object_get(excluded, "not_found"));
    char name[64];
    snprintf(name, sizeof name, "skipped.%s",
             wb_campaign_skip_names[WABOT_CAMPAIGN_SKIP_NOT_FOUND]);
    return nf > 0 ? wb_campaign_count(b->ctx, b->org, b->id, name, nf)
                  : WABOT_OK;
}

static int resolve_page(batch *b, const char *cursor, size_t count,
                        json_t **page)
{
    return wb_audience_page(b->ctx, b->org,
                            json_object_get(b->doc, "targetAudience"),
                            cursor, count, page);
}

/* What a batch of the first pass over a scanned audience saw of the
 * store's instance (store_instance.c): the instance the pass started on
 * ("store" in the campaign, named by its first page), and whether any
 * page may have been scanned by another one ("store_moved"). */
typedef struct watch {
    int on;    /* a first pass over a scanned audience, not on memory */
    int moved; /* this page may have been scanned by another instance */
    int first; /* this page starts the pass: it names the instance */
    char before[WB_CAMPAIGN_INSTANCE_MAX + 1];
} watch;

typedef struct advance {
    int64_t gen, batch;
    const char *next;
    int sweep; /* the first pass ended: the sweep starts from "0" */
    int moved; /* 1 when this job's move was written */
    const watch *w;
} advance;

/* A scan cursor of Redis is a position in the server's hash table, whose
 * layout (and hash seed) a restart changes: a fan-out resumed with a
 * cursor from before a Redis restart skips customers. So on a backend
 * other than memory (whose cursors are keys), the first pass over a
 * scanned audience is followed by a sweep from the start, which finds
 * every recipient the first pass missed (the markers, read a page at a
 * time, pass over the others), unless every page of the first pass was
 * scanned by the one Redis process its first page saw (watch). A list
 * audience's cursor is an index: no sweep. */
static int first_pass_scan(const batch *b)
{
    const char *type = json_string_value(json_object_get(
        json_object_get(b->doc, "targetAudience"), "type"));
    return json_integer_value(json_object_get(b->doc, "pass")) == 0 &&
           (type == NULL || strcmp(type, "list") != 0) &&
           strcmp(wabot_storage_name(b->ctx->storage), "memory") != 0;
}

static int needs_sweep(const batch *b, const watch *w)
{
    return w->on && (w->moved || json_is_true(json_object_get(
                                     b->doc, "store_moved")));
}

/* Before the page is read: the instance now, compared with the one the
 * pass started on (the page from cursor "0" names it). An instance that
 * cannot be told counts as moved. */
static void watch_begin(batch *b, const char *cursor, watch *w)
{
    memset(w, 0, sizeof *w);
    w->on = first_pass_scan(b);
    if (!w->on)
        return;
    const char *was = json_string_value(json_object_get(b->doc, "store"));
    w->first = was == NULL && strcmp(cursor, "0") == 0;
    if (wb_campaign_store_instance(b->ctx, w->before, sizeof w->before) !=
            WABOT_OK ||
        (!w->first && (was == NULL || strcmp(was, w->before) != 0)))
        w->moved = 1;
}

/* After the page was handled: still the same instance (a restart in
 * between may have served the scan). */
static void watch_end(batch *b, watch *w)
{
    char after[WB_CAMPAIGN_INSTANCE_MAX + 1];
    if (w->on && !w->moved &&
        (wb_campaign_store_instance(b->ctx, after, sizeof after) !=
             WABOT_OK ||
         strcmp(after, w->before) != 0))
        w->moved = 1;
}

/* The watch's findings into the campaign (advance_doc). */
static void watch_record(json_t *doc, const watch *w)
{
    if (!w->on)
        return;
    const char *was = json_string_value(json_object_get(doc, "store"));
    if (w->first && !w->moved && was == NULL)
        json_object_set_new(doc, "store", json_string(w->before));
    else if (w->moved || was == NULL || strcmp(was, w->before) != 0)
        json_object_set_new(doc, "store_moved", json_true());
}

/* Record that batch `batch` is done: the next cursor, or COMPLETED. A
 * newer generation (resumed meanwhile) owns the campaign: leave it. */
static int advance_doc(wabot_ctx *ctx, json_t *doc, void *ud)
{
    advance *a = ud;
    if (json_integer_value(json_object_get(doc, "gen")) != a->gen ||
        json_integer_value(json_object_get(doc, "batch")) != a->batch)
        return WABOT_ERR_STATE;
    json_object_set_new(doc, "batch", json_integer(a->batch + 1));
    json_object_set_new(doc, "cursor", json_string(a->next));
    if (a->sweep)
        json_object_set_new(doc, "pass", json_integer(1));
    else
        watch_record(doc, a->w);
    int st = wb_campaign_status_of(
        json_string_value(json_object_get(doc, "status")));
    if (!a->sweep && strcmp(a->next, "0") == 0 &&
        st == WABOT_CAMPAIGN_RUNNING) {
        json_object_set_new(doc, "status", json_string("COMPLETED"));
        json_object_set_new(doc, "finished_ms", json_integer(wb_now(ctx)));
    }
    a->moved = 1;
    return WABOT_OK;
}

/* On memory, a page's recipient markers are dropped once its batch has
 * recorded the next cursor: a memory scan never returns a key before its
 * cursor again, no sweep follows, and a job of this batch run again (or
 * of an older generation) finds the campaign moved on and does nothing.
 * The markers only guard the page while it is in hand (a batch that
 * failed half-way and is retried; a resume that restarts the page a
 * batch of the older generation had not recorded). So what a memory
 * fan-out keeps per recipient is the delivery module's (send record,
 * receipt), not a 90-day marker per customer. A list audience keeps
 * them: a list may name a customer again in a later page. Best effort:
 * a marker left behind only expires later. */
static void forget(batch *b, const char *phone)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    if (phone != NULL && wb_campaign_key(key, sizeof key, "campaign-r",
                                         b->org, b->id, phone) != NULL)
        (void)wabot_storage_del(b->ctx->storage, key);
}

static void forget_page(batch *b, json_t *page)
{
    const char *type = json_string_value(json_object_get(
        json_object_get(b->doc, "targetAudience"), "type"));
    if (strcmp(wabot_storage_name(b->ctx->storage), "memory") != 0 ||
        (type != NULL && strcmp(type, "list") == 0))
        return;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(page, "recipients"), i, v)
        forget(b, json_string_value(json_object_get(v, "phone")));
    json_array_foreach(json_object_get(page, "opted_out_phones"), i, v)
        forget(b, json_string_value(v));
}

/* The pause between batches that keeps the campaign's own rate. */
static int64_t pace_ms(json_t *doc, size_t sent)
{
    int64_t rate = json_integer_value(json_object_get(doc, "sendRate"));
    return rate > 0 ? (int64_t)sent * 1000 / rate : 0;
}

static int run_batch(batch *b, int64_t gen, int64_t n, const char *cursor)
{
    json_int_t size = json_integer_value(json_object_get(b->doc, "batchSize"));
    json_t *page = NULL;
    watch w;
    int rc = prepare(b);
    watch_begin(b, cursor, &w);
    if (rc == WABOT_OK && n == 0 && wants_count(b->doc))
        rc = enqueue_count(b->ctx, b->org, b->id, 0, "0", 0);
    if (rc == WABOT_OK)
        rc = resolve_page(b, cursor, size > 0 ? (size_t)size
                                              : WB_CAMPAIGN_BATCH, &page);
    json_t *rcp = json_object_get(page, "recipients");
    if (rc == WABOT_OK)
        rc = run_page(b, page);
    if (rc == WABOT_OK)
        rc = count_excluded(b, n, json_object_get(page, "excluded"));
    watch_end(b, &w);
    const char *next = json_string_value(json_object_get(page, "cursor"));
    int last = next != NULL && strcmp(next, "0") == 0;
    int sweep = last && needs_sweep(b, &w);
    if (sweep)
        next = "0";
    if (rc == WABOT_OK && next != NULL && (!last || sweep))
        rc = wb_campaign_enqueue_batch(
            b->ctx, b->org, b->id, gen, n + 1, next,
            b->now + pace_ms(b->doc, json_array_size(rcp)));
    if (rc == WABOT_OK && next != NULL) {
        advance a = {gen, n, next, sweep, 0, &w};
        rc = wb_campaign_update(b->ctx, b->org, b->id, advance_doc, &a, NULL);
        if (rc == WABOT_ERR_STATE)
            rc = WABOT_OK; /* a newer generation took over */
        if (rc == WABOT_OK && a.moved)
            forget_page(b, page);
    }
    json_decref(page);
    return rc;
}

/* SCHEDULED becomes RUNNING when its first batch comes due. */
static int begin(wabot_ctx *ctx, json_t *doc, void *ud)
{
    (void)ud;
    if (wb_campaign_status_of(json_string_value(
            json_object_get(doc, "status"))) != WABOT_CAMPAIGN_SCHEDULED)
        return WABOT_ERR_STATE;
    json_object_set_new(doc, "status", json_string("RUNNING"));
    json_object_set_new(doc, "started_ms", json_integer(wb_now(ctx)));
    return WABOT_OK;
}

/* Whether this job still owns the campaign: same generation and batch,
 * and running (a scheduled one starts now). */
static int owns(batch *b, int64_t gen, int64_t n, int *mine)
{
    *mine = 0;
    if (json_integer_value(json_object_get(b->doc, "gen")) != gen ||
        json_integer_value(json_object_get(b->doc, "batch")) != n)
        return WABOT_OK;
    int st = wb_campaign_status_of(
        json_string_value(json_object_get(b->doc, "status")));
    if (st == WABOT_CAMPAIGN_SCHEDULED) {
        json_t *after = NULL;
        int rc = wb_campaign_update(b->ctx, b->org, b->id, begin, NULL,
                                    &after);
        if (rc == WABOT_ERR_STATE)
            return WABOT_OK;
        if (rc != WABOT_OK)
            return rc;
        json_decref(b->doc);
        b->doc = after;
        st = WABOT_CAMPAIGN_RUNNING;
    }
    *mine = st == WABOT_CAMPAIGN_RUNNING;
    return WABOT_OK;
}

static int job_run(wabot_ctx *ctx, json_t *p)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.ctx = ctx;
    b.org = json_string_value(json_object_get(p, "org"));
    b.id = json_string_value(json_object_get(p, "id"));
    const char *cursor = json_string_value(json_object_get(p, "cursor"));
    int64_t gen = json_integer_value(json_object_get(p, "gen"));
    int64_t n = json_integer_value(json_object_get(p, "batch"));
    if (b.org == NULL || b.id == NULL || cursor == NULL)
        return wb_error(ctx, WABOT_ERR_PARSE, "campaign: bad job payload");
    int rc = wb_campaign_load(ctx, b.org, b.id, &b.doc, NULL);
    if (rc == WABOT_ERR_NOT_FOUND)
        return WABOT_OK; /* deleted: nothing to do */
    if (rc == WABOT_OK && json_is_true(json_object_get(p, "count"))) {
        rc = run_count(ctx, b.org, b.id, b.doc, p);
        json_decref(b.doc);
        return rc;
    }
    int mine = 0;
    if (rc == WABOT_OK)
        rc = owns(&b, gen, n, &mine);
    if (rc == WABOT_OK && mine) {
        b.now = wb_now(ctx);
        b.window_ms = wb_opt_int(ctx, b.org, WABOT_OPT_WINDOW_MS);
        snprintf(b.corr, sizeof b.corr, "%s%s", WB_CAMPAIGN_CORR_PREFIX,
                 b.id);
        rc = run_batch(&b, gen, n, cursor);
    }
    release(&b);
    json_decref(b.doc);
    return rc;
}

static int on_job(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len = 0;
    const char *payload = wabot_job_payload(job, &len);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *p = json_loadb(payload, len, 0, NULL);
    int rc = json_is_object(p) ? job_run(ctx, p)
                               : wb_error(ctx, WABOT_ERR_PARSE,
                                          "campaign: bad job payload");
    json_decref(p);
    wb_json_scope_leave(prev);
    if (rc == WABOT_ERR_PARSE || rc == WABOT_ERR_INVAL) {
        wabot_job_set_error(job, wabot_ctx_errmsg(ctx));
        wabot_job_set_permanent(job);
    }
    if (rc != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "job %s: %s", wabot_job_id(job),
               wabot_ctx_errmsg(ctx));
    return rc;
}

/* ------------------------------------------------------------------ */
/* Progress from the outbound path                                     */

/* The campaign a correlation id ("campaign:<id>") of an organisation's
 * send names, or NULL. */
static const char *campaign_id_of(const char *corr, const char *org)
{
    size_t pl = strlen(WB_CAMPAIGN_CORR_PREFIX);
    if (corr == NULL || org == NULL || *org == '\0' ||
        strncmp(corr, WB_CAMPAIGN_CORR_PREFIX, pl) != 0 || corr[pl] == '\0')
        return NULL;
    return corr + pl;
}

/* The campaign an event's correlation id names, or NULL. */
static const char *campaign_of(json_t *ev, const char **org)
{
    *org = json_string_value(json_object_get(ev, "organization"));
    return campaign_id_of(
        json_string_value(json_object_get(ev, "correlation_id")), *org);
}

/* Count the event for its campaign: the counter pick names, and the
 * second one it sets (may be NULL). */
static int count_event(wabot_ctx *ctx, const char *json, size_t len,
                       const char *(*pick)(json_t *ev, const char **second))
{
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *ev = json_loadb(json, len, 0, NULL);
    const char *org, *id = campaign_of(ev, &org), *second = NULL;
    const char *first = id != NULL ? pick(ev, &second) : NULL;
    int rc = WABOT_OK;
    if (first != NULL)
        rc = wb_campaign_count(ctx, org, id, first, 1);
    if (rc == WABOT_OK && second != NULL)
        rc = wb_campaign_count(ctx, org, id, second, 1);
    json_decref(ev);
    wb_json_scope_leave(prev);
    return rc;
}

/* A read receipt without a delivered one before it counts both. */
static const char *pick_status(json_t *ev, const char **second)
{
    const char *st = json_string_value(json_object_get(ev, "state"));
    *second = NULL;
    if (st == NULL)
        return NULL;
    if (strcmp(st, "delivered") == 0)
        return WB_CN_DELIVERED;
    if (strcmp(st, "read") == 0) {
        if (!json_is_true(json_object_get(ev, "delivered_before")))
            *second = WB_CN_DELIVERED;
        return WB_CN_READ;
    }
    if (strcmp(st, "failed") == 0 || strcmp(st, "undelivered") == 0)
        return WB_CN_FAILED;
    return NULL;
}

/* "delivery.sent" (wb_sent_event): a send of a campaign counts as sent. */
static int on_sent(wabot_ctx *ctx, const void *event, void *ud)
{
    (void)ud;
    const wb_sent_event *ev = event;
    const char *id = campaign_id_of(ev->correlation_id, ev->organization);
    if (id == NULL)
        return WABOT_OK;
    wb_sent_counts *sc = wb_campaign_sent_counts(ctx);
    return sc != NULL ? wb_sent_counts_add(sc, ev->organization, id, 1)
                      : wb_campaign_count(ctx, ev->organization, id,
                                          WB_CN_SENT, 1);
}

static int on_status(wabot_ctx *ctx, const char *hook, const char *json,
                     size_t len, void *ud)
{
    (void)hook;
    (void)ud;
    return count_event(ctx, json, len, pick_status);
}

int wb_campaign_fanout_register(wabot_module *m)
{
    wabot_ctx *ctx = wabot_module_ctx(m);
    int rc = wabot_queue_add_worker(ctx, WABOT_QUEUE_CAMPAIGNS, on_job, NULL,
                                    NULL, 1);
    if (rc != WABOT_OK)
        return rc;
    /* Without the delivery or receipts module (a host may leave them out)
     * those counts stay 0. */
    rc = wb_hook_subscribe_event(ctx, "delivery.sent", on_sent, NULL);
    if (rc == WABOT_OK || rc == WABOT_ERR_NOT_FOUND)
        rc = wabot_hook_subscribe(ctx, "receipts.status", on_status, NULL,
                                  NULL);
    return rc == WABOT_ERR_NOT_FOUND ? WABOT_OK : rc;
}
