/* Orders (include/wabot/order.h): creation priced at order time, bad
 * input, idempotent keys, the lifecycle, stock taken at confirmation and
 * given back on cancel, the order-processing worker (confirmation, invoice,
 * notifications, out of stock), lists, counts and stats, and 8 threads
 * confirming orders on a product with stock 100. Test 'orders' runs on the
 * memory backend; 'orders-redis' (-DORDERS_REDIS) runs the same cases on a
 * real redis-server started by the test. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wabot/commerce.h"
#include "wabot/invoice.h"
#include "wabot/order.h"

#define ORG "default"
#define CUSTOMER "+15550001234"

static tu_env env;

#ifdef ORDERS_REDIS
#include "redis_harness.h"
#include "wabot/redis.h"

static rh_server g_srv;
static wabot_redis *g_redis;

static void env_init(tu_env *e, wabot_options *o)
{
    ck_assert_int_eq(rh_cli(&g_srv, "FLUSHALL", NULL, 0), 0);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.pool_size = 8;
    const char *err = NULL;
    g_redis = wabot_redis_new(&cfg, &err);
    ck_assert_msg(g_redis != NULL, "wabot_redis_new: %s", err ? err : "?");
    tu_clock_init(&e->clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&e->clock);
    e->storage = wabot_storage_redis_new(g_redis);
    e->rec = wabot_recorder_new();
    ck_assert_ptr_nonnull(e->storage);
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(o, e->storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_transport(o, e->rec), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&e->ctx, o), WABOT_OK);
}

static void env_free(tu_env *e)
{
    tu_env_free(e);
    wabot_redis_free(g_redis);
    g_redis = NULL;
}
#else
#define env_init tu_env_init_opts
#define env_free tu_env_free
#endif

static void add_product(const char *sku, const char *name, int64_t price,
                        const char *cur, int64_t stock, int active)
{
    wabot_product *p = wabot_product_new(env.ctx);
    ck_assert_int_eq(wabot_product_set_sku(p, sku), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, name), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, price, cur), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_stock(p, stock), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_active(p, active), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_create(env.ctx, ORG, p, NULL), WABOT_OK);
    wabot_product_free(p);
}

static void setup(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "window_ms", "0"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "commerce.max_quantity", "1000000"),
                     WABOT_OK);
    env_init(&env, o);
    wabot_options_free(o);
    add_product("coke", "Coke", 150, "USD", -1, 1);
    add_product("water", "Water", 100, "USD", 5, 1);
    add_product("gold", "Gold bar", INT64_C(1000000000000000), "USD", -1, 1);
    add_product("old", "Old soda", 90, "USD", -1, 0);
    add_product("tea", "Tea", 500, "EUR", -1, 1);
    add_product("widget", "Widget", 10, "USD", 100, 1);
}

static void teardown(void)
{
    env_free(&env);
}

/* ---- helpers -------------------------------------------------------- */

static char *create(const char *lines, const char *key)
{
    char *id = NULL;
    int rc = wabot_order_create(env.ctx, ORG, CUSTOMER, lines, key, &id);
    ck_assert_msg(rc == WABOT_OK, "create: %s", wabot_ctx_errmsg(env.ctx));
    char *copy = strdup(id);
    wabot_ctx_mem_free(env.ctx, id);
    return copy;
}

static json_t *order(const char *id)
{
    char *text = NULL;
    ck_assert_int_eq(wabot_order_get(env.ctx, ORG, id, &text), WABOT_OK);
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    wabot_ctx_mem_free(env.ctx, text);
    return j;
}

static const char *status_of(json_t *o)
{
    return json_string_value(json_object_get(o, "status"));
}

static int64_t stock_of(const char *sku)
{
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(env.ctx, ORG, sku, &p), WABOT_OK);
    int64_t s = wabot_product_stock(p);
    wabot_product_free(p);
    return s;
}

static void set_price(const char *sku, int64_t price)
{
    wabot_product *p = NULL;
    ck_assert_int_eq(wabot_catalog_get(env.ctx, ORG, sku, &p), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, price, "USD"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_update(env.ctx, ORG, p, 0, NULL), WABOT_OK);
    wabot_product_free(p);
}

/* The texts the recorder transport sent, joined with "\n---\n". */
static void sent_texts(char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < wabot_transport_recorder_count(env.rec); i++) {
        const wabot_outbound *o = wabot_transport_recorder_get(env.rec, i);
        const char *t = wabot_outbound_text(o);
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", i ? "\n---\n" : "",
                 t ? t : "");
    }
}

/* ---- creation ------------------------------------------------------- */

START_TEST(test_order_copies_lines_and_prices_at_order_time)
{
    char *id = create("[{\"sku\":\"coke\",\"quantity\":2},"
                      "{\"sku\":\"water\",\"quantity\":3}]",
                      NULL);
    ck_assert_str_eq(id, "ORD-000001");
    set_price("coke", 999); /* later price changes do not touch the order */
    json_t *o = order(id);
    ck_assert_str_eq(status_of(o), "pending");
    ck_assert_str_eq(json_string_value(json_object_get(o, "customer")),
                     CUSTOMER);
    ck_assert_str_eq(json_string_value(json_object_get(o, "currency")),
                     "USD");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total_minor")),
                     600);
    json_t *l0 = json_array_get(json_object_get(o, "lines"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(l0, "name")), "Coke");
    ck_assert_int_eq(json_integer_value(json_object_get(l0, "unit_minor")),
                     150);
    ck_assert_int_eq(json_integer_value(json_object_get(l0, "total_minor")),
                     300);
    json_decref(o);
    char *id2 = create("[{\"sku\":\"coke\",\"quantity\":1}]", NULL);
    ck_assert_str_eq(id2, "ORD-000002");
    free(id);
    free(id2);
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "orders.created"), 2);
}
END_TEST

static int try_create(const char *lines)
{
    char *id = NULL;
    int rc = wabot_order_create(env.ctx, ORG, CUSTOMER, lines, NULL, &id);
    ck_assert_ptr_null(id);
    return rc;
}

START_TEST(test_bad_lines_get_clear_statuses_and_no_order)
{
    ck_assert_int_eq(try_create("[{\"sku\":\"unicorn\",\"quantity\":1}]"),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "unicorn"));
    ck_assert_int_eq(try_create("[{\"sku\":\"old\",\"quantity\":1}]"),
                     WABOT_ERR_STATE);
    ck_assert_int_eq(try_create("[{\"sku\":\"coke\",\"quantity\":0}]"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(try_create("[{\"sku\":\"coke\",\"quantity\":-3}]"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(try_create("[{\"sku\":\"coke\",\"quantity\":\"2\"}]"),
                     WABOT_ERR_INVAL);
    /* 10,000 x 10^15 minor units leaves int64. */
    ck_assert_int_eq(try_create("[{\"sku\":\"gold\",\"quantity\":10000}]"),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx), "int64"));
    ck_assert_int_eq(try_create("[{\"sku\":\"water\",\"quantity\":6}]"),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(try_create("[{\"sku\":\"coke\",\"quantity\":1},"
                                "{\"sku\":\"tea\",\"quantity\":1}]"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(try_create("[{\"sku\":\"coke\",\"quantity\":1},"
                                "{\"sku\":\"coke\",\"quantity\":1}]"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(try_create("[]"), WABOT_ERR_INVAL);
    ck_assert_int_eq(try_create("{\"sku\":\"coke\"}"), WABOT_ERR_PARSE);
    ck_assert_int_eq(try_create("not json"), WABOT_ERR_PARSE);
    char *id = NULL;
    ck_assert_int_eq(wabot_order_create(env.ctx, ORG, "",
                                        "[{\"sku\":\"coke\",\"quantity\":1}]",
                                        NULL, &id),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_order_create(env.ctx, "a{b}",
                                        CUSTOMER,
                                        "[{\"sku\":\"coke\",\"quantity\":1}]",
                                        NULL, &id),
                     WABOT_ERR_INVAL);
    int64_t counts[WABOT_ORDER_STATUS_COUNT];
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, counts,
                                        WABOT_ORDER_STATUS_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(counts[0], 0);
}
END_TEST

START_TEST(test_a_key_placed_twice_gives_the_first_order)
{
    char *id = create("[{\"sku\":\"coke\",\"quantity\":2}]", "SM42");
    char *again = NULL;
    ck_assert_int_eq(wabot_order_create(env.ctx, ORG, CUSTOMER,
                                        "[{\"sku\":\"water\",\"quantity\":1}]",
                                        "SM42", &again),
                     WABOT_ERR_EXISTS);
    ck_assert_str_eq(again, id);
    wabot_ctx_mem_free(env.ctx, again);
    int64_t counts[1];
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, counts, 1), WABOT_OK);
    ck_assert_int_eq(counts[0], 1);
    free(id);
}
END_TEST

/* ---- lifecycle and stock --------------------------------------------- */

START_TEST(test_lifecycle_allows_only_the_listed_changes)
{
    char *id = create("[{\"sku\":\"coke\",\"quantity\":1}]", NULL);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_FULFILLED),
                     WABOT_ERR_STATE);
    ck_assert_str_eq(wabot_ctx_errmsg(env.ctx),
                     "order ORD-000001 cannot go from pending to fulfilled");
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_OK);
    /* The same status again is harmless. */
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_PENDING),
                     WABOT_ERR_STATE);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_PROCESSING),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_FULFILLED),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_cancel(env.ctx, ORG, id), WABOT_ERR_STATE);
    ck_assert_str_eq(wabot_ctx_errmsg(env.ctx),
                     "order ORD-000001 cannot go from fulfilled to cancelled");
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, "ORD-999999",
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id, 9),
                     WABOT_ERR_INVAL);
    free(id);
    ck_assert_str_eq(wabot_order_status_name(WABOT_ORDER_PROCESSING),
                     "processing");
    ck_assert_str_eq(wabot_order_status_name(77), "unknown");
}
END_TEST

START_TEST(test_confirming_takes_stock_and_cancelling_gives_it_back)
{
    char *a = create("[{\"sku\":\"water\",\"quantity\":3},"
                     "{\"sku\":\"coke\",\"quantity\":1}]", NULL);
    char *b = create("[{\"sku\":\"water\",\"quantity\":3}]", NULL);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, a,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_OK);
    ck_assert_int_eq(stock_of("water"), 2);
    ck_assert_int_eq(stock_of("coke"), -1); /* unlimited stays unlimited */
    /* Both were placed while 5 were left; only one fits. */
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, b,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(env.ctx),
                                 "not enough Water in stock"));
    json_t *o = order(b);
    ck_assert_str_eq(status_of(o), "pending");
    json_decref(o);
    ck_assert_int_eq(wabot_order_cancel(env.ctx, ORG, a), WABOT_OK);
    ck_assert_int_eq(stock_of("water"), 5);
    /* A pending order took nothing, so cancelling it gives nothing back. */
    ck_assert_int_eq(wabot_order_cancel(env.ctx, ORG, b), WABOT_OK);
    ck_assert_int_eq(stock_of("water"), 5);
    free(a);
    free(b);
}
END_TEST

/* ---- the worker ------------------------------------------------------ */

START_TEST(test_worker_confirms_queues_the_invoice_and_tells_the_customer)
{
    char *id = create("[{\"sku\":\"coke\",\"quantity\":2}]", NULL);
    ck_assert_int_eq(wabot_order_confirm(env.ctx, ORG, id), WABOT_OK);
    ck_assert_int_eq(wabot_order_confirm(env.ctx, ORG, id), WABOT_ERR_EXISTS);
    for (int i = 0; i < 4; i++)
        tu_drain(env.ctx);
    json_t *o = order(id);
    ck_assert_str_eq(status_of(o), "processing");
    json_decref(o);
    /* One invoice under the order's id. */
    char *list = NULL;
    ck_assert_int_eq(wabot_invoice_list(env.ctx, ORG, CUSTOMER, 0, 0, 10,
                                        &list),
                     WABOT_OK);
    json_t *j = json_loads(list, 0, NULL);
    wabot_ctx_mem_free(env.ctx, list);
    json_t *invs = json_object_get(j, "invoices");
    ck_assert_uint_eq(json_array_size(invs), 1);
    json_t *inv = json_array_get(invs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(inv, "key")), id);
    ck_assert_int_eq(json_integer_value(json_object_get(inv, "total_minor")),
                     300);
    json_decref(j);
    char texts[4096];
    sent_texts(texts, sizeof texts);
    ck_assert_msg(strstr(texts, "Order ORD-000001 is confirmed: 2 \xC3\x97 "
                                "Coke. Total $3.00. Your invoice follows.") !=
                      NULL,
                  "%s", texts);
    ck_assert_msg(strstr(texts, "Invoice") != NULL, "%s", texts);
    /* Confirmed once: a second confirmation is refused, nothing more sent. */
    size_t sent = wabot_transport_recorder_count(env.rec);
    ck_assert_int_eq(wabot_order_confirm(env.ctx, ORG, id), WABOT_ERR_STATE);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_transport_recorder_count(env.rec), sent);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, id,
                                            WABOT_ORDER_FULFILLED),
                     WABOT_OK);
    tu_drain(env.ctx);
    sent_texts(texts, sizeof texts);
    ck_assert_msg(strstr(texts, "Order ORD-000001 is on its way.") != NULL,
                  "%s", texts);
    free(id);
}
END_TEST

START_TEST(test_worker_cancels_an_order_the_stock_no_longer_covers)
{
    char *a = create("[{\"sku\":\"water\",\"quantity\":4}]", NULL);
    char *b = create("[{\"sku\":\"water\",\"quantity\":4}]", NULL);
    ck_assert_int_eq(wabot_order_confirm(env.ctx, ORG, a), WABOT_OK);
    ck_assert_int_eq(wabot_order_confirm(env.ctx, ORG, b), WABOT_OK);
    for (int i = 0; i < 4; i++)
        tu_drain(env.ctx);
    json_t *oa = order(a), *ob = order(b);
    ck_assert_str_eq(status_of(oa), "processing");
    ck_assert_str_eq(status_of(ob), "cancelled");
    ck_assert_ptr_nonnull(strstr(
        json_string_value(json_object_get(ob, "reason")), "not enough Water"));
    json_decref(oa);
    json_decref(ob);
    ck_assert_int_eq(stock_of("water"), 1);
    char texts[4096];
    sent_texts(texts, sizeof texts);
    ck_assert_msg(strstr(texts, "Order ORD-000002 was cancelled. not enough "
                                "Water in stock") != NULL,
                  "%s", texts);
    free(a);
    free(b);
}
END_TEST

/* ---- reading --------------------------------------------------------- */

static json_t *list(const char *customer, wabot_order_status st,
                    const char *cursor, int64_t limit)
{
    char *text = NULL;
    int rc = wabot_order_list(env.ctx, ORG, customer, st, cursor, limit,
                              &text);
    ck_assert_msg(rc == WABOT_OK, "list: %s", wabot_ctx_errmsg(env.ctx));
    json_t *j = json_loads(text, 0, NULL);
    wabot_ctx_mem_free(env.ctx, text);
    return j;
}

static const char *id_at(json_t *page, size_t i)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(page, "orders"), i), "id"));
}

START_TEST(test_lists_filter_by_customer_and_status_newest_first)
{
    char *ids[5];
    for (int i = 0; i < 5; i++) {
        char *id = NULL;
        ck_assert_int_eq(wabot_order_create(
                             env.ctx, ORG, i % 2 ? "+15550002222" : CUSTOMER,
                             "[{\"sku\":\"coke\",\"quantity\":1}]", NULL, &id),
                         WABOT_OK);
        ids[i] = strdup(id);
        wabot_ctx_mem_free(env.ctx, id);
    }
    ck_assert_int_eq(wabot_order_cancel(env.ctx, ORG, ids[2]), WABOT_OK);
    ck_assert_int_eq(wabot_order_cancel(env.ctx, ORG, ids[3]), WABOT_OK);
    /* Everything, two at a time, newest first. */
    json_t *p = list(NULL, 0, NULL, 2);
    ck_assert_str_eq(id_at(p, 0), ids[4]);
    ck_assert_str_eq(id_at(p, 1), ids[3]);
    char cursor[32];
    snprintf(cursor, sizeof cursor, "%s",
             json_string_value(json_object_get(p, "cursor")));
    json_decref(p);
    p = list(NULL, 0, cursor, 10);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "orders")), 3);
    ck_assert_str_eq(id_at(p, 0), ids[2]);
    ck_assert_str_eq(json_string_value(json_object_get(p, "cursor")), "0");
    json_decref(p);
    /* One customer, one status, both. */
    p = list(CUSTOMER, 0, NULL, 10);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "orders")), 3);
    json_decref(p);
    p = list(NULL, WABOT_ORDER_CANCELLED, NULL, 10);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "orders")), 2);
    json_decref(p);
    p = list(CUSTOMER, WABOT_ORDER_CANCELLED, NULL, 10);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "orders")), 1);
    ck_assert_str_eq(id_at(p, 0), ids[2]);
    json_decref(p);
    char *text = NULL;
    ck_assert_int_eq(wabot_order_list(env.ctx, ORG, NULL, 0, "x", 10, &text),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_order_list(env.ctx, ORG, NULL, 0, NULL, 0, &text),
                     WABOT_ERR_INVAL);
    for (int i = 0; i < 5; i++)
        free(ids[i]);
}
END_TEST

START_TEST(test_counts_and_stats_show_statuses_and_revenue_per_currency)
{
    char *a = create("[{\"sku\":\"coke\",\"quantity\":2}]", NULL);
    char *b = create("[{\"sku\":\"tea\",\"quantity\":3}]", NULL);
    char *c = create("[{\"sku\":\"coke\",\"quantity\":10}]", NULL);
    char *d = create("[{\"sku\":\"coke\",\"quantity\":1}]", NULL);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, a,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, b,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_set_status(env.ctx, ORG, c,
                                            WABOT_ORDER_CONFIRMED),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_cancel(env.ctx, ORG, c), WABOT_OK);
    int64_t n[WABOT_ORDER_STATUS_COUNT];
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, n,
                                        WABOT_ORDER_STATUS_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(n[0], 4);
    ck_assert_int_eq(n[WABOT_ORDER_PENDING], 1);
    ck_assert_int_eq(n[WABOT_ORDER_CONFIRMED], 2);
    ck_assert_int_eq(n[WABOT_ORDER_CANCELLED], 1);
    char *text = NULL;
    ck_assert_int_eq(wabot_order_stats(env.ctx, ORG, &text), WABOT_OK);
    json_t *j = json_loads(text, 0, NULL);
    wabot_ctx_mem_free(env.ctx, text);
    json_t *by = json_object_get(j, "by_status");
    ck_assert_int_eq(json_integer_value(json_object_get(by, "confirmed")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(by, "pending")), 1);
    json_t *rev = json_object_get(j, "revenue");
    /* The cancelled order's revenue was taken back. */
    ck_assert_int_eq(json_integer_value(json_object_get(rev, "USD")), 300);
    ck_assert_int_eq(json_integer_value(json_object_get(rev, "EUR")), 1500);
    json_decref(j);
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "orders.created"), 4);
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "orders.confirmed"), 3);
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "orders.cancelled"), 1);
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, n, 0), WABOT_ERR_INVAL);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

/* ---- concurrency ----------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 20

typedef struct confirmer {
    char *ids[PER_THREAD];
    int ok, out_of_stock, other;
} confirmer;

static void *confirm_all(void *arg)
{
    confirmer *c = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        int rc = wabot_order_set_status(env.ctx, ORG, c->ids[i],
                                        WABOT_ORDER_CONFIRMED);
        if (rc == WABOT_OK)
            c->ok++;
        else if (rc == WABOT_ERR_TOO_LARGE)
            c->out_of_stock++;
        else
            c->other++;
    }
    return NULL;
}

START_TEST(test_eight_threads_confirm_exactly_the_stock_of_100)
{
    static confirmer cs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&cs[t], 0, sizeof cs[t]);
        for (int i = 0; i < PER_THREAD; i++)
            cs[t].ids[i] = create("[{\"sku\":\"widget\",\"quantity\":1}]",
                                  NULL);
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, confirm_all, &cs[t]), 0);
    int ok = 0, oos = 0, other = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ok += cs[t].ok;
        oos += cs[t].out_of_stock;
        other += cs[t].other;
        for (int i = 0; i < PER_THREAD; i++)
            free(cs[t].ids[i]);
    }
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(ok, 100);
    ck_assert_int_eq(oos, THREADS * PER_THREAD - 100);
    ck_assert_int_eq(stock_of("widget"), 0);
    int64_t n[WABOT_ORDER_STATUS_COUNT];
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, n,
                                        WABOT_ORDER_STATUS_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(n[WABOT_ORDER_CONFIRMED], 100);
    ck_assert_int_eq(n[WABOT_ORDER_PENDING], THREADS * PER_THREAD - 100);
}
END_TEST


#ifdef ORDERS_REDIS
#include <sys/wait.h>
#include <unistd.h>

#define PROCS 4
#define PER_PROC 40
static const char *g_self;

/* A child: confirm orders ORD-<first>..ORD-<first+count-1> on its own
 * context over the same redis-server; exit with how many succeeded (255:
 * an error other than "not enough stock"). */
static int confirm_main(char **argv)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = atoi(argv[2]);
    const char *err = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &err);
    if (!r)
        return 255;
    wabot_storage *st = wabot_storage_redis_new(r);
    wabot_options *o = wabot_options_new();
    wabot_options_set_storage(o, st);
    wabot_ctx *ctx = NULL;
    int rc = wabot_ctx_new(&ctx, o);
    wabot_options_free(o);
    int ok = 0, bad = rc != WABOT_OK;
    for (int i = 0; !bad && i < atoi(argv[4]); i++) {
        char id[32];
        snprintf(id, sizeof id, "ORD-%06d", atoi(argv[3]) + i);
        rc = wabot_order_set_status(ctx, ORG, id, WABOT_ORDER_CONFIRMED);
        if (rc == WABOT_OK)
            ok++;
        else if (rc != WABOT_ERR_TOO_LARGE)
            bad = 1;
    }
    wabot_ctx_free(ctx);
    wabot_storage_free(st);
    wabot_redis_free(r);
    return bad ? 255 : ok;
}

START_TEST(test_four_processes_confirm_exactly_the_stock_of_100)
{
    for (int i = 0; i < PROCS * PER_PROC; i++)
        free(create("[{\"sku\":\"widget\",\"quantity\":1}]", NULL));
    pid_t pids[PROCS];
    char port[16], first[16], count[16];
    snprintf(port, sizeof port, "%d", g_srv.port);
    snprintf(count, sizeof count, "%d", PER_PROC);
    for (int p = 0; p < PROCS; p++) {
        snprintf(first, sizeof first, "%d", 1 + p * PER_PROC);
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            execl(g_self, g_self, "--confirm", port, first, count,
                  (char *)NULL);
            _exit(254);
        }
    }
    int ok = 0;
    for (int p = 0; p < PROCS; p++) {
        int st = -1;
        ck_assert_int_eq(waitpid(pids[p], &st, 0), pids[p]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) <= PER_PROC,
                      "confirmer %d: status %d", p, st);
        ok += WEXITSTATUS(st);
    }
    ck_assert_int_eq(ok, 100);
    ck_assert_int_eq(stock_of("widget"), 0);
    int64_t n[WABOT_ORDER_STATUS_COUNT];
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, n,
                                        WABOT_ORDER_STATUS_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(n[WABOT_ORDER_CONFIRMED], 100);
}
END_TEST
#endif

/* ---- the order flow, through real turns ------------------------------ */

static size_t g_seen;
static int g_msg;

static void flow_setup(void)
{
    setup();
    add_product("coke-zero", "Coke Zero", 160, "USD", -1, 1);
    ck_assert_int_eq(wabot_order_flow_install(env.ctx, NULL), WABOT_OK);
    g_seen = 0;
}

/* Send text (or a button's payload) as the customer, run every job, and
 * return what the shop sent since the last call, joined with "\n---\n"
 * (list and button messages as "[kind] body | id ...").  */
static const char *say_msg(const char *text, const char *payload)
{
    static char out[8192];
    char id[32];
    snprintf(id, sizeof id, "SMflow%d", ++g_msg);
    wabot_message *m = tu_text(id, CUSTOMER, text);
    if (payload)
        ck_assert_int_eq(wabot_message_set_payload(m, payload, text),
                         WABOT_OK);
    ck_assert_int_eq(wabot_ctx_handle_message(env.ctx, m), WABOT_OK);
    wabot_message_free(m);
    for (int i = 0; i < 4; i++)
        tu_drain(env.ctx);
    out[0] = '\0';
    size_t n = wabot_transport_recorder_count(env.rec);
    for (size_t i = g_seen; i < n; i++) {
        const wabot_outbound *o = wabot_transport_recorder_get(env.rec, i);
        size_t len = strlen(out);
        const char *kind = wabot_out_kind_name(wabot_outbound_kind(o));
        const char *t = wabot_outbound_text(o);
        snprintf(out + len, sizeof out - len, "%s%s%s%s%s",
                 i > g_seen ? "\n---\n" : "", strcmp(kind, "text") ? "[" : "",
                 strcmp(kind, "text") ? kind : "",
                 strcmp(kind, "text") ? "] " : "", t ? t : "");
        for (size_t k = 0; k < wabot_outbound_option_count(o); k++) {
            len = strlen(out);
            snprintf(out + len, sizeof out - len, " | %s",
                     wabot_outbound_option_id(o, k));
        }
    }
    g_seen = n;
    return out;
}

static const char *say(const char *text)
{
    return say_msg(text, NULL);
}

#define ASSERT_HAS(hay, needle)                                            \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "no \"%s\" in:\n%s",      \
                  (needle), (hay))

START_TEST(test_flow_greets_lists_adds_and_places_an_order)
{
    const char *r = say("hi");
    ASSERT_HAS(r, "Welcome to our shop");
    r = say("menu");
    ASSERT_HAS(r, "Our menu");
    ASSERT_HAS(r, "Coke Zero");
    ck_assert_ptr_null(strstr(r, "Old soda")); /* inactive */
    r = say("2 water and a coke zero");
    ASSERT_HAS(r, "2 \xC3\x97 Water \xE2\x80\x94 $2.00");
    ASSERT_HAS(r, "1 \xC3\x97 Coke Zero \xE2\x80\x94 $1.60");
    ASSERT_HAS(r, "Send *confirm* to place the order");
    r = say("cart");
    ASSERT_HAS(r, "Total: $3.60");
    r = say("confirm");
    ASSERT_HAS(r, "Order ORD-000001 ($3.60) is placed");
    /* The worker confirmed it, took the stock and sent the invoice. */
    ASSERT_HAS(r, "Order ORD-000001 is confirmed: 2 \xC3\x97 Water, "
                  "1 \xC3\x97 Coke Zero. Total $3.60.");
    ASSERT_HAS(r, "Invoice");
    ck_assert_int_eq(stock_of("water"), 3);
    json_t *o = order("ORD-000001");
    ck_assert_str_eq(status_of(o), "processing");
    json_decref(o);
    /* The cart is empty after the order. */
    r = say("confirm");
    ASSERT_HAS(r, "Your cart is empty.");
    int64_t n[1];
    ck_assert_int_eq(wabot_order_counts(env.ctx, ORG, n, 1), WABOT_OK);
    ck_assert_int_eq(n[0], 1);
}
END_TEST

START_TEST(test_flow_asks_about_ambiguous_and_unknown_words)
{
    /* A typo two names are one letter away from: choices. */
    const char *r = say("3 cokke");
    ASSERT_HAS(r, "[buttons] Which \"cokke\" did you mean?");
    ASSERT_HAS(r, "pick:3:coke | pick:3:coke-zero");
    r = say_msg("Coke Zero", "pick:3:coke-zero");
    ASSERT_HAS(r, "3 \xC3\x97 Coke Zero \xE2\x80\x94 $4.80");
    /* "coke" names Coke exactly, though Coke Zero contains it too. */
    r = say("2 coke");
    ASSERT_HAS(r, "2 \xC3\x97 Coke \xE2\x80\x94 $3.00");
    ck_assert_ptr_null(strstr(r, "did you mean"));
    r = say("2 unicorns");
    ASSERT_HAS(r, "Sorry, I couldn't find");
    ASSERT_HAS(r, "unicorn");
    r = say("water and a unicorn");
    ASSERT_HAS(r, "1 \xC3\x97 Water");
    ASSERT_HAS(r, "unicorn");
    r = say("9 water"); /* stock 5 */
    ASSERT_HAS(r, "Sorry, only 5 of Water in stock.");
    r = say("clear");
    ASSERT_HAS(r, "Your cart is empty now.");
    r = say("cart");
    ASSERT_HAS(r, "Your cart is empty.");
}
END_TEST

START_TEST(test_flow_texts_are_options_of_the_organisation)
{
    env_free(&env);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "window_ms", "0"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_org(o, ORG, "orders.flow_greeting",
                                           "Ola! Bem-vindo."),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_org(o, ORG, "orders.text_confirmed",
                                           ""),
                     WABOT_OK);
    env_init(&env, o);
    wabot_options_free(o);
    add_product("coke", "Coke", 150, "USD", -1, 1);
    ck_assert_int_eq(wabot_order_flow_install(env.ctx, ORG), WABOT_OK);
    g_seen = 0;
    ck_assert_str_eq(say("hello"), "Ola! Bem-vindo.");
    say("1 coke");
    const char *r = say("confirm");
    ASSERT_HAS(r, "is placed");
    ck_assert_ptr_null(strstr(r, "is confirmed")); /* text turned off */
}
END_TEST

/* ---- the flow installed for one organisation ------------------------- */

#define OTHER "other"

static int host_hours(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "host: open 9 to 5");
}

static int host_hi(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "host: hi from the other shop");
}

static int host_fallback(wabot_turn *t, void *ud)
{
    (*(int *)ud)++;
    return wabot_reply_text(t, "host: I did not get that");
}

static int g_host_fallbacks;

/* One org's flow; the other org's host routes are registered around it:
 * the fallback before the install, the keywords after it. */
static void org_flow_setup(void)
{
    setup();
    g_host_fallbacks = 0;
    ck_assert_int_eq(wabot_route_fallback(env.ctx, NULL, host_fallback,
                                          &g_host_fallbacks, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_order_flow_install(env.ctx, ORG), WABOT_OK);
    ck_assert_int_eq(wabot_route_keyword(env.ctx, NULL, "hi", host_hi, NULL,
                                         NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_keyword(env.ctx, NULL, "hours", host_hours,
                                         NULL, NULL),
                     WABOT_OK);
    g_seen = 0;
}

/* What the bot answered `text` for a customer of `org`. */
static const char *say_org(const char *org, const char *text)
{
    char id[32];
    snprintf(id, sizeof id, "SMorg%d", ++g_msg);
    wabot_message *m = tu_text(id, CUSTOMER, text);
    ck_assert_int_eq(wabot_message_set_organization(m, org), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_handle_message(env.ctx, m), WABOT_OK);
    wabot_message_free(m);
    for (int i = 0; i < 4; i++)
        tu_drain(env.ctx);
    static char out[8192];
    out[0] = '\0';
    size_t n = wabot_transport_recorder_count(env.rec);
    for (size_t i = g_seen; i < n; i++) {
        const wabot_outbound *o = wabot_transport_recorder_get(env.rec, i);
        const char *t = wabot_outbound_text(o);
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s%s", i > g_seen ? "\n---\n"
                 : "", t ? t : "");
    }
    g_seen = n;
    return out;
}

START_TEST(test_flow_for_one_org_leaves_other_orgs_turns_to_their_routes)
{
    /* The flow's keywords come first in the router, yet they are not the
     * other organisation's: its own "hi" and "hours" answer. */
    ck_assert_str_eq(say_org(OTHER, "hi"), "host: hi from the other shop");
    ck_assert_str_eq(say_org(OTHER, "hours"), "host: open 9 to 5");
    /* The flow's words and free text reach the host's fallback, which
     * installing the flow did not replace. */
    ck_assert_str_eq(say_org(OTHER, "menu"), "host: I did not get that");
    ck_assert_str_eq(say_org(OTHER, "2 coke"), "host: I did not get that");
    ck_assert_int_eq(g_host_fallbacks, 2);
    /* Nothing went into a cart of the other organisation. */
    ck_assert_str_eq(say_org(OTHER, "confirm"), "host: I did not get that");
    int64_t n[1];
    ck_assert_int_eq(wabot_order_counts(env.ctx, OTHER, n, 1), WABOT_OK);
    ck_assert_int_eq(n[0], 0);
}
END_TEST

START_TEST(test_flow_for_one_org_still_serves_that_org)
{
    const char *r = say_org(ORG, "hi");
    ASSERT_HAS(r, "Welcome to our shop");
    r = say_org(ORG, "2 coke");
    ASSERT_HAS(r, "2 \xC3\x97 Coke \xE2\x80\x94 $3.00");
    r = say_org(ORG, "confirm");
    ASSERT_HAS(r, "Order ORD-000001 ($3.00) is placed");
    ck_assert_int_eq(g_host_fallbacks, 0);
    /* Keywords the flow does not have go on to the host's routes. */
    ck_assert_str_eq(say_org(ORG, "hours"), "host: open 9 to 5");
}
END_TEST

START_TEST(test_flows_installed_for_two_orgs_each_serve_their_own)
{
    ck_assert_int_eq(wabot_order_flow_install(env.ctx, OTHER), WABOT_OK);
    wabot_product *p = wabot_product_new(env.ctx);
    ck_assert_int_eq(wabot_product_set_sku(p, "juice"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, "Juice"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, 250, "USD"), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_create(env.ctx, OTHER, p, NULL), WABOT_OK);
    wabot_product_free(p);
    /* Each org's free text reads its own catalog. */
    ASSERT_HAS(say_org(OTHER, "1 juice"), "1 \xC3\x97 Juice");
    ASSERT_HAS(say_org(ORG, "1 water"), "1 \xC3\x97 Water");
    ASSERT_HAS(say_org(ORG, "1 juice"), "Sorry, I couldn't find");
    ASSERT_HAS(say_org(OTHER, "confirm"), "($2.50) is placed");
    ck_assert_int_eq(g_host_fallbacks, 0);
}
END_TEST

static Suite *orders_suite(void)
{
    Suite *s = suite_create("orders");
    TCase *tc = tcase_create("orders");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_order_copies_lines_and_prices_at_order_time);
    tcase_add_test(tc, test_bad_lines_get_clear_statuses_and_no_order);
    tcase_add_test(tc, test_a_key_placed_twice_gives_the_first_order);
    tcase_add_test(tc, test_lifecycle_allows_only_the_listed_changes);
    tcase_add_test(tc,
                   test_confirming_takes_stock_and_cancelling_gives_it_back);
    tcase_add_test(
        tc, test_worker_confirms_queues_the_invoice_and_tells_the_customer);
    tcase_add_test(tc,
                   test_worker_cancels_an_order_the_stock_no_longer_covers);
    tcase_add_test(tc, test_lists_filter_by_customer_and_status_newest_first);
    tcase_add_test(
        tc, test_counts_and_stats_show_statuses_and_revenue_per_currency);
    tcase_add_test(tc, test_eight_threads_confirm_exactly_the_stock_of_100);
#ifdef ORDERS_REDIS
    tcase_add_test(tc, test_four_processes_confirm_exactly_the_stock_of_100);
#endif
    suite_add_tcase(s, tc);
    tc = tcase_create("flow");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, flow_setup, teardown);
    tcase_add_test(tc, test_flow_greets_lists_adds_and_places_an_order);
    tcase_add_test(tc, test_flow_asks_about_ambiguous_and_unknown_words);
    tcase_add_test(tc, test_flow_texts_are_options_of_the_organisation);
    suite_add_tcase(s, tc);
    tc = tcase_create("flow-one-org");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, org_flow_setup, teardown);
    tcase_add_test(tc,
                   test_flow_for_one_org_leaves_other_orgs_turns_to_their_routes);
    tcase_add_test(tc, test_flow_for_one_org_still_serves_that_org);
    tcase_add_test(tc, test_flows_installed_for_two_orgs_each_serve_their_own);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
#ifdef ORDERS_REDIS
    if (argc == 5 && strcmp(argv[1], "--confirm") == 0)
        return confirm_main(argv);
    g_self = argv[0];
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    if (rh_start(&g_srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return EXIT_FAILURE;
    }
    int rc = tu_run_suite(orders_suite());
    rh_destroy(&g_srv);
    return rc;
#else
    return tu_run_suite(orders_suite());
#endif
}
