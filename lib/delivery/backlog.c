/* The outbound backlog bound. The size is the outbound queue's own count
 * (waiting + delayed + active), so it is right across processes sharing a
 * Redis scheduler and survives restarts. A process-local scheduler answers
 * under one mutex; a shared one costs a round trip, so its answer is
 * reused for BACKLOG_REUSE_MS by every HTTP thread (an estimate is enough
 * for a bound: it may overshoot by what arrives in that time), and one
 * thread at a time asks again: the others keep the last answer meanwhile
 * (every HTTP thread that came by while the answer was on its way used to
 * ask too: ~6.5 counts per refresh under e2e.py's load, doc/performance.md,
 * sixteenth session). */
#include <string.h>
#include <time.h>

#include "backlog.h"
#include "jobs.h"
#include "metrics.h"
#include "runtime.h"
#include "wabot/jobs.h"

#define BACKLOG_REUSE_MS 20
#define WAIT_STEP_MS 2

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t queue_backlog(wabot_ctx *ctx)
{
    int64_t c[WABOT_JOB_ACTIVE + 1];
    if (wabot_queue_counts(ctx, WABOT_QUEUE_OUTBOUND, c,
                           WABOT_JOB_ACTIVE + 1) != WABOT_OK)
        return -1;
    return c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] + c[WABOT_JOB_ACTIVE];
}

int wb_scheduler_is_local(const wabot_ctx *ctx)
{
    return ctx->rt && ctx->rt->sched &&
           strcmp(ctx->rt->sched->name, "memory") == 0;
}

int64_t wb_backlog_size(wabot_ctx *ctx)
{
    if (wb_scheduler_is_local(ctx))
        return queue_backlog(ctx);
    int64_t at = __atomic_load_n(&ctx->backlog_at, __ATOMIC_ACQUIRE);
    if (at != 0 && mono_ms() - at < BACKLOG_REUSE_MS)
        return __atomic_load_n(&ctx->backlog_seen, __ATOMIC_ACQUIRE);
    /* Stale (or never read: at 0). One thread asks, however long its
     * answer takes; the others use the last answer meanwhile (0 before
     * the first, which admits). The one that gets to ask looks again: an
     * answer may have come in since it read backlog_at. */
    int idle = 0;
    if (!__atomic_compare_exchange_n(&ctx->backlog_asking, &idle, 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return __atomic_load_n(&ctx->backlog_seen, __ATOMIC_ACQUIRE);
    at = __atomic_load_n(&ctx->backlog_at, __ATOMIC_ACQUIRE);
    int64_t n;
    if (at != 0 && mono_ms() - at < BACKLOG_REUSE_MS) {
        n = __atomic_load_n(&ctx->backlog_seen, __ATOMIC_ACQUIRE);
    } else {
        n = queue_backlog(ctx);
        __atomic_store_n(&ctx->backlog_seen, n, __ATOMIC_RELEASE);
        __atomic_store_n(&ctx->backlog_at, mono_ms(), __ATOMIC_RELEASE);
    }
    __atomic_store_n(&ctx->backlog_asking, 0, __ATOMIC_RELEASE);
    return n;
}

static int full(wabot_ctx *ctx)
{
    int64_t n = wb_backlog_size(ctx);
    return n >= 0 && n >= ctx->cfg.outbound_backlog_max;
}

/* Policy "wait": sleep in small steps until there is room or the wait is
 * over. The loop thread drains the queue meanwhile. */
static int wait_for_room(wabot_ctx *ctx)
{
    wb_count(ctx, "outbound.backlog_waits", 1);
    int64_t until = mono_ms() + ctx->cfg.outbound_backlog_wait_ms;
    while (mono_ms() < until) {
        struct timespec step = {0, WAIT_STEP_MS * 1000000L};
        nanosleep(&step, NULL);
        if (!full(ctx))
            return WABOT_OK;
    }
    return WABOT_ERR_BUSY;
}

int wb_backlog_admit(wabot_ctx *ctx)
{
    if (ctx->cfg.outbound_backlog_max <= 0 || !full(ctx))
        return WABOT_OK;
    if (ctx->cfg.outbound_backlog_policy == WABOT_BACKLOG_WAIT &&
        ctx->cfg.outbound_backlog_wait_ms > 0 && wait_for_room(ctx) == WABOT_OK)
        return WABOT_OK;
    return WABOT_ERR_BUSY;
}
