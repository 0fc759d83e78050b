/* Router internals. Private. */
#ifndef WB_ROUTER_H
#define WB_ROUTER_H

#include "wabot/router.h"
#include "ctx.h"

wb_router *wb_router_new(const wabot_allocator *a);
/* Frees every route and runs every destroy callback once. NULL is a no-op. */
void wb_router_free(wb_router *r);
/* Choose and run the handler for the turn (see router.h for the order).
 * Sets the turn handled when a route (or fallback) ran. Returns WABOT_OK if
 * nothing matched, else what the handler returned. Uses wabot_turn_state(),
 * the message accessors, ctx->cfg.command_prefix and the captures API of
 * internal/pipeline.h. Thread-safe for concurrent dispatches. */
int wb_router_dispatch(wb_router *r, wabot_turn *turn);
/* The context's turn end (ctx->turn_end): dispatch on ctx->router. */
int wb_router_turn_end(wabot_turn *turn);
size_t wb_router_count(const wb_router *r);

#endif
