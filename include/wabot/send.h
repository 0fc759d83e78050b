/*
 * Sending outside a turn: notices, reminders and campaigns message
 * customers who did not just write. Each call queues one outbound job (see
 * jobs.h) and returns at once; the outbound path then applies opt-out, the
 * 24-hour window, rate limits and the circuit breaker, and retries.
 * Thread-safe.
 */
#ifndef WABOT_SEND_H
#define WABOT_SEND_H

#include "core.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Queue a text message to `to` (E.164) for organisation `org` (NULL: the
 * default), of `category` (opt-out and the window depend on it). `id` (may
 * be NULL: generated) is the idempotency key: a second send with the same
 * id is WABOT_ERR_EXISTS and sends nothing. *out_id (may be NULL) gets the
 * id, owned (wabot_ctx_mem_free). Errors: INVAL, TOO_LARGE, EXISTS,
 * STORAGE, NOMEM.
 */
WABOT_API int wabot_send_text(wabot_ctx *ctx, const char *org,
                              const char *to, const char *text,
                              wabot_out_category category, const char *id,
                              char **out_id);
/** Queue an approved template (see wabot_reply_template). */
WABOT_API int wabot_send_template(wabot_ctx *ctx, const char *org,
                                  const char *to, const char *name,
                                  const char *language, size_t n,
                                  const char *const *params,
                                  wabot_out_category category,
                                  const char *id, char **out_id);

/**
 * When a free-form message of `category` must go outside the 24-hour
 * window, send template `name`/`language` instead with the message's text
 * as parameter {{1}}. NULL name removes the fallback: such messages then
 * fail with WABOT_ERR_WINDOW_CLOSED without any provider call.
 * Setup-time.
 */
WABOT_API int wabot_ctx_set_window_template(wabot_ctx *ctx,
                                            wabot_out_category category,
                                            const char *name,
                                            const char *language);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_SEND_H */
