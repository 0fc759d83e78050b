/*
 * Metrics: counters, gauges and histograms kept by the context, exported as
 * JSON and as Prometheus text (doc/metrics.md).
 *
 * Two layers:
 *  - Named counters (wabot_metrics_counter / _add): string-keyed 64-bit
 *    counters without labels. Each also
 *    appears in Prometheus as `wabot_<name, non [a-zA-Z0-9_:] -> '_'>_total`
 *    (messages.handled -> wabot_messages_handled_total).
 *  - Metric families (wabot_metrics_register): a typed, labelled family
 *    with a fixed list of label names. Label values are resolved once to a
 *    series handle (wabot_metrics_series); updates by handle take no lock
 *    and allocate nothing.
 *
 * Counter names used by the library:
 *   webhook.requests, webhook.rejected.<code> (e.g. webhook.rejected.body_too_large),
 *   messages.received, messages.handled, messages.unhandled, messages.failed,
 *   state.conflicts, outbound.sent, outbound.failed (full list in
 *   doc/metrics.md).
 * Families registered by the library (on first use):
 *   wabot_turn_duration_seconds{outcome="handled|unhandled|failed"},
 *   wabot_webhook_request_duration_seconds{status="2xx|3xx|4xx|5xx"}.
 * Every function here is thread-safe.
 */
#ifndef WABOT_METRICS_H
#define WABOT_METRICS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Named counters                                                      */

/** Value of a counter; 0 if it was never incremented. */
WABOT_API int64_t wabot_metrics_counter(const wabot_ctx *ctx,
                                        const char *name);
/** Add `delta` to a counter (hosts may keep their own counters here).
 *  WABOT_ERR_INVAL for NULL/empty names, NOMEM. */
WABOT_API int wabot_metrics_add(wabot_ctx *ctx, const char *name,
                                int64_t delta);
/** All counters as a JSON object {"name": value, ...} sorted by name, plus
 *  "timestamp" (ms) and "families" (the registered metric families, shape
 *  in doc/metrics.md). A named counter called "timestamp" or "families" is
 *  left out of the object (read it with wabot_metrics_counter()). Owned;
 *  free with wabot_ctx_mem_free(). NULL on NOMEM. */
WABOT_API char *wabot_metrics_json(const wabot_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Metric families                                                     */

/** Kind of a metric family. Append-only. */
typedef enum wabot_metric_type {
    WABOT_METRIC_COUNTER = 1,  /**< integer, only goes up */
    WABOT_METRIC_GAUGE = 2,    /**< double, set or moved either way */
    WABOT_METRIC_HISTOGRAM = 3 /**< observations counted into buckets */
} wabot_metric_type;

/** Limits of a definition. */
#define WABOT_METRIC_MAX_LABELS 8
#define WABOT_METRIC_MAX_BUCKETS 64
/** max_series 0 means this many series per family. */
#define WABOT_METRIC_DEFAULT_SERIES 1000
/** Largest max_series accepted. */
#define WABOT_METRIC_MAX_SERIES 65536
/** Longest metric name, label name, label value, in bytes. */
#define WABOT_METRIC_MAX_NAME 200
#define WABOT_METRIC_MAX_VALUE 1024

#define WABOT_METRIC_DEF_VERSION 1
/**
 * Definition of a metric family, filled by the caller (start from
 * memset 0 and set version = WABOT_METRIC_DEF_VERSION). Read during
 * wabot_metrics_register() only; nothing is kept.
 */
typedef struct wabot_metric_def {
    uint32_t version;   /**< WABOT_METRIC_DEF_VERSION */
    const char *name;   /**< [a-zA-Z_:][a-zA-Z0-9_:]*, 1..MAX_NAME bytes;
                             counters should end in _total */
    const char *help;   /**< one line of UTF-8 text; NULL = "" */
    int type;           /**< a wabot_metric_type */
    const char *const *labels; /**< n_labels label names, each
                                    [a-zA-Z_][a-zA-Z0-9_]*, not starting
                                    with "__", distinct; "le" not allowed
                                    on histograms */
    size_t n_labels;    /**< 0..WABOT_METRIC_MAX_LABELS */
    const double *buckets; /**< histograms: upper bounds, finite and
                                strictly increasing; +Inf is implicit */
    size_t n_buckets;   /**< histograms: 1..WABOT_METRIC_MAX_BUCKETS;
                             other types: 0 */
    size_t max_series;  /**< label-value combinations kept; 0 =
                             WABOT_METRIC_DEFAULT_SERIES; at most
                             WABOT_METRIC_MAX_SERIES */
} wabot_metric_def;

/** A registered family; borrowed, valid until wabot_ctx_free(). */
typedef struct wabot_metric_family wabot_metric_family;
/** One label-value combination of a family; borrowed, valid until
 *  wabot_ctx_free(). */
typedef struct wabot_metric_series wabot_metric_series;

/**
 * Register a metric family on ctx and set *out to it. Registering a name
 * again with an identical definition (name, help, type, labels, buckets,
 * max_series) gives the same family; a family without labels has its one
 * series from the start (exported as 0). *out is borrowed and valid until
 * wabot_ctx_free(). Any thread.
 * Errors: WABOT_ERR_INVAL (NULL argument, version 0, a name, label or
 * bucket list breaking the rules above; the detail says which),
 * WABOT_ERR_EXISTS (the name is registered with another definition, or is
 * the Prometheus name of a named counter), WABOT_ERR_NOMEM. *out is NULL on
 * failure.
 */
WABOT_API int wabot_metrics_register(wabot_ctx *ctx,
                                     const wabot_metric_def *def,
                                     wabot_metric_family **out);

/**
 * Resolve label values (n must equal the family's label count; values in
 * the order of the definition's labels, each 0..MAX_VALUE bytes of UTF-8)
 * to a series, creating it on first use, and set *out. Looking up an
 * existing series takes no lock; creating one takes the metrics lock and
 * allocates. Any thread.
 * Errors: WABOT_ERR_INVAL (NULL family/out, wrong arity, NULL or too long
 * value), WABOT_ERR_NOMEM, WABOT_ERR_TOO_LARGE (the family already has
 * max_series series: *out is then set to the family's overflow series,
 * whose updates are only counted as overflowed, see
 * wabot_metrics_family_overflow()). *out is NULL on the other errors.
 */
WABOT_API int wabot_metrics_series(wabot_metric_family *family,
                                   const char *const *values, size_t n,
                                   wabot_metric_series **out);

/*
 * Updates by handle: lock-free, no allocation, any thread. Each returns
 * WABOT_OK; WABOT_ERR_INVAL for a NULL series or one of another type
 * (no detail message: this is the hot path); WABOT_ERR_TOO_LARGE for the
 * overflow series (the update is counted as overflowed and dropped).
 */

/** Add n to a counter series. */
WABOT_API int wabot_metrics_counter_add(wabot_metric_series *series,
                                        uint64_t n);
/** Set a gauge series to v. */
WABOT_API int wabot_metrics_gauge_set(wabot_metric_series *series,
                                      double v);
/** Add v (may be negative) to a gauge series (compare-and-swap loop). */
WABOT_API int wabot_metrics_gauge_add(wabot_metric_series *series,
                                      double v);
/** Observe v on a histogram series: the first bucket whose upper bound is
 *  >= v (a value equal to a bound goes into that bucket; above the last
 *  bound, or NaN, into +Inf) and the sum (compare-and-swap loop). */
WABOT_API int wabot_metrics_histogram_observe(wabot_metric_series *series,
                                              double v);

/*
 * Updates by label values: wabot_metrics_series() then the update. For an
 * existing series the lookup hashes the values (SipHash) and probes a
 * fixed-size table without locking (roughly 3-5x the cost of an update by
 * handle, see doc/metrics.md). Same errors as wabot_metrics_series() plus
 * those of the update; an update that cannot get a series because of the
 * series limit is counted as overflowed. Any thread.
 */

/** Add n to the counter series with these label values. */
WABOT_API int wabot_metrics_counter_add_labels(wabot_metric_family *family,
                                               const char *const *values,
                                               size_t n_values, uint64_t n);
/** Set the gauge series with these label values to v. */
WABOT_API int wabot_metrics_gauge_set_labels(wabot_metric_family *family,
                                             const char *const *values,
                                             size_t n_values, double v);
/** Add v to the gauge series with these label values. */
WABOT_API int wabot_metrics_gauge_add_labels(wabot_metric_family *family,
                                             const char *const *values,
                                             size_t n_values, double v);
/** Observe v on the histogram series with these label values. */
WABOT_API int wabot_metrics_histogram_observe_labels(
    wabot_metric_family *family, const char *const *values, size_t n_values,
    double v);

/** Updates dropped because the family had max_series series. 0 for NULL.
 *  Any thread. */
WABOT_API uint64_t wabot_metrics_family_overflow(
    const wabot_metric_family *family);

/* ------------------------------------------------------------------ */
/* Export                                                              */

/**
 * Every exported metric in the Prometheus text exposition format 0.0.4:
 * families sorted by name, each with # HELP and # TYPE, series sorted by
 * label values; histograms as cumulative _bucket{le="..."} (with +Inf),
 * _sum and _count; named counters under their mapped names. Families with
 * labels and no series yet are left out. Owned; free with
 * wabot_ctx_mem_free(). NULL for a NULL ctx or on NOMEM. Any thread.
 */
WABOT_API char *wabot_metrics_prometheus(const wabot_ctx *ctx);

/**
 * A snapshot: every exported metric read once (one atomic read per value,
 * so each series is consistent with itself; series are not consistent with
 * each other), as flat Prometheus samples: a histogram series gives one
 * sample per bucket (name_bucket, with an "le" label), then name_sum and
 * name_count. Meant for bindings that cannot parse text.
 */
typedef struct wabot_metrics_snapshot wabot_metrics_snapshot;

/** Take a snapshot of ctx's metrics into *out (free with
 *  wabot_metrics_snapshot_free(); it must not outlive ctx). Any thread.
 *  WABOT_ERR_INVAL (NULL argument), WABOT_ERR_NOMEM. */
WABOT_API int wabot_metrics_snapshot_take(const wabot_ctx *ctx,
                                          wabot_metrics_snapshot **out);
/** Free a snapshot; NULL is a no-op. */
WABOT_API void wabot_metrics_snapshot_free(wabot_metrics_snapshot *snap);
/** Number of samples (0 for NULL). */
WABOT_API size_t wabot_metrics_snapshot_count(
    const wabot_metrics_snapshot *snap);
/** Sample i's metric name (with _bucket/_sum/_count for histograms);
 *  borrowed from the snapshot. NULL if i is out of range. */
WABOT_API const char *wabot_metrics_snapshot_name(
    const wabot_metrics_snapshot *snap, size_t i);
/** Sample i's value (0 if i is out of range). */
WABOT_API double wabot_metrics_snapshot_value(
    const wabot_metrics_snapshot *snap, size_t i);
/** Number of labels of sample i (including "le" on buckets). */
WABOT_API size_t wabot_metrics_snapshot_label_count(
    const wabot_metrics_snapshot *snap, size_t i);
/** Name of label j of sample i; borrowed from the snapshot. NULL if out of
 *  range. */
WABOT_API const char *wabot_metrics_snapshot_label_name(
    const wabot_metrics_snapshot *snap, size_t i, size_t j);
/** Value of label j of sample i; borrowed from the snapshot. NULL if out
 *  of range. */
WABOT_API const char *wabot_metrics_snapshot_label_value(
    const wabot_metrics_snapshot *snap, size_t i, size_t j);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_METRICS_H */
