/*
 * Metrics: named counters kept by the context (first slice; histograms and
 * Prometheus text come with the metrics issue).
 *
 * Counter names used by the library:
 *   webhook.requests, webhook.rejected.<code> (e.g. webhook.rejected.body_too_large),
 *   messages.received, messages.handled, messages.unhandled, messages.failed,
 *   state.conflicts, outbound.sent, outbound.failed.
 * Thread-safe.
 */
#ifndef WABOT_METRICS_H
#define WABOT_METRICS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Value of a counter; 0 if it was never incremented. */
WABOT_API int64_t wabot_metrics_counter(const wabot_ctx *ctx,
                                        const char *name);
/** Add `delta` to a counter (hosts may keep their own counters here).
 *  WABOT_ERR_INVAL for NULL/empty names, NOMEM. */
WABOT_API int wabot_metrics_add(wabot_ctx *ctx, const char *name,
                                int64_t delta);
/** All counters as a JSON object {"name": value, ...} sorted by name, plus
 *  "timestamp" (ms). Owned; free with wabot_ctx_mem_free(). NULL on NOMEM. */
WABOT_API char *wabot_metrics_json(const wabot_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_METRICS_H */
