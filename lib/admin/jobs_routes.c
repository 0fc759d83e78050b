/* The jobs' admin routes (doc/admin.md), mounted by the admin module (jobs
 * are a subsystem without a module of their own):
 *   GET  {prefix}/jobs                     counts and counters per queue
 *   GET  {prefix}/jobs/:queue              one queue's counts
 *   GET  {prefix}/jobs/:queue/failed       failed jobs with their last error
 *   POST {prefix}/jobs/:queue/:id/retry    a failed job runs again */
#include <stdlib.h>

#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/jobs.h"
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
    return wb_admin_answer_strbuf(resp, 200, &b);
}

/* One failed job as JSON (the payload as text: jobs carry JSON). */
static void failed_item(const wabot_job_record *rec, void *ud)
{
    wb_strbuf *b = ud;
    wb_strbuf_puts(b, b->data[b->len - 1] == '[' ? "{\"id\":" : ",{\"id\":");
    wb_strbuf_json_str(b, rec->id);
    wb_strbuf_printf(b, ",\"attempts\":%d,\"max_attempts\":%d,"
                        "\"created_ms\":%lld,\"finished_ms\":%lld,"
                        "\"last_error\":",
                     (int)rec->attempts, (int)rec->max_attempts,
                     (long long)rec->created_ms, (long long)rec->finished_ms);
    if (rec->last_error != NULL)
        wb_strbuf_json_str(b, rec->last_error);
    else
        wb_strbuf_puts(b, "null");
    wb_strbuf_puts(b, ",\"payload\":");
    /* The payload may hold any bytes: as a JSON string, cut at a NUL. */
    wb_strbuf_json_str(b, rec->payload != NULL ? rec->payload : "");
    wb_strbuf_putc(b, '}');
}

static int jobs_failed(wabot_ctx *ctx, const wabot_http_server_request *req,
                       wabot_http_response *resp, void *ud)
{
    (void)ud;
    long limit = 0;
    int rc = WABOT_OK;
    if (!wb_admin_limit(req, resp, 50, 1000, &limit, &rc))
        return rc;
    const char *cur = wabot_http_server_request_query_param(req, "cursor",
                                                            NULL);
    char *end = NULL;
    long long offset = cur != NULL ? strtoll(cur, &end, 10) : 0;
    if (cur != NULL && (end == cur || *end != '\0' || offset < 0))
        return wabot_admin_error(resp, 400, "invalid_field", "cursor",
                                 "cursor must be one a list answered");
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_puts(&b, "{\"jobs\":[");
    int64_t total = 0;
    rc = wb_jobs_each_failed(ctx,
                             wabot_http_server_request_param(req, "queue"),
                             offset, limit, failed_item, &b, &total);
    if (rc != WABOT_OK) {
        wb_strbuf_free(&b);
        return wb_admin_answer_status(ctx, resp, rc, "queue");
    }
    long long next = offset + limit < total ? offset + limit : 0;
    wb_strbuf_printf(&b, "],\"total\":%lld,\"cursor\":\"%lld\"}",
                     (long long)total, next);
    return wb_admin_answer_strbuf(resp, 200, &b);
}

static int jobs_retry(wabot_ctx *ctx, const wabot_http_server_request *req,
                      wabot_http_response *resp, void *ud)
{
    (void)ud;
    const char *queue = wabot_http_server_request_param(req, "queue");
    const char *id = wabot_http_server_request_param(req, "id");
    int rc = wb_jobs_retry_failed(ctx, queue, id);
    if (rc != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, rc, NULL);
    wabot_job_info *info = NULL;
    if (wabot_job_get(ctx, queue, id, &info) != WABOT_OK)
        return wb_admin_answer_status(ctx, resp, WABOT_ERR_NOT_FOUND, NULL);
    const wabot_job_record *rec = wabot_job_info_record(info);
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_puts(&b, "{\"id\":");
    wb_strbuf_json_str(&b, rec->id);
    wb_strbuf_printf(&b, ",\"queue\":");
    wb_strbuf_json_str(&b, queue);
    wb_strbuf_printf(&b, ",\"state\":\"%s\",\"attempts\":%d}",
                     wabot_job_state_name((wabot_job_state)rec->state),
                     (int)rec->attempts);
    wabot_job_info_free(info);
    return wb_admin_answer_strbuf(resp, 200, &b);
}

int wb_admin_jobs_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"GET", "/jobs", jobs_all},
        {"GET", "/jobs/:queue", jobs_queue},
        {"GET", "/jobs/:queue/failed", jobs_failed},
        {"POST", "/jobs/:queue/:id/retry", jobs_retry},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
