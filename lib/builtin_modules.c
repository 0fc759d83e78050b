/* The library's own modules, in the order a context creates them (unless
 * their requirements say otherwise). This file is the composition root:
 * it is the only place that names them, so the core knows none. */
#include "inbound.h"
#include "options.h"
#include "outbox.h"

static const wabot_module_def *const builtin[] = {
    &wb_optout_module,
    &wb_outbox_module,
};

const wabot_module_def *const *wb_builtin_modules(size_t *n)
{
    *n = sizeof builtin / sizeof builtin[0];
    return builtin;
}
