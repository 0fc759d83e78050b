/* A toy module, written against the public headers only and loaded by
 * wabot-server from a shared object (WABOT_MODULES). It has everything a
 * business module has: its own options (one per organisation), HTTP routes,
 * a pipeline middleware, a queue with its worker fed through the turn
 * outbox, and a labelled metric. tests/integration/test_toy_module.c
 * drives it over real HTTP.
 *
 *   a text "toy"             reply the org's greeting, enqueue a toy job
 *   GET  /toy/greeting?org=  {"greeting": "..."} as that org sees it
 *   PUT  /toy/greeting/:org  the org's greeting := the request body
 *   GET  /toy/stats          {"jobs_done": n}
 *   GET  /toy/metrics        the context's Prometheus text
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wabot.h>

enum { OPT_GREETING };

static const wabot_option_def toy_options[] = {
    {WABOT_OPTION_DEF_VERSION, "greeting", WABOT_OPTION_STRING,
     WABOT_OPTION_PER_ORG, 0, 0, 0, "Hello from the toy",
     "what the toy module answers to \"toy\"", NULL, NULL, NULL},
};

typedef struct toy {
    wabot_module *m;
    wabot_metric_family *greetings;
    atomic_long jobs_done;
} toy;

static int on_turn(wabot_turn *t, void *ud)
{
    toy *s = ud;
    const char *text = wabot_message_text(wabot_turn_message(t));
    if (!text || strcmp(text, "toy") != 0)
        return wabot_next(t);
    const char *org = wabot_turn_organization(t);
    int rc = wabot_reply_text(t, wabot_module_option_str(s->m, org,
                                                         OPT_GREETING));
    if (rc == WABOT_OK)
        rc = wabot_turn_enqueue(t, "toy-jobs", org, strlen(org), NULL, NULL);
    if (rc != WABOT_OK)
        return rc;
    const char *labels[] = {org};
    wabot_metrics_counter_add_labels(s->greetings, labels, 1, 1);
    wabot_turn_set_handled(t);
    return WABOT_OK;
}

static int on_job(wabot_job *job, void *ud)
{
    (void)job;
    toy *s = ud;
    atomic_fetch_add(&s->jobs_done, 1);
    return WABOT_OK;
}

static int get_greeting(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    toy *s = ud;
    (void)ctx;
    const char *org = wabot_http_server_request_query_param(req, "org", NULL);
    const char *g = wabot_module_option_str(s->m, org, OPT_GREETING);
    char body[1024];
    snprintf(body, sizeof body, "{\"greeting\":\"%s\"}", g ? g : "");
    return wabot_http_response_set_json(resp, 200, body);
}

static int put_greeting(wabot_ctx *ctx, const wabot_http_server_request *req,
                        wabot_http_response *resp, void *ud)
{
    (void)ud;
    size_t len = 0;
    const char *body = wabot_http_server_request_body(req, &len);
    char text[512];
    if (len == 0 || len >= sizeof text)
        return wabot_http_response_set_json(
            resp, 400, "{\"error\":\"1..511 bytes of text\"}");
    memcpy(text, body, len);
    text[len] = '\0';
    int rc = wabot_ctx_set_org_option(
        ctx, wabot_http_server_request_param(req, "org"), "toy.greeting",
        text);
    if (rc != WABOT_OK)
        return wabot_http_response_set_json(resp, 400, "{}");
    return wabot_http_response_set_status(resp, 204);
}

static int get_stats(wabot_ctx *ctx, const wabot_http_server_request *req,
                     wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)req;
    toy *s = ud;
    char body[64];
    snprintf(body, sizeof body, "{\"jobs_done\":%ld}",
             atomic_load(&s->jobs_done));
    return wabot_http_response_set_json(resp, 200, body);
}

static int get_metrics(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    char *text = wabot_metrics_prometheus(ctx);
    if (!text)
        return WABOT_ERR_NOMEM;
    int rc = wabot_http_response_set_text(resp, 200, text);
    wabot_ctx_mem_free(ctx, text);
    return rc;
}

static int toy_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    toy *s = calloc(1, sizeof *s);
    if (!s)
        return WABOT_ERR_NOMEM;
    s->m = m;
    atomic_init(&s->jobs_done, 0);
    wabot_module_set_data(m, s);
    static const char *const labels[] = {"org"};
    wabot_metric_def def = {WABOT_METRIC_DEF_VERSION, "toy_greetings_total",
                            "greetings the toy module sent",
                            WABOT_METRIC_COUNTER, labels, 1, NULL, 0, 0};
    int rc = wabot_metrics_register(ctx, &def, &s->greetings);
    if (rc == WABOT_OK)
        rc = wabot_module_use(m, WABOT_STAGE_TURN, "greet", on_turn, s);
    if (rc == WABOT_OK)
        rc = wabot_worker_add(ctx, "toy-jobs", on_job, s, NULL, 2);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "GET", "/toy/greeting", get_greeting,
                                  s, NULL);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "PUT", "/toy/greeting/:org",
                                  put_greeting, s, NULL);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "GET", "/toy/stats", get_stats, s,
                                  NULL);
    if (rc == WABOT_OK)
        rc = wabot_http_route_add(ctx, "GET", "/toy/metrics", get_metrics,
                                  s, NULL);
    return rc;
}

static void toy_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    free(wabot_module_data(m));
}

static const wabot_module_def toy_def = {
    WABOT_MODULE_DEF_VERSION, "toy", "a module written for the tests", NULL,
    toy_options, 1, NULL, toy_create, toy_destroy};

__attribute__((visibility("default"))) const wabot_module_def *
wabot_module_entry(void)
{
    return &toy_def;
}
