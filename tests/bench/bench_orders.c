/* How many orders per second can be confirmed?
 *
 * Creates N one-line orders (each 1 unit of one of 10 products with stock)
 * and then confirms them, on 1 and on 4 threads: each confirmation is one
 * storage transaction that takes the stock with compare-and-set on the
 * product's version and moves the order (a concurrent change retries).
 * Prints orders created and confirmed per second, on the memory backend
 * or, with "redis", a fresh redis-server started here. Figures only:
 * nothing asserts on time.
 * Usage: bench_orders [N [memory|redis]] (default 2000 memory). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wabot.h>

#include "redis_harness.h"

#define ORG "bench"
#define PRODUCTS 10

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct job {
    wabot_ctx *ctx;
    char **ids;
    int from, to, ok, failed;
} job;

static void *confirm(void *arg)
{
    job *j = arg;
    for (int i = j->from; i < j->to; i++) {
        if (wabot_order_set_status(j->ctx, ORG, j->ids[i],
                                   WABOT_ORDER_CONFIRMED) == WABOT_OK)
            j->ok++;
        else
            j->failed++;
    }
    return NULL;
}

static char **create(wabot_ctx *ctx, int n)
{
    char **ids = calloc((size_t)n, sizeof *ids);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char lines[64], *id = NULL;
        snprintf(lines, sizeof lines, "[{\"sku\":\"p%d\",\"quantity\":1}]",
                 i % PRODUCTS);
        if (wabot_order_create(ctx, ORG, "+15550001234", lines, NULL, &id) !=
            WABOT_OK) {
            fprintf(stderr, "create: %s\n", wabot_ctx_errmsg(ctx));
            exit(1);
        }
        ids[i] = strdup(id);
        wabot_ctx_mem_free(ctx, id);
    }
    double dt = now_s() - t0;
    printf("created %d orders in %.3f s: %.0f orders/s\n", n, dt, n / dt);
    return ids;
}

static void run(wabot_ctx *ctx, int n, int threads)
{
    char **ids = create(ctx, n);
    job jobs[8];
    pthread_t th[8];
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){ctx, ids, n * t / threads, n * (t + 1) / threads, 0,
                        0};
        pthread_create(&th[t], NULL, confirm, &jobs[t]);
    }
    int ok = 0, failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        ok += jobs[t].ok;
        failed += jobs[t].failed;
    }
    double dt = now_s() - t0;
    printf("confirmed %d orders (%d refused) on %d thread%s in %.3f s: "
           "%.0f orders/s\n",
           ok, failed, threads, threads > 1 ? "s" : "", dt, ok / dt);
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int on_redis = argc > 2 && strcmp(argv[2], "redis") == 0;
    rh_server srv;
    wabot_redis *redis = NULL;
    wabot_storage *store = NULL;
    if (on_redis) {
        if (!rh_available() || rh_start(&srv, 0) != 0) {
            fprintf(stderr, "no redis-server: skipped\n");
            return 0;
        }
        wabot_redis_config cfg;
        wabot_redis_config_init(&cfg);
        cfg.port = srv.port;
        cfg.pool_size = 8;
        redis = wabot_redis_new(&cfg, NULL);
        store = redis ? wabot_storage_redis_new(redis) : NULL;
        if (!store)
            return 1;
    }
    printf("storage: %s\n", on_redis ? "redis" : "memory");
    wabot_options *o = wabot_options_new();
    if (store)
        wabot_options_set_storage(o, store);
    wabot_options_set(o, "commerce.max_quantity", "1000000");
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK)
        return 1;
    wabot_options_free(o);
    /* Stock for every order of both runs: nothing is refused, so the
     * figure is the cost of a confirmation, not of a refusal. */
    char doc[2048];
    size_t off = (size_t)snprintf(doc, sizeof doc, "[");
    for (int i = 0; i < PRODUCTS; i++)
        off += (size_t)snprintf(doc + off, sizeof doc - off,
                                "%s{\"sku\":\"p%d\",\"name\":\"Product %d\","
                                "\"price\":%d,\"currency\":\"USD\","
                                "\"stock\":%d}",
                                i ? "," : "", i, i, 100 + i, 2 * n);
    snprintf(doc + off, sizeof doc - off, "]");
    if (wabot_catalog_import(ctx, ORG, doc, strlen(doc), 0, NULL) !=
        WABOT_OK) {
        fprintf(stderr, "import: %s\n", wabot_ctx_errmsg(ctx));
        return 1;
    }
    run(ctx, n, 1);
    run(ctx, n, 4);
    wabot_ctx_free(ctx);
    if (on_redis) {
        wabot_storage_free(store);
        wabot_redis_free(redis);
        rh_destroy(&srv);
    }
    return 0;
}
