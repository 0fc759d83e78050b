/* One error style (doc/errors.md): a failed call leaves its detail in the
 * calling thread's slot; wabot_errmsg() reads it whatever the call was made
 * on, the per-object accessors only when it is about their object. */
#include <pthread.h>
#include <string.h>

#include "testutil.h"

static wabot_ctx *new_ctx(void)
{
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    return ctx;
}

START_TEST(test_context_failure_detail_is_in_errmsg_and_ctx_errmsg)
{
    wabot_ctx *ctx = new_ctx();
    int rc = wabot_ctx_set_org_option(ctx, "acme", "no_such_option", "1");
    ck_assert_int_eq(rc, WABOT_ERR_INVAL);
    ck_assert_str_ne(wabot_errmsg(), "");
    ck_assert_str_eq(wabot_errmsg(), wabot_ctx_errmsg(ctx));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "no_such_option"));
    wabot_ctx_free(ctx);
}
END_TEST

START_TEST(test_storage_failure_detail_is_about_the_storage_not_the_ctx)
{
    wabot_ctx *ctx = new_ctx();
    wabot_storage *s = wabot_storage_memory_new(NULL);
    ck_assert_ptr_nonnull(s);
    int rc = wabot_storage_sorted_add(s, "z", "m", 1, INT64_MAX);
    ck_assert_int_eq(rc, WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "score"));
    ck_assert_str_eq(wabot_storage_errmsg(s), wabot_errmsg());
    /* The context's accessor does not report another object's failure. */
    ck_assert_str_eq(wabot_ctx_errmsg(ctx), "");
    wabot_storage_free(s);
    wabot_ctx_free(ctx);
}
END_TEST

START_TEST(test_options_failure_detail_is_on_the_options_and_the_thread)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_options_set(o, "max_body_bytes", "lots"),
                     WABOT_ERR_INVAL);
    ck_assert_str_ne(wabot_options_errmsg(o), "");
    ck_assert_str_eq(wabot_errmsg(), wabot_options_errmsg(o));
    /* A later failure elsewhere replaces the thread's detail but leaves
     * the options' own message until their next call. */
    wabot_storage *s = wabot_storage_memory_new(NULL);
    ck_assert_int_eq(wabot_storage_sorted_add(s, "z", "m", 1, INT64_MIN),
                     WABOT_ERR_INVAL);
    ck_assert_str_ne(wabot_errmsg(), wabot_options_errmsg(o));
    ck_assert_str_ne(wabot_options_errmsg(o), "");
    wabot_storage_free(s);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_ctx_new_failure_detail_reaches_errmsg)
{
    wabot_options *o = wabot_options_new();
    wabot_loop_hooks bad = {0};
    bad.version = 1; /* no watch_fd / set_timer */
    ck_assert_int_eq(wabot_options_set_loop(o, &bad), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "watch_fd"));
    ck_assert_str_eq(wabot_errmsg(), wabot_options_errmsg(o));
    wabot_options_free(o);
}
END_TEST

static void *fail_on_other_thread(void *arg)
{
    wabot_storage *s = arg;
    wabot_storage_sorted_add(s, "z", "m", 1, INT64_MAX);
    return NULL;
}

START_TEST(test_errmsg_belongs_to_the_calling_thread)
{
    wabot_ctx *ctx = new_ctx();
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "nope", "1"),
                     WABOT_ERR_INVAL);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", wabot_errmsg());
    wabot_storage *s = wabot_storage_memory_new(NULL);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fail_on_other_thread, s), 0);
    pthread_join(t, NULL);
    /* The other thread's failure did not touch this thread's detail. */
    ck_assert_str_eq(wabot_errmsg(), mine);
    ck_assert_str_eq(wabot_storage_errmsg(s), "");
    wabot_storage_free(s);
    wabot_ctx_free(ctx);
}
END_TEST

static void *fresh_thread_errmsg(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)(wabot_errmsg()[0] == '\0');
}

START_TEST(test_errmsg_is_empty_on_a_thread_without_failures)
{
    pthread_t t;
    void *empty = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, fresh_thread_errmsg, NULL), 0);
    pthread_join(t, &empty);
    ck_assert_int_eq((intptr_t)empty, 1);
}
END_TEST

/* A constructor that returns NULL says why on the calling thread. */
START_TEST(test_constructors_returning_null_leave_a_detail)
{
    ck_assert_ptr_null(wabot_storage_new(NULL, NULL));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "wabot_storage_new"));
    ck_assert_ptr_null(wabot_message_new("", "+15550100", NULL));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "wabot_message_new"));
    ck_assert_ptr_null(wabot_transport_twilio_new(NULL));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "account_sid"));
    wabot_breaker_config bad;
    wabot_breaker_config_init(&bad);
    bad.failure_rate_pct = 0;
    ck_assert_ptr_null(wabot_breaker_new(&bad));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "wabot_breaker_new"));
    ck_assert_ptr_null(wabot_storage_txn_new(NULL));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "NULL storage"));
    wabot_redis_config rc;
    wabot_redis_config_init(&rc);
    rc.port = -1;
    const char *why = NULL;
    ck_assert_ptr_null(wabot_redis_new(&rc, &why));
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), why));
}
END_TEST

Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, test_context_failure_detail_is_in_errmsg_and_ctx_errmsg);
    tcase_add_test(tc, test_storage_failure_detail_is_about_the_storage_not_the_ctx);
    tcase_add_test(tc, test_options_failure_detail_is_on_the_options_and_the_thread);
    tcase_add_test(tc, test_ctx_new_failure_detail_reaches_errmsg);
    tcase_add_test(tc, test_errmsg_belongs_to_the_calling_thread);
    tcase_add_test(tc, test_errmsg_is_empty_on_a_thread_without_failures);
    tcase_add_test(tc, test_constructors_returning_null_leave_a_detail);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(errors_suite());
}
