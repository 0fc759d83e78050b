/* Stand-ins for the jobs and campaigns admin routes the dashboard calls
 * (built by other modules; until they land the page says "not
 * available"). Loaded into wabot-server by the browser test
 * (WABOT_MODULES), public headers only. They answer 501 until
 * POST /__stand-in/on, so one server shows both states. One campaign
 * ("Winter sale") that pause/resume/cancel move, and one failed job that
 * a retry clears; GET /__stand-in/log lists the actions received. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <wabot.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int on;
static char status[16] = "running";
static int failed_job = 1;
static char log_text[1024] = "";

static int off(wabot_http_response *resp)
{
    return wabot_admin_error(resp, 501, "not_implemented", NULL,
                             "not implemented yet");
}

static void note(const char *what)
{
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "%s%s", n ? "," : "", what);
}

static int campaigns(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)ctx, (void)req, (void)ud;
    char body[512];
    pthread_mutex_lock(&mu);
    int o = on;
    snprintf(body, sizeof body,
             "{\"campaigns\":[{\"id\":\"c1\",\"name\":\"Winter sale\","
             "\"status\":\"%s\",\"progress\":{\"total\":200,\"queued\":80,"
             "\"sent\":60,\"delivered\":40,\"read\":12,\"failed\":5,"
             "\"skipped\":3}}]}",
             status);
    pthread_mutex_unlock(&mu);
    return o ? wabot_http_response_set_json(resp, 200, body) : off(resp);
}

static int campaign_action(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ctx;
    const char *verb = ud;
    const char *id = wabot_http_server_request_param(req, "id");
    pthread_mutex_lock(&mu);
    int o = on;
    if (o) {
        snprintf(status, sizeof status, "%s",
                 strcmp(verb, "pause") == 0    ? "paused"
                 : strcmp(verb, "resume") == 0 ? "running"
                                               : "cancelled");
        char what[64];
        snprintf(what, sizeof what, "\"%s %s\"", verb, id ? id : "");
        note(what);
    }
    pthread_mutex_unlock(&mu);
    return o ? wabot_http_response_set_json(resp, 200, "{}") : off(resp);
}

static int jobs_failed(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ctx, (void)req, (void)ud;
    pthread_mutex_lock(&mu);
    int o = on, f = failed_job;
    pthread_mutex_unlock(&mu);
    if (!o)
        return off(resp);
    return wabot_http_response_set_json(
        resp, 200,
        f ? "{\"jobs\":[{\"queue\":\"outbound\",\"id\":\"j1\",\"attempts\":5,"
            "\"error\":\"provider answered 500 <b>five</b> times\"}]}"
          : "{\"jobs\":[]}");
}

static int job_retry(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)ctx, (void)ud;
    char what[96];
    snprintf(what, sizeof what, "\"retry %s/%s\"",
             wabot_http_server_request_param(req, "queue"),
             wabot_http_server_request_param(req, "id"));
    pthread_mutex_lock(&mu);
    int o = on;
    if (o) {
        failed_job = 0;
        note(what);
    }
    pthread_mutex_unlock(&mu);
    return o ? wabot_http_response_set_json(resp, 200, "{}") : off(resp);
}

static int switch_on(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)ctx, (void)req, (void)ud;
    pthread_mutex_lock(&mu);
    on = 1;
    pthread_mutex_unlock(&mu);
    return wabot_http_response_set_status(resp, 204);
}

static int show_log(wabot_ctx *ctx, const wabot_http_server_request *req,
                    wabot_http_response *resp, void *ud)
{
    (void)ctx, (void)req, (void)ud;
    char body[1100];
    pthread_mutex_lock(&mu);
    snprintf(body, sizeof body, "[%s]", log_text);
    pthread_mutex_unlock(&mu);
    return wabot_http_response_set_json(resp, 200, body);
}

static int stand_in_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    static char pause[] = "pause", resume[] = "resume", cancel[] = "cancel";
    int rc = wabot_admin_route_add(ctx, "GET", "/campaigns", campaigns, NULL,
                                   NULL);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "POST", "/campaigns/:id/pause",
                                   campaign_action, pause, NULL);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "POST", "/campaigns/:id/resume",
                                   campaign_action, resume, NULL);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "POST", "/campaigns/:id/cancel",
                                   campaign_action, cancel, NULL);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "GET", "/jobs/failed", jobs_failed,
                                   NULL, NULL);
    if (rc == WABOT_OK)
        rc = wabot_admin_route_add(ctx, "POST", "/jobs/:queue/:id/retry",
                                   job_retry, NULL, NULL);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "POST", "/__stand-in/on", switch_on,
                                  NULL, NULL);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "GET", "/__stand-in/log", show_log,
                                  NULL, NULL);
    return rc;
}

static const char *const requires[] = {"admin", NULL};

static const wabot_module_def stand_in_def = {
    WABOT_MODULE_DEF_VERSION, "stand_in_routes",
    "stand-ins for the jobs and campaigns admin routes (browser test)",
    requires, NULL, 0, NULL, stand_in_create, NULL};

__attribute__((visibility("default"))) const wabot_module_def *
wabot_module_entry(void)
{
    return &stand_in_def;
}
