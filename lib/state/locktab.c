/* The per-customer lock table: serialises the turns of one customer inside
 * this process while turns of other customers run in parallel.
 *
 * An entry exists only while a thread holds or waits for its key, so the
 * table holds at most one entry per thread and never needs to grow or
 * evict. Each entry has its own condition variable: releasing a key wakes
 * only a thread waiting for that key. */
#include <pthread.h>
#include <string.h>

#include "state.h"

#define LOCKTAB_BUCKETS 64 /* a power of two */

typedef struct lock_entry {
    struct lock_entry *next;
    size_t refs; /* holder + waiters */
    int busy;
    pthread_cond_t cv;
    char key[];
} lock_entry;

struct wb_locktab {
    wabot_allocator alloc; /* copied; libc functions when created with NULL */
    int has_alloc;
    pthread_mutex_t mu;
    lock_entry *buckets[LOCKTAB_BUCKETS];
};

static const wabot_allocator *table_alloc(const wb_locktab *t)
{
    return t->has_alloc ? &t->alloc : NULL;
}

/* FNV-1a: the table is tiny and keyed by identifiers the library already
 * validated; there is nothing to flood. */
static size_t bucket_of(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (size_t)(h & (LOCKTAB_BUCKETS - 1));
}

static lock_entry **find(wb_locktab *t, const char *key)
{
    lock_entry **p = &t->buckets[bucket_of(key)];
    while (*p != NULL && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static void entry_free(wb_locktab *t, lock_entry *e)
{
    pthread_cond_destroy(&e->cv);
    wb_free(table_alloc(t), e);
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
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
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
    for (size_t i = 0; i < LOCKTAB_BUCKETS; i++) {
        lock_entry *e = t->buckets[i];
        while (e != NULL) {
            lock_entry *next = e->next;
            entry_free(t, e);
            e = next;
        }
    }
    pthread_mutex_destroy(&t->mu);
    wabot_allocator a = t->alloc;
    wb_free(t->has_alloc ? &a : NULL, t);
}

static lock_entry *entry_new(wb_locktab *t, const char *key)
{
    size_t n = strlen(key);
    lock_entry *e = wb_malloc(table_alloc(t), sizeof *e + n + 1);
    if (e == NULL)
        return NULL;
    if (pthread_cond_init(&e->cv, NULL) != 0) {
        wb_free(table_alloc(t), e);
        return NULL;
    }
    memcpy(e->key, key, n + 1);
    e->next = NULL;
    e->refs = 0;
    e->busy = 0;
    return e;
}

int wb_lock(wb_locktab *t, const char *key)
{
    if (t == NULL || key == NULL)
        return WABOT_ERR_INVAL;
    pthread_mutex_lock(&t->mu);
    lock_entry **slot = find(t, key);
    lock_entry *e = *slot;
    if (e == NULL) {
        e = entry_new(t, key);
        if (e == NULL) {
            pthread_mutex_unlock(&t->mu);
            return WABOT_ERR_NOMEM;
        }
        *slot = e;
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
    pthread_mutex_lock(&t->mu);
    lock_entry **slot = find(t, key);
    lock_entry *e = *slot;
    if (e == NULL || !e->busy) { /* not locked: ignore the misuse */
        pthread_mutex_unlock(&t->mu);
        return;
    }
    e->busy = 0;
    if (--e->refs == 0) {
        *slot = e->next;
        entry_free(t, e);
    } else {
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&t->mu);
}
