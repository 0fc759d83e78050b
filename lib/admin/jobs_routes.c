/* The jobs' admin routes (doc/admin.md), mounted by the admin module (jobs
 * are a subsystem without a module of their own):
 *   GET  {prefix}/jobs                     counts and counters per queue
 *   GET  {prefix}/jobs/:queue              one queue's counts
 *   GET  {prefix}/jobs/:queue/failed       failed jobs with their last error
 *   POST {prefix}/jobs/:queue/:id/retry    a failed job runs again */
#include <stdlib.h>

#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/strbuf.h"
#include "wabot/jobs.h"

static int jobs_all(wabot_ctx *ctx, const wabot_http_server_request *req,
                    wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    char *json = wabot_jobs_stats_json(ctx);
    if (json == NULL)
        return wabot_admin_error(resp, 503, "unavailable", NULL,
                                 "the job counts could not be read");
    return wb_admin_answer_owned(ctx, resp, 200, json);
}

static int jobs_queue(wabot_ctx *ctx, const wabot_http_server_request *req,
                      wabot_http_response *resp, void *ud)
{
    (void)ud;
    const char *queue = wabot_http_server_request_param(req, "queue");
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    int rc = wabot_queue_counts(ctx, queue, c, WABOT_JOB_STATE_COUNT);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, "queue");
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_puts(&b, "{\"queue\":");
    wb_strbuf_json_str(&b, queue);
    for (int s = 0; s < WABOT_JOB_STATE_COUNT; s++)
        wb_strbuf_printf(&b, ",\"%s\":%lld",
                         wabot_job_state_name((wabot_job_state)s),
                         (long long)c[s]);
    wb_strbuf_putc(&b, '}');
    char *text = wb_strbuf_take(&b);
    if (text == NULL)
        return WABOT_ERR_NOMEM;
    rc = wabot_http_response_set_json(resp, 200, text);
    free(text);
    return rc;
}

/* 501 until the job backends can list jobs by state. */
static int not_yet(wabot_ctx *ctx, const wabot_http_server_request *req,
                   wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)req;
    (void)ud;
    return wabot_admin_error(resp, 501, "not_implemented", NULL,
                             "the job backends cannot list or retry failed "
                             "jobs yet");
}

int wb_admin_jobs_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"GET", "/jobs", jobs_all},
        {"GET", "/jobs/:queue", jobs_queue},
        {"GET", "/jobs/:queue/failed", not_yet},
        {"POST", "/jobs/:queue/:id/retry", not_yet},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
