/* Message templating (include/wabot/template.h): placeholders, defaults,
 * no escaping, and every compile-time error naming its byte position. */
#include <string.h>

#include "testutil.h"
#include "wabot/template.h"

static tu_env E;

static void setup(void)
{
    tu_env_init(&E);
}

static void teardown(void)
{
    tu_env_free(&E);
}

/* Values: name "Ana", customer.city "Porto", customer.code "<b>&'x'",
 * org.name "Acme"; anything else has none. */
static const char *lookup(void *ud, wabot_template_scope scope,
                          const char *attr)
{
    int *calls = ud;
    if (calls != NULL)
        (*calls)++;
    if (scope == WABOT_TEMPLATE_NAME) {
        ck_assert_str_eq(attr, "");
        return "Ana";
    }
    if (scope == WABOT_TEMPLATE_CUSTOMER && strcmp(attr, "city") == 0)
        return "Porto";
    if (scope == WABOT_TEMPLATE_CUSTOMER && strcmp(attr, "code") == 0)
        return "<b>&'x' {{name}}";
    if (scope == WABOT_TEMPLATE_CUSTOMER && strcmp(attr, "empty") == 0)
        return "";
    if (scope == WABOT_TEMPLATE_ORG && strcmp(attr, "name") == 0)
        return "Acme";
    return NULL;
}

static wabot_template *compile(const char *text)
{
    wabot_template *t = NULL;
    int rc = wabot_template_compile(E.ctx, text, strlen(text), &t);
    ck_assert_msg(rc == WABOT_OK, "%s: %s", text, wabot_errmsg());
    return t;
}

/* Render `text` with lookup() and compare. */
static void renders(const char *text, const char *want)
{
    wabot_template *t = compile(text);
    char *out = NULL;
    size_t n = 0;
    ck_assert_int_eq(wabot_template_render(t, lookup, NULL, &out, &n),
                     WABOT_OK);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
    wabot_ctx_mem_free(E.ctx, out);
    wabot_template_free(t);
}

/* Compiling `text` fails with `status` and a detail containing `part`. */
static void refuses(const char *text, int status, const char *part)
{
    wabot_template *t = (wabot_template *)1;
    ck_assert_int_eq(wabot_template_compile(E.ctx, text, strlen(text), &t),
                     status);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(wabot_errmsg(), part) != NULL,
                  "%s: detail \"%s\" lacks \"%s\"", text, wabot_errmsg(),
                  part);
}

START_TEST(test_text_without_placeholders_renders_unchanged)
{
    renders("", "");
    renders("Hello!", "Hello!");
    renders("a { b } c {x} }{", "a { b } c {x} }{");
}
END_TEST

START_TEST(test_name_customer_and_org_placeholders_take_their_values)
{
    renders("Hi {{name}}, from {{org.name}} to {{customer.city}}.",
            "Hi Ana, from Acme to Porto.");
    renders("{{name}}{{name}}", "AnaAna");
    renders("{{ name }} {{  customer.city\t}}", "Ana Porto");
}
END_TEST

START_TEST(test_a_default_replaces_a_missing_or_empty_value)
{
    renders("Hi {{customer.nick|there}}!", "Hi there!");
    renders("Hi {{customer.empty|there}}!", "Hi there!");
    renders("Hi {{ customer.nick | dear friend }}!", "Hi dear friend!");
    renders("Hi {{name|there}}!", "Hi Ana!");
    renders("[{{org.missing|}}]", "[]");
    renders("[{{org.missing|a|b}}]", "[a|b]");
}
END_TEST

START_TEST(test_a_missing_value_without_default_renders_as_nothing)
{
    renders("Hi {{customer.nick}}!", "Hi !");
    wabot_template *t = compile("Hi {{name|you}} {{org.x}}.");
    char *out = NULL;
    ck_assert_int_eq(wabot_template_render(t, NULL, NULL, &out, NULL),
                     WABOT_OK);
    ck_assert_str_eq(out, "Hi you .");
    wabot_ctx_mem_free(E.ctx, out);
    wabot_template_free(t);
}
END_TEST

START_TEST(test_values_are_inserted_without_escaping_or_expansion)
{
    renders("code: {{customer.code}}", "code: <b>&'x' {{name}}");
}
END_TEST

START_TEST(test_lookup_is_called_once_per_occurrence_and_counted)
{
    wabot_template *t = compile("{{name}} {{name}} {{org.name}} x");
    ck_assert_uint_eq(wabot_template_placeholders(t), 3);
    ck_assert_uint_eq(wabot_template_placeholders(NULL), 0);
    int calls = 0;
    char *out = NULL;
    ck_assert_int_eq(wabot_template_render(t, lookup, &calls, &out, NULL),
                     WABOT_OK);
    ck_assert_int_eq(calls, 3);
    wabot_ctx_mem_free(E.ctx, out);
    wabot_template_free(t);
}
END_TEST

START_TEST(test_unknown_placeholders_are_refused_naming_the_position)
{
    refuses("Hi {{nam}}", WABOT_ERR_INVAL, "unknown placeholder at byte 3: \"nam\"");
    refuses("{{customer}}", WABOT_ERR_INVAL, "at byte 0");
    refuses("ab {{}}", WABOT_ERR_INVAL, "unknown placeholder at byte 3: \"\"");
    refuses("{{ Name }}", WABOT_ERR_INVAL, "\"Name\"");
    refuses("{{user.city}}", WABOT_ERR_INVAL, "unknown placeholder");
}
END_TEST

START_TEST(test_unbalanced_braces_are_refused_naming_the_position)
{
    refuses("Hi {{name", WABOT_ERR_INVAL, "\"{{\" at byte 3 is never closed");
    refuses("Hi {{name}", WABOT_ERR_INVAL, "at byte 3 is never closed");
    refuses("Hi name}} x", WABOT_ERR_INVAL,
            "\"}}\" at byte 7 closes no placeholder");
    refuses("{{name}}}} ", WABOT_ERR_INVAL, "\"}}\" at byte 8");
    refuses("{{{name}}}", WABOT_ERR_INVAL,
            "'{' at byte 2 inside the placeholder opened at byte 0");
    refuses("x {{name {{org.a}}", WABOT_ERR_INVAL, "'{' at byte 9");
}
END_TEST

START_TEST(test_bad_attribute_names_and_defaults_are_refused)
{
    refuses("{{customer.}}", WABOT_ERR_INVAL, "byte 11 must be 1 to 64");
    refuses("{{customer.a b}}", WABOT_ERR_INVAL, "byte 12");
    refuses("{{org.a.b}}", WABOT_ERR_INVAL, "byte 7");
    refuses("{{name|a}b}}", WABOT_ERR_INVAL,
            "'}' at byte 8 inside the placeholder opened at byte 0");
    char attr[100] = "{{customer.";
    memset(attr + 11, 'a', 65);
    strcpy(attr + 76, "}}");
    refuses(attr, WABOT_ERR_INVAL, "1 to 64");
    attr[11 + 64] = '}';
    attr[11 + 65] = '}';
    attr[11 + 66] = '\0';
    wabot_template_free(compile(attr));
    char dflt[300] = "{{name|";
    memset(dflt + 7, 'd', 257);
    strcpy(dflt + 264, "}}");
    refuses(dflt, WABOT_ERR_INVAL, "over 256 bytes");
}
END_TEST

START_TEST(test_nul_bytes_oversize_and_null_arguments_are_refused)
{
    wabot_template *t = NULL;
    ck_assert_int_eq(wabot_template_compile(E.ctx, "ab\0cd", 5, &t),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "NUL byte at byte 2"));
    ck_assert_int_eq(wabot_template_compile(E.ctx, "{{na\0e}}", 8, &t),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "NUL byte at byte 4"));
    static char big[WABOT_TEMPLATE_MAX_LEN + 1];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(wabot_template_compile(E.ctx, big, sizeof big, &t),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_template_compile(E.ctx, big, sizeof big - 1, &t),
                     WABOT_OK);
    wabot_template_free(t);
    ck_assert_int_eq(wabot_template_compile(NULL, "x", 1, &t),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_template_compile(E.ctx, NULL, 1, &t),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_template_compile(E.ctx, "x", 1, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_template_render(NULL, lookup, NULL, NULL, NULL),
                     WABOT_ERR_INVAL);
    wabot_template_free(NULL);
}
END_TEST

START_TEST(test_compile_reads_only_len_bytes)
{
    wabot_template *t = NULL;
    const char *text = "Hi {{name}}{{broken";
    ck_assert_int_eq(wabot_template_compile(E.ctx, text, 11, &t), WABOT_OK);
    char *out = NULL;
    ck_assert_int_eq(wabot_template_render(t, lookup, NULL, &out, NULL),
                     WABOT_OK);
    ck_assert_str_eq(out, "Hi Ana");
    wabot_ctx_mem_free(E.ctx, out);
    wabot_template_free(t);
}
END_TEST

START_TEST(test_render_json_takes_name_customer_and_org_members)
{
    wabot_template *t = compile("{{name|there}}/{{customer.city}}/"
                                "{{customer.n}}/{{customer.ok}}/"
                                "{{org.name|?}}/{{customer.none|-}}");
    const char *vars = "{\"name\":\"Bo\",\"customer\":{\"city\":\"Rio\","
                       "\"n\":42,\"ok\":true,\"none\":null},"
                       "\"org\":{\"name\":\"Acme\"}}";
    char *out = NULL;
    size_t n = 0;
    ck_assert_int_eq(
        wabot_template_render_json(t, vars, strlen(vars), &out, &n),
        WABOT_OK);
    ck_assert_str_eq(out, "Bo/Rio/42/true/Acme/-");
    ck_assert_uint_eq(n, strlen(out));
    wabot_ctx_mem_free(E.ctx, out);
    ck_assert_int_eq(wabot_template_render_json(t, "{}", 2, &out, NULL),
                     WABOT_OK);
    ck_assert_str_eq(out, "there////?/-");
    wabot_ctx_mem_free(E.ctx, out);
    ck_assert_int_eq(wabot_template_render_json(t, "[1]", 3, &out, NULL),
                     WABOT_ERR_PARSE);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "not a JSON object"));
    ck_assert_int_eq(wabot_template_render_json(t, "{", 1, &out, NULL),
                     WABOT_ERR_PARSE);
    wabot_template_free(t);
}
END_TEST

START_TEST(test_template_memory_goes_through_the_context_allocator)
{
    tu_counting_alloc c = {0, 0};
    wabot_allocator a = tu_counting_allocator(&c);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_allocator(o, &a), WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    long before = tu_counted(&c.allocs);
    wabot_template *t = NULL;
    ck_assert_int_eq(wabot_template_compile(e.ctx, "Hi {{name|x}}", 13, &t),
                     WABOT_OK);
    char *out = NULL;
    ck_assert_int_eq(wabot_template_render(t, lookup, NULL, &out, NULL),
                     WABOT_OK);
    ck_assert_int_gt(tu_counted(&c.allocs), before);
    long frees = tu_counted(&c.frees);
    wabot_ctx_mem_free(e.ctx, out);
    wabot_template_free(t);
    ck_assert_int_gt(tu_counted(&c.frees), frees);
    tu_env_free(&e);
    ck_assert_int_eq(tu_counted(&c.allocs), tu_counted(&c.frees));
}
END_TEST

Suite *template_suite(void)
{
    Suite *s = suite_create("template");
    TCase *tc = tcase_create("template");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_text_without_placeholders_renders_unchanged);
    tcase_add_test(tc, test_name_customer_and_org_placeholders_take_their_values);
    tcase_add_test(tc, test_a_default_replaces_a_missing_or_empty_value);
    tcase_add_test(tc, test_a_missing_value_without_default_renders_as_nothing);
    tcase_add_test(tc, test_values_are_inserted_without_escaping_or_expansion);
    tcase_add_test(tc, test_lookup_is_called_once_per_occurrence_and_counted);
    tcase_add_test(tc, test_unknown_placeholders_are_refused_naming_the_position);
    tcase_add_test(tc, test_unbalanced_braces_are_refused_naming_the_position);
    tcase_add_test(tc, test_bad_attribute_names_and_defaults_are_refused);
    tcase_add_test(tc, test_nul_bytes_oversize_and_null_arguments_are_refused);
    tcase_add_test(tc, test_compile_reads_only_len_bytes);
    tcase_add_test(tc, test_render_json_takes_name_customer_and_org_members);
    tcase_add_test(tc, test_template_memory_goes_through_the_context_allocator);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(template_suite());
}
