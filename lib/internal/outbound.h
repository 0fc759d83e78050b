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
/* The breaker guarding transport t (created on first use). NULL on NOMEM. */
wabot_breaker *wb_breaker_for(wabot_ctx *ctx, const wabot_transport *t);
void wb_breakers_free(wabot_ctx *ctx);

#endif
