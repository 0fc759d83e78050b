/* Per-customer inbound rate limit: GCRA through the context's limiter, so
 * one customer (or a script posing as one) cannot monopolise the bot.
 * The default (30 a minute, bursts of 20 more) never touches a person
 * typing; it stops loops and floods. */
#include <stdio.h>
#include <string.h>

#include "inbound.h"
#include "options.h"
#include "outbox.h"
#include "metrics.h"
#include "pipeline.h"
#include "storage.h"
#include "wabot/module.h"
#include "wabot/resilience.h"

/* Remember that the notice went out, for one period: a flood alternates
 * between allowed and limited messages, and must not earn a notice each
 * time it crosses the line. */
static int first_of_period(wabot_ctx *ctx, const char *org,
                           const char *customer, int64_t retry_after_ms)
{
    char key[WB_STORAGE_KEY_MAX + 1];
    int w = snprintf(key, sizeof key, "ratenote:%s:%s", org, customer);
    if (w < 0 || (size_t)w >= sizeof key)
        return 0;
    int64_t ttl = wb_opt_int(ctx, org, WABOT_OPT_INBOUND_RATE_PERIOD_MS);
    if (retry_after_ms > ttl)
        ttl = retry_after_ms;
    return wabot_storage_set_nx(ctx->storage, key, "1", 1, ttl, NULL) ==
           WABOT_OK;
}

int wb_inbound_limit_of(wabot_ctx *ctx, const char *org, const char *customer,
                        char *key, wabot_rate_limit *lim)
{
    int64_t count = wb_opt_int(ctx, org, WABOT_OPT_INBOUND_RATE_COUNT);
    if (count <= 0 || ctx->limiter == NULL)
        return 0;
    int w = snprintf(key, WB_STORAGE_KEY_MAX + 1, "inbound:%s:%s", org,
                     customer);
    if (w < 0 || w > WB_STORAGE_KEY_MAX)
        return 0;
    lim->key = key;
    lim->count = count;
    lim->period_ms = wb_opt_int(ctx, org, WABOT_OPT_INBOUND_RATE_PERIOD_MS);
    lim->burst = wb_opt_int(ctx, org, WABOT_OPT_INBOUND_RATE_BURST);
    return 1;
}

void wb_inbound_over(wabot_ctx *ctx, const char *org, const char *customer,
                     int64_t retry_after_ms, int *notify)
{
    *notify = 0;
    wb_count(ctx, "messages.rate_limited", 1);
    wb_log(ctx, WABOT_LOG_INFO, "pipeline",
           "%s is over the inbound rate limit; message not handled "
           "(allowed again in %lld ms)", customer, (long long)retry_after_ms);
    if (wb_opt_str(ctx, org, WABOT_OPT_INBOUND_RATE_NOTICE)[0] != '\0')
        *notify = first_of_period(ctx, org, customer, retry_after_ms);
}

int wb_inbound_limited(wabot_ctx *ctx, const char *org, const char *customer,
                       int *notify)
{
    *notify = 0;
    char key[WB_STORAGE_KEY_MAX + 1];
    wabot_rate_limit lim;
    if (!wb_inbound_limit_of(ctx, org, customer, key, &lim))
        return 0;
    int64_t retry_after = 0;
    int rc = wabot_limiter_check(ctx->limiter, &lim, 1, wb_now(ctx),
                                 &retry_after);
    if (rc == WABOT_OK)
        return 0;
    if (rc != WABOT_ERR_RATE_LIMITED) {
        /* A limiter that cannot answer must not silence the bot. */
        wb_log(ctx, WABOT_LOG_WARN, "pipeline",
               "inbound rate limit not checked: %s", wabot_strerror(rc));
        return 0;
    }
    wb_inbound_over(ctx, org, customer, retry_after, notify);
    return 1;
}

/* The module's admit-stage middleware: over the limit, the message goes
 * no further (the dedup around it marks it done); the notice, once a
 * period, is queued as a reply of the dropped message. */
static int limit_step(wabot_turn *t, void *ud)
{
    (void)ud;
    int notify = 0;
    /* The fast path's begin checked it already (outbox.h). */
    int over = wb_turn_fast_limited(t, &notify);
    if (over < 0)
        over = wb_inbound_limited(t->ctx, t->org, t->customer, &notify);
    if (!over)
        return wabot_next(t);
    /* A notice that cannot be queued is not worth a redelivery: the
     * message is dropped on purpose either way. */
    if (notify)
        (void)wabot_reply_text(t, wb_opt_str(t->ctx, t->org,
                                             WABOT_OPT_INBOUND_RATE_NOTICE));
    return WABOT_OK;
}

static int limit_create(wabot_module *m, void *ud)
{
    (void)ud;
    return wabot_module_use(m, WABOT_STAGE_ADMIT, "rate", limit_step, NULL);
}

const wabot_module_def wb_inbound_limit_module = {
    WABOT_MODULE_DEF_VERSION, "inbound_limit",
    "per-customer inbound rate limit (GCRA) with a notice once a period",
    NULL, NULL, 0, NULL, limit_create, NULL};
