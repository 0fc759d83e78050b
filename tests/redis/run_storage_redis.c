/* Runs the storage conformance suite on the Redis backend against a real
 * redis-server, then the Redis-specific behaviours: the handle's
 * configuration (environment, AUTH, SELECT, prefix), sharing keys with
 * another Redis client (the legacy system during a migration), and two
 * handles (two processes) sharing one store.
 *
 * Every test gets its own key prefix, so tests never see each other's
 * keys. Time is real: advance_ms() sleeps and Redis's own expiry runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_harness.h"
#include "storage_suite.h"
#include "testutil.h"

static rh_server g_srv;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A prefix no other test (nor another run of this one) uses: Check forks
 * a child per test, so the pid differs; the counter covers CK_FORK=no. */
static void fresh_prefix(char *buf, size_t n)
{
    static int counter;
    snprintf(buf, n, "t%ld-%d:", (long)getpid(), ++counter);
}

static wabot_redis *new_handle(const char *prefix)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.prefix = prefix;
    const char *err = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &err);
    ck_assert_msg(r != NULL, "wabot_redis_new: %s", err ? err : "?");
    return r;
}

/* ------------------------------------------------------------------ */
/* The backend descriptor                                              */

/* One handle per store: the store is freed first, then its handle. */
typedef struct redis_slot {
    wabot_storage *s;
    wabot_redis *r;
} redis_slot;

static redis_slot g_slot;

static wabot_storage *redis_create(void *ud)
{
    (void)ud;
    char prefix[64];
    fresh_prefix(prefix, sizeof prefix);
    g_slot.r = new_handle(prefix);
    g_slot.s = wabot_storage_redis_new(g_slot.r);
    return g_slot.s;
}

static void redis_destroy(wabot_storage *s, void *ud)
{
    (void)ud;
    ck_assert_ptr_eq(s, g_slot.s);
    wabot_storage_free(s);
    wabot_redis_free(g_slot.r);
    memset(&g_slot, 0, sizeof g_slot);
}

static void real_advance(int64_t ms, void *ud)
{
    (void)ud;
    sleep_ms(ms);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static int cli(const rh_server *s, const char *args, char *out, size_t n)
{
    int rc = rh_cli(s, args, out, n);
    ck_assert_msg(rc == 0, "redis-cli %s: exit %d", args, rc);
    /* One-line answers: drop the newline. */
    size_t len = out != NULL ? strlen(out) : 0;
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    return rc;
}

static void expect_get(wabot_storage *s, const char *key, const char *want,
                       uint64_t *version)
{
    char *val = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_storage_get(s, key, &val, &len, version),
                     WABOT_OK);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_str_eq(val, want);
    wabot_free(val);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

START_TEST(test_redis_storage_is_named_redis)
{
    wabot_redis *r = new_handle("x:");
    wabot_storage *s = wabot_storage_redis_new(r);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(wabot_storage_name(s), "redis");
    wabot_storage_free(s);
    wabot_redis_free(r);
    ck_assert_ptr_null(wabot_storage_redis_new(NULL));
    ck_assert_ptr_null(wabot_limiter_redis_new(NULL));
    wabot_redis_free(NULL);
}
END_TEST

START_TEST(test_redis_config_init_gives_documented_defaults)
{
    wabot_redis_config c;
    memset(&c, 0xab, sizeof c);
    wabot_redis_config_init(&c);
    ck_assert_uint_eq(c.version, WABOT_REDIS_CONFIG_VERSION);
    ck_assert_str_eq(c.host, "127.0.0.1");
    ck_assert_int_eq(c.port, 6379);
    ck_assert_ptr_null(c.password);
    ck_assert_int_eq(c.db, 0);
    ck_assert_str_eq(c.prefix, "wabot:");
    ck_assert_int_eq(c.connect_timeout_ms, 1000);
    ck_assert_int_eq(c.command_timeout_ms, 1000);
    ck_assert_int_eq(c.pool_size, 8);
    wabot_redis_config_init(NULL); /* no crash */
}
END_TEST

static void clear_env(void)
{
    unsetenv("REDIS_HOST");
    unsetenv("REDIS_PORT");
    unsetenv("REDIS_PASSWORD");
    unsetenv("REDIS_DB");
    unsetenv("WABOT_REDIS_PREFIX");
    unsetenv("REDIS_POOL_SIZE");
}

START_TEST(test_redis_config_from_env_reads_every_variable)
{
    clear_env();
    wabot_redis_config c;
    ck_assert_int_eq(wabot_redis_config_from_env(&c), 0);
    ck_assert_str_eq(c.host, "127.0.0.1");
    ck_assert_str_eq(c.prefix, "wabot:");

    setenv("REDIS_HOST", "redis.internal", 1);
    setenv("REDIS_PORT", "6380", 1);
    setenv("REDIS_PASSWORD", "s3cret", 1);
    setenv("REDIS_DB", "5", 1);
    setenv("WABOT_REDIS_PREFIX", "bot1:", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), 1);
    ck_assert_uint_eq(c.version, WABOT_REDIS_CONFIG_VERSION);
    ck_assert_str_eq(c.host, "redis.internal");
    ck_assert_int_eq(c.port, 6380);
    ck_assert_str_eq(c.password, "s3cret");
    ck_assert_int_eq(c.db, 5);
    ck_assert_str_eq(c.prefix, "bot1:");
    ck_assert_int_eq(c.pool_size, 8); /* the rest stays default */

    setenv("REDIS_POOL_SIZE", "12", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), 1);
    ck_assert_int_eq(c.pool_size, 12);

    /* An empty prefix is a choice (keys exactly as named), not unset. */
    setenv("WABOT_REDIS_PREFIX", "", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), 1);
    ck_assert_str_eq(c.prefix, "");
    clear_env();
}
END_TEST

START_TEST(test_redis_config_from_env_rejects_unparsable_numbers)
{
    static const char *const bad_ports[] = {"0", "65536", "-1", "63 79",
                                            "6379x", "x"};
    wabot_redis_config c;
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        clear_env();
        setenv("REDIS_HOST", "h", 1);
        setenv("REDIS_PORT", bad_ports[i], 1);
        ck_assert_msg(wabot_redis_config_from_env(&c) == WABOT_ERR_INVAL,
                      "port %s accepted", bad_ports[i]);
    }
    clear_env();
    setenv("REDIS_DB", "-2", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), WABOT_ERR_INVAL);
    setenv("REDIS_DB", "99999999999", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), WABOT_ERR_INVAL);
    clear_env();
    setenv("REDIS_POOL_SIZE", "0", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), WABOT_ERR_INVAL);
    setenv("REDIS_POOL_SIZE", "1025", 1);
    ck_assert_int_eq(wabot_redis_config_from_env(&c), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_redis_config_from_env(NULL), WABOT_ERR_INVAL);
    clear_env();
}
END_TEST

START_TEST(test_redis_new_rejects_bad_configs_with_a_reason)
{
    const char *err = NULL;
    ck_assert_ptr_null(wabot_redis_new(NULL, &err));
    ck_assert_ptr_nonnull(err);
    wabot_redis_config c;
    for (int i = 0; i < 6; i++) {
        wabot_redis_config_init(&c);
        c.port = g_srv.port;
        switch (i) {
        case 0: c.version = 0; break;
        case 1: c.port = 0; break;
        case 2: c.db = -1; break;
        case 3: c.pool_size = 0; break;
        case 4: c.connect_timeout_ms = 0; break;
        default: c.command_timeout_ms = -5; break;
        }
        err = NULL;
        ck_assert_ptr_null(wabot_redis_new(&c, &err));
        ck_assert_msg(err != NULL && err[0] != '\0', "case %d: no reason",
                      i);
    }
    wabot_redis_config_init(&c);
    c.port = g_srv.port;
    c.pool_size = 0;
    ck_assert_ptr_null(wabot_redis_new(&c, NULL)); /* err may be NULL */
}
END_TEST

START_TEST(test_redis_new_fails_fast_when_nothing_listens)
{
    rh_server dead;
    ck_assert_int_eq(rh_start(&dead, 0), 0);
    int port = dead.port;
    rh_destroy(&dead); /* the port is now closed */
    wabot_redis_config c;
    wabot_redis_config_init(&c);
    c.port = port;
    const char *err = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_ptr_null(wabot_redis_new(&c, &err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_str_eq(err, "cannot connect to Redis");
    ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
}
END_TEST

START_TEST(test_redis_auth_is_sent_on_connect)
{
    rh_server s;
    ck_assert_int_eq(rh_start(&s, 0), 0);
    char out[64];
    cli(&s, "CONFIG SET requirepass s3cret", out, sizeof out);
    wabot_redis_config c;
    wabot_redis_config_init(&c);
    c.port = s.port;
    const char *err = NULL;
    ck_assert_ptr_null(wabot_redis_new(&c, &err)); /* no password */
    ck_assert_str_eq(err, "Redis AUTH failed");
    c.password = "wrong";
    ck_assert_ptr_null(wabot_redis_new(&c, &err));
    ck_assert_str_eq(err, "Redis AUTH failed");
    c.password = "s3cret";
    wabot_redis *r = wabot_redis_new(&c, &err);
    ck_assert_msg(r != NULL, "%s", err);
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "k", "v", 1, 0, NULL), WABOT_OK);
    expect_get(st, "k", "v", NULL);
    wabot_storage_free(st);
    wabot_redis_free(r);
    rh_destroy(&s);
}
END_TEST

START_TEST(test_redis_select_puts_keys_in_the_configured_db)
{
    wabot_redis_config c;
    wabot_redis_config_init(&c);
    c.port = g_srv.port;
    c.db = 3;
    c.prefix = "seldb:";
    wabot_redis *r = wabot_redis_new(&c, NULL);
    ck_assert_ptr_nonnull(r);
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "k", "in-db-3", 7, 0, NULL),
                     WABOT_OK);
    char out[64];
    /* The value's end (its start is the version header). */
    cli(&g_srv, "-n 3 GETRANGE seldb:k -7 -1", out, sizeof out);
    ck_assert_str_eq(out, "in-db-3");
    cli(&g_srv, "-n 0 EXISTS seldb:k", out, sizeof out);
    ck_assert_str_eq(out, "0");
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

START_TEST(test_redis_prefix_is_prepended_to_every_key)
{
    char prefix[64], args[200], out[128];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle(prefix);
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "conv:a", "x", 1, 0, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_incr(st, "n", 1, 0, NULL), WABOT_OK);
    /* Three keys, all under the prefix: two values (each with its
     * version in it) and the store's version counter. */
    char mine[4096];
    snprintf(args, sizeof args, "--scan --pattern '%s*'", prefix);
    ck_assert_int_eq(rh_cli(&g_srv, args, mine, sizeof mine), 0);
    ck_assert_ptr_nonnull(strstr(mine, "conv:a"));
    int n = 0;
    for (const char *p = mine; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    ck_assert_int_eq(n, 3);
    snprintf(args, sizeof args, "EXISTS %sconv:a %sn", prefix, prefix);
    cli(&g_srv, args, out, sizeof out);
    ck_assert_str_eq(out, "2");
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* The library's own records (here a customer profile written through a
 * context) land under the configured prefix exactly once: the prefix is
 * the Redis handle's, library keys carry none of their own. */
START_TEST(test_redis_library_keys_carry_the_prefix_once)
{
    char out[64];
    wabot_redis *r = new_handle("wabot:");
    wabot_storage *st = wabot_storage_redis_new(r);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_storage(o, st), WABOT_OK);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    ck_assert_int_eq(wabot_customer_set_opted_out(ctx, "pfx-org", "+1555",
                                                  1),
                     WABOT_OK);
    cli(&g_srv, "EXISTS wabot:cust:{pfx-org:+1555}", out, sizeof out);
    ck_assert_str_eq(out, "1");
    cli(&g_srv, "EXISTS wabot:wabot:cust:{pfx-org:+1555}", out, sizeof out);
    ck_assert_str_eq(out, "0");
    char all[4096];
    ck_assert_int_eq(rh_cli(&g_srv, "--scan --pattern '*wabot:wabot:*'", all,
                            sizeof all),
                     0);
    ck_assert_str_eq(all, "");
    wabot_ctx_free(ctx);
    wabot_options_free(o);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Sharing                                                             */

START_TEST(test_redis_two_handles_share_one_store)
{
    char prefix[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r1 = new_handle(prefix), *r2 = new_handle(prefix);
    wabot_storage *a = wabot_storage_redis_new(r1);
    wabot_storage *b = wabot_storage_redis_new(r2);
    uint64_t v = 0, seen = 0;
    ck_assert_int_eq(wabot_storage_set(a, "k", "from-a", 6, 0, &v), WABOT_OK);
    expect_get(b, "k", "from-a", &seen);
    ck_assert_uint_eq(seen, v);
    /* b's write makes a's version stale. */
    ck_assert_int_eq(wabot_storage_cas(b, "k", v, "from-b", 6, 0, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_cas(a, "k", v, "lost", 4, 0, NULL),
                     WABOT_ERR_CONFLICT);
    ck_assert_int_eq(wabot_storage_set_nx(a, "k", "x", 1, 0, NULL),
                     WABOT_ERR_EXISTS);
    expect_get(a, "k", "from-b", NULL);
    wabot_storage_free(a);
    wabot_storage_free(b);
    wabot_redis_free(r1);
    wabot_redis_free(r2);
}
END_TEST

START_TEST(test_redis_legacy_plain_keys_are_shared_both_ways)
{
    /* The legacy system's dedup markers: plain strings, no prefix. */
    char out[64];
    wabot_redis *r = new_handle("");
    wabot_storage *st = wabot_storage_redis_new(r);
    cli(&g_srv, "SET processed:SMlegacy 1 PX 60000", out, sizeof out);
    /* Ours sees theirs: present, readable, with a version. */
    ck_assert_int_eq(wabot_storage_set_nx(st, "processed:SMlegacy", "claim",
                                          5, 1000, NULL),
                     WABOT_ERR_EXISTS);
    uint64_t v1 = 0, v2 = 0;
    expect_get(st, "processed:SMlegacy", "1", &v1);
    ck_assert_uint_gt(v1, 0);
    expect_get(st, "processed:SMlegacy", "1", &v2);
    ck_assert_uint_eq(v1, v2); /* reads do not change it */
    ck_assert_int_eq(wabot_storage_del_if(st, "processed:SMlegacy", v1),
                     WABOT_OK);
    /* Theirs sees ours: a string that GET finds (the value behind its
     * version header), EXISTS and SET NX understand. */
    ck_assert_int_eq(wabot_storage_set(st, "processed:SMours", "done", 4,
                                       60000, NULL),
                     WABOT_OK);
    cli(&g_srv, "EXISTS processed:SMours", out, sizeof out);
    ck_assert_str_eq(out, "1");
    cli(&g_srv, "GETRANGE processed:SMours -4 -1", out, sizeof out);
    ck_assert_str_eq(out, "done");
    cli(&g_srv, "SET processed:SMours 1 NX", out, sizeof out);
    ck_assert_str_eq(out, "");
    cli(&g_srv, "PTTL processed:SMours", out, sizeof out);
    ck_assert_int_gt(strtol(out, NULL, 10), 50000);
    /* A key changed behind our back (no version key) is not CAS-able
     * blindly, but a get gives it a version that then works. */
    cli(&g_srv, "SET processed:SMours changed", out, sizeof out);
    uint64_t v = 0;
    expect_get(st, "processed:SMours", "changed", &v);
    ck_assert_int_eq(wabot_storage_cas(st, "processed:SMours", v, "x", 1, 0,
                                       NULL),
                     WABOT_OK);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* A store on a fresh prefix whose key "listy" another client made a
 * list (every operation on a value finds the wrong type there). */
static wabot_storage *store_with_a_list(wabot_redis **r)
{
    char prefix[64], args[160], out[64];
    fresh_prefix(prefix, sizeof prefix);
    *r = new_handle(prefix);
    wabot_storage *st = wabot_storage_redis_new(*r);
    snprintf(args, sizeof args, "RPUSH %slisty x", prefix);
    cli(&g_srv, args, out, sizeof out);
    return st;
}

/* A failure inside the backend (here an error reply: the key holds a
 * list) is described by wabot_storage_errmsg(), as the wrappers' own
 * argument errors are. */
START_TEST(test_redis_failure_is_described_by_storage_errmsg)
{
    wabot_redis *r;
    wabot_storage *st = store_with_a_list(&r);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(st, "listy", &val, NULL, NULL),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(val);
    const char *why = wabot_storage_errmsg(st);
    ck_assert_msg(strstr(why, "WRONGTYPE") != NULL, "errmsg: \"%s\"", why);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* A cas that wants the key absent is SET NX: whatever the key holds (a
 * list another client pushed included) is there, so CONFLICT, as set_nx
 * answers EXISTS; a cas against a version still reads the key and fails
 * with the server's error. */
START_TEST(test_redis_cas_for_an_absent_key_conflicts_with_any_type)
{
    wabot_redis *r;
    wabot_storage *st = store_with_a_list(&r);
    uint64_t ver = 0;
    ck_assert_int_eq(wabot_storage_cas(st, "listy", 0, "v", 1, 0, &ver),
                     WABOT_ERR_CONFLICT);
    ck_assert_int_eq(wabot_storage_cas(st, "listy", 3, "v", 1, 0, &ver),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_storage_cas(st, "fresh", 0, "v", 1, 0, &ver),
                     WABOT_OK);
    ck_assert_uint_gt(ver, 0);
    ck_assert_int_eq(wabot_storage_cas(st, "fresh", 0, "w", 1, 0, NULL),
                     WABOT_ERR_CONFLICT);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

START_TEST(test_redis_version_key_never_expires_before_its_value)
{
    char prefix[64], args[160], out[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle(prefix);
    wabot_storage *st = wabot_storage_redis_new(r);
    /* A TTL long enough that spawning redis-cli on a slow, loaded
     * machine (seconds, under valgrind) cannot eat it. */
    ck_assert_int_eq(wabot_storage_set(st, "k", "v", 1, 60000, NULL),
                     WABOT_OK);
    snprintf(args, sizeof args, "PTTL %sk", prefix);
    cli(&g_srv, args, out, sizeof out);
    long value_ttl = strtol(out, NULL, 10);
    ck_assert_int_gt(value_ttl, 30000);
    ck_assert_int_le(value_ttl, 60000);
    /* Many reads near the deadline never see a value without its
     * version: get() would have to make a new one, changing it. */
    uint64_t v0 = 0, v = 0;
    ck_assert_int_eq(wabot_storage_set(st, "short", "v", 1, 30, &v0),
                     WABOT_OK);
    for (int i = 0; i < 200; i++) {
        char *val = NULL;
        int rc = wabot_storage_get(st, "short", &val, NULL, &v);
        if (rc == WABOT_ERR_NOT_FOUND)
            break;
        ck_assert_int_eq(rc, WABOT_OK);
        ck_assert_uint_eq(v, v0);
        wabot_free(val);
        sleep_ms(1);
    }
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* The remaining TTL (ms) of key under prefix, as PTTL answers it. */
static long pttl_of(const char *prefix, const char *key)
{
    char args[256], out[64];
    snprintf(args, sizeof args, "PTTL %s%s", prefix, key);
    cli(&g_srv, args, out, sizeof out);
    return strtol(out, NULL, 10);
}

/* Write a value in the earlier layout (the value as is, its version at
 * key "\0v") under prefix, as a library before the version header did;
 * ttl "0" = none. */
static void old_layout(const char *prefix, const char *key, const char *val,
                       const char *version, const char *ttl)
{
    char args[512], out[64];
    snprintf(args, sizeof args,
             "EVAL \"local vk = KEYS[1] .. string.char(0) .. 'v' "
             "redis.call('SET', KEYS[1], ARGV[1]) "
             "redis.call('SET', vk, ARGV[2]) "
             "if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) "
             "redis.call('PEXPIRE', vk, ARGV[3] + 1000) end "
             "return 1\" 1 %s%s %s %s %s",
             prefix, key, val, version, ttl);
    cli(&g_srv, args, out, sizeof out);
    ck_assert_str_eq(out, "1");
}

/* 1 if key's earlier-layout version key exists. */
static int old_version_key_exists(const char *prefix, const char *key)
{
    char args[256], out[64];
    snprintf(args, sizeof args,
             "EVAL \"return redis.call('EXISTS', KEYS[1] .. string.char(0) "
             ".. 'v')\" 1 %s%s",
             prefix, key);
    cli(&g_srv, args, out, sizeof out);
    return strcmp(out, "1") == 0;
}

/* A Redis holding keys of the earlier layout (value and version key)
 * keeps working: every operation reads them with their versions, and a
 * write moves a key to the version header. */
/* A get is one plain GET when the value carries its version header (or
 * is absent): no script, whose call costs the server several times a GET.
 * A value without a header (another client's) still goes through the get
 * script, which gives it a version (test above); an error reply too. */
START_TEST(test_redis_get_of_a_value_with_its_header_is_one_plain_get)
{
    char prefix[64], args[160], out[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle(prefix);
    wabot_storage *st = wabot_storage_redis_new(r);
    uint64_t v = 0, got = 0;
    ck_assert_int_eq(wabot_storage_set(st, "k", "value", 5, 0, &v), WABOT_OK);
    long long ev0 = rh_cmd_calls(&g_srv, "evalsha");
    long long get0 = rh_cmd_calls(&g_srv, "get");
    expect_get(st, "k", "value", &got);
    ck_assert_uint_eq(got, v);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(st, "absent", &val, NULL, NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(val);
    ck_assert_int_eq(rh_cmd_calls(&g_srv, "evalsha") - ev0, 0);
    ck_assert_int_eq(rh_cmd_calls(&g_srv, "get") - get0, 2);
    /* another client's value: the script, once, then its header */
    snprintf(args, sizeof args, "SET %sforeign theirs", prefix);
    cli(&g_srv, args, out, sizeof out);
    expect_get(st, "foreign", "theirs", &got);
    ck_assert_uint_gt(got, v);
    ck_assert_int_eq(rh_cmd_calls(&g_srv, "evalsha") - ev0, 1);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

START_TEST(test_redis_values_of_the_earlier_layout_stay_readable)
{
    char prefix[64], args[160], out[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle(prefix);
    wabot_storage *st = wabot_storage_redis_new(r);
    /* The store's counter, past every version it gave. */
    snprintf(args, sizeof args,
             "EVAL \"return redis.call('SET', ARGV[1] .. string.char(0) .. "
             "'version', '100').ok\" 0 %s",
             prefix);
    cli(&g_srv, args, out, sizeof out);
    ck_assert_str_eq(out, "OK");
    old_layout(prefix, "a", "alpha", "7", "0");
    old_layout(prefix, "{o}b", "beta", "8", "60000");
    old_layout(prefix, "n", "40", "9", "60000");
    old_layout(prefix, "{o}d", "delta", "10", "0");

    uint64_t v = 0;
    expect_get(st, "a", "alpha", &v);
    ck_assert_uint_eq(v, 7);
    const char *keys[2] = {"a", "{o}b"};
    wabot_storage_items *items = NULL;
    ck_assert_int_eq(wabot_storage_get_many(st, 2, keys, &items), WABOT_OK);
    ck_assert_str_eq(wabot_storage_items_value(items, 1, NULL), "beta");
    ck_assert_uint_eq(wabot_storage_items_version(items, 1), 8);
    wabot_storage_items_free(items);

    /* compare-and-set against the old version, then the new one only. */
    uint64_t v2 = 0;
    ck_assert_int_eq(wabot_storage_cas(st, "a", 7, "alpha2", 6, 0, &v2),
                     WABOT_OK);
    ck_assert_uint_gt(v2, 7);
    ck_assert_int_eq(wabot_storage_cas(st, "a", 7, "x", 1, 0, NULL),
                     WABOT_ERR_CONFLICT);
    expect_get(st, "a", "alpha2", &v);
    ck_assert_uint_eq(v, v2);

    /* incr keeps the TTL and gives a new version. */
    int64_t n = 0;
    ck_assert_int_eq(wabot_storage_incr(st, "n", 2, 0, &n), WABOT_OK);
    ck_assert_int_eq(n, 42);
    expect_get(st, "n", "42", &v);
    ck_assert_uint_gt(v, 9);
    ck_assert_int_gt(pttl_of(prefix, "n"), 30000);

    /* A transaction judges the old versions too. */
    wabot_storage_txn *t = wabot_storage_txn_new(st);
    ck_assert_int_eq(wabot_storage_txn_cas(t, "{o}b", 8, "beta2", 5, 60000),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_txn_del_if(t, "{o}d", 10), WABOT_OK);
    ck_assert_int_eq(wabot_storage_txn_commit(t, NULL), WABOT_OK);
    wabot_storage_txn_free(t);
    expect_get(st, "{o}b", "beta2", NULL);
    char *val = NULL;
    ck_assert_int_eq(wabot_storage_get(st, "{o}d", &val, NULL, NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert(!old_version_key_exists(prefix, "{o}d"));
    ck_assert_int_eq(wabot_storage_del(st, "a"), WABOT_OK);
    ck_assert(!old_version_key_exists(prefix, "a"));
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* incr on a value written with a header (set, then incr): the number
 * behind the header counts; a value that is not a number is left as it
 * was, version and TTL included. */
START_TEST(test_redis_incr_counts_the_value_behind_its_version_header)
{
    char prefix[64];
    fresh_prefix(prefix, sizeof prefix);
    wabot_redis *r = new_handle(prefix);
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "c", "41", 2, 60000, NULL),
                     WABOT_OK);
    int64_t n = 0;
    ck_assert_int_eq(wabot_storage_incr(st, "c", 1, 0, &n), WABOT_OK);
    ck_assert_int_eq(n, 42);
    expect_get(st, "c", "42", NULL);
    ck_assert_int_gt(pttl_of(prefix, "c"), 30000);
    uint64_t v0 = 0, v = 0;
    ck_assert_int_eq(wabot_storage_set(st, "s", "x", 1, 60000, &v0),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_incr(st, "s", 1, 0, &n),
                     WABOT_ERR_CONFLICT);
    expect_get(st, "s", "x", &v);
    ck_assert_uint_eq(v, v0);
    ck_assert_int_gt(pttl_of(prefix, "s"), 30000);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

START_TEST(test_redis_huge_ttl_is_accepted)
{
    wabot_redis *r = new_handle("huge:");
    wabot_storage *st = wabot_storage_redis_new(r);
    ck_assert_int_eq(wabot_storage_set(st, "k", "v", 1, INT64_MAX, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_storage_expire(st, "k", INT64_MAX), WABOT_OK);
    ck_assert_int_eq(wabot_storage_incr(st, "n", 1, INT64_MAX, NULL),
                     WABOT_OK);
    expect_get(st, "k", "v", NULL);
    wabot_storage_free(st);
    wabot_redis_free(r);
}
END_TEST

/* ------------------------------------------------------------------ */

int main(void)
{
    int started = rh_main_start(&g_srv);
    if (started != 0)
        return started;
    Suite *s = suite_create("storage-redis");
    wb_storage_backend redis = {"redis", redis_create, redis_destroy,
                                real_advance, NULL};
    suite_add_tcase(s, wb_storage_conformance_tcase(&redis));

    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_redis_storage_is_named_redis);
    tcase_add_test(tc, test_redis_config_init_gives_documented_defaults);
    tcase_add_test(tc, test_redis_config_from_env_reads_every_variable);
    tcase_add_test(tc, test_redis_config_from_env_rejects_unparsable_numbers);
    tcase_add_test(tc, test_redis_new_rejects_bad_configs_with_a_reason);
    tcase_add_test(tc, test_redis_new_fails_fast_when_nothing_listens);
    tcase_add_test(tc, test_redis_auth_is_sent_on_connect);
    tcase_add_test(tc, test_redis_select_puts_keys_in_the_configured_db);
    tcase_add_test(tc, test_redis_prefix_is_prepended_to_every_key);
    tcase_add_test(tc, test_redis_library_keys_carry_the_prefix_once);
    tcase_add_test(tc, test_redis_two_handles_share_one_store);
    tcase_add_test(tc, test_redis_legacy_plain_keys_are_shared_both_ways);
    tcase_add_test(tc, test_redis_failure_is_described_by_storage_errmsg);
    tcase_add_test(tc, test_redis_cas_for_an_absent_key_conflicts_with_any_type);
    tcase_add_test(tc, test_redis_version_key_never_expires_before_its_value);
    tcase_add_test(tc, test_redis_huge_ttl_is_accepted);
    tcase_add_test(tc, test_redis_values_of_the_earlier_layout_stay_readable);
    tcase_add_test(tc, test_redis_get_of_a_value_with_its_header_is_one_plain_get);
    tcase_add_test(tc,
                   test_redis_incr_counts_the_value_behind_its_version_header);
    suite_add_tcase(s, tc);

    int rc = tu_run_suite(s);
    rh_destroy(&g_srv);
    return rc;
}
