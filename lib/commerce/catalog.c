/* The catalog in storage (wabot/commerce.h, doc/commerce.md "Storage").
 *
 * An organisation's catalog is, all under the hash tag {<org>} so one
 * transaction can change every part of it:
 *   commerce:{org}:p:<sku>      the product record (schema 1, JSON)
 *   commerce:{org}:all          sorted index: sku by creation order
 *   commerce:{org}:cat:<name>   sorted index: the category's skus
 *   commerce:{org}:seq          creation counter (the indexes' scores)
 *   commerce:{org}:count        number of products
 *   commerce:{org}:rev          revision, +1 on every change (the
 *                               matcher rebuilds its index when it moved)
 * A product's version is its record's storage version, so compare-and-set
 * needs no field of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "wabot/storage.h"

/* How often an unconditional update or delete retries when another writer
 * changed the product between its read and its write. */
#define MAX_RETRIES 8

int wb_org_check(wabot_ctx *ctx, const char *org)
{
    if (!org || !org[0] || strlen(org) > 128)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "organisation must be 1..128 bytes");
    for (const char *c = org; *c; c++)
        if (*c == '{' || *c == '}' || (unsigned char)*c < 0x20)
            return wb_error(ctx, WABOT_ERR_INVAL,
                            "organisation must not contain braces or "
                            "control characters");
    return WABOT_OK;
}

int wb_catalog_key(char out[WB_KEY_MAX], const char *org, const char *what,
                   const char *rest)
{
    int n = snprintf(out, WB_KEY_MAX, "commerce:{%s}:%s%s%s", org, what,
                     rest ? ":" : "", rest ? rest : "");
    return n > 0 && n < WB_KEY_MAX ? WABOT_OK : WABOT_ERR_INVAL;
}

/* An integer counter stored by incr; absent = 0. */
static int read_counter(wabot_ctx *ctx, const char *org, const char *what,
                        int64_t *value)
{
    char key[WB_KEY_MAX];
    wb_catalog_key(key, org, what, NULL);
    char *val = NULL;
    int rc = wabot_storage_get(ctx->storage, key, &val, NULL, NULL);
    if (rc == WABOT_ERR_NOT_FOUND) {
        *value = 0;
        return WABOT_OK;
    }
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read %s", key);
    *value = strtoll(val, NULL, 10);
    wabot_free(val);
    return WABOT_OK;
}

int wb_catalog_revision(wabot_ctx *ctx, const char *org, int64_t *rev)
{
    return read_counter(ctx, org, "rev", rev);
}

int wabot_catalog_count(wabot_ctx *ctx, const char *org, int64_t *count)
{
    if (!ctx || !count)
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    return rc != WABOT_OK ? rc : read_counter(ctx, org, "count", count);
}

void wb_products_free(wabot_ctx *ctx, wabot_product **ps, size_t n)
{
    for (size_t i = 0; ps && i < n; i++)
        wabot_product_free(ps[i]);
    wb_free(&ctx->alloc, ps);
}

int wb_catalog_get_many(wabot_ctx *ctx, const char *org, size_t n,
                        const char *const *skus, wabot_product **out)
{
    if (n == 0)
        return WABOT_OK;
    const wabot_allocator *a = &ctx->alloc;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    char **keys = wb_calloc(a, n, sizeof *keys);
    int rc = keys ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        char key[WB_KEY_MAX];
        wb_catalog_key(key, org, "p", skus[i]);
        keys[i] = wb_strdup(a, key);
        if (!keys[i])
            rc = WABOT_ERR_NOMEM;
    }
    wabot_storage_items *it = NULL;
    if (rc == WABOT_OK)
        rc = wabot_storage_get_many(ctx->storage, n,
                                    (const char *const *)keys, &it);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        size_t len;
        const char *v = wabot_storage_items_value(it, i, &len);
        if (v)
            rc = wb_product_decode(ctx, v, len,
                                   wabot_storage_items_version(it, i),
                                   &out[i]);
    }
    if (rc != WABOT_OK)
        for (size_t i = 0; i < n; i++) {
            wabot_product_free(out[i]);
            out[i] = NULL;
        }
    wabot_storage_items_free(it);
    for (size_t i = 0; keys && i < n; i++)
        wb_free(a, keys[i]);
    wb_free(a, keys);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */

static int same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The transaction ops for one product: its record (compare-and-set
 * against what was read), its place in the indexes. */
static int add_product_ops(wabot_storage_txn *t, const char *org,
                           wabot_product *p, const wabot_product *old,
                           const char *val, size_t len)
{
    char key[WB_KEY_MAX];
    wb_catalog_key(key, org, "p", p->sku);
    int rc = wabot_storage_txn_cas(t, key, old ? old->version : 0, val, len,
                                   0);
    if (rc == WABOT_OK && !old) {
        wb_catalog_key(key, org, "all", NULL);
        rc = wabot_storage_txn_sorted_add(t, key, p->sku, strlen(p->sku),
                                          p->seq);
    }
    if (rc == WABOT_OK && old && old->category &&
        !same_text(old->category, p->category)) {
        wb_catalog_key(key, org, "cat", old->category);
        rc = wabot_storage_txn_sorted_remove(t, key, p->sku, strlen(p->sku));
    }
    if (rc == WABOT_OK && p->category) {
        wb_catalog_key(key, org, "cat", p->category);
        rc = wabot_storage_txn_sorted_add(t, key, p->sku, strlen(p->sku),
                                          p->seq);
    }
    return rc;
}

/* Creation order for the new products: one incr for all of them. */
static int assign_seqs(wabot_ctx *ctx, const char *org, size_t n,
                       wabot_product **ps, wabot_product *const *old,
                       size_t *n_new)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (old[i])
            ps[i]->seq = old[i]->seq;
        else
            fresh++;
    }
    *n_new = fresh;
    if (fresh == 0)
        return WABOT_OK;
    char key[WB_KEY_MAX];
    wb_catalog_key(key, org, "seq", NULL);
    int64_t last;
    int rc = wabot_storage_incr(ctx->storage, key, (int64_t)fresh, 0, &last);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot number new products");
    int64_t next = last - (int64_t)fresh + 1;
    for (size_t i = 0; i < n; i++)
        if (!old[i])
            ps[i]->seq = next++;
    return WABOT_OK;
}

static void set_products_gauge(wabot_ctx *ctx, const char *org, int64_t n)
{
    wb_commerce *cm = wb_commerce_of(ctx);
    wabot_metric_family *f = cm ? wb_commerce_products_gauge(cm) : NULL;
    const char *labels[] = {org};
    if (f)
        wabot_metrics_gauge_set_labels(f, labels, 1, (double)n);
}

/* Encode, add the ops, commit. */
static int write_txn(wabot_ctx *ctx, const char *org, size_t n,
                     wabot_product **ps, wabot_product *const *old,
                     size_t n_new, size_t *failed)
{
    wabot_storage_txn *t = wabot_storage_txn_new(ctx->storage);
    if (!t)
        return WABOT_ERR_NOMEM;
    size_t *record_op = wb_calloc(&ctx->alloc, n, sizeof *record_op);
    int rc = record_op ? WABOT_OK : WABOT_ERR_NOMEM;
    char key[WB_KEY_MAX];
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        char *val = NULL;
        size_t len = 0;
        rc = wb_product_encode(ps[i], &val, &len);
        record_op[i] = wabot_storage_txn_count(t);
        if (rc == WABOT_OK)
            rc = add_product_ops(t, org, ps[i], old[i], val, len);
        wabot_free(val);
    }
    size_t count_op = wabot_storage_txn_count(t);
    wb_catalog_key(key, org, "count", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, key, (int64_t)n_new, 0);
    wb_catalog_key(key, org, "rev", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, key, 1, 0);
    size_t failed_op = 0;
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, &failed_op);
    if (rc == WABOT_OK) {
        for (size_t i = 0; i < n; i++)
            ps[i]->version = wabot_storage_txn_version(t, record_op[i]);
        set_products_gauge(ctx, org, wabot_storage_txn_result(t, count_op));
    } else if (rc == WABOT_ERR_CONFLICT) {
        for (size_t i = 0; i < n; i++)
            if (failed_op >= record_op[i])
                *failed = i;
    }
    wb_free(&ctx->alloc, record_op);
    wabot_storage_txn_free(t);
    return rc;
}

int wb_catalog_write(wabot_ctx *ctx, const char *org, size_t n,
                     wabot_product **ps, wabot_product *const *old)
{
    size_t n_new = 0, failed = 0;
    int rc = assign_seqs(ctx, org, n, ps, old, &n_new);
    if (rc == WABOT_OK)
        rc = write_txn(ctx, org, n, ps, old, n_new, &failed);
    if (rc == WABOT_OK)
        wb_catalog_changed(ctx, org);
    else if (rc == WABOT_ERR_CONFLICT)
        wb_error(ctx, rc, "product %s changed meanwhile", ps[failed]->sku);
    else if (rc != WABOT_ERR_NOMEM)
        wb_error(ctx, rc, "cannot write the catalog of %s", org);
    return rc;
}

void wb_catalog_changed(wabot_ctx *ctx, const char *org)
{
    wb_commerce_index_drop(ctx, org);
}

/* Arguments every write checks. */
static int check_write(wabot_ctx *ctx, const char *org, wabot_product *p)
{
    if (!ctx || !p)
        return WABOT_ERR_INVAL;
    if (p->ctx != ctx)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "product belongs to another context");
    int rc = wb_org_check(ctx, org);
    return rc != WABOT_OK ? rc : wb_product_complete(p);
}

int wabot_catalog_create(wabot_ctx *ctx, const char *org, wabot_product *p,
                         uint64_t *version)
{
    int rc = check_write(ctx, org, p);
    if (rc != WABOT_OK)
        return rc;
    wabot_product *none = NULL;
    rc = wb_catalog_write(ctx, org, 1, &p, &none);
    if (rc == WABOT_ERR_CONFLICT)
        return wb_error(ctx, WABOT_ERR_EXISTS, "product %s exists already",
                        p->sku);
    if (rc == WABOT_OK && version)
        *version = p->version;
    return rc;
}

int wabot_catalog_update(wabot_ctx *ctx, const char *org, wabot_product *p,
                         uint64_t expected, uint64_t *version)
{
    int rc = check_write(ctx, org, p);
    for (int attempt = 0; rc == WABOT_OK && attempt < MAX_RETRIES;
         attempt++) {
        wabot_product *old = NULL;
        const char *sku = p->sku;
        rc = wb_catalog_get_many(ctx, org, 1, &sku, &old);
        if (rc != WABOT_OK)
            return rc;
        if (!old)
            return wb_error(ctx, WABOT_ERR_NOT_FOUND, "no product %s", sku);
        if (expected != 0 && old->version != expected) {
            wabot_product_free(old);
            return wb_error(ctx, WABOT_ERR_CONFLICT,
                            "product %s changed since version %llu", sku,
                            (unsigned long long)expected);
        }
        rc = wb_catalog_write(ctx, org, 1, &p, &old);
        wabot_product_free(old);
        if (rc != WABOT_ERR_CONFLICT || expected != 0)
            break;
        rc = WABOT_OK; /* changed between read and write: read again */
    }
    if (rc == WABOT_OK && version)
        *version = p->version;
    return rc;
}

int wabot_catalog_get(wabot_ctx *ctx, const char *org, const char *sku,
                      wabot_product **out)
{
    if (!ctx || !sku || !out)
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    if (!wb_sku_valid(sku))
        return wb_error(ctx, WABOT_ERR_INVAL, "not a sku");
    wabot_product *p = NULL;
    rc = wb_catalog_get_many(ctx, org, 1, &sku, &p);
    if (rc == WABOT_OK && !p)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND, "no product %s", sku);
    if (rc == WABOT_OK)
        *out = p;
    return rc;
}

static int delete_txn(wabot_ctx *ctx, const char *org, const wabot_product *old)
{
    wabot_storage_txn *t = wabot_storage_txn_new(ctx->storage);
    if (!t)
        return WABOT_ERR_NOMEM;
    char key[WB_KEY_MAX];
    size_t len = strlen(old->sku);
    wb_catalog_key(key, org, "p", old->sku);
    int rc = wabot_storage_txn_del_if(t, key, old->version);
    wb_catalog_key(key, org, "all", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_remove(t, key, old->sku, len);
    if (rc == WABOT_OK && old->category) {
        wb_catalog_key(key, org, "cat", old->category);
        rc = wabot_storage_txn_sorted_remove(t, key, old->sku, len);
    }
    size_t count_op = wabot_storage_txn_count(t);
    wb_catalog_key(key, org, "count", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, key, -1, 0);
    wb_catalog_key(key, org, "rev", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, key, 1, 0);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    if (rc == WABOT_OK)
        set_products_gauge(ctx, org, wabot_storage_txn_result(t, count_op));
    wabot_storage_txn_free(t);
    return rc;
}

int wabot_catalog_delete(wabot_ctx *ctx, const char *org, const char *sku,
                         uint64_t expected)
{
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        wabot_product *old = NULL;
        int rc = wabot_catalog_get(ctx, org, sku, &old);
        if (rc != WABOT_OK)
            return rc;
        if (expected != 0 && old->version != expected) {
            wabot_product_free(old);
            return wb_error(ctx, WABOT_ERR_CONFLICT,
                            "product %s changed since version %llu", sku,
                            (unsigned long long)expected);
        }
        rc = delete_txn(ctx, org, old);
        wabot_product_free(old);
        if (rc == WABOT_OK)
            wb_catalog_changed(ctx, org);
        if (rc != WABOT_ERR_CONFLICT || expected != 0)
            return rc == WABOT_ERR_CONFLICT
                       ? wb_error(ctx, rc, "product %s changed meanwhile",
                                  sku)
                       : rc;
    }
    return wb_error(ctx, WABOT_ERR_CONFLICT,
                    "product %s keeps changing; try again", sku);
}

/* ------------------------------------------------------------------ */
/* Listing                                                             */

struct wabot_product_list {
    wabot_ctx *ctx;
    wabot_product **items;
    size_t n, cap;
    char cursor[24];
};

static int list_push(wabot_product_list *l, wabot_product *p)
{
    if (wb_grow(&l->ctx->alloc, (void **)&l->items, l->n + 1, &l->cap,
                sizeof *l->items) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    l->items[l->n++] = p;
    return WABOT_OK;
}

/* Up to `take` index members after score *after: their products appended
 * (active ones only if asked), *after moved to the last member read. */
static int list_chunk(wabot_ctx *ctx, const char *org, const char *index,
                      int active_only, int64_t *after, int64_t take,
                      wabot_product_list *l, int *done)
{
    wabot_storage_items *it = NULL;
    int rc = wabot_storage_sorted_range(ctx->storage, index, *after + 1,
                                        WABOT_STORAGE_SCORE_MAX, 0, take + 1,
                                        0, &it);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read the catalog index");
    size_t got = wabot_storage_items_count(it);
    size_t n = got > (size_t)take ? (size_t)take : got;
    *done = got <= (size_t)take;
    const char **skus = wb_calloc(&ctx->alloc, n ? n : 1, sizeof *skus);
    wabot_product **ps = wb_calloc(&ctx->alloc, n ? n : 1, sizeof *ps);
    rc = skus && ps ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        skus[i] = wabot_storage_items_key(it, i, NULL);
        *after = wabot_storage_items_score(it, i);
    }
    if (rc == WABOT_OK)
        rc = wb_catalog_get_many(ctx, org, n, skus, ps);
    for (size_t i = 0; i < n && ps; i++) {
        /* Absent: deleted after the index was read. */
        if (rc == WABOT_OK && ps[i] && (!active_only || ps[i]->active)) {
            rc = list_push(l, ps[i]);
            if (rc == WABOT_OK)
                continue;
        }
        wabot_product_free(ps[i]);
    }
    wb_free(&ctx->alloc, skus);
    wb_free(&ctx->alloc, ps);
    wabot_storage_items_free(it);
    return rc;
}

static int parse_cursor(const char *cursor, int64_t *after)
{
    if (!cursor || !cursor[0]) {
        *after = 0;
        return WABOT_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(cursor, &end, 10);
    if (errno || *end || v < 0 || cursor[0] == '-' || cursor[0] == '+')
        return WABOT_ERR_INVAL;
    *after = v;
    return WABOT_OK;
}

static int list_into(wabot_ctx *ctx, const char *org, const char *category,
                     int active_only, int64_t after, size_t limit,
                     wabot_product_list *l)
{
    char index[WB_KEY_MAX];
    int rc = category ? wb_catalog_key(index, org, "cat", category)
                      : wb_catalog_key(index, org, "all", NULL);
    int done = 0;
    while (rc == WABOT_OK && !done && l->n < limit) {
        size_t take = limit - l->n < 1000 ? limit - l->n : 1000;
        rc = list_chunk(ctx, org, index, active_only, &after, (int64_t)take,
                        l, &done);
    }
    if (done)
        strcpy(l->cursor, "0");
    else
        snprintf(l->cursor, sizeof l->cursor, "%lld", (long long)after);
    return rc;
}

int wabot_catalog_list(wabot_ctx *ctx, const char *org, const char *category,
                       uint32_t flags, const char *cursor, size_t limit,
                       wabot_product_list **out)
{
    if (!ctx || !out)
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    int64_t after;
    if (limit < 1 || limit > 1000 || parse_cursor(cursor, &after) != 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "limit must be 1..1000 and the cursor one a list "
                        "returned");
    if (category && strlen(category) > WABOT_PRODUCT_CATEGORY_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL, "category too long");
    wabot_product_list *l = wb_calloc(&ctx->alloc, 1, sizeof *l);
    if (!l)
        return WABOT_ERR_NOMEM;
    l->ctx = ctx;
    rc = list_into(ctx, org, category && category[0] ? category : NULL,
                   (flags & WABOT_CATALOG_ACTIVE_ONLY) != 0, after, limit, l);
    if (rc != WABOT_OK) {
        wabot_product_list_free(l);
        return rc;
    }
    *out = l;
    return WABOT_OK;
}

size_t wabot_product_list_count(const wabot_product_list *l)
{
    return l ? l->n : 0;
}

const wabot_product *wabot_product_list_at(const wabot_product_list *l,
                                           size_t i)
{
    return l && i < l->n ? l->items[i] : NULL;
}

const char *wabot_product_list_cursor(const wabot_product_list *l)
{
    return l ? l->cursor : "0";
}

void wabot_product_list_free(wabot_product_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        wabot_product_free(l->items[i]);
    wb_free(&l->ctx->alloc, l->items);
    wb_free(&l->ctx->alloc, l);
}

int wb_catalog_all(wabot_ctx *ctx, const char *org, const char *category,
                   int active_only, wabot_product ***out, size_t *n)
{
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    wabot_product_list l = {.ctx = ctx};
    rc = list_into(ctx, org, category, active_only, 0, SIZE_MAX / 2, &l);
    if (rc != WABOT_OK) {
        wb_products_free(ctx, l.items, l.n);
        return rc;
    }
    *out = l.items;
    *n = l.n;
    return WABOT_OK;
}
