/* Name -> object table for the metrics registry: readers (wb_count on
 * every message, the family lookup) never lock; writers are serialised by
 * the registry lock. Growing publishes a new copy of the slots and keeps
 * the old one for readers still probing it. */
#include <string.h>

#include "registry.h"
#include "siphash.h"

struct wb_name_slots {
    size_t mask;
    wb_name_slots *older; /* superseded copy, freed with the table */
    _Atomic(wb_name_entry *) slot[];
};

#define INITIAL_SLOTS 64

static wb_name_slots *slots_new(const wabot_allocator *a, size_t n)
{
    wb_name_slots *s =
        wb_calloc(a, 1, sizeof *s + n * sizeof(_Atomic(wb_name_entry *)));
    if (!s)
        return NULL;
    s->mask = n - 1;
    for (size_t i = 0; i < n; i++)
        atomic_init(&s->slot[i], NULL);
    return s;
}

int wb_nametab_init(wb_nametab *t, const wabot_allocator *a)
{
    t->alloc = a;
    t->n = 0;
    wb_siphash_key(t, &t->k0, &t->k1);
    wb_name_slots *s = slots_new(a, INITIAL_SLOTS);
    atomic_init(&t->cur, s);
    return s ? WABOT_OK : WABOT_ERR_NOMEM;
}

void wb_nametab_free(wb_nametab *t)
{
    wb_name_slots *s = atomic_load(&t->cur);
    if (s)
        for (size_t i = 0; i <= s->mask; i++)
            wb_free(t->alloc, atomic_load(&s->slot[i]));
    while (s) {
        wb_name_slots *older = s->older;
        wb_free(t->alloc, s);
        s = older;
    }
    atomic_store(&t->cur, NULL);
}

static uint64_t hash_key(const wb_nametab *t, const char *key)
{
    return wb_siphash13(t->k0, t->k1, key, strlen(key));
}

void *wb_nametab_get(const wb_nametab *t, const char *key)
{
    wb_name_slots *s = atomic_load_explicit(&t->cur, memory_order_acquire);
    uint64_t h = hash_key(t, key);
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        wb_name_entry *e =
            atomic_load_explicit(&s->slot[i], memory_order_acquire);
        if (!e)
            return NULL;
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e->val;
    }
}

/* Place e in the first free slot of its probe sequence (writers only). */
static void place(wb_name_slots *s, wb_name_entry *e)
{
    size_t i = e->hash & s->mask;
    while (atomic_load_explicit(&s->slot[i], memory_order_relaxed))
        i = (i + 1) & s->mask;
    atomic_store_explicit(&s->slot[i], e, memory_order_release);
}

static int grow(wb_nametab *t)
{
    wb_name_slots *old = atomic_load_explicit(&t->cur, memory_order_relaxed);
    wb_name_slots *s = slots_new(t->alloc, (old->mask + 1) * 2);
    if (!s)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i <= old->mask; i++) {
        wb_name_entry *e = atomic_load_explicit(&old->slot[i],
                                                memory_order_relaxed);
        if (e)
            place(s, e);
    }
    s->older = old;
    atomic_store_explicit(&t->cur, s, memory_order_release);
    return WABOT_OK;
}

int wb_nametab_put(wb_nametab *t, const char *key, void *val)
{
    wb_name_slots *s = atomic_load_explicit(&t->cur, memory_order_relaxed);
    if ((t->n + 1) * 2 > s->mask + 1 && grow(t) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    wb_name_entry *e = wb_malloc(t->alloc, sizeof *e);
    if (!e)
        return WABOT_ERR_NOMEM;
    e->hash = hash_key(t, key);
    e->key = key;
    e->val = val;
    place(atomic_load_explicit(&t->cur, memory_order_relaxed), e);
    t->n++;
    return WABOT_OK;
}
