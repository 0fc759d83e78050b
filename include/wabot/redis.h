/*
 * Redis backends: several host processes on one Redis, with nothing lost
 * and nothing done twice. One wabot_redis handle holds a small thread-safe
 * pool of connections (hiredis, synchronous with short connect and command
 * timeouts; the library's contract is that storage and scheduler calls are
 * synchronous and short). Backends created from it share the pool:
 *
 *   storage    every operation one round trip (SET NX PX, Lua by EVALSHA
 *              with a NOSCRIPT fallback);
 *   scheduler  the memory scheduler's exact semantics, each transition one
 *              Lua script, keys hash-tagged per queue ("{queue}") so the
 *              scripts stay Redis Cluster-safe;
 *   limiter    GCRA in one script, integer milliseconds.
 *
 * While Redis is down, calls fail with WABOT_ERR_STORAGE (or
 * WABOT_ERR_TIMEOUT) and a detail in the log; connections are re-made with
 * backoff when it returns. Run Redis with maxmemory-policy noeviction and
 * AOF (appendfsync everysec or always) so queued jobs survive a restart.
 * Key layout and scripts: doc/redis.md.
 */
#ifndef WABOT_REDIS_H
#define WABOT_REDIS_H

#include "core.h"
#include "jobs.h"
#include "resilience.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WABOT_REDIS_CONFIG_VERSION 1
typedef struct wabot_redis_config {
    uint32_t version;           /**< WABOT_REDIS_CONFIG_VERSION */
    const char *host;           /**< default "127.0.0.1" */
    int32_t port;               /**< default 6379 */
    const char *password;       /**< AUTH; NULL: none */
    int32_t db;                 /**< SELECT; default 0 */
    const char *prefix;         /**< prepended to every key; default "wabot:" */
    int64_t connect_timeout_ms; /**< default 1000 */
    int64_t command_timeout_ms; /**< default 1000 */
    int32_t pool_size;          /**< connections, default 8 */
} wabot_redis_config;

/** Fill with version and defaults. */
WABOT_API void wabot_redis_config_init(wabot_redis_config *cfg);
/**
 * Fill from the environment (on top of the defaults): REDIS_HOST,
 * REDIS_PORT, REDIS_PASSWORD, REDIS_DB, WABOT_REDIS_PREFIX,
 * REDIS_POOL_SIZE (1..1024). Returns 1 if
 * REDIS_HOST is set, 0 if not, WABOT_ERR_INVAL for an unparsable value.
 * Strings point into the environment.
 */
WABOT_API int wabot_redis_config_from_env(wabot_redis_config *cfg);

typedef struct wabot_redis wabot_redis;

/** Connect (one connection at once, the rest on demand). NULL on a bad
 *  config or when Redis cannot be reached; *err (may be NULL) then gets a
 *  static description. */
WABOT_API wabot_redis *wabot_redis_new(const wabot_redis_config *cfg,
                                       const char **err);
/** Free after every backend made from it. */
WABOT_API void wabot_redis_free(wabot_redis *r);

/** Round trips to Redis made through r so far (commands and scripts, one
 *  each; a pipeline, or scripts of several threads sent together, one for
 *  all; connection handshakes not included): what a request costs in
 *  network waits. Any thread; never fails (0 for NULL). */
WABOT_API int64_t wabot_redis_round_trips(const wabot_redis *r);

/** Backends on r (r borrowed; it must outlive them). NULL on NOMEM. */
WABOT_API wabot_storage *wabot_storage_redis_new(wabot_redis *r);
WABOT_API wabot_scheduler *wabot_scheduler_redis_new(wabot_redis *r);
WABOT_API wabot_limiter *wabot_limiter_redis_new(wabot_redis *r);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_REDIS_H */
