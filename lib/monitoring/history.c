/* The last 15 minutes of the metrics the dashboard plots, one sample
 * every 2 s in a ring. A sample keeps cumulative values (counters, the
 * turn-latency and legacy-forward latency buckets, each queue's job
 * processing time) and the queue counts as they were; the page
 * derives rates and percentiles from the differences between samples, so
 * a late or missing sample only widens one step. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "wabot/jobs.h"
#include "wabot/metrics.h"
#include "internal/alloc.h"
#include "internal/ctx.h"
#include "internal/runtime.h"
#include "internal/strbuf.h"

#define SLOTS (WB_HISTORY_WINDOW_MS / WB_HISTORY_INTERVAL_MS)
#define MAX_QUEUES 5
#define MAX_BOUNDS 16
#define TURN_BUCKET "wabot_turn_duration_seconds_bucket"
#define LEGACY_BUCKET "wabot_legacy_forward_duration_seconds_bucket"

/* The named counters sampled, in the order the JSON lists them. */
static const char *const COUNTERS[] = {
    "messages.received", "messages.handled",  "messages.failed",
    "migration.new",     "migration.legacy",  "migration.legacy_errors",
    "outbound.sent",     "outbound.failed",   "outbound.throttled",
    "messages.rate_limited", "messages.duplicates", "breaker.opened",
    "outbound.circuit_open",
};
#define N_COUNTERS (sizeof COUNTERS / sizeof COUNTERS[0])

/* The job states in the order of /monitoring's queue objects. */
static const int STATES[] = {WABOT_JOB_WAITING, WABOT_JOB_ACTIVE,
                             WABOT_JOB_COMPLETED, WABOT_JOB_FAILED,
                             WABOT_JOB_DELAYED};
#define N_STATES (sizeof STATES / sizeof STATES[0])

typedef struct sample {
    int64_t t;
    int64_t c[N_COUNTERS];
    int64_t q[MAX_QUEUES][N_STATES];
    double lat[MAX_BOUNDS + 1]; /* cumulative, the last is +Inf */
    double legacy[MAX_BOUNDS + 1]; /* the same for the legacy bot */
    double psum[MAX_QUEUES];       /* each queue's job processing time:
                                      seconds in all, and jobs */
    double pcount[MAX_QUEUES];
} sample;

struct wb_history {
    wabot_ctx *ctx;
    const char *const *queues, *const *shown;
    size_t n_queues;
    pthread_mutex_t mu;
    sample ring[SLOTS];
    size_t head, n; /* oldest at head, n kept */
    int64_t next;   /* when the next sample is due */
    /* the latency histograms' bucket bounds ("le" values; the library's
     * latency families share them), from the first snapshot that had
     * them */
    char bounds[MAX_BOUNDS][24];
    size_t n_bounds;
};

/* Add the buckets of histogram `bucket` (a latency family of the
 * library) over every outcome into out: the series come one after the
 * other, each with the same bounds in the same order. */
static void add_buckets(wb_history *h, const wabot_metrics_snapshot *s,
                        const char *bucket, double *out)
{
    size_t pos = 0, n = wabot_metrics_snapshot_count(s);
    int learn = h->n_bounds == 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(wabot_metrics_snapshot_name(s, i), bucket) != 0)
            continue;
        const char *le = NULL;
        for (size_t j = 0; j < wabot_metrics_snapshot_label_count(s, i); j++)
            if (strcmp(wabot_metrics_snapshot_label_name(s, i, j), "le") == 0)
                le = wabot_metrics_snapshot_label_value(s, i, j);
        if (le == NULL)
            continue;
        if (strcmp(le, "+Inf") == 0) {
            out[MAX_BOUNDS] += wabot_metrics_snapshot_value(s, i);
            learn = 0; /* the first series taught every bound */
            pos = 0;
            continue;
        }
        if (learn && h->n_bounds < MAX_BOUNDS) {
            strncpy(h->bounds[h->n_bounds], le, sizeof h->bounds[0] - 1);
            h->n_bounds++;
        }
        if (pos < MAX_BOUNDS)
            out[pos++] += wabot_metrics_snapshot_value(s, i);
    }
}

/* The value of series `name`{queue=q} in the snapshot, or 0. */
static double queue_value(const wabot_metrics_snapshot *s, const char *name,
                          const char *q)
{
    for (size_t i = 0; i < wabot_metrics_snapshot_count(s); i++) {
        if (strcmp(wabot_metrics_snapshot_name(s, i), name) != 0 ||
            wabot_metrics_snapshot_label_count(s, i) != 1 ||
            strcmp(wabot_metrics_snapshot_label_value(s, i, 0), q) != 0)
            continue;
        return wabot_metrics_snapshot_value(s, i);
    }
    return 0;
}

/* Each queue's cumulative job processing time and job count. */
static void add_processing(wb_history *h, const wabot_metrics_snapshot *s,
                           sample *x)
{
    for (size_t i = 0; i < h->n_queues; i++) {
        x->psum[i] = queue_value(s, "wabot_job_duration_seconds_sum",
                                 h->queues[i]);
        x->pcount[i] = queue_value(s, "wabot_job_duration_seconds_count",
                                   h->queues[i]);
    }
}

static void take(wb_history *h, int64_t now)
{
    sample *x = &h->ring[(h->head + h->n) % SLOTS];
    if (h->n == SLOTS) {
        x = &h->ring[h->head];
        h->head = (h->head + 1) % SLOTS;
    } else {
        h->n++;
    }
    memset(x, 0, sizeof *x);
    x->t = now;
    for (size_t i = 0; i < N_COUNTERS; i++)
        x->c[i] = wabot_metrics_counter(h->ctx, COUNTERS[i]);
    for (size_t i = 0; i < h->n_queues; i++) {
        int64_t c[WABOT_JOB_STATE_COUNT] = {0};
        wabot_queue_counts(h->ctx, h->queues[i], c, WABOT_JOB_STATE_COUNT);
        for (size_t k = 0; k < N_STATES; k++)
            x->q[i][k] = c[STATES[k]];
    }
    wabot_metrics_snapshot *s = NULL;
    if (wabot_metrics_snapshot_take(h->ctx, &s) == WABOT_OK)
    {
        add_buckets(h, s, TURN_BUCKET, x->lat);
        add_buckets(h, s, LEGACY_BUCKET, x->legacy);
        add_processing(h, s, x);
    }
    wabot_metrics_snapshot_free(s);
}

void wb_history_tick(wb_history *h)
{
    if (h == NULL)
        return;
    int64_t now = wb_now(h->ctx);
    pthread_mutex_lock(&h->mu);
    if (now >= h->next) {
        take(h, now);
        h->next = now + WB_HISTORY_INTERVAL_MS;
    }
    pthread_mutex_unlock(&h->mu);
}

/* The loop source: background, so it neither arms the host's timer nor
 * keeps wabot_ctx_run_until_idle() from returning; it runs whenever the
 * host's loop does (wabot-server polls every 100 ms). */
static int64_t source_deadline(void *ud)
{
    wb_history *h = ud;
    pthread_mutex_lock(&h->mu);
    int64_t d = h->next;
    pthread_mutex_unlock(&h->mu);
    return d;
}

static void source_fire(void *ud)
{
    wb_history_tick(ud);
}

wb_history *wb_history_new(wabot_ctx *ctx, const char *const *queues,
                           const char *const *shown, size_t n_queues)
{
    wb_history *h = wb_calloc(&ctx->alloc, 1, sizeof *h);
    if (h == NULL)
        return NULL;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        wb_free(&ctx->alloc, h);
        return NULL;
    }
    h->ctx = ctx;
    h->queues = queues;
    h->shown = shown;
    h->n_queues = n_queues < MAX_QUEUES ? n_queues : MAX_QUEUES;
    h->next = 0; /* the first tick samples */
    wb_source src = {source_deadline, source_fire, h, 1};
    if (wb_loop_add_source(ctx, &src) != WABOT_OK) {
        wb_history_free(h);
        return NULL;
    }
    return h;
}

void wb_history_free(wb_history *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->mu);
    wb_free(&h->ctx->alloc, h);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static void names_json(wb_strbuf *b, const char *const *names, size_t n)
{
    wb_strbuf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            wb_strbuf_putc(b, ',');
        wb_strbuf_json_str(b, names[i]);
    }
    wb_strbuf_putc(b, ']');
}

/* ],"<name>":[bucket counts..., +Inf] */
static void buckets_json(const wb_history *h, wb_strbuf *b, const char *name,
                         const double *v)
{
    wb_strbuf_printf(b, "],\"%s\":[", name);
    for (size_t i = 0; i < h->n_bounds; i++)
        wb_strbuf_printf(b, "%.0f,", v[i]);
    wb_strbuf_printf(b, "%.0f", v[MAX_BOUNDS]);
}

static void sample_json(const wb_history *h, wb_strbuf *b, const sample *x)
{
    wb_strbuf_printf(b, "{\"t\":%lld,\"c\":[", (long long)x->t);
    for (size_t i = 0; i < N_COUNTERS; i++)
        wb_strbuf_printf(b, "%s%lld", i ? "," : "", (long long)x->c[i]);
    wb_strbuf_puts(b, "],\"q\":[");
    for (size_t i = 0; i < h->n_queues; i++) {
        wb_strbuf_printf(b, "%s[", i ? "," : "");
        for (size_t k = 0; k < N_STATES; k++)
            wb_strbuf_printf(b, "%s%lld", k ? "," : "",
                             (long long)x->q[i][k]);
        wb_strbuf_putc(b, ']');
    }
    buckets_json(h, b, "lat", x->lat);
    buckets_json(h, b, "legacy", x->legacy);
    /* per queue: [milliseconds of processing in all, jobs] */
    wb_strbuf_puts(b, "],\"p\":[");
    for (size_t i = 0; i < h->n_queues; i++)
        wb_strbuf_printf(b, "%s[%.0f,%.0f]", i ? "," : "",
                         x->psum[i] * 1000.0, x->pcount[i]);
    wb_strbuf_puts(b, "]}");
}

/* The breakers' gauges as they are now: {transport, organization,
 * state (0 closed, 1 open, 2 half-open)}. */
static void breakers_json(wb_history *h, wb_strbuf *b)
{
    wabot_metrics_snapshot *s = NULL;
    wb_strbuf_putc(b, '[');
    if (wabot_metrics_snapshot_take(h->ctx, &s) != WABOT_OK) {
        wb_strbuf_putc(b, ']');
        return;
    }
    int first = 1;
    for (size_t i = 0; i < wabot_metrics_snapshot_count(s); i++) {
        if (strcmp(wabot_metrics_snapshot_name(s, i), "wabot_breaker_state"))
            continue;
        wb_strbuf_puts(b, first ? "{" : ",{");
        first = 0;
        for (size_t j = 0; j < wabot_metrics_snapshot_label_count(s, i); j++) {
            wb_strbuf_json_str(b, wabot_metrics_snapshot_label_name(s, i, j));
            wb_strbuf_putc(b, ':');
            wb_strbuf_json_str(b, wabot_metrics_snapshot_label_value(s, i, j));
            wb_strbuf_putc(b, ',');
        }
        wb_strbuf_printf(b, "\"state\":%d}",
                         (int)wabot_metrics_snapshot_value(s, i));
    }
    wabot_metrics_snapshot_free(s);
    wb_strbuf_putc(b, ']');
}

char *wb_history_json(wb_history *h, int64_t since_ms)
{
    wb_history_tick(h);
    wb_strbuf b;
    wb_strbuf_init(&b, &h->ctx->alloc);
    pthread_mutex_lock(&h->mu);
    wb_strbuf_printf(&b, "{\"interval_ms\":%d,\"window_ms\":%d,\"now\":%lld,"
                         "\"counters\":",
                     WB_HISTORY_INTERVAL_MS, WB_HISTORY_WINDOW_MS,
                     (long long)wb_now(h->ctx));
    names_json(&b, COUNTERS, N_COUNTERS);
    wb_strbuf_puts(&b, ",\"queues\":");
    names_json(&b, h->shown, h->n_queues);
    wb_strbuf_puts(&b, ",\"states\":[\"waiting\",\"active\",\"completed\","
                       "\"failed\",\"delayed\"],\"bounds\":[");
    for (size_t i = 0; i < h->n_bounds; i++)
        wb_strbuf_printf(&b, "%s%s", i ? "," : "", h->bounds[i]);
    wb_strbuf_puts(&b, "],\"samples\":[");
    int first = 1;
    for (size_t i = 0; i < h->n; i++) {
        const sample *x = &h->ring[(h->head + i) % SLOTS];
        if (x->t <= since_ms)
            continue;
        if (!first)
            wb_strbuf_putc(&b, ',');
        first = 0;
        sample_json(h, &b, x);
    }
    pthread_mutex_unlock(&h->mu);
    wb_strbuf_puts(&b, "],\"breakers\":");
    breakers_json(h, &b);
    wb_strbuf_putc(&b, '}');
    return wb_strbuf_take(&b);
}
