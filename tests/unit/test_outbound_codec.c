/* The outbound job payload's decode (lib/message/outbound.c): what
 * wabot_outbound_to_json writes is scanned without a jansson tree, and
 * the message must be exactly the one the tree's decode gives -- for
 * every payload, odd ones and broken ones included (those go to the
 * tree). */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal/message.h"
#include "testutil.h"

/* jansson's allocations, counted: the scan makes none. */
static size_t json_allocs;

static void *count_malloc(size_t n)
{
    json_allocs++;
    return malloc(n);
}

static wabot_outbound *make(wabot_out_kind kind, const char *text)
{
    wabot_outbound *o = wb_outbound_alloc(NULL, kind);
    ck_assert_ptr_nonnull(o);
    o->id = strdup("SMin:r0");
    o->to = strdup("+14155550100");
    o->from = strdup("+14155238886");
    o->organization = strdup("acme");
    o->text = strdup(text);
    o->media_url = strdup("");
    o->in_reply_to = strdup("SMin");
    o->category = WABOT_CAT_REPLY;
    o->provider = WABOT_PROVIDER_TWILIO;
    return o;
}

static const char *str(const char *s)
{
    return s ? s : "(null)";
}

/* Both NULL, or equal in every member. */
static void same(const wabot_outbound *a, const wabot_outbound *b,
                 const char *json)
{
    ck_assert_msg((a == NULL) == (b == NULL), "scan %s, tree %s: %s",
                  a ? "decodes" : "refuses", b ? "decodes" : "refuses", json);
    if (!a)
        return;
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_int_eq(a->category, b->category);
    ck_assert_int_eq(a->provider, b->provider);
    const char *const fa[] = {a->id, a->to, a->from, a->organization,
                              a->text, a->media_url, a->in_reply_to,
                              a->correlation_id, a->list_button,
                              a->list_section};
    const char *const fb[] = {b->id, b->to, b->from, b->organization,
                              b->text, b->media_url, b->in_reply_to,
                              b->correlation_id, b->list_button,
                              b->list_section};
    for (size_t i = 0; i < sizeof fa / sizeof *fa; i++)
        ck_assert_msg(strcmp(str(fa[i]), str(fb[i])) == 0 &&
                          (fa[i] == NULL) == (fb[i] == NULL),
                      "member %zu: \"%s\" vs \"%s\" in %s", i, str(fa[i]),
                      str(fb[i]), json);
    ck_assert_uint_eq(a->n_opts, b->n_opts);
    for (size_t i = 0; i < a->n_opts; i++) {
        ck_assert_str_eq(a->opts[i].id, b->opts[i].id);
        ck_assert_str_eq(a->opts[i].title, b->opts[i].title);
        ck_assert_str_eq(str(a->opts[i].description),
                         str(b->opts[i].description));
    }
    ck_assert_str_eq(str(a->template_name), str(b->template_name));
    ck_assert_uint_eq(a->n_params, b->n_params);
}

static void agrees(const char *json, size_t len)
{
    wabot_outbound *a = wb_outbound_from_json(NULL, json, len);
    wabot_outbound *b = wb_outbound_from_json_tree(NULL, json, len);
    same(a, b, json);
    wb_outbound_free(a);
    wb_outbound_free(b);
}

/* A list message with options, a correlation id, and text that needs
 * every kind of escape. */
static char *list_payload(void)
{
    wabot_outbound *o = make(WABOT_OUT_LIST, "Menu:\n\t1. \"Cola\" \\ \x01"
                                             " caf\xc3\xa9 \xf0\x9f\x8d\x95");
    o->correlation_id = strdup("campaign:c1");
    o->list_button = strdup("Choose");
    ck_assert_int_eq(wb_outbound_add_option(o, "p1", "Cola", "0.5 l"), 0);
    ck_assert_int_eq(wb_outbound_add_option(o, "p2", "Pizza \"XL\"", NULL),
                     0);
    char *json = wabot_outbound_to_json(o);
    wb_outbound_free(o);
    ck_assert_ptr_nonnull(json);
    return json;
}

START_TEST(test_a_plain_reply_is_decoded_without_a_tree)
{
    wabot_outbound *o = make(WABOT_OUT_TEXT, "Hello!");
    char *json = wabot_outbound_to_json(o);
    json_set_alloc_funcs(count_malloc, free);
    json_allocs = 0;
    wabot_outbound *d = wb_outbound_from_json(NULL, json, strlen(json));
    ck_assert_uint_eq(json_allocs, 0);
    same(d, o, json);
    ck_assert_ptr_null(d->correlation_id); /* empty optional: NULL */
    wb_outbound_free(d);
    /* A template is the tree's. */
    wb_outbound_free(o);
    o = make(WABOT_OUT_TEMPLATE, "");
    o->template_name = strdup("order_update");
    o->template_language = strdup("en");
    wb_outbound_add_param(o, "42");
    free(json);
    json = wabot_outbound_to_json(o);
    d = wb_outbound_from_json(NULL, json, strlen(json));
    ck_assert_uint_gt(json_allocs, 0);
    same(d, o, json);
    ck_assert_str_eq(d->params[0], "42");
    json_set_alloc_funcs(malloc, free);
    wb_outbound_free(d);
    wb_outbound_free(o);
    free(json);
}
END_TEST

START_TEST(test_escapes_unicode_and_options_decode_as_the_tree_does)
{
    char *json = list_payload();
    wabot_outbound *a = wb_outbound_from_json(NULL, json, strlen(json));
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->text, "Menu:\n\t1. \"Cola\" \\ \x01 caf\xc3\xa9 "
                              "\xf0\x9f\x8d\x95");
    ck_assert_uint_eq(a->n_opts, 2);
    ck_assert_str_eq(a->opts[1].title, "Pizza \"XL\"");
    ck_assert_ptr_null(a->opts[1].description); /* absent, as written */
    wb_outbound_free(a);
    agrees(json, strlen(json));
    free(json);
}
END_TEST

START_TEST(test_the_job_payload_leaves_out_empty_members)
{
    wabot_outbound *o = make(WABOT_OUT_TEXT, "Hello!");
    char *full = wabot_outbound_to_json(o);
    char *job = wb_outbound_to_payload(o);
    ck_assert_str_eq(job, "{\"id\":\"SMin:r0\",\"kind\":\"text\","
                          "\"category\":\"reply\",\"provider\":\"twilio\","
                          "\"to\":\"+14155550100\",\"from\":\"+14155238886\","
                          "\"organization\":\"acme\",\"text\":\"Hello!\","
                          "\"in_reply_to\":\"SMin\"}");
    ck_assert_uint_lt(strlen(job) + 80, strlen(full));
    json_set_alloc_funcs(count_malloc, free);
    json_allocs = 0;
    wabot_outbound *d = wb_outbound_from_json(NULL, job, strlen(job));
    ck_assert_uint_eq(json_allocs, 0); /* scanned, no tree */
    json_set_alloc_funcs(malloc, free);
    same(d, o, job);
    ck_assert_str_eq(d->media_url, ""); /* absent: empty, as written */
    agrees(job, strlen(job));
    wb_outbound_free(d);
    free(job);
    free(full);
    /* What is not empty stays: options, list texts, correlation id. */
    wb_outbound_free(o);
    o = make(WABOT_OUT_LIST, "Pick");
    o->list_button = strdup("Choose");
    o->correlation_id = strdup("campaign:c1");
    ck_assert_int_eq(wb_outbound_add_option(o, "p1", "Cola", NULL), 0);
    job = wb_outbound_to_payload(o);
    ck_assert_ptr_nonnull(strstr(job, "\"options\":[{\"id\":\"p1\""));
    ck_assert_ptr_nonnull(strstr(job, "\"list_button\":\"Choose\""));
    ck_assert_ptr_null(strstr(job, "list_section"));
    d = wb_outbound_from_json(NULL, job, strlen(job));
    same(d, o, job);
    agrees(job, strlen(job));
    wb_outbound_free(d);
    wb_outbound_free(o);
    free(job);
}
END_TEST

/* Payloads queued by earlier versions (every member, empty ones too)
 * stay in Redis or a persisted queue across an upgrade: they decode to
 * the message the new form of it decodes to. */
START_TEST(test_a_payload_queued_with_every_member_reads_as_the_new_form)
{
    static const char old[] =
        "{\"id\":\"SMin:r0\",\"kind\":\"text\",\"category\":\"reply\","
        "\"provider\":\"twilio\",\"to\":\"+14155550100\","
        "\"from\":\"+14155238886\",\"organization\":\"acme\","
        "\"text\":\"Hello!\",\"media_url\":\"\",\"in_reply_to\":\"SMin\","
        "\"correlation_id\":\"\",\"list_button\":\"\",\"list_section\":\"\","
        "\"options\":[]}";
    wabot_outbound *o = make(WABOT_OUT_TEXT, "Hello!");
    char *full = wabot_outbound_to_json(o);
    ck_assert_str_eq(full, old); /* the public form is unchanged */
    char *job = wb_outbound_to_payload(o);
    wabot_outbound *a = wb_outbound_from_json(NULL, old, strlen(old));
    wabot_outbound *b = wb_outbound_from_json(NULL, job, strlen(job));
    same(a, b, old);
    same(a, o, old);
    ck_assert_ptr_null(a->correlation_id);
    ck_assert_ptr_null(a->list_button);
    agrees(old, strlen(old));
    wb_outbound_free(a);
    wb_outbound_free(b);
    wb_outbound_free(o);
    free(job);
    free(full);
}
END_TEST

/* What another writer might produce: \u escapes of any code point
 * (pairs included), \/, whitespace, members in another order, duplicates
 * (the last wins), members it does not know, other types. */
START_TEST(test_odd_but_valid_payloads_decode_as_the_tree_does)
{
    static const char *const docs[] = {
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"+1\","
        "\"text\":\"\\u00e9\\u20ac\\ud83c\\udf55\\/ \\b\\f\\r\"}",
        " {\n \"to\" : \"+1\" , \"kind\":\"text\",\"category\":\"notice\" } \n",
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"+1\","
        "\"text\":\"a\",\"text\":\"b\"}",
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"+1\","
        "\"extra\":1}",
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"+1\","
        "\"text\":null}",
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"+1\","
        "\"options\":[]}",
        "{\"kind\":\"list\",\"category\":\"reply\",\"to\":\"+1\","
        "\"options\":[{},{\"id\":\"x\",\"id\":\"y\"},1]}",
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"\"}",
        "{\"kind\":\"fax\",\"category\":\"reply\",\"to\":\"+1\"}",
        "{\"kind\":\"text\",\"category\":\"spam\",\"to\":\"+1\"}",
        "{\"k\\u0069nd\":\"text\",\"category\":\"reply\",\"to\":\"+1\"}",
        "{\"kind\":\"text\",\"category\":\"reply\",\"to\":\"+1\","
        "\"provider\":\"meta\"}",
        "{}", "[]", "\"text\"", "", "{\"kind\":\"text\"} x",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        agrees(docs[i], strlen(docs[i]));
}
END_TEST

/* Every prefix of a real payload, and every byte replaced by each of a
 * few troublesome bytes: the scan and the tree always agree. */
START_TEST(test_mutated_payloads_agree_with_the_tree)
{
    static const char subst[] = {'"', '\\', '{', '}', '[', ']', ',', ':',
                                 'u', 'n', ' ', '\x01', '\x80', '\xc3',
                                 '\xff', 'x', '\0'};
    char *json = list_payload();
    size_t len = strlen(json);
    char *m = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        agrees(json, i);
        for (size_t k = 0; k < sizeof subst; k++) {
            memcpy(m, json, len + 1);
            m[i] = subst[k];
            agrees(m, len);
        }
    }
    free(m);
    free(json);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outbound_codec");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, test_a_plain_reply_is_decoded_without_a_tree);
    tcase_add_test(tc, test_escapes_unicode_and_options_decode_as_the_tree_does);
    tcase_add_test(tc, test_the_job_payload_leaves_out_empty_members);
    tcase_add_test(
        tc, test_a_payload_queued_with_every_member_reads_as_the_new_form);
    tcase_add_test(tc, test_odd_but_valid_payloads_decode_as_the_tree_does);
    tcase_add_test(tc, test_mutated_payloads_agree_with_the_tree);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
