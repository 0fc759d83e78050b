/* The intrusive chained hash table (lib/internal/htab.h). */
#include <string.h>

#include "alloc.h"
#include "htab.h"
#include "siphash.h"

int wb_htab_init(wb_htab *t, const wabot_allocator *a, size_t nbuckets,
                 size_t key_off)
{
    memset(t, 0, sizeof *t);
    t->alloc = a;
    t->key_off = key_off;
    t->buckets = wb_calloc(a, nbuckets, sizeof *t->buckets);
    if (t->buckets == NULL)
        return WABOT_ERR_NOMEM;
    t->nbuckets = nbuckets;
    wb_siphash_key(t, &t->k0, &t->k1);
    return WABOT_OK;
}

void wb_htab_free(wb_htab *t)
{
    wb_free(t->alloc, t->buckets);
    t->buckets = NULL;
    t->nbuckets = t->count = 0;
}

wb_hnode **wb_htab_slot(const wb_htab *t, uint32_t hash, const char *key,
                        size_t klen)
{
    wb_hnode **p = &t->buckets[hash & (t->nbuckets - 1)];
    while (*p != NULL) {
        const wb_hnode *n = *p;
        if (n->hash == hash && n->klen == klen &&
            memcmp(wb_htab_key(t, n), key, klen) == 0)
            break;
        p = &(*p)->next;
    }
    return p;
}

int wb_htab_resize(wb_htab *t, size_t nbuckets)
{
    wb_hnode **b = wb_calloc(t->alloc, nbuckets, sizeof *b);
    if (b == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
        wb_hnode *n = t->buckets[i];
        while (n != NULL) {
            wb_hnode *next = n->next;
            size_t j = n->hash & (nbuckets - 1);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    wb_free(t->alloc, t->buckets);
    t->buckets = b;
    t->nbuckets = nbuckets;
    return WABOT_OK;
}

void wb_htab_link(wb_htab *t, wb_hnode *n)
{
    size_t i = n->hash & (t->nbuckets - 1);
    n->next = t->buckets[i];
    t->buckets[i] = n;
    t->count++;
}

void wb_htab_add(wb_htab *t, wb_hnode *n)
{
    if (t->count + 1 > t->nbuckets && t->nbuckets <= UINT32_MAX / 2 &&
        t->nbuckets <= SIZE_MAX / 2 / sizeof(wb_hnode *))
        (void)wb_htab_resize(t, t->nbuckets * 2); /* growth is optional */
    wb_htab_link(t, n);
}

void wb_htab_remove(wb_htab *t, wb_hnode *n)
{
    wb_hnode **p = &t->buckets[n->hash & (t->nbuckets - 1)];
    while (*p != n)
        p = &(*p)->next;
    *p = n->next;
    t->count--;
}

size_t wb_htab_sweep_bucket(wb_htab *t, size_t i,
                            int (*dead)(const wb_hnode *n, void *ud),
                            void (*drop)(wb_hnode *n, void *ud), void *ud)
{
    size_t gone = 0;
    wb_hnode **p = &t->buckets[i];
    while (*p != NULL) {
        wb_hnode *n = *p;
        if (dead(n, ud)) {
            *p = n->next;
            t->count--;
            gone++;
            drop(n, ud);
        } else {
            p = &n->next;
        }
    }
    return gone;
}

void wb_htab_each(wb_htab *t, void (*fn)(wb_hnode *n, void *ud), void *ud)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        wb_hnode *n = t->buckets[i];
        while (n != NULL) {
            wb_hnode *next = n->next;
            fn(n, ud);
            n = next;
        }
    }
}
