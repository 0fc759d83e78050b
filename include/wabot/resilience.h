/*
 * Resilience: the circuit breaker and the GCRA rate limiter that guard the
 * outbound path. Both read time only as arguments (the context's clock), so
 * tests move time instead of sleeping. The context creates and uses them
 * itself (one breaker per transport, limits per sender number, recipient
 * pair and organisation, configured with options); they are public so that
 * hosts can guard their own calls the same way and test them.
 */
#ifndef WABOT_RESILIENCE_H
#define WABOT_RESILIENCE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Circuit breaker                                                     */

typedef enum wabot_breaker_state {
    WABOT_BREAKER_CLOSED = 0,
    WABOT_BREAKER_OPEN = 1,
    WABOT_BREAKER_HALF_OPEN = 2
} wabot_breaker_state;

/** Static lower-case name ("closed", "open", "half_open"). */
WABOT_API const char *wabot_breaker_state_name(wabot_breaker_state s);

#define WABOT_BREAKER_CONFIG_VERSION 1
/**
 * Breaker settings; fill with wabot_breaker_config_init() then adjust.
 * Closed: calls pass; outcomes are counted in a rolling window of
 * `buckets` buckets covering `window_ms`. When the window holds at least
 * `min_volume` outcomes and failures are >= failure_rate_pct of them, the
 * breaker opens. Open: calls are refused until `open_ms` has passed; the
 * next acquire after that moves it to half-open (lazily: no timer needed).
 * Half-open: at most `half_open_probes` calls pass; if all of them succeed
 * the breaker closes (window cleared), any failure opens it again, for
 * twice as long as the time before (open_ms, 2x, 4x, at most 8x open_ms;
 * back to open_ms once it has closed).
 */
typedef struct wabot_breaker_config {
    uint32_t version;          /**< WABOT_BREAKER_CONFIG_VERSION */
    int64_t window_ms;         /**< default 60000 */
    int32_t buckets;           /**< default 10 (1..1000) */
    int32_t failure_rate_pct;  /**< default 50 (1..100) */
    int32_t min_volume;        /**< default 20 (>= 1) */
    int64_t open_ms;           /**< default 30000 */
    int32_t half_open_probes;  /**< default 3 (>= 1) */
} wabot_breaker_config;

/** Fill *cfg with the version and the defaults above. */
WABOT_API void wabot_breaker_config_init(wabot_breaker_config *cfg);

typedef struct wabot_breaker wabot_breaker;

/** New breaker (config copied; NULL = defaults). NULL on an invalid config
 *  or out of memory. Thread-safe. */
WABOT_API wabot_breaker *wabot_breaker_new(const wabot_breaker_config *cfg);
WABOT_API void wabot_breaker_free(wabot_breaker *b);

/**
 * Ask to make a call at now_ms. WABOT_OK: go ahead, then report the outcome
 * with wabot_breaker_record(). WABOT_ERR_CIRCUIT_OPEN: refused; *retry_at_ms
 * (may be NULL) is when to ask again (the half-open time, or now + a short
 * pause when the half-open probes are all in flight).
 */
WABOT_API int wabot_breaker_acquire(wabot_breaker *b, int64_t now_ms,
                                    int64_t *retry_at_ms);

typedef enum wabot_breaker_outcome {
    WABOT_OUTCOME_SUCCESS = 0,
    WABOT_OUTCOME_FAILURE = 1, /**< network error, timeout, 5xx */
    WABOT_OUTCOME_IGNORED = 2  /**< throttled or refused for the message's
                                    own sake (4xx): says nothing about the
                                    provider's health; frees a probe */
} wabot_breaker_outcome;

/** Report the outcome of a call that acquire() allowed. */
WABOT_API void wabot_breaker_record(wabot_breaker *b, int64_t now_ms,
                                    wabot_breaker_outcome outcome);
/** State as of now_ms (open turns half-open only on acquire). */
WABOT_API wabot_breaker_state wabot_breaker_state_of(wabot_breaker *b,
                                                     int64_t now_ms);
/** Transitions so far (closed->open, open->half_open, ...), for metrics. */
WABOT_API int64_t wabot_breaker_transitions(wabot_breaker *b);

/* ------------------------------------------------------------------ */
/* GCRA rate limiter (as redis-cell)                                   */

/**
 * One limit on one key: at most `count` per `period_ms` on average, with
 * bursts of up to `burst` extra calls. This struct is frozen (it is passed
 * in arrays): it never grows; new fields would come with a new function.
 */
typedef struct wabot_rate_limit {
    const char *key;   /**< e.g. "sender:+14155238886" */
    int64_t count;     /**< >= 1 */
    int64_t period_ms; /**< >= 1 */
    int64_t burst;     /**< >= 0 extra calls allowed at once */
} wabot_rate_limit;

#define WABOT_LIMITER_VTABLE_VERSION 1
/**
 * A limiter backend. check() takes one unit from every key at now_ms if
 * and only if every key allows it (all-or-nothing) and returns WABOT_OK;
 * otherwise it takes nothing, returns WABOT_ERR_RATE_LIMITED and sets
 * *retry_after_ms to the wait after which all keys would allow it.
 * Thread-safe; one atomic step (one script on Redis).
 */
typedef struct wabot_limiter_vtable {
    uint32_t version; /**< WABOT_LIMITER_VTABLE_VERSION */
    int (*check)(void *impl, const wabot_rate_limit *limits, size_t n,
                 int64_t now_ms, int64_t *retry_after_ms);
    void (*destroy)(void *impl); /**< may be NULL */
} wabot_limiter_vtable;

typedef struct wabot_limiter wabot_limiter;

/** Wrap a limiter backend (vt borrowed and must outlive the handle; impl
 *  owned: destroy runs on free). NULL if vt is NULL, its version is 0 or
 *  check is NULL, or on out of memory. */
WABOT_API wabot_limiter *wabot_limiter_new(const wabot_limiter_vtable *vt,
                                           void *impl);
/** The memory backend: thread-safe; a key whose theoretical arrival time
 *  has been in the past for over a second is forgotten (it would allow its
 *  full burst again anyway), so memory stays bounded. */
WABOT_API wabot_limiter *wabot_limiter_memory_new(void);
WABOT_API void wabot_limiter_free(wabot_limiter *l);
/** Check-and-take (see the vtable). WABOT_ERR_INVAL for n == 0, a NULL or
 *  empty key, count < 1, period < 1 or burst < 0. */
WABOT_API int wabot_limiter_check(wabot_limiter *l,
                                  const wabot_rate_limit *limits, size_t n,
                                  int64_t now_ms, int64_t *retry_after_ms);
/** Use `l` (borrowed) for the context's limits. NULL: a memory limiter. */
WABOT_API int wabot_options_set_limiter(wabot_options *opts,
                                        wabot_limiter *l);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_RESILIENCE_H */
