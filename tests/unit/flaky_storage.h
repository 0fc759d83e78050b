/* A storage that fails on demand: a version-1 backend over a memory
 * storage whose every operation returns WABOT_ERR_STORAGE while `down` is
 * set (a Redis restart, a network cut), for the tests of what the library
 * does when storage hiccups. Header-only: include it in one test file. */
#ifndef WABOT_TEST_FLAKY_STORAGE_H
#define WABOT_TEST_FLAKY_STORAGE_H

#include <stdatomic.h>
#include <stdlib.h>

#include "wabot.h"
#include "wabot/storage.h"

typedef struct flaky_storage {
    wabot_storage *inner;
    atomic_int down;
    atomic_long failed; /* operations refused while down */
} flaky_storage;

static int fs_refuse(flaky_storage *f)
{
    if (!atomic_load(&f->down))
        return 0;
    atomic_fetch_add(&f->failed, 1);
    return 1;
}

static int fs_get(void *impl, const char *key, wabot_buf *out,
                  uint64_t *version)
{
    flaky_storage *f = impl;
    if (fs_refuse(f))
        return WABOT_ERR_STORAGE;
    char *v = NULL;
    size_t len = 0;
    int rc = wabot_storage_get(f->inner, key, &v, &len, version);
    if (rc == WABOT_OK)
        rc = wabot_buf_set(out, v, len);
    wabot_free(v);
    return rc;
}

static int fs_set(void *impl, const char *key, const char *val, size_t len,
                  int64_t ttl_ms, uint64_t *version)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE
                        : wabot_storage_set(f->inner, key, val, len, ttl_ms,
                                            version);
}

static int fs_set_nx(void *impl, const char *key, const char *val,
                     size_t len, int64_t ttl_ms, uint64_t *version)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE
                        : wabot_storage_set_nx(f->inner, key, val, len,
                                               ttl_ms, version);
}

static int fs_cas(void *impl, const char *key, uint64_t expected,
                  const char *val, size_t len, int64_t ttl_ms,
                  uint64_t *version)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE
                        : wabot_storage_cas(f->inner, key, expected, val, len,
                                            ttl_ms, version);
}

static int fs_del(void *impl, const char *key)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE : wabot_storage_del(f->inner, key);
}

static int fs_del_if(void *impl, const char *key, uint64_t expected)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE
                        : wabot_storage_del_if(f->inner, key, expected);
}

static int fs_incr(void *impl, const char *key, int64_t delta, int64_t ttl_ms,
                   int64_t *result)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE
                        : wabot_storage_incr(f->inner, key, delta, ttl_ms,
                                             result);
}

static int fs_expire(void *impl, const char *key, int64_t ttl_ms)
{
    flaky_storage *f = impl;
    return fs_refuse(f) ? WABOT_ERR_STORAGE
                        : wabot_storage_expire(f->inner, key, ttl_ms);
}

static void fs_destroy(void *impl)
{
    (void)impl; /* the test owns the flaky_storage and its inner storage */
}

static const wabot_storage_vtable flaky_storage_vt = {
    1, fs_get, fs_set, fs_set_nx, fs_cas, fs_del, fs_del_if, fs_incr,
    fs_expire, fs_destroy, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL};

/* A storage handle over f (f->inner must be set); free it with
 * wabot_storage_free, then free f->inner. */
static inline wabot_storage *flaky_storage_new(flaky_storage *f)
{
    atomic_init(&f->down, 0);
    atomic_init(&f->failed, 0);
    return wabot_storage_new(&flaky_storage_vt, f);
}

#endif
