/* The receipt table: delivery records in fixed-size slots (receipt_table.h).
 *
 * A record is a 64-byte slot (a cache line), or a 128-byte one for a
 * payload of WB_RTAB_PAYLOAD_WIDE bytes: 88 bits of its id's keyed hash
 * (two SipHash-1-3 outputs under independent random keys, as marks.c: the
 * same argument on collisions holds, a false match would merge two
 * messages' records with a chance of n / 2^88), its deadline in
 * milliseconds (40 bits from 8.7 years before the table was made; a TTL
 * past 26 years never ends) and the payload. RTAB_SHARDS shards, a mutex
 * each: the HTTP threads' receipts and the loop's sends at once.
 *
 * A shard keeps each size's slots in chunks of CHUNK_SLOTS that never move
 * (a freed slot goes on its size's free list and is taken by the next
 * record of that size), and finds them through an open-addressing index of
 * 4-byte slot numbers with linear probing: the index, not the slots, has
 * the empty room a hash table needs, so a record costs its slot plus 5 to
 * 11 bytes of index. Index entries: 0 = empty, 1 = deleted (probes go on
 * past it), else (the slot's number << 1 | its size class) + 2. An expired
 * record keeps its slot until it is met by a lookup or the index is
 * rebuilt, which happens when live, expired and deleted entries reach 3/4
 * of the index: the rebuild keeps the live records only, in an index at
 * most half full (so at least a quarter-index of inserts separates two
 * rebuilds), and frees the slots of the others. Chunks are kept once made:
 * the slots follow the peak of live records, not their current number. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mutex.h"
#include "receipt_table.h"
#include "dlclock.h"
#include "siphash.h"

#define RTAB_SHARDS 16 /* a power of two */
#define MIN_INDEX 64
#define CHUNK_SLOTS 256
#define IX_EMPTY 0u
#define IX_DELETED 1u
#define IX_FIRST 2u
#define DL_FREE 0u  /* a slot on the free list */
#define DL_FIRST 1u /* the first deadline: the table's start */
#define DL_BITS WB_DL_BITS
#define DL_MASK WB_DL_MASK
#define DL_NEVER WB_DL_NEVER
#define TAG_MASK ((1u << (64 - DL_BITS)) - 1)

/* The two slot sizes: the header below, then the payload. */
enum { CLS_NARROW = 0, CLS_WIDE = 1, N_CLS = 2 };

typedef struct rslot {
    uint64_t h0; /* the hash; on the free list: the next free slot + 1 */
    uint64_t w;  /* the hash's other 24 bits << DL_BITS | the deadline */
} rslot;

static const size_t payload_len[N_CLS] = {WB_RTAB_PAYLOAD,
                                          WB_RTAB_PAYLOAD_WIDE};
static const size_t slot_len[N_CLS] = {
    sizeof(rslot) + WB_RTAB_PAYLOAD, sizeof(rslot) + WB_RTAB_PAYLOAD_WIDE};

_Static_assert(sizeof(rslot) + WB_RTAB_PAYLOAD == 64,
               "a receipt slot is 64 bytes");
_Static_assert(sizeof(rslot) + WB_RTAB_PAYLOAD_WIDE == 128,
               "a wide receipt slot is 128 bytes");

/* One size's slots. */
typedef struct rpool {
    unsigned char **chunks;
    size_t nchunks, chunks_cap;
    uint32_t nslots; /* slots handed out from the chunks so far */
    uint32_t free1;  /* the first free slot + 1; 0 = none */
} rpool;

typedef struct rshard {
    pthread_mutex_t mu;
    uint32_t *index;
    size_t cap;  /* index entries, a power of two */
    size_t used; /* index entries not empty */
    rpool pool[N_CLS];
} rshard;

struct wb_rtab {
    rshard shards[RTAB_SHARDS];
    wb_dlclock clock; /* deadlines: DL_FIRST at the table's start */
    uint64_t k[4];
    pthread_mutex_t orgs_mu;
    _Atomic size_t norgs;
    char *orgs[WB_RTAB_ORGS];
};

typedef uint64_t rtime;

/* An index entry's parts, and back. */
static uint32_t entry(uint32_t n, unsigned cls)
{
    return (n << 1 | cls) + IX_FIRST;
}

static unsigned entry_cls(uint32_t e)
{
    return (e - IX_FIRST) & 1;
}

static uint32_t entry_slot(uint32_t e)
{
    return (e - IX_FIRST) >> 1;
}

static rslot *slot_at(rshard *sh, unsigned cls, uint32_t n)
{
    return (rslot *)(sh->pool[cls].chunks[n / CHUNK_SLOTS] +
                     (size_t)(n % CHUNK_SLOTS) * slot_len[cls]);
}

/* The slot an index entry names. */
static rslot *slot_of(rshard *sh, uint32_t e)
{
    return slot_at(sh, entry_cls(e), entry_slot(e));
}

static unsigned char *payload_of(rslot *s)
{
    return (unsigned char *)(s + 1);
}

static uint64_t deadline(const rslot *s)
{
    return s->w & DL_MASK;
}

static int is_live(const rslot *s, rtime now)
{
    return deadline(s) > now;
}

static rtime now_of(const wb_rtab *t)
{
    return wb_dl_now(&t->clock);
}

/* The index position holding (h0, h1), or -1. */
static int64_t find(rshard *sh, uint64_t h0, uint32_t h1)
{
    size_t mask = sh->cap - 1;
    for (size_t i = h0 & mask;; i = (i + 1) & mask) {
        uint32_t e = sh->index[i];
        if (e == IX_EMPTY)
            return -1;
        if (e == IX_DELETED)
            continue;
        const rslot *s = slot_of(sh, e);
        if (s->h0 == h0 && s->w >> DL_BITS == h1)
            return (int64_t)i;
    }
}

/* Give the slot an index entry names back to its size's free list. */
static void slot_free(rshard *sh, uint32_t e)
{
    rpool *p = &sh->pool[entry_cls(e)];
    rslot *s = slot_of(sh, e);
    s->w = DL_FREE;
    s->h0 = p->free1;
    p->free1 = entry_slot(e) + 1;
}

/* A slot of size class cls for a new record, as its index entry; 0 on
 * out of memory. */
static uint32_t slot_take(rshard *sh, unsigned cls)
{
    rpool *p = &sh->pool[cls];
    if (p->free1 != 0) {
        uint32_t n = p->free1 - 1;
        p->free1 = (uint32_t)slot_at(sh, cls, n)->h0;
        return entry(n, cls);
    }
    if (p->nslots >= (UINT32_MAX - IX_FIRST) >> 1)
        return 0;
    if (p->nslots == p->nchunks * CHUNK_SLOTS) {
        if (p->nchunks == p->chunks_cap) {
            size_t cap = p->chunks_cap ? p->chunks_cap * 2 : 4;
            unsigned char **c = realloc(p->chunks, cap * sizeof *c);
            if (c == NULL)
                return 0;
            p->chunks = c;
            p->chunks_cap = cap;
        }
        unsigned char *chunk = malloc(CHUNK_SLOTS * slot_len[cls]);
        if (chunk == NULL)
            return 0;
        p->chunks[p->nchunks++] = chunk;
    }
    return entry(p->nslots++, cls);
}

/* Rebuild the index with the live records only, at most half full; the
 * others' slots are freed. WABOT_OK or WABOT_ERR_NOMEM (unchanged). */
static int rebuild(rshard *sh, rtime now)
{
    size_t live = 0;
    for (size_t i = 0; i < sh->cap; i++) {
        uint32_t e = sh->index[i];
        live += e >= IX_FIRST && is_live(slot_of(sh, e), now);
    }
    size_t cap = MIN_INDEX;
    while (cap < live * 2)
        cap *= 2;
    uint32_t *index = calloc(cap, sizeof *index);
    if (index == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < sh->cap; i++) {
        uint32_t e = sh->index[i];
        if (e < IX_FIRST)
            continue;
        const rslot *s = slot_of(sh, e);
        if (!is_live(s, now)) {
            slot_free(sh, e);
            continue;
        }
        size_t j = s->h0 & (cap - 1);
        while (index[j] != IX_EMPTY)
            j = (j + 1) & (cap - 1);
        index[j] = e;
    }
    free(sh->index);
    sh->index = index;
    sh->cap = cap;
    sh->used = live;
    return WABOT_OK;
}

wb_rtab *wb_rtab_new(const wabot_clock *clock)
{
    wb_rtab *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    wb_dlclock_init(&t->clock, clock, DL_FIRST);
    wb_siphash_key(t, &t->k[0], &t->k[1]);
    wb_siphash_key(&t->k[2], &t->k[2], &t->k[3]);
    if (pthread_mutex_init(&t->orgs_mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    size_t ready = 0;
    for (; ready < RTAB_SHARDS; ready++) {
        rshard *sh = &t->shards[ready];
        sh->cap = MIN_INDEX;
        sh->index = calloc(sh->cap, sizeof *sh->index);
        if (sh->index == NULL || wb_mutex_init(&sh->mu) != 0) {
            free(sh->index);
            break;
        }
    }
    if (ready == RTAB_SHARDS)
        return t;
    for (size_t i = 0; i < ready; i++) {
        pthread_mutex_destroy(&t->shards[i].mu);
        free(t->shards[i].index);
    }
    pthread_mutex_destroy(&t->orgs_mu);
    free(t);
    return NULL;
}

void wb_rtab_free(wb_rtab *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < RTAB_SHARDS; i++) {
        rshard *sh = &t->shards[i];
        pthread_mutex_destroy(&sh->mu);
        free(sh->index);
        for (unsigned cls = 0; cls < N_CLS; cls++) {
            rpool *p = &sh->pool[cls];
            for (size_t c = 0; c < p->nchunks; c++)
                free(p->chunks[c]);
            free(p->chunks);
        }
    }
    for (size_t i = 0; i < atomic_load(&t->norgs); i++)
        free(t->orgs[i]);
    pthread_mutex_destroy(&t->orgs_mu);
    free(t);
}

void wb_rtab_lock(wb_rtab *t, const char *id, wb_rtab_cur *c)
{
    size_t len = strlen(id);
    c->h0 = wb_siphash13(t->k[0], t->k[1], id, len);
    c->h1 = (uint32_t)wb_siphash13(t->k[2], t->k[3], id, len) & TAG_MASK;
    rshard *sh = &t->shards[(c->h0 >> 60) & (RTAB_SHARDS - 1)];
    c->shard = sh;
    pthread_mutex_lock(&sh->mu);
    c->pos = find(sh, c->h0, c->h1);
    if (c->pos < 0)
        return;
    uint32_t e = sh->index[c->pos];
    if (!is_live(slot_of(sh, e), now_of(t))) {
        sh->index[c->pos] = IX_DELETED;
        slot_free(sh, e);
        c->pos = -1;
    }
}

void wb_rtab_unlock(wb_rtab_cur *c)
{
    pthread_mutex_unlock(&((rshard *)c->shard)->mu);
}

const void *wb_rtab_get(wb_rtab *t, const wb_rtab_cur *c, size_t *len)
{
    (void)t;
    rshard *sh = c->shard;
    if (c->pos < 0)
        return NULL;
    uint32_t e = sh->index[c->pos];
    if (len != NULL)
        *len = payload_len[entry_cls(e)];
    return payload_of(slot_of(sh, e));
}

int wb_rtab_put(wb_rtab *t, wb_rtab_cur *c, const void *payload, size_t len,
                int64_t ttl_ms)
{
    if (len != WB_RTAB_PAYLOAD && len != WB_RTAB_PAYLOAD_WIDE)
        return WABOT_ERR_INVAL;
    unsigned cls = len == WB_RTAB_PAYLOAD ? CLS_NARROW : CLS_WIDE;
    rshard *sh = c->shard;
    rslot *s;
    if (c->pos >= 0 && entry_cls(sh->index[c->pos]) == cls) {
        s = slot_of(sh, sh->index[c->pos]);
    } else if (c->pos >= 0) { /* the other size: a new slot, same place */
        uint32_t e = slot_take(sh, cls);
        if (e == 0)
            return WABOT_ERR_NOMEM;
        slot_free(sh, sh->index[c->pos]);
        sh->index[c->pos] = e;
        s = slot_of(sh, e);
        s->h0 = c->h0;
    } else {
        if ((sh->used + 1) * 4 > sh->cap * 3 &&
            rebuild(sh, now_of(t)) != WABOT_OK && sh->used + 1 >= sh->cap)
            return WABOT_ERR_NOMEM; /* else the index still has room */
        uint32_t e = slot_take(sh, cls);
        if (e == 0)
            return WABOT_ERR_NOMEM;
        size_t mask = sh->cap - 1, i = c->h0 & mask;
        while (sh->index[i] >= IX_FIRST)
            i = (i + 1) & mask;
        sh->used += sh->index[i] == IX_EMPTY;
        sh->index[i] = e;
        c->pos = (int64_t)i;
        s = slot_of(sh, e);
        s->h0 = c->h0;
    }
    s->w = (uint64_t)c->h1 << DL_BITS | wb_dl_after(&t->clock, ttl_ms);
    memcpy(payload_of(s), payload, len);
    return WABOT_OK;
}

void wb_rtab_remove(wb_rtab *t, wb_rtab_cur *c)
{
    (void)t;
    rshard *sh = c->shard;
    if (c->pos < 0)
        return;
    slot_free(sh, sh->index[c->pos]);
    sh->index[c->pos] = IX_DELETED;
    c->pos = -1;
}

unsigned wb_rtab_org_id(wb_rtab *t, const char *org)
{
    size_t n = atomic_load_explicit(&t->norgs, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(t->orgs[i], org) == 0)
            return (unsigned)i + 1;
    pthread_mutex_lock(&t->orgs_mu);
    size_t now = atomic_load_explicit(&t->norgs, memory_order_relaxed);
    unsigned id = 0;
    for (size_t i = n; i < now && id == 0; i++)
        if (strcmp(t->orgs[i], org) == 0)
            id = (unsigned)i + 1;
    if (id == 0 && now < WB_RTAB_ORGS &&
        (t->orgs[now] = strdup(org)) != NULL) {
        atomic_store_explicit(&t->norgs, now + 1, memory_order_release);
        id = (unsigned)now + 1;
    }
    pthread_mutex_unlock(&t->orgs_mu);
    return id;
}

const char *wb_rtab_org(wb_rtab *t, unsigned id)
{
    size_t n = atomic_load_explicit(&t->norgs, memory_order_acquire);
    return id >= 1 && id <= n ? t->orgs[id - 1] : NULL;
}

size_t wb_rtab_count(wb_rtab *t, size_t *bytes)
{
    size_t live = 0, b = sizeof *t;
    for (size_t i = 0; i < RTAB_SHARDS; i++) {
        rshard *sh = &t->shards[i];
        pthread_mutex_lock(&sh->mu);
        rtime now = now_of(t);
        (void)rebuild(sh, now); /* unchanged when it fails */
        for (size_t j = 0; j < sh->cap; j++) {
            uint32_t e = sh->index[j];
            live += e >= IX_FIRST && is_live(slot_of(sh, e), now);
        }
        b += sh->cap * sizeof *sh->index;
        for (unsigned cls = 0; cls < N_CLS; cls++)
            b += sh->pool[cls].nchunks * CHUNK_SLOTS * slot_len[cls] +
                 sh->pool[cls].chunks_cap * sizeof *sh->pool[cls].chunks;
        pthread_mutex_unlock(&sh->mu);
    }
    size_t n = atomic_load(&t->norgs);
    for (size_t i = 0; i < n; i++)
        b += strlen(t->orgs[i]) + 1;
    if (bytes != NULL)
        *bytes = b;
    return live;
}
