/* How much does a metric update cost?
 *
 * Times N updates per thread, on 1 and then 2 threads sharing one series
 * (the contended case: every update hits the same cache line), for: a
 * counter add by handle, a counter add by label values (the lock-free
 * lookup of an existing series, then the add), a histogram observation by
 * handle, and a named counter (wabot_metrics_add, a string lookup). Prints
 * ns per update. Figures only: nothing here asserts on time.
 * Usage: bench_metrics [N] (default 2000000). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <wabot.h>

typedef enum op { COUNTER, WITH_LABELS, OBSERVE, NAMED } op;
static const char *const op_name[] = {
    "counter add by handle", "counter add with_labels",
    "histogram observe by handle", "named counter (wabot_metrics_add)"};

typedef struct bench {
    wabot_ctx *ctx;
    wabot_metric_family *labelled;
    wabot_metric_series *counter, *hist;
    op what;
    long n;
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *p)
{
    const bench *b = p;
    const char *values[] = {"POST", "200"};
    for (long i = 0; i < b->n; i++) {
        switch (b->what) {
        case COUNTER:
            wabot_metrics_counter_add(b->counter, 1);
            break;
        case WITH_LABELS:
            wabot_metrics_counter_add_labels(b->labelled, values, 2, 1);
            break;
        case OBSERVE:
            wabot_metrics_histogram_observe(b->hist, (double)(i % 1000) / 1e4);
            break;
        case NAMED:
            wabot_metrics_add(b->ctx, "messages.handled", 1);
            break;
        }
    }
    return NULL;
}

static double ns_per_update(bench *b, int threads)
{
    pthread_t th[2];
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, run, b);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    return (now_s() - t0) * 1e9 / (double)b->n;
}

int main(int argc, char **argv)
{
    bench b = {0};
    b.n = argc > 1 ? atol(argv[1]) : 2000000;
    if (wabot_ctx_new(&b.ctx, NULL) != WABOT_OK)
        return 1;
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5,   5, 10};
    const char *const labels[] = {"method", "code"};
    wabot_metric_def dc = {WABOT_METRIC_DEF_VERSION, "bench_total", "",
                           WABOT_METRIC_COUNTER, NULL, 0, NULL, 0, 0};
    wabot_metric_def dl = {WABOT_METRIC_DEF_VERSION, "bench_labelled_total",
                           "", WABOT_METRIC_COUNTER, labels, 2, NULL, 0, 0};
    wabot_metric_def dh = {WABOT_METRIC_DEF_VERSION, "bench_seconds", "",
                           WABOT_METRIC_HISTOGRAM, NULL, 0, bounds, 13, 0};
    wabot_metric_family *fc, *fh;
    if (wabot_metrics_register(b.ctx, &dc, &fc) != WABOT_OK ||
        wabot_metrics_register(b.ctx, &dl, &b.labelled) != WABOT_OK ||
        wabot_metrics_register(b.ctx, &dh, &fh) != WABOT_OK ||
        wabot_metrics_series(fc, NULL, 0, &b.counter) != WABOT_OK ||
        wabot_metrics_series(fh, NULL, 0, &b.hist) != WABOT_OK)
        return 1;
    printf("%ld updates per thread; ns per update (wall time / updates per "
           "thread)\n", b.n);
    printf("%-36s %10s %10s\n", "", "1 thread", "2 threads");
    for (op o = COUNTER; o <= NAMED; o++) {
        b.what = o;
        double one = ns_per_update(&b, 1);
        double two = ns_per_update(&b, 2);
        printf("%-36s %10.1f %10.1f\n", op_name[o], one, two);
    }
    wabot_ctx_free(b.ctx);
    return 0;
}
