/*
 * Older spellings of public functions, kept for compatibility.
 *
 * A published symbol is never removed (doc/abi.md), so when a function was
 * renamed to follow wabot_<module>_<verb> the old name stays exported as a
 * thin function calling the new one. Table of renames: doc/abi.md.
 */
#include "wabot/jobs.h"
#include "wabot/pipeline.h"
#include "wabot/router.h"
#include "wabot/transport.h"

int wabot_use(wabot_ctx *ctx, const char *name, wabot_middleware_fn fn,
              void *ud, wabot_destroy_fn destroy)
{
    return wabot_pipeline_use(ctx, name, fn, ud, destroy);
}

int wabot_next(wabot_turn *turn)
{
    return wabot_pipeline_next(turn);
}

int wabot_ctx_set_error_handler(wabot_ctx *ctx, wabot_error_fn fn, void *ud,
                                wabot_destroy_fn destroy)
{
    return wabot_pipeline_set_error_handler(ctx, fn, ud, destroy);
}

wabot_transport *wabot_recorder_new(void)
{
    return wabot_transport_recorder_new();
}

size_t wabot_recorder_count(const wabot_transport *t)
{
    return wabot_transport_recorder_count(t);
}

const wabot_outbound *wabot_recorder_get(const wabot_transport *t, size_t i)
{
    return wabot_transport_recorder_get(t, i);
}

void wabot_recorder_clear(wabot_transport *t)
{
    wabot_transport_recorder_clear(t);
}

int wabot_recorder_fail_next(wabot_transport *t, size_t count, int status,
                             int provider_code, const char *message)
{
    return wabot_transport_recorder_fail_next(t, count, status, provider_code,
                                              message);
}

int wabot_ctx_add_sender(wabot_ctx *ctx, const char *org, const char *number,
                         wabot_transport *transport)
{
    return wabot_transport_sender_add(ctx, org, number, transport);
}

const char *wabot_ctx_sender_org(const wabot_ctx *ctx, const char *number)
{
    return wabot_transport_sender_org(ctx, number);
}

int wabot_worker_add(wabot_ctx *ctx, const char *queue, wabot_job_fn fn,
                     void *ud, wabot_destroy_fn destroy, int concurrency)
{
    return wabot_queue_add_worker(ctx, queue, fn, ud, destroy, concurrency);
}

char *wabot_keyword_fold(const char *text)
{
    return wabot_route_keyword_fold(text);
}
