/* wabot_http_handle(): find the route, run its handler, answer 404/405
 * when there is none, 500 when a handler fails, and strip the body of
 * every HEAD answer. What the webhook routes do is lib/webhook/http.c. */
#include <string.h>

#include "internal/http_server.h"
#include "internal/metrics.h"
#include "internal/webhook.h"

int wb_http_server_init(wabot_ctx *ctx)
{
    return wb_http_routes_new(ctx);
}

void wb_http_server_free(wabot_ctx *ctx)
{
    wb_http_routes_free(ctx);
}

static int check_args(const wabot_ctx *ctx, const char *method,
                      const char *target, const wabot_http_header *headers,
                      size_t nheaders, const char *body, size_t len,
                      wabot_http_response **resp)
{
    if (resp != NULL)
        *resp = NULL;
    if (ctx == NULL || method == NULL || target == NULL || resp == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_http_handle: NULL ctx, method, target or resp");
    if ((headers == NULL && nheaders > 0) || (body == NULL && len > 0))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_http_handle: NULL headers or body with a "
                        "non-zero count");
    return WABOT_OK;
}

/* 404 when nothing serves the path, else 405 with Allow. Both keep the
 * webhook's metric names (webhook.rejected.<code>): the route table began
 * as the webhook's path check. */
static int answer_unrouted(wabot_ctx *ctx, const char *method,
                           const char *path, size_t plen,
                           const wb_route_match *m,
                           wabot_http_response **resp)
{
    int shown = plen > 80 ? 80 : (int)plen;
    wb_reject rej;
    if (!m->path_matched) {
        wb_reject_set(&rej, WABOT_ERR_NOT_FOUND, 404, "not_found",
                      "no route for '%.*s'", shown, path);
        return wb_webhook_reject(ctx, &rej, resp);
    }
    char allow[64];
    wb_http_allow_list(m->allowed, allow, sizeof allow);
    wb_reject_set(&rej, WABOT_ERR_UNSUPPORTED, 405, "method_not_allowed",
                  "method '%.16s' is not allowed on '%.*s'; use %s", method,
                  shown, path, allow);
    int rc = wb_webhook_reject(ctx, &rej, resp);
    if (rc == WABOT_OK && wb_response_add_header(*resp, "Allow", allow) !=
                              WABOT_OK) {
        wabot_http_response_free(*resp);
        *resp = NULL;
        return wb_error(ctx, WABOT_ERR_NOMEM, "http: out of memory");
    }
    return rc;
}

/* A failing route handler: 500 with the error's name, nothing of its
 * detail (which may name internals); the detail goes to the log. */
static int answer_failed(wabot_ctx *ctx, const wb_route *route, int status,
                         wabot_http_response **resp)
{
    wb_count(ctx, "http.handler_errors", 1);
    wb_log(ctx, WABOT_LOG_ERROR, "http", "%s failed: %s (%s)",
           wb_http_route_name(route), wabot_strerror(status),
           wabot_ctx_errmsg(ctx));
    wb_reject rej;
    wb_reject_set(&rej, status, 500, "internal",
                  "the request could not be handled: %s",
                  wabot_strerror(status));
    *resp = wb_response_error(ctx, &rej);
    if (*resp == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "http: out of memory");
    return WABOT_OK;
}

static int serve(wabot_ctx *ctx, const wb_route *route, const wb_request *raw,
                 size_t plen, wabot_http_response **resp)
{
    char *path = wb_malloc(&ctx->alloc, plen + 1);
    if (path == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "http: out of memory");
    memcpy(path, raw->target, plen);
    path[plen] = '\0';
    wabot_http_server_request req;
    memset(&req, 0, sizeof req);
    req.raw = *raw;
    req.ctx = ctx;
    req.path = path;
    req.query = raw->target[plen] == '?' ? raw->target + plen + 1 : "";
    req.route = route;
    int rc = wb_http_route_capture(route, &req, plen);
    if (rc == WABOT_OK)
        rc = wb_http_route_call(route, ctx, &req, resp);
    wb_http_request_clear(&req);
    wb_free(&ctx->alloc, path);
    if (rc != WABOT_OK) {
        /* A built-in (webhook) handler fails only when no answer can be
         * built at all (its detail recorded): that is the caller's error,
         * as it always was. */
        if (wb_http_route_is_builtin(route))
            return rc;
        return answer_failed(ctx, route, rc, resp);
    }
    return WABOT_OK;
}

int wabot_http_handle(wabot_ctx *ctx, const char *method, const char *target,
                      const wabot_http_header *headers, size_t nheaders,
                      const char *body, size_t len,
                      wabot_http_response **resp)
{
    int rc = check_args(ctx, method, target, headers, nheaders, body, len,
                        resp);
    if (rc != WABOT_OK)
        return rc;
    size_t plen = strcspn(target, "?");
    wb_route_match m;
    wb_http_route_find(ctx->http_routes, method, target, plen, &m);
    /* The webhook metrics (webhook.requests and the request duration
     * histogram) cover the webhook routes and what no route serves, as
     * before routes existed; the host's routes are the host's to count. */
    int webhook = m.route == NULL || wb_http_route_is_builtin(m.route);
    if (webhook)
        wb_count(ctx, "webhook.requests", 1);
    wb_stopwatch sw = wb_stopwatch_start(ctx);
    if (m.route == NULL) {
        rc = answer_unrouted(ctx, method, target, plen, &m, resp);
    } else {
        wb_request raw = {method, target, headers, nheaders, body, len};
        rc = serve(ctx, m.route, &raw, plen, resp);
    }
    if (webhook)
        wb_metrics_webhook_done(
            ctx, *resp ? wabot_http_response_status(*resp) : 500, sw);
    /* Whatever answers a HEAD, it goes without a body (RFC 9110 9.3.2). */
    if (rc == WABOT_OK && strcmp(method, "HEAD") == 0)
        wb_response_drop_body(*resp);
    return rc;
}
