/* The HTTP server's routes (include/wabot/http_server.h): patterns and
 * their parameters, precedence, 404 vs 405 + Allow, HEAD, the request and
 * response API, handler failures, threads, and odd targets. The webhook
 * routes' own answers are tested in test_webhook.c. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "internal/ctx.h"

static tu_env env;

static void setup(void)
{
    tu_env_init(&env);
}

static void teardown(void)
{
    tu_env_free(&env);
}

/* ---- handlers ------------------------------------------------------- */

/* Answers 200 text/plain with its ud (a tag string) as the body. */
static int tag_handler(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)req;
    return wabot_http_response_set_text(resp, 200, ud);
}

/* Answers "<name>=<value>;" for each name in the NULL-terminated ud. */
static int params_handler(wabot_ctx *ctx, const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    (void)ctx;
    char out[512] = "";
    for (const char *const *n = ud; *n != NULL; n++) {
        const char *v = wabot_http_server_request_param(req, *n);
        size_t o = strlen(out);
        snprintf(out + o, sizeof out - o, "%s=%s;", *n, v ? v : "(null)");
    }
    return wabot_http_response_set_text(resp, 200, out);
}

static void add(const char *method, const char *pattern,
                wabot_http_handler_fn fn, void *ud)
{
    int rc = wabot_http_route_add(env.ctx, method, pattern, fn, ud, NULL);
    ck_assert_msg(rc == WABOT_OK, "%s %s: %s (%s)", method, pattern,
                  wabot_strerror(rc), wabot_ctx_errmsg(env.ctx));
}

static void add_tag(const char *method, const char *pattern, const char *tag)
{
    add(method, pattern, tag_handler, (void *)tag);
}

/* ---- requests ------------------------------------------------------- */

static wabot_http_response *call_h(const char *method, const char *target,
                                   const wabot_http_header *h, size_t nh,
                                   const char *body)
{
    wabot_http_response *r = NULL;
    int rc = wabot_http_handle(env.ctx, method, target, h, nh, body,
                               body ? strlen(body) : 0, &r);
    ck_assert_msg(rc == WABOT_OK, "%s %s: %s (%s)", method, target,
                  wabot_strerror(rc), wabot_ctx_errmsg(env.ctx));
    ck_assert_ptr_nonnull(r);
    return r;
}

static wabot_http_response *call(const char *method, const char *target)
{
    return call_h(method, target, NULL, 0, NULL);
}

/* The body of a 200 answer to method + target (static buffer). */
static const char *served(const char *method, const char *target)
{
    static char out[512];
    wabot_http_response *r = call(method, target);
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_msg(wabot_http_response_status(r) == 200,
                  "%s %s: status %d: %s", method, target,
                  wabot_http_response_status(r), body);
    snprintf(out, sizeof out, "%s", body);
    wabot_http_response_free(r);
    return out;
}

static int status_of(const char *method, const char *target)
{
    wabot_http_response *r = call(method, target);
    int s = wabot_http_response_status(r);
    wabot_http_response_free(r);
    return s;
}

/* ---- patterns and parameters ---------------------------------------- */

START_TEST(test_parameters_are_extracted_and_percent_decoded)
{
    static const char *const names[] = {"id", "item", "nope", NULL};
    add("GET", "/admin/orders/:id/items/:item", params_handler,
        (void *)names);
    ck_assert_str_eq(served("GET", "/admin/orders/42/items/a%2Fb%20c"),
                     "id=42;item=a/b c;nope=(null);");
    /* '+' is only a space in a query, not in a path */
    ck_assert_str_eq(served("GET", "/admin/orders/%2B1555/items/x+y?z=1"),
                     "id=+1555;item=x+y;nope=(null);");
    ck_assert_str_eq(served("GET", "/admin/orders/7/items/8/"),
                     "id=7;item=8;nope=(null);");
}
END_TEST

START_TEST(test_wildcard_gives_the_rest_of_the_path_undecoded)
{
    static const char *const names[] = {"*", "dir", NULL};
    add("GET", "/static/:dir/*", params_handler, (void *)names);
    ck_assert_str_eq(served("GET", "/static/css/a/b%20c.css"),
                     "*=a/b%20c.css;dir=css;");
    ck_assert_str_eq(served("GET", "/static/css"), "*=;dir=css;");
    ck_assert_str_eq(served("GET", "/static/css/"), "*=;dir=css;");
    ck_assert_str_eq(served("GET", "/static/css/x/"), "*=x;dir=css;");
}
END_TEST

/* The same answers whatever the registration order. */
START_TEST(test_literal_beats_parameter_beats_wildcard)
{
    static const char *const patterns[] = {
        "/orders/new", "/orders/:id", "/orders/*", "/*", "/orders",
        "/orders/:id/lines", "/orders/new/*"};
    const size_t n = sizeof patterns / sizeof patterns[0];
    for (int order = 0; order < 2; order++) {
        if (order == 1) {
            tu_env_free(&env);
            tu_env_init(&env);
        }
        for (size_t i = 0; i < n; i++) {
            const char *p = patterns[order ? n - 1 - i : i];
            add_tag("GET", p, p);
        }
        ck_assert_str_eq(served("GET", "/orders/new"), "/orders/new");
        ck_assert_str_eq(served("GET", "/orders/7"), "/orders/:id");
        ck_assert_str_eq(served("GET", "/orders/7/lines"),
                         "/orders/:id/lines");
        ck_assert_str_eq(served("GET", "/orders/7/other"), "/orders/*");
        ck_assert_str_eq(served("GET", "/orders/new/lines"),
                         "/orders/new/*");
        ck_assert_str_eq(served("GET", "/orders"), "/orders");
        ck_assert_str_eq(served("GET", "/elsewhere/x"), "/*");
        ck_assert_str_eq(served("GET", "/"), "/*");
    }
}
END_TEST

START_TEST(test_pattern_without_wildcard_beats_empty_wildcard)
{
    add_tag("GET", "/files/*", "wild");
    ck_assert_str_eq(served("GET", "/files"), "wild");
    add_tag("GET", "/files", "exact");
    ck_assert_str_eq(served("GET", "/files"), "exact");
    ck_assert_str_eq(served("GET", "/files/a"), "wild");
}
END_TEST

START_TEST(test_exact_method_beats_get_for_head_beats_any)
{
    add_tag("*", "/m", "any");
    ck_assert_str_eq(served("HEAD", "/m"), "");
    ck_assert_str_eq(served("BREW", "/m"), "any");
    add_tag("GET", "/m", "get");
    ck_assert_str_eq(served("GET", "/m"), "get");
    ck_assert_str_eq(served("POST", "/m"), "any");
    /* HEAD: served by GET now, without the body */
    wabot_http_response *r = call("HEAD", "/m");
    ck_assert_str_eq(wabot_http_response_body(r, NULL), "");
    ck_assert_str_eq(wabot_http_response_content_type(r),
                     "text/plain; charset=utf-8");
    wabot_http_response_free(r);
    /* a more specific path wins before the method is looked at */
    add_tag("*", "/m/x", "any-x");
    add_tag("GET", "/m/:p", "get-p");
    ck_assert_str_eq(served("GET", "/m/x"), "any-x");
}
END_TEST

/* The handler sees HEAD; the host gets status and headers, no body. */
static int head_probe(wabot_ctx *ctx, const wabot_http_server_request *req,
                      wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)ud;
    ck_assert_int_eq(wabot_http_response_add_header(
                         resp, "X-Method", wabot_http_server_request_method(req)),
                     WABOT_OK);
    return wabot_http_response_set_json(resp, 201, "{\"a\":1}");
}

START_TEST(test_head_is_answered_like_get_without_a_body)
{
    add("GET", "/doc", head_probe, NULL);
    wabot_http_response *r = call("HEAD", "/doc");
    ck_assert_int_eq(wabot_http_response_status(r), 201);
    ck_assert_str_eq(wabot_http_response_content_type(r), "application/json");
    ck_assert_str_eq(wabot_http_response_header(r, "x-method"), "HEAD");
    size_t len = 9;
    ck_assert_str_eq(wabot_http_response_body(r, &len), "");
    ck_assert_uint_eq(len, 0);
    wabot_http_response_free(r);
    r = call("GET", "/doc");
    ck_assert_str_eq(wabot_http_response_body(r, &len), "{\"a\":1}");
    ck_assert_str_eq(wabot_http_response_header(r, "X-Method"), "GET");
    wabot_http_response_free(r);
}
END_TEST

/* ---- 404 and 405 ---------------------------------------------------- */

START_TEST(test_unknown_path_is_404_without_allow)
{
    add_tag("GET", "/a/:x", "a");
    wabot_http_response *r = call("GET", "/b/1");
    tu_assert_json_error(r, 404, "not_found");
    ck_assert_ptr_null(wabot_http_response_header(r, "Allow"));
    ck_assert_uint_eq(wabot_http_response_header_count(r), 0);
    wabot_http_response_free(r);
    ck_assert_int_eq(status_of("GET", "/a/1/2"), 404);
    ck_assert_int_eq(status_of("GET", "/a"), 404);
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "webhook.rejected.not_found"),
                     3);
    /* a HEAD gets no body, not even an error's */
    r = call("HEAD", "/b/1");
    ck_assert_int_eq(wabot_http_response_status(r), 404);
    ck_assert_str_eq(wabot_http_response_content_type(r), "application/json");
    ck_assert_str_eq(wabot_http_response_body(r, NULL), "");
    wabot_http_response_free(r);
}
END_TEST

START_TEST(test_wrong_method_is_405_with_allow_listing_every_matching_route)
{
    add_tag("GET", "/a/:x", "get");
    add_tag("DELETE", "/a/b", "delete");
    add_tag("PATCH", "/a/*", "patch");
    add_tag("POST", "/c", "post");
    wabot_http_response *r = call("PUT", "/a/b");
    tu_assert_json_error(r, 405, "method_not_allowed");
    ck_assert_str_eq(wabot_http_response_header(r, "Allow"),
                     "GET, HEAD, PATCH, DELETE");
    ck_assert_uint_eq(wabot_http_response_header_count(r), 1);
    ck_assert_str_eq(wabot_http_response_header_name(r, 0), "Allow");
    ck_assert_ptr_null(wabot_http_response_header_name(r, 1));
    ck_assert_ptr_null(wabot_http_response_header_value(r, 1));
    wabot_http_response_free(r);
    r = call("GET", "/c");
    tu_assert_json_error(r, 405, "method_not_allowed");
    ck_assert_str_eq(wabot_http_response_header(r, "allow"), "POST");
    wabot_http_response_free(r);
    /* no implicit OPTIONS answer; methods are case-sensitive */
    ck_assert_int_eq(status_of("OPTIONS", "/c"), 405);
    ck_assert_int_eq(status_of("post", "/c"), 405);
    ck_assert_str_eq(served("DELETE", "/a/b"), "delete");
    ck_assert_str_eq(served("GET", "/a/b"), "get");
}
END_TEST

/* ---- registration --------------------------------------------------- */

static atomic_int destroyed;

static void count_destroy(void *ud)
{
    (void)ud;
    atomic_fetch_add(&destroyed, 1);
}

START_TEST(test_same_method_and_pattern_twice_is_exists)
{
    atomic_store(&destroyed, 0);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", "/a/:x",
                                          tag_handler, "1", count_destroy),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", "/a/:y",
                                          tag_handler, "2", count_destroy),
                     WABOT_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "/a/:x"));
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", "/a/:x",
                                          tag_handler, "3", NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_int_eq(atomic_load(&destroyed), 0); /* not on failure */
    add_tag("POST", "/a/:x", "post");
    add_tag("*", "/a/:x", "any");
    add_tag("GET", "/a/x", "literal");
    /* the webhook paths are routes already */
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "POST", "/whatsapp/webhook",
                                          tag_handler, "x", NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET",
                                          "/whatsapp-v2/webhook", tag_handler,
                                          "x", NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_str_eq(served("GET", "/a/1"), "1");
}
END_TEST

START_TEST(test_bad_patterns_and_methods_are_inval_with_a_detail)
{
    atomic_store(&destroyed, 0); /* an earlier test's routes (CK_FORK=no) */
    char longp[WABOT_HTTP_ROUTE_MAX_PATTERN + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    char many[128] = "";
    for (int i = 0; i < WABOT_HTTP_ROUTE_MAX_SEGMENTS + 1; i++)
        strcat(many, "/s");
    char longname[64] = "/:";
    memset(longname + 2, 'n', WABOT_HTTP_ROUTE_MAX_NAME + 1);
    longname[WABOT_HTTP_ROUTE_MAX_NAME + 3] = '\0';
    const struct {
        const char *pattern, *detail;
    } bad[] = {
        {"", "empty"},
        {"orders", "start with '/'"},
        {"/a//b", "empty segment"},
        {"/a/", "trailing '/'"},
        {"//", "trailing '/'"},
        {"/:", "parameter name"},
        {"/:1x", "parameter name"},
        {"/:a-b", "parameter name"},
        {"/:a/:a", "used twice"},
        {"/*/a", "last segment"},
        {"/a*", "whole segment"},
        {"/a/./b", "'..'"},
        {"/..", "'..'"},
        {"/a b", "URL path characters"},
        {"/a?b", "URL path characters"},
        {"/%20", "URL path characters"},
        {"/caf\xc3\xa9", "URL path characters"},
        {longp, "256 bytes"},
        {many, "32 segments"},
        {longname, "parameter name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = wabot_http_route_add(env.ctx, "GET", bad[i].pattern,
                                      tag_handler, "x", count_destroy);
        ck_assert_msg(rc == WABOT_ERR_INVAL, "'%s' gave %d", bad[i].pattern,
                      rc);
        ck_assert_msg(strstr(wabot_ctx_errmsg(env.ctx), bad[i].detail),
                      "'%s': detail '%s' lacks '%s'", bad[i].pattern,
                      wabot_ctx_errmsg(env.ctx), bad[i].detail);
    }
    /* the limits themselves are fine */
    longp[sizeof longp - 2] = '\0';
    add_tag("GET", longp, "long");
    many[strlen(many) - 2] = '\0';
    add_tag("GET", many, "many");
    longname[WABOT_HTTP_ROUTE_MAX_NAME + 2] = '\0';
    add_tag("GET", longname, "name");
    add_tag("GET", "/", "root");
    add_tag("GET", "/v1/items:batch/@me/~x", "chars");
    ck_assert_str_eq(served("GET", "/v1/items:batch/@me/~x"), "chars");

    const char *methods[] = {"get", "FOO", "", "CONNECT"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        ck_assert_int_eq(wabot_http_route_add(env.ctx, methods[i], "/m",
                                              tag_handler, "x", NULL),
                         WABOT_ERR_INVAL);
        ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "method"));
    }
    ck_assert_int_eq(wabot_http_route_add(env.ctx, NULL, "/m", tag_handler,
                                          "x", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", NULL, tag_handler,
                                          "x", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", "/m", NULL, "x",
                                          NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_route_add(NULL, "GET", "/m", tag_handler,
                                          "x", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(atomic_load(&destroyed), 0);
}
END_TEST

START_TEST(test_route_destroy_runs_once_at_ctx_free)
{
    atomic_store(&destroyed, 0);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", "/one", tag_handler,
                                          "1", count_destroy),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "PUT", "/two/:x",
                                          tag_handler, "2", count_destroy),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_route_add(env.ctx, "GET", "/one", tag_handler,
                                          "3", count_destroy),
                     WABOT_ERR_EXISTS);
    ck_assert_str_eq(served("GET", "/one"), "1");
    ck_assert_int_eq(atomic_load(&destroyed), 0);
    wabot_ctx_free(env.ctx);
    env.ctx = NULL;
    ck_assert_int_eq(atomic_load(&destroyed), 2);
}
END_TEST

/* A handler may register routes (no lock is held while it runs). */
static int registering_handler(wabot_ctx *ctx,
                               const wabot_http_server_request *req,
                               wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    int rc = wabot_http_route_add(ctx, "GET", "/later", tag_handler,
                                  "later", NULL);
    if (rc != WABOT_OK)
        return rc;
    return wabot_http_response_set_status(resp, 204);
}

START_TEST(test_a_handler_can_add_routes)
{
    ck_assert_int_eq(status_of("GET", "/later"), 404);
    add("POST", "/register", registering_handler, NULL);
    ck_assert_int_eq(status_of("POST", "/register"), 204);
    ck_assert_str_eq(served("GET", "/later"), "later");
    /* twice: the second registration fails, the handler's error is a 500 */
    ck_assert_int_eq(status_of("POST", "/register"), 500);
}
END_TEST

/* ---- the request ---------------------------------------------------- */

typedef struct seen_req {
    char method[16], path[128], query[128], name[64], hdr[64], body[64];
    size_t body_len, nul_len, empty_len;
    int has_missing, has_x, bad_query_null;
    char x[8];
} seen_req;

static int inspect_handler(wabot_ctx *ctx, const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ctx;
    seen_req *s = ud;
    snprintf(s->method, sizeof s->method, "%s",
             wabot_http_server_request_method(req));
    snprintf(s->path, sizeof s->path, "%s",
             wabot_http_server_request_path(req));
    snprintf(s->query, sizeof s->query, "%s",
             wabot_http_server_request_query(req));
    const char *name = wabot_http_server_request_query_param(req, "name", NULL);
    snprintf(s->name, sizeof s->name, "%s", name ? name : "(null)");
    const char *x = wabot_http_server_request_query_param(req, "x", NULL);
    snprintf(s->x, sizeof s->x, "%s", x ? x : "(null)");
    s->has_missing =
        wabot_http_server_request_query_param(req, "missing", NULL) != NULL;
    wabot_http_server_request_query_param(req, "nul", &s->nul_len);
    const char *empty =
        wabot_http_server_request_query_param(req, "empty", &s->empty_len);
    s->has_x = empty != NULL && empty[0] == '\0';
    const char *h = wabot_http_server_request_header(req, "x-custom");
    snprintf(s->hdr, sizeof s->hdr, "%s", h ? h : "(null)");
    const char *body = wabot_http_server_request_body(req, &s->body_len);
    snprintf(s->body, sizeof s->body, "%.*s", (int)s->body_len, body);
    return wabot_http_response_set_status(resp, 204);
}

START_TEST(test_request_parts_and_decoded_query_parameters)
{
    seen_req s;
    memset(&s, 0, sizeof s);
    add("POST", "/in/:id", inspect_handler, &s);
    wabot_http_header h[] = {{"Content-Type", "text/plain"},
                             {"X-CUSTOM", "v1"},
                             {"x-custom", "v2"}};
    wabot_http_response *r = call_h(
        "POST",
        "/in/9?name=Jos%C3%A9+Silva&x=1&x=2&nul=a%00b&empty=&a%3Db=c", h, 3,
        "hello");
    ck_assert_int_eq(wabot_http_response_status(r), 204);
    wabot_http_response_free(r);
    ck_assert_str_eq(s.method, "POST");
    ck_assert_str_eq(s.path, "/in/9");
    ck_assert_str_eq(s.query,
                     "name=Jos%C3%A9+Silva&x=1&x=2&nul=a%00b&empty=&a%3Db=c");
    ck_assert_str_eq(s.name, "Jos\xc3\xa9 Silva");
    ck_assert_str_eq(s.x, "1");
    ck_assert_int_eq(s.has_missing, 0);
    ck_assert_uint_eq(s.nul_len, 3);
    ck_assert_int_eq(s.has_x, 1);
    ck_assert_uint_eq(s.empty_len, 0);
    ck_assert_str_eq(s.hdr, "v1");
    ck_assert_str_eq(s.body, "hello");
    ck_assert_uint_eq(s.body_len, 5);

    /* an undecodable query: no parameters, the raw query still there */
    memset(&s, 0, sizeof s);
    r = call("POST", "/in/9?name=%zz");
    wabot_http_response_free(r);
    ck_assert_str_eq(s.query, "name=%zz");
    ck_assert_str_eq(s.name, "(null)");
    ck_assert_str_eq(s.hdr, "(null)");
    ck_assert_uint_eq(s.body_len, 0);
    ck_assert_str_eq(s.body, "");
    /* no query at all */
    r = call("POST", "/in/9");
    wabot_http_response_free(r);
    ck_assert_str_eq(s.query, "");
    ck_assert_str_eq(s.name, "(null)");
}
END_TEST

START_TEST(test_request_accessors_tolerate_null)
{
    ck_assert_ptr_null(wabot_http_server_request_method(NULL));
    ck_assert_ptr_null(wabot_http_server_request_path(NULL));
    ck_assert_ptr_null(wabot_http_server_request_query(NULL));
    size_t len = 5;
    ck_assert_ptr_null(wabot_http_server_request_query_param(NULL, "a", &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(wabot_http_server_request_param(NULL, "a"));
    ck_assert_ptr_null(wabot_http_server_request_header(NULL, "a"));
    len = 5;
    ck_assert_ptr_null(wabot_http_server_request_body(NULL, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(wabot_http_response_header_count(NULL), 0);
    ck_assert_ptr_null(wabot_http_response_header(NULL, "Allow"));
    ck_assert_ptr_null(wabot_http_response_header_name(NULL, 0));
    ck_assert_int_eq(wabot_http_response_set_status(NULL, 200),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_response_add_header(NULL, "a", "b"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_response_set_body(NULL, NULL, NULL, 0),
                     WABOT_ERR_INVAL);
}
END_TEST

/* ---- the response --------------------------------------------------- */

typedef struct refusals {
    int crlf_value, lf_name, colon_name, empty_name, space_name, ctl_value;
    int content_type, content_length, bad_status, low_status, ct_crlf,
        null_body_len, null_json;
    int ok_headers;
} refusals;

static int injecting_handler(wabot_ctx *ctx,
                             const wabot_http_server_request *req,
                             wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)req;
    refusals *f = ud;
    f->crlf_value = wabot_http_response_add_header(
        resp, "X-A", "v\r\nSet-Cookie: evil=1");
    f->lf_name = wabot_http_response_add_header(resp, "X\nB", "v");
    f->colon_name = wabot_http_response_add_header(resp, "X-C:", "v");
    f->empty_name = wabot_http_response_add_header(resp, "", "v");
    f->space_name = wabot_http_response_add_header(resp, "X D", "v");
    f->ctl_value = wabot_http_response_add_header(resp, "X-E", "a\x01");
    f->content_type =
        wabot_http_response_add_header(resp, "content-type", "text/html");
    f->content_length =
        wabot_http_response_add_header(resp, "Content-Length", "3");
    f->bad_status = wabot_http_response_set_status(resp, 600);
    f->low_status = wabot_http_response_set_status(resp, 99);
    f->ct_crlf = wabot_http_response_set_body(resp, "text/plain\r\nX: y",
                                              "b", 1);
    f->null_body_len = wabot_http_response_set_body(resp, NULL, NULL, 2);
    f->null_json = wabot_http_response_set_json(resp, 200, NULL);
    f->ok_headers =
        wabot_http_response_add_header(resp, "Location", "/orders/7") |
        wabot_http_response_add_header(resp, "X-Tab", "a\tb \xc3\xa9") |
        wabot_http_response_add_header(resp, "location", "/second");
    return wabot_http_response_set_body(resp, "application/problem+json",
                                        "{}", 2);
}

START_TEST(test_header_injection_and_bad_values_are_refused)
{
    refusals f;
    memset(&f, 0, sizeof f);
    add("POST", "/inject", injecting_handler, &f);
    wabot_http_response *r = call("POST", "/inject");
    int refused[] = {f.crlf_value, f.lf_name,       f.colon_name,
                     f.empty_name, f.space_name,    f.ctl_value,
                     f.content_type, f.content_length, f.bad_status,
                     f.low_status, f.ct_crlf,       f.null_body_len,
                     f.null_json};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        ck_assert_msg(refused[i] == WABOT_ERR_INVAL, "case %zu gave %d", i,
                      refused[i]);
    ck_assert_int_eq(f.ok_headers, WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    ck_assert_str_eq(wabot_http_response_content_type(r),
                     "application/problem+json");
    ck_assert_uint_eq(wabot_http_response_header_count(r), 3);
    ck_assert_str_eq(wabot_http_response_header_name(r, 0), "Location");
    ck_assert_str_eq(wabot_http_response_header_value(r, 0), "/orders/7");
    ck_assert_str_eq(wabot_http_response_header_value(r, 1),
                     "a\tb \xc3\xa9");
    ck_assert_str_eq(wabot_http_response_header_name(r, 2), "location");
    ck_assert_str_eq(wabot_http_response_header(r, "LOCATION"), "/orders/7");
    for (size_t i = 0; i < wabot_http_response_header_count(r); i++) {
        ck_assert_ptr_null(strpbrk(wabot_http_response_header_name(r, i),
                                   "\r\n"));
        ck_assert_ptr_null(strpbrk(wabot_http_response_header_value(r, i),
                                   "\r\n"));
    }
    wabot_http_response_free(r);
}
END_TEST

static int failing_handler(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    wabot_http_response_add_header(resp, "X-Partial", "1");
    wabot_http_response_set_text(resp, 200, "half done");
    return wb_error(ctx, WABOT_ERR_STORAGE, "secret detail");
}

static char logged[512];

static void capture_log(void *ud, wabot_log_level level, const char *module,
                        const char *msg)
{
    (void)ud;
    if (level == WABOT_LOG_ERROR && strcmp(module, "http") == 0)
        snprintf(logged, sizeof logged, "%s", msg);
}

START_TEST(test_handler_error_is_a_500_json_error_and_logged)
{
    tu_env_free(&env);
    wabot_options *o = wabot_options_new();
    wabot_options_set_log(o, capture_log, NULL);
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
    logged[0] = '\0';
    add("GET", "/fail", failing_handler, NULL);
    wabot_http_response *r = call("GET", "/fail");
    tu_assert_json_error(r, 500, "internal");
    /* nothing the handler filled leaks out, nor its detail */
    ck_assert_uint_eq(wabot_http_response_header_count(r), 0);
    ck_assert_ptr_null(strstr(wabot_http_response_body(r, NULL), "half"));
    ck_assert_ptr_null(strstr(wabot_http_response_body(r, NULL), "secret"));
    ck_assert_ptr_nonnull(strstr(wabot_http_response_body(r, NULL),
                                 wabot_strerror(WABOT_ERR_STORAGE)));
    wabot_http_response_free(r);
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "http.handler_errors"), 1);
    ck_assert_msg(strstr(logged, "GET /fail") && strstr(logged, "secret"),
                  "log line: '%s'", logged);
}
END_TEST

/* ---- threads -------------------------------------------------------- */

#define N_THREADS 8
#define N_REQUESTS 400

static atomic_int handled;

static int echo_id_handler(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)ud;
    atomic_fetch_add(&handled, 1);
    return wabot_http_response_set_text(
        resp, 200, wabot_http_server_request_param(req, "id"));
}

typedef struct worker {
    pthread_t th;
    int index;
    int mismatches;
} worker;

static void *request_loop(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < N_REQUESTS; i++) {
        char target[64], want[32];
        snprintf(want, sizeof want, "%d-%d", w->index, i);
        snprintf(target, sizeof target, "/t/%s?i=%d", want, i);
        wabot_http_response *r = NULL;
        if (wabot_http_handle(env.ctx, i % 2 ? "GET" : "HEAD", target, NULL,
                              0, NULL, 0, &r) != WABOT_OK ||
            wabot_http_response_status(r) != 200 ||
            strcmp(wabot_http_response_body(r, NULL), i % 2 ? want : "") != 0)
            w->mismatches++;
        wabot_http_response_free(r);
    }
    return NULL;
}

/* Registration runs at the same time: readers never block on it and
 * always see a consistent table. */
static void *register_loop(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < 200; i++) {
        char p[32];
        snprintf(p, sizeof p, "/r%d/:x", i);
        if (wabot_http_route_add(env.ctx, "GET", p, tag_handler, "r",
                                 NULL) != WABOT_OK)
            (*failures)++;
    }
    return NULL;
}

START_TEST(test_many_threads_handle_while_routes_are_added)
{
    atomic_store(&handled, 0);
    add("GET", "/t/:id", echo_id_handler, NULL);
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i].index = i;
        w[i].mismatches = 0;
        ck_assert_int_eq(pthread_create(&w[i].th, NULL, request_loop, &w[i]),
                         0);
    }
    pthread_t reg;
    int reg_failures = 0;
    ck_assert_int_eq(pthread_create(&reg, NULL, register_loop, &reg_failures),
                     0);
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(w[i].th, NULL);
        ck_assert_int_eq(w[i].mismatches, 0);
    }
    pthread_join(reg, NULL);
    ck_assert_int_eq(reg_failures, 0);
    ck_assert_int_eq(atomic_load(&handled), N_THREADS * N_REQUESTS);
    ck_assert_str_eq(served("GET", "/r199/x"), "r");
}
END_TEST

/* ---- odd targets ---------------------------------------------------- */

START_TEST(test_odd_targets_never_crash_and_never_escape)
{
    static const char *const names[] = {"name", "*", NULL};
    add("GET", "/files/:name", params_handler, (void *)names);
    add("GET", "/static/*", params_handler, (void *)names);
    add_tag("GET", "/", "root");
    size_t big = 256 * 1024;
    char *deep = malloc(big + 1);
    ck_assert_ptr_nonnull(deep);
    for (size_t i = 0; i < big; i += 2)
        memcpy(deep + i, "/a", 2);
    deep[big] = '\0';
    char *longseg = malloc(big + 8);
    ck_assert_ptr_nonnull(longseg);
    memcpy(longseg, "/files/", 7);
    memset(longseg + 7, 'x', big);
    longseg[big + 7] = '\0';
    const struct {
        const char *target;
        int status;
    } cases[] = {
        {"//", 200},             /* one trailing '/' ignored: the root */
        {"///", 404},
        {"", 404},
        {"?", 404},
        {"?x=1", 404},
        {"/?", 200},
        {"*", 404},
        {"%00", 404},
        {"/%00", 404},
        {"/files/%00", 404},     /* a parameter never holds a NUL */
        {"/files/a%00b", 404},
        {"/files/%zz", 404},     /* nor a broken escape */
        {"/files/%2", 404},
        {"/files/%", 404},
        {"/files/..", 404},      /* nor a dot segment */
        {"/files/.", 404},
        {"/files/%2e%2E", 404},
        {"/files/.%2e", 404},
        {"/files/...", 200},
        {"/files/a..b", 200},
        {"/static/../etc/passwd", 404},
        {"/static/a/%2e%2e/b", 404},
        {"/static/a/./b", 404},
        {"/static//x", 200},
        {"/a/../b", 404},
        {"/files//", 404},
        {"/files/a/", 200},
        {"http://host/files/a", 404},
        {"/files/a#frag", 200},
        {"/\xff\xfe/", 404},
        {deep, 404},
        {longseg, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wabot_http_response *r = call("GET", cases[i].target);
        ck_assert_msg(wabot_http_response_status(r) == cases[i].status,
                      "case %zu '%.40s': %d", i, cases[i].target,
                      wabot_http_response_status(r));
        const char *body = wabot_http_response_body(r, NULL);
        if (cases[i].status == 200)
            ck_assert(!strstr(body, "name=..;") && !strstr(body, "name=.;"));
        else
            ck_assert_uint_le(strlen(body), 400); /* the path is cut */
        wabot_http_response_free(r);
    }
    ck_assert_str_eq(served("GET", "/static//x"), "name=(null);*=/x;");
    free(deep);
    free(longseg);
}
END_TEST

/* ---- the webhook paths ---------------------------------------------- */

START_TEST(test_configured_webhook_paths_are_literal_routes)
{
    tu_env_free(&env);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_TWILIO_WEBHOOK_PATH,
                                           "/hooks/:tw/*"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_META_WEBHOOK_PATH,
                                           "/hooks/:tw/*/"), WABOT_OK);
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
    /* ':' and '*' in a configured path are literal */
    wabot_http_response *r = call("PUT", "/hooks/:tw/*");
    tu_assert_json_error(r, 405, "method_not_allowed");
    ck_assert_str_eq(wabot_http_response_header(r, "Allow"),
                     "GET, HEAD, POST");
    wabot_http_response_free(r);
    ck_assert_int_eq(status_of("PUT", "/hooks/x/y"), 404);
    /* the host's routes live next to them */
    add_tag("GET", "/hooks/:id", "host");
    ck_assert_str_eq(served("GET", "/hooks/x"), "host");
    ck_assert_str_eq(served("GET", "/hooks/:tw"), "host");
}
END_TEST

static Suite *routes_suite(void)
{
    Suite *s = suite_create("http_routes");
    TCase *p = tcase_create("patterns");
    tcase_add_checked_fixture(p, setup, teardown);
    tcase_add_test(p, test_parameters_are_extracted_and_percent_decoded);
    tcase_add_test(p, test_wildcard_gives_the_rest_of_the_path_undecoded);
    tcase_add_test(p, test_literal_beats_parameter_beats_wildcard);
    tcase_add_test(p, test_pattern_without_wildcard_beats_empty_wildcard);
    tcase_add_test(p, test_exact_method_beats_get_for_head_beats_any);
    tcase_add_test(p, test_head_is_answered_like_get_without_a_body);
    tcase_add_test(p, test_unknown_path_is_404_without_allow);
    tcase_add_test(
        p, test_wrong_method_is_405_with_allow_listing_every_matching_route);
    tcase_add_test(p, test_odd_targets_never_crash_and_never_escape);
    tcase_add_test(p, test_configured_webhook_paths_are_literal_routes);
    suite_add_tcase(s, p);

    TCase *reg = tcase_create("registration");
    tcase_add_checked_fixture(reg, setup, teardown);
    tcase_add_test(reg, test_same_method_and_pattern_twice_is_exists);
    tcase_add_test(reg, test_bad_patterns_and_methods_are_inval_with_a_detail);
    tcase_add_test(reg, test_route_destroy_runs_once_at_ctx_free);
    tcase_add_test(reg, test_a_handler_can_add_routes);
    tcase_add_test(reg, test_many_threads_handle_while_routes_are_added);
    suite_add_tcase(s, reg);

    TCase *io = tcase_create("request_response");
    tcase_add_checked_fixture(io, setup, teardown);
    tcase_add_test(io, test_request_parts_and_decoded_query_parameters);
    tcase_add_test(io, test_request_accessors_tolerate_null);
    tcase_add_test(io, test_header_injection_and_bad_values_are_refused);
    tcase_add_test(io, test_handler_error_is_a_500_json_error_and_logged);
    suite_add_tcase(s, io);
    return s;
}

int main(void)
{
    return tu_run_suite(routes_suite());
}
