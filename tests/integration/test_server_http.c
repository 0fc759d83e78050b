/*
 * wabot-server over real HTTP: every test starts its own server on a free
 * loopback port (WABOT_LISTEN=127.0.0.1:0), talks to it with libcurl, and
 * stops it with SIGTERM, expecting a clean exit 0.
 *
 * The server path comes from argv[1] or $WABOT_SERVER. Nothing sleeps:
 * waits are condition variables with deadlines (server_proc.h).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http_client.h"
#include "server_proc.h"

#define START_MS 10000
#define LINE_MS 10000
#define STOP_MS 5000

#define TWILIO_PATH "/whatsapp/webhook"
#define META_PATH "/whatsapp-v2/webhook"
#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"
#define CUSTOMER "+14155550100"

/* Set once in main() before the suite runs. */
static const char *server_path;

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

typedef struct fixture {
    server_proc srv;
    http_client *http;
    char base[64]; /* "http://127.0.0.1:PORT" */
    unsigned long messages; /* sent by demo_say(), for unique ids */
} fixture;

/* Start a server running `bot` with the extra `env` (NULL-terminated).
 * `insecure`: accept unsigned webhooks (WABOT_INSECURE_SKIP_SIGNATURES=1),
 * for the tests that are about something else than signatures. */
static void fx_start_env(fixture *f, const char *bot, const char *const *env,
                         int insecure)
{
    char bot_var[32];
    snprintf(bot_var, sizeof bot_var, "WABOT_BOT=%s", bot);
    const char *all[16] = {"WABOT_LISTEN=127.0.0.1:0", bot_var};
    size_t n = 2;
    if (insecure)
        all[n++] = "WABOT_INSECURE_SKIP_SIGNATURES=1";
    for (; env != NULL && *env != NULL && n < 15; env++)
        all[n++] = *env;
    all[n] = NULL;
    ck_assert_msg(sp_start(&f->srv, server_path, all, START_MS) == 0,
                  "wabot-server (%s) did not start", server_path);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->srv.port);
    f->http = http_client_new();
    f->messages = 0;
    ck_assert_ptr_nonnull(f->http);
}

static void fx_start(fixture *f, const char *bot, const char *const *env)
{
    fx_start_env(f, bot, env, 1);
}

/* SIGTERM; the server must exit 0 promptly and say so. */
static void fx_stop(fixture *f)
{
    http_client_free(f->http);
    f->http = NULL;
    int status = -1;
    int stopped = sp_stop(&f->srv, SIGTERM, STOP_MS, &status) == 0;
    if (!stopped || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *err = sp_text(&f->srv, SP_STDERR); /* sanitizer reports */
        fprintf(stderr, "server stderr:\n%s", err != NULL ? err : "");
        free(err);
    }
    ck_assert_msg(stopped, "server did not exit within %d ms of SIGTERM",
                  STOP_MS);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "server exit status 0x%x", status);
    ck_assert(sp_wait_lines(&f->srv, SP_STDERR, "wabot-server stopped", 1, 0));
    sp_free(&f->srv);
}

static void fx_request(fixture *f, const char *method, const char *target,
                       const char *ctype, const char *body, size_t len,
                       http_body_mode mode, http_result *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, target);
    int rc = http_request(f->http, method, url, ctype, body, len, mode, r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, target, r->error);
}

/* A Twilio inbound text message as a form body (malloc'ed). */
static char *twilio_form(const char *sid, const char *from, const char *text)
{
    char *form = NULL;
    http_form_add(&form, "MessageSid", sid);
    http_form_add(&form, "AccountSid", "AC0123456789abcdef0123456789abcdef");
    http_form_add(&form, "From", from);
    http_form_add(&form, "To", "whatsapp:+14155238886");
    http_form_add(&form, "Body", text);
    http_form_add(&form, "ProfileName", "Maria");
    http_form_add(&form, "NumMedia", "0");
    ck_assert_ptr_nonnull(form);
    return form;
}

static void assert_json_error(const http_result *r, long status)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_msg(strstr(r->content_type, JSON) != NULL,
                  "content type '%s'", r->content_type);
    ck_assert_msg(strstr(r->body, "\"error\"") != NULL &&
                      strstr(r->body, "\"code\"") != NULL &&
                      strstr(r->body, "\"message\"") != NULL,
                  "not a JSON error: %s", r->body);
}

/* ------------------------------------------------------------------ */
/* Webhooks                                                            */

START_TEST(test_twilio_webhook_answers_twiml_and_the_bot_line_appears)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    char *form = twilio_form("SM0123456789abcdef0123456789abcdef",
                             "whatsapp:" CUSTOMER, "hello there");
    http_result r;
    /* The query string travels with the target. */
    fx_request(&f, "POST", TWILIO_PATH "?source=test", FORM, form,
               strlen(form), HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.content_type, "xml") != NULL, "content type '%s'",
                  r.content_type);
    ck_assert_msg(strstr(r.body, "<Response") != NULL, "body: %s", r.body);
    ck_assert(sp_wait_lines(&f.srv, SP_STDOUT,
                            "[bot -> " CUSTOMER "] echo: hello there", 1,
                            LINE_MS));
    http_result_free(&r);
    free(form);
    fx_stop(&f);
}
END_TEST

START_TEST(test_demo_bot_greets_the_customer_by_profile_name)
{
    fixture f;
    fx_start(&f, "demo", NULL);
    char *form = twilio_form("SM0123456789abcdef0123456789abcdee",
                             "whatsapp:" CUSTOMER, "HOLA!");
    http_result r;
    fx_request(&f, "POST", TWILIO_PATH, FORM, form, strlen(form),
               HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(sp_wait_lines(&f.srv, SP_STDOUT,
                            "[bot -> " CUSTOMER "] Hello Maria", 1, LINE_MS));
    http_result_free(&r);
    free(form);
    fx_stop(&f);
}
END_TEST

/* Send `text` (a button press when `payload` is not NULL) as CUSTOMER and
 * wait for a new bot line containing `expect`. */
static void demo_say(fixture *f, const char *text, const char *payload,
                     const char *expect)
{
    char sid[40];
    snprintf(sid, sizeof sid, "SM%032lx", ++f->messages);
    char *form = twilio_form(sid, "whatsapp:" CUSTOMER, text);
    if (payload != NULL) {
        http_form_add(&form, "ButtonPayload", payload);
        http_form_add(&form, "ButtonText", text);
    }
    size_t before = sp_count_lines(&f->srv, SP_STDOUT, expect);
    http_result r;
    fx_request(f, "POST", TWILIO_PATH, FORM, form, strlen(form),
               HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(sp_wait_lines(&f->srv, SP_STDOUT, expect, before + 1,
                                LINE_MS),
                  "'%s' got no bot line containing '%s'", text, expect);
    http_result_free(&r);
    free(form);
}

START_TEST(test_demo_bot_order_flow_over_http)
{
    fixture f;
    /* The order is dropped with "reset": "cancel" is an opt-out keyword. */
    static const char *const env[] = {"WABOT_OPT_RATE_PAIR_PERIOD_MS=0", NULL};
    fx_start(&f, "demo", env);
    demo_say(&f, "order", NULL, "Which product would you like?");
    demo_say(&f, "Gift box", "product:3", "Gift box, $25.00 each");
    demo_say(&f, "lots", NULL, "Please send a number");
    demo_say(&f, "reset", NULL, "Order dropped.");
    demo_say(&f, "reset", NULL, "There is no order to drop.");
    demo_say(&f, "order", NULL, "Which product would you like?");
    demo_say(&f, "1", NULL, "Coffee beans 250 g, $8.50 each");
    demo_say(&f, "0", NULL, "quantity from 1 to 999");
    demo_say(&f, "4", NULL, "Your order: 4 x Coffee beans 250 g, total $34.00");
    demo_say(&f, "maybe", NULL, "Please answer *yes* or *no*.");
    demo_say(&f, "No", "confirm:no", "I dropped that order");
    demo_say(&f, "yes", NULL, "Sorry, I didn't get that.");
    demo_say(&f, "order", NULL, "Which product would you like?");
    demo_say(&f, "2", NULL, "Ceramic mug, $12.00 each");
    demo_say(&f, "1", NULL, "total $12.00");
    demo_say(&f, "Yes", "confirm:yes", "Order #1 placed: 1 x Ceramic mug");
    fx_stop(&f);
}
END_TEST

/* A Meta text message sent now: a fixed date would fall outside the
 * 24-hour customer-service window, and the reply would be refused. */
static void meta_body(char *out, size_t n)
{
    snprintf(out, n,
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
        "\"1022901\",\"changes\":[{\"field\":\"messages\",\"value\":{"
        "\"messaging_product\":\"whatsapp\",\"metadata\":{"
        "\"display_phone_number\":\"15550783881\",\"phone_number_id\":"
        "\"106540352242922\"},\"contacts\":[{\"profile\":{\"name\":"
        "\"Kerry\"},\"wa_id\":\"16315551181\"}],\"messages\":[{\"from\":"
        "\"16315551181\",\"id\":\"wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTRB"
        "NjU5OUFFRTAzODEwMTQ0RgA=\",\"timestamp\":\"%lld\",\"type\":"
        "\"text\",\"text\":{\"body\":\"hi from meta\"}}]}}]}]}",
        (long long)time(NULL));
}

START_TEST(test_meta_webhook_answers_200_and_the_bot_line_appears)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_result r;
    char body[1024];
    meta_body(body, sizeof body);
    fx_request(&f, "POST", META_PATH, JSON, body, strlen(body),
               HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(sp_wait_lines(&f.srv, SP_STDOUT,
                            "[bot -> +16315551181] echo: hi from meta", 1,
                            LINE_MS));
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The server's own endpoint and HTTP errors                           */

START_TEST(test_healthz_answers_ok)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_result r;
    fx_request(&f, "GET", "/healthz", NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    ck_assert_msg(strstr(r.content_type, JSON) != NULL, "content type '%s'",
                  r.content_type);
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

START_TEST(test_unknown_path_is_404_json)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_result r;
    fx_request(&f, "GET", "/no/such/path", NULL, NULL, 0, HTTP_BODY_LENGTH,
               &r);
    assert_json_error(&r, 404);
    http_result_free(&r);
    fx_request(&f, "POST", "/no/such/path", FORM, "a=1", 3, HTTP_BODY_LENGTH,
               &r);
    assert_json_error(&r, 404);
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

/* Response headers travel: a 405 names what is allowed. */
START_TEST(test_405_carries_allow_over_http)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_result r;
    char v[128];
    fx_request(&f, "PUT", META_PATH, FORM, "a=1", 3, HTTP_BODY_LENGTH, &r);
    assert_json_error(&r, 405);
    ck_assert_ptr_nonnull(http_result_header(&r, "Allow", v, sizeof v));
    ck_assert_str_eq(v, "GET, HEAD, POST");
    http_result_free(&r);
    fx_request(&f, "POST", "/healthz", FORM, "a=1", 3, HTTP_BODY_LENGTH, &r);
    assert_json_error(&r, 405);
    ck_assert_ptr_nonnull(http_result_header(&r, "allow", v, sizeof v));
    ck_assert_str_eq(v, "GET, HEAD");
    http_result_free(&r);
    /* a 404 has none */
    fx_request(&f, "PUT", "/nowhere", FORM, "a=1", 3, HTTP_BODY_LENGTH, &r);
    assert_json_error(&r, 404);
    ck_assert_ptr_null(http_result_header(&r, "Allow", v, sizeof v));
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

/* GET of an unknown path: a 404 JSON error without an Allow header. */
static void expect_plain_404(fixture *f)
{
    http_result r;
    char v[128];
    fx_request(f, "GET", "/no/such/path", NULL, NULL, 0, HTTP_BODY_LENGTH,
               &r);
    assert_json_error(&r, 404);
    ck_assert_ptr_null(http_result_header(&r, "Allow", v, sizeof v));
    http_result_free(&r);
}

/* The server keeps the response object of an answer it repeats (one per
 * HTTP thread: here one thread). Each answer stays exactly its own when
 * different ones alternate: status, body, content type, headers. */
START_TEST(test_repeated_answers_stay_exact_between_other_answers)
{
    fixture f;
    const char *env[] = {"WABOT_THREADS=1", NULL};
    fx_start(&f, "echo", env);
    http_result r;
    char v[128];
    for (int round = 0; round < 3; round++) {
        for (int twice = 0; twice < 2; twice++) {
            fx_request(&f, "GET", "/healthz", NULL, NULL, 0,
                       HTTP_BODY_LENGTH, &r);
            ck_assert_int_eq(r.status, 200);
            ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
            ck_assert_msg(strstr(r.content_type, JSON) != NULL,
                          "content type '%s'", r.content_type);
            http_result_free(&r);
        }
        expect_plain_404(&f);
        fx_request(&f, "POST", "/healthz", FORM, "a=1", 3, HTTP_BODY_LENGTH,
                   &r);
        assert_json_error(&r, 405);
        ck_assert_ptr_nonnull(http_result_header(&r, "Allow", v, sizeof v));
        http_result_free(&r);
        expect_plain_404(&f);
    }
    fx_stop(&f);
}
END_TEST

/* WABOT_THREADS sizes libmicrohttpd's pool; without it, and without
 * Redis, the pool has a thread per CPU, at least 2 (doc/server.md). */
START_TEST(test_http_threads_default_to_one_per_cpu_and_follow_wabot_threads)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus < 2 ? 2 : cpus > 256 ? 256 : (int)cpus;
    ck_assert_int_eq(sp_wait_threads_named(&f.srv, "MHD-worker", want, 2000),
                     want);
    /* the thread that accepts connections is named too (top -H, perf) */
    ck_assert_int_eq(sp_wait_threads_named(&f.srv, "wabot-gate", 1, 2000), 1);
    fx_stop(&f);
    const char *env[] = {"WABOT_THREADS=3", NULL};
    fx_start(&f, "echo", env);
    ck_assert_int_eq(sp_wait_threads_named(&f.srv, "MHD-worker", 3, 2000), 3);
    fx_stop(&f);
}
END_TEST

/* /healthz is a route the server registers: its handler's header
 * arrives, and HEAD is answered like GET without a body. */
START_TEST(test_host_route_headers_and_head_over_http)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_result r;
    char v[128];
    fx_request(&f, "GET", "/healthz?probe=1", NULL, NULL, 0,
               HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(http_result_header(&r, "Cache-Control", v,
                                             sizeof v));
    ck_assert_str_eq(v, "no-store");
    http_result_free(&r);
    fx_request(&f, "HEAD", "/healthz", NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_msg(strstr(r.content_type, JSON) != NULL, "content type '%s'",
                  r.content_type);
    ck_assert_ptr_nonnull(http_result_header(&r, "cache-control", v,
                                             sizeof v));
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

/* GET is Meta's verification handshake: without hub.* (and a configured
 * META_VERIFY_TOKEN) it is refused; other methods are not served. */
START_TEST(test_get_on_the_webhook_is_405)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_result r;
    fx_request(&f, "GET", TWILIO_PATH, NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    assert_json_error(&r, 403);
    http_result_free(&r);
    fx_request(&f, "DELETE", TWILIO_PATH, NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    assert_json_error(&r, 405);
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

/* The limit is set through the generic WABOT_OPT_<NAME> variables. */
START_TEST(test_oversized_body_is_413_however_it_is_sent)
{
    fixture f;
    static const char *const env[] = {"WABOT_OPT_MAX_BODY_BYTES=4096", NULL};
    fx_start(&f, "echo", env);
    size_t big = 64 * 1024;
    char *body = malloc(big);
    ck_assert_ptr_nonnull(body);
    memset(body, 'a', big);

    static const http_body_mode modes[] = {HTTP_BODY_LENGTH, HTTP_BODY_EXPECT,
                                           HTTP_BODY_CHUNKED};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        http_result r;
        fx_request(&f, "POST", TWILIO_PATH, FORM, body, big, modes[i], &r);
        assert_json_error(&r, 413);
        http_result_free(&r);
    }
    /* At the limit the body is accepted (and then judged on its content). */
    http_result r;
    fx_request(&f, "POST", TWILIO_PATH, FORM, body, 4096, HTTP_BODY_LENGTH,
               &r);
    ck_assert_int_ne(r.status, 413);
    http_result_free(&r);
    free(body);

    fx_request(&f, "GET", "/healthz", NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

START_TEST(test_malformed_form_is_400_json)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    static const char *const bodies[] = {
        "Body=hello",                                 /* no MessageSid/From */
        "MessageSid=SM1&From=whatsapp%ZZ&Body=hello", /* bad % escape */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        http_result r;
        fx_request(&f, "POST", TWILIO_PATH, FORM, bodies[i], strlen(bodies[i]),
                   HTTP_BODY_LENGTH, &r);
        assert_json_error(&r, 400);
        http_result_free(&r);
    }
    fx_stop(&f);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */

#define LOAD_THREADS 8
#define LOAD_MESSAGES 50

typedef struct load_worker {
    const char *base;
    int index;
    int ok; /* answers with status 200 */
    char error[320];
} load_worker;

/* Every message comes from its own customer, so no two turns serialise
 * on the same per-customer lock. */
static void load_customer(int worker, int i, char *buf, size_t size)
{
    snprintf(buf, size, "+1555%03d%04d", worker, i);
}

static void *load_main(void *arg)
{
    load_worker *w = arg;
    http_client *http = http_client_new();
    char url[128];
    snprintf(url, sizeof url, "%s%s", w->base, TWILIO_PATH);
    for (int i = 0; http != NULL && i < LOAD_MESSAGES; i++) {
        char sid[40], from[40], number[20], text[40];
        snprintf(sid, sizeof sid, "SM%016x%016x", (unsigned)w->index,
                 (unsigned)i);
        load_customer(w->index, i, number, sizeof number);
        snprintf(from, sizeof from, "whatsapp:%s", number);
        snprintf(text, sizeof text, "load %d %d", w->index, i);
        char *form = twilio_form(sid, from, text);
        http_result r;
        if (http_request(http, "POST", url, FORM, form, strlen(form),
                         HTTP_BODY_LENGTH, &r) == 0 && r.status == 200)
            w->ok++;
        else if (w->error[0] == '\0')
            snprintf(w->error, sizeof w->error, "status %ld %s", r.status,
                     r.error);
        http_result_free(&r);
        free(form);
    }
    http_client_free(http);
    return NULL;
}

START_TEST(test_concurrent_posts_are_all_answered_and_each_gets_its_reply)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    pthread_t threads[LOAD_THREADS];
    load_worker workers[LOAD_THREADS];
    for (int t = 0; t < LOAD_THREADS; t++) {
        workers[t] = (load_worker){f.base, t, 0, ""};
        ck_assert_int_eq(pthread_create(&threads[t], NULL, load_main,
                                        &workers[t]), 0);
    }
    for (int t = 0; t < LOAD_THREADS; t++) {
        pthread_join(threads[t], NULL);
        ck_assert_msg(workers[t].ok == LOAD_MESSAGES,
                      "worker %d: %d of %d answered 200 (%s)", t,
                      workers[t].ok, LOAD_MESSAGES, workers[t].error);
    }
    size_t total = (size_t)LOAD_THREADS * LOAD_MESSAGES;
    ck_assert_msg(sp_wait_lines(&f.srv, SP_STDOUT, "[bot -> ", total, LINE_MS),
                  "fewer than %zu bot lines", total);
    for (int t = 0; t < LOAD_THREADS; t++) {
        for (int i = 0; i < LOAD_MESSAGES; i++) {
            char number[20], line[96];
            load_customer(t, i, number, sizeof number);
            snprintf(line, sizeof line, "[bot -> %s] echo: load %d %d",
                     number, t, i);
            ck_assert_msg(sp_count_exact(&f.srv, SP_STDOUT, line) == 1,
                          "expected exactly one '%s'", line);
        }
    }
    fx_stop(&f);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Process behaviour                                                   */

START_TEST(test_sigint_also_stops_cleanly)
{
    fixture f;
    fx_start(&f, "echo", NULL);
    http_client_free(f.http);
    int status = -1;
    ck_assert_int_eq(sp_stop(&f.srv, SIGINT, STOP_MS, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sp_free(&f.srv);
}
END_TEST

/* Run the server with `args` and `env` until it exits; return its status
 * and stdout/stderr text. */
static int run_to_exit(const char *const *args, const char *const *env,
                       char **out, char **err)
{
    server_proc p;
    ck_assert_int_eq(sp_spawn(&p, server_path, args, env), 0);
    int status = -1;
    ck_assert_msg(sp_wait_exit(&p, STOP_MS, &status) == 0,
                  "wabot-server did not exit");
    *out = sp_text(&p, SP_STDOUT);
    *err = sp_text(&p, SP_STDERR);
    sp_free(&p);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(test_help_exits_0_and_mentions_every_variable)
{
    static const char *const words[] = {
        "WABOT_LISTEN", "WABOT_THREADS", "WABOT_LOG_LEVEL", "WABOT_BOT",
        "WABOT_OPT_", "TWILIO_WEBHOOK_PATH", "META_WEBHOOK_PATH",
        "DEFAULT_ORGANIZATION", "COMMAND_PREFIX", "MAX_BODY_BYTES",
        "MAX_PARAMS", "MAX_FIELD_BYTES", "MAX_JSON_DEPTH",
        "MAX_BATCH_MESSAGES", "STATE_TTL_MS", "STATE_MAX_RETRIES",
        "LOG_LEVEL", "/healthz", "TWILIO_AUTH_TOKEN", "META_APP_SECRET",
        "META_VERIFY_TOKEN", "WABOT_PUBLIC_URL",
        "WABOT_INSECURE_SKIP_SIGNATURES", "TRUST_FORWARDED",
    };
    static const char *const flags[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        const char *args[] = {flags[i], NULL};
        char *out, *err;
        ck_assert_int_eq(run_to_exit(args, NULL, &out, &err), 0);
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
            ck_assert_msg(strstr(out, words[w]) != NULL,
                          "%s does not mention %s", flags[i], words[w]);
        free(out);
        free(err);
    }
}
END_TEST

START_TEST(test_bad_configuration_exits_2_with_a_message)
{
    static const char *const cases[][2] = {
        {"WABOT_OPT_MAX_BODY_BYTES=lots", "WABOT_OPT_MAX_BODY_BYTES"},
        {"WABOT_OPT_NO_SUCH_OPTION=1", "WABOT_OPT_NO_SUCH_OPTION"},
        {"WABOT_THREADS=0", "WABOT_THREADS"},
        {"WABOT_LOG_LEVEL=loud", "WABOT_LOG_LEVEL"},
        {"WABOT_BOT=nope", "WABOT_BOT"},
        {"WABOT_LISTEN=127.0.0.1", "WABOT_LISTEN"},
        {"WABOT_PUBLIC_URL=bot.example.com", "WABOT_PUBLIC_URL"},
        {"WABOT_INSECURE_SKIP_SIGNATURES=yes",
         "WABOT_INSECURE_SKIP_SIGNATURES"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {"WABOT_LISTEN=127.0.0.1:0", cases[i][0], NULL};
        char *out, *err;
        ck_assert_msg(run_to_exit(NULL, env, &out, &err) == 2,
                      "%s: expected exit 2", cases[i][0]);
        ck_assert_msg(strstr(err, cases[i][1]) != NULL,
                      "%s: stderr does not name it: %s", cases[i][0], err);
        free(out);
        free(err);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Webhook security                                                    */

#define TOKEN "integration-auth-token"
#define APP_SECRET "integration-app-secret"
#define VERIFY_TOKEN "integration-verify-token"
#define PUBLIC "https://bot.example.com/hooks"

static const char *const SECURE_ENV[] = {
    "TWILIO_AUTH_TOKEN=" TOKEN, "META_APP_SECRET=" APP_SECRET,
    "META_VERIFY_TOKEN=" VERIFY_TOKEN, "WABOT_PUBLIC_URL=" PUBLIC, NULL};

static int param_cmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(x[0], y[0]);
    return c != 0 ? c : strcmp(x[1], y[1]);
}

/* X-Twilio-Signature as Twilio computes it, written independently of the
 * library: Base64(HMAC-SHA1(token, url + sorted name/value pairs)). */
static void twilio_sign(const char *token, const char *url,
                        const char *pairs[][2], size_t n, char out[29])
{
    char data[4096];
    size_t used = (size_t)snprintf(data, sizeof data, "%s", url);
    qsort(pairs, n, sizeof pairs[0], param_cmp);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(data + used, sizeof data - used, "%s%s",
                                 pairs[i][0], pairs[i][1]);
    ck_assert_uint_lt(used, sizeof data);
    unsigned char mac[20];
    unsigned int len = 0;
    HMAC(EVP_sha1(), token, (int)strlen(token), (unsigned char *)data, used,
         mac, &len);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)len);
}

/* POST a Twilio text from CUSTOMER with `sig_header` ("X-Twilio-Signature:
 * ..." or NULL); returns the status. */
static long post_twilio_text(fixture *f, const char *sid, const char *text,
                             const char *token)
{
    const char *pairs[][2] = {{"MessageSid", sid},
                              {"From", "whatsapp:" CUSTOMER},
                              {"To", "whatsapp:+14155238886"},
                              {"Body", text},
                              {"NumMedia", "0"}};
    size_t n = sizeof pairs / sizeof pairs[0];
    char *form = NULL;
    for (size_t i = 0; i < n; i++)
        http_form_add(&form, pairs[i][0], pairs[i][1]);
    char sig[29], header[64];
    const char *extra[] = {header, NULL};
    if (token != NULL) {
        twilio_sign(token, PUBLIC TWILIO_PATH, pairs, n, sig);
        snprintf(header, sizeof header, "X-Twilio-Signature: %s", sig);
    }
    char url[128];
    snprintf(url, sizeof url, "%s%s", f->base, TWILIO_PATH);
    http_result r;
    ck_assert_int_eq(http_request_h(f->http, "POST", url, FORM,
                                    token ? extra : NULL, form, strlen(form),
                                    HTTP_BODY_LENGTH, &r), 0);
    long status = r.status;
    if (status != 200)
        assert_json_error(&r, status);
    http_result_free(&r);
    free(form);
    return status;
}

START_TEST(test_forged_or_missing_signature_is_403_and_valid_is_200)
{
    fixture f;
    fx_start_env(&f, "echo", SECURE_ENV, 0);
    ck_assert_int_eq(post_twilio_text(&f, "SM00000000000000000000000000000f01",
                                      "unsigned", NULL), 403);
    ck_assert_int_eq(post_twilio_text(&f, "SM00000000000000000000000000000f02",
                                      "forged", "some-other-token"), 403);
    ck_assert_int_eq(post_twilio_text(&f, "SM00000000000000000000000000000f03",
                                      "signed", TOKEN), 200);
    ck_assert(sp_wait_lines(&f.srv, SP_STDOUT,
                            "[bot -> " CUSTOMER "] echo: signed", 1,
                            LINE_MS));
    /* nothing of the refused requests was handled */
    ck_assert_int_eq(sp_count_lines(&f.srv, SP_STDOUT, "echo: unsigned"), 0);
    ck_assert_int_eq(sp_count_lines(&f.srv, SP_STDOUT, "echo: forged"), 0);
    ck_assert_int_eq(sp_count_lines(&f.srv, SP_STDOUT, "[bot -> "), 1);
    /* the refusals are logged, without the secret */
    ck_assert(sp_wait_lines(&f.srv, SP_STDERR, "invalid_signature", 2,
                            LINE_MS));
    ck_assert_int_eq(sp_count_lines(&f.srv, SP_STDERR, TOKEN), 0);
    fx_stop(&f);
}
END_TEST

START_TEST(test_meta_signature_over_http)
{
    fixture f;
    fx_start_env(&f, "echo", SECURE_ENV, 0);
    char body[1024];
    meta_body(body, sizeof body);
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), APP_SECRET, (int)strlen(APP_SECRET),
         (const unsigned char *)body, strlen(body), mac, &len);
    char header[128] = "X-Hub-Signature-256: sha256=";
    for (unsigned i = 0; i < len; i++)
        sprintf(header + strlen(header), "%02x", mac[i]);
    const char *good[] = {header, NULL};
    const char *bad[] = {"X-Hub-Signature-256: sha256=00", NULL};
    char url[128];
    snprintf(url, sizeof url, "%s%s", f.base, META_PATH);
    http_result r;
    ck_assert_int_eq(http_request_h(f.http, "POST", url, JSON, bad, body,
                                    strlen(body), HTTP_BODY_LENGTH, &r), 0);
    assert_json_error(&r, 403);
    http_result_free(&r);
    ck_assert_int_eq(http_request_h(f.http, "POST", url, JSON, good, body,
                                    strlen(body), HTTP_BODY_LENGTH, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_result_free(&r);
    ck_assert(sp_wait_lines(&f.srv, SP_STDOUT,
                            "[bot -> +16315551181] echo: hi from meta", 1,
                            LINE_MS));
    ck_assert_int_eq(sp_count_lines(&f.srv, SP_STDOUT, "[bot -> "), 1);
    fx_stop(&f);
}
END_TEST

START_TEST(test_meta_handshake_right_and_wrong_token)
{
    fixture f;
    fx_start_env(&f, "echo", SECURE_ENV, 0);
    http_result r;
    fx_request(&f, "GET", META_PATH "?hub.mode=subscribe&hub.verify_token="
                                    VERIFY_TOKEN "&hub.challenge=1158201444",
               NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "1158201444");
    ck_assert_msg(strstr(r.content_type, "text/plain") != NULL,
                  "content type '%s'", r.content_type);
    http_result_free(&r);
    fx_request(&f, "GET", META_PATH "?hub.mode=subscribe&hub.verify_token="
                                    "wrong&hub.challenge=1158201444",
               NULL, NULL, 0, HTTP_BODY_LENGTH, &r);
    assert_json_error(&r, 403);
    ck_assert_ptr_null(strstr(r.body, "1158201444"));
    http_result_free(&r);
    fx_stop(&f);
}
END_TEST

START_TEST(test_insecure_switch_is_announced_loudly)
{
    fixture f;
    fx_start_env(&f, "echo", NULL, 1);
    ck_assert(sp_wait_lines(&f.srv, SP_STDERR, "NOT verified", 1, LINE_MS));
    ck_assert_int_eq(post_twilio_text(&f, "SM00000000000000000000000000000f04",
                                      "dev", NULL), 200);
    ck_assert(sp_wait_lines(&f.srv, SP_STDOUT, "echo: dev", 1, LINE_MS));
    fx_stop(&f);
}
END_TEST

START_TEST(test_without_secrets_webhooks_are_refused_and_said_so)
{
    fixture f;
    fx_start_env(&f, "echo", NULL, 0);
    ck_assert(sp_wait_lines(&f.srv, SP_STDERR, "TWILIO_AUTH_TOKEN is not set",
                            1, LINE_MS));
    ck_assert(sp_wait_lines(&f.srv, SP_STDERR, "META_APP_SECRET is not set",
                            1, LINE_MS));
    ck_assert_int_eq(post_twilio_text(&f, "SM00000000000000000000000000000f05",
                                      "x", NULL), 403);
    fx_stop(&f);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server-http");
    TCase *web = tcase_create("webhooks");
    tcase_add_test(web,
        test_twilio_webhook_answers_twiml_and_the_bot_line_appears);
    tcase_add_test(web, test_demo_bot_greets_the_customer_by_profile_name);
    tcase_add_test(web, test_demo_bot_order_flow_over_http);
    tcase_add_test(web, test_meta_webhook_answers_200_and_the_bot_line_appears);
    suite_add_tcase(s, web);

    TCase *sec = tcase_create("security");
    tcase_add_test(sec,
        test_forged_or_missing_signature_is_403_and_valid_is_200);
    tcase_add_test(sec, test_meta_signature_over_http);
    tcase_add_test(sec, test_meta_handshake_right_and_wrong_token);
    tcase_add_test(sec, test_insecure_switch_is_announced_loudly);
    tcase_add_test(sec,
        test_without_secrets_webhooks_are_refused_and_said_so);
    suite_add_tcase(s, sec);

    TCase *http = tcase_create("http");
    tcase_add_test(http, test_healthz_answers_ok);
    tcase_add_test(http, test_unknown_path_is_404_json);
    tcase_add_test(http, test_get_on_the_webhook_is_405);
    tcase_add_test(http, test_405_carries_allow_over_http);
    tcase_add_test(http, test_host_route_headers_and_head_over_http);
    tcase_add_test(http, test_repeated_answers_stay_exact_between_other_answers);
    tcase_add_test(http, test_http_threads_default_to_one_per_cpu_and_follow_wabot_threads);
    tcase_add_test(http, test_oversized_body_is_413_however_it_is_sent);
    tcase_add_test(http, test_malformed_form_is_400_json);
    suite_add_tcase(s, http);

    TCase *load = tcase_create("concurrency");
    tcase_add_test(load,
        test_concurrent_posts_are_all_answered_and_each_gets_its_reply);
    suite_add_tcase(s, load);

    TCase *proc = tcase_create("process");
    tcase_add_test(proc, test_sigint_also_stops_cleanly);
    tcase_add_test(proc, test_help_exits_0_and_mentions_every_variable);
    tcase_add_test(proc, test_bad_configuration_exits_2_with_a_message);
    suite_add_tcase(s, proc);
    return s;
}

int main(int argc, char **argv)
{
    server_path = argc > 1 ? argv[1] : getenv("WABOT_SERVER");
    if (server_path == NULL || server_path[0] == '\0') {
        fprintf(stderr, "usage: %s PATH-TO-wabot-server "
                        "(or set WABOT_SERVER)\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(server_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
