/* Invoices on a real redis-server: 8 threads issuing 1,000 invoices, then
 * 4 processes issuing 1,000 more for one organisation (numbers 1..1000, no
 * gap, no duplicate), and wabot-server's invoice-processing worker sending
 * an invoice as a document the fake provider can fetch over real HTTP at
 * its signed URL. Usage: test_redis_invoices <path of wabot-server>
 * (without it the server test is skipped). Internally also
 * test_redis_invoices --issue PORT PREFIX ORG KEYS COUNT (a child). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "fake_provider.h"
#include "http_client.h"
#include "invoice_helpers.h"
#include "redis_harness.h"
#include "server_proc.h"
#include "wabot.h"

#define SECRET "redis-invoice-secret"
#define N_INVOICES 1000
#define N_PROCS 4

static const char *server_path, *self_path;
static rh_server redis;

/* A context on Redis storage and scheduler under `prefix`. */
typedef struct rctx {
    wabot_redis *r;
    wabot_storage *s;
    wabot_scheduler *q;
    wabot_ctx *ctx;
} rctx;

static int rctx_open(rctx *c, int port, const char *prefix,
                     const char *public_url)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = port;
    cfg.prefix = prefix;
    cfg.pool_size = 8;
    const char *err = NULL;
    memset(c, 0, sizeof *c);
    c->r = wabot_redis_new(&cfg, &err);
    if (!c->r)
        return -1;
    c->s = wabot_storage_redis_new(c->r);
    c->q = wabot_scheduler_redis_new(c->r);
    wabot_options *o = wabot_options_new();
    wabot_options_set_storage(o, c->s);
    wabot_options_set_scheduler(o, c->q);
    wabot_options_set(o, "invoices.secret", SECRET);
    if (public_url)
        wabot_options_set(o, "public_url", public_url);
    int rc = wabot_ctx_new(&c->ctx, o);
    wabot_options_free(o);
    return rc == WABOT_OK ? 0 : -1;
}

static void rctx_close(rctx *c)
{
    wabot_ctx_free(c->ctx);
    wabot_scheduler_free(c->q);
    wabot_storage_free(c->s);
    wabot_redis_free(c->r);
}

/* Sequences of every invoice of org, from its list. */
static int list_seqs(wabot_ctx *ctx, const char *org, int64_t *seqs, int max)
{
    int n = 0;
    for (int64_t off = 0; off >= 0;) {
        char *text = NULL;
        ck_assert_int_eq(wabot_invoice_list(ctx, org, NULL, 0, off, 1000,
                                            &text),
                         WABOT_OK);
        json_t *j = json_loads(text, 0, NULL);
        wabot_ctx_mem_free(ctx, text);
        json_t *arr = json_object_get(j, "invoices");
        for (size_t i = 0; i < json_array_size(arr) && n < max; i++)
            seqs[n++] = inv_seq_of(json_string_value(
                json_object_get(json_array_get(arr, i), "number")));
        off = json_integer_value(json_object_get(j, "next_offset"));
        json_decref(j);
    }
    return n;
}

START_TEST(test_eight_threads_issue_1000_invoices_on_redis_without_gap)
{
    rctx c;
    ck_assert_int_eq(rctx_open(&c, redis.port, "thr:", NULL), 0);
    int64_t *seqs = calloc(N_INVOICES, sizeof *seqs);
    ck_assert_int_eq(inv_issue_concurrently(c.ctx, "busy", "t", 8,
                                            N_INVOICES, seqs),
                     0);
    char why[128] = "";
    ck_assert_msg(inv_seqs_gap_free(seqs, N_INVOICES, why), "%s", why);
    free(seqs);
    rctx_close(&c);
}
END_TEST

/* A child: issue COUNT invoices from 2 threads, exit 0 if all worked. */
static int issue_main(char **argv)
{
    rctx c;
    if (rctx_open(&c, atoi(argv[2]), argv[3], NULL) != 0)
        return 2;
    int count = atoi(argv[6]);
    int64_t *seqs = calloc((size_t)count, sizeof *seqs);
    int failed = inv_issue_concurrently(c.ctx, argv[4], argv[5], 2, count,
                                        seqs);
    free(seqs);
    rctx_close(&c);
    return failed ? 1 : 0;
}

START_TEST(test_four_processes_issue_1000_invoices_without_gap)
{
    pid_t pids[N_PROCS];
    char port[16], keys[16], count[16];
    snprintf(port, sizeof port, "%d", redis.port);
    snprintf(count, sizeof count, "%d", N_INVOICES / N_PROCS);
    for (int p = 0; p < N_PROCS; p++) {
        snprintf(keys, sizeof keys, "proc%d", p);
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            execl(self_path, self_path, "--issue", port, "procs:", "shared",
                  keys, count, (char *)NULL);
            _exit(127);
        }
    }
    for (int p = 0; p < N_PROCS; p++) {
        int st = -1;
        ck_assert_int_eq(waitpid(pids[p], &st, 0), pids[p]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "issuer %d: status %d", p, st);
    }
    rctx c;
    ck_assert_int_eq(rctx_open(&c, redis.port, "procs:", NULL), 0);
    int64_t *seqs = calloc(N_INVOICES + 1, sizeof *seqs);
    ck_assert_int_eq(list_seqs(c.ctx, "shared", seqs, N_INVOICES + 1),
                     N_INVOICES);
    char why[128] = "";
    ck_assert_msg(inv_seqs_gap_free(seqs, N_INVOICES, why), "%s", why);
    free(seqs);
    rctx_close(&c);
}
END_TEST

/* ---- through wabot-server ------------------------------------------- */

static const char payload[] =
    "{\"org\":\"shop\",\"customer\":\"+14155550123\",\"currency\":\"USD\","
    "\"key\":\"order-1001\",\"lines\":[{\"sku\":\"COKE\",\"name\":\"Coke\","
    "\"quantity\":2,\"unit_minor\":150,\"tax_bp\":825},{\"sku\":\"PZ\","
    "\"name\":\"Pizza\",\"quantity\":1,\"unit_minor\":1299}]}";

/* The document request the fake provider got, or -1. */
static long find_document(fp_server *fp, char *link, size_t n)
{
    for (size_t i = 0; i < fp_request_count(fp); i++) {
        fp_request r;
        if (fp_request_get(fp, i, &r) != 0)
            continue;
        const char *l = fp_request_json(&r, "document.link");
        if (l)
            snprintf(link, n, "%s", l);
        fp_request_free(&r);
        if (l)
            return (long)i;
    }
    return -1;
}

START_TEST(test_server_worker_sends_a_document_served_at_its_signed_url)
{
    ck_assert_ptr_nonnull(server_path);
    fp_server *fp = fp_start(NULL);
    ck_assert_ptr_nonnull(fp);
    int port = sp_free_port();
    char listen[64], public_url[64], rport[32], api[160];
    snprintf(listen, sizeof listen, "WABOT_LISTEN=127.0.0.1:%d", port);
    snprintf(public_url, sizeof public_url, "http://127.0.0.1:%d", port);
    char public_var[96];
    snprintf(public_var, sizeof public_var, "WABOT_PUBLIC_URL=%s", public_url);
    snprintf(rport, sizeof rport, "REDIS_PORT=%d", redis.port);
    snprintf(api, sizeof api, "META_API_BASE=%s", fp_base_url(fp));
    const char *env[] = {
        listen, public_var, rport, api, "REDIS_HOST=127.0.0.1",
        "WABOT_REDIS_PREFIX=srv:", "WABOT_BOT=echo", "WABOT_LOG_LEVEL=error",
        "WABOT_PROVIDER=meta", "META_ACCESS_TOKEN=" FP_DEFAULT_META_TOKEN,
        "META_PHONE_NUMBER_ID=106540352242922",
        "META_BUSINESS_NUMBER=+15550001111", "META_APP_SECRET=x",
        "TWILIO_AUTH_TOKEN=unused", "WABOT_WINDOW_MS=0",
        "WABOT_INVOICES_SECRET=" SECRET, NULL};
    server_proc sp;
    ck_assert_msg(sp_start(&sp, server_path, env, 10000) == 0,
                  "wabot-server did not start");
    rctx c;
    ck_assert_int_eq(rctx_open(&c, redis.port, "srv:", public_url), 0);
    ck_assert_int_eq(wabot_invoice_enqueue(c.ctx, payload, strlen(payload),
                                           NULL),
                     WABOT_OK);
    /* A second delivery of the same order queues nothing. */
    ck_assert_int_eq(wabot_invoice_enqueue(c.ctx, payload, strlen(payload),
                                           NULL),
                     WABOT_ERR_EXISTS);
    char link[512] = "";
    for (int i = 0; i < 200 && find_document(fp, link, sizeof link) < 0; i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(link[0] != '\0', "no document message reached the provider");
    ck_assert_msg(strncmp(link, public_url, strlen(public_url)) == 0, "%s",
                  link);
    ck_assert_ptr_nonnull(strstr(link, "/shop/"));
    /* The provider fetches it: a real PDF with the number and total. */
    http_client *hc = http_client_new();
    http_result r;
    ck_assert_int_eq(http_request(hc, "GET", link, NULL, NULL, 0,
                                  HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "application/pdf");
    char why[256] = "";
    char *text = inv_pdf_text(r.body, r.len, why);
    ck_assert_msg(text != NULL, "%s", why);
    ck_assert_msg(strstr(text, "INV-") && strstr(text, "USD 16.24"), "%s",
                  text);
    free(text);
    http_result_free(&r);
    /* Tampered: 404. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s", link);
    char *sig = strrchr(bad, '/') - 1;
    *sig = *sig == '0' ? '1' : '0';
    ck_assert_int_eq(http_request(hc, "GET", bad, NULL, NULL, 0,
                                  HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 404);
    http_result_free(&r);
    http_client_free(hc);
    /* The invoice is SENT, seen from this process through Redis. */
    char *list = NULL;
    ck_assert_int_eq(wabot_invoice_list(c.ctx, "shop", "+14155550123",
                                        WABOT_INVOICE_SENT, 0, 10, &list),
                     WABOT_OK);
    ck_assert_ptr_nonnull(strstr(list, "\"order-1001\""));
    wabot_ctx_mem_free(c.ctx, list);
    /* One document only, however long we wait. */
    struct timespec settle = {1, 0};
    nanosleep(&settle, NULL);
    size_t docs = 0;
    for (size_t i = 0; i < fp_request_count(fp); i++) {
        fp_request q;
        if (fp_request_get(fp, i, &q) == 0) {
            docs += fp_request_json(&q, "document.link") != NULL;
            fp_request_free(&q);
        }
    }
    ck_assert_uint_eq(docs, 1);
    rctx_close(&c);
    int st = -1;
    ck_assert_int_eq(sp_stop(&sp, SIGTERM, 15000, &st), 0);
    sp_free(&sp);
    fp_stop(fp);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "--issue") == 0)
        return issue_main(argv);
    self_path = "/proc/self/exe";
    server_path = argc >= 2 ? argv[1] : NULL;
    int started = rh_main_start(&redis);
    if (started != 0)
        return started;
    Suite *su = suite_create("redis-invoices");
    TCase *tc = tcase_create("redis-invoices");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc,
                   test_eight_threads_issue_1000_invoices_on_redis_without_gap);
    tcase_add_test(tc, test_four_processes_issue_1000_invoices_without_gap);
    if (server_path)
        tcase_add_test(
            tc, test_server_worker_sends_a_document_served_at_its_signed_url);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rh_destroy(&redis);
    return failed ? 1 : 0;
}
