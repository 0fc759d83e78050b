/* The monitoring module: /metrics and {prefix}/monitoring behind the admin
 * or the metrics token, never open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static tu_env E;

static void start(const char *const *kv)
{
    wabot_options *o = wabot_options_new();
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        ck_assert_msg(wabot_options_set(o, kv[0], kv[1]) == WABOT_OK, "%s: %s",
                      kv[0], wabot_options_errmsg(o));
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static wabot_http_response *get(const char *path, const char *auth)
{
    wabot_http_header h = {"Authorization", auth};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", path, &h,
                                       auth != NULL ? 1 : 0, NULL, 0, &r),
                     WABOT_OK);
    return r;
}

static int status_of(const char *path, const char *auth)
{
    wabot_http_response *r = get(path, auth);
    int s = wabot_http_response_status(r);
    wabot_http_response_free(r);
    return s;
}

START_TEST(test_never_open_without_a_token)
{
    start(NULL);
    ck_assert_int_eq(status_of("/metrics", NULL), 404);
    ck_assert_int_eq(status_of("/whatsapp-v2/monitoring", "Bearer x"), 404);
    tu_env_free(&E);
}
END_TEST

static const char *const metrics_only[] = {"monitoring.metrics_token",
                                           "scrape", NULL};

START_TEST(test_metrics_token_opens_metrics_and_monitoring_only)
{
    start(metrics_only);
    ck_assert_int_eq(status_of("/metrics", NULL), 401);
    ck_assert_int_eq(status_of("/metrics", "Bearer nope"), 403);
    wabot_metrics_add(E.ctx, "messages.received", 3);
    wabot_http_response *r = get("/metrics", "Bearer scrape");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    ck_assert_str_eq(wabot_http_response_content_type(r),
                     "text/plain; version=0.0.4; charset=utf-8");
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_ptr_nonnull(strstr(body, "wabot_messages_received_total 3"));
    wabot_http_response_free(r);
    ck_assert_int_eq(status_of("/whatsapp-v2/monitoring", "Bearer scrape"),
                     200);
    /* the admin API itself stays off */
    ck_assert_int_eq(status_of("/whatsapp-v2/migration", "Bearer scrape"),
                     404);
    tu_env_free(&E);
}
END_TEST

static const char *const admin_token[] = {"admin.token", "adm", NULL};

START_TEST(test_monitoring_has_the_replaced_dashboards_shape)
{
    start(admin_token);
    wabot_metrics_add(E.ctx, "messages.received", 2);
    ck_assert_int_eq(status_of("/metrics", "Bearer adm"), 200);
    wabot_http_response *r = get("/whatsapp-v2/monitoring", "Bearer adm");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    static const char *const parts[] = {
        "\"new\":{\"messages\":2,\"orders\":0,\"invoices\":0,\"reminders\":0,"
        "\"campaigns\":0}",
        "\"orderProcessing\":{\"waiting\":0,\"active\":0,\"completed\":0,"
        "\"failed\":0,\"delayed\":0}",
        "\"invoices\":{", "\"reminders\":{", "\"campaigns\":{",
        "\"old\":{\"messages\":0,\"errors\":0,\"latency_ms\":{"
        "\"count\":0,\"p50\":null,\"p99\":null}}",
        "\"timestamp\":\"2026-01-01T00:00:00.000Z\""};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        ck_assert_msg(strstr(body, parts[i]) != NULL, "%s not in %s",
                      parts[i], body);
    wabot_http_response_free(r);
    tu_env_free(&E);
}
END_TEST

static const char *const custom_path[] = {"admin.token", "adm",
                                          "monitoring.metrics_path",
                                          "/ops/metrics", NULL};

START_TEST(test_metrics_path_is_an_option)
{
    start(custom_path);
    ck_assert_int_eq(status_of("/ops/metrics", "Bearer adm"), 200);
    ck_assert_int_eq(status_of("/metrics", "Bearer adm"), 404);
    tu_env_free(&E);
}
END_TEST

/* ---- history ---------------------------------------------------- */

static char *body_of(const char *path)
{
    wabot_http_response *r = get(path, "Bearer adm");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    size_t len;
    char *copy = strdup(wabot_http_response_body(r, &len));
    wabot_http_response_free(r);
    return copy;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

START_TEST(test_history_samples_every_2s_and_keeps_15_minutes)
{
    start(admin_token);
    /* 20 minutes of one message a second, read every 30 s: one sample per
     * 2 s all the same (the loop's source), the oldest dropped after 15
     * minutes. */
    for (int s = 0; s < 20 * 60; s += 2) {
        wabot_metrics_add(E.ctx, "messages.received", 2);
        if (s % 30 == 0)
            free(body_of("/whatsapp-v2/monitoring/history?since=0"));
        tu_clock_advance(&E.clock, 2000);
        wabot_ctx_on_timeout(E.ctx); /* the loop fires the history source */
    }
    char *all = body_of("/whatsapp-v2/monitoring/history");
    ck_assert_ptr_nonnull(strstr(all, "\"interval_ms\":2000"));
    ck_assert_ptr_nonnull(strstr(all, "\"counters\":[\"messages.received\""));
    ck_assert_ptr_nonnull(
        strstr(all, "\"queues\":[\"orderProcessing\",\"invoices\""));
    ck_assert_uint_eq(count_of(all, "{\"t\":"), 450);
    /* the newest sample holds the counter as it is now */
    char want[64];
    snprintf(want, sizeof want, "\"t\":%lld,\"c\":[1200,",
             (long long)tu_clock_now(&E.clock));
    ck_assert_msg(strstr(all, want) != NULL, "%s not in the history", want);
    /* the oldest is from 15 minutes ago, not before */
    long long first = 0;
    ck_assert_int_eq(sscanf(strstr(all, "{\"t\":"), "{\"t\":%lld", &first), 1);
    ck_assert_int_ge(first, tu_clock_now(&E.clock) - 15 * 60 * 1000 + 1);
    free(all);
    tu_env_free(&E);
}
END_TEST

START_TEST(test_history_since_answers_only_newer_samples)
{
    start(admin_token);
    int64_t t0 = tu_clock_now(&E.clock);
    for (int i = 0; i < 5; i++) {
        tu_clock_advance(&E.clock, 2000);
        free(body_of("/whatsapp-v2/monitoring/history"));
    }
    char path[128];
    snprintf(path, sizeof path, "/whatsapp-v2/monitoring/history?since=%lld",
             (long long)(t0 + 6000));
    char *b = body_of(path);
    ck_assert_uint_eq(count_of(b, "{\"t\":"), 2); /* t0+8 s and t0+10 s */
    free(b);
    wabot_http_response *r =
        get("/whatsapp-v2/monitoring/history?since=x", "Bearer adm");
    ck_assert_int_eq(wabot_http_response_status(r), 400);
    ck_assert_ptr_nonnull(strstr(wabot_http_response_body(r, NULL),
                                 "\"field\":\"since\""));
    wabot_http_response_free(r);
    /* token-protected like /monitoring */
    ck_assert_int_eq(status_of("/whatsapp-v2/monitoring/history", NULL), 401);
    ck_assert_int_eq(status_of("/whatsapp-v2/monitoring/history", "Bearer no"),
                     403);
    tu_env_free(&E);
}
END_TEST

START_TEST(test_history_has_the_turn_latency_buckets)
{
    start(admin_token);
    wabot_message *m = tu_text("m1", "+15550002222", "hello");
    ck_assert_int_eq(wabot_ctx_handle_message(E.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_clock_advance(&E.clock, 2000);
    char *b = body_of("/whatsapp-v2/monitoring/history");
    ck_assert_msg(strstr(b, "\"bounds\":[0.001,") != NULL, "%s", b);
    /* one turn: the +Inf bucket (last in "lat") counts 1; nothing was
     * forwarded to a legacy bot: its buckets (in "legacy") are 0 */
    ck_assert_msg(strstr(b, ",1],\"legacy\":[0,") != NULL, "%s", b);
    ck_assert_msg(strstr(b, ",0],\"p\":[") != NULL, "%s", b);
    free(b);
    tu_env_free(&E);
}
END_TEST

static int answer_hi(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "hi");
}

/* Each queue's processing time: wabot_job_duration_seconds{queue} from
 * reservation to outcome, and in the history as [ms in all, jobs] per
 * queue (the dashboard's "Avg time" column). The recorder's send takes
 * no fake time: one outbound job of 0 ms. */
START_TEST(test_history_has_each_queues_processing_time)
{
    start(admin_token);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, answer_hi, NULL, NULL),
                     WABOT_OK);
    wabot_message *m = tu_text("m1", "+15550003333", "hello");
    ck_assert_int_eq(wabot_ctx_handle_message(E.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(E.ctx);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 1);
    char *text = wabot_metrics_prometheus(E.ctx);
    ck_assert_ptr_nonnull(strstr(
        text, "wabot_job_duration_seconds_count{queue=\"outbound\"} 1\n"));
    wabot_ctx_mem_free(E.ctx, text);
    tu_clock_advance(&E.clock, 2000);
    char *b = body_of("/whatsapp-v2/monitoring/history");
    /* outbound is the last queue: its pair ends the sample */
    ck_assert_msg(strstr(b, "\"p\":[[0,0],[0,0],[0,0],[0,0],[0,1]]}") != NULL,
                  "%s", b);
    free(b);
    tu_env_free(&E);
}
END_TEST

Suite *monitoring_suite(void)
{
    Suite *s = suite_create("monitoring");
    TCase *tc = tcase_create("monitoring");
    tcase_add_test(tc, test_never_open_without_a_token);
    tcase_add_test(tc, test_metrics_token_opens_metrics_and_monitoring_only);
    tcase_add_test(tc, test_monitoring_has_the_replaced_dashboards_shape);
    tcase_add_test(tc, test_metrics_path_is_an_option);
    tcase_add_test(tc, test_history_samples_every_2s_and_keeps_15_minutes);
    tcase_add_test(tc, test_history_since_answers_only_newer_samples);
    tcase_add_test(tc, test_history_has_the_turn_latency_buckets);
    tcase_add_test(tc, test_history_has_each_queues_processing_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(monitoring_suite());
}
