/* The campaign module (include/wabot/campaign.h): registered as
 * "campaign", its feature flags per context and per organisation, from
 * options and from the replaced system's environment variables. */
#include <string.h>

#include "testutil.h"
#include "wabot/campaign.h"

static tu_env E;

static void setup_with(const char *const *envp, const char *const *kv)
{
    wabot_options *o = wabot_options_new();
    if (envp != NULL)
        ck_assert_msg(wabot_options_apply_env(o, envp) == WABOT_OK, "%s",
                      wabot_options_errmsg(o));
    for (; kv != NULL && kv[0] != NULL; kv += 3)
        ck_assert_msg(
            (kv[0] != NULL && kv[0][0] != '\0'
                 ? wabot_options_set_org(o, kv[0], kv[1], kv[2])
                 : wabot_options_set(o, kv[1], kv[2])) == WABOT_OK,
            "%s: %s", kv[1], wabot_options_errmsg(o));
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static void teardown(void)
{
    tu_env_free(&E);
}

START_TEST(test_the_module_is_registered_and_both_features_default_on)
{
    setup_with(NULL, NULL);
    ck_assert_ptr_nonnull(wabot_ctx_module(E.ctx, "campaign"));
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, NULL, WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_OK);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, "acme", WABOT_CAMPAIGN_FEATURE_REMINDERS),
                     WABOT_OK);
}
END_TEST

START_TEST(test_enable_campaigns_false_refuses_naming_the_variable)
{
    const char *env[] = {"ENABLE_CAMPAIGNS=false", NULL};
    setup_with(env, NULL);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, "acme", WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "campaigns are disabled"));
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "ENABLE_CAMPAIGNS"));
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, "acme", WABOT_CAMPAIGN_FEATURE_REMINDERS),
                     WABOT_OK);
}
END_TEST

START_TEST(test_enable_reminders_false_refuses_reminders_only)
{
    const char *env[] = {"ENABLE_REMINDERS=0", NULL};
    setup_with(env, NULL);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, NULL, WABOT_CAMPAIGN_FEATURE_REMINDERS),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "ENABLE_REMINDERS"));
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, NULL, WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_OK);
}
END_TEST

START_TEST(test_a_feature_can_be_switched_per_organisation)
{
    const char *kv[] = {"", "campaign.enabled", "0",
                        "beta", "campaign.enabled", "1", NULL};
    setup_with(NULL, kv);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, "acme", WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "for organisation acme"));
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, "beta", WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_OK);
    /* And at run time, for the next call. */
    ck_assert_int_eq(wabot_ctx_set_org_option(E.ctx, "beta",
                                              "campaign.enabled", "false"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, "beta", WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_bad_arguments_are_refused)
{
    setup_with(NULL, NULL);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         NULL, NULL, WABOT_CAMPAIGN_FEATURE_CAMPAIGNS),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_campaign_feature_check(
                         E.ctx, NULL, (wabot_campaign_feature)7),
                     WABOT_ERR_INVAL);
}
END_TEST

Suite *campaign_suite(void)
{
    Suite *s = suite_create("campaign");
    TCase *tc = tcase_create("campaign");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_the_module_is_registered_and_both_features_default_on);
    tcase_add_test(tc, test_enable_campaigns_false_refuses_naming_the_variable);
    tcase_add_test(tc, test_enable_reminders_false_refuses_reminders_only);
    tcase_add_test(tc, test_a_feature_can_be_switched_per_organisation);
    tcase_add_test(tc, test_bad_arguments_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(campaign_suite());
}
