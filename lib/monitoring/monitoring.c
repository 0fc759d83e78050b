/* The `monitoring` module: GET /metrics (Prometheus text 0.0.4),
 * GET {admin prefix}/monitoring (the replaced system's dashboard JSON) and
 * {admin prefix}/monitoring/history (the dashboard's 15 minutes, history.c),
 * all behind the admin tokens or the metrics token (never open). Built on
 * public APIs (the metrics snapshot, queue counts, named counters) and,
 * for the history, an internal background loop source. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wabot/admin.h"
#include "wabot/jobs.h"
#include "wabot/metrics.h"
#include "wabot/module.h"
#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "history.h"

enum { OPT_METRICS_PATH, OPT_METRICS_TOKEN };

static const wabot_option_def monitoring_options[] = {
    {WABOT_OPTION_DEF_VERSION, "metrics_path", WABOT_OPTION_STRING, 0, 0, 0,
     0, "/metrics", "path of the Prometheus endpoint (not under the admin "
     "prefix)", "WABOT_METRICS_PATH", NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "metrics_token", WABOT_OPTION_STRING,
     WABOT_OPTION_SECRET, 0, 0, 0, "",
     "bearer token(s) for /metrics and /monitoring besides the admin "
     "token(s), comma-separated (scrapers often get their own)",
     "WABOT_METRICS_TOKEN", NULL, NULL},
};

/* ------------------------------------------------------------------ */
/* GET /metrics                                                        */

static int metrics_route(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    char *text = wabot_metrics_prometheus(ctx);
    if (text == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "monitoring: out of memory");
    int rc = wabot_http_response_set_status(resp, 200);
    if (rc == WABOT_OK)
        rc = wabot_http_response_set_body(
            resp, "text/plain; version=0.0.4; charset=utf-8", text,
            strlen(text));
    if (rc == WABOT_OK)
        rc = wabot_http_response_add_header(resp, "Cache-Control", "no-store");
    wabot_ctx_mem_free(ctx, text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* GET {prefix}/monitoring                                             */

/* The counters behind "new": what each module counts under that name. */
static const struct {
    const char *shown, *counter;
} TOTALS[] = {
    {"messages", "messages.received"},
    {"orders", "orders.created"},
    {"invoices", "invoices.issued"},
    {"reminders", "reminders.sent"},
    {"campaigns", "campaigns.created"},
};

/* Our queues, and their names on the replaced system's dashboard. */
static const char *const QUEUE_NAMES[] = {
    "order-processing", "invoice-processing", "reminders", "campaigns",
    "outbound"};
static const char *const QUEUE_SHOWN[] = {"orderProcessing", "invoices",
                                          "reminders", "campaigns",
                                          "outbound"};
#define N_QUEUES (sizeof QUEUE_NAMES / sizeof QUEUE_NAMES[0])

static json_t *queue_json(wabot_ctx *ctx, const char *queue)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    wabot_queue_counts(ctx, queue, c, WABOT_JOB_STATE_COUNT);
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "waiting",
                     (json_int_t)c[WABOT_JOB_WAITING], "active",
                     (json_int_t)c[WABOT_JOB_ACTIVE], "completed",
                     (json_int_t)c[WABOT_JOB_COMPLETED], "failed",
                     (json_int_t)c[WABOT_JOB_FAILED], "delayed",
                     (json_int_t)c[WABOT_JOB_DELAYED]);
}

#define LEGACY_BUCKET "wabot_legacy_forward_duration_seconds_bucket"

/* Cumulative counts of the legacy forwarder's histogram, both outcomes
 * added, at each bound (in the order the snapshot lists them); returns
 * how many bounds (the last is +Inf). */
static size_t legacy_buckets(const wabot_metrics_snapshot *s, double *le,
                             double *count, size_t max)
{
    size_t n = 0, pos = 0;
    for (size_t i = 0; i < wabot_metrics_snapshot_count(s); i++) {
        if (strcmp(wabot_metrics_snapshot_name(s, i), LEGACY_BUCKET) != 0)
            continue;
        const char *v = NULL;
        for (size_t j = 0; j < wabot_metrics_snapshot_label_count(s, i); j++)
            if (strcmp(wabot_metrics_snapshot_label_name(s, i, j), "le") == 0)
                v = wabot_metrics_snapshot_label_value(s, i, j);
        if (v == NULL || pos >= max)
            continue;
        if (pos == n) { /* the first outcome's series teaches the bounds */
            le[n] = strcmp(v, "+Inf") == 0 ? -1 : strtod(v, NULL);
            count[n++] = 0;
        }
        count[pos] += wabot_metrics_snapshot_value(s, i);
        pos = strcmp(v, "+Inf") == 0 ? 0 : pos + 1;
    }
    return n;
}

/* The q-quantile in ms, interpolated inside its bucket (the last finite
 * bound when it falls in +Inf). */
static double quantile_ms(const double *le, const double *count, size_t n,
                          double q)
{
    double want = q * count[n - 1], prev_count = 0, prev_le = 0;
    for (size_t i = 0; i < n; i++) {
        if (count[i] >= want) {
            if (le[i] < 0)
                return prev_le * 1000.0;
            double in = count[i] - prev_count;
            double f = in > 0 ? (want - prev_count) / in : 1;
            return (prev_le + (le[i] - prev_le) * f) * 1000.0;
        }
        prev_count = count[i];
        prev_le = le[i];
    }
    return prev_le * 1000.0;
}

/* The legacy bot's latency as the forwarder measured it (since the
 * process started): {"count":n,"p50":ms,"p99":ms}, quantiles null before
 * the first forward. */
static json_t *legacy_latency(wabot_ctx *ctx)
{
    double le[32], count[32];
    size_t n = 0;
    wabot_metrics_snapshot *s = NULL;
    if (wabot_metrics_snapshot_take(ctx, &s) == WABOT_OK)
        n = legacy_buckets(s, le, count, 32);
    wabot_metrics_snapshot_free(s);
    if (n == 0 || count[n - 1] <= 0)
        return json_pack("{s:i,s:n,s:n}", "count", 0, "p50", "p99");
    return json_pack("{s:I,s:f,s:f}", "count", (json_int_t)count[n - 1],
                     "p50", quantile_ms(le, count, n, 0.5), "p99",
                     quantile_ms(le, count, n, 0.99));
}

static json_t *monitoring_json(wabot_ctx *ctx)
{
    json_t *root = json_object(), *fresh = json_object(),
           *queues = json_object();
    for (size_t i = 0; i < sizeof TOTALS / sizeof TOTALS[0]; i++)
        json_object_set_new(fresh, TOTALS[i].shown,
                            json_integer(wabot_metrics_counter(
                                ctx, TOTALS[i].counter)));
    for (size_t i = 0; i < N_QUEUES; i++)
        json_object_set_new(queues, QUEUE_SHOWN[i],
                            queue_json(ctx, QUEUE_NAMES[i]));
    /* The legacy side as the migration module's forwarder saw it: how
     * many, how many failed, how fast. */
    json_t *old = json_pack(
        "{s:I, s:I, s:o}", "messages",
        (json_int_t)wabot_metrics_counter(ctx, "migration.legacy"), "errors",
        (json_int_t)wabot_metrics_counter(ctx, "migration.legacy_errors"),
        "latency_ms", legacy_latency(ctx));
    int64_t now = wabot_ctx_now_ms(ctx);
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    char stamp[64];
    gmtime_r(&secs, &tm);
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(now % 1000));
    json_object_set_new(root, "new", fresh);
    json_object_set_new(root, "queues", queues);
    json_object_set_new(root, "old", old);
    json_object_set_new(root, "timestamp", json_string(stamp));
    return root;
}

static int monitoring_route(wabot_ctx *ctx,
                            const wabot_http_server_request *req,
                            wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *o = monitoring_json(ctx);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    wb_json_scope_leave(prev);
    if (text == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "monitoring: out of memory");
    int rc = wabot_http_response_set_json(resp, 200, text);
    wb_json_free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* GET {prefix}/monitoring/history[?since=<ms>]                        */

static int history_route(wabot_ctx *ctx, const wabot_http_server_request *req,
                         wabot_http_response *resp, void *ud)
{
    const char *since = wabot_http_server_request_query_param(req, "since",
                                                              NULL);
    long long from = 0;
    if (since != NULL) {
        char *end = NULL;
        from = strtoll(since, &end, 10);
        if (since[0] == '\0' || *end != '\0' || from < 0)
            return wabot_admin_error(resp, 400, "invalid", "since",
                                     "since must be a time in ms (>= 0)");
    }
    char *text = wb_history_json(ud, (int64_t)from);
    if (text == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "monitoring: out of memory");
    int rc = wabot_http_response_set_json(resp, 200, text);
    if (rc == WABOT_OK)
        rc = wabot_http_response_add_header(resp, "Cache-Control", "no-store");
    wb_free(&ctx->alloc, text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static int monitoring_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    const char *path = wabot_module_option_str(m, NULL, OPT_METRICS_PATH);
    const char *token = wabot_module_option_str(m, NULL, OPT_METRICS_TOKEN);
    if (path == NULL || path[0] != '/')
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "monitoring.metrics_path must start with '/'");
    int rc = wb_admin_mount(ctx, "GET", path, 0, token, metrics_route, NULL,
                            NULL);
    if (rc == WABOT_OK)
        rc = wb_admin_mount(ctx, "GET", "/monitoring", 1, token,
                            monitoring_route, NULL, NULL);
    /* The history is kept only where someone may read it. */
    int readable = wabot_admin_enabled(ctx) || (token != NULL && *token);
    if (rc != WABOT_OK || !readable)
        return rc;
    wb_history *h = wb_history_new(ctx, QUEUE_NAMES, QUEUE_SHOWN, N_QUEUES);
    if (h == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "monitoring: out of memory");
    wabot_module_set_data(m, h);
    return wb_admin_mount(ctx, "GET", "/monitoring/history", 1, token,
                          history_route, h, NULL);
}

static void monitoring_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wb_history_free(wabot_module_data(m));
}

static const char *const monitoring_requires[] = {"admin", NULL};

const wabot_module_def wb_monitoring_module = {
    WABOT_MODULE_DEF_VERSION, "monitoring",
    "GET /metrics (Prometheus) and {admin prefix}/monitoring, behind the "
    "admin or metrics token",
    monitoring_requires, monitoring_options,
    sizeof monitoring_options / sizeof monitoring_options[0], NULL,
    monitoring_create, monitoring_destroy};
