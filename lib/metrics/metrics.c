/* Named counters. Lookups take a read lock and add atomically, so the
 * per-message path never serialises on a mutex once a name exists. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "strbuf.h"

typedef struct counter {
    char *name;
    int64_t value; /* atomic */
} counter;

struct wb_metrics {
    const wabot_allocator *alloc;
    pthread_rwlock_t lock;
    counter *slots; /* open addressing, power-of-two size */
    size_t n, cap;
};

#define NAME_MAX_LEN 200

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

wb_metrics *wb_metrics_new(const wabot_allocator *a)
{
    wb_metrics *m = wb_calloc(a, 1, sizeof *m);
    if (!m)
        return NULL;
    m->alloc = a;
    m->cap = 64;
    m->slots = wb_calloc(a, m->cap, sizeof *m->slots);
    if (!m->slots) {
        wb_free(a, m);
        return NULL;
    }
    pthread_rwlock_init(&m->lock, NULL);
    return m;
}

void wb_metrics_free(wb_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        wb_free(m->alloc, m->slots[i].name);
    wb_free(m->alloc, m->slots);
    pthread_rwlock_destroy(&m->lock);
    wb_free(m->alloc, m);
}

static counter *find(const wb_metrics *m, const char *name)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
        counter *c = &m->slots[i];
        if (!c->name || strcmp(c->name, name) == 0)
            return c;
    }
}

static int grow(wb_metrics *m)
{
    size_t cap = m->cap * 2;
    counter *slots = wb_calloc(m->alloc, cap, sizeof *slots);
    if (!slots)
        return WABOT_ERR_NOMEM;
    counter *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].name)
            *find(m, old[i].name) = old[i];
    wb_free(m->alloc, old);
    return WABOT_OK;
}

static int add(wb_metrics *m, const char *name, int64_t delta)
{
    pthread_rwlock_rdlock(&m->lock);
    counter *c = find(m, name);
    if (c->name) {
        __atomic_add_fetch(&c->value, delta, __ATOMIC_RELAXED);
        pthread_rwlock_unlock(&m->lock);
        return WABOT_OK;
    }
    pthread_rwlock_unlock(&m->lock);

    int rc = WABOT_OK;
    pthread_rwlock_wrlock(&m->lock);
    c = find(m, name);
    if (!c->name) {
        if ((m->n + 1) * 2 > m->cap && (rc = grow(m)) == WABOT_OK)
            c = find(m, name);
        if (rc == WABOT_OK && !(c->name = wb_strdup(m->alloc, name)))
            rc = WABOT_ERR_NOMEM;
        if (rc == WABOT_OK)
            m->n++;
    }
    if (rc == WABOT_OK)
        __atomic_add_fetch(&c->value, delta, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

void wb_count(wabot_ctx *ctx, const char *name, int64_t delta)
{
    if (add(ctx->metrics, name, delta) != WABOT_OK)
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
    int rc = add(ctx->metrics, name, delta);
    return rc == WABOT_OK ? rc : wb_error(ctx, rc, "out of memory");
}

int64_t wabot_metrics_counter(const wabot_ctx *ctx, const char *name)
{
    if (!ctx || !name)
        return 0;
    wb_metrics *m = ctx->metrics;
    pthread_rwlock_rdlock(&m->lock);
    counter *c = find(m, name);
    int64_t v = c->name ? __atomic_load_n(&c->value, __ATOMIC_RELAXED) : 0;
    pthread_rwlock_unlock(&m->lock);
    return v;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const counter *const *)a)->name,
                  (*(const counter *const *)b)->name);
}

char *wabot_metrics_json(const wabot_ctx *ctx)
{
    if (!ctx)
        return NULL;
    wb_metrics *m = ctx->metrics;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    pthread_rwlock_rdlock(&m->lock);
    const counter **sorted = wb_malloc(&ctx->alloc, (m->n + 1) * sizeof *sorted);
    if (!sorted) {
        pthread_rwlock_unlock(&m->lock);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].name)
            sorted[n++] = &m->slots[i];
    qsort(sorted, n, sizeof *sorted, by_name);
    wb_strbuf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        wb_strbuf_json_str(&b, sorted[i]->name);
        wb_strbuf_printf(&b, ":%lld,", (long long)__atomic_load_n(
                                           &sorted[i]->value, __ATOMIC_RELAXED));
    }
    pthread_rwlock_unlock(&m->lock);
    wb_free(&ctx->alloc, sorted);
    wb_strbuf_printf(&b, "\"timestamp\":%lld}", (long long)wb_now(ctx));
    return wb_strbuf_take(&b);
}
