#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
/* Per-organisation option overrides. Reads take a read lock (turns of
 * different organisations never wait for each other) and skip even that
 * while no organisation has an override. A replaced string is kept until
 * the map is freed, so a pointer handed to a reader stays valid for the
 * context's lifetime; overrides change rarely (configuration, the admin
 * API), so what is kept stays small. */
#include <stdlib.h>
#include <string.h>

#include "options.h"

typedef struct org_entry {
    char *org;
    wb_optval *vals; /* n_vals of them */
    uint8_t *set;    /* 1 where vals[i] overrides */
    size_t n_vals;
} org_entry;

struct wb_orgopts {
    const wabot_allocator *a;
    wabot_allocator alloc;
    pthread_rwlock_t lock;
    org_entry *e; /* sorted by org */
    size_t n, cap;
    char **kept;  /* replaced strings */
    size_t n_kept, cap_kept;
    atomic_size_t n_overrides;
};

wb_orgopts *wb_orgopts_new(const wabot_allocator *a)
{
    wb_orgopts *o = wb_calloc(a, 1, sizeof *o);
    if (!o)
        return NULL;
    if (a) {
        o->alloc = *a;
        o->a = &o->alloc;
    }
    /* Turns read overrides all the time; a change (the admin API) must
     * not wait behind an endless stream of readers. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&o->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    atomic_init(&o->n_overrides, 0);
    return o;
}

void wb_orgopts_free(wb_orgopts *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        wb_optvals_free(o->e[i].vals, o->e[i].n_vals, o->a);
        wb_free(o->a, o->e[i].vals);
        wb_free(o->a, o->e[i].set);
        wb_free(o->a, o->e[i].org);
    }
    for (size_t i = 0; i < o->n_kept; i++)
        wb_free(o->a, o->kept[i]);
    wb_free(o->a, o->kept);
    wb_free(o->a, o->e);
    pthread_rwlock_destroy(&o->lock);
    wabot_allocator copy = o->alloc;
    wb_free(o->a ? &copy : NULL, o);
}

/* Index of org, or where it would go (*found 0). */
static size_t search(const wb_orgopts *o, const char *org, int *found)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(o->e[mid].org, org);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static org_entry *entry_for(wb_orgopts *o, const char *org)
{
    int found;
    size_t at = search(o, org, &found);
    if (found)
        return &o->e[at];
    void *items = o->e;
    if (wb_grow(o->a, &items, o->n + 1, &o->cap, sizeof *o->e))
        return NULL;
    o->e = items;
    char *copy = wb_strdup(o->a, org);
    if (!copy)
        return NULL;
    memmove(&o->e[at + 1], &o->e[at], (o->n - at) * sizeof *o->e);
    o->e[at] = (org_entry){copy, NULL, NULL, 0};
    o->n++;
    return &o->e[at];
}

/* Make room for option i in an entry (schemas grow as modules are added). */
static int entry_reserve(const wabot_allocator *a, org_entry *e, size_t i)
{
    if (i < e->n_vals)
        return WABOT_OK;
    size_t n = i + 1 > 2 * e->n_vals ? i + 1 : 2 * e->n_vals;
    wb_optval *v = wb_realloc(a, e->vals, n * sizeof *v);
    if (!v)
        return WABOT_ERR_NOMEM;
    e->vals = v;
    uint8_t *s = wb_realloc(a, e->set, n);
    if (!s)
        return WABOT_ERR_NOMEM;
    e->set = s;
    memset(&e->vals[e->n_vals], 0, (n - e->n_vals) * sizeof *v);
    memset(&e->set[e->n_vals], 0, n - e->n_vals);
    e->n_vals = n;
    return WABOT_OK;
}

static int set_locked(wb_orgopts *o, const char *org, size_t i,
                      const wb_optval *v, wabot_option_type type)
{
    org_entry *e = entry_for(o, org);
    if (!e || entry_reserve(o->a, e, i) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    wb_optval nv = {v->i, NULL};
    if (type == WABOT_OPTION_STRING) {
        void *kept = o->kept;
        if (!(nv.s = wb_strdup(o->a, v->s ? v->s : "")) ||
            wb_grow(o->a, &kept, o->n_kept + 1, &o->cap_kept,
                      sizeof *o->kept)) {
            wb_free(o->a, nv.s);
            return WABOT_ERR_NOMEM;
        }
        o->kept = kept;
        if (e->vals[i].s)
            o->kept[o->n_kept++] = e->vals[i].s;
    }
    e->vals[i] = nv;
    if (!e->set[i])
        atomic_fetch_add(&o->n_overrides, 1);
    e->set[i] = 1;
    return WABOT_OK;
}

int wb_orgopts_set(wb_orgopts *o, const char *org, size_t i,
                   const wb_optval *v, wabot_option_type type)
{
    pthread_rwlock_wrlock(&o->lock);
    int rc = set_locked(o, org, i, v, type);
    pthread_rwlock_unlock(&o->lock);
    return rc;
}

int wb_orgopts_get(const wb_orgopts *o, const char *org, size_t i,
                   wb_optval *v)
{
    if (!o || !org || atomic_load(&o->n_overrides) == 0)
        return 0;
    wb_orgopts *m = (wb_orgopts *)o; /* the lock is not the value */
    pthread_rwlock_rdlock(&m->lock);
    int found, hit = 0;
    size_t at = search(m, org, &found);
    if (found && i < m->e[at].n_vals && m->e[at].set[i]) {
        *v = m->e[at].vals[i];
        hit = 1;
    }
    pthread_rwlock_unlock(&m->lock);
    return hit;
}

int wb_orgopts_copy(wb_orgopts *dst, const wb_orgopts *src,
                    const wb_schema *s)
{
    int rc = WABOT_OK;
    wb_orgopts *m = (wb_orgopts *)src;
    pthread_rwlock_rdlock(&m->lock);
    for (size_t k = 0; k < m->n && rc == WABOT_OK; k++) {
        const org_entry *e = &m->e[k];
        for (size_t i = 0; i < e->n_vals && i < s->n && rc == WABOT_OK; i++)
            if (e->set[i])
                rc = wb_orgopts_set(dst, e->org, i, &e->vals[i],
                                    s->defs[i].type);
    }
    pthread_rwlock_unlock(&m->lock);
    return rc;
}
