/* Campaigns' "sent" counts added up per loop iteration
 * (lib/campaign/sent_counts.c). Private to the module. */
#ifndef WB_CAMPAIGN_SENT_COUNTS_H
#define WB_CAMPAIGN_SENT_COUNTS_H

#include <stdint.h>

#include "wabot/core.h"

typedef struct wb_sent_counts wb_sent_counts;

/* A table of pending counts and the loop source that writes them at the
 * loop's next turn. NULL on out of memory. */
wb_sent_counts *wb_sent_counts_new(wabot_ctx *ctx);
/* Write what is pending, then free (NULL: no-op). */
void wb_sent_counts_free(wb_sent_counts *sc);
/* Count n sends of campaign id of org: pending until the loop's next turn
 * (written at once when the table is full or the names are too long).
 * WABOT_OK, or the storage status of a write done at once. Any thread. */
int wb_sent_counts_add(wb_sent_counts *sc, const char *org, const char *id,
                       int64_t n);
/* Write the pending counts now: WABOT_OK or the first storage failure
 * (those counts stay pending, tried again a second later). Any thread. */
int wb_sent_counts_flush(wb_sent_counts *sc);

#endif
