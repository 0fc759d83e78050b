/* Runs the storage conformance suite on the memory backend (fake clock),
 * and again on a pass-through "custom" backend built with
 * wabot_storage_new(), which proves the wrapper forwards every operation
 * faithfully. Then memory- and wrapper-specific tests. */
#include <stddef.h>
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

static const wabot_storage_vtable pt_vtable = {
    WABOT_STORAGE_VTABLE_VERSION,
    pt_get, pt_set, pt_set_nx, pt_cas, pt_del, pt_del_if, pt_incr, pt_expire,
    pt_destroy,
};

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

static const wabot_storage_vtable stub_vtable = {
    WABOT_STORAGE_VTABLE_VERSION,
    stub_get, stub_set, stub_set_nx, stub_cas, stub_del, stub_del_if,
    stub_incr, stub_expire, stub_destroy,
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

START_TEST(test_storage_new_rejects_each_null_op)
{
    stub st = {0};
    /* Every member after `version` is a function pointer. */
    size_t n_ops = (sizeof(wabot_storage_vtable) -
                    offsetof(wabot_storage_vtable, get)) /
                   sizeof(void (*)(void));
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
    tcase_add_test(tc, test_memory_key_expires_exactly_at_deadline);
    tcase_add_test(tc, test_memory_huge_ttl_does_not_overflow);
    tcase_add_test(tc, test_memory_sweep_keeps_live_keys_while_dropping_expired);
    tcase_add_test(tc, test_memory_null_clock_uses_system_time);
    tcase_add_test(tc, test_memory_new_rejects_invalid_clock);
    tcase_add_test(tc, test_memory_clock_is_copied);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrapper");
    tcase_add_test(tc, test_storage_new_rejects_null_vtable);
    tcase_add_test(tc, test_storage_new_rejects_version_zero);
    tcase_add_test(tc, test_storage_new_rejects_each_null_op);
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

    return tu_run_suite(s);
}
