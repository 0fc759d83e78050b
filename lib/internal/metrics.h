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

#endif
