/* The storage handle: wraps a backend's vtable and checks every argument
 * before the backend sees it, so backends only implement semantics. */
#include <stdlib.h>
#include <string.h>

#include "storage.h"

wabot_storage *wb_storage_wrap(const wabot_storage_vtable *vt, void *impl,
                               const char *name)
{
    wabot_storage *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->vt = vt;
    s->impl = impl;
    s->name = name;
    return s;
}

wabot_storage *wabot_storage_new(const wabot_storage_vtable *vt, void *impl)
{
    if (vt == NULL || vt->version == 0)
        return NULL;
    /* Members of version 1; a newer table only grows at the end. */
    if (vt->get == NULL || vt->set == NULL || vt->set_nx == NULL ||
        vt->cas == NULL || vt->del == NULL || vt->del_if == NULL ||
        vt->incr == NULL || vt->expire == NULL || vt->destroy == NULL)
        return NULL;
    return wb_storage_wrap(vt, impl, "custom");
}

void wabot_storage_free(wabot_storage *s)
{
    if (s == NULL)
        return;
    s->vt->destroy(s->impl);
    free(s);
}

const char *wabot_storage_name(const wabot_storage *s)
{
    return s != NULL ? s->name : NULL;
}

int wabot_buf_set(wabot_buf *buf, const char *data, size_t len)
{
    if (buf == NULL || (data == NULL && len > 0) || len == SIZE_MAX)
        return WABOT_ERR_INVAL;
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return WABOT_ERR_NOMEM;
    if (len > 0)
        memcpy(copy, data, len);
    copy[len] = '\0';
    free(buf->data);
    buf->data = copy;
    buf->len = len;
    return WABOT_OK;
}

int wb_storage_key_part_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Argument checks shared by the wrappers                              */

static int key_ok(const wabot_storage *s, const char *key)
{
    if (s == NULL || key == NULL || key[0] == '\0')
        return 0;
    /* strnlen: never scan far past the limit of a huge key. */
    return strnlen(key, WB_STORAGE_KEY_MAX + 1) <= WB_STORAGE_KEY_MAX;
}

static int write_ok(const wabot_storage *s, const char *key, const char *val,
                    size_t len, int64_t ttl_ms)
{
    return key_ok(s, key) && ttl_ms >= 0 && (val != NULL || len == 0);
}

/* Backends always receive a real value pointer, even for an empty value. */
static const char *val_or_empty(const char *val)
{
    return val != NULL ? val : "";
}

/* ------------------------------------------------------------------ */
/* Wrappers                                                            */

int wabot_storage_get(wabot_storage *s, const char *key, char **val,
                      size_t *len, uint64_t *version)
{
    if (val != NULL)
        *val = NULL;
    if (!key_ok(s, key) || val == NULL)
        return WABOT_ERR_INVAL;
    wabot_buf buf = {NULL, 0};
    uint64_t ver = 0;
    int rc = s->vt->get(s->impl, key, &buf, &ver);
    if (rc == WABOT_OK && buf.data == NULL)
        rc = WABOT_ERR_STORAGE; /* backend bug: success without a value */
    if (rc != WABOT_OK) {
        free(buf.data);
        return rc;
    }
    *val = buf.data;
    if (len != NULL)
        *len = buf.len;
    if (version != NULL)
        *version = ver;
    return WABOT_OK;
}

int wabot_storage_set(wabot_storage *s, const char *key, const char *val,
                      size_t len, int64_t ttl_ms, uint64_t *version)
{
    if (!write_ok(s, key, val, len, ttl_ms))
        return WABOT_ERR_INVAL;
    uint64_t ver = 0;
    int rc = s->vt->set(s->impl, key, val_or_empty(val), len, ttl_ms, &ver);
    if (rc == WABOT_OK && version != NULL)
        *version = ver;
    return rc;
}

int wabot_storage_set_nx(wabot_storage *s, const char *key, const char *val,
                         size_t len, int64_t ttl_ms, uint64_t *version)
{
    if (!write_ok(s, key, val, len, ttl_ms))
        return WABOT_ERR_INVAL;
    uint64_t ver = 0;
    int rc =
        s->vt->set_nx(s->impl, key, val_or_empty(val), len, ttl_ms, &ver);
    if (rc == WABOT_OK && version != NULL)
        *version = ver;
    return rc;
}

int wabot_storage_cas(wabot_storage *s, const char *key, uint64_t expected,
                      const char *val, size_t len, int64_t ttl_ms,
                      uint64_t *version)
{
    if (!write_ok(s, key, val, len, ttl_ms))
        return WABOT_ERR_INVAL;
    uint64_t ver = 0;
    int rc = s->vt->cas(s->impl, key, expected, val_or_empty(val), len,
                        ttl_ms, &ver);
    if (rc == WABOT_OK && version != NULL)
        *version = ver;
    return rc;
}

int wabot_storage_del(wabot_storage *s, const char *key)
{
    if (!key_ok(s, key))
        return WABOT_ERR_INVAL;
    return s->vt->del(s->impl, key);
}

int wabot_storage_del_if(wabot_storage *s, const char *key,
                         uint64_t expected)
{
    if (!key_ok(s, key))
        return WABOT_ERR_INVAL;
    return s->vt->del_if(s->impl, key, expected);
}

int wabot_storage_incr(wabot_storage *s, const char *key, int64_t delta,
                       int64_t ttl_ms, int64_t *result)
{
    if (!key_ok(s, key) || ttl_ms < 0)
        return WABOT_ERR_INVAL;
    int64_t r = 0;
    int rc = s->vt->incr(s->impl, key, delta, ttl_ms, &r);
    if (rc == WABOT_OK && result != NULL)
        *result = r;
    return rc;
}

int wabot_storage_expire(wabot_storage *s, const char *key, int64_t ttl_ms)
{
    if (!key_ok(s, key) || ttl_ms < 0)
        return WABOT_ERR_INVAL;
    return s->vt->expire(s->impl, key, ttl_ms);
}
