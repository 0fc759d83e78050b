/* Health: readiness from the storage, the breakers and the backlog, the
 * /healthz and /readyz routes, and the breaker's state in the metrics. */
#include <stdio.h>
#include <string.h>

#include "flaky_storage.h"
#include "testutil.h"
#include "wabot/http_server.h"
#include "wabot/send.h"

typedef struct env {
    tu_clock clock;
    flaky_storage fs;
    wabot_storage *storage;
    wabot_transport *rec;
    wabot_ctx *ctx;
} env;

static env E;

/* A context over the flaky storage and a recorder; a breaker that opens
 * after 4 failed sends of 4 and stays open 10 s; no 24-hour window (the
 * customers never wrote). `extra`: NAME=VALUE options, NULL-terminated. */
static void env_start(const char *const *extra)
{
    tu_clock_init(&E.clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&E.clock);
    E.fs.inner = wabot_storage_memory_new(&k);
    E.storage = flaky_storage_new(&E.fs);
    E.rec = wabot_transport_recorder_new();
    ck_assert_ptr_nonnull(E.storage);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(o, E.storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_transport(o, E.rec), WABOT_OK);
    wabot_options_set_int(o, WABOT_OPT_WINDOW_MS, 0);
    wabot_options_set_int(o, WABOT_OPT_BREAKER_MIN_VOLUME, 4);
    wabot_options_set_int(o, WABOT_OPT_BREAKER_OPEN_MS, 10000);
    wabot_options_set_int(o, WABOT_OPT_BREAKER_PROBES, 1);
    for (; extra && *extra; extra += 2)
        ck_assert_int_eq(wabot_options_set(o, extra[0], extra[1]), WABOT_OK);
    int rc = wabot_ctx_new(&E.ctx, o);
    ck_assert_msg(rc == WABOT_OK, "%s", wabot_options_errmsg(o));
    wabot_options_free(o);
    ck_assert_int_eq(wabot_health_routes_add(E.ctx, NULL, NULL), WABOT_OK);
}

static void setup(void)
{
    env_start(NULL);
}

static void teardown(void)
{
    wabot_ctx_free(E.ctx);
    wabot_transport_free(E.rec);
    wabot_storage_free(E.storage);
    wabot_storage_free(E.fs.inner);
    memset(&E, 0, sizeof E);
}

/* Readiness as JSON (asserting the call works); *ready set. */
static json_t *readiness(int *ready)
{
    char *text = NULL;
    ck_assert_int_eq(wabot_health_readiness(E.ctx, ready, &text), WABOT_OK);
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", text);
    wabot_ctx_mem_free(E.ctx, text);
    return j;
}

static const char *jstr(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(j, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

/* GET path: the status; the body into body (size n). */
static int get(const char *path, char *body, size_t n)
{
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", path, NULL, 0, NULL, 0,
                                       &r), WABOT_OK);
    ck_assert_str_eq(wabot_http_response_header(r, "Cache-Control"),
                     "no-store");
    snprintf(body, n, "%s", wabot_http_response_body(r, NULL));
    int status = wabot_http_response_status(r);
    wabot_http_response_free(r);
    return status;
}

static void send_texts(int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(wabot_send_text(E.ctx, NULL, "+14155550100", "hi",
                                         WABOT_CAT_NOTICE, NULL, NULL),
                         WABOT_OK);
}

START_TEST(test_readiness_is_ready_with_storage_up_and_no_breaker)
{
    int ready = 0;
    json_t *j = readiness(&ready);
    ck_assert_int_eq(ready, 1);
    ck_assert_str_eq(jstr(j, "status", NULL), "ready");
    ck_assert_str_eq(jstr(j, "storage", "status"), "ok");
    ck_assert_str_eq(jstr(j, "backlog", "status"), "ok");
    ck_assert_int_eq(json_array_size(json_object_get(j, "breakers")), 0);
    json_decref(j);
    char body[2048];
    ck_assert_int_eq(get("/readyz", body, sizeof body), 200);
    ck_assert_int_eq(get("/healthz", body, sizeof body), 200);
    ck_assert_str_eq(body, "{\"status\":\"ok\"}");
}
END_TEST

START_TEST(test_readiness_fails_while_storage_is_unreachable)
{
    char body[2048];
    atomic_store(&E.fs.down, 1);
    int ready = 1;
    json_t *j = readiness(&ready);
    ck_assert_int_eq(ready, 0);
    ck_assert_str_eq(jstr(j, "status", NULL), "not_ready");
    ck_assert_str_eq(jstr(j, "storage", "status"), "unreachable");
    json_decref(j);
    ck_assert_int_eq(get("/readyz", body, sizeof body), 503);
    ck_assert_ptr_nonnull(strstr(body, "\"unreachable\""));
    /* Liveness checks nothing: the process is alive. */
    ck_assert_int_eq(get("/healthz", body, sizeof body), 200);
    atomic_store(&E.fs.down, 0);
    ck_assert_int_eq(get("/readyz", body, sizeof body), 200);
}
END_TEST

/* The breaker opens after failed sends; readiness and the metric say so
 * until a probe succeeds. */
START_TEST(test_readiness_and_metrics_follow_the_breaker)
{
    char body[2048];
    wabot_recorder_fail_next(E.rec, 5, WABOT_ERR_TRANSPORT, 500, "down");
    send_texts(4);
    tu_drain(E.ctx);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "breaker.opened"), 1);
    int ready = 1;
    json_t *j = readiness(&ready);
    ck_assert_int_eq(ready, 0);
    json_t *b = json_array_get(json_object_get(j, "breakers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "state")), "open");
    ck_assert_str_eq(json_string_value(json_object_get(b, "transport")),
                     "recorder");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "open_until_ms")),
                     TU_EPOCH_MS + 10000);
    json_decref(j);
    ck_assert_int_eq(get("/readyz", body, sizeof body), 503);
    char *prom = wabot_metrics_prometheus(E.ctx);
    ck_assert_ptr_nonnull(strstr(prom, "wabot_breaker_state{transport=\""
                                       "recorder\",organization=\"default\"}"
                                       " 1"));
    wabot_ctx_mem_free(E.ctx, prom);

    /* The half-open probe fails (the 5th failure): open for 20 s now. */
    tu_clock_advance(&E.clock, 10000);
    tu_drain(E.ctx);
    j = readiness(&ready);
    ck_assert_int_eq(ready, 0);
    b = json_array_get(json_object_get(j, "breakers"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "open_until_ms")),
                     TU_EPOCH_MS + 30000);
    json_decref(j);

    /* The provider is back: the next probe closes it. */
    tu_clock_advance(&E.clock, 20000);
    tu_drain(E.ctx);
    ck_assert_int_eq(get("/readyz", body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "\"state\":\"closed\""));
    prom = wabot_metrics_prometheus(E.ctx);
    ck_assert_ptr_nonnull(strstr(prom, "organization=\"default\"} 0"));
    wabot_ctx_mem_free(E.ctx, prom);
}
END_TEST

START_TEST(test_readiness_fails_when_the_backlog_reaches_its_bound)
{
    teardown();
    const char *opts[] = {"health.max_backlog", "3", NULL};
    env_start(opts);
    int ready = 0;
    /* Sends wait while the breaker is open: a backlog builds up. */
    wabot_recorder_fail_next(E.rec, 4, WABOT_ERR_TRANSPORT, 500, "down");
    send_texts(4);
    tu_drain(E.ctx);
    send_texts(1);
    json_t *j = readiness(&ready);
    ck_assert_int_eq(ready, 0);
    ck_assert_str_eq(jstr(j, "backlog", "status"), "full");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(j, "backlog"), "outbound")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(j, "backlog"), "max")), 3);
    json_decref(j);
    /* Drained once the provider answers again. */
    tu_clock_advance(&E.clock, 60000);
    tu_drain(E.ctx);
    j = readiness(&ready);
    ck_assert_int_eq(ready, 1);
    ck_assert_str_eq(jstr(j, "backlog", "status"), "ok");
    json_decref(j);
}
END_TEST

START_TEST(test_health_rejects_null_and_taken_paths)
{
    int ready = 1;
    char *json = (char *)"x";
    ck_assert_int_eq(wabot_health_readiness(NULL, &ready, &json),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(ready, 0);
    ck_assert_ptr_null(json);
    ck_assert_int_eq(wabot_health_readiness(E.ctx, NULL, &json),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_health_routes_add(NULL, NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_health_routes_add(E.ctx, NULL, NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_health_routes_add(E.ctx, "/live", "/ready"),
                     WABOT_OK);
    char body[2048];
    ck_assert_int_eq(get("/ready", body, sizeof body), 200);
}
END_TEST

static Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("health");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_readiness_is_ready_with_storage_up_and_no_breaker);
    tcase_add_test(tc, test_readiness_fails_while_storage_is_unreachable);
    tcase_add_test(tc, test_readiness_and_metrics_follow_the_breaker);
    tcase_add_test(tc, test_readiness_fails_when_the_backlog_reaches_its_bound);
    tcase_add_test(tc, test_health_rejects_null_and_taken_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(health_suite());
}
