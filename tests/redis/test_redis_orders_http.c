/* The shop over real HTTP: wabot-server (WABOT_BOT=shop, Redis storage
 * on a redis-server started here) gets Twilio webhooks; a customer orders
 * in free text and confirms, and receives the order confirmation and the
 * invoice (its text with the PDF's signed link, which the test fetches
 * over HTTP as a provider would: a PDF). The "confirm" webhook delivered
 * twice makes one order and one invoice.
 * Usage: test_redis_orders_http <path of wabot-server>. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "http_client.h"
#include "redis_harness.h"
#include "server_proc.h"
#include "wabot.h"

#define CUSTOMER "+14155550177"
#define SECRET "orders-http-secret"
#define PREFIX "shop:"
#define LINE_MS 15000

static const char *server_path;
static rh_server redis;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

typedef struct shop {
    server_proc sp;
    http_client *http;
    char base[64];
} shop;

/* POST a Twilio text message with MessageSid `sid`; expect 200. */
static void post(shop *s, const char *sid, const char *text)
{
    char *form = NULL;
    http_form_add(&form, "MessageSid", sid);
    http_form_add(&form, "AccountSid", "AC0123456789abcdef0123456789abcdef");
    http_form_add(&form, "From", "whatsapp:" CUSTOMER);
    http_form_add(&form, "To", "whatsapp:+14155238886");
    http_form_add(&form, "Body", text);
    http_form_add(&form, "NumMedia", "0");
    char url[128];
    snprintf(url, sizeof url, "%s/whatsapp/webhook", s->base);
    http_result r;
    ck_assert_int_eq(http_request(s->http, "POST", url,
                                  "application/x-www-form-urlencoded", form,
                                  strlen(form), HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    http_result_free(&r);
    free(form);
}

static void wait_line(shop *s, const char *needle, size_t count)
{
    if (!sp_wait_lines(&s->sp, SP_STDOUT, needle, count, LINE_MS)) {
        char *out = sp_text(&s->sp, SP_STDOUT);
        ck_abort_msg("no line with '%s' (x%zu) in:\n%s", needle, count,
                     out ? out : "");
    }
}

/* A context on the server's Redis keys, to count what it stored. */
static wabot_ctx *open_ctx(wabot_redis **r, wabot_storage **st)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = redis.port;
    cfg.prefix = PREFIX;
    *r = wabot_redis_new(&cfg, NULL);
    ck_assert_ptr_nonnull(*r);
    *st = wabot_storage_redis_new(*r);
    wabot_options *o = wabot_options_new();
    wabot_options_set_storage(o, *st);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    return ctx;
}

START_TEST(test_customer_orders_in_free_text_and_gets_the_invoice_pdf)
{
    ck_assert_ptr_nonnull(server_path);
    int port = free_port();
    ck_assert_int_gt(port, 0);
    shop s;
    char listen[64], pub[80], rport[32];
    snprintf(listen, sizeof listen, "WABOT_LISTEN=127.0.0.1:%d", port);
    snprintf(pub, sizeof pub, "WABOT_PUBLIC_URL=http://127.0.0.1:%d", port);
    snprintf(rport, sizeof rport, "REDIS_PORT=%d", redis.port);
    const char *env[] = {listen, pub, rport, "REDIS_HOST=127.0.0.1",
                         "WABOT_REDIS_PREFIX=" PREFIX, "WABOT_BOT=shop",
                         "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         "WABOT_OPT_RATE_PAIR_PERIOD_MS=0",
                         "WABOT_INVOICES_SECRET=" SECRET,
                         "WABOT_LOG_LEVEL=error", NULL};
    ck_assert_msg(sp_start(&s.sp, server_path, env, 10000) == 0,
                  "wabot-server did not start");
    snprintf(s.base, sizeof s.base, "http://127.0.0.1:%d", port);
    s.http = http_client_new();

    post(&s, "SM00000000000000000000000000000001", "hi");
    wait_line(&s, "Welcome to our shop", 1);
    post(&s, "SM00000000000000000000000000000002", "2 cokes and a water");
    wait_line(&s, "2 \xC3\x97 Coke \xE2\x80\x94 $3.00", 1);
    post(&s, "SM00000000000000000000000000000003", "confirm");
    /* The same webhook again (a provider's redelivery). */
    post(&s, "SM00000000000000000000000000000003", "confirm");
    wait_line(&s, "Order ORD-000001 ($4.00) is placed", 1);
    wait_line(&s, "Order ORD-000001 is confirmed", 1);
    wait_line(&s, "[media http://127.0.0.1:", 1);

    /* The document's link serves the invoice's PDF. */
    char *out = sp_text(&s.sp, SP_STDOUT);
    const char *m = strstr(out, "[media ");
    ck_assert_ptr_nonnull(m);
    char url[1024] = "";
    sscanf(m + 7, "%1023[^] ]", url);
    free(out);
    ck_assert_ptr_nonnull(strstr(url, "/INV-"));
    http_result r;
    ck_assert_int_eq(http_request(s.http, "GET", url, NULL, NULL, 0,
                                  HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.len > 5 && memcmp(r.body, "%PDF-", 5) == 0,
                  "not a PDF");
    http_result_free(&r);

    /* One order, one invoice, one placed answer. */
    wabot_redis *rd;
    wabot_storage *st;
    wabot_ctx *ctx = open_ctx(&rd, &st);
    int64_t n[WABOT_ORDER_STATUS_COUNT];
    ck_assert_int_eq(wabot_order_counts(ctx, "default", n,
                                        WABOT_ORDER_STATUS_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(n[0], 1);
    ck_assert_int_eq(n[WABOT_ORDER_PROCESSING], 1);
    char *list = NULL;
    ck_assert_int_eq(wabot_invoice_list(ctx, "default", NULL, 0, 0, 10,
                                        &list),
                     WABOT_OK);
    json_t *j = json_loads(list, 0, NULL);
    wabot_ctx_mem_free(ctx, list);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "invoices")), 1);
    json_decref(j);
    ck_assert_uint_eq(sp_count_lines(&s.sp, SP_STDOUT, "is placed"), 1);
    ck_assert_uint_eq(sp_count_lines(&s.sp, SP_STDOUT, "[media "), 1);
    wabot_ctx_free(ctx);
    wabot_storage_free(st);
    wabot_redis_free(rd);

    http_client_free(s.http);
    int status = -1;
    ck_assert_int_eq(sp_stop(&s.sp, SIGTERM, 10000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sp_free(&s.sp);
}
END_TEST

int main(int argc, char **argv)
{
    server_path = argc > 1 ? argv[1] : NULL;
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    if (rh_start(&redis, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("orders-http");
    TCase *tc = tcase_create("shop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc,
                   test_customer_orders_in_free_text_and_gets_the_invoice_pdf);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rh_destroy(&redis);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
