/* The two texts made from one snapshot: the JSON stats
 * (wabot_metrics_json) and the Prometheus text exposition format 0.0.4
 * (wabot_metrics_prometheus). Shapes in doc/metrics.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "strbuf.h"

static const char *type_name(int type)
{
    switch (type) {
    case WABOT_METRIC_COUNTER:
        return "counter";
    case WABOT_METRIC_GAUGE:
        return "gauge";
    default:
        return "histogram";
    }
}

static void put_double(wb_strbuf *b, double v)
{
    char num[32];
    wb_metric_fmt_double(num, v);
    wb_strbuf_puts(b, num);
}

/* ---- JSON ---------------------------------------------------------- */

static void json_double(wb_strbuf *b, double v)
{
    if (isfinite(v))
        put_double(b, v);
    else
        wb_strbuf_puts(b, "null");
}

static int by_counter_name(const void *a, const void *b)
{
    return strcmp((*(const wb_snap_family *const *)a)->f->counter_name,
                  (*(const wb_snap_family *const *)b)->f->counter_name);
}

/* The named counters, sorted by name, as "name":value, pairs. Names that
 * are the object's own keys are left out. */
static int json_named_counters(wb_strbuf *b, const wabot_metrics_snapshot *s)
{
    const wb_snap_family **named =
        wb_malloc(s->alloc, (s->n_fams + 1) * sizeof *named);
    if (!named)
        return WABOT_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n_fams; i++)
        if (s->fams[i].f->counter_name && s->fams[i].n == 1)
            named[n++] = &s->fams[i];
    qsort(named, n, sizeof *named, by_counter_name);
    for (size_t i = 0; i < n; i++) {
        const char *name = named[i]->f->counter_name;
        if (strcmp(name, "timestamp") == 0 || strcmp(name, "families") == 0)
            continue;
        wb_strbuf_json_str(b, name);
        wb_strbuf_printf(b, ":%lld,", (long long)named[i]->series[0].count);
    }
    wb_free(s->alloc, named);
    return WABOT_OK;
}

static void json_series(wb_strbuf *b, const wabot_metric_family *f,
                        const wb_snap_series *ss)
{
    wb_strbuf_puts(b, "{\"labels\":{");
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i)
            wb_strbuf_putc(b, ',');
        wb_strbuf_json_str(b, f->labels[i]);
        wb_strbuf_putc(b, ':');
        wb_strbuf_json_str(b, ss->s->values[i]);
    }
    wb_strbuf_puts(b, "},");
    if (f->type == WABOT_METRIC_COUNTER) {
        wb_strbuf_printf(b, "\"value\":%lld}", (long long)ss->count);
        return;
    }
    if (f->type == WABOT_METRIC_GAUGE) {
        wb_strbuf_puts(b, "\"value\":");
        json_double(b, ss->value);
        wb_strbuf_putc(b, '}');
        return;
    }
    wb_strbuf_printf(b, "\"count\":%llu,\"sum\":",
                     (unsigned long long)ss->cum[f->n_bounds]);
    json_double(b, ss->value);
    wb_strbuf_puts(b, ",\"buckets\":[");
    for (size_t k = 0; k <= f->n_bounds; k++)
        wb_strbuf_printf(b, "%s%llu", k ? "," : "",
                         (unsigned long long)ss->cum[k]);
    wb_strbuf_puts(b, "]}");
}

static void json_family(wb_strbuf *b, const wb_snap_family *sf)
{
    const wabot_metric_family *f = sf->f;
    wb_strbuf_json_str(b, f->name);
    wb_strbuf_printf(b, ":{\"type\":\"%s\",\"help\":", type_name(f->type));
    wb_strbuf_json_str(b, f->help);
    wb_strbuf_puts(b, ",\"labels\":[");
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i)
            wb_strbuf_putc(b, ',');
        wb_strbuf_json_str(b, f->labels[i]);
    }
    wb_strbuf_puts(b, "]");
    if (f->type == WABOT_METRIC_HISTOGRAM) {
        wb_strbuf_puts(b, ",\"bounds\":[");
        for (size_t k = 0; k < f->n_bounds; k++) {
            if (k)
                wb_strbuf_putc(b, ',');
            json_double(b, f->bounds[k]);
        }
        wb_strbuf_puts(b, "]");
    }
    wb_strbuf_printf(b, ",\"max_series\":%zu,\"overflow\":%llu,\"series\":[",
                     f->max_series, (unsigned long long)sf->overflow);
    for (size_t i = 0; i < sf->n; i++) {
        if (i)
            wb_strbuf_putc(b, ',');
        json_series(b, f, &sf->series[i]);
    }
    wb_strbuf_puts(b, "]}");
}

static int json_render(wb_strbuf *b, const wabot_metrics_snapshot *s)
{
    wb_strbuf_putc(b, '{');
    int rc = json_named_counters(b, s);
    wb_strbuf_puts(b, "\"families\":{");
    int first = 1;
    for (size_t i = 0; i < s->n_exported; i++) {
        if (s->fams[i].f->counter_name)
            continue;
        if (!first)
            wb_strbuf_putc(b, ',');
        first = 0;
        json_family(b, &s->fams[i]);
    }
    wb_strbuf_printf(b, "},\"timestamp\":%lld}", (long long)s->timestamp_ms);
    return rc;
}

/* ---- Prometheus text 0.0.4 ----------------------------------------- */

/* Escape \ and newline (HELP text), and " too (label values). */
static void put_escaped(wb_strbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            wb_strbuf_puts(b, "\\\\");
        else if (*s == '\n')
            wb_strbuf_puts(b, "\\n");
        else if (*s == '"' && quote)
            wb_strbuf_puts(b, "\\\"");
        else
            wb_strbuf_putc(b, *s);
    }
}

static void put_labels(wb_strbuf *b, const wabot_metric_family *f,
                       const wabot_metric_series *s, const char *le)
{
    if (f->n_labels == 0 && !le)
        return;
    wb_strbuf_putc(b, '{');
    for (size_t i = 0; i < f->n_labels; i++) {
        wb_strbuf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(b, s->values[i], 1);
        wb_strbuf_putc(b, '"');
    }
    if (le)
        wb_strbuf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    wb_strbuf_putc(b, '}');
}

static void prom_histogram(wb_strbuf *b, const wb_snap_family *sf,
                           const wb_snap_series *ss)
{
    const wabot_metric_family *f = sf->f;
    for (size_t k = 0; k <= f->n_bounds; k++) {
        wb_strbuf_puts(b, sf->suffixed[0]);
        put_labels(b, f, ss->s, sf->le[k]);
        wb_strbuf_printf(b, " %llu\n", (unsigned long long)ss->cum[k]);
    }
    wb_strbuf_puts(b, sf->suffixed[1]);
    put_labels(b, f, ss->s, NULL);
    wb_strbuf_putc(b, ' ');
    put_double(b, ss->value);
    wb_strbuf_putc(b, '\n');
    wb_strbuf_puts(b, sf->suffixed[2]);
    put_labels(b, f, ss->s, NULL);
    wb_strbuf_printf(b, " %llu\n", (unsigned long long)ss->cum[f->n_bounds]);
}

static void prom_family(wb_strbuf *b, const wb_snap_family *sf)
{
    const wabot_metric_family *f = sf->f;
    if (sf->n == 0)
        return;
    if (*f->help) {
        wb_strbuf_printf(b, "# HELP %s ", f->name);
        put_escaped(b, f->help, 0);
        wb_strbuf_putc(b, '\n');
    }
    wb_strbuf_printf(b, "# TYPE %s %s\n", f->name, type_name(f->type));
    for (size_t i = 0; i < sf->n; i++) {
        const wb_snap_series *ss = &sf->series[i];
        if (f->type == WABOT_METRIC_HISTOGRAM) {
            prom_histogram(b, sf, ss);
            continue;
        }
        wb_strbuf_puts(b, f->name);
        put_labels(b, f, ss->s, NULL);
        wb_strbuf_putc(b, ' ');
        if (f->type == WABOT_METRIC_COUNTER)
            wb_strbuf_printf(b, "%lld", (long long)ss->count);
        else
            put_double(b, ss->value);
        wb_strbuf_putc(b, '\n');
    }
}

#define OVERFLOW_NAME "wabot_metrics_series_overflow_total"

/* Only when some family dropped updates at its series limit. */
static void prom_overflow(wb_strbuf *b, const wabot_metrics_snapshot *s)
{
    int header = 0;
    for (size_t i = 0; i < s->n_exported; i++) {
        if (s->fams[i].overflow == 0)
            continue;
        if (!header)
            wb_strbuf_puts(b, "# HELP " OVERFLOW_NAME " Updates dropped "
                           "because the family had max_series series.\n"
                           "# TYPE " OVERFLOW_NAME " counter\n");
        header = 1;
        wb_strbuf_printf(b, OVERFLOW_NAME "{family=\"%s\"} %llu\n",
                         s->fams[i].f->name,
                         (unsigned long long)s->fams[i].overflow);
    }
}

static int prom_render(wb_strbuf *b, const wabot_metrics_snapshot *s)
{
    for (size_t i = 0; i < s->n_exported; i++)
        prom_family(b, &s->fams[i]);
    prom_overflow(b, s);
    return WABOT_OK;
}

/* ---- both ---------------------------------------------------------- */

/* Take a snapshot and write it with `emit`, numbers in the C locale. */
static char *render(const wabot_ctx *ctx,
                    int (*emit)(wb_strbuf *, const wabot_metrics_snapshot *))
{
    if (!ctx)
        return NULL;
    wabot_metrics_snapshot *s = wb_snapshot_read(ctx);
    if (!s)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    locale_t old = wb_metrics_c_locale_enter(ctx->metrics);
    int rc = emit(&b, s);
    wb_metrics_c_locale_leave(old);
    wabot_metrics_snapshot_free(s);
    if (rc != WABOT_OK) {
        wb_strbuf_free(&b);
        return NULL;
    }
    return wb_strbuf_take(&b);
}

char *wabot_metrics_json(const wabot_ctx *ctx)
{
    return render(ctx, json_render);
}

char *wabot_metrics_prometheus(const wabot_ctx *ctx)
{
    return render(ctx, prom_render);
}
