/* The indexable skip list (lib/internal/skiplist.h), after Redis's
 * t_zset.c: levels drawn with p = 1/4, spans kept on every link. */
#include <stdlib.h>
#include <string.h>

#include "skiplist.h"

static wb_sl_node *alloc_node(int level, size_t len)
{
    size_t links = (size_t)level * sizeof(((wb_sl_node *)0)->lv[0]);
    wb_sl_node *n = malloc(sizeof *n + links + len + 1);
    if (n != NULL) {
        memset(n, 0, sizeof *n + links);
        n->level = level;
    }
    return n;
}

int wb_sl_init(wb_skiplist *sl, uint64_t seed)
{
    memset(sl, 0, sizeof *sl);
    sl->head = alloc_node(WB_SL_MAX_LEVEL, 0);
    if (sl->head == NULL)
        return -1;
    sl->level = 1;
    sl->rng = seed | 1;
    return 0;
}

void wb_sl_destroy(wb_skiplist *sl)
{
    if (sl->head == NULL)
        return;
    wb_sl_node *n = sl->head->lv[0].forward;
    while (n != NULL) {
        wb_sl_node *next = n->lv[0].forward;
        free(n);
        n = next;
    }
    free(sl->head);
    sl->head = NULL;
}

static int random_level(wb_skiplist *sl)
{
    /* xorshift64: quality is irrelevant here, speed is not. */
    uint64_t x = sl->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sl->rng = x;
    int level = 1;
    while (level < WB_SL_MAX_LEVEL && (x & 3) == 0) {
        level++;
        x >>= 2;
    }
    return level;
}

wb_sl_node *wb_sl_node_new(wb_skiplist *sl, int64_t score, const char *bytes,
                           size_t len, void *data)
{
    int level = random_level(sl);
    wb_sl_node *n = alloc_node(level, len);
    if (n == NULL)
        return NULL;
    char *b = (char *)&n->lv[level];
    if (len > 0)
        memcpy(b, bytes, len);
    b[len] = '\0';
    n->bytes = b;
    n->len = len;
    n->score = score;
    n->data = data;
    return n;
}

/* <0, 0, >0 as (score, bytes) of n compares with the given ones; bytes
 * NULL is above every string. */
static int cmp(const wb_sl_node *n, int64_t score, const char *bytes,
               size_t len)
{
    if (n->score != score)
        return n->score < score ? -1 : 1;
    if (bytes == NULL)
        return -1;
    size_t m = n->len < len ? n->len : len;
    int c = m > 0 ? memcmp(n->bytes, bytes, m) : 0;
    if (c != 0)
        return c;
    return n->len < len ? -1 : n->len > len ? 1 : 0;
}

/* Walk to the last node before the target at every level: update[i] and
 * rank[i] (rank of update[i], head = -1 counted as 0 with +1 offset). */
static void find_path(const wb_skiplist *sl, int64_t score,
                      const char *bytes, size_t len, int strict,
                      wb_sl_node **update, size_t *rank)
{
    wb_sl_node *x = sl->head;
    size_t r = 0;
    for (int i = sl->level - 1; i >= 0; i--) {
        for (;;) {
            wb_sl_node *f = x->lv[i].forward;
            if (f == NULL)
                break;
            int c = cmp(f, score, bytes, len);
            if (c > 0 || (c == 0 && !strict))
                break;
            r += x->lv[i].span;
            x = f;
        }
        update[i] = x;
        rank[i] = r;
    }
}

void wb_sl_insert(wb_skiplist *sl, wb_sl_node *n)
{
    wb_sl_node *update[WB_SL_MAX_LEVEL];
    size_t rank[WB_SL_MAX_LEVEL];
    find_path(sl, n->score, n->bytes, n->len, 0, update, rank);
    if (n->level > sl->level) {
        for (int i = sl->level; i < n->level; i++) {
            rank[i] = 0;
            update[i] = sl->head;
            update[i]->lv[i].span = sl->len;
        }
        sl->level = n->level;
    }
    for (int i = 0; i < n->level; i++) {
        n->lv[i].forward = update[i]->lv[i].forward;
        update[i]->lv[i].forward = n;
        n->lv[i].span = update[i]->lv[i].span - (rank[0] - rank[i]);
        update[i]->lv[i].span = (rank[0] - rank[i]) + 1;
    }
    for (int i = n->level; i < sl->level; i++)
        update[i]->lv[i].span++;
    n->backward = update[0] == sl->head ? NULL : update[0];
    if (n->lv[0].forward != NULL)
        n->lv[0].forward->backward = n;
    else
        sl->tail = n;
    sl->len++;
}

void wb_sl_delete(wb_skiplist *sl, wb_sl_node *n)
{
    wb_sl_node *update[WB_SL_MAX_LEVEL];
    size_t rank[WB_SL_MAX_LEVEL];
    find_path(sl, n->score, n->bytes, n->len, 0, update, rank);
    for (int i = 0; i < sl->level; i++) {
        if (update[i]->lv[i].forward == n) {
            update[i]->lv[i].span += n->lv[i].span - 1;
            update[i]->lv[i].forward = n->lv[i].forward;
        } else {
            update[i]->lv[i].span--;
        }
    }
    if (n->lv[0].forward != NULL)
        n->lv[0].forward->backward = n->backward;
    else
        sl->tail = n->backward;
    while (sl->level > 1 && sl->head->lv[sl->level - 1].forward == NULL)
        sl->level--;
    sl->len--;
    free(n);
}

wb_sl_node *wb_sl_seek(const wb_skiplist *sl, int64_t score,
                       const char *bytes, size_t len, int strict,
                       size_t *rank)
{
    wb_sl_node *update[WB_SL_MAX_LEVEL];
    size_t ranks[WB_SL_MAX_LEVEL];
    find_path(sl, score, bytes, len, strict, update, ranks);
    if (rank != NULL)
        *rank = ranks[0];
    return update[0]->lv[0].forward;
}

wb_sl_node *wb_sl_at(const wb_skiplist *sl, size_t rank)
{
    if (rank >= sl->len)
        return NULL;
    size_t want = rank + 1; /* spans count from the head */
    size_t passed = 0;
    wb_sl_node *x = sl->head;
    for (int i = sl->level - 1; i >= 0; i--) {
        while (x->lv[i].forward != NULL && passed + x->lv[i].span <= want) {
            passed += x->lv[i].span;
            x = x->lv[i].forward;
        }
        if (passed == want)
            return x;
    }
    return NULL;
}
