/* Series of a family and their updates.
 *
 * Each family has a fixed-size open-addressing table (at least twice
 * max_series slots, so probes stay short and never run out of room) of
 * pointers to immutable series. Lookups are lock-free; a new series is
 * built under the registry lock and published with a release store.
 * Values are C11 atomics: counters a fetch-add on an int64; gauges and
 * histogram sums are doubles kept as their bit patterns and changed with a
 * compare-and-swap loop (a sum in integer micro-units would need a unit
 * per histogram and overflow for byte-sized observations); histogram
 * buckets are per-bucket fetch-add counters, made cumulative when read. */
#include <math.h>
#include <string.h>

#include "registry.h"
#include "siphash.h"

static uint64_t hash_values(const wb_metrics *m, const char *const *v,
                            size_t n)
{
    uint64_t h = m->k0 ^ n;
    for (size_t i = 0; i < n; i++)
        h = wb_siphash13(h, m->k1 + i, v[i], strlen(v[i]));
    return h;
}

static int same_values(const wabot_metric_series *s, const char *const *v,
                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], v[i]) != 0)
            return 0;
    return 1;
}

static wabot_metric_series *lookup(const wabot_metric_family *f,
                                   const char *const *v, uint64_t h)
{
    for (size_t i = h & f->mask;; i = (i + 1) & f->mask) {
        wabot_metric_series *s =
            atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (!s)
            return NULL;
        if (s->hash == h && same_values(s, v, f->n_labels))
            return s;
    }
}

/* One allocation: the series, its buckets, the value pointers, the
 * value bytes. v NULL: no values (the overflow series). */
static wabot_metric_series *series_new(wabot_metric_family *f,
                                       const char *const *v, uint64_t h,
                                       int kind)
{
    size_t nb = f->type == WABOT_METRIC_HISTOGRAM ? f->n_bounds + 1 : 0;
    size_t nl = v ? f->n_labels : 0;
    size_t head = sizeof(wabot_metric_series) + nb * sizeof(uint64_t);
    size_t bytes = head + nl * sizeof(char *);
    for (size_t i = 0; i < nl; i++)
        bytes += strlen(v[i]) + 1;
    wabot_metric_series *s = wb_malloc(f->m->alloc, bytes);
    if (!s)
        return NULL;
    s->kind = kind;
    s->fam = f;
    s->hash = h;
    atomic_init(&s->count, 0);
    atomic_init(&s->bits, 0); /* +0.0 */
    atomic_init(&s->hidden, 0);
    for (size_t i = 0; i < nb; i++)
        atomic_init(&s->buckets[i], 0);
    s->values = (char **)((char *)s + head);
    char *p = (char *)(s->values + nl);
    for (size_t i = 0; i < nl; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(p, v[i], len);
        s->values[i] = p;
        p += len;
    }
    return s;
}

/* Caller holds the registry lock. NULL: the family is full or NOMEM. */
static wabot_metric_series *insert(wabot_metric_family *f,
                                   const char *const *v, uint64_t h)
{
    wabot_metric_series *s = lookup(f, v, h);
    if (s || f->n_series >= f->max_series)
        return s;
    if (!(s = series_new(f, v, h, f->type)))
        return NULL;
    size_t i = h & f->mask;
    while (atomic_load_explicit(&f->slots[i], memory_order_relaxed))
        i = (i + 1) & f->mask;
    atomic_store_explicit(&f->slots[i], s, memory_order_release);
    f->n_series++;
    return s;
}

int wb_series_setup(wabot_metric_family *f)
{
    f->overflow_series = series_new(f, NULL, 0, WB_SERIES_OVERFLOW);
    if (!f->overflow_series)
        return WABOT_ERR_NOMEM;
    if (f->n_labels == 0 && !insert(f, NULL, hash_values(f->m, NULL, 0)))
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

wabot_metric_series *wb_series_single(const wabot_metric_family *f)
{
    return lookup(f, NULL, hash_values(f->m, NULL, 0));
}

static int check_values(const wabot_metric_family *f, const char *const *v,
                        size_t n)
{
    if (n != f->n_labels || (n > 0 && !v))
        return wb_error(f->ctx, WABOT_ERR_INVAL, "metric %s has %zu labels, "
                        "%zu values given", f->name, f->n_labels, n);
    for (size_t i = 0; i < n; i++)
        if (!v[i] || strlen(v[i]) > WABOT_METRIC_MAX_VALUE)
            return wb_error(f->ctx, WABOT_ERR_INVAL, "metric %s: value of "
                            "label %s is NULL or over %d bytes", f->name,
                            f->labels[i], WABOT_METRIC_MAX_VALUE);
    return WABOT_OK;
}

static int create(wabot_metric_family *f, const char *const *v, uint64_t h,
                  wabot_metric_series **out)
{
    wb_metrics *m = f->m;
    pthread_mutex_lock(&m->lock);
    wabot_metric_series *s = insert(f, v, h);
    int full = !s && f->n_series >= f->max_series;
    pthread_mutex_unlock(&m->lock);
    if (s) {
        *out = s;
        return WABOT_OK;
    }
    if (!full)
        return wb_error(f->ctx, WABOT_ERR_NOMEM, "out of memory");
    *out = f->overflow_series;
    return wb_error(f->ctx, WABOT_ERR_TOO_LARGE, "metric %s already has its "
                    "%zu series", f->name, f->max_series);
}

int wabot_metrics_series(wabot_metric_family *f, const char *const *values,
                         size_t n, wabot_metric_series **out)
{
    if (out)
        *out = NULL;
    if (!f || !out)
        return wb_error(f ? f->ctx : NULL, WABOT_ERR_INVAL,
                        "wabot_metrics_series: NULL family or out");
    int rc = check_values(f, values, n);
    if (rc != WABOT_OK)
        return rc;
    uint64_t h = hash_values(f->m, values, n);
    wabot_metric_series *s = lookup(f, values, h);
    if (s) {
        *out = s;
        return WABOT_OK;
    }
    return create(f, values, h, out);
}

/* ---- updates ------------------------------------------------------- */

/* An update that is not for this kind of series. */
static int refuse(wabot_metric_series *s)
{
    if (!s || s->kind != WB_SERIES_OVERFLOW)
        return WABOT_ERR_INVAL;
    atomic_fetch_add_explicit(&s->fam->overflow, 1, memory_order_relaxed);
    return WABOT_ERR_TOO_LARGE;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static void add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        bits, &old, to_bits(from_bits(old) + v), memory_order_relaxed,
        memory_order_relaxed))
        ;
}

void wb_series_add(wabot_metric_series *s, int64_t delta)
{
    atomic_fetch_add_explicit(&s->count, delta, memory_order_relaxed);
}

int wabot_metrics_counter_add(wabot_metric_series *s, uint64_t n)
{
    if (!s || s->kind != WABOT_METRIC_COUNTER)
        return refuse(s);
    wb_series_add(s, (int64_t)n);
    return WABOT_OK;
}

int wabot_metrics_gauge_set(wabot_metric_series *s, double v)
{
    if (!s || s->kind != WABOT_METRIC_GAUGE)
        return refuse(s);
    atomic_store_explicit(&s->bits, to_bits(v), memory_order_relaxed);
    return WABOT_OK;
}

int wabot_metrics_gauge_add(wabot_metric_series *s, double v)
{
    if (!s || s->kind != WABOT_METRIC_GAUGE)
        return refuse(s);
    add_double(&s->bits, v);
    return WABOT_OK;
}

/* Index of the first bound >= v; n_bounds (+Inf) if none or v is NaN. */
static size_t bucket_of(const wabot_metric_family *f, double v)
{
    size_t lo = 0, hi = f->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return isnan(v) ? f->n_bounds : lo;
}

int wabot_metrics_histogram_observe(wabot_metric_series *s, double v)
{
    if (!s || s->kind != WABOT_METRIC_HISTOGRAM)
        return refuse(s);
    atomic_fetch_add_explicit(&s->buckets[bucket_of(s->fam, v)], 1,
                              memory_order_relaxed);
    add_double(&s->bits, v);
    return WABOT_OK;
}

void wb_series_read(const wabot_metric_series *s, int64_t *count,
                    double *value, uint64_t *cum)
{
    wabot_metric_series *w = (wabot_metric_series *)s; /* atomics only */
    *count = atomic_load_explicit(&w->count, memory_order_relaxed);
    *value = from_bits(atomic_load_explicit(&w->bits, memory_order_relaxed));
    if (s->kind != WABOT_METRIC_HISTOGRAM)
        return;
    uint64_t total = 0;
    for (size_t i = 0; i <= s->fam->n_bounds; i++) {
        total += atomic_load_explicit(&w->buckets[i], memory_order_relaxed);
        cum[i] = total;
    }
}

/* ---- updates by label values --------------------------------------- */

static wabot_metric_series *series_of(wabot_metric_family *f, int type,
                                      const char *const *v, size_t n,
                                      int *rc)
{
    wabot_metric_series *s = NULL;
    if (f && f->type != type) {
        *rc = wb_error(f->ctx, WABOT_ERR_INVAL, "metric %s is not of the "
                       "updated type", f->name);
        return NULL;
    }
    *rc = wabot_metrics_series(f, v, n, &s);
    return s; /* the overflow series when full: its update counts that */
}

int wabot_metrics_counter_add_labels(wabot_metric_family *f,
                                     const char *const *values,
                                     size_t n_values, uint64_t n)
{
    int rc;
    wabot_metric_series *s =
        series_of(f, WABOT_METRIC_COUNTER, values, n_values, &rc);
    return s ? wabot_metrics_counter_add(s, n) : rc;
}

int wabot_metrics_gauge_set_labels(wabot_metric_family *f,
                                   const char *const *values,
                                   size_t n_values, double v)
{
    int rc;
    wabot_metric_series *s =
        series_of(f, WABOT_METRIC_GAUGE, values, n_values, &rc);
    return s ? wabot_metrics_gauge_set(s, v) : rc;
}

int wabot_metrics_gauge_add_labels(wabot_metric_family *f,
                                   const char *const *values,
                                   size_t n_values, double v)
{
    int rc;
    wabot_metric_series *s =
        series_of(f, WABOT_METRIC_GAUGE, values, n_values, &rc);
    return s ? wabot_metrics_gauge_add(s, v) : rc;
}

int wabot_metrics_histogram_observe_labels(wabot_metric_family *f,
                                           const char *const *values,
                                           size_t n_values, double v)
{
    int rc;
    wabot_metric_series *s =
        series_of(f, WABOT_METRIC_HISTOGRAM, values, n_values, &rc);
    return s ? wabot_metrics_histogram_observe(s, v) : rc;
}

uint64_t wabot_metrics_family_overflow(const wabot_metric_family *f)
{
    if (!f)
        return 0;
    return atomic_load_explicit(&((wabot_metric_family *)f)->overflow,
                                memory_order_relaxed);
}

void wb_metrics_series_hide(wabot_metric_series *s, int hidden)
{
    if (s != NULL && s->kind != WB_SERIES_OVERFLOW)
        atomic_store_explicit(&s->hidden, hidden != 0, memory_order_relaxed);
}
