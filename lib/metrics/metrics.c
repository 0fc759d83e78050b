/* The metrics registry of a context: validation and registration of metric
 * families (Prometheus naming rules), family creation. Series and updates
 * are in series.c, named counters in named_counters.c. */
#include <math.h>
#include <string.h>

#include "registry.h"
#include "siphash.h"

wb_metrics *wb_metrics_new(const wabot_allocator *a)
{
    wb_metrics *m = wb_calloc(a, 1, sizeof *m);
    if (!m)
        return NULL;
    m->alloc = a;
    pthread_mutex_init(&m->lock, NULL);
    wb_siphash_key(m, &m->k0, &m->k1);
    m->c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    for (size_t i = 0; i < WB_TURN_SERIES; i++)
        atomic_init(&m->turn[i], NULL);
    for (size_t i = 0; i < WB_WEBHOOK_SERIES; i++)
        atomic_init(&m->webhook[i], NULL);
    int rc = wb_nametab_init(&m->families, a);
    if (wb_nametab_init(&m->counters, a) != WABOT_OK)
        rc = WABOT_ERR_NOMEM;
    if (rc != WABOT_OK) {
        wb_metrics_free(m);
        return NULL;
    }
    return m;
}

static void family_free(wb_metrics *m, wabot_metric_family *f)
{
    const wabot_allocator *a = m->alloc;
    for (size_t i = 0; i <= f->mask && f->slots; i++)
        wb_free(a, atomic_load(&f->slots[i]));
    wb_free(a, f->slots);
    wb_free(a, f->overflow_series);
    for (size_t i = 0; i < f->n_labels && f->labels; i++)
        wb_free(a, f->labels[i]);
    wb_free(a, f->labels);
    wb_free(a, f->bounds);
    wb_free(a, f->name);
    wb_free(a, f->help);
    wb_free(a, f->counter_name);
    wb_free(a, f);
}

void wb_metrics_free(wb_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_all; i++)
        family_free(m, m->all[i]);
    wb_free(m->alloc, m->all);
    wb_nametab_free(&m->families);
    wb_nametab_free(&m->counters);
    if (m->c_numeric != (locale_t)0)
        freelocale(m->c_numeric);
    pthread_mutex_destroy(&m->lock);
    wb_free(m->alloc, m);
}

/* ---- validation ---------------------------------------------------- */

static int is_alpha_(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (colon only if `colon`), 1..MAX_NAME bytes. */
static int valid_name(const char *s, int colon)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > WABOT_METRIC_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!is_alpha_(c) && !(colon && c == ':') && !(i > 0 && is_digit(c)))
            return 0;
    }
    return 1;
}

static int check_labels(const wabot_ctx *ctx, const wabot_metric_def *def)
{
    if (def->n_labels > WABOT_METRIC_MAX_LABELS)
        return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: %zu labels, at "
                        "most %d", def->name, def->n_labels,
                        WABOT_METRIC_MAX_LABELS);
    if (def->n_labels > 0 && !def->labels)
        return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: labels is NULL",
                        def->name);
    for (size_t i = 0; i < def->n_labels; i++) {
        const char *l = def->labels[i];
        if (!valid_name(l, 0) || strncmp(l, "__", 2) == 0)
            return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: label name "
                            "'%.64s' is not [a-zA-Z_][a-zA-Z0-9_]* or starts "
                            "with __", def->name, l ? l : "(null)");
        if (def->type == WABOT_METRIC_HISTOGRAM && strcmp(l, "le") == 0)
            return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: 'le' is "
                            "reserved for histogram buckets", def->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(def->labels[j], l) == 0)
                return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: label "
                                "'%s' given twice", def->name, l);
    }
    return WABOT_OK;
}

static int check_buckets(const wabot_ctx *ctx, const wabot_metric_def *def)
{
    if (def->type != WABOT_METRIC_HISTOGRAM)
        return def->n_buckets == 0
                   ? WABOT_OK
                   : wb_error(ctx, WABOT_ERR_INVAL, "metric %s: only "
                              "histograms have buckets", def->name);
    if (def->n_buckets == 0 || def->n_buckets > WABOT_METRIC_MAX_BUCKETS ||
        !def->buckets)
        return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: a histogram needs "
                        "1..%d bucket bounds", def->name,
                        WABOT_METRIC_MAX_BUCKETS);
    for (size_t i = 0; i < def->n_buckets; i++) {
        double b = def->buckets[i];
        if (!isfinite(b) || (i > 0 && !(b > def->buckets[i - 1])))
            return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: bucket bounds "
                            "must be finite and strictly increasing (+Inf "
                            "is implicit)", def->name);
    }
    return WABOT_OK;
}

/* Validate def (read up to version 1's members) and fill spec. */
static int spec_from_def(const wabot_ctx *ctx, const wabot_metric_def *def,
                         wb_family_spec *spec)
{
    if (def->version < 1)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_metric_def.version must be >= 1");
    if (!valid_name(def->name, 1))
        return wb_error(ctx, WABOT_ERR_INVAL, "metric name '%.64s' is not "
                        "[a-zA-Z_:][a-zA-Z0-9_:]* of 1..%d bytes",
                        def->name ? def->name : "(null)",
                        WABOT_METRIC_MAX_NAME);
    if (def->type < WABOT_METRIC_COUNTER || def->type > WABOT_METRIC_HISTOGRAM)
        return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: unknown type %d",
                        def->name, def->type);
    if (def->max_series > WABOT_METRIC_MAX_SERIES)
        return wb_error(ctx, WABOT_ERR_INVAL, "metric %s: max_series over "
                        "%d", def->name, WABOT_METRIC_MAX_SERIES);
    int rc = check_labels(ctx, def);
    if (rc == WABOT_OK)
        rc = check_buckets(ctx, def);
    if (rc != WABOT_OK)
        return rc;
    spec->name = def->name;
    spec->help = def->help ? def->help : "";
    spec->type = def->type;
    spec->labels = def->labels;
    spec->n_labels = def->n_labels;
    spec->bounds = def->buckets;
    spec->n_bounds = def->n_buckets;
    spec->max_series = def->n_labels == 0 ? 1
                       : def->max_series ? def->max_series
                                         : WABOT_METRIC_DEFAULT_SERIES;
    return WABOT_OK;
}

static int same_definition(const wabot_metric_family *f,
                           const wb_family_spec *s)
{
    if (f->type != s->type || strcmp(f->help, s->help) != 0 ||
        f->n_labels != s->n_labels || f->n_bounds != s->n_bounds ||
        f->max_series != s->max_series)
        return 0;
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(f->labels[i], s->labels[i]) != 0)
            return 0;
    for (size_t i = 0; i < s->n_bounds; i++)
        if (f->bounds[i] != s->bounds[i])
            return 0;
    return 1;
}

/* ---- creation ------------------------------------------------------ */

static int copy_spec(const wabot_allocator *a, wabot_metric_family *f,
                     const wb_family_spec *s)
{
    f->name = wb_strdup(a, s->name);
    f->help = wb_strdup(a, s->help);
    if (!f->name || !f->help)
        return WABOT_ERR_NOMEM;
    if (s->n_labels) {
        f->labels = wb_calloc(a, s->n_labels, sizeof *f->labels);
        if (!f->labels)
            return WABOT_ERR_NOMEM;
        f->n_labels = s->n_labels;
        for (size_t i = 0; i < s->n_labels; i++)
            if (!(f->labels[i] = wb_strdup(a, s->labels[i])))
                return WABOT_ERR_NOMEM;
    }
    if (s->n_bounds) {
        f->bounds = wb_malloc(a, s->n_bounds * sizeof *f->bounds);
        if (!f->bounds)
            return WABOT_ERR_NOMEM;
        memcpy(f->bounds, s->bounds, s->n_bounds * sizeof *f->bounds);
        f->n_bounds = s->n_bounds;
    }
    return WABOT_OK;
}

static int alloc_slots(const wabot_allocator *a, wabot_metric_family *f)
{
    size_t n = 2;
    while (n < 2 * f->max_series)
        n *= 2;
    f->slots = wb_malloc(a, n * sizeof *f->slots);
    if (!f->slots)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        atomic_init(&f->slots[i], NULL);
    f->mask = n - 1;
    return WABOT_OK;
}

static int remember(wb_metrics *m, wabot_metric_family *f)
{
    if (m->n_all == m->cap_all) {
        size_t cap = m->cap_all ? m->cap_all * 2 : 16;
        void *p = wb_realloc(m->alloc, m->all, cap * sizeof *m->all);
        if (!p)
            return WABOT_ERR_NOMEM;
        m->all = p;
        m->cap_all = cap;
    }
    m->all[m->n_all++] = f;
    return WABOT_OK;
}

wabot_metric_family *wb_family_create(wb_metrics *m, wabot_ctx *ctx,
                                      const wb_family_spec *spec)
{
    wabot_metric_family *f = wb_calloc(m->alloc, 1, sizeof *f);
    if (!f)
        return NULL;
    f->m = m;
    f->ctx = ctx;
    f->type = spec->type;
    f->max_series = spec->max_series;
    atomic_init(&f->overflow, 0);
    int rc = copy_spec(m->alloc, f, spec);
    if (rc == WABOT_OK)
        rc = alloc_slots(m->alloc, f);
    if (rc == WABOT_OK)
        rc = wb_series_setup(f);
    if (rc == WABOT_OK)
        rc = remember(m, f);
    if (rc != WABOT_OK) {
        family_free(m, f);
        return NULL;
    }
    return f;
}

/* Errors are recorded on ectx (NULL for the library's own families, so a
 * turn never overwrites the detail of the caller's last failure). */
int wb_metrics_register_on(wabot_ctx *ctx, const wabot_ctx *ectx,
                           const wabot_metric_def *def,
                           wabot_metric_family **out)
{
    wb_family_spec spec = {0};
    int rc = spec_from_def(ectx, def, &spec);
    if (rc != WABOT_OK)
        return rc;
    wb_metrics *m = ctx->metrics;
    pthread_mutex_lock(&m->lock);
    wabot_metric_family *f = wb_nametab_get(&m->families, spec.name);
    if (f && !same_definition(f, &spec))
        rc = wb_error(ectx, WABOT_ERR_EXISTS, "metric %s is registered with "
                      "another definition%s", spec.name,
                      f->counter_name ? " (a named counter's name)" : "");
    if (!f) {
        f = wb_family_create(m, ctx, &spec);
        rc = f ? wb_nametab_put(&m->families, f->name, f) : WABOT_ERR_NOMEM;
        if (rc == WABOT_OK)
            f->exported = 1;
        else
            wb_error(ectx, rc, "out of memory");
    }
    pthread_mutex_unlock(&m->lock);
    if (rc == WABOT_OK)
        *out = f;
    return rc;
}

int wabot_metrics_register(wabot_ctx *ctx, const wabot_metric_def *def,
                           wabot_metric_family **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !def || !out)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_metrics_register: NULL ctx, def or out");
    return wb_metrics_register_on(ctx, ctx, def, out);
}
