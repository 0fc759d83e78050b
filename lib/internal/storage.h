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

/* One item of a wabot_storage_items list (libc memory). */
typedef struct wb_item {
    char *key; /* NUL-terminated copy */
    size_t klen;
    char *val; /* NULL = no value */
    size_t vlen;
    uint64_t version;
    int64_t score;
    int status; /* WABOT_OK or WABOT_ERR_NOT_FOUND */
} wb_item;

struct wabot_storage_items {
    wb_item *v;
    size_t n, cap;
    char *cursor; /* scan: the next cursor; NULL = "0" */
};

/* len bytes of p (p may be NULL when len is 0) + NUL, libc memory; NULL on
 * out of memory or len SIZE_MAX. */
char *wb_storage_dup(const char *p, size_t len);

/* A new, empty list; NULL on out of memory. */
wabot_storage_items *wb_items_new(void);
/* A list of n items holding the keys, every status NOT_FOUND (get_many). */
int wb_items_of_keys(size_t n, const char *const *keys,
                     wabot_storage_items **out);

/* The Redis Cluster hash tag of key: *tag and *len get the part between the
 * first '{' and the next '}' when it is non-empty, else the whole key. */
void wb_storage_hash_tag(const char *key, const char **tag, size_t *len);

/* Longest key in bytes is WB_STORAGE_KEY_MAX (above); the public
 * constants must agree with the backends: */
#define WB_STORAGE_SCORE_OK(x)                                                \
    ((x) >= WABOT_STORAGE_SCORE_MIN && (x) <= WABOT_STORAGE_SCORE_MAX)

/* Record the detail for wabot_storage_errmsg() (this thread, handle s)
 * and return status. */
int wb_storage_fail(const wabot_storage *s, int status, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* Wrap a backend under a static `name` without the public checks (for the
 * built-in backends, whose tables are known to be complete). Takes
 * ownership of impl only on success. NULL on out of memory. */
wabot_storage *wb_storage_wrap(const wabot_storage_vtable *vt, void *impl,
                               const char *name);

/* 1 if s is usable as one component of a library storage key
 * ("conv:{<org>:<customer>}"): non-NULL, non-empty, no control
 * characters (bytes < 0x20 and 0x7f). */
int wb_storage_key_part_ok(const char *s);

#endif
