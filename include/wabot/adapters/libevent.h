/*
 * libevent adapter: drive a libwabot context from a struct event_base.
 *
 * Header-only (static inline functions), outside libwabot's ABI: it is
 * compiled into the host with the host's libevent 2, so the library never
 * links against libevent. It only fills wabot_loop_hooks
 * (include/wabot/loop.h):
 *
 *   watch_fd(fd, events)  -> one persistent event per fd (EV_READ and/or
 *                            EV_WRITE), replaced when the interest changes,
 *                            freed when events is 0; readiness calls
 *                            wabot_ctx_on_fd()
 *   set_timer(ms)         -> one timer event (ms >= 0 re-adds it, -1
 *                            deletes it); firing calls
 *                            wabot_ctx_on_timeout()
 *
 * Setup order (the context asks to watch its wake-up fd while it is being
 * created, so the hooks must exist before it):
 *
 *     wabot_event wev;
 *     wabot_loop_hooks hooks;
 *     wabot_event_init(&wev, base, &hooks);
 *     wabot_options_set_loop(opts, &hooks);
 *     wabot_ctx_new(&ctx, opts);
 *     wabot_event_attach(&wev, ctx);
 *     ... event_base_dispatch(base) ...
 *
 * Teardown: wabot_ctx_free(ctx) (stops watching, disarms the timer), then
 * wabot_event_detach(&wev) (frees the adapter's events), then
 * event_base_free(base) if the host is done with it.
 *
 * Ownership: the wabot_event is the host's (stack, static or heap) and must
 * not move between wabot_event_init() and wabot_event_detach(); its events
 * are allocated by libevent and freed by the adapter.
 *
 * Threads: call every function here, and wabot_ctx_new() /
 * wabot_ctx_free() of the attached context, on the thread that runs the
 * base's loop (or before it runs). Other threads may still enqueue jobs and
 * handle webhooks: the library wakes the loop through its wake-up fd,
 * which this adapter watches. No libevent threading support is needed.
 *
 * Timer precision: a default event_base measures time with a coarse clock
 * (a few ms); create it with EVENT_BASE_FLAG_PRECISE_TIMER for
 * millisecond-accurate job times.
 */
#ifndef WABOT_ADAPTERS_LIBEVENT_H
#define WABOT_ADAPTERS_LIBEVENT_H

#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>
#include <wabot.h>
#include <wabot/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One watched descriptor (adapter-private). */
typedef struct wabot_event_watch {
    struct event *ev;
    struct wabot_event *owner;
    int fd;
    unsigned events; /* WABOT_POLL_IN | WABOT_POLL_OUT */
    struct wabot_event_watch *next;
} wabot_event_watch;

/** The adapter. Members are private; the host only allocates it. */
typedef struct wabot_event {
    struct event_base *base;
    wabot_ctx *ctx;      /* NULL until attached, and after detach */
    struct event *timer; /* NULL after detach */
    wabot_event_watch *watches;
} wabot_event;

static inline void wabot_event_on_fd(evutil_socket_t fd, short what,
                                     void *arg)
{
    wabot_event_watch *w = (wabot_event_watch *)arg;
    wabot_event *a = w->owner;
    if (!a->ctx)
        return; /* not attached yet: the fd stays ready, seen after attach */
    unsigned events = ((what & EV_READ) ? WABOT_POLL_IN : 0) |
                      ((what & EV_WRITE) ? WABOT_POLL_OUT : 0);
    wabot_ctx_on_fd(a->ctx, (int)fd, events);
}

static inline void wabot_event_on_timer(evutil_socket_t fd, short what,
                                        void *arg)
{
    wabot_event *a = (wabot_event *)arg;
    (void)fd;
    (void)what;
    if (a->ctx)
        wabot_ctx_on_timeout(a->ctx);
}

static inline wabot_event_watch **wabot_event_find(wabot_event *a, int fd)
{
    wabot_event_watch **pp = &a->watches;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    return pp;
}

static inline void wabot_event_unwatch(wabot_event_watch **pp)
{
    wabot_event_watch *w = *pp;
    *pp = w->next;
    event_free(w->ev); /* deletes it first */
    free(w);
}

/* wabot_loop_hooks.watch_fd */
static inline int wabot_event_hook_watch_fd(int fd, unsigned events,
                                            void *ud)
{
    wabot_event *a = (wabot_event *)ud;
    if (!a->timer)
        return -1; /* detached */
    wabot_event_watch **pp = wabot_event_find(a, fd);
    if (events == 0) {
        if (*pp)
            wabot_event_unwatch(pp);
        return 0;
    }
    wabot_event_watch *w = *pp;
    if (w && w->events == events)
        return 0;
    if (!w) {
        w = (wabot_event_watch *)calloc(1, sizeof *w);
        if (!w)
            return -1;
        w->owner = a;
        w->fd = fd;
        w->next = a->watches;
        a->watches = w;
    }
    /* A pending event's flags cannot change: replace the event. */
    if (w->ev)
        event_free(w->ev);
    short what = (short)(EV_PERSIST | ((events & WABOT_POLL_IN) ? EV_READ : 0) |
                         ((events & WABOT_POLL_OUT) ? EV_WRITE : 0));
    w->ev = event_new(a->base, fd, what, wabot_event_on_fd, w);
    w->events = events;
    if (!w->ev || event_add(w->ev, NULL) != 0) {
        wabot_event_unwatch(wabot_event_find(a, fd));
        return -1;
    }
    return 0;
}

/* wabot_loop_hooks.set_timer */
static inline int wabot_event_hook_set_timer(int64_t timeout_ms, void *ud)
{
    wabot_event *a = (wabot_event *)ud;
    if (!a->timer)
        return -1; /* detached */
    if (timeout_ms < 0)
        return evtimer_del(a->timer) == 0 ? 0 : -1;
    struct timeval tv;
    tv.tv_sec = (time_t)(timeout_ms / 1000);
    tv.tv_usec = (long)(timeout_ms % 1000) * 1000;
    /* Inside callbacks libevent counts from the time cached when the loop
     * woke: refresh it, or the timer fires early by however long the
     * callbacks before this one took. */
    event_base_update_cache_time(a->base);
    return evtimer_add(a->timer, &tv) == 0 ? 0 : -1;
}

/**
 * Prepare `a` for `base` and fill *hooks_out (version, watch_fd, set_timer,
 * ud = a) for wabot_options_set_loop(). Hook calls made before
 * wabot_event_attach() (wabot_ctx_new watches the wake-up fd) add the
 * events; readiness is only dispatched once attached. Loop thread.
 * Returns WABOT_OK, WABOT_ERR_INVAL (NULL argument) or WABOT_ERR_NOMEM.
 */
static inline int wabot_event_init(wabot_event *a, struct event_base *base,
                                   wabot_loop_hooks *hooks_out)
{
    if (!a || !base || !hooks_out)
        return WABOT_ERR_INVAL;
    a->base = base;
    a->ctx = NULL;
    a->watches = NULL;
    a->timer = evtimer_new(base, wabot_event_on_timer, a);
    if (!a->timer)
        return WABOT_ERR_NOMEM;
    hooks_out->version = WABOT_LOOP_HOOKS_VERSION;
    hooks_out->watch_fd = wabot_event_hook_watch_fd;
    hooks_out->set_timer = wabot_event_hook_set_timer;
    hooks_out->ud = a;
    return WABOT_OK;
}

/** Dispatch readiness and timeouts to `ctx` (created with the hooks from
 *  wabot_event_init(a, ...)) from now on. Borrowed: ctx must outlive the
 *  attachment (free it before wabot_event_detach). Loop thread. */
static inline void wabot_event_attach(wabot_event *a, wabot_ctx *ctx)
{
    a->ctx = ctx;
}

/** Free the adapter's events (the timer, and any fd still watched), after
 *  wabot_ctx_free() of the attached context. Hook calls after this fail
 *  harmlessly; `a` may be released right away. Loop thread. */
static inline void wabot_event_detach(wabot_event *a)
{
    if (!a || !a->timer)
        return;
    a->ctx = NULL;
    while (a->watches)
        wabot_event_unwatch(&a->watches);
    event_free(a->timer);
    a->timer = NULL;
}

#ifdef __cplusplus
}
#endif
#endif /* WABOT_ADAPTERS_LIBEVENT_H */
