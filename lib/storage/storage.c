/* The storage handle: wraps a backend's vtable and checks every argument
 * before the backend sees it, so backends only implement semantics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
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
    s->turn = NULL;
    s->batch = NULL;
    s->process_local = 0;
    s->marks = NULL;
    s->receipts = NULL;
    s->detail_owner = NULL;
    return s;
}

const wb_turn_path *wb_storage_turn_path(const wabot_storage *s,
                                         const wabot_scheduler *sched,
                                         const wabot_limiter *limiter)
{
    if (s == NULL || s->turn == NULL ||
        !s->turn->usable(s, sched, limiter))
        return NULL;
    return s->turn;
}

void wb_turn_begin_clear(wb_turn_begin_res *res)
{
    free(res->name);
    free(res->conv);
    res->name = NULL;
    res->conv = NULL;
}

wabot_storage *wabot_storage_new(const wabot_storage_vtable *vt, void *impl)
{
    if (vt == NULL || vt->version == 0)
        return wb_null("wabot_storage_new: NULL vtable or version 0");
    /* Members of version 1; a newer table only grows at the end. */
    if (vt->get == NULL || vt->set == NULL || vt->set_nx == NULL ||
        vt->cas == NULL || vt->del == NULL || vt->del_if == NULL ||
        vt->incr == NULL || vt->expire == NULL || vt->destroy == NULL)
        return wb_null("wabot_storage_new: a version-1 operation of the vtable is NULL");
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
    char *copy = wb_storage_dup(data, len);
    if (copy == NULL)
        return WABOT_ERR_NOMEM;
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

/* ------------------------------------------------------------------ */
/* Version 2: details, version-1 fallbacks                             */

/* Details go to the library's one per-thread slot (lib/core/errors.c),
 * tagged with the handle. */
int wb_storage_fail(const wabot_storage *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_detailv(s, fmt, ap);
    va_end(ap);
    return status;
}

const char *wabot_storage_errmsg(const wabot_storage *s)
{
    const char *d = wb_detail_of(s);
    /* A built-in backend's failures (Redis: a timeout, an I/O error, an
     * error reply) are recorded against its own handle, which the
     * backend's ops cannot name the storage by. */
    return d[0] == '\0' && s->detail_owner ? wb_detail_of(s->detail_owner)
                                            : d;
}

/* A version-2 member, or NULL for a version-1 table (whose struct ends
 * before it: never read it) or a member left NULL. */
#define V2_OP(s, member) ((s)->vt->version >= 2 ? (s)->vt->member : NULL)

static int unsupported(const wabot_storage *s, const char *op)
{
    return wb_storage_fail(s, WABOT_ERR_UNSUPPORTED,
                           "storage backend \"%s\" implements vtable version "
                           "%u without %s; %s needs a version-2 backend",
                           s->name, (unsigned)s->vt->version, op, op);
}

static int score_ok(const wabot_storage *s, int64_t score)
{
    if (WB_STORAGE_SCORE_OK(score))
        return 1;
    wb_storage_fail(s, WABOT_ERR_INVAL,
                    "score %lld is outside [-2^53, 2^53]", (long long)score);
    return 0;
}

static int member_ok(const wabot_storage *s, const char *member, size_t len)
{
    if ((member != NULL || len == 0) && len <= WABOT_STORAGE_MEMBER_MAX)
        return 1;
    if (member == NULL)
        wb_storage_fail(s, WABOT_ERR_INVAL, "member is NULL with a length");
    else
        wb_storage_fail(s, WABOT_ERR_INVAL, "member longer than %d bytes",
                        WABOT_STORAGE_MEMBER_MAX);
    return 0;
}

static int bad_key(const wabot_storage *s, const char *what)
{
    return wb_storage_fail(s, WABOT_ERR_INVAL,
                           "%s: NULL storage, or a key that is NULL, empty "
                           "or longer than %d bytes",
                           what, WB_STORAGE_KEY_MAX);
}

/* ------------------------------------------------------------------ */
/* Scan                                                                */

/* A cursor is "0" or up to 2 * (key max + 32) printable ASCII bytes. */
static int cursor_ok(const char *cursor)
{
    size_t n = strnlen(cursor, 2 * (WB_STORAGE_KEY_MAX + 32) + 1);
    if (n == 0 || n > 2 * (WB_STORAGE_KEY_MAX + 32))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (cursor[i] <= ' ' || cursor[i] > '~')
            return 0;
    return 1;
}

int wabot_storage_scan(wabot_storage *s, const char *prefix,
                       const char *cursor, size_t count, uint32_t flags,
                       wabot_storage_items **page)
{
    if (page != NULL)
        *page = NULL;
    if (s == NULL || prefix == NULL || cursor == NULL || page == NULL)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "scan: NULL storage, prefix, cursor or page");
    if (count == 0 || count > WABOT_STORAGE_PAGE_MAX)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "scan: count must be 1..%d",
                               WABOT_STORAGE_PAGE_MAX);
    if (strnlen(prefix, WB_STORAGE_KEY_MAX + 1) > WB_STORAGE_KEY_MAX ||
        !cursor_ok(cursor))
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "scan: prefix too long or malformed cursor");
    if (V2_OP(s, scan) == NULL)
        return unsupported(s, "scan");
    wabot_storage_items *it = wb_items_new();
    if (it == NULL)
        return WABOT_ERR_NOMEM;
    wabot_buf next = {NULL, 0};
    int rc = s->vt->scan(s->impl, prefix, cursor, count,
                         flags & WABOT_STORAGE_SCAN_VALUES, it, &next);
    if (rc == WABOT_OK && (it->n > count || next.data == NULL ||
                           !cursor_ok(next.data)))
        rc = wb_storage_fail(s, WABOT_ERR_STORAGE,
                             "scan: backend returned %zu keys for count %zu "
                             "or a malformed cursor", it->n, count);
    if (rc != WABOT_OK) {
        free(next.data);
        wabot_storage_items_free(it);
        return rc;
    }
    it->cursor = next.data;
    *page = it;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */

static int keys_ok(const wabot_storage *s, size_t n, const char *const *keys)
{
    if (n > WABOT_STORAGE_BATCH_MAX) {
        wb_storage_fail(s, WABOT_ERR_INVAL, "batch of %zu keys (most %d)", n,
                        WABOT_STORAGE_BATCH_MAX);
        return 0;
    }
    if (n > 0 && keys == NULL) {
        wb_storage_fail(s, WABOT_ERR_INVAL, "batch: keys is NULL");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!key_ok(s, keys[i])) {
            bad_key(s, "batch");
            return 0;
        }
    return 1;
}

/* get_many on a version-1 backend: one get per key. */
static int get_each(wabot_storage *s, size_t n, const char *const *keys,
                    wabot_storage_items *it)
{
    for (size_t i = 0; i < n; i++) {
        wabot_buf buf = {NULL, 0};
        uint64_t ver = 0;
        int rc = s->vt->get(s->impl, keys[i], &buf, &ver);
        if (rc == WABOT_OK)
            rc = buf.data != NULL
                     ? wabot_storage_items_found(it, i, buf.data, buf.len,
                                                 ver)
                     : WABOT_ERR_STORAGE;
        free(buf.data);
        if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
            return rc;
    }
    return WABOT_OK;
}

int wabot_storage_get_many(wabot_storage *s, size_t n,
                           const char *const *keys,
                           wabot_storage_items **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "get_many: NULL storage or out");
    if (!keys_ok(s, n, keys))
        return WABOT_ERR_INVAL;
    wabot_storage_items *it;
    int rc = wb_items_of_keys(n, keys, &it);
    if (rc != WABOT_OK || n == 0) {
        *out = rc == WABOT_OK ? it : NULL;
        return rc;
    }
    if (V2_OP(s, get_many) != NULL)
        rc = s->vt->get_many(s->impl, n, keys, it);
    else
        rc = get_each(s, n, keys, it);
    if (rc != WABOT_OK) {
        wabot_storage_items_free(it);
        return rc;
    }
    *out = it;
    return WABOT_OK;
}

int wabot_storage_put_many(wabot_storage *s, size_t n,
                           const char *const *keys, const char *const *vals,
                           const size_t *lens, const int64_t *ttls_ms,
                           uint64_t *versions)
{
    if (s == NULL)
        return wb_storage_fail(s, WABOT_ERR_INVAL, "put_many: NULL storage");
    if (!keys_ok(s, n, keys))
        return WABOT_ERR_INVAL;
    if (n == 0)
        return WABOT_OK;
    if (vals == NULL || lens == NULL)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "put_many: vals or lens is NULL");
    for (size_t i = 0; i < n; i++)
        if ((vals[i] == NULL && lens[i] > 0) ||
            (ttls_ms != NULL && ttls_ms[i] < 0))
            return wb_storage_fail(s, WABOT_ERR_INVAL,
                                   "put_many: item %zu has a NULL value "
                                   "with a length or a negative TTL", i);
    /* Backends get real value pointers and TTLs, as for set. */
    const char **v = malloc(n * sizeof *v);
    int64_t *t = malloc(n * sizeof *t);
    uint64_t *ver = calloc(n, sizeof *ver);
    int rc = WABOT_ERR_NOMEM;
    if (v != NULL && t != NULL && ver != NULL) {
        for (size_t i = 0; i < n; i++) {
            v[i] = val_or_empty(vals[i]);
            t[i] = ttls_ms != NULL ? ttls_ms[i] : 0;
        }
        if (V2_OP(s, put_many) != NULL) {
            rc = s->vt->put_many(s->impl, n, keys, v, lens, t, ver);
        } else {
            rc = WABOT_OK;
            for (size_t i = 0; i < n && rc == WABOT_OK; i++)
                rc = s->vt->set(s->impl, keys[i], v[i], lens[i], t[i],
                                &ver[i]);
        }
        if (rc == WABOT_OK && versions != NULL)
            memcpy(versions, ver, n * sizeof *ver);
    }
    free(v);
    free(t);
    free(ver);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Sorted indexes                                                      */

int wabot_storage_sorted_add(wabot_storage *s, const char *key,
                             const char *member, size_t len, int64_t score)
{
    if (!key_ok(s, key))
        return bad_key(s, "sorted_add");
    if (!member_ok(s, member, len) || !score_ok(s, score))
        return WABOT_ERR_INVAL;
    if (V2_OP(s, sorted_add) == NULL)
        return unsupported(s, "sorted_add");
    return s->vt->sorted_add(s->impl, key, val_or_empty(member), len, score);
}

int wabot_storage_sorted_remove(wabot_storage *s, const char *key,
                                const char *member, size_t len)
{
    if (!key_ok(s, key))
        return bad_key(s, "sorted_remove");
    if (!member_ok(s, member, len))
        return WABOT_ERR_INVAL;
    if (V2_OP(s, sorted_remove) == NULL)
        return unsupported(s, "sorted_remove");
    return s->vt->sorted_remove(s->impl, key, val_or_empty(member), len);
}

int wabot_storage_sorted_score(wabot_storage *s, const char *key,
                               const char *member, size_t len,
                               int64_t *score)
{
    if (!key_ok(s, key) || score == NULL)
        return bad_key(s, "sorted_score (or NULL score)");
    if (!member_ok(s, member, len))
        return WABOT_ERR_INVAL;
    if (V2_OP(s, sorted_score) == NULL)
        return unsupported(s, "sorted_score");
    int64_t sc = 0;
    int rc = s->vt->sorted_score(s->impl, key, val_or_empty(member), len,
                                 &sc);
    if (rc == WABOT_OK)
        *score = sc;
    return rc;
}

/* min/max inside the score range (callers may pass INT64_MIN/MAX). */
static void clamp_range(int64_t *min, int64_t *max)
{
    if (*min < WABOT_STORAGE_SCORE_MIN)
        *min = WABOT_STORAGE_SCORE_MIN;
    if (*max > WABOT_STORAGE_SCORE_MAX)
        *max = WABOT_STORAGE_SCORE_MAX;
}

int wabot_storage_sorted_count(wabot_storage *s, const char *key,
                               int64_t min, int64_t max, int64_t *count)
{
    if (!key_ok(s, key) || count == NULL)
        return bad_key(s, "sorted_count (or NULL count)");
    if (V2_OP(s, sorted_count) == NULL)
        return unsupported(s, "sorted_count");
    clamp_range(&min, &max);
    if (min > max) {
        *count = 0;
        return WABOT_OK;
    }
    int64_t n = 0;
    int rc = s->vt->sorted_count(s->impl, key, min, max, &n);
    if (rc == WABOT_OK)
        *count = n;
    return rc;
}

int wabot_storage_sorted_range(wabot_storage *s, const char *key,
                               int64_t min, int64_t max, int64_t offset,
                               int64_t limit, uint32_t flags,
                               wabot_storage_items **out)
{
    if (out != NULL)
        *out = NULL;
    if (!key_ok(s, key) || out == NULL)
        return bad_key(s, "sorted_range (or NULL out)");
    if (offset < 0 || limit < 1 || limit > WABOT_STORAGE_PAGE_MAX)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "sorted_range: offset must be >= 0 and limit "
                               "1..%d", WABOT_STORAGE_PAGE_MAX);
    if (V2_OP(s, sorted_range) == NULL)
        return unsupported(s, "sorted_range");
    wabot_storage_items *it = wb_items_new();
    if (it == NULL)
        return WABOT_ERR_NOMEM;
    clamp_range(&min, &max);
    int rc = WABOT_OK;
    if (min <= max)
        rc = s->vt->sorted_range(s->impl, key, min, max, offset, limit,
                                 flags & WABOT_STORAGE_RANGE_DESC, it);
    if (rc == WABOT_OK && it->n > (size_t)limit)
        rc = wb_storage_fail(s, WABOT_ERR_STORAGE,
                             "sorted_range: backend returned too many items");
    if (rc != WABOT_OK) {
        wabot_storage_items_free(it);
        return rc;
    }
    *out = it;
    return WABOT_OK;
}

int wabot_storage_sorted_remove_range(wabot_storage *s, const char *key,
                                      int64_t min, int64_t max,
                                      int64_t *removed)
{
    if (!key_ok(s, key))
        return bad_key(s, "sorted_remove_range");
    if (V2_OP(s, sorted_remove_range) == NULL)
        return unsupported(s, "sorted_remove_range");
    clamp_range(&min, &max);
    int64_t n = 0;
    int rc = min <= max ? s->vt->sorted_remove_range(s->impl, key, min, max,
                                                     &n)
                        : WABOT_OK;
    if (rc == WABOT_OK && removed != NULL)
        *removed = n;
    return rc;
}
