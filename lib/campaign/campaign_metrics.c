/* The campaign module's Prometheus families (doc/campaigns.md "Metrics"):
 *
 *   wabot_campaigns{org,status}                 gauge
 *   wabot_campaign_messages{org,campaign,outcome} gauge
 *   wabot_reminders_total{org,type,event}       counter
 *
 * The two gauges show what storage holds, so every process sharing a
 * store exports the same values whichever of them ran the campaign: a
 * background loop source re-reads the campaigns every
 * campaign.metrics_refresh (the organisations of campaign-orgs, each one's
 * index campaign-ix:{org}, their documents in batches, and the progress counters of those shown:
 * the cost follows the number of campaigns, not the size of the
 * keyspace). A campaign's message series
 * are shown while it is not finished, and for campaign.metrics_keep after
 * it COMPLETED or was CANCELLED (receipts keep moving delivered and read);
 * then they are hidden, which keeps the exposition bounded by the
 * campaigns of that period. The reminder counters count what this
 * process did (sum them over processes). */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "campaign_metrics.h"
#include "campaign_store.h"
#include "internal/campaign.h"
#include "internal/ctx.h"
#include "internal/htab.h"
#include "internal/json_alloc.h"
#include "internal/metrics.h"
#include "internal/runtime.h"
#include "internal/storage.h"
#include "wabot/metrics.h"
#include "wabot/storage.h"

#define N_STATUS 6
#define N_OUTCOME 6
/* Message series kept per process: 10,000 campaigns' worth. */
#define MESSAGE_SERIES (N_OUTCOME * 10000)

static const char *const OUTCOME[N_OUTCOME] = {"queued", "sent", "delivered",
                                               "read", "failed", "skipped"};

/* A campaign seen by a refresh; `shown` once its series exist. */
typedef struct seen_campaign {
    wb_hnode node;
    uint64_t epoch; /* the last refresh that found it */
    wabot_metric_series *series[N_OUTCOME];
    int shown;
    char key[]; /* its storage key */
} seen_campaign;

/* An organisation with campaigns: its status series and this refresh's
 * counts. */
typedef struct seen_org {
    wb_hnode node;
    wabot_metric_series *series[N_STATUS];
    int64_t count[N_STATUS];
    char name[];
} seen_org;

struct wb_campaign_metrics {
    wabot_ctx *ctx;
    wabot_metric_family *campaigns, *messages, *reminders;
    pthread_mutex_t mu; /* the tables and the schedule */
    wb_htab seen, orgs;
    uint64_t epoch;
    int64_t next; /* the refresh's deadline */
    int64_t refresh_ms, keep_ms;
};

/* ------------------------------------------------------------------ */
/* Reminder events                                                     */

void wb_campaign_metrics_reminder(wabot_ctx *ctx, const char *org,
                                  const char *type, const char *event)
{
    wb_campaign_metrics *cm = wb_campaign_metrics_of(ctx);
    const char *values[] = {org, type != NULL ? type : "", event};
    if (cm != NULL && org != NULL)
        wabot_metrics_counter_add_labels(cm->reminders, values, 3, 1);
}

/* ------------------------------------------------------------------ */
/* The refresh                                                         */

static void *find(const wb_htab *t, const char *key, size_t len)
{
    return wb_htab_find(t, wb_htab_hash(t, key, len), key, len);
}

/* The entry of `t` under key, or a new zeroed one of `size` bytes whose
 * node is its first member and whose key is copied to its flexible array
 * (at the table's key_off). NULL on NOMEM. */
static void *entry(wb_campaign_metrics *cm, wb_htab *t, size_t size,
                   const char *key, int *created)
{
    size_t len = strlen(key);
    wb_hnode *n = find(t, key, len);
    *created = n == NULL;
    if (n != NULL || (n = wb_calloc(&cm->ctx->alloc, 1, size + len + 1)) == NULL)
        return n;
    memcpy((char *)n + t->key_off, key, len + 1);
    n->klen = (uint32_t)len;
    n->hash = wb_htab_hash(t, key, len);
    wb_htab_add(t, n);
    return n;
}

static seen_org *org_entry(wb_campaign_metrics *cm, const char *org)
{
    int created = 0;
    seen_org *o = entry(cm, &cm->orgs, sizeof *o, org, &created);
    for (int s = 0; created && o != NULL && s < N_STATUS; s++) {
        const char *v[] = {org,
                           wabot_campaign_status_name((wabot_campaign_status)s)};
        wabot_metrics_series(cm->campaigns, v, 2, &o->series[s]);
    }
    return o;
}

static seen_campaign *campaign_entry(wb_campaign_metrics *cm, const char *key)
{
    int created = 0;
    return entry(cm, &cm->seen, sizeof(seen_campaign), key, &created);
}

static void set_hidden(seen_campaign *c, int hidden)
{
    for (int i = 0; i < N_OUTCOME; i++)
        wb_metrics_series_hide(c->series[i], hidden);
}

/* Resolve the campaign's series (once) and set them from its stored
 * progress. A storage error leaves the last values. */
static void show(wb_campaign_metrics *cm, seen_campaign *c, const char *org,
                 const char *id)
{
    if (!c->shown) {
        for (int i = 0; i < N_OUTCOME; i++) {
            const char *v[] = {org, id, OUTCOME[i]};
            wabot_metrics_series(cm->messages, v, 3, &c->series[i]);
        }
        c->shown = 1;
    }
    wabot_campaign_progress p;
    memset(&p, 0, sizeof p);
    p.version = WABOT_CAMPAIGN_PROGRESS_VERSION;
    if (wabot_campaign_progress_get(cm->ctx, org, id, &p) != WABOT_OK) {
        wb_error_clear(cm->ctx);
        return;
    }
    int64_t skipped = 0;
    for (size_t i = 0; i < WABOT_CAMPAIGN_SKIP_COUNT; i++)
        skipped += p.skipped[i];
    const int64_t v[N_OUTCOME] = {p.queued, p.sent,   p.delivered,
                                  p.read,   p.failed, skipped};
    for (int i = 0; i < N_OUTCOME; i++)
        wabot_metrics_gauge_set(c->series[i], (double)v[i]);
    set_hidden(c, 0);
}

/* One stored campaign: counted under its organisation's status, its
 * message series shown or hidden. The organisation and id come from the
 * document (the key's org may hold ':'). */
static void account(wb_campaign_metrics *cm, const char *key, json_t *doc,
                    int64_t now)
{
    const char *org = json_string_value(json_object_get(doc, "organizationId"));
    const char *id = json_string_value(json_object_get(doc, "id"));
    int st = wb_campaign_status_of(
        json_string_value(json_object_get(doc, "status")));
    seen_campaign *c = campaign_entry(cm, key);
    if (org == NULL || id == NULL || st < 0 || c == NULL || c->epoch == cm->epoch)
        return; /* not a campaign, or met twice in one refresh (a page
                 * boundary moved by a campaign created meanwhile) */
    c->epoch = cm->epoch;
    seen_org *o = org_entry(cm, org);
    if (o != NULL)
        o->count[st]++;
    int64_t finished = json_integer_value(json_object_get(doc, "finished_ms"));
    int ended = st == WABOT_CAMPAIGN_COMPLETED || st == WABOT_CAMPAIGN_CANCELLED;
    if (!ended || finished <= 0 || now - finished < cm->keep_ms)
        show(cm, c, org, id);
    else if (c->shown)
        set_hidden(c, 1);
}

#define INDEX_PAGE 1000

/* One page (from `offset`) of sorted index `key` into *page; *n gets how
 * many members it held (fewer than INDEX_PAGE: the last page). */
static int index_page(wabot_storage *st, const char *key, int64_t offset,
                      wabot_storage_items **page, size_t *n)
{
    int rc = wabot_storage_sorted_range(st, key, WABOT_STORAGE_SCORE_MIN,
                                        WABOT_STORAGE_SCORE_MAX, offset,
                                        INDEX_PAGE, 0, page);
    *n = rc == WABOT_OK ? wabot_storage_items_count(*page) : 0;
    return rc;
}

/* The campaigns of one page of org's index, read in one batch. */
static int read_page(wb_campaign_metrics *cm, const char *org,
                     int64_t offset, size_t *n, int64_t now)
{
    wabot_storage *st = cm->ctx->storage;
    char ix[WB_STORAGE_KEY_MAX + 1];
    snprintf(ix, sizeof ix, "campaign-ix:{%s}", org);
    wabot_storage_items *ids = NULL, *docs = NULL;
    int rc = index_page(st, ix, offset, &ids, n);
    const size_t width = WB_STORAGE_KEY_MAX + 1;
    char *keys = *n > 0 ? wb_malloc(&cm->ctx->alloc, *n * width) : NULL;
    if (*n > 0 && keys == NULL)
        rc = WABOT_ERR_NOMEM;
    const char *k[INDEX_PAGE];
    for (size_t i = 0; rc == WABOT_OK && i < *n; i++)
        if (!(k[i] = wb_campaign_key(keys + i * width, width, "campaign", org,
                                     wabot_storage_items_key(ids, i, NULL),
                                     NULL)))
            rc = WABOT_ERR_INVAL;
    if (rc == WABOT_OK && *n > 0)
        rc = wabot_storage_get_many(st, *n, k, &docs);
    for (size_t i = 0; rc == WABOT_OK && i < *n; i++) {
        size_t len = 0;
        const char *val = wabot_storage_items_status(docs, i) == WABOT_OK
                              ? wabot_storage_items_value(docs, i, &len)
                              : NULL;
        json_t *doc = val != NULL ? json_loadb(val, len, 0, NULL) : NULL;
        if (json_is_object(doc))
            account(cm, k[i], doc, now);
        json_decref(doc);
    }
    wabot_storage_items_free(docs);
    wabot_storage_items_free(ids);
    wb_free(&cm->ctx->alloc, keys);
    return rc;
}

/* Every campaign of every organisation in WB_CAMPAIGN_ORGS. */
static int read_all(wb_campaign_metrics *cm, int64_t now)
{
    int rc = WABOT_OK;
    size_t n_orgs = INDEX_PAGE;
    for (int64_t at = 0; rc == WABOT_OK && n_orgs == INDEX_PAGE;
         at += INDEX_PAGE) {
        wabot_storage_items *orgs = NULL;
        rc = index_page(cm->ctx->storage, WB_CAMPAIGN_ORGS, at, &orgs,
                        &n_orgs);
        for (size_t i = 0; rc == WABOT_OK && i < n_orgs; i++) {
            const char *org = wabot_storage_items_key(orgs, i, NULL);
            size_t n = INDEX_PAGE;
            for (int64_t off = 0; rc == WABOT_OK && n == INDEX_PAGE;
                 off += INDEX_PAGE)
                rc = read_page(cm, org, off, &n, now);
        }
        wabot_storage_items_free(orgs);
    }
    return rc;
}

static int dead_campaign(const wb_hnode *n, void *ud)
{
    const wb_campaign_metrics *cm = ud;
    return ((const seen_campaign *)n)->epoch != cm->epoch;
}

static void drop_campaign(wb_hnode *n, void *ud)
{
    wb_campaign_metrics *cm = ud;
    set_hidden((seen_campaign *)n, 1);
    wb_free(&cm->ctx->alloc, n);
}

/* After a complete read (publish = 1): publish the status counts and
 * forget the campaigns no longer stored. After a failed one: drop its
 * partial counts and keep the last complete figures. */
static void finish(wb_campaign_metrics *cm, int publish)
{
    for (size_t i = 0; i < cm->orgs.nbuckets; i++)
        for (wb_hnode *n = cm->orgs.buckets[i]; n != NULL; n = n->next) {
            seen_org *o = (seen_org *)n;
            for (int s = 0; s < N_STATUS; s++) {
                if (publish)
                    wabot_metrics_gauge_set(o->series[s], (double)o->count[s]);
                o->count[s] = 0;
            }
        }
    for (size_t i = 0; publish && i < cm->seen.nbuckets; i++)
        wb_htab_sweep_bucket(&cm->seen, i, dead_campaign, drop_campaign, cm);
}

int wb_campaign_metrics_refresh(wabot_ctx *ctx)
{
    wb_campaign_metrics *cm = wb_campaign_metrics_of(ctx);
    if (cm == NULL)
        return WABOT_OK;
    pthread_mutex_lock(&cm->mu);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    cm->epoch++;
    int64_t now = wb_now(ctx);
    int rc = read_all(cm, now);
    finish(cm, rc == WABOT_OK);
    cm->next = now + cm->refresh_ms;
    wb_json_scope_leave(prev);
    pthread_mutex_unlock(&cm->mu);
    if (rc != WABOT_OK)
        wb_error_clear(ctx);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The loop source and the families                                    */

/* Background: it runs when the host's loop runs anyway, never arms its
 * timer nor holds wabot_ctx_run_until_idle() back. */
static int64_t source_deadline(void *ud)
{
    wb_campaign_metrics *cm = ud;
    pthread_mutex_lock(&cm->mu);
    int64_t d = cm->refresh_ms > 0 ? cm->next : WB_NO_DEADLINE;
    pthread_mutex_unlock(&cm->mu);
    return d;
}

static void source_fire(void *ud)
{
    wb_campaign_metrics *cm = ud;
    wb_campaign_metrics_refresh(cm->ctx);
}

static int register_families(wb_campaign_metrics *cm)
{
    static const char *const by_status[] = {"org", "status"};
    static const char *const by_outcome[] = {"org", "campaign", "outcome"};
    static const char *const by_event[] = {"org", "type", "event"};
    const wabot_metric_def defs[3] = {
        {WABOT_METRIC_DEF_VERSION, "wabot_campaigns",
         "campaigns in storage by status (refreshed every "
         "campaign.metrics_refresh)",
         WABOT_METRIC_GAUGE, by_status, 2, NULL, 0, 0},
        {WABOT_METRIC_DEF_VERSION, "wabot_campaign_messages",
         "messages of a campaign by outcome, from its stored progress; "
         "campaigns finished more than campaign.metrics_keep ago are left out",
         WABOT_METRIC_GAUGE, by_outcome, 3, NULL, 0, MESSAGE_SERIES},
        {WABOT_METRIC_DEF_VERSION, "wabot_reminders_total",
         "reminder events in this process: scheduled, deferred_quiet_hours, "
         "fired, skipped_opted_out, skipped_window_closed, skipped_replied, "
         "cancelled, failed",
         WABOT_METRIC_COUNTER, by_event, 3, NULL, 0, 0},
    };
    wabot_metric_family **out[3] = {&cm->campaigns, &cm->messages,
                                    &cm->reminders};
    int rc = WABOT_OK;
    for (int i = 0; rc == WABOT_OK && i < 3; i++)
        rc = wabot_metrics_register(cm->ctx, &defs[i], out[i]);
    return rc;
}

wb_campaign_metrics *wb_campaign_metrics_new(wabot_ctx *ctx,
                                             int64_t refresh_ms,
                                             int64_t keep_ms)
{
    wb_campaign_metrics *cm = wb_calloc(&ctx->alloc, 1, sizeof *cm);
    if (cm == NULL)
        return NULL;
    cm->ctx = ctx;
    cm->refresh_ms = refresh_ms;
    cm->keep_ms = keep_ms;
    if (pthread_mutex_init(&cm->mu, NULL) != 0) {
        wb_free(&ctx->alloc, cm);
        return NULL;
    }
    wb_source src = {source_deadline, source_fire, cm, 1};
    if (wb_htab_init(&cm->seen, &ctx->alloc, 64,
                     offsetof(seen_campaign, key)) != WABOT_OK ||
        wb_htab_init(&cm->orgs, &ctx->alloc, 8, offsetof(seen_org, name)) !=
            WABOT_OK ||
        register_families(cm) != WABOT_OK ||
        wb_loop_add_source(ctx, &src) != WABOT_OK) {
        wb_campaign_metrics_free(cm);
        return NULL;
    }
    return cm;
}

static void free_all(wb_campaign_metrics *cm, wb_htab *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (wb_hnode *n = t->buckets[i], *next; n != NULL; n = next) {
            next = n->next;
            wb_free(&cm->ctx->alloc, n);
        }
    wb_htab_free(t);
}

void wb_campaign_metrics_free(wb_campaign_metrics *cm)
{
    if (cm == NULL)
        return;
    free_all(cm, &cm->seen);
    free_all(cm, &cm->orgs);
    pthread_mutex_destroy(&cm->mu);
    wb_free(&cm->ctx->alloc, cm);
}
