/* The context: configuration, backends, middlewares, and the registry
 * through which the library's subsystems and modules are set up (it
 * names none of them: lib/builtin_modules.c does). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "module.h"
#include "options.h"
#include "wabot/storage.h"
#include "wabot/transport.h"

int64_t wb_system_now_ms(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static int fail(wabot_options *opts, int rc, const char *msg)
{
    if (opts)
        return wb_options_error(opts, rc, "%s", msg);
    return wb_detail(NULL, rc, "%s", msg);
}

static int setup_backends(wabot_ctx *ctx, wabot_options *opts)
{
    ctx->storage = opts ? opts->storage : NULL;
    if (!ctx->storage) {
        ctx->storage = wabot_storage_memory_new(&ctx->clock);
        if (!ctx->storage)
            return fail(opts, WABOT_ERR_NOMEM, "cannot create memory storage");
        ctx->own_storage = 1;
    }
    ctx->http = opts ? opts->http_client : NULL;
    ctx->limiter = opts ? opts->limiter : NULL;
    if (!ctx->limiter) {
        ctx->limiter = wabot_limiter_memory_new();
        if (!ctx->limiter)
            return fail(opts, WABOT_ERR_NOMEM, "cannot create the limiter");
        ctx->own_limiter = 1;
    }
    ctx->transport = opts ? opts->transport : NULL;
    if (!ctx->transport) {
        ctx->transport = wabot_transport_console_new(NULL);
        if (!ctx->transport)
            return fail(opts, WABOT_ERR_NOMEM,
                        "cannot create console transport");
        ctx->own_transport = 1;
    }
    return WABOT_OK;
}

static int subsystems_init(wabot_ctx *ctx, wabot_options *opts)
{
    size_t n;
    const wb_subsystem *subs = wb_builtin_subsystems(&n);
    for (size_t i = 0; i < n; i++) {
        int rc = subs[i].init ? subs[i].init(ctx, opts) : WABOT_OK;
        if (rc != WABOT_OK)
            return fail(opts, rc,
                        subs[i].fail_msg ? subs[i].fail_msg : "out of memory");
    }
    return WABOT_OK;
}

enum { STOP, FREE };

/* Every subsystem's stop (or free) hook, in reverse init order. */
static void subsystems_run(wabot_ctx *ctx, int phase)
{
    size_t n;
    const wb_subsystem *subs = wb_builtin_subsystems(&n);
    for (size_t i = n; i-- > 0;) {
        void (*fn)(wabot_ctx *) = phase == STOP ? subs[i].stop : subs[i].free;
        if (fn)
            fn(ctx);
    }
}

int wb_ctx_add_middleware(wabot_ctx *ctx, int admit, const char *name,
                          wabot_middleware_fn fn, void *ud,
                          wabot_destroy_fn destroy)
{
    wb_middleware **items = admit ? &ctx->admit : &ctx->mws;
    size_t *n = admit ? &ctx->n_admit : &ctx->n_mws;
    size_t *cap = admit ? &ctx->cap_admit : &ctx->cap_mws;
    void *grown = *items;
    char *copy = NULL;
    if ((name && !(copy = wb_strdup(&ctx->alloc, name))) ||
        wb_grow(&ctx->alloc, &grown, *n + 1, cap, sizeof **items) !=
            WABOT_OK) {
        wb_free(&ctx->alloc, copy);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    *items = grown;
    (*items)[(*n)++] = (wb_middleware){copy, fn, ud, destroy};
    return WABOT_OK;
}

static void middlewares_free(wabot_ctx *ctx, wb_middleware *mws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (mws[i].destroy)
            mws[i].destroy(mws[i].ud);
        wb_free(&ctx->alloc, mws[i].name);
    }
    wb_free(&ctx->alloc, mws);
}

int wabot_ctx_new(wabot_ctx **out, wabot_options *opts)
{
    if (!out)
        return fail(opts, WABOT_ERR_INVAL, "out must not be NULL");
    *out = NULL;
    const wabot_allocator *a =
        opts && opts->has_alloc ? &opts->alloc : &wb_libc_allocator;
    wabot_ctx *ctx = a->malloc(sizeof *ctx, a->ud);
    if (!ctx)
        return fail(opts, WABOT_ERR_NOMEM, "out of memory");
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = *a;
    if (opts && opts->has_clock) {
        ctx->clock = opts->clock;
    } else {
        wabot_clock sys = {WABOT_CLOCK_VERSION, wb_system_now_ms, NULL};
        ctx->clock = sys;
    }
    if (opts) {
        ctx->log_fn = opts->log_fn;
        ctx->log_ud = opts->log_ud;
    }
    wb_failpoints_init(ctx);
    int rc = wb_ctx_options_init(ctx, opts);
    if (rc != WABOT_OK) {
        wabot_ctx_free(ctx);
        return fail(opts, rc, "out of memory");
    }
    rc = setup_backends(ctx, opts);
    if (rc == WABOT_OK)
        rc = subsystems_init(ctx, opts);
    if (rc == WABOT_OK) {
        char why[256] = "";
        rc = wb_modules_create(ctx, why, sizeof why);
        if (rc != WABOT_OK)
            fail(opts, rc, why[0] ? why : "out of memory");
    }
    if (rc != WABOT_OK) {
        wabot_ctx_free(ctx);
        return rc;
    }
    if (opts)
        opts->errmsg[0] = '\0';
    *out = ctx;
    return WABOT_OK;
}

void wabot_ctx_free(wabot_ctx *ctx)
{
    if (!ctx)
        return;
    /* What runs work (HTTP client, runtime) or routes into modules stops
     * first; the modules go next, then the middlewares, then what the
     * modules used until they were destroyed. */
    subsystems_run(ctx, STOP);
    wb_modules_free(ctx);
    middlewares_free(ctx, ctx->admit, ctx->n_admit);
    middlewares_free(ctx, ctx->mws, ctx->n_mws);
    if (ctx->err_destroy)
        ctx->err_destroy(ctx->err_ud);
    subsystems_run(ctx, FREE);
    if (ctx->own_storage)
        wabot_storage_free(ctx->storage);
    if (ctx->own_transport)
        wabot_transport_free(ctx->transport);
    if (ctx->own_http)
        wabot_http_client_free(ctx->http);
    if (ctx->own_limiter)
        wabot_limiter_free(ctx->limiter);
    wb_ctx_options_free(ctx);
    wb_failpoints_free(ctx);
    wabot_allocator a = ctx->alloc;
    wb_error_clear(ctx);
    a.free(ctx, a.ud);
}

int64_t wabot_ctx_now_ms(const wabot_ctx *ctx)
{
    return ctx ? wb_now(ctx) : 0;
}

wabot_storage *wabot_ctx_storage(const wabot_ctx *ctx)
{
    return ctx ? ctx->storage : NULL;
}

wabot_transport *wabot_ctx_transport(const wabot_ctx *ctx)
{
    return ctx ? ctx->transport : NULL;
}

void wabot_ctx_mem_free(const wabot_ctx *ctx, void *ptr)
{
    if (ptr && ctx)
        wb_free(&ctx->alloc, ptr);
}

void wabot_free(void *ptr)
{
    free(ptr);
}
