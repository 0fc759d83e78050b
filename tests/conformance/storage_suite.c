/* The storage conformance suite (see storage_suite.h). Written only against
 * the public wabot_storage_* functions. */
#include "storage_suite.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TTLs: short enough for a real-time backend to sleep past, long enough
 * that "still there right after the write" holds on a loaded machine. */
#define TTL_MS 100
#define PAST_TTL_MS 150
#define LONG_TTL_MS 300

/* ------------------------------------------------------------------ */
/* Fixtures: one slot per registered backend                           */

static wb_storage_backend g_backends[WB_STORAGE_SUITE_MAX_BACKENDS];
static char g_names[WB_STORAGE_SUITE_MAX_BACKENDS][96];
static int g_nbackends;

static const wb_storage_backend *B; /* the backend under test */
static wabot_storage *S;            /* this test's store */

static void fixture_setup(int slot)
{
    B = &g_backends[slot];
    S = B->create(B->ud);
    ck_assert_msg(S != NULL, "backend %s: create() failed", B->name);
}

static void fixture_teardown(void)
{
    if (S != NULL)
        B->destroy(S, B->ud);
    S = NULL;
}

#define SLOT_SETUP(n)                                                         \
    static void setup_##n(void)                                               \
    {                                                                         \
        fixture_setup(n);                                                     \
    }
SLOT_SETUP(0)
SLOT_SETUP(1)
SLOT_SETUP(2)
SLOT_SETUP(3)
static void (*const g_setups[WB_STORAGE_SUITE_MAX_BACKENDS])(void) = {
    setup_0, setup_1, setup_2, setup_3};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define ASSERT_RC(expr, want)                                                 \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        int want_ = (want);                                                   \
        ck_assert_msg(rc_ == want_, "%s: got %d (%s), want %d (%s)", #expr,   \
                      rc_, wabot_strerror(rc_), want_,                        \
                      wabot_strerror(want_));                                 \
    } while (0)

static void advance(int64_t ms)
{
    B->advance_ms(ms, B->ud);
}

static uint64_t put(const char *key, const char *val, int64_t ttl_ms)
{
    uint64_t v = 0;
    ASSERT_RC(wabot_storage_set(S, key, val, strlen(val), ttl_ms, &v),
              WABOT_OK);
    ck_assert_uint_gt(v, 0);
    return v;
}

/* Assert key holds exactly `len` bytes of `want`; returns its version. */
static uint64_t expect_bytes(const char *key, const char *want, size_t len)
{
    char *val = NULL;
    size_t got_len = 12345;
    uint64_t ver = 0;
    ASSERT_RC(wabot_storage_get(S, key, &val, &got_len, &ver), WABOT_OK);
    ck_assert_ptr_nonnull(val);
    ck_assert_uint_eq(got_len, len);
    ck_assert_msg(memcmp(val, want, len) == 0, "value of %s differs", key);
    ck_assert_msg(val[len] == '\0', "value of %s not NUL-terminated", key);
    ck_assert_uint_gt(ver, 0);
    wabot_free(val);
    return ver;
}

static uint64_t expect_value(const char *key, const char *want)
{
    return expect_bytes(key, want, strlen(want));
}

static void expect_absent(const char *key)
{
    char *val = (char *)"sentinel";
    ASSERT_RC(wabot_storage_get(S, key, &val, NULL, NULL),
              WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(val);
}

/* A key that existed with a TTL and has now expired; returns the version
 * it had. */
static uint64_t make_expired(const char *key)
{
    uint64_t v = put(key, "old", TTL_MS);
    advance(PAST_TTL_MS);
    return v;
}

/* ------------------------------------------------------------------ */
/* get / set                                                           */

START_TEST(test_get_absent_is_not_found)
{
    expect_absent("absent");
}
END_TEST

START_TEST(test_set_then_get_round_trips_value_and_version)
{
    uint64_t v = put("k", "hello", 0);
    ck_assert_uint_eq(expect_value("k", "hello"), v);
}
END_TEST

START_TEST(test_get_accepts_null_len_and_version)
{
    put("k", "abc", 0);
    char *val = NULL;
    ASSERT_RC(wabot_storage_get(S, "k", &val, NULL, NULL), WABOT_OK);
    ck_assert_str_eq(val, "abc");
    wabot_free(val);
}
END_TEST

START_TEST(test_binary_value_with_nul_bytes_round_trips)
{
    static const char bin[] = {'a', '\0', 'b', '\0', '\0', (char)0xff,
                               (char)0x80, '\n', 'z'};
    ASSERT_RC(wabot_storage_set(S, "bin", bin, sizeof bin, 0, NULL),
              WABOT_OK);
    expect_bytes("bin", bin, sizeof bin);
}
END_TEST

START_TEST(test_empty_value_round_trips)
{
    ASSERT_RC(wabot_storage_set(S, "empty", "", 0, 0, NULL), WABOT_OK);
    expect_bytes("empty", "", 0);
}
END_TEST

START_TEST(test_null_value_with_zero_length_stores_empty)
{
    ASSERT_RC(wabot_storage_set(S, "empty", NULL, 0, 0, NULL), WABOT_OK);
    expect_bytes("empty", "", 0);
}
END_TEST

START_TEST(test_one_mib_value_round_trips)
{
    size_t n = 1024 * 1024;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (char)(x >> 24); /* includes NUL bytes */
    }
    ASSERT_RC(wabot_storage_set(S, "big", big, n, 0, NULL), WABOT_OK);
    expect_bytes("big", big, n);
    free(big);
}
END_TEST

START_TEST(test_set_overwrites_existing_value)
{
    put("k", "first", 0);
    put("k", "second value", 0);
    expect_value("k", "second value");
}
END_TEST

START_TEST(test_longest_key_is_accepted)
{
    char key[1025];
    memset(key, 'k', 1024);
    key[1024] = '\0';
    put(key, "v", 0);
    expect_value(key, "v");
}
END_TEST

START_TEST(test_keys_differing_in_any_byte_are_distinct)
{
    static const char *const keys[] = {
        "a", "A", "a:", "a:b", "a b", "a\tb", "\xc3\xa9t\xc3\xa9", "ab"};
    size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++) {
        char v[8];
        snprintf(v, sizeof v, "%zu", i);
        put(keys[i], v, 0);
    }
    for (size_t i = 0; i < n; i++) {
        char v[8];
        snprintf(v, sizeof v, "%zu", i);
        expect_value(keys[i], v);
    }
}
END_TEST

START_TEST(test_deleting_one_key_leaves_others)
{
    put("one", "1", 0);
    put("two", "2", 0);
    ASSERT_RC(wabot_storage_del(S, "one"), WABOT_OK);
    expect_absent("one");
    expect_value("two", "2");
}
END_TEST

START_TEST(test_many_keys_survive_table_growth)
{
    char key[32], val[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "val-%d", i);
        put(key, val, 0);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "val-%d", i);
        expect_value(key, val);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Versions                                                            */

START_TEST(test_version_grows_on_every_write)
{
    uint64_t v1 = put("k", "1", 0);
    uint64_t v2 = put("k", "2", 0);
    ck_assert_uint_gt(v2, v1);
    uint64_t v3 = 0;
    ASSERT_RC(wabot_storage_cas(S, "k", v2, "3", 1, 0, &v3), WABOT_OK);
    ck_assert_uint_gt(v3, v2);
    ASSERT_RC(wabot_storage_incr(S, "k", 1, 0, NULL), WABOT_OK);
    uint64_t v4 = expect_value("k", "4");
    ck_assert_uint_gt(v4, v3);
}
END_TEST

START_TEST(test_version_grows_when_key_is_recreated)
{
    uint64_t v1 = put("k", "a", 0);
    ASSERT_RC(wabot_storage_del(S, "k"), WABOT_OK);
    uint64_t v2 = 0;
    ASSERT_RC(wabot_storage_set_nx(S, "k", "a", 1, 0, &v2), WABOT_OK);
    ck_assert_uint_gt(v2, v1);
}
END_TEST

START_TEST(test_reads_do_not_change_version)
{
    uint64_t v = put("k", "a", 0);
    ck_assert_uint_eq(expect_value("k", "a"), v);
    ck_assert_uint_eq(expect_value("k", "a"), v);
}
END_TEST

START_TEST(test_expire_does_not_change_value_or_version)
{
    uint64_t v = put("k", "a", 0);
    ASSERT_RC(wabot_storage_expire(S, "k", 60000), WABOT_OK);
    ck_assert_uint_eq(expect_value("k", "a"), v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* set_nx                                                              */

START_TEST(test_set_nx_creates_absent_key)
{
    uint64_t v = 0;
    ASSERT_RC(wabot_storage_set_nx(S, "k", "new", 3, 0, &v), WABOT_OK);
    ck_assert_uint_eq(expect_value("k", "new"), v);
}
END_TEST

START_TEST(test_set_nx_on_existing_is_exists_and_value_unchanged)
{
    uint64_t v = put("k", "old", 0);
    uint64_t out = 777;
    ASSERT_RC(wabot_storage_set_nx(S, "k", "new", 3, 0, &out),
              WABOT_ERR_EXISTS);
    ck_assert_uint_eq(out, 777); /* untouched on failure */
    ck_assert_uint_eq(expect_value("k", "old"), v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* cas                                                                 */

START_TEST(test_cas_expected_zero_creates_absent_key)
{
    uint64_t v = 0;
    ASSERT_RC(wabot_storage_cas(S, "k", 0, "new", 3, 0, &v), WABOT_OK);
    ck_assert_uint_eq(expect_value("k", "new"), v);
}
END_TEST

START_TEST(test_cas_expected_zero_on_existing_conflicts)
{
    uint64_t v = put("k", "old", 0);
    ASSERT_RC(wabot_storage_cas(S, "k", 0, "new", 3, 0, NULL),
              WABOT_ERR_CONFLICT);
    ck_assert_uint_eq(expect_value("k", "old"), v);
}
END_TEST

START_TEST(test_cas_nonzero_expected_on_absent_conflicts)
{
    ASSERT_RC(wabot_storage_cas(S, "k", 42, "new", 3, 0, NULL),
              WABOT_ERR_CONFLICT);
    expect_absent("k");
}
END_TEST

START_TEST(test_cas_matching_version_writes)
{
    uint64_t v1 = put("k", "old", 0);
    uint64_t v2 = 0;
    ASSERT_RC(wabot_storage_cas(S, "k", v1, "new", 3, 0, &v2), WABOT_OK);
    ck_assert_uint_eq(expect_value("k", "new"), v2);
}
END_TEST

START_TEST(test_cas_stale_version_conflicts_and_value_unchanged)
{
    uint64_t v1 = put("k", "one", 0);
    uint64_t v2 = put("k", "two", 0);
    uint64_t out = 777;
    ASSERT_RC(wabot_storage_cas(S, "k", v1, "three", 5, 0, &out),
              WABOT_ERR_CONFLICT);
    ck_assert_uint_eq(out, 777);
    ck_assert_uint_eq(expect_value("k", "two"), v2);
}
END_TEST

START_TEST(test_cas_refuses_stale_version_after_recreate)
{
    uint64_t old = put("k", "one", 0);
    ASSERT_RC(wabot_storage_del(S, "k"), WABOT_OK);
    uint64_t now = put("k", "two", 0);
    ck_assert_uint_ne(now, old);
    ASSERT_RC(wabot_storage_cas(S, "k", old, "stale", 5, 0, NULL),
              WABOT_ERR_CONFLICT);
    expect_value("k", "two");
}
END_TEST

START_TEST(test_cas_refuses_stale_version_after_expiry_and_recreate)
{
    uint64_t old = make_expired("k");
    uint64_t now = put("k", "two", 0);
    ck_assert_uint_ne(now, old);
    ASSERT_RC(wabot_storage_cas(S, "k", old, "stale", 5, 0, NULL),
              WABOT_ERR_CONFLICT);
    expect_value("k", "two");
}
END_TEST

/* ------------------------------------------------------------------ */
/* del / del_if                                                        */

START_TEST(test_del_removes_key)
{
    put("k", "v", 0);
    ASSERT_RC(wabot_storage_del(S, "k"), WABOT_OK);
    expect_absent("k");
}
END_TEST

START_TEST(test_del_absent_is_not_found)
{
    ASSERT_RC(wabot_storage_del(S, "absent"), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_del_if_matching_version_deletes)
{
    uint64_t v = put("k", "v", 0);
    ASSERT_RC(wabot_storage_del_if(S, "k", v), WABOT_OK);
    expect_absent("k");
}
END_TEST

START_TEST(test_del_if_wrong_version_conflicts_and_keeps_key)
{
    uint64_t v1 = put("k", "one", 0);
    uint64_t v2 = put("k", "two", 0);
    ASSERT_RC(wabot_storage_del_if(S, "k", v1), WABOT_ERR_CONFLICT);
    ck_assert_uint_eq(expect_value("k", "two"), v2);
}
END_TEST

START_TEST(test_del_if_absent_is_not_found)
{
    ASSERT_RC(wabot_storage_del_if(S, "absent", 1), WABOT_ERR_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------ */
/* incr                                                                */

START_TEST(test_incr_absent_starts_from_zero)
{
    int64_t r = 0;
    ASSERT_RC(wabot_storage_incr(S, "n", 5, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, 5);
    expect_value("n", "5");
}
END_TEST

START_TEST(test_incr_adds_delta_to_existing_integer)
{
    put("n", "-5", 0);
    int64_t r = 0;
    ASSERT_RC(wabot_storage_incr(S, "n", 3, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, -2);
    ASSERT_RC(wabot_storage_incr(S, "n", 1000, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, 998);
    expect_value("n", "998");
}
END_TEST

START_TEST(test_incr_negative_delta_decrements)
{
    int64_t r = 0;
    ASSERT_RC(wabot_storage_incr(S, "n", -3, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, -3);
    ASSERT_RC(wabot_storage_incr(S, "n", -4, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, -7);
    expect_value("n", "-7");
}
END_TEST

START_TEST(test_incr_result_may_be_null)
{
    ASSERT_RC(wabot_storage_incr(S, "n", 2, 0, NULL), WABOT_OK);
    expect_value("n", "2");
}
END_TEST

START_TEST(test_incr_handles_int64_extremes)
{
    int64_t r = 0;
    put("max", "9223372036854775806", 0);
    ASSERT_RC(wabot_storage_incr(S, "max", 1, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, INT64_MAX);
    put("min", "-9223372036854775807", 0);
    ASSERT_RC(wabot_storage_incr(S, "min", -1, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, INT64_MIN);
    expect_value("min", "-9223372036854775808");
}
END_TEST

START_TEST(test_incr_non_integer_conflicts_and_value_unchanged)
{
    static const char *const bad[] = {"abc", "12abc", "", " 1", "1.5",
                                      "-", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = put("n", bad[i], 0);
        ASSERT_RC(wabot_storage_incr(S, "n", 1, 0, NULL),
                  WABOT_ERR_CONFLICT);
        ck_assert_uint_eq(expect_value("n", bad[i]), v);
    }
}
END_TEST

START_TEST(test_incr_overflow_conflicts_and_value_unchanged)
{
    uint64_t v = put("max", "9223372036854775807", 0);
    ASSERT_RC(wabot_storage_incr(S, "max", 1, 0, NULL), WABOT_ERR_CONFLICT);
    ck_assert_uint_eq(expect_value("max", "9223372036854775807"), v);
    v = put("min", "-9223372036854775808", 0);
    ASSERT_RC(wabot_storage_incr(S, "min", -1, 0, NULL),
              WABOT_ERR_CONFLICT);
    ck_assert_uint_eq(expect_value("min", "-9223372036854775808"), v);
}
END_TEST

START_TEST(test_incr_ttl_applies_on_creation)
{
    ASSERT_RC(wabot_storage_incr(S, "n", 1, TTL_MS, NULL), WABOT_OK);
    expect_value("n", "1");
    advance(PAST_TTL_MS);
    expect_absent("n");
}
END_TEST

START_TEST(test_incr_ttl_not_applied_to_existing_key)
{
    put("n", "5", 0);
    ASSERT_RC(wabot_storage_incr(S, "n", 1, TTL_MS, NULL), WABOT_OK);
    advance(PAST_TTL_MS);
    expect_value("n", "6");
}
END_TEST

START_TEST(test_incr_keeps_existing_ttl_unextended)
{
    ASSERT_RC(wabot_storage_incr(S, "n", 1, LONG_TTL_MS, NULL), WABOT_OK);
    advance(LONG_TTL_MS / 3);
    ASSERT_RC(wabot_storage_incr(S, "n", 1, 60000, NULL), WABOT_OK);
    advance(LONG_TTL_MS);
    expect_absent("n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* TTL and expire                                                      */

START_TEST(test_set_ttl_expires_key)
{
    put("k", "v", TTL_MS);
    expect_value("k", "v");
    advance(PAST_TTL_MS);
    expect_absent("k");
}
END_TEST

START_TEST(test_set_nx_ttl_expires_key)
{
    ASSERT_RC(wabot_storage_set_nx(S, "k", "v", 1, TTL_MS, NULL), WABOT_OK);
    advance(PAST_TTL_MS);
    expect_absent("k");
}
END_TEST

START_TEST(test_cas_ttl_expires_key)
{
    ASSERT_RC(wabot_storage_cas(S, "k", 0, "v", 1, TTL_MS, NULL), WABOT_OK);
    advance(PAST_TTL_MS);
    expect_absent("k");
}
END_TEST

START_TEST(test_set_without_ttl_clears_previous_ttl)
{
    put("k", "a", TTL_MS);
    put("k", "b", 0);
    advance(PAST_TTL_MS);
    expect_value("k", "b");
}
END_TEST

START_TEST(test_cas_without_ttl_clears_previous_ttl)
{
    uint64_t v = put("k", "a", TTL_MS);
    ASSERT_RC(wabot_storage_cas(S, "k", v, "b", 1, 0, NULL), WABOT_OK);
    advance(PAST_TTL_MS);
    expect_value("k", "b");
}
END_TEST

START_TEST(test_expire_absent_is_not_found)
{
    ASSERT_RC(wabot_storage_expire(S, "absent", TTL_MS),
              WABOT_ERR_NOT_FOUND);
    ASSERT_RC(wabot_storage_expire(S, "absent", 0), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_expire_sets_ttl_on_existing_key)
{
    put("k", "v", 0);
    ASSERT_RC(wabot_storage_expire(S, "k", TTL_MS), WABOT_OK);
    expect_value("k", "v");
    advance(PAST_TTL_MS);
    expect_absent("k");
}
END_TEST

START_TEST(test_expire_zero_removes_ttl)
{
    put("k", "v", TTL_MS);
    ASSERT_RC(wabot_storage_expire(S, "k", 0), WABOT_OK);
    advance(PAST_TTL_MS);
    expect_value("k", "v");
}
END_TEST

/* ------------------------------------------------------------------ */
/* An expired key behaves exactly as an absent one                     */

START_TEST(test_expired_key_get_is_not_found)
{
    make_expired("k");
    expect_absent("k");
}
END_TEST

/* Expired and live keys mixed in one table, so that chains hold both: an
 * expired key's removal must never make its neighbour answer for it
 * (a memory-backend bug that returned, and deleted, the next key). */
START_TEST(test_expired_keys_never_answer_for_their_neighbours)
{
    char key[32], val[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "mix:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        ASSERT_RC(wabot_storage_set(S, key, val, strlen(val),
                                    i % 2 ? TTL_MS : 0, NULL), WABOT_OK);
    }
    advance(PAST_TTL_MS);
    for (int i = 1; i < 300; i += 2) { /* the expired half: get and del */
        snprintf(key, sizeof key, "mix:%d", i);
        expect_absent(key);
        ASSERT_RC(wabot_storage_del(S, key), WABOT_ERR_NOT_FOUND);
    }
    for (int i = 0; i < 300; i += 2) { /* the live half is untouched */
        snprintf(key, sizeof key, "mix:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        expect_value(key, val);
    }
}
END_TEST

START_TEST(test_expired_key_set_nx_succeeds)
{
    make_expired("k");
    ASSERT_RC(wabot_storage_set_nx(S, "k", "new", 3, 0, NULL), WABOT_OK);
    expect_value("k", "new");
}
END_TEST

START_TEST(test_expired_key_cas_expected_zero_succeeds)
{
    make_expired("k");
    ASSERT_RC(wabot_storage_cas(S, "k", 0, "new", 3, 0, NULL), WABOT_OK);
    expect_value("k", "new");
}
END_TEST

START_TEST(test_expired_key_cas_old_version_conflicts)
{
    uint64_t old = make_expired("k");
    ASSERT_RC(wabot_storage_cas(S, "k", old, "new", 3, 0, NULL),
              WABOT_ERR_CONFLICT);
    expect_absent("k");
}
END_TEST

START_TEST(test_expired_key_incr_restarts_from_zero)
{
    ASSERT_RC(wabot_storage_incr(S, "n", 10, TTL_MS, NULL), WABOT_OK);
    advance(PAST_TTL_MS);
    int64_t r = 0;
    ASSERT_RC(wabot_storage_incr(S, "n", 1, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, 1);
}
END_TEST

START_TEST(test_expired_non_integer_incr_restarts_from_zero)
{
    make_expired("n"); /* held "old", not an integer */
    int64_t r = 0;
    ASSERT_RC(wabot_storage_incr(S, "n", 1, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, 1);
}
END_TEST

START_TEST(test_expired_key_del_is_not_found)
{
    make_expired("k");
    ASSERT_RC(wabot_storage_del(S, "k"), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_expired_key_del_if_is_not_found)
{
    uint64_t old = make_expired("k");
    ASSERT_RC(wabot_storage_del_if(S, "k", old), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_expired_key_expire_is_not_found)
{
    make_expired("k");
    ASSERT_RC(wabot_storage_expire(S, "k", 0), WABOT_ERR_NOT_FOUND);
    expect_absent("k");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Argument errors                                                     */

START_TEST(test_null_storage_is_inval)
{
    char *val = NULL;
    ASSERT_RC(wabot_storage_get(NULL, "k", &val, NULL, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_set(NULL, "k", "v", 1, 0, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_set_nx(NULL, "k", "v", 1, 0, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_cas(NULL, "k", 0, "v", 1, 0, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_del(NULL, "k"), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_del_if(NULL, "k", 1), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_incr(NULL, "k", 1, 0, NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_expire(NULL, "k", 0), WABOT_ERR_INVAL);
}
END_TEST

/* Every operation with the given key must be refused. */
static void expect_key_refused(const char *key)
{
    char *val = NULL;
    ASSERT_RC(wabot_storage_get(S, key, &val, NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_ptr_null(val);
    ASSERT_RC(wabot_storage_set(S, key, "v", 1, 0, NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_set_nx(S, key, "v", 1, 0, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_cas(S, key, 0, "v", 1, 0, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_del(S, key), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_del_if(S, key, 1), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_incr(S, key, 1, 0, NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_expire(S, key, 0), WABOT_ERR_INVAL);
}

START_TEST(test_null_key_is_inval)
{
    expect_key_refused(NULL);
}
END_TEST

START_TEST(test_empty_key_is_inval)
{
    expect_key_refused("");
}
END_TEST

START_TEST(test_key_over_1024_bytes_is_inval)
{
    char key[1026];
    memset(key, 'k', 1025);
    key[1025] = '\0';
    expect_key_refused(key);
}
END_TEST

START_TEST(test_negative_ttl_is_inval_and_writes_nothing)
{
    ASSERT_RC(wabot_storage_set(S, "k", "v", 1, -1, NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_set_nx(S, "k", "v", 1, -1, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_cas(S, "k", 0, "v", 1, -1, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_incr(S, "k", 1, -1, NULL), WABOT_ERR_INVAL);
    expect_absent("k");
    put("k", "v", 0);
    ASSERT_RC(wabot_storage_expire(S, "k", -1), WABOT_ERR_INVAL);
    expect_value("k", "v");
}
END_TEST

START_TEST(test_null_value_with_length_is_inval)
{
    ASSERT_RC(wabot_storage_set(S, "k", NULL, 1, 0, NULL), WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_set_nx(S, "k", NULL, 1, 0, NULL),
              WABOT_ERR_INVAL);
    ASSERT_RC(wabot_storage_cas(S, "k", 0, NULL, 1, 0, NULL),
              WABOT_ERR_INVAL);
    expect_absent("k");
}
END_TEST

START_TEST(test_get_without_value_pointer_is_inval)
{
    put("k", "v", 0);
    uint64_t ver = 0;
    ASSERT_RC(wabot_storage_get(S, "k", NULL, NULL, &ver), WABOT_ERR_INVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */

#define N_THREADS 8
#define N_INCR 1000
#define N_CAS 500

/* All workers start together, so their operations really interleave. */
static pthread_barrier_t g_start;

typedef struct worker {
    pthread_t tid;
    int errors;  /* unexpected status codes */
    long retries; /* CAS conflicts (expected under contention) */
} worker;

static void *incr_worker(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&g_start);
    for (int i = 0; i < N_INCR; i++)
        if (wabot_storage_incr(S, "counter", 1, 0, NULL) != WABOT_OK)
            w->errors++;
    return NULL;
}

/* One read-modify-write increment of a decimal counter through CAS. */
static int cas_increment(worker *w)
{
    for (;;) {
        char *val = NULL;
        uint64_t ver = 0;
        long n = 0;
        int rc = wabot_storage_get(S, "counter", &val, NULL, &ver);
        if (rc == WABOT_OK) {
            n = strtol(val, NULL, 10);
            wabot_free(val);
        } else if (rc == WABOT_ERR_NOT_FOUND) {
            ver = 0;
        } else {
            return rc;
        }
        char text[32];
        int len = snprintf(text, sizeof text, "%ld", n + 1);
        rc = wabot_storage_cas(S, "counter", ver, text, (size_t)len, 0,
                               NULL);
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
        w->retries++;
    }
}

static void *cas_worker(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(&g_start);
    for (int i = 0; i < N_CAS; i++)
        if (cas_increment(w) != WABOT_OK)
            w->errors++;
    return NULL;
}

static void run_workers(void *(*fn)(void *))
{
    worker ws[N_THREADS];
    memset(ws, 0, sizeof ws);
    ck_assert_int_eq(pthread_barrier_init(&g_start, NULL, N_THREADS), 0);
    for (int i = 0; i < N_THREADS; i++)
        ck_assert_int_eq(pthread_create(&ws[i].tid, NULL, fn, &ws[i]), 0);
    int errors = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(ws[i].tid, NULL);
        errors += ws[i].errors;
    }
    pthread_barrier_destroy(&g_start);
    ck_assert_int_eq(errors, 0);
}

START_TEST(test_concurrent_incr_loses_no_update)
{
    run_workers(incr_worker);
    int64_t r = 0;
    ASSERT_RC(wabot_storage_incr(S, "counter", 0, 0, &r), WABOT_OK);
    ck_assert_int_eq(r, N_THREADS * N_INCR);
}
END_TEST

START_TEST(test_concurrent_cas_loop_loses_no_update)
{
    run_workers(cas_worker);
    char want[32];
    snprintf(want, sizeof want, "%d", N_THREADS * N_CAS);
    expect_value("counter", want);
}
END_TEST

/* ------------------------------------------------------------------ */

TCase *wb_storage_conformance_tcase(const wb_storage_backend *b)
{
    if (b == NULL || b->create == NULL || b->destroy == NULL ||
        b->advance_ms == NULL || g_nbackends >= WB_STORAGE_SUITE_MAX_BACKENDS)
        abort();
    int slot = g_nbackends++;
    g_backends[slot] = *b;
    snprintf(g_names[slot], sizeof g_names[slot], "conformance:%s",
             b->name != NULL ? b->name : "?");
    TCase *tc = tcase_create(g_names[slot]);
    tcase_add_checked_fixture(tc, g_setups[slot], fixture_teardown);

    tcase_add_test(tc, test_get_absent_is_not_found);
    tcase_add_test(tc, test_set_then_get_round_trips_value_and_version);
    tcase_add_test(tc, test_get_accepts_null_len_and_version);
    tcase_add_test(tc, test_binary_value_with_nul_bytes_round_trips);
    tcase_add_test(tc, test_empty_value_round_trips);
    tcase_add_test(tc, test_null_value_with_zero_length_stores_empty);
    tcase_add_test(tc, test_one_mib_value_round_trips);
    tcase_add_test(tc, test_set_overwrites_existing_value);
    tcase_add_test(tc, test_longest_key_is_accepted);
    tcase_add_test(tc, test_keys_differing_in_any_byte_are_distinct);
    tcase_add_test(tc, test_deleting_one_key_leaves_others);
    tcase_add_test(tc, test_many_keys_survive_table_growth);

    tcase_add_test(tc, test_version_grows_on_every_write);
    tcase_add_test(tc, test_version_grows_when_key_is_recreated);
    tcase_add_test(tc, test_reads_do_not_change_version);
    tcase_add_test(tc, test_expire_does_not_change_value_or_version);

    tcase_add_test(tc, test_set_nx_creates_absent_key);
    tcase_add_test(tc, test_set_nx_on_existing_is_exists_and_value_unchanged);

    tcase_add_test(tc, test_cas_expected_zero_creates_absent_key);
    tcase_add_test(tc, test_cas_expected_zero_on_existing_conflicts);
    tcase_add_test(tc, test_cas_nonzero_expected_on_absent_conflicts);
    tcase_add_test(tc, test_cas_matching_version_writes);
    tcase_add_test(tc, test_cas_stale_version_conflicts_and_value_unchanged);
    tcase_add_test(tc, test_cas_refuses_stale_version_after_recreate);
    tcase_add_test(tc,
                   test_cas_refuses_stale_version_after_expiry_and_recreate);

    tcase_add_test(tc, test_del_removes_key);
    tcase_add_test(tc, test_del_absent_is_not_found);
    tcase_add_test(tc, test_del_if_matching_version_deletes);
    tcase_add_test(tc, test_del_if_wrong_version_conflicts_and_keeps_key);
    tcase_add_test(tc, test_del_if_absent_is_not_found);

    tcase_add_test(tc, test_incr_absent_starts_from_zero);
    tcase_add_test(tc, test_incr_adds_delta_to_existing_integer);
    tcase_add_test(tc, test_incr_negative_delta_decrements);
    tcase_add_test(tc, test_incr_result_may_be_null);
    tcase_add_test(tc, test_incr_handles_int64_extremes);
    tcase_add_test(tc, test_incr_non_integer_conflicts_and_value_unchanged);
    tcase_add_test(tc, test_incr_overflow_conflicts_and_value_unchanged);
    tcase_add_test(tc, test_incr_ttl_applies_on_creation);
    tcase_add_test(tc, test_incr_ttl_not_applied_to_existing_key);
    tcase_add_test(tc, test_incr_keeps_existing_ttl_unextended);

    tcase_add_test(tc, test_set_ttl_expires_key);
    tcase_add_test(tc, test_set_nx_ttl_expires_key);
    tcase_add_test(tc, test_cas_ttl_expires_key);
    tcase_add_test(tc, test_set_without_ttl_clears_previous_ttl);
    tcase_add_test(tc, test_cas_without_ttl_clears_previous_ttl);
    tcase_add_test(tc, test_expire_absent_is_not_found);
    tcase_add_test(tc, test_expire_sets_ttl_on_existing_key);
    tcase_add_test(tc, test_expire_zero_removes_ttl);

    tcase_add_test(tc, test_expired_key_get_is_not_found);
    tcase_add_test(tc, test_expired_keys_never_answer_for_their_neighbours);
    tcase_add_test(tc, test_expired_key_set_nx_succeeds);
    tcase_add_test(tc, test_expired_key_cas_expected_zero_succeeds);
    tcase_add_test(tc, test_expired_key_cas_old_version_conflicts);
    tcase_add_test(tc, test_expired_key_incr_restarts_from_zero);
    tcase_add_test(tc, test_expired_non_integer_incr_restarts_from_zero);
    tcase_add_test(tc, test_expired_key_del_is_not_found);
    tcase_add_test(tc, test_expired_key_del_if_is_not_found);
    tcase_add_test(tc, test_expired_key_expire_is_not_found);

    tcase_add_test(tc, test_null_storage_is_inval);
    tcase_add_test(tc, test_null_key_is_inval);
    tcase_add_test(tc, test_empty_key_is_inval);
    tcase_add_test(tc, test_key_over_1024_bytes_is_inval);
    tcase_add_test(tc, test_negative_ttl_is_inval_and_writes_nothing);
    tcase_add_test(tc, test_null_value_with_length_is_inval);
    tcase_add_test(tc, test_get_without_value_pointer_is_inval);

    tcase_add_test(tc, test_concurrent_incr_loses_no_update);
    tcase_add_test(tc, test_concurrent_cas_loop_loses_no_update);
    return tc;
}
