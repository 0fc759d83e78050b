/*
 * Modules: how features plug into a context.
 *
 * A module is a static, versioned descriptor (wabot_module_def) added to
 * the options before the context is created, in the manner of nginx's
 * modules and Redis modules' OnLoad: the descriptor declares the module's
 * options (so they are listed, settable by name and from the environment
 * before any context exists) and the hooks it offers; its create callback
 * runs once per context and registers everything else on the module
 * handle -- HTTP routes, queues and workers, metrics, pipeline middlewares,
 * hook subscriptions -- through the same public functions a host uses.
 *
 * The library's own features are modules too; the context holds the
 * registry and knows no module by name. A host module uses only the public
 * headers (tests/unit/test_module.c has one).
 *
 * Life cycle: wabot_ctx_new() creates the modules in dependency order
 * (every name in `requires` first, otherwise in the order they were added)
 * and wabot_ctx_free() destroys them in reverse order. A create that fails
 * makes wabot_ctx_new() fail with its status (already created modules are
 * destroyed).
 */
#ifndef WABOT_MODULE_H
#define WABOT_MODULE_H

#include "core.h"
#include "options.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A module's instance in one context (opaque; owned by the context). */
typedef struct wabot_module wabot_module;

#define WABOT_MODULE_DEF_VERSION 1
/**
 * A module descriptor. Borrowed: it (and the strings and tables it points
 * to) must stay valid while any options or context that it was added to
 * lives; static storage is typical.
 */
typedef struct wabot_module_def {
    uint32_t version;   /**< WABOT_MODULE_DEF_VERSION */
    const char *name;   /**< [a-z][a-z0-9_]*, unique in the options */
    const char *doc;    /**< one line */
    /** Names of modules that must be created before this one
     *  (NULL-terminated; NULL for none). */
    const char *const *requires;
    /** This module's options, listed as "<name>.<option>". */
    const wabot_option_def *options;
    size_t n_options;
    /** Hooks this module emits (NULL-terminated short names; listed and
     *  subscribed to as "<name>.<hook>"); NULL for none. */
    const char *const *hooks;
    /** Register routes, workers, metrics, middlewares, subscriptions;
     *  may keep state with wabot_module_set_data(). Return WABOT_OK or a
     *  negative status (reported by wabot_ctx_new). May be NULL. */
    int (*create)(wabot_module *m, void *ud);
    /** Release what create made. Runs once per context, in reverse
     *  creation order, while the context is still usable. May be NULL. */
    void (*destroy)(wabot_module *m, void *ud);
} wabot_module_def;

/**
 * Loadable modules. A host that loads modules from shared objects (as
 * wabot-server does with WABOT_MODULES) looks up this symbol in each one:
 *   const wabot_module_def *wabot_module_entry(void);
 * returning the module's descriptor (static storage). The object must stay
 * loaded while any context using the module lives.
 */
#define WABOT_MODULE_ENTRY_SYMBOL "wabot_module_entry"
typedef const wabot_module_def *(*wabot_module_entry_fn)(void);

/**
 * Add a module to the options; every context created from them gets an
 * instance. `ud` is passed to create/destroy (borrowed; the module's
 * destroy may free what it owns). The module's options join the listing
 * right away. Errors: WABOT_ERR_INVAL (NULL or version 0, a bad name or
 * option definition), WABOT_ERR_EXISTS (a module of that name was added
 * already), NOMEM; wabot_options_errmsg() says why. Not thread-safe.
 */
WABOT_API int wabot_options_add_module(wabot_options *opts,
                                       const wabot_module_def *def, void *ud);

/** Number of modules of the context, library ones included. Any thread. */
WABOT_API size_t wabot_ctx_module_count(const wabot_ctx *ctx);
/** Module i in creation order; NULL when out of range. Any thread. */
WABOT_API wabot_module *wabot_ctx_module_at(const wabot_ctx *ctx, size_t i);
/** The module named `name`, or NULL. Any thread. */
WABOT_API wabot_module *wabot_ctx_module(const wabot_ctx *ctx,
                                         const char *name);

/** The module's context, name ("toy") and descriptor. Any thread. */
WABOT_API wabot_ctx *wabot_module_ctx(const wabot_module *m);
WABOT_API const char *wabot_module_name(const wabot_module *m);
WABOT_API const wabot_module_def *wabot_module_descriptor(
    const wabot_module *m);
/** The module's own pointer (NULL until set). Set it in create. */
WABOT_API void *wabot_module_data(const wabot_module *m);
WABOT_API void wabot_module_set_data(wabot_module *m, void *data);

/**
 * Option i of the module's own table as seen by organisation `org` (NULL:
 * global). INT, BOOL, DURATION, BYTES and ENUM options. WABOT_ERR_INVAL
 * for an index out of range or a STRING option. Thread-safe, no
 * allocation; an organisation without overrides costs one hash lookup.
 */
WABOT_API int wabot_module_option_int(const wabot_module *m, const char *org,
                                      size_t i, int64_t *value);
/** STRING option i of the module's table for `org` (NULL: global); valid
 *  for the context's lifetime. NULL for a bad index or another type. */
WABOT_API const char *wabot_module_option_str(const wabot_module *m,
                                              const char *org, size_t i);

/* ------------------------------------------------------------------ */
/* Pipeline stages                                                     */

/** Where a module's middleware runs. Append-only. */
typedef enum wabot_stage {
    /** Inside the turn (conversation locked, state and profile loaded),
     *  before the host's middlewares; modules in creation order. */
    WABOT_STAGE_TURN = 1,
    /** Before the turn: before the customer's lock is taken and anything
     *  is loaded (wabot_turn_state() is "", no profile is touched; the
     *  message, organisation and customer are set). The stage wraps the whole turn: wabot_next()
     *  runs the next admit middleware or, after the last, the locked turn,
     *  and returns the turn's status. A middleware that does not call
     *  wabot_next() drops the message (answered as handled, no turn, no
     *  counters of turns). Replies queued at this stage are queued (never
     *  inline) when the message is dropped or the turn begins; other
     *  changes to the turn (state, session, locals) are discarded then. The
     *  library's dedup and inbound rate limit run here; modules in
     *  creation order. */
    WABOT_STAGE_ADMIT = 2
} wabot_stage;

/**
 * Add a middleware for the module at `stage` (Koa style, like wabot_use:
 * call wabot_next() to go on, or end the turn by not calling it). Call
 * from create only. Errors: WABOT_ERR_INVAL (NULL, unknown stage),
 * WABOT_ERR_STATE (not inside create), NOMEM.
 */
WABOT_API int wabot_module_use(wabot_module *m, wabot_stage stage,
                               const char *name, wabot_middleware_fn fn,
                               void *ud);

/* ------------------------------------------------------------------ */
/* Hooks: events a module offers to the others                         */

/**
 * A hook subscriber. `hook` is the full name ("commerce.invoice_issued"),
 * `json`/`len` the event (borrowed for the call). Return WABOT_OK or a
 * negative status (reported to the emitter).
 */
typedef int (*wabot_hook_fn)(wabot_ctx *ctx, const char *hook,
                             const char *json, size_t len, void *ud);

/**
 * Subscribe to hook `hook` ("<module>.<hook>", declared in that module's
 * descriptor). Subscribers run synchronously on the emitting thread, in
 * subscription order. Call before handling messages (from a module's
 * create or right after wabot_ctx_new): not thread-safe with emits.
 * Errors: WABOT_ERR_NOT_FOUND (no module declares that hook),
 * WABOT_ERR_INVAL, NOMEM. On failure `destroy` is not called; otherwise it
 * runs with ud when the context is freed.
 */
WABOT_API int wabot_hook_subscribe(wabot_ctx *ctx, const char *hook,
                                   wabot_hook_fn fn, void *ud,
                                   wabot_destroy_fn destroy);
/**
 * Emit hook `name` (the short name declared in m's descriptor) with a JSON
 * event. Every subscriber runs even if one fails; returns WABOT_OK or the
 * first subscriber's error. WABOT_ERR_NOT_FOUND if m does not declare the
 * hook, WABOT_ERR_PARSE if json is not valid JSON. Thread-safe.
 */
WABOT_API int wabot_hook_emit(wabot_module *m, const char *name,
                              const char *json, size_t len);
/** Number of subscribers of a full hook name (0 if none or unknown). */
WABOT_API size_t wabot_hook_subscriber_count(const wabot_ctx *ctx,
                                             const char *hook);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_MODULE_H */
