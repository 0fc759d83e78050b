/* Campaigns (include/wabot/campaign.h, campaigns section): creation from
 * the replaced system's JSON, validation, the lifecycle on the fake clock,
 * listing, and the fan-out through the "campaigns" queue: exactly one
 * message per reachable customer (counted at the recorder transport),
 * opted-out customers skipped and counted, pause and resume, a batch run
 * again after a crash, progress. Built twice: test 'campaigns' on memory
 * backends, test 'campaigns-redis' (-DCAMPAIGNS_REDIS) with storage and
 * jobs on a real redis-server started by the test. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/campaign/campaign_store.h"
#include "ctx.h"
#include "json_alloc.h"
#include "message.h"
#include "outbound.h"
#include "state.h"
#include "receipts.h"
#include "webhook.h"
#include "testutil.h"
#include "wabot/campaign.h"
#include "wabot/jobs.h"
#include "wabot/metrics.h"

static tu_env E;

#ifdef CAMPAIGNS_REDIS
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
    g_sched = NULL;
    wabot_redis_free(g_redis);
    g_redis = NULL;
}
#else
#define env_init tu_env_init_opts
#define env_free tu_env_free
#endif

#define ORG "acme"

static void setup_with(const char *const *envp, const char *const *kv)
{
    wabot_options *o = wabot_options_new();
    if (envp != NULL)
        ck_assert_msg(wabot_options_apply_env(o, envp) == WABOT_OK, "%s",
                      wabot_options_errmsg(o));
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        ck_assert_msg(wabot_options_set(o, kv[0], kv[1]) == WABOT_OK,
                      "%s: %s", kv[0], wabot_options_errmsg(o));
    env_init(&E, o);
    wabot_options_free(o);
}

/* The per-number send limit off: with it, a fake second lets 80 of
 * 10,000 queued messages go and the test spends its time re-reserving
 * throttled jobs (the campaign's own rate is tested on its own). */
static const char *const NO_SENDER_LIMIT[] = {"rate_sender_per_s", "0",
                                              NULL};

static void setup(void)
{
    setup_with(NULL, NO_SENDER_LIMIT);
}

static void teardown(void)
{
    env_free(&E);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static json_t *parse(char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", text);
    wabot_ctx_mem_free(E.ctx, text);
    return j;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    ck_assert_msg(s != NULL, "no string %s", k);
    return s;
}

/* Create; returns the answer (decref) and copies the id into id. */
static json_t *create(const char *body, char *id, size_t n)
{
    char *out = NULL;
    int rc = wabot_campaign_create_json(E.ctx, body, strlen(body), &out);
    ck_assert_msg(rc == WABOT_OK, "create: %s: %s", wabot_strerror(rc),
                  wabot_errmsg());
    json_t *c = parse(out);
    snprintf(id, n, "%s", str(c, "id"));
    return c;
}

static const char *status_of(const char *id)
{
    static char buf[32];
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_get_json(E.ctx, ORG, id, &out), WABOT_OK);
    json_t *c = parse(out);
    snprintf(buf, sizeof buf, "%s", str(c, "status"));
    json_decref(c);
    return buf;
}

static wabot_campaign_progress progress(const char *id)
{
    wabot_campaign_progress p;
    memset(&p, 0, sizeof p);
    p.version = WABOT_CAMPAIGN_PROGRESS_VERSION;
    ck_assert_int_eq(wabot_campaign_progress_get(E.ctx, ORG, id, &p),
                     WABOT_OK);
    return p;
}

/* n customers +1555<7 digits> (from `first`), every `optout_every`-th
 * opted out (0: none), imported in chunks. */
static void customers(int first, int n, int optout_every, int64_t inbound_ms)
{
    const int chunk = 1000;
    for (int at = 0; at < n; at += chunk) {
        json_t *rows = json_array();
        for (int i = at; i < n && i < at + chunk; i++) {
            char phone[32], name[32];
            snprintf(phone, sizeof phone, "+1555%07d", first + i);
            snprintf(name, sizeof name, "C%d", first + i);
            json_t *row = json_pack("{s:s,s:s}", "phone", phone, "name",
                                    name);
            if (optout_every > 0 && i % optout_every == 0)
                json_object_set_new(row, "opted_out", json_true());
            json_array_append_new(rows, row);
        }
        char *text = json_dumps(rows, JSON_COMPACT), *report = NULL;
        json_decref(rows);
        ck_assert_int_eq(wabot_customer_import_json(E.ctx, ORG, text,
                                                    strlen(text), &report),
                         WABOT_OK);
        json_t *r = parse(report);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "failed")), 0);
        json_decref(r);
        free(text);
    }
    for (int i = 0; inbound_ms > 0 && i < n; i++) {
        char phone[32];
        snprintf(phone, sizeof phone, "+1555%07d", first + i);
        ck_assert_int_eq(
            wb_profile_touch(E.ctx, ORG, phone, NULL, inbound_ms, NULL),
            WABOT_OK);
    }
}

/* Jobs of `queue` not finished yet. */
static int64_t pending(const char *queue)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    ck_assert_int_eq(wabot_queue_counts(E.ctx, queue, c,
                                        WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    return c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] + c[WABOT_JOB_ACTIVE];
}

#define outbound_pending() pending(WABOT_QUEUE_OUTBOUND)
#define campaigns_pending() pending(WABOT_QUEUE_CAMPAIGNS)

/* Run jobs, a fake second at a time, until `stop` says so (or no job is
 * left). Rate limits let time pass; never a real sleep. */
static void run_until(int (*stop)(const char *), const char *id)
{
    for (int i = 0; i < 100000; i++) {
        tu_drain(E.ctx);
        if (stop != NULL && stop(id))
            return;
        if (stop == NULL && outbound_pending() == 0 &&
            campaigns_pending() == 0)
            return;
        tu_clock_advance(&E.clock, 1000);
    }
    ck_abort_msg("jobs did not settle");
}

static void run_all(void)
{
    run_until(NULL, NULL);
}

/* Each recipient got exactly one message: returns how many there are. */
static size_t distinct_recipients_once(void)
{
    size_t n = wabot_recorder_count(E.rec);
    json_t *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *to = wabot_outbound_to(wabot_recorder_get(E.rec, i));
        ck_assert_msg(json_object_get(seen, to) == NULL,
                      "%s got a second message", to);
        json_object_set_new(seen, to, json_true());
    }
    json_decref(seen);
    return n;
}

#define BODY                                                                 \
    "{\"organizationId\":\"acme\",\"name\":\"Test Campaign\","              \
    "\"message\":\"Test message {{name}}\",\"type\":\"PROMOTIONAL\","      \
    "\"targetAudience\":{\"type\":\"all\"},\"startImmediately\":true}"

/* Recipients outside the window get the provider template. */
#define BULK(extra)                                                          \
    "{\"organizationId\":\"acme\",\"name\":\"Bulk\",\"message\":\"Hi "     \
    "{{name}}\",\"type\":\"PROMOTIONAL\",\"targetAudience\":{\"type\":"    \
    "\"all\"},\"providerTemplate\":{\"name\":\"promo\",\"language\":"      \
    "\"en\",\"parameters\":[\"{{name}}\"]}" extra "}"

/* ------------------------------------------------------------------ */
/* Creation                                                            */

START_TEST(test_the_replaced_systems_body_is_accepted_unchanged_and_runs)
{
    customers(0, 3, 0, TU_EPOCH_MS);
    char id[64];
    json_t *c = create(BODY, id, sizeof id);
    ck_assert_str_eq(str(c, "organizationId"), "acme");
    ck_assert_str_eq(str(c, "name"), "Test Campaign");
    ck_assert_str_eq(str(c, "message"), "Test message {{name}}");
    ck_assert_str_eq(str(c, "type"), "PROMOTIONAL");
    ck_assert_str_eq(str(c, "status"), "RUNNING");
    ck_assert(json_is_true(json_object_get(c, "startImmediately")));
    ck_assert_int_eq(json_integer_value(json_object_get(c, "created_ms")),
                     TU_EPOCH_MS);
    ck_assert_ptr_null(json_object_get(c, "cursor")); /* bookkeeping hidden */
    json_decref(c);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "campaigns.created"), 1);
    run_all();
    ck_assert_str_eq(status_of(id), "COMPLETED");
    ck_assert_uint_eq(distinct_recipients_once(), 3);
    const wabot_outbound *o = wabot_recorder_get(E.rec, 0);
    ck_assert_str_eq(wabot_outbound_text(o), "Test message C0");
    ck_assert_int_eq(wabot_outbound_category(o), WABOT_CAT_CAMPAIGN);
    ck_assert_str_eq(wabot_outbound_organization(o), "acme");
}
END_TEST

START_TEST(test_a_bad_message_template_is_refused_naming_the_position)
{
    const char *b = "{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":"
                    "\"Hi {{nam}}\",\"type\":\"PROMOTIONAL\","
                    "\"targetAudience\":{\"type\":\"all\"}}";
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_create_json(E.ctx, b, strlen(b), &out),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(wabot_errmsg(), "\"message\"") != NULL &&
                      strstr(wabot_errmsg(), "byte 3") != NULL,
                  "%s", wabot_errmsg());
    const char *p = "{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":"
                    "\"Hi\",\"type\":\"UTILITY\",\"targetAudience\":{"
                    "\"type\":\"all\"},\"providerTemplate\":{\"name\":\"t\","
                    "\"language\":\"en\",\"parameters\":[\"{{name}\"]}}";
    ck_assert_int_eq(wabot_campaign_create_json(E.ctx, p, strlen(p), &out),
                     WABOT_ERR_INVAL);
    ck_assert_msg(strstr(wabot_errmsg(), "providerTemplate.parameters") !=
                      NULL,
                  "%s", wabot_errmsg());
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "campaigns.created"), 0);
}
END_TEST

START_TEST(test_each_bad_member_is_refused_naming_it)
{
    static const struct {
        const char *json, *member;
    } bad[] = {
        {"{\"name\":\"x\",\"message\":\"m\",\"type\":\"UTILITY\","
         "\"targetAudience\":{\"type\":\"all\"}}", "organizationId"},
        {"{\"organizationId\":\"acme\",\"message\":\"m\",\"type\":"
         "\"UTILITY\",\"targetAudience\":{\"type\":\"all\"}}", "name"},
        {"{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":\"m\","
         "\"type\":\"SPAM\",\"targetAudience\":{\"type\":\"all\"}}", "type"},
        {"{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":\"m\","
         "\"type\":\"UTILITY\",\"targetAudience\":{\"type\":\"some\"}}",
         "targetAudience"},
        {"{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":\"m\","
         "\"type\":\"UTILITY\",\"targetAudience\":{\"type\":\"all\"},"
         "\"scheduledFor\":\"2026-12-24 09:00\"}", "scheduledFor"},
        {"{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":\"m\","
         "\"type\":\"UTILITY\",\"targetAudience\":{\"type\":\"all\"},"
         "\"sendRate\":0}", "sendRate"},
        {"{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":\"m\","
         "\"type\":\"UTILITY\",\"targetAudience\":{\"type\":\"all\"},"
         "\"providerTemplate\":{\"name\":\"t\"}}", "providerTemplate"},
        {"{\"organizationId\":\"acme\",\"name\":\"x\",\"message\":\"m\","
         "\"type\":\"UTILITY\",\"targetAudience\":{\"type\":\"all\"},"
         "\"colour\":\"red\"}", "colour"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        ck_assert_int_eq(wabot_campaign_create_json(
                             E.ctx, bad[i].json, strlen(bad[i].json), &out),
                         WABOT_ERR_INVAL);
        ck_assert_msg(strstr(wabot_errmsg(), bad[i].member) != NULL, "%s: %s",
                      bad[i].json, wabot_errmsg());
    }
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_create_json(E.ctx, "[1]", 3, &out),
                     WABOT_ERR_PARSE);
}
END_TEST

START_TEST(test_disabled_campaigns_refuse_with_a_clear_status)
{
    teardown();
    const char *env[] = {"ENABLE_CAMPAIGNS=false", NULL};
    setup_with(env, NO_SENDER_LIMIT);
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_create_json(E.ctx, BODY, strlen(BODY),
                                                &out),
                     WABOT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(wabot_errmsg(), "ENABLE_CAMPAIGNS"));
    ck_assert_int_eq(wabot_campaign_start(E.ctx, ORG, "cmp-1"),
                     WABOT_ERR_UNSUPPORTED);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

static const char *DRAFT_BODY =
    "{\"organizationId\":\"acme\",\"name\":\"Later\",\"message\":\"Hi\","
    "\"type\":\"UTILITY\",\"targetAudience\":{\"type\":\"all\"}}";

START_TEST(test_lifecycle_draft_scheduled_running_completed_on_the_fake_clock)
{
    customers(0, 5, 0, TU_EPOCH_MS);
    char id[64];
    json_decref(create(DRAFT_BODY, id, sizeof id));
    ck_assert_str_eq(status_of(id), "DRAFT");
    ck_assert_int_eq(wabot_campaign_pause(E.ctx, ORG, id), WABOT_ERR_STATE);
    ck_assert_msg(strstr(wabot_errmsg(), "from DRAFT to PAUSED") != NULL,
                  "%s", wabot_errmsg());
    ck_assert_int_eq(wabot_campaign_resume(E.ctx, ORG, id), WABOT_ERR_STATE);
    ck_assert_int_eq(
        wabot_campaign_schedule(E.ctx, ORG, id, TU_EPOCH_MS + 3600000),
        WABOT_OK);
    ck_assert_str_eq(status_of(id), "SCHEDULED");
    ck_assert_int_eq(
        wabot_campaign_schedule(E.ctx, ORG, id, TU_EPOCH_MS + 7200000),
        WABOT_ERR_STATE);
    tu_clock_advance(&E.clock, 3599000);
    tu_drain(E.ctx);
    ck_assert_str_eq(status_of(id), "SCHEDULED");
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 0);
    tu_clock_advance(&E.clock, 1000);
    run_all();
    ck_assert_str_eq(status_of(id), "COMPLETED");
    ck_assert_uint_eq(distinct_recipients_once(), 5);
    ck_assert_int_eq(wabot_campaign_cancel(E.ctx, ORG, id), WABOT_ERR_STATE);
    ck_assert_int_eq(wabot_campaign_start(E.ctx, ORG, id), WABOT_ERR_STATE);
    ck_assert_int_eq(wabot_campaign_pause(E.ctx, ORG, "cmp-none"),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_scheduled_for_in_iso_8601_with_an_offset_starts_then)
{
    customers(0, 2, 0, TU_EPOCH_MS);
    /* TU_EPOCH_MS is 2026-01-01T00:00:00Z: 02:00+01:00 is an hour later. */
    char body[512], id[64];
    snprintf(body, sizeof body,
             "{\"organizationId\":\"acme\",\"name\":\"At\",\"message\":"
             "\"Hi\",\"type\":\"UTILITY\",\"targetAudience\":{\"type\":"
             "\"all\"},\"scheduledFor\":\"2026-01-01T02:00:00+01:00\"}");
    json_t *c = create(body, id, sizeof id);
    ck_assert_str_eq(str(c, "status"), "SCHEDULED");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "scheduled_ms")),
                     TU_EPOCH_MS + 3600000);
    json_decref(c);
    tu_clock_advance(&E.clock, 3599000);
    tu_drain(E.ctx);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 0);
    tu_clock_advance(&E.clock, 1000);
    run_all();
    ck_assert_str_eq(status_of(id), "COMPLETED");
    ck_assert_uint_eq(distinct_recipients_once(), 2);
}
END_TEST

START_TEST(test_cancel_stops_a_scheduled_campaign_before_it_sends)
{
    customers(0, 3, 0, TU_EPOCH_MS);
    char id[64];
    json_decref(create(DRAFT_BODY, id, sizeof id));
    ck_assert_int_eq(
        wabot_campaign_schedule(E.ctx, ORG, id, TU_EPOCH_MS + 1000),
        WABOT_OK);
    ck_assert_int_eq(wabot_campaign_cancel(E.ctx, ORG, id), WABOT_OK);
    tu_clock_advance(&E.clock, 5000);
    run_all();
    ck_assert_str_eq(status_of(id), "CANCELLED");
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 0);
    ck_assert_int_eq(wabot_campaign_resume(E.ctx, ORG, id), WABOT_ERR_STATE);
}
END_TEST

START_TEST(test_list_filters_by_status_and_pages_with_a_cursor)
{
    char id[64];
    for (int i = 0; i < 5; i++)
        json_decref(create(DRAFT_BODY, id, sizeof id));
    ck_assert_int_eq(wabot_campaign_cancel(E.ctx, ORG, id), WABOT_OK);
    size_t all = 0, drafts = 0, cancelled = 0;
    const char *st[] = {NULL, "DRAFT", "CANCELLED"};
    size_t *n[] = {&all, &drafts, &cancelled};
    for (int k = 0; k < 3; k++) {
        char cursor[256] = "0";
        do {
            char *out = NULL;
            ck_assert_int_eq(wabot_campaign_list_json(E.ctx, ORG, st[k],
                                                      cursor, 2, &out),
                             WABOT_OK);
            json_t *page = parse(out);
            *n[k] += json_array_size(json_object_get(page, "campaigns"));
            snprintf(cursor, sizeof cursor, "%s", str(page, "cursor"));
            json_decref(page);
        } while (strcmp(cursor, "0") != 0);
    }
    ck_assert_uint_eq(all, 5);
    ck_assert_uint_eq(drafts, 4);
    ck_assert_uint_eq(cancelled, 1);
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_list_json(E.ctx, ORG, "DONE", "0", 2,
                                              &out),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_campaign_list_json(E.ctx, "other", NULL, "0", 10,
                                              &out),
                     WABOT_OK);
    json_t *page = parse(out);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "campaigns")), 0);
    json_decref(page);
}
END_TEST

/* A pass-through storage over E.storage that counts the calls (scans on
 * their own): listing through it shows what listing costs. Only what
 * listing may use is forwarded; the rest is left NULL (UNSUPPORTED). */
typedef struct counting {
    wabot_storage *inner;
    long calls, scans;
} counting;

static int cs_get(void *impl, const char *key, wabot_buf *out, uint64_t *ver)
{
    counting *c = impl;
    c->calls++;
    char *v = NULL;
    size_t len = 0;
    int rc = wabot_storage_get(c->inner, key, &v, &len, ver);
    if (rc == WABOT_OK)
        rc = wabot_buf_set(out, v, len);
    wabot_free(v);
    return rc;
}

static int cs_set(void *impl, const char *key, const char *val, size_t len,
                  int64_t ttl, uint64_t *ver)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_set(c->inner, key, val, len, ttl, ver);
}

static int cs_set_nx(void *impl, const char *key, const char *val,
                     size_t len, int64_t ttl, uint64_t *ver)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_set_nx(c->inner, key, val, len, ttl, ver);
}

static int cs_cas(void *impl, const char *key, uint64_t expected,
                  const char *val, size_t len, int64_t ttl, uint64_t *ver)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_cas(c->inner, key, expected, val, len, ttl, ver);
}

static int cs_del(void *impl, const char *key)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_del(c->inner, key);
}

static int cs_del_if(void *impl, const char *key, uint64_t expected)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_del_if(c->inner, key, expected);
}

static int cs_incr(void *impl, const char *key, int64_t delta, int64_t ttl,
                   int64_t *result)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_incr(c->inner, key, delta, ttl, result);
}

static int cs_expire(void *impl, const char *key, int64_t ttl)
{
    counting *c = impl;
    c->calls++;
    return wabot_storage_expire(c->inner, key, ttl);
}

static void cs_destroy(void *impl)
{
    (void)impl; /* the test owns it */
}

static int cs_scan(void *impl, const char *prefix, const char *cursor,
                   size_t count, uint32_t flags, wabot_storage_items *out,
                   wabot_buf *next)
{
    counting *c = impl;
    c->calls++;
    c->scans++;
    wabot_storage_items *page = NULL;
    int rc = wabot_storage_scan(c->inner, prefix, cursor, count, flags, &page);
    for (size_t i = 0; rc == WABOT_OK && i < wabot_storage_items_count(page);
         i++) {
        size_t kl = 0, vl = 0;
        const char *k = wabot_storage_items_key(page, i, &kl);
        const char *v = wabot_storage_items_value(page, i, &vl);
        rc = wabot_storage_items_add(out, k, kl, v, vl,
                                     wabot_storage_items_version(page, i));
    }
    if (rc == WABOT_OK) {
        const char *nc = wabot_storage_items_cursor(page);
        rc = wabot_buf_set(next, nc, strlen(nc));
    }
    wabot_storage_items_free(page);
    return rc;
}

static int cs_get_many(void *impl, size_t n, const char *const *keys,
                       wabot_storage_items *out)
{
    counting *c = impl;
    c->calls++;
    wabot_storage_items *got = NULL;
    int rc = wabot_storage_get_many(c->inner, n, keys, &got);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        size_t vl = 0;
        const char *v = wabot_storage_items_value(got, i, &vl);
        if (wabot_storage_items_status(got, i) == WABOT_OK)
            rc = wabot_storage_items_found(out, i, v, vl,
                                           wabot_storage_items_version(got, i));
    }
    wabot_storage_items_free(got);
    return rc;
}

static int cs_sorted_range(void *impl, const char *key, int64_t min,
                           int64_t max, int64_t offset, int64_t limit,
                           uint32_t flags, wabot_storage_items *out)
{
    counting *c = impl;
    c->calls++;
    wabot_storage_items *got = NULL;
    int rc = wabot_storage_sorted_range(c->inner, key, min, max, offset, limit,
                                        flags, &got);
    for (size_t i = 0; rc == WABOT_OK && i < wabot_storage_items_count(got);
         i++) {
        size_t ml = 0;
        const char *m = wabot_storage_items_key(got, i, &ml);
        rc = wabot_storage_items_add_scored(out, m, ml,
                                            wabot_storage_items_score(got, i));
    }
    wabot_storage_items_free(got);
    return rc;
}

static const wabot_storage_vtable counting_vt = {
    2,         cs_get,    cs_set,      cs_set_nx, cs_cas,          cs_del,
    cs_del_if, cs_incr,   cs_expire,   cs_destroy, cs_scan,        cs_get_many,
    NULL,      NULL,      NULL,        NULL,      NULL,            cs_sorted_range,
    NULL,      NULL};

/* Every campaign of ORG listed through `ctx`, `per_page` at a time: how
 * many pages it took; each id is added to `ids` (an id twice fails). */
static int list_every_page(wabot_ctx *ctx, size_t per_page, json_t *ids)
{
    char cursor[256] = "0";
    int pages = 0;
    do {
        char *out = NULL;
        ck_assert_int_eq(wabot_campaign_list_json(ctx, ORG, NULL, cursor,
                                                  per_page, &out),
                         WABOT_OK);
        json_t *page = json_loads(out, 0, NULL);
        wabot_ctx_mem_free(ctx, out);
        ck_assert_ptr_nonnull(page);
        json_t *arr = json_object_get(page, "campaigns"), *c;
        size_t i;
        ck_assert_uint_le(json_array_size(arr), per_page);
        json_array_foreach(arr, i, c)
        {
            const char *id = str(c, "id");
            ck_assert_msg(json_object_get(ids, id) == NULL, "%s twice", id);
            json_object_set_new(ids, id, json_true());
        }
        snprintf(cursor, sizeof cursor, "%s", str(page, "cursor"));
        json_decref(page);
        pages++;
    } while (strcmp(cursor, "0") != 0);
    return pages;
}

/* A context reading E.storage through the counting storage. */
static wabot_ctx *counted_ctx(counting *cnt, wabot_storage **wrapped)
{
    cnt->inner = E.storage;
    *wrapped = wabot_storage_new(&counting_vt, cnt);
    ck_assert_ptr_nonnull(*wrapped);
    wabot_options *o = wabot_options_new();
    wabot_clock k = tu_clock_wabot(&E.clock);
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(o, *wrapped), WABOT_OK);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    return ctx;
}

START_TEST(test_listing_reads_the_index_not_the_keyspace)
{
    char id[64];
    json_t *made = json_object();
    for (int i = 0; i < 7; i++) {
        json_decref(create(DRAFT_BODY, id, sizeof id));
        json_object_set_new(made, id, json_true());
        if (i % 3 == 0)
            tu_clock_advance(&E.clock, 1); /* ties and distinct scores */
    }
    counting cnt = {0};
    wabot_storage *wrapped = NULL;
    wabot_ctx *ctx = counted_ctx(&cnt, &wrapped);
    json_t *ids = json_object();
    cnt.calls = cnt.scans = 0;
    ck_assert_int_eq(list_every_page(ctx, 3, ids), 3);
    long calls_before = cnt.calls;
    ck_assert(json_equal(ids, made));
    /* 10,000 unrelated keys, some sharing the campaigns' prefix. */
    for (int i = 0; i < 10000; i++) {
        char key[64];
        snprintf(key, sizeof key, i % 2 ? "other:%d" : "campaign:{acme}x:%d",
                 i);
        ck_assert_int_eq(wabot_storage_set(E.storage, key, "x", 1, 0, NULL),
                         WABOT_OK);
    }
    json_object_clear(ids);
    cnt.calls = 0;
    ck_assert_int_eq(list_every_page(ctx, 3, ids), 3);
    ck_assert(json_equal(ids, made));
    ck_assert_int_eq(cnt.calls, calls_before);
    ck_assert_int_eq(cnt.scans, 0);
    json_decref(ids);
    json_decref(made);
    wabot_ctx_free(ctx);
    wabot_storage_free(wrapped);
}
END_TEST

START_TEST(test_a_campaign_created_while_listing_is_returned_at_most_once)
{
    /* Same score (the fake clock stands still): a new id may sort before
     * the cursor's; nothing comes back twice, and the older ones all do. */
    char id[64];
    json_t *made = json_object(), *ids = json_object();
    for (int i = 0; i < 6; i++) {
        json_decref(create(DRAFT_BODY, id, sizeof id));
        json_object_set_new(made, id, json_true());
    }
    char cursor[256] = "0";
    int pages = 0;
    do {
        char *out = NULL;
        ck_assert_int_eq(wabot_campaign_list_json(E.ctx, ORG, NULL, cursor, 2,
                                                  &out),
                         WABOT_OK);
        json_t *page = parse(out), *c;
        size_t i;
        json_array_foreach(json_object_get(page, "campaigns"), i, c)
        {
            ck_assert_msg(json_object_get(ids, str(c, "id")) == NULL,
                          "%s twice", str(c, "id"));
            json_object_set_new(ids, str(c, "id"), json_true());
        }
        snprintf(cursor, sizeof cursor, "%s", str(page, "cursor"));
        json_decref(page);
        if (++pages <= 3) /* three more, created mid-listing */
            json_decref(create(DRAFT_BODY, id, sizeof id));
    } while (strcmp(cursor, "0") != 0);
    const char *k;
    json_t *v;
    json_object_foreach(made, k, v) ck_assert_ptr_nonnull(json_object_get(ids, k));
    json_decref(made);
    json_decref(ids);
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_list_json(E.ctx, ORG, NULL, "12:x", 2,
                                              &out),
                     WABOT_ERR_INVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Fan-out                                                             */

START_TEST(test_the_window_picks_the_template_or_skips_counted)
{
    customers(0, 2, 0, TU_EPOCH_MS);   /* inside the window */
    customers(100, 3, 0, 0);           /* never wrote: outside */
    char id[64];
    json_decref(create(BODY, id, sizeof id)); /* no template */
    run_all();
    ck_assert_uint_eq(distinct_recipients_once(), 2);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.queued, 2);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_WINDOW_CLOSED], 3);
    ck_assert_int_eq(p.total, 5);

    wabot_recorder_clear(E.rec);
    json_decref(create(BULK(",\"startImmediately\":true"), id, sizeof id));
    run_all();
    ck_assert_uint_eq(distinct_recipients_once(), 5);
    size_t templates = 0;
    for (size_t i = 0; i < 5; i++) {
        const wabot_outbound *o = wabot_recorder_get(E.rec, i);
        if (wabot_outbound_kind(o) != WABOT_OUT_TEMPLATE)
            continue;
        templates++;
        ck_assert_str_eq(wabot_outbound_template_name(o), "promo");
        ck_assert_uint_eq(wabot_outbound_param_count(o), 1);
        ck_assert_ptr_nonnull(
            strstr(wabot_outbound_param(o, 0), "C10"));
    }
    ck_assert_uint_eq(templates, 3);
    p = progress(id);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_WINDOW_CLOSED], 0);
    ck_assert_int_eq(p.queued, 5);
}
END_TEST

/* 10,000 (1,000 in the ASan and valgrind passes: tu_scale) */
#define MANY tu_scale(10000)

static int fan_out_done(const char *id)
{
    return strcmp(status_of(id), "COMPLETED") == 0 && outbound_pending() == 0;
}

START_TEST(test_ten_thousand_customers_get_exactly_one_message_each)
{
    customers(0, MANY, 50, 0); /* 200 opted out */
    char id[64];
    json_decref(create(BULK(",\"startImmediately\":true"), id, sizeof id));
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), MANY - MANY / 50);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.status, WABOT_CAMPAIGN_COMPLETED);
    ck_assert_int_eq(p.queued, MANY - MANY / 50);
    ck_assert_int_eq(p.sent, MANY - MANY / 50);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT], MANY / 50);
    ck_assert_int_eq(p.total, MANY);
    ck_assert_int_eq(p.percent, 100);
    ck_assert_int_eq(p.eta_ms, 0);
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_progress_json(E.ctx, ORG, id, &out),
                     WABOT_OK);
    json_t *j = parse(out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "sent")),
                     MANY - MANY / 50);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(j, "skipped"), "opted_out")),
                     MANY / 50);
    ck_assert_str_eq(str(j, "status"), "COMPLETED");
    json_decref(j);
}
END_TEST

static int half_queued(const char *id)
{
    return progress(id).queued >= MANY / 2;
}

START_TEST(test_paused_half_way_and_resumed_still_sends_exactly_once)
{
    customers(0, MANY, 100, 0);
    char id[64];
    json_decref(create(BULK(",\"startImmediately\":true,\"batchSize\":250,"
                            "\"sendRate\":1000"),
                       id, sizeof id));
    run_until(half_queued, id);
    ck_assert_int_eq(wabot_campaign_pause(E.ctx, ORG, id), WABOT_OK);
    ck_assert_int_eq(wabot_campaign_pause(E.ctx, ORG, id), WABOT_ERR_STATE);
    run_all();
    ck_assert_str_eq(status_of(id), "PAUSED");
    int64_t at_pause = progress(id).queued;
    ck_assert_int_lt(at_pause, MANY - MANY / 100);
    size_t sent_paused = wabot_recorder_count(E.rec);
    tu_clock_advance(&E.clock, 3600000);
    run_all();
    ck_assert_uint_eq(wabot_recorder_count(E.rec), sent_paused);
    ck_assert_int_eq(wabot_campaign_resume(E.ctx, ORG, id), WABOT_OK);
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), MANY - MANY / 100);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.queued, MANY - MANY / 100);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT], MANY / 100);
}
END_TEST

#ifdef CAMPAIGNS_REDIS
/* Rewind the campaign to batch 0 as a crash before its bookkeeping would
 * leave it, and run the fan-out again. Redis only: a memory store loses
 * its markers and its cursor together, and drops a page's markers once
 * the page is recorded (test_memory_keeps_no_marker_...). */
static int rewind_doc(wabot_ctx *ctx, json_t *doc, void *ud)
{
    (void)ctx;
    (void)ud;
    json_object_set_new(doc, "batch", json_integer(0));
    json_object_set_new(doc, "cursor", json_string("0"));
    json_object_set_new(doc, "status", json_string("RUNNING"));
    json_object_set_new(doc, "gen", json_integer(99));
    return WABOT_OK;
}

START_TEST(test_a_fan_out_run_again_after_a_crash_sends_nothing_twice)
{
    customers(0, 1200, 10, TU_EPOCH_MS);
    char id[64];
    json_decref(create(BODY, id, sizeof id));
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), 1080);
    const wabot_allocator *prev =
        wb_json_scope_enter(&E.ctx->alloc);
    ck_assert_int_eq(wb_campaign_update(E.ctx, ORG, id, rewind_doc, NULL,
                                        NULL),
                     WABOT_OK);
    wb_json_scope_leave(prev);
    ck_assert_int_eq(wb_campaign_enqueue_batch(E.ctx, ORG, id, 99, 0, "0",
                                               0),
                     WABOT_OK);
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), 1080);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.queued, 1080);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT], 120);
}
END_TEST
#else
/* Keys of the memory store starting with `prefix`. */
static size_t keys_with(const char *prefix)
{
    size_t n = 0;
    char cursor[2200] = "0";
    do {
        wabot_storage_items *it = NULL;
        ck_assert_int_eq(wabot_storage_scan(E.storage, prefix, cursor, 1000,
                                            0, &it),
                         WABOT_OK);
        n += wabot_storage_items_count(it);
        snprintf(cursor, sizeof cursor, "%s", wabot_storage_items_cursor(it));
        wabot_storage_items_free(it);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* A campaign to `audience` (then more members) run to its end. */
static void run_campaign(const char *audience, char *id, size_t n)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"organizationId\":\"acme\",\"name\":\"C\",\"message\":"
             "\"Hi\",\"type\":\"PROMOTIONAL\",\"startImmediately\":true,"
             "\"targetAudience\":%s}",
             audience);
    json_decref(create(body, id, n));
    run_until(fan_out_done, id);
}

/* On memory a page's recipient markers go once its batch recorded the
 * next cursor (a memory scan never returns a key before it again): what
 * the fan-out keeps per recipient is the delivery module's. A list
 * audience, which may name a customer again on a later page, keeps
 * them. */
START_TEST(test_memory_keeps_no_marker_once_a_page_is_recorded_but_lists_do)
{
    customers(0, 1200, 10, TU_EPOCH_MS);
    char id[64];
    run_campaign("{\"type\":\"all\"},\"batchSize\":250", id, sizeof id);
    ck_assert_uint_eq(distinct_recipients_once(), 1080);
    ck_assert_int_eq(progress(id).queued, 1080);
    ck_assert_int_eq(progress(id).skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT], 120);
    ck_assert_uint_eq(keys_with("campaign-r:"), 0);

    wabot_recorder_clear(E.rec);
    run_campaign("{\"type\":\"list\",\"customers\":[\"+15550000001\","
                 "\"+15550000002\",\"+15550000001\"]},\"batchSize\":1",
                 id, sizeof id);
    ck_assert_uint_eq(distinct_recipients_once(), 2);
    ck_assert_int_eq(progress(id).queued, 2);
    ck_assert_uint_eq(keys_with("campaign-r:"), 2);
}
END_TEST
#endif

#ifdef CAMPAIGNS_REDIS
/* The campaign's stored document (its bookkeeping included). */
static json_t *stored_doc(const char *id)
{
    json_t *doc = NULL;
    const wabot_allocator *prev = wb_json_scope_enter(&E.ctx->alloc);
    ck_assert_int_eq(wb_campaign_load(E.ctx, ORG, id, &doc, NULL), WABOT_OK);
    wb_json_scope_leave(prev);
    return doc;
}

/* The test server's run_id (INFO server). */
static void server_run_id(char *buf, size_t n)
{
    char out[8192];
    ck_assert_int_eq(rh_cli(&g_srv, "INFO server", out, sizeof out), 0);
    const char *p = strstr(out, "run_id:");
    ck_assert_ptr_nonnull(p);
    p += strlen("run_id:");
    size_t len = strcspn(p, "\r\n");
    ck_assert_uint_lt(len, n);
    memcpy(buf, p, len);
    buf[len] = '\0';
}

/* Every page of the first pass scanned by one Redis process: its cursors
 * hold, so the campaign completes without sweeping the audience again. */
START_TEST(test_a_first_pass_on_one_redis_process_ends_without_a_sweep)
{
    customers(0, 2000, 10, 0);
    char id[64], run_id[64];
    json_decref(create(BULK(",\"startImmediately\":true,\"batchSize\":250"),
                       id, sizeof id));
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), 1800);
    json_t *doc = stored_doc(id);
    server_run_id(run_id, sizeof run_id);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "pass")), 0);
    ck_assert_str_eq(str(doc, "store"), run_id);
    ck_assert_ptr_null(json_object_get(doc, "store_moved"));
    json_decref(doc);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.status, WABOT_CAMPAIGN_COMPLETED);
    ck_assert_int_eq(p.queued, 1800);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT], 200);
}
END_TEST

static int some_queued(const char *id)
{
    return progress(id).queued >= 500;
}

/* What a Redis restart leaves: the pages so far named another process,
 * and the saved cursor read by the new one as a later position. */
typedef struct moved_to {
    const char *cursor;
} moved_to;

static int restarted_doc(wabot_ctx *ctx, json_t *doc, void *ud)
{
    (void)ctx;
    json_object_set_new(doc, "store", json_string("a-process-since-gone"));
    json_object_set_new(doc, "cursor",
                        json_string(((moved_to *)ud)->cursor));
    return WABOT_OK;
}

/* A first pass that another Redis process began (a restart mid fan-out)
 * may have skipped customers: it is followed by the sweep, which finds
 * them. Here the restart is staged: the campaign is paused, its stored
 * process renamed and its cursor moved a page of up to 500 customers
 * ahead. */
START_TEST(test_a_first_pass_begun_by_another_redis_process_is_swept)
{
    customers(0, 2000, 0, 0);
    char id[64];
    json_decref(create(BULK(",\"startImmediately\":true,\"batchSize\":250,"
                            "\"sendRate\":1000"),
                       id, sizeof id));
    run_until(some_queued, id);
    ck_assert_int_eq(wabot_campaign_pause(E.ctx, ORG, id), WABOT_OK);
    run_all();
    json_t *doc = stored_doc(id);
    wabot_storage_items *ahead = NULL;
    ck_assert_int_eq(wabot_storage_scan(E.storage, "cust:{" ORG ":",
                                        str(doc, "cursor"), 500, 0, &ahead),
                     WABOT_OK);
    ck_assert_uint_ge(wabot_storage_items_count(ahead), 100); /* skipped */
    moved_to m = {wabot_storage_items_cursor(ahead)};
    ck_assert_str_ne(m.cursor, "0");
    const wabot_allocator *prev = wb_json_scope_enter(&E.ctx->alloc);
    ck_assert_int_eq(
        wb_campaign_update(E.ctx, ORG, id, restarted_doc, &m, NULL),
        WABOT_OK);
    wb_json_scope_leave(prev);
    wabot_storage_items_free(ahead);
    json_decref(doc);
    ck_assert_int_eq(wabot_campaign_resume(E.ctx, ORG, id), WABOT_OK);
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), 2000);
    doc = stored_doc(id);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "pass")), 1);
    json_decref(doc);
    ck_assert_int_eq(progress(id).queued, 2000);
}
END_TEST
#endif

/* Queue campaign messages to phones[0..n) as the fan-out does (one
 * chunk); returns the status. */
static int queue_chunk(const char *const *phones, size_t n)
{
    wabot_outbound *msgs[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "campaign:cmp-chunk:%s", phones[i]);
        wabot_out *o = wabot_out_new(E.ctx);
        ck_assert_int_eq(wabot_out_set_to(o, phones[i]), WABOT_OK);
        ck_assert_int_eq(wabot_out_set_org(o, ORG), WABOT_OK);
        ck_assert_int_eq(wabot_out_set_idempotency_key(o, key), WABOT_OK);
        ck_assert_int_eq(wabot_out_set_text(o, "hello"), WABOT_OK);
        wabot_outbound **head = NULL;
        size_t n_head = 0;
        ck_assert_int_eq(wb_out_compose(o, NULL, &msgs[i], &head, &n_head),
                         WABOT_OK);
        ck_assert_uint_eq(n_head, 0);
        wabot_out_free(o);
    }
    int rc = wb_campaign_queue_outbound(E.ctx, ORG, "cmp-chunk", n, msgs);
    for (size_t i = 0; i < n; i++)
        wb_outbound_free(msgs[i]);
    return rc;
}

static int64_t outbound_waiting(void)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    ck_assert_int_eq(wabot_queue_counts(E.ctx, WABOT_QUEUE_OUTBOUND, c,
                                        WABOT_JOB_STATE_COUNT),
                     WABOT_OK);
    return c[WABOT_JOB_WAITING];
}

/* A crash between queuing a chunk and marking its recipients re-runs the
 * chunk: on Redis the same chunk finds its chunk marker, a different one
 * (the re-run's page is not the same) queues only its new messages;
 * elsewhere each message finds its job. */
START_TEST(test_a_chunk_queued_again_queues_only_messages_not_queued)
{
    const char *first[] = {"+15550000001", "+15550000002", "+15550000003"};
    const char *second[] = {"+15550000002", "+15550000004", "+15550000003"};
    ck_assert_int_eq(queue_chunk(first, 3), WABOT_OK);
    ck_assert_int_eq(outbound_waiting(), 3);
    ck_assert_int_eq(queue_chunk(first, 3), WABOT_OK);
    ck_assert_int_eq(outbound_waiting(), 3);
    ck_assert_int_eq(queue_chunk(second, 3), WABOT_OK);
    ck_assert_int_eq(outbound_waiting(), 4);
}
END_TEST

START_TEST(test_the_campaigns_send_rate_spaces_its_batches)
{
    customers(0, 100, 0, TU_EPOCH_MS);
    char id[64];
    json_decref(create("{\"organizationId\":\"acme\",\"name\":\"Slow\","
                       "\"message\":\"Hi\",\"type\":\"PROMOTIONAL\","
                       "\"targetAudience\":{\"type\":\"all\"},"
                       "\"startImmediately\":true,\"sendRate\":10,"
                       "\"batchSize\":10}",
                       id, sizeof id));
    tu_drain(E.ctx);
    ck_assert_int_le(progress(id).queued, 10);
    tu_clock_advance(&E.clock, 1000);
    tu_drain(E.ctx);
    ck_assert_int_le(progress(id).queued, 20);
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), 100);
}
END_TEST

static void receipt(const char *provider_id, const char *status)
{
    char id[32], st[32];
    snprintf(id, sizeof id, "%s", provider_id);
    snprintf(st, sizeof st, "%s", status);
    wb_status_update u = {wabot_outbound_provider(wabot_recorder_get(E.rec, 0)),
                          id, st, NULL, NULL, wabot_ctx_now_ms(E.ctx), NULL};
    ck_assert_int_eq(wb_receipt_apply(E.ctx, &u), WABOT_OK);
}

START_TEST(test_progress_counts_delivered_read_and_failed_from_receipts)
{
    customers(0, 10, 0, TU_EPOCH_MS);
    char id[64];
    json_decref(create(BODY, id, sizeof id));
    run_until(fan_out_done, id);
    ck_assert_uint_eq(distinct_recipients_once(), 10);
    /* The recorder's provider ids are rec-1 .. rec-10. */
    receipt("rec-1", "delivered");
    receipt("rec-1", "delivered"); /* a duplicate counts once */
    receipt("rec-2", "delivered");
    receipt("rec-3", "delivered");
    receipt("rec-1", "read");
    receipt("rec-2", "read");
    receipt("rec-4", "read"); /* read without delivered: both */
    receipt("rec-5", "failed");
    receipt("rec-999", "delivered"); /* not ours */
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.sent, 10);
    ck_assert_int_eq(p.delivered, 4);
    ck_assert_int_eq(p.read, 3);
    ck_assert_int_eq(p.failed, 1);
    ck_assert_int_eq(p.percent, 100);
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_progress_json(E.ctx, ORG, id, &out),
                     WABOT_OK);
    json_t *j = parse(out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "delivered")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "read")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "failed")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 10);
    json_decref(j);
}
END_TEST

START_TEST(test_eta_follows_the_send_rate_so_far)
{
    teardown();
    const char *kv[] = {"rate_sender_per_s", "10", NULL};
    setup_with(NULL, kv);
    customers(0, 100, 0, TU_EPOCH_MS);
    char id[64];
    json_decref(create(BODY, id, sizeof id));
    tu_drain(E.ctx);
    for (int i = 0; i < 4; i++) {
        tu_clock_advance(&E.clock, 1000);
        tu_drain(E.ctx);
    }
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.queued, 100);
    ck_assert_int_gt(p.sent, 0);
    ck_assert_int_lt(p.sent, 100);
    ck_assert_int_eq(p.percent, (p.sent * 100) / 100);
    /* ETA = what is left at the rate so far. */
    int64_t elapsed = wabot_ctx_now_ms(E.ctx) - TU_EPOCH_MS;
    ck_assert_int_eq(p.eta_ms, (100 - p.sent) * elapsed / p.sent);
    run_until(fan_out_done, id);
    p = progress(id);
    ck_assert_int_eq(p.eta_ms, 0);
}
END_TEST

/* What the ETA of a paced campaign must be: the recipients not yet sent,
 * failed or skipped out of `total`, at its sendRate (per s) or the rate so
 * far when slower. */
static int64_t paced_eta(const wabot_campaign_progress *p, int64_t total,
                         int64_t rate)
{
    int64_t skipped = 0;
    for (size_t i = 0; i < WABOT_CAMPAIGN_SKIP_COUNT; i++)
        skipped += p->skipped[i];
    int64_t left = total - p->sent - p->failed - skipped;
    int64_t elapsed = wabot_ctx_now_ms(E.ctx) - TU_EPOCH_MS;
    int64_t by_rate = left * 1000 / rate;
    int64_t measured = elapsed > 0 && p->sent > 0 ? left * elapsed / p->sent
                                                  : -1;
    return measured > by_rate ? measured : by_rate;
}

START_TEST(test_eta_of_a_paced_fan_out_counts_the_recipients_not_reached)
{
    /* 1,500 customers (150 opted out) at 100 a second, 100 per batch:
     * after the first batch every queued message is sent, so an ETA of
     * the queue alone would be unknown; the audience is counted (two
     * pages) and the ETA covers the 1,400-odd recipients not reached. */
    customers(0, 1500, 10, TU_EPOCH_MS);
    char id[64];
    json_decref(create("{\"organizationId\":\"acme\",\"name\":\"Paced\","
                       "\"message\":\"Hi\",\"type\":\"PROMOTIONAL\","
                       "\"targetAudience\":{\"type\":\"all\"},"
                       "\"startImmediately\":true,\"sendRate\":100,"
                       "\"batchSize\":100}",
                       id, sizeof id));
    tu_drain(E.ctx);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_gt(p.queued, 0);
    ck_assert_int_eq(p.sent, p.queued);
    ck_assert_int_lt(p.total, 1500);
    ck_assert_int_eq(p.eta_ms, paced_eta(&p, 1500, 100));
    ck_assert_int_ge(p.eta_ms, 13000); /* about 1,400 left at 100/s */
    tu_clock_advance(&E.clock, 1000);
    tu_drain(E.ctx);
    p = progress(id);
    ck_assert_str_eq(status_of(id), "RUNNING");
    ck_assert_int_eq(p.eta_ms, paced_eta(&p, 1500, 100));
    run_until(fan_out_done, id);
    p = progress(id);
    ck_assert_int_eq(p.total, 1500);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT], 150);
    ck_assert_int_eq(p.eta_ms, 0);
    /* The count is bookkeeping: not part of the campaign as shown. */
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_get_json(E.ctx, ORG, id, &out), WABOT_OK);
    json_t *c = parse(out);
    ck_assert_ptr_null(json_object_get(c, "audience_total"));
    json_decref(c);
}
END_TEST

START_TEST(test_eta_of_a_list_audience_knows_its_size_from_the_start)
{
    /* A paced campaign to a list of 5 (one not a customer): after the
     * first batch's 2, the 3 entries not reached count from the start. */
    customers(0, 4, 0, TU_EPOCH_MS);
    char id[64];
    json_decref(create("{\"organizationId\":\"acme\",\"name\":\"List\","
                       "\"message\":\"Hi\",\"type\":\"PROMOTIONAL\","
                       "\"targetAudience\":{\"type\":\"list\",\"customers\":"
                       "[\"+15550000000\",\"+15550000001\",\"+15550000002\","
                       "\"+15550000003\",\"+15559999999\"]},"
                       "\"startImmediately\":true,\"sendRate\":1,"
                       "\"batchSize\":2}",
                       id, sizeof id));
    tu_drain(E.ctx);
    wabot_campaign_progress p = progress(id);
    ck_assert_int_eq(p.sent, 2);
    ck_assert_int_eq(p.eta_ms, 3000); /* 3 left at 1 a second */
    run_until(fan_out_done, id);
    p = progress(id);
    ck_assert_int_eq(p.total, 5);
    ck_assert_int_eq(p.skipped[WABOT_CAMPAIGN_SKIP_NOT_FOUND], 1);
    ck_assert_int_eq(p.eta_ms, 0);
}
END_TEST

START_TEST(test_progress_refuses_a_bad_version_and_unknown_campaigns)
{
    wabot_campaign_progress p;
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(wabot_campaign_progress_get(E.ctx, ORG, "cmp-x", &p),
                     WABOT_ERR_INVAL);
    p.version = WABOT_CAMPAIGN_PROGRESS_VERSION;
    ck_assert_int_eq(wabot_campaign_progress_get(E.ctx, ORG, "cmp-x", &p),
                     WABOT_ERR_NOT_FOUND);
    char *out = NULL;
    ck_assert_int_eq(wabot_campaign_get_json(E.ctx, ORG, "cmp-x", &out),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_str_eq(wabot_campaign_status_name(WABOT_CAMPAIGN_PAUSED),
                     "PAUSED");
    ck_assert_str_eq(wabot_campaign_status_name((wabot_campaign_status)42),
                     "UNKNOWN");
}
END_TEST


/* ------------------------------------------------------------------ */
/* Metrics                                                             */

/* Whether the exposition holds this exact sample line. */
static int has_sample(const char *line)
{
    char *text = wabot_metrics_prometheus(E.ctx);
    char want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    int found = strstr(text, want) != NULL;
    if (!found)
        fprintf(stderr, "no \"%s\" in:\n%s", line, text);
    wabot_ctx_mem_free(E.ctx, text);
    return found;
}

static int exposition_mentions(const char *what)
{
    char *text = wabot_metrics_prometheus(E.ctx);
    int found = strstr(text, what) != NULL;
    wabot_ctx_mem_free(E.ctx, text);
    return found;
}

static int message_sample(const char *id, const char *outcome, int n)
{
    char line[256];
    snprintf(line, sizeof line,
             "wabot_campaign_messages{org=\"acme\",campaign=\"%s\","
             "outcome=\"%s\"} %d",
             id, outcome, n);
    return has_sample(line);
}

/* Past one campaign.metrics_refresh (15 s by default): the loop's
 * refresh runs. */
static void refresh(void)
{
    tu_clock_advance(&E.clock, 15000);
    tu_drain(E.ctx);
}

START_TEST(test_metrics_show_campaigns_by_status_and_messages_by_outcome)
{
    customers(0, 10, 5, TU_EPOCH_MS); /* 0 and 5 opted out */
    char id[64], draft[64];
    json_decref(create(BODY, id, sizeof id));
    json_decref(create(DRAFT_BODY, draft, sizeof draft));
    run_until(fan_out_done, id);
    receipt("rec-1", "delivered");
    receipt("rec-2", "delivered");
    receipt("rec-1", "read");
    receipt("rec-3", "failed");
    refresh();
    ck_assert(has_sample(
        "wabot_campaigns{org=\"acme\",status=\"COMPLETED\"} 1"));
    ck_assert(has_sample("wabot_campaigns{org=\"acme\",status=\"DRAFT\"} 1"));
    ck_assert(has_sample("wabot_campaigns{org=\"acme\",status=\"RUNNING\"} 0"));
    ck_assert(message_sample(id, "queued", 8));
    ck_assert(message_sample(id, "sent", 8));
    ck_assert(message_sample(id, "delivered", 2));
    ck_assert(message_sample(id, "read", 1));
    ck_assert(message_sample(id, "failed", 1));
    ck_assert(message_sample(id, "skipped", 2));
    ck_assert(message_sample(draft, "queued", 0));
    /* A move shows at the next refresh. */
    ck_assert_int_eq(wabot_campaign_cancel(E.ctx, ORG, draft), WABOT_OK);
    refresh();
    ck_assert(has_sample("wabot_campaigns{org=\"acme\",status=\"DRAFT\"} 0"));
    ck_assert(has_sample(
        "wabot_campaigns{org=\"acme\",status=\"CANCELLED\"} 1"));
}
END_TEST

START_TEST(test_a_finished_campaign_leaves_the_exposition_after_metrics_keep)
{
    teardown();
    const char *kv[] = {"rate_sender_per_s", "0", "campaign.metrics_keep",
                        "3600000", NULL};
    setup_with(NULL, kv);
    customers(0, 3, 0, TU_EPOCH_MS);
    char done[64], draft[64];
    json_decref(create(BODY, done, sizeof done));
    run_until(fan_out_done, done);
    int64_t finished = wabot_ctx_now_ms(E.ctx);
    json_decref(create(DRAFT_BODY, draft, sizeof draft));
    refresh();
    ck_assert(message_sample(done, "sent", 3));
    /* Just before metrics_keep after it finished: still shown. */
    tu_clock_advance(&E.clock, finished + 3600000 - 1 -
                                   wabot_ctx_now_ms(E.ctx) - 15000);
    refresh();
    ck_assert(message_sample(done, "sent", 3));
    refresh();
    ck_assert(!exposition_mentions(done));
    ck_assert(message_sample(draft, "queued", 0)); /* not finished */
    ck_assert(has_sample(
        "wabot_campaigns{org=\"acme\",status=\"COMPLETED\"} 1"));
}
END_TEST

Suite *campaigns_suite(void)
{
    Suite *s = suite_create("campaigns");
    TCase *tc = tcase_create("campaigns");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_the_replaced_systems_body_is_accepted_unchanged_and_runs);
    tcase_add_test(tc, test_a_bad_message_template_is_refused_naming_the_position);
    tcase_add_test(tc, test_each_bad_member_is_refused_naming_it);
    tcase_add_test(tc, test_disabled_campaigns_refuse_with_a_clear_status);
    tcase_add_test(tc, test_lifecycle_draft_scheduled_running_completed_on_the_fake_clock);
    tcase_add_test(tc, test_scheduled_for_in_iso_8601_with_an_offset_starts_then);
    tcase_add_test(tc, test_cancel_stops_a_scheduled_campaign_before_it_sends);
    tcase_add_test(tc, test_list_filters_by_status_and_pages_with_a_cursor);
    tcase_add_test(tc, test_listing_reads_the_index_not_the_keyspace);
    tcase_add_test(tc, test_a_campaign_created_while_listing_is_returned_at_most_once);
    tcase_add_test(tc, test_the_window_picks_the_template_or_skips_counted);
    tcase_add_test(tc, test_ten_thousand_customers_get_exactly_one_message_each);
    tcase_add_test(tc, test_paused_half_way_and_resumed_still_sends_exactly_once);
#ifdef CAMPAIGNS_REDIS
    tcase_add_test(tc, test_a_fan_out_run_again_after_a_crash_sends_nothing_twice);
#else
    tcase_add_test(tc, test_memory_keeps_no_marker_once_a_page_is_recorded_but_lists_do);
#endif
    tcase_add_test(tc, test_a_chunk_queued_again_queues_only_messages_not_queued);
#ifdef CAMPAIGNS_REDIS
    tcase_add_test(tc, test_a_first_pass_on_one_redis_process_ends_without_a_sweep);
    tcase_add_test(tc, test_a_first_pass_begun_by_another_redis_process_is_swept);
#endif
    tcase_add_test(tc, test_the_campaigns_send_rate_spaces_its_batches);
    tcase_add_test(tc, test_progress_counts_delivered_read_and_failed_from_receipts);
    tcase_add_test(tc, test_eta_follows_the_send_rate_so_far);
    tcase_add_test(tc, test_eta_of_a_paced_fan_out_counts_the_recipients_not_reached);
    tcase_add_test(tc, test_eta_of_a_list_audience_knows_its_size_from_the_start);
    tcase_add_test(tc, test_progress_refuses_a_bad_version_and_unknown_campaigns);
    tcase_add_test(tc, test_metrics_show_campaigns_by_status_and_messages_by_outcome);
    tcase_add_test(tc, test_a_finished_campaign_leaves_the_exposition_after_metrics_keep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
#ifdef CAMPAIGNS_REDIS
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    if (rh_start(&g_srv, 0) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return EXIT_FAILURE;
    }
    int rc = tu_run_suite(campaigns_suite());
    rh_destroy(&g_srv);
    return rc;
#else
    return tu_run_suite(campaigns_suite());
#endif
}
