/* Pipelined storage batches (lib/storage/batch.c, wb_storage_batch): the
 * same cases on the memory backend, on a host backend (wabot_storage_new
 * over memory: the loop of single operations) and on a real redis-server
 * (one round trip for the whole batch). Each op gets exactly the single
 * operation's result; the batch is not a transaction. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_harness.h"
#include "redis.h"   /* wb_redis_prefix (lib/internal) */
#include "storage.h" /* wb_storage_batch (lib/internal) */
#include "testutil.h"
#include "wabot.h"
#include "wabot/redis.h"

static rh_server srv;
static int have_redis;
static int prefix_no;

enum { MEMORY, HOST, REDIS };

typedef struct env {
    wabot_redis *r;
    wabot_storage *st;
    wabot_storage *inner; /* HOST: the memory store behind it */
} env;

/* A host backend: every op passed to a memory store (no batch of its
 * own, so wb_storage_batch loops over these). */
static int h_get(void *impl, const char *key, wabot_buf *out, uint64_t *ver)
{
    char *v = NULL;
    size_t len = 0;
    int rc = wabot_storage_get(impl, key, &v, &len, ver);
    if (rc == WABOT_OK)
        rc = wabot_buf_set(out, v, len);
    wabot_free(v);
    return rc;
}
static int h_set(void *impl, const char *key, const char *val, size_t len,
                 int64_t ttl, uint64_t *ver)
{
    return wabot_storage_set(impl, key, val, len, ttl, ver);
}
static int h_set_nx(void *impl, const char *key, const char *val,
                    size_t len, int64_t ttl, uint64_t *ver)
{
    return wabot_storage_set_nx(impl, key, val, len, ttl, ver);
}
static int h_cas(void *impl, const char *key, uint64_t expected,
                 const char *val, size_t len, int64_t ttl, uint64_t *ver)
{
    return wabot_storage_cas(impl, key, expected, val, len, ttl, ver);
}
static int h_del(void *impl, const char *key)
{
    return wabot_storage_del(impl, key);
}
static int h_del_if(void *impl, const char *key, uint64_t expected)
{
    return wabot_storage_del_if(impl, key, expected);
}
static int h_incr(void *impl, const char *key, int64_t d, int64_t ttl,
                  int64_t *out)
{
    return wabot_storage_incr(impl, key, d, ttl, out);
}
static int h_expire(void *impl, const char *key, int64_t ttl)
{
    return wabot_storage_expire(impl, key, ttl);
}
static void h_destroy(void *impl) { (void)impl; }

static const wabot_storage_vtable host_vt = {
    1, h_get, h_set, h_set_nx, h_cas, h_del, h_del_if, h_incr, h_expire,
    h_destroy, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

static void env_init(env *e, int kind)
{
    memset(e, 0, sizeof *e);
    if (kind == MEMORY) {
        e->st = wabot_storage_memory_new(NULL);
    } else if (kind == HOST) {
        e->inner = wabot_storage_memory_new(NULL);
        e->st = wabot_storage_new(&host_vt, e->inner);
    } else {
        wabot_redis_config cfg;
        wabot_redis_config_init(&cfg);
        cfg.port = srv.port;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "b%ld.%d:", (long)getpid(),
                 ++prefix_no);
        cfg.prefix = prefix;
        const char *why = NULL;
        e->r = wabot_redis_new(&cfg, &why);
        ck_assert_msg(e->r != NULL, "wabot_redis_new: %s", why ? why : "?");
        e->st = wabot_storage_redis_new(e->r);
    }
    ck_assert_ptr_nonnull(e->st);
}

static void env_free(env *e)
{
    wabot_storage_free(e->st);
    wabot_storage_free(e->inner);
    wabot_redis_free(e->r);
}

static wb_storage_bop op_of(wb_bop_kind kind, const char *key,
                            const char *val, uint64_t expected)
{
    wb_storage_bop op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.key = key;
    op.val = val;
    op.len = val != NULL ? strlen(val) : 0;
    op.expected = expected;
    return op;
}

/* Every kind, each with the single operation's outcome, in order. */
static void each_op_gets_the_single_operations_result(int kind)
{
    env e;
    env_init(&e, kind);
    uint64_t v1 = 0, v2 = 0;
    ck_assert_int_eq(wabot_storage_set(e.st, "k1", "one", 3, 0, &v1),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_set(e.st, "k2", "two", 3, 0, &v2),
                     WABOT_OK);
    wb_storage_bop ops[] = {
        op_of(WB_BOP_GET, "k1", NULL, 0),
        op_of(WB_BOP_GET, "absent", NULL, 0),
        op_of(WB_BOP_SET, "k3", "three", 0),
        op_of(WB_BOP_CAS, "k2", "TWO", v2),     /* right version */
        op_of(WB_BOP_CAS, "k1", "ONE", v1 + 99), /* wrong version */
        op_of(WB_BOP_CAS, "new", "fresh", 0),    /* create */
        op_of(WB_BOP_CAS, "k1", "x", 0),         /* exists: conflict */
        op_of(WB_BOP_DEL, "k1", NULL, 0),
        op_of(WB_BOP_DEL, "absent", NULL, 0),
        op_of(WB_BOP_GET, "k3", NULL, 0), /* sees the SET before it */
    };
    size_t n = sizeof ops / sizeof *ops;
    /* scripts are loaded on first use (SCRIPT LOAD): not the steady state */
    wb_storage_bop warm[] = {op_of(WB_BOP_GET, "w", NULL, 0),
                             op_of(WB_BOP_SET, "w", "w", 0),
                             op_of(WB_BOP_CAS, "w", "w", 1),
                             op_of(WB_BOP_DEL, "w", NULL, 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 4, warm), WABOT_OK);
    int64_t rt0 = e.r ? wabot_redis_round_trips(e.r) : 0;
    ck_assert_int_eq(wb_storage_batch(e.st, n, ops), WABOT_OK);
    if (e.r)
        ck_assert_int_eq(wabot_redis_round_trips(e.r) - rt0, 1);
    ck_assert_int_eq(ops[0].status, WABOT_OK);
    ck_assert_str_eq(ops[0].out, "one");
    ck_assert_uint_eq(ops[0].out_len, 3);
    ck_assert_uint_eq(ops[0].version, v1);
    ck_assert_int_eq(ops[1].status, WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(ops[1].out);
    ck_assert_int_eq(ops[2].status, WABOT_OK);
    ck_assert_uint_gt(ops[2].version, v2);
    ck_assert_int_eq(ops[3].status, WABOT_OK);
    ck_assert_uint_gt(ops[3].version, v2);
    ck_assert_int_eq(ops[4].status, WABOT_ERR_CONFLICT);
    ck_assert_int_eq(ops[5].status, WABOT_OK);
    ck_assert_int_eq(ops[6].status, WABOT_ERR_CONFLICT);
    ck_assert_int_eq(ops[7].status, WABOT_OK);
    ck_assert_int_eq(ops[8].status, WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(ops[9].status, WABOT_OK);
    ck_assert_str_eq(ops[9].out, "three");
    ck_assert_uint_eq(ops[9].version, ops[2].version);
    wb_storage_bops_clear(n, ops);
    ck_assert_ptr_null(ops[0].out);

    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(e.st, "k2", &v, NULL, NULL),
                     WABOT_OK);
    ck_assert_str_eq(v, "TWO");
    wabot_free(v);
    ck_assert_int_eq(wabot_storage_get(e.st, "new", &v, NULL, NULL),
                     WABOT_OK);
    ck_assert_str_eq(v, "fresh");
    wabot_free(v);
    ck_assert_int_eq(wabot_storage_get(e.st, "k1", &v, NULL, NULL),
                     WABOT_ERR_NOT_FOUND);
    env_free(&e);
}

/* Values are bytes (NUL bytes included), a big batch is fine. */
static void binary_values_and_a_large_batch(int kind)
{
    env e;
    env_init(&e, kind);
    enum { N = 2000 };
    wb_storage_bop *ops = calloc(N, sizeof *ops);
    char(*keys)[32] = calloc(N, sizeof *keys);
    ck_assert(ops && keys);
    static const char bin[] = {'a', '\0', 'b', '\n', '\0'};
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "big:%d", i);
        ops[i] = op_of(WB_BOP_SET, keys[i], NULL, 0);
        ops[i].val = bin;
        ops[i].len = sizeof bin;
        ops[i].ttl_ms = i % 2 ? 600000 : 0;
    }
    ck_assert_int_eq(wb_storage_batch(e.st, N, ops), WABOT_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(ops[i].status, WABOT_OK);
        ops[i] = op_of(WB_BOP_GET, keys[i], NULL, 0);
    }
    ck_assert_int_eq(wb_storage_batch(e.st, N, ops), WABOT_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(ops[i].status, WABOT_OK);
        ck_assert_uint_eq(ops[i].out_len, sizeof bin);
        ck_assert(memcmp(ops[i].out, bin, sizeof bin) == 0);
        ck_assert_int_eq(ops[i].out[sizeof bin], '\0');
    }
    wb_storage_bops_clear(N, ops);
    free(ops);
    free(keys);
    env_free(&e);
}

/* Bad arguments refuse the whole batch before anything runs. */
static void bad_arguments_refuse_the_batch(int kind)
{
    env e;
    env_init(&e, kind);
    char longkey[1100];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    wb_storage_bop ops[2] = {op_of(WB_BOP_SET, "fine", "v", 0),
                             op_of(WB_BOP_SET, "", "v", 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 2, ops), WABOT_ERR_INVAL);
    ck_assert_int_eq(ops[0].status, WABOT_ERR_INVAL);
    ops[1] = op_of(WB_BOP_GET, longkey, NULL, 0);
    ck_assert_int_eq(wb_storage_batch(e.st, 2, ops), WABOT_ERR_INVAL);
    ops[1] = op_of(WB_BOP_SET, "x", NULL, 0);
    ops[1].len = 3; /* NULL value with a length */
    ck_assert_int_eq(wb_storage_batch(e.st, 2, ops), WABOT_ERR_INVAL);
    ops[1] = op_of(WB_BOP_SET, "x", "v", 0);
    ops[1].ttl_ms = -1;
    ck_assert_int_eq(wb_storage_batch(e.st, 2, ops), WABOT_ERR_INVAL);
    ops[1] = op_of((wb_bop_kind)99, "x", NULL, 0);
    ck_assert_int_eq(wb_storage_batch(e.st, 2, ops), WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_storage_batch(NULL, 1, ops), WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_storage_batch(e.st, 1, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_storage_batch(e.st, 0, NULL), WABOT_OK);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(e.st, "fine", &v, NULL, NULL),
                     WABOT_ERR_NOT_FOUND); /* nothing ran */
    env_free(&e);
}

#define ON_EACH(name)                                                         \
    START_TEST(test_memory_##name) { name(MEMORY); }                          \
    END_TEST                                                                  \
    START_TEST(test_host_backend_##name) { name(HOST); }                      \
    END_TEST                                                                  \
    START_TEST(test_redis_##name) { name(REDIS); }                            \
    END_TEST

ON_EACH(each_op_gets_the_single_operations_result)
ON_EACH(binary_values_and_a_large_batch)
ON_EACH(bad_arguments_refuse_the_batch)

/* A stopped server fails the whole batch with one status, every op's
 * status set to it. */
START_TEST(test_redis_unreachable_fails_every_op)
{
    rh_server dead;
    ck_assert_int_eq(rh_start(&dead, 0), 0);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = dead.port;
    cfg.connect_timeout_ms = 200;
    cfg.command_timeout_ms = 200;
    const char *why = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &why);
    ck_assert_ptr_nonnull(r);
    wabot_storage *st = wabot_storage_redis_new(r);
    rh_destroy(&dead);
    wb_storage_bop ops[2] = {op_of(WB_BOP_SET, "a", "v", 0),
                             op_of(WB_BOP_GET, "b", NULL, 0)};
    int rc = wb_storage_batch(st, 2, ops);
    ck_assert_int_ne(rc, WABOT_OK);
    ck_assert_int_eq(ops[0].status, rc);
    ck_assert_int_eq(ops[1].status, rc);
    ck_assert_ptr_null(ops[1].out);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST


/* The ops of a batch run in one script per 128 ops, their versions
 * taken with one INCRBY per script: 300 sets are 3 EVALSHA and 3
 * INCRBY, not 300 of each, and every version is still new: greater
 * than any before it, in the batch's order, below any after it. */
START_TEST(test_redis_batch_is_one_script_per_128_ops_with_new_versions)
{
    env e;
    env_init(&e, REDIS);
    enum { N = 300 };
    wb_storage_bop *ops = calloc(N, sizeof *ops);
    char(*keys)[32] = calloc(N, sizeof *keys);
    ck_assert(ops && keys);
    uint64_t before = 0, after = 0;
    ck_assert_int_eq(wabot_storage_set(e.st, "before", "b", 1, 0, &before),
                     WABOT_OK);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "v:%d", i % 250);
        ops[i] = op_of(i % 7 == 3 ? WB_BOP_CAS : WB_BOP_SET, keys[i], "x",
                       0);
    }
    long long ev0 = rh_cmd_calls(&srv, "evalsha"), in0 = rh_cmd_calls(&srv, "incrby");
    ck_assert_int_eq(wb_storage_batch(e.st, N, ops), WABOT_OK);
    ck_assert_int_eq(rh_cmd_calls(&srv, "evalsha") - ev0, 3);
    ck_assert_int_eq(rh_cmd_calls(&srv, "incrby") - in0, 3);
    uint64_t last = before;
    for (int i = 0; i < N; i++) {
        if (ops[i].kind == WB_BOP_CAS && i >= 250) {
            /* the key was written earlier in the batch: must be absent */
            ck_assert_int_eq(ops[i].status, WABOT_ERR_CONFLICT);
            continue;
        }
        ck_assert_int_eq(ops[i].status, WABOT_OK);
        ck_assert_uint_gt(ops[i].version, last);
        last = ops[i].version;
    }
    ck_assert_int_eq(wabot_storage_set(e.st, "after", "a", 1, 0, &after),
                     WABOT_OK);
    ck_assert_uint_gt(after, last);
    free(ops);
    free(keys);
    env_free(&e);
}
END_TEST

/* An op whose command fails on the server (here GET on a key another
 * client made a hash: WRONGTYPE) fails alone; the ops around it run.
 * The gets and cas ops after the script's first write take its fast path
 * (lib/redis/storage.c): a failing one fails alone there too. A cas that
 * wants the key absent finds it present, whatever its type: CONFLICT, as
 * set_nx answers EXISTS. */
START_TEST(test_redis_an_op_failing_on_the_server_fails_alone)
{
    env e;
    env_init(&e, REDIS);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "HSET %swrong f v", wb_redis_prefix(e.r));
    ck_assert_int_eq(rh_cli(&srv, cmd, NULL, 0), 0);
    wb_storage_bop ops[] = {op_of(WB_BOP_SET, "a", "1", 0),
                            op_of(WB_BOP_GET, "wrong", NULL, 0),
                            op_of(WB_BOP_SET, "b", "2", 0),
                            op_of(WB_BOP_GET, "a", NULL, 0),
                            op_of(WB_BOP_CAS, "wrong", "x", 7),
                            op_of(WB_BOP_CAS, "c", "3", 0),
                            op_of(WB_BOP_CAS, "wrong", "x", 0)};
    size_t n = sizeof ops / sizeof *ops;
    ck_assert_int_eq(wb_storage_batch(e.st, n, ops), WABOT_OK);
    ck_assert_int_eq(ops[0].status, WABOT_OK);
    ck_assert_int_eq(ops[1].status, WABOT_ERR_STORAGE);
    ck_assert_ptr_null(ops[1].out);
    ck_assert_int_eq(ops[2].status, WABOT_OK);
    ck_assert_int_eq(ops[3].status, WABOT_OK);
    ck_assert_str_eq(ops[3].out, "1");
    ck_assert_uint_eq(ops[3].version, ops[0].version);
    ck_assert_int_eq(ops[4].status, WABOT_ERR_STORAGE);
    ck_assert_int_eq(ops[5].status, WABOT_OK);
    ck_assert_uint_gt(ops[5].version, ops[2].version);
    /* "must be absent" is SET NX: a key of any type is there */
    ck_assert_int_eq(ops[6].status, WABOT_ERR_CONFLICT);
    wb_storage_bops_clear(n, ops);
    env_free(&e);
}
END_TEST

static long long pttl_of(env *e, const char *key)
{
    char cmd[160], out[32];
    snprintf(cmd, sizeof cmd, "PTTL %s%s", wb_redis_prefix(e->r), key);
    ck_assert_int_eq(rh_cli(&srv, cmd, out, sizeof out), 0);
    return atoll(out);
}

/* A write keeps its TTL whichever way the script runs it: the first
 * write of a script (it takes the versions) and the ones after it (the
 * fast path: set, cas against a header, cas that wants none), and a
 * write without one clears nothing it should not. */
START_TEST(test_redis_batch_writes_keep_their_ttls)
{
    env e;
    env_init(&e, REDIS);
    uint64_t v = 0;
    ck_assert_int_eq(wabot_storage_set(e.st, "pre", "p", 1, 0, &v), WABOT_OK);
    wb_storage_bop ops[] = {op_of(WB_BOP_SET, "t0", "a", 0),
                            op_of(WB_BOP_SET, "t1", "b", 0),
                            op_of(WB_BOP_SET, "n1", "c", 0),
                            op_of(WB_BOP_CAS, "t2", "d", 0),
                            op_of(WB_BOP_CAS, "pre", "e", v)};
    size_t n = sizeof ops / sizeof *ops;
    for (size_t i = 0; i < n; i++)
        ops[i].ttl_ms = i == 2 ? 0 : 600000;
    ck_assert_int_eq(wb_storage_batch(e.st, n, ops), WABOT_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ops[i].status, WABOT_OK);
    const char *with[] = {"t0", "t1", "t2", "pre"};
    for (size_t i = 0; i < 4; i++) {
        long long t = pttl_of(&e, with[i]);
        ck_assert_msg(t > 500000 && t <= 600000, "%s: PTTL %lld", with[i], t);
    }
    ck_assert_int_eq(pttl_of(&e, "n1"), -1);
    wb_storage_bops_clear(n, ops);
    env_free(&e);
}
END_TEST

/* A value of the earlier layout (the value as is, its version at the key
 * "<key>\0v"): the batch's ops name that key themselves (the script is
 * given the value's key only) and read, compare and delete such values
 * with their versions, as the single operations do. */
static void earlier_layout(env *e, const char *key, const char *val,
                           const char *version)
{
    char cmd[512], out[32];
    snprintf(cmd, sizeof cmd,
             "EVAL \"redis.call('SET', KEYS[1], ARGV[1]) "
             "redis.call('SET', KEYS[1] .. string.char(0) .. 'v', ARGV[2]) "
             "return 1\" 1 %s%s %s %s",
             wb_redis_prefix(e->r), key, val, version);
    ck_assert_int_eq(rh_cli(&srv, cmd, out, sizeof out), 0);
    ck_assert_int_eq(atoi(out), 1);
}

static int version_key_exists(env *e, const char *key)
{
    char cmd[256], out[32];
    snprintf(cmd, sizeof cmd,
             "EVAL \"return redis.call('EXISTS', KEYS[1] .. string.char(0) "
             ".. 'v')\" 1 %s%s",
             wb_redis_prefix(e->r), key);
    ck_assert_int_eq(rh_cli(&srv, cmd, out, sizeof out), 0);
    return atoi(out) == 1;
}

START_TEST(test_redis_batch_reads_and_moves_values_of_the_earlier_layout)
{
    env e;
    env_init(&e, REDIS);
    char cmd[160];
    /* the store's counter, past every version the old layout gave */
    snprintf(cmd, sizeof cmd,
             "EVAL \"return redis.call('SET', ARGV[1] .. string.char(0) .. "
             "'version', '100').ok\" 0 %s",
             wb_redis_prefix(e.r));
    ck_assert_int_eq(rh_cli(&srv, cmd, NULL, 0), 0);
    earlier_layout(&e, "g", "gamma", "7");
    earlier_layout(&e, "c", "cee", "8");
    earlier_layout(&e, "x", "ex", "9");
    earlier_layout(&e, "d", "dee", "10");
    wb_storage_bop ops[] = {op_of(WB_BOP_GET, "g", NULL, 0),
                            op_of(WB_BOP_CAS, "c", "cee2", 8),
                            op_of(WB_BOP_CAS, "x", "no", 7),
                            op_of(WB_BOP_DEL, "d", NULL, 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 4, ops), WABOT_OK);
    ck_assert_int_eq(ops[0].status, WABOT_OK);
    ck_assert_str_eq(ops[0].out, "gamma");
    ck_assert_uint_eq(ops[0].version, 7);
    ck_assert_int_eq(ops[1].status, WABOT_OK);
    ck_assert_uint_gt(ops[1].version, 100);
    ck_assert_int_eq(ops[2].status, WABOT_ERR_CONFLICT);
    ck_assert_int_eq(ops[3].status, WABOT_OK);
    ck_assert(!version_key_exists(&e, "d")); /* gone with its value */
    wb_storage_bops_clear(4, ops);
    char *v = NULL;
    uint64_t ver = 0;
    ck_assert_int_eq(wabot_storage_get(e.st, "c", &v, NULL, &ver), WABOT_OK);
    ck_assert_str_eq(v, "cee2");
    ck_assert_uint_eq(ver, ops[1].version);
    wabot_free(v);
    ck_assert_int_eq(wabot_storage_get(e.st, "x", &v, NULL, &ver), WABOT_OK);
    ck_assert_str_eq(v, "ex");
    ck_assert_uint_eq(ver, 9);
    wabot_free(v);
    env_free(&e);
}
END_TEST

/* A batch of gets only leaves as plain GETs (no script: a script's op
 * costs the server several times a GET), and each op still gets what the
 * single get answers: a value with its header as it is; one without a
 * header (another client's, the earlier layout's, a header that is not
 * one) through the script after, which versions it as get does; an
 * absent key NOT_FOUND; a key of another type fails alone. */
static void raw_set(env *e, const char *key, const char *val)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "EVAL \"return redis.call('SET', KEYS[1], ARGV[1]).ok\" 1 "
             "%s%s %s",
             wb_redis_prefix(e->r), key, val);
    ck_assert_int_eq(rh_cli(&srv, cmd, NULL, 0), 0);
}

START_TEST(test_redis_a_batch_of_gets_is_plain_gets)
{
    env e;
    env_init(&e, REDIS);
    char cmd[160];
    uint64_t va = 0, vb = 0;
    ck_assert_int_eq(wabot_storage_set(e.st, "a", "alpha", 5, 0, &va),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_set(e.st, "b", "", 0, 600000, &vb),
                     WABOT_OK);
    long long ev0 = rh_cmd_calls(&srv, "evalsha");
    long long get0 = rh_cmd_calls(&srv, "get");
    wb_storage_bop ops[] = {op_of(WB_BOP_GET, "a", NULL, 0),
                            op_of(WB_BOP_GET, "none", NULL, 0),
                            op_of(WB_BOP_GET, "b", NULL, 0),
                            op_of(WB_BOP_GET, "a", NULL, 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 4, ops), WABOT_OK);
    ck_assert_int_eq(rh_cmd_calls(&srv, "evalsha") - ev0, 0);
    ck_assert_int_eq(rh_cmd_calls(&srv, "get") - get0, 4);
    ck_assert_int_eq(ops[0].status, WABOT_OK);
    ck_assert_str_eq(ops[0].out, "alpha");
    ck_assert_uint_eq(ops[0].out_len, 5);
    ck_assert_uint_eq(ops[0].version, va);
    ck_assert_int_eq(ops[1].status, WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(ops[1].out);
    ck_assert_int_eq(ops[2].status, WABOT_OK);
    ck_assert_uint_eq(ops[2].out_len, 0);
    ck_assert_str_eq(ops[2].out, "");
    ck_assert_uint_eq(ops[2].version, vb);
    ck_assert_int_eq(ops[3].status, WABOT_OK);
    ck_assert_uint_eq(ops[3].version, va);
    wb_storage_bops_clear(4, ops);

    /* values without a header (a foreign one; "\0wv" without digits or
     * without its closing NUL is no header either), the earlier layout,
     * a hash: one script call for the values, the hash's op alone. */
    raw_set(&e, "foreign", "plain");
    earlier_layout(&e, "old", "olden", "7");
    snprintf(cmd, sizeof cmd,
             "EVAL \"return redis.call('SET', KEYS[1], string.char(0) .. "
             "'wv12')\" 1 %snotone",
             wb_redis_prefix(e.r));
    ck_assert_int_eq(rh_cli(&srv, cmd, NULL, 0), 0);
    snprintf(cmd, sizeof cmd,
             "EVAL \"return redis.call('SET', KEYS[1], string.char(0) .. "
             "'wv' .. string.char(0) .. 'x')\" 1 %snodigit",
             wb_redis_prefix(e.r));
    ck_assert_int_eq(rh_cli(&srv, cmd, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "HSET %shash f v", wb_redis_prefix(e.r));
    ck_assert_int_eq(rh_cli(&srv, cmd, NULL, 0), 0);
    ev0 = rh_cmd_calls(&srv, "evalsha");
    wb_storage_bop more[] = {op_of(WB_BOP_GET, "foreign", NULL, 0),
                             op_of(WB_BOP_GET, "a", NULL, 0),
                             op_of(WB_BOP_GET, "old", NULL, 0),
                             op_of(WB_BOP_GET, "hash", NULL, 0),
                             op_of(WB_BOP_GET, "notone", NULL, 0),
                             op_of(WB_BOP_GET, "nodigit", NULL, 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 6, more), WABOT_OK);
    ck_assert_int_eq(rh_cmd_calls(&srv, "evalsha") - ev0, 1);
    ck_assert_int_eq(more[0].status, WABOT_OK);
    ck_assert_str_eq(more[0].out, "plain");
    ck_assert_uint_gt(more[0].version, 0);
    ck_assert_int_eq(more[1].status, WABOT_OK);
    ck_assert_str_eq(more[1].out, "alpha");
    ck_assert_uint_eq(more[1].version, va);
    ck_assert_int_eq(more[2].status, WABOT_OK);
    ck_assert_str_eq(more[2].out, "olden");
    ck_assert_uint_eq(more[2].version, 7);
    ck_assert_int_eq(more[3].status, WABOT_ERR_STORAGE);
    ck_assert_ptr_null(more[3].out);
    ck_assert_int_eq(more[4].status, WABOT_OK);
    ck_assert_uint_eq(more[4].out_len, 5);
    ck_assert(memcmp(more[4].out, "\0wv12", 5) == 0);
    ck_assert_int_eq(more[5].status, WABOT_OK);
    ck_assert_uint_eq(more[5].out_len, 5);
    ck_assert(memcmp(more[5].out, "\0wv\0x", 5) == 0);
    ck_assert_uint_gt(more[5].version, 0);
    /* the single get agrees: the versions the script gave them stay */
    char *v = NULL;
    uint64_t ver = 0;
    ck_assert_int_eq(wabot_storage_get(e.st, "foreign", &v, NULL, &ver),
                     WABOT_OK);
    ck_assert_str_eq(v, "plain");
    ck_assert_uint_eq(ver, more[0].version);
    wabot_free(v);
    ck_assert_int_eq(wabot_storage_get(e.st, "notone", &v, NULL, &ver),
                     WABOT_OK);
    ck_assert_uint_eq(ver, more[4].version);
    wabot_free(v);
    wb_storage_bops_clear(6, more);
    env_free(&e);
}
END_TEST

/* The gets at the end of a batch, after its writes (the delivery's reads
 * after its outcome records), go as plain GETs in the writes' round trip,
 * and see them: the pipeline runs in order. A get before a write stays in
 * the script; a trailing value without a header goes to the script
 * after, as in a batch of gets only. */
START_TEST(test_redis_a_batchs_trailing_gets_are_plain_gets_in_its_round_trip)
{
    env e;
    env_init(&e, REDIS);
    uint64_t va = 0;
    ck_assert_int_eq(wabot_storage_set(e.st, "a", "alpha", 5, 0, &va),
                     WABOT_OK);
    wb_storage_bop warm = op_of(WB_BOP_SET, "w", "loads the script", 0);
    ck_assert_int_eq(wb_storage_batch(e.st, 1, &warm), WABOT_OK);
    long long ev0 = rh_cmd_calls(&srv, "evalsha");
    long long get0 = rh_cmd_calls(&srv, "get");
    int64_t rt0 = wabot_redis_round_trips(e.r);
    wb_storage_bop ops[] = {op_of(WB_BOP_GET, "a", NULL, 0),
                            op_of(WB_BOP_SET, "c", "cee", 0),
                            op_of(WB_BOP_CAS, "d", "dee", 0),
                            op_of(WB_BOP_GET, "c", NULL, 0),
                            op_of(WB_BOP_GET, "none", NULL, 0),
                            op_of(WB_BOP_GET, "d", NULL, 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 6, ops), WABOT_OK);
    ck_assert_int_eq(wabot_redis_round_trips(e.r) - rt0, 1);
    ck_assert_int_eq(rh_cmd_calls(&srv, "evalsha") - ev0, 1);
    /* the script's GET of "a", then three plain ones */
    ck_assert_int_eq(rh_cmd_calls(&srv, "get") - get0, 4);
    ck_assert_int_eq(ops[0].status, WABOT_OK);
    ck_assert_str_eq(ops[0].out, "alpha");
    ck_assert_uint_eq(ops[0].version, va);
    ck_assert_int_eq(ops[1].status, WABOT_OK);
    ck_assert_int_eq(ops[2].status, WABOT_OK);
    ck_assert_int_eq(ops[3].status, WABOT_OK);
    ck_assert_str_eq(ops[3].out, "cee");
    ck_assert_uint_eq(ops[3].version, ops[1].version);
    ck_assert_int_eq(ops[4].status, WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(ops[4].out);
    ck_assert_int_eq(ops[5].status, WABOT_OK);
    ck_assert_str_eq(ops[5].out, "dee");
    ck_assert_uint_eq(ops[5].version, ops[2].version);
    wb_storage_bops_clear(6, ops);

    /* a trailing value without a header: the script once more after */
    raw_set(&e, "foreign", "plain");
    ev0 = rh_cmd_calls(&srv, "evalsha");
    rt0 = wabot_redis_round_trips(e.r);
    wb_storage_bop more[] = {op_of(WB_BOP_DEL, "c", NULL, 0),
                             op_of(WB_BOP_GET, "c", NULL, 0),
                             op_of(WB_BOP_GET, "foreign", NULL, 0)};
    ck_assert_int_eq(wb_storage_batch(e.st, 3, more), WABOT_OK);
    ck_assert_int_eq(wabot_redis_round_trips(e.r) - rt0, 2);
    ck_assert_int_eq(rh_cmd_calls(&srv, "evalsha") - ev0, 2);
    ck_assert_int_eq(more[0].status, WABOT_OK);
    ck_assert_int_eq(more[1].status, WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(more[2].status, WABOT_OK);
    ck_assert_str_eq(more[2].out, "plain");
    ck_assert_uint_gt(more[2].version, 0);
    wb_storage_bops_clear(3, more);
    env_free(&e);
}
END_TEST

#define ADD_EACH(tc, name)                                                    \
    do {                                                                      \
        tcase_add_test(tc, test_memory_##name);                               \
        tcase_add_test(tc, test_host_backend_##name);                         \
        if (have_redis)                                                       \
            tcase_add_test(tc, test_redis_##name);                            \
    } while (0)

int main(void)
{
    have_redis = rh_available();
    if (!have_redis && getenv("CI"))
        return 1; /* CI must have redis-server */
    if (have_redis && rh_start(&srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    Suite *s = suite_create("storage-batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 60);
    ADD_EACH(tc, each_op_gets_the_single_operations_result);
    ADD_EACH(tc, binary_values_and_a_large_batch);
    ADD_EACH(tc, bad_arguments_refuse_the_batch);
    if (have_redis) {
        tcase_add_test(tc, test_redis_unreachable_fails_every_op);
        tcase_add_test(tc, test_redis_batch_writes_keep_their_ttls);
        tcase_add_test(
            tc, test_redis_batch_is_one_script_per_128_ops_with_new_versions);
        tcase_add_test(tc,
                       test_redis_an_op_failing_on_the_server_fails_alone);
        tcase_add_test(
            tc, test_redis_batch_reads_and_moves_values_of_the_earlier_layout);
        tcase_add_test(tc, test_redis_a_batch_of_gets_is_plain_gets);
        tcase_add_test(
            tc,
            test_redis_a_batchs_trailing_gets_are_plain_gets_in_its_round_trip);
    }
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    if (have_redis)
        rh_destroy(&srv);
    return rc;
}
