/* The GCRA rate limiter: the wabot_limiter handle (argument checks, then
 * the backend's vtable) and the memory backend.
 *
 * GCRA keeps one number per key, the theoretical arrival time (TAT): when
 * the key would be back to "no calls pending" if every allowed call had
 * been spaced exactly one emission interval T apart. For count/period and
 * burst b:
 *
 *     T   = ceil(period_ms * 1000 / count)   microseconds
 *     tau = T * b                            (how far ahead TAT may run)
 *
 * A call is allowed when TAT - tau falls in or before the call's
 * millisecond, and then TAT = max(TAT, now) + T. Keeping microseconds
 * makes 80/s exact (T = 12500 us) even though time arrives in whole ms.
 * A key whose TAT is in the past is indistinguishable from a key never
 * seen, which is what lets the memory backend forget idle keys. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "alloc.h"
#include "htab.h"
#include "resilience.h"

struct wabot_limiter {
    int (*check)(void *impl, const wabot_rate_limit *limits, size_t n,
                 int64_t now_ms, int64_t *retry_after_ms);
    void (*destroy)(void *impl);
    void *impl;
};

/* ------------------------------------------------------------------ */
/* The handle                                                          */

void *wb_limiter_impl_if(const wabot_limiter *l, wb_limiter_check_fn check)
{
    return l != NULL && l->check == check ? l->impl : NULL;
}

wabot_limiter *wabot_limiter_new(const wabot_limiter_vtable *vt, void *impl)
{
    /* A newer table only grows at the end: its version-1 part is ours. */
    if (vt == NULL || vt->version == 0 || vt->check == NULL)
        return wb_null("wabot_limiter_new: NULL vtable, version 0 or no check");
    wabot_limiter *l = wb_malloc(NULL, sizeof *l);
    if (l == NULL)
        return wb_null("wabot_limiter_new: out of memory");
    l->check = vt->check;
    l->destroy = vt->destroy;
    l->impl = impl;
    return l;
}

void wabot_limiter_free(wabot_limiter *l)
{
    if (l == NULL)
        return;
    if (l->destroy != NULL)
        l->destroy(l->impl);
    wb_free(NULL, l);
}

static int limit_valid(const wabot_rate_limit *r)
{
    return r->key != NULL && r->key[0] != '\0' && r->count >= 1 &&
           r->period_ms >= 1 && r->burst >= 0;
}

int wabot_limiter_check(wabot_limiter *l, const wabot_rate_limit *limits,
                        size_t n, int64_t now_ms, int64_t *retry_after_ms)
{
    if (l == NULL || limits == NULL || n == 0)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!limit_valid(&limits[i]))
            return WABOT_ERR_INVAL;
    /* Backends may always write the wait, even when the caller ignores it. */
    int64_t wait = 0;
    int rc = l->check(l->impl, limits, n, now_ms, &wait);
    if (retry_after_ms != NULL)
        *retry_after_ms = rc == WABOT_ERR_RATE_LIMITED ? wait : 0;
    return rc;
}

/* ------------------------------------------------------------------ */
/* GCRA arithmetic (saturating: limits and clocks come from callers)   */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* a, b >= 0 */
static int64_t sat_mul(int64_t a, int64_t b)
{
    if (a != 0 && b > INT64_MAX / a)
        return INT64_MAX;
    return a * b;
}

static int64_t ms_to_us(int64_t ms)
{
    if (ms > INT64_MAX / 1000)
        return INT64_MAX;
    if (ms < INT64_MIN / 1000)
        return INT64_MIN;
    return ms * 1000;
}

/* The millisecond that contains microsecond `us` (floor, also below 0). */
static int64_t us_to_ms_floor(int64_t us)
{
    int64_t ms = us / 1000;
    return (us % 1000 < 0) ? ms - 1 : ms;
}

/* Rounded up, so an inexact division errs towards fewer calls, never
 * more than the provider allows. */
static int64_t emission_us(const wabot_rate_limit *r)
{
    int64_t period_us = sat_mul(r->period_ms, 1000);
    return period_us / r->count + (period_us % r->count != 0);
}

typedef struct gcra_verdict {
    int allowed;
    int64_t new_tat_us;     /* when allowed */
    int64_t retry_after_ms; /* when not */
} gcra_verdict;

/* tat_us: the key's TAT, INT64_MIN for a key never seen. now_ms stands for
 * the whole millisecond, so a call is allowed if its allow instant
 * (TAT - tau) falls anywhere in it: callers on a millisecond clock then
 * get exactly `count` per period instead of losing the sub-millisecond
 * remainder of T at every call (80/s would degrade to one per 13 ms). */
static gcra_verdict gcra_decide(const wabot_rate_limit *r, int64_t tat_us,
                                int64_t now_ms)
{
    int64_t t = emission_us(r);
    int64_t tau = sat_mul(t, r->burst);
    int64_t allow_at_ms = us_to_ms_floor(sat_add(tat_us, -tau));
    gcra_verdict v = {0};
    if (allow_at_ms > now_ms) {
        v.retry_after_ms = allow_at_ms - now_ms;
        return v;
    }
    int64_t now_us = ms_to_us(now_ms);
    v.allowed = 1;
    v.new_tat_us = sat_add(tat_us > now_us ? tat_us : now_us, t);
    return v;
}

/* ------------------------------------------------------------------ */
/* Memory backend: a chained hash table of key -> TAT under one mutex   */

#define MIN_BUCKETS 64    /* a power of two */
#define SWEEP_PER_CHECK 2 /* buckets trimmed by every check */
#define STACK_SLOTS 8     /* limits per check without a heap allocation */

typedef struct tat_entry {
    wb_hnode node; /* by key (key[]); first member */
    int64_t tat_us;
    char key[];
} tat_entry;

typedef struct gcra_mem {
    pthread_mutex_t mu;
    wb_htab keys;    /* tat_entry by key (lib/core/htab.c) */
    size_t sweep_at; /* next bucket the incremental sweep trims */
} gcra_mem;

/* Forgetting a key whose TAT has passed changes no verdict; the grace only
 * keeps a thread with a slightly older clock from seeing it forgotten. */
static int entry_dead(const wb_hnode *n, void *ud)
{
    const tat_entry *e = (const tat_entry *)n;
    return sat_add(e->tat_us, WB_GCRA_FORGET_GRACE_US) < *(int64_t *)ud;
}

static void entry_drop(wb_hnode *n, void *ud)
{
    (void)ud;
    wb_free(NULL, n);
}

static void sweep_bucket(gcra_mem *m, size_t i, int64_t now_us)
{
    wb_htab_sweep_bucket(&m->keys, i, entry_dead, entry_drop, &now_us);
}

/* Make room for `incoming` new keys. A full sweep runs only when the table
 * would pass one key per bucket, and leaves it at most half full (sweeping
 * or growing; a failed growth keeps the table: longer chains, same
 * answers), so at least nbuckets/2 inserts separate two full sweeps:
 * amortised O(1), and the table tracks the live keys, not the keys ever
 * seen. */
static void make_room(gcra_mem *m, size_t incoming, int64_t now_us)
{
    wb_htab *t = &m->keys;
    for (int i = 0; i < SWEEP_PER_CHECK; i++) {
        sweep_bucket(m, m->sweep_at, now_us);
        m->sweep_at = (m->sweep_at + 1) & (t->nbuckets - 1);
    }
    if (t->count + incoming <= t->nbuckets)
        return;
    for (size_t i = 0; i < t->nbuckets; i++)
        sweep_bucket(m, i, now_us);
    size_t want = t->count + incoming;
    if (want <= t->nbuckets / 2)
        return;
    size_t n = t->nbuckets;
    while (n < 2 * want && n <= SIZE_MAX / 4)
        n *= 2;
    if (wb_htab_resize(t, n) == WABOT_OK)
        m->sweep_at = 0;
}

/* A new key starts as "never seen" (TAT INT64_MIN): if the call is then
 * denied because of another key, it is exactly as if it had not been
 * added, and the next sweep removes it. */
static tat_entry *entry_get(gcra_mem *m, const char *key)
{
    size_t len = strlen(key);
    if ((uint64_t)len > WB_HTAB_KEY_MAX)
        return NULL; /* past the table's 32-bit key length: NOMEM */
    uint32_t h = wb_htab_hash(&m->keys, key, len);
    wb_hnode *n = wb_htab_find(&m->keys, h, key, len);
    if (n != NULL)
        return (tat_entry *)n;
    tat_entry *e = wb_malloc(NULL, sizeof *e + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, len + 1);
    e->node = (wb_hnode){NULL, h, (uint32_t)len};
    e->tat_us = INT64_MIN;
    wb_htab_link(&m->keys, &e->node); /* make_room sized the table */
    return e;
}

typedef struct gcra_slot {
    tat_entry *entry;
    int64_t tat_us; /* the TAT after this limit, if the call goes through */
} gcra_slot;

/* The TAT limit i starts from: the stored one, or the result of an earlier
 * limit on the same key in this call (two limits on one key both take). */
static int64_t tat_before(const gcra_slot *s, size_t i)
{
    for (size_t j = i; j-- > 0;)
        if (s[j].entry == s[i].entry)
            return s[j].tat_us;
    return s[i].entry->tat_us;
}

/* Phase one: every verdict, nothing committed. */
static int decide_all(gcra_mem *m, const wabot_rate_limit *limits, size_t n,
                      int64_t now_ms, gcra_slot *s, int64_t *retry)
{
    int allowed = 1;
    *retry = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].entry = entry_get(m, limits[i].key);
        if (s[i].entry == NULL)
            return WABOT_ERR_NOMEM;
        int64_t tat = tat_before(s, i);
        gcra_verdict v = gcra_decide(&limits[i], tat, now_ms);
        s[i].tat_us = v.allowed ? v.new_tat_us : tat;
        if (!v.allowed) {
            allowed = 0;
            if (v.retry_after_ms > *retry)
                *retry = v.retry_after_ms;
        }
    }
    return allowed ? WABOT_OK : WABOT_ERR_RATE_LIMITED;
}

static int mem_check(void *impl, const wabot_rate_limit *limits, size_t n,
                     int64_t now_ms, int64_t *retry_after_ms)
{
    gcra_mem *m = impl;
    /* Far outside any real clock; keeps every sum below in range. */
    if (now_ms > INT64_MAX / 4000)
        now_ms = INT64_MAX / 4000;
    if (now_ms < INT64_MIN / 4000)
        now_ms = INT64_MIN / 4000;
    gcra_slot stack_slots[STACK_SLOTS];
    gcra_slot *s = stack_slots;
    if (n > STACK_SLOTS && (s = wb_calloc(NULL, n, sizeof *s)) == NULL)
        return WABOT_ERR_NOMEM;

    pthread_mutex_lock(&m->mu);
    make_room(m, n, ms_to_us(now_ms));
    int rc = decide_all(m, limits, n, now_ms, s, retry_after_ms);
    /* Phase two, all or nothing; in order, so for a key named twice the
     * last write (which includes the earlier ones) wins. */
    if (rc == WABOT_OK)
        for (size_t i = 0; i < n; i++)
            s[i].entry->tat_us = s[i].tat_us;
    pthread_mutex_unlock(&m->mu);

    if (s != stack_slots)
        wb_free(NULL, s);
    return rc;
}

static void mem_destroy(void *impl)
{
    gcra_mem *m = impl;
    wb_htab_each(&m->keys, entry_drop, NULL);
    wb_htab_free(&m->keys);
    pthread_mutex_destroy(&m->mu);
    wb_free(NULL, m);
}

static const wabot_limiter_vtable mem_vtable = {
    .version = WABOT_LIMITER_VTABLE_VERSION,
    .check = mem_check,
    .destroy = mem_destroy,
};

wabot_limiter *wabot_limiter_memory_new(void)
{
    gcra_mem *m = wb_calloc(NULL, 1, sizeof *m);
    if (m == NULL)
        return NULL;
    if (wb_htab_init(&m->keys, NULL, MIN_BUCKETS,
                     offsetof(tat_entry, key)) != WABOT_OK) {
        wb_free(NULL, m);
        return NULL;
    }
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        wb_htab_free(&m->keys);
        wb_free(NULL, m);
        return NULL;
    }
    wabot_limiter *l = wabot_limiter_new(&mem_vtable, m);
    if (l == NULL)
        mem_destroy(m);
    return l;
}

int wb_limiter_memory_stats_of(wabot_limiter *l, wb_limiter_memory_stats *out)
{
    if (l == NULL || out == NULL || l->check != mem_check)
        return WABOT_ERR_INVAL;
    gcra_mem *m = l->impl;
    pthread_mutex_lock(&m->mu);
    out->keys = m->keys.count;
    out->buckets = m->keys.nbuckets;
    pthread_mutex_unlock(&m->mu);
    return WABOT_OK;
}
