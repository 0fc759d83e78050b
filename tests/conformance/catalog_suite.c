/* The catalog conformance suite (catalog_suite.h). Each test gets a fresh
 * store and a context on it; the tests that stand for two processes put a
 * second context on the same store. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_suite.h"
#include "testutil.h"

static wb_catalog_backend g_backend;
static wabot_storage *g_store;
static wabot_ctx *g_ctx;

#define ORG "acme"

/* check_ms: the option commerce.index_check_ms ("0": every match). */
static wabot_ctx *ctx_on_store(const char *check_ms)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_options_set_storage(o, g_store), WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "commerce.index_check_ms",
                                       check_ms),
                     WABOT_OK);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    return ctx;
}

static void setup(void)
{
    g_store = g_backend.create(g_backend.ud);
    ck_assert_ptr_nonnull(g_store);
    g_ctx = ctx_on_store("1s");
}

static void teardown(void)
{
    wabot_ctx_free(g_ctx);
    g_backend.destroy(g_store, g_backend.ud);
    g_ctx = NULL;
    g_store = NULL;
}

static wabot_product *product(wabot_ctx *ctx, const char *sku,
                              const char *name, const char *category,
                              int64_t price)
{
    wabot_product *p = wabot_product_new(ctx);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(wabot_product_set_sku(p, sku), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, name), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_category(p, category), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, price, "EUR"), WABOT_OK);
    return p;
}

static void create(const char *sku, const char *name, const char *category,
                   int64_t price)
{
    wabot_product *p = product(g_ctx, sku, name, category, price);
    ck_assert_int_eq(wabot_catalog_create(g_ctx, ORG, p, NULL), WABOT_OK);
    wabot_product_free(p);
}

static int64_t count(void)
{
    int64_t n = -1;
    ck_assert_int_eq(wabot_catalog_count(g_ctx, ORG, &n), WABOT_OK);
    return n;
}

START_TEST(test_catalog_stores_every_field_and_reads_it_back)
{
    wabot_product *p = product(g_ctx, "tea-1", "Green Tea", "Hot drinks",
                               250);
    ck_assert_int_eq(wabot_product_add_alias(p, "chá verde"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_description(p, "Sencha, 300 ml"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_product_set_stock(p, 40), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_image_url(p, "https://x.test/t.png"),
                     WABOT_OK);
    uint64_t v = 0;
    ck_assert_int_eq(wabot_catalog_create(g_ctx, ORG, p, &v), WABOT_OK);
    ck_assert_uint_gt(v, 0);
    wabot_product_free(p);
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "tea-1", &p), WABOT_OK);
    ck_assert_str_eq(wabot_product_name(p), "Green Tea");
    ck_assert_uint_eq(wabot_product_alias_count(p), 1);
    ck_assert_str_eq(wabot_product_alias(p, 0), "chá verde");
    ck_assert_str_eq(wabot_product_description(p), "Sencha, 300 ml");
    ck_assert_str_eq(wabot_product_category(p), "Hot drinks");
    ck_assert_int_eq(wabot_product_price(p), 250);
    ck_assert_str_eq(wabot_product_currency(p), "EUR");
    ck_assert_int_eq(wabot_product_stock(p), 40);
    ck_assert_int_eq(wabot_product_active(p), 1);
    ck_assert_str_eq(wabot_product_image_url(p), "https://x.test/t.png");
    ck_assert_uint_eq(wabot_product_version(p), v);
    wabot_product_free(p);
    ck_assert_int_eq(count(), 1);
    /* Organisations do not see each other's catalogs. */
    ck_assert_int_eq(wabot_catalog_get(g_ctx, "other", "tea-1", &p),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_catalog_sku_is_unique_per_organisation)
{
    create("a", "A", NULL, 1);
    wabot_product *p = product(g_ctx, "a", "Another A", NULL, 2);
    ck_assert_int_eq(wabot_catalog_create(g_ctx, ORG, p, NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_catalog_create(g_ctx, "other", p, NULL), WABOT_OK);
    wabot_product_free(p);
    ck_assert_int_eq(count(), 1);
}
END_TEST

START_TEST(test_catalog_update_is_compare_and_set_on_the_version)
{
    create("a", "A", "X", 100);
    wabot_product *p = NULL, *q = NULL;
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "a", &p), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "a", &q), WABOT_OK);
    uint64_t v0 = wabot_product_version(p), v1 = 0;
    ck_assert_int_eq(wabot_product_set_price(p, 120, "EUR"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_update(g_ctx, ORG, p, v0, &v1), WABOT_OK);
    ck_assert_uint_gt(v1, v0);
    /* q was read before p's write: its version is stale. */
    ck_assert_int_eq(wabot_product_set_price(q, 90, "EUR"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_update(g_ctx, ORG, q,
                                          wabot_product_version(q), NULL),
                     WABOT_ERR_CONFLICT);
    /* 0: whatever is stored. */
    ck_assert_int_eq(wabot_catalog_update(g_ctx, ORG, q, 0, NULL), WABOT_OK);
    wabot_product_free(p);
    wabot_product_free(q);
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "a", &p), WABOT_OK);
    ck_assert_int_eq(wabot_product_price(p), 90);
    wabot_product_free(p);
    p = product(g_ctx, "ghost", "Ghost", NULL, 1);
    ck_assert_int_eq(wabot_catalog_update(g_ctx, ORG, p, 0, NULL),
                     WABOT_ERR_NOT_FOUND);
    wabot_product_free(p);
    ck_assert_int_eq(count(), 1);
}
END_TEST

START_TEST(test_catalog_delete_checks_the_version_and_updates_indexes)
{
    create("a", "A", "X", 1);
    create("b", "B", "X", 1);
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "a", &p), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_delete(g_ctx, ORG, "a",
                                          wabot_product_version(p) + 1000),
                     WABOT_ERR_CONFLICT);
    ck_assert_int_eq(wabot_catalog_delete(g_ctx, ORG, "a",
                                          wabot_product_version(p)),
                     WABOT_OK);
    wabot_product_free(p);
    ck_assert_int_eq(wabot_catalog_delete(g_ctx, ORG, "a", 0),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(count(), 1);
    wabot_product_list *l = NULL;
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "X", 0, NULL, 10, &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 1);
    ck_assert_str_eq(wabot_product_sku(wabot_product_list_at(l, 0)), "b");
    wabot_product_list_free(l);
    /* A recreated sku starts a new life at the end of the order. */
    create("a", "A again", "X", 1);
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, NULL, 0, "0", 10, &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 2);
    ck_assert_str_eq(wabot_product_sku(wabot_product_list_at(l, 1)), "a");
    wabot_product_list_free(l);
}
END_TEST

START_TEST(test_catalog_list_pages_in_creation_order_with_a_cursor)
{
    char sku[16];
    for (int i = 0; i < 25; i++) {
        snprintf(sku, sizeof sku, "p%02d", i);
        create(sku, sku, i % 2 ? "odd" : "even", i);
    }
    const char *cursor = "0";
    char next[32];
    int seen = 0;
    size_t pages = 0;
    do {
        wabot_product_list *l = NULL;
        ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, NULL, 0, cursor, 10,
                                            &l),
                         WABOT_OK);
        for (size_t i = 0; i < wabot_product_list_count(l); i++) {
            snprintf(sku, sizeof sku, "p%02d", seen++);
            ck_assert_str_eq(wabot_product_sku(wabot_product_list_at(l, i)),
                             sku);
        }
        snprintf(next, sizeof next, "%s", wabot_product_list_cursor(l));
        cursor = next;
        wabot_product_list_free(l);
        pages++;
    } while (strcmp(cursor, "0") != 0);
    ck_assert_int_eq(seen, 25);
    ck_assert_uint_eq(pages, 3);
    /* By category. */
    wabot_product_list *l = NULL;
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "odd", 0, NULL, 100, &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 12);
    ck_assert_str_eq(wabot_product_list_cursor(l), "0");
    wabot_product_list_free(l);
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, NULL, 0, "nope", 10, &l),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, NULL, 0, NULL, 0, &l),
                     WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_catalog_list_active_only_skips_inactive_products)
{
    char sku[16];
    for (int i = 0; i < 12; i++) {
        snprintf(sku, sizeof sku, "p%02d", i);
        wabot_product *p = product(g_ctx, sku, sku, "c", i);
        ck_assert_int_eq(wabot_product_set_active(p, i % 3 == 0), WABOT_OK);
        ck_assert_int_eq(wabot_catalog_create(g_ctx, ORG, p, NULL), WABOT_OK);
        wabot_product_free(p);
    }
    wabot_product_list *l = NULL;
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "c",
                                        WABOT_CATALOG_ACTIVE_ONLY, NULL, 3,
                                        &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 3);
    ck_assert_str_eq(wabot_product_sku(wabot_product_list_at(l, 2)), "p06");
    char next[32];
    snprintf(next, sizeof next, "%s", wabot_product_list_cursor(l));
    wabot_product_list_free(l);
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "c",
                                        WABOT_CATALOG_ACTIVE_ONLY, next, 3,
                                        &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 1);
    ck_assert_str_eq(wabot_product_sku(wabot_product_list_at(l, 0)), "p09");
    ck_assert_str_eq(wabot_product_list_cursor(l), "0");
    wabot_product_list_free(l);
}
END_TEST

START_TEST(test_catalog_update_moves_a_product_between_categories)
{
    create("a", "A", "Old", 1);
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "a", &p), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_category(p, "New"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_update(g_ctx, ORG, p, 0, NULL), WABOT_OK);
    wabot_product_free(p);
    wabot_product_list *l = NULL;
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "Old", 0, NULL, 10, &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 0);
    wabot_product_list_free(l);
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "New", 0, NULL, 10, &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 1);
    wabot_product_list_free(l);
}
END_TEST

START_TEST(test_catalog_import_of_many_rows_spans_transactions)
{
    char *doc = malloc(64 * 1024);
    size_t o = 0;
    o += (size_t)sprintf(doc + o, "{\"products\":[");
    for (int i = 0; i < 60; i++)
        o += (size_t)sprintf(doc + o,
                             "%s{\"sku\":\"s%02d\",\"name\":\"Item %d\","
                             "\"price\":%d,\"currency\":\"JPY\","
                             "\"category\":\"c%d\"}",
                             i ? "," : "", i, i, 100 + i, i % 4);
    o += (size_t)sprintf(doc + o, "]}");
    wabot_import_report *r = NULL;
    ck_assert_int_eq(wabot_catalog_import(g_ctx, ORG, doc, o, 0, &r),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_import_report_written(r), 60);
    ck_assert_uint_eq(wabot_import_report_error_count(r), 0);
    wabot_import_report_free(r);
    free(doc);
    ck_assert_int_eq(count(), 60);
    wabot_product_list *l = NULL;
    ck_assert_int_eq(wabot_catalog_list(g_ctx, ORG, "c3", 0, NULL, 100, &l),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_product_list_count(l), 15);
    ck_assert_str_eq(wabot_product_sku(wabot_product_list_at(l, 0)), "s03");
    wabot_product_list_free(l);
}
END_TEST

/* Two contexts on one store stand for two processes: a change made by
 * one reaches the other's matcher index (checked on every match here; the
 * delay of the default check interval is a unit test on the fake clock). */
START_TEST(test_catalog_change_in_one_context_reaches_another_matcher)
{
    wabot_ctx *other = ctx_on_store("0");
    create("cola", "Cola", NULL, 200);
    wabot_match *m = NULL;
    ck_assert_int_eq(wabot_catalog_match(other, ORG, NULL, "2 colas", &m),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_match_line_count(m), 1);
    ck_assert_int_eq(wabot_match_line_quantity(m, 0), 2);
    wabot_match_free(m);
    create("lime", "Lime Soda", NULL, 200);
    ck_assert_int_eq(wabot_catalog_delete(g_ctx, ORG, "cola", 0), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_match(other, ORG, NULL, "cola and lime",
                                         &m),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_match_line_count(m), 1);
    ck_assert_str_eq(wabot_match_candidate_sku(m, 0, 0), "lime");
    ck_assert_uint_eq(wabot_match_unknown_count(m), 1);
    wabot_match_free(m);
    wabot_ctx_free(other);
}
END_TEST

typedef struct racer {
    pthread_t th;
    uint64_t expected;
    int rc;
    int id;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    wabot_product *p = product(g_ctx, "hot", "Hot", NULL, 100 + r->id);
    r->rc = wabot_catalog_update(g_ctx, ORG, p, r->expected, NULL);
    wabot_product_free(p);
    return NULL;
}

START_TEST(test_catalog_concurrent_updates_of_one_version_let_one_win)
{
    create("hot", "Hot", NULL, 100);
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(g_ctx, ORG, "hot", &p), WABOT_OK);
    racer rs[8];
    for (int i = 0; i < 8; i++) {
        rs[i] = (racer){.expected = wabot_product_version(p), .id = i};
        ck_assert_int_eq(pthread_create(&rs[i].th, NULL, race, &rs[i]), 0);
    }
    int won = 0, lost = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(rs[i].th, NULL);
        won += rs[i].rc == WABOT_OK;
        lost += rs[i].rc == WABOT_ERR_CONFLICT;
    }
    wabot_product_free(p);
    ck_assert_int_eq(won, 1);
    ck_assert_int_eq(lost, 7);
    ck_assert_int_eq(count(), 1);
}
END_TEST

TCase *wb_catalog_conformance_tcase(const wb_catalog_backend *b)
{
    g_backend = *b;
    static char name[64]; /* Check keeps the pointer */
    snprintf(name, sizeof name, "catalog:%s", b->name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_catalog_stores_every_field_and_reads_it_back);
    tcase_add_test(tc, test_catalog_sku_is_unique_per_organisation);
    tcase_add_test(tc, test_catalog_update_is_compare_and_set_on_the_version);
    tcase_add_test(tc,
                   test_catalog_delete_checks_the_version_and_updates_indexes);
    tcase_add_test(tc, test_catalog_list_pages_in_creation_order_with_a_cursor);
    tcase_add_test(tc, test_catalog_list_active_only_skips_inactive_products);
    tcase_add_test(tc, test_catalog_update_moves_a_product_between_categories);
    tcase_add_test(tc, test_catalog_import_of_many_rows_spans_transactions);
    tcase_add_test(tc,
                   test_catalog_change_in_one_context_reaches_another_matcher);
    tcase_add_test(tc,
                   test_catalog_concurrent_updates_of_one_version_let_one_win);
    return tc;
}
