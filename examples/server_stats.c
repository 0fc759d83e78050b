/* See server_stats.h. The answer:
 *   {"outbound":{"waiting":N,"delayed":N,"active":N,"completed":N,
 *    "failed":N},"metrics":<wabot_metrics_json>}
 * Off unless WABOT_STATS_PATH names a path: the counters say how busy
 * the bot is, which is nobody's business on a public port. */
#include "server_stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stats(wabot_ctx *ctx, const wabot_http_server_request *req,
                 wabot_http_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    int64_t c[WABOT_JOB_STATE_COUNT] = {0};
    int rc = wabot_queue_counts(ctx, WABOT_QUEUE_OUTBOUND, c,
                                WABOT_JOB_STATE_COUNT);
    char *metrics = wabot_metrics_json(ctx);
    size_t n = (metrics ? strlen(metrics) : 2) + 256;
    char *body = malloc(n);
    if (rc == WABOT_OK && metrics && body) {
        snprintf(body, n,
                 "{\"outbound\":{\"waiting\":%" PRId64 ",\"delayed\":%" PRId64
                 ",\"active\":%" PRId64 ",\"completed\":%" PRId64
                 ",\"failed\":%" PRId64 "},\"metrics\":%s}",
                 c[WABOT_JOB_WAITING], c[WABOT_JOB_DELAYED],
                 c[WABOT_JOB_ACTIVE], c[WABOT_JOB_COMPLETED],
                 c[WABOT_JOB_FAILED], metrics);
        rc = wabot_http_response_add_header(resp, "Cache-Control",
                                            "no-store");
        if (rc == WABOT_OK)
            rc = wabot_http_response_set_json(resp, 200, body);
    } else if (rc == WABOT_OK) {
        rc = WABOT_ERR_NOMEM;
    }
    free(body);
    wabot_ctx_mem_free(ctx, metrics);
    return rc;
}

int server_stats_install(wabot_ctx *ctx)
{
    const char *path = getenv("WABOT_STATS_PATH");
    if (path == NULL || path[0] == '\0')
        return WABOT_OK;
    return wabot_http_route_add(ctx, "GET", path, stats, NULL, NULL);
}
