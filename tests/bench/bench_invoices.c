/* Invoice issuing rate on memory and on Redis: one thread, 8 threads on
 * one organisation (every issue contends for the same counter: the cost
 * of gap-free numbering) and 8 threads on 8 organisations (no
 * contention); then PDF rendering. Prints figures, never asserts on them.
 *
 *   bench_invoices [invoices]        (default 2000)
 *
 * The Redis server is a fresh redis-server on a free loopback port
 * (tests/redis/redis_harness.h), without AOF. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "invoice_helpers.h"
#include "redis_harness.h"
#include "wabot.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct org_run {
    wabot_ctx *ctx;
    char org[32], prefix[32];
    int count;
    int64_t *seqs;
    int failed;
} org_run;

static void *run_org(void *arg)
{
    org_run *r = arg;
    r->failed = inv_issue_concurrently(r->ctx, r->org, r->prefix, 1,
                                       r->count, r->seqs);
    return NULL;
}

/* n invoices from `threads` threads: on one organisation, or one each. */
static double issue_rate(wabot_ctx *ctx, const char *tag, int n, int threads,
                         int spread)
{
    static int round;
    round++;
    int64_t *seqs = calloc((size_t)n, sizeof *seqs);
    double t0 = now_s();
    int failed = 0;
    if (!spread) {
        char org[32];
        snprintf(org, sizeof org, "%s-%d", tag, round);
        failed = inv_issue_concurrently(ctx, org, "k", threads, n, seqs);
    } else {
        org_run *runs = calloc((size_t)threads, sizeof *runs);
        pthread_t *th = calloc((size_t)threads, sizeof *th);
        for (int i = 0; i < threads; i++) {
            runs[i].ctx = ctx;
            snprintf(runs[i].org, sizeof runs[i].org, "%s-%d-%d", tag, round,
                     i);
            snprintf(runs[i].prefix, sizeof runs[i].prefix, "k%d", i);
            runs[i].count = n / threads;
            runs[i].seqs = seqs + i * (n / threads);
            pthread_create(&th[i], NULL, run_org, &runs[i]);
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            failed += runs[i].failed;
        }
        free(runs);
        free(th);
    }
    double rate = n / (now_s() - t0);
    free(seqs);
    if (failed)
        fprintf(stderr, "%d issues failed\n", failed);
    return rate;
}

/* One run: the rate, and with Redis the round trips per invoice (which,
 * unlike the rate, a loaded machine does not change much: it counts the
 * compare-and-set retries). */
static void run(wabot_ctx *ctx, wabot_redis *r, const char *backend,
                const char *what, int n, int threads, int spread)
{
    int64_t rt0 = r ? wabot_redis_round_trips(r) : 0;
    double rate = issue_rate(ctx, backend, n, threads, spread);
    printf("%-6s %-28s %8.0f invoices/s", backend, what, rate);
    if (r)
        printf("  %5.2f round trips/invoice",
               (double)(wabot_redis_round_trips(r) - rt0) / n);
    printf("\n");
}

static void report(wabot_ctx *ctx, wabot_redis *r, const char *backend,
                   int n)
{
    run(ctx, r, backend, "1 thread:", n, 1, 0);
    run(ctx, r, backend, "8 threads, one organisation:", n, 8, 0);
    run(ctx, r, backend, "8 threads, 8 organisations:", n, 8, 1);
}

static void pdf_rate(wabot_ctx *ctx, int n)
{
    wabot_invoice_draft *d =
        wabot_invoice_draft_new(ctx, "pdf", "+15550001234", "USD");
    char sku[16], *number = NULL;
    for (int i = 0; i < 10; i++) {
        snprintf(sku, sizeof sku, "SKU%d", i);
        wabot_invoice_draft_add_line(d, sku, "A product", 2, 199, 825);
    }
    wabot_invoice_issue(d, &number);
    wabot_invoice_draft_free(d);
    size_t len = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char *pdf = NULL;
        wabot_invoice_render_pdf(ctx, "pdf", number, &pdf, &len);
        wabot_ctx_mem_free(ctx, pdf);
    }
    printf("PDF of 10 lines (%zu bytes):           %8.0f renders/s\n", len,
           n / (now_s() - t0));
    wabot_ctx_mem_free(ctx, number);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    n -= n % 8;
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, NULL) != WABOT_OK)
        return 1;
    report(ctx, NULL, "memory", n);
    pdf_rate(ctx, n / 4);
    wabot_ctx_free(ctx);

    rh_server srv;
    if (!rh_available() || rh_start(&srv, 0) != 0) {
        printf("redis: skipped (no redis-server)\n");
        return 0;
    }
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = srv.port;
    cfg.pool_size = 8;
    wabot_redis *r = wabot_redis_new(&cfg, NULL);
    wabot_storage *s = r ? wabot_storage_redis_new(r) : NULL;
    wabot_options *o = wabot_options_new();
    wabot_options_set_storage(o, s);
    int rc = s ? wabot_ctx_new(&ctx, o) : WABOT_ERR_STORAGE;
    wabot_options_free(o);
    if (rc == WABOT_OK) {
        report(ctx, r, "redis", n);
        wabot_ctx_free(ctx);
    }
    wabot_storage_free(s);
    wabot_redis_free(r);
    rh_destroy(&srv);
    return rc == WABOT_OK ? 0 : 1;
}
