/* Storage handle internals, shared by the wrapper and the built-in
 * backends. Private. */
#ifndef WB_STORAGE_H
#define WB_STORAGE_H

#include "wabot/storage.h"

/* Longest key the wrappers accept, in bytes (without the NUL). */
#define WB_STORAGE_KEY_MAX 1024

struct wabot_storage {
    const wabot_storage_vtable *vt; /* borrowed */
    void *impl;                     /* owned: vt->destroy(impl) on free */
    const char *name;               /* static string */
};

/* The sink behind wabot_buf_set(): libc memory, NUL-terminated. */
struct wabot_buf {
    char *data; /* NULL until set */
    size_t len;
};

/* Wrap a backend under a static `name` without the public checks (for the
 * built-in backends, whose tables are known to be complete). Takes
 * ownership of impl only on success. NULL on out of memory. */
wabot_storage *wb_storage_wrap(const wabot_storage_vtable *vt, void *impl,
                               const char *name);

/* 1 if s is usable as one component of a library storage key
 * ("wabot:conv:<org>:<customer>"): non-NULL, non-empty, no control
 * characters (bytes < 0x20 and 0x7f). */
int wb_storage_key_part_ok(const char *s);

#endif
