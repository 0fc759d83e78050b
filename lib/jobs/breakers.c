/* One circuit breaker per transport, created on first use with the
 * context's breaker options. */
#include "outbound.h"

wabot_breaker *wb_breaker_for(wabot_ctx *ctx, const wabot_transport *t)
{
    wb_outbound_cfg *c = ctx->out;
    wabot_breaker *b = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_breakers && !b; i++)
        if (c->breakers[i].transport == t)
            b = c->breakers[i].breaker;
    if (!b) {
        wabot_breaker_config cfg;
        wabot_breaker_config_init(&cfg);
        cfg.window_ms = ctx->cfg.breaker_window_ms;
        cfg.failure_rate_pct = (int32_t)ctx->cfg.breaker_failure_pct;
        cfg.min_volume = (int32_t)ctx->cfg.breaker_min_volume;
        cfg.open_ms = ctx->cfg.breaker_open_ms;
        cfg.half_open_probes = (int32_t)ctx->cfg.breaker_probes;
        wb_breaker_slot *slots = wb_realloc(
            &ctx->alloc, c->breakers, (c->n_breakers + 1) * sizeof *slots);
        if (slots) {
            c->breakers = slots;
            b = wabot_breaker_new(&cfg);
            if (b)
                slots[c->n_breakers++] = (wb_breaker_slot){t, b};
        }
    }
    pthread_mutex_unlock(&c->lock);
    return b;
}

void wb_breakers_free(wabot_ctx *ctx)
{
    wb_outbound_cfg *c = ctx->out;
    for (size_t i = 0; i < c->n_breakers; i++)
        wabot_breaker_free(c->breakers[i].breaker);
    wb_free(&ctx->alloc, c->breakers);
    c->breakers = NULL;
    c->n_breakers = 0;
}
