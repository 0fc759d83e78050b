/* The "webhook" module: the registry the provider modules (twilio, meta,
 * or a host's) join, and the routes of their paths. It lives with the
 * route table because it registers built-in routes; the dispatching itself
 * is lib/webhook/http.c, one layer down. */
#include "internal/http_server.h"
#include "internal/webhook.h"

/* GET (HEAD too) and POST on every provider's path, as providers have
 * always shared their paths: a GET runs the handshake of whichever
 * provider has one, a POST goes by Content-Type. Providers may name one
 * path (up to a trailing '/'): it is served once. */
static int serve_path(wabot_ctx *ctx, const char *path, int with_get)
{
    (void)with_get;
    int rc = wb_http_route_builtin(ctx, "GET", path, wb_webhook_get);
    if (rc == WABOT_OK || rc == WABOT_ERR_EXISTS)
        rc = wb_http_route_builtin(ctx, "POST", path, wb_webhook_post);
    if (rc == WABOT_ERR_EXISTS) {
        wb_error_clear(ctx);
        rc = WABOT_OK;
    }
    return rc;
}

static int webhook_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    wb_webhooks *w = wb_webhooks_new(ctx, serve_path);
    if (w == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "webhook: out of memory");
    wabot_module_set_data(m, w);
    return WABOT_OK;
}

static void webhook_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wb_webhooks_free(wabot_module_ctx(m), wabot_module_data(m));
}

const wabot_module_def wb_webhook_module = {
    WABOT_MODULE_DEF_VERSION, "webhook",
    "serves the providers' webhook paths: size limit, provider by "
    "Content-Type, receipts, the pipeline, the answer",
    NULL, NULL, 0, NULL, webhook_create, webhook_destroy};
