/* The outbound path's configuration: senders (organisation numbers and
 * their transports), per-transport circuit breakers, window templates.
 * Private; lib/transport/senders.c and lib/jobs/outbound.c. */
#ifndef WB_OUTBOUND_H
#define WB_OUTBOUND_H

#include <pthread.h>

#include "ctx.h"
#include "wabot/message.h"
#include "wabot/resilience.h"
#include "wabot/transport.h"

typedef struct wb_sender {
    char *org;
    char *number; /* E.164 */
    wabot_transport *transport;
} wb_sender;

typedef struct wb_breaker_slot {
    const wabot_transport *transport;
    wabot_breaker *breaker;
    char key[192];          /* storage key shared with other processes */
    int64_t shared_until;   /* another process saw it open until then */
    int64_t checked_at;     /* last read of the shared key */
} wb_breaker_slot;

typedef struct wb_window_template {
    char *name; /* NULL: no fallback */
    char *language;
} wb_window_template;

#define WB_CATEGORIES 4 /* wabot_out_category values */

typedef struct wb_outbound_cfg {
    wb_sender *senders;
    size_t n_senders;
    pthread_mutex_t lock; /* guards breakers (created on first use) */
    wb_breaker_slot *breakers;
    size_t n_breakers;
    wb_window_template window[WB_CATEGORIES];
} wb_outbound_cfg;

int wb_outbound_cfg_init(wabot_ctx *ctx);
void wb_outbound_cfg_free(wabot_ctx *ctx);

/* The organisation owning business number `number`, or NULL. */
const char *wb_sender_org(const wabot_ctx *ctx, const char *number);
/* The transport and sender number for message o: the sender registered for
 * (o's organisation, o's from), else the organisation's first sender, else
 * the context's transport with o's own from. *from is borrowed. */
wabot_transport *wb_sender_route(const wabot_ctx *ctx, const wabot_outbound *o,
                                 const char **from);
/* Ask transport t's breaker (created on first use) for a call at now:
 * WABOT_OK with *b set (report the outcome with wb_breaker_report), or
 * WABOT_ERR_CIRCUIT_OPEN with *retry_at — also when another process
 * sharing the storage saw the provider fail and opened its breaker. *b is
 * NULL (and WABOT_OK returned) when no breaker could be made. */
int wb_breaker_acquire(wabot_ctx *ctx, const wabot_transport *t,
                       wabot_breaker **b, int64_t now, int64_t *retry_at);
/* Record an outcome; when it opens the breaker, tell the other processes
 * through the storage (best effort: a storage failure leaves the local
 * breaker in charge). */
void wb_breaker_report(wabot_ctx *ctx, const wabot_transport *t,
                       wabot_breaker *b, int64_t now,
                       wabot_breaker_outcome outcome);
void wb_breakers_free(wabot_ctx *ctx);

#endif
