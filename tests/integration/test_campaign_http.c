/* Campaigns and reminders over real HTTP against wabot-server (issues 14
 * and 15): customers imported through the admin API, a campaign POSTed in
 * the replaced system's body runs to COMPLETED and the fake provider on
 * loopback receives one message per reachable customer (an opted-out one
 * none); a reminder created over the admin API a couple of seconds ahead
 * reaches the fake provider when due, not before.
 *
 * Waits are bounded: the fake provider's condition variable, or a poll of
 * the progress route with a deadline. Nothing sleeps a fixed time.
 *
 *   test_campaign_http <path of wabot-server>   (or $WABOT_SERVER)
 * Without a server: skipped (77), a failure under CI=true. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "fake_provider.h"
#include "http_client.h"
#include "server_proc.h"

#define BUSINESS "+14155238886"
#define TOKEN "camp-token"
#define PREFIX "/whatsapp-v2"
#define ORG "test-org"
#define N_CUSTOMERS 5
#define WAIT_MS 30000

static const char *server_path;

typedef struct fixture {
    fp_server *fp;
    server_proc srv;
    http_client *http;
} fixture;

static void fx_start(fixture *f)
{
    f->fp = fp_start(NULL);
    ck_assert_ptr_nonnull(f->fp);
    char base_var[200];
    snprintf(base_var, sizeof base_var, "TWILIO_API_BASE=%s",
             fp_base_url(f->fp));
    const char *env[] = {"WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=echo",
                         "WABOT_PROVIDER=twilio",
                         "TWILIO_ACCOUNT_SID=" FP_DEFAULT_TWILIO_SID,
                         "TWILIO_AUTH_TOKEN=" FP_DEFAULT_TWILIO_TOKEN,
                         "TWILIO_WHATSAPP_FROM=" BUSINESS, base_var,
                         "WABOT_ADMIN_TOKEN=" TOKEN,
                         /* the customers never wrote: no 24-hour window */
                         "WABOT_WINDOW_MS=0", NULL};
    ck_assert_msg(sp_start(&f->srv, server_path, env, 10000) == 0,
                  "wabot-server (%s) did not start", server_path);
    f->http = http_client_new();
    ck_assert_ptr_nonnull(f->http);
}

static void fx_stop(fixture *f)
{
    http_client_free(f->http);
    int status = -1;
    ck_assert_int_eq(sp_stop(&f->srv, SIGTERM, 5000, &status), 0);
    sp_free(&f->srv);
    fp_stop(f->fp);
}

/* An admin call with the token; the answer in *r (free it). */
static void admin(fixture *f, const char *method, const char *path,
                  const char *body, http_result *r)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d" PREFIX "%s", f->srv.port,
             path);
    const char *hdr[] = {"Authorization: Bearer " TOKEN, NULL};
    int rc = http_request_h(f->http, method, url,
                            body ? "application/json" : NULL, hdr, body,
                            body ? strlen(body) : 0, HTTP_BODY_LENGTH, r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, r->error);
}

/* The string member `name` of the JSON object in body into out. */
static const char *member(const char *body, const char *name, char *out,
                          size_t n)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":\"", name);
    const char *p = strstr(body, key);
    ck_assert_msg(p != NULL, "no %s in %s", name, body);
    p += strlen(key);
    size_t len = strcspn(p, "\"");
    ck_assert_uint_lt(len, n);
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void phone(int i, char *buf, size_t n)
{
    snprintf(buf, n, "+1555010%04d", i);
}

/* ------------------------------------------------------------------ */

START_TEST(test_a_posted_campaign_reaches_each_imported_customer_once)
{
    fixture f;
    fx_start(&f);
    /* N customers, the last one opted out. */
    char rows[2048] = "[", p[32];
    for (int i = 0; i < N_CUSTOMERS; i++) {
        phone(i, p, sizeof p);
        size_t at = strlen(rows);
        snprintf(rows + at, sizeof rows - at,
                 "%s{\"phone\":\"%s\",\"name\":\"C%d\"%s}", i ? "," : "", p,
                 i, i == N_CUSTOMERS - 1 ? ",\"opted_out\":true" : "");
    }
    strcat(rows, "]");
    http_result r;
    admin(&f, "POST", "/customers/" ORG "/import", rows, &r);
    ck_assert_msg(r.status == 200 || r.status == 201, "import %ld: %s",
                  r.status, r.body);
    ck_assert_msg(strstr(r.body, "\"failed\":0") != NULL, "%s", r.body);
    http_result_free(&r);

    /* The replaced system's body, unchanged. */
    admin(&f, "POST", "/campaigns",
          "{\"organizationId\":\"" ORG "\",\"name\":\"Test Campaign\","
          "\"message\":\"Test message {{name}}\",\"type\":\"PROMOTIONAL\","
          "\"targetAudience\":{\"type\":\"all\"},\"startImmediately\":true}",
          &r);
    ck_assert_msg(r.status == 201, "create %ld: %s", r.status, r.body);
    char id[64];
    member(r.body, "id", id, sizeof id);
    http_result_free(&r);

    const size_t reachable = N_CUSTOMERS - 1;
    ck_assert_msg(fp_wait_requests(f.fp, reachable, WAIT_MS),
                  "the fake provider got %zu of %zu messages",
                  fp_request_count(f.fp), reachable);
    char path[128], status[32] = "";
    snprintf(path, sizeof path, "/campaigns/%s?organizationId=" ORG, id);
    for (int64_t end = mono_ms() + WAIT_MS; mono_ms() < end;) {
        admin(&f, "GET", path, NULL, &r);
        ck_assert_msg(r.status == 200, "progress %ld: %s", r.status, r.body);
        member(r.body, "status", status, sizeof status);
        int done = strcmp(status, "COMPLETED") == 0 &&
                   strstr(r.body, "\"sent\":4") != NULL;
        if (done) {
            ck_assert_msg(strstr(r.body, "\"percent\":100") != NULL, "%s",
                          r.body);
            ck_assert_msg(strstr(r.body, "\"opted_out\":1") != NULL, "%s",
                          r.body);
        }
        http_result_free(&r);
        if (done)
            break;
        pause_ms(20);
    }
    ck_assert_str_eq(status, "COMPLETED");
    for (int i = 0; i < N_CUSTOMERS; i++) {
        phone(i, p, sizeof p);
        ck_assert_uint_eq(fp_count_to(f.fp, p), i < N_CUSTOMERS - 1 ? 1 : 0);
    }
    ck_assert_uint_eq(fp_count_sent(f.fp), reachable);
    fp_request q;
    ck_assert_int_eq(fp_request_get(f.fp, 0, &q), 0);
    ck_assert_ptr_nonnull(strstr(fp_request_form(&q, "Body", 0),
                                 "Test message C"));
    fp_request_free(&q);
    fx_stop(&f);
}
END_TEST

START_TEST(test_a_reminder_posted_two_seconds_ahead_is_sent_when_due)
{
    fixture f;
    fx_start(&f);
    int64_t posted = mono_ms();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t due = now.tv_sec + 2;
    struct tm tm;
    gmtime_r(&due, &tm);
    char when[40], body[512];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(body, sizeof body,
             "{\"organizationId\":\"" ORG "\",\"customerId\":\"cust-123\","
             "\"customerPhone\":\"+15550199\",\"type\":\"APPOINTMENT\","
             "\"message\":\"See you soon\",\"scheduledFor\":\"%s.%03ldZ\"}",
             when, now.tv_nsec / 1000000);
    http_result r;
    admin(&f, "POST", "/reminders", body, &r);
    ck_assert_msg(r.status == 201, "create %ld: %s", r.status, r.body);
    char id[80];
    member(r.body, "id", id, sizeof id);
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"SCHEDULED\""));
    http_result_free(&r);

    ck_assert_msg(fp_wait_requests(f.fp, 1, WAIT_MS),
                  "the reminder did not reach the fake provider");
    ck_assert_uint_eq(fp_count_to(f.fp, "+15550199"), 1);
    fp_request q;
    ck_assert_int_eq(fp_request_get(f.fp, 0, &q), 0);
    ck_assert_str_eq(fp_request_form(&q, "Body", 0), "See you soon");
    /* Not before it was due (2 s after the POST, less the rounding of
     * the clocks to ms). */
    ck_assert_msg(q.at_ms - posted >= 1900, "sent %lld ms after the POST",
                  (long long)(q.at_ms - posted));
    fp_request_free(&q);

    char path[160];
    snprintf(path, sizeof path, "/reminders/%s?organizationId=" ORG, id);
    char status[32] = "";
    for (int64_t end = mono_ms() + WAIT_MS; mono_ms() < end;) {
        admin(&f, "GET", path, NULL, &r);
        ck_assert_msg(r.status == 200, "get %ld: %s", r.status, r.body);
        member(r.body, "status", status, sizeof status);
        http_result_free(&r);
        if (strcmp(status, "SENT") == 0)
            break;
        pause_ms(20);
    }
    ck_assert_str_eq(status, "SENT");
    fx_stop(&f);
}
END_TEST

int main(int argc, char **argv)
{
    server_path = argc > 1 ? argv[1] : getenv("WABOT_SERVER");
    if (server_path == NULL || access(server_path, X_OK) != 0) {
        const char *ci = getenv("CI");
        fprintf(stderr, "no wabot-server (%s)\n",
                server_path ? server_path : "pass its path or WABOT_SERVER");
        return ci != NULL && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *su = suite_create("campaign-http");
    TCase *tc = tcase_create("admin");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc,
                   test_a_posted_campaign_reaches_each_imported_customer_once);
    tcase_add_test(tc, test_a_reminder_posted_two_seconds_ahead_is_sent_when_due);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
