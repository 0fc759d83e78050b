/* Allocation through a wabot_allocator (NULL = libc). Private. */
#ifndef WB_ALLOC_H
#define WB_ALLOC_H

#include <stddef.h>

#include "wabot/core.h"

/* libc as an allocator table: for code that needs a table where no
 * context supplies one (the default of every context, context-free
 * public checks). */
extern const wabot_allocator wb_libc_allocator;

void *wb_malloc(const wabot_allocator *a, size_t n);
void *wb_calloc(const wabot_allocator *a, size_t n, size_t size);
void *wb_realloc(const wabot_allocator *a, void *p, size_t n);
void wb_free(const wabot_allocator *a, void *p);
/* NULL in -> NULL out; NULL also on out of memory. */
char *wb_strdup(const wabot_allocator *a, const char *s);
char *wb_strndup(const wabot_allocator *a, const char *s, size_t n);
/* Replace *slot with a copy of s (NULL clears). WABOT_OK or NOMEM (slot
 * untouched on failure). */
int wb_str_replace(const wabot_allocator *a, char **slot, const char *s);
/* Make room for `need` items of `size` bytes in the array *items of
 * capacity *cap (doubling; *items and *cap updated). WABOT_OK or NOMEM
 * (the array untouched on failure). */
int wb_grow(const wabot_allocator *a, void **items, size_t need, size_t *cap,
            size_t size);

#endif
