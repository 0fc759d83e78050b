/* Health: liveness and readiness, as JSON and as routes for container
 * probes.
 *
 * Liveness says the process answers HTTP at all: nothing is checked, so a
 * provider outage or a Redis restart never gets a live process killed.
 * Readiness says whether this process should be sent traffic now:
 *  - storage: one read of a key that never exists (NOT_FOUND is a
 *    healthy answer) reaches the backend;
 *  - breakers: every transport's circuit breaker, as this process sees it
 *    (also open when another process sharing the storage opened it);
 *  - backlog: the outbound queue's waiting, delayed and active jobs
 *    against the health module's max_backlog (0: reported, not checked).
 * It is a library module ("health") for its option; the routes are added
 * by wabot_health_routes_add(), so a host chooses its paths. */
#include <stdio.h>
#include <string.h>

#include "delivery.h"
#include "http_server.h"
#include "strbuf.h"
#include "wabot/jobs.h"
#include "wabot/module.h"
#include "wabot/storage.h"

#define MODULE "health"
#define PROBE_KEY "health:probe"
#define MAX_BREAKERS 32

enum { OPT_MAX_BACKLOG, N_OPTS };

static const wabot_option_def options[N_OPTS] = {
    {WABOT_OPTION_DEF_VERSION, "max_backlog", WABOT_OPTION_INT, 0, 0, 0,
     1000000000, NULL,
     "readiness fails when the outbound queue holds this many jobs "
     "(waiting, delayed, active); 0: reported, not checked",
     NULL, NULL, NULL},
};

const wabot_module_def wb_health_module = {
    WABOT_MODULE_DEF_VERSION, MODULE,
    "liveness and readiness (/healthz, /readyz with wabot_health_routes_add)",
    NULL, options, N_OPTS, NULL, NULL, NULL};

static int64_t max_backlog(const wabot_ctx *ctx)
{
    int64_t v = 0;
    wabot_module *m = wabot_ctx_module(ctx, MODULE);
    if (!m || wabot_module_option_int(m, NULL, OPT_MAX_BACKLOG, &v) != WABOT_OK)
        return 0;
    return v;
}

/* ------------------------------------------------------------------ */
/* The checks, each appending its JSON member                          */

typedef struct report {
    wb_strbuf b;
    int ready;
} report;

static void check_storage(wabot_ctx *ctx, report *r)
{
    char *v = NULL;
    int rc = wabot_storage_get(ctx->storage, PROBE_KEY, &v, NULL, NULL);
    wabot_free(v);
    int ok = rc == WABOT_OK || rc == WABOT_ERR_NOT_FOUND;
    wb_strbuf_puts(&r->b, "\"storage\":{\"status\":");
    wb_strbuf_puts(&r->b, ok ? "\"ok\"" : "\"unreachable\"");
    if (!ok) {
        wb_strbuf_puts(&r->b, ",\"error\":");
        wb_strbuf_json_str(&r->b, wabot_strerror(rc));
        r->ready = 0;
    }
    wb_strbuf_putc(&r->b, '}');
}

static void check_breakers(wabot_ctx *ctx, int64_t now, report *r)
{
    wb_breaker_status st[MAX_BREAKERS];
    size_t n = wb_delivery_breakers(ctx, now, st, MAX_BREAKERS);
    if (n > MAX_BREAKERS)
        n = MAX_BREAKERS;
    wb_strbuf_puts(&r->b, ",\"breakers\":[");
    for (size_t i = 0; i < n; i++) {
        wb_strbuf_puts(&r->b, i ? ",{\"transport\":" : "{\"transport\":");
        wb_strbuf_json_str(&r->b, st[i].transport);
        wb_strbuf_puts(&r->b, ",\"organization\":");
        wb_strbuf_json_str(&r->b, st[i].org ? st[i].org : "");
        wb_strbuf_printf(&r->b, ",\"state\":\"%s\"",
                         wabot_breaker_state_name(st[i].state));
        if (st[i].state == WABOT_BREAKER_OPEN) {
            wb_strbuf_printf(&r->b, ",\"open_until_ms\":%lld",
                             (long long)st[i].open_until_ms);
            r->ready = 0;
        }
        wb_strbuf_putc(&r->b, '}');
    }
    wb_strbuf_putc(&r->b, ']');
}

static void check_backlog(wabot_ctx *ctx, report *r)
{
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    int rc = wabot_queue_counts(ctx, WABOT_QUEUE_OUTBOUND, c,
                                WABOT_JOB_STATE_COUNT);
    int64_t backlog = c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] +
                      c[WABOT_JOB_ACTIVE];
    int64_t max = max_backlog(ctx);
    const char *status = rc != WABOT_OK                 ? "unknown"
                         : max > 0 && backlog >= max ? "full"
                                                        : "ok";
    if (rc == WABOT_OK)
        wb_strbuf_printf(&r->b, ",\"backlog\":{\"outbound\":%lld",
                         (long long)backlog);
    else
        wb_strbuf_puts(&r->b, ",\"backlog\":{\"outbound\":null");
    wb_strbuf_printf(&r->b, ",\"max\":%lld,\"status\":\"%s\"}",
                     (long long)max, status);
    /* A queue that cannot be counted is the storage's problem, which the
     * storage check reports; only a full backlog fails here. */
    if (!strcmp(status, "full"))
        r->ready = 0;
}

int wabot_health_readiness(wabot_ctx *ctx, int *ready, char **json)
{
    if (ready)
        *ready = 0;
    if (json)
        *json = NULL;
    if (!ctx || !ready || !json)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_health_readiness: NULL argument");
    report r = {.ready = 1};
    wb_strbuf_init(&r.b, &ctx->alloc);
    wb_strbuf_putc(&r.b, '{');
    check_storage(ctx, &r);
    check_breakers(ctx, wb_now(ctx), &r);
    check_backlog(ctx, &r);
    wb_strbuf_printf(&r.b, ",\"status\":\"%s\"}",
                     r.ready ? "ready" : "not_ready");
    *json = wb_strbuf_take(&r.b);
    if (!*json)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    *ready = r.ready;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Routes                                                              */

static int healthz(wabot_ctx *ctx, const wabot_http_server_request *req,
                   wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)req;
    (void)ud;
    int rc = wabot_http_response_add_header(resp, "Cache-Control", "no-store");
    return rc == WABOT_OK
               ? wabot_http_response_set_json(resp, 200, "{\"status\":\"ok\"}")
               : rc;
}

static int readyz(wabot_ctx *ctx, const wabot_http_server_request *req,
                  wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    int ready = 0;
    char *json = NULL;
    int rc = wabot_health_readiness(ctx, &ready, &json);
    if (rc == WABOT_OK)
        rc = wabot_http_response_add_header(resp, "Cache-Control",
                                            "no-store");
    if (rc == WABOT_OK)
        rc = wabot_http_response_set_json(resp, ready ? 200 : 503, json);
    wabot_ctx_mem_free(ctx, json);
    return rc;
}

int wabot_health_routes_add(wabot_ctx *ctx, const char *liveness_path,
                            const char *readiness_path)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    int rc = wabot_http_route_add(ctx, "GET",
                                  liveness_path ? liveness_path : "/healthz",
                                  healthz, NULL, NULL);
    if (rc != WABOT_OK)
        return rc;
    return wabot_http_route_add(ctx, "GET",
                                readiness_path ? readiness_path : "/readyz",
                                readyz, NULL, NULL);
}
