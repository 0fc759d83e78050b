/* Metrics internals. Private. */
#ifndef WB_METRICS_H
#define WB_METRICS_H

#include "ctx.h"
#include "wabot/metrics.h"

wb_metrics *wb_metrics_new(const wabot_allocator *a);
void wb_metrics_free(wb_metrics *m);
/* Add delta to counter `name` (created on first use). Never fails visibly:
 * on NOMEM the increment is dropped and logged. */
void wb_count(wabot_ctx *ctx, const char *name, int64_t delta);

/* Measuring a duration. With an injected clock (tests, simulations) the
 * duration is read from it, in ms, so moving the clock moves the metric;
 * with the default system clock it is read from CLOCK_MONOTONIC in ns,
 * because the wall clock has ms resolution (most turns take less) and
 * may jump. */
typedef struct wb_stopwatch {
    int64_t start;
    int monotonic; /* start is CLOCK_MONOTONIC ns, else clock ms */
} wb_stopwatch;
wb_stopwatch wb_stopwatch_start(const wabot_ctx *ctx);
double wb_stopwatch_seconds(const wabot_ctx *ctx, wb_stopwatch sw);

/* How a turn ended: labels of wabot_turn_duration_seconds. */
typedef enum wb_turn_outcome {
    WB_TURN_HANDLED = 0,
    WB_TURN_UNHANDLED = 1,
    WB_TURN_FAILED = 2
} wb_turn_outcome;
/* Observe a turn's duration (since sw) on wabot_turn_duration_seconds. */
void wb_metrics_turn_done(wabot_ctx *ctx, wb_turn_outcome outcome,
                          wb_stopwatch sw);
/* Observe a webhook request's duration on
 * wabot_webhook_request_duration_seconds, by status class. */
void wb_metrics_webhook_done(wabot_ctx *ctx, int http_status,
                             wb_stopwatch sw);
/* Observe a job's processing time (reserved to settled) on
 * wabot_job_duration_seconds{queue}; *cache keeps the queue's series. */
void wb_metrics_job_done(wabot_ctx *ctx, wabot_metric_series **cache,
                         const char *queue, wb_stopwatch sw);
/* Observe one request forwarded to the legacy bot (migration) on
 * wabot_legacy_forward_duration_seconds: ok (it answered) or error. */
void wb_metrics_legacy_done(wabot_ctx *ctx, int ok, wb_stopwatch sw);

/* Leave a series out of every export (Prometheus, JSON, snapshots) while
 * hidden is 1, or show it again (0). Series are never freed before the
 * context (lookups take no lock), so a module whose label values come and
 * go (one campaign each) hides the ones that ended to keep the exposition
 * bounded; the series keeps its value and counts toward max_series.
 * Any thread; NULL and the overflow series are ignored. */
void wb_metrics_series_hide(wabot_metric_series *s, int hidden);

#endif
