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

/* The event of the hook "delivery.sent" (the provider accepted a send) as
 * the library's own subscribers get it (wb_hook_subscribe_event): valid
 * during the call only. The host's subscribers get it as JSON, these
 * members by name (`organization`, `correlation_id` null when NULL;
 * `provider` by wabot_provider_name). */
typedef struct wb_sent_event {
    const char *outbound_id;
    const char *provider_id;
    const char *to;
    const char *organization;   /* may be NULL */
    const char *correlation_id; /* may be NULL */
    wabot_provider provider;
} wb_sent_event;

struct wb_storage_bop;

/* Storage writes another module makes on the delivery's pass, in one
 * batch with the pass's outcome records and reads: one round trip for
 * all (the receipts module's records of sends, made on the same pass as
 * the "sent" records of the delivery.sent events they follow). Loop
 * thread. take() appends up to `room` ops to ops[] and returns how many;
 * their keys and values stay valid until settle(), in the same pass,
 * which gets them back, in order, with their statuses set (every op's:
 * a failure of the whole batch sets each to it). take() may return 0
 * (nothing waits, or it did its work itself). */
typedef struct wb_delivery_rider {
    size_t (*take)(void *ud, struct wb_storage_bop *ops, size_t room);
    void (*settle)(void *ud, struct wb_storage_bop *ops, size_t n);
    void *ud;
} wb_delivery_rider;

/* Set the one rider of ctx's delivery (NULL: none); WABOT_ERR_STATE
 * without the delivery module. Loop thread, or while modules are made
 * and destroyed. */
int wb_delivery_set_rider(wabot_ctx *ctx, const wb_delivery_rider *r);
/* The delivery's "a pass is due" flag (read it atomically: its pass will
 * call the rider), or NULL without the delivery module. It lives as long
 * as the module. */
const int *wb_delivery_due_flag(wabot_ctx *ctx);

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
    /* The batched send path (worker.c), loop thread only: jobs handed to
     * the worker since the last pass, and the outcome records of sends
     * the provider answered, written together on the next pass. */
    struct wabot_job **parked;
    size_t n_parked, cap_parked;
    struct wb_done_rec *done;
    size_t n_done, cap_done;
    int due; /* atomic: parked or done is not empty */
    /* Admitted (decoded, policy and earlier attempt checked) and waiting
     * for a connection: while outbound pacing is on, a message takes its
     * rate-limit unit only when it is handed to the transport, and at
     * most http_host_connections per transport are in flight, so a send
     * leaves when it is paced (worker.c, "Pacing when the request
     * leaves"). A FIFO, loop thread only. */
    struct wabot_job **ready;
    size_t n_ready, cap_ready;
    struct wb_in_flight *in_flight; /* per transport; nodes never move */
    wb_delivery_rider rider; /* take NULL: none */
    struct wb_storage_bop *hops; /* HEAD_MAX, made on first use (worker.c) */
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

/* Sends of unknown outcome (lib/delivery/reconcile.c). */
typedef enum wb_reconcile_verdict {
    WB_RECONCILE_SEND = 0, /* send it */
    WB_RECONCILE_DONE = 1, /* the provider has it already: finish, no send */
    WB_RECONCILE_WAIT = 2, /* wait *wait_ms for a receipt, then ask again */
    WB_RECONCILE_DROP = 3, /* outcome unknown, at-most-once: do not send */
    WB_RECONCILE_EXHAUSTED = 4 /* this (last) attempt timed out, no receipt
                                  came: fail, do not send */
} wb_reconcile_verdict;

/* o's request timed out: the provider may have it. Keeps its record as an
 * unknown outcome (counted sends.unknown_outcome once, and
 * sends.timed_out) for the retry to reconcile. Best effort, logged. */
void wb_send_mark_timed_out(wabot_ctx *ctx, const wabot_outbound *o);
/* The provider answered: status WABOT_OK (accepted as provider_id) or a
 * failure. Best effort, logged. */
void wb_send_mark_done(wabot_ctx *ctx, const wabot_outbound *o, int status,
                       const char *provider_id);
/* The pieces the batched send path (worker.c) uses: o's record key into
 * buf (NULL when o's id is unusable: nothing recorded);
 * a record's text (status WB_SEND_SENDING with attempt, or WABOT_OK with
 * provider_id; malloc'ed, *len set; NULL on out of memory) and its TTL;
 * what a failed write of a "done" record logs; whether attempt (of
 * max_attempts) needs the earlier attempt's record -- or this one's, when
 * it runs again after timing out as the last -- and what became of that
 * attempt, from its record as read (read_rc: the get's status;
 * val/len/version when WABOT_OK): WABOT_OK with *v set, or the storage's
 * status (retry later). Any thread. */
#define WB_SEND_SENDING 1
const char *wb_send_key(char *buf, size_t n, const wabot_outbound *o);
char *wb_send_record(wabot_ctx *ctx, int status, int attempt,
                     const char *provider_id, size_t *len);
int64_t wb_send_record_ttl(const wabot_ctx *ctx);
/* 1 when the "sent" record of outbound_id's accepted send guards nothing
 * any more, so it is deleted instead of written: on a process-local store
 * with the in-process scheduler, its job on the outbound queue (job id =
 * outbound id) is completed, so no later attempt can read it. 0 otherwise
 * (kept: reconcile.c). Loop thread. */
int wb_send_record_spent(wabot_ctx *ctx, const char *outbound_id);
void wb_send_done_result(wabot_ctx *ctx, const char *outbound_id, int rc);
int wb_send_reconcile_needed(const wabot_outbound *o, int attempt,
                             int max_attempts);
int wb_send_reconcile_with(wabot_ctx *ctx, const wabot_outbound *o,
                           int attempt, int read_rc, const char *val,
                           size_t len, uint64_t version,
                           wb_reconcile_verdict *v, int64_t *wait_ms);
/* A receipt echoed send_key (an outbound id): the provider has that
 * message as provider_id. WABOT_OK (also for an unusable key) or the
 * storage's status. */
int wb_send_ack(wabot_ctx *ctx, const char *send_key,
                const char *provider_id);
/* Parse "campaign, reminder" into a bit per wabot_out_category (mask may
 * be NULL: check only). WABOT_OK or WABOT_ERR_INVAL. */
int wb_out_categories_parse(const char *list, unsigned *mask);

#endif
