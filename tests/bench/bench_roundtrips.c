/* Redis round trips per webhook: how many requests the library sends to
 * Redis for one inbound message, from wabot_http_handle() to the reply on
 * the outbound queue, and then for delivering that reply (counted by the
 * library, wabot_redis_round_trips(): a command or a script is one round
 * trip), beside the commands the server executed for them (INFO's
 * total_commands_processed, which also counts the commands inside
 * scripts). Prints figures, never asserts on them.
 *
 *   bench_roundtrips [messages]       (default 2000)
 *
 * BENCH_THREADS=<n>: the webhooks come from n threads at once (each with
 * customers of its own), as a server's HTTP threads send them; the
 * library sends the scripts of threads that wait at the same time
 * together (doc/redis.md, "Connections"), so round trips per webhook
 * fall below the calls and the server's CPU per webhook with them.
 * Prints webhooks/s too (wall time: moved by the machine's load).
 *
 * BENCH_STEADY=1 (one thread): the loop runs after every webhook, as a
 * server's does while webhooks come in, so each reply is sent soon after
 * its turn (and one leased at commit is started from memory: doc/redis.md,
 * "Jobs leased at commit"); the split between webhook and delivery below
 * then mixes the two, and the totals per message are the figures to read.
 *
 * BENCH_MONITOR=<file>: every command the server runs goes to <file>
 * (redis-cli MONITOR), for tests/bench/redis_replay.py, which replays
 * them on a fresh server and measures the server's CPU without the
 * network (doc/performance.md, seventh session). BENCH_COMMANDSTATS=1,
 * BENCH_SLOWLOG=<file>: the server's per-command figures.
 *
 * Storage, scheduler and limiter on one fresh redis-server (no AOF),
 * signatures off, a handler that changes the conversation and replies
 * once: the common turn. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_harness.h"
#include "wabot.h"
#include "wabot/redis.h"

static long long commands(const rh_server *s)
{
    char out[8192];
    if (rh_cli(s, "INFO stats", out, sizeof out) != 0)
        return -1;
    const char *p = strstr(out, "total_commands_processed:");
    return p ? atoll(p + strlen("total_commands_processed:")) : -1;
}

/* The server's CPU seconds so far (user + system, INFO cpu): what the
 * single-threaded redis-server spends on our commands, the figure the
 * machine's other load moves least. */
static double server_cpu(const rh_server *s)
{
    char out[8192];
    if (rh_cli(s, "INFO cpu", out, sizeof out) != 0)
        return 0;
    const char *u = strstr(out, "used_cpu_user:");
    const char *y = strstr(out, "used_cpu_sys:");
    return (u ? atof(u + strlen("used_cpu_user:")) : 0) +
           (y ? atof(y + strlen("used_cpu_sys:")) : 0);
}

/* Starts `redis-cli MONITOR > path` in the background and waits (up to
 * 10 s) until the server lists the monitor. 0 when it is attached. */
static int start_monitor(const rh_server *s, const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "redis-cli -h 127.0.0.1 -p %d MONITOR > '%s' 2>/dev/null &",
             s->port, path);
    if (system(cmd) != 0)
        return -1;
    for (int i = 0; i < 1000; i++) {
        char out[8192];
        if (rh_cli(s, "CLIENT LIST", out, sizeof out) == 0 &&
            strstr(out, "cmd=monitor") != NULL)
            return 0;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return -1;
}

static int answer(wabot_turn *t, void *ud)
{
    (void)ud;
    int64_t n = wabot_turn_session_int(t, "n", 0);
    wabot_turn_session_set_int(t, "n", n + 1);
    return wabot_reply_text(t, "thanks, noted");
}

typedef struct feeder {
    wabot_ctx *ctx;
    int id, from, to;
    int failed;
    int steady; /* run the loop after each webhook */
} feeder;

static int one_webhook(wabot_ctx *ctx, int i, int customer)
{
    static const wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    char body[512];
    snprintf(body, sizeof body,
             "MessageSid=SM%032d&From=whatsapp%%3A%%2B1415555%04d&"
             "To=whatsapp%%3A%%2B14155238886&Body=hello",
             i, customer);
    wabot_http_response *resp = NULL;
    int ok = wabot_http_handle(ctx, "POST", "/whatsapp/webhook", h, 1, body,
                               strlen(body), &resp) == WABOT_OK &&
             wabot_http_response_status(resp) == 200;
    if (!ok)
        fprintf(stderr, "webhook %d: %d\n", i,
                resp ? wabot_http_response_status(resp) : -1);
    wabot_http_response_free(resp);
    return ok ? 0 : -1;
}

/* 50 customers per feeder: conversations are read and written, not only
 * created, and no two feeders share one. */
static void *feed(void *arg)
{
    feeder *f = arg;
    for (int i = f->from; i < f->to && !f->failed; i++) {
        f->failed = one_webhook(f->ctx, i, f->id * 50 + i % 50) != 0;
        if (f->steady)
            wabot_ctx_run_until_idle(f->ctx, wabot_ctx_now_ms(f->ctx));
    }
    return NULL;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 1;
    if (threads < 1 || threads > 64)
        threads = 1;
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n < 1)
        n = 1;
    if (!rh_available()) {
        fprintf(stderr, "bench_roundtrips: redis-server not installed\n");
        return 77;
    }
    rh_server srv;
    if (rh_start(&srv, 0) != 0) {
        fprintf(stderr, "bench_roundtrips: cannot start redis-server\n");
        return 1;
    }
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = srv.port;
    const char *err = NULL;
    wabot_redis *r = wabot_redis_new(&cfg, &err);
    if (!r) {
        fprintf(stderr, "wabot_redis_new: %s\n", err ? err : "?");
        return 1;
    }
    wabot_storage *st = wabot_storage_redis_new(r);
    wabot_scheduler *sc = wabot_scheduler_redis_new(r);
    wabot_limiter *li = wabot_limiter_redis_new(r);
    wabot_transport *tr = wabot_recorder_new();
    wabot_options *o = wabot_options_new();
    wabot_options_set_storage(o, st);
    wabot_options_set_scheduler(o, sc);
    wabot_options_set_limiter(o, li);
    wabot_options_set_transport(o, tr);
    wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 0);
    wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT, 0);
    wabot_ctx *ctx = NULL;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK) {
        fprintf(stderr, "wabot_ctx_new: %s\n", wabot_options_errmsg(o));
        return 1;
    }
    wabot_options_free(o);
    wabot_route_fallback(ctx, NULL, answer, NULL, NULL);

    if (getenv("BENCH_COMMANDSTATS"))
        rh_cli(&srv, "CONFIG RESETSTAT", (char[64]){0}, 64);
    if (getenv("BENCH_SLOWLOG")) {
        rh_cli(&srv, "CONFIG SET slowlog-log-slower-than 0", NULL, 0);
        rh_cli(&srv, "CONFIG SET slowlog-max-len 1000000", NULL, 0);
    }
    if (getenv("BENCH_MONITOR") &&
        start_monitor(&srv, getenv("BENCH_MONITOR")) != 0)
        fprintf(stderr, "bench_roundtrips: MONITOR did not start\n");
    long long before = commands(&srv);
    double cpu0 = server_cpu(&srv);
    int64_t rt0 = wabot_redis_round_trips(r);
    double t0 = wall_s();
    feeder f[64];
    pthread_t th[64];
    for (int k = 0; k < threads; k++) {
        f[k] = (feeder){ctx, k, (int)((long)n * k / threads),
                        (int)((long)n * (k + 1) / threads), 0,
                        threads == 1 && getenv("BENCH_STEADY") &&
                            atoi(getenv("BENCH_STEADY")) == 1};
        if (threads > 1 && pthread_create(&th[k], NULL, feed, &f[k]) != 0)
            return 1;
    }
    if (threads == 1)
        feed(&f[0]);
    for (int k = 0; threads > 1 && k < threads; k++)
        pthread_join(th[k], NULL);
    double t1 = wall_s();
    for (int k = 0; k < threads; k++)
        if (f[k].failed)
            return 1;
    long long mid = commands(&srv);
    double cpu1 = server_cpu(&srv);
    int64_t rt1 = wabot_redis_round_trips(r);
    if (getenv("BENCH_COMMANDSTATS")) {
        char stats[8192];
        rh_cli(&srv, "INFO commandstats", stats, sizeof stats);
        printf("webhooks:\n%s\n", stats);
        rh_cli(&srv, "CONFIG RESETSTAT", (char[64]){0}, 64);
        mid = commands(&srv);
    }
    wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx) + 60000);
    if (getenv("BENCH_COMMANDSTATS")) {
        char stats[8192];
        rh_cli(&srv, "INFO commandstats", stats, sizeof stats);
        printf("delivery:\n%s\n", stats);
    }
    if (getenv("BENCH_SLOWLOG")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "redis-cli -p %d SLOWLOG GET 1000000 > %s",
                 srv.port, getenv("BENCH_SLOWLOG"));
        if (system(cmd) != 0)
            fprintf(stderr, "slowlog dump failed\n");
    }
    long long after = commands(&srv);
    double cpu2 = server_cpu(&srv);
    int64_t rt2 = wabot_redis_round_trips(r);
    size_t sent = wabot_recorder_count(tr);

    /* One INFO per reading is the server's own count too. */
    double in = (double)(rt1 - rt0) / n;
    double out = sent ? (double)(rt2 - rt1) / (double)sent : 0;
    printf("Redis round trips per webhook (handle: dedup, limits, profile, "
           "state, outbox, queue): %.2f  (server commands %.2f)\n", in,
           (double)(mid - before - 1) / n);
    printf("Redis round trips per delivered reply (reserve, checks, send "
           "bookkeeping, complete): %.2f  (server commands %.2f)\n", out,
           sent ? (double)(after - mid - 1) / (double)sent : 0);
    printf("Redis server CPU: %.1f us per webhook, %.1f us per delivered "
           "reply (INFO cpu, user + sys; includes a few INFO calls)\n",
           (cpu1 - cpu0) * 1e6 / n,
           sent ? (cpu2 - cpu1) * 1e6 / (double)sent : 0);
    printf("Total per message end to end: %.2f round trips  (%d webhooks, "
           "%zu replies sent)\n", in + out, n, sent);
    printf("Webhooks from %d thread%s: %.0f/s (wall time)\n", threads,
           threads == 1 ? "" : "s", n / (t1 - t0));

    wabot_ctx_free(ctx);
    wabot_transport_free(tr);
    wabot_limiter_free(li);
    wabot_scheduler_free(sc);
    wabot_storage_free(st);
    wabot_redis_free(r);
    rh_destroy(&srv);
    return 0;
}
