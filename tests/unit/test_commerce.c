/* The commerce module, part 1: money, products, import/export, menus,
 * the product matcher and the cart (memory storage; the catalog's
 * storage behaviour on every backend is tests/conformance/catalog_suite.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wabot/commerce.h"

#define ORG "default"
#define SHOP2 "shop2"

static tu_env env;

static void add_product(const char *org, const char *sku, const char *name,
                        const char *alias, const char *category,
                        int64_t price, int64_t stock, int active)
{
    wabot_product *p = wabot_product_new(env.ctx);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(wabot_product_set_sku(p, sku), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, name), WABOT_OK);
    for (const char *a = alias; a && *a;) {
        char one[64];
        size_t n = strcspn(a, "|");
        memcpy(one, a, n);
        one[n] = '\0';
        ck_assert_int_eq(wabot_product_add_alias(p, one), WABOT_OK);
        a += n + (a[n] == '|');
    }
    ck_assert_int_eq(wabot_product_set_category(p, category), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, price, "USD"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_stock(p, stock), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_active(p, active), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_create(env.ctx, org, p, NULL), WABOT_OK);
    ck_assert_uint_gt(wabot_product_version(p), 0);
    wabot_product_free(p);
}

static void shop_setup(void)
{
    tu_env_init(&env);
    add_product(ORG, "coke", "Coke", "coca-cola|coca cola", "Drinks", 150,
                -1, 1);
    add_product(ORG, "coke-zero", "Coke Zero", NULL, "Drinks", 160, -1, 1);
    add_product(ORG, "water", "Water", "Água", "Drinks", 100, 5, 1);
    add_product(ORG, "pizza", "Pizza Margherita", NULL, "Food", 900, -1, 1);
    add_product(ORG, "fries", "French Fries", NULL, "Food", 350, -1, 1);
    add_product(ORG, "lemonade", "Lemonade", NULL, "Drinks", 200, -1, 0);
    /* A second shop without Coke Zero: "coke" is clear there. */
    add_product(SHOP2, "coke", "Coke", "coca-cola", "Drinks", 150, -1, 1);
    add_product(SHOP2, "water", "Water", NULL, "Drinks", 100, -1, 1);
}

static void shop_teardown(void)
{
    tu_env_free(&env);
}

/* ------------------------------------------------------------------ */
/* Money                                                               */

static void expect_money(int64_t minor, const char *cur, uint32_t flags,
                         const char *want)
{
    char buf[64];
    int n = wabot_money_format(minor, cur, flags, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
}

START_TEST(test_money_formats_minor_units_by_the_currency_exponent)
{
    expect_money(150, "USD", 0, "1.50 USD");
    expect_money(5, "USD", 0, "0.05 USD");
    expect_money(-5, "USD", 0, "-0.05 USD");
    expect_money(500, "JPY", 0, "500 JPY");
    expect_money(1250, "KWD", 0, "1.250 KWD");
    expect_money(7, "KWD", 0, "0.007 KWD");
    expect_money(12345, "CLF", 0, "1.2345 CLF");
    expect_money(0, "EUR", 0, "0.00 EUR");
    expect_money(150, "USD", WABOT_MONEY_SYMBOL, "$1.50");
    expect_money(1200, "BRL", WABOT_MONEY_SYMBOL, "R$ 12.00");
    expect_money(150, "CHF", WABOT_MONEY_SYMBOL, "1.50 CHF");
    expect_money(INT64_MIN, "JPY", 0, "-9223372036854775808 JPY");
    expect_money(INT64_MAX, "USD", 0, "92233720368547758.07 USD");
    ck_assert_int_eq(wabot_currency_exponent("JPY"), 0);
    ck_assert_int_eq(wabot_currency_exponent("USD"), 2);
    ck_assert_int_eq(wabot_currency_exponent("KWD"), 3);
    ck_assert_int_eq(wabot_currency_exponent("usd"), WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_currency_exponent("XXX"), WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_currency_exponent(NULL), WABOT_ERR_INVAL);
    char small[4];
    ck_assert_int_eq(wabot_money_format(150, "USD", 0, small, sizeof small),
                     8); /* truncated like snprintf */
    ck_assert_str_eq(small, "1.5");
    ck_assert_int_eq(wabot_money_format(1, "XYZ", 0, small, sizeof small),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_money_parses_decimals_up_to_the_exponent)
{
    int64_t v = 0;
    ck_assert_int_eq(wabot_money_parse("12.5", "USD", &v), WABOT_OK);
    ck_assert_int_eq(v, 1250);
    ck_assert_int_eq(wabot_money_parse("-3", "USD", &v), WABOT_OK);
    ck_assert_int_eq(v, -300);
    ck_assert_int_eq(wabot_money_parse("1250", "JPY", &v), WABOT_OK);
    ck_assert_int_eq(v, 1250);
    ck_assert_int_eq(wabot_money_parse("1.25", "KWD", &v), WABOT_OK);
    ck_assert_int_eq(v, 1250);
    ck_assert_int_eq(wabot_money_parse("12.505", "USD", &v), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_money_parse("1.2", "JPY", &v), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_money_parse("12.", "USD", &v), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_money_parse("1,000", "USD", &v), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_money_parse("", "USD", &v), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_money_parse("92233720368547758.08", "USD", &v),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_money_parse("1", "ABC", &v), WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_money_arithmetic_refuses_to_overflow)
{
    int64_t r = 7;
    ck_assert_int_eq(wabot_money_add(INT64_MAX, 1, &r), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(r, 7);
    ck_assert_int_eq(wabot_money_add(INT64_MIN, -1, &r), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_money_mul(INT64_MAX / 2 + 1, 2, &r),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_money_mul(150, 3, &r), WABOT_OK);
    ck_assert_int_eq(r, 450);
    ck_assert_int_eq(wabot_money_add(150, -50, &r), WABOT_OK);
    ck_assert_int_eq(r, 100);
    ck_assert_int_eq(wabot_money_add(1, 1, NULL), WABOT_ERR_INVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Products                                                            */

START_TEST(test_product_setters_refuse_bad_values_and_keep_the_old_one)
{
    wabot_product *p = wabot_product_new(env.ctx);
    ck_assert_int_eq(wabot_product_set_sku(p, "ok-1"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_sku(p, "no spaces"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_product_set_sku(p, ""), WABOT_ERR_INVAL);
    ck_assert_str_eq(wabot_product_sku(p), "ok-1");
    ck_assert_int_eq(wabot_product_set_name(p, ""), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_product_set_price(p, -1, "USD"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_product_set_price(p, 1, "ZZZ"),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_product_set_stock(p, -2), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_product_set_image_url(p, "ftp://x"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "image_url"));
    ck_assert_int_eq(wabot_product_stock(p), WABOT_PRODUCT_STOCK_UNLIMITED);
    /* Incomplete products are not stored. */
    ck_assert_int_eq(wabot_catalog_create(env.ctx, ORG, p, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_catalog_create(env.ctx, "bad{org}", p, NULL),
                     WABOT_ERR_INVAL);
    wabot_product_free(p);
    wabot_product_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Import and export                                                   */

START_TEST(test_import_reports_every_bad_row_and_writes_nothing)
{
    const char *doc =
        "[{\"sku\":\"tea\",\"name\":\"Tea\",\"price\":\"2.50\","
        "\"currency\":\"USD\"},"
        "{\"sku\":\"bad sku\",\"name\":\"X\",\"price\":1,\"currency\":\"USD\"},"
        "{\"sku\":\"cake\",\"name\":\"Cake\",\"price\":100,"
        "\"currency\":\"XYZ\"},"
        "{\"sku\":\"pie\",\"name\":\"Pie\",\"price\":\"1.005\","
        "\"currency\":\"USD\"},"
        "{\"sku\":\"tea\",\"name\":\"Tea again\",\"price\":1,"
        "\"currency\":\"USD\"},"
        "{\"sku\":\"bun\",\"name\":\"Bun\",\"price\":1,\"currency\":\"USD\","
        "\"colour\":\"red\"},"
        "{\"sku\":\"jam\",\"name\":\"Jam\",\"price\":1,\"currency\":\"USD\","
        "\"stock\":\"lots\"}]";
    wabot_import_report *r = NULL;
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "imp", doc, strlen(doc), 0,
                                          &r),
                     WABOT_ERR_INVAL);
    ck_assert_uint_eq(wabot_import_report_error_count(r), 6);
    static const struct {
        size_t row;
        const char *field;
    } want[] = {{2, "sku"}, {3, "currency"}, {4, "price"},
                {5, "sku"}, {6, ""},         {7, "stock"}};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(wabot_import_report_error_row(r, i), want[i].row);
        ck_assert_str_eq(wabot_import_report_error_field(r, i),
                         want[i].field);
        ck_assert_str_ne(wabot_import_report_error_reason(r, i), "");
    }
    ck_assert_uint_eq(wabot_import_report_written(r), 0);
    char *json = wabot_import_report_json(r);
    ck_assert_ptr_nonnull(strstr(json, "{\"row\":4,\"field\":\"price\""));
    wabot_ctx_mem_free(env.ctx, json);
    wabot_import_report_free(r);
    int64_t n = -1;
    ck_assert_int_eq(wabot_catalog_count(env.ctx, "imp", &n), WABOT_OK);
    ck_assert_int_eq(n, 0); /* all or nothing */

    /* Partial: the good rows go in. */
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "imp", doc, strlen(doc),
                                          WABOT_IMPORT_PARTIAL, &r),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_import_report_written(r), 1);
    wabot_import_report_free(r);
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(env.ctx, "imp", "tea", &p), WABOT_OK);
    ck_assert_int_eq(wabot_product_price(p), 250);
    wabot_product_free(p);
}
END_TEST

START_TEST(test_import_refuses_what_is_not_a_list_of_products)
{
    wabot_import_report *r = (wabot_import_report *)1;
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "imp", "[{", 2, 0, &r),
                     WABOT_ERR_PARSE);
    ck_assert_ptr_eq(r, (wabot_import_report *)1); /* untouched */
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "imp", "{\"a\":1}", 7, 0,
                                          NULL),
                     WABOT_ERR_PARSE);
    r = NULL;
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "imp", "[1]", 3, 0, &r),
                     WABOT_ERR_INVAL);
    ck_assert_uint_eq(wabot_import_report_error_row(r, 0), 1);
    wabot_import_report_free(r);
}
END_TEST

START_TEST(test_export_then_import_recreates_the_catalog)
{
    char *json = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_catalog_export(env.ctx, ORG, &json, &len),
                     WABOT_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"sku\":\"lemonade\""));
    ck_assert_ptr_nonnull(strstr(json, "\"aliases\":[\"coca-cola\""));
    wabot_import_report *r = NULL;
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "copy", json, len, 0, &r),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_import_report_written(r), 6);
    wabot_import_report_free(r);
    char *again = NULL;
    ck_assert_int_eq(wabot_catalog_export(env.ctx, "copy", &again, NULL),
                     WABOT_OK);
    ck_assert_str_eq(again, json);
    /* Importing again replaces: still six products. */
    ck_assert_int_eq(wabot_catalog_import(env.ctx, "copy", json, len, 0,
                                          NULL),
                     WABOT_OK);
    int64_t n = 0;
    ck_assert_int_eq(wabot_catalog_count(env.ctx, "copy", &n), WABOT_OK);
    ck_assert_int_eq(n, 6);
    wabot_ctx_mem_free(env.ctx, json);
    wabot_ctx_mem_free(env.ctx, again);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Menus                                                               */

START_TEST(test_menu_text_groups_by_category_and_hides_inactive_products)
{
    char *text = NULL;
    size_t pages = 0;
    ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, ORG, NULL, 0, 0, &text,
                                             &pages),
                     WABOT_OK);
    ck_assert_uint_eq(pages, 1);
    ck_assert_str_eq(text, "Our menu\n*Drinks*\n\xE2\x80\xA2 Coke \xE2\x80\x94"
                           " $1.50\n\xE2\x80\xA2 Coke Zero \xE2\x80\x94 $1.60"
                           "\n\xE2\x80\xA2 Water \xE2\x80\x94 $1.00\n*Food*\n"
                           "\xE2\x80\xA2 Pizza Margherita \xE2\x80\x94 $9.00"
                           "\n\xE2\x80\xA2 French Fries \xE2\x80\x94 $3.50");
    wabot_ctx_mem_free(env.ctx, text);
    ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, ORG, NULL, 0, 1, &text,
                                             NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, "empty-shop", NULL, 0,
                                             0, &text, NULL),
                     WABOT_OK);
    ck_assert_str_eq(text, "The menu is empty right now.");
    wabot_ctx_mem_free(env.ctx, text);
}
END_TEST

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

START_TEST(test_long_menu_becomes_pages_within_the_limit)
{
    char sku[32], name[64];
    for (int i = 0; i < 120; i++) {
        snprintf(sku, sizeof sku, "item-%03d", i);
        snprintf(name, sizeof name, "Item number %03d with a long name", i);
        add_product("big", sku, name, NULL, i < 60 ? "A" : "B", 100 + i, -1,
                    1);
    }
    size_t pages = 0, seen = 0;
    char *text = NULL;
    ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, "big", NULL, 1600, 0,
                                             &text, &pages),
                     WABOT_OK);
    wabot_ctx_mem_free(env.ctx, text);
    ck_assert_uint_gt(pages, 2);
    for (size_t p = 0; p < pages; p++) {
        ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, "big", NULL, 1600,
                                                 p, &text, NULL),
                         WABOT_OK);
        ck_assert_uint_le(code_points(text), 1600);
        char tail[48];
        snprintf(tail, sizeof tail, "(%zu/%zu)", p + 1, pages);
        ck_assert_ptr_nonnull(strstr(text, tail));
        for (const char *s = text; (s = strstr(s, "Item number")); s++)
            seen++;
        wabot_ctx_mem_free(env.ctx, text);
    }
    ck_assert_uint_eq(seen, 120); /* every product on exactly one page */
}
END_TEST

START_TEST(test_menu_list_fills_an_interactive_list_of_ten_rows)
{
    wabot_out *o = wabot_out_new(env.ctx);
    ck_assert_int_eq(wabot_out_set_to(o, "+15550002222"), WABOT_OK);
    size_t pages = 0;
    ck_assert_int_eq(wabot_catalog_menu_list(env.ctx, ORG, "Food", 0, o,
                                             &pages),
                     WABOT_OK);
    ck_assert_uint_eq(pages, 1);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_OK);
    wabot_out_free(o);
    o = wabot_out_new(env.ctx);
    ck_assert_int_eq(wabot_catalog_menu_list(env.ctx, ORG, "Toys", 0, o,
                                             NULL),
                     WABOT_ERR_NOT_FOUND);
    wabot_out_free(o);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The matcher                                                         */

typedef struct want_line {
    const char *sku; /* the best candidate */
    int64_t qty;
    int ambiguous;
} want_line;

static void expect_match(const char *org, const char *locale,
                         const char *text, const want_line *want, size_t n,
                         const char *unknown)
{
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, org, locale, text, &m),
                     WABOT_OK);
    char *json = wabot_match_json(m);
    ck_assert_msg(wabot_match_line_count(m) == n, "\"%s\": %s", text, json);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(wabot_match_candidate_count(m, i) > 0, "%s", json);
        ck_assert_msg(strcmp(wabot_match_candidate_sku(m, i, 0), want[i].sku) ==
                              0 &&
                          wabot_match_line_quantity(m, i) == want[i].qty &&
                          wabot_match_line_ambiguous(m, i) ==
                              want[i].ambiguous,
                      "\"%s\" line %zu: %s", text, i, json);
    }
    if (unknown) {
        ck_assert_uint_eq(wabot_match_unknown_count(m), 1);
        ck_assert_str_eq(wabot_match_unknown(m, 0), unknown);
    } else {
        ck_assert_msg(wabot_match_unknown_count(m) == 0, "\"%s\": %s", text,
                      json);
    }
    wabot_ctx_mem_free(env.ctx, json);
    wabot_match_free(m);
}

START_TEST(test_match_reads_quantities_and_products_of_the_issue_phrases)
{
    want_line a[] = {{"coke", 2, 0}, {"water", 3, 0}};
    expect_match(SHOP2, NULL, "2 cokes and 3 x water", a, 2, NULL);
    want_line b[] = {{"pizza", 2, 0}, {"coke-zero", 1, 0}};
    expect_match(ORG, NULL, "two pizzas, 1 coke zero", b, 2, NULL);
    want_line c[] = {{"coke", 2, 0}};
    expect_match(SHOP2, NULL, "cokes x2", c, 1, NULL);
    expect_match(SHOP2, NULL, "coke 2", c, 1, NULL);
    want_line d[] = {{"coke", 1, 0}};
    expect_match(ORG, NULL, "1 coca-cola", d, 1, NULL);
    expect_match(ORG, NULL, "Coca Cola", d, 1, NULL);
    expect_match(SHOP2, NULL, "cokke", d, 1, NULL);
    want_line e[] = {{"water", 12, 0}};
    expect_match(ORG, NULL, "a dozen waters please", e, 1, NULL);
    want_line f[] = {{"water", 1, 0}, {"fries", 20, 0}};
    expect_match(ORG, NULL, "ÁGUA + twenty FRIES!", f, 2, NULL);
    want_line g[] = {{"coke", 1, 0}, {"coke-zero", 2, 0}};
    expect_match(ORG, NULL, "an coca-cola & 2x coke zero", g, 2, NULL);
}
END_TEST

START_TEST(test_match_of_a_word_two_products_share_yields_choices)
{
    /* "coke" names Coke and Coke Zero: both are offered, Coke first. */
    want_line a[] = {{"coke", 2, 1}, {"water", 3, 0}};
    expect_match(ORG, NULL, "2 cokes and 3 x water", a, 2, NULL);
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, "cokke", &m),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_match_line_count(m), 1);
    ck_assert_int_eq(wabot_match_line_ambiguous(m, 0), 1);
    ck_assert_uint_eq(wabot_match_candidate_count(m, 0), 2);
    ck_assert_str_eq(wabot_match_candidate_sku(m, 0, 1), "coke-zero");
    ck_assert_int_gt(wabot_match_candidate_score(m, 0, 0),
                     wabot_match_candidate_score(m, 0, 1));
    ck_assert_int_lt(wabot_match_candidate_score(m, 0, 0), 1000); /* typo */
    char *reply = wabot_match_reply_text(m);
    ck_assert_str_eq(reply, "Which \"cokke\" did you mean?\n1. Coke ($1.50)\n"
                            "2. Coke Zero ($1.60)");
    wabot_ctx_mem_free(env.ctx, reply);
    wabot_match_free(m);
}
END_TEST

START_TEST(test_match_reports_unknown_words_with_a_helpful_answer)
{
    want_line a[] = {{"coke", 2, 0}};
    expect_match(SHOP2, NULL, "2 cokes and a unicorn", a, 1, "unicorn");
    /* Inactive products are not sold. */
    expect_match(ORG, NULL, "lemonade", NULL, 0, "lemonade");
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL,
                                         "2 unicorns and a dragon", &m),
                     WABOT_OK);
    char *reply = wabot_match_reply_text(m);
    ck_assert_str_eq(reply, "Sorry, I couldn't find \"unicorns\" and "
                            "\"dragon\" on our menu. Send \"menu\" to see "
                            "what we have.");
    wabot_ctx_mem_free(env.ctx, reply);
    wabot_match_free(m);
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, "please", &m),
                     WABOT_OK);
    reply = wabot_match_reply_text(m);
    ck_assert_ptr_nonnull(strstr(reply, "I didn't see a product"));
    wabot_ctx_mem_free(env.ctx, reply);
    wabot_match_free(m);
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, "1 coke zero",
                                         &m),
                     WABOT_OK);
    reply = wabot_match_reply_text(m);
    ck_assert_str_eq(reply, ""); /* a clean order needs no answer */
    wabot_ctx_mem_free(env.ctx, reply);
    wabot_match_free(m);
}
END_TEST

START_TEST(test_match_reads_spanish_and_portuguese_number_words)
{
    want_line a[] = {{"coke", 2, 0}, {"water", 1, 0}};
    expect_match(ORG, "es", "dos coca colas y una agua por favor", a, 2,
                 NULL);
    want_line b[] = {{"water", 2, 0}, {"pizza", 3, 0}};
    expect_match(ORG, "pt-BR", "duas águas e três pizzas", b, 2, NULL);
    want_line c[] = {{"fries", 12, 0}};
    expect_match(ORG, "pt", "uma dúzia de fries", c, 1, NULL);
    /* English number words are not Spanish ones. */
    want_line d[] = {{"water", 1, 0}};
    expect_match(ORG, "es", "two agua", d, 1, "two");
}
END_TEST

START_TEST(test_match_index_follows_catalog_changes_and_is_reused)
{
    want_line none[] = {{0}};
    (void)none;
    expect_match(ORG, NULL, "sprite", NULL, 0, "sprite");
    int64_t builds = wabot_metrics_counter(env.ctx, "commerce.index_builds");
    for (int i = 0; i < 5; i++)
        expect_match(ORG, NULL, "sprite", NULL, 0, "sprite");
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "commerce.index_builds"),
                     builds); /* no change, no rebuild */
    add_product(ORG, "sprite", "Sprite", NULL, "Drinks", 150, -1, 1);
    want_line s[] = {{"sprite", 1, 0}};
    expect_match(ORG, NULL, "sprite", s, 1, NULL);
    ck_assert_int_eq(wabot_catalog_delete(env.ctx, ORG, "sprite", 0),
                     WABOT_OK);
    expect_match(ORG, NULL, "sprite", NULL, 0, "sprite");
    /* A product made inactive leaves the index too. */
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(env.ctx, ORG, "fries", &p), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_active(p, 0), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_update(env.ctx, ORG, p,
                                          wabot_product_version(p), NULL),
                     WABOT_OK);
    wabot_product_free(p);
    expect_match(ORG, NULL, "fries", NULL, 0, "fries");
}
END_TEST

/* Another process: a second context on the same store and fake clock. */
static wabot_ctx *other_process(void)
{
    wabot_options *o = wabot_options_new();
    wabot_clock k = tu_clock_wabot(&env.clock);
    ck_assert_int_eq(wabot_options_set_storage(o, env.storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    wabot_ctx *other = NULL;
    ck_assert_int_eq(wabot_ctx_new(&other, o), WABOT_OK);
    wabot_options_free(o);
    return other;
}

/* Another process's change (a second context on the same store and fake
 * clock) shows once commerce.index_check_ms has passed; this process's
 * own changes show at once. */
START_TEST(test_match_sees_other_processes_changes_after_the_check_interval)
{
    wabot_ctx *other = other_process();
    expect_match(ORG, NULL, "sprite", NULL, 0, "sprite"); /* index built */
    wabot_product *p = wabot_product_new(other);
    ck_assert_int_eq(wabot_product_set_sku(p, "sprite"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, "Sprite"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, 150, "USD"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_create(other, ORG, p, NULL), WABOT_OK);
    wabot_product_free(p);
    int64_t builds = wabot_metrics_counter(env.ctx, "commerce.index_builds");
    tu_clock_advance(&env.clock, 999);
    expect_match(ORG, NULL, "sprite", NULL, 0, "sprite"); /* trusted */
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "commerce.index_builds"),
                     builds);
    tu_clock_advance(&env.clock, 1);
    want_line s[] = {{"sprite", 1, 0}};
    expect_match(ORG, NULL, "sprite", s, 1, NULL); /* checked, rebuilt */
    wabot_ctx_free(other);
}
END_TEST

/* Menus read the matcher's in-memory snapshot: no storage read, no
 * product decode per menu; this context's own changes show at once, a
 * category menu keeps catalog order, another process's change shows once
 * commerce.index_check_ms has passed. */
static int menu_has(const char *category, const char *name)
{
    char *text = NULL;
    ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, ORG, category, 0, 0,
                                             &text, NULL),
                     WABOT_OK);
    int found = strstr(text, name) != NULL;
    wabot_ctx_mem_free(env.ctx, text);
    return found;
}

START_TEST(test_menus_come_from_the_snapshot_and_follow_changes)
{
    ck_assert(menu_has(NULL, "Coke Zero"));
    int64_t builds = wabot_metrics_counter(env.ctx, "commerce.index_builds");
    for (int i = 0; i < 5; i++) {
        ck_assert(menu_has(NULL, "Pizza"));
        ck_assert(menu_has("Food", "Fries"));
        ck_assert(!menu_has("Food", "Coke"));
    }
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "commerce.index_builds"),
                     builds); /* no change, no catalog read */
    char *text = NULL;
    ck_assert_int_eq(wabot_catalog_menu_text(env.ctx, ORG, "Drinks", 0, 0,
                                             &text, NULL),
                     WABOT_OK);
    ck_assert_str_eq(text, "Our menu\n\xE2\x80\xA2 Coke \xE2\x80\x94 $1.50\n"
                           "\xE2\x80\xA2 Coke Zero \xE2\x80\x94 $1.60\n"
                           "\xE2\x80\xA2 Water \xE2\x80\x94 $1.00");
    wabot_ctx_mem_free(env.ctx, text);
    /* Own changes: at once, whatever the check interval. */
    add_product(ORG, "sprite", "Sprite", NULL, "Drinks", 150, -1, 1);
    ck_assert(menu_has("Drinks", "Sprite"));
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(env.ctx, ORG, "pizza", &p), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_active(p, 0), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_update(env.ctx, ORG, p, 0, NULL),
                     WABOT_OK);
    wabot_product_free(p);
    ck_assert(!menu_has(NULL, "Pizza"));
    wabot_out *out = wabot_out_new(env.ctx);
    size_t pages = 0;
    ck_assert_int_eq(wabot_catalog_menu_list(env.ctx, ORG, "Food", 0, out,
                                             &pages),
                     WABOT_OK);
    ck_assert_uint_eq(pages, 1);
    wabot_out_free(out);

    /* Another process (a second context on the same store and clock). */
    wabot_ctx *other = other_process();
    p = wabot_product_new(other);
    ck_assert_int_eq(wabot_product_set_sku(p, "tea"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, "Iced Tea"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, 250, "USD"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_create(other, ORG, p, NULL), WABOT_OK);
    wabot_product_free(p);
    tu_clock_advance(&env.clock, 999);
    ck_assert(!menu_has(NULL, "Iced Tea")); /* trusted for 1 s */
    tu_clock_advance(&env.clock, 1);
    ck_assert(menu_has(NULL, "Iced Tea")); /* checked, rebuilt */
    wabot_ctx_free(other);
}
END_TEST

START_TEST(test_match_refuses_bad_input)
{
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, NULL, &m),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_catalog_match(env.ctx, "", NULL, "coke", &m),
                     WABOT_ERR_INVAL);
    char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, big, &m),
                     WABOT_ERR_TOO_LARGE);
    /* Malformed UTF-8 separates words and never reaches the output; a
     * cut long word is cut between characters. */
    char text[200];
    snprintf(text, sizeof text, "dos aguas \xfe\xff\xff\xf5" "coca %s",
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x");
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, "es", text, &m),
                     WABOT_OK);
    char *json = wabot_match_json(m);
    json_t *parsed = json_loads(json, 0, NULL);
    ck_assert_msg(parsed != NULL, "%s", json);
    json_decref(parsed);
    wabot_ctx_mem_free(env.ctx, json);
    ck_assert_uint_eq(wabot_match_line_count(m), 2); /* water, coke */
    wabot_match_free(m);
    wabot_product *p = wabot_product_new(env.ctx);
    ck_assert_int_eq(wabot_product_set_name(p, "bad \xc3("), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_product_add_alias(p, "\xed\xa0\x80"),
                     WABOT_ERR_INVAL); /* a surrogate */
    wabot_product_free(p);
    /* Absurd numbers are words, never overflow. */
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL,
                                         "99999999999999999999 coke", &m),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_match_unknown_count(m), 1);
    wabot_match_free(m);
    wabot_match_free(NULL);
}
END_TEST

START_TEST(test_match_reads_every_word_of_a_long_text)
{
    char text[1001] = "";
    size_t n = 0;
    while (strlen(text) + 8 <= 1000) {
        strcat(text, n % 2 ? "2 water," : "1 fries,");
        n++;
    }
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, text, &m),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_match_line_count(m), n); /* none dropped */
    ck_assert_str_eq(wabot_match_candidate_sku(m, n - 1, 0),
                     n % 2 ? "fries" : "water");
    ck_assert_int_eq(wabot_match_line_quantity(m, n - 1), n % 2 ? 1 : 2);
    wabot_match_free(m);
}
END_TEST

typedef struct matcher_thread {
    pthread_t th;
    int failures;
} matcher_thread;

static void *match_loop(void *arg)
{
    matcher_thread *mt = arg;
    for (int i = 0; i < 300; i++) {
        wabot_match *m = NULL;
        if (wabot_catalog_match(env.ctx, ORG, NULL, "2 cokes and a sprite",
                                &m) != WABOT_OK ||
            wabot_match_line_count(m) < 1)
            mt->failures++;
        wabot_match_free(m);
    }
    return NULL;
}

/* Indexes are swapped under readers: every match sees one whole index,
 * old or new (run under ASan and valgrind by make check). */
START_TEST(test_match_runs_concurrently_with_catalog_changes)
{
    matcher_thread mt[4] = {0};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&mt[i].th, NULL, match_loop, &mt[i]),
                         0);
    for (int i = 0; i < 40; i++) {
        add_product(ORG, "sprite", "Sprite", NULL, "Drinks", 150, -1, 1);
        ck_assert_int_eq(wabot_catalog_delete(env.ctx, ORG, "sprite", 0),
                         WABOT_OK);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(mt[i].th, NULL);
        ck_assert_int_eq(mt[i].failures, 0);
    }
    expect_match(ORG, NULL, "sprite", NULL, 0, "sprite");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The cart, through real turns                                        */

typedef int (*turn_fn)(wabot_turn *t);
static turn_fn g_step;
static int g_rc;

static int run_step(wabot_turn *t, void *ud)
{
    (void)ud;
    g_rc = g_step(t);
    return WABOT_OK;
}

static int turn(turn_fn fn)
{
    static int n;
    char id[32];
    snprintf(id, sizeof id, "SM%d", ++n);
    g_step = fn;
    g_rc = 12345;
    wabot_message *m = tu_text(id, "+15550009999", "cart");
    ck_assert_int_eq(wabot_ctx_handle_message(env.ctx, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_ne(g_rc, 12345);
    return g_rc;
}

static void cart_setup(void)
{
    shop_setup();
    ck_assert_int_eq(wabot_route_fallback(env.ctx, NULL, run_step, NULL,
                                          NULL),
                     WABOT_OK);
}

static int add_two_cokes(wabot_turn *t) { return wabot_cart_add(t, "coke", 2); }
static int add_one_coke(wabot_turn *t) { return wabot_cart_add(t, "coke", 1); }
static int add_four_water(wabot_turn *t)
{
    return wabot_cart_add(t, "water", 4);
}
static int add_two_water(wabot_turn *t)
{
    return wabot_cart_add(t, "water", 2);
}
static int add_lemonade(wabot_turn *t)
{
    return wabot_cart_add(t, "lemonade", 1);
}
static int add_unicorn(wabot_turn *t) { return wabot_cart_add(t, "unicorn", 1); }
static int add_zero(wabot_turn *t) { return wabot_cart_add(t, "coke", 0); }
static int add_many(wabot_turn *t) { return wabot_cart_add(t, "coke", 101); }
static int set_coke_five(wabot_turn *t)
{
    return wabot_cart_set_quantity(t, "coke", 5);
}
static int set_coke_zero(wabot_turn *t)
{
    return wabot_cart_set_quantity(t, "coke", 0);
}
static int remove_pizza(wabot_turn *t) { return wabot_cart_remove(t, "pizza"); }
static int clear_cart(wabot_turn *t) { return wabot_cart_clear(t); }

static char g_text[1024];
static int64_t g_total;
static int g_status[8];

static int view(wabot_turn *t)
{
    wabot_cart *c = NULL;
    int rc = wabot_cart_get(t, &c);
    if (rc != WABOT_OK)
        return rc;
    char *text = wabot_cart_text(c);
    snprintf(g_text, sizeof g_text, "%s", text);
    wabot_ctx_mem_free(wabot_turn_ctx(t), text);
    g_total = wabot_cart_total(c);
    for (size_t i = 0; i < wabot_cart_line_count(c) && i < 8; i++)
        g_status[i] = wabot_cart_line_status(c, i);
    wabot_cart_free(c);
    return WABOT_OK;
}

START_TEST(test_cart_adds_checks_and_prices_lines_with_totals)
{
    ck_assert_int_eq(turn(view), WABOT_OK);
    ck_assert_str_eq(g_text, "Your cart is empty.");
    ck_assert_int_eq(turn(add_two_cokes), WABOT_OK);
    ck_assert_int_eq(turn(add_one_coke), WABOT_OK);
    ck_assert_int_eq(turn(add_four_water), WABOT_OK);
    /* Stock 5: four in the cart, two more do not fit. */
    ck_assert_int_eq(turn(add_two_water), WABOT_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "in stock"));
    ck_assert_int_eq(turn(add_lemonade), WABOT_ERR_STATE);
    ck_assert_int_eq(turn(add_unicorn), WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(turn(add_zero), WABOT_ERR_INVAL);
    ck_assert_int_eq(turn(add_many), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(turn(view), WABOT_OK);
    ck_assert_str_eq(g_text, "Your cart:\n3 \xC3\x97 Coke \xE2\x80\x94 $4.50\n"
                             "4 \xC3\x97 Water \xE2\x80\x94 $4.00\nTotal: "
                             "$8.50");
    ck_assert_int_eq(g_total, 850);
    ck_assert_int_eq(turn(set_coke_five), WABOT_OK);
    ck_assert_int_eq(turn(remove_pizza), WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(turn(view), WABOT_OK);
    ck_assert_int_eq(g_total, 1150);
    ck_assert_int_eq(turn(set_coke_zero), WABOT_OK);
    ck_assert_int_eq(turn(view), WABOT_OK);
    ck_assert_int_eq(g_total, 400);
    ck_assert_int_eq(turn(clear_cart), WABOT_OK);
    ck_assert_int_eq(turn(view), WABOT_OK);
    ck_assert_str_eq(g_text, "Your cart is empty.");
    /* The cart lives in the conversation's session. */
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(env.ctx, ORG, "+15550009999", &c),
                     WABOT_OK);
    ck_assert_ptr_nonnull(strstr(wabot_conversation_session(c), "\"cart\""));
    wabot_conversation_free(c);
}
END_TEST

START_TEST(test_cart_reports_a_product_deleted_while_in_it)
{
    ck_assert_int_eq(turn(add_two_cokes), WABOT_OK);
    ck_assert_int_eq(turn(add_two_water), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_delete(env.ctx, ORG, "coke", 0), WABOT_OK);
    ck_assert_int_eq(turn(view), WABOT_OK);
    ck_assert_int_eq(g_status[0], WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(g_status[1], WABOT_OK);
    ck_assert_int_eq(g_total, 200);
    ck_assert_str_eq(g_text, "Your cart:\n2 \xC3\x97 coke (no longer "
                             "available)\n2 \xC3\x97 Water \xE2\x80\x94 "
                             "$2.00\nTotal: $2.00");
}
END_TEST

static int reply_choices_and_menu(wabot_turn *t)
{
    wabot_ctx *ctx = wabot_turn_ctx(t);
    wabot_match *m = NULL;
    int rc = wabot_catalog_match(ctx, ORG, NULL, "3 cokke", &m);
    wabot_out *o = wabot_out_new(ctx);
    if (rc == WABOT_OK)
        rc = wabot_match_choices_out(m, 0, o);
    if (rc == WABOT_OK)
        rc = wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    wabot_match_free(m);
    o = wabot_out_new(ctx);
    if (rc == WABOT_OK)
        rc = wabot_catalog_menu_list(ctx, ORG, NULL, 0, o, NULL);
    if (rc == WABOT_OK)
        rc = wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    return rc;
}

START_TEST(test_choices_and_menu_list_reach_the_customer_as_interactive_messages)
{
    ck_assert_int_eq(turn(reply_choices_and_menu), WABOT_OK);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_transport_recorder_count(env.rec), 2);
    const wabot_outbound *b = wabot_transport_recorder_get(env.rec, 0);
    ck_assert_str_eq(wabot_out_kind_name(wabot_outbound_kind(b)),
                     "buttons");
    ck_assert_str_eq(wabot_outbound_text(b), "Which \"cokke\" did you mean?");
    ck_assert_uint_eq(wabot_outbound_option_count(b), 2);
    ck_assert_str_eq(wabot_outbound_option_id(b, 0), "pick:3:coke");
    ck_assert_str_eq(wabot_outbound_option_title(b, 1), "Coke Zero");
    const wabot_outbound *l = wabot_transport_recorder_get(env.rec, 1);
    ck_assert_str_eq(wabot_out_kind_name(wabot_outbound_kind(l)), "list");
    ck_assert_uint_eq(wabot_outbound_option_count(l), 5);
    ck_assert_str_eq(wabot_outbound_option_id(l, 3), "product:pizza");
    ck_assert_str_eq(wabot_outbound_option_title(l, 3), "Pizza Margherita");
    ck_assert_str_eq(wabot_outbound_option_description(l, 3), "$9.00");
    /* A clear line has no choices. */
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, "water", &m),
                     WABOT_OK);
    wabot_out *o = wabot_out_new(env.ctx);
    ck_assert_int_eq(wabot_match_choices_out(m, 0, o), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_match_choices_out(m, 1, o), WABOT_ERR_INVAL);
    wabot_out_free(o);
    wabot_match_free(m);
}
END_TEST

START_TEST(test_stats_count_products_matches_and_cart_adds)
{
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(env.ctx, ORG, NULL, "coke and a yak",
                                         &m),
                     WABOT_OK);
    wabot_match_free(m);
    char *json = NULL;
    ck_assert_int_eq(wabot_commerce_stats_json(env.ctx, ORG, &json),
                     WABOT_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"products\":6,\"active\":5,"
                                       "\"categories\":2"));
    ck_assert_ptr_nonnull(strstr(json, "\"matches\":1,\"unknown_words\":1,"
                                       "\"ambiguous_lines\":1"));
    wabot_ctx_mem_free(env.ctx, json);
    char *prom = wabot_metrics_prometheus(env.ctx);
    ck_assert_ptr_nonnull(
        strstr(prom, "wabot_commerce_products{org=\"default\"} 6"));
    wabot_ctx_mem_free(env.ctx, prom);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("commerce");
    TCase *tc = tcase_create("money");
    tcase_add_test(tc, test_money_formats_minor_units_by_the_currency_exponent);
    tcase_add_test(tc, test_money_parses_decimals_up_to_the_exponent);
    tcase_add_test(tc, test_money_arithmetic_refuses_to_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("catalog");
    tcase_add_checked_fixture(tc, shop_setup, shop_teardown);
    tcase_add_test(tc,
                   test_product_setters_refuse_bad_values_and_keep_the_old_one);
    tcase_add_test(tc, test_import_reports_every_bad_row_and_writes_nothing);
    tcase_add_test(tc, test_import_refuses_what_is_not_a_list_of_products);
    tcase_add_test(tc, test_export_then_import_recreates_the_catalog);
    tcase_add_test(tc,
                   test_menu_text_groups_by_category_and_hides_inactive_products);
    tcase_add_test(tc, test_long_menu_becomes_pages_within_the_limit);
    tcase_add_test(tc, test_menu_list_fills_an_interactive_list_of_ten_rows);
    tcase_add_test(tc, test_stats_count_products_matches_and_cart_adds);
    suite_add_tcase(s, tc);

    tc = tcase_create("matcher");
    tcase_add_checked_fixture(tc, shop_setup, shop_teardown);
    tcase_add_test(tc,
                   test_match_reads_quantities_and_products_of_the_issue_phrases);
    tcase_add_test(tc, test_match_of_a_word_two_products_share_yields_choices);
    tcase_add_test(tc, test_match_reports_unknown_words_with_a_helpful_answer);
    tcase_add_test(tc, test_match_reads_spanish_and_portuguese_number_words);
    tcase_add_test(tc, test_match_index_follows_catalog_changes_and_is_reused);
    tcase_add_test(tc, test_match_refuses_bad_input);
    tcase_add_test(
        tc, test_match_sees_other_processes_changes_after_the_check_interval);
    tcase_add_test(tc, test_menus_come_from_the_snapshot_and_follow_changes);
    tcase_add_test(tc, test_match_reads_every_word_of_a_long_text);
    tcase_add_test(tc, test_match_runs_concurrently_with_catalog_changes);
    suite_add_tcase(s, tc);

    tc = tcase_create("cart");
    tcase_add_checked_fixture(tc, cart_setup, shop_teardown);
    tcase_add_test(tc, test_cart_adds_checks_and_prices_lines_with_totals);
    tcase_add_test(tc, test_cart_reports_a_product_deleted_while_in_it);
    tcase_add_test(
        tc, test_choices_and_menu_list_reach_the_customer_as_interactive_messages);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
