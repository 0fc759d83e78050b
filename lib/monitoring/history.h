/* The monitoring module's history (lib/monitoring/history.c): the last 15
 * minutes of a few counters, the queue counts and the turn-latency
 * histogram, sampled every 2 s, for the dashboard's plots. Private. */
#ifndef WB_MONITORING_HISTORY_H
#define WB_MONITORING_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "wabot/core.h"

#define WB_HISTORY_INTERVAL_MS 2000
#define WB_HISTORY_WINDOW_MS (15 * 60 * 1000)

typedef struct wb_history wb_history;

/* A history of ctx's metrics and the queues named by queues[i] (shown as
 * shown[i]; both arrays borrowed for the history's life). It samples from
 * a background loop source (when the loop runs anyway: a host's poll) and
 * whenever it is read. NULL on NOMEM. Setup only. */
wb_history *wb_history_new(wabot_ctx *ctx, const char *const *queues,
                           const char *const *shown, size_t n_queues);
/* Free (NULL: no-op). Module destroy only. */
void wb_history_free(wb_history *h);
/* Take a sample if one is due (at least the interval since the last).
 * Any thread. */
void wb_history_tick(wb_history *h);
/* The samples taken after `since_ms` (0: all kept) as JSON text (shape
 * in doc/dashboard.md), plus the breakers' current states. Owned: free
 * with wb_free() on the context's allocator. NULL on NOMEM. Any
 * thread. */
char *wb_history_json(wb_history *h, int64_t since_ms);

#endif
