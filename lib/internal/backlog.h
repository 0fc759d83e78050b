/* The outbound backlog bound (lib/delivery/backlog.c): webhooks that
 * carry messages are admitted only while the outbound queue holds fewer
 * than outbound_backlog_max replies (waiting, delayed or sending).
 * Private. */
#ifndef WB_BACKLOG_H
#define WB_BACKLOG_H

#include "ctx.h"

/* WABOT_OK: handle the webhook's messages. WABOT_ERR_BUSY: the backlog is
 * full (after the policy's wait); answer 503 with Retry-After and handle
 * nothing, so that the provider's redelivery loses nothing. Counts
 * outbound.backlog_waits for each hold of policy "wait". A backlog that
 * cannot be read (storage down) admits: the turn will meet the same
 * storage and answer for itself. Any thread. */
int wb_backlog_admit(wabot_ctx *ctx);

/* Replies in the outbound queue that are not settled (waiting + delayed +
 * active), or -1 when the scheduler cannot say. */
int64_t wb_backlog_size(wabot_ctx *ctx);

/* 1 if the context's scheduler is the built-in memory one: it lives in
 * this process, so asking it is cheap. */
int wb_scheduler_is_local(const wabot_ctx *ctx);

#endif
