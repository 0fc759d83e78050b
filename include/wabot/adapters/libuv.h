/*
 * libuv adapter: drive a libwabot context from a uv_loop_t.
 *
 * Header-only (static inline functions), outside libwabot's ABI: it is
 * compiled into the host with the host's libuv, so the library never links
 * against libuv. It only fills wabot_loop_hooks (include/wabot/loop.h):
 *
 *   watch_fd(fd, events)  -> one uv_poll_t per fd, created on first use,
 *                            stopped and closed when events is 0;
 *                            readiness calls wabot_ctx_on_fd()
 *   set_timer(ms)         -> one one-shot uv_timer_t (ms >= 0 restarts it,
 *                            -1 stops it); firing calls
 *                            wabot_ctx_on_timeout()
 *
 * Setup order (the context asks to watch its wake-up fd while it is being
 * created, so the hooks must exist before it):
 *
 *     wabot_uv uva;
 *     wabot_loop_hooks hooks;
 *     wabot_uv_init(&uva, loop, &hooks);
 *     wabot_options_set_loop(opts, &hooks);
 *     wabot_ctx_new(&ctx, opts);
 *     wabot_uv_attach(&uva, ctx);
 *     ... uv_run(loop, UV_RUN_DEFAULT) ...
 *
 * Teardown: wabot_ctx_free(ctx) (stops watching, disarms the timer), then
 * wabot_uv_detach(&uva) (closes the adapter's handles), then let the loop
 * run once more (uv_run) so the close callbacks run before uv_loop_close().
 *
 * Ownership: the wabot_uv is the host's (stack, static or heap); it holds
 * the timer handle, so it must not move after wabot_uv_init() and must
 * stay valid until the loop has run the close callbacks that follow
 * wabot_uv_detach(). Watch handles are allocated with malloc() and freed
 * by their close callbacks.
 *
 * Threads: libuv loops are single-threaded. Call every function here, and
 * wabot_ctx_new() / wabot_ctx_free() of the attached context, on the
 * loop's thread (or before that thread runs the loop). Other threads may
 * still enqueue jobs and handle webhooks: the library wakes the loop
 * through its wake-up fd, which this adapter watches.
 *
 * While a context is attached its wake-up fd keeps the loop alive:
 * uv_run(UV_RUN_DEFAULT) returns after uv_stop() or once the context is
 * freed and the adapter detached.
 */
#ifndef WABOT_ADAPTERS_LIBUV_H
#define WABOT_ADAPTERS_LIBUV_H

#include <stdint.h>
#include <stdlib.h>

#include <uv.h>
#include <wabot.h>
#include <wabot/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One watched descriptor (adapter-private). */
typedef struct wabot_uv_watch {
    uv_poll_t poll;
    struct wabot_uv *owner;
    int fd;
    unsigned events; /* WABOT_POLL_IN | WABOT_POLL_OUT */
    struct wabot_uv_watch *next;
} wabot_uv_watch;

/** The adapter. Members are private; the host only allocates it. */
typedef struct wabot_uv {
    uv_loop_t *loop;
    wabot_ctx *ctx;      /* NULL until attached, and after detach */
    uv_timer_t timer;
    wabot_uv_watch *watches;
    int detached;
} wabot_uv;

static inline void wabot_uv_on_poll(uv_poll_t *poll, int status, int uvev)
{
    wabot_uv_watch *w = (wabot_uv_watch *)poll->data;
    wabot_uv *a = w->owner;
    if (!a->ctx)
        return; /* not attached yet: the fd stays ready, seen after attach */
    unsigned events = 0;
    if (status < 0) {
        /* Let the library meet the error on its own read or write. */
        events = w->events;
    } else {
        if (uvev & (UV_READABLE | UV_DISCONNECT))
            events |= WABOT_POLL_IN;
        if (uvev & UV_WRITABLE)
            events |= WABOT_POLL_OUT;
    }
    wabot_ctx_on_fd(a->ctx, w->fd, events);
}

static inline void wabot_uv_on_timer(uv_timer_t *timer)
{
    wabot_uv *a = (wabot_uv *)timer->data;
    if (a->ctx)
        wabot_ctx_on_timeout(a->ctx);
}

static inline void wabot_uv_on_watch_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static inline wabot_uv_watch **wabot_uv_find(wabot_uv *a, int fd)
{
    wabot_uv_watch **pp = &a->watches;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    return pp;
}

static inline void wabot_uv_unwatch(wabot_uv_watch **pp)
{
    wabot_uv_watch *w = *pp;
    *pp = w->next;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, wabot_uv_on_watch_closed);
}

/* wabot_loop_hooks.watch_fd */
static inline int wabot_uv_hook_watch_fd(int fd, unsigned events, void *ud)
{
    wabot_uv *a = (wabot_uv *)ud;
    if (a->detached)
        return -1;
    wabot_uv_watch **pp = wabot_uv_find(a, fd);
    if (events == 0) {
        if (*pp)
            wabot_uv_unwatch(pp);
        return 0;
    }
    wabot_uv_watch *w = *pp;
    if (!w) {
        w = (wabot_uv_watch *)calloc(1, sizeof *w);
        if (!w)
            return -1;
        if (uv_poll_init(a->loop, &w->poll, fd) != 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        w->owner = a;
        w->fd = fd;
        w->next = a->watches;
        a->watches = w;
    }
    int uvev = ((events & WABOT_POLL_IN) ? UV_READABLE : 0) |
               ((events & WABOT_POLL_OUT) ? UV_WRITABLE : 0);
    if (uv_poll_start(&w->poll, uvev, wabot_uv_on_poll) != 0)
        return -1;
    w->events = events;
    return 0;
}

/* wabot_loop_hooks.set_timer */
static inline int wabot_uv_hook_set_timer(int64_t timeout_ms, void *ud)
{
    wabot_uv *a = (wabot_uv *)ud;
    if (a->detached)
        return -1;
    if (timeout_ms < 0)
        return uv_timer_stop(&a->timer) == 0 ? 0 : -1;
    /* libuv counts timeouts from the loop's cached time, which is as old
     * as the current loop iteration: refresh it, or the timer fires early
     * by however long the callbacks before this one took. */
    uv_update_time(a->loop);
    return uv_timer_start(&a->timer, wabot_uv_on_timer, (uint64_t)timeout_ms,
                          0) == 0
               ? 0
               : -1;
}

/**
 * Prepare `a` for `loop` and fill *hooks_out (version, watch_fd, set_timer,
 * ud = a) for wabot_options_set_loop(). Hook calls made before
 * wabot_uv_attach() (wabot_ctx_new watches the wake-up fd) set up the
 * handles; readiness is only dispatched once attached. Loop thread.
 * Returns WABOT_OK, or WABOT_ERR_INVAL (NULL argument, or libuv refused
 * the timer).
 */
static inline int wabot_uv_init(wabot_uv *a, uv_loop_t *loop,
                                wabot_loop_hooks *hooks_out)
{
    if (!a || !loop || !hooks_out)
        return WABOT_ERR_INVAL;
    a->loop = loop;
    a->ctx = NULL;
    a->watches = NULL;
    a->detached = 0;
    if (uv_timer_init(loop, &a->timer) != 0)
        return WABOT_ERR_INVAL;
    a->timer.data = a;
    hooks_out->version = WABOT_LOOP_HOOKS_VERSION;
    hooks_out->watch_fd = wabot_uv_hook_watch_fd;
    hooks_out->set_timer = wabot_uv_hook_set_timer;
    hooks_out->ud = a;
    return WABOT_OK;
}

/** Dispatch readiness and timeouts to `ctx` (created with the hooks from
 *  wabot_uv_init(a, ...)) from now on. Borrowed: ctx must outlive the
 *  attachment (free it before wabot_uv_detach). Loop thread. */
static inline void wabot_uv_attach(wabot_uv *a, wabot_ctx *ctx)
{
    a->ctx = ctx;
}

/**
 * Close the adapter's handles (the timer, and any fd still watched), after
 * wabot_ctx_free() of the attached context. Hook calls after this fail
 * harmlessly. The close callbacks run on the loop's next iteration: keep
 * `a` valid until then. Loop thread.
 */
static inline void wabot_uv_detach(wabot_uv *a)
{
    if (!a || a->detached)
        return;
    a->ctx = NULL;
    a->detached = 1;
    while (a->watches)
        wabot_uv_unwatch(&a->watches);
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, NULL);
}

#ifdef __cplusplus
}
#endif
#endif /* WABOT_ADAPTERS_LIBUV_H */
