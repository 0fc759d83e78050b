/*
 * Migration over real HTTP: wabot-server (echo bot) with a stand-in legacy
 * bot (a libmicrohttpd server in this process) behind WABOT_LEGACY_URL.
 * At 10 % of 1,000 customers about 100 are answered by libwabot and the
 * rest by the legacy bot, each customer always on the same side; the admin
 * route moves the percentage to 50 and back to 0 at runtime, effective on
 * the next message; no message is handled by both systems or by neither.
 */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wabot.h>

#include "http_client.h"
#include "server_proc.h"

static const char *server_path;

#define N_CUSTOMERS 1000
#define LEGACY_ANSWER "<Response><!-- legacy --></Response>"

/* ---- The stand-in legacy bot --------------------------------------- */

typedef struct legacy_bot {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    char **sids; /* MessageSid of every request it received */
    size_t n, cap;
    int bad_signature_header; /* a request arrived without the provider's */
} legacy_bot;

static legacy_bot LB;

typedef struct upload {
    char *data;
    size_t len;
    int started;
} upload;

static void record(legacy_bot *lb, const char *body, const char *sig)
{
    const char *s = strstr(body, "MessageSid=");
    char sid[64] = "";
    if (s != NULL)
        sscanf(s + 11, "%63[^&]", sid);
    pthread_mutex_lock(&lb->mu);
    if (sig == NULL || strcmp(sig, "from-the-provider") != 0)
        lb->bad_signature_header = 1;
    if (lb->n == lb->cap) {
        lb->cap = lb->cap ? lb->cap * 2 : 256;
        lb->sids = realloc(lb->sids, lb->cap * sizeof *lb->sids);
    }
    lb->sids[lb->n++] = strdup(sid);
    pthread_mutex_unlock(&lb->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    upload *u = *con_cls;
    if (u == NULL) {
        *con_cls = calloc(1, sizeof *u);
        return *con_cls != NULL ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        u->data = realloc(u->data, u->len + *size + 1);
        memcpy(u->data + u->len, data, *size);
        u->len += *size;
        u->data[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    record(cls, u->data != NULL ? u->data : "",
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       "X-Twilio-Signature"));
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(LEGACY_ANSWER), (void *)LEGACY_ANSWER, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "text/xml");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    upload *u = *con_cls;
    if (u != NULL)
        free(u->data);
    free(u);
    *con_cls = NULL;
}

static void legacy_start(void)
{
    memset(&LB, 0, sizeof LB);
    pthread_mutex_init(&LB.mu, NULL);
    LB.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, &LB,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                            MHD_OPTION_END);
    ck_assert_ptr_nonnull(LB.d);
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(LB.d, MHD_DAEMON_INFO_BIND_PORT);
    LB.port = i->port;
}

static void legacy_stop(void)
{
    MHD_stop_daemon(LB.d);
    for (size_t i = 0; i < LB.n; i++)
        free(LB.sids[i]);
    free(LB.sids);
    pthread_mutex_destroy(&LB.mu);
}

static int legacy_saw(const char *sid)
{
    int n = 0;
    pthread_mutex_lock(&LB.mu);
    for (size_t i = 0; i < LB.n; i++)
        n += strcmp(LB.sids[i], sid) == 0;
    pthread_mutex_unlock(&LB.mu);
    return n;
}

/* ---- The provider side --------------------------------------------- */

static char *url(const server_proc *p, const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", p->port, path);
    return buf;
}

static void customer(int i, char *buf, size_t n)
{
    snprintf(buf, n, "+1555%07d", i);
}

/* Post one message of customer i; 1 if the legacy bot answered it, 0 if
 * libwabot did. */
static int post(http_client *c, const server_proc *p, int i, const char *sid)
{
    char from[48], who[32];
    customer(i, who, sizeof who);
    snprintf(from, sizeof from, "whatsapp:%s", who);
    char *form = NULL;
    ck_assert_int_eq(http_form_add(&form, "MessageSid", sid), 0);
    ck_assert_int_eq(http_form_add(&form, "From", from), 0);
    ck_assert_int_eq(http_form_add(&form, "To", "whatsapp:+14155238886"), 0);
    ck_assert_int_eq(http_form_add(&form, "Body", sid), 0);
    const char *hdr[] = {"X-Twilio-Signature: from-the-provider", NULL};
    http_result r;
    ck_assert_int_eq(http_request_h(c, "POST", url(p, "/whatsapp/webhook"),
                                    "application/x-www-form-urlencoded", hdr,
                                    form, strlen(form), HTTP_BODY_LENGTH, &r),
                     0);
    free(form);
    ck_assert_int_eq(r.status, 200);
    int legacy = strstr(r.body, "legacy") != NULL;
    http_result_free(&r);
    return legacy;
}

static void set_percent(http_client *c, const server_proc *p, int pct)
{
    char body[64];
    snprintf(body, sizeof body, "{\"percent\":%d}", pct);
    const char *auth[] = {"Authorization: Bearer tok-1", NULL};
    http_result r;
    ck_assert_int_eq(http_request_h(c, "PUT", url(p, "/whatsapp-v2/migration"),
                                    "application/json", auth, body,
                                    strlen(body), HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    http_result_free(&r);
}

START_TEST(test_rollout_10_50_0_is_sticky_and_loses_or_doubles_nothing)
{
    legacy_start();
    char legacy_url[64];
    snprintf(legacy_url, sizeof legacy_url,
             "WABOT_LEGACY_URL=http://127.0.0.1:%d", LB.port);
    const char *env[] = {legacy_url, "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         "WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=echo",
                         "WABOT_MIGRATION_PERCENT=10",
                         "WABOT_ADMIN_TOKEN=tok-1", NULL};
    server_proc p;
    ck_assert_int_eq(sp_start(&p, server_path, env, 10000), 0);
    http_client *c = http_client_new();

    /* Unauthenticated admin calls are refused. */
    http_result r;
    ck_assert_int_eq(http_request(c, "GET", url(&p, "/whatsapp-v2/migration"),
                                  NULL, NULL, 0, HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 401);
    http_result_free(&r);

    static unsigned char side10[N_CUSTOMERS];
    int here = 0;
    char sid[64], who[32];
    for (int i = 0; i < N_CUSTOMERS; i++) {
        snprintf(sid, sizeof sid, "SMa%06d", i);
        side10[i] = (unsigned char)post(c, &p, i, sid);
        customer(i, who, sizeof who);
        /* the side is the documented bucket rule */
        ck_assert_int_eq(side10[i], wabot_migration_bucket(who) >= 10);
        /* handled by exactly one system */
        ck_assert_int_eq(legacy_saw(sid), side10[i]);
        here += !side10[i];
    }
    ck_assert_int_ge(here, 70);
    ck_assert_int_le(here, 130);
    ck_assert(sp_wait_lines(&p, SP_STDOUT, "echo: SMa", (size_t)here, 20000));
    ck_assert_int_eq(sp_count_lines(&p, SP_STDOUT, "echo: SMa"), here);

    /* Sticky: a second message of the first 200 customers goes the same
     * way. */
    for (int i = 0; i < 200; i++) {
        snprintf(sid, sizeof sid, "SMb%06d", i);
        ck_assert_int_eq(post(c, &p, i, sid), side10[i]);
    }

    /* 50 %: takes effect on the next message; nobody moves back. */
    set_percent(c, &p, 50);
    int here50 = 0;
    for (int i = 0; i < N_CUSTOMERS; i++) {
        snprintf(sid, sizeof sid, "SMc%06d", i);
        int legacy = post(c, &p, i, sid);
        if (!side10[i])
            ck_assert_int_eq(legacy, 0);
        customer(i, who, sizeof who);
        ck_assert_int_eq(legacy, wabot_migration_bucket(who) >= 50);
        ck_assert_int_eq(legacy_saw(sid), legacy);
        here50 += !legacy;
    }
    ck_assert_int_ge(here50, 430);
    ck_assert_int_le(here50, 570);

    /* Rollback: 0 % sends everyone to the legacy bot at once. */
    set_percent(c, &p, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(sid, sizeof sid, "SMd%06d", i);
        ck_assert_int_eq(post(c, &p, i, sid), 1);
    }
    ck_assert_int_eq(LB.bad_signature_header, 0);
    ck_assert(sp_wait_lines(&p, SP_STDOUT, "echo: SMc", (size_t)here50,
                            20000));
    ck_assert_int_eq(sp_count_lines(&p, SP_STDOUT, "echo: SMd"), 0);

    http_client_free(c);
    int status;
    ck_assert_int_eq(sp_stop(&p, SIGTERM, 15000, &status), 0);
    sp_free(&p);
    legacy_stop();
}
END_TEST

/* WABOT_ADMIN_TOKEN_FILE: the token from a file (a mounted secret), its
 * trailing newline cut; the variable and the file together are refused. */
START_TEST(test_the_admin_token_may_come_from_a_file)
{
    char path[] = "/tmp/wabot-admin-token-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "file-tok\n", 9), 9);
    close(fd);
    char var[96];
    snprintf(var, sizeof var, "WABOT_ADMIN_TOKEN_FILE=%s", path);
    const char *env[] = {var, "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         "WABOT_LISTEN=127.0.0.1:0", NULL};
    server_proc p;
    ck_assert_int_eq(sp_start(&p, server_path, env, 10000), 0);
    http_client *c = http_client_new();
    const char *auth[] = {"Authorization: Bearer file-tok", NULL};
    http_result r;
    ck_assert_int_eq(http_request_h(c, "GET", url(&p, "/whatsapp-v2/migration"),
                                    NULL, auth, NULL, 0, HTTP_BODY_LENGTH, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    http_result_free(&r);
    http_client_free(c);
    int status;
    ck_assert_int_eq(sp_stop(&p, SIGTERM, 15000, &status), 0);
    sp_free(&p);
    const char *both[] = {var, "WABOT_ADMIN_TOKEN=x",
                          "WABOT_INSECURE_SKIP_SIGNATURES=1",
                          "WABOT_LISTEN=127.0.0.1:0", NULL};
    ck_assert_int_ne(sp_start(&p, server_path, both, 10000), 0);
    sp_free(&p);
    unlink(path);
}
END_TEST

START_TEST(test_an_unreachable_legacy_bot_answers_502)
{
    const char *env[] = {"WABOT_LEGACY_URL=http://127.0.0.1:1",
                         "WABOT_LEGACY_TIMEOUT_MS=2000",
                         "WABOT_INSECURE_SKIP_SIGNATURES=1",
                         "WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=echo",
                         "WABOT_MIGRATION_PERCENT=0", NULL};
    server_proc p;
    ck_assert_int_eq(sp_start(&p, server_path, env, 10000), 0);
    http_client *c = http_client_new();
    char *form = NULL;
    ck_assert_int_eq(http_form_add(&form, "MessageSid", "SMx1"), 0);
    ck_assert_int_eq(http_form_add(&form, "From", "whatsapp:+15550001"), 0);
    ck_assert_int_eq(http_form_add(&form, "Body", "hi"), 0);
    http_result r;
    ck_assert_int_eq(http_request(c, "POST", url(&p, "/whatsapp/webhook"),
                                  "application/x-www-form-urlencoded", form,
                                  strlen(form), HTTP_BODY_LENGTH, &r),
                     0);
    free(form);
    ck_assert_int_eq(r.status, 502);
    ck_assert_ptr_nonnull(strstr(r.body, "legacy_unavailable"));
    http_result_free(&r);
    http_client_free(c);
    int status;
    ck_assert_int_eq(sp_stop(&p, SIGTERM, 15000, &status), 0);
    sp_free(&p);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WABOT-SERVER\n", argv[0]);
        return 2;
    }
    server_path = argv[1];
    Suite *s = suite_create("migration-http");
    TCase *tc = tcase_create("migration-http");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_rollout_10_50_0_is_sticky_and_loses_or_doubles_nothing);
    tcase_add_test(tc, test_an_unreachable_legacy_bot_answers_502);
    tcase_add_test(tc, test_the_admin_token_may_come_from_a_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
