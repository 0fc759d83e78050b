/* A module written with the public headers only (toy_module.c), loaded by
 * wabot-server from a shared object, works over real HTTP: its option from
 * the environment, its routes, a per-organisation override set through
 * its own route, its middleware answering a webhook, its queue's worker
 * fed by the turn outbox, and its metric in the Prometheus text.
 *
 *   test_toy_module WABOT-SERVER TOY.SO */
#include <check.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "server_proc.h"

static const char *server_path, *module_path;

static char *url(const server_proc *p, const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", p->port, path);
    return buf;
}

static http_result get(http_client *c, const server_proc *p,
                       const char *path)
{
    http_result r;
    ck_assert_int_eq(http_request(c, "GET", url(p, path), NULL, NULL, 0,
                                  HTTP_BODY_LENGTH, &r),
                     0);
    return r;
}

static void webhook(http_client *c, const server_proc *p, const char *sid,
                    const char *text)
{
    char *form = NULL;
    ck_assert_int_eq(http_form_add(&form, "MessageSid", sid), 0);
    ck_assert_int_eq(http_form_add(&form, "From", "whatsapp:+14155550100"),
                     0);
    ck_assert_int_eq(http_form_add(&form, "To", "whatsapp:+14155238886"), 0);
    ck_assert_int_eq(http_form_add(&form, "Body", text), 0);
    http_result r;
    ck_assert_int_eq(http_request(c, "POST", url(p, "/whatsapp/webhook"),
                                  "application/x-www-form-urlencoded", form,
                                  strlen(form), HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    http_result_free(&r);
    free(form);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

START_TEST(test_a_loaded_module_serves_routes_answers_and_counts)
{
    char modules[1024];
    snprintf(modules, sizeof modules, "WABOT_MODULES=%s", module_path);
    const char *env[] = {modules, "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         "WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=echo",
                         "WABOT_TOY_GREETING=Hi from the environment", NULL};
    server_proc p;
    ck_assert_int_eq(sp_start(&p, server_path, env, 10000), 0);
    http_client *c = http_client_new();

    /* The option from its environment variable, through the module's route. */
    http_result r = get(c, &p, "/toy/greeting?org=default");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"greeting\":\"Hi from the environment\"}");
    http_result_free(&r);

    /* The middleware answers "toy" before the echo bot sees it. */
    webhook(c, &p, "SM00000000000000000000000000000001", "toy");
    ck_assert(sp_wait_lines(&p, SP_STDOUT, "Hi from the environment", 1,
                            10000));

    /* A per-organisation override through the module's own route. */
    ck_assert_int_eq(http_request(c, "PUT", url(&p, "/toy/greeting/default"),
                                  "text/plain", "Hello, default org", 18,
                                  HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 204);
    http_result_free(&r);
    r = get(c, &p, "/toy/greeting?org=other");
    ck_assert_str_eq(r.body, "{\"greeting\":\"Hi from the environment\"}");
    http_result_free(&r);
    webhook(c, &p, "SM00000000000000000000000000000002", "toy");
    ck_assert(sp_wait_lines(&p, SP_STDOUT, "Hello, default org", 1, 10000));
    webhook(c, &p, "SM00000000000000000000000000000003", "not for the toy");
    ck_assert(sp_wait_lines(&p, SP_STDOUT, "echo: not for the toy", 1,
                            10000));

    /* Both toy turns enqueued a job; the module's worker ran each once. */
    int done = 0;
    for (int i = 0; i < 200 && !done; i++) {
        r = get(c, &p, "/toy/stats");
        done = strcmp(r.body, "{\"jobs_done\":2}") == 0;
        http_result_free(&r);
        if (!done)
            sleep_ms(50);
    }
    ck_assert_msg(done, "the toy worker did not run both jobs");

    r = get(c, &p, "/toy/metrics");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body,
                                 "toy_greetings_total{org=\"default\"} 2"));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE toy_greetings_total "
                                         "counter"));
    http_result_free(&r);

    /* A wrong method on the module's path: 405 with Allow. */
    ck_assert_int_eq(http_request(c, "POST", url(&p, "/toy/stats"), NULL,
                                  NULL, 0, HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 405);
    char allow[64];
    ck_assert_ptr_nonnull(http_result_header(&r, "Allow", allow,
                                             sizeof allow));
    ck_assert_ptr_nonnull(strstr(allow, "GET"));
    http_result_free(&r);

    http_client_free(c);
    int st = -1;
    ck_assert_int_eq(sp_stop(&p, SIGTERM, 15000, &st), 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    sp_free(&p);
}
END_TEST

START_TEST(test_help_lists_the_modules_options)
{
    char modules[1024];
    snprintf(modules, sizeof modules, "WABOT_MODULES=%s", module_path);
    const char *env[] = {modules, NULL};
    const char *args[] = {"--help", NULL};
    server_proc p;
    ck_assert_int_eq(sp_spawn(&p, server_path, args, env), 0);
    int st = -1;
    ck_assert_int_eq(sp_wait_exit(&p, 10000, &st), 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *out = sp_text(&p, SP_STDOUT);
    ck_assert_ptr_nonnull(strstr(out, "WABOT_TOY_GREETING=TEXT"));
    ck_assert_ptr_nonnull(strstr(out, " toy:"));
    free(out);
    sp_free(&p);
}
END_TEST

START_TEST(test_a_module_that_cannot_load_stops_the_server)
{
    const char *env[] = {"WABOT_MODULES=/nonexistent/toy.so", NULL};
    server_proc p;
    ck_assert_int_eq(sp_spawn(&p, server_path, NULL, env), 0);
    int st = -1;
    ck_assert_int_eq(sp_wait_exit(&p, 10000, &st), 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    ck_assert_uint_ge(sp_count_lines(&p, SP_STDERR, "WABOT_MODULES"), 1);
    sp_free(&p);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s WABOT-SERVER TOY.SO\n", argv[0]);
        return 2;
    }
    server_path = argv[1];
    module_path = argv[2];
    Suite *s = suite_create("toy-module");
    TCase *tc = tcase_create("toy-module");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_a_loaded_module_serves_routes_answers_and_counts);
    tcase_add_test(tc, test_help_lists_the_modules_options);
    tcase_add_test(tc, test_a_module_that_cannot_load_stops_the_server);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
