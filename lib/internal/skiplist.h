/* An indexable skip list (as Redis's sorted sets): nodes ordered by
 * (score, bytes) with spans, so finding a position and the node at a rank
 * are both O(log n). The memory storage backend uses one for its ordered
 * key index (prefix scan) and one per sorted index. Not thread-safe: the
 * owner locks. Private. */
#ifndef WB_SKIPLIST_H
#define WB_SKIPLIST_H

#include <stddef.h>
#include <stdint.h>

#define WB_SL_MAX_LEVEL 32

typedef struct wb_sl_node wb_sl_node;
struct wb_sl_node {
    int64_t score;
    const char *bytes; /* len bytes + NUL, stored with the node */
    size_t len;
    void *data;           /* the owner's pointer */
    wb_sl_node *backward; /* level-0 predecessor; NULL for the first */
    int level;
    struct {
        wb_sl_node *forward;
        size_t span; /* nodes passed by following forward */
    } lv[];
};

typedef struct wb_skiplist {
    wb_sl_node *head; /* sentinel with WB_SL_MAX_LEVEL levels */
    wb_sl_node *tail;
    size_t len;
    int level;
    uint64_t rng; /* level dice */
} wb_skiplist;

/* 0 on success, -1 on out of memory. */
int wb_sl_init(wb_skiplist *sl, uint64_t seed);
/* Frees every node (not their data). */
void wb_sl_destroy(wb_skiplist *sl);

/* A node not yet linked (so an insert can be prepared before a commit
 * point and then cannot fail). Free an unlinked node with free(). */
wb_sl_node *wb_sl_node_new(wb_skiplist *sl, int64_t score, const char *bytes,
                           size_t len, void *data);
/* Link a node; (score, bytes) must not be in the list yet. */
void wb_sl_insert(wb_skiplist *sl, wb_sl_node *n);
/* Unlink and free a linked node. */
void wb_sl_delete(wb_skiplist *sl, wb_sl_node *n);

/* The first node >= (score, bytes) (strict: > it); bytes NULL stands for
 * a string above every string, so (s, NULL, strict) finds the first node
 * with a score above s. *rank gets its 0-based rank (len if none).
 * Returns NULL if there is none. */
wb_sl_node *wb_sl_seek(const wb_skiplist *sl, int64_t score,
                       const char *bytes, size_t len, int strict,
                       size_t *rank);
/* The node at a 0-based rank, NULL if rank >= len. */
wb_sl_node *wb_sl_at(const wb_skiplist *sl, size_t rank);

static inline wb_sl_node *wb_sl_next(const wb_sl_node *n)
{
    return n->lv[0].forward;
}

#endif
