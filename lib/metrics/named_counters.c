/* Named counters (wb_count, wabot_metrics_add): each name is a counter
 * family without labels, exported to Prometheus as
 * wabot_<name with every byte outside [a-zA-Z0-9_] as '_'>_total. The
 * name -> series table is read without a lock, so the per-message path
 * costs one hash, a probe and an atomic add once a name exists. */
#include <stdint.h>
#include <string.h>

#include "registry.h"
#include "strbuf.h"

#define NAME_MAX_LEN 200

static int prom_byte(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* "messages.handled" -> "wabot_messages_handled_total". Owned. */
static char *prometheus_name(const wabot_allocator *a, const char *name)
{
    wb_strbuf b;
    wb_strbuf_init(&b, a);
    wb_strbuf_puts(&b, "wabot_");
    for (const char *p = name; *p; p++)
        wb_strbuf_putc(&b, prom_byte((unsigned char)*p) ? *p : '_');
    wb_strbuf_puts(&b, "_total");
    return wb_strbuf_take(&b);
}

/* Caller holds m->lock. The family is listed under its Prometheus name
 * unless another family has it already (then the counter stays readable
 * by name and in the JSON, but is not exported). */
static wabot_metric_series *create(wb_metrics *m, wabot_ctx *ctx,
                                   const char *name)
{
    char *pname = prometheus_name(m->alloc, name);
    wb_strbuf help;
    wb_strbuf_init(&help, m->alloc);
    wb_strbuf_printf(&help, "Named counter %s", name);
    char *htext = wb_strbuf_take(&help);
    wabot_metric_family *f = NULL;
    if (pname && htext) {
        wb_family_spec spec = {pname, htext, WABOT_METRIC_COUNTER, NULL, 0,
                               NULL, 0, 1};
        f = wb_family_create(m, ctx, &spec);
    }
    wb_free(m->alloc, pname);
    wb_free(m->alloc, htext);
    if (!f || !(f->counter_name = wb_strdup(m->alloc, name)))
        return NULL; /* a created family is freed with the registry */
    wabot_metric_series *s = wb_series_single(f);
    if (!s || wb_nametab_put(&m->counters, f->counter_name, s) != WABOT_OK)
        return NULL;
    if (!wb_nametab_get(&m->families, f->name) &&
        wb_nametab_put(&m->families, f->name, f) == WABOT_OK)
        f->exported = 1;
    return s;
}

/* Callers name their counters with string constants: the name's address
 * picks a slot of m->recent, and the series found there is the one when
 * its name is the same text (a name in a reused buffer just misses).
 * strcmp instead of SipHash and a probe: a webhook counts six times. */
static _Atomic(wabot_metric_series *) *recent_slot(wb_metrics *m,
                                                   const char *name)
{
    uintptr_t a = (uintptr_t)name;
    return &m->recent[(a ^ a >> 6 ^ a >> 12) % WB_RECENT_COUNTERS];
}

static wabot_metric_series *find_or_create(wabot_ctx *ctx, const char *name)
{
    wb_metrics *m = ctx->metrics;
    _Atomic(wabot_metric_series *) *slot = recent_slot(m, name);
    wabot_metric_series *s = atomic_load_explicit(slot, memory_order_acquire);
    if (s && strcmp(s->fam->counter_name, name) == 0)
        return s;
    s = wb_nametab_get(&m->counters, name);
    if (s) {
        atomic_store_explicit(slot, s, memory_order_release);
        return s;
    }
    pthread_mutex_lock(&m->lock);
    s = wb_nametab_get(&m->counters, name);
    if (!s)
        s = create(m, ctx, name);
    pthread_mutex_unlock(&m->lock);
    return s;
}

void wb_count(wabot_ctx *ctx, const char *name, int64_t delta)
{
    wabot_metric_series *s = find_or_create(ctx, name);
    if (s)
        wb_series_add(s, delta);
    else
        wb_log(ctx, WABOT_LOG_WARN, "metrics", "dropped increment of %s",
               name);
}

int wabot_metrics_add(wabot_ctx *ctx, const char *name, int64_t delta)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!name || !*name || strlen(name) > NAME_MAX_LEN)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "counter name must have 1..%d bytes", NAME_MAX_LEN);
    wabot_metric_series *s = find_or_create(ctx, name);
    if (!s)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    wb_series_add(s, delta);
    return WABOT_OK;
}

int64_t wabot_metrics_counter(const wabot_ctx *ctx, const char *name)
{
    if (!ctx || !name)
        return 0;
    wabot_metric_series *s = wb_nametab_get(&ctx->metrics->counters, name);
    if (!s)
        return 0;
    int64_t count;
    double unused;
    wb_series_read(s, &count, &unused, NULL);
    return count;
}
