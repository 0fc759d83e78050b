/* STUB until the resilience module lands. */
#include <stdlib.h>
#include "wabot/resilience.h"
struct wabot_limiter { int unused; };
wabot_limiter *wabot_limiter_memory_new(void) { return calloc(1, sizeof(wabot_limiter)); }
void wabot_limiter_free(wabot_limiter *l) { free(l); }
