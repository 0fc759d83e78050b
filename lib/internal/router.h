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
/* Scope what is registered on ctx's router from now on (routes and
 * fallbacks, through the public wabot_route_* calls) to the turns of
 * organisation `org`, until the next call; NULL ends the scope (the
 * default: every organisation). For a module installing routes on a
 * host's behalf for one organisation (the order flow): a scoped route is
 * skipped for other organisations' turns as if it were not there, so
 * their own routes answer; a scoped fallback is tried before the
 * unscoped one of the same state and replaces only the fallback of the
 * same state and organisation. Registration time only, like route setup.
 * WABOT_OK, INVAL (no ctx or router), NOMEM. */
int wb_router_scope_org(wabot_ctx *ctx, const char *org);

#endif
