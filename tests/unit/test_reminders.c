/* Reminders (include/wabot/campaign.h, lib/campaign/reminder*.c): the
 * replaced system's JSON, lifecycle, the `reminders` queue on the fake
 * clock, opt-out and the 24-hour window, quiet hours across DST changes
 * (lib/campaign/tz.c, quiet_hours.c), cancel-on-reply, PAYMENT_DUE from
 * invoices, 10,000 reminders fired once each. Built twice: test
 * 'reminders' on the memory backends, test 'reminders-redis'
 * (-DREMINDERS_REDIS) with Redis storage and the Redis job scheduler on a
 * redis-server the test starts (tests/redis/redis_harness.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign/tz.h"
#include "testutil.h"
#include "wabot/campaign.h"
#include "wabot/invoice.h"
#include "wabot/metrics.h"
#include "wabot/send.h"

static tu_env E;

#ifdef REMINDERS_REDIS
#include "redis_harness.h"
#include "wabot/redis.h"

static rh_server g_srv;
static wabot_redis *g_redis;
static wabot_scheduler *g_sched;

static void env_init(tu_env *e, wabot_options *o)
{
    ck_assert_int_eq(rh_cli(&g_srv, "FLUSHALL", NULL, 0), 0);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    const char *err = NULL;
    g_redis = wabot_redis_new(&cfg, &err);
    ck_assert_msg(g_redis != NULL, "wabot_redis_new: %s", err ? err : "?");
    tu_clock_init(&e->clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&e->clock);
    e->storage = wabot_storage_redis_new(g_redis);
    g_sched = wabot_scheduler_redis_new(g_redis);
    e->rec = wabot_recorder_new();
    ck_assert_ptr_nonnull(e->storage);
    ck_assert_ptr_nonnull(g_sched);
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(o, e->storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_scheduler(o, g_sched), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_transport(o, e->rec), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&e->ctx, o), WABOT_OK);
}

static void env_free(tu_env *e)
{
    tu_env_free(e);
    wabot_scheduler_free(g_sched);
    wabot_redis_free(g_redis);
    g_sched = NULL;
    g_redis = NULL;
}
#else
#define env_init tu_env_init_opts
#define env_free tu_env_free
#endif

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)

/* kv: org ("" global), option, value triples, NULL-terminated. */
static void setup_with(const char *const *envp, const char *const *kv)
{
    wabot_options *o = wabot_options_new();
    if (envp != NULL)
        ck_assert_int_eq(wabot_options_apply_env(o, envp), WABOT_OK);
    for (; kv != NULL && kv[0] != NULL; kv += 3)
        ck_assert_msg((kv[0][0] != '\0'
                           ? wabot_options_set_org(o, kv[0], kv[1], kv[2])
                           : wabot_options_set(o, kv[1], kv[2])) == WABOT_OK,
                      "%s: %s", kv[1], wabot_options_errmsg(o));
    env_init(&E, o);
    wabot_options_free(o);
}

static void setup(void)
{
    setup_with(NULL, NULL);
}

static void teardown(void)
{
    env_free(&E);
}

static void with_window_fallback(void)
{
    ck_assert_int_eq(wabot_ctx_set_window_template(E.ctx, WABOT_CAT_REMINDER,
                                                   "reminder_fallback", "en"),
                     WABOT_OK);
}

static json_t *parse_out(char *out)
{
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    wabot_ctx_mem_free(E.ctx, out);
    return j;
}

static json_t *create(const char *json)
{
    char *out = NULL;
    int rc = wabot_reminder_create_json(E.ctx, json, strlen(json), &out);
    ck_assert_msg(rc == WABOT_OK, "%s: %s", json, wabot_errmsg());
    return parse_out(out);
}

static int create_rc(const char *json)
{
    return wabot_reminder_create_json(E.ctx, json, strlen(json), NULL);
}

static json_t *get(const char *org, const char *id)
{
    char *out = NULL;
    int rc = wabot_reminder_get_json(E.ctx, org, id, &out);
    ck_assert_msg(rc == WABOT_OK, "%s: %s", id, wabot_errmsg());
    return parse_out(out);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void assert_status(const char *org, const char *id,
                          const char *status, const char *reason)
{
    json_t *r = get(org, id);
    ck_assert_str_eq(str(r, "status"), status);
    if (reason)
        ck_assert_str_eq(str(r, "reason"), reason);
    json_decref(r);
}

/* A customer of org "default" who wrote just now (window open). */
static void customer_writes(const char *phone, const char *id)
{
    wabot_message *m = tu_text(id, phone, "hello");
    ck_assert_int_eq(wabot_ctx_handle_message(E.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(E.ctx);
}

static void upsert(const char *org, const char *json)
{
    int rc = wabot_customer_upsert_json(E.ctx, org, json, strlen(json), NULL);
    ck_assert_msg(rc == WABOT_OK, "%s: %s", json, wabot_errmsg());
}

static void advance_to(int64_t at)
{
    int64_t now = tu_clock_now(&E.clock);
    ck_assert(at >= now);
    tu_clock_advance(&E.clock, at - now);
    tu_drain(E.ctx);
}

static int64_t iso(const char *s)
{
    int64_t ms = 0;
    ck_assert_msg(wb_iso8601_ms(s, &ms), "%s", s);
    return ms;
}

static size_t sent(void)
{
    return wabot_recorder_count(E.rec);
}

/* ------------------------------------------------------------------ */
/* Creating                                                            */

static const char *const LEGACY_BODY =
    "{\"organizationId\":\"test-org\",\"customerId\":\"cust-123\","
    "\"customerPhone\":\"+1234567890\",\"type\":\"PAYMENT_DUE\","
    "\"message\":\"Test reminder\",\"scheduledFor\":\"2025-01-15T10:00:00Z\"}";

START_TEST(test_the_replaced_systems_body_is_accepted_and_a_past_time_sends_now)
{
    setup();
    with_window_fallback();
    json_t *r = create(LEGACY_BODY);
    ck_assert_str_eq(str(r, "status"), "SCHEDULED");
    ck_assert_str_eq(str(r, "organizationId"), "test-org");
    ck_assert_str_eq(str(r, "customerId"), "cust-123");
    ck_assert_str_eq(str(r, "customerPhone"), "+1234567890");
    ck_assert_str_eq(str(r, "type"), "PAYMENT_DUE");
    ck_assert_str_eq(str(r, "scheduledFor"), "2025-01-15T10:00:00Z");
    ck_assert_int_eq(num(r, "nextRunMs"), TU_EPOCH_MS);
    ck_assert_int_eq(strncmp(str(r, "id"), "rem_", 4), 0);
    tu_drain(E.ctx);
    assert_status("test-org", str(r, "id"), "SENT", NULL);
    ck_assert_uint_eq(sent(), 1);
    const wabot_outbound *o = wabot_recorder_get(E.rec, 0);
    ck_assert_str_eq(wabot_outbound_template_name(o), "reminder_fallback");
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "reminders.sent"), 1);
    ck_assert_int_eq(
        wabot_metrics_counter(E.ctx, "reminders.sent.payment_due"), 1);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "reminders.created"), 1);
    json_decref(r);
}
END_TEST

START_TEST(test_bad_members_are_refused_naming_the_field)
{
    setup();
    static const struct {
        const char *json, *field;
    } cases[] = {
        {"{\"organizationId\":\"o\",\"type\":\"CUSTOM\",\"message\":\"m\","
         "\"scheduledFor\":\"2026-01-01T00:00:00Z\"}", "customerPhone"},
        {"{\"organizationId\":\"o\",\"customerPhone\":\"+15550100\","
         "\"type\":\"BIRTHDAY\",\"message\":\"m\","
         "\"scheduledFor\":\"2026-01-01T00:00:00Z\"}", "type"},
        {"{\"organizationId\":\"o\",\"customerPhone\":\"+15550100\","
         "\"type\":\"CUSTOM\",\"message\":\"m\","
         "\"scheduledFor\":\"2026-01-01 noon\"}", "scheduledFor"},
        {"{\"organizationId\":\"o\",\"customerPhone\":\"+15550100\","
         "\"type\":\"CUSTOM\",\"message\":\"m\","
         "\"scheduledFor\":\"2026-01-01T10:00:00\"}", "scheduledFor"},
        {"{\"organizationId\":\"o\",\"customerPhone\":\"+15550100\","
         "\"type\":\"CUSTOM\",\"message\":\"Hi {{nam}}\","
         "\"scheduledFor\":\"2026-01-01T00:00:00Z\"}", "message"},
        {"{\"organizationId\":\"o\",\"customerPhone\":\"+15550100\","
         "\"type\":\"CUSTOM\",\"message\":\"m\",\"repeat\":{\"count\":0,"
         "\"intervalMs\":60000},\"scheduledFor\":\"2026-01-01T00:00:00Z\"}",
         "repeat"},
        {"{\"organizationId\":\"o\",\"customerPhone\":\"+15550100\","
         "\"type\":\"CUSTOM\",\"message\":\"m\",\"when\":1,"
         "\"scheduledFor\":\"2026-01-01T00:00:00Z\"}", "when"},
        {"{\"organizationId\":\"{o}\",\"customerPhone\":\"+15550100\","
         "\"type\":\"CUSTOM\",\"message\":\"m\","
         "\"scheduledFor\":\"2026-01-01T00:00:00Z\"}", "organizationId"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(create_rc(cases[i].json), WABOT_ERR_INVAL);
        ck_assert_msg(strstr(wabot_errmsg(), cases[i].field) != NULL,
                      "case %zu: %s", i, wabot_errmsg());
    }
    /* The template's own detail names the byte position. */
    create_rc(cases[4].json);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "at byte 3"));
    ck_assert_int_eq(create_rc("[1]"), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "reminders.created"), 0);
}
END_TEST

START_TEST(test_an_id_given_twice_is_exists)
{
    setup();
    const char *j = "{\"id\":\"appt-7\",\"organizationId\":\"acme\","
                    "\"customerPhone\":\"+15550100\",\"type\":\"APPOINTMENT\","
                    "\"message\":\"See you\","
                    "\"scheduledFor\":\"2026-01-02T09:00:00+01:00\"}";
    json_t *r = create(j);
    ck_assert_str_eq(str(r, "id"), "appt-7");
    ck_assert_int_eq(num(r, "nextRunMs"), iso("2026-01-02T08:00:00Z"));
    json_decref(r);
    ck_assert_int_eq(create_rc(j), WABOT_ERR_EXISTS);
}
END_TEST

START_TEST(test_disabled_reminders_refuse_with_the_variable_named)
{
    const char *env[] = {"ENABLE_REMINDERS=false", NULL};
    setup_with(env, NULL);
    ck_assert_int_eq(create_rc(LEGACY_BODY), WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "ENABLE_REMINDERS"));
}
END_TEST

static int host_worker(wabot_job *job, void *ud)
{
    (void)job;
    (void)ud;
    return WABOT_OK;
}

START_TEST(test_a_host_with_its_own_reminders_worker_switches_the_modules_off)
{
    setup();
    ck_assert_int_eq(wabot_queue_add_worker(E.ctx, WABOT_QUEUE_REMINDERS,
                                            host_worker, NULL, NULL, 1),
                     WABOT_ERR_EXISTS);
    env_free(&E);
    const char *kv[] = {"", "campaign.reminders_worker", "false", NULL};
    setup_with(NULL, kv);
    ck_assert_int_eq(wabot_queue_add_worker(E.ctx, WABOT_QUEUE_REMINDERS,
                                            host_worker, NULL, NULL, 1),
                     WABOT_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Firing                                                              */

static json_t *create_for(const char *phone, const char *when,
                          const char *extra)
{
    char j[1024];
    snprintf(j, sizeof j,
             "{\"organizationId\":\"default\",\"customerPhone\":\"%s\","
             "\"type\":\"APPOINTMENT\",\"message\":\"Hi {{name|there}}, "
             "see you at {{customer.time|noon}}\",\"scheduledFor\":\"%s\"%s}",
             phone, when, extra ? extra : "");
    return create(j);
}

START_TEST(test_a_future_reminder_fires_at_its_time_once_rendered)
{
    setup();
    upsert("default", "{\"phone\":\"+15550100\",\"name\":\"Ana\","
                      "\"attributes\":{\"time\":\"10:30\"}}");
    customer_writes("+15550100", "in-1");
    size_t base = sent();
    json_t *r = create_for("+15550100", "2026-01-01T01:00:00Z", NULL);
    const char *id = str(r, "id");
    advance_to(iso("2026-01-01T00:59:59.999Z"));
    ck_assert_uint_eq(sent(), base);
    assert_status("default", id, "SCHEDULED", NULL);
    advance_to(iso("2026-01-01T01:00:00Z"));
    ck_assert_uint_eq(sent(), base + 1);
    const wabot_outbound *o = wabot_recorder_get(E.rec, base);
    ck_assert_str_eq(wabot_outbound_text(o), "Hi Ana, see you at 10:30");
    assert_status("default", id, "SENT", NULL);
    advance_to(iso("2026-01-01T05:00:00Z"));
    ck_assert_uint_eq(sent(), base + 1);
    json_t *g = get("default", id);
    ck_assert_int_eq(num(g, "sent"), 1);
    json_decref(g);
    json_decref(r);
}
END_TEST

START_TEST(test_repeat_sends_count_times_interval_apart)
{
    setup();
    with_window_fallback();
    json_t *r = create_for("+15550100", "2026-01-01T01:00:00Z",
                           ",\"repeat\":{\"count\":3,\"intervalMs\":3600000}");
    const char *id = str(r, "id");
    advance_to(iso("2026-01-01T01:00:00Z"));
    ck_assert_uint_eq(sent(), 1);
    assert_status("default", id, "SCHEDULED", NULL);
    advance_to(iso("2026-01-01T01:59:59Z"));
    ck_assert_uint_eq(sent(), 1);
    advance_to(iso("2026-01-01T02:00:00Z"));
    ck_assert_uint_eq(sent(), 2);
    advance_to(iso("2026-01-01T03:00:00Z"));
    ck_assert_uint_eq(sent(), 3);
    assert_status("default", id, "SENT", NULL);
    advance_to(iso("2026-01-01T09:00:00Z"));
    ck_assert_uint_eq(sent(), 3);
    json_decref(r);
}
END_TEST

START_TEST(test_cancel_stops_it_and_a_second_cancel_is_a_state_error)
{
    setup();
    with_window_fallback();
    json_t *r = create_for("+15550100", "2026-01-01T01:00:00Z", NULL);
    const char *id = str(r, "id");
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", id), WABOT_OK);
    assert_status("default", id, "CANCELLED", "cancelled");
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", id),
                     WABOT_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "CANCELLED"));
    advance_to(iso("2026-01-01T02:00:00Z"));
    ck_assert_uint_eq(sent(), 0);
    /* A sent one cannot be cancelled either. */
    json_t *s = create_for("+15550100", "2026-01-01T00:00:00Z", NULL);
    tu_drain(E.ctx);
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", str(s, "id")),
                     WABOT_ERR_STATE);
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", "nope"),
                     WABOT_ERR_NOT_FOUND);
    json_decref(s);
    json_decref(r);
}
END_TEST

START_TEST(test_an_opted_out_customer_is_skipped_and_counted)
{
    setup();
    with_window_fallback();
    upsert("default", "{\"phone\":\"+15550100\",\"opted_out\":true}");
    json_t *r = create_for("+15550100", "2026-01-01T00:00:00Z", NULL);
    tu_drain(E.ctx);
    assert_status("default", str(r, "id"), "FAILED", "opted_out");
    ck_assert_uint_eq(sent(), 0);
    ck_assert_int_eq(
        wabot_metrics_counter(E.ctx, "reminders.skipped.opted_out"), 1);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "reminders.sent"), 0);
    json_decref(r);
}
END_TEST

START_TEST(test_a_closed_window_fails_without_a_template_and_uses_its_own)
{
    setup();
    json_t *a = create_for("+15550100", "2026-01-01T00:00:00Z", NULL);
    json_t *b = create_for("+15550101", "2026-01-01T00:00:00Z",
                           ",\"template\":{\"name\":\"appt_reminder\","
                           "\"language\":\"en\"}");
    tu_drain(E.ctx);
    assert_status("default", str(a, "id"), "FAILED", "window_closed");
    assert_status("default", str(b, "id"), "SENT", NULL);
    ck_assert_uint_eq(sent(), 1);
    const wabot_outbound *o = wabot_recorder_get(E.rec, 0);
    ck_assert_str_eq(wabot_outbound_template_name(o), "appt_reminder");
    ck_assert_str_eq(wabot_outbound_to(o), "+15550101");
    ck_assert_int_eq(
        wabot_metrics_counter(E.ctx, "reminders.skipped.window_closed"), 1);
    json_decref(a);
    json_decref(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Listing and stats                                                   */

static json_t *list(const char *customer, const char *status,
                    const char *cursor, size_t count)
{
    char *out = NULL;
    int rc = wabot_reminder_list_json(E.ctx, "default", customer, status,
                                      cursor, count, &out);
    ck_assert_msg(rc == WABOT_OK, "%s", wabot_errmsg());
    return parse_out(out);
}

/* Pages through a listing; returns how many, each id seen once. */
static size_t list_all(const char *customer, const char *status)
{
    char cursor[32] = "0";
    size_t n = 0;
    json_t *seen = json_object();
    do {
        json_t *page = list(customer, status, cursor, 2);
        json_t *arr = json_object_get(page, "reminders");
        ck_assert_uint_le(json_array_size(arr), 2);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            ck_assert_ptr_null(json_object_get(seen, str(v, "id")));
            json_object_set_new(seen, str(v, "id"), json_true());
            n++;
        }
        snprintf(cursor, sizeof cursor, "%s", str(page, "cursor"));
        json_decref(page);
    } while (strcmp(cursor, "0") != 0);
    json_decref(seen);
    return n;
}

START_TEST(test_list_by_org_customer_and_status_pages_with_a_cursor)
{
    setup();
    char id[8][64];
    for (int i = 0; i < 8; i++) {
        json_t *r = create_for(i < 5 ? "+15550100" : "+15550101",
                               "2026-02-01T00:00:00Z", NULL);
        snprintf(id[i], sizeof id[i], "%s", str(r, "id"));
        json_decref(r);
    }
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", id[6]),
                     WABOT_OK);
    ck_assert_uint_eq(list_all(NULL, NULL), 8);
    ck_assert_uint_eq(list_all("+1 555 0100", NULL), 5);
    ck_assert_uint_eq(list_all("+15550101", NULL), 3);
    ck_assert_uint_eq(list_all(NULL, "SCHEDULED"), 7);
    ck_assert_uint_eq(list_all(NULL, "CANCELLED"), 1);
    ck_assert_uint_eq(list_all("+15550101", "SCHEDULED"), 2);
    char *out = NULL;
    ck_assert_int_eq(wabot_reminder_list_json(E.ctx, "default", NULL,
                                              "DONE", "0", 10, &out),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_reminder_list_json(E.ctx, "default", NULL, NULL,
                                              "x", 10, &out),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_reminder_stats_json(E.ctx, "default", &out),
                     WABOT_OK);
    json_t *st = parse_out(out);
    json_t *by = json_object_get(st, "by_status");
    ck_assert_int_eq(num(by, "SCHEDULED"), 7);
    ck_assert_int_eq(num(by, "CANCELLED"), 1);
    ck_assert_int_eq(num(json_object_get(st, "created_by_type"),
                         "APPOINTMENT"), 8);
    json_decref(st);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Time zones and quiet hours                                          */

START_TEST(test_zone_offsets_follow_the_tz_database_and_its_rule)
{
    wb_tz *lis = NULL, *ny = NULL, *sp = NULL;
    tu_counting_alloc counts = {0, 0};
    wabot_allocator counting = tu_counting_allocator(&counts);
    const wabot_allocator *a = &counting;
    ck_assert_int_eq(wb_tz_load(a, "Europe/Lisbon", &lis), WABOT_OK);
    ck_assert_int_eq(wb_tz_load(a, "America/New_York", &ny), WABOT_OK);
    ck_assert_int_eq(wb_tz_load(a, "America/Sao_Paulo", &sp), WABOT_OK);
    int64_t s = iso("2026-03-29T01:00:00Z") / 1000;
    ck_assert_int_eq(wb_tz_offset(lis, s - 1), 0);
    ck_assert_int_eq(wb_tz_offset(lis, s), 3600);
    s = iso("2026-10-25T01:00:00Z") / 1000;
    ck_assert_int_eq(wb_tz_offset(lis, s - 1), 3600);
    ck_assert_int_eq(wb_tz_offset(lis, s), 0);
    s = iso("2026-03-08T07:00:00Z") / 1000;
    ck_assert_int_eq(wb_tz_offset(ny, s - 1), -18000);
    ck_assert_int_eq(wb_tz_offset(ny, s), -14400);
    /* Past the file's transitions: the footer's POSIX rule. */
    ck_assert_int_eq(wb_tz_offset(ny, iso("2100-07-01T12:00:00Z") / 1000),
                     -14400);
    ck_assert_int_eq(wb_tz_offset(ny, iso("2100-12-01T12:00:00Z") / 1000),
                     -18000);
    ck_assert_int_eq(wb_tz_offset(sp, iso("2026-01-15T12:00:00Z") / 1000),
                     -10800);
    wb_tz *none = NULL;
    ck_assert_int_eq(wb_tz_load(a, "Mars/Olympus", &none),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wb_tz_load(a, "../etc/passwd", &none), WABOT_ERR_INVAL);
    ck_assert_ptr_null(none);
    wb_tz_free(lis);
    wb_tz_free(ny);
    wb_tz_free(sp);
    wb_tz_free(NULL);
    ck_assert_int_eq(tu_counted(&counts.allocs), tu_counted(&counts.frees));
}
END_TEST

START_TEST(test_iso8601_times_with_z_or_an_offset)
{
    ck_assert_int_eq(iso("2025-01-15T10:00:00Z"), 1736935200000LL);
    ck_assert_int_eq(iso("2025-01-15T11:00:00+01:00"), 1736935200000LL);
    ck_assert_int_eq(iso("2025-01-15T05:00-0500"), 1736935200000LL);
    ck_assert_int_eq(iso("2025-01-15T10:00:00.25Z"), 1736935200250LL);
    int64_t ms;
    ck_assert(!wb_iso8601_ms("2025-02-30T10:00:00Z", &ms));
    ck_assert(!wb_iso8601_ms("2025-01-15T10:00:00", &ms));
    ck_assert(!wb_iso8601_ms("2025-01-15T25:00:00Z", &ms));
    ck_assert(!wb_iso8601_ms("2025-01-15T10:00:00Zjunk", &ms));
}
END_TEST

START_TEST(test_quiet_hours_hold_a_night_reminder_until_morning_across_dst)
{
    const char *kv[] = {"", "campaign.quiet_hours", "21:00-08:00", NULL};
    setup_with(NULL, kv);
    with_window_fallback();
    upsert("default", "{\"phone\":\"+351912345678\","
                      "\"timezone\":\"Europe/Lisbon\"}");
    /* Spring: 23:00 WET on the 28th; clocks go forward at 01:00 UTC on
     * the 29th, so 08:00 local is 07:00 UTC. */
    advance_to(iso("2026-03-28T22:00:00Z"));
    json_t *r = create_for("+351912345678", "2026-03-28T23:00:00Z", NULL);
    ck_assert_int_eq(num(r, "nextRunMs"), iso("2026-03-29T07:00:00Z"));
    advance_to(iso("2026-03-29T06:59:59Z"));
    ck_assert_uint_eq(sent(), 0);
    advance_to(iso("2026-03-29T07:00:00Z"));
    ck_assert_uint_eq(sent(), 1);
    json_decref(r);
    /* Autumn: 00:30 WEST on the 25th; clocks go back at 01:00 UTC, so
     * 08:00 local is 08:00 UTC. */
    advance_to(iso("2026-10-24T22:00:00Z"));
    r = create_for("+351912345678", "2026-10-24T23:30:00Z", NULL);
    ck_assert_int_eq(num(r, "nextRunMs"), iso("2026-10-25T08:00:00Z"));
    advance_to(iso("2026-10-25T07:59:59Z"));
    ck_assert_uint_eq(sent(), 1);
    advance_to(iso("2026-10-25T08:00:00Z"));
    ck_assert_uint_eq(sent(), 2);
    json_decref(r);
    /* Daytime: no wait. */
    r = create_for("+351912345678", "2026-10-25T12:00:00Z", NULL);
    ck_assert_int_eq(num(r, "nextRunMs"), iso("2026-10-25T12:00:00Z"));
    json_decref(r);
}
END_TEST

START_TEST(test_quiet_hours_use_the_organisations_zone_without_the_customers)
{
    const char *kv[] = {"acme", "campaign.quiet_hours", "22:00-07:30",
                        "acme", "campaign.timezone", "America/New_York",
                        NULL};
    setup_with(NULL, kv);
    /* 23:00 EST on 2026-03-07; DST begins 2026-03-08 07:00 UTC, so 07:30
     * EDT on the 8th is 11:30 UTC. */
    advance_to(iso("2026-03-08T03:00:00Z"));
    json_t *r = create(
        "{\"organizationId\":\"acme\",\"customerPhone\":\"+15550100\","
        "\"type\":\"CUSTOM\",\"message\":\"m\","
        "\"scheduledFor\":\"2026-03-08T04:00:00Z\"}");
    ck_assert_int_eq(num(r, "nextRunMs"), iso("2026-03-08T11:30:00Z"));
    json_decref(r);
    /* Another organisation has no quiet hours. */
    r = create("{\"organizationId\":\"beta\",\"customerPhone\":\"+15550100\","
               "\"type\":\"CUSTOM\",\"message\":\"m\","
               "\"scheduledFor\":\"2026-03-08T04:00:00Z\"}");
    ck_assert_int_eq(num(r, "nextRunMs"), iso("2026-03-08T04:00:00Z"));
    json_decref(r);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "campaign.quiet_hours", "8-9"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(o, "campaign.timezone", "../x"),
                     WABOT_ERR_INVAL);
    wabot_options_free(o);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Cancel-on-reply                                                     */

START_TEST(test_a_reply_before_it_fires_cancels_it)
{
    setup();
    with_window_fallback();
    json_t *a = create_for("+15550100", "2026-01-01T01:00:00Z", NULL);
    json_t *keep = create_for("+15550100", "2026-01-01T01:00:00Z",
                              ",\"cancelOnReply\":false");
    json_t *other = create_for("+15550101", "2026-01-01T01:00:00Z", NULL);
    advance_to(iso("2026-01-01T00:30:00Z"));
    customer_writes("+15550100", "in-1");
    size_t base = sent();
    /* Decided when it fires (no storage read on the inbound path). */
    assert_status("default", str(a, "id"), "SCHEDULED", NULL);
    advance_to(iso("2026-01-01T01:00:00Z"));
    assert_status("default", str(a, "id"), "CANCELLED", "customer_replied");
    ck_assert_int_eq(
        wabot_metrics_counter(E.ctx, "reminders.cancelled.on_reply"), 1);
    ck_assert_uint_eq(sent(), base + 2);
    int to_a = 0;
    for (size_t i = base; i < sent(); i++)
        to_a += strcmp(wabot_outbound_to(wabot_recorder_get(E.rec, i)),
                       "+15550100") == 0;
    ck_assert_int_eq(to_a, 1); /* the one with cancelOnReply false */
    assert_status("default", str(a, "id"), "CANCELLED", NULL);
    assert_status("default", str(keep, "id"), "SENT", NULL);
    assert_status("default", str(other, "id"), "SENT", NULL);
    /* A reply after it was sent changes nothing. */
    customer_writes("+15550101", "in-2");
    assert_status("default", str(other, "id"), "SENT", NULL);
    json_decref(a);
    json_decref(keep);
    json_decref(other);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Invoices                                                            */

static char *issue(const char *customer)
{
    wabot_invoice_draft *d =
        wabot_invoice_draft_new(E.ctx, "default", customer, "USD");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A1", "Coke", 2, 150, 0),
                     WABOT_OK);
    char *number = NULL;
    ck_assert_int_eq(wabot_invoice_issue(d, &number), WABOT_OK);
    wabot_invoice_draft_free(d);
    return number;
}

START_TEST(test_an_issued_invoice_gets_a_payment_due_reminder_paid_cancels_it)
{
    setup();
    char *paid = issue("+15550100"), *voided = issue("+15550101");
    char *left = issue("+15550102");
    char id[96];
    snprintf(id, sizeof id, "inv-%s", paid);
    json_t *r = get("default", id);
    ck_assert_str_eq(str(r, "type"), "PAYMENT_DUE");
    ck_assert_str_eq(str(r, "customerPhone"), "+15550100");
    ck_assert_int_eq(num(r, "nextRunMs"), TU_EPOCH_MS + 30 * 24 * HOUR_MS);
    ck_assert_ptr_nonnull(strstr(str(r, "message"), paid));
    ck_assert_ptr_nonnull(strstr(str(r, "message"), "3.00 USD"));
    json_decref(r);
    ck_assert_int_eq(wabot_invoice_mark_paid(E.ctx, "default", paid),
                     WABOT_OK);
    assert_status("default", id, "CANCELLED", "invoice_paid");
    ck_assert_int_eq(wabot_invoice_void(E.ctx, "default", voided), WABOT_OK);
    snprintf(id, sizeof id, "inv-%s", voided);
    assert_status("default", id, "CANCELLED", "invoice_void");
    snprintf(id, sizeof id, "inv-%s", left);
    assert_status("default", id, "SCHEDULED", NULL);
    /* Paid after the reminder went: the invoice change still succeeds. */
    with_window_fallback();
    advance_to(TU_EPOCH_MS + 30 * 24 * HOUR_MS);
    assert_status("default", id, "SENT", NULL);
    ck_assert_int_eq(wabot_invoice_mark_paid(E.ctx, "default", left),
                     WABOT_OK);
    assert_status("default", id, "SENT", NULL);
    wabot_ctx_mem_free(E.ctx, paid);
    wabot_ctx_mem_free(E.ctx, voided);
    wabot_ctx_mem_free(E.ctx, left);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Scale                                                               */

/* 10,000 (1,000 in the ASan and valgrind passes: tu_scale);
 * REMINDERS_MANY=n runs another round while measuring. */
static int many(void)
{
    const char *e = getenv("REMINDERS_MANY");
    return e != NULL && atoi(e) > 0 ? atoi(e) : tu_scale(10000);
}
#define MANY many()
#define SPREAD_MS 500 /* one reminder due every half second */
/* The clock moves a second at a time. (Longer steps make each drain send
 * a burst that the outbound rate limits spread out, and the throttled
 * jobs pile up: slower, not faster.) */
#define STEP_MS 1000

START_TEST(test_ten_thousand_reminders_fire_once_each_within_a_step)
{
    setup();
    with_window_fallback();
    int64_t t0 = TU_EPOCH_MS;
    char j[512], when[40];
    for (int i = 0; i < MANY; i++) {
        int64_t at = t0 + STEP_MS + (int64_t)i * SPREAD_MS;
        time_t secs = (time_t)(at / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(j, sizeof j,
                 "{\"organizationId\":\"default\",\"customerPhone\":"
                 "\"+1555%07d\",\"type\":\"CUSTOM\",\"message\":\"r%d\","
                 "\"scheduledFor\":\"%s.%03dZ\"}",
                 i, i, when, (int)(at % 1000));
        ck_assert_int_eq(create_rc(j), WABOT_OK);
    }
    /* After each step every reminder due by now was sent, none later. */
    int64_t end = t0 + STEP_MS + (int64_t)MANY * SPREAD_MS + STEP_MS;
    for (int64_t now = t0 + STEP_MS; now <= end; now += STEP_MS) {
        advance_to(now);
        int64_t due = (now - t0 - STEP_MS) / SPREAD_MS + 1;
        if (due > MANY)
            due = MANY;
        int64_t got = wabot_metrics_counter(E.ctx, "reminders.sent");
        ck_assert_msg(got == due, "at +%lld ms: %lld sent, %lld due",
                      (long long)(now - t0), (long long)got, (long long)due);
    }
    /* Each customer got exactly one message. */
    advance_to(end + HOUR_MS);
    ck_assert_uint_eq(sent(), MANY);
    json_t *to = json_object();
    for (size_t i = 0; i < sent(); i++)
        json_object_set_new(to, wabot_outbound_to(wabot_recorder_get(E.rec, i)),
                            json_true());
    ck_assert_uint_eq(json_object_size(to), MANY);
    json_decref(to);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "reminders.sent"), MANY);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Metrics and expiry                                                  */

/* The exposition holds this exact sample line. */
static void assert_sample(const char *line)
{
    char *text = wabot_metrics_prometheus(E.ctx);
    char want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    ck_assert_msg(strstr(text, want) != NULL, "no \"%s\" in:\n%s", line,
                  text);
    wabot_ctx_mem_free(E.ctx, text);
}

#define EVENT(ev, n)                                                         \
    "wabot_reminders_total{org=\"default\",type=\"APPOINTMENT\","         \
    "event=\"" ev "\"} " #n

START_TEST(test_metrics_count_scheduled_deferred_fired_skipped_and_cancelled)
{
    const char *kv[] = {"", "campaign.quiet_hours", "21:00-08:00", NULL};
    setup_with(NULL, kv);
    with_window_fallback();
    upsert("default", "{\"phone\":\"+15550101\",\"opted_out\":true}");
    advance_to(iso("2026-01-01T10:00:00Z"));
    json_t *day = create_for("+15550100", "2026-01-01T12:00:00Z", NULL);
    json_t *out = create_for("+15550101", "2026-01-01T12:00:00Z", NULL);
    json_t *night = create_for("+15550100", "2026-01-01T22:00:00Z", NULL);
    json_t *off = create_for("+15550100", "2026-01-01T13:00:00Z", NULL);
    ck_assert_int_eq(num(night, "nextRunMs"), iso("2026-01-02T08:00:00Z"));
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", str(off, "id")),
                     WABOT_OK);
    assert_sample(EVENT("scheduled", 4));
    assert_sample(EVENT("deferred_quiet_hours", 1));
    assert_sample(EVENT("cancelled", 1));
    advance_to(iso("2026-01-01T12:00:00Z"));
    assert_sample(EVENT("fired", 1));
    assert_sample(EVENT("skipped_opted_out", 1));
    advance_to(iso("2026-01-02T07:59:59Z"));
    assert_sample(EVENT("fired", 1));
    advance_to(iso("2026-01-02T08:00:00Z"));
    assert_sample(EVENT("fired", 2));
    ck_assert_uint_eq(sent(), 2);
    json_decref(day);
    json_decref(out);
    json_decref(night);
    json_decref(off);
}
END_TEST

#ifndef REMINDERS_REDIS
/* How often id is on the first page of the org's listing. */
static int listed(const char *id)
{
    char *text = NULL;
    ck_assert_int_eq(wabot_reminder_list_json(E.ctx, "default", NULL, NULL,
                                              "0", 1000, &text),
                     WABOT_OK);
    json_t *page = parse_out(text);
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(page, "reminders"), i, v)
        found += strcmp(str(v, "id"), id) == 0;
    json_decref(page);
    return found;
}
#endif

START_TEST(test_an_ended_reminder_is_kept_for_its_ttl_then_gone_from_lists)
{
    /* A day for this organisation, the 30-day default for the others. */
    const char *kv[] = {"default", "campaign.reminders_ttl", "86400000",
                        NULL};
    setup_with(NULL, kv);
    with_window_fallback();
    json_t *done = create_for("+15550100", "2026-01-01T01:00:00Z", NULL);
    json_t *gone = create_for("+15550101", "2026-01-01T01:00:00Z", NULL);
    json_t *later = create_for("+15550100", "2026-01-10T01:00:00Z", NULL);
    ck_assert_int_eq(wabot_reminder_cancel(E.ctx, "default", str(gone, "id")),
                     WABOT_OK);
    advance_to(iso("2026-01-01T01:00:00Z"));
    assert_status("default", str(done, "id"), "SENT", NULL);
#ifdef REMINDERS_REDIS
    /* Redis expires keys on its own clock, not the test's: the record
     * carries the TTL. */
    char args[160], ttl[64] = "";
    snprintf(args, sizeof args, "PTTL wabot:rem:{default}:r:%s",
             str(done, "id"));
    ck_assert_int_eq(rh_cli(&g_srv, args, ttl, sizeof ttl), 0);
    long long ms = strtoll(ttl, NULL, 10);
    ck_assert_msg(ms > 86400000LL - 600000 && ms <= 86400000LL, "PTTL %s",
                  ttl);
    (void)later;
#else
    advance_to(iso("2026-01-01T23:59:59Z"));
    ck_assert_int_eq(listed(str(done, "id")), 1);
    ck_assert_int_eq(listed(str(gone, "id")), 1);
    advance_to(iso("2026-01-02T01:00:00Z"));
    ck_assert_int_eq(listed(str(done, "id")), 0);
    ck_assert_int_eq(listed(str(gone, "id")), 0);
    ck_assert_int_eq(listed(str(later, "id")), 1); /* SCHEDULED: no TTL */
    char *out = NULL;
    ck_assert_int_eq(wabot_reminder_get_json(E.ctx, "default",
                                             str(done, "id"), &out),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_uint_eq(list_all(NULL, NULL), 1);
    ck_assert_uint_eq(list_all("+15550100", NULL), 1);
    ck_assert_uint_eq(list_all(NULL, "SENT"), 0);
    ck_assert_uint_eq(list_all(NULL, "CANCELLED"), 0);
    ck_assert_int_eq(wabot_reminder_stats_json(E.ctx, "default", &out),
                     WABOT_OK);
    json_t *st = parse_out(out);
    json_t *by = json_object_get(st, "by_status");
    ck_assert_int_eq(num(by, "SENT"), 0);
    ck_assert_int_eq(num(by, "CANCELLED"), 0);
    ck_assert_int_eq(num(by, "SCHEDULED"), 1);
    json_decref(st);
#endif
    json_decref(done);
    json_decref(gone);
    json_decref(later);
}
END_TEST

static Suite *reminders_suite(void)
{
    Suite *s = suite_create("reminders");
    TCase *tc = tcase_create("reminders");
    tcase_add_checked_fixture(tc, NULL, teardown);
    /* 10,000 reminders: ~12 Redis round trips each, or valgrind. */
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_the_replaced_systems_body_is_accepted_and_a_past_time_sends_now);
    tcase_add_test(tc, test_bad_members_are_refused_naming_the_field);
    tcase_add_test(tc, test_an_id_given_twice_is_exists);
    tcase_add_test(tc, test_disabled_reminders_refuse_with_the_variable_named);
    tcase_add_test(tc, test_a_host_with_its_own_reminders_worker_switches_the_modules_off);
    tcase_add_test(tc, test_a_future_reminder_fires_at_its_time_once_rendered);
    tcase_add_test(tc, test_repeat_sends_count_times_interval_apart);
    tcase_add_test(tc, test_cancel_stops_it_and_a_second_cancel_is_a_state_error);
    tcase_add_test(tc, test_an_opted_out_customer_is_skipped_and_counted);
    tcase_add_test(tc, test_a_closed_window_fails_without_a_template_and_uses_its_own);
    tcase_add_test(tc, test_list_by_org_customer_and_status_pages_with_a_cursor);
    tcase_add_test(tc, test_quiet_hours_hold_a_night_reminder_until_morning_across_dst);
    tcase_add_test(tc, test_quiet_hours_use_the_organisations_zone_without_the_customers);
    tcase_add_test(tc, test_a_reply_before_it_fires_cancels_it);
    tcase_add_test(tc, test_an_issued_invoice_gets_a_payment_due_reminder_paid_cancels_it);
    tcase_add_test(tc, test_ten_thousand_reminders_fire_once_each_within_a_step);
    tcase_add_test(tc, test_metrics_count_scheduled_deferred_fired_skipped_and_cancelled);
    tcase_add_test(tc, test_an_ended_reminder_is_kept_for_its_ttl_then_gone_from_lists);
    suite_add_tcase(s, tc);
    TCase *pure = tcase_create("time");
    tcase_add_test(pure, test_zone_offsets_follow_the_tz_database_and_its_rule);
    tcase_add_test(pure, test_iso8601_times_with_z_or_an_offset);
    suite_add_tcase(s, pure);
    return s;
}

int main(void)
{
#ifdef REMINDERS_REDIS
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    if (rh_start(&g_srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return EXIT_FAILURE;
    }
    int rc = tu_run_suite(reminders_suite());
    rh_destroy(&g_srv);
    return rc;
#else
    return tu_run_suite(reminders_suite());
#endif
}
