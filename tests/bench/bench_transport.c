/* How fast do messages leave through a provider transport?
 *
 * Queues N text messages and sends them through the Meta (or Twilio)
 * transport and the context's libcurl client, driven by wabot_ctx_poll,
 * to the fake provider on loopback. Rate limits are lifted (they would
 * measure the limiter, not the path). Prints messages/s, HTTP requests per
 * message, the loop thread's CPU per message, and the process's (the
 * fake provider's threads and any HTTP sender threads included).
 * Usage: bench_transport [N] [meta|twilio] [http_threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wabot.h>

#include "fake_provider.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of the calling thread: the loop thread's cost per message,
 * apart from the fake provider's threads in the same process. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static wabot_transport *make_transport(const char *kind, const char *base)
{
    if (strcmp(kind, "twilio") == 0) {
        wabot_twilio_config c;
        wabot_twilio_config_init(&c);
        c.account_sid = FP_DEFAULT_TWILIO_SID;
        c.auth_token = FP_DEFAULT_TWILIO_TOKEN;
        c.from = "+14155238886";
        c.base_url = base;
        return wabot_transport_twilio_new(&c);
    }
    wabot_meta_config c;
    wabot_meta_config_init(&c);
    c.access_token = FP_DEFAULT_META_TOKEN;
    c.phone_number_id = "106540352242922";
    c.base_url = base;
    return wabot_transport_meta_new(&c);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    const char *kind = argc > 2 ? argv[2] : "meta";
    int threads = argc > 3 ? atoi(argv[3]) : 0;
    fp_server *fp = fp_start(NULL);
    if (!fp)
        return 1;
    wabot_transport *t = make_transport(kind, fp_base_url(fp));
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_WINDOW_MS, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    wabot_options_set_int(o, WABOT_OPT_OUTBOUND_CONCURRENCY, 64);
    wabot_options_set_int(o, WABOT_OPT_JOB_LEASE_MS, 600000);
    wabot_options_set_int(o, WABOT_OPT_HTTP_THREADS, threads);
    wabot_options_set_transport(o, t);
    wabot_ctx *ctx;
    if (!t || wabot_ctx_new(&ctx, o) != WABOT_OK)
        return 1;
    wabot_options_free(o);
    for (int i = 0; i < n; i++) {
        char to[24];
        snprintf(to, sizeof to, "+1415%07d", i);
        wabot_send_text(ctx, NULL, to, "Your order has shipped.",
                        WABOT_CAT_NOTICE, NULL, NULL);
    }
    double start = now_s(), cpu0 = thread_cpu_s(), pcpu0 = process_cpu_s();
    while (wabot_metrics_counter(ctx, "outbound.sent") +
               wabot_metrics_counter(ctx, "outbound.failed") < n &&
           now_s() - start < 300)
        wabot_ctx_poll(ctx, 100);
    double secs = now_s() - start, cpu = thread_cpu_s() - cpu0;
    double pcpu = process_cpu_s() - pcpu0;
    int64_t sent = wabot_metrics_counter(ctx, "outbound.sent");
    printf("%s transport, libcurl multi, loopback fake provider, concurrency "
           "64, http_threads %d\n", kind, threads);
    printf("  %lld of %d sent in %.2f s: %.0f messages/s, %.2f HTTP requests "
           "per message, %.1f us per message\n",
           (long long)sent, n, secs, sent / secs,
           (double)fp_request_count(fp) / (sent ? sent : 1), secs * 1e6 / n);
    printf("  loop thread CPU %.2f s: %.1f us per message; process CPU (fake "
           "provider included) %.1f us per message\n", cpu, cpu * 1e6 / n,
           pcpu * 1e6 / n);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
    fp_stop(fp);
    return sent == n ? 0 : 1;
}
