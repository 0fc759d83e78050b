/* A campaign to 100,000 customers over real HTTP, paused half-way and
 * resumed (issue 14, "Verified by"), on the memory backend and on a real
 * redis-server: wabot-server with the Twilio API of the fake provider on
 * loopback as the receiver. Customers are imported through the admin API
 * (every tenth opted out), the replaced system's campaign body is POSTed,
 * and once a third of the reachable customers got their message the
 * campaign is paused through the admin API. Then:
 *   - what was queued before the pause still goes out, and after that
 *     nothing: the count at the fake stays put while the campaign is
 *     PAUSED (watched for a second and a half, longer than the fan-out
 *     needs for a tenth of the audience at its rate);
 *   - resumed, the campaign reaches COMPLETED with exactly one message
 *     per reachable customer at the fake, none for the opted-out ones,
 *     and the progress says so (total, queued, sent, skipped, percent).
 *
 *   test_campaign_pause <path of wabot-server>
 * WABOT_CAMPAIGN_PAUSE_N: the number of customers (default 100000).
 * Without redis-server or a server: skipped (77), a failure under CI=true.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "campaign_admin.h"
#include "crash_main.h"
#include "server_proc.h"

#define BUSINESS "+14155238886"
#define TOKEN "pause-token"
#define OPT_OUT_EVERY 10
#define DEADLINE_MS 600000 /* any one wait */

static crash_env env;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_server(server_proc *srv, int redis)
{
    char redis_var[40], base_var[200];
    snprintf(redis_var, sizeof redis_var, "REDIS_PORT=%d", env.redis.port);
    snprintf(base_var, sizeof base_var, "TWILIO_API_BASE=%s",
             fp_base_url(env.fp));
    const char *vars[] = {
        "WABOT_LISTEN=127.0.0.1:0", "WABOT_BOT=echo", "WABOT_PROVIDER=twilio",
        "TWILIO_ACCOUNT_SID=" FP_DEFAULT_TWILIO_SID,
        "TWILIO_AUTH_TOKEN=" FP_DEFAULT_TWILIO_TOKEN,
        "TWILIO_WHATSAPP_FROM=" BUSINESS, base_var,
        "WABOT_ADMIN_TOKEN=" TOKEN,
        /* the customers never wrote: no 24-hour window */
        "WABOT_WINDOW_MS=0",
        /* the fake takes whatever comes: the limits would only make the
         * test long */
        "WABOT_RATE_SENDER_PER_S=0", "WABOT_RATE_PAIR_PERIOD_MS=0",
        redis ? "REDIS_HOST=127.0.0.1" : NULL, redis_var, NULL};
    memset(srv, 0, sizeof *srv);
    ck_assert_msg(sp_start(srv, env.server_path, vars, 30000) == 0,
                  "wabot-server (%s) did not start", env.server_path);
}

/* Wait until fn() holds (a deadline, never a fixed sleep). */
#define WAIT_FOR(cond, ...)                                                 \
    for (int64_t end_ = mono_ms() + DEADLINE_MS; !(cond);) {                \
        ck_assert_msg(mono_ms() < end_, __VA_ARGS__);                       \
        sp_sleep_ms(50);                                                    \
    }

static const char *status_of(json_t *c)
{
    return json_string_value(json_object_get(c, "status"));
}

/* The campaign is PAUSED, everything it had queued has gone out, and the
 * server has counted all of it. */
static json_int_t queued(const ca_env *ca, const char *id)
{
    json_t *c = ca_campaign(ca, id);
    json_int_t n = ca_num(c, "progress.queued");
    json_decref(c);
    return n;
}

static int settled_paused(const ca_env *ca, const char *id)
{
    json_t *c = ca_campaign(ca, id);
    int ok = strcmp(status_of(c), "PAUSED") == 0 &&
             ca_num(c, "progress.sent") == (json_int_t)fp_count_sent(env.fp);
    json_decref(c);
    return ok && ca_outbound_pending(ca) == 0;
}

static int completed(const ca_env *ca, const char *id, int reachable)
{
    json_t *c = ca_campaign(ca, id);
    int done = strcmp(status_of(c), "COMPLETED") == 0 &&
               ca_num(c, "progress.sent") >= reachable;
    json_decref(c);
    return done && ca_outbound_pending(ca) == 0;
}

static void pause_and_resume(int redis)
{
    const char *env_n = getenv("WABOT_CAMPAIGN_PAUSE_N");
    int n = env_n != NULL ? atoi(env_n) : 100000;
    ck_assert_int_ge(n, 100);
    const int opted = n / OPT_OUT_EVERY, reachable = n - opted;
    char org[32], out[64];
    snprintf(org, sizeof org, "pause-%s", redis ? "redis" : "memory");
    fp_reset(env.fp);
    if (redis) /* no crash here: an fsync a second is plenty */
        ck_assert_int_eq(rh_cli(&env.redis, "CONFIG SET appendfsync everysec",
                                out, sizeof out), 0);
    server_proc srv;
    start_server(&srv, redis);
    ca_env ca = {srv.port, TOKEN, "/whatsapp-v2", org, http_client_new()};
    int64_t t0 = mono_ms();
    ca_import(&ca, n, OPT_OUT_EVERY);
    int64_t t_import = mono_ms();

    /* A tenth of the audience a second (at least 1,000/s), a batch every
     * 50 ms: the fan-out takes about 10 s, so the pause lands in it. */
    int rate = n / 10 > 1000 ? n / 10 : 1000;
    char *id = ca_campaign_start(&ca, rate / 20, rate);
    /* Paused once a third went out, or a third is queued (on Redis the
     * fan-out runs ahead of the sending). */
    WAIT_FOR(fp_count_sent(env.fp) >= (size_t)reachable / 3 ||
                 queued(&ca, id) >= reachable / 3,
             "only %zu sends reached the fake", fp_count_sent(env.fp));
    char path[200];
    snprintf(path, sizeof path, "/campaigns/%s/pause?organizationId=%s", id,
             org);
    json_t *c = ca_admin(&ca, "POST", path, NULL, 200);
    ck_assert_str_eq(status_of(c), "PAUSED");
    json_decref(c);
    int64_t t_pause = mono_ms();

    WAIT_FOR(settled_paused(&ca, id), "queued messages not settled (%zu "
             "sent)", fp_count_sent(env.fp));
    size_t at_pause = fp_count_sent(env.fp);
    json_int_t queued_at_pause = queued(&ca, id);
    ck_assert_msg(queued_at_pause < reachable && at_pause < (size_t)reachable,
                  "the fan-out was done before the pause");
    /* Paused: nothing more goes out (the fan-out would queue rate * 1.5
     * messages meanwhile). */
    sp_sleep_ms(1500);
    ck_assert_uint_eq(fp_count_sent(env.fp), at_pause);
    ck_assert_int_eq(ca_outbound_pending(&ca), 0);
    ck_assert_int_eq(queued(&ca, id), queued_at_pause);
    c = ca_campaign(&ca, id);
    ck_assert_str_eq(status_of(c), "PAUSED");
    json_decref(c);

    snprintf(path, sizeof path, "/campaigns/%s/resume?organizationId=%s", id,
             org);
    c = ca_admin(&ca, "POST", path, NULL, 200);
    ck_assert_str_eq(status_of(c), "RUNNING");
    json_decref(c);
    WAIT_FOR(completed(&ca, id, reachable), "not COMPLETED in time (%zu "
             "sent)", fp_count_sent(env.fp));
    int64_t t_done = mono_ms();

    c = ca_campaign(&ca, id);
    ca_expect_exactly_once(env.fp, n, OPT_OUT_EVERY,
                           json_object_get(c, "progress"));
    json_decref(c);
    fprintf(stderr,
            "%s, %d customers: import %.1f s, to the pause %.1f s (%lld "
            "queued, %zu sent), after it %.1f s, %.1f s in all; reads "
            "answered 503 and asked again: %zu\n",
            redis ? "redis" : "memory", n, (t_import - t0) / 1000.0,
            (t_pause - t_import) / 1000.0, (long long)queued_at_pause,
            at_pause,
            (t_done - t_pause) / 1000.0, (t_done - t0) / 1000.0,
            ca_unavailable);
    free(id);
    http_client_free(ca.http);
    int st = 0;
    ck_assert_int_eq(sp_stop(&srv, SIGTERM, 20000, &st), 0);
    sp_free(&srv);
}

START_TEST(test_memory_campaign_paused_half_way_resumes_exactly_once)
{
    pause_and_resume(0);
}
END_TEST

START_TEST(test_redis_campaign_paused_half_way_resumes_exactly_once)
{
    pause_and_resume(1);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *su = suite_create("campaign-pause");
    TCase *tc = tcase_create("pause");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, test_memory_campaign_paused_half_way_resumes_exactly_once);
    tcase_add_test(tc, test_redis_campaign_paused_half_way_resumes_exactly_once);
    suite_add_tcase(su, tc);
    return crash_main(argc, argv, &env, NULL, su);
}
