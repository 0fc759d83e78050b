/* The delivery module (lib/delivery/): the outbound queue's worker. It
 * takes each queued message through the outbound policy, the circuit
 * breaker of its transport and the rate limits, hands it to the transport
 * and settles the job, recording successful sends for delivery receipts.
 * A library module: created with the context (lib/builtin_modules.c), so
 * nothing else in the library depends on it. Private. */
#ifndef WB_DELIVERY_H
#define WB_DELIVERY_H

#include <pthread.h>

#include "ctx.h"
#include "wabot/module.h"
#include "wabot/resilience.h"
#include "wabot/transport.h"

extern const wabot_module_def wb_delivery_module;

typedef struct wb_breaker_slot {
    const wabot_transport *transport;
    wabot_breaker *breaker;
    char key[192];          /* storage key shared with other processes */
    int64_t shared_until;   /* another process saw it open until then */
    int64_t checked_at;     /* last read of the shared key */
    const char *org;        /* the sender's organisation (ctx's strings) */
    int published;          /* state last set on the metric, + 1; 0 none */
} wb_breaker_slot;

/* The module's state in one context. */
typedef struct wb_delivery {
    wabot_ctx *ctx;
    struct wabot_module *module; /* emits "delivery.sent" */
    pthread_mutex_t lock; /* guards breakers (created on first use) */
    wb_breaker_slot *breakers;
    size_t n_breakers, cap_breakers;
} wb_delivery;

/* Circuit breakers (lib/delivery/breakers.c). Ask transport t's breaker
 * (created on first use) for a call at now: WABOT_OK with *b set (report
 * the outcome with wb_breaker_report), or WABOT_ERR_CIRCUIT_OPEN with
 * *retry_at -- also when another process sharing the storage saw the
 * provider fail and opened its breaker. *b is NULL (and WABOT_OK
 * returned) when no breaker could be made. */
int wb_breaker_acquire(wb_delivery *d, const wabot_transport *t,
                       wabot_breaker **b, int64_t now, int64_t *retry_at);
/* Record an outcome; when it opens the breaker, tell the other processes
 * through the storage (best effort: a storage failure leaves the local
 * breaker in charge). */
void wb_breaker_report(wb_delivery *d, const wabot_transport *t,
                       wabot_breaker *b, int64_t now,
                       wabot_breaker_outcome outcome);
void wb_breakers_free(wb_delivery *d);

/* One breaker's state for readiness (lib/http_server/health.c). */
typedef struct wb_breaker_status {
    const char *transport;     /* its name; valid while the context lives */
    const char *org;
    wabot_breaker_state state; /* open also when another process shares
                                  that it opened */
    int64_t open_until_ms;     /* open: when it may half-open; else 0 */
} wb_breaker_status;

/* Up to max breakers of ctx's delivery module into out, as of now;
 * returns how many exist (0 without the module or before any send). Any
 * thread. */
size_t wb_delivery_breakers(wabot_ctx *ctx, int64_t now,
                            wb_breaker_status *out, size_t max);

#endif
