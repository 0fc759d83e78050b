/* doc/openapi.json matches the admin routes: every documented route is
 * mounted and every mounted route documented (the admin module lists what
 * it mounted, wb_admin_routes_json), and every documented route answers
 * through its handler (admin.requests counts it; the router's own 404 and
 * 405 never do). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/admin.h"
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

static json_t *openapi(void)
{
    const char *root = getenv("WABOT_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/doc/openapi.json", root ? root : ".");
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    ck_assert_msg(doc != NULL, "%s: %s (line %d)", path, err.text, err.line);
    return doc;
}

/* "/a/{id}/b" -> "/a/:id/b" */
static void to_pattern(const char *path, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = path; *p != '\0' && o + 2 < n; p++) {
        if (*p == '{')
            out[o++] = ':';
        else if (*p != '}')
            out[o++] = *p;
    }
    out[o] = '\0';
}

/* "/a/{id}/b" -> "/a/x/b" (every parameter a plain value) */
static void to_target(const char *path, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = path; *p != '\0' && o + 8 < n; p++) {
        if (*p == '{') {
            p = strchr(p, '}');
            memcpy(out + o, "acme", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void upper(const char *m, char *out)
{
    size_t i = 0;
    for (; m[i] != '\0' && i < 15; i++)
        out[i] = (char)(m[i] >= 'a' && m[i] <= 'z' ? m[i] - 32 : m[i]);
    out[i] = '\0';
}

/* The documented routes as "METHOD pattern" strings. */
static json_t *documented(void)
{
    json_t *doc = openapi(), *set = json_object();
    const char *path, *method;
    json_t *ops, *op;
    json_object_foreach(json_object_get(doc, "paths"), path, ops)
    {
        json_object_foreach(ops, method, op)
        {
            char m[16], pat[512], key[600];
            upper(method, m);
            to_pattern(path, pat, sizeof pat);
            snprintf(key, sizeof key, "%s %s", m, pat);
            json_object_set_new(set, key, json_string(path));
        }
    }
    json_decref(doc);
    return set;
}

START_TEST(test_every_mounted_route_is_documented_and_back)
{
    json_t *doc = documented();
    char *text = wb_admin_routes_json(E.ctx);
    ck_assert_ptr_nonnull(text);
    json_t *mounted = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(mounted);
    json_t *seen = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(mounted, i, r)
    {
        char key[600];
        snprintf(key, sizeof key, "%s %s",
                 json_string_value(json_object_get(r, "method")),
                 json_string_value(json_object_get(r, "path")));
        ck_assert_msg(json_object_get(doc, key) != NULL,
                      "mounted but not in doc/openapi.json: %s", key);
        json_object_set_new(seen, key, json_true());
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        ck_assert_msg(json_object_get(seen, key) != NULL,
                      "in doc/openapi.json but not mounted: %s", key);
    }
    ck_assert_int_ge(json_object_size(doc), 30);
    json_decref(seen);
    json_decref(mounted);
    json_decref(doc);
}
END_TEST

START_TEST(test_every_documented_route_reaches_its_handler)
{
    json_t *doc = documented();
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        char method[16], target[512];
        sscanf(key, "%15s", method);
        to_target(json_string_value(v), target, sizeof target);
        wabot_http_header h[] = {{"Authorization", "Bearer tok"},
                                 {"Content-Type", "application/json"}};
        int64_t before = wabot_metrics_counter(E.ctx, "admin.requests");
        wabot_http_response *r = NULL;
        ck_assert_int_eq(wabot_http_handle(E.ctx, method, target, h, 2, "{}",
                                           2, &r),
                         WABOT_OK);
        int status = wabot_http_response_status(r);
        wabot_http_response_free(r);
        ck_assert_msg(status != 405, "%s %s: 405", method, target);
        ck_assert_msg(wabot_metrics_counter(E.ctx, "admin.requests") ==
                          before + 1,
                      "%s %s: no handler answered (%d)", method, target,
                      status);
        ck_assert_msg(status < 500 || status == 501 || status == 503,
                      "%s %s: %d", method, target, status);
    }
    json_decref(doc);
}
END_TEST

Suite *admin_openapi_suite(void)
{
    Suite *s = suite_create("admin_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_every_mounted_route_is_documented_and_back);
    tcase_add_test(tc, test_every_documented_route_reaches_its_handler);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(admin_openapi_suite());
}
