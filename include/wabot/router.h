/*
 * The router: the last step of the pipeline, choosing one handler per
 * message.
 *
 * Matching order (deterministic):
 *   1. routes scoped to the conversation's current state, in registration
 *      order;
 *   2. routes with no state (state == NULL), in registration order;
 *   3. the fallback scoped to the current state, if any;
 *   4. the global fallback, if any.
 * The first route that matches runs; the turn is then marked handled.
 * A route registered with state "" matches only new conversations (no
 * state yet).
 *
 * Route kinds:
 *   keyword  the whole text equals the keyword after folding case, accents
 *            (Latin-1 supplement and Latin Extended-A letters) and
 *            runs of white space and surrounding punctuation (".!?,;:");
 *            "  Ménu! " matches "menu".
 *   command  text starts with the command prefix (WABOT_OPT_COMMAND_PREFIX,
 *            default "/") and the name, case-insensitively, followed by the
 *            end or white space; capture 1 is the rest, trimmed.
 *   regex    POSIX extended regex against the text; captures 0..n.
 *   payload  button/list payload equals `payload`, or starts with it when
 *            it ends in '*' ("order:*").
 *   type     message type equals `type`.
 *
 * Registration copies strings, is not thread-safe with message handling
 * (register before serving), and on failure does not call `destroy`.
 * Errors: WABOT_ERR_INVAL (NULL ctx/handler/pattern, bad regex with the
 * regerror text in wabot_ctx_errmsg()), NOMEM.
 */
#ifndef WABOT_ROUTER_H
#define WABOT_ROUTER_H

#include "core.h"
#include "message.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A route handler: reply, change state, etc. Return WABOT_OK or a
 *  negative status (the error handler then runs). */
typedef int (*wabot_handler_fn)(wabot_turn *turn, void *ud);

/** Regex flags. */
#define WABOT_REGEX_ICASE 1u

/* One function per route kind (see the kinds above). `state`: NULL for
 * every state, "" for a new conversation, else the state name. The handler
 * gets `ud`; `destroy` (may be NULL) runs once when the context is freed.
 * Returns WABOT_OK, WABOT_ERR_INVAL (detail in wabot_ctx_errmsg), NOMEM. */
WABOT_API int wabot_route_keyword(wabot_ctx *ctx, const char *state,
                                  const char *keyword, wabot_handler_fn fn,
                                  void *ud, wabot_destroy_fn destroy);
WABOT_API int wabot_route_command(wabot_ctx *ctx, const char *state,
                                  const char *name, wabot_handler_fn fn,
                                  void *ud, wabot_destroy_fn destroy);
WABOT_API int wabot_route_regex(wabot_ctx *ctx, const char *state,
                                const char *pattern, unsigned flags,
                                wabot_handler_fn fn, void *ud,
                                wabot_destroy_fn destroy);
WABOT_API int wabot_route_payload(wabot_ctx *ctx, const char *state,
                                  const char *payload, wabot_handler_fn fn,
                                  void *ud, wabot_destroy_fn destroy);
WABOT_API int wabot_route_type(wabot_ctx *ctx, const char *state,
                               wabot_msg_type type, wabot_handler_fn fn,
                               void *ud, wabot_destroy_fn destroy);
/** Fallback for `state` (NULL: the global fallback). Replaces an earlier
 *  fallback for the same state (whose destroy then runs). */
WABOT_API int wabot_route_fallback(wabot_ctx *ctx, const char *state,
                                   wabot_handler_fn fn, void *ud,
                                   wabot_destroy_fn destroy);

/** Number of routes registered (fallbacks included). */
WABOT_API size_t wabot_route_count(const wabot_ctx *ctx);

/**
 * Fold text the way keyword routes compare it (lower case, accents removed,
 * white space collapsed, surrounding punctuation trimmed). Owned result,
 * free with wabot_free(); NULL on NULL input or out of memory.
 */
WABOT_API char *wabot_route_keyword_fold(const char *text);
/** Older spelling of wabot_route_keyword_fold(), kept for compatibility. */
WABOT_API char *wabot_keyword_fold(const char *text);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_ROUTER_H */
