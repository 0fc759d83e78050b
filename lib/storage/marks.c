/* Marks: a compact set of keys with expiry times (marks.h).
 *
 * A mark is 16 bytes in an open-addressing table with linear probing: 88
 * bits of the key's keyed hash (two SipHash-1-3 outputs under independent
 * random keys; 64 + 24 bits) and its deadline in milliseconds (40 bits:
 * from 8.7 years before the set was made to 26 years after; a TTL past
 * that never ends). MARK_SHARDS shards, a mutex each: the
 * HTTP threads mark messages at once.
 *
 * Why a hash may stand for the key: a false "marked" would drop a
 * distinct message. Two keys share a mark only if all 88 bits collide;
 * with n marks live the chance that a new key meets one is about
 * n / 2^88 (3 x 10^-20 for ten million marks), and the hash keys are
 * random per set and never leave the process, so whoever chooses message
 * ids cannot aim at a collision.
 *
 * Deadlines: 0 = empty slot, 1 = deleted (a tombstone, so probes go on
 * past it), DL_NEVER = never expires.
 * An expired mark keeps its slot until the table is rebuilt, which
 * happens when live, expired and deleted slots together reach 3/4 of the
 * table: the rebuild keeps only the live marks, in a table at most half
 * full (it grows or shrinks to fit), so at least a quarter-table of
 * inserts separates two rebuilds (amortised O(1)), and a shard's memory
 * follows its live marks. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mutex.h"
#include "marks.h"
#include "dlclock.h"
#include "siphash.h"

#define MARK_SHARDS 16 /* a power of two */
#define MARK_MIN_SLOTS 64
#define SLOT_EMPTY 0u
#define SLOT_DELETED 1u
#define SLOT_FIRST 2u /* the first deadline: the set's start */
#define DL_BITS WB_DL_BITS
#define DL_MASK WB_DL_MASK
#define DL_NEVER WB_DL_NEVER
#define TAG_MASK ((1u << (64 - DL_BITS)) - 1)

typedef struct mark_slot {
    uint64_t h0;
    uint64_t w; /* the hash's other 24 bits << DL_BITS | the deadline:
                   SLOT_FIRST + ms since the set's start, or SLOT_* */
} mark_slot;

static uint64_t deadline(const mark_slot *s)
{
    return s->w & DL_MASK;
}

typedef struct mark_shard {
    pthread_mutex_t mu;
    mark_slot *slots;
    size_t cap;  /* a power of two */
    size_t used; /* slots not empty (live, expired or deleted) */
    char pad[24]; /* neighbours' mutexes on other cache lines */
} mark_shard;

struct wb_marks {
    mark_shard shards[MARK_SHARDS];
    wb_dlclock clock; /* deadlines: SLOT_FIRST at the set's start */
    uint64_t k[4];    /* two SipHash keys */
};

typedef struct mark_hash {
    uint64_t h0;
    uint32_t h1; /* 24 bits */
} mark_hash;

static mark_hash hash_of(const wb_marks *m, const char *key)
{
    size_t len = strlen(key);
    mark_hash h = {wb_siphash13(m->k[0], m->k[1], key, len),
                   (uint32_t)wb_siphash13(m->k[2], m->k[3], key, len) &
                       TAG_MASK};
    return h;
}

/* The shard from the high bits; the slot from the low ones. */
static mark_shard *shard_of(wb_marks *m, mark_hash h)
{
    return &m->shards[(h.h0 >> 60) & (MARK_SHARDS - 1)];
}

/* Time in the slots' unit: SLOT_FIRST + ms since the start. */
typedef uint64_t mark_time;

static int is_live(const mark_slot *s, mark_time now)
{
    return deadline(s) >= SLOT_FIRST && deadline(s) > now;
}

/* The slot holding h (live or expired), or NULL. */
static mark_slot *find(mark_shard *sh, mark_hash h)
{
    size_t mask = sh->cap - 1;
    for (size_t i = h.h0 & mask;; i = (i + 1) & mask) {
        mark_slot *s = &sh->slots[i];
        if (deadline(s) == SLOT_EMPTY)
            return NULL;
        if (deadline(s) != SLOT_DELETED && s->h0 == h.h0 &&
            s->w >> DL_BITS == h.h1)
            return s;
    }
}

/* Place h in a table known not to hold it; returns its slot. */
static mark_slot *place(mark_slot *slots, size_t cap, mark_hash h,
                        mark_time now, int *took_empty)
{
    size_t mask = cap - 1;
    for (size_t i = h.h0 & mask;; i = (i + 1) & mask) {
        mark_slot *s = &slots[i];
        *took_empty = deadline(s) == SLOT_EMPTY;
        if (*took_empty || !is_live(s, now))
            return s; /* empty, deleted or expired: free for h */
    }
}

/* Rebuild the shard with its live marks only, at most half full.
 * WABOT_OK, or WABOT_ERR_NOMEM (the shard unchanged). */
static int rebuild(mark_shard *sh, mark_time now)
{
    size_t live = 0;
    for (size_t i = 0; i < sh->cap; i++)
        live += is_live(&sh->slots[i], now);
    size_t cap = MARK_MIN_SLOTS;
    while (cap < live * 2)
        cap *= 2;
    mark_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < sh->cap; i++) {
        const mark_slot *s = &sh->slots[i];
        if (!is_live(s, now))
            continue;
        int empty;
        mark_hash h = {s->h0, (uint32_t)(s->w >> DL_BITS)};
        *place(slots, cap, h, now, &empty) = *s;
    }
    free(sh->slots);
    sh->slots = slots;
    sh->cap = cap;
    sh->used = live;
    return WABOT_OK;
}

wb_marks *wb_marks_new(const wabot_clock *clock)
{
    wb_marks *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    wb_dlclock_init(&m->clock, clock, SLOT_FIRST);
    wb_siphash_key(m, &m->k[0], &m->k[1]);
    wb_siphash_key(&m->k[2], &m->k[2], &m->k[3]);
    size_t ready = 0;
    for (; ready < MARK_SHARDS; ready++) {
        mark_shard *sh = &m->shards[ready];
        sh->cap = MARK_MIN_SLOTS;
        sh->slots = calloc(sh->cap, sizeof *sh->slots);
        if (sh->slots == NULL || wb_mutex_init(&sh->mu) != 0) {
            free(sh->slots);
            break;
        }
    }
    if (ready == MARK_SHARDS)
        return m;
    for (size_t i = 0; i < ready; i++) {
        pthread_mutex_destroy(&m->shards[i].mu);
        free(m->shards[i].slots);
    }
    free(m);
    return NULL;
}

void wb_marks_free(wb_marks *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < MARK_SHARDS; i++) {
        pthread_mutex_destroy(&m->shards[i].mu);
        free(m->shards[i].slots);
    }
    free(m);
}

static mark_time now_of(const wb_marks *m)
{
    return wb_dl_now(&m->clock);
}

int wb_marks_add(wb_marks *m, const char *key, int64_t ttl_ms)
{
    mark_hash h = hash_of(m, key);
    mark_shard *sh = shard_of(m, h);
    int rc = WABOT_OK;
    pthread_mutex_lock(&sh->mu);
    mark_time now = now_of(m);
    mark_slot *s = find(sh, h);
    if (s == NULL) {
        int empty;
        s = place(sh->slots, sh->cap, h, now, &empty);
        if (empty && (sh->used + 1) * 4 > sh->cap * 3) {
            /* Out of memory: the slot found still holds it, unless the
             * table is full. */
            if (rebuild(sh, now) == WABOT_OK)
                s = place(sh->slots, sh->cap, h, now, &empty);
            else if (sh->used + 1 >= sh->cap)
                rc = WABOT_ERR_NOMEM;
        }
        if (rc == WABOT_OK) {
            sh->used += empty;
            s->h0 = h.h0;
        }
    }
    if (rc == WABOT_OK)
        s->w = (uint64_t)h.h1 << DL_BITS | wb_dl_after(&m->clock, ttl_ms);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

int wb_marks_has(wb_marks *m, const char *key)
{
    mark_hash h = hash_of(m, key);
    mark_shard *sh = shard_of(m, h);
    pthread_mutex_lock(&sh->mu);
    const mark_slot *s = find(sh, h);
    int has = s != NULL && is_live(s, now_of(m));
    pthread_mutex_unlock(&sh->mu);
    return has;
}

int wb_marks_del(wb_marks *m, const char *key)
{
    mark_hash h = hash_of(m, key);
    mark_shard *sh = shard_of(m, h);
    pthread_mutex_lock(&sh->mu);
    mark_slot *s = find(sh, h);
    int rc = s != NULL && is_live(s, now_of(m)) ? WABOT_OK
                                                : WABOT_ERR_NOT_FOUND;
    if (s != NULL)
        s->w = (s->w & ~DL_MASK) | SLOT_DELETED;
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

size_t wb_marks_count(wb_marks *m, size_t *bytes)
{
    size_t n = 0, b = sizeof *m;
    for (size_t i = 0; i < MARK_SHARDS; i++) {
        mark_shard *sh = &m->shards[i];
        pthread_mutex_lock(&sh->mu);
        mark_time now = now_of(m);
        (void)rebuild(sh, now); /* as it would be; unchanged when it fails */
        for (size_t j = 0; j < sh->cap; j++)
            n += is_live(&sh->slots[j], now);
        b += sh->cap * sizeof *sh->slots;
        pthread_mutex_unlock(&sh->mu);
    }
    if (bytes != NULL)
        *bytes = b;
    return n;
}
