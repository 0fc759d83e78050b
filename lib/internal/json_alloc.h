/* Routing jansson's allocations to the calling context's allocator (opt-in,
 * wabot_allocator_route_json; design and limits in doc/abi.md). Private. */
#ifndef WB_JSON_ALLOC_H
#define WB_JSON_ALLOC_H

#include "wabot/core.h"

/* Make `a` the allocator jansson uses on this thread until the matching
 * leave; returns the previous one to pass to leave (scopes nest). Cheap and
 * harmless when routing is not installed. */
const wabot_allocator *wb_json_scope_enter(const wabot_allocator *a);
void wb_json_scope_leave(const wabot_allocator *prev);

/* Free memory jansson returned to the library (json_dumps output) with
 * jansson's current free function, never libc's free directly: once
 * routing is installed that memory carries a header. NULL is a no-op. */
void wb_json_free(void *p);

#endif
