/*
 * Storage: the key-value interface behind conversation state, profiles,
 * dedup and rate limits.
 *
 * Every operation is one atomic step that a Redis backend performs in one
 * round trip. Values are byte strings; every value carries a version (a
 * positive integer that grows on every write of the key), which makes
 * optimistic concurrency (compare-and-set) possible. TTLs are in
 * milliseconds; 0 means no expiry. An expired key behaves exactly like an
 * absent one.
 *
 * A backend implements wabot_storage_vtable; wabot_storage wraps it in a
 * handle. Library code and the conformance suite only use the wrapper
 * functions below, so any backend that passes tests/conformance behaves like
 * the built-in ones. Implementations must be thread-safe.
 */
#ifndef WABOT_STORAGE_H
#define WABOT_STORAGE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A value sink: backends copy a value into it with wabot_buf_set(), so
 *  the library owns the memory whatever allocator the backend uses. */
typedef struct wabot_buf wabot_buf;
/** Copy len bytes into the sink (a NUL is appended). NOMEM on failure. */
WABOT_API int wabot_buf_set(wabot_buf *buf, const char *data, size_t len);

#define WABOT_STORAGE_VTABLE_VERSION 1

/**
 * Storage operations. All return WABOT_OK or a negative status; a backend
 * that cannot reach its store returns WABOT_ERR_STORAGE (or
 * WABOT_ERR_TIMEOUT). Keys are NUL-terminated; values may hold any bytes.
 *
 * get      value into `out` and its version into *version;
 *          WABOT_ERR_NOT_FOUND if absent.
 * set      unconditional write; ttl_ms 0 = keep no expiry; *version gets
 *          the new version (version may be NULL).
 * set_nx   write only if absent; WABOT_ERR_EXISTS otherwise.
 * cas      write only if the current version equals `expected`
 *          (0 = the key must be absent); WABOT_ERR_CONFLICT otherwise.
 * del      delete; WABOT_ERR_NOT_FOUND if absent.
 * del_if   delete only if the version equals `expected`; CONFLICT if it
 *          differs, NOT_FOUND if absent (releases a claim safely).
 * incr     add delta to an integer value (absent = 0) and return the
 *          result; the TTL is set only when the key is created.
 *          WABOT_ERR_CONFLICT if the value is not an integer.
 * expire   set a key's TTL (0 removes it); NOT_FOUND if absent.
 * destroy  release the backend (called by wabot_storage_free).
 */
typedef struct wabot_storage_vtable {
    uint32_t version; /**< WABOT_STORAGE_VTABLE_VERSION */
    int (*get)(void *impl, const char *key, wabot_buf *out,
               uint64_t *version);
    int (*set)(void *impl, const char *key, const char *val, size_t len,
               int64_t ttl_ms, uint64_t *version);
    int (*set_nx)(void *impl, const char *key, const char *val, size_t len,
                  int64_t ttl_ms, uint64_t *version);
    int (*cas)(void *impl, const char *key, uint64_t expected,
               const char *val, size_t len, int64_t ttl_ms,
               uint64_t *version);
    int (*del)(void *impl, const char *key);
    int (*del_if)(void *impl, const char *key, uint64_t expected);
    int (*incr)(void *impl, const char *key, int64_t delta, int64_t ttl_ms,
                int64_t *result);
    int (*expire)(void *impl, const char *key, int64_t ttl_ms);
    void (*destroy)(void *impl);
} wabot_storage_vtable;

/**
 * Wrap a backend. `vt` is borrowed (static tables are typical) and must
 * outlive the handle; `impl` is owned: vt->destroy(impl) runs on free.
 * NULL if vt is NULL, its version is 0 or any operation is NULL, or on out
 * of memory. A vtable with a version newer than this library knows is
 * accepted (extra members are ignored).
 */
WABOT_API wabot_storage *wabot_storage_new(const wabot_storage_vtable *vt,
                                           void *impl);
WABOT_API void wabot_storage_free(wabot_storage *s);
/** Name given at creation ("memory", "redis", or "custom"). */
WABOT_API const char *wabot_storage_name(const wabot_storage *s);

/**
 * The built-in memory backend: thread-safe (one mutex), expiry by the
 * given clock (NULL = system clock; copied), lazily on access plus a sweep
 * when the table grows. Embedded default; state is lost with the process.
 */
WABOT_API wabot_storage *wabot_storage_memory_new(const wabot_clock *clock);
/** Number of live keys in a memory backend (expired keys excluded);
 *  WABOT_ERR_INVAL for another backend. */
WABOT_API int64_t wabot_storage_memory_count(wabot_storage *s);

/* Wrappers: argument checks, then the backend. Strings returned through
 * `*val` are owned by the caller (free with wabot_free()), NUL-terminated,
 * and *len (may be NULL) gets their length. */
WABOT_API int wabot_storage_get(wabot_storage *s, const char *key,
                                char **val, size_t *len, uint64_t *version);
WABOT_API int wabot_storage_set(wabot_storage *s, const char *key,
                                const char *val, size_t len, int64_t ttl_ms,
                                uint64_t *version);
WABOT_API int wabot_storage_set_nx(wabot_storage *s, const char *key,
                                   const char *val, size_t len,
                                   int64_t ttl_ms, uint64_t *version);
WABOT_API int wabot_storage_cas(wabot_storage *s, const char *key,
                                uint64_t expected, const char *val,
                                size_t len, int64_t ttl_ms,
                                uint64_t *version);
WABOT_API int wabot_storage_del(wabot_storage *s, const char *key);
WABOT_API int wabot_storage_del_if(wabot_storage *s, const char *key,
                                   uint64_t expected);
WABOT_API int wabot_storage_incr(wabot_storage *s, const char *key,
                                 int64_t delta, int64_t ttl_ms,
                                 int64_t *result);
WABOT_API int wabot_storage_expire(wabot_storage *s, const char *key,
                                   int64_t ttl_ms);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_STORAGE_H */
