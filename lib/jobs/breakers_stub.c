/* TEMPORARY until lib/resilience/breaker.c lands: no breakers. */
#include "outbound.h"
wabot_breaker *wb_breaker_for(wabot_ctx *ctx, const wabot_transport *t) { (void)ctx; (void)t; return NULL; }
void wb_breakers_free(wabot_ctx *ctx) { (void)ctx; }
