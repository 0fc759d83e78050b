/* Options v2: typed, listable definitions, textual values with units, the
 * environment, per-organisation overrides. Public API only. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static size_t index_of(const wabot_options *o, const char *name)
{
    size_t i = 0;
    ck_assert_int_eq(wabot_options_find(o, name, &i), WABOT_OK);
    return i;
}

START_TEST(test_every_option_is_listed_with_name_doc_env_and_type)
{
    wabot_options *o = wabot_options_new();
    size_t n = wabot_options_count(o);
    ck_assert_uint_ge(n, 47);
    for (size_t i = 0; i < n; i++) {
        const char *name = wabot_options_name(o, i);
        ck_assert_ptr_nonnull(name);
        ck_assert_msg(name[0] >= 'a' && name[0] <= 'z', "%s", name);
        ck_assert_msg(strlen(wabot_options_doc(o, i)) > 5, "%s has no doc",
                      name);
        ck_assert_ptr_nonnull(wabot_options_env(o, i));
        ck_assert_int_ge(wabot_options_type(o, i), WABOT_OPTION_INT);
        ck_assert_int_le(wabot_options_type(o, i), WABOT_OPTION_ENUM);
        size_t again;
        ck_assert_int_eq(wabot_options_find(o, name, &again), WABOT_OK);
        ck_assert_uint_eq(again, i);
    }
    ck_assert_ptr_null(wabot_options_name(o, n));
    ck_assert_ptr_null(wabot_options_doc(o, n));
    ck_assert_int_eq(wabot_options_type(o, n), 0);
    size_t i;
    ck_assert_int_eq(wabot_options_find(o, "no_such", &i),
                     WABOT_ERR_NOT_FOUND);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_listing_describes_types_ranges_env_and_flags)
{
    wabot_options *o = wabot_options_new();
    size_t i = index_of(o, "max_body_bytes");
    ck_assert_int_eq(wabot_options_type(o, i), WABOT_OPTION_BYTES);
    ck_assert_str_eq(wabot_options_env(o, i), "WABOT_MAX_BODY_BYTES");
    int64_t lo, hi;
    ck_assert_int_eq(wabot_options_range(o, i, &lo, &hi), WABOT_OK);
    ck_assert_int_eq(lo, 1);
    ck_assert_int_eq(hi, 64 * 1024 * 1024);

    i = index_of(o, "WABOT_OPT_TWILIO_AUTH_TOKEN");
    ck_assert_str_eq(wabot_options_name(o, i), "twilio_auth_token");
    ck_assert_str_eq(wabot_options_env(o, i), "TWILIO_AUTH_TOKEN");
    ck_assert(wabot_options_flags(o, i) & WABOT_OPTION_SECRET);
    ck_assert_int_eq(wabot_options_range(o, i, &lo, &hi), WABOT_ERR_INVAL);

    i = index_of(o, "meta_webhook_path");
    ck_assert_str_eq(wabot_options_env(o, i), "WHATSAPP_V2_WEBHOOK_PATH");

    i = index_of(o, "log_level");
    ck_assert_int_eq(wabot_options_type(o, i), WABOT_OPTION_ENUM);
    ck_assert_str_eq(wabot_options_choice(o, i, 0), "debug");
    ck_assert_str_eq(wabot_options_choice(o, i, 4), "none");
    ck_assert_ptr_null(wabot_options_choice(o, i, 5));

    ck_assert(wabot_options_flags(o, index_of(o, "optout_reply")) &
              WABOT_OPTION_PER_ORG);
    ck_assert(!(wabot_options_flags(o, index_of(o, "max_params")) &
                WABOT_OPTION_PER_ORG));
    wabot_options_free(o);
}
END_TEST

static const char *fmt(const wabot_options *o, const char *name, int which)
{
    static char buf[512];
    int n = wabot_options_format(o, index_of(o, name), which, buf, sizeof buf);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(buf));
    return buf;
}

START_TEST(test_values_parse_with_units_and_format_back)
{
    wabot_options *o = wabot_options_new();
    int64_t v;
    ck_assert_int_eq(wabot_options_set(o, "dedup_ttl_ms", "2h"), WABOT_OK);
    wabot_options_get_int(o, WABOT_OPT_DEDUP_TTL_MS, &v);
    ck_assert_int_eq(v, 2 * 3600 * 1000);
    ck_assert_str_eq(fmt(o, "dedup_ttl_ms", 0), "2h");
    ck_assert_str_eq(fmt(o, "dedup_ttl_ms", 1), "1d");
    ck_assert_int_eq(wabot_options_set(o, "dedup_lease_ms", "1500"),
                     WABOT_OK);
    ck_assert_str_eq(fmt(o, "dedup_lease_ms", 0), "1500ms");
    ck_assert_int_eq(wabot_options_set(o, "max_body_bytes", "2MiB"),
                     WABOT_OK);
    wabot_options_get_int(o, WABOT_OPT_MAX_BODY_BYTES, &v);
    ck_assert_int_eq(v, 2 * 1024 * 1024);
    ck_assert_str_eq(fmt(o, "max_body_bytes", 0), "2MiB");
    ck_assert_int_eq(wabot_options_set(o, "max_field_bytes", "100"),
                     WABOT_OK);
    ck_assert_str_eq(fmt(o, "max_field_bytes", 0), "100");
    ck_assert_int_eq(wabot_options_set(o, "verify_signatures", "off"),
                     WABOT_OK);
    wabot_options_get_int(o, WABOT_OPT_VERIFY_SIGNATURES, &v);
    ck_assert_int_eq(v, 0);
    ck_assert_str_eq(fmt(o, "verify_signatures", 0), "false");
    ck_assert_int_eq(wabot_options_set(o, "log_level", "ERROR"), WABOT_OK);
    ck_assert_str_eq(fmt(o, "log_level", 0), "error");
    ck_assert_int_eq(wabot_options_set(o, "log_level", "1"), WABOT_OK);
    ck_assert_str_eq(fmt(o, "log_level", 0), "info");
    wabot_options_free(o);
}
END_TEST

START_TEST(test_bad_values_are_refused_with_the_reason)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "dedup_ttl_ms", "5 parsecs"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "duration"));
    ck_assert_int_eq(wabot_options_set(o, "verify_signatures", "maybe"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "boolean"));
    ck_assert_int_eq(wabot_options_set(o, "max_body_bytes", "65MiB"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "between"));
    ck_assert_int_eq(wabot_options_set(o, "log_level", "7"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(o, "dedup_ttl_ms",
                                       "99999999999999999999d"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 2),
                     WABOT_ERR_INVAL);
    /* A secret's bad value is not repeated in the message. */
    ck_assert_int_eq(wabot_options_set(o, "meta_app_secret", "a\nb"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_null(strstr(wabot_options_errmsg(o), "a\nb"));
    /* Failed sets change nothing. */
    int64_t v;
    wabot_options_get_int(o, WABOT_OPT_DEDUP_TTL_MS, &v);
    ck_assert_int_eq(v, 24LL * 3600 * 1000);
    wabot_options_free(o);
}
END_TEST

/* Every option's default, written as text, reads back as the same value:
 * the listing's syntax is the setters' syntax. */
START_TEST(test_every_default_round_trips_through_its_text)
{
    wabot_options *o = wabot_options_new();
    for (size_t i = 0; i < wabot_options_count(o); i++) {
        char text[8192], back[8192];
        wabot_options_format(o, i, 1, text, sizeof text);
        const char *name = wabot_options_name(o, i);
        int rc = wabot_options_set(o, name, text);
        if (rc != WABOT_OK && text[0] == '\0')
            continue; /* "" is no value for options that need one */
        ck_assert_msg(rc == WABOT_OK, "%s=\"%s\": %s", name, text,
                      wabot_options_errmsg(o));
        wabot_options_format(o, i, 0, back, sizeof back);
        ck_assert_str_eq(back, text);
    }
    wabot_options_free(o);
}
END_TEST

START_TEST(test_format_truncates_like_snprintf)
{
    wabot_options *o = wabot_options_new();
    size_t i = index_of(o, "twilio_webhook_path");
    char small[5];
    int n = wabot_options_format(o, i, 0, small, sizeof small);
    ck_assert_int_eq(n, (int)strlen("/whatsapp/webhook"));
    ck_assert_str_eq(small, "/wha");
    ck_assert_int_eq(wabot_options_format(o, i, 0, NULL, 0), n);
    ck_assert_int_eq(wabot_options_format(o, 9999, 0, small, sizeof small),
                     WABOT_ERR_INVAL);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_environment_sets_options_by_their_variables)
{
    wabot_options *o = wabot_options_new();
    const char *env[] = {"PATH=/usr/bin",
                         "WABOT_OPT_MAX_PARAMS=11",
                         "WABOT_MAX_PARAMS=12", /* the option's own wins */
                         "WABOT_OPT_MAX_JSON_DEPTH=5",
                         "TWILIO_AUTH_TOKEN=s3cret",
                         "WHATSAPP_V2_WEBHOOK_PATH=/v2",
                         "WABOT_DEDUP_TTL_MS=10m",
                         "WABOT_UNRELATED=1",
                         NULL};
    ck_assert_int_eq(wabot_options_apply_env(o, env), WABOT_OK);
    int64_t v;
    const char *s;
    wabot_options_get_int(o, WABOT_OPT_MAX_PARAMS, &v);
    ck_assert_int_eq(v, 12);
    wabot_options_get_int(o, WABOT_OPT_MAX_JSON_DEPTH, &v);
    ck_assert_int_eq(v, 5);
    wabot_options_get_int(o, WABOT_OPT_DEDUP_TTL_MS, &v);
    ck_assert_int_eq(v, 600000);
    wabot_options_get_str(o, WABOT_OPT_TWILIO_AUTH_TOKEN, &s);
    ck_assert_str_eq(s, "s3cret");
    wabot_options_get_str(o, WABOT_OPT_META_WEBHOOK_PATH, &s);
    ck_assert_str_eq(s, "/v2");
    wabot_options_free(o);
}
END_TEST

START_TEST(test_environment_errors_name_the_variable_not_the_secret)
{
    wabot_options *o = wabot_options_new();
    const char *typo[] = {"WABOT_OPT_MAX_PARAMZ=3", NULL};
    ck_assert_int_eq(wabot_options_apply_env(o, typo), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o),
                                 "WABOT_OPT_MAX_PARAMZ"));
    const char *bad[] = {"WABOT_MAX_PARAMS=lots", NULL};
    ck_assert_int_eq(wabot_options_apply_env(o, bad), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o),
                                 "WABOT_MAX_PARAMS"));
    const char *secret[] = {"META_APP_SECRET=x\001y", NULL};
    ck_assert_int_eq(wabot_options_apply_env(o, secret), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "META_APP_SECRET"));
    ck_assert_ptr_null(strstr(wabot_options_errmsg(o), "x\001y"));
    wabot_options_free(o);
}
END_TEST

START_TEST(test_process_environment_is_read_when_envp_is_null)
{
    wabot_options *o = wabot_options_new();
    setenv("WABOT_MAX_BATCH_MESSAGES", "7", 1);
    ck_assert_int_eq(wabot_options_apply_env(o, NULL), WABOT_OK);
    unsetenv("WABOT_MAX_BATCH_MESSAGES");
    int64_t v;
    wabot_options_get_int(o, WABOT_OPT_MAX_BATCH_MESSAGES, &v);
    ck_assert_int_eq(v, 7);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_org_overrides_only_for_options_marked_per_org)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "max_params", "3"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o),
                                 "per organisation"));
    ck_assert_int_eq(wabot_options_set_org(o, "", "optout_reply", "x"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "nope", "x"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "window_ms", "soon"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "window_ms", "1h"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "optout_reply",
                                           "Bye from Acme."),
                     WABOT_OK);

    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o); /* the context keeps its own copy */
    int64_t v;
    ck_assert_int_eq(wabot_ctx_option_int(ctx, "acme", "window_ms", &v),
                     WABOT_OK);
    ck_assert_int_eq(v, 3600000);
    ck_assert_int_eq(wabot_ctx_option_int(ctx, "other", "window_ms", &v),
                     WABOT_OK);
    ck_assert_int_eq(v, 24LL * 3600000);
    ck_assert_int_eq(wabot_ctx_option_int(ctx, NULL, "window_ms", &v),
                     WABOT_OK);
    ck_assert_int_eq(v, 24LL * 3600000);
    ck_assert_str_eq(wabot_ctx_option_str(ctx, "acme", "optout_reply"),
                     "Bye from Acme.");
    ck_assert_str_ne(wabot_ctx_option_str(ctx, "other", "optout_reply"),
                     "Bye from Acme.");
    ck_assert_int_eq(wabot_ctx_option_int(ctx, "acme", "optout_reply", &v),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_null(wabot_ctx_option_str(ctx, "acme", "window_ms"));
    ck_assert_int_eq(wabot_ctx_option_int(ctx, "acme", "nope", &v),
                     WABOT_ERR_NOT_FOUND);
    wabot_ctx_free(ctx);
}
END_TEST

START_TEST(test_runtime_override_keeps_earlier_strings_valid)
{
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "optin_reply",
                                              "Welcome back!"),
                     WABOT_OK);
    const char *first = wabot_ctx_option_str(ctx, "acme", "optin_reply");
    ck_assert_str_eq(first, "Welcome back!");
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "optin_reply",
                                              "Hello again!"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_option_str(ctx, "acme", "optin_reply"),
                     "Hello again!");
    ck_assert_str_eq(first, "Welcome back!"); /* still readable */
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "max_params",
                                              "3"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(ctx), "per organisation"));
    wabot_ctx_free(ctx);
}
END_TEST

typedef struct race {
    wabot_ctx *ctx;
    int stop;
    long reads;
} race;

static void *reader(void *p)
{
    race *r = p;
    /* At least 100 reads each, however the threads are scheduled. */
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) || r->reads < 100) {
        int64_t v = 0;
        char org[16];
        snprintf(org, sizeof org, "org%ld", r->reads % 50);
        ck_assert_int_eq(wabot_ctx_option_int(r->ctx, org,
                                              "inbound_rate_count", &v),
                         WABOT_OK);
        ck_assert(v == 30 || (v >= 100 && v < 1100));
        r->reads++;
    }
    return NULL;
}

START_TEST(test_overrides_change_while_turns_read_them)
{
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    race r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (race){ctx, 0, 0};
        pthread_create(&th[i], NULL, reader, &r[i]);
    }
    for (int k = 0; k < 1000; k++) {
        char org[16], val[16];
        snprintf(org, sizeof org, "org%d", k % 50);
        snprintf(val, sizeof val, "%d", 100 + k);
        ck_assert_int_eq(wabot_ctx_set_org_option(ctx, org,
                                                  "inbound_rate_count", val),
                         WABOT_OK);
    }
    for (int i = 0; i < 4; i++) {
        __atomic_store_n(&r[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(th[i], NULL);
        ck_assert_int_gt(r[i].reads, 0);
    }
    int64_t v;
    wabot_ctx_option_int(ctx, "org49", "inbound_rate_count", &v);
    ck_assert_int_eq(v, 100 + 999);
    wabot_ctx_free(ctx);
}
END_TEST

/* The library's own per-organisation options are read through the turn's
 * organisation: the opt-out confirmation and keywords of each org. */
START_TEST(test_optout_texts_and_keywords_follow_the_turns_org)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "optout_reply",
                                           "Acme will not write again."),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "optout_keywords",
                                           "BASTA"),
                     WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);

    wabot_message *m = tu_text("m1", "+15550002222", "basta");
    wabot_message_set_organization(m, "acme");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    m = tu_text("m2", "+15550003333", "STOP"); /* not a word of acme's */
    wabot_message_set_organization(m, "acme");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    m = tu_text("m3", "+15550004444", "STOP"); /* the default org */
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e.ctx);

    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "Acme will not write again.");
    ck_assert_str_eq(wabot_outbound_to(wabot_recorder_get(e.rec, 1)),
                     "+15550004444");
    ck_assert_str_ne(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "Acme will not write again.");
    tu_env_free(&e);
}
END_TEST

static int read_in_turn(wabot_turn *t, void *ud)
{
    int64_t *out = ud;
    ck_assert_int_eq(wabot_turn_option_int(t, "window_ms", out), WABOT_OK);
    ck_assert_str_eq(wabot_turn_option_str(t, "inbound_rate_notice"),
                     strcmp(wabot_turn_organization(t), "acme") == 0
                         ? "Slow down, please."
                         : wabot_ctx_option_str(wabot_turn_ctx(t), NULL,
                                                "inbound_rate_notice"));
    return wabot_next(t);
}

START_TEST(test_turn_reads_options_of_its_org)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_org(o, "acme", "window_ms", "2h");
    wabot_options_set_org(o, "acme", "inbound_rate_notice",
                          "Slow down, please.");
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    int64_t seen = 0;
    ck_assert_int_eq(wabot_use(e.ctx, "read", read_in_turn, &seen, NULL),
                     WABOT_OK);
    wabot_message *m = tu_text("m1", "+15550002222", "hi");
    wabot_message_set_organization(m, "acme");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    ck_assert_int_eq(seen, 2 * 3600000);
    wabot_message_free(m);
    m = tu_text("m2", "+15550002222", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    ck_assert_int_eq(seen, 24LL * 3600000);
    wabot_message_free(m);
    tu_env_free(&e);
}
END_TEST

static Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, test_every_option_is_listed_with_name_doc_env_and_type);
    tcase_add_test(tc, test_listing_describes_types_ranges_env_and_flags);
    tcase_add_test(tc, test_values_parse_with_units_and_format_back);
    tcase_add_test(tc, test_bad_values_are_refused_with_the_reason);
    tcase_add_test(tc, test_every_default_round_trips_through_its_text);
    tcase_add_test(tc, test_format_truncates_like_snprintf);
    tcase_add_test(tc, test_environment_sets_options_by_their_variables);
    tcase_add_test(tc,
                   test_environment_errors_name_the_variable_not_the_secret);
    tcase_add_test(tc, test_process_environment_is_read_when_envp_is_null);
    tcase_add_test(tc, test_org_overrides_only_for_options_marked_per_org);
    tcase_add_test(tc, test_runtime_override_keeps_earlier_strings_valid);
    tcase_add_test(tc, test_overrides_change_while_turns_read_them);
    tcase_add_test(tc, test_optout_texts_and_keywords_follow_the_turns_org);
    tcase_add_test(tc, test_turn_reads_options_of_its_org);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(options_suite());
}
