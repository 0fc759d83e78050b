/* Resilience internals: the numbers the breaker and the GCRA limiter derive
 * from their settings, and read-only snapshots for white-box tests and
 * metrics. Private. */
#ifndef WB_RESILIENCE_H
#define WB_RESILIENCE_H

#include <stddef.h>
#include <stdint.h>

#include "wabot/resilience.h"

/* ------------------------------------------------------------------ */
/* Circuit breaker                                                     */

/* Longest window_ms / open_ms a config may ask for (365 days): keeps every
 * time sum far from overflow. */
#define WB_BREAKER_MAX_SPAN_MS (365LL * 24 * 60 * 60 * 1000)
/* Repeated failed half-opens double the open time up to this many times
 * open_ms. */
#define WB_BREAKER_MAX_BACKOFF 8
/* Shortest pause a refused half-open acquire is told to wait. */
#define WB_BREAKER_MIN_PAUSE_MS 100

/* How long a caller refused because every half-open probe is in flight is
 * told to wait: max(WB_BREAKER_MIN_PAUSE_MS, open_ms / 10). */
int64_t wb_breaker_half_open_pause_ms(int64_t open_ms);
/* How long the breaker stays open after `reopens` failed half-opens in a
 * row (0: it opened from closed): open_ms * 2^reopens, at most
 * open_ms * WB_BREAKER_MAX_BACKOFF. */
int64_t wb_breaker_open_for_ms(int64_t open_ms, int32_t reopens);

typedef struct wb_breaker_snapshot {
    wabot_breaker_state state;
    int64_t successes;        /* in the window as of now_ms */
    int64_t failures;         /* in the window as of now_ms */
    int64_t opened_at_ms;     /* last closed/half-open -> open */
    int64_t open_until_ms;    /* open only: when it may half-open */
    int32_t reopens;          /* failed half-opens in a row (backoff) */
    int32_t probes_in_flight; /* half-open only */
    int32_t probes_succeeded; /* half-open only */
} wb_breaker_snapshot;

/* The breaker's state as of now_ms, under its mutex (b must be valid). */
void wb_breaker_snapshot_of(wabot_breaker *b, int64_t now_ms,
                            wb_breaker_snapshot *out);

/* ------------------------------------------------------------------ */
/* GCRA rate limiter                                                   */

/* A memory-backend key whose TAT has been in the past for longer than this
 * is forgotten. Forgetting it at once would already be exact (a TAT in the
 * past acts like a new key); the grace only absorbs clock skew between the
 * threads that share the limiter. */
#define WB_GCRA_FORGET_GRACE_US 1000000LL

typedef struct wb_limiter_memory_stats {
    size_t keys;    /* keys held (live or not yet swept) */
    size_t buckets; /* hash table size */
} wb_limiter_memory_stats;

/* Fill *out for a limiter made by wabot_limiter_memory_new(). Returns
 * WABOT_ERR_INVAL (and leaves *out alone) for any other limiter. */
int wb_limiter_memory_stats_of(wabot_limiter *l, wb_limiter_memory_stats *out);

/* l's backend state if l was made from a vtable whose check is `check`
 * (a backend recognising its own handles), else NULL. */
typedef int (*wb_limiter_check_fn)(void *impl, const wabot_rate_limit *limits,
                                   size_t n, int64_t now_ms,
                                   int64_t *retry_after_ms);
void *wb_limiter_impl_if(const wabot_limiter *l, wb_limiter_check_fn check);

#endif
