/* The library's own metric families: turn, webhook request and legacy
 * forward latency.
 * Registered on first use (a context that never handles a message shows
 * none), each label value resolved once and kept, so an observation is a
 * lock-free load plus the histogram update. */
#include <time.h>

#include "registry.h"

/* ms-scale turns up to the 10 s a provider waits for a webhook answer. */
static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,  0.1,    0.25,  0.5,  1,
                                        2.5,   5,      10};
#define N_BOUNDS (sizeof latency_bounds / sizeof latency_bounds[0])

static const char *const turn_label[] = {"outcome"};
static const char *const turn_values[WB_TURN_SERIES] = {"handled",
                                                        "unhandled",
                                                        "failed"};
static const char *const webhook_label[] = {"status"};
static const char *const webhook_values[WB_WEBHOOK_SERIES] = {
    "1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const legacy_values[WB_LEGACY_SERIES] = {"ok", "error"};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

wb_stopwatch wb_stopwatch_start(const wabot_ctx *ctx)
{
    wb_stopwatch sw;
    sw.monotonic = ctx->clock.now_ms == wb_system_now_ms;
    sw.start = sw.monotonic ? monotonic_ns() : wb_now(ctx);
    return sw;
}

double wb_stopwatch_seconds(const wabot_ctx *ctx, wb_stopwatch sw)
{
    if (sw.monotonic)
        return (double)(monotonic_ns() - sw.start) / 1e9;
    return (double)(wb_now(ctx) - sw.start) / 1000.0;
}

/* The cached series values[i] of the family def, registered and
 * resolved on first use. NULL if that fails (the observation is dropped;
 * the next one tries again). */
static wabot_metric_series *builtin(wabot_ctx *ctx,
                                    _Atomic(wabot_metric_series *) *cache,
                                    const wabot_metric_def *def,
                                    const char *const *values, size_t i)
{
    wabot_metric_series *s =
        atomic_load_explicit(&cache[i], memory_order_acquire);
    if (s)
        return s;
    wabot_metric_family *f = NULL;
    if (wb_metrics_register_on(ctx, NULL, def, &f) != WABOT_OK ||
        wabot_metrics_series(f, &values[i], 1, &s) != WABOT_OK)
        return NULL;
    atomic_store_explicit(&cache[i], s, memory_order_release);
    return s;
}

/* A latency histogram of the library, one label with a fixed set of
 * values. */
typedef struct latency_family {
    const char *name;
    const char *help;
    const char *const *label;
    const char *const *values;
    size_t n_values;
} latency_family;

static const latency_family turn_family = {
    "wabot_turn_duration_seconds",
    "Time to handle one inbound message (a turn), by outcome.", turn_label,
    turn_values, WB_TURN_SERIES};
static const latency_family webhook_family = {
    "wabot_webhook_request_duration_seconds",
    "Time to answer one webhook request, by HTTP status class.",
    webhook_label, webhook_values, WB_WEBHOOK_SERIES};
static const latency_family legacy_family = {
    "wabot_legacy_forward_duration_seconds",
    "Time the legacy bot took to answer one forwarded webhook request "
    "(migration), by outcome.",
    turn_label, legacy_values, WB_LEGACY_SERIES};

static void observe(wabot_ctx *ctx, _Atomic(wabot_metric_series *) *cache,
                    const latency_family *lf, size_t i, wb_stopwatch sw)
{
    wabot_metric_def def = {WABOT_METRIC_DEF_VERSION, lf->name, lf->help,
                            WABOT_METRIC_HISTOGRAM, lf->label, 1,
                            latency_bounds, N_BOUNDS, lf->n_values};
    wabot_metric_series *s = builtin(ctx, cache, &def, lf->values, i);
    wabot_metrics_histogram_observe(s, wb_stopwatch_seconds(ctx, sw));
}

void wb_metrics_turn_done(wabot_ctx *ctx, wb_turn_outcome outcome,
                          wb_stopwatch sw)
{
    observe(ctx, ctx->metrics->turn, &turn_family, (size_t)outcome, sw);
}

void wb_metrics_webhook_done(wabot_ctx *ctx, int http_status,
                             wb_stopwatch sw)
{
    int i = http_status / 100 - 1;
    if (i < 0 || i >= WB_WEBHOOK_SERIES)
        i = WB_WEBHOOK_SERIES - 1;
    observe(ctx, ctx->metrics->webhook, &webhook_family, (size_t)i, sw);
}

void wb_metrics_legacy_done(wabot_ctx *ctx, int ok, wb_stopwatch sw)
{
    observe(ctx, ctx->metrics->legacy, &legacy_family, ok ? 0 : 1, sw);
}

static const char *const queue_label[] = {"queue"};

void wb_metrics_job_done(wabot_ctx *ctx, wabot_metric_series **cache,
                         const char *queue, wb_stopwatch sw)
{
    wabot_metric_series *s = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (s == NULL) {
        wabot_metric_def def = {
            WABOT_METRIC_DEF_VERSION, "wabot_job_duration_seconds",
            "Time a job took from its reservation to its outcome, by queue.",
            WABOT_METRIC_HISTOGRAM, queue_label, 1, latency_bounds, N_BOUNDS,
            0};
        wabot_metric_family *f = NULL;
        if (wb_metrics_register_on(ctx, NULL, &def, &f) != WABOT_OK ||
            wabot_metrics_series(f, &queue, 1, &s) != WABOT_OK)
            return; /* dropped; the next job tries again */
        __atomic_store_n(cache, s, __ATOMIC_RELEASE);
    }
    wabot_metrics_histogram_observe(s, wb_stopwatch_seconds(ctx, sw));
}
