/* The module registry of a context (lib/core/module.c). Private. */
#ifndef WB_MODULE_H
#define WB_MODULE_H

#include <stddef.h>

#include "ctx.h"
#include "wabot/module.h"

/* A library subsystem the context sets up before any module is created
 * and tears down around them (router, metrics, customer locks, HTTP route
 * table, job runtime, HTTP client). The core calls them through this table
 * and knows none of them by name: the composition root
 * (lib/builtin_modules.c) lists them.
 *   init  runs in table order after the backends are set up; WABOT_OK or
 *         a negative status, with `fail_msg` as wabot_options_errmsg().
 *   stop  runs in reverse order before the modules are destroyed (what
 *         runs work or owns callbacks into modules: the HTTP client, the
 *         runtime, the route table).
 *   free  runs in reverse order after the modules and the middlewares are
 *         gone (what they may use until then).
 * Every hook may be NULL, and stop/free run also after a failed or
 * skipped init (they must accept what a zeroed context holds). */
typedef struct wb_subsystem {
    const char *name;
    const char *fail_msg;
    int (*init)(wabot_ctx *ctx, const wabot_options *opts);
    void (*stop)(wabot_ctx *ctx);
    void (*free)(wabot_ctx *ctx);
} wb_subsystem;

/* The library's subsystems, in init order (lib/builtin_modules.c). */
const wb_subsystem *wb_builtin_subsystems(size_t *n);

/* Create the schema's modules in dependency order (the last step of
 * wabot_ctx_new). On failure `why` says which module and why; modules
 * created so far are destroyed by wb_modules_free. */
int wb_modules_create(wabot_ctx *ctx, char *why, size_t why_len);
/* Destroy every created module, in reverse order (idempotent). */
void wb_modules_destroy(wabot_ctx *ctx);
/* Destroy, then release the registry and the hook subscriptions. */
void wb_modules_free(wabot_ctx *ctx);

/* Hooks between the library's own modules, without a JSON round trip per
 * event (a send's "delivery.sent" is on the hot path). A subscriber added
 * with wb_hook_subscribe_event gets the emitter's C event (its type is
 * the hook's contract, documented by the emitter) and counts as one of
 * the hook's subscribers. wb_hook_emit_event calls those with `ev` and
 * the host's JSON subscribers with to_json(ev) appended to a buffer,
 * built once and only if one listens; subscribers run in subscription
 * order, all of them even if one fails; returns WABOT_OK or the first
 * error. `name` is a hook m declares (not checked: the library's own). */
struct wb_strbuf;
typedef int (*wb_hook_event_fn)(wabot_ctx *ctx, const void *ev, void *ud);
typedef void (*wb_hook_json_fn)(const void *ev, struct wb_strbuf *out);
int wb_hook_subscribe_event(wabot_ctx *ctx, const char *hook,
                            wb_hook_event_fn fn, void *ud);
int wb_hook_emit_event(wabot_module *m, const char *name, const void *ev,
                       wb_hook_json_fn to_json);

#endif
