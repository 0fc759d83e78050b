/* Result lists of scan, batch get and sorted ranges: the caller reads
 * them, the backend fills them (copies of its bytes, so the list owns its
 * memory whatever allocator the backend uses). */
#include <stdlib.h>
#include <string.h>

#include "storage.h"

wabot_storage_items *wb_items_new(void)
{
    return calloc(1, sizeof(wabot_storage_items));
}

void wabot_storage_items_free(wabot_storage_items *it)
{
    if (it == NULL)
        return;
    for (size_t i = 0; i < it->n; i++) {
        free(it->v[i].key);
        free(it->v[i].val);
    }
    free(it->v);
    free(it->cursor);
    free(it);
}

char *wb_storage_dup(const char *p, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *c = malloc(len + 1);
    if (c == NULL)
        return NULL;
    if (len > 0)
        memcpy(c, p, len);
    c[len] = '\0';
    return c;
}

/* A new item at the end, zeroed, holding a copy of key; NULL on NOMEM. */
static wb_item *push(wabot_storage_items *it, const char *key, size_t klen)
{
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 16;
        wb_item *v = realloc(it->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        it->v = v;
        it->cap = cap;
    }
    char *k = wb_storage_dup(key, klen);
    if (k == NULL)
        return NULL;
    wb_item *e = &it->v[it->n++];
    memset(e, 0, sizeof *e);
    e->key = k;
    e->klen = klen;
    return e;
}

int wabot_storage_items_add(wabot_storage_items *it, const char *key,
                            size_t klen, const char *val, size_t vlen,
                            uint64_t version)
{
    if (it == NULL || (key == NULL && klen > 0) ||
        (val == NULL && vlen > 0))
        return WABOT_ERR_INVAL;
    char *v = NULL;
    if (val != NULL && (v = wb_storage_dup(val, vlen)) == NULL)
        return WABOT_ERR_NOMEM;
    wb_item *e = push(it, key != NULL ? key : "", klen);
    if (e == NULL) {
        free(v);
        return WABOT_ERR_NOMEM;
    }
    e->val = v;
    e->vlen = v != NULL ? vlen : 0;
    e->version = v != NULL ? version : 0;
    return WABOT_OK;
}

int wabot_storage_items_add_scored(wabot_storage_items *it,
                                   const char *member, size_t len,
                                   int64_t score)
{
    if (it == NULL || (member == NULL && len > 0))
        return WABOT_ERR_INVAL;
    wb_item *e = push(it, member != NULL ? member : "", len);
    if (e == NULL)
        return WABOT_ERR_NOMEM;
    e->score = score;
    return WABOT_OK;
}

int wabot_storage_items_found(wabot_storage_items *it, size_t i,
                              const char *val, size_t vlen, uint64_t version)
{
    if (it == NULL || i >= it->n || (val == NULL && vlen > 0))
        return WABOT_ERR_INVAL;
    char *v = wb_storage_dup(val != NULL ? val : "", vlen);
    if (v == NULL)
        return WABOT_ERR_NOMEM;
    wb_item *e = &it->v[i];
    free(e->val);
    e->val = v;
    e->vlen = vlen;
    e->version = version;
    e->status = WABOT_OK;
    return WABOT_OK;
}

int wb_items_of_keys(size_t n, const char *const *keys,
                     wabot_storage_items **out)
{
    wabot_storage_items *it = wb_items_new();
    if (it == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        wb_item *e = push(it, keys[i], strlen(keys[i]));
        if (e == NULL) {
            wabot_storage_items_free(it);
            return WABOT_ERR_NOMEM;
        }
        e->status = WABOT_ERR_NOT_FOUND;
    }
    *out = it;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Caller side                                                         */

static const wb_item *item(const wabot_storage_items *it, size_t i)
{
    return it != NULL && i < it->n ? &it->v[i] : NULL;
}

size_t wabot_storage_items_count(const wabot_storage_items *it)
{
    return it != NULL ? it->n : 0;
}

const char *wabot_storage_items_key(const wabot_storage_items *it, size_t i,
                                    size_t *len)
{
    const wb_item *e = item(it, i);
    if (len != NULL)
        *len = e != NULL ? e->klen : 0;
    return e != NULL ? e->key : NULL;
}

const char *wabot_storage_items_value(const wabot_storage_items *it,
                                      size_t i, size_t *len)
{
    const wb_item *e = item(it, i);
    if (len != NULL)
        *len = e != NULL ? e->vlen : 0;
    return e != NULL ? e->val : NULL;
}

uint64_t wabot_storage_items_version(const wabot_storage_items *it,
                                     size_t i)
{
    const wb_item *e = item(it, i);
    return e != NULL ? e->version : 0;
}

int64_t wabot_storage_items_score(const wabot_storage_items *it, size_t i)
{
    const wb_item *e = item(it, i);
    return e != NULL ? e->score : 0;
}

int wabot_storage_items_status(const wabot_storage_items *it, size_t i)
{
    const wb_item *e = item(it, i);
    return e != NULL ? e->status : WABOT_ERR_INVAL;
}

const char *wabot_storage_items_cursor(const wabot_storage_items *it)
{
    return it != NULL && it->cursor != NULL ? it->cursor : "0";
}
