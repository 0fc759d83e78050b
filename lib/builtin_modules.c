/* The library's own modules, in the order a context creates them (unless
 * their requirements say otherwise). This file is the composition root:
 * it is the only place that names them, so the core knows none. */
#include "delivery.h"
#include "inbound.h"
#include "options.h"
#include "outbound.h"
#include "outbox.h"

static const wabot_module_def *const builtin[] = {
    &wb_optout_module,
    &wb_outbox_module,
    &wb_outbound_module,
    &wb_texts_module,
    &wb_delivery_module,
};

const wabot_module_def *const *wb_builtin_modules(size_t *n)
{
    *n = sizeof builtin / sizeof builtin[0];
    return builtin;
}
