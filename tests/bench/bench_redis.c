/* Job throughput on the Redis scheduler, next to redis-benchmark against
 * the same server, with the ratio between them. Prints figures, never
 * asserts on them.
 *
 *   bench_redis [jobs] [threads]        (defaults 20000, 2)
 *
 * A job's life is three scripts (enqueue, reserve, complete), each one
 * synchronous round trip (EVALSHA) when taken one by one; the "batches"
 * line runs it as the library does at volume (wabot_job_enqueue_many, the
 * worker side's batched reserve and complete). The comparison that says how much
 * the library adds is "scripts per second" against redis-benchmark's
 * EVALSHA of a trivial script on as many connections; the plain command
 * mix (SET GET INCR LPUSH LPOP) shows the server's raw round-trip rate.
 * The server is a fresh redis-server on a free loopback port
 * (tests/redis/redis_harness.h), without AOF: fsync would dominate. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_harness.h"
#include "wabot.h"
#include "wabot/jobs.h"
#include "wabot/redis.h"

#define T0 1767225600000LL
#define MIX "set,get,incr,lpush,lpop"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static wabot_redis *connect_pool(int port, int pool_size)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = port;
    cfg.prefix = "bench:";
    cfg.pool_size = pool_size;
    const char *err = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &err);
    if (r == NULL)
        fprintf(stderr, "wabot_redis_new: %s\n", err ? err : "?");
    return r;
}

static wabot_job_record job(const char *id)
{
    static const char payload[] =
        "{\"to\":\"+15550001111\",\"text\":\"hello from the benchmark\"}";
    wabot_job_record r;
    memset(&r, 0, sizeof r);
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = id;
    r.payload = payload;
    r.payload_len = sizeof payload - 1;
    r.max_attempts = 5;
    r.backoff_ms = 1000;
    r.backoff_max_ms = 3600000;
    r.run_at_ms = T0;
    return r;
}

/* ------------------------------------------------------------------ */
/* Our side                                                            */

typedef struct phase {
    double enqueue_s, drain_s;
    long errors;
} phase;

/* One connection: all enqueues, then reserve + complete until empty. */
static phase single_connection(wabot_scheduler *s, int n)
{
    phase p = {0, 0, 0};
    char id[32];
    double t = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "single-%d", i);
        wabot_job_record r = job(id);
        p.errors += wabot_scheduler_enqueue(s, "bench", &r, T0) != WABOT_OK;
    }
    p.enqueue_s = now_s() - t;
    wabot_job_info *out = wabot_job_info_new();
    t = now_s();
    while (wabot_scheduler_reserve(s, "bench", T0, 30000, out) == WABOT_OK) {
        const wabot_job_record *g = wabot_job_info_record(out);
        p.errors += wabot_scheduler_complete(s, "bench", g->id, g->token,
                                             T0) != WABOT_OK;
    }
    p.drain_s = now_s() - t;
    wabot_job_info_free(out);
    return p;
}

typedef struct worker_arg {
    wabot_scheduler *s;
    int index, jobs;
    long errors;
    pthread_t tid;
} worker_arg;

/* Each thread: enqueue one, reserve one, complete it; `jobs` times. */
static void *round_trip_worker(void *p)
{
    worker_arg *a = p;
    wabot_job_info *out = wabot_job_info_new();
    char id[48];
    for (int i = 0; i < a->jobs; i++) {
        snprintf(id, sizeof id, "t%d-%d", a->index, i);
        wabot_job_record r = job(id);
        if (wabot_scheduler_enqueue(a->s, "threads", &r, T0) != WABOT_OK ||
            wabot_scheduler_reserve(a->s, "threads", T0, 30000, out) !=
                WABOT_OK) {
            a->errors++;
            continue;
        }
        const wabot_job_record *g = wabot_job_info_record(out);
        a->errors += wabot_scheduler_complete(a->s, "threads", g->id,
                                              g->token, T0) != WABOT_OK;
    }
    wabot_job_info_free(out);
    return NULL;
}

static double threaded(wabot_scheduler *s, int n, int threads, long *errors)
{
    worker_arg *args = calloc((size_t)threads, sizeof *args);
    double t = now_s();
    for (int i = 0; i < threads; i++) {
        args[i] = (worker_arg){s, i, n / threads, 0, 0};
        pthread_create(&args[i].tid, NULL, round_trip_worker, &args[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(args[i].tid, NULL);
        *errors += args[i].errors;
    }
    t = now_s() - t;
    free(args);
    return t;
}

/* ------------------------------------------------------------------ */
/* redis-benchmark                                                     */

/* The "<name>: <n> requests per second" figures of redis-benchmark -q
 * (progress lines end in \r and are skipped). Returns the mean, and the
 * count in *k. */
/* The worker side: a context whose queue "work" has a worker that
 * finishes each job at once (concurrency 16), fed with n jobs; the
 * library reserves and completes them (in batches where the backend
 * batches). Returns jobs/s of the drain; *rt the round trips per job. */
static int quick_worker(wabot_job *j, void *ud)
{
    (void)j;
    (void)ud;
    return WABOT_OK;
}

/* INFO field `name` of section `section` as a number (-1: none). */
static double info_num(const rh_server *srv, const char *section,
                       const char *name)
{
    char cmd[64], out[8192];
    snprintf(cmd, sizeof cmd, "INFO %s", section);
    if (rh_cli(srv, cmd, out, sizeof out) != 0)
        return -1;
    const char *p = strstr(out, name);
    return p && p[strlen(name)] == ':' ? atof(p + strlen(name) + 1) : -1;
}

/* The server's CPU seconds (user + system) so far: what a job costs the
 * server, which other load on the machine moves far less than a rate. */
static double server_cpu_s(const rh_server *srv)
{
    return info_num(srv, "cpu", "used_cpu_user") +
           info_num(srv, "cpu", "used_cpu_sys");
}

/* What the worker side costs the server per job. */
typedef struct server_cost {
    double cpu_us, commands;
} server_cost;

static double worker_side(const rh_server *srv, wabot_redis *r,
                          wabot_scheduler *s, int n, double *rt,
                          server_cost *cost, long *errors)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_scheduler(o, s);
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK) {
        wabot_options_free(o);
        (*errors)++;
        return 0;
    }
    wabot_options_free(o);
    wabot_queue_add_worker(ctx, "work", quick_worker, NULL, NULL, 16);
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "w-%d", i);
        wabot_job_record rec = job(id);
        rec.run_at_ms = 0;
        *errors += wabot_scheduler_enqueue(s, "work", &rec, 0) != WABOT_OK;
    }
    /* Run what is due now until every job is processed (a Redis
     * scheduler is polled, so running "until idle" would wait for the
     * poll; the completed set is trimmed, so its count is no measure). */
    int64_t before = wabot_redis_round_trips(r);
    double cpu0 = server_cpu_s(srv);
    double cmd0 = info_num(srv, "stats", "total_commands_processed");
    double t0 = now_s();
    do
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    while (wabot_metrics_counter(ctx, "jobs.work.processed") < n &&
           now_s() - t0 < 60);
    double dt = now_s() - t0;
    *rt = (double)(wabot_redis_round_trips(r) - before) / n;
    /* minus the INFO calls of the reading itself (one per field) */
    cost->commands =
        (info_num(srv, "stats", "total_commands_processed") - cmd0 - 3) / n;
    cost->cpu_us = (server_cpu_s(srv) - cpu0) * 1e6 / n;
    *errors += wabot_metrics_counter(ctx, "jobs.work.processed") != n;
    wabot_ctx_free(ctx);
    return n / dt;
}

/* A job's whole life as the library runs it in batches: enqueued
 * BATCH at a time with wabot_job_enqueue_many (one round trip each), then
 * reserved and completed by the worker side (batched polls). Returns
 * jobs/s of the whole; *enq_rate the enqueue phase's jobs/s. */
#define BATCH 500
static double batched_life(wabot_scheduler *s, int n, double *enq_rate,
                           long *errors)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_scheduler(o, s);
    wabot_ctx *ctx = NULL;
    int rc = wabot_ctx_new(&ctx, o);
    wabot_options_free(o);
    if (rc != WABOT_OK) {
        (*errors)++;
        return 0;
    }
    wabot_queue_add_worker(ctx, "life", quick_worker, NULL, NULL, 16);
    static const char payload[] =
        "{\"to\":\"+15550001111\",\"text\":\"hello from the benchmark\"}";
    const char *payloads[BATCH];
    for (int i = 0; i < BATCH; i++)
        payloads[i] = payload;
    double t0 = now_s();
    for (int done = 0; done < n; done += BATCH) {
        size_t k = n - done < BATCH ? (size_t)(n - done) : BATCH;
        *errors += wabot_job_enqueue_many(ctx, "life", k, payloads, NULL,
                                          NULL, NULL, NULL) != WABOT_OK;
    }
    double t1 = now_s();
    do
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    while (wabot_metrics_counter(ctx, "jobs.life.processed") < n &&
           now_s() - t1 < 60);
    double t2 = now_s();
    *errors += wabot_metrics_counter(ctx, "jobs.life.processed") != n;
    wabot_ctx_free(ctx);
    *enq_rate = n / (t1 - t0);
    return n / (t2 - t0);
}

static double parse_rps(char *out, int *k, int print)
{
    double sum = 0;
    *k = 0;
    for (char *line = strtok(out, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        char *rps = strstr(line, " requests per second");
        if (rps == NULL)
            continue;
        *rps = '\0';
        char *colon = strrchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        double v = strtod(colon + 1, NULL);
        while (*line == ' ')
            line++;
        if (print)
            printf("    %-18.18s %10.0f ops/s\n", line, v);
        sum += v;
        (*k)++;
    }
    return *k > 0 ? sum / *k : 0;
}

static double redis_benchmark(const rh_server *srv, const char *what,
                              int clients, int n, int print)
{
    char cmd[512], buf[16384];
    snprintf(cmd, sizeof cmd,
             "redis-benchmark -h 127.0.0.1 -p %d -q -c %d -n %d %s 2>&1",
             srv->port, clients, n, what);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, p);
    buf[len] = '\0';
    pclose(p);
    int k;
    return parse_rps(buf, &k, print);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (n < 1 || threads < 1) {
        fprintf(stderr, "usage: bench_redis [jobs] [threads]\n");
        return 2;
    }
    if (!rh_available())
        return 77;
    rh_server srv;
    if (rh_start(&srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    char sha[64] = "";
    rh_cli(&srv, "SCRIPT LOAD 'return 1'", sha, sizeof sha);
    sha[strcspn(sha, "\r\n")] = '\0';

    wabot_redis *r1 = connect_pool(srv.port, 1);
    wabot_redis *rt = connect_pool(srv.port, threads);
    wabot_scheduler *s1 = r1 ? wabot_scheduler_redis_new(r1) : NULL;
    wabot_scheduler *st = rt ? wabot_scheduler_redis_new(rt) : NULL;
    if (s1 == NULL || st == NULL) {
        rh_destroy(&srv);
        return 1;
    }

    printf("Redis scheduler, %d jobs, payload 55 bytes, redis-server %d on "
           "loopback (no AOF)\n", n, srv.port);
    phase p = single_connection(s1, n);
    double one_jobs = n / (p.enqueue_s + p.drain_s);
    printf("  1 connection:  enqueue %8.0f jobs/s   reserve+complete "
           "%8.0f jobs/s   whole life %8.0f jobs/s (%.0f scripts/s)\n",
           n / p.enqueue_s, n / p.drain_s, one_jobs, 3 * one_jobs);
    double wrt = 0;
    server_cost wc = {0, 0};
    double wjobs = worker_side(&srv, r1, s1, n, &wrt, &wc, &p.errors);
    printf("  workers (1 connection, concurrency 16): reserve+complete "
           "%8.0f jobs/s, %.2f round trips per job, server: %.1f "
           "commands and %.1f us CPU per job\n", wjobs, wrt, wc.commands,
           wc.cpu_us);
    double brate = 0;
    double bjobs = batched_life(s1, n, &brate, &p.errors);
    printf("  batches (1 connection): enqueue_many of %d %8.0f jobs/s, "
           "whole life with the workers %8.0f jobs/s\n", BATCH, brate, bjobs);
    long terr = 0;
    double tt = threaded(st, n, threads, &terr);
    int done = n / threads * threads;
    double many_jobs = done / tt;
    printf("  %d threads:     enqueue+reserve+complete %8.0f jobs/s "
           "(%.0f scripts/s)\n", threads, many_jobs, 3 * many_jobs);
    if (p.errors || terr)
        printf("  errors: %ld + %ld\n", p.errors, terr);

    char evalsha[96];
    snprintf(evalsha, sizeof evalsha, "evalsha %s 0", sha);
    int bn = n * 5 < 100000 ? n * 5 : 100000;
    printf("redis-benchmark -n %d, 1 client (-c 1), same server:\n", bn);
    double mix1 = redis_benchmark(&srv, "-t " MIX, 1, bn, 1);
    double eval1 = redis_benchmark(&srv, evalsha, 1, bn, 0);
    printf("    %-18s %10.0f ops/s\n", "EVALSHA return 1", eval1);
    double evaln = redis_benchmark(&srv, evalsha, threads, bn, 0);
    printf("  %d clients (-c %d): EVALSHA return 1 %10.0f ops/s\n", threads,
           threads, evaln);

    printf("ratios (ours / redis-benchmark):\n");
    if (mix1 > 0)
        printf("  jobs/s on 1 connection / mean of %s: %.3f "
               "(a job is 3 round trips: ideal 0.333)\n", MIX,
               one_jobs / mix1);
    if (eval1 > 0)
        printf("  scripts/s on 1 connection / EVALSHA trivial: %.3f\n",
               3 * one_jobs / eval1);
    if (evaln > 0)
        printf("  scripts/s on %d threads / EVALSHA trivial on %d clients: "
               "%.3f\n", threads, threads, 3 * many_jobs / evaln);

    wabot_scheduler_free(s1);
    wabot_scheduler_free(st);
    wabot_redis_free(r1);
    wabot_redis_free(rt);
    rh_destroy(&srv);
    return 0;
}
