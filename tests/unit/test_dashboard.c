/* The dashboard module: the page and its files at {prefix}/dashboard,
 * served without the token but only while the admin API is on, with
 * their types, a strong ETag (304 on If-None-Match) and a strict CSP. */
#include <string.h>

#include "testutil.h"

static tu_env E;

static void start(const char *token, const char *prefix)
{
    wabot_options *o = wabot_options_new();
    if (token != NULL)
        ck_assert_int_eq(wabot_options_set(o, "admin.token", token), WABOT_OK);
    if (prefix != NULL)
        ck_assert_int_eq(wabot_options_set(o, "admin.prefix", prefix),
                         WABOT_OK);
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static wabot_http_response *get(const char *path, const char *inm)
{
    wabot_http_header h = {"If-None-Match", inm};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", path, &h,
                                       inm != NULL ? 1 : 0, NULL, 0, &r),
                     WABOT_OK);
    return r;
}

static int status_of(const char *path)
{
    wabot_http_response *r = get(path, NULL);
    int s = wabot_http_response_status(r);
    wabot_http_response_free(r);
    return s;
}

START_TEST(test_no_page_while_the_admin_api_is_off)
{
    start(NULL, NULL);
    ck_assert_int_eq(status_of("/whatsapp-v2/dashboard"), 404);
    ck_assert_int_eq(status_of("/whatsapp-v2/dashboard/app.js"), 404);
    tu_env_free(&E);
}
END_TEST

START_TEST(test_the_page_is_served_without_the_token_with_a_strict_csp)
{
    start("adm", NULL);
    wabot_http_response *r = get("/whatsapp-v2/dashboard", NULL);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    ck_assert_str_eq(wabot_http_response_content_type(r),
                     "text/html; charset=utf-8");
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_ptr_nonnull(strstr(body, "<script src=\"dashboard/app.js\""));
    /* no inline script or style for the CSP to allow */
    ck_assert_ptr_null(strstr(body, "<script>"));
    ck_assert_ptr_null(strstr(body, "<style"));
    ck_assert_ptr_null(strstr(body, "style=\""));
    const char *csp = wabot_http_response_header(r, "Content-Security-Policy");
    ck_assert_ptr_nonnull(csp);
    ck_assert_ptr_nonnull(strstr(csp, "default-src 'self'"));
    ck_assert_ptr_null(strstr(csp, "unsafe-inline"));
    ck_assert_str_eq(wabot_http_response_header(r, "Cache-Control"),
                     "no-cache");
    ck_assert_str_eq(wabot_http_response_header(r, "X-Content-Type-Options"),
                     "nosniff");
    const char *etag = wabot_http_response_header(r, "ETag");
    ck_assert_ptr_nonnull(etag);
    ck_assert_uint_eq(strlen(etag), 34);
    ck_assert_int_eq(etag[0], '"');
    wabot_http_response_free(r);
    tu_env_free(&E);
}
END_TEST

START_TEST(test_a_matching_if_none_match_answers_304_without_a_body)
{
    start("adm", NULL);
    wabot_http_response *r = get("/whatsapp-v2/dashboard/app.js", NULL);
    ck_assert_str_eq(wabot_http_response_content_type(r),
                     "text/javascript; charset=utf-8");
    char etag[64], list[160];
    strcpy(etag, wabot_http_response_header(r, "ETag"));
    wabot_http_response_free(r);
    snprintf(list, sizeof list, "\"other\", %s", etag);
    r = get("/whatsapp-v2/dashboard/app.js", list);
    ck_assert_int_eq(wabot_http_response_status(r), 304);
    size_t len = 1;
    wabot_http_response_body(r, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(wabot_http_response_header(r, "ETag"), etag);
    wabot_http_response_free(r);
    /* another file's ETag does not match */
    r = get("/whatsapp-v2/dashboard/app.css", etag);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    ck_assert_str_eq(wabot_http_response_content_type(r),
                     "text/css; charset=utf-8");
    wabot_http_response_free(r);
    tu_env_free(&E);
}
END_TEST

START_TEST(test_unknown_files_answer_404_and_the_prefix_is_followed)
{
    start("adm", "/ops/");
    ck_assert_int_eq(status_of("/ops/dashboard"), 200);
    ck_assert_int_eq(status_of("/ops/dashboard/app.css"), 200);
    ck_assert_int_eq(status_of("/ops/dashboard/nope.js"), 404);
    ck_assert_int_eq(status_of("/ops/dashboard/..%2Fmonitoring"), 404);
    ck_assert_int_eq(status_of("/whatsapp-v2/dashboard"), 404);
    tu_env_free(&E);
}
END_TEST

static Suite *dashboard_suite(void)
{
    Suite *s = suite_create("dashboard");
    TCase *tc = tcase_create("dashboard");
    tcase_add_test(tc, test_no_page_while_the_admin_api_is_off);
    tcase_add_test(tc,
                   test_the_page_is_served_without_the_token_with_a_strict_csp);
    tcase_add_test(tc,
                   test_a_matching_if_none_match_answers_304_without_a_body);
    tcase_add_test(tc, test_unknown_files_answer_404_and_the_prefix_is_followed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(dashboard_suite());
}
