/* Allocation through the context's allocator (NULL = libc). */
#include "alloc.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static void *libc_malloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n);
}

static void *libc_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n);
}

static void libc_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

const wabot_allocator wb_libc_allocator = {
    WABOT_ALLOCATOR_VERSION, libc_malloc, libc_realloc, libc_free, NULL};

void *wb_malloc(const wabot_allocator *a, size_t n)
{
    if (n == 0)
        n = 1;
    return a ? a->malloc(n, a->ud) : malloc(n);
}

void *wb_calloc(const wabot_allocator *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = wb_malloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *wb_realloc(const wabot_allocator *a, void *p, size_t n)
{
    if (n == 0)
        n = 1;
    return a ? a->realloc(p, n, a->ud) : realloc(p, n);
}

void wb_free(const wabot_allocator *a, void *p)
{
    if (!p)
        return;
    if (a)
        a->free(p, a->ud);
    else
        free(p);
}

char *wb_strndup(const wabot_allocator *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = wb_malloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *wb_strdup(const wabot_allocator *a, const char *s)
{
    return s ? wb_strndup(a, s, strlen(s)) : NULL;
}

int wb_str_replace(const wabot_allocator *a, char **slot, const char *s)
{
    char *copy = NULL;
    if (s && !(copy = wb_strdup(a, s)))
        return WABOT_ERR_NOMEM;
    wb_free(a, *slot);
    *slot = copy;
    return WABOT_OK;
}

int wb_grow(const wabot_allocator *a, void **items, size_t need, size_t *cap,
            size_t size)
{
    if (need <= *cap)
        return WABOT_OK;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return WABOT_ERR_NOMEM;
        ncap *= 2;
    }
    if (size && ncap > SIZE_MAX / size)
        return WABOT_ERR_NOMEM;
    void *p = wb_realloc(a, *items, ncap * size);
    if (!p)
        return WABOT_ERR_NOMEM;
    *items = p;
    *cap = ncap;
    return WABOT_OK;
}
