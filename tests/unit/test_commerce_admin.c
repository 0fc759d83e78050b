/* The catalog's admin routes (lib/commerce/admin_routes.c) through
 * wabot_http_handle, behind the admin token. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static tu_env E;

static void setup(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "admin.token", "tok"), WABOT_OK);
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static void teardown(void)
{
    tu_env_free(&E);
}

typedef struct answer {
    int status;
    char body[4096];
    char location[256];
    char etag[64];
} answer;

static answer call(const char *method, const char *target, const char *body,
                   const char *content_type, const char *if_match)
{
    wabot_http_header h[3];
    size_t n = 0;
    h[n++] = (wabot_http_header){"Authorization", "Bearer tok"};
    if (content_type != NULL)
        h[n++] = (wabot_http_header){"Content-Type", content_type};
    if (if_match != NULL)
        h[n++] = (wabot_http_header){"If-Match", if_match};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, method, target, h, n, body,
                                       body ? strlen(body) : 0, &r),
                     WABOT_OK);
    answer a = {0};
    a.status = wabot_http_response_status(r);
    size_t len;
    snprintf(a.body, sizeof a.body, "%s", wabot_http_response_body(r, &len));
    const char *loc = wabot_http_response_header(r, "Location");
    const char *etag = wabot_http_response_header(r, "ETag");
    snprintf(a.location, sizeof a.location, "%s", loc ? loc : "");
    snprintf(a.etag, sizeof a.etag, "%s", etag ? etag : "");
    wabot_http_response_free(r);
    return a;
}

#define JSON "application/json"
#define BASE "/whatsapp-v2/catalog/acme"
#define COKE "{\"sku\":\"coke\",\"name\":\"Coke\",\"price\":150,\"currency\":\"USD\"}"

START_TEST(test_products_crud_with_versions)
{
    answer a = call("POST", BASE "/products", COKE, JSON, NULL);
    ck_assert_msg(a.status == 201, "%d %s", a.status, a.body);
    ck_assert_str_eq(a.location, BASE "/products/coke");
    ck_assert_str_ne(a.etag, "");
    char v1[64];
    snprintf(v1, sizeof v1, "%s", a.etag);
    a = call("GET", BASE "/products/coke", NULL, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.body, "\"name\":\"Coke\""));
    ck_assert_str_eq(a.etag, v1);
    a = call("GET", BASE "/products", NULL, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.body, "\"products\":[{"));
    ck_assert_ptr_nonnull(strstr(a.body, "\"cursor\":\"0\""));
    /* update with the version read: 200 and a new version */
    a = call("PUT", BASE "/products/coke",
             "{\"name\":\"Coca-Cola\",\"price\":160,\"currency\":\"USD\"}",
             JSON, v1);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_ne(a.etag, v1);
    /* the old version again: someone changed it since */
    a = call("PUT", BASE "/products/coke", COKE, JSON, v1);
    ck_assert_int_eq(a.status, 409);
    ck_assert_ptr_nonnull(strstr(a.body, "version_conflict"));
    a = call("DELETE", BASE "/products/coke", NULL, NULL, v1);
    ck_assert_int_eq(a.status, 409);
    a = call("DELETE", BASE "/products/coke", NULL, NULL, NULL);
    ck_assert_int_eq(a.status, 204);
    a = call("GET", BASE "/products/coke", NULL, NULL, NULL);
    ck_assert_int_eq(a.status, 404);
    a = call("PUT", BASE "/products/coke", COKE, JSON, NULL);
    ck_assert_int_eq(a.status, 404);
}
END_TEST

START_TEST(test_bad_requests_get_clear_answers)
{
    answer a = call("POST", BASE "/products", "{nope", JSON, NULL);
    ck_assert_int_eq(a.status, 400);
    ck_assert_ptr_nonnull(strstr(a.body, "bad_json"));
    a = call("POST", BASE "/products", COKE, "text/plain", NULL);
    ck_assert_int_eq(a.status, 415);
    a = call("POST", BASE "/products",
             "{\"sku\":\"x\",\"price\":1,\"currency\":\"USD\"}", JSON, NULL);
    ck_assert_int_eq(a.status, 400);
    ck_assert_ptr_nonnull(strstr(a.body, "invalid_field"));
    a = call("POST", BASE "/products",
             "{\"sku\":\"x\",\"name\":\"X\",\"price\":1,\"currency\":\"USD\","
             "\"colour\":\"red\"}",
             JSON, NULL);
    ck_assert_int_eq(a.status, 400);
    ck_assert_msg(strstr(a.body, "colour") != NULL, "%s", a.body);
    ck_assert_int_eq(call("POST", BASE "/products", COKE, JSON, NULL).status,
                     201);
    a = call("POST", BASE "/products", COKE, JSON, NULL);
    ck_assert_int_eq(a.status, 409);
    ck_assert_ptr_nonnull(strstr(a.body, "\"exists\""));
    a = call("PUT", BASE "/products/coke",
             "{\"sku\":\"pepsi\",\"name\":\"P\",\"price\":1,\"currency\":\"USD\"}",
             JSON, NULL);
    ck_assert_int_eq(a.status, 400);
    a = call("PUT", BASE "/products/coke", COKE, JSON, "not-a-version");
    ck_assert_int_eq(a.status, 400);
    a = call("GET", BASE "/products?limit=0", NULL, NULL, NULL);
    ck_assert_int_eq(a.status, 400);
    /* no token: 401, the handler never runs */
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", BASE "/products", NULL,
                                       0, NULL, 0, &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 401);
    wabot_http_response_free(r);
}
END_TEST

START_TEST(test_import_is_all_or_nothing_unless_partial_and_exports)
{
    const char *rows = "[" COKE ",{\"sku\":\"bad sku!\",\"name\":\"B\","
                       "\"price\":1,\"currency\":\"USD\"}]";
    answer a = call("POST", BASE "/import", rows, JSON, NULL);
    ck_assert_int_eq(a.status, 422);
    ck_assert_ptr_nonnull(strstr(a.body, "\"row\":2"));
    ck_assert_int_eq(call("GET", BASE "/products/coke", NULL, NULL, NULL).status,
                     404);
    /* A bad organisation is the request's fault: 400, not a report. */
    a = call("POST", "/whatsapp-v2/catalog/a%7Bme/import", rows, JSON, NULL);
    ck_assert_msg(a.status == 400, "%d %s", a.status, a.body);
    a = call("POST", BASE "/import?partial=1", rows, JSON, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.body, "\"written\":1"));
    a = call("GET", BASE "/export", NULL, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.body, "\"sku\":\"coke\""));
    ck_assert_int_eq(a.body[0], '[');
}
END_TEST

Suite *commerce_admin_suite(void)
{
    Suite *s = suite_create("commerce_admin");
    TCase *tc = tcase_create("commerce_admin");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_products_crud_with_versions);
    tcase_add_test(tc, test_bad_requests_get_clear_answers);
    tcase_add_test(tc, test_import_is_all_or_nothing_unless_partial_and_exports);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(commerce_admin_suite());
}
