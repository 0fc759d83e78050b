/* The metrics registry shared by the files of lib/metrics. Private to the
 * module (the rest of the library uses lib/internal/metrics.h).
 *
 * Concurrency: everything that creates (families, series, named counters)
 * holds wb_metrics.lock; everything that reads or updates (lookups by
 * name or label values, updates, snapshots) takes no lock. Objects are
 * published with release stores into slots read with acquire loads, are
 * immutable once published except for their atomic values, and live until
 * the context is freed, so a reader never sees a half-built or freed one. */
#ifndef WB_METRICS_REGISTRY_H
#define WB_METRICS_REGISTRY_H

#include <locale.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ctx.h"
#include "metrics.h"

/* ---- name -> object table, lock-free reads ------------------------- */

typedef struct wb_name_entry {
    uint64_t hash;
    const char *key; /* owned by the value, lives as long as the table */
    void *val;
} wb_name_entry;

typedef struct wb_name_slots wb_name_slots;

/* Open addressing; grows by publishing a bigger copy. Superseded copies
 * are kept until the table is freed (readers may still be probing them),
 * which costs at most the size of the current copy. */
typedef struct wb_nametab {
    const wabot_allocator *alloc;
    _Atomic(wb_name_slots *) cur;
    size_t n; /* writers only */
    uint64_t k0, k1;
} wb_nametab;

int wb_nametab_init(wb_nametab *t, const wabot_allocator *a);
/* Frees the table and its entries, not the values. */
void wb_nametab_free(wb_nametab *t);
/* The value stored under key, or NULL. Lock-free. */
void *wb_nametab_get(const wb_nametab *t, const char *key);
/* Store key (absent) -> val. Writers serialise (wb_metrics.lock). NOMEM. */
int wb_nametab_put(wb_nametab *t, const char *key, void *val);

/* ---- families and series ------------------------------------------- */

/* Kind of the sink series that stands for "over the series limit". */
#define WB_SERIES_OVERFLOW 0

struct wabot_metric_series {
    int kind; /* the family's wabot_metric_type, or WB_SERIES_OVERFLOW */
    wabot_metric_family *fam;
    uint64_t hash;
    char **values;          /* fam->n_labels, immutable */
    _Atomic int64_t count;  /* counter value */
    _Atomic uint64_t bits;  /* gauge value or histogram sum (double bits) */
    _Atomic int hidden;     /* 1: left out of exports (wb_metrics_series_hide) */
    _Atomic uint64_t buckets[]; /* histogram: n_bounds + 1 (last = +Inf),
                                   not cumulative */
};

struct wabot_metric_family {
    wb_metrics *m;
    wabot_ctx *ctx; /* for error details */
    char *name;     /* Prometheus name */
    char *help;
    int type;
    char **labels;
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    size_t max_series; /* normalised: 1 without labels */
    size_t n_series;   /* under m->lock */
    size_t mask;       /* slots has mask + 1 >= 2 * max_series entries */
    _Atomic(wabot_metric_series *) *slots;
    wabot_metric_series *overflow_series;
    _Atomic uint64_t overflow;
    char *counter_name; /* the named counter this family carries, or NULL */
    int exported;       /* listed under its name (Prometheus, JSON) */
};

#define WB_TURN_SERIES 3
#define WB_WEBHOOK_SERIES 5
#define WB_LEGACY_SERIES 2
#define WB_RECENT_COUNTERS 64

struct wb_metrics {
    const wabot_allocator *alloc;
    pthread_mutex_t lock; /* creation only */
    wb_nametab families;  /* exported name -> family */
    wb_nametab counters;  /* named counter -> its series */
    wabot_metric_family **all; /* every family, creation order */
    size_t n_all, cap_all;
    uint64_t k0, k1;      /* label-value hash key */
    locale_t c_numeric;   /* for number text; (locale_t)0 if unavailable */
    /* Library series, resolved on first use (builtin.c). */
    _Atomic(wabot_metric_series *) turn[WB_TURN_SERIES];
    _Atomic(wabot_metric_series *) webhook[WB_WEBHOOK_SERIES];
    _Atomic(wabot_metric_series *) legacy[WB_LEGACY_SERIES];
    /* Named counters last found, by the address of the name passed
     * (named_counters.c): a hit is checked with strcmp, not hashed. */
    _Atomic(wabot_metric_series *) recent[WB_RECENT_COUNTERS];
};

/* A definition already validated and normalised (strings borrowed). */
typedef struct wb_family_spec {
    const char *name;
    const char *help;
    int type;
    const char *const *labels;
    size_t n_labels;
    const double *bounds;
    size_t n_bounds;
    size_t max_series;
} wb_family_spec;

/* Create a family from spec and add it to m->all (caller holds m->lock;
 * the family is not listed by name). NULL on NOMEM. */
wabot_metric_family *wb_family_create(wb_metrics *m, wabot_ctx *ctx,
                                      const wb_family_spec *spec);

/* wabot_metrics_register, recording error details on ectx (may be
 * NULL). */
int wb_metrics_register_on(wabot_ctx *ctx, const wabot_ctx *ectx,
                           const wabot_metric_def *def,
                           wabot_metric_family **out);

/* Create the family's overflow series and, without labels, its one
 * series (series.c; caller holds m->lock). NOMEM. */
int wb_series_setup(wabot_metric_family *f);
/* The one series of a family without labels. Lock-free. */
wabot_metric_series *wb_series_single(const wabot_metric_family *f);
/* Add delta (may be negative: named counters) to a counter series. */
void wb_series_add(wabot_metric_series *s, int64_t delta);
/* Read a series once: its counter value, its gauge value or histogram
 * sum, and for histograms the cumulative bucket counts into cum
 * (n_bounds + 1; the last is the observation count). */
void wb_series_read(const wabot_metric_series *s, int64_t *count,
                    double *value, uint64_t *cum);

/* ---- snapshot (snapshot.c), read by the writers --------------------- */

typedef struct wb_snap_series {
    const wabot_metric_series *s;
    int64_t count;  /* counter */
    double value;   /* gauge; histogram sum */
    uint64_t *cum;  /* histogram: cumulative bucket counts, n_bounds + 1 */
} wb_snap_series;

typedef struct wb_snap_family {
    const wabot_metric_family *f;
    wb_snap_series *series; /* sorted by label values */
    size_t n;
    uint64_t overflow;
    uint64_t *cum_block; /* every series' cum, one allocation */
    char *suffixed[3]; /* histograms: name_bucket, name_sum, name_count */
    char **le;         /* histograms: n_bounds + 1 "le" values */
} wb_snap_family;

typedef struct wb_sample wb_sample;

struct wabot_metrics_snapshot {
    const wabot_allocator *alloc;
    int64_t timestamp_ms;
    wb_snap_family *fams; /* every family, exported ones sorted by name
                             first, then the named counters not exported */
    size_t n_fams;
    size_t n_exported;
    wb_sample *samples; /* flat view, built by wabot_metrics_snapshot_take */
    size_t n_samples;
};

/* Read every family of ctx. NULL on NOMEM. */
wabot_metrics_snapshot *wb_snapshot_read(const wabot_ctx *ctx);

/* Shortest text that reads back as v ("NaN", "+Inf", "-Inf" for the
 * non-finite). Call between wb_metrics_c_locale_enter/leave: printf
 * follows LC_NUMERIC, which a host may have set to a decimal comma. */
void wb_metric_fmt_double(char buf[32], double v);
locale_t wb_metrics_c_locale_enter(const wb_metrics *m);
void wb_metrics_c_locale_leave(locale_t old);

#endif
