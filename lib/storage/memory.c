/* The memory storage backend: chained hash tables in MEM_SHARDS shards,
 * each behind its own mutex.
 *
 * A key lives in the shard its hash tag picks (the part between the
 * first '{' and the next '}', else the whole key: lib/storage/txn.c's
 * rule), so every key of a transaction (one hash tag) is in one shard and
 * a transaction locks one mutex. Threads working on different customers
 * ("conv:{org:phone}", "dedup:<id>", ...) mostly take different mutexes:
 * with one mutex for the store, two threads spent more time waiting for it
 * than working (issue 12). Batches (get_many, put_many) lock the shards of
 * their keys in ascending order; scan and count lock every shard.
 *
 * Versions come from one counter for the whole store, so a key that is
 * deleted (or expires) and is written again never gets back a version a
 * stale compare-and-set could still hold (no ABA).
 *
 * Expired entries are dropped lazily when an operation meets them, and by
 * a full sweep just before the table would grow; the sweep only happens
 * after at least a quarter of the table's capacity (MEM_LOAD keys a
 * bucket) of inserts, so its cost is amortised O(1) per insert.
 *
 * The ordered key index (a skip list, for prefix scans) holds only the
 * keys under a prefix that has been scanned: the first scan of a prefix
 * no indexed prefix covers indexes that prefix's keys (one walk of the
 * table), and later inserts under it join the index. A bot scans one or
 * two prefixes ("outbox:"), so the dedup marks, delivery records and
 * conversations never pay for an ordered insert; past MAX_PREFIXES
 * prefixes every key is indexed (the prefix ""). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mutex.h"
#include "htab.h"
#include "marks.h"
#include "receipt_table.h"
#include "siphash.h"
#include "skiplist.h"
#include "storage.h"

#define MEM_MIN_BUCKETS 16
#define MAX_PREFIXES 8
#define MEM_SHARDS 16 /* a power of two, at most 32 (shard masks) */

struct mem_zset;

/* A table entry is a value (in the ordered key index too) or a sorted
 * index, stored under its key + "\0z" so the two namespaces never meet
 * (storage keys hold no NUL).
 *
 * 48 bytes of header (issue 12: every reply and every conversation
 * leaves small records behind, so the header is most of their cost): the
 * hash node is 16 bytes (the key is found at its fixed place, key[]),
 * lengths are 32-bit (a value of 4 GiB or more is refused:
 * WABOT_ERR_TOO_LARGE), and a value lives in the entry's own block after the key, or, when it
 * outgrew that room, in a block of its own whose address is kept in the
 * room (VAL_OUT; in its last word, which entry_new() aligns, where leak
 * checkers look for pointers): no value pointer in the header. */
typedef struct mem_entry {
    wb_hnode node; /* by key (lib/core/htab.c): key[] is its key; first
                      member; its klen is the key's length */
    uint64_t version;
    int64_t expires_at; /* ms since the epoch; 0 = never */
    /* One or the other (is_zset() tells which: a sorted index's table
     * name has a NUL inside, a storage key never does): a pointer fewer
     * in every entry. */
    union {
        wb_sl_node *ord;       /* value: its node in the key index */
        struct mem_zset *zset; /* sorted index: its members */
    } u;
    uint32_t len;  /* the value's bytes (+ a NUL after them) */
    uint32_t room; /* bytes for a value after the key (+ NUL), and VAL_OUT */
    char key[];    /* klen bytes + NUL, then the value room */
} mem_entry;

_Static_assert(sizeof(mem_entry) <= 48 || sizeof(void *) > 8,
               "a storage entry's header is 48 bytes on 64-bit targets");

#define VAL_OUT 0x80000000u /* room: the value is in a block of its own */
#define MEM_VALUE_MAX (UINT32_MAX - 1)
/* The room always holds a block's address (VAL_OUT): its last word, which
 * is aligned (the block's end is; entry_new()), so a short value such as a
 * conversation's 9 bytes needs no room beyond the word (with the address
 * at the room's first aligned word it needed up to 7 bytes more, and
 * malloc's rounding made that 16 for the conversation and the profile). */
#define MIN_ROOM sizeof(char *)

static int is_zset(const mem_entry *e)
{
    return e->node.klen >= 2 && e->key[e->node.klen - 2] == '\0';
}

/* The entry's node in the key index (NULL: none, or a sorted index). */
static wb_sl_node *ord_of(const mem_entry *e)
{
    return is_zset(e) ? NULL : e->u.ord;
}

/* The sorted index's members (NULL: a value entry). */
static struct mem_zset *zset_of(const mem_entry *e)
{
    return is_zset(e) ? e->u.zset : NULL;
}

/* One block per entry (header, key, value) instead of two: a key costs
 * one allocation's overhead, and an overwrite that fits (a session, a
 * profile, a counter) writes in place (issue 12's memory per
 * conversation). */
static char *inline_val(const mem_entry *e)
{
    return (char *)e->key + e->node.klen + 1;
}

static int val_inline(const mem_entry *e)
{
    return !(e->room & VAL_OUT);
}

/* The most value bytes the entry's own block holds (a NUL follows). */
static size_t vcap_of(const mem_entry *e)
{
    return (e->room & ~VAL_OUT) - 1;
}

/* Where the room keeps the address of a value in a block of its own: its
 * last word (aligned: entry_new() ends the block, and so the room, at a
 * multiple of a word from the block's aligned start). */
static char **out_slot(const mem_entry *e)
{
    return (char **)(inline_val(e) + (e->room & ~VAL_OUT) - sizeof(char *));
}

/* The value's bytes (NUL-terminated). */
static char *val_of(const mem_entry *e)
{
    return val_inline(e) ? inline_val(e) : *out_slot(e);
}

/* Free a value that lives in a block of its own; the room is e's again. */
static void val_release(mem_entry *e)
{
    if (!val_inline(e))
        free(val_of(e));
    e->room &= ~VAL_OUT;
}

/* e's value becomes v (len bytes + NUL), a block of its own (taken). */
static void val_adopt(mem_entry *e, char *v, size_t len)
{
    val_release(e);
    *out_slot(e) = v;
    e->room |= VAL_OUT;
    e->len = (uint32_t)len;
}

/* A sorted index: members in score order, and a chained hash from member
 * to node (the node's `data` links the chain). */
typedef struct mem_zset {
    wb_skiplist sl;
    wb_sl_node **buckets;
    size_t nbuckets; /* a power of two */
} mem_zset;

/* One shard: its entries and the mutex that guards them. */
typedef struct mem_shard {
    pthread_mutex_t mu;
    wb_htab tab;    /* entries by key, expired or not; hashed with the
                       store's k0/k1 */
    size_t nsorted; /* entries that are sorted indexes */
    char pad[32];   /* neighbours' mutexes on other cache lines */
} mem_shard;

typedef struct mem_store {
    mem_shard shards[MEM_SHARDS];
    /* The ordered key index: changed by holders of one shard's mutex
     * under order_mu too; read (scan) and re-indexed (a new prefix) with
     * every shard's mutex held, which excludes all of them. */
    pthread_mutex_t order_mu;
    wabot_clock clock;
    uint64_t last_version; /* store-wide (atomic): every write takes the
                              next one */
    uint64_t k0, k1;       /* hash key */
    wb_skiplist order;     /* indexed value keys in byte order (scan) */
    char *prefixes[MAX_PREFIXES]; /* scanned prefixes: their keys are in
                                     `order`; written with every shard
                                     locked, so one shard's lock reads
                                     them */
    size_t plens[MAX_PREFIXES];
    size_t nprefixes;
    wb_marks *marks; /* the dedup's "done" marks (storage.h) */
    wb_rtab *receipts; /* the delivery records (storage.h) */
} mem_store;

/* One operation's view of its key, filled by op_begin(). */
typedef struct mem_op {
    const char *key;
    size_t klen;
    uint32_t hash;
    int64_t now;
    wb_hnode **slot; /* link to the live entry (valid until an insert) */
    mem_shard *sh;   /* the key's shard, locked by the caller */
} mem_op;

/* ------------------------------------------------------------------ */
/* Hashing: SipHash-1-3 with a per-store random key (lib/core/siphash.c),
 * because keys embed phone numbers chosen by outsiders and chains must not
 * be floodable. */


/* ------------------------------------------------------------------ */
/* Shards                                                              */

/* The shard index of key (its hash tag's; a sorted index's table name
 * "key\0z" reads as key). FNV-1a: the shard only spreads the locking,
 * the chains inside a shard stay SipHash-keyed. */
static unsigned shard_index(const char *key)
{
    const char *tag;
    size_t len;
    wb_storage_hash_tag(key, &tag, &len);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)tag[i]) * 16777619u;
    return (h ^ h >> 16) & (MEM_SHARDS - 1);
}

static mem_shard *shard_of(mem_store *st, const char *key)
{
    return &st->shards[shard_index(key)];
}

/* Lock (unlock) the shards in mask, in ascending order. */
static void lock_mask(mem_store *st, uint32_t mask)
{
    for (unsigned i = 0; i < MEM_SHARDS; i++)
        if (mask & (UINT32_C(1) << i))
            pthread_mutex_lock(&st->shards[i].mu);
}

static void unlock_mask(mem_store *st, uint32_t mask)
{
    for (unsigned i = 0; i < MEM_SHARDS; i++)
        if (mask & (UINT32_C(1) << i))
            pthread_mutex_unlock(&st->shards[i].mu);
}

#define ALL_SHARDS ((uint32_t)((UINT64_C(1) << MEM_SHARDS) - 1))

/* The shards of n keys. */
static uint32_t keys_mask(size_t n, const char *const *keys)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < n; i++)
        mask |= UINT32_C(1) << shard_index(keys[i]);
    return mask;
}

static int mask_end(mem_store *st, uint32_t mask, int rc)
{
    unlock_mask(st, mask);
    return rc;
}

static uint64_t next_version(mem_store *st)
{
    return __atomic_add_fetch(&st->last_version, 1, __ATOMIC_RELAXED);
}

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

static void zset_free(mem_zset *z);

static void entry_free(mem_entry *e)
{
    if (zset_of(e) != NULL)
        zset_free(e->u.zset);
    else
        free(e->u.ord); /* only an entry never linked still owns its node */
    val_release(e);
    free(e);
}

/* What leaving the table means for an entry besides the unlink: out of
 * the key index, one sorted index fewer, freed. */
static void entry_retire(mem_store *st, mem_shard *sh, mem_entry *e)
{
    if (ord_of(e) != NULL) {
        pthread_mutex_lock(&st->order_mu);
        wb_sl_delete(&st->order, e->u.ord);
        pthread_mutex_unlock(&st->order_mu);
        e->u.ord = NULL;
    }
    if (zset_of(e) != NULL)
        sh->nsorted--;
    entry_free(e);
}

/* Unlink and retire the entry op->slot links (in op's shard). */
static void unlink_entry(mem_store *st, const mem_op *op)
{
    mem_entry *e = (mem_entry *)*op->slot;
    wb_htab_unlink_at(&op->sh->tab, op->slot);
    entry_retire(st, op->sh, e);
}

static wb_hnode **find_slot(mem_store *st, const mem_op *op)
{
    (void)st;
    return wb_htab_slot(&op->sh->tab, op->hash, op->key, op->klen);
}

typedef struct sweep_ctx {
    mem_store *st;
    mem_shard *sh;
    int64_t now;
} sweep_ctx;

static int entry_dead(const wb_hnode *n, void *ud)
{
    return is_expired((const mem_entry *)n, ((sweep_ctx *)ud)->now);
}

static void entry_gone(wb_hnode *n, void *ud)
{
    sweep_ctx *sc = ud;
    entry_retire(sc->st, sc->sh, (mem_entry *)n);
}

static void sweep(mem_store *st, mem_shard *sh, int64_t now)
{
    sweep_ctx sc = {st, sh, now};
    for (size_t i = 0; i < sh->tab.nbuckets; i++)
        wb_htab_sweep_bucket(&sh->tab, i, entry_dead, entry_gone, &sc);
}

/* Keys a bucket before the table grows. Two, not one: a bucket is a
 * pointer, so the table's array costs 4-8 bytes a key instead of 8-16
 * (issue 12's memory per conversation), for chains of 1-2 entries on
 * average instead of 0.5-1 (a lookup compares a 32-bit hash first). */
#define MEM_LOAD 2

/* Called before an insert: at MEM_LOAD keys a bucket, first drop what
 * expired, and grow only if the table still holds at least three
 * quarters of that (a failed growth keeps the table: slower, still
 * correct). */
static void make_room(mem_store *st, mem_shard *sh, int64_t now)
{
    wb_htab *t = &sh->tab;
    if (t->count + 1 <= t->nbuckets * MEM_LOAD)
        return;
    sweep(st, sh, now);
    if (t->count + 1 > t->nbuckets * MEM_LOAD / 4 * 3 &&
        t->nbuckets <= SIZE_MAX / 2 / MEM_LOAD)
        (void)wb_htab_resize(t, t->nbuckets * 2);
}

static int copy_value(const char *val, size_t len, char **out)
{
    *out = wb_storage_dup(val, len);
    return *out != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* e's value becomes len bytes of val, in e's own block (it fits there):
 * a separate old value is freed. */
static void set_inline(mem_entry *e, const char *val, size_t len)
{
    val_release(e);
    char *v = inline_val(e);
    if (len > 0)
        memmove(v, val, len);
    v[len] = '\0';
    e->len = (uint32_t)len;
}

/* Replace e's value (old value kept on failure) and give it a new version. */
static int entry_write(mem_store *st, mem_entry *e, const char *val,
                       size_t len, int64_t expires_at)
{
    if (len > MEM_VALUE_MAX)
        return WABOT_ERR_TOO_LARGE;
    if (len <= vcap_of(e)) {
        set_inline(e, val, len);
    } else {
        char *v;
        int rc = copy_value(val, len, &v);
        if (rc != WABOT_OK)
            return rc;
        val_adopt(e, v, len);
    }
    e->expires_at = expires_at;
    e->version = next_version(st);
    return WABOT_OK;
}

/* The most value bytes an entry's own block is made for: a longer value
 * gets a block of its own (the room's size must leave VAL_OUT free). */
#define ROOM_VALUE_MAX ((size_t)1 << 20)

/* A zeroed entry carrying op's key and hash, and room for a value of vcap
 * bytes (ROOM_VALUE_MAX at most), which is its value (empty); NULL on
 * NOMEM. */
static mem_entry *entry_new(const mem_op *op, size_t vcap)
{
    if (vcap < MIN_ROOM - 1)
        vcap = MIN_ROOM - 1;
    /* malloc rounds a block up to 16 bytes (with its 8-byte header): the
     * value room takes what the rounding would waste, so a value that
     * grows a little later still fits in place. */
    size_t need = sizeof(mem_entry) + op->klen + 1 + vcap + 1;
    vcap += ((need + 8 + 15) & ~(size_t)15) - 8 - need; /* ends at 8 mod 16 */
    mem_entry *e = calloc(1, sizeof *e + op->klen + 1 + vcap + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, op->key, op->klen);
    e->key[op->klen] = '\0';
    e->node = (wb_hnode){NULL, op->hash, (uint32_t)op->klen};
    e->room = (uint32_t)(vcap + 1);
    return e;
}

/* 1 if key is under a scanned prefix (belongs in the ordered index). */
static int indexed_key(const mem_store *st, const char *key, size_t klen)
{
    for (size_t i = 0; i < st->nprefixes; i++)
        if (klen >= st->plens[i] &&
            memcmp(key, st->prefixes[i], st->plens[i]) == 0)
            return 1;
    return 0;
}

/* A new value entry for op's key, not linked yet (so a transaction can
 * allocate everything before it changes anything); NULL on NOMEM. */
static mem_entry *entry_alloc(mem_store *st, const mem_op *op,
                              const char *val, size_t len)
{
    char *out = NULL; /* a value too long for the entry's own block */
    if (len > ROOM_VALUE_MAX && copy_value(val, len, &out) != WABOT_OK)
        return NULL;
    mem_entry *e = entry_new(op, out != NULL ? 0 : len);
    if (e == NULL) {
        free(out);
        return NULL;
    }
    int index = indexed_key(st, op->key, op->klen);
    if (index) {
        pthread_mutex_lock(&st->order_mu); /* the index's level dice */
        e->u.ord = wb_sl_node_new(&st->order, 0, op->key, op->klen, e);
        pthread_mutex_unlock(&st->order_mu);
    }
    if (index && e->u.ord == NULL) {
        free(out);
        free(e);
        return NULL;
    }
    if (out != NULL)
        val_adopt(e, out, len);
    else
        set_inline(e, val, len);
    return e;
}

/* Link an allocated entry (value or sorted index); cannot fail. */
static void entry_link(mem_store *st, const mem_op *op, mem_entry *e,
                       int64_t expires_at)
{
    e->expires_at = expires_at;
    if (zset_of(e) == NULL)
        e->version = next_version(st);
    make_room(st, op->sh, op->now);
    wb_htab_link(&op->sh->tab, &e->node);
    if (ord_of(e) != NULL) {
        pthread_mutex_lock(&st->order_mu);
        wb_sl_insert(&st->order, e->u.ord);
        pthread_mutex_unlock(&st->order_mu);
    }
    if (zset_of(e) != NULL)
        op->sh->nsorted++;
}

static mem_entry *entry_insert(mem_store *st, const mem_op *op,
                               const char *val, size_t len,
                               int64_t expires_at)
{
    mem_entry *e = entry_alloc(st, op, val, len);
    if (e != NULL)
        entry_link(st, op, e, expires_at);
    return e;
}

/* Lock the key's shard and find its live entry (NULL if absent; an
 * expired entry is removed on the way). Pair with op_end(). */
static mem_entry *lookup(mem_store *st, mem_op *op, const char *key,
                         size_t klen);

static mem_entry *op_begin(mem_store *st, mem_op *op, const char *key)
{
    op->sh = shard_of(st, key);
    pthread_mutex_lock(&op->sh->mu);
    op->now = st->clock.now_ms(st->clock.ud);
    return lookup(st, op, key, strlen(key));
}

/* With op->sh (the key's shard) locked and op->now set: the live entry of
 * key (klen bytes, may hold a NUL: sorted indexes), expired ones removed
 * on the way. */
static mem_entry *lookup_hashed(mem_store *st, mem_op *op, const char *key,
                                size_t klen, uint32_t hash)
{
    op->key = key;
    op->klen = klen;
    op->hash = hash;
    op->slot = find_slot(st, op);
    mem_entry *e = (mem_entry *)*op->slot;
    if (e != NULL && is_expired(e, op->now)) {
        /* The slot now links the chain's next entry, another key's. */
        unlink_entry(st, op);
        e = NULL;
    }
    return e;
}

static mem_entry *lookup(mem_store *st, mem_op *op, const char *key,
                         size_t klen)
{
    return lookup_hashed(st, op, key, klen,
                         (uint32_t)wb_siphash13(st->k0, st->k1, key, klen));
}

static int op_end(const mem_op *op, int rc)
{
    pthread_mutex_unlock(&op->sh->mu);
    return rc;
}

/* Write val to the key: overwrite e, or create the key when e is NULL. */
static int upsert(mem_store *st, const mem_op *op, mem_entry *e,
                  const char *val, size_t len, int64_t ttl_ms,
                  uint64_t *version)
{
    if (len > MEM_VALUE_MAX)
        return WABOT_ERR_TOO_LARGE;
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
        return op_end(&op, WABOT_ERR_NOT_FOUND);
    int rc = wabot_buf_set(out, val_of(e), e->len);
    if (rc == WABOT_OK)
        *version = e->version;
    return op_end(&op, rc);
}

static int mem_set(void *impl, const char *key, const char *val, size_t len,
                   int64_t ttl_ms, uint64_t *version)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    return op_end(&op, upsert(st, &op, e, val, len, ttl_ms, version));
}

static int mem_set_nx(void *impl, const char *key, const char *val,
                      size_t len, int64_t ttl_ms, uint64_t *version)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e != NULL)
        return op_end(&op, WABOT_ERR_EXISTS);
    return op_end(&op, upsert(st, &op, NULL, val, len, ttl_ms, version));
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
        return op_end(&op, WABOT_ERR_CONFLICT);
    return op_end(&op, upsert(st, &op, e, val, len, ttl_ms, version));
}

static int mem_del(void *impl, const char *key)
{
    mem_store *st = impl;
    mem_op op;
    if (op_begin(st, &op, key) == NULL)
        return op_end(&op, WABOT_ERR_NOT_FOUND);
    unlink_entry(st, &op);
    return op_end(&op, WABOT_OK);
}

static int mem_del_if(void *impl, const char *key, uint64_t expected)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e == NULL)
        return op_end(&op, WABOT_ERR_NOT_FOUND);
    if (e->version != expected)
        return op_end(&op, WABOT_ERR_CONFLICT);
    unlink_entry(st, &op);
    return op_end(&op, WABOT_OK);
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
    if (e != NULL && !parse_int64(val_of(e), e->len, &cur))
        return op_end(&op, WABOT_ERR_CONFLICT);
    if (__builtin_add_overflow(cur, delta, &next))
        return op_end(&op, WABOT_ERR_CONFLICT);
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
    return op_end(&op, rc);
}

static int mem_expire(void *impl, const char *key, int64_t ttl_ms)
{
    mem_store *st = impl;
    mem_op op;
    mem_entry *e = op_begin(st, &op, key);
    if (e == NULL)
        return op_end(&op, WABOT_ERR_NOT_FOUND);
    e->expires_at = deadline(op.now, ttl_ms);
    return op_end(&op, WABOT_OK);
}

static void entry_drop(wb_hnode *n, void *ud)
{
    (void)ud;
    mem_entry *e = (mem_entry *)n;
    if (!is_zset(e))
        e->u.ord = NULL; /* freed with the key index */
    entry_free(e);
}

static void mem_destroy(void *impl)
{
    mem_store *st = impl;
    for (size_t i = 0; i < MEM_SHARDS; i++) {
        wb_htab_each(&st->shards[i].tab, entry_drop, NULL);
        wb_htab_free(&st->shards[i].tab);
        pthread_mutex_destroy(&st->shards[i].mu);
    }
    wb_sl_destroy(&st->order);
    for (size_t i = 0; i < st->nprefixes; i++)
        free(st->prefixes[i]);
    pthread_mutex_destroy(&st->order_mu);
    wb_marks_free(st->marks);
    wb_rtab_free(st->receipts);
    free(st);
}

/* ------------------------------------------------------------------ */
/* Version 2: scan                                                     */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The cursor is "0" or the hex of the last key returned: the next page
 * starts after it in byte order, so a full iteration meets every key
 * present throughout exactly once. */
static int cursor_decode(const char *cursor, char *key, size_t *klen)
{
    size_t n = strlen(cursor);
    if (n % 2 != 0 || n == 0 || n / 2 > WB_STORAGE_KEY_MAX)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(cursor[i]), lo = hexval(cursor[i + 1]);
        if (hi < 0 || lo < 0)
            return WABOT_ERR_INVAL;
        key[i / 2] = (char)(hi << 4 | lo);
    }
    *klen = n / 2;
    return WABOT_OK;
}

static int cursor_encode(const wb_sl_node *n, wabot_buf *next)
{
    static const char hex[] = "0123456789abcdef";
    char text[2 * WB_STORAGE_KEY_MAX + 1];
    for (size_t i = 0; i < n->len; i++) {
        text[2 * i] = hex[(unsigned char)n->bytes[i] >> 4];
        text[2 * i + 1] = hex[(unsigned char)n->bytes[i] & 15];
    }
    return wabot_buf_set(next, text, 2 * n->len);
}

static int has_prefix(const wb_sl_node *n, const char *prefix, size_t plen)
{
    return n->len >= plen && memcmp(n->bytes, prefix, plen) == 0;
}

/* Index the value keys of one table under prefix that are not indexed
 * yet. */
static int index_table(mem_store *st, const wb_htab *t, const char *prefix,
                       size_t plen)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (mem_entry *e = (mem_entry *)t->buckets[i]; e != NULL;
             e = (mem_entry *)e->node.next) {
            if (is_zset(e) || e->u.ord != NULL || e->node.klen < plen ||
                memcmp(e->key, prefix, plen) != 0)
                continue;
            e->u.ord = wb_sl_node_new(&st->order, 0, e->key, e->node.klen,
                                    e);
            if (e->u.ord == NULL)
                return WABOT_ERR_NOMEM; /* what is indexed stays valid */
            wb_sl_insert(&st->order, e->u.ord);
        }
    }
    return WABOT_OK;
}

/* Index the value keys under prefix that are not indexed yet (every
 * shard locked, so nothing else touches the index). */
static int index_keys(mem_store *st, const char *prefix, size_t plen)
{
    for (size_t i = 0; i < MEM_SHARDS; i++) {
        int rc = index_table(st, &st->shards[i].tab, prefix, plen);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

/* Make sure every key under prefix is in the ordered index: nothing to do
 * when an indexed prefix covers it, else index it (or, with no room left
 * for prefixes, everything). With the lock held. */
static int cover_prefix(mem_store *st, const char *prefix, size_t plen)
{
    if (indexed_key(st, prefix, plen))
        return WABOT_OK;
    if (st->nprefixes == MAX_PREFIXES - 1)
        plen = 0; /* the last slot: "" covers every key */
    char *copy = wb_storage_dup(prefix, plen);
    if (copy == NULL)
        return WABOT_ERR_NOMEM;
    int rc = index_keys(st, copy, plen);
    if (rc != WABOT_OK) {
        free(copy);
        return rc;
    }
    st->prefixes[st->nprefixes] = copy;
    st->plens[st->nprefixes++] = plen;
    return WABOT_OK;
}

static int mem_scan(void *impl, const char *prefix, const char *cursor,
                    size_t count, uint32_t flags, wabot_storage_items *out,
                    wabot_buf *next)
{
    mem_store *st = impl;
    size_t plen = strlen(prefix), alen = 0;
    char after[WB_STORAGE_KEY_MAX];
    int start = strcmp(cursor, "0") == 0;
    if (!start && cursor_decode(cursor, after, &alen) != WABOT_OK)
        return WABOT_ERR_INVAL;
    lock_mask(st, ALL_SHARDS); /* the index holds keys of every shard */
    int64_t now = st->clock.now_ms(st->clock.ud);
    int crc = cover_prefix(st, prefix, plen);
    if (crc != WABOT_OK)
        return mask_end(st, ALL_SHARDS, crc);
    /* Resume after the cursor's key, but never before the prefix. */
    size_t m = alen < plen ? alen : plen;
    int c = m > 0 ? memcmp(after, prefix, m) : 0;
    int before_prefix = c < 0 || (c == 0 && alen < plen);
    wb_sl_node *n = start || before_prefix
                        ? wb_sl_seek(&st->order, 0, prefix, plen, 0, NULL)
                        : wb_sl_seek(&st->order, 0, after, alen, 1, NULL);
    const wb_sl_node *last = NULL;
    size_t got = 0;
    int rc = WABOT_OK;
    for (; n != NULL && has_prefix(n, prefix, plen) && got < count;
         n = wb_sl_next(n)) {
        const mem_entry *e = n->data;
        if (is_expired(e, now))
            continue;
        rc = flags & WABOT_STORAGE_SCAN_VALUES
                 ? wabot_storage_items_add(out, e->key, e->node.klen,
                                           val_of(e), e->len, e->version)
                 : wabot_storage_items_add(out, e->key, e->node.klen, NULL,
                                           0, 0);
        if (rc != WABOT_OK)
            break;
        last = n;
        got++;
    }
    if (rc == WABOT_OK) {
        int more = n != NULL && has_prefix(n, prefix, plen) && last != NULL;
        rc = more ? cursor_encode(last, next) : wabot_buf_set(next, "0", 1);
    }
    return mask_end(st, ALL_SHARDS, rc);
}

/* ------------------------------------------------------------------ */
/* Version 2: batches                                                  */

static int mem_get_many(void *impl, size_t n, const char *const *keys,
                        wabot_storage_items *out)
{
    mem_store *st = impl;
    uint32_t mask = keys_mask(n, keys); /* one atomic step: all of them */
    lock_mask(st, mask);
    mem_op op;
    op.now = st->clock.now_ms(st->clock.ud);
    for (size_t i = 0; i < n; i++) {
        op.sh = shard_of(st, keys[i]);
        mem_entry *e = lookup(st, &op, keys[i], strlen(keys[i]));
        if (e == NULL)
            continue;
        int rc = wabot_storage_items_found(out, i, val_of(e), e->len,
                                           e->version);
        if (rc != WABOT_OK)
            return mask_end(st, mask, rc);
    }
    return mask_end(st, mask, WABOT_OK);
}

static int mem_put_many(void *impl, size_t n, const char *const *keys,
                        const char *const *vals, const size_t *lens,
                        const int64_t *ttls_ms, uint64_t *versions)
{
    mem_store *st = impl;
    uint32_t mask = keys_mask(n, keys);
    lock_mask(st, mask);
    mem_op op;
    op.now = st->clock.now_ms(st->clock.ud);
    for (size_t i = 0; i < n; i++) {
        op.sh = shard_of(st, keys[i]);
        mem_entry *e = lookup(st, &op, keys[i], strlen(keys[i]));
        int rc = upsert(st, &op, e, vals[i], lens[i], ttls_ms[i],
                        &versions[i]);
        if (rc != WABOT_OK)
            return mask_end(st, mask, rc);
    }
    return mask_end(st, mask, WABOT_OK);
}

/* ------------------------------------------------------------------ */
/* Version 2: sorted indexes                                           */

#define ZSET_MIN_BUCKETS 16

static uint64_t member_hash(const mem_store *st, const char *m, size_t len)
{
    /* Another key than the table's: members and keys never mix. */
    return wb_siphash13(st->k1, st->k0, m, len);
}

static mem_zset *zset_new(mem_store *st)
{
    mem_zset *z = calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    z->buckets = calloc(ZSET_MIN_BUCKETS, sizeof *z->buckets);
    if (z->buckets == NULL || wb_sl_init(&z->sl, st->k0 ^ (uintptr_t)z)) {
        free(z->buckets);
        free(z);
        return NULL;
    }
    z->nbuckets = ZSET_MIN_BUCKETS;
    return z;
}

static void zset_free(mem_zset *z)
{
    wb_sl_destroy(&z->sl);
    free(z->buckets);
    free(z);
}

static wb_sl_node **zset_chain_of(const mem_store *st, mem_zset *z,
                                  const char *m, size_t len)
{
    return &z->buckets[member_hash(st, m, len) & (z->nbuckets - 1)];
}

static wb_sl_node *zset_find(const mem_store *st, mem_zset *z,
                             const char *m, size_t len)
{
    wb_sl_node *n = *zset_chain_of(st, z, m, len);
    while (n != NULL && (n->len != len || memcmp(n->bytes, m, len) != 0))
        n = n->data;
    return n;
}

/* Grow the member hash at load factor 1; a failed grow keeps the table. */
static void zset_grow(const mem_store *st, mem_zset *z)
{
    if (z->sl.len <= z->nbuckets || z->nbuckets > SIZE_MAX / 2)
        return;
    size_t nb = z->nbuckets * 2;
    wb_sl_node **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return;
    for (wb_sl_node *n = wb_sl_at(&z->sl, 0); n != NULL; n = wb_sl_next(n)) {
        wb_sl_node **c = &b[member_hash(st, n->bytes, n->len) & (nb - 1)];
        n->data = *c;
        *c = n;
    }
    free(z->buckets);
    z->buckets = b;
    z->nbuckets = nb;
}

static void zset_insert(const mem_store *st, mem_zset *z, wb_sl_node *n)
{
    wb_sl_node **c = zset_chain_of(st, z, n->bytes, n->len);
    n->data = *c;
    *c = n;
    wb_sl_insert(&z->sl, n);
    zset_grow(st, z);
}

static void zset_remove(const mem_store *st, mem_zset *z, wb_sl_node *n)
{
    wb_sl_node **c = zset_chain_of(st, z, n->bytes, n->len);
    while (*c != n)
        c = (wb_sl_node **)&(*c)->data;
    *c = n->data;
    wb_sl_delete(&z->sl, n);
}

/* The sorted index's name in the table: key + "\0z". */
typedef struct zkey {
    char name[WB_STORAGE_KEY_MAX + 2];
    size_t len;
} zkey;

static void zkey_of(zkey *z, const char *key)
{
    size_t n = strlen(key);
    memcpy(z->name, key, n);
    z->name[n] = '\0';
    z->name[n + 1] = 'z';
    z->len = n + 2;
}

/* With op->sh locked and op->now set: the sorted index of key, or NULL. */
static mem_entry *zset_lookup(mem_store *st, mem_op *op, zkey *zk,
                              const char *key)
{
    zkey_of(zk, key);
    return lookup(st, op, zk->name, zk->len);
}

/* Lock key's shard and find key's sorted index (NULL: none). Pair with
 * op_end(). */
static mem_entry *zset_begin(mem_store *st, mem_op *op, zkey *zk,
                             const char *key)
{
    op->sh = shard_of(st, key);
    pthread_mutex_lock(&op->sh->mu);
    op->now = st->clock.now_ms(st->clock.ud);
    return zset_lookup(st, op, zk, key);
}

/* A sorted-index entry, not linked; NULL on NOMEM. */
static mem_entry *zentry_alloc(mem_store *st, const mem_op *op)
{
    mem_entry *e = entry_new(op, 0); /* its value: "" */
    if (e == NULL)
        return NULL;
    if ((e->u.zset = zset_new(st)) == NULL) {
        free(e);
        return NULL;
    }
    return e;
}

/* Put a prepared node in (replacing the member's old node, or dropping
 * the new one if the score is unchanged). */
static void zset_put(mem_store *st, mem_zset *z, wb_sl_node *fresh)
{
    wb_sl_node *old = zset_find(st, z, fresh->bytes, fresh->len);
    if (old != NULL && old->score == fresh->score) {
        free(fresh);
        return;
    }
    if (old != NULL)
        zset_remove(st, z, old);
    zset_insert(st, z, fresh);
}

/* Drop a sorted index that lost its last member (op->slot is its link). */
static void zset_drop_if_empty(mem_store *st, mem_op *op)
{
    mem_entry *e = (mem_entry *)*op->slot;
    if (e != NULL && zset_of(e) != NULL && e->u.zset->sl.len == 0)
        unlink_entry(st, op);
}

static int mem_sorted_add(void *impl, const char *key, const char *member,
                          size_t len, int64_t score)
{
    mem_store *st = impl;
    mem_op op;
    zkey zk;
    mem_entry *e = zset_begin(st, &op, &zk, key);
    mem_entry *fresh_entry = e == NULL ? zentry_alloc(st, &op) : NULL;
    mem_entry *z = e != NULL ? e : fresh_entry;
    /* The member's level dice: its own index's (the key index belongs to
     * every shard). */
    wb_sl_node *n = z != NULL ? wb_sl_node_new(&z->u.zset->sl, score, member,
                                               len, NULL)
                              : NULL;
    if (n == NULL || (e == NULL && fresh_entry == NULL)) {
        free(n);
        if (fresh_entry != NULL)
            entry_free(fresh_entry);
        return op_end(&op, WABOT_ERR_NOMEM);
    }
    if (e == NULL) {
        entry_link(st, &op, fresh_entry, 0);
        e = fresh_entry;
    }
    zset_put(st, e->u.zset, n);
    return op_end(&op, WABOT_OK);
}

static int mem_sorted_remove(void *impl, const char *key, const char *member,
                             size_t len)
{
    mem_store *st = impl;
    mem_op op;
    zkey zk;
    mem_entry *e = zset_begin(st, &op, &zk, key);
    wb_sl_node *n = e != NULL ? zset_find(st, e->u.zset, member, len) : NULL;
    if (n == NULL)
        return op_end(&op, WABOT_ERR_NOT_FOUND);
    zset_remove(st, e->u.zset, n);
    zset_drop_if_empty(st, &op);
    return op_end(&op, WABOT_OK);
}

static int mem_sorted_score(void *impl, const char *key, const char *member,
                            size_t len, int64_t *score)
{
    mem_store *st = impl;
    mem_op op;
    zkey zk;
    mem_entry *e = zset_begin(st, &op, &zk, key);
    wb_sl_node *n = e != NULL ? zset_find(st, e->u.zset, member, len) : NULL;
    if (n == NULL)
        return op_end(&op, WABOT_ERR_NOT_FOUND);
    *score = n->score;
    return op_end(&op, WABOT_OK);
}

/* Ranks [*lo, *hi) of the members with a score in [min, max] in e's
 * index (none for no index). */
static void score_ranks(const mem_entry *e, int64_t min, int64_t max,
                        size_t *lo, size_t *hi)
{
    *lo = *hi = 0;
    if (e == NULL)
        return;
    wb_sl_seek(&e->u.zset->sl, min, "", 0, 0, lo);
    wb_sl_seek(&e->u.zset->sl, max, NULL, 0, 1, hi);
}

static int mem_sorted_count(void *impl, const char *key, int64_t min,
                            int64_t max, int64_t *count)
{
    mem_store *st = impl;
    mem_op op;
    zkey zk;
    mem_entry *e = zset_begin(st, &op, &zk, key);
    size_t lo, hi;
    score_ranks(e, min, max, &lo, &hi);
    *count = (int64_t)(hi - lo);
    return op_end(&op, WABOT_OK);
}

static int mem_sorted_range(void *impl, const char *key, int64_t min,
                            int64_t max, int64_t offset, int64_t limit,
                            uint32_t flags, wabot_storage_items *out)
{
    mem_store *st = impl;
    mem_op op;
    zkey zk;
    mem_entry *e = zset_begin(st, &op, &zk, key);
    size_t lo, hi;
    score_ranks(e, min, max, &lo, &hi);
    if ((uint64_t)offset >= hi - lo)
        return op_end(&op, WABOT_OK);
    int desc = (flags & WABOT_STORAGE_RANGE_DESC) != 0;
    size_t take = hi - lo - (size_t)offset;
    if (take > (uint64_t)limit)
        take = (size_t)limit;
    wb_sl_node *n = wb_sl_at(&e->u.zset->sl, desc ? hi - 1 - (size_t)offset
                                               : lo + (size_t)offset);
    int rc = WABOT_OK;
    for (size_t i = 0; i < take && rc == WABOT_OK; i++) {
        rc = wabot_storage_items_add_scored(out, n->bytes, n->len, n->score);
        n = desc ? n->backward : wb_sl_next(n);
    }
    return op_end(&op, rc);
}

static int mem_sorted_remove_range(void *impl, const char *key, int64_t min,
                                   int64_t max, int64_t *removed)
{
    mem_store *st = impl;
    mem_op op;
    zkey zk;
    mem_entry *e = zset_begin(st, &op, &zk, key);
    int64_t n = 0;
    if (e != NULL) {
        wb_sl_node *x = wb_sl_seek(&e->u.zset->sl, min, "", 0, 0, NULL);
        while (x != NULL && x->score <= max) {
            wb_sl_node *next = wb_sl_next(x);
            zset_remove(st, e->u.zset, x);
            x = next;
            n++;
        }
        zset_drop_if_empty(st, &op);
    }
    *removed = n;
    return op_end(&op, WABOT_OK);
}

/* ------------------------------------------------------------------ */
/* Version 2: transactions                                             */

/* What one op needs, allocated before anything changes so the apply
 * phase cannot fail half-way. */
typedef struct txn_prep {
    mem_entry *entry; /* a new value entry or sorted index, or NULL */
    char *val;        /* a new value for an existing entry that does not
                         fit its block, or NULL (it fits: written there) */
    size_t len;
    wb_sl_node *node; /* sorted_add: the member's node */
    int64_t number;   /* incr: the result */
    size_t klen;      /* a value op's key: its length and hash, from the */
    uint32_t hash;    /* prepare's lookup, for the apply's */
} txn_prep;

static void prep_free(txn_prep *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].entry != NULL)
            entry_free(p[i].entry);
        free(p[i].val);
        free(p[i].node);
    }
    free(p);
}

/* Judge op's condition against e (NULL = absent): 1 holds, 0 fails.
 * incr's result goes to *number. */
static int txn_condition(const wabot_storage_op *op, const mem_entry *e,
                         int64_t *number)
{
    int64_t cur = 0;
    switch (op->kind) {
    case WABOT_STORAGE_OP_CAS:
        return (e != NULL ? e->version : 0) == op->expected;
    case WABOT_STORAGE_OP_DEL_IF:
        return e != NULL && e->version == op->expected;
    case WABOT_STORAGE_OP_INCR:
        if (e != NULL && !parse_int64(val_of(e), e->len, &cur))
            return 0;
        return !__builtin_add_overflow(cur, op->number, number);
    default:
        return 1;
    }
}

/* The bytes a value op writes: op's value, or incr's result as text
 * (formatted into text). */
static const char *op_bytes(const wabot_storage_op *op, const txn_prep *p,
                            char text[24], size_t *len)
{
    if (op->kind != WABOT_STORAGE_OP_INCR) {
        *len = op->len;
        return op->val;
    }
    *len = (size_t)snprintf(text, 24, "%" PRId64, p->number);
    return text;
}

/* Prepare a value op whose condition holds: its new bytes, in a fresh
 * entry when the key is absent, in a block of their own when they do not
 * fit the existing entry's. */
static int txn_prepare_value(mem_store *st, const mem_op *mop,
                             const wabot_storage_op *op, mem_entry *e,
                             txn_prep *p)
{
    char text[24];
    size_t len;
    if (op->kind == WABOT_STORAGE_OP_DEL || op->kind == WABOT_STORAGE_OP_DEL_IF)
        return WABOT_OK;
    const char *val = op_bytes(op, p, text, &len);
    if (len > MEM_VALUE_MAX)
        return WABOT_ERR_TOO_LARGE;
    if (e == NULL) {
        p->entry = entry_alloc(st, mop, val, len);
        return p->entry != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    p->len = len;
    if (len <= vcap_of(e))
        return WABOT_OK; /* written in place by the apply */
    return copy_value(val, len, &p->val);
}

static int txn_prepare(mem_store *st, int64_t now, size_t n,
                       const wabot_storage_op *const *ops, txn_prep *prep,
                       size_t *failed)
{
    for (size_t i = 0; i < n; i++) {
        const wabot_storage_op *op = ops[i];
        mem_op mop;
        zkey zk;
        mop.sh = shard_of(st, op->key);
        mop.now = now;
        if (op->kind >= WABOT_STORAGE_OP_SORTED_ADD) {
            mem_entry *z = zset_lookup(st, &mop, &zk, op->key);
            if (op->kind == WABOT_STORAGE_OP_SORTED_REMOVE)
                continue;
            (void)z;
            /* A spare index even when one exists: an earlier op of this
             * transaction may empty and drop it. */
            prep[i].entry = zentry_alloc(st, &mop);
            if (prep[i].entry == NULL)
                return WABOT_ERR_NOMEM;
            prep[i].node = wb_sl_node_new(&prep[i].entry->u.zset->sl,
                                          op->number, op->val, op->len,
                                          NULL);
            if (prep[i].node == NULL)
                return WABOT_ERR_NOMEM;
            continue;
        }
        mem_entry *e = lookup(st, &mop, op->key, strlen(op->key));
        prep[i].klen = mop.klen;
        prep[i].hash = mop.hash;
        if (!txn_condition(op, e, &prep[i].number)) {
            *failed = i;
            return WABOT_ERR_CONFLICT;
        }
        int rc = txn_prepare_value(st, &mop, op, e, &prep[i]);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

/* Entry e takes the prepared value (ownership of a separate block moves;
 * a value that fits is copied into e's block) and a new version. */
static void entry_take(mem_store *st, mem_entry *e,
                       const wabot_storage_op *op, txn_prep *p,
                       int64_t expires_at)
{
    if (p->val != NULL) {
        val_adopt(e, p->val, p->len);
        p->val = NULL;
    } else {
        char text[24];
        size_t len;
        const char *val = op_bytes(op, p, text, &len);
        set_inline(e, val, len);
    }
    e->expires_at = expires_at;
    e->version = next_version(st);
}

/* With the same `now` as the prepare, so an entry the prepare found live
 * is still there. */
static void txn_apply_value(mem_store *st, int64_t now,
                            const wabot_storage_op *op, txn_prep *p,
                            uint64_t *version, int64_t *number)
{
    mem_op mop;
    mop.sh = shard_of(st, op->key);
    mop.now = now;
    /* The chain is searched again (an earlier op may have changed it);
     * the key's hash is the prepare's. */
    mem_entry *e = lookup_hashed(st, &mop, op->key, p->klen, p->hash);
    if (op->kind == WABOT_STORAGE_OP_DEL ||
        op->kind == WABOT_STORAGE_OP_DEL_IF) {
        if (e != NULL)
            unlink_entry(st, &mop);
        return;
    }
    int64_t at = deadline(mop.now, op->ttl_ms);
    if (op->kind == WABOT_STORAGE_OP_INCR && e != NULL)
        at = e->expires_at; /* incr keeps an existing TTL */
    if (p->entry != NULL) {
        e = p->entry;
        p->entry = NULL;
        entry_link(st, &mop, e, at);
    } else {
        entry_take(st, e, op, p, at);
    }
    *version = e->version;
    if (op->kind == WABOT_STORAGE_OP_INCR)
        *number = p->number;
}

static void txn_apply_sorted(mem_store *st, int64_t now,
                             const wabot_storage_op *op, txn_prep *p)
{
    mem_op mop;
    zkey zk;
    mop.sh = shard_of(st, op->key);
    mop.now = now;
    mem_entry *z = zset_lookup(st, &mop, &zk, op->key);
    if (op->kind == WABOT_STORAGE_OP_SORTED_REMOVE) {
        wb_sl_node *n = z != NULL ? zset_find(st, z->u.zset, op->val, op->len)
                                  : NULL;
        if (n != NULL) {
            zset_remove(st, z->u.zset, n);
            zset_drop_if_empty(st, &mop);
        }
        return;
    }
    if (z == NULL) {
        z = p->entry; /* the spare prepared for this */
        p->entry = NULL;
        entry_link(st, &mop, z, 0);
    }
    zset_put(st, z->u.zset, p->node);
    p->node = NULL;
}

static int mem_txn(void *impl, size_t n, const wabot_storage_op *const *ops,
                   uint64_t *versions, int64_t *numbers, size_t *failed)
{
    mem_store *st = impl;
    txn_prep *prep = calloc(n, sizeof *prep);
    if (prep == NULL)
        return WABOT_ERR_NOMEM;
    /* One shard (the wrapper checked the ops share a hash tag); the mask
     * keeps a backend-level caller that did not check correct too. */
    uint32_t mask = 0;
    for (size_t i = 0; i < n; i++)
        mask |= UINT32_C(1) << shard_index(ops[i]->key);
    lock_mask(st, mask);
    /* One instant for the whole transaction: what the prepare judged
     * (live, expired) holds for the apply. */
    int64_t now = st->clock.now_ms(st->clock.ud);
    int rc = txn_prepare(st, now, n, ops, prep, failed);
    if (rc == WABOT_OK) {
        for (size_t i = 0; i < n; i++) {
            if (ops[i]->kind >= WABOT_STORAGE_OP_SORTED_ADD)
                txn_apply_sorted(st, now, ops[i], &prep[i]);
            else
                txn_apply_value(st, now, ops[i], &prep[i], &versions[i],
                                &numbers[i]);
        }
    }
    unlock_mask(st, mask);
    prep_free(prep, n);
    return rc;
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
    .scan = mem_scan,
    .get_many = mem_get_many,
    .put_many = mem_put_many,
    .sorted_add = mem_sorted_add,
    .sorted_remove = mem_sorted_remove,
    .sorted_score = mem_sorted_score,
    .sorted_count = mem_sorted_count,
    .sorted_range = mem_sorted_range,
    .sorted_remove_range = mem_sorted_remove_range,
    .txn = mem_txn,
};

/* ------------------------------------------------------------------ */
/* Public                                                              */

/* Set up a zeroed store's shards, index and mutexes; on failure free it
 * (what was set up, and st). */
static int mem_init(mem_store *st)
{
    size_t ready = 0; /* shards set up */
    int ok = wb_sl_init(&st->order, (uint64_t)(uintptr_t)st) == 0;
    int order_mu = ok && pthread_mutex_init(&st->order_mu, NULL) == 0;
    for (ok = order_mu; ok && ready < MEM_SHARDS; ready++) {
        mem_shard *sh = &st->shards[ready];
        if (wb_htab_init(&sh->tab, NULL, MEM_MIN_BUCKETS,
                         offsetof(mem_entry, key)) != WABOT_OK)
            break;
        if (wb_mutex_init(&sh->mu) != 0) {
            wb_htab_free(&sh->tab);
            break;
        }
    }
    if (ready == MEM_SHARDS)
        return WABOT_OK;
    for (size_t i = 0; i < ready; i++) {
        wb_htab_free(&st->shards[i].tab);
        pthread_mutex_destroy(&st->shards[i].mu);
    }
    if (order_mu)
        pthread_mutex_destroy(&st->order_mu);
    wb_sl_destroy(&st->order);
    free(st);
    return WABOT_ERR_NOMEM;
}

wabot_storage *wabot_storage_memory_new(const wabot_clock *clock)
{
    if (clock != NULL && (clock->version == 0 || clock->now_ms == NULL))
        return NULL;
    mem_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    if (mem_init(st) != WABOT_OK)
        return NULL;
    if (clock != NULL) {
        st->clock = *clock;
    } else {
        st->clock.version = WABOT_CLOCK_VERSION;
        st->clock.now_ms = system_now_ms;
        st->clock.ud = NULL;
    }
    wb_siphash_key(st, &st->k0, &st->k1);
    st->marks = wb_marks_new(&st->clock);
    st->receipts = wb_rtab_new(&st->clock);
    wabot_storage *s = st->marks != NULL && st->receipts != NULL
                           ? wb_storage_wrap(&mem_vtable, st, "memory")
                           : NULL;
    if (s == NULL) {
        mem_destroy(st);
        return NULL;
    }
    s->process_local = 1;
    s->marks = st->marks;
    s->receipts = st->receipts;
    return s;
}

int64_t wabot_storage_memory_count(wabot_storage *s)
{
    if (s == NULL || s->vt != &mem_vtable)
        return WABOT_ERR_INVAL;
    mem_store *st = s->impl;
    lock_mask(st, ALL_SHARDS);
    int64_t now = st->clock.now_ms(st->clock.ud), n = 0;
    for (size_t i = 0; i < MEM_SHARDS; i++) {
        mem_shard *sh = &st->shards[i];
        sweep(st, sh, now);
        n += (int64_t)(sh->tab.count - sh->nsorted);
    }
    unlock_mask(st, ALL_SHARDS);
    return n;
}
