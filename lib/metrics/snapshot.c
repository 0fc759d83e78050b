/* One read of every family: the source of the JSON and Prometheus text
 * and of the flat sample view for bindings. The family list is copied
 * under the registry lock (creation is rare); the values are read with
 * one atomic load each, without a lock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "strbuf.h"

struct wb_sample {
    const char *name;
    double value;
    const wabot_metric_family *f;
    const wabot_metric_series *s;
    const char *le; /* bucket samples only */
};

/* ---- numbers as text ----------------------------------------------- */

locale_t wb_metrics_c_locale_enter(const wb_metrics *m)
{
    return m->c_numeric != (locale_t)0 ? uselocale(m->c_numeric)
                                       : (locale_t)0;
}

void wb_metrics_c_locale_leave(locale_t old)
{
    if (old != (locale_t)0)
        uselocale(old);
}

void wb_metric_fmt_double(char buf[32], double v)
{
    if (isnan(v)) {
        strcpy(buf, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(buf, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* ---- reading ------------------------------------------------------- */

static int by_values(const void *a, const void *b)
{
    const wabot_metric_series *x = ((const wb_snap_series *)a)->s;
    const wabot_metric_series *y = ((const wb_snap_series *)b)->s;
    for (size_t i = 0; i < x->fam->n_labels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

/* Exported families by name, then the named counters left unexported. */
static int by_name(const void *a, const void *b)
{
    const wabot_metric_family *x = ((const wb_snap_family *)a)->f;
    const wabot_metric_family *y = ((const wb_snap_family *)b)->f;
    if (x->exported != y->exported)
        return y->exported - x->exported;
    return strcmp(x->name, y->name);
}

static size_t count_series(const wabot_metric_family *f)
{
    size_t n = 0;
    for (size_t i = 0; i <= f->mask; i++)
        n += atomic_load_explicit(&f->slots[i], memory_order_acquire) != NULL;
    return n;
}

static int name_buckets(const wabot_allocator *a, wb_snap_family *sf)
{
    const wabot_metric_family *f = sf->f;
    static const char *const suffix[3] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        wb_strbuf b;
        wb_strbuf_init(&b, a);
        wb_strbuf_printf(&b, "%s%s", f->name, suffix[i]);
        if (!(sf->suffixed[i] = wb_strbuf_take(&b)))
            return WABOT_ERR_NOMEM;
    }
    if (!(sf->le = wb_calloc(a, f->n_bounds + 1, sizeof *sf->le)))
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i <= f->n_bounds; i++) {
        char num[32];
        wb_metric_fmt_double(num, i < f->n_bounds ? f->bounds[i] : INFINITY);
        if (!(sf->le[i] = wb_strdup(a, num)))
            return WABOT_ERR_NOMEM;
    }
    return WABOT_OK;
}

static int read_family(const wabot_allocator *a, wb_snap_family *sf)
{
    const wabot_metric_family *f = sf->f;
    sf->overflow = wabot_metrics_family_overflow(f);
    size_t cap = count_series(f); /* later arrivals wait for the next read */
    sf->series = wb_calloc(a, cap ? cap : 1, sizeof *sf->series);
    if (!sf->series)
        return WABOT_ERR_NOMEM;
    size_t nb = f->type == WABOT_METRIC_HISTOGRAM ? f->n_bounds + 1 : 0;
    uint64_t *cum = NULL;
    if (nb && !(cum = sf->cum_block = wb_calloc(a, cap ? cap * nb : 1,
                                                sizeof *cum)))
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i <= f->mask && sf->n < cap; i++) {
        const wabot_metric_series *s =
            atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (!s || atomic_load_explicit(&s->hidden, memory_order_relaxed))
            continue;
        wb_snap_series *ss = &sf->series[sf->n++];
        ss->s = s;
        ss->cum = cum ? cum + (sf->n - 1) * nb : NULL;
        wb_series_read(s, &ss->count, &ss->value, ss->cum);
    }
    qsort(sf->series, sf->n, sizeof *sf->series, by_values);
    return nb ? name_buckets(a, sf) : WABOT_OK;
}

static void free_family(const wabot_allocator *a, wb_snap_family *sf)
{
    wb_free(a, sf->cum_block);
    wb_free(a, sf->series);
    for (size_t i = 0; i < 3; i++)
        wb_free(a, sf->suffixed[i]);
    for (size_t i = 0; sf->le && i <= sf->f->n_bounds; i++)
        wb_free(a, sf->le[i]);
    wb_free(a, sf->le);
}

void wabot_metrics_snapshot_free(wabot_metrics_snapshot *snap)
{
    if (!snap)
        return;
    const wabot_allocator *a = snap->alloc;
    for (size_t i = 0; i < snap->n_fams; i++)
        free_family(a, &snap->fams[i]);
    wb_free(a, snap->fams);
    wb_free(a, snap->samples);
    wb_free(a, snap);
}

static int copy_family_list(wb_metrics *m, wabot_metrics_snapshot *snap)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n_all;
    snap->fams = wb_calloc(m->alloc, n ? n : 1, sizeof *snap->fams);
    for (size_t i = 0; snap->fams && i < n; i++)
        snap->fams[i].f = m->all[i];
    pthread_mutex_unlock(&m->lock);
    if (!snap->fams)
        return WABOT_ERR_NOMEM;
    snap->n_fams = n;
    return WABOT_OK;
}

wabot_metrics_snapshot *wb_snapshot_read(const wabot_ctx *ctx)
{
    wb_metrics *m = ctx->metrics;
    wabot_metrics_snapshot *snap = wb_calloc(m->alloc, 1, sizeof *snap);
    if (!snap)
        return NULL;
    snap->alloc = m->alloc;
    snap->timestamp_ms = wb_now(ctx);
    int rc = copy_family_list(m, snap);
    locale_t old = wb_metrics_c_locale_enter(m);
    for (size_t i = 0; rc == WABOT_OK && i < snap->n_fams; i++) {
        rc = read_family(m->alloc, &snap->fams[i]);
        snap->n_exported += snap->fams[i].f->exported;
    }
    wb_metrics_c_locale_leave(old);
    if (rc != WABOT_OK) {
        wabot_metrics_snapshot_free(snap);
        return NULL;
    }
    qsort(snap->fams, snap->n_fams, sizeof *snap->fams, by_name);
    return snap;
}

/* ---- the flat sample view ------------------------------------------ */

static size_t samples_of(const wb_snap_family *sf)
{
    size_t per = sf->f->type == WABOT_METRIC_HISTOGRAM
                     ? sf->f->n_bounds + 3 : 1;
    return sf->n * per;
}

static void add_samples(wabot_metrics_snapshot *snap, const wb_snap_family *sf)
{
    const wabot_metric_family *f = sf->f;
    for (size_t i = 0; i < sf->n; i++) {
        const wb_snap_series *ss = &sf->series[i];
        wb_sample base = {f->name, 0, f, ss->s, NULL};
        if (f->type != WABOT_METRIC_HISTOGRAM) {
            base.value = f->type == WABOT_METRIC_COUNTER ? (double)ss->count
                                                         : ss->value;
            snap->samples[snap->n_samples++] = base;
            continue;
        }
        for (size_t k = 0; k <= f->n_bounds; k++) {
            wb_sample b = {sf->suffixed[0], (double)ss->cum[k], f, ss->s,
                           sf->le[k]};
            snap->samples[snap->n_samples++] = b;
        }
        wb_sample sum = {sf->suffixed[1], ss->value, f, ss->s, NULL};
        wb_sample cnt = {sf->suffixed[2], (double)ss->cum[f->n_bounds], f,
                         ss->s, NULL};
        snap->samples[snap->n_samples++] = sum;
        snap->samples[snap->n_samples++] = cnt;
    }
}

int wabot_metrics_snapshot_take(const wabot_ctx *ctx,
                                wabot_metrics_snapshot **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !out)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_metrics_snapshot_take: NULL ctx or out");
    wabot_metrics_snapshot *snap = wb_snapshot_read(ctx);
    if (!snap)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < snap->n_exported; i++)
        n += samples_of(&snap->fams[i]);
    snap->samples = wb_calloc(snap->alloc, n ? n : 1, sizeof *snap->samples);
    if (!snap->samples) {
        wabot_metrics_snapshot_free(snap);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < snap->n_exported; i++)
        add_samples(snap, &snap->fams[i]);
    *out = snap;
    return WABOT_OK;
}

size_t wabot_metrics_snapshot_count(const wabot_metrics_snapshot *snap)
{
    return snap ? snap->n_samples : 0;
}

static const wb_sample *sample(const wabot_metrics_snapshot *snap, size_t i)
{
    return snap && i < snap->n_samples ? &snap->samples[i] : NULL;
}

const char *wabot_metrics_snapshot_name(const wabot_metrics_snapshot *snap,
                                        size_t i)
{
    const wb_sample *s = sample(snap, i);
    return s ? s->name : NULL;
}

double wabot_metrics_snapshot_value(const wabot_metrics_snapshot *snap,
                                    size_t i)
{
    const wb_sample *s = sample(snap, i);
    return s ? s->value : 0;
}

size_t wabot_metrics_snapshot_label_count(const wabot_metrics_snapshot *snap,
                                          size_t i)
{
    const wb_sample *s = sample(snap, i);
    return s ? s->f->n_labels + (s->le != NULL) : 0;
}

const char *wabot_metrics_snapshot_label_name(
    const wabot_metrics_snapshot *snap, size_t i, size_t j)
{
    const wb_sample *s = sample(snap, i);
    if (!s || j >= s->f->n_labels + (s->le != NULL))
        return NULL;
    return j < s->f->n_labels ? s->f->labels[j] : "le";
}

const char *wabot_metrics_snapshot_label_value(
    const wabot_metrics_snapshot *snap, size_t i, size_t j)
{
    const wb_sample *s = sample(snap, i);
    if (!s || j >= s->f->n_labels + (s->le != NULL))
        return NULL;
    return j < s->f->n_labels ? s->s->values[j] : s->le;
}
