/*
 * Host event-loop integration (the libcurl multi-socket / c-ares model).
 *
 * The library never blocks and never starts threads. It asks the host to
 * watch file descriptors (its own wake-up fd, the HTTP client's sockets)
 * and keeps ONE one-shot timer armed at the earliest deadline of everything
 * it waits for (due jobs, lease renewals and expiries, HTTP timeouts,
 * breaker half-open times, rate-limit delays).
 *
 * Either give loop hooks (wabot_options_set_loop) and call
 * wabot_ctx_on_fd() / wabot_ctx_on_timeout() when the loop says so, or call
 * wabot_ctx_poll() repeatedly (a ready-made poll(2) step), or read
 * wabot_ctx_next_timeout_ms() and call wabot_ctx_on_timeout() yourself.
 * Header-only adapters for libuv and libevent are in wabot/adapters/.
 *
 * Threading: the loop functions are called from one thread at a time (the
 * loop thread). Other threads may handle webhooks and enqueue jobs at the
 * same time; when that makes work due earlier than the armed timer, the
 * library wakes the loop through its wake-up fd. Callbacks run by loop
 * functions (workers, transports' completions) must not call loop
 * functions: doing so returns WABOT_ERR_STATE; work they create is picked
 * up before the loop function returns or at the next timer.
 */
#ifndef WABOT_LOOP_H
#define WABOT_LOOP_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WABOT_POLL_IN 1u
#define WABOT_POLL_OUT 2u

#define WABOT_LOOP_HOOKS_VERSION 1
/**
 * Hooks into the host's loop. Called from the thread calling into the
 * library's loop functions, or from wabot_ctx_new / wabot_ctx_free (for the
 * wake-up fd). Must not call back into the library.
 *
 * watch_fd   watch `fd` for `events` (WABOT_POLL_IN | WABOT_POLL_OUT),
 *            replacing any earlier interest; events == 0 stops watching.
 * set_timer  arm the one-shot timer to fire after timeout_ms (0 = as soon
 *            as possible), replacing the previous one; -1 disarms it.
 * Return 0 on success; a negative return is logged and the library falls
 * back on wabot_ctx_next_timeout_ms() being polled.
 */
typedef struct wabot_loop_hooks {
    uint32_t version; /**< WABOT_LOOP_HOOKS_VERSION */
    int (*watch_fd)(int fd, unsigned events, void *ud);
    int (*set_timer)(int64_t timeout_ms, void *ud);
    void *ud;
} wabot_loop_hooks;

/** Use these hooks (copied; ud must outlive the context). NULL removes
 *  them. WABOT_ERR_INVAL if version is 0 or a function is NULL. */
WABOT_API int wabot_options_set_loop(wabot_options *opts,
                                     const wabot_loop_hooks *hooks);

/** The host's loop saw `events` on `fd` (one the library asked to watch).
 *  Runs what became ready, then re-arms the timer. Loop thread only.
 *  WABOT_ERR_STATE when called from a callback; INVAL for unknown fds. */
WABOT_API int wabot_ctx_on_fd(wabot_ctx *ctx, int fd, unsigned events);

/** The timer fired (or the host polls): run everything due now, recover
 *  stalled jobs, renew leases, then re-arm the timer. Loop thread only.
 *  Returns the number of jobs started, or a negative status. */
WABOT_API int wabot_ctx_on_timeout(wabot_ctx *ctx);

/** Milliseconds until the library next needs wabot_ctx_on_timeout():
 *  0 = now, -1 = nothing scheduled. Any thread. */
WABOT_API int64_t wabot_ctx_next_timeout_ms(wabot_ctx *ctx);

/**
 * One step for hosts without a loop: poll(2) the library's descriptors for
 * at most min(max_wait_ms, next timeout) ms (max_wait_ms < 0: no cap), then
 * dispatch fd events and due timers. Returns the number of jobs started, or
 * a negative status. Loop thread only.
 */
WABOT_API int wabot_ctx_poll(wabot_ctx *ctx, int64_t max_wait_ms);

/**
 * Run the loop until nothing is due or pending (no waiting jobs, no active
 * jobs, no delayed job due before `deadline_ms` on the context's clock), for
 * tests and batch tools. Returns jobs started, or a negative status.
 */
WABOT_API int wabot_ctx_run_until_idle(wabot_ctx *ctx, int64_t deadline_ms);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_LOOP_H */
