/* Campaign fan-out: N customers (default 1,000,000) imported into the
 * memory backend, or with "redis" into a redis-server started here (its
 * storage and its scheduler: the process keeps no customer, marker or
 * job), then one campaign to all of them; prints the time to import, the
 * time until the fan-out has queued every message (the "campaigns"
 * queue's jobs only), the time until every message was handed to the
 * transport (a console transport writing to /dev/null), and the process
 * RSS after each step (with Redis also the server's used_memory). The
 * outbound worker sends while the fan-out runs, so "fan-out done" is an
 * upper bound; "fan-out jobs" is the time the campaigns queue's jobs took
 * themselves (their wabot_job_duration_seconds), and on Redis the round
 * trips per recipient (BENCH_COMMANDSTATS=1 also prints the server's INFO
 * commandstats). BENCH_CENSUS=1 (memory) prints the keys left in the
 * store at the end, by kind (the text before the first ':'), with their
 * key and value bytes. The outbox sweep (lib/pipeline/outbox.c: inbound
 * turns, of which the benchmark has none) is off unless
 * BENCH_OUTBOX_SWEEP=1: on Redis it walks the whole keyspace every 10 s
 * on the loop thread, which with a million customers' keys takes longer
 * than its period (doc/campaigns.md, "Benchmark"). Figures only; no
 * assertion on time.
 *   bench_campaign [N [memory|redis]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_harness.h"
#include "wabot/campaign.h"
#include "wabot/jobs.h"
#include "wabot/loop.h"
#include "wabot/metrics.h"
#include "wabot/options.h"
#include "wabot/redis.h"
#include "wabot/storage.h"
#include "wabot/transport.h"
#include "wabot.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in MiB (Linux /proc/self/statm). */
static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (double)resident * 4096.0 / (1024 * 1024);
}

static int import(wabot_ctx *ctx, long n)
{
    enum { CHUNK = 1000 };
    char *buf = malloc((size_t)CHUNK * 64 + 16);
    if (buf == NULL)
        return -1;
    for (long at = 0; at < n; at += CHUNK) {
        size_t len = 0;
        buf[len++] = '[';
        for (long i = at; i < n && i < at + CHUNK; i++)
            len += (size_t)sprintf(buf + len,
                                   "%s{\"phone\":\"+1%010ld\",\"name\":\"C%ld\"}",
                                   i > at ? "," : "", 2000000000L + i, i);
        buf[len++] = ']';
        char *report = NULL;
        int rc = wabot_customer_import_json(ctx, "bench", buf, len, &report);
        wabot_ctx_mem_free(ctx, report);
        if (rc != WABOT_OK) {
            fprintf(stderr, "import: %s\n", wabot_errmsg());
            free(buf);
            return -1;
        }
    }
    free(buf);
    return 0;
}

/* Seconds the "campaigns" queue's jobs took (the sum of its
 * wabot_job_duration_seconds), or -1: the fan-out's own time, while the
 * sends it queued run beside it. */
static double fanout_seconds(wabot_ctx *ctx)
{
    char *text = wabot_metrics_prometheus(ctx);
    const char *key = "wabot_job_duration_seconds_sum{queue=\"campaigns\"}";
    const char *p = text != NULL ? strstr(text, key) : NULL;
    double s = p != NULL ? atof(p + strlen(key)) : -1;
    wabot_ctx_mem_free(ctx, text);
    return s;
}

/* The campaign's finished_ms - started_ms in seconds, or -1. */
static double queue_seconds(wabot_ctx *ctx, const char *id)
{
    char *doc = NULL;
    if (wabot_campaign_get_json(ctx, "bench", id, &doc) != WABOT_OK)
        return -1;
    const char *s = strstr(doc, "\"started_ms\":");
    const char *f = strstr(doc, "\"finished_ms\":");
    double d = s != NULL && f != NULL
                   ? (atof(f + 14) - atof(s + 13)) / 1000.0
                   : -1;
    wabot_ctx_mem_free(ctx, doc);
    return d;
}

static int64_t pending(wabot_ctx *ctx, const char *queue)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    wabot_queue_counts(ctx, queue, c, WABOT_JOB_STATE_COUNT);
    return c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] + c[WABOT_JOB_ACTIVE];
}

/* The redis-server's used_memory in MiB (INFO memory), or -1. */
static double redis_mib(const rh_server *srv)
{
    char out[4096];
    if (rh_cli(srv, "INFO memory", out, sizeof out) != 0)
        return -1;
    const char *p = strstr(out, "used_memory:");
    return p != NULL ? atof(p + strlen("used_memory:")) / (1024 * 1024) : -1;
}

/* The memory store's keys by kind, with their bytes (BENCH_CENSUS). */
static void census(wabot_storage *s, long n)
{
    enum { KINDS = 32 };
    char kind[KINDS][32];
    long count[KINDS], bytes[KINDS];
    int kinds = 0;
    char cursor[4096] = "0";
    do {
        wabot_storage_items *it = NULL;
        if (wabot_storage_scan(s, "", cursor, 1000, WABOT_STORAGE_SCAN_VALUES,
                               &it) != WABOT_OK)
            return;
        for (size_t i = 0; i < wabot_storage_items_count(it); i++) {
            size_t kl = 0, vl = 0;
            const char *k = wabot_storage_items_key(it, i, &kl);
            (void)wabot_storage_items_value(it, i, &vl);
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(k, ":"), k);
            int j = 0;
            while (j < kinds && strcmp(kind[j], name) != 0)
                j++;
            if (j == kinds && kinds < KINDS) {
                snprintf(kind[kinds], sizeof kind[0], "%s", name);
                count[kinds] = bytes[kinds] = 0;
                kinds++;
            }
            if (j < kinds) {
                count[j]++;
                bytes[j] += (long)(kl + vl);
            }
        }
        snprintf(cursor, sizeof cursor, "%s", wabot_storage_items_cursor(it));
        wabot_storage_items_free(it);
    } while (strcmp(cursor, "0") != 0);
    printf("  keys left in the memory store (kind: keys, key+value bytes "
           "per recipient):\n");
    for (int j = 0; j < kinds; j++)
        printf("    %-16s %8ld keys  %7.1f B/recipient\n", kind[j], count[j],
               (double)bytes[j] / (double)n);
}

typedef struct backend {
    rh_server srv;
    wabot_redis *redis;
    wabot_storage *storage;
    wabot_scheduler *sched;
} backend;

/* The server of a run that ends early (a failed import) goes with it. */
static rh_server *g_started;

static void stop_started(void)
{
    if (g_started != NULL)
        rh_destroy(g_started);
}

/* Storage and scheduler on a fresh redis-server. 0, or -1. */
static int redis_backend(backend *b, wabot_options *o)
{
    if (!rh_available() || rh_start(&b->srv, 0) != 0)
        return -1;
    g_started = &b->srv;
    atexit(stop_started);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = b->srv.port;
    /* A figure of throughput, not latency: a command held up on a loaded
     * machine (a million-key dict resized) must not end the run. */
    cfg.command_timeout_ms = 30000;
    b->redis = wabot_redis_new(&cfg, NULL);
    b->storage = b->redis ? wabot_storage_redis_new(b->redis) : NULL;
    b->sched = b->redis ? wabot_scheduler_redis_new(b->redis) : NULL;
    if (b->storage == NULL || b->sched == NULL ||
        wabot_options_set_storage(o, b->storage) != WABOT_OK ||
        wabot_options_set_scheduler(o, b->sched) != WABOT_OK)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int on_redis = argc > 2 && strcmp(argv[2], "redis") == 0;
    backend be;
    memset(&be, 0, sizeof be);
    FILE *devnull = fopen("/dev/null", "w");
    wabot_options *o = wabot_options_new();
    wabot_transport *t = wabot_transport_console_new(devnull);
    wabot_ctx *ctx = NULL;
    wabot_storage *mem = NULL;
    if (!on_redis && o != NULL &&
        ((mem = wabot_storage_memory_new(NULL)) == NULL ||
         wabot_options_set_storage(o, mem) != WABOT_OK)) {
        fprintf(stderr, "memory storage failed\n");
        return 1;
    }
    if (on_redis && o != NULL && redis_backend(&be, o) != 0) {
        fprintf(stderr, "no redis-server: skipped\n");
        return 0;
    }
    /* Limits off: the figure is the library's own cost, not a rate. */
    if (devnull == NULL || o == NULL || t == NULL ||
        wabot_options_set_transport(o, t) != WABOT_OK ||
        wabot_options_set(o, "rate_sender_per_s", "0") != WABOT_OK ||
        wabot_options_set(o, "rate_pair_period_ms", "0") != WABOT_OK ||
        (getenv("BENCH_OUTBOX_SWEEP") == NULL &&
         wabot_options_set(o, "outbox.sweep_ms", "0") != WABOT_OK) ||
        wabot_ctx_new(&ctx, o) != WABOT_OK) {
        fprintf(stderr, "setup failed: %s\n", wabot_errmsg());
        return 1;
    }
    wabot_options_free(o);
    double rss0 = rss_mib(), t0 = now_s();
    if (import(ctx, n) != 0)
        return 1;
    double t1 = now_s(), rss1 = rss_mib();
    const char *body =
        "{\"organizationId\":\"bench\",\"name\":\"Bench\",\"message\":"
        "\"Hi {{name}}\",\"type\":\"PROMOTIONAL\",\"targetAudience\":"
        "{\"type\":\"all\"},\"startImmediately\":true,\"batchSize\":1000,"
        "\"providerTemplate\":{\"name\":\"promo\",\"language\":\"en\","
        "\"parameters\":[\"{{name}}\"]}}";
    char *out = NULL;
    if (wabot_campaign_create_json(ctx, body, strlen(body), &out) !=
        WABOT_OK) {
        fprintf(stderr, "create: %s\n", wabot_errmsg());
        return 1;
    }
    char id[64] = "";
    const char *idp = strstr(out, "\"id\":\"");
    if (idp != NULL)
        snprintf(id, sizeof id, "%.*s", (int)strcspn(idp + 6, "\""), idp + 6);
    wabot_ctx_mem_free(ctx, out);
    /* The fan-out alone: run until the campaigns queue is empty, while
     * the outbound jobs it queued wait (the outbound worker runs too, so
     * this is an upper bound of the time to queue). */
    double t2 = now_s();
    int64_t rt2 = on_redis ? wabot_redis_round_trips(be.redis) : 0;
    while (pending(ctx, WABOT_QUEUE_CAMPAIGNS) > 0)
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    double t3 = now_s(), rss3 = rss_mib();
    int64_t rt3 = on_redis ? wabot_redis_round_trips(be.redis) : 0;
    while (pending(ctx, WABOT_QUEUE_OUTBOUND) > 0)
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    double t4 = now_s(), rss4 = rss_mib();
    int64_t rt4 = on_redis ? wabot_redis_round_trips(be.redis) : 0;
    printf("campaign fan-out, %s backend, %ld customers\n",
           on_redis ? "redis" : "memory", n);
    printf("  import       %8.2f s  (%.0f customers/s)  RSS %.0f -> %.0f MiB\n",
           t1 - t0, (double)n / (t1 - t0), rss0, rss1);
    printf("  fan-out done %8.2f s  (%.0f recipients/s)  RSS %.0f MiB\n",
           t3 - t2, (double)n / (t3 - t2), rss3);
    double busy = fanout_seconds(ctx);
    double queued = queue_seconds(ctx, id);
    printf("  time to queue %7.2f s  (the campaign's finished_ms - "
           "started_ms: every recipient queued or skipped)\n", queued);
    printf("  fan-out jobs %8.2f s  (%.0f recipients/s of the campaigns "
           "worker's own time)\n", busy, (double)n / busy);
    printf("  all sent     %8.2f s  (%.0f sends/s)  RSS %.0f MiB\n", t4 - t2,
           (double)n / (t4 - t2), rss4);
    if (on_redis) {
        printf("  Redis round trips per recipient: %.2f until the fan-out "
               "was done, %.2f in all (sends included)\n",
               (double)(rt3 - rt2) / (double)n,
               (double)(rt4 - rt2) / (double)n);
        printf("  redis-server used_memory %.0f MiB\n", redis_mib(&be.srv));
        if (getenv("BENCH_COMMANDSTATS") != NULL) {
            static char stats[65536];
            if (rh_cli(&be.srv, "INFO commandstats", stats, sizeof stats) == 0)
                printf("%s", stats);
        }
    }
    if (mem != NULL && getenv("BENCH_CENSUS") != NULL)
        census(mem, n);
    wabot_ctx_free(ctx);
    wabot_storage_free(mem);
    wabot_transport_free(t);
    fclose(devnull);
    if (on_redis) {
        wabot_scheduler_free(be.sched);
        wabot_storage_free(be.storage);
        wabot_redis_free(be.redis);
        rh_destroy(&be.srv);
    }
    return 0;
}
