/* How fast is one inbound message, end to end inside the library?
 *
 * Feeds N Twilio-format webhooks through wabot_http_handle() (parse, turn,
 * state load/save on memory storage, keyword routing, one reply to a
 * transport that completes at once) on 1 and on 2 threads, and N messages
 * through wabot_ctx_handle_message() (no HTTP parsing). Prints messages/s
 * and mean microseconds per message. Usage: bench_webhook [N]. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wabot.h>

static int null_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    (void)impl;
    (void)m;
    wabot_send_op_ok(op, "bench");
    return WABOT_OK;
}

static const wabot_transport_vtable null_vt = {WABOT_TRANSPORT_VTABLE_VERSION,
                                               null_send, NULL};

static int on_menu(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_turn_session_set_int(t, "n", wabot_turn_session_int(t, "n", 0) + 1);
    return wabot_reply_text(t, "1. Coffee  2. Tea  3. Cake");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct job {
    wabot_ctx *ctx;
    int from, to; /* message index range */
    int customers;
} job;

static void *run_http(void *p)
{
    job *j = p;
    wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    char body[512];
    for (int i = j->from; i < j->to; i++) {
        int n = snprintf(body, sizeof body,
                         "MessageSid=SM%032d&AccountSid=AC0000000000000000000000"
                         "0000000000&From=whatsapp%%3A%%2B1415555%04d&To="
                         "whatsapp%%3A%%2B14155238886&Body=Menu&NumMedia=0&"
                         "ProfileName=Bench",
                         i, i % j->customers);
        wabot_http_response *r = NULL;
        if (wabot_http_handle(j->ctx, "POST", "/whatsapp/webhook", h, 1, body,
                              (size_t)n, &r) != WABOT_OK ||
            wabot_http_response_status(r) != 200) {
            fprintf(stderr, "unexpected answer\n");
            exit(1);
        }
        wabot_http_response_free(r);
    }
    return NULL;
}

static void *run_direct(void *p)
{
    job *j = p;
    for (int i = j->from; i < j->to; i++) {
        char id[48], from[32];
        snprintf(id, sizeof id, "SM%032d", i);
        snprintf(from, sizeof from, "+1415555%04d", i % j->customers);
        wabot_message *m = wabot_message_new(id, from, "+14155238886");
        wabot_message_set_text(m, "menu");
        wabot_ctx_handle_message(j->ctx, m);
        wabot_message_free(m);
    }
    return NULL;
}

static wabot_ctx *make_ctx(wabot_transport *t)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_transport(o, t);
    /* Unsigned requests, and customers sending far faster than a person:
     * the signature check (one HMAC) and the inbound rate limit would
     * measure the benchmark, not the bot. Dedup stays on (unique ids). */
    wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0);
    wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT, 0);
    wabot_ctx *ctx;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK)
        exit(1);
    wabot_options_free(o);
    wabot_route_keyword(ctx, NULL, "menu", on_menu, NULL, NULL);
    return ctx;
}

static void bench(const char *name, void *(*fn)(void *), int n, int threads,
                  int customers)
{
    wabot_transport *t = wabot_transport_new(&null_vt, NULL, "null");
    wabot_ctx *ctx = make_ctx(t);
    pthread_t th[8];
    job jobs[8];
    double start = now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){ctx, n / threads * i, n / threads * (i + 1), customers};
        pthread_create(&th[i], NULL, fn, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - start;
    int64_t handled = wabot_metrics_counter(ctx, "messages.handled");
    printf("%-34s %2d thread(s) %6d customers: %9.0f msg/s  %7.2f us/msg"
           "  (handled %lld)\n",
           name, threads, customers, n / secs, secs * 1e6 / n,
           (long long)handled);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    if (n < 8)
        n = 8;
    printf("libwabot %s, %d messages per run\n", wabot_version_str(), n);
    bench("webhook (Twilio form -> reply)", run_http, n, 1, 1000);
    bench("webhook (Twilio form -> reply)", run_http, n, 2, 1000);
    bench("webhook, one customer", run_http, n, 2, 1);
    bench("handle_message (no HTTP parse)", run_direct, n, 1, 1000);
    return 0;
}
