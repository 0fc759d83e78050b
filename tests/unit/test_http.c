/* The HTTP client: the curl client against a libmicrohttpd server on
 * loopback (real time, short timeouts), driven by the context's loop, with
 * its transfers on the loop thread (http_threads 0) and on one and two
 * sender threads (the same tests, a test case each); the custom-client
 * path; the handle, request and call contract. */
#include <arpa/inet.h>
#include <dirent.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "runtime.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* The in-test server                                                   */

typedef struct srv {
    struct MHD_Daemon *d;
    int port;
    int connections; /* atomic: connections accepted */
    int stopping;    /* atomic */
} srv;

typedef struct upload {
    char *data;
    size_t len, cap;
} upload;

static srv server;

static void upload_add(upload *u, const char *s, size_t n)
{
    if (u->len + n + 1 > u->cap) {
        u->cap = (u->len + n + 1) * 2;
        u->data = realloc(u->data, u->cap);
        ck_assert_ptr_nonnull(u->data);
    }
    memcpy(u->data + u->len, s, n);
    u->len += n;
    u->data[u->len] = '\0';
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             const char *body, size_t len,
                             const char *const *headers)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *req_header(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? v : "";
}

static enum MHD_Result answer_echo(struct MHD_Connection *c,
                                   const char *method, upload *u)
{
    const char *h[] = {"X-Echo-Method", method,
                       "X-Echo-Test", req_header(c, "X-Test"),
                       "X-Echo-Empty", /* sent with an empty value? */
                       MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   "X-Empty")
                           ? "present"
                           : "absent",
                       "X-Echo-Content-Type", req_header(c, "Content-Type"),
                       NULL};
    return reply(c, 200, u->data ? u->data : "", u->len, h);
}

static enum MHD_Result answer_slow(struct MHD_Connection *c)
{
    for (int i = 0; i < 200; i++) { /* 2 s, unless the server stops */
        if (__atomic_load_n(&server.stopping, __ATOMIC_SEQ_CST))
            return MHD_NO;
        usleep(10 * 1000);
    }
    return reply(c, 200, "slow", 4, NULL);
}

static enum MHD_Result answer_big(struct MHD_Connection *c)
{
    size_t n = WB_HTTP_MAX_RESPONSE_BODY + 1024;
    char *body = malloc(n);
    memset(body, 'x', n);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    if (!*con_cls) { /* headers only: the body (if any) comes next */
        if (strcmp(url, "/close") == 0)
            return MHD_NO; /* MHD drops the connection, no answer */
        *con_cls = calloc(1, sizeof(upload));
        return MHD_YES;
    }
    upload *u = *con_cls;
    if (*size) {
        upload_add(u, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/ok") == 0) {
        const char *h[] = {"Content-Type", "application/json",
                           "X-Custom", "yes", NULL};
        return reply(c, 200, "{\"ok\":true}", 11, h);
    }
    if (strcmp(url, "/echo") == 0)
        return answer_echo(c, method, u);
    if (strcmp(url, "/query") == 0) { /* answers its ?n= */
        const char *n =
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
        return reply(c, 200, n ? n : "", n ? strlen(n) : 0, NULL);
    }
    if (strcmp(url, "/status/503") == 0) {
        const char *h[] = {"Retry-After", "7", NULL};
        return reply(c, 503, "busy", 4, h);
    }
    if (strcmp(url, "/slow") == 0)
        return answer_slow(c);
    if (strcmp(url, "/delay") == 0) { /* a 50 ms API */
        usleep(50 * 1000);
        return reply(c, 200, "late", 4, NULL);
    }
    if (strcmp(url, "/big") == 0)
        return answer_big(c);
    return reply(c, 404, "", 0, NULL);
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    upload *u = *con_cls;
    if (u)
        free(u->data);
    free(u);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        __atomic_add_fetch(&server.connections, 1, __ATOMIC_SEQ_CST);
}

static void srv_start(void)
{
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(&server, 0, sizeof server);
    server.d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(server.d);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server.d, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_ptr_nonnull(info);
    server.port = info->port;
}

static void srv_stop(void)
{
    __atomic_store_n(&server.stopping, 1, __ATOMIC_SEQ_CST);
    if (server.d)
        MHD_stop_daemon(server.d);
    server.d = NULL;
}

static char *url_of(const char *path)
{
    static char buf[8][128];
    static int next;
    char *u = buf[next++ % 8];
    snprintf(u, sizeof buf[0], "http://127.0.0.1:%d%s", server.port, path);
    return u;
}

static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(s, (struct sockaddr *)&sa, &len);
    close(s); /* nobody listens there now */
    return ntohs(sa.sin_port);
}

/* ------------------------------------------------------------------ */
/* Client side                                                          */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What one request ended with (copied out of the done callback). */
typedef struct result {
    int calls;
    int status, code;
    char *body;
    size_t len;
    char *error;
    const char *want[4]; /* looked up with wb_http_header_get */
    char *got[4];
    int64_t at_ms;       /* monotonic time of completion */
} result;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_done(void *ud, const wb_http_response *r)
{
    result *res = ud;
    res->calls++;
    res->status = r->status;
    res->code = r->code;
    res->len = r->len;
    ck_assert_ptr_nonnull(r->body);
    ck_assert_int_eq(r->body[r->len], '\0');
    free(res->body);
    res->body = malloc(r->len + 1);
    memcpy(res->body, r->body, r->len + 1);
    free(res->error);
    res->error = dup_or_null(r->error);
    for (int i = 0; i < 4 && res->want[i]; i++)
        res->got[i] = dup_or_null(wb_http_header_get(r, res->want[i]));
    res->at_ms = mono_ms();
}

static void result_free(result *res)
{
    free(res->body);
    free(res->error);
    for (int i = 0; i < 4; i++)
        free(res->got[i]);
}

static wabot_ctx *ctx;
/* The curl test cases' http_threads: 0 (curl on the loop thread), 1, 2. */
static int http_threads;

/* Options for a context of the current test case. */
static wabot_options *opts_new(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_HTTP_THREADS,
                                           http_threads),
                     WABOT_OK);
    return o;
}

static void ctx_setup(void)
{
    srv_start();
    wabot_options *o = opts_new();
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
}

static void setup_threads0(void)
{
    http_threads = 0;
    ctx_setup();
}

static void setup_threads1(void)
{
    http_threads = 1;
    ctx_setup();
}

static void setup_threads2(void)
{
    http_threads = 2;
    ctx_setup();
}

static void ctx_teardown(void)
{
    wabot_ctx_free(ctx);
    ctx = NULL;
    srv_stop();
}

/* Drive the loop until *count reaches target or max_ms of real time. */
static void run_until(wabot_ctx *c, const int *count, int target,
                      int64_t max_ms)
{
    int64_t end = mono_ms() + max_ms;
    while (*count < target && mono_ms() < end)
        ck_assert_int_ge(wabot_ctx_poll(c, 50), 0);
}

static int get(wabot_ctx *c, const char *path, int64_t timeout_ms,
               result *res)
{
    return wb_http_send(c, "GET", url_of(path), NULL, 0, NULL, 0, timeout_ms,
                        on_done, res);
}

START_TEST(test_get_returns_status_body_and_headers_case_insensitively)
{
    result res = {.want = {"x-custom", "CONTENT-TYPE", "X-Missing"}};
    ck_assert_int_eq(get(ctx, "/ok", 5000, &res), WABOT_OK);
    ck_assert_int_eq(res.calls, 0); /* curl never completes inline */
    run_until(ctx, &res.calls, 1, 5000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_OK);
    ck_assert_int_eq(res.code, 200);
    ck_assert_str_eq(res.body, "{\"ok\":true}");
    ck_assert_uint_eq(res.len, 11);
    ck_assert_str_eq(res.error, "");
    ck_assert_str_eq(res.got[0], "yes");
    ck_assert_str_eq(res.got[1], "application/json");
    ck_assert_ptr_null(res.got[2]);
    ck_assert_uint_eq(wb_http_in_flight(ctx), 0);
    result_free(&res);
}
END_TEST

static void post_echo(size_t len)
{
    char *body = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    body[len] = '\0';
    wabot_http_header h[] = {{"X-Test", "hello: world"},
                             {"X-Empty", ""},
                             {"Content-Type", "application/json"}};
    result res = {.want = {"X-Echo-Method", "X-Echo-Test",
                           "X-Echo-Content-Type", "X-Echo-Empty"}};
    ck_assert_int_eq(wb_http_send(ctx, "POST", url_of("/echo"), h, 3, body,
                                  len, 10000, on_done, &res),
                     WABOT_OK);
    memset(body, 0, len); /* the request holds its own copy */
    run_until(ctx, &res.calls, 1, 10000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_OK);
    ck_assert_int_eq(res.code, 200);
    ck_assert_str_eq(res.got[0], "POST");
    ck_assert_str_eq(res.got[1], "hello: world");
    ck_assert_str_eq(res.got[2], "application/json");
    ck_assert_str_eq(res.got[3], "present");
    ck_assert_uint_eq(res.len, len);
    for (size_t i = 0; i < len; i++)
        if (res.body[i] != (char)('a' + i % 26))
            ck_abort_msg("body differs at byte %zu", i);
    free(body);
    result_free(&res);
}

START_TEST(test_post_body_and_headers_arrive_intact)
{
    post_echo(13);
}
END_TEST

START_TEST(test_post_1mib_body_arrives_intact)
{
    post_echo(1024 * 1024);
}
END_TEST

START_TEST(test_other_methods_and_empty_bodies_are_sent_as_asked)
{
    result put = {.want = {"X-Echo-Method"}};
    result del = {.want = {"X-Echo-Method"}};
    ck_assert_int_eq(wb_http_send(ctx, "PUT", url_of("/echo"), NULL, 0, "x",
                                  1, 5000, on_done, &put),
                     WABOT_OK);
    ck_assert_int_eq(wb_http_send(ctx, "DELETE", url_of("/echo"), NULL, 0,
                                  NULL, 0, 5000, on_done, &del),
                     WABOT_OK);
    run_until(ctx, &del.calls, 1, 5000);
    run_until(ctx, &put.calls, 1, 5000);
    ck_assert_str_eq(put.got[0], "PUT");
    ck_assert_str_eq(put.body, "x");
    ck_assert_str_eq(del.got[0], "DELETE");
    ck_assert_uint_eq(del.len, 0);
    result_free(&put);
    result_free(&del);
}
END_TEST

/* One request at a time, so that each reuses the handle of the one
 * before (set up anew only where it differs): each still goes out with
 * its own method, headers and body. */
static void echo_one(const char *method, const char *test_header,
                     const char *content_type, const char *body,
                     const char *want_content_type)
{
    wabot_http_header h[2];
    size_t n = 0;
    if (test_header)
        h[n++] = (wabot_http_header){"X-Test", test_header};
    if (content_type)
        h[n++] = (wabot_http_header){"Content-Type", content_type};
    result res = {.want = {"X-Echo-Method", "X-Echo-Test",
                           "X-Echo-Content-Type"}};
    ck_assert_int_eq(wb_http_send(ctx, method, url_of("/echo"), h, n, body,
                                  body ? strlen(body) : 0, 5000, on_done,
                                  &res),
                     WABOT_OK);
    run_until(ctx, &res.calls, 1, 5000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.code, 200);
    ck_assert_str_eq(res.got[0], method);
    /* the echo leaves out a header whose value is empty */
    ck_assert_str_eq(res.got[1] ? res.got[1] : "",
                     test_header ? test_header : "");
    ck_assert_str_eq(res.got[2] ? res.got[2] : "", want_content_type);
    ck_assert_str_eq(res.body, body ? body : "");
    result_free(&res);
}

START_TEST(test_requests_one_after_another_each_go_out_as_asked)
{
    const char *form = "application/x-www-form-urlencoded";
    echo_one("POST", "one", form, "a=1", form);
    echo_one("POST", "two", form, "a=2", form);
    echo_one("POST", "two", "application/json", "{}", "application/json");
    echo_one("POST", NULL, NULL, "b=3", form); /* curl's own default */
    echo_one("GET", NULL, NULL, NULL, "");
    echo_one("POST", "three", form, "a=4", form);
    echo_one("PUT", "four", "text/plain", "x", "text/plain");
    echo_one("POST", "five", form, "a=5", form);
}
END_TEST

START_TEST(test_503_with_retry_after_is_a_response_not_an_error)
{
    result res = {.want = {"retry-after"}};
    ck_assert_int_eq(get(ctx, "/status/503", 5000, &res), WABOT_OK);
    run_until(ctx, &res.calls, 1, 5000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_OK);
    ck_assert_int_eq(res.code, 503);
    ck_assert_str_eq(res.got[0], "7");
    ck_assert_str_eq(res.body, "busy");
    result_free(&res);
}
END_TEST

START_TEST(test_timeout_fails_with_timeout_within_roughly_the_timeout)
{
    result res = {0};
    int64_t t0 = mono_ms();
    ck_assert_int_eq(get(ctx, "/slow", 300, &res), WABOT_OK);
    run_until(ctx, &res.calls, 1, 5000);
    int64_t took = res.at_ms - t0;
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TIMEOUT);
    ck_assert_int_eq(res.code, 0);
    ck_assert(strlen(res.error) > 0);
    /* TIMEOUT, not /slow's answer (at 2000 ms), shows the timer fired
     * first; no upper bound on `took`: a loaded CI machine under valgrind
     * may take long to get there, and that is not this test's failure. */
    ck_assert_int_ge(took, 290);
    fprintf(stderr, "timeout 300 ms fired after %lld ms: %s\n",
            (long long)took, res.error);
    result_free(&res);
}
END_TEST

START_TEST(test_connection_refused_fails_with_transport_error)
{
    result res = {0};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", closed_port());
    ck_assert_int_eq(wb_http_send(ctx, "GET", url, NULL, 0, NULL, 0, 5000,
                                  on_done, &res),
                     WABOT_OK);
    run_until(ctx, &res.calls, 1, 5000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TRANSPORT);
    ck_assert(strlen(res.error) > 0);
    fprintf(stderr, "refused: %s\n", res.error);
    result_free(&res);
}
END_TEST

/* curl is told there is no proxy only when the environment names none as
 * a handle is set up: a proxy named there is used (here one that refuses
 * connections, so the request fails), and without it the same request
 * goes straight to the server. */
START_TEST(test_a_proxy_named_in_the_environment_is_used)
{
    static const char *const vars[] = {"no_proxy", "NO_PROXY", "all_proxy",
                                       "ALL_PROXY", "http_proxy"};
    char *saved[5];
    for (int i = 0; i < 5; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", closed_port());
    setenv("http_proxy", proxy, 1);
    wabot_options *o = opts_new();
    wabot_ctx *c;
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    result res = {0};
    ck_assert_int_eq(get(c, "/ok", 5000, &res), WABOT_OK);
    run_until(c, &res.calls, 1, 5000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TRANSPORT);
    result_free(&res);
    wabot_ctx_free(c);
    unsetenv("http_proxy");
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    result ok = {0};
    ck_assert_int_eq(get(c, "/ok", 5000, &ok), WABOT_OK);
    run_until(c, &ok.calls, 1, 5000);
    ck_assert_int_eq(ok.status, WABOT_OK);
    ck_assert_int_eq(ok.code, 200);
    result_free(&ok);
    wabot_ctx_free(c);
    wabot_options_free(o);
    for (int i = 0; i < 5; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        free(saved[i]);
    }
}
END_TEST

/* The server read the request and closed without an answer: it may have
 * acted on it, so the outcome is unknown -- reported as a timeout (sends
 * are reconciled), unlike a refused connection (nothing was sent). */
START_TEST(test_dropped_connection_after_the_request_is_an_unknown_outcome)
{
    result res = {0};
    ck_assert_int_eq(get(ctx, "/close", 5000, &res), WABOT_OK);
    run_until(ctx, &res.calls, 1, 5000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(res.error, "outcome unknown"));
    fprintf(stderr, "dropped: %s\n", res.error);
    result_free(&res);
}
END_TEST

START_TEST(test_response_body_over_4mib_fails)
{
    result res = {0};
    ck_assert_int_eq(get(ctx, "/big", 10000, &res), WABOT_OK);
    run_until(ctx, &res.calls, 1, 10000);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TRANSPORT);
    ck_assert_ptr_nonnull(strstr(res.error, "4 MiB"));
    result_free(&res);
}
END_TEST

#define MANY 200

typedef struct many {
    int calls[MANY];
    int finished;
    int ok;
} many;

typedef struct many_slot {
    many *m;
    int i;
} many_slot;

static void on_many(void *ud, const wb_http_response *r)
{
    many_slot *s = ud;
    s->m->calls[s->i]++;
    s->m->finished++;
    s->m->ok += r->status == WABOT_OK && r->code == 200;
}

START_TEST(test_200_concurrent_requests_complete_once_over_few_connections)
{
    many m = {0};
    many_slot slots[MANY];
    int64_t t0 = mono_ms();
    for (int i = 0; i < MANY; i++) {
        slots[i] = (many_slot){&m, i};
        ck_assert_int_eq(wb_http_send(ctx, "GET", url_of("/ok"), NULL, 0,
                                      NULL, 0, 20000, on_many, &slots[i]),
                         WABOT_OK);
    }
    ck_assert_uint_eq(wb_http_in_flight(ctx), MANY);
    run_until(ctx, &m.finished, MANY, 30000);
    int64_t took = mono_ms() - t0;
    ck_assert_int_eq(m.finished, MANY);
    ck_assert_int_eq(m.ok, MANY);
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(m.calls[i], 1);
    int conns = __atomic_load_n(&server.connections, __ATOMIC_SEQ_CST);
    fprintf(stderr, "%d requests in %lld ms (%.0f req/s) over %d connections\n",
            MANY, (long long)took, took ? MANY * 1000.0 / (double)took : 0.0,
            conns);
    ck_assert_int_le(conns, WB_HTTP_MAX_HOST_CONNECTIONS);
    /* Another round reuses the cached connections. */
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 20; i++)
        wb_http_send(ctx, "GET", url_of("/ok"), NULL, 0, NULL, 0, 20000,
                     on_many, &slots[i]);
    run_until(ctx, &m.finished, 20, 10000);
    ck_assert_int_eq(m.ok, 20);
    /* 220 requests, still within the per-host cap: the cached connections
     * were reused (when the first round needed only a few, 20 requests at
     * once may add some, never past the cap). */
    ck_assert_int_le(__atomic_load_n(&server.connections, __ATOMIC_SEQ_CST),
                     WB_HTTP_MAX_HOST_CONNECTIONS);
}
END_TEST

/* The client keeps a few parsed URLs for reuse: more distinct URLs in
 * flight at once than it keeps, and the same ones again, each request
 * still goes to its own URL. */
START_TEST(test_each_request_reaches_its_own_url_past_the_parsed_url_cache)
{
    enum { N = 40 };
    result res[N];
    memset(res, 0, sizeof res);
    int done = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            char path[32];
            /* Round 0: 20 URLs twice each; round 1: 40 distinct. */
            snprintf(path, sizeof path, "/query?n=%d",
                     round == 0 ? i % 20 : 100 + i);
            result_free(&res[i]);
            memset(&res[i], 0, sizeof res[i]);
            ck_assert_int_eq(get(ctx, path, 20000, &res[i]), WABOT_OK);
        }
        ck_assert_uint_eq(wb_http_in_flight(ctx), N);
        int64_t end = mono_ms() + 30000;
        for (done = 0; done < N && mono_ms() < end;) {
            ck_assert_int_ge(wabot_ctx_poll(ctx, 50), 0);
            done = 0;
            for (int i = 0; i < N; i++)
                done += res[i].calls;
        }
        ck_assert_int_eq(done, N);
        for (int i = 0; i < N; i++) {
            char want[16];
            snprintf(want, sizeof want, "%d", round == 0 ? i % 20 : 100 + i);
            ck_assert_int_eq(res[i].calls, 1);
            ck_assert_int_eq(res[i].code, 200);
            ck_assert_str_eq(res[i].body, want);
        }
    }
    for (int i = 0; i < N; i++)
        result_free(&res[i]);
}
END_TEST

START_TEST(test_slow_http1_host_gets_parallel_connections_up_to_the_cap)
{
    many m = {0};
    many_slot slots[64];
    int64_t t0 = mono_ms();
    for (int i = 0; i < 64; i++) {
        slots[i] = (many_slot){&m, i};
        ck_assert_int_eq(wb_http_send(ctx, "GET", url_of("/delay"), NULL, 0,
                                      NULL, 0, 20000, on_many, &slots[i]),
                         WABOT_OK);
    }
    run_until(ctx, &m.finished, 64, 30000);
    int64_t took = mono_ms() - t0;
    int conns = __atomic_load_n(&server.connections, __ATOMIC_SEQ_CST);
    fprintf(stderr, "64 requests to a 50 ms endpoint in %lld ms over %d "
            "connections\n", (long long)took, conns);
    ck_assert_int_eq(m.ok, 64);
    ck_assert_int_le(conns, WB_HTTP_MAX_HOST_CONNECTIONS);
    /* Parallel connections, not one after the other: counted, not timed
     * (a timed check fails on a loaded machine or under valgrind). */
    ck_assert_int_ge(conns, 2);
}
END_TEST

/* GETs of path through c counted in m, one per slot from..to-1. */
static void send_all(wabot_ctx *c, const char *path, many *m,
                     many_slot *slots, int from, int to)
{
    for (int i = from; i < to; i++) {
        slots[i] = (many_slot){m, i};
        ck_assert_int_eq(wb_http_send(c, "GET", url_of(path), NULL, 0, NULL,
                                      0, 20000, on_many, &slots[i]),
                         WABOT_OK);
    }
}

/* n GETs of path at once through c, then the loop until all are done. */
static void send_all_and_wait(wabot_ctx *c, const char *path, many *m,
                              many_slot *slots, int n)
{
    send_all(c, path, m, slots, 0, n);
    run_until(c, &m->finished, n, 30000);
}

/* A context of the test case's mode with `host` connections per host
 * and, when threads >= 0, that many sender threads instead. */
static wabot_ctx *ctx_with_connections(int host, int threads)
{
    wabot_options *o = opts_new();
    if (threads >= 0)
        ck_assert_int_eq(
            wabot_options_set_int(o, WABOT_OPT_HTTP_THREADS, threads),
            WABOT_OK);
    ck_assert_int_eq(
        wabot_options_set_int(o, WABOT_OPT_HTTP_HOST_CONNECTIONS, host),
        WABOT_OK);
    wabot_ctx *c = NULL;
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    wabot_options_free(o);
    return c;
}

/* A request that finds its host's only connection busy waits for it (on
 * a sender thread it is held there, not parked in curl) and the wait
 * counts against its own timeout: behind a request /slow answers in 2 s,
 * one with 300 ms ends in TIMEOUT while it waits (on a sender thread,
 * said so: its wait ran out, not its request); the connection then
 * serves the next request. The first /slow teaches the client that the
 * URL's host answers over HTTP/1.1. */
START_TEST(test_a_request_waiting_for_a_busy_connection_times_out_at_its_timeout)
{
    wabot_ctx *c = ctx_with_connections(1, -1);
    result first = {0}, slow = {0}, waiting = {0}, after = {0};
    ck_assert_int_eq(get(c, "/slow", 30000, &first), WABOT_OK);
    run_until(c, &first.calls, 1, 30000);
    ck_assert_int_eq(first.code, 200);
    ck_assert_int_eq(get(c, "/slow", 30000, &slow), WABOT_OK);
    ck_assert_int_eq(get(c, "/slow", 300, &waiting), WABOT_OK);
    run_until(c, &waiting.calls, 1, 30000);
    ck_assert_int_eq(waiting.calls, 1);
    ck_assert_int_eq(waiting.status, WABOT_ERR_TIMEOUT);
    if (http_threads > 0) /* held, and its timeout ran out there */
        ck_assert_ptr_nonnull(strstr(waiting.error, "no free connection"));
    run_until(c, &slow.calls, 1, 30000);
    ck_assert_int_eq(slow.status, WABOT_OK);
    ck_assert_int_eq(slow.code, 200);
    ck_assert_int_eq(get(c, "/ok", 5000, &after), WABOT_OK);
    run_until(c, &after.calls, 1, 5000);
    ck_assert_int_eq(after.code, 200);
    fprintf(stderr, "waited for a connection: %s\n", waiting.error);
    result_free(&first);
    result_free(&slow);
    result_free(&waiting);
    result_free(&after);
    wabot_ctx_free(c);
}
END_TEST

/* http_host_connections sets the pool's cap per host: 40 slow requests
 * at once use at most 3 connections, and more than one. */
START_TEST(test_host_connections_option_caps_the_pool_per_host)
{
    wabot_ctx *c = ctx_with_connections(3, -1);
    many m = {0};
    many_slot slots[40];
    send_all_and_wait(c, "/delay", &m, slots, 40);
    int conns = __atomic_load_n(&server.connections, __ATOMIC_SEQ_CST);
    ck_assert_int_eq(m.ok, 40);
    ck_assert_int_le(conns, 3);
    ck_assert_int_ge(conns, 2);
    wabot_ctx_free(c);
}
END_TEST

typedef struct chain {
    int done;
    int ok;
    int inline_calls; /* completions seen before wb_http_send returned */
    int sending;
} chain;

static void on_chain(void *ud, const wb_http_response *r)
{
    chain *c = ud;
    c->done++;
    c->ok += r->status == WABOT_OK && r->code == 200;
    c->inline_calls += c->sending;
    if (c->done < 3) {
        c->sending = 1;
        ck_assert_int_eq(wb_http_send(ctx, "GET", url_of("/ok"), NULL, 0,
                                      NULL, 0, 5000, on_chain, c),
                         WABOT_OK);
        c->sending = 0;
    }
}

START_TEST(test_done_callback_can_start_another_request)
{
    chain c = {0};
    ck_assert_int_eq(wb_http_send(ctx, "GET", url_of("/ok"), NULL, 0, NULL, 0,
                                  5000, on_chain, &c),
                     WABOT_OK);
    run_until(ctx, &c.done, 3, 10000);
    ck_assert_int_eq(c.done, 3);
    ck_assert_int_eq(c.ok, 3);
    ck_assert_int_eq(c.inline_calls, 0);
    /* The loop is idle again: nothing left in flight, no timer for curl. */
    ck_assert_uint_eq(wb_http_in_flight(ctx), 0);
    wabot_ctx_poll(ctx, 0);
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(ctx), -1);
}
END_TEST

typedef struct hooks_log {
    int watches;     /* watch_fd calls with events != 0 */
    int timers;      /* set_timer calls with ms >= 0 */
    int64_t last_ms;
} hooks_log;

static int log_watch(int fd, unsigned events, void *ud)
{
    (void)fd;
    hooks_log *l = ud;
    l->watches += events != 0;
    return 0;
}

static int log_timer(int64_t ms, void *ud)
{
    hooks_log *l = ud;
    l->timers += ms >= 0;
    l->last_ms = ms;
    return 0;
}

START_TEST(test_loop_timer_is_armed_while_a_request_is_in_flight)
{
    hooks_log log = {0};
    wabot_loop_hooks hooks = {WABOT_LOOP_HOOKS_VERSION, log_watch, log_timer,
                              &log};
    wabot_options *o = opts_new();
    ck_assert_int_eq(wabot_options_set_loop(o, &hooks), WABOT_OK);
    wabot_ctx *c;
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    wabot_options_free(o);
    int wake_watch = log.watches;
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(c), -1);
    result res = {0};
    /* A timeout far beyond /slow's 2000 ms answer: the request is still
     * in flight after the polls below however slow the machine is. */
    ck_assert_int_eq(get(c, "/slow", 30000, &res), WABOT_OK);
    /* curl asked to run at once, and the loop knows. */
    ck_assert_int_eq(wabot_ctx_next_timeout_ms(c), 0);
    for (int i = 0; i < 5; i++)
        wabot_ctx_poll(c, 20);
    ck_assert_int_eq(res.calls, 0);
    int64_t next = wabot_ctx_next_timeout_ms(c);
    ck_assert_int_ge(next, 0);
    ck_assert_int_le(next, 30000);
    ck_assert_int_gt(log.watches, wake_watch); /* curl's socket */
    ck_assert_int_gt(log.timers, 0);
    ck_assert_int_ge(log.last_ms, 0);
    run_until(c, &res.calls, 1, 20000);
    ck_assert_int_eq(res.status, WABOT_OK);
    ck_assert_int_eq(res.code, 200);
    wabot_ctx_free(c);
    result_free(&res);
}
END_TEST

/* A host loop of its own: only the hooks, wabot_ctx_on_fd and
 * wabot_ctx_on_timeout (no wabot_ctx_poll). */
typedef struct mini_host {
    int fd[64];
    unsigned ev[64];
    int n;
    int64_t timer_at; /* monotonic ms, -1 = disarmed */
} mini_host;

static int host_watch(int fd, unsigned events, void *ud)
{
    mini_host *h = ud;
    int i = 0;
    while (i < h->n && h->fd[i] != fd)
        i++;
    if (!events) {
        if (i < h->n) {
            h->fd[i] = h->fd[--h->n];
            h->ev[i] = h->ev[h->n];
        }
        return 0;
    }
    if (i == h->n) {
        ck_assert_int_lt(h->n, 64);
        h->n++;
    }
    h->fd[i] = fd;
    h->ev[i] = events;
    return 0;
}

static int host_timer(int64_t ms, void *ud)
{
    mini_host *h = ud;
    h->timer_at = ms < 0 ? -1 : mono_ms() + ms;
    return 0;
}

static void host_step(mini_host *h, wabot_ctx *c)
{
    struct pollfd p[64];
    int n = h->n; /* the callbacks below change h */
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){h->fd[i],
                               (short)((h->ev[i] & WABOT_POLL_IN ? POLLIN : 0) |
                                       (h->ev[i] & WABOT_POLL_OUT ? POLLOUT : 0)),
                               0};
    int64_t wait = 100;
    if (h->timer_at >= 0 && h->timer_at - mono_ms() < wait)
        wait = h->timer_at - mono_ms();
    poll(p, (nfds_t)n, wait < 0 ? 0 : (int)wait);
    for (int i = 0; i < n; i++) {
        unsigned ev = (p[i].revents & (POLLIN | POLLHUP | POLLERR) ? WABOT_POLL_IN : 0) |
                      (p[i].revents & POLLOUT ? WABOT_POLL_OUT : 0);
        if (ev) /* may be gone by now: INVAL, harmless */
            wabot_ctx_on_fd(c, p[i].fd, ev);
    }
    if (h->timer_at >= 0 && mono_ms() >= h->timer_at) {
        h->timer_at = -1;
        ck_assert_int_ge(wabot_ctx_on_timeout(c), 0);
    }
}

START_TEST(test_host_loop_through_hooks_alone_drives_requests)
{
    mini_host h = {.timer_at = -1};
    wabot_loop_hooks hooks = {WABOT_LOOP_HOOKS_VERSION, host_watch,
                              host_timer, &h};
    wabot_options *o = opts_new();
    ck_assert_int_eq(wabot_options_set_loop(o, &hooks), WABOT_OK);
    wabot_ctx *c;
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    wabot_options_free(o);
    many m = {0};
    many_slot slots[10];
    for (int i = 0; i < 10; i++) {
        slots[i] = (many_slot){&m, i};
        ck_assert_int_eq(wb_http_send(c, "GET", url_of("/ok"), NULL, 0, NULL,
                                      0, 5000, on_many, &slots[i]),
                         WABOT_OK);
    }
    result slow = {0};
    int64_t t0 = mono_ms();
    ck_assert_int_eq(get(c, "/slow", 300, &slow), WABOT_OK);
    while ((m.finished < 10 || !slow.calls) && mono_ms() - t0 < 5000)
        host_step(&h, c);
    ck_assert_int_eq(m.ok, 10);
    ck_assert_int_eq(slow.status, WABOT_ERR_TIMEOUT); /* by the timer,
                                                         * before /slow's
                                                         * 2000 ms answer */
    wabot_ctx_free(c);
    ck_assert_int_eq(h.n, 0); /* every socket unwatched */
    ck_assert_int_eq(h.timer_at, -1);
    result_free(&slow);
}
END_TEST

START_TEST(test_fake_clock_does_not_stop_curl_timeouts)
{
    tu_clock clock;
    tu_clock_init(&clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&clock);
    wabot_options *o = opts_new();
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    wabot_ctx *c;
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    wabot_options_free(o);
    result ok = {0}, slow = {0};
    int64_t t0 = mono_ms();
    ck_assert_int_eq(get(c, "/ok", 5000, &ok), WABOT_OK);
    ck_assert_int_eq(get(c, "/slow", 300, &slow), WABOT_OK);
    run_until(c, &slow.calls, 1, 5000);
    /* /ok need not finish first: with sender threads it runs on another
     * thread than /slow, which a loaded machine may hold up. */
    run_until(c, &ok.calls, 1, 5000);
    int64_t took = slow.at_ms - t0;
    ck_assert_int_eq(ok.calls, 1);
    ck_assert_int_eq(ok.code, 200);
    ck_assert_int_eq(slow.calls, 1);
    ck_assert_int_eq(slow.status, WABOT_ERR_TIMEOUT);
    ck_assert_int_ge(took, 290); /* and TIMEOUT: before /slow's answer */
    /* The context's time never moved. */
    ck_assert_int_eq(wabot_ctx_now_ms(c), TU_EPOCH_MS);
    wabot_ctx_free(c);
    result_free(&ok);
    result_free(&slow);
}
END_TEST

START_TEST(test_ctx_free_completes_in_flight_requests_with_an_error)
{
    result res[3] = {{0}};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(get(ctx, "/slow", 5000, &res[i]), WABOT_OK);
    for (int i = 0; i < 5; i++)
        wabot_ctx_poll(ctx, 20); /* connected, waiting for the answers */
    wabot_ctx_free(ctx);
    ctx = NULL;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(res[i].calls, 1);
        ck_assert_int_eq(res[i].status, WABOT_ERR_TRANSPORT);
        ck_assert_str_eq(res[i].error, "shutting down");
        result_free(&res[i]);
    }
}
END_TEST

START_TEST(test_ctx_free_unwatches_curl_sockets_in_the_host_loop)
{
    mini_host h = {.timer_at = -1};
    wabot_loop_hooks hooks = {WABOT_LOOP_HOOKS_VERSION, host_watch,
                              host_timer, &h};
    wabot_options *o = opts_new();
    ck_assert_int_eq(wabot_options_set_loop(o, &hooks), WABOT_OK);
    wabot_ctx *c;
    ck_assert_int_eq(wabot_ctx_new(&c, o), WABOT_OK);
    wabot_options_free(o);
    result res = {0};
    ck_assert_int_eq(get(c, "/slow", 5000, &res), WABOT_OK);
    int64_t t0 = mono_ms();
    while (h.n < 2 && mono_ms() - t0 < 2000) /* the wake-up fd + curl's */
        host_step(&h, c);
    ck_assert_int_eq(h.n, 2);
    wabot_ctx_free(c);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_str_eq(res.error, "shutting down");
    ck_assert_int_eq(h.n, 0); /* the host watches nothing the library closed */
    result_free(&res);
}
END_TEST

static void on_done_send_again(void *ud, const wb_http_response *r)
{
    on_done(ud, r);
    result *res = ud;
    res->code = get(ctx, "/ok", 1000, res); /* refused: STATE */
}

START_TEST(test_send_during_and_after_shutdown_is_refused)
{
    result res = {0};
    ck_assert_int_eq(get(ctx, "/slow", 5000, &res), WABOT_OK);
    wabot_ctx_poll(ctx, 20);
    wb_http_shutdown(ctx);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TRANSPORT);
    result again = {0};
    ck_assert_int_eq(get(ctx, "/ok", 1000, &again), WABOT_ERR_STATE);
    ck_assert_int_eq(again.calls, 0);
    wb_http_shutdown(ctx); /* idempotent */
    result_free(&res);
    result_free(&again);
}
END_TEST

START_TEST(test_done_callback_sending_during_shutdown_is_refused)
{
    result res = {0};
    ck_assert_int_eq(wb_http_send(ctx, "GET", url_of("/slow"), NULL, 0, NULL,
                                  0, 5000, on_done_send_again, &res),
                     WABOT_OK);
    wabot_ctx_poll(ctx, 20);
    wb_http_shutdown(ctx);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.code, WABOT_ERR_STATE);
    result_free(&res);
}
END_TEST

START_TEST(test_send_rejects_bad_arguments)
{
    result res = {0};
    wabot_http_header crlf[] = {{"X-A", "v\r\nX-Injected: 1"}};
    wabot_http_header colon[] = {{"X:A", "v"}};
    ck_assert_int_eq(wb_http_send(NULL, "GET", "http://x/", NULL, 0, NULL, 0,
                                  0, on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, NULL, "http://x/", NULL, 0, NULL, 0, 0,
                                  on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, "GET", "ftp://x/", NULL, 0, NULL, 0, 0,
                                  on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://x/\r\n", NULL, 0, NULL,
                                  0, 0, on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://x/", crlf, 1, NULL, 0,
                                  0, on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(ctx), "CR or LF"));
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://x/", colon, 1, NULL, 0,
                                  0, on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://x/", NULL, 1, NULL, 0,
                                  0, on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, "POST", "http://x/", NULL, 0, NULL, 5,
                                  0, on_done, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://x/", NULL, 0, NULL, 0,
                                  0, NULL, &res),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(res.calls, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Custom clients                                                       */

typedef struct fake_client {
    int mode; /* 0 hold the call, 1 complete inline, 2 refuse, 3 twice */
    int starts;
    int destroyed;
    wabot_http_call *held;
    /* what the accessors said */
    char method[16], url[128], h0n[32], h0v[32], h1n[32], h1v[32], body[32];
    size_t nh, len;
    int64_t timeout;
    int oob_null;
} fake_client;

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "(null)");
}

static void read_request(fake_client *f, const wabot_http_request *req)
{
    copy_str(f->method, sizeof f->method, wabot_http_request_method(req));
    copy_str(f->url, sizeof f->url, wabot_http_request_url(req));
    f->nh = wabot_http_request_header_count(req);
    copy_str(f->h0n, sizeof f->h0n, wabot_http_request_header_name(req, 0));
    copy_str(f->h0v, sizeof f->h0v, wabot_http_request_header_value(req, 0));
    copy_str(f->h1n, sizeof f->h1n, wabot_http_request_header_name(req, 1));
    copy_str(f->h1v, sizeof f->h1v, wabot_http_request_header_value(req, 1));
    f->oob_null = !wabot_http_request_header_name(req, f->nh) &&
                  !wabot_http_request_header_value(req, f->nh);
    copy_str(f->body, sizeof f->body, wabot_http_request_body(req, &f->len));
    f->timeout = wabot_http_request_timeout_ms(req);
}

static int fake_start(void *impl, const wabot_http_request *req,
                      wabot_http_call *call)
{
    fake_client *f = impl;
    f->starts++;
    read_request(f, req);
    wabot_http_header h[] = {{"X-Reply", "inline"}, {NULL, "skipped"},
                             {"X-Null", NULL}};
    switch (f->mode) {
    case 1:
        wabot_http_call_done(call, 201, h, 3, "created!", 7);
        return WABOT_OK;
    case 2:
        return WABOT_ERR_BUSY;
    case 3:
        wabot_http_call_done(call, 200, NULL, 0, NULL, 0);
        wabot_http_call_fail(call, WABOT_ERR_TRANSPORT, "second");
        return WABOT_OK;
    default:
        f->held = call;
        return WABOT_OK;
    }
}

static void fake_destroy(void *impl)
{
    fake_client *f = impl;
    f->destroyed++;
}

static const wabot_http_client_vtable fake_vt = {
    WABOT_HTTP_CLIENT_VTABLE_VERSION, fake_start, fake_destroy};

static fake_client fake;
static wabot_http_client *fake_handle;

static void custom_setup(void)
{
    memset(&fake, 0, sizeof fake);
    fake_handle = wabot_http_client_new(&fake_vt, &fake);
    ck_assert_ptr_nonnull(fake_handle);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_http_client(o, fake_handle), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
}

static void custom_teardown(void)
{
    wabot_ctx_free(ctx);
    ctx = NULL;
    ck_assert_int_eq(fake.destroyed, 0); /* borrowed: not the ctx's to free */
    wabot_http_client_free(fake_handle);
    ck_assert_int_eq(fake.destroyed, 1);
}

START_TEST(test_custom_client_completing_inline)
{
    fake.mode = 1;
    result res = {.want = {"x-reply", "X-Null"}};
    ck_assert_int_eq(wb_http_send(ctx, "POST", "https://api.example/v1", NULL,
                                  0, "{}", 2, 1000, on_done, &res),
                     WABOT_OK);
    ck_assert_int_eq(res.calls, 1); /* before wb_http_send returned */
    ck_assert_int_eq(res.status, WABOT_OK);
    ck_assert_int_eq(res.code, 201);
    ck_assert_str_eq(res.body, "created"); /* len 7 of "created!" */
    ck_assert_uint_eq(res.len, 7);
    ck_assert_str_eq(res.got[0], "inline");
    ck_assert_str_eq(res.got[1], ""); /* NULL value -> "" */
    ck_assert_uint_eq(wb_http_in_flight(ctx), 0);
    result_free(&res);
}
END_TEST

START_TEST(test_custom_client_reads_the_request_through_accessors)
{
    wabot_http_header h[] = {{"Authorization", "Bearer abc"},
                             {"X-Empty", NULL}};
    result res = {0};
    ck_assert_int_eq(wb_http_send(ctx, "POST", "https://api.example/msg", h, 2,
                                  "a=1&b=2", 7, 1234, on_done, &res),
                     WABOT_OK);
    ck_assert_str_eq(fake.method, "POST");
    ck_assert_str_eq(fake.url, "https://api.example/msg");
    ck_assert_uint_eq(fake.nh, 2);
    ck_assert_str_eq(fake.h0n, "Authorization");
    ck_assert_str_eq(fake.h0v, "Bearer abc");
    ck_assert_str_eq(fake.h1n, "X-Empty");
    ck_assert_str_eq(fake.h1v, "");
    ck_assert(fake.oob_null);
    ck_assert_str_eq(fake.body, "a=1&b=2");
    ck_assert_uint_eq(fake.len, 7);
    ck_assert_int_eq(fake.timeout, 1234);
    ck_assert_uint_eq(wb_http_in_flight(ctx), 1);
    /* Completed later, as from the loop. */
    ck_assert_int_eq(res.calls, 0);
    wabot_http_call_fail(fake.held, WABOT_ERR_TIMEOUT, NULL);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TIMEOUT);
    ck_assert_str_eq(res.error, "request timed out");
    ck_assert_uint_eq(wb_http_in_flight(ctx), 0);
    /* A GET without body, default timeout. */
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://h/x", NULL, 0, NULL, 0,
                                  0, on_done, &res),
                     WABOT_OK);
    ck_assert_str_eq(fake.body, "");
    ck_assert_uint_eq(fake.len, 0);
    ck_assert_uint_eq(fake.nh, 0);
    ck_assert_int_eq(fake.timeout, WB_HTTP_DEFAULT_TIMEOUT_MS);
    wabot_http_call_done(fake.held, 204, NULL, 0, NULL, 0);
    ck_assert_int_eq(res.calls, 2);
    ck_assert_int_eq(res.code, 204);
    ck_assert_str_eq(res.body, "");
    result_free(&res);
    /* NULL handles are harmless. */
    size_t len = 99;
    ck_assert_ptr_null(wabot_http_request_method(NULL));
    ck_assert_ptr_null(wabot_http_request_body(NULL, &len));
    ck_assert_uint_eq(len, 0);
    wabot_http_call_done(NULL, 200, NULL, 0, NULL, 0);
    wabot_http_call_fail(NULL, WABOT_ERR_TRANSPORT, "x");
}
END_TEST

START_TEST(test_custom_client_refusing_means_done_never_runs)
{
    fake.mode = 2;
    result res = {0};
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://h/x", NULL, 0, NULL, 0,
                                  0, on_done, &res),
                     WABOT_ERR_BUSY);
    ck_assert_int_eq(res.calls, 0);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(ctx), "refused"));
    ck_assert_uint_eq(wb_http_in_flight(ctx), 0);
}
END_TEST

START_TEST(test_second_completion_is_ignored)
{
    fake.mode = 3;
    result res = {0};
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://h/x", NULL, 0, NULL, 0,
                                  0, on_done, &res),
                     WABOT_OK);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_OK);
    ck_assert_int_eq(res.code, 200);
    result_free(&res);
}
END_TEST

START_TEST(test_invalid_status_code_from_a_client_is_a_transport_error)
{
    result res = {0};
    wb_http_send(ctx, "GET", "http://h/x", NULL, 0, NULL, 0, 0, on_done, &res);
    wabot_http_call_done(fake.held, 42, NULL, 0, "x", 1);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TRANSPORT);
    ck_assert_ptr_nonnull(strstr(res.error, "42"));
    result_free(&res);
}
END_TEST

START_TEST(test_shutdown_completes_calls_a_custom_client_still_holds)
{
    result res = {0};
    ck_assert_int_eq(wb_http_send(ctx, "GET", "http://h/x", NULL, 0, NULL, 0,
                                  0, on_done, &res),
                     WABOT_OK);
    wabot_http_call *held = fake.held;
    wb_http_shutdown(ctx); /* what wabot_ctx_free does first */
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, WABOT_ERR_TRANSPORT);
    ck_assert_str_eq(res.error, "shutting down");
    wabot_ctx_free(ctx);
    ctx = NULL;
    /* The host's client finishes late: ignored, and the call is freed. */
    wabot_http_call_done(held, 200, NULL, 0, "late", 4);
    ck_assert_int_eq(res.calls, 1);
    result_free(&res);
}
END_TEST

START_TEST(test_http_client_new_rejects_bad_vtables)
{
    wabot_http_client_vtable v0 = {0, fake_start, NULL};
    wabot_http_client_vtable nostart = {1, NULL, fake_destroy};
    wabot_http_client_vtable newer = {2, fake_start, NULL};
    ck_assert_ptr_null(wabot_http_client_new(NULL, NULL));
    ck_assert_ptr_null(wabot_http_client_new(&v0, NULL));
    ck_assert_ptr_null(wabot_http_client_new(&nostart, NULL));
    wabot_http_client *c = wabot_http_client_new(&newer, NULL);
    ck_assert_ptr_nonnull(c);
    wabot_http_client_free(c); /* no destroy: fine */
    wabot_http_client_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every mode: what the threaded client must keep                       */

static pthread_t loop_thread;

typedef struct where {
    int finished;
    int on_loop_thread;
} where;

static void on_where(void *ud, const wb_http_response *r)
{
    where *w = ud;
    w->finished++;
    w->on_loop_thread +=
        pthread_equal(pthread_self(), loop_thread) && r->status == WABOT_OK;
}

START_TEST(test_done_runs_on_the_loop_thread)
{
    loop_thread = pthread_self();
    where w = {0};
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(wb_http_send(ctx, "GET", url_of("/ok"), NULL, 0,
                                      NULL, 0, 10000, on_where, &w),
                         WABOT_OK);
    run_until(ctx, &w.finished, 20, 20000);
    ck_assert_int_eq(w.finished, 20);
    ck_assert_int_eq(w.on_loop_thread, 20);
}
END_TEST

START_TEST(test_run_until_idle_waits_for_sends_in_flight)
{
    many m = {0};
    many_slot slots[10];
    send_all(ctx, "/delay", &m, slots, 0, 10);
    ck_assert_uint_eq(wb_http_in_flight(ctx), 10);
    ck_assert_int_ge(
        wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx) + 30000), 0);
    ck_assert_int_eq(m.finished, 10);
    ck_assert_int_eq(m.ok, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(m.calls[i], 1);
    ck_assert_uint_eq(wb_http_in_flight(ctx), 0);
}
END_TEST

/* Freed while some sends are done (their completions may be waiting for
 * the loop), some in flight and some not started: each done runs once. */
START_TEST(test_ctx_free_with_many_sends_in_flight_completes_each_once)
{
    many m = {0};
    many_slot slots[60];
    send_all(ctx, "/ok", &m, slots, 0, 40);
    send_all(ctx, "/slow", &m, slots, 40, 60);
    int64_t end = mono_ms() + 10000;
    while (m.finished < 5 && mono_ms() < end)
        ck_assert_int_ge(wabot_ctx_poll(ctx, 20), 0);
    wabot_ctx_free(ctx);
    ctx = NULL;
    ck_assert_int_eq(m.finished, 60);
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(m.calls[i], 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Sender threads only                                                  */

/* More threads than connections: there are as many threads as
 * connections, and every request still goes through. */
START_TEST(test_more_threads_than_host_connections_share_them)
{
    wabot_ctx *c = ctx_with_connections(2, 4);
    many m = {0};
    many_slot slots[30];
    send_all_and_wait(c, "/delay", &m, slots, 30);
    ck_assert_int_eq(m.ok, 30);
    ck_assert_int_le(__atomic_load_n(&server.connections, __ATOMIC_SEQ_CST),
                     2);
    wabot_ctx_free(c);
}
END_TEST

/* How many of this process's threads are named `name` (Linux:
 * /proc/self/task/<tid>/comm). */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[96], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* ended meanwhile */
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

/* The sender threads carry names of their own (top -H, perf), and are
 * gone with their context. */
START_TEST(test_sender_threads_are_named_and_go_with_their_context)
{
    ck_assert_int_eq(threads_named("wabot-send0"), 0);
    wabot_ctx *c = ctx_with_connections(4, 3);
    many m = {0};
    many_slot slots[6];
    send_all_and_wait(c, "/ok", &m, slots, 6);
    ck_assert_int_eq(m.ok, 6);
    ck_assert_int_eq(threads_named("wabot-send0"), 1);
    ck_assert_int_eq(threads_named("wabot-send1"), 1);
    ck_assert_int_eq(threads_named("wabot-send2"), 1);
    ck_assert_int_eq(threads_named("wabot-send3"), 0);
    wabot_ctx_free(c);
    ck_assert_int_eq(threads_named("wabot-send0"), 0);
}
END_TEST

/* The tests every mode runs. */
static void add_curl_tests(TCase *tc)
{
    tcase_add_test(tc, test_get_returns_status_body_and_headers_case_insensitively);
    tcase_add_test(tc, test_post_body_and_headers_arrive_intact);
    tcase_add_test(tc, test_post_1mib_body_arrives_intact);
    tcase_add_test(tc, test_other_methods_and_empty_bodies_are_sent_as_asked);
    tcase_add_test(tc, test_requests_one_after_another_each_go_out_as_asked);
    tcase_add_test(tc, test_503_with_retry_after_is_a_response_not_an_error);
    tcase_add_test(tc, test_timeout_fails_with_timeout_within_roughly_the_timeout);
    tcase_add_test(tc, test_connection_refused_fails_with_transport_error);
    tcase_add_test(tc, test_a_proxy_named_in_the_environment_is_used);
    tcase_add_test(tc, test_dropped_connection_after_the_request_is_an_unknown_outcome);
    tcase_add_test(tc, test_response_body_over_4mib_fails);
    tcase_add_test(tc, test_200_concurrent_requests_complete_once_over_few_connections);
    tcase_add_test(tc, test_each_request_reaches_its_own_url_past_the_parsed_url_cache);
    tcase_add_test(tc, test_slow_http1_host_gets_parallel_connections_up_to_the_cap);
    tcase_add_test(tc, test_host_connections_option_caps_the_pool_per_host);
    tcase_add_test(tc, test_a_request_waiting_for_a_busy_connection_times_out_at_its_timeout);
    tcase_add_test(tc, test_done_callback_can_start_another_request);
    tcase_add_test(tc, test_host_loop_through_hooks_alone_drives_requests);
    tcase_add_test(tc, test_fake_clock_does_not_stop_curl_timeouts);
    tcase_add_test(tc, test_ctx_free_completes_in_flight_requests_with_an_error);
    tcase_add_test(tc, test_send_during_and_after_shutdown_is_refused);
    tcase_add_test(tc, test_done_callback_sending_during_shutdown_is_refused);
    tcase_add_test(tc, test_send_rejects_bad_arguments);
    tcase_add_test(tc, test_done_runs_on_the_loop_thread);
    tcase_add_test(tc, test_run_until_idle_waits_for_sends_in_flight);
    tcase_add_test(tc, test_ctx_free_with_many_sends_in_flight_completes_each_once);
}

/* A test case of s with every mode's tests, its fixture setting the
 * mode. */
static TCase *curl_case(Suite *s, const char *name, void (*setup)(void))
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, ctx_teardown);
    tcase_set_timeout(tc, 90);
    add_curl_tests(tc);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = curl_case(s, "curl", setup_threads0);
    /* curl's sockets and timer in the context's loop: this mode only. */
    tcase_add_test(tc, test_loop_timer_is_armed_while_a_request_is_in_flight);
    tcase_add_test(tc, test_ctx_free_unwatches_curl_sockets_in_the_host_loop);
    TCase *t1 = curl_case(s, "curl-1-thread", setup_threads1);
    tcase_add_test(t1, test_more_threads_than_host_connections_share_them);
    tcase_add_test(t1, test_sender_threads_are_named_and_go_with_their_context);
    curl_case(s, "curl-2-threads", setup_threads2);

    TCase *custom = tcase_create("custom");
    tcase_add_checked_fixture(custom, custom_setup, custom_teardown);
    tcase_add_test(custom, test_custom_client_completing_inline);
    tcase_add_test(custom, test_custom_client_reads_the_request_through_accessors);
    tcase_add_test(custom, test_custom_client_refusing_means_done_never_runs);
    tcase_add_test(custom, test_second_completion_is_ignored);
    tcase_add_test(custom, test_invalid_status_code_from_a_client_is_a_transport_error);
    tcase_add_test(custom, test_shutdown_completes_calls_a_custom_client_still_holds);
    tcase_add_test(custom, test_http_client_new_rejects_bad_vtables);
    suite_add_tcase(s, custom);
    return s;
}

int main(void)
{
    return tu_run_suite(http_suite());
}
