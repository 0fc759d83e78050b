/* The campaign module's metric families and their refresh
 * (lib/campaign/campaign_metrics.c). Private to the module. */
#ifndef WB_CAMPAIGN_METRICS_H
#define WB_CAMPAIGN_METRICS_H

#include <stdint.h>

#include "wabot/core.h"

typedef struct wb_campaign_metrics wb_campaign_metrics;

/* Register the families and the loop source that refreshes the campaign
 * gauges every refresh_ms (0: never); a campaign's message series stay
 * shown for keep_ms after it ended. NULL on failure (NOMEM, or the
 * families exist with another definition). */
wb_campaign_metrics *wb_campaign_metrics_new(wabot_ctx *ctx,
                                             int64_t refresh_ms,
                                             int64_t keep_ms);
void wb_campaign_metrics_free(wb_campaign_metrics *cm);
/* The context's, or NULL without the campaign module (module.c). */
wb_campaign_metrics *wb_campaign_metrics_of(const wabot_ctx *ctx);

/* Read every stored campaign now and update the gauges (the loop source
 * does this every refresh_ms). WABOT_OK, or the storage status (the
 * gauges keep their last complete values). Any thread; one at a time. */
int wb_campaign_metrics_refresh(wabot_ctx *ctx);

/* Count reminder `event` ("scheduled", "fired", ...) of organisation org
 * and reminder type `type` ("PAYMENT_DUE", ...). Any thread. */
void wb_campaign_metrics_reminder(wabot_ctx *ctx, const char *org,
                                  const char *type, const char *event);

#endif
