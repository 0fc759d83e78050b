/* Several wabot-server processes on one Redis (issue 6): every webhook is
 * delivered to two different processes, yet each message is handled once
 * and answered once (counted on the fake provider), and the processes
 * together stay under the per-number rate. Real processes, real HTTP, a
 * real redis-server. Usage: test_redis_servers <path of wabot-server>. */
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "crash_main.h"
#include "fake_provider.h"
#include "http_client.h"
#include "redis_harness.h"
#include "server_proc.h"

#define N_SERVERS 4
#define N_MESSAGES 1000
#define N_THREADS 8
#define RATE 100 /* sends per second per number, shared */
#define SECRET "test-app-secret"

static crash_env crash;
static server_proc servers[N_SERVERS];

static void sign(const char *body, char *out)
{
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
         (const unsigned char *)body, strlen(body), mac, &len);
    strcpy(out, "X-Hub-Signature-256: sha256=");
    char *p = out + strlen(out);
    for (unsigned i = 0; i < len; i++)
        p += sprintf(p, "%02x", mac[i]);
}

static void webhook(int i, char *body, size_t n)
{
    snprintf(body, n,
             "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
             "\"changes\":[{\"field\":\"messages\",\"value\":{\"messaging_product\":"
             "\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550001111\","
             "\"phone_number_id\":\"106540352242922\"},\"contacts\":[{\"profile\":"
             "{\"name\":\"C%d\"},\"wa_id\":\"1415555%04d\"}],\"messages\":[{\"from\":"
             "\"1415555%04d\",\"id\":\"wamid.MULTI%06d\",\"timestamp\":\"%lld\","
             "\"type\":\"text\",\"text\":{\"body\":\"hello %d\"}}]}}]}]}",
             i, i, i, i, (long long)time(NULL), i);
}

typedef struct sender {
    int first;
    int failures;   /* answers other than 200 that were not retried */
    int retries;    /* 503s (storage down) redelivered, as providers do */
    int base;       /* message numbers base .. base + N_MESSAGES */
    int count;
} sender;

/* POST until answered 200; a 503 means "redeliver later". */
static int post_until_ok(http_client *c, const char *url, const char *extra,
                         const char *body, sender *s)
{
    int wait_ms = 50;
    for (int attempt = 0; attempt < 200; attempt++) {
        const char *h[] = {extra, NULL};
        http_result r;
        int ok = http_request_h(c, "POST", url, "application/json", h, body,
                                strlen(body), HTTP_BODY_LENGTH, &r) == 0;
        long status = ok ? r.status : 0;
        http_result_free(&r);
        if (status == 200)
            return 0;
        if (status != 503 && status != 0)
            return -1;
        s->retries++;
        struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (wait_ms < 500) /* providers back off too */
            wait_ms *= 2;
    }
    return -1;
}

static void *deliver(void *arg)
{
    sender *s = arg;
    http_client *c = http_client_new();
    for (int i = s->base + s->first; i < s->base + s->count; i += N_THREADS) {
        char body[1024], sig[128];
        webhook(i, body, sizeof body);
        sign(body, sig);
        for (int copy = 0; copy < 2; copy++) { /* two different processes */
            char url[128];
            snprintf(url, sizeof url, "http://127.0.0.1:%d/whatsapp-v2/webhook",
                     servers[(i + copy) % N_SERVERS].port);
            if (post_until_ok(c, url, sig, body, s) != 0)
                s->failures++;
        }
    }
    http_client_free(c);
    return NULL;
}

/* Deliver messages base .. base+count from N_THREADS threads; returns the
 * 503s that were redelivered. */
static int deliver_all(int base, int count)
{
    pthread_t th[N_THREADS];
    sender s[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        s[i] = (sender){i, 0, 0, base, count};
        pthread_create(&th[i], NULL, deliver, &s[i]);
    }
    int failures = 0, retries = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += s[i].failures;
        retries += s[i].retries;
    }
    ck_assert_int_eq(failures, 0);
    return retries;
}

static void wait_sent(size_t n)
{
    for (int i = 0; i < 600 && fp_count_sent(crash.fp) < n; i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct timespec settle = {1, 0}; /* late duplicates would show now */
    nanosleep(&settle, NULL);
}

static void assert_each_answered_once(int base, int count)
{
    for (int i = base; i < base + count; i++) {
        char to[24];
        snprintf(to, sizeof to, "+1415555%04d", i);
        ck_assert_msg(fp_count_to(crash.fp, to) == 1, "%s answered %zu times", to,
                      fp_count_to(crash.fp, to));
    }
}

static void start_servers(void)
{
    char redis_port[16], base[128];
    snprintf(redis_port, sizeof redis_port, "%d", crash.redis.port);
    snprintf(base, sizeof base, "%s", fp_base_url(crash.fp));
    char rate[32];
    snprintf(rate, sizeof rate, "%d", RATE);
    const char *env[] = {
        "WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=echo", "WABOT_LOG_LEVEL=error",
        "REDIS_HOST=127.0.0.1", NULL /* REDIS_PORT */, "WABOT_PROVIDER=meta",
        "META_ACCESS_TOKEN=" FP_DEFAULT_META_TOKEN,
        "META_PHONE_NUMBER_ID=106540352242922", NULL /* META_API_BASE */,
        "META_BUSINESS_NUMBER=+15550001111", "META_APP_SECRET=" SECRET,
        "TWILIO_AUTH_TOKEN=unused", NULL /* rate */,
        /* a claim left by an attempt that failed while Redis was down
         * blocks redeliveries until it expires: keep that short */
        "WABOT_OPT_DEDUP_LEASE_MS=5000",
        /* more sends admitted than connections (16): those beyond wait
         * in the worker and must still leave paced */
        "WABOT_OPT_OUTBOUND_CONCURRENCY=64", NULL};
    char port_var[40], base_var[160], rate_var[64];
    snprintf(port_var, sizeof port_var, "REDIS_PORT=%s", redis_port);
    snprintf(base_var, sizeof base_var, "META_API_BASE=%s", base);
    snprintf(rate_var, sizeof rate_var, "WABOT_OPT_RATE_SENDER_PER_S=%s", rate);
    env[4] = port_var;
    env[8] = base_var;
    env[12] = rate_var;
    for (int i = 0; i < N_SERVERS; i++)
        ck_assert_msg(sp_start(&servers[i], crash.server_path, env, 10000) == 0,
                      "wabot-server %d did not start", i);
}

static int64_t max_per_window(int64_t window_ms)
{
    size_t n = fp_request_count(crash.fp);
    int64_t *at = calloc(n + 1, sizeof *at);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        fp_request r;
        if (fp_request_get(crash.fp, i, &r) == 0) {
            if (r.message_id)
                at[k++] = r.at_ms;
            fp_request_free(&r);
        }
    }
    int64_t best = 0;
    for (size_t lo = 0, hi = 0; hi < k; hi++) { /* arrivals are in order */
        while (at[hi] - at[lo] >= window_ms)
            lo++;
        if ((int64_t)(hi - lo + 1) > best)
            best = (int64_t)(hi - lo + 1);
    }
    free(at);
    return best;
}

START_TEST(test_four_servers_handle_each_message_once)
{
    start_servers();
    deliver_all(0, N_MESSAGES);
    wait_sent(N_MESSAGES);
    ck_assert_uint_eq(fp_count_sent(crash.fp), N_MESSAGES);
    assert_each_answered_once(0, N_MESSAGES);
    /* The limiter decides on each process's clock; requests then reach the
     * provider after a variable delay (HTTP pools, a loaded machine), which
     * can bunch a few together. Over 5 s, allow up to 1 s of such jitter:
     * four processes that did not share the limit would send 2000. */
    int64_t peak1 = max_per_window(1000), peak5 = max_per_window(5000);
    printf("%d servers, %d webhooks x 2 deliveries: %zu sends; peak %lld in "
           "any 1 s, %lld in any 5 s (limit %d/s + burst %d)\n", N_SERVERS,
           N_MESSAGES, fp_count_sent(crash.fp), (long long)peak1,
           (long long)peak5, RATE, RATE / 10);
    ck_assert_int_le(peak5, 5 * RATE + RATE / 10 + RATE);
    for (int i = 0; i < N_SERVERS; i++) {
        int st = -1;
        ck_assert_int_eq(sp_stop(&servers[i], SIGTERM, 15000, &st), 0);
        sp_free(&servers[i]);
    }
}
END_TEST

/* Redis goes down (SIGKILL) and comes back (AOF) while webhooks flow:
 * the servers answer 503 meanwhile (the sender redelivers, as providers
 * do), keep running, and afterwards every message is answered once. */
static void *kill_and_restart(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    rh_kill(&crash.redis);
    struct timespec down = {1, 0};
    nanosleep(&down, NULL);
    if (rh_restart(&crash.redis) != 0) { /* Check asserts belong to the main thread */
        fprintf(stderr, "redis-server did not come back\n");
        abort();
    }
    return NULL;
}

START_TEST(test_redis_restart_while_webhooks_flow_loses_nothing)
{
    start_servers();
    size_t before = fp_count_sent(crash.fp);
    pthread_t killer;
    pthread_create(&killer, NULL, kill_and_restart, NULL);
    int redelivered = deliver_all(N_MESSAGES, 300);
    pthread_join(killer, NULL);
    wait_sent(before + 300);
    printf("redis restart: %d webhooks redelivered after 503, %zu sends\n",
           redelivered, fp_count_sent(crash.fp) - before);
    ck_assert_uint_eq(fp_count_sent(crash.fp) - before, 300);
    assert_each_answered_once(N_MESSAGES, 300);
    for (int i = 0; i < N_SERVERS; i++) {
        int st = -1;
        ck_assert_int_eq(sp_stop(&servers[i], SIGTERM, 15000, &st), 0);
        ck_assert_int_eq(st, 0); /* they kept running through the outage */
        sp_free(&servers[i]);
    }
}
END_TEST

int main(int argc, char **argv)
{
    Suite *su = suite_create("redis-servers");
    TCase *tc = tcase_create("multi-process");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_four_servers_handle_each_message_once);
    tcase_add_test(tc, test_redis_restart_while_webhooks_flow_loses_nothing);
    suite_add_tcase(su, tc);
    return crash_main(argc, argv, &crash, NULL, su);
}
