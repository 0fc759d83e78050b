/* Admin state shared by processes on one real redis-server: two contexts
 * (two wabot-servers, as far as the library can tell) on one Redis and one
 * key prefix.
 *  - Idempotency-Key: an answer kept by one context is replayed by the
 *    other; another body under the same key is 422 there too.
 *  - Migration settings: a PUT on one context reaches the other's
 *    decisions within migration.sync_interval (fake clock), and a change
 *    made concurrently on both keeps both (compare-and-set).
 *  - Failed jobs: one failed on one context is listed and retried from
 *    the other (the Redis backend's wb_sched_failed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_harness.h"
#include "testutil.h"
#include "wabot/redis.h"

static rh_server g_srv;
static int g_run;

typedef struct node {
    wabot_redis *redis;
    wabot_storage *storage;
    wabot_scheduler *sched;
    wabot_transport *rec;
    wabot_ctx *ctx;
} node;

static tu_clock g_clock;
static node A, B;

static void node_start(node *n, const char *prefix)
{
    wabot_clock k = tu_clock_wabot(&g_clock);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.prefix = prefix;
    const char *err = NULL;
    n->redis = wabot_redis_new(&cfg, &err);
    ck_assert_msg(n->redis != NULL, "wabot_redis_new: %s", err ? err : "?");
    n->storage = wabot_storage_redis_new(n->redis);
    n->sched = wabot_scheduler_redis_new(n->redis);
    n->rec = wabot_transport_recorder_new();
    wabot_options *o = wabot_options_new();
    wabot_options_set_clock(o, &k);
    wabot_options_set_storage(o, n->storage);
    wabot_options_set_scheduler(o, n->sched);
    wabot_options_set_transport(o, n->rec);
    wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, WABOT_LOG_ERROR);
    ck_assert_int_eq(wabot_options_set(o, "admin.token", "tok"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "verify_signatures", "0"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "migration.sync_interval", "500"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&n->ctx, o), WABOT_OK);
    wabot_options_free(o);
}

static void node_free(node *n)
{
    wabot_ctx_free(n->ctx);
    wabot_transport_free(n->rec);
    wabot_scheduler_free(n->sched);
    wabot_storage_free(n->storage);
    wabot_redis_free(n->redis);
}

/* Both nodes on a fresh prefix per test. */
static void setup(void)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "adm%d:", ++g_run);
    tu_clock_init(&g_clock, TU_EPOCH_MS);
    node_start(&A, prefix);
    node_start(&B, prefix);
}

static void teardown(void)
{
    node_free(&A);
    node_free(&B);
}

typedef struct answer {
    int status;
    char body[4096];
    char replayed[8];
} answer;

static answer call(node *n, const char *method, const char *target,
                   const char *body, const char *idem)
{
    wabot_http_header h[3] = {{"Authorization", "Bearer tok"},
                              {"Content-Type", "application/json"},
                              {"Idempotency-Key", idem}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(n->ctx, method, target, h,
                                       idem != NULL ? 3 : 2, body,
                                       body ? strlen(body) : 0, &r),
                     WABOT_OK);
    answer a = {0};
    a.status = wabot_http_response_status(r);
    size_t len;
    snprintf(a.body, sizeof a.body, "%s", wabot_http_response_body(r, &len));
    const char *rep = wabot_http_response_header(r, "Idempotent-Replayed");
    snprintf(a.replayed, sizeof a.replayed, "%s", rep ? rep : "");
    wabot_http_response_free(r);
    return a;
}

#define CUST "/whatsapp-v2/customers/acme"

START_TEST(test_an_idempotent_answer_is_replayed_by_another_process)
{
    const char *body = "{\"phone\":\"+15550100\",\"name\":\"Ana\"}";
    answer a = call(&A, "POST", CUST, body, "order-7");
    ck_assert_msg(a.status == 201, "%d %s", a.status, a.body);
    answer b = call(&B, "POST", CUST, body, "order-7");
    ck_assert_int_eq(b.status, 201);
    ck_assert_str_eq(b.body, a.body);
    ck_assert_str_eq(b.replayed, "true");
    b = call(&B, "POST", CUST, "{\"phone\":\"+15550101\"}", "order-7");
    ck_assert_int_eq(b.status, 422);
    ck_assert_ptr_nonnull(strstr(b.body, "idempotency_key_reused"));
    ck_assert_int_eq(call(&A, "GET", CUST "/+15550101", NULL, NULL).status,
                     404);
    /* Another key runs (Redis expires keys by its own clock, so the TTL is
     * tested on the memory storage, test_admin_routes). */
    b = call(&B, "POST", CUST, body, "order-8");
    ck_assert_int_eq(b.status, 200);
    ck_assert_str_eq(b.replayed, "");
}
END_TEST

/* Customers decided "new" by n out of 1,000. */
static int deciding_new(node *n)
{
    int here = 0;
    for (int i = 0; i < 1000; i++) {
        char c[32];
        snprintf(c, sizeof c, "+1555%07d", i);
        here += wabot_migration_decide(n->ctx, c) == WABOT_SYSTEM_NEW;
    }
    return here;
}

static int legacy_ok(void *ud, const char *method, const char *target,
                     const wabot_http_header *h, size_t nh, const char *body,
                     size_t len, wabot_http_response *out)
{
    (void)ud, (void)method, (void)target, (void)h, (void)nh, (void)body,
        (void)len;
    return wabot_http_response_set_status(out, 200);
}

/* A webhook request on n: what refreshes the settings when due. */
static void webhook(node *n, int i)
{
    char body[256];
    snprintf(body, sizeof body,
             "MessageSid=SM%d&AccountSid=AC1&From=whatsapp%%3A%%2B1555%07d"
             "&To=whatsapp%%3A%%2B14155238886&Body=hi&NumMedia=0",
             i, i);
    wabot_http_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(n->ctx, "POST", "/whatsapp/webhook", h,
                                       1, body, strlen(body), &r),
                     WABOT_OK);
    wabot_http_response_free(r);
}

START_TEST(test_a_migration_put_reaches_the_other_process_within_the_interval)
{
    ck_assert_int_eq(wabot_migration_set_legacy(B.ctx, legacy_ok, NULL),
                     WABOT_OK);
    ck_assert_int_eq(deciding_new(&B), 1000); /* percent 100 by default */
    webhook(&B, 1); /* B has read the (absent) shared settings */
    answer a = call(&A, "PUT", "/whatsapp-v2/migration",
                    "{\"percent\":10,\"deny\":[\"+15550000001\"]}", NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    /* Before the interval B still decides with what it had... */
    tu_clock_advance(&g_clock, 100);
    webhook(&B, 2);
    ck_assert_int_eq(deciding_new(&B), 1000);
    /* ...and after it, with A's settings. */
    tu_clock_advance(&g_clock, 500);
    webhook(&B, 3);
    int here = deciding_new(&B);
    ck_assert_msg(here > 60 && here < 140, "%d of 1000 at 10%%", here);
    ck_assert_int_eq(here, deciding_new(&A));
    ck_assert_int_eq(wabot_migration_decide(B.ctx, "+15550000001"),
                     WABOT_SYSTEM_LEGACY);
    /* Rollback on B reaches A; B's GET reads the storage at once. */
    a = call(&B, "PUT", "/whatsapp-v2/migration", "{\"percent\":0}", NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.body, "\"percent\":0"));
    a = call(&A, "GET", "/whatsapp-v2/migration", NULL, NULL);
    ck_assert_ptr_nonnull(strstr(a.body, "\"percent\":0"));
    ck_assert_ptr_nonnull(strstr(a.body, "\"deny\":[\"15550000001\"]"));
    ck_assert_int_eq(deciding_new(&A), 0);
}
END_TEST

START_TEST(test_changes_on_both_processes_are_both_kept)
{
    /* A pins one number, B another, each without having read the
     * other's change: compare-and-set keeps both. */
    ck_assert_int_eq(wabot_migration_pin(A.ctx, "+15550000001",
                                         WABOT_SYSTEM_NEW),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_pin(B.ctx, "+15550000002",
                                         WABOT_SYSTEM_LEGACY),
                     WABOT_OK);
    ck_assert_int_eq(wabot_migration_set_percent(A.ctx, 50), WABOT_OK);
    answer a = call(&B, "GET", "/whatsapp-v2/migration", NULL, NULL);
    ck_assert_msg(strstr(a.body, "\"percent\":50") &&
                      strstr(a.body, "\"allow\":[\"15550000001\"]") &&
                      strstr(a.body, "\"deny\":[\"15550000002\"]"),
                  "%s", a.body);
    ck_assert_int_eq(wabot_migration_unpin(B.ctx, "+15550000001"), WABOT_OK);
    ck_assert_int_eq(wabot_migration_unpin(A.ctx, "+15550000001"),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

static int runs;

static int fail_once(wabot_job *job, void *ud)
{
    (void)ud;
    if (runs++ > 0)
        return WABOT_OK;
    wabot_job_set_error(job, "boom");
    wabot_job_set_permanent(job);
    return WABOT_ERR_HANDLER;
}

START_TEST(test_a_job_failed_on_one_process_is_listed_and_retried_on_another)
{
    runs = 0;
    ck_assert_int_eq(wabot_queue_add_worker(A.ctx, "reports", fail_once, NULL,
                                            NULL, 1),
                     WABOT_OK);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "r-%d", i);
        spec.job_id = id;
        ck_assert_int_eq(wabot_job_enqueue(A.ctx, "reports", "{}", 2, &spec,
                                           NULL),
                         WABOT_OK);
        if (i == 0)
            tu_drain(A.ctx); /* r-0 fails; the others complete */
        tu_clock_advance(&g_clock, 10);
    }
    tu_drain(A.ctx);
    answer a = call(&B, "GET", "/whatsapp-v2/jobs/reports/failed", NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    ck_assert_ptr_nonnull(strstr(a.body, "\"id\":\"r-0\""));
    ck_assert_ptr_nonnull(strstr(a.body, "\"last_error\":\"boom\""));
    ck_assert_ptr_nonnull(strstr(a.body, "\"total\":1"));
    a = call(&B, "POST", "/whatsapp-v2/jobs/reports/r-0/retry", NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    ck_assert_ptr_nonnull(strstr(a.body, "\"state\":\"waiting\""));
    ck_assert_int_eq(call(&B, "POST", "/whatsapp-v2/jobs/reports/r-0/retry",
                          NULL, NULL)
                         .status,
                     409);
    ck_assert_int_eq(call(&B, "POST", "/whatsapp-v2/jobs/reports/r-9/retry",
                          NULL, NULL)
                         .status,
                     404);
    a = call(&B, "GET", "/whatsapp-v2/jobs/reports/failed", NULL, NULL);
    ck_assert_ptr_nonnull(strstr(a.body, "\"total\":0"));
    /* A sees a job another process made waiting at its next poll of the
     * queue, job_poll_ms (1 s) after its last one */
    tu_clock_advance(&g_clock, 1000);
    tu_drain(A.ctx);
    ck_assert_int_eq(runs, 4);
    a = call(&B, "GET", "/whatsapp-v2/jobs/reports", NULL, NULL);
    ck_assert_msg(strstr(a.body, "\"completed\":3") != NULL, "%s", a.body);
}
END_TEST

int main(void)
{
    int started = rh_main_start(&g_srv);
    if (started != 0)
        return started;
    Suite *s = suite_create("redis-admin");
    TCase *tc = tcase_create("shared");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_an_idempotent_answer_is_replayed_by_another_process);
    tcase_add_test(tc,
                   test_a_migration_put_reaches_the_other_process_within_the_interval);
    tcase_add_test(tc, test_changes_on_both_processes_are_both_kept);
    tcase_add_test(tc,
                   test_a_job_failed_on_one_process_is_listed_and_retried_on_another);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite_nofork(s);
    rh_destroy(&g_srv);
    return rc;
}
