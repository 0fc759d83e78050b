/* The per-customer lock table: serialises the turns of one customer inside
 * this process while turns of other customers run in parallel.
 *
 * An entry exists only while a thread holds or waits for its key, so the
 * table holds at most one entry per thread and never needs to grow or
 * evict. Each entry has its own condition variable: releasing a key wakes
 * only a thread waiting for that key. */
#include <pthread.h>
#include <string.h>

#include "htab.h"
#include "state.h"

#define LOCKTAB_BUCKETS 64 /* a power of two */

typedef struct lock_entry {
    wb_hnode node; /* by key (points at key[]) */
    size_t refs;   /* holder + waiters */
    int busy;
    pthread_cond_t cv;
    char key[];
} lock_entry;

struct wb_locktab {
    wabot_allocator alloc; /* copied; libc functions when created with NULL */
    int has_alloc;
    pthread_mutex_t mu;
    wb_htab keys; /* lock_entry by key; fixed size (lib/core/htab.c) */
};

static const wabot_allocator *table_alloc(const wb_locktab *t)
{
    return t->has_alloc ? &t->alloc : NULL;
}

/* The link to key's entry (or the end of its chain). The table stays at
 * LOCKTAB_BUCKETS: it holds at most one entry per thread. */
static wb_hnode **find(wb_locktab *t, const char *key, size_t len,
                       uint64_t *hash)
{
    *hash = wb_htab_hash(&t->keys, key, len);
    return wb_htab_slot(&t->keys, *hash, key, len);
}

static void entry_free(wb_locktab *t, lock_entry *e)
{
    pthread_cond_destroy(&e->cv);
    wb_free(table_alloc(t), e);
}

static void drop_entry(wb_hnode *n, void *ud)
{
    entry_free(ud, (lock_entry *)n);
}

wb_locktab *wb_locktab_new(const wabot_allocator *a)
{
    wb_locktab *t = wb_calloc(a, 1, sizeof *t);
    if (t == NULL)
        return NULL;
    if (a != NULL) {
        t->alloc = *a;
        t->has_alloc = 1;
    }
    if (wb_htab_init(&t->keys, table_alloc(t), LOCKTAB_BUCKETS) != WABOT_OK) {
        wb_free(a, t);
        return NULL;
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        wb_htab_free(&t->keys);
        wb_free(a, t);
        return NULL;
    }
    return t;
}

void wb_locktab_free(wb_locktab *t)
{
    if (t == NULL)
        return;
    /* Entries left here belong to keys still locked: a caller bug, but
     * free them rather than leak. */
    wb_htab_each(&t->keys, drop_entry, t);
    wb_htab_free(&t->keys);
    pthread_mutex_destroy(&t->mu);
    wabot_allocator a = t->alloc;
    wb_free(t->has_alloc ? &a : NULL, t);
}

static lock_entry *entry_new(wb_locktab *t, const char *key, size_t n,
                             uint64_t hash)
{
    lock_entry *e = wb_malloc(table_alloc(t), sizeof *e + n + 1);
    if (e == NULL)
        return NULL;
    if (pthread_cond_init(&e->cv, NULL) != 0) {
        wb_free(table_alloc(t), e);
        return NULL;
    }
    memcpy(e->key, key, n + 1);
    e->node = (wb_hnode){NULL, hash, e->key, n};
    e->refs = 0;
    e->busy = 0;
    return e;
}

int wb_lock(wb_locktab *t, const char *key)
{
    if (t == NULL || key == NULL)
        return WABOT_ERR_INVAL;
    size_t len = strlen(key);
    uint64_t h;
    pthread_mutex_lock(&t->mu);
    lock_entry *e = (lock_entry *)*find(t, key, len, &h);
    if (e == NULL) {
        e = entry_new(t, key, len, h);
        if (e == NULL) {
            pthread_mutex_unlock(&t->mu);
            return WABOT_ERR_NOMEM;
        }
        wb_htab_link(&t->keys, &e->node);
    }
    e->refs++;
    while (e->busy)
        pthread_cond_wait(&e->cv, &t->mu);
    e->busy = 1;
    pthread_mutex_unlock(&t->mu);
    return WABOT_OK;
}

void wb_unlock(wb_locktab *t, const char *key)
{
    if (t == NULL || key == NULL)
        return;
    uint64_t h;
    size_t len = strlen(key);
    pthread_mutex_lock(&t->mu);
    wb_hnode **slot = find(t, key, len, &h);
    lock_entry *e = (lock_entry *)*slot;
    if (e == NULL || !e->busy) { /* not locked: ignore the misuse */
        pthread_mutex_unlock(&t->mu);
        return;
    }
    e->busy = 0;
    if (--e->refs == 0) {
        wb_htab_unlink_at(&t->keys, slot);
        entry_free(t, e);
    } else {
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&t->mu);
}
