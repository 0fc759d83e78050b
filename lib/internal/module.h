/* The module registry of a context (lib/core/module.c). Private. */
#ifndef WB_MODULE_H
#define WB_MODULE_H

#include <stddef.h>

#include "ctx.h"
#include "wabot/module.h"

/* Create the schema's modules in dependency order (the last step of
 * wabot_ctx_new). On failure `why` says which module and why; modules
 * created so far are destroyed by wb_modules_free. */
int wb_modules_create(wabot_ctx *ctx, char *why, size_t why_len);
/* Destroy every created module, in reverse order (idempotent). */
void wb_modules_destroy(wabot_ctx *ctx);
/* Destroy, then release the registry and the hook subscriptions. */
void wb_modules_free(wabot_ctx *ctx);

#endif
