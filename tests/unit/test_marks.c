/* Marks (lib/storage/marks.c): the compact set of keys with deadlines the
 * memory store keeps for the dedup's "done" marks. Fake clock. */
#include <stdio.h>
#include <string.h>

#include "marks.h"
#include "testutil.h"

static tu_clock clk;
static wabot_clock wclk;
static wb_marks *M;

static void setup(void)
{
    tu_clock_init(&clk, TU_EPOCH_MS);
    wclk = tu_clock_wabot(&clk);
    M = wb_marks_new(&wclk);
    ck_assert_ptr_nonnull(M);
}

static void teardown(void)
{
    wb_marks_free(M);
    M = NULL;
}

static void key_of(char *key, size_t n, const char *kind, int i)
{
    snprintf(key, n, "dedup:%s%08d", kind, i);
}

START_TEST(test_a_mark_is_found_until_its_deadline_and_not_after)
{
    ck_assert_int_eq(wb_marks_add(M, "dedup:SM1", 1000), WABOT_OK);
    ck_assert(wb_marks_has(M, "dedup:SM1"));
    ck_assert(!wb_marks_has(M, "dedup:SM2"));
    ck_assert(!wb_marks_has(M, "dedup:SM"));
    tu_clock_advance(&clk, 999);
    ck_assert(wb_marks_has(M, "dedup:SM1"));
    tu_clock_advance(&clk, 1);
    ck_assert(!wb_marks_has(M, "dedup:SM1"));
    ck_assert_int_eq(wb_marks_del(M, "dedup:SM1"), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_marking_again_takes_the_new_deadline_and_zero_never_expires)
{
    ck_assert_int_eq(wb_marks_add(M, "a", 1000), WABOT_OK);
    tu_clock_advance(&clk, 900);
    ck_assert_int_eq(wb_marks_add(M, "a", 1000), WABOT_OK);
    tu_clock_advance(&clk, 900);
    ck_assert(wb_marks_has(M, "a"));
    ck_assert_int_eq(wb_marks_add(M, "forever", 0), WABOT_OK);
    tu_clock_advance(&clk, 400LL * 24 * 3600 * 1000);
    ck_assert(!wb_marks_has(M, "a"));
    ck_assert(wb_marks_has(M, "forever"));
    ck_assert_uint_eq(wb_marks_count(M, NULL), 1);
}
END_TEST

START_TEST(test_a_deleted_mark_is_gone_and_its_neighbours_stay)
{
    char key[64];
    for (int i = 0; i < 200; i++) {
        key_of(key, sizeof key, "x", i);
        ck_assert_int_eq(wb_marks_add(M, key, 60000), WABOT_OK);
    }
    for (int i = 0; i < 200; i += 2) {
        key_of(key, sizeof key, "x", i);
        ck_assert_int_eq(wb_marks_del(M, key), WABOT_OK);
        ck_assert_int_eq(wb_marks_del(M, key), WABOT_ERR_NOT_FOUND);
    }
    for (int i = 0; i < 200; i++) {
        key_of(key, sizeof key, "x", i);
        ck_assert_int_eq(wb_marks_has(M, key), i % 2);
    }
    ck_assert_uint_eq(wb_marks_count(M, NULL), 100);
}
END_TEST

/* Through the tables' growth: every key marked is found, none of as many
 * others is (a false "marked" would drop a distinct message). */
START_TEST(test_every_mark_is_found_through_growth_and_no_other_key_is)
{
    int n = tu_scale(100000);
    char key[64];
    for (int i = 0; i < n; i++) {
        key_of(key, sizeof key, "in", i);
        ck_assert_int_eq(wb_marks_add(M, key, 60000), WABOT_OK);
    }
    for (int i = 0; i < n; i++) {
        key_of(key, sizeof key, "in", i);
        ck_assert(wb_marks_has(M, key));
        key_of(key, sizeof key, "out", i);
        ck_assert(!wb_marks_has(M, key));
    }
    size_t bytes = 0;
    ck_assert_uint_eq(wb_marks_count(M, &bytes), (size_t)n);
    /* 16 bytes a slot, tables between a quarter and three quarters
     * full: well under a storage entry's 128 bytes a mark. */
    ck_assert_uint_le(bytes, (size_t)n * 16 * 4 + 64 * 1024);
}
END_TEST

/* Expired marks give their room back: a table that held many marks
 * shrinks once they expired, and the set keeps working at a steady
 * size while marks come and go (each rebuild keeps only live ones). */
START_TEST(test_expired_marks_give_their_room_back)
{
    int n = tu_scale(50000);
    char key[64];
    for (int i = 0; i < n; i++) {
        key_of(key, sizeof key, "old", i);
        ck_assert_int_eq(wb_marks_add(M, key, 1000), WABOT_OK);
    }
    size_t full = 0;
    (void)wb_marks_count(M, &full);
    tu_clock_advance(&clk, 1000);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 500; i++) {
            key_of(key, sizeof key, "new", round * 500 + i);
            ck_assert_int_eq(wb_marks_add(M, key, 1000), WABOT_OK);
            ck_assert(wb_marks_has(M, key));
        }
        tu_clock_advance(&clk, 1000);
    }
    key_of(key, sizeof key, "old", 0);
    ck_assert(!wb_marks_has(M, key));
    size_t after = 0;
    ck_assert_uint_eq(wb_marks_count(M, &after), 0);
    ck_assert_uint_lt(after * 4, full);
}
END_TEST

Suite *marks_suite(void)
{
    Suite *s = suite_create("marks");
    TCase *tc = tcase_create("marks");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_a_mark_is_found_until_its_deadline_and_not_after);
    tcase_add_test(
        tc, test_marking_again_takes_the_new_deadline_and_zero_never_expires);
    tcase_add_test(tc, test_a_deleted_mark_is_gone_and_its_neighbours_stay);
    tcase_add_test(tc,
                   test_every_mark_is_found_through_growth_and_no_other_key_is);
    tcase_add_test(tc, test_expired_marks_give_their_room_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(marks_suite());
}
