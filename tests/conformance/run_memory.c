/* Runs the storage conformance suite on the memory backend (fake clock),
 * and again on a pass-through "custom" backend built with
 * wabot_storage_new(), which proves the wrapper forwards every operation
 * faithfully. Then memory- and wrapper-specific tests. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_suite.h"
#include "testutil.h"

static tu_clock g_clock;

/* ------------------------------------------------------------------ */
/* Backend: memory                                                     */

static wabot_storage *memory_create(void *ud)
{
    wabot_clock k = tu_clock_wabot(ud);
    return wabot_storage_memory_new(&k);
}

static void memory_destroy(wabot_storage *s, void *ud)
{
    (void)ud;
    wabot_storage_free(s);
}

static void fake_advance(int64_t ms, void *ud)
{
    tu_clock_advance(ud, ms);
}

/* ------------------------------------------------------------------ */
/* Backend: pass-through, a minimal custom backend over another store  */

static int pt_get(void *impl, const char *key, wabot_buf *out,
                  uint64_t *version)
{
    char *val;
    size_t len;
    int rc = wabot_storage_get(impl, key, &val, &len, version);
    if (rc != WABOT_OK)
        return rc;
    rc = wabot_buf_set(out, val, len);
    wabot_free(val);
    return rc;
}

static int pt_set(void *impl, const char *key, const char *val, size_t len,
                  int64_t ttl_ms, uint64_t *version)
{
    return wabot_storage_set(impl, key, val, len, ttl_ms, version);
}

static int pt_set_nx(void *impl, const char *key, const char *val,
                     size_t len, int64_t ttl_ms, uint64_t *version)
{
    return wabot_storage_set_nx(impl, key, val, len, ttl_ms, version);
}

static int pt_cas(void *impl, const char *key, uint64_t expected,
                  const char *val, size_t len, int64_t ttl_ms,
                  uint64_t *version)
{
    return wabot_storage_cas(impl, key, expected, val, len, ttl_ms, version);
}

static int pt_del(void *impl, const char *key)
{
    return wabot_storage_del(impl, key);
}

static int pt_del_if(void *impl, const char *key, uint64_t expected)
{
    return wabot_storage_del_if(impl, key, expected);
}

static int pt_incr(void *impl, const char *key, int64_t delta,
                   int64_t ttl_ms, int64_t *result)
{
    return wabot_storage_incr(impl, key, delta, ttl_ms, result);
}

static int pt_expire(void *impl, const char *key, int64_t ttl_ms)
{
    return wabot_storage_expire(impl, key, ttl_ms);
}

static void pt_destroy(void *impl)
{
    wabot_storage_free(impl);
}

/* Version 2: forward through the public wrappers, copying results. */
static int pt_copy_items(wabot_storage_items *from, wabot_storage_items *to,
                         int scored)
{
    int rc = WABOT_OK;
    for (size_t i = 0; i < wabot_storage_items_count(from) && !rc; i++) {
        size_t klen, vlen;
        const char *k = wabot_storage_items_key(from, i, &klen);
        const char *v = wabot_storage_items_value(from, i, &vlen);
        rc = scored ? wabot_storage_items_add_scored(
                          to, k, klen, wabot_storage_items_score(from, i))
                    : wabot_storage_items_add(
                          to, k, klen, v, vlen,
                          wabot_storage_items_version(from, i));
    }
    wabot_storage_items_free(from);
    return rc;
}

static int pt_scan(void *impl, const char *prefix, const char *cursor,
                   size_t count, uint32_t flags, wabot_storage_items *out,
                   wabot_buf *next)
{
    wabot_storage_items *page;
    int rc = wabot_storage_scan(impl, prefix, cursor, count, flags, &page);
    if (rc != WABOT_OK)
        return rc;
    const char *c = wabot_storage_items_cursor(page);
    rc = wabot_buf_set(next, c, strlen(c));
    int rc2 = pt_copy_items(page, out, 0);
    return rc != WABOT_OK ? rc : rc2;
}

static int pt_get_many(void *impl, size_t n, const char *const *keys,
                       wabot_storage_items *out)
{
    wabot_storage_items *it;
    int rc = wabot_storage_get_many(impl, n, keys, &it);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        size_t len;
        const char *v = wabot_storage_items_value(it, i, &len);
        if (v != NULL)
            rc = wabot_storage_items_found(
                out, i, v, len, wabot_storage_items_version(it, i));
    }
    wabot_storage_items_free(rc == WABOT_OK || n > 0 ? it : NULL);
    return rc;
}

static int pt_put_many(void *impl, size_t n, const char *const *keys,
                       const char *const *vals, const size_t *lens,
                       const int64_t *ttls_ms, uint64_t *versions)
{
    return wabot_storage_put_many(impl, n, keys, vals, lens, ttls_ms,
                                  versions);
}

static int pt_sorted_add(void *impl, const char *key, const char *member,
                         size_t len, int64_t score)
{
    return wabot_storage_sorted_add(impl, key, member, len, score);
}

static int pt_sorted_remove(void *impl, const char *key, const char *member,
                            size_t len)
{
    return wabot_storage_sorted_remove(impl, key, member, len);
}

static int pt_sorted_score(void *impl, const char *key, const char *member,
                           size_t len, int64_t *score)
{
    return wabot_storage_sorted_score(impl, key, member, len, score);
}

static int pt_sorted_count(void *impl, const char *key, int64_t min,
                           int64_t max, int64_t *count)
{
    return wabot_storage_sorted_count(impl, key, min, max, count);
}

static int pt_sorted_range(void *impl, const char *key, int64_t min,
                           int64_t max, int64_t offset, int64_t limit,
                           uint32_t flags, wabot_storage_items *out)
{
    wabot_storage_items *it;
    int rc = wabot_storage_sorted_range(impl, key, min, max, offset, limit,
                                        flags, &it);
    return rc != WABOT_OK ? rc : pt_copy_items(it, out, 1);
}

static int pt_sorted_remove_range(void *impl, const char *key, int64_t min,
                                  int64_t max, int64_t *removed)
{
    return wabot_storage_sorted_remove_range(impl, key, min, max, removed);
}

/* Rebuilds the transaction through the builder of the inner store. */
static int pt_txn(void *impl, size_t n, const wabot_storage_op *const *ops,
                  uint64_t *versions, int64_t *numbers, size_t *failed)
{
    wabot_storage_txn *t = wabot_storage_txn_new(impl);
    if (t == NULL)
        return WABOT_ERR_NOMEM;
    int rc = WABOT_OK;
    for (size_t i = 0; i < n && rc == WABOT_OK; i++) {
        const wabot_storage_op *o = ops[i];
        switch (o->kind) {
        case WABOT_STORAGE_OP_SET:
            rc = wabot_storage_txn_set(t, o->key, o->val, o->len, o->ttl_ms);
            break;
        case WABOT_STORAGE_OP_CAS:
            rc = wabot_storage_txn_cas(t, o->key, o->expected, o->val, o->len,
                                       o->ttl_ms);
            break;
        case WABOT_STORAGE_OP_DEL:
            rc = wabot_storage_txn_del(t, o->key);
            break;
        case WABOT_STORAGE_OP_DEL_IF:
            rc = wabot_storage_txn_del_if(t, o->key, o->expected);
            break;
        case WABOT_STORAGE_OP_INCR:
            rc = wabot_storage_txn_incr(t, o->key, o->number, o->ttl_ms);
            break;
        case WABOT_STORAGE_OP_SORTED_ADD:
            rc = wabot_storage_txn_sorted_add(t, o->key, o->val, o->len,
                                              o->number);
            break;
        default:
            rc = wabot_storage_txn_sorted_remove(t, o->key, o->val, o->len);
            break;
        }
    }
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, failed);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        versions[i] = wabot_storage_txn_version(t, i);
        numbers[i] = wabot_storage_txn_result(t, i);
    }
    wabot_storage_txn_free(t);
    return rc;
}

static const wabot_storage_vtable pt_vtable = {
    .version = WABOT_STORAGE_VTABLE_VERSION,
    .get = pt_get,
    .set = pt_set,
    .set_nx = pt_set_nx,
    .cas = pt_cas,
    .del = pt_del,
    .del_if = pt_del_if,
    .incr = pt_incr,
    .expire = pt_expire,
    .destroy = pt_destroy,
    .scan = pt_scan,
    .get_many = pt_get_many,
    .put_many = pt_put_many,
    .sorted_add = pt_sorted_add,
    .sorted_remove = pt_sorted_remove,
    .sorted_score = pt_sorted_score,
    .sorted_count = pt_sorted_count,
    .sorted_range = pt_sorted_range,
    .sorted_remove_range = pt_sorted_remove_range,
    .txn = pt_txn,
};

/* A backend compiled against 0.1: its table is the version-1 struct, which
 * ends at `destroy`. The wrapper must never read past it (ASan would see a
 * read beyond this object). */
typedef struct v1_vtable {
    uint32_t version;
    int (*get)(void *, const char *, wabot_buf *, uint64_t *);
    int (*set)(void *, const char *, const char *, size_t, int64_t,
               uint64_t *);
    int (*set_nx)(void *, const char *, const char *, size_t, int64_t,
                  uint64_t *);
    int (*cas)(void *, const char *, uint64_t, const char *, size_t, int64_t,
               uint64_t *);
    int (*del)(void *, const char *);
    int (*del_if)(void *, const char *, uint64_t);
    int (*incr)(void *, const char *, int64_t, int64_t, int64_t *);
    int (*expire)(void *, const char *, int64_t);
    void (*destroy)(void *);
} v1_vtable;

static const v1_vtable pt_v1_vtable = {
    1, pt_get, pt_set, pt_set_nx, pt_cas, pt_del, pt_del_if, pt_incr,
    pt_expire, pt_destroy,
};

static wabot_storage *v1_create(void *ud)
{
    wabot_storage *inner = memory_create(ud);
    if (inner == NULL)
        return NULL;
    wabot_storage *s = wabot_storage_new(
        (const wabot_storage_vtable *)(const void *)&pt_v1_vtable, inner);
    if (s == NULL)
        wabot_storage_free(inner);
    return s;
}

static wabot_storage *passthrough_create(void *ud)
{
    wabot_storage *inner = memory_create(ud);
    if (inner == NULL)
        return NULL;
    wabot_storage *s = wabot_storage_new(&pt_vtable, inner);
    if (s == NULL)
        wabot_storage_free(inner);
    return s;
}

/* ------------------------------------------------------------------ */
/* A stub backend that records what the wrapper hands it               */

typedef struct stub {
    int destroyed;
    int rc;          /* what every operation returns */
    int fill_buf;    /* get: call wabot_buf_set before returning rc */
    int calls;
    const char *last_val;
} stub;

static int stub_get(void *impl, const char *key, wabot_buf *out,
                    uint64_t *version)
{
    stub *st = impl;
    (void)key;
    st->calls++;
    *version = 7;
    if (st->fill_buf)
        ck_assert_int_eq(wabot_buf_set(out, "xyz", 3), WABOT_OK);
    return st->rc;
}

static int stub_set(void *impl, const char *key, const char *val, size_t len,
                    int64_t ttl_ms, uint64_t *version)
{
    stub *st = impl;
    (void)key, (void)len, (void)ttl_ms;
    st->calls++;
    st->last_val = val;
    *version = 7;
    return st->rc;
}

static int stub_set_nx(void *impl, const char *key, const char *val,
                       size_t len, int64_t ttl_ms, uint64_t *version)
{
    return stub_set(impl, key, val, len, ttl_ms, version);
}

static int stub_cas(void *impl, const char *key, uint64_t expected,
                    const char *val, size_t len, int64_t ttl_ms,
                    uint64_t *version)
{
    (void)expected;
    return stub_set(impl, key, val, len, ttl_ms, version);
}

static int stub_del(void *impl, const char *key)
{
    stub *st = impl;
    (void)key;
    st->calls++;
    return st->rc;
}

static int stub_del_if(void *impl, const char *key, uint64_t expected)
{
    (void)expected;
    return stub_del(impl, key);
}

static int stub_incr(void *impl, const char *key, int64_t delta,
                     int64_t ttl_ms, int64_t *result)
{
    (void)ttl_ms;
    *result = delta;
    return stub_del(impl, key);
}

static int stub_expire(void *impl, const char *key, int64_t ttl_ms)
{
    (void)ttl_ms;
    return stub_del(impl, key);
}

static void stub_destroy(void *impl)
{
    ((stub *)impl)->destroyed++;
}

/* A version-2 table that leaves every version-2 member NULL. */
static const wabot_storage_vtable stub_vtable = {
    .version = WABOT_STORAGE_VTABLE_VERSION,
    .get = stub_get,
    .set = stub_set,
    .set_nx = stub_set_nx,
    .cas = stub_cas,
    .del = stub_del,
    .del_if = stub_del_if,
    .incr = stub_incr,
    .expire = stub_expire,
    .destroy = stub_destroy,
};

/* ------------------------------------------------------------------ */
/* Memory-specific tests                                               */

static wabot_storage *new_memory(void)
{
    wabot_storage *s = memory_create(&g_clock);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(test_memory_backend_is_named_memory)
{
    wabot_storage *s = new_memory();
    ck_assert_str_eq(wabot_storage_name(s), "memory");
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_count_excludes_expired_keys)
{
    wabot_storage *s = new_memory();
    ck_assert_int_eq(wabot_storage_memory_count(s), 0);
    ck_assert_int_eq(wabot_storage_set(s, "keep", "v", 1, 0, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_set(s, "short", "v", 1, 100, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_incr(s, "n", 1, 100, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_storage_memory_count(s), 3);
    tu_clock_advance(&g_clock, 100);
    ck_assert_int_eq(wabot_storage_memory_count(s), 1);
    ck_assert_int_eq(wabot_storage_del(s, "keep"), WABOT_OK);
    ck_assert_int_eq(wabot_storage_memory_count(s), 0);
    wabot_storage_free(s);
}
END_TEST

/* The store's keys spread over shards with their own mutexes: batches
 * still see and write all their keys at once, versions stay unique
 * store-wide, and the ordered index (shared by the shards) survives
 * inserts and deletes from several threads while it is scanned. */
#define SHARD_PAIRS 64
#define SHARD_ROUNDS 300

typedef struct shard_worker {
    wabot_storage *s;
    int id;
    int errors;
    uint64_t versions[SHARD_ROUNDS];
} shard_worker;

static void pair_keys(int i, char a[32], char b[32])
{
    snprintf(a, 32, "pair:a%d", i); /* different tags: other shards */
    snprintf(b, 32, "pair:b%d", i);
}

/* Writes both keys of a pair with one value, then an indexed key in and
 * out again, SHARD_ROUNDS times. */
static void *pair_writer(void *arg)
{
    shard_worker *w = arg;
    for (int r = 0; r < SHARD_ROUNDS; r++) {
        char a[32], b[32], v[32], ox[48];
        pair_keys((r * 7 + w->id) % SHARD_PAIRS, a, b);
        int len = snprintf(v, sizeof v, "w%d-r%d", w->id, r);
        const char *keys[2] = {a, b}, *vals[2] = {v, v};
        size_t lens[2] = {(size_t)len, (size_t)len};
        int64_t ttls[2] = {0, 0};
        uint64_t vers[2];
        if (wabot_storage_put_many(w->s, 2, keys, vals, lens, ttls, vers) !=
                WABOT_OK ||
            vers[0] == vers[1])
            w->errors++;
        w->versions[r] = vers[0];
        snprintf(ox, sizeof ox, "outbox:w%d:%d", w->id, r);
        if (wabot_storage_set(w->s, ox, "x", 1, 0, NULL) != WABOT_OK ||
            (r % 2 == 0 && wabot_storage_del(w->s, ox) != WABOT_OK))
            w->errors++;
    }
    return NULL;
}

/* Reads pairs (both keys in one get_many) and scans the index. */
static void *pair_reader(void *arg)
{
    shard_worker *w = arg;
    for (int r = 0; r < SHARD_ROUNDS; r++) {
        char a[32], b[32];
        pair_keys(r % SHARD_PAIRS, a, b);
        const char *keys[2] = {a, b};
        wabot_storage_items *it = NULL;
        if (wabot_storage_get_many(w->s, 2, keys, &it) != WABOT_OK) {
            w->errors++;
            continue;
        }
        const char *va = wabot_storage_items_value(it, 0, NULL);
        const char *vb = wabot_storage_items_value(it, 1, NULL);
        if ((va == NULL) != (vb == NULL) ||
            (va != NULL && strcmp(va, vb) != 0))
            w->errors++; /* a half-written pair */
        wabot_storage_items_free(it);
        if (wabot_storage_scan(w->s, "outbox:", "0", 50, 0, &it) !=
            WABOT_OK)
            w->errors++;
        wabot_storage_items_free(it);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_memory_shards_keep_batches_atomic_and_versions_unique)
{
    wabot_storage *s = wabot_storage_memory_new(NULL);
    shard_worker ws[3];
    pthread_t th[3];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < 3; i++) {
        ws[i].s = s;
        ws[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL,
                                        i < 2 ? pair_writer : pair_reader,
                                        &ws[i]),
                         0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(ws[i].errors, 0);
    }
    uint64_t all[2 * SHARD_ROUNDS];
    memcpy(all, ws[0].versions, sizeof ws[0].versions);
    memcpy(all + SHARD_ROUNDS, ws[1].versions, sizeof ws[1].versions);
    qsort(all, 2 * SHARD_ROUNDS, sizeof all[0], cmp_u64);
    for (int i = 1; i < 2 * SHARD_ROUNDS; i++)
        ck_assert_uint_ne(all[i], all[i - 1]);
    /* Each writer left its odd rounds' outbox keys: all in the index. */
    wabot_storage_items *it = NULL;
    ck_assert_int_eq(wabot_storage_scan(s, "outbox:", "0", 10000, 0, &it),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_storage_items_count(it), SHARD_ROUNDS);
    ck_assert_str_eq(wabot_storage_items_cursor(it), "0");
    wabot_storage_items_free(it);
    ck_assert_int_eq(wabot_storage_memory_count(s),
                     2 * SHARD_PAIRS + SHARD_ROUNDS);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_count_rejects_other_backends)
{
    stub st = {0};
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(wabot_storage_memory_count(s), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_storage_memory_count(NULL), WABOT_ERR_INVAL);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_key_expires_exactly_at_deadline)
{
    wabot_storage *s = new_memory();
    ck_assert_int_eq(wabot_storage_set(s, "k", "v", 1, 100, NULL),
                     WABOT_OK);
    char *val = NULL;
    tu_clock_advance(&g_clock, 99);
    ck_assert_int_eq(wabot_storage_get(s, "k", &val, NULL, NULL), WABOT_OK);
    wabot_free(val);
    tu_clock_advance(&g_clock, 1);
    ck_assert_int_eq(wabot_storage_get(s, "k", &val, NULL, NULL),
                     WABOT_ERR_NOT_FOUND);
    wabot_storage_free(s);
}
END_TEST

/* The value of key read back whole, equal to want (n bytes). */
static void expect_stored(wabot_storage *s, const char *key, const char *want,
                          size_t n)
{
    char *val = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_storage_get(s, key, &val, &len, NULL), WABOT_OK);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(val, want, n) == 0);
    ck_assert_int_eq(val[n], '\0');
    wabot_free(val);
}

/* An entry's value lives in the entry's own block while it fits there,
 * else in a block of its own (the entry keeps its address where the value
 * would be): every size, grown or shrunk by set, transaction and incr,
 * reads back whole. */
START_TEST(test_memory_values_move_out_of_and_back_into_their_entry)
{
    wabot_storage *s = new_memory();
    static const size_t sizes[] = {0,   1,    7,  8, 9, 40, 300, 3000,
                                   (size_t)2 << 20, 5, (size_t)2 << 20, 64};
    size_t max = (size_t)2 << 20;
    char *buf = malloc(max);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < max; i++)
        buf[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        buf[0] = (char)('A' + i); /* each write differs from the last */
        ck_assert_int_eq(wabot_storage_set(s, "grow", buf, n, 0, NULL),
                         WABOT_OK);
        expect_stored(s, "grow", buf, n);
        char fresh[16];
        snprintf(fresh, sizeof fresh, "fresh%zu", i);
        ck_assert_int_eq(wabot_storage_set(s, fresh, buf, n, 0, NULL),
                         WABOT_OK);
        expect_stored(s, fresh, buf, n);
        wabot_storage_txn *t = wabot_storage_txn_new(s);
        ck_assert_int_eq(wabot_storage_txn_set(t, "txn", buf, n, 0),
                         WABOT_OK);
        ck_assert_int_eq(wabot_storage_txn_commit(t, NULL), WABOT_OK);
        wabot_storage_txn_free(t);
        expect_stored(s, "txn", buf, n);
    }
    /* A counter whose text outgrew its block, then shrank. */
    ck_assert_int_eq(wabot_storage_set(s, "n", "1", 1, 0, NULL), WABOT_OK);
    int64_t v = 0;
    ck_assert_int_eq(wabot_storage_incr(s, "n", INT64_MAX - 1, 0, &v),
                     WABOT_OK);
    expect_stored(s, "n", "9223372036854775807", 19);
    ck_assert_int_eq(wabot_storage_incr(s, "n", -INT64_MAX, 0, &v),
                     WABOT_OK);
    expect_stored(s, "n", "0", 1);
    free(buf);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_huge_ttl_does_not_overflow)
{
    wabot_storage *s = new_memory();
    ck_assert_int_eq(wabot_storage_set(s, "k", "v", 1, INT64_MAX, NULL),
                     WABOT_OK);
    tu_clock_advance(&g_clock, 1000000);
    ck_assert_int_eq(wabot_storage_memory_count(s), 1);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_sweep_keeps_live_keys_while_dropping_expired)
{
    wabot_storage *s = new_memory();
    char key[32];
    /* Many short-lived keys, then many new keys: inserts trigger sweeps. */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "tmp-%d", i);
        ck_assert_int_eq(wabot_storage_set(s, key, "v", 1, 50, NULL),
                         WABOT_OK);
    }
    tu_clock_advance(&g_clock, 50);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "live-%d", i);
        ck_assert_int_eq(wabot_storage_set(s, key, "v", 1, 0, NULL),
                         WABOT_OK);
    }
    ck_assert_int_eq(wabot_storage_memory_count(s), 3000);
    for (int i = 0; i < 3000; i += 97) {
        char *val = NULL;
        snprintf(key, sizeof key, "live-%d", i);
        ck_assert_int_eq(wabot_storage_get(s, key, &val, NULL, NULL),
                         WABOT_OK);
        wabot_free(val);
    }
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_null_clock_uses_system_time)
{
    wabot_storage *s = wabot_storage_memory_new(NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(wabot_storage_set(s, "k", "v", 1, 60000, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_memory_count(s), 1);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_memory_new_rejects_invalid_clock)
{
    wabot_clock k = tu_clock_wabot(&g_clock);
    k.version = 0;
    ck_assert_ptr_null(wabot_storage_memory_new(&k));
    k = tu_clock_wabot(&g_clock);
    k.now_ms = NULL;
    ck_assert_ptr_null(wabot_storage_memory_new(&k));
}
END_TEST

START_TEST(test_memory_clock_is_copied)
{
    wabot_clock k = tu_clock_wabot(&g_clock);
    wabot_storage *s = wabot_storage_memory_new(&k);
    ck_assert_ptr_nonnull(s);
    memset(&k, 0, sizeof k); /* the store must not read it again */
    ck_assert_int_eq(wabot_storage_set(s, "k", "v", 1, 10, NULL), WABOT_OK);
    tu_clock_advance(&g_clock, 10);
    ck_assert_int_eq(wabot_storage_memory_count(s), 0);
    wabot_storage_free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* wabot_storage_new and the wrapper                                   */

START_TEST(test_storage_new_rejects_null_vtable)
{
    stub st = {0};
    ck_assert_ptr_null(wabot_storage_new(NULL, &st));
}
END_TEST

START_TEST(test_storage_new_rejects_version_zero)
{
    stub st = {0};
    wabot_storage_vtable vt = stub_vtable;
    vt.version = 0;
    ck_assert_ptr_null(wabot_storage_new(&vt, &st));
    ck_assert_int_eq(st.destroyed, 0);
}
END_TEST

START_TEST(test_storage_new_rejects_each_null_version_1_op)
{
    stub st = {0};
    /* The version-1 members: `get` up to and including `destroy`. */
    size_t n_ops = (offsetof(wabot_storage_vtable, destroy) -
                    offsetof(wabot_storage_vtable, get)) /
                       sizeof(void (*)(void)) +
                   1;
    ck_assert_uint_eq(n_ops, 9);
    for (size_t i = 0; i < n_ops; i++) {
        wabot_storage_vtable vt = stub_vtable;
        switch (i) {
        case 0: vt.get = NULL; break;
        case 1: vt.set = NULL; break;
        case 2: vt.set_nx = NULL; break;
        case 3: vt.cas = NULL; break;
        case 4: vt.del = NULL; break;
        case 5: vt.del_if = NULL; break;
        case 6: vt.incr = NULL; break;
        case 7: vt.expire = NULL; break;
        default: vt.destroy = NULL; break;
        }
        ck_assert_msg(wabot_storage_new(&vt, &st) == NULL,
                      "op %zu NULL accepted", i);
    }
    ck_assert_int_eq(st.destroyed, 0);
}
END_TEST

START_TEST(test_storage_new_accepts_newer_vtable_version)
{
    stub st = {0};
    wabot_storage_vtable vt = stub_vtable;
    vt.version = WABOT_STORAGE_VTABLE_VERSION + 1;
    wabot_storage *s = wabot_storage_new(&vt, &st);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(wabot_storage_name(s), "custom");
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_storage_free_destroys_backend_once)
{
    stub st = {0};
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    ck_assert_ptr_nonnull(s);
    wabot_storage_free(s);
    ck_assert_int_eq(st.destroyed, 1);
    wabot_storage_free(NULL);
}
END_TEST

START_TEST(test_backend_errors_pass_through_wrappers)
{
    stub st = {0};
    st.rc = WABOT_ERR_TIMEOUT;
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    char *val = (char *)"sentinel";
    uint64_t ver = 99;
    int64_t r = 99;
    ck_assert_int_eq(wabot_storage_get(s, "k", &val, NULL, &ver),
                     WABOT_ERR_TIMEOUT);
    ck_assert_ptr_null(val);
    ck_assert_uint_eq(ver, 99);
    ck_assert_int_eq(wabot_storage_set(s, "k", "v", 1, 0, &ver),
                     WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(wabot_storage_set_nx(s, "k", "v", 1, 0, &ver),
                     WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(wabot_storage_cas(s, "k", 0, "v", 1, 0, &ver),
                     WABOT_ERR_TIMEOUT);
    ck_assert_uint_eq(ver, 99);
    ck_assert_int_eq(wabot_storage_del(s, "k"), WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(wabot_storage_del_if(s, "k", 1), WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(wabot_storage_incr(s, "k", 1, 0, &r),
                     WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(r, 99);
    ck_assert_int_eq(wabot_storage_expire(s, "k", 0), WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(st.calls, 8);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_backend_get_error_after_filling_buffer_leaks_nothing)
{
    stub st = {0};
    st.rc = WABOT_ERR_STORAGE;
    st.fill_buf = 1;
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(s, "k", &val, NULL, NULL),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(val);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_backend_get_success_without_value_is_storage_error)
{
    stub st = {0};
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(s, "k", &val, NULL, NULL),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(val);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_argument_errors_never_reach_backend)
{
    stub st = {0};
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    ck_assert_int_eq(wabot_storage_set(s, "", "v", 1, 0, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_storage_incr(s, "k", 1, -5, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_storage_cas(s, "k", 0, NULL, 3, 0, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(st.calls, 0);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_backend_receives_non_null_empty_value)
{
    stub st = {0};
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    ck_assert_int_eq(wabot_storage_set(s, "k", NULL, 0, 0, NULL), WABOT_OK);
    ck_assert_ptr_nonnull(st.last_val);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_buf_set_rejects_bad_arguments)
{
    ck_assert_int_eq(wabot_buf_set(NULL, "x", 1), WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_storage_name_of_null_is_null)
{
    ck_assert_ptr_null(wabot_storage_name(NULL));
}
END_TEST

/* ------------------------------------------------------------------ */
/* A version-1 backend (written against 0.1)                           */

static wabot_storage *new_v1(void)
{
    wabot_storage *s = v1_create(&g_clock);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(wabot_storage_name(s), "custom");
    return s;
}

START_TEST(test_v1_backend_keeps_every_version_1_operation)
{
    wabot_storage *s = new_v1();
    uint64_t v = 0;
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_set(s, "k", "v", 1, 0, &v), WABOT_OK);
    ck_assert_int_eq(wabot_storage_cas(s, "k", v, "w", 1, 0, &v), WABOT_OK);
    ck_assert_int_eq(wabot_storage_set_nx(s, "k", "x", 1, 0, NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_storage_get(s, "k", &val, NULL, NULL), WABOT_OK);
    ck_assert_str_eq(val, "w");
    wabot_free(val);
    int64_t r = 0;
    ck_assert_int_eq(wabot_storage_incr(s, "n", 5, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, 5);
    ck_assert_int_eq(wabot_storage_expire(s, "n", 100), WABOT_OK);
    ck_assert_int_eq(wabot_storage_del_if(s, "k", v), WABOT_OK);
    ck_assert_int_eq(wabot_storage_del(s, "n"), WABOT_OK);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_v1_backend_batches_fall_back_to_single_ops)
{
    wabot_storage *s = new_v1();
    const char *keys[] = {"a", "b", "c"};
    const char *vals[] = {"1", "2", "3"};
    size_t lens[] = {1, 1, 1};
    int64_t ttls[] = {0, 100, 0};
    uint64_t vers[3] = {0};
    ck_assert_int_eq(wabot_storage_put_many(s, 3, keys, vals, lens, ttls,
                                            vers),
                     WABOT_OK);
    ck_assert(vers[0] > 0 && vers[1] > vers[0] && vers[2] > vers[1]);
    tu_clock_advance(&g_clock, 100);
    wabot_storage_items *it = NULL;
    ck_assert_int_eq(wabot_storage_get_many(s, 3, keys, &it), WABOT_OK);
    ck_assert_str_eq(wabot_storage_items_value(it, 0, NULL), "1");
    ck_assert_uint_eq(wabot_storage_items_version(it, 0), vers[0]);
    ck_assert_int_eq(wabot_storage_items_status(it, 1), WABOT_ERR_NOT_FOUND);
    ck_assert_str_eq(wabot_storage_items_value(it, 2, NULL), "3");
    wabot_storage_items_free(it);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_v1_backend_scan_sorted_and_txn_are_unsupported)
{
    wabot_storage *s = new_v1();
    wabot_storage_items *it = NULL;
    int64_t n = 0;
    ck_assert_int_eq(wabot_storage_scan(s, "", "0", 10, 0, &it),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_storage_errmsg(s), "version 1"));
    ck_assert_ptr_nonnull(strstr(wabot_storage_errmsg(s), "scan"));
    ck_assert_int_eq(wabot_storage_sorted_add(s, "z", "m", 1, 1),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_int_eq(wabot_storage_sorted_remove(s, "z", "m", 1),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_int_eq(wabot_storage_sorted_score(s, "z", "m", 1, &n),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_int_eq(wabot_storage_sorted_count(s, "z", 0, 1, &n),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_int_eq(wabot_storage_sorted_range(s, "z", 0, 1, 0, 1, 0, &it),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_int_eq(wabot_storage_sorted_remove_range(s, "z", 0, 1, &n),
                     WABOT_ERR_UNSUPPORTED);
    wabot_storage_txn *t = wabot_storage_txn_new(s);
    ck_assert_int_eq(wabot_storage_txn_set(t, "{a}x", "v", 1, 0), WABOT_OK);
    ck_assert_int_eq(wabot_storage_txn_commit(t, NULL),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_storage_errmsg(s), "txn"));
    wabot_storage_txn_free(t);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(s, "{a}x", &val, NULL, NULL),
                     WABOT_ERR_NOT_FOUND);
    /* Argument errors still come first. */
    ck_assert_int_eq(wabot_storage_scan(s, "", "0", 0, 0, &it),
                     WABOT_ERR_INVAL);
    wabot_storage_free(s);
}
END_TEST

START_TEST(test_v2_table_with_null_v2_members_falls_back)
{
    stub st = {0};
    wabot_storage *s = wabot_storage_new(&stub_vtable, &st);
    ck_assert_ptr_nonnull(s);
    const char *keys[] = {"a", "b"};
    wabot_storage_items *it = NULL;
    st.rc = WABOT_ERR_NOT_FOUND;
    ck_assert_int_eq(wabot_storage_get_many(s, 2, keys, &it), WABOT_OK);
    ck_assert_int_eq(st.calls, 2);
    ck_assert_int_eq(wabot_storage_items_status(it, 1), WABOT_ERR_NOT_FOUND);
    wabot_storage_items_free(it);
    ck_assert_int_eq(wabot_storage_scan(s, "", "0", 1, 0, &it),
                     WABOT_ERR_UNSUPPORTED);
    wabot_storage_free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Records with a schema number                                        */

/* Each step appends "+<from>" to the payload, so the chain is visible. */
static int tag_upgrade(void *ud, uint32_t from, const char *val, size_t len,
                       wabot_buf *out)
{
    int *calls = ud;
    char text[128];
    int n = snprintf(text, sizeof text, "%.*s+%u", (int)len, val,
                     (unsigned)from);
    (*calls)++;
    return wabot_buf_set(out, text, (size_t)n);
}

START_TEST(test_record_upgrades_step_by_step_from_the_stored_schema)
{
    int calls = 0;
    wabot_schema sc = {WABOT_SCHEMA_VERSION, 3, tag_upgrade, &calls};
    char *out = NULL;
    size_t len = 0;
    uint32_t stored = 99;
    ck_assert_int_eq(wabot_storage_record_decode(&sc, "old", 3, &out, &len,
                                                 &stored),
                     WABOT_OK);
    ck_assert_str_eq(out, "old+0+1+2");
    ck_assert_uint_eq(len, 9);
    ck_assert_uint_eq(stored, 0);
    ck_assert_int_eq(calls, 3);
    wabot_free(out);

    char *rec = NULL;
    size_t rlen = 0;
    ck_assert_int_eq(wabot_storage_record_encode(2, "mid", 3, &rec, &rlen),
                     WABOT_OK);
    ck_assert_str_eq(rec, "#schema 2\nmid");
    ck_assert_int_eq(wabot_storage_record_decode(&sc, rec, rlen, &out, &len,
                                                 &stored),
                     WABOT_OK);
    ck_assert_str_eq(out, "mid+2");
    ck_assert_uint_eq(stored, 2);
    wabot_free(out);
    wabot_free(rec);

    ck_assert_int_eq(wabot_storage_record_encode(3, "cur", 3, &rec, &rlen),
                     WABOT_OK);
    calls = 0;
    ck_assert_int_eq(wabot_storage_record_decode(&sc, rec, rlen, &out, &len,
                                                 NULL),
                     WABOT_OK);
    ck_assert_str_eq(out, "cur");
    ck_assert_int_eq(calls, 0);
    wabot_free(out);
    wabot_free(rec);
}
END_TEST

START_TEST(test_record_from_newer_schema_is_unsupported)
{
    wabot_schema sc = {WABOT_SCHEMA_VERSION, 1, NULL, NULL};
    char *out = (char *)"x";
    size_t len;
    uint32_t stored = 0;
    ck_assert_int_eq(wabot_storage_record_decode(&sc, "#schema 7\n{}", 12,
                                                 &out, &len, &stored),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(stored, 7);
}
END_TEST

START_TEST(test_record_marker_must_be_exact_else_schema_0)
{
    wabot_schema sc = {WABOT_SCHEMA_VERSION, 0, NULL, NULL};
    static const char *const plain[] = {"#schema \n", "#schema x\nv",
                                        "#schema 1", "#schema 12345678901\n",
                                        "{\"a\":1}", ""};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char *out = NULL;
        size_t len = 0;
        uint32_t stored = 9;
        ck_assert_int_eq(wabot_storage_record_decode(&sc, plain[i],
                                                     strlen(plain[i]), &out,
                                                     &len, &stored),
                         WABOT_OK);
        ck_assert_uint_eq(stored, 0);
        ck_assert_str_eq(out, plain[i]);
        wabot_free(out);
    }
}
END_TEST

START_TEST(test_get_record_reads_upgrades_and_gives_the_version)
{
    wabot_storage *s = new_memory();
    int calls = 0;
    wabot_schema sc = {WABOT_SCHEMA_VERSION, 1, tag_upgrade, &calls};
    uint64_t v = 0, got = 0;
    ck_assert_int_eq(wabot_storage_set(s, "r", "legacy", 6, 0, &v), WABOT_OK);
    char *p = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_storage_get_record(s, "r", &sc, &p, &len, &got),
                     WABOT_OK);
    ck_assert_str_eq(p, "legacy+0");
    ck_assert_uint_eq(got, v);
    wabot_free(p);
    ck_assert_int_eq(wabot_storage_set(s, "r", "#schema 5\n", 10, 0, &v),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_get_record(s, "r", &sc, &p, &len, &got),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_uint_eq(got, v);
    ck_assert_ptr_nonnull(strstr(wabot_storage_errmsg(s), "schema 5"));
    ck_assert_int_eq(wabot_storage_get_record(s, "none", &sc, &p, &len, NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_storage_get_record(s, "r", NULL, &p, &len, NULL),
                     WABOT_ERR_INVAL);
    wabot_storage_free(s);
}
END_TEST

static void clock_setup(void)
{
    tu_clock_init(&g_clock, TU_EPOCH_MS);
}

int main(void)
{
    tu_clock_init(&g_clock, TU_EPOCH_MS);
    Suite *s = suite_create("storage");

    wb_storage_backend memory = {"memory", memory_create, memory_destroy,
                                 fake_advance, &g_clock};
    suite_add_tcase(s, wb_storage_conformance_tcase(&memory));
    wb_storage_backend custom = {"custom-passthrough", passthrough_create,
                                 memory_destroy, fake_advance, &g_clock};
    suite_add_tcase(s, wb_storage_conformance_tcase(&custom));

    TCase *tc = tcase_create("memory");
    tcase_add_checked_fixture(tc, clock_setup, NULL);
    tcase_add_test(tc, test_memory_backend_is_named_memory);
    tcase_add_test(tc, test_memory_count_excludes_expired_keys);
    tcase_add_test(tc, test_memory_count_rejects_other_backends);
    tcase_add_test(tc, test_memory_shards_keep_batches_atomic_and_versions_unique);
    tcase_add_test(tc, test_memory_key_expires_exactly_at_deadline);
    tcase_add_test(tc, test_memory_huge_ttl_does_not_overflow);
    tcase_add_test(tc, test_memory_values_move_out_of_and_back_into_their_entry);
    tcase_add_test(tc, test_memory_sweep_keeps_live_keys_while_dropping_expired);
    tcase_add_test(tc, test_memory_null_clock_uses_system_time);
    tcase_add_test(tc, test_memory_new_rejects_invalid_clock);
    tcase_add_test(tc, test_memory_clock_is_copied);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrapper");
    tcase_add_test(tc, test_storage_new_rejects_null_vtable);
    tcase_add_test(tc, test_storage_new_rejects_version_zero);
    tcase_add_test(tc, test_storage_new_rejects_each_null_version_1_op);
    tcase_add_test(tc, test_storage_new_accepts_newer_vtable_version);
    tcase_add_test(tc, test_storage_free_destroys_backend_once);
    tcase_add_test(tc, test_backend_errors_pass_through_wrappers);
    tcase_add_test(tc, test_backend_get_error_after_filling_buffer_leaks_nothing);
    tcase_add_test(tc, test_backend_get_success_without_value_is_storage_error);
    tcase_add_test(tc, test_argument_errors_never_reach_backend);
    tcase_add_test(tc, test_backend_receives_non_null_empty_value);
    tcase_add_test(tc, test_buf_set_rejects_bad_arguments);
    tcase_add_test(tc, test_storage_name_of_null_is_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_add_checked_fixture(tc, clock_setup, NULL);
    tcase_add_test(tc, test_record_upgrades_step_by_step_from_the_stored_schema);
    tcase_add_test(tc, test_record_from_newer_schema_is_unsupported);
    tcase_add_test(tc, test_record_marker_must_be_exact_else_schema_0);
    tcase_add_test(tc, test_get_record_reads_upgrades_and_gives_the_version);
    suite_add_tcase(s, tc);

    tc = tcase_create("vtable-version-1");
    tcase_add_checked_fixture(tc, clock_setup, NULL);
    tcase_add_test(tc, test_v1_backend_keeps_every_version_1_operation);
    tcase_add_test(tc, test_v1_backend_batches_fall_back_to_single_ops);
    tcase_add_test(tc, test_v1_backend_scan_sorted_and_txn_are_unsupported);
    tcase_add_test(tc, test_v2_table_with_null_v2_members_falls_back);
    suite_add_tcase(s, tc);

    return tu_run_suite(s);
}
