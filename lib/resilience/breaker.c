/* The circuit breaker: closed / open / half-open over a rolling window of
 * time buckets, all under one mutex.
 *
 * Time only ever arrives as an argument. Threads sharing a breaker read
 * the same clock at slightly different moments, so a breaker treats an
 * earlier now_ms than it has already seen as the latest one: its time
 * never runs backwards, and a bucket is never written with an epoch older
 * than the one it holds.
 *
 * The window is a ring of `buckets` buckets, each covering bucket_ms =
 * window_ms / buckets and stamped with its epoch (now / bucket_ms). A
 * bucket is cleared lazily when a record lands in it with a newer epoch;
 * sums skip buckets whose epoch has left the window, so nothing needs a
 * timer.
 *
 * Outcomes carry no token linking them to their acquire, so the breaker
 * interprets an outcome by the state it is in when the outcome arrives:
 *  - open: every outcome is ignored (the calls that could report now were
 *    made before it opened; their verdict has already been reached);
 *  - half-open: an outcome fills a probe slot if one is in flight,
 *    otherwise it is ignored (a late report from before the breaker
 *    opened, or from a probe already presumed lost);
 *  - closed: counted in the window. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "errors.h"
#include "resilience.h"

typedef struct wb_bucket {
    int64_t epoch; /* now / bucket_ms of the records it holds; -1 = empty */
    int64_t successes;
    int64_t failures;
} wb_bucket;

struct wabot_breaker {
    pthread_mutex_t mu;
    wabot_breaker_config cfg; /* version-1 members, validated */
    int64_t bucket_ms;
    wb_bucket *ring;          /* cfg.buckets entries */
    wabot_breaker_state state;
    int64_t latest_ms;        /* the latest now_ms seen: time's floor */
    int64_t opened_at_ms;
    int64_t open_for_ms;       /* this opening's length: open_ms, doubled
                                  for each failed half-open in a row */
    int32_t reopens;           /* half-open -> open in a row */
    int32_t probes_in_flight;
    int32_t probes_succeeded;
    int64_t probes_lost_at_ms; /* in-flight probes older than this are
                                  presumed lost (never reported) */
    int64_t transitions;
};

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

const char *wabot_breaker_state_name(wabot_breaker_state s)
{
    switch (s) {
    case WABOT_BREAKER_CLOSED:
        return "closed";
    case WABOT_BREAKER_OPEN:
        return "open";
    case WABOT_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

void wabot_breaker_config_init(wabot_breaker_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = WABOT_BREAKER_CONFIG_VERSION;
    cfg->window_ms = 60000;
    cfg->buckets = 10;
    cfg->failure_rate_pct = 50;
    cfg->min_volume = 20;
    cfg->open_ms = 30000;
    cfg->half_open_probes = 3;
}

static int span_ok(int64_t ms)
{
    return ms >= 1 && ms <= WB_BREAKER_MAX_SPAN_MS;
}

/* A newer config version only appends members, so its version-1 part is
 * read as is; version 0 means "never initialised". */
static int config_valid(const wabot_breaker_config *c)
{
    return c->version >= 1 && span_ok(c->window_ms) && c->buckets >= 1 &&
           c->buckets <= 1000 && c->window_ms >= c->buckets &&
           c->failure_rate_pct >= 1 && c->failure_rate_pct <= 100 &&
           c->min_volume >= 1 && span_ok(c->open_ms) &&
           c->half_open_probes >= 1;
}

int64_t wb_breaker_half_open_pause_ms(int64_t open_ms)
{
    int64_t pause = open_ms / 10;
    return pause > WB_BREAKER_MIN_PAUSE_MS ? pause : WB_BREAKER_MIN_PAUSE_MS;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */

static void window_clear(wabot_breaker *b)
{
    for (int32_t i = 0; i < b->cfg.buckets; i++)
        b->ring[i] = (wb_bucket){.epoch = -1};
}

wabot_breaker *wabot_breaker_new(const wabot_breaker_config *cfg)
{
    wabot_breaker_config c;
    wabot_breaker_config_init(&c);
    if (cfg != NULL) {
        c.window_ms = cfg->window_ms;
        c.buckets = cfg->buckets;
        c.failure_rate_pct = cfg->failure_rate_pct;
        c.min_volume = cfg->min_volume;
        c.open_ms = cfg->open_ms;
        c.half_open_probes = cfg->half_open_probes;
        c.version = cfg->version;
    }
    if (!config_valid(&c))
        return wb_null("wabot_breaker_new: invalid config (version, window_ms, buckets, failure_rate_pct 1..100, min_volume, open_ms, half_open_probes)");
    c.version = WABOT_BREAKER_CONFIG_VERSION;

    wabot_breaker *b = wb_calloc(NULL, 1, sizeof *b);
    if (b == NULL)
        return wb_null("wabot_breaker_new: out of memory");
    b->ring = wb_calloc(NULL, (size_t)c.buckets, sizeof *b->ring);
    if (b->ring == NULL || pthread_mutex_init(&b->mu, NULL) != 0) {
        wb_free(NULL, b->ring);
        wb_free(NULL, b);
        return wb_null("wabot_breaker_new: out of memory");
    }
    b->cfg = c;
    b->bucket_ms = c.window_ms / c.buckets;
    b->state = WABOT_BREAKER_CLOSED;
    window_clear(b);
    return b;
}

void wabot_breaker_free(wabot_breaker *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    wb_free(NULL, b->ring);
    wb_free(NULL, b);
}

/* ------------------------------------------------------------------ */
/* Time and the window (mutex held)                                    */

/* Far beyond any real clock, and far enough from INT64_MAX that adding a
 * span (<= WB_BREAKER_MAX_SPAN_MS) cannot overflow. */
#define MAX_NOW_MS (INT64_MAX / 2)

/* The breaker's now: never earlier than a time it has already seen, never
 * negative (so epochs are plain divisions). */
static int64_t advance(wabot_breaker *b, int64_t now_ms)
{
    if (now_ms > MAX_NOW_MS)
        now_ms = MAX_NOW_MS;
    if (now_ms > b->latest_ms)
        b->latest_ms = now_ms;
    return b->latest_ms;
}

static wb_bucket *bucket_at(wabot_breaker *b, int64_t now)
{
    int64_t epoch = now / b->bucket_ms;
    wb_bucket *k = &b->ring[epoch % b->cfg.buckets];
    if (k->epoch != epoch)
        *k = (wb_bucket){.epoch = epoch};
    return k;
}

static void window_sum(const wabot_breaker *b, int64_t now, int64_t *ok,
                       int64_t *failed)
{
    int64_t epoch = now / b->bucket_ms;
    int64_t oldest = epoch - b->cfg.buckets + 1;
    *ok = *failed = 0;
    for (int32_t i = 0; i < b->cfg.buckets; i++) {
        const wb_bucket *k = &b->ring[i];
        if (k->epoch < oldest || k->epoch > epoch)
            continue;
        *ok += k->successes;
        *failed += k->failures;
    }
}

static int should_open(const wabot_breaker *b, int64_t now)
{
    int64_t ok, failed;
    window_sum(b, now, &ok, &failed);
    int64_t total = ok + failed;
    return total >= b->cfg.min_volume &&
           failed * 100 >= (int64_t)b->cfg.failure_rate_pct * total;
}

/* ------------------------------------------------------------------ */
/* Transitions (mutex held)                                            */

/* How long an opening lasts after `reopens` failed half-opens in a row:
 * open_ms doubled each time, at most WB_BREAKER_MAX_BACKOFF times open_ms
 * (and never past the longest span), so a provider that stays down is
 * probed less and less often, but at a bounded interval. */
int64_t wb_breaker_open_for_ms(int64_t open_ms, int32_t reopens)
{
    int64_t cap = open_ms * WB_BREAKER_MAX_BACKOFF;
    if (cap > WB_BREAKER_MAX_SPAN_MS)
        cap = open_ms > WB_BREAKER_MAX_SPAN_MS ? open_ms
                                               : WB_BREAKER_MAX_SPAN_MS;
    int64_t d = open_ms;
    for (int32_t i = 0; i < reopens && d < cap; i++)
        d *= 2;
    return d < cap ? d : cap;
}

/* From closed the opening lasts open_ms; from half-open (a probe failed:
 * the provider is still down) it backs off. */
static void to_open(wabot_breaker *b, int64_t now)
{
    b->reopens = b->state == WABOT_BREAKER_HALF_OPEN ? b->reopens + 1 : 0;
    b->open_for_ms = wb_breaker_open_for_ms(b->cfg.open_ms, b->reopens);
    b->state = WABOT_BREAKER_OPEN;
    b->opened_at_ms = now;
    b->probes_in_flight = 0;
    b->probes_succeeded = 0;
    b->transitions++;
}

static void to_half_open(wabot_breaker *b)
{
    b->state = WABOT_BREAKER_HALF_OPEN;
    b->probes_in_flight = 0;
    b->probes_succeeded = 0;
    b->transitions++;
}

/* The probes proved the provider healthy: start counting afresh, so the
 * failures that opened the breaker cannot reopen it. */
static void to_closed(wabot_breaker *b)
{
    b->state = WABOT_BREAKER_CLOSED;
    b->probes_in_flight = 0;
    b->probes_succeeded = 0;
    b->reopens = 0;
    window_clear(b);
    b->transitions++;
}

/* ------------------------------------------------------------------ */
/* Acquire and record                                                  */

/* Half-open: hand out one of the probe slots. A probe whose outcome never
 * arrives (a crashed worker, a dropped job) would otherwise hold its slot
 * for ever and wedge the breaker half-open, so once the newest probe is
 * open_ms old the ones still in flight are presumed lost. */
static int take_probe(wabot_breaker *b, int64_t now, int64_t *retry_at)
{
    int32_t limit = b->cfg.half_open_probes;
    if (b->probes_in_flight + b->probes_succeeded >= limit &&
        b->probes_in_flight > 0 && now >= b->probes_lost_at_ms)
        b->probes_in_flight = 0;
    if (b->probes_in_flight + b->probes_succeeded >= limit) {
        *retry_at = now + wb_breaker_half_open_pause_ms(b->cfg.open_ms);
        return WABOT_ERR_CIRCUIT_OPEN;
    }
    b->probes_in_flight++;
    b->probes_lost_at_ms = now + b->cfg.open_ms;
    return WABOT_OK;
}

static int acquire_locked(wabot_breaker *b, int64_t now, int64_t *retry_at)
{
    switch (b->state) {
    case WABOT_BREAKER_CLOSED:
        return WABOT_OK;
    case WABOT_BREAKER_OPEN: {
        int64_t half_open_at = b->opened_at_ms + b->open_for_ms;
        if (now < half_open_at) {
            *retry_at = half_open_at;
            return WABOT_ERR_CIRCUIT_OPEN;
        }
        to_half_open(b);
        return take_probe(b, now, retry_at);
    }
    case WABOT_BREAKER_HALF_OPEN:
        return take_probe(b, now, retry_at);
    }
    return WABOT_ERR_STATE;
}

int wabot_breaker_acquire(wabot_breaker *b, int64_t now_ms,
                          int64_t *retry_at_ms)
{
    if (b == NULL)
        return WABOT_ERR_INVAL;
    int64_t retry_at = 0;
    pthread_mutex_lock(&b->mu);
    int rc = acquire_locked(b, advance(b, now_ms), &retry_at);
    pthread_mutex_unlock(&b->mu);
    if (rc != WABOT_OK && retry_at_ms != NULL)
        *retry_at_ms = retry_at;
    return rc;
}

static void record_closed(wabot_breaker *b, int64_t now,
                          wabot_breaker_outcome outcome)
{
    wb_bucket *k = bucket_at(b, now);
    if (outcome == WABOT_OUTCOME_SUCCESS)
        k->successes++;
    else
        k->failures++;
    if (should_open(b, now))
        to_open(b, now);
}

static void record_probe(wabot_breaker *b, int64_t now,
                         wabot_breaker_outcome outcome)
{
    if (b->probes_in_flight == 0)
        return;
    b->probes_in_flight--;
    if (outcome == WABOT_OUTCOME_FAILURE)
        to_open(b, now);
    else if (outcome == WABOT_OUTCOME_SUCCESS &&
             ++b->probes_succeeded >= b->cfg.half_open_probes)
        to_closed(b);
}

void wabot_breaker_record(wabot_breaker *b, int64_t now_ms,
                          wabot_breaker_outcome outcome)
{
    if (b == NULL)
        return;
    if (outcome != WABOT_OUTCOME_SUCCESS &&
        outcome != WABOT_OUTCOME_FAILURE && outcome != WABOT_OUTCOME_IGNORED)
        return;
    pthread_mutex_lock(&b->mu);
    int64_t now = advance(b, now_ms);
    /* Throttled or refused-for-its-own-sake calls say nothing about the
     * provider's health: they only free a probe slot. */
    if (b->state == WABOT_BREAKER_HALF_OPEN)
        record_probe(b, now, outcome);
    else if (b->state == WABOT_BREAKER_CLOSED &&
             outcome != WABOT_OUTCOME_IGNORED)
        record_closed(b, now, outcome);
    pthread_mutex_unlock(&b->mu);
}

/* ------------------------------------------------------------------ */
/* Inspection                                                          */

wabot_breaker_state wabot_breaker_state_of(wabot_breaker *b, int64_t now_ms)
{
    if (b == NULL)
        return WABOT_BREAKER_CLOSED;
    pthread_mutex_lock(&b->mu);
    advance(b, now_ms);
    wabot_breaker_state s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

int64_t wabot_breaker_transitions(wabot_breaker *b)
{
    if (b == NULL)
        return 0;
    pthread_mutex_lock(&b->mu);
    int64_t n = b->transitions;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void wb_breaker_snapshot_of(wabot_breaker *b, int64_t now_ms,
                            wb_breaker_snapshot *out)
{
    pthread_mutex_lock(&b->mu);
    int64_t now = advance(b, now_ms);
    out->state = b->state;
    window_sum(b, now, &out->successes, &out->failures);
    out->opened_at_ms = b->opened_at_ms;
    out->open_until_ms = b->state == WABOT_BREAKER_OPEN
                             ? b->opened_at_ms + b->open_for_ms
                             : 0;
    out->reopens = b->reopens;
    out->probes_in_flight = b->probes_in_flight;
    out->probes_succeeded = b->probes_succeeded;
    pthread_mutex_unlock(&b->mu);
}
