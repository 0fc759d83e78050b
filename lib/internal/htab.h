/* An intrusive chained hash table (lib/core/htab.c): the one the library's
 * in-memory tables are built on. A node is embedded in the caller's entry
 * (first member, or found back with offsetof); the table never allocates
 * nodes, only its bucket array. Keys are byte strings kept in the entry at
 * a fixed distance from its node (the table's key_off: a flexible array
 * member after the node), so a node holds no key pointer; the caller
 * computes the hash (wb_htab_hash: SipHash-1-3 with the table's random key,
 * because keys may hold numbers and ids chosen by outsiders).
 * Not thread-safe: callers lock. Private.
 *
 * 16 bytes a node (issue 12: the memory store keeps one per storage key,
 * millions of small records): a 32-bit hash (the bucket index and a cheap
 * first comparison; the bytes decide) and a 32-bit key length (keys are
 * shorter than 4 GiB: WB_HTAB_KEY_MAX; callers bound theirs far lower). */
#ifndef WB_HTAB_H
#define WB_HTAB_H

#include <stddef.h>
#include <stdint.h>

#include "wabot/core.h"
#include "siphash.h"

#define WB_HTAB_KEY_MAX UINT32_MAX

typedef struct wb_hnode {
    struct wb_hnode *next;
    uint32_t hash;
    uint32_t klen;
} wb_hnode;

typedef struct wb_htab {
    wb_hnode **buckets;
    size_t nbuckets; /* a power of two, at most 2^32 */
    size_t count;
    size_t key_off; /* a node's key: (const char *)node + key_off */
    uint64_t k0, k1; /* hash key */
    const wabot_allocator *alloc;
} wb_htab;

/* An empty table of `nbuckets` (a power of two) buckets with a fresh
 * random hash key, whose nodes' keys are key_off bytes after them
 * (offsetof(entry, key) - offsetof(entry, node)). WABOT_OK or NOMEM. */
int wb_htab_init(wb_htab *t, const wabot_allocator *a, size_t nbuckets,
                 size_t key_off);
/* Free the bucket array (the nodes are the caller's). */
void wb_htab_free(wb_htab *t);

static inline uint32_t wb_htab_hash(const wb_htab *t, const void *key,
                                    size_t klen)
{
    return (uint32_t)wb_siphash13(t->k0, t->k1, key, klen);
}

/* The key bytes of a node of t (its klen bytes). */
static inline const char *wb_htab_key(const wb_htab *t, const wb_hnode *n)
{
    return (const char *)n + t->key_off;
}

/* The link that points to the node with this key, or to the NULL ending
 * its chain: *slot is the node or NULL; `*slot = n->next` unlinks it. */
wb_hnode **wb_htab_slot(const wb_htab *t, uint32_t hash, const char *key,
                        size_t klen);
static inline wb_hnode *wb_htab_find(const wb_htab *t, uint32_t hash,
                                     const char *key, size_t klen)
{
    return *wb_htab_slot(t, hash, key, klen);
}

/* Link n (its hash and klen set, its key at key_off; the key not
 * present). The table
 * doubles at load factor 1; a failed growth keeps it (longer chains, same
 * answers), so adding never fails. */
void wb_htab_add(wb_htab *t, wb_hnode *n);
/* Link n without growing (for callers with their own sizing policy). */
void wb_htab_link(wb_htab *t, wb_hnode *n);
/* Unlink the node *slot points to (slot from wb_htab_slot, *slot not
 * NULL). */
static inline void wb_htab_unlink_at(wb_htab *t, wb_hnode **slot)
{
    *slot = (*slot)->next;
    t->count--;
}
/* Unlink n (it must be in the table). */
void wb_htab_remove(wb_htab *t, wb_hnode *n);
/* Rehash into `nbuckets` (a power of two). WABOT_OK, or NOMEM with the
 * table unchanged. */
int wb_htab_resize(wb_htab *t, size_t nbuckets);

/* Unlink every node of bucket i for which dead(n, ud) holds and pass it
 * to drop(n, ud) (which may free it). Returns how many went. For tables
 * whose entries expire: sweep a few buckets per operation, and all of
 * them before growing, so the table tracks the live keys. */
size_t wb_htab_sweep_bucket(wb_htab *t, size_t i,
                            int (*dead)(const wb_hnode *n, void *ud),
                            void (*drop)(wb_hnode *n, void *ud), void *ud);

/* Call fn on every node (fn may free the node it gets, not others). */
void wb_htab_each(wb_htab *t, void (*fn)(wb_hnode *n, void *ud), void *ud);

#endif
