/* One circuit breaker per transport, created on first use with the
 * context's breaker options, and its state shared between processes.
 *
 * Sharing goes through the context's storage (Redis when several processes
 * run): when a process's breaker opens, it writes the time it will stay
 * open under the transport's key, with that as TTL; every process reads
 * the key at most once a second before a send and treats the breaker as
 * open until then. The local breaker always stays in front, so a storage
 * outage only loses the sharing, never the protection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "outbound.h"
#include "metrics.h"
#include "resilience.h"
#include "wabot/metrics.h"
#include "wabot/module.h"
#include "wabot/storage.h"

#define SHARED_CHECK_MS 1000

static const char *org_of(const wabot_ctx *ctx, const wabot_transport *t)
{
    const wb_outbound_cfg *c = ctx->out;
    for (size_t i = 0; i < c->n_senders; i++)
        if (c->senders[i].transport == t)
            return c->senders[i].org;
    return ctx->cfg.default_org;
}

/* The slot of t, created on first use; caller holds c->lock. */
static wb_breaker_slot *slot_for(wb_delivery *c, const wabot_transport *t)
{
    wabot_ctx *ctx = c->ctx;
    for (size_t i = 0; i < c->n_breakers; i++)
        if (c->breakers[i].transport == t)
            return &c->breakers[i];
    wabot_breaker_config cfg;
    wabot_breaker_config_init(&cfg);
    cfg.window_ms = ctx->cfg.breaker_window_ms;
    cfg.failure_rate_pct = (int32_t)ctx->cfg.breaker_failure_pct;
    cfg.min_volume = (int32_t)ctx->cfg.breaker_min_volume;
    cfg.open_ms = ctx->cfg.breaker_open_ms;
    cfg.half_open_probes = (int32_t)ctx->cfg.breaker_probes;
    if (wb_grow(&ctx->alloc, (void **)&c->breakers, c->n_breakers + 1,
                &c->cap_breakers, sizeof *c->breakers) != WABOT_OK)
        return NULL;
    wabot_breaker *b = wabot_breaker_new(&cfg);
    if (!b)
        return NULL;
    wb_breaker_slot *s = &c->breakers[c->n_breakers++];
    memset(s, 0, sizeof *s);
    s->transport = t;
    s->breaker = b;
    s->org = org_of(ctx, t);
    snprintf(s->key, sizeof s->key, "breaker:%s:%s",
             wabot_transport_name(t), org_of(ctx, t));
    return s;
}

/* Refresh what the other processes said, at most once a second. */
static void read_shared(wabot_ctx *ctx, wb_breaker_slot *s, int64_t now)
{
    if (now - s->checked_at < SHARED_CHECK_MS && s->checked_at)
        return;
    s->checked_at = now;
    char *v = NULL;
    if (wabot_storage_get(ctx->storage, s->key, &v, NULL, NULL) == WABOT_OK) {
        long long until = strtoll(v, NULL, 10);
        s->shared_until = until > now ? until : 0;
    } else {
        s->shared_until = 0; /* absent, expired, or storage down: local only */
    }
    wabot_free(v);
}

/* The gauge wabot_breaker_state{transport,organization} (0 closed,
 * 1 open, 2 half-open), set when the state moved since it was last set;
 * caller holds c->lock. Best effort: a metrics failure changes nothing. */
static void publish(wb_delivery *c, wb_breaker_slot *s, int64_t now)
{
    static const char *const labels[] = {"transport", "organization"};
    wabot_breaker_state st = wabot_breaker_state_of(s->breaker, now);
    if (s->published == (int)st + 1)
        return;
    wabot_metric_def def = {WABOT_METRIC_DEF_VERSION,
                            "wabot_breaker_state",
                            "Circuit breaker of a transport: 0 closed, "
                            "1 open, 2 half-open.",
                            WABOT_METRIC_GAUGE, labels, 2, NULL, 0, 0};
    wabot_metric_family *f = NULL;
    const char *values[] = {wabot_transport_name(s->transport), s->org};
    if (wabot_metrics_register(c->ctx, &def, &f) == WABOT_OK &&
        wabot_metrics_gauge_set_labels(f, values, 2, (double)st) == WABOT_OK)
        s->published = (int)st + 1;
}

/* The slots array may grow (move) when another thread adds a breaker, so
 * t's slot is looked up again under the lock. */
static void publish_of(wb_delivery *c, const wabot_transport *t, int64_t now)
{
    pthread_mutex_lock(&c->lock);
    wb_breaker_slot *s = slot_for(c, t);
    if (s)
        publish(c, s, now);
    pthread_mutex_unlock(&c->lock);
}

int wb_breaker_acquire(wb_delivery *c, const wabot_transport *t,
                       wabot_breaker **b, int64_t now, int64_t *retry_at)
{
    wabot_ctx *ctx = c->ctx;
    pthread_mutex_lock(&c->lock);
    wb_breaker_slot *s = slot_for(c, t);
    if (s)
        read_shared(ctx, s, now);
    int64_t shared = s ? s->shared_until : 0;
    *b = s ? s->breaker : NULL;
    pthread_mutex_unlock(&c->lock);
    if (shared > now) {
        *b = NULL;
        *retry_at = shared;
        return WABOT_ERR_CIRCUIT_OPEN;
    }
    if (!*b)
        return WABOT_OK;
    int rc = wabot_breaker_acquire(*b, now, retry_at);
    if (rc != WABOT_OK)
        *b = NULL;
    publish_of(c, t, now);
    return rc;
}

void wb_breaker_report(wb_delivery *c, const wabot_transport *t,
                       wabot_breaker *b, int64_t now,
                       wabot_breaker_outcome outcome)
{
    wabot_ctx *ctx = c->ctx;
    if (!b)
        return;
    int was_open = wabot_breaker_state_of(b, now) == WABOT_BREAKER_OPEN;
    wabot_breaker_record(b, now, outcome);
    publish_of(c, t, now);
    if (was_open || wabot_breaker_state_of(b, now) != WABOT_BREAKER_OPEN)
        return;
    wb_count(ctx, "breaker.opened", 1);
    /* A failed half-open backs off: share the opening's real end. */
    wb_breaker_snapshot snap;
    wb_breaker_snapshot_of(b, now, &snap);
    int64_t until = snap.open_until_ms > now ? snap.open_until_ms
                                             : now + ctx->cfg.breaker_open_ms;
    char key[192], value[32];
    pthread_mutex_lock(&c->lock);
    wb_breaker_slot *s = slot_for(c, t);
    snprintf(key, sizeof key, "%s", s ? s->key : "");
    pthread_mutex_unlock(&c->lock);
    if (!*key)
        return;
    snprintf(value, sizeof value, "%lld", (long long)until);
    if (wabot_storage_set(ctx->storage, key, value, strlen(value),
                          until - now, NULL) != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, "breaker", "cannot share that %s opened",
               key);
    else
        wb_log(ctx, WABOT_LOG_WARN, "breaker", "%s opened until %lld", key,
               (long long)until);
}

size_t wb_delivery_breakers(wabot_ctx *ctx, int64_t now,
                            wb_breaker_status *out, size_t max)
{
    wb_delivery *c = wabot_module_data(wabot_ctx_module(ctx, "delivery"));
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_breakers;
    for (size_t i = 0; i < n && i < max; i++) {
        wb_breaker_slot *s = &c->breakers[i];
        wb_breaker_snapshot snap;
        wb_breaker_snapshot_of(s->breaker, now, &snap);
        out[i] = (wb_breaker_status){wabot_transport_name(s->transport),
                                     s->org, snap.state, snap.open_until_ms};
        if (s->shared_until > now && snap.state != WABOT_BREAKER_OPEN) {
            out[i].state = WABOT_BREAKER_OPEN; /* another process's */
            out[i].open_until_ms = s->shared_until;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

void wb_breakers_free(wb_delivery *c)
{
    for (size_t i = 0; i < c->n_breakers; i++)
        wabot_breaker_free(c->breakers[i].breaker);
    wb_free(&c->ctx->alloc, c->breakers);
    c->breakers = NULL;
    c->n_breakers = c->cap_breakers = 0;
}
