/* The memory storage backend: one mutex around a chained hash table.
 *
 * Versions come from one counter for the whole store, so a key that is
 * deleted (or expires) and is written again never gets back a version a
 * stale compare-and-set could still hold (no ABA).
 *
 * Expired entries are dropped lazily when an operation meets them, and by
 * a full sweep just before the table would grow; the sweep only happens
 * after at least a quarter of the buckets' worth of inserts, so its cost
 * is amortised O(1) per insert. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"
#include "storage.h"

#define MEM_MIN_BUCKETS 16

typedef struct mem_entry {
    struct mem_entry *next;
    uint64_t hash;
    uint64_t version;
    int64_t expires_at; /* ms since the epoch; 0 = never */
    char *val;          /* len bytes (+ NUL, for convenience) */
    size_t len;
    size_t klen;
    char key[]; /* klen bytes + NUL */
} mem_entry;

typedef struct mem_store {
    pthread_mutex_t mu;
    wabot_clock clock;
    mem_entry **buckets;
    size_t nbuckets;       /* a power of two */
    size_t count;          /* entries linked, expired or not */
    uint64_t last_version; /* store-wide: every write takes the next one */
    uint64_t k0, k1;       /* hash key */
} mem_store;

/* One operation's view of its key, filled by op_begin(). */
typedef struct mem_op {
    const char *key;
    size_t klen;
    uint64_t hash;
    int64_t now;
    mem_entry **slot; /* link to the live entry (valid until an insert) */
} mem_op;

/* ------------------------------------------------------------------ */
/* Hashing: SipHash-1-3 with a per-store random key (lib/core/siphash.c),
 * because keys embed phone numbers chosen by outsiders and chains must not
 * be floodable. */


/* ------------------------------------------------------------------ */
/* Table                                                               */

static int64_t system_now_ms(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_expired(const mem_entry *e, int64_t now)
{
    return e->expires_at != 0 && now >= e->expires_at;
}

/* The deadline of a TTL given now; saturates instead of overflowing. */
static int64_t deadline(int64_t now, int64_t ttl_ms)
{
    if (ttl_ms == 0)
        return 0;
    if (now > INT64_MAX - ttl_ms)
        return INT64_MAX;
    int64_t at = now + ttl_ms;
    return at != 0 ? at : 1; /* 0 would mean "never" */
}

static void entry_free(mem_entry *e)
{
    free(e->val);
    free(e);
}

static void unlink_entry(mem_store *st, mem_entry **slot)
{
    mem_entry *e = *slot;
    *slot = e->next;
    entry_free(e);
    st->count--;
}

static mem_entry **find_slot(mem_store *st, const mem_op *op)
{
    mem_entry **p = &st->buckets[op->hash & (st->nbuckets - 1)];
    while (*p != NULL) {
        const mem_entry *e = *p;
        if (e->hash == op->hash && e->klen == op->klen &&
            memcmp(e->key, op->key, op->klen) == 0)
            break;
        p = &(*p)->next;
    }
    return p;
}

static void sweep(mem_store *st, int64_t now)
{
    for (size_t i = 0; i < st->nbuckets; i++) {
        mem_entry **p = &st->buckets[i];
        while (*p != NULL) {
            if (is_expired(*p, now))
                unlink_entry(st, p);
            else
                p = &(*p)->next;
        }
    }
}

static void rehash(mem_store *st, size_t nbuckets)
{
    mem_entry **nb = calloc(nbuckets, sizeof *nb);
    if (nb == NULL)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < st->nbuckets; i++) {
        mem_entry *e = st->buckets[i];
        while (e != NULL) {
            mem_entry *next = e->next;
            size_t j = e->hash & (nbuckets - 1);
            e->next = nb[j];
            nb[j] = e;
            e = next;
        }
    }
    free(st->buckets);
    st->buckets = nb;
    st->nbuckets = nbuckets;
}

/* Called before an insert: at load factor 1, first drop what expired, and
 * grow only if the table is still at least three quarters full. */
static void make_room(mem_store *st, int64_t now)
{
    if (st->count + 1 <= st->nbuckets)
        return;
    sweep(st, now);
    if (st->count + 1 > st->nbuckets / 4 * 3 && st->nbuckets <= SIZE_MAX / 2)
        rehash(st, st->nbuckets * 2);
}

static int copy_value(const char *val, size_t len, char **out)
{
    char *v = malloc(len + 1);
    if (v == NULL)
        return WABOT_ERR_NOMEM;
    if (len > 0)
        memcpy(v, val, len);
    v[len] = '\0';
    *out = v;
    return WABOT_OK;
}

/* Replace e's value (old value kept on failure) and give it a new version. */
static int entry_write(mem_store *st, mem_entry *e, const char *val,
                       size_t len, int64_t expires_at)
{
    char *v;
    int rc = copy_value(val, len, &v);
    if (rc != WABOT_OK)
        return rc;
    free(e->val);
    e->val = v;
    e->len = len;
    e->expires_at = expires_at;
    e->version = ++st->last_version;
    return WABOT_OK;
}

static mem_entry *entry_insert(mem_store *st, const mem_op *op,
                               const char *val, size_t len,
                               int64_t expires_at)
{
    mem_entry *e = malloc(sizeof *e + op->klen + 1);
    if (e == NULL)
        return NULL;
    if (copy_value(val, len, &e->val) != WABOT_OK) {
        free(e);
        return NULL;
    }
    memcpy(e->key, op->key, op->klen + 1);
    e->klen = op->klen;
    e->hash = op->hash;
    e->len = len;
    e->expires_at = expires_at;
    e->version = ++st->last_version;
    make_room(st, op->now);
    size_t i = op->hash & (st->nbuckets - 1);
    e->next = st->buckets[i];
    st->buckets[i] = e;
    st->count++;
    return e;
}

/* Lock the store and find the key's live entry (NULL if absent; an
 * expired entry is removed on the way). Pair with op_end(). */
static mem_entry *op_begin(mem_store *st, mem_op *op, const char *key)
{
    op->key = key;
    op->klen = strlen(key);
    op->hash = wb_siphash13(st->k0, st->k1, key, op->klen);
    pthread_mutex_lock(&st->mu);
    op->now = st->clock.now_ms(st->clock.ud);
    op->slot = find_slot(st, op);
    mem_entry *e = *op->slot;
    if (e != NULL && is_expired(e, op->now)) {
        /* The slot now links the chain's next entry, another key's. */
        unlink_entry(st, op->slot);
        e = NULL;
    }
    return e;
}

static int op_end(mem_store *st, int rc)
{
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Write val to the key: overwrite e, or create the key when e is NULL. */
static int upsert(mem_store *st, const mem_op *op, mem_entry *e,
                  const char *val, size_t len, int64_t ttl_ms,
                  uint64_t *version)
{
    int64_t at = deadline(op->now, ttl_ms);
    if (e != NULL) {
        int rc = entry_write(st, e, val, len, at);
        if (rc != WABOT_OK)
            return rc;
    } else {
        e = entry_insert(st, op, val, len, at);
        if (e == NULL)
            return WABOT_ERR_NOMEM;
    }
    *version = e->version;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

static int mem_get(void *impl, const char *key, wabot_buf *out,
                   uint64_t *version)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e == NULL)
        return op_end(st, WABOT_ERR_NOT_FOUND);
    int rc = wabot_buf_set(out, e->val, e->len);
    if (rc == WABOT_OK)
        *version = e->version;
    return op_end(st, rc);
}

static int mem_set(void *impl, const char *key, const char *val, size_t len,
                   int64_t ttl_ms, uint64_t *version)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    return op_end(st, upsert(st, &op, e, val, len, ttl_ms, version));
}

static int mem_set_nx(void *impl, const char *key, const char *val,
                      size_t len, int64_t ttl_ms, uint64_t *version)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e != NULL)
        return op_end(st, WABOT_ERR_EXISTS);
    return op_end(st, upsert(st, &op, NULL, val, len, ttl_ms, version));
}

static int mem_cas(void *impl, const char *key, uint64_t expected,
                   const char *val, size_t len, int64_t ttl_ms,
                   uint64_t *version)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    uint64_t current = e != NULL ? e->version : 0;
    if (current != expected)
        return op_end(st, WABOT_ERR_CONFLICT);
    return op_end(st, upsert(st, &op, e, val, len, ttl_ms, version));
}

static int mem_del(void *impl, const char *key)
{
    mem_store *st = impl;
    mem_op op;
    if (op_begin(st, &op, key) == NULL)
        return op_end(st, WABOT_ERR_NOT_FOUND);
    unlink_entry(st, op.slot);
    return op_end(st, WABOT_OK);
}

static int mem_del_if(void *impl, const char *key, uint64_t expected)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e == NULL)
        return op_end(st, WABOT_ERR_NOT_FOUND);
    if (e->version != expected)
        return op_end(st, WABOT_ERR_CONFLICT);
    unlink_entry(st, op.slot);
    return op_end(st, WABOT_OK);
}

/* Redis's integer rule: "0", or an optional '-' then a non-zero digit and
 * more digits, within int64; nothing else (no spaces, '+', leading zeros). */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i >= len || s[i] < '1' || s[i] > '9')
        return 0;
    uint64_t mag = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (mag > (limit - d) / 10)
            return 0;
        mag = mag * 10 + d;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 1;
}

static int mem_incr(void *impl, const char *key, int64_t delta,
                    int64_t ttl_ms, int64_t *result)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    int64_t cur = 0, next;
    if (e != NULL && !parse_int64(e->val, e->len, &cur))
        return op_end(st, WABOT_ERR_CONFLICT);
    if (__builtin_add_overflow(cur, delta, &next))
        return op_end(st, WABOT_ERR_CONFLICT);
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRId64, next);
    int rc;
    if (e != NULL) {
        rc = entry_write(st, e, text, (size_t)n, e->expires_at);
    } else {
        e = entry_insert(st, &op, text, (size_t)n, deadline(op.now, ttl_ms));
        rc = e != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    if (rc == WABOT_OK)
        *result = next;
    return op_end(st, rc);
}

static int mem_expire(void *impl, const char *key, int64_t ttl_ms)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e == NULL)
        return op_end(st, WABOT_ERR_NOT_FOUND);
    e->expires_at = deadline(op.now, ttl_ms);
    return op_end(st, WABOT_OK);
}

static void mem_destroy(void *impl)
{
    mem_store *st = impl;
    for (size_t i = 0; i < st->nbuckets; i++) {
        mem_entry *e = st->buckets[i];
        while (e != NULL) {
            mem_entry *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    free(st->buckets);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static const wabot_storage_vtable mem_vtable = {
    .version = WABOT_STORAGE_VTABLE_VERSION,
    .get = mem_get,
    .set = mem_set,
    .set_nx = mem_set_nx,
    .cas = mem_cas,
    .del = mem_del,
    .del_if = mem_del_if,
    .incr = mem_incr,
    .expire = mem_expire,
    .destroy = mem_destroy,
};

/* ------------------------------------------------------------------ */
/* Public                                                              */

wabot_storage *wabot_storage_memory_new(const wabot_clock *clock)
{
    if (clock != NULL && (clock->version == 0 || clock->now_ms == NULL))
        return NULL;
    mem_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->buckets = calloc(MEM_MIN_BUCKETS, sizeof *st->buckets);
    if (st->buckets == NULL || pthread_mutex_init(&st->mu, NULL) != 0) {
        free(st->buckets);
        free(st);
        return NULL;
    }
    st->nbuckets = MEM_MIN_BUCKETS;
    if (clock != NULL) {
        st->clock = *clock;
    } else {
        st->clock.version = WABOT_CLOCK_VERSION;
        st->clock.now_ms = system_now_ms;
        st->clock.ud = NULL;
    }
    wb_siphash_key(st, &st->k0, &st->k1);
    wabot_storage *s = wb_storage_wrap(&mem_vtable, st, "memory");
    if (s == NULL)
        mem_destroy(st);
    return s;
}

int64_t wabot_storage_memory_count(wabot_storage *s)
{
    if (s == NULL || s->vt != &mem_vtable)
        return WABOT_ERR_INVAL;
    mem_store *st = s->impl;
    pthread_mutex_lock(&st->mu);
    sweep(st, st->clock.now_ms(st->clock.ud));
    int64_t n = (int64_t)st->count;
    pthread_mutex_unlock(&st->mu);
    return n;
}
