/* How fast is one inbound message, end to end inside the library?
 *
 * Feeds N Twilio-format webhooks through wabot_http_handle() (parse, turn,
 * state load/save on memory storage, keyword routing, one reply to a
 * transport that completes at once) on 1 and on 2 threads, and N messages
 * through wabot_ctx_handle_message() (no HTTP parsing). Prints messages/s,
 * mean wall and CPU microseconds per message (CPU time is the figure to
 * compare on a shared machine: other processes stretch wall time, not
 * it) and p50/p99 of one message's wall time; then the memory one
 * conversation takes in the memory backend, and what each message leaves
 * behind once its reply is settled (a flood's RSS grows by that), by key
 * prefix, and what a reply waiting in the outbound backlog costs. Usage:
 * bench_webhook [N [RUN]] where RUN (http1, http2, steady1, steady2: the
 * same with a loop thread sending the replies meanwhile, one, direct, memory,
 * retained, queued, receipts; receipt-sends: the sends with a record each
 * alone) runs only that part, for profiling one path at a time. */
#include <malloc.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <wabot.h>

#include "handoff.h"

static int null_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    (void)impl;
    (void)m;
    wabot_send_op_ok(op, "bench");
    return WABOT_OK;
}

static const wabot_transport_vtable null_vt = {WABOT_TRANSPORT_VTABLE_VERSION,
                                               null_send, NULL};

/* Message and provider ids in Meta's shape ("wamid." + base64) instead
 * of Twilio's: the receipts run's second half. */
static int meta_ids;

/* As null_send, but every send gets a provider id of its own, in
 * Twilio's shape ("SM" + 32 hex) or Meta's: each leaves its delivery
 * record. */
static int unique_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    static _Atomic unsigned long long next;
    (void)impl;
    (void)m;
    char sid[80];
    if (meta_ids)
        snprintf(sid, sizeof sid, "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI%020lluAA==",
                 ++next);
    else
        snprintf(sid, sizeof sid, "SM%016llx%016llx", 0x5eedULL, ++next);
    wabot_send_op_ok(op, sid);
    return WABOT_OK;
}

static const wabot_transport_vtable unique_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, unique_send, NULL};

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
    float *lat_us; /* per message, indexed from `from` */
} job;

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

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
        double t0 = now_s();
        if (wabot_http_handle(j->ctx, "POST", "/whatsapp/webhook", h, 1, body,
                              (size_t)n, &r) != WABOT_OK ||
            wabot_http_response_status(r) != 200) {
            fprintf(stderr, "unexpected answer\n");
            exit(1);
        }
        wabot_http_response_free(r);
        j->lat_us[i] = (float)((now_s() - t0) * 1e6);
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
        double t0 = now_s();
        wabot_message *m = wabot_message_new(id, from, "+14155238886");
        wabot_message_set_text(m, "menu");
        wabot_ctx_handle_message(j->ctx, m);
        wabot_message_free(m);
        j->lat_us[i] = (float)((now_s() - t0) * 1e6);
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
    /* Nothing drains the replies here: the backlog bound would answer 503
     * after 20000 (the outbound enqueue is part of what is measured). */
    wabot_options_set_int(o, WABOT_OPT_OUTBOUND_BACKLOG_MAX, 0);
    /* Where replies are sent (per_conversation), not paced either. */
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 0);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    wabot_ctx *ctx;
    if (wabot_ctx_new(&ctx, o) != WABOT_OK)
        exit(1);
    wabot_options_free(o);
    wabot_route_keyword(ctx, NULL, "menu", on_menu, NULL, NULL);
    return ctx;
}

/* The library's loop thread, as wabot-server's main thread runs it: the
 * replies are sent (to the null transport) and settled while webhooks
 * come in, so the outbound queue stays short instead of holding every
 * reply of the run. */
typedef struct loop_arg {
    wabot_ctx *ctx;
    atomic_int stop;
} loop_arg;

static void *run_loop(void *p)
{
    loop_arg *l = p;
    while (!atomic_load(&l->stop))
        wabot_ctx_poll(l->ctx, 5);
    return NULL;
}

/* n webhooks through fn on `threads` threads. drain: with a loop thread
 * sending the replies meanwhile (the steady state of a server: its CPU,
 * the replies' whole life, counts in CPU per message); else nothing
 * drains and the queue ends holding all n replies (the webhook path
 * alone, but its heap grows all run long). */
static void bench_with(const char *name, void *(*fn)(void *), int n,
                       int threads, int customers, int drain)
{
    wabot_transport *t = wabot_transport_new(&null_vt, NULL, "null");
    wabot_ctx *ctx = make_ctx(t);
    pthread_t th[8], lt;
    job jobs[8];
    loop_arg loop = {ctx, 0};
    float *lat = calloc((size_t)n, sizeof *lat);
    if (!lat)
        exit(1);
    double start = now_s(), cpu0 = cpu_s();
    if (drain)
        pthread_create(&lt, NULL, run_loop, &loop);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){ctx, n / threads * i, n / threads * (i + 1), customers,
                        lat};
        pthread_create(&th[i], NULL, fn, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - start, cpu = cpu_s() - cpu0;
    int64_t sent = 0;
    if (drain) {
        atomic_store(&loop.stop, 1);
        pthread_join(lt, NULL);
        sent = wabot_metrics_counter(ctx, "outbound.sent");
    }
    int done = n / threads * threads;
    qsort(lat, (size_t)done, sizeof *lat, cmp_float);
    int64_t handled = wabot_metrics_counter(ctx, "messages.handled");
    printf("%-31s %d thr %4d cust: %7.0f msg/s %6.2f us/msg, CPU %6.2f "
           "us/msg (%7.0f msg/CPU-s), p50 %5.1f p99 %6.1f us (handled %lld",
           name, threads, customers, n / secs, secs * 1e6 / n, cpu * 1e6 / n,
           n / cpu, lat[done / 2], lat[done / 100 * 99], (long long)handled);
    if (drain)
        printf(", replies sent meanwhile %lld", (long long)sent);
    printf(")\n");
    free(lat);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
}

static void bench(const char *name, void *(*fn)(void *), int n, int threads,
                  int customers)
{
    bench_with(name, fn, n, threads, customers, 0);
}

/* n "menu" messages with distinct ids, from `customers` customers in
 * turn (0: each from a customer of its own), their replies sent and
 * settled a thousand at a time as a server's loop would. */
static void feed_menus_queued(wabot_ctx *ctx, int n, int customers,
                              int drain)
{
    for (int i = 0; i < n; i++) {
        char id[80], from[32];
        if (meta_ids)
            snprintf(id, sizeof id, "wamid.HBgLMTQxNTU1NTAxMDAVAgASGBQ%020dAA==",
                     i);
        else
            snprintf(id, sizeof id, "SM%032d", i);
        if (customers > 0)
            snprintf(from, sizeof from, "+1415555%04d", i % customers);
        else
            snprintf(from, sizeof from, "+1%010d", i);
        wabot_message *m = wabot_message_new(id, from, "+14155238886");
        wabot_message_set_text(m, "menu");
        wabot_ctx_handle_message(ctx, m);
        wabot_message_free(m);
        if (drain && i % 1000 == 999)
            wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    }
    if (drain)
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
}

static void feed_menus(wabot_ctx *ctx, int n, int customers)
{
    feed_menus_queued(ctx, n, customers, 1);
}

static void storage_by_group(wabot_storage *st, int messages);

/* Heap bytes in use: malloc's arenas and its blocks of their own (mmap:
 * large tables, such as the memory store's dedup marks, live there). */
static double heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

/* Heap bytes per conversation in the memory backend: one message from
 * each of `customers` customers (their conversation, customer profile,
 * limiter state and dedup mark all stay), replies sent and settled (the
 * queue keeps its default retention of 1000 completed jobs, so the last
 * 1000 jobs are in too: a small share of the total). */
static void per_conversation(int customers)
{
    wabot_transport *t = wabot_transport_new(&null_vt, NULL, "null");
    wabot_ctx *ctx = make_ctx(t);
    double before = heap_bytes();
    feed_menus(ctx, customers, 0);
    double per = (heap_bytes() - before) / customers;
    printf("memory backend: %.0f heap bytes per conversation after one "
           "message each (%d customers; session {\"n\":1}, dedup mark, "
           "profile, limiter and the queue's retained jobs included; the "
           "dedup marks are not keys)\n",
           per, customers);
    storage_by_group(wabot_ctx_storage(ctx), customers);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
}

/* The storage keys' group: up to the first ':' or '{' ("dedup", "send"). */
static size_t key_group(const char *key, size_t len)
{
    size_t n = 0;
    while (n < len && key[n] != ':' && key[n] != '{')
        n++;
    return n;
}

typedef struct group_sum {
    char name[32];
    long keys;
    double key_bytes, value_bytes;
} group_sum;

/* Add up the live keys of the store by group; prints them per message. */
static void storage_by_group(wabot_storage *st, int messages)
{
    group_sum g[32];
    int ng = 0;
    char *cursor = strdup("0");
    do {
        wabot_storage_items *page = NULL;
        if (wabot_storage_scan(st, "", cursor, 500, WABOT_STORAGE_SCAN_VALUES,
                               &page) != WABOT_OK)
            exit(1);
        for (size_t i = 0; i < wabot_storage_items_count(page); i++) {
            size_t klen, vlen = 0;
            const char *k = wabot_storage_items_key(page, i, &klen);
            wabot_storage_items_value(page, i, &vlen);
            size_t glen = key_group(k, klen);
            int j = 0;
            while (j < ng && !(strlen(g[j].name) == glen &&
                               memcmp(g[j].name, k, glen) == 0))
                j++;
            if (j == ng && ng < 32 && glen < sizeof g[0].name) {
                memset(&g[ng], 0, sizeof g[ng]);
                memcpy(g[ng].name, k, glen);
                ng++;
            }
            if (j < ng) {
                g[j].keys++;
                g[j].key_bytes += (double)klen;
                g[j].value_bytes += (double)vlen;
            }
        }
        free(cursor);
        cursor = strdup(wabot_storage_items_cursor(page));
        wabot_storage_items_free(page);
    } while (strcmp(cursor, "0") != 0);
    free(cursor);
    for (int j = 0; j < ng; j++)
        printf("  %-16s %8ld keys (%.2f per message), key %.0f B + value "
               "%.0f B per message\n",
               g[j].name, g[j].keys, (double)g[j].keys / messages,
               g[j].key_bytes / messages, g[j].value_bytes / messages);
}

/* What a message leaves in memory once its reply went out and settled:
 * `messages` messages from 1000 customers (10+ each: their conversation,
 * profile and limiter are shared), in rounds drained like a server's loop
 * would. The heap's growth per message is what a flood's RSS grows by. */
static void retained(int messages)
{
    wabot_transport *t = wabot_transport_new(&null_vt, NULL, "null");
    wabot_ctx *ctx = make_ctx(t);
    double before = heap_bytes();
    feed_menus(ctx, messages, 1000);
    double after = heap_bytes();
    printf("memory backend: %.0f heap bytes retained per message once its "
           "reply is settled (%d messages, 1000 customers); storage keys "
           "by group:\n",
           (after - before) / messages,
           messages);
    storage_by_group(wabot_ctx_storage(ctx), messages);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
}

/* What one reply waiting in the outbound backlog costs: `messages`
 * messages from 1000 customers with nothing sending (the heap per message
 * with its reply queued), then sent and settled (what stays). A flood's
 * peak holds the backlog bound's worth (20 000 by default). */
static void queued(int messages)
{
    wabot_transport *t = wabot_transport_new(&null_vt, NULL, "null");
    wabot_ctx *ctx = make_ctx(t);
    double before = heap_bytes();
    feed_menus_queued(ctx, messages, 1000, 0);
    double waiting = heap_bytes();
    wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    double after = heap_bytes();
    printf("memory backend: %.0f heap bytes per message with its reply "
           "waiting in the outbound backlog, %.0f once sent and settled "
           "(%d messages, 1000 customers)\n",
           (waiting - before) / messages, (after - before) / messages,
           messages);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
}

/* What a send's delivery record costs (lib/webhook/receipts.c): the heap
 * retained per message when every send has a provider id of its own,
 * less the same run with one id for all (one record). */
static double retained_with(const wabot_transport_vtable *vt, int messages,
                            int show)
{
    wabot_transport *t = wabot_transport_new(vt, NULL, "null");
    wabot_ctx *ctx = make_ctx(t);
    double before = heap_bytes();
    feed_menus(ctx, messages, 1000);
    double per = (heap_bytes() - before) / messages;
    if (show)
        storage_by_group(wabot_ctx_storage(ctx), messages);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
    return per;
}

static void receipts(int messages)
{
    for (meta_ids = 0; meta_ids <= 1; meta_ids++) {
        const char *shape = meta_ids ? "Meta ids" : "Twilio ids";
        double one = retained_with(&null_vt, messages, 0);
        printf("memory backend, %s, a provider id per send; storage keys "
               "by group:\n",
               shape);
        double each = retained_with(&unique_vt, messages, 1);
        printf("memory backend, %s: %.0f heap bytes retained per message "
               "with a record per send, %.0f with one record for all: %.0f "
               "bytes per send's delivery record (%d messages)\n",
               shape, each, one, each - one, messages);
    }
    meta_ids = 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    if (n < 8)
        n = 8;
    const char *only = argc > 2 ? argv[2] : NULL;
#define RUN(name) (only == NULL || strcmp(only, name) == 0)
    printf("libwabot %s, %d messages per run\n", wabot_version_str(), n);
    if (only == NULL || strcmp(only, "http2") == 0 ||
        strcmp(only, "steady2") == 0 || strcmp(only, "one") == 0)
        bench_handoff_print();
    if (RUN("http1"))
        bench("webhook (Twilio form -> reply)", run_http, n, 1, 1000);
    if (RUN("http2"))
        bench("webhook (Twilio form -> reply)", run_http, n, 2, 1000);
    if (RUN("steady1"))
        bench_with("webhook + loop sending replies", run_http, n, 1, 1000, 1);
    if (RUN("steady2"))
        bench_with("webhook + loop sending replies", run_http, n, 2, 1000, 1);
    if (RUN("one"))
        bench("webhook, one customer", run_http, n, 2, 1);
    if (RUN("direct"))
        bench("handle_message (no HTTP parse)", run_direct, n, 1, 1000);
    if (RUN("memory"))
        per_conversation(n < 100000 ? n : 100000);
    if (RUN("retained"))
        retained(n < 100000 ? n : 100000);
    if (RUN("queued"))
        queued(n < 20000 ? n : 20000);
    if (RUN("receipts"))
        receipts(n < 100000 ? n : 100000);
    if (only != NULL && strcmp(only, "receipt-sends") == 0) /* profiling */
        printf("%.0f heap bytes retained per message, a record per send\n",
               retained_with(&unique_vt, n, 0));
#undef RUN
    return 0;
}
