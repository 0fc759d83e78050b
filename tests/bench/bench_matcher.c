/* How fast is the product matcher?
 *
 * Builds a 1,000-product catalog (names from 40 flavours x 25 dishes, two
 * aliases each, eight categories) on the memory backend, then times:
 * importing it, the first match (which builds the index), and N matches
 * of the phrases (quantities, plurals, aliases, typos, number
 * words, unknown words) on 1 and 2 threads. Prints phrases per second.
 * Each match also reads the catalog's revision from storage (a memory
 * get, or with "redis" one round trip to a fresh redis-server started
 * here). Figures only: nothing asserts on time.
 * Usage: bench_matcher [N [memory|redis]] (default 200000 memory). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wabot.h>

#include "redis_harness.h"

#define ORG "bench"

static const char *const flavours[40] = {
    "Classic", "Spicy", "Smoky", "Garlic", "Lemon", "Honey", "Pepper",
    "Truffle", "Cheesy", "Herb", "Chili", "Mango", "Basil", "Ginger",
    "Sesame", "Teriyaki", "Buffalo", "Cajun", "Tandoori", "Pesto", "Olive",
    "Mushroom", "Onion", "Tomato", "Coconut", "Curry", "Maple", "Bacon",
    "Vegan", "Mediterranean", "Mexican", "Greek", "Thai", "Korean",
    "Hawaiian", "Texas", "Nashville", "Sichuan", "Parmesan", "Jalapeno"};
static const char *const dishes[25] = {
    "Burger", "Pizza", "Wrap", "Salad", "Taco", "Burrito", "Sandwich",
    "Noodles", "Rice Bowl", "Soup", "Wings", "Fries", "Nachos", "Pasta",
    "Quesadilla", "Hot Dog", "Kebab", "Ramen", "Dumplings", "Curry Plate",
    "Omelette", "Pancakes", "Bagel", "Croissant", "Smoothie"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *catalog_json(void)
{
    size_t cap = 400 * 1000, o = 0;
    char *doc = malloc(cap);
    o += (size_t)snprintf(doc + o, cap - o, "[");
    for (int i = 0; i < 1000; i++) {
        const char *f = flavours[i % 40], *d = dishes[i / 40];
        o += (size_t)snprintf(
            doc + o, cap - o,
            "%s{\"sku\":\"sku-%04d\",\"name\":\"%s %s\",\"aliases\":"
            "[\"%s %s %d\",\"%c%c%d\"],\"category\":\"cat%d\",\"price\":%d,"
            "\"currency\":\"USD\"}",
            i ? "," : "", i, f, d, d, f, i, f[0], d[0], i, i % 8,
            300 + i);
    }
    snprintf(doc + o, cap - o, "]");
    return doc;
}

static const char *const phrases[] = {
    "2 spicy burgers and 3 x lemon soup",
    "two classic pizzas, 1 garlic wrap",
    "truffle fries x2",
    "1 thai ramen",
    "smokey nachos",              /* typo */
    "a dozen honey pancakes please",
    "pizza",                      /* ambiguous: 40 pizzas */
    "3 unicorn steaks",           /* unknown words */
    "I'd like a korean rice bowl and two mango smoothies",
    "cheesy quesadilla, sesame noodles, chili hot dog",
};
#define N_PHRASES (sizeof phrases / sizeof phrases[0])

typedef struct run {
    pthread_t th;
    wabot_ctx *ctx;
    long n;
    long lines;
} run;

static void *matcher(void *p)
{
    run *r = p;
    for (long i = 0; i < r->n; i++) {
        wabot_match *m = NULL;
        if (wabot_catalog_match(r->ctx, ORG, NULL, phrases[i % N_PHRASES],
                                &m) != WABOT_OK) {
            fprintf(stderr, "match failed: %s\n", wabot_ctx_errmsg(r->ctx));
            exit(1);
        }
        r->lines += (long)wabot_match_line_count(m);
        wabot_match_free(m);
    }
    return NULL;
}

static void timed(wabot_ctx *ctx, long n, int threads)
{
    run rs[2];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        rs[i] = (run){.ctx = ctx, .n = n / threads};
        pthread_create(&rs[i].th, NULL, matcher, &rs[i]);
    }
    long lines = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(rs[i].th, NULL);
        lines += rs[i].lines;
    }
    double dt = now_s() - t0;
    printf("match, %d thread%s: %ld phrases in %.3f s = %.0f phrases/s "
           "(%.2f us each, %.2f lines per phrase)\n",
           threads, threads > 1 ? "s" : "", n, dt, (double)n / dt,
           dt * 1e6 / (double)n * threads, (double)lines / (double)n);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int on_redis = argc > 2 && strcmp(argv[2], "redis") == 0;
    rh_server srv;
    wabot_redis *redis = NULL;
    wabot_storage *store = NULL;
    if (on_redis) {
        if (!rh_available() || rh_start(&srv, 0) != 0) {
            fprintf(stderr, "no redis-server: skipped\n");
            return 77;
        }
        wabot_redis_config cfg;
        wabot_redis_config_init(&cfg);
        cfg.port = srv.port;
        redis = wabot_redis_new(&cfg, NULL);
        store = redis ? wabot_storage_redis_new(redis) : NULL;
        if (!store)
            return 1;
    }
    printf("storage: %s\n", on_redis ? "redis" : "memory");
    wabot_options *o = wabot_options_new();
    if (store)
        wabot_options_set_storage(o, store);
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK)
        return 1;
    wabot_options_free(o);
    char *doc = catalog_json();
    double t0 = now_s();
    int rc = wabot_catalog_import(ctx, ORG, doc, strlen(doc), 0, NULL);
    double t1 = now_s();
    free(doc);
    if (rc != WABOT_OK) {
        fprintf(stderr, "import: %s\n", wabot_ctx_errmsg(ctx));
        return 1;
    }
    printf("import of 1000 products: %.1f ms\n", (t1 - t0) * 1e3);
    wabot_match *m = NULL;
    t0 = now_s();
    wabot_catalog_match(ctx, ORG, NULL, phrases[0], &m);
    t1 = now_s();
    wabot_match_free(m);
    printf("first match (builds the index): %.2f ms\n", (t1 - t0) * 1e3);
    for (size_t i = 0; i < N_PHRASES; i++) {
        wabot_catalog_match(ctx, ORG, NULL, phrases[i], &m);
        char *json = wabot_match_json(m);
        printf("  \"%s\" -> %zu lines, %zu unknown\n", phrases[i],
               wabot_match_line_count(m), wabot_match_unknown_count(m));
        wabot_ctx_mem_free(ctx, json);
        wabot_match_free(m);
    }
    timed(ctx, n, 1);
    timed(ctx, n, 2);
    char *stats = NULL;
    wabot_commerce_stats_json(ctx, ORG, &stats);
    printf("stats: %s\n", stats);
    wabot_ctx_mem_free(ctx, stats);
    wabot_ctx_free(ctx);
    if (on_redis) {
        wabot_storage_free(store);
        wabot_redis_free(redis);
        rh_destroy(&srv);
    }
    return 0;
}
