/* jansson's allocator is process-wide (json_set_alloc_funcs), a context's is
 * not. Once a host opts in, jansson allocates through the allocator of the
 * context whose library call runs on the thread (a thread-local scope set
 * by the entry points), or libc outside any scope. Every block starts with
 * a header naming the free function and ud that allocated it, so a value
 * is freed by the allocator that made it whichever thread drops the last
 * reference, inside or outside any scope. Design and limits: doc/abi.md. */
#include "json_alloc.h"

#include <jansson.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct block_head {
    void (*free)(void *ptr, void *ud); /* NULL: libc */
    void *ud;
} block_head;

/* The header keeps the block's alignment for any type jansson stores. */
#define HEAD_SIZE                                                             \
    ((sizeof(block_head) + alignof(max_align_t) - 1) /                        \
     alignof(max_align_t) * alignof(max_align_t))

static _Thread_local const wabot_allocator *tls_json_alloc;

static void *json_route_malloc(size_t n)
{
    const wabot_allocator *a = tls_json_alloc;
    if (n > (size_t)-1 - HEAD_SIZE)
        return NULL;
    block_head *h = a ? a->malloc(n + HEAD_SIZE, a->ud)
                      : malloc(n + HEAD_SIZE);
    if (!h)
        return NULL;
    h->free = a ? a->free : NULL;
    h->ud = a ? a->ud : NULL;
    return (char *)h + HEAD_SIZE;
}

static void json_route_free(void *p)
{
    if (!p)
        return;
    block_head *h = (block_head *)(void *)((char *)p - HEAD_SIZE);
    if (h->free)
        h->free(h, h->ud);
    else
        free(h);
}

int wabot_allocator_route_json(void)
{
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    if (m == json_route_malloc && f == json_route_free)
        return WABOT_OK; /* already ours */
    if (m != malloc || f != free)
        return WABOT_ERR_STATE; /* the host's own: never replaced */
    json_set_alloc_funcs(json_route_malloc, json_route_free);
    return WABOT_OK;
}

const wabot_allocator *wb_json_scope_enter(const wabot_allocator *a)
{
    const wabot_allocator *prev = tls_json_alloc;
    tls_json_alloc = a;
    return prev;
}

void wb_json_scope_leave(const wabot_allocator *prev)
{
    tls_json_alloc = prev;
}

void wb_json_free(void *p)
{
    if (!p)
        return;
    json_free_t f = NULL;
    json_get_alloc_funcs(NULL, &f);
    f(p);
}
