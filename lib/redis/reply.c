/* Redis replies in one block (lib/internal/redis.h: wb_redis_reply_free).
 *
 * hiredis builds a reply with an allocation per element and another per
 * string (malloc and free were ~27 % of the client's instructions in
 * bench_roundtrips, a job batch's reply holding hundreds of elements).
 * The library's connections build theirs with the functions below
 * instead: a reply and everything in it are carved, in the order the
 * reader meets them, out of blocks chained from the root's; freeing the
 * root frees the chain, and freeing an element is a no-op (it goes with
 * its root). So a reply is one allocation in the common case, a few for a
 * big one.
 *
 * Every object is preceded by a one-word header: the chain's first block
 * for a root, NULL for an element. The reader builds a reply top down
 * (an array before its elements, hiredis 0.14's read.c), so an element
 * finds its root by walking up the reader's tasks. */
#include <hiredis/hiredis.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

typedef struct rblock {
    struct rblock *next;
    struct rblock *tail; /* the first block: the one being filled */
    size_t used, cap;    /* bytes from the block's start */
} rblock;

typedef struct rhead {
    rblock *first; /* a root: its chain; NULL: an element */
} rhead;

#define ALIGN alignof(redisReply)
#define ROUND(n) (((n) + ALIGN - 1) / ALIGN * ALIGN)
#define OBJ (ROUND(sizeof(rhead)) + sizeof(redisReply))
/* The first block's size when the reply's size is not known yet (an
 * array's elements come after it): most replies fit. */
#define FIRST_BLOCK 512

static rhead *head_of(const redisReply *r)
{
    return (rhead *)(void *)((char *)(uintptr_t)r - ROUND(sizeof(rhead)));
}

/* n bytes (aligned) from the chain of `first`, a new block when the
 * current one is full; NULL on out of memory. */
static void *take(rblock *first, size_t n)
{
    rblock *b = first->tail;
    size_t at = ROUND(b->used);
    if (at > b->cap || n > b->cap - at) {
        size_t cap = b->cap * 2;
        size_t need = ROUND(sizeof(rblock)) + n;
        if (need < n)
            return NULL;
        if (cap < need)
            cap = need;
        rblock *nb = malloc(cap);
        if (nb == NULL)
            return NULL;
        nb->next = NULL;
        nb->tail = NULL;
        nb->used = ROUND(sizeof(rblock));
        nb->cap = cap;
        b->next = nb;
        first->tail = nb;
        b = nb;
        at = b->used;
    }
    b->used = at + n;
    return (char *)b + at;
}

/* A new object of `type` with `extra` bytes after it (a string's bytes,
 * an array's element vector), linked into its parent. hint: the first
 * block's size for a root. */
static redisReply *make(const redisReadTask *task, int type, size_t extra,
                        size_t hint)
{
    if (extra > SIZE_MAX / 2)
        return NULL;
    rhead *h;
    if (task->parent == NULL) {
        size_t need = ROUND(sizeof(rblock)) + OBJ + extra;
        size_t cap = need > hint ? need : hint;
        rblock *b = malloc(cap);
        if (b == NULL)
            return NULL;
        b->next = NULL;
        b->tail = b;
        b->cap = cap;
        b->used = ROUND(sizeof(rblock)) + OBJ + extra;
        h = (rhead *)(void *)((char *)b + ROUND(sizeof(rblock)));
        h->first = b;
    } else {
        const redisReadTask *t = task;
        while (t->parent != NULL)
            t = t->parent;
        rblock *first = head_of(t->obj)->first;
        h = take(first, OBJ + extra);
        if (h == NULL)
            return NULL;
        h->first = NULL;
    }
    redisReply *r = (redisReply *)(void *)((char *)h + ROUND(sizeof(rhead)));
    memset(r, 0, sizeof *r);
    r->type = type;
    if (task->parent != NULL) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *s, size_t len)
{
    redisReply *r = make(task, task->type, len + 1, len + 1 + 128);
    if (r == NULL)
        return NULL;
    r->str = (char *)(r + 1);
    memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t)elements : 0;
    if (n > SIZE_MAX / 4 / sizeof(redisReply *))
        return NULL;
    size_t vec = n * sizeof(redisReply *);
    /* room for the elements too, about, when it is the root */
    size_t hint = FIRST_BLOCK + n * (OBJ + 32);
    redisReply *r = make(task, REDIS_REPLY_ARRAY, vec, hint);
    if (r == NULL)
        return NULL;
    if (n > 0) {
        r->element = (redisReply **)(void *)(r + 1);
        memset(r->element, 0, vec);
    }
    r->elements = n;
    return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = make(task, REDIS_REPLY_INTEGER, 0, OBJ + 64);
    if (r != NULL)
        r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    return make(task, REDIS_REPLY_NIL, 0, OBJ + 64);
}

void wb_redis_reply_free(void *reply)
{
    if (reply == NULL)
        return;
    rblock *b = head_of(reply)->first;
    while (b != NULL) { /* NULL: an element, freed with its root */
        rblock *next = b->next;
        free(b);
        b = next;
    }
}

static redisReplyObjectFunctions block_functions = {
    create_string, create_array, create_integer, create_nil,
    wb_redis_reply_free};

void wb_redis_block_replies(redisContext *c)
{
    if (c != NULL && c->reader != NULL)
        c->reader->fn = &block_functions;
}
