/* Migration off a legacy bot (include/wabot/migration.h) and the admin
 * mount (include/wabot/admin.h): the per-customer decision, runtime
 * changes, the webhook diverter, the admin route behind its token. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static tu_env E;

static void setup_with(const char *const *kv)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "verify_signatures", "0"),
                     WABOT_OK);
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        ck_assert_msg(wabot_options_set(o, kv[0], kv[1]) == WABOT_OK, "%s: %s",
                      kv[0], wabot_options_errmsg(o));
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static void setup(void)
{
    setup_with(NULL);
}

static void teardown(void)
{
    tu_env_free(&E);
}

static char *number(int i, char *buf, size_t n)
{
    snprintf(buf, n, "+1555%07d", i);
    return buf;
}

/* ------------------------------------------------------------------ */
/* The decision                                                        */

START_TEST(test_bucket_is_stable_and_ignores_the_spelling_of_the_number)
{
    int b = wabot_migration_bucket("+15550100");
    ck_assert_int_ge(b, 0);
    ck_assert_int_lt(b, 100);
    ck_assert_int_eq(wabot_migration_bucket("whatsapp:+15550100"), b);
    ck_assert_int_eq(wabot_migration_bucket("1 555 0100"), b);
    ck_assert_int_eq(wabot_migration_bucket(NULL), -1);
    /* A published value: SHA-256("15550100"), first 8 bytes, mod 100.
     * Changing the hash would move customers between systems. */
    ck_assert_int_eq(wabot_migration_bucket("+15550100"), 24);
}
END_TEST

START_TEST(test_default_handles_everyone_here)
{
    char n[32];
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(wabot_migration_decide(E.ctx, number(i, n, sizeof n)),
                         WABOT_SYSTEM_NEW);
}
END_TEST

START_TEST(test_ten_percent_is_about_a_tenth_and_raising_only_adds)
{
    char n[32];
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 10), WABOT_OK);
    static unsigned char at10[1000];
    int here = 0;
    for (int i = 0; i < 1000; i++) {
        at10[i] = wabot_migration_decide(E.ctx, number(i, n, sizeof n)) ==
                  WABOT_SYSTEM_NEW;
        here += at10[i];
        /* sticky: asking again gives the same answer */
        ck_assert_int_eq(wabot_migration_decide(E.ctx, n) == WABOT_SYSTEM_NEW,
                         at10[i]);
    }
    ck_assert_int_ge(here, 70);
    ck_assert_int_le(here, 130);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 50), WABOT_OK);
    int here50 = 0;
    for (int i = 0; i < 1000; i++) {
        int now = wabot_migration_decide(E.ctx, number(i, n, sizeof n)) ==
                  WABOT_SYSTEM_NEW;
        if (at10[i])
            ck_assert_msg(now, "customer %d moved back at 50%%", i);
        here50 += now;
    }
    ck_assert_int_ge(here50, 430);
    ck_assert_int_le(here50, 570);
    /* instant rollback */
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 0), WABOT_OK);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(wabot_migration_decide(E.ctx, number(i, n, sizeof n)),
                         WABOT_SYSTEM_LEGACY);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 101), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "0..100"));
}
END_TEST

START_TEST(test_deny_beats_allow_beats_the_switch_and_the_percentage)
{
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 0), WABOT_OK);
    ck_assert_int_eq(wabot_migration_pin(E.ctx, "+15550001", WABOT_SYSTEM_NEW),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_decide(E.ctx, "whatsapp:+15550001"),
                     WABOT_SYSTEM_NEW);
    ck_assert_int_eq(wabot_migration_set_enabled(E.ctx, 0), WABOT_OK);
    ck_assert_int_eq(wabot_migration_decide(E.ctx, "+15550001"),
                     WABOT_SYSTEM_NEW);
    /* pinned to the deny list: off the allow list */
    ck_assert_int_eq(
        wabot_migration_pin(E.ctx, "+15550001", WABOT_SYSTEM_LEGACY), WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_enabled(E.ctx, 1), WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 100), WABOT_OK);
    ck_assert_int_eq(wabot_migration_decide(E.ctx, "+15550001"),
                     WABOT_SYSTEM_LEGACY);
    ck_assert_int_eq(wabot_migration_unpin(E.ctx, "+15550001"), WABOT_OK);
    ck_assert_int_eq(wabot_migration_decide(E.ctx, "+15550001"),
                     WABOT_SYSTEM_NEW);
    ck_assert_int_eq(wabot_migration_unpin(E.ctx, "+15550001"),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_migration_pin(E.ctx, "no digits", WABOT_SYSTEM_NEW),
                     WABOT_ERR_INVAL);
}
END_TEST

static const char *const from_env[] = {
    "migration.percent", "0", "migration.allow", "+15550001, +15550002",
    "migration.deny", "+15550003", NULL};

START_TEST(test_options_set_percent_and_lists)
{
    teardown();
    setup_with(from_env);
    ck_assert_int_eq(wabot_migration_decide(E.ctx, "+15550002"),
                     WABOT_SYSTEM_NEW);
    ck_assert_int_eq(wabot_migration_decide(E.ctx, "+15550009"),
                     WABOT_SYSTEM_LEGACY);
    char *json = wabot_migration_json(E.ctx);
    ck_assert_ptr_nonnull(strstr(json, "\"allow\":[\"15550001\",\"15550002\"]"));
    ck_assert_ptr_nonnull(strstr(json, "\"deny\":[\"15550003\"]"));
    ck_assert_ptr_nonnull(strstr(json, "\"percent\":0"));
    wabot_ctx_mem_free(E.ctx, json);
}
END_TEST

START_TEST(test_a_bad_list_entry_fails_the_context_naming_it)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "migration.deny", "+1555,abc"),
                     WABOT_OK);
    wabot_ctx *ctx = NULL;
    ck_assert_int_ne(wabot_ctx_new(&ctx, o), WABOT_OK);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "abc"));
    wabot_options_free(o);
}
END_TEST

START_TEST(test_json_update_is_all_or_nothing_and_names_the_field)
{
    const char *ok = "{\"percent\":25,\"allow\":[\"+15550007\"]}";
    ck_assert_int_eq(wabot_migration_update_json(E.ctx, ok, strlen(ok)),
                     WABOT_OK);
    const char *bad = "{\"percent\":30,\"deny\":[\"+1555\",7]}";
    ck_assert_int_eq(wabot_migration_update_json(E.ctx, bad, strlen(bad)),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "deny[1]"));
    const char *unknown = "{\"percentage\":30}";
    ck_assert_int_eq(
        wabot_migration_update_json(E.ctx, unknown, strlen(unknown)),
        WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "percentage"));
    ck_assert_int_eq(wabot_migration_update_json(E.ctx, "[1]", 3),
                     WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_migration_update_json(E.ctx, "{", 1),
                     WABOT_ERR_PARSE);
    char *json = wabot_migration_json(E.ctx);
    ck_assert_ptr_nonnull(strstr(json, "\"percent\":25"));
    ck_assert_ptr_nonnull(strstr(json, "\"allow\":[\"15550007\"]"));
    ck_assert_ptr_nonnull(strstr(json, "\"deny\":[]"));
    wabot_ctx_mem_free(E.ctx, json);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The webhook diverter                                                */

typedef struct legacy_bot {
    atomic_int calls;
    int fail;
    int64_t takes_ms; /* how long the legacy bot "takes" (fake clock) */
    char body[1024];
    char signature[128];
} legacy_bot;

static int legacy(void *ud, const char *method, const char *target,
                  const wabot_http_header *h, size_t nh, const char *body,
                  size_t len, wabot_http_response *out)
{
    legacy_bot *lb = ud;
    atomic_fetch_add(&lb->calls, 1);
    tu_clock_advance(&E.clock, lb->takes_ms);
    ck_assert_str_eq(method, "POST");
    ck_assert_str_eq(target, "/whatsapp/webhook");
    snprintf(lb->body, sizeof lb->body, "%.*s", (int)len, body);
    for (size_t i = 0; i < nh; i++)
        if (strcmp(h[i].name, "X-Twilio-Signature") == 0)
            snprintf(lb->signature, sizeof lb->signature, "%s", h[i].value);
    if (lb->fail)
        return WABOT_ERR_TRANSPORT;
    wabot_http_response_set_status(out, 200);
    return wabot_http_response_set_body(out, "text/xml",
                                        "<Response>legacy</Response>", 27);
}

static atomic_int turns;

static int count_turn(wabot_turn *t, void *ud)
{
    (void)t;
    (void)ud;
    atomic_fetch_add(&turns, 1);
    return WABOT_OK;
}

static wabot_http_response *post_twilio(const char *sid, const char *from)
{
    char body[512];
    snprintf(body, sizeof body,
             "MessageSid=%s&AccountSid=AC1&From=whatsapp%%3A%s&To=whatsapp%%3A"
             "%%2B14155238886&Body=hi&NumMedia=0",
             sid, from);
    wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"X-Twilio-Signature", "sig-for-the-legacy-bot"}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "POST", "/whatsapp/webhook", h, 2,
                                       body, strlen(body), &r),
                     WABOT_OK);
    return r;
}

START_TEST(test_legacy_customers_reach_the_legacy_bot_with_the_original_request)
{
    legacy_bot lb = {0};
    atomic_store(&turns, 0);
    ck_assert_int_eq(wabot_pipeline_use(E.ctx, "count", count_turn, NULL, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_legacy(E.ctx, legacy, &lb), WABOT_OK);
    ck_assert_int_eq(wabot_migration_pin(E.ctx, "+15550001",
                                         WABOT_SYSTEM_LEGACY),
                     WABOT_OK);
    wabot_http_response *r = post_twilio("SM1", "%2B15550001");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    size_t len;
    ck_assert_str_eq(wabot_http_response_body(r, &len),
                     "<Response>legacy</Response>");
    wabot_http_response_free(r);
    ck_assert_int_eq(atomic_load(&lb.calls), 1);
    ck_assert_int_eq(atomic_load(&turns), 0);
    ck_assert_ptr_nonnull(strstr(lb.body, "MessageSid=SM1"));
    ck_assert_str_eq(lb.signature, "sig-for-the-legacy-bot");

    /* another customer stays here: TwiML of this library, no forward */
    r = post_twilio("SM2", "%2B15550002");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    ck_assert_ptr_null(strstr(wabot_http_response_body(r, &len), "legacy"));
    wabot_http_response_free(r);
    ck_assert_int_eq(atomic_load(&lb.calls), 1);
    ck_assert_int_eq(atomic_load(&turns), 1);

    char *json = wabot_migration_json(E.ctx);
    ck_assert_ptr_nonnull(strstr(json, "\"decisions\":{\"new\":1,\"legacy\":1}"));
    wabot_ctx_mem_free(E.ctx, json);
}
END_TEST

/* The value of the Prometheus line that starts with `line` (-1 if none). */
static long long prom_value(const char *text, const char *line)
{
    const char *p = strstr(text, line);
    return p != NULL ? atoll(p + strlen(line)) : -1;
}

START_TEST(test_the_legacy_bots_latency_is_a_histogram_by_outcome)
{
    legacy_bot lb = {.takes_ms = 30};
    ck_assert_int_eq(wabot_migration_set_legacy(E.ctx, legacy, &lb), WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 0), WABOT_OK);
    wabot_http_response_free(post_twilio("SM5", "%2B15550005"));
    lb.fail = 1;
    lb.takes_ms = 3000;
    wabot_http_response_free(post_twilio("SM6", "%2B15550006"));
    char *text = wabot_metrics_prometheus(E.ctx);
    ck_assert_ptr_nonnull(text);
#define LEGACY "wabot_legacy_forward_duration_seconds"
    ck_assert_int_eq(prom_value(text, LEGACY "_count{outcome=\"ok\"} "), 1);
    ck_assert_int_eq(prom_value(text, LEGACY "_count{outcome=\"error\"} "),
                     1);
    /* 30 ms: above 0.025, within 0.05; 3 s: within 5 */
    ck_assert_int_eq(
        prom_value(text, LEGACY "_bucket{outcome=\"ok\",le=\"0.025\"} "), 0);
    ck_assert_int_eq(
        prom_value(text, LEGACY "_bucket{outcome=\"ok\",le=\"0.05\"} "), 1);
    ck_assert_int_eq(
        prom_value(text, LEGACY "_bucket{outcome=\"error\",le=\"2.5\"} "),
        0);
    ck_assert_int_eq(
        prom_value(text, LEGACY "_bucket{outcome=\"error\",le=\"5\"} "), 1);
#undef LEGACY
    wabot_ctx_mem_free(E.ctx, text);
}
END_TEST


START_TEST(test_a_failing_legacy_bot_answers_502_so_the_provider_redelivers)
{
    legacy_bot lb = {.fail = 1};
    ck_assert_int_eq(wabot_migration_set_legacy(E.ctx, legacy, &lb), WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 0), WABOT_OK);
    wabot_http_response *r = post_twilio("SM3", "%2B15550004");
    tu_assert_json_error(r, 502, "legacy_unavailable");
    wabot_http_response_free(r);
    char *json = wabot_migration_json(E.ctx);
    ck_assert_ptr_nonnull(strstr(json, "\"legacy_errors\":1"));
    wabot_ctx_mem_free(E.ctx, json);
}
END_TEST

START_TEST(test_without_a_legacy_handler_nothing_is_diverted)
{
    atomic_store(&turns, 0);
    ck_assert_int_eq(wabot_pipeline_use(E.ctx, "count", count_turn, NULL, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 0), WABOT_OK);
    wabot_http_response *r = post_twilio("SM4", "%2B15550005");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    wabot_http_response_free(r);
    ck_assert_int_eq(atomic_load(&turns), 1);
}
END_TEST

/* A Meta batch with customers of both systems: this side's message is
 * handled here, the whole body forwarded. */
static int legacy_json(void *ud, const char *method, const char *target,
                       const wabot_http_header *h, size_t nh, const char *body,
                       size_t len, wabot_http_response *out)
{
    (void)method;
    (void)target;
    (void)h;
    (void)nh;
    legacy_bot *lb = ud;
    atomic_fetch_add(&lb->calls, 1);
    snprintf(lb->body, sizeof lb->body, "%.*s", (int)len, body);
    return wabot_http_response_set_json(out, 200, "{\"legacy\":true}");
}

static const char *meta_two(void)
{
    return "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
           "\"changes\":[{\"field\":\"messages\",\"value\":{"
           "\"messaging_product\":\"whatsapp\",\"metadata\":{"
           "\"display_phone_number\":\"15550000\",\"phone_number_id\":\"9\"},"
           "\"messages\":["
           "{\"from\":\"15550001\",\"id\":\"wamid.A\",\"timestamp\":\"1700000000\","
           "\"type\":\"text\",\"text\":{\"body\":\"hi\"}},"
           "{\"from\":\"15550002\",\"id\":\"wamid.B\",\"timestamp\":\"1700000000\","
           "\"type\":\"text\",\"text\":{\"body\":\"hi\"}}]}}]}]}";
}

START_TEST(test_a_mixed_meta_batch_is_split_then_forwarded_whole)
{
    legacy_bot lb = {0};
    atomic_store(&turns, 0);
    ck_assert_int_eq(wabot_pipeline_use(E.ctx, "count", count_turn, NULL, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_legacy(E.ctx, legacy_json, &lb),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_pin(E.ctx, "15550001", WABOT_SYSTEM_LEGACY),
                     WABOT_OK);
    const char *body = meta_two();
    wabot_http_header h = {"Content-Type", "application/json"};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "POST", "/whatsapp-v2/webhook",
                                       &h, 1, body, strlen(body), &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    size_t len;
    ck_assert_str_eq(wabot_http_response_body(r, &len), "{\"status\":\"ok\"}");
    wabot_http_response_free(r);
    ck_assert_int_eq(atomic_load(&turns), 1);
    ck_assert_int_eq(atomic_load(&lb.calls), 1);
    ck_assert_ptr_nonnull(strstr(lb.body, "wamid.A"));
    char *json = wabot_migration_json(E.ctx);
    ck_assert_ptr_nonnull(strstr(json, "\"mixed_batches\":1"));
    wabot_ctx_mem_free(E.ctx, json);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The admin route                                                     */

static const char *const with_token[] = {"admin.token", "s3cret,other", NULL};

static wabot_http_response *admin_call(const char *method, const char *auth,
                                       const char *body)
{
    wabot_http_header h[2] = {{"Content-Type", "application/json"},
                              {"Authorization", auth}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, method, "/whatsapp-v2/migration",
                                       h, auth != NULL ? 2 : 1, body,
                                       body != NULL ? strlen(body) : 0, &r),
                     WABOT_OK);
    return r;
}

/* /monitoring's "old": what the forwarder saw, latency included (the
 * replaced system's side-by-side stats). */
START_TEST(test_monitoring_old_side_has_the_legacy_bots_latency)
{
    teardown();
    setup_with(with_token);
    wabot_http_header h = {"Authorization", "Bearer s3cret"};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", "/whatsapp-v2/monitoring",
                                       &h, 1, NULL, 0, &r),
                     WABOT_OK);
    ck_assert_ptr_nonnull(strstr(wabot_http_response_body(r, NULL),
                                 "\"latency_ms\":{\"count\":0,\"p50\":null,"
                                 "\"p99\":null}"));
    wabot_http_response_free(r);

    legacy_bot lb = {.takes_ms = 30};
    ck_assert_int_eq(wabot_migration_set_legacy(E.ctx, legacy, &lb), WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 0), WABOT_OK);
    char sid[16], from[32];
    for (int i = 0; i < 10; i++) { /* nine of 30 ms, one of 3 s */
        lb.takes_ms = i == 9 ? 3000 : 30;
        snprintf(sid, sizeof sid, "SM7%d", i);
        snprintf(from, sizeof from, "%%2B1555000070%d", i);
        wabot_http_response_free(post_twilio(sid, from));
    }
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", "/whatsapp-v2/monitoring",
                                       &h, 1, NULL, 0, &r),
                     WABOT_OK);
    json_t *j = json_loads(wabot_http_response_body(r, NULL), 0, NULL);
    wabot_http_response_free(r);
    json_t *lat = json_object_get(json_object_get(j, "old"), "latency_ms");
    ck_assert_int_eq(json_integer_value(json_object_get(lat, "count")), 10);
    /* p50 in the 25..50 ms bucket, p99 in the 2.5..5 s one */
    double p50 = json_real_value(json_object_get(lat, "p50"));
    double p99 = json_real_value(json_object_get(lat, "p99"));
    ck_assert_msg(p50 > 25 && p50 <= 50, "p50 %f", p50);
    ck_assert_msg(p99 > 2500 && p99 <= 5000, "p99 %f", p99);
    json_decref(j);
}
END_TEST

START_TEST(test_admin_route_is_off_without_a_token)
{
    ck_assert_int_eq(wabot_admin_enabled(E.ctx), 0);
    wabot_http_response *r = admin_call("GET", "Bearer anything", NULL);
    ck_assert_int_eq(wabot_http_response_status(r), 404);
    wabot_http_response_free(r);
}
END_TEST

START_TEST(test_admin_route_checks_the_token_then_reads_and_changes)
{
    teardown();
    setup_with(with_token);
    ck_assert_int_ne(wabot_admin_enabled(E.ctx), 0);
    wabot_http_response *r = admin_call("GET", NULL, NULL);
    ck_assert_int_eq(wabot_http_response_status(r), 401);
    ck_assert_str_eq(wabot_http_response_header(r, "WWW-Authenticate"),
                     "Bearer");
    wabot_http_response_free(r);
    r = admin_call("GET", "Bearer wrong", NULL);
    ck_assert_int_eq(wabot_http_response_status(r), 403);
    wabot_http_response_free(r);
    r = admin_call("GET", "Bearer other", NULL); /* the second token */
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    wabot_http_response_free(r);

    r = admin_call("PUT", "bearer s3cret", "{\"percent\":10}");
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    size_t len;
    ck_assert_ptr_nonnull(
        strstr(wabot_http_response_body(r, &len), "\"percent\":10"));
    wabot_http_response_free(r);
    ck_assert_int_eq(wabot_migration_set_percent(E.ctx, 10), WABOT_OK);

    r = admin_call("PUT", "Bearer s3cret", "{\"percent\":\"ten\"}");
    ck_assert_int_eq(wabot_http_response_status(r), 400);
    const char *b = wabot_http_response_body(r, &len);
    ck_assert_ptr_nonnull(strstr(b, "\"code\":\"invalid_field\""));
    ck_assert_ptr_nonnull(strstr(b, "percent"));
    wabot_http_response_free(r);
    r = admin_call("PUT", "Bearer s3cret", "{nope");
    ck_assert_int_eq(wabot_http_response_status(r), 400);
    wabot_http_response_free(r);
}
END_TEST

START_TEST(test_admin_error_builds_the_documented_json)
{
    ck_assert_int_eq(wabot_admin_error(NULL, 400, "x", NULL, "m"),
                     WABOT_ERR_INVAL);
    wabot_http_response *r = NULL;
    /* fill a response through a route-less request: use a 404 answer */
    wabot_http_header h = {"Content-Type", "application/json"};
    ck_assert_int_eq(wabot_http_handle(E.ctx, "GET", "/nowhere", &h, 1, NULL,
                                       0, &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_admin_error(r, 422, "bad", "name", "say \"why\""),
                     WABOT_OK);
    size_t len;
    ck_assert_str_eq(wabot_http_response_body(r, &len),
                     "{\"error\":{\"code\":\"bad\",\"message\":\"say "
                     "\\\"why\\\"\",\"field\":\"name\"}}");
    ck_assert_int_eq(wabot_http_response_status(r), 422);
    ck_assert_int_eq(wabot_admin_error(r, 200, "x", NULL, "m"),
                     WABOT_ERR_INVAL);
    wabot_http_response_free(r);
}
END_TEST

Suite *migration_suite(void)
{
    Suite *s = suite_create("migration");
    TCase *tc = tcase_create("migration");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bucket_is_stable_and_ignores_the_spelling_of_the_number);
    tcase_add_test(tc, test_default_handles_everyone_here);
    tcase_add_test(tc, test_ten_percent_is_about_a_tenth_and_raising_only_adds);
    tcase_add_test(tc, test_deny_beats_allow_beats_the_switch_and_the_percentage);
    tcase_add_test(tc, test_options_set_percent_and_lists);
    tcase_add_test(tc, test_a_bad_list_entry_fails_the_context_naming_it);
    tcase_add_test(tc, test_json_update_is_all_or_nothing_and_names_the_field);
    tcase_add_test(tc, test_legacy_customers_reach_the_legacy_bot_with_the_original_request);
    tcase_add_test(tc, test_a_failing_legacy_bot_answers_502_so_the_provider_redelivers);
    tcase_add_test(tc, test_the_legacy_bots_latency_is_a_histogram_by_outcome);
    tcase_add_test(tc, test_monitoring_old_side_has_the_legacy_bots_latency);
    tcase_add_test(tc, test_without_a_legacy_handler_nothing_is_diverted);
    tcase_add_test(tc, test_a_mixed_meta_batch_is_split_then_forwarded_whole);
    tcase_add_test(tc, test_admin_route_is_off_without_a_token);
    tcase_add_test(tc, test_admin_route_checks_the_token_then_reads_and_changes);
    tcase_add_test(tc, test_admin_error_builds_the_documented_json);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(migration_suite());
}
