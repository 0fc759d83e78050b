/* The per-customer lock table: serialises the turns of one customer inside
 * this process while turns of other customers run in parallel.
 *
 * An entry exists only while a thread holds or waits for its key, so the
 * table holds at most one entry per thread and never needs to grow or
 * evict. Each entry has its own condition variable: releasing a key wakes
 * only a thread waiting for that key. The table is in LOCKTAB_SHARDS
 * shards, each with its own mutex, picked by the key's hash: threads
 * turning different customers (every message takes and releases a key)
 * do not share one mutex's cache line. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "mutex.h"
#include "htab.h"
#include "siphash.h"
#include "state.h"

#define LOCKTAB_BUCKETS 16 /* per shard, a power of two */
#define LOCKTAB_SHARDS 16  /* a power of two */

typedef struct lock_entry {
    wb_hnode node; /* by key (key[]); first member */
    size_t refs;   /* holder + waiters */
    int busy;
    pthread_cond_t cv;
    char key[];
} lock_entry;

typedef struct lock_shard {
    pthread_mutex_t mu;
    wb_htab keys; /* lock_entry by key; fixed size (lib/core/htab.c) */
    char pad[64]; /* neighbours' mutexes on other cache lines */
} lock_shard;

struct wb_locktab {
    wabot_allocator alloc; /* copied; libc functions when created with NULL */
    int has_alloc;
    uint64_t k0, k1; /* the hash key of every shard's table */
    lock_shard shards[LOCKTAB_SHARDS];
};

static const wabot_allocator *table_alloc(const wb_locktab *t)
{
    return t->has_alloc ? &t->alloc : NULL;
}

/* Key's shard, locked; *hash is the key's hash in its table. */
static lock_shard *lock_shard_of(wb_locktab *t, const char *key, size_t len,
                                 uint64_t *hash)
{
    *hash = wb_siphash13(t->k0, t->k1, key, len);
    /* The table's buckets use the low bits, the shard the high ones. */
    lock_shard *sh = &t->shards[(*hash >> 48) & (LOCKTAB_SHARDS - 1)];
    pthread_mutex_lock(&sh->mu);
    return sh;
}

/* The link to key's entry (or the end of its chain). The table stays at
 * LOCKTAB_BUCKETS: a shard holds at most one entry per thread. */
static wb_hnode **find(lock_shard *sh, const char *key, size_t len,
                       uint64_t hash)
{
    return wb_htab_slot(&sh->keys, hash, key, len);
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

static void shards_free(wb_locktab *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* Entries left here belong to keys still locked: a caller bug,
         * but free them rather than leak. */
        wb_htab_each(&t->shards[i].keys, drop_entry, t);
        wb_htab_free(&t->shards[i].keys);
        pthread_mutex_destroy(&t->shards[i].mu);
    }
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
    wb_siphash_key(t, &t->k0, &t->k1);
    for (size_t i = 0; i < LOCKTAB_SHARDS; i++) {
        lock_shard *sh = &t->shards[i];
        if (wb_htab_init(&sh->keys, table_alloc(t), LOCKTAB_BUCKETS,
                         offsetof(lock_entry, key)) !=
            WABOT_OK) {
            shards_free(t, i);
            wb_free(a, t);
            return NULL;
        }
        if (wb_mutex_init(&sh->mu) != 0) {
            wb_htab_free(&sh->keys);
            shards_free(t, i);
            wb_free(a, t);
            return NULL;
        }
    }
    return t;
}

void wb_locktab_free(wb_locktab *t)
{
    if (t == NULL)
        return;
    shards_free(t, LOCKTAB_SHARDS);
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
    e->node = (wb_hnode){NULL, (uint32_t)hash, (uint32_t)n};
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
    lock_shard *sh = lock_shard_of(t, key, len, &h);
    lock_entry *e = (lock_entry *)*find(sh, key, len, h);
    if (e == NULL) {
        e = entry_new(t, key, len, h);
        if (e == NULL) {
            pthread_mutex_unlock(&sh->mu);
            return WABOT_ERR_NOMEM;
        }
        wb_htab_link(&sh->keys, &e->node);
    }
    e->refs++;
    while (e->busy)
        pthread_cond_wait(&e->cv, &sh->mu);
    e->busy = 1;
    pthread_mutex_unlock(&sh->mu);
    return WABOT_OK;
}

void wb_unlock(wb_locktab *t, const char *key)
{
    if (t == NULL || key == NULL)
        return;
    uint64_t h;
    size_t len = strlen(key);
    lock_shard *sh = lock_shard_of(t, key, len, &h);
    wb_hnode **slot = find(sh, key, len, h);
    lock_entry *e = (lock_entry *)*slot;
    if (e == NULL || !e->busy) { /* not locked: ignore the misuse */
        pthread_mutex_unlock(&sh->mu);
        return;
    }
    e->busy = 0;
    if (--e->refs == 0) {
        wb_htab_unlink_at(&sh->keys, slot);
        entry_free(t, e);
    } else {
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&sh->mu);
}
