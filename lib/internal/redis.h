/* The shared Redis connection layer behind the Redis backends (storage,
 * scheduler, limiter): a pool of synchronous hiredis connections, Lua
 * scripts run by EVALSHA with a NOSCRIPT fallback, key prefixing and the
 * mapping of failures to library statuses. Implemented in lib/redis/pool.c.
 * Private: backends include it, hosts never see it.
 *
 * Threads: every function here may be called from any thread at once.
 *
 * Failure statuses, the same everywhere below:
 *   WABOT_ERR_STORAGE  Redis unreachable (also while reconnect backoff is
 *                      running: no connect is attempted then, the call
 *                      fails at once), I/O error, protocol error, or an
 *                      error reply (the message is kept, see
 *                      wb_redis_last_error()).
 *   WABOT_ERR_TIMEOUT  the connect or command timeout passed.
 *   WABOT_ERR_BUSY     every pooled connection stayed in use for longer
 *                      than connect + command timeout.
 *   WABOT_ERR_NOMEM    out of memory.
 * A connection that failed is closed, never reused; the next acquire makes
 * a new one (subject to the backoff: 50 ms doubling to 2 s, reset by a
 * successful connect). */
#ifndef WB_REDIS_H
#define WB_REDIS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "wabot/redis.h"

/* ------------------------------------------------------------------ */
/* Connections                                                         */

/* Replies of the library's connections are built in one block (lib/redis/
 * reply.c): free one with wb_redis_reply_free(), never freeReplyObject();
 * an element's own free is a no-op (it goes with its root's). Any thread;
 * NULL is a no-op. */
void wb_redis_reply_free(void *reply);
/* Make c's reader build its replies that way (done for every connection
 * of the pool). */
void wb_redis_block_replies(redisContext *c);

/* A connection of the pool, connected, authenticated and on the configured
 * database; blocks for a free one (bounded, see WABOT_ERR_BUSY). NULL on
 * failure with *err (may be NULL) set to one of the statuses above. Give
 * it back with wb_redis_release() exactly once. */
redisContext *wb_redis_acquire(wabot_redis *r, int *err);

/* Give a connection back. broken != 0 (or c->err set) closes it: use it
 * after any failed command, since a late reply would otherwise be read as
 * the answer to the next one. c NULL is a no-op. */
void wb_redis_release(wabot_redis *r, redisContext *c, int broken);

/* ------------------------------------------------------------------ */
/* Commands and scripts                                                */

/* One command (argv with lengths: binary-safe) on a pooled connection.
 * Keys in argv are used as given: build them with wb_redis_key(). On
 * WABOT_OK *out is the reply (never an error reply; free it with
 * wb_redis_reply_free()); an error reply gives WABOT_ERR_STORAGE. */
int wb_redis_command(wabot_redis *r, int argc, const char **argv,
                     const size_t *argvlen, redisReply **out);

/* One command on a connection from wb_redis_acquire() (for a caller that
 * needs several commands on one connection). On WABOT_OK *out is the reply,
 * possibly an error reply (check with wb_redis_reply_status(); free with
 * wb_redis_reply_free()); any other status means the connection is broken:
 * release it with broken = 1. */
int wb_redis_command_on(wabot_redis *r, redisContext *c, int argc,
                        const char **argv, const size_t *argvlen,
                        redisReply **out);

/* Every command of this layer runs with SIGPIPE blocked in the calling
 * thread (a write to a connection Redis has reset must not kill a host
 * that left SIGPIPE at its default); a SIGPIPE raised by that write is
 * consumed, the thread's signal mask restored. Callers that use a
 * redisContext directly must do the same or use wb_redis_command_on(). */

/* A Lua script. Define one per transition as a static (not const) object:
 *     static wb_redis_script reserve_script = WB_REDIS_SCRIPT("reserve", src);
 * Its SHA-1 comes from the first SCRIPT LOAD (any connection) and is
 * cached here (thread-safe); the server's script cache is shared by all
 * connections, so a script is loaded once per server, not per call. */
typedef struct wb_redis_script {
    const char *name;   /* for error messages */
    const char *source; /* Lua source */
    atomic_int sha_ready; /* 1 once sha holds the script's SHA-1 */
    char sha[41];         /* hex, NUL-terminated */
} wb_redis_script;

#define WB_REDIS_SCRIPT(name, source) {(name), (source), 0, {0}}

/* Run a script: EVALSHA, and on NOSCRIPT (a restarted or flushed server)
 * SCRIPT LOAD then EVALSHA once more. `keys` are given WITHOUT the prefix:
 * the call prepends it to each (KEYS[i] in Lua are full names). Keys that
 * the script builds itself must start with the prefix too: pass
 * wb_redis_prefix() as an argument. args are binary-safe: arglens may be
 * NULL (all NUL-terminated) or give each length. nkeys or nargs may be 0
 * (the array then may be NULL). On WABOT_OK *out is the reply (never an
 * error reply; free with wb_redis_reply_free()). A script's own error
 * (redis.error_reply, a runtime error) is WABOT_ERR_STORAGE: scripts
 * should report expected outcomes (conflict, not found...) as values. */
int wb_redis_eval(wabot_redis *r, wb_redis_script *script, size_t nkeys,
                  const char **keys, size_t nargs, const char **args,
                  const size_t *arglens, redisReply **out);

/* wb_redis_eval() with binary-safe keys: keylens may be NULL (all
 * NUL-terminated) or give each key's length. */
int wb_redis_evaln(wabot_redis *r, wb_redis_script *script, size_t nkeys,
                   const char **keys, const size_t *keylens, size_t nargs,
                   const char **args, const size_t *arglens,
                   redisReply **out);

/* A plain command (e.g. "GET") on keys (each given the handle's prefix)
 * then arguments, sent as wb_redis_evaln() sends a script: with the calls
 * of other threads that wait at the same time, in one round trip. On
 * WABOT_OK *out is the reply, an error reply included (the caller
 * judges it; free with wb_redis_reply_free()). */
int wb_redis_plain(wabot_redis *r, const char *command, size_t nkeys,
                   const char **keys, size_t nargs, const char **args,
                   const size_t *arglens, redisReply **out);

/* One call of a pipelined script run: keys (without the prefix) and
 * arguments, NUL-terminated unless their lengths are given. With
 * `command` set, the call is that plain command instead (e.g. "GET"; its
 * keys prefixed, then its arguments) and `script` is not used: what needs
 * no script costs the server a fraction of a script's call
 * (doc/performance.md, sixteenth session). */
typedef struct wb_redis_call {
    size_t nkeys;
    const char *const *keys;
    size_t nargs;
    const char *const *args;
    wb_redis_script *script; /* NULL: the pipeline's script */
    const size_t *keylens;   /* NULL: keys NUL-terminated, else lengths */
    const size_t *arglens;   /* NULL: args NUL-terminated, else lengths */
    const char *command;     /* non-NULL: this plain command, no script */
} wb_redis_call;

/* Run `script` n times (n >= 1), once per call (or each call's own
 * script), pipelined on one connection: one round trip for all. Each call is its own atomic step
 * (scripts never span calls, so a Cluster-safe script stays so). out[i]
 * gets call i's reply (an error reply included: the caller checks);
 * free each with wb_redis_reply_free. A call answered NOSCRIPT (a flushed
 * server) is loaded and run again on its own. On WABOT_OK every out[i]
 * is set; otherwise none is (a broken connection or out of memory). */
int wb_redis_eval_pipeline(wabot_redis *r, wb_redis_script *script,
                           size_t n, const wb_redis_call *calls,
                           redisReply **out);

/* ------------------------------------------------------------------ */
/* Keys                                                                */

/* The configured prefix (default "wabot:"); valid until wabot_redis_free. */
const char *wb_redis_prefix(const wabot_redis *r);
size_t wb_redis_prefix_len(const wabot_redis *r);

/* prefix + key into buf (NUL-terminated). Returns the length, or
 * WABOT_ERR_TOO_LARGE if it does not fit in bufsz. */
int wb_redis_key(const wabot_redis *r, const char *key, char *buf,
                 size_t bufsz);
/* prefix + key, malloc'd (free with free()); NULL on out of memory. */
char *wb_redis_key_dup(const wabot_redis *r, const char *key);

/* ------------------------------------------------------------------ */
/* Replies and errors                                                  */

/* The status a failed hiredis context stands for: WABOT_ERR_TIMEOUT for a
 * timeout, WABOT_ERR_NOMEM for REDIS_ERR_OOM, else WABOT_ERR_STORAGE.
 * Records c->errstr as the last error. */
int wb_redis_context_status(wabot_redis *r, const redisContext *c);

/* The status of an error reply ("-ERR ...", "-OOM ...", "-BUSY ...",
 * "-NOSCRIPT ..."): WABOT_ERR_STORAGE for all (BUSY: a script runs too
 * long; OOM: maxmemory reached, see doc/redis.md), recording the message
 * as the last error. WABOT_OK if rep is not an error reply. */
int wb_redis_reply_status(wabot_redis *r, const redisReply *rep);

/* Reply readers: 1 and the value if rep has that type, else 0. */
int wb_redis_reply_int(const redisReply *rep, long long *out);
int wb_redis_reply_is_nil(const redisReply *rep);

/* The last failure's description (connect refused, timeout, an error
 * reply's text), copied into buf (NUL-terminated, truncated); "" if none.
 * For logs: the handle has no context to log through. */
void wb_redis_last_error(wabot_redis *r, char *buf, size_t bufsz);

/* Record a failure description (for the backends' own checks, e.g. a
 * reply of an unexpected shape). Returns WABOT_ERR_STORAGE. */
int wb_redis_fail(wabot_redis *r, const char *what);

/* ------------------------------------------------------------------ */
/* Statistics (tests, metrics)                                         */

typedef struct wb_redis_stats {
    int64_t connects;       /* successful connects (incl. AUTH/SELECT) */
    int64_t connect_errors; /* failed connect attempts */
    int64_t fast_failures;  /* acquires refused during backoff */
    int64_t broken;         /* connections closed after a failure */
    int64_t script_loads;   /* SCRIPT LOAD after NOSCRIPT */
    int32_t open;           /* connections open now (idle + in use) */
    int32_t idle;           /* idle connections now */
    int64_t batches;        /* wb_redis_evaln batches sent (one write) */
    int64_t batch_calls;    /* the calls in them (> batches: shared) */
} wb_redis_stats;

void wb_redis_stats_of(wabot_redis *r, wb_redis_stats *out);

/* ------------------------------------------------------------------ */
/* The backends' handles (the turn fast path, lib/redis/turn.c)        */

/* The wabot_redis a backend runs on, or NULL when it is not that Redis
 * backend (another backend, a host's wrapper, NULL). */
wabot_redis *wb_redis_storage_handle(const wabot_storage *s);
wabot_redis *wb_redis_scheduler_handle(const wabot_scheduler *s);
wabot_redis *wb_redis_limiter_handle(const wabot_limiter *l);

/* The Redis storage backend's turn fast path (storage.h). */
struct wb_turn_path;
extern const struct wb_turn_path wb_redis_turn_path;

/* The configuration in effect (strings owned by the handle). */
const wabot_redis_config *wb_redis_config_of(const wabot_redis *r);

#endif
