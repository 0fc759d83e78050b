/* The customers', invoices', jobs', campaigns' and reminders' admin routes and Idempotency-Key
 * (the route files in lib/admin, lib/admin/idempotency.c) through
 * wabot_http_handle, behind the admin token, on the memory storage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wabot/commerce.h"
#include "wabot/invoice.h"
#include "wabot/order.h"

static tu_env E;

static void setup(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "admin.token", "tok,other"),
                     WABOT_OK);
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
}

static void teardown(void)
{
    tu_env_free(&E);
}

typedef struct answer {
    int status;
    char body[8192];
    size_t len;
    char ct[64];
    char location[256];
    char replayed[16];
} answer;

static answer call_as(const char *token, const char *method,
                      const char *target, const char *body, const char *ct,
                      const char *idem)
{
    wabot_http_header h[3];
    size_t n = 0;
    char auth[64];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    h[n++] = (wabot_http_header){"Authorization", auth};
    if (ct != NULL)
        h[n++] = (wabot_http_header){"Content-Type", ct};
    if (idem != NULL)
        h[n++] = (wabot_http_header){"Idempotency-Key", idem};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(E.ctx, method, target, h, n, body,
                                       body ? strlen(body) : 0, &r),
                     WABOT_OK);
    answer a = {0};
    a.status = wabot_http_response_status(r);
    const char *b = wabot_http_response_body(r, &a.len);
    memcpy(a.body, b, a.len < sizeof a.body - 1 ? a.len : sizeof a.body - 1);
    snprintf(a.ct, sizeof a.ct, "%s", wabot_http_response_content_type(r));
    const char *loc = wabot_http_response_header(r, "Location");
    snprintf(a.location, sizeof a.location, "%s", loc ? loc : "");
    const char *rep = wabot_http_response_header(r, "Idempotent-Replayed");
    snprintf(a.replayed, sizeof a.replayed, "%s", rep ? rep : "");
    wabot_http_response_free(r);
    return a;
}

static answer call(const char *method, const char *target, const char *body,
                   const char *ct)
{
    return call_as("tok", method, target, body, ct, NULL);
}

#define JSON "application/json"
#define CUST "/whatsapp-v2/customers/acme"
#define HAS(a, s) ck_assert_msg(strstr((a).body, s) != NULL, "%d %s", \
                                (a).status, (a).body)

/* ---- customers ------------------------------------------------------ */

START_TEST(test_customer_upsert_creates_then_updates)
{
    answer a = call("POST", CUST, "{\"phone\":\"+1 555 0100\",\"name\":\"Ana\"}",
                    JSON);
    ck_assert_msg(a.status == 201, "%d %s", a.status, a.body);
    ck_assert_str_eq(a.location, CUST "/+15550100");
    HAS(a, "\"phone\":\"+15550100\"");
    a = call("POST", CUST, "{\"phone\":\"+15550100\",\"tags\":[\"vip\"]}",
             JSON);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"name\":\"Ana\"");
    HAS(a, "\"vip\"");
    a = call("GET", CUST "/%2B15550100", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"tags\":[\"vip\"]");
    /* PUT takes the phone from the path */
    a = call("PUT", CUST "/+15550101", "{\"name\":\"Bo\"}", JSON);
    ck_assert_msg(a.status == 201, "%d %s", a.status, a.body);
    a = call("PUT", CUST "/+15550101", "{\"name\":\"Bob\"}", JSON);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"name\":\"Bob\"");
}
END_TEST

START_TEST(test_customer_errors_name_the_field)
{
    answer a = call("POST", CUST, "{\"phone\":\"+15550100\",\"tags\":3}",
                    JSON);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "\"field\":\"tags\"");
    a = call("POST", CUST, "{\"name\":\"x\"}", JSON);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "\"field\":\"phone\"");
    a = call("POST", CUST, "{nope", JSON);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "bad_json");
    a = call("POST", CUST, "{\"phone\":\"+15550100\"}", "text/plain");
    ck_assert_int_eq(a.status, 415);
    a = call("PUT", CUST "/+15550100", "{\"phone\":\"+15550199\"}", JSON);
    ck_assert_int_eq(a.status, 400);
    a = call("GET", CUST "/+15550177", NULL, NULL);
    ck_assert_int_eq(a.status, 404);
    a = call("GET", CUST "?limit=0", NULL, NULL);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "\"field\":\"limit\"");
    a = call("DELETE", CUST, NULL, NULL);
    ck_assert_int_eq(a.status, 405);
}
END_TEST

START_TEST(test_customer_list_pages_reach_every_customer)
{
    for (int i = 0; i < 7; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"phone\":\"+1555010%d\"}", i);
        ck_assert_int_eq(call("POST", CUST, body, JSON).status, 201);
    }
    int seen = 0, pages = 0;
    char cursor[64] = "0";
    do {
        char target[160];
        snprintf(target, sizeof target, CUST "?limit=3&cursor=%s", cursor);
        answer a = call("GET", target, NULL, NULL);
        ck_assert_int_eq(a.status, 200);
        for (const char *p = a.body; (p = strstr(p, "\"phone\"")); p++)
            seen++;
        const char *c = strstr(a.body, "\"cursor\":\"");
        ck_assert_ptr_nonnull(c);
        c += 10;
        size_t n = strcspn(c, "\"");
        memcpy(cursor, c, n);
        cursor[n] = '\0';
        ck_assert_int_lt(++pages, 20);
    } while (strcmp(cursor, "0") != 0);
    ck_assert_int_eq(seen, 7);
}
END_TEST

START_TEST(test_customer_import_is_all_or_nothing_unless_partial)
{
    const char *rows = "[{\"phone\":\"+15550100\"},{\"phone\":\"nope\"},"
                       "{\"phone\":\"+15550102\"}]";
    answer a = call("POST", CUST "/import", rows, JSON);
    ck_assert_int_eq(a.status, 422);
    HAS(a, "\"row\":1");
    HAS(a, "\"field\":\"phone\"");
    ck_assert_int_eq(call("GET", CUST "/+15550100", NULL, NULL).status, 404);
    a = call("POST", CUST "/import?partial=1", rows, JSON);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"created\":2");
    HAS(a, "\"failed\":1");
    ck_assert_int_eq(call("GET", CUST "/+15550102", NULL, NULL).status, 200);
    a = call("POST", CUST "/import", "[{\"phone\":\"+15550103\"}]", JSON);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"created\":1");
    a = call("POST", CUST "/import", "{}", JSON);
    ck_assert_int_eq(a.status, 400);
}
END_TEST

START_TEST(test_customer_opt_out)
{
    ck_assert_int_eq(call("POST", CUST, "{\"phone\":\"+15550100\"}", JSON)
                         .status,
                     201);
    answer a = call("POST", CUST "/+15550100/opt-out", NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    HAS(a, "\"opted_out\":true");
    HAS(a, "\"opt_source\":\"api\"");
    a = call("POST", CUST "/+15550100/opt-out", "{\"source\":\"keyword\"}",
             JSON);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"opt_source\":\"keyword\"");
    a = call("POST", CUST "/+15550199/opt-out", NULL, NULL);
    ck_assert_int_eq(a.status, 404);
}
END_TEST

/* ---- invoices -------------------------------------------------------- */

#define INV "/whatsapp-v2/invoices/acme"

static char *issue(const char *customer)
{
    wabot_invoice_draft *d = wabot_invoice_draft_new(E.ctx, "acme", customer,
                                                     "USD");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(wabot_invoice_draft_add_line(d, "A1", "Coke", 2, 150, 0),
                     WABOT_OK);
    char *number = NULL;
    ck_assert_msg(wabot_invoice_issue(d, &number) == WABOT_OK, "%s",
                  wabot_ctx_errmsg(E.ctx));
    wabot_invoice_draft_free(d);
    char *copy = strdup(number);
    wabot_ctx_mem_free(E.ctx, number);
    return copy;
}

START_TEST(test_invoice_get_list_pay_void_and_pdf)
{
    char *n1 = issue("+15550100"), *n2 = issue("+15550101");
    char target[256];
    snprintf(target, sizeof target, INV "/%s", n1);
    answer a = call("GET", target, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"status\":\"issued\"");
    snprintf(target, sizeof target, INV "/%s/pdf", n1);
    a = call("GET", target, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.ct, "application/pdf");
    ck_assert_int_eq(memcmp(a.body, "%PDF-", 5), 0);
    snprintf(target, sizeof target, INV "/%s/paid", n1);
    a = call("POST", target, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"status\":\"paid\"");
    snprintf(target, sizeof target, INV "/%s/void", n1);
    a = call("POST", target, NULL, NULL);
    ck_assert_int_eq(a.status, 409);
    HAS(a, "state_conflict");
    snprintf(target, sizeof target, INV "/%s/void", n2);
    ck_assert_int_eq(call("POST", target, NULL, NULL).status, 200);
    a = call("GET", INV "?status=paid", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, n1);
    ck_assert_ptr_null(strstr(a.body, n2));
    HAS(a, "\"cursor\":\"0\"");
    a = call("GET", INV "?limit=1", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"cursor\":\"1\"");
    a = call("GET", INV "?limit=1&cursor=1", NULL, NULL);
    HAS(a, "\"cursor\":\"0\"");
    ck_assert_int_eq(call("GET", INV "?status=lost", NULL, NULL).status, 400);
    ck_assert_int_eq(call("GET", INV "?cursor=x", NULL, NULL).status, 400);
    ck_assert_int_eq(call("GET", INV "/INV-2026-999999", NULL, NULL).status,
                     404);
    ck_assert_int_eq(call("POST", INV "/INV-2026-999999/paid", NULL, NULL)
                         .status,
                     404);
    free(n1);
    free(n2);
}
END_TEST

/* ---- jobs ------------------------------------------------------------ */

START_TEST(test_jobs_counts_per_queue)
{
    ck_assert_int_eq(wabot_job_enqueue(E.ctx, "reports", "{}", 2, NULL, NULL),
                     WABOT_OK);
    answer a = call("GET", "/whatsapp-v2/jobs/reports", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"queue\":\"reports\"");
    HAS(a, "\"waiting\":1");
    HAS(a, "\"failed\":0");
    a = call("GET", "/whatsapp-v2/jobs", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"queues\":{");
    HAS(a, "\"outbound\":{");
}
END_TEST

static int runs;

/* Fails its first run for good, succeeds afterwards. */
static int fail_once(wabot_job *job, void *ud)
{
    (void)ud;
    if (runs++ > 0)
        return WABOT_OK;
    wabot_job_set_error(job, "boom: the printer is on fire");
    wabot_job_set_permanent(job);
    return WABOT_ERR_HANDLER;
}

START_TEST(test_failed_jobs_are_listed_with_their_error_and_retried)
{
    runs = 0;
    ck_assert_int_eq(wabot_queue_add_worker(E.ctx, "reports", fail_once, NULL,
                                            NULL, 1),
                     WABOT_OK);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "r-1";
    ck_assert_int_eq(wabot_job_enqueue(E.ctx, "reports", "{\"n\":1}", 7,
                                       &spec, NULL),
                     WABOT_OK);
    tu_drain(E.ctx);
    answer a = call("GET", "/whatsapp-v2/jobs/reports/failed", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"id\":\"r-1\"");
    HAS(a, "\"last_error\":\"boom: the printer is on fire\"");
    HAS(a, "\"total\":1");
    HAS(a, "\"cursor\":\"0\"");
    a = call("POST", "/whatsapp-v2/jobs/reports/r-1/retry", NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    HAS(a, "\"state\":\"waiting\"");
    a = call("POST", "/whatsapp-v2/jobs/reports/r-1/retry", NULL, NULL);
    ck_assert_int_eq(a.status, 409); /* not failed (any more) */
    tu_drain(E.ctx);
    ck_assert_int_eq(runs, 2);
    a = call("GET", "/whatsapp-v2/jobs/reports", NULL, NULL);
    HAS(a, "\"completed\":1");
    HAS(a, "\"failed\":0");
    ck_assert_int_eq(call("POST", "/whatsapp-v2/jobs/reports/nope/retry", NULL,
                          NULL)
                         .status,
                     404);
    ck_assert_int_eq(call("GET", "/whatsapp-v2/jobs/bad%20queue/failed", NULL,
                          NULL)
                         .status,
                     400);
}
END_TEST

/* ---- Idempotency-Key ------------------------------------------------- */

START_TEST(test_idempotency_key_replays_the_first_answer)
{
    const char *body = "{\"phone\":\"+15550100\",\"name\":\"Ana\"}";
    answer a = call_as("tok", "POST", CUST, body, JSON, "k-1");
    ck_assert_int_eq(a.status, 201);
    ck_assert_str_eq(a.replayed, "");
    /* The customer changes meanwhile: the repeat still answers the first
     * answer (201, the old name) and runs nothing. */
    ck_assert_int_eq(call("POST", CUST,
                          "{\"phone\":\"+15550100\",\"name\":\"Bea\"}", JSON)
                         .status,
                     200);
    answer b = call_as("tok", "POST", CUST, body, JSON, "k-1");
    ck_assert_int_eq(b.status, 201);
    ck_assert_str_eq(b.body, a.body);
    ck_assert_str_eq(b.location, a.location);
    ck_assert_str_eq(b.replayed, "true");
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "admin.idempotency_replays"),
                     1);
    /* The name the stored customer has: Bea (the repeat wrote nothing). */
    answer g = call("GET", CUST "/+15550100", NULL, NULL);
    HAS(g, "\"name\":\"Bea\"");
}
END_TEST

START_TEST(test_idempotency_key_with_another_body_is_422)
{
    ck_assert_int_eq(call_as("tok", "POST", CUST, "{\"phone\":\"+15550100\"}",
                             JSON, "k-2")
                         .status,
                     201);
    answer a = call_as("tok", "POST", CUST, "{\"phone\":\"+15550101\"}", JSON,
                       "k-2");
    ck_assert_int_eq(a.status, 422);
    HAS(a, "idempotency_key_reused");
    ck_assert_int_eq(call("GET", CUST "/+15550101", NULL, NULL).status, 404);
    /* Another token has its own keys. */
    a = call_as("other", "POST", CUST, "{\"phone\":\"+15550101\"}", JSON,
                "k-2");
    ck_assert_int_eq(a.status, 201);
    ck_assert_str_eq(a.replayed, "");
}
END_TEST

START_TEST(test_idempotency_key_expires_after_the_ttl)
{
    const char *body = "{\"phone\":\"+15550100\"}";
    ck_assert_int_eq(call_as("tok", "POST", CUST, body, JSON, "k-3").status,
                     201);
    tu_clock_advance(&E.clock, 86400000 - 1000);
    ck_assert_str_eq(call_as("tok", "POST", CUST, body, JSON, "k-3").replayed,
                     "true");
    tu_clock_advance(&E.clock, 2000);
    answer a = call_as("tok", "POST", CUST, body, JSON, "k-3");
    ck_assert_int_eq(a.status, 200); /* ran again: the customer exists */
    ck_assert_str_eq(a.replayed, "");
}
END_TEST

static int n_503;

static int answer_503(wabot_ctx *ctx, const wabot_http_server_request *req,
                      wabot_http_response *resp, void *ud)
{
    (void)ctx, (void)req, (void)ud;
    n_503++;
    return wabot_admin_error(resp, 503, "unavailable", NULL, "storage down");
}

START_TEST(test_idempotency_errors_are_not_kept_and_bad_keys_refused)
{
    /* A 4xx answer is kept like any other. */
    answer a = call_as("tok", "POST", CUST, "{nope", JSON, "k-4");
    ck_assert_int_eq(a.status, 400);
    a = call_as("tok", "POST", CUST, "{nope", JSON, "k-4");
    ck_assert_int_eq(a.status, 400);
    ck_assert_str_eq(a.replayed, "true");
    a = call_as("tok", "POST", CUST, "{\"phone\":\"+15550100\"}", JSON,
                "bad key");
    ck_assert_int_eq(a.status, 400);
    HAS(a, "Idempotency-Key");
    /* 5xx (a route whose storage is down): released, so the retry runs. */
    ck_assert_int_eq(wabot_admin_route_add(E.ctx, "POST", "/down",
                                           answer_503, NULL, NULL),
                     WABOT_OK);
    a = call_as("tok", "POST", "/whatsapp-v2/down", "{}", JSON, "k-5");
    ck_assert_int_eq(a.status, 503);
    a = call_as("tok", "POST", "/whatsapp-v2/down", "{}", JSON, "k-5");
    ck_assert_int_eq(a.status, 503);
    ck_assert_str_eq(a.replayed, "");
    ck_assert_int_eq(n_503, 2);
}
END_TEST

/* ---- campaigns and reminders ---------------------------------------- */

#define CAMPAIGNS "/whatsapp-v2/campaigns"
#define REMINDERS "/whatsapp-v2/reminders"

/* The id in a Location "<path>/<id>". */
static const char *id_of(const answer *a, const char *path)
{
    size_t n = strlen(path);
    ck_assert_msg(strncmp(a->location, path, n) == 0 && a->location[n] == '/',
                  "Location %s", a->location);
    return a->location + n + 1;
}

START_TEST(test_campaign_routes_take_the_replaced_systems_body)
{
    answer a = call("POST", CAMPAIGNS,
                    "{\"organizationId\":\"test-org\",\"name\":\"Test "
                    "Campaign\",\"message\":\"Test message {{name}}\","
                    "\"type\":\"PROMOTIONAL\",\"targetAudience\":{\"type\":"
                    "\"all\"},\"startImmediately\":true}",
                    JSON);
    ck_assert_msg(a.status == 201, "%d %s", a.status, a.body);
    HAS(a, "\"status\":\"RUNNING\"");
    char id[128], target[256];
    snprintf(id, sizeof id, "%s", id_of(&a, CAMPAIGNS));
    snprintf(target, sizeof target, CAMPAIGNS "/%s?organizationId=test-org",
             id);
    a = call("GET", target, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"progress\":{");
    a = call("GET", CAMPAIGNS "?organizationId=test-org", NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, id);
    /* moves: allowed ones answer the campaign, others 409 */
    snprintf(target, sizeof target, CAMPAIGNS "/%s/pause?organizationId=test-org",
             id);
    a = call("POST", target, NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    HAS(a, "\"status\":\"PAUSED\"");
    a = call("POST", target, NULL, NULL);
    ck_assert_int_eq(a.status, 409);
    HAS(a, "state_conflict");
    snprintf(target, sizeof target,
             CAMPAIGNS "/%s/resume?organizationId=test-org", id);
    a = call("POST", target, NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    snprintf(target, sizeof target,
             CAMPAIGNS "/%s/cancel?organizationId=test-org", id);
    a = call("POST", target, NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    HAS(a, "\"status\":\"CANCELLED\"");
    /* unknown campaign, wrong organisation */
    a = call("GET", CAMPAIGNS "/nope?organizationId=test-org", NULL, NULL);
    ck_assert_int_eq(a.status, 404);
    snprintf(target, sizeof target, CAMPAIGNS "/%s?organizationId=other", id);
    a = call("GET", target, NULL, NULL);
    ck_assert_int_eq(a.status, 404);
}
END_TEST

START_TEST(test_campaign_route_errors_name_the_field)
{
    answer a = call("POST", CAMPAIGNS,
                    "{\"organizationId\":\"test-org\",\"name\":\"x\","
                    "\"message\":\"Hi {{name\",\"type\":\"PROMOTIONAL\","
                    "\"targetAudience\":{\"type\":\"all\"}}",
                    JSON);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "\"field\":\"message\"");
    a = call("POST", CAMPAIGNS,
             "{\"organizationId\":\"test-org\",\"name\":\"x\",\"message\":"
             "\"m\",\"type\":\"NOPE\",\"targetAudience\":{\"type\":\"all\"}}",
             JSON);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "\"field\":\"type\"");
    a = call("POST", CAMPAIGNS, "{nope", JSON);
    ck_assert_int_eq(a.status, 400);
    a = call("POST", CAMPAIGNS, "{}", "text/plain");
    ck_assert_int_eq(a.status, 415);
    a = call("GET", CAMPAIGNS "?organizationId=test-org&status=NOPE", NULL,
             NULL);
    ck_assert_int_eq(a.status, 400);
    a = call_as("wrong", "GET", CAMPAIGNS, NULL, NULL, NULL);
    ck_assert_int_ge(a.status, 401);
    ck_assert_int_le(a.status, 403);
}
END_TEST

START_TEST(test_reminder_routes_take_the_replaced_systems_body)
{
    answer a = call("POST", REMINDERS,
                    "{\"organizationId\":\"test-org\",\"customerId\":"
                    "\"cust-123\",\"customerPhone\":\"+1234567890\",\"type\":"
                    "\"PAYMENT_DUE\",\"message\":\"Test reminder\","
                    "\"scheduledFor\":\"2099-01-15T10:00:00Z\"}",
                    JSON);
    ck_assert_msg(a.status == 201, "%d %s", a.status, a.body);
    HAS(a, "\"status\":\"SCHEDULED\"");
    char id[128], target[256];
    snprintf(id, sizeof id, "%s", id_of(&a, REMINDERS));
    snprintf(target, sizeof target, REMINDERS "/%s?organizationId=test-org",
             id);
    a = call("GET", target, NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    HAS(a, "\"type\":\"PAYMENT_DUE\"");
    a = call("GET",
             REMINDERS "?organizationId=test-org&customerPhone=%2B1234567890",
             NULL, NULL);
    ck_assert_msg(a.status == 200, "%d %s", a.status, a.body);
    HAS(a, id);
    a = call("GET", REMINDERS "?organizationId=test-org&status=CANCELLED",
             NULL, NULL);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_null(strstr(a.body, id));
    a = call("DELETE", target, NULL, NULL);
    ck_assert_msg(a.status == 204, "%d %s", a.status, a.body);
    a = call("GET", target, NULL, NULL);
    HAS(a, "\"status\":\"CANCELLED\"");
    a = call("DELETE", target, NULL, NULL);
    ck_assert_int_eq(a.status, 409);
    a = call("GET", REMINDERS "/nope?organizationId=test-org", NULL, NULL);
    ck_assert_int_eq(a.status, 404);
    a = call("POST", REMINDERS,
             "{\"organizationId\":\"test-org\",\"customerPhone\":\"+1234567890\","
             "\"type\":\"PAYMENT_DUE\",\"message\":\"m\",\"scheduledFor\":"
             "\"tomorrow\"}",
             JSON);
    ck_assert_int_eq(a.status, 400);
    HAS(a, "\"field\":\"scheduledFor\"");
}
END_TEST

/* ---- orders --------------------------------------------------------- */

#define ORDERS "/whatsapp-v2/orders/acme"

static void stocked(const char *sku, int64_t stock)
{
    wabot_product *p = wabot_product_new(E.ctx);
    ck_assert_int_eq(wabot_product_set_sku(p, sku), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_name(p, sku), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_price(p, 150, "USD"), WABOT_OK);
    ck_assert_int_eq(wabot_product_set_stock(p, stock), WABOT_OK);
    ck_assert_int_eq(wabot_catalog_create(E.ctx, "acme", p, NULL), WABOT_OK);
    wabot_product_free(p);
}

static char *placed(const char *sku, int qty)
{
    char lines[96], *id = NULL;
    snprintf(lines, sizeof lines, "[{\"sku\":\"%s\",\"quantity\":%d}]", sku,
             qty);
    ck_assert_int_eq(wabot_order_create(E.ctx, "acme", "+15550100", lines,
                                        NULL, &id),
                     WABOT_OK);
    return id;
}

START_TEST(test_order_routes_list_get_and_move_orders)
{
    stocked("coke", 3);
    char *a = placed("coke", 2), *b = placed("coke", 2);
    char target[256];
    answer r = call("GET", ORDERS, NULL, NULL);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    HAS(r, a);
    HAS(r, b);
    snprintf(target, sizeof target, ORDERS "/%s", a);
    r = call("GET", target, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    HAS(r, "\"pending\"");
    /* confirm takes the stock: the second order no longer fits */
    snprintf(target, sizeof target, ORDERS "/%s/status", a);
    r = call("POST", target, "{\"status\":\"CONFIRMED\"}", JSON);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    HAS(r, "\"confirmed\"");
    snprintf(target, sizeof target, ORDERS "/%s/status", b);
    r = call("POST", target, "{\"status\":\"confirmed\"}", JSON);
    ck_assert_msg(r.status == 409, "%d %s", r.status, r.body);
    HAS(r, "out_of_stock");
    /* a change the status does not allow */
    snprintf(target, sizeof target, ORDERS "/%s/status", a);
    r = call("POST", target, "{\"status\":\"pending\"}", JSON);
    ck_assert_int_eq(r.status, 409);
    HAS(r, "state_conflict");
    r = call("POST", target, "{\"status\":\"shipped\"}", JSON);
    ck_assert_int_eq(r.status, 400);
    HAS(r, "\"field\":\"status\"");
    r = call("GET", ORDERS "?status=confirmed", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    HAS(r, a);
    ck_assert_ptr_null(strstr(r.body, b));
    r = call("GET", ORDERS "?status=lost", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    r = call("GET", ORDERS "/ORD-999999", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    wabot_ctx_mem_free(E.ctx, a);
    wabot_ctx_mem_free(E.ctx, b);
}
END_TEST

Suite *admin_routes_suite(void)
{
    Suite *s = suite_create("admin_routes");
    TCase *tc = tcase_create("routes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_customer_upsert_creates_then_updates);
    tcase_add_test(tc, test_customer_errors_name_the_field);
    tcase_add_test(tc, test_customer_list_pages_reach_every_customer);
    tcase_add_test(tc, test_customer_import_is_all_or_nothing_unless_partial);
    tcase_add_test(tc, test_customer_opt_out);
    tcase_add_test(tc, test_invoice_get_list_pay_void_and_pdf);
    tcase_add_test(tc, test_jobs_counts_per_queue);
    tcase_add_test(tc, test_failed_jobs_are_listed_with_their_error_and_retried);
    tcase_add_test(tc, test_idempotency_key_replays_the_first_answer);
    tcase_add_test(tc, test_idempotency_key_with_another_body_is_422);
    tcase_add_test(tc, test_idempotency_key_expires_after_the_ttl);
    tcase_add_test(tc, test_idempotency_errors_are_not_kept_and_bad_keys_refused);
    tcase_add_test(tc, test_campaign_routes_take_the_replaced_systems_body);
    tcase_add_test(tc, test_campaign_route_errors_name_the_field);
    tcase_add_test(tc, test_reminder_routes_take_the_replaced_systems_body);
    tcase_add_test(tc, test_order_routes_list_get_and_move_orders);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(admin_routes_suite());
}
