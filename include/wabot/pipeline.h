/*
 * The per-message pipeline.
 *
 * Every inbound message becomes a wabot_turn that passes through, in order:
 *   [state load] -> user middlewares (registration order) -> router
 *   -> [state save, only when changed] -> [replies to the transport]
 *
 * Middlewares are Koa-style: a middleware runs code, calls
 * wabot_pipeline_next(turn) to run everything after it, and may run more
 * code when it returns (timing, logging, error mapping). A middleware that
 * does not call wabot_pipeline_next() ends the turn there (the router does
 * not run).
 *
 * A turn lives on the stack of the call that handles the message (one of
 * wabot_http_handle() or wabot_ctx_handle_message()) and is used by one
 * thread; pointers obtained from it are valid until the turn ends.
 * Turns for one customer (organisation + number) never run concurrently in
 * one process: they are serialised by a per-customer lock.
 */
#ifndef WABOT_PIPELINE_H
#define WABOT_PIPELINE_H

#include "core.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wabot_turn wabot_turn;

/** A middleware. Return WABOT_OK, or a negative status to fail the turn
 *  (the error handler then runs). */
typedef int (*wabot_middleware_fn)(wabot_turn *turn, void *ud);
/** Destructor for user data, called once when the context is freed. */
typedef void (*wabot_destroy_fn)(void *ud);

/**
 * Append a middleware. `name` (copied, may be NULL) appears in logs.
 * Register before handling messages: registration is not thread-safe with
 * respect to wabot_http_handle(). On failure `destroy` is NOT called.
 * Errors: WABOT_ERR_INVAL (NULL ctx or fn), NOMEM.
 */
WABOT_API int wabot_pipeline_use(wabot_ctx *ctx, const char *name,
                                 wabot_middleware_fn fn, void *ud,
                                 wabot_destroy_fn destroy);
/** Older spelling of wabot_pipeline_use(), kept for compatibility. */
WABOT_API int wabot_use(wabot_ctx *ctx, const char *name,
                        wabot_middleware_fn fn, void *ud,
                        wabot_destroy_fn destroy);

/**
 * Run the rest of the pipeline (the next middleware, or the router after
 * the last one). Returns what the rest returned. Calling it twice from the
 * same middleware returns WABOT_ERR_STATE.
 */
WABOT_API int wabot_pipeline_next(wabot_turn *turn);
/** Older spelling of wabot_pipeline_next(), kept for compatibility. */
WABOT_API int wabot_next(wabot_turn *turn);

/** Error handler: called once per failed turn with the failing status and
 *  detail. The handler may still reply (e.g. "sorry, try again"). */
typedef void (*wabot_error_fn)(wabot_turn *turn, int status,
                               const char *detail, void *ud);
/** Set (replace) the error handler; NULL removes it. The previous
 *  handler's destroy runs. Not thread-safe with message handling. */
WABOT_API int wabot_pipeline_set_error_handler(wabot_ctx *ctx,
                                               wabot_error_fn fn, void *ud,
                                               wabot_destroy_fn destroy);
/** Older spelling of wabot_pipeline_set_error_handler(), kept for
 *  compatibility. */
WABOT_API int wabot_ctx_set_error_handler(wabot_ctx *ctx, wabot_error_fn fn,
                                          void *ud, wabot_destroy_fn destroy);

/**
 * Handle one message through the whole pipeline, synchronously, on the
 * calling thread (for hosts with their own webhook parsing, and for tests).
 * The message is borrowed. Returns WABOT_OK when the turn completed (even if
 * no route matched), or the failing status (after the error handler ran).
 * Thread-safe.
 */
WABOT_API int wabot_ctx_handle_message(wabot_ctx *ctx, const wabot_message *m);

/* ------------------------------------------------------------------ */
/* The turn                                                            */

WABOT_API wabot_ctx *wabot_turn_ctx(const wabot_turn *turn);
WABOT_API const wabot_message *wabot_turn_message(const wabot_turn *turn);
/** Organisation and customer (E.164) this turn belongs to. */
WABOT_API const char *wabot_turn_organization(const wabot_turn *turn);
WABOT_API const char *wabot_turn_customer(const wabot_turn *turn);

/** Mark the message handled (routes do this when they match). */
WABOT_API void wabot_turn_set_handled(wabot_turn *turn);
/** 1 if a route handled the message or a middleware marked it handled. */
WABOT_API int wabot_turn_handled(const wabot_turn *turn);

/** Capture i of the matched route: 0 is the whole match; for regex routes
 *  1.. are the groups; for command routes 1 is the argument text. NULL if
 *  absent. */
WABOT_API const char *wabot_turn_capture(const wabot_turn *turn, size_t i);
WABOT_API size_t wabot_turn_capture_count(const wabot_turn *turn);

/* Per-turn scratch values for passing data between middlewares and
 * handlers (Koa's ctx.state). `key` is copied; the value is borrowed and
 * must stay valid until the turn ends. Get returns NULL if absent. */
WABOT_API int wabot_turn_set_local(wabot_turn *turn, const char *key,
                                   void *value);
WABOT_API void *wabot_turn_get_local(const wabot_turn *turn, const char *key);

/* ------------------------------------------------------------------ */
/* Conversation state inside a turn (loaded before the first middleware,
 * saved after the turn only when it changed).                          */

/** Current state name; "" for a new conversation. */
WABOT_API const char *wabot_turn_state(const wabot_turn *turn);
/** Move to state `name` (copied; NULL or "" resets). */
WABOT_API int wabot_turn_set_state(wabot_turn *turn, const char *name);

/** Session values. Get functions return NULL / `dflt` when the key is
 *  absent or of another type. Set functions copy. Keys are top-level
 *  members of the session JSON object. */
WABOT_API const char *wabot_turn_session_str(const wabot_turn *turn,
                                             const char *key);
WABOT_API int64_t wabot_turn_session_int(const wabot_turn *turn,
                                         const char *key, int64_t dflt);
WABOT_API int wabot_turn_session_set_str(wabot_turn *turn, const char *key,
                                         const char *value);
WABOT_API int wabot_turn_session_set_int(wabot_turn *turn, const char *key,
                                         int64_t value);
/** Set a member to a JSON value given as text (any JSON type).
 *  WABOT_ERR_PARSE if `json` is not valid JSON. */
WABOT_API int wabot_turn_session_set_json(wabot_turn *turn, const char *key,
                                          const char *json, size_t len);
WABOT_API int wabot_turn_session_del(wabot_turn *turn, const char *key);
/** Remove every session value (state is kept). */
WABOT_API int wabot_turn_session_clear(wabot_turn *turn);
/** The session as compact JSON text (owned; free with wabot_ctx_mem_free). */
WABOT_API char *wabot_turn_session_json(const wabot_turn *turn);

/** Customer profile as of this turn (name from the provider, opt-out flag).*/
WABOT_API const char *wabot_turn_customer_name(const wabot_turn *turn);
WABOT_API int wabot_turn_customer_opted_out(const wabot_turn *turn);

/* ------------------------------------------------------------------ */
/* Replies: queued on the turn and handed to the transport when the turn
 * ends successfully (after state is saved). All copy their arguments.
 * Errors: WABOT_ERR_INVAL (NULL/empty text), WABOT_ERR_TOO_LARGE (over
 * 4096 bytes of text, 3 buttons, 10 list rows, 20-byte button titles,
 * 24-byte row titles, 256-byte ids), NOMEM.                            */

WABOT_API int wabot_reply_text(wabot_turn *turn, const char *text);
/** Media by URL with an optional caption (NULL). */
WABOT_API int wabot_reply_media(wabot_turn *turn, const char *url,
                                const char *caption);
/** Body text and 1..3 reply buttons (ids[i], titles[i]). */
WABOT_API int wabot_reply_buttons(wabot_turn *turn, const char *body,
                                  size_t n, const char *const *ids,
                                  const char *const *titles);
/** Body text and 1..10 list rows (ids[i], titles[i]). */
WABOT_API int wabot_reply_list(wabot_turn *turn, const char *body, size_t n,
                               const char *const *ids,
                               const char *const *titles);
/** An approved template with body parameters (params[0] is {{1}}); may
 *  be sent outside the 24-hour window. */
WABOT_API int wabot_reply_template(wabot_turn *turn, const char *name,
                                   const char *language, size_t n,
                                   const char *const *params);
/** Number of replies queued on this turn so far. */
WABOT_API size_t wabot_turn_reply_count(const wabot_turn *turn);

/* ------------------------------------------------------------------ */
/* Jobs inside a turn: the turn outbox                                  */

struct wabot_job_spec; /* wabot/jobs.h */

/**
 * Enqueue a job on `queue` as one of the turn's effects: it is written
 * with the turn's conversation state and replies in one storage
 * transaction when the turn ends successfully, and only then handed to the
 * queue (doc/architecture.md, "The turn outbox"). A turn that fails, or is
 * re-run after a conflicting change of its conversation, enqueues nothing
 * from that attempt. `payload` (len bytes, any bytes) and `spec` (NULL:
 * defaults; spec->job_id NULL: "<message id>:j<n>", so a re-run or a
 * redelivery enqueues the same job, not a second one) are copied.
 * *job_id (may be NULL) gets the id, owned (wabot_ctx_mem_free).
 * Call from the turn's thread while the turn runs.
 * Errors: WABOT_ERR_INVAL (NULL turn, a bad queue name, NULL payload with
 * len > 0, a spec out of range), WABOT_ERR_TOO_LARGE (more than 64 jobs in
 * one turn), NOMEM.
 */
WABOT_API int wabot_turn_enqueue(wabot_turn *turn, const char *queue,
                                 const char *payload, size_t len,
                                 const struct wabot_job_spec *spec,
                                 char **job_id);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_PIPELINE_H */
