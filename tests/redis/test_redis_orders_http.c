/* The shop over real HTTP, once with the Twilio transport and once with
 * Meta's: wabot-server (WABOT_BOT=shop, Redis storage on a redis-server
 * started here) gets the provider's webhooks and sends through that
 * provider's API, played by the fake provider on loopback. A customer
 * orders in free text and confirms, and the fake provider receives the
 * order confirmation and the invoice as a document message; the test then
 * fetches the document's URL, as the provider would, over real HTTP from
 * wabot-server: a PDF with the order's total. The "confirm" webhook
 * delivered twice makes one order and one invoice.
 * Usage: test_redis_orders_http <path of wabot-server>. */
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

#define CUSTOMER "+14155550177"
#define SECRET "orders-http-secret"
#define BUSINESS "+14155238886"
#define META_PHONE_ID "106540352242922"
#define WAIT_MS 20000

static const char *server_path;
static rh_server redis;

typedef struct shop {
    fp_provider provider;
    const char *prefix; /* the server's Redis keys: one set per provider */
    server_proc sp;
    http_client *http;
    fp_server *fp;
    char base[64];
} shop;

/* One more "NAME=VALUE" for the next shop_start(), or NULL. */
static const char *shop_extra_env;

static void shop_start(shop *s, fp_provider provider)
{
    ck_assert_ptr_nonnull(server_path);
    s->provider = provider;
    s->prefix = provider == FP_TWILIO ? "shop-tw:" : "shop-meta:";
    s->fp = fp_start(NULL);
    ck_assert_ptr_nonnull(s->fp);
    int port = sp_free_port();
    ck_assert_int_gt(port, 0);
    char listen[64], pub[80], rport[32], prefix[64], api[160];
    snprintf(listen, sizeof listen, "WABOT_LISTEN=127.0.0.1:%d", port);
    snprintf(pub, sizeof pub, "WABOT_PUBLIC_URL=http://127.0.0.1:%d", port);
    snprintf(rport, sizeof rport, "REDIS_PORT=%d", redis.port);
    snprintf(prefix, sizeof prefix, "WABOT_REDIS_PREFIX=%s", s->prefix);
    snprintf(api, sizeof api, "%s=%s",
             provider == FP_TWILIO ? "TWILIO_API_BASE" : "META_API_BASE",
             fp_base_url(s->fp));
    const char *twilio[] = {"WABOT_PROVIDER=twilio",
                            "TWILIO_ACCOUNT_SID=" FP_DEFAULT_TWILIO_SID,
                            "TWILIO_AUTH_TOKEN=" FP_DEFAULT_TWILIO_TOKEN,
                            "TWILIO_WHATSAPP_FROM=" BUSINESS, NULL};
    const char *meta[] = {"WABOT_PROVIDER=meta",
                          "META_ACCESS_TOKEN=" FP_DEFAULT_META_TOKEN,
                          "META_PHONE_NUMBER_ID=" META_PHONE_ID,
                          "META_BUSINESS_NUMBER=" BUSINESS,
                          "META_APP_SECRET=unused", NULL};
    const char *env[24] = {listen, pub, rport, prefix, api,
                           "REDIS_HOST=127.0.0.1", "WABOT_BOT=shop",
                           "WABOT_INSECURE_SKIP_SIGNATURES=1",
                           "WABOT_OPT_RATE_PAIR_PERIOD_MS=0",
                           "WABOT_INVOICES_SECRET=" SECRET,
                           "WABOT_LOG_LEVEL=error"};
    size_t n = 11;
    for (const char *const *e = provider == FP_TWILIO ? twilio : meta; *e;
         e++)
        env[n++] = *e;
    if (shop_extra_env != NULL)
        env[n++] = shop_extra_env;
    env[n] = NULL;
    ck_assert_msg(sp_start(&s->sp, server_path, env, 10000) == 0,
                  "wabot-server did not start");
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
    s->http = http_client_new();
}

static void shop_stop(shop *s)
{
    http_client_free(s->http);
    int status = -1;
    ck_assert_int_eq(sp_stop(&s->sp, SIGTERM, 10000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sp_free(&s->sp);
    fp_stop(s->fp);
}

/* POST the customer's text `text` as the provider's webhook, with the
 * provider's message id `n` (the same n: a redelivery); expect 200. */
static void post(shop *s, int n, const char *text)
{
    char url[128], id[64];
    char *body = NULL;
    const char *type = "application/x-www-form-urlencoded";
    if (s->provider == FP_TWILIO) {
        snprintf(id, sizeof id, "SM%032d", n);
        http_form_add(&body, "MessageSid", id);
        http_form_add(&body, "AccountSid", FP_DEFAULT_TWILIO_SID);
        http_form_add(&body, "From", "whatsapp:" CUSTOMER);
        http_form_add(&body, "To", "whatsapp:" BUSINESS);
        http_form_add(&body, "Body", text);
        http_form_add(&body, "NumMedia", "0");
        snprintf(url, sizeof url, "%s/whatsapp/webhook", s->base);
    } else {
        json_t *msg = json_pack(
            "{s:s,s:s,s:s,s:s,s:{s:s}}", "from", CUSTOMER + 1, "id", "",
            "timestamp", "", "type", "text", "text", "body", text);
        snprintf(id, sizeof id, "wamid.SHOP%06d", n);
        json_object_set_new(msg, "id", json_string(id));
        snprintf(id, sizeof id, "%lld", (long long)time(NULL));
        json_object_set_new(msg, "timestamp", json_string(id));
        json_t *root = json_pack(
            "{s:s,s:[{s:s,s:[{s:s,s:{s:s,s:{s:s,s:s},s:[{s:{s:s},s:s}],"
            "s:[o]}}]}]}",
            "object", "whatsapp_business_account", "entry", "id", "1",
            "changes", "field", "messages", "value", "messaging_product",
            "whatsapp", "metadata", "display_phone_number", BUSINESS + 1,
            "phone_number_id", META_PHONE_ID, "contacts", "profile", "name",
            "Customer", "wa_id", CUSTOMER + 1, "messages", msg);
        ck_assert_ptr_nonnull(root);
        body = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        type = "application/json";
        snprintf(url, sizeof url, "%s/whatsapp-v2/webhook", s->base);
    }
    http_result r;
    ck_assert_int_eq(http_request(s->http, "POST", url, type, body,
                                  strlen(body), HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_msg(r.status == 200, "webhook answered %ld", (long)r.status);
    http_result_free(&r);
    free(body);
}

/* Successful sends to the customer whose text contains `needle` (and
 * that carry a media URL, when `media`); *url gets the last one's. */
static size_t count_sent(shop *s, const char *needle, int media, char *url,
                         size_t url_len)
{
    size_t found = 0;
    for (size_t i = 0; i < fp_request_count(s->fp); i++) {
        fp_request r;
        if (fp_request_get(s->fp, i, &r) != 0)
            continue;
        const char *text = fp_request_text(&r);
        const char *link = fp_request_media_url(&r);
        if (r.message_id && text && strstr(text, needle) &&
            (!media || link)) {
            found++;
            if (url && link)
                snprintf(url, url_len, "%s", link);
        }
        fp_request_free(&r);
    }
    return found;
}

/* Wait (up to WAIT_MS) until such a send reached the fake provider. */
static void wait_sent(shop *s, const char *needle, int media, char *url,
                      size_t url_len)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        size_t seen = fp_request_count(s->fp);
        if (count_sent(s, needle, media, url, url_len) > 0)
            return;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long waited = (t.tv_sec - t0.tv_sec) * 1000L +
                      (t.tv_nsec - t0.tv_nsec) / 1000000L;
        if (waited >= WAIT_MS)
            break;
        fp_wait_requests(s->fp, seen + 1, (int)(WAIT_MS - waited));
    }
    char *all = fp_requests_json(s->fp);
    ck_abort_msg("the provider got no %s with '%s'; it got:\n%s",
                 media ? "document" : "message", needle, all ? all : "");
}

/* A context on the server's Redis keys, to count what it stored. */
static wabot_ctx *open_ctx(const shop *s, wabot_redis **r, wabot_storage **st)
{
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = redis.port;
    cfg.prefix = s->prefix;
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

/* The document's URL serves the invoice's PDF with the order's total. */
static void fetch_pdf(shop *s, const char *url, const char *total)
{
    ck_assert_msg(strncmp(url, s->base, strlen(s->base)) == 0,
                  "document URL %s is not wabot-server's", url);
    ck_assert_ptr_nonnull(strstr(url, "/INV-"));
    http_result r;
    ck_assert_int_eq(http_request(s->http, "GET", url, NULL, NULL, 0,
                                  HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "application/pdf");
    ck_assert_msg(r.len > 5 && memcmp(r.body, "%PDF-", 5) == 0, "not a PDF");
    char why[256] = "";
    char *text = inv_pdf_text(r.body, r.len, why);
    ck_assert_msg(text != NULL, "%s", why);
    ck_assert_msg(strstr(text, "INV-") && strstr(text, total),
                  "no invoice number or %s in:\n%s", total, text);
    free(text);
    http_result_free(&r);
}

/* One order (processing, total $4.00) and one invoice in Redis. */
static void assert_one_order_one_invoice(const shop *s)
{
    wabot_redis *rd;
    wabot_storage *st;
    wabot_ctx *ctx = open_ctx(s, &rd, &st);
    int64_t n[WABOT_ORDER_STATUS_COUNT];
    ck_assert_int_eq(wabot_order_counts(ctx, "default", n,
                                        WABOT_ORDER_STATUS_COUNT),
                     WABOT_OK);
    ck_assert_int_eq(n[0], 1);
    ck_assert_int_eq(n[WABOT_ORDER_PROCESSING], 1);
    char *json = NULL;
    ck_assert_int_eq(wabot_order_get(ctx, "default", "ORD-000001", &json),
                     WABOT_OK);
    json_t *o = json_loads(json, 0, NULL);
    wabot_ctx_mem_free(ctx, json);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total_minor")),
                     400);
    json_decref(o);
    char *list = NULL;
    ck_assert_int_eq(wabot_invoice_list(ctx, "default", NULL, 0, 0, 10,
                                        &list),
                     WABOT_OK);
    json_t *j = json_loads(list, 0, NULL);
    wabot_ctx_mem_free(ctx, list);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "invoices")), 1);
    json_decref(j);
    wabot_ctx_free(ctx);
    wabot_storage_free(st);
    wabot_redis_free(rd);
}

static void order_and_get_the_invoice(fp_provider provider)
{
    shop s;
    shop_start(&s, provider);
    post(&s, 1, "hi");
    wait_sent(&s, "Welcome to our shop", 0, NULL, 0);
    post(&s, 2, "2 cokes and a water");
    wait_sent(&s, "2 \xC3\x97 Coke \xE2\x80\x94 $3.00", 0, NULL, 0);
    post(&s, 3, "confirm");
    /* The same webhook again (a provider's redelivery). */
    post(&s, 3, "confirm");
    wait_sent(&s, "Order ORD-000001 ($4.00) is placed", 0, NULL, 0);
    wait_sent(&s, "Order ORD-000001 is confirmed", 0, NULL, 0);
    char url[1024] = "";
    wait_sent(&s, "Invoice INV-", 1, url, sizeof url);
    fetch_pdf(&s, url, "USD 4.00");
    assert_one_order_one_invoice(&s);
    /* The redelivered "confirm" answered nothing more, and no second
     * document went out. */
    ck_assert_uint_eq(count_sent(&s, "is placed", 0, NULL, 0), 1);
    ck_assert_uint_eq(count_sent(&s, "Invoice INV-", 1, NULL, 0), 1);
    shop_stop(&s);
}

START_TEST(test_twilio_customer_orders_and_the_provider_gets_the_invoice_pdf)
{
    order_and_get_the_invoice(FP_TWILIO);
}
END_TEST

START_TEST(test_meta_customer_orders_and_the_provider_gets_the_invoice_pdf)
{
    order_and_get_the_invoice(FP_META);
}
END_TEST

/* With Redis the server's HTTP pool defaults to 16 threads (a webhook's
 * thread mostly waits for Redis) and its delivery worker takes 64
 * replies at once, which the environment can change (doc/server.md). */
START_TEST(test_http_threads_default_to_sixteen_with_redis)
{
    shop s;
    shop_start(&s, FP_TWILIO);
    ck_assert_int_eq(sp_wait_threads_named(&s.sp, "MHD-worker", 16, 2000),
                     16);
    ck_assert(sp_wait_lines(&s.sp, SP_STDERR,
                            "the delivery worker takes 64 replies at once", 1,
                            5000));
    shop_stop(&s);
    shop_extra_env = "WABOT_OUTBOUND_CONCURRENCY=20";
    shop_start(&s, FP_TWILIO);
    shop_extra_env = NULL;
    ck_assert(sp_wait_lines(&s.sp, SP_STDERR,
                            "the delivery worker takes 20 replies at once", 1,
                            5000));
    shop_stop(&s);
}
END_TEST

int main(int argc, char **argv)
{
    server_path = argc > 1 ? argv[1] : NULL;
    int started = rh_main_start(&redis);
    if (started != 0)
        return started;
    Suite *s = suite_create("orders-http");
    TCase *tc = tcase_create("shop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(
        tc, test_twilio_customer_orders_and_the_provider_gets_the_invoice_pdf);
    tcase_add_test(
        tc, test_meta_customer_orders_and_the_provider_gets_the_invoice_pdf);
    tcase_add_test(tc, test_http_threads_default_to_sixteen_with_redis);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rh_destroy(&redis);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
