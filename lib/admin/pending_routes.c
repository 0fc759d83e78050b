/* Admin routes documented in doc/openapi.json whose C API is being built
 * elsewhere (campaigns, reminders): they answer 501 until their
 * module mounts the real handler. To wire one, delete its line here and
 * mount it from its module (the same method and path; a second mount of
 * one route is WABOT_ERR_EXISTS). The order routes are not stubbed: a
 * host may serve its own /orders routes until the order module does. */
#include "internal/admin.h"

static int not_implemented(wabot_ctx *ctx,
                           const wabot_http_server_request *req,
                           wabot_http_response *resp, void *ud)
{
    (void)ctx;
    (void)req;
    (void)ud;
    return wabot_admin_error(resp, 501, "not_implemented", NULL,
                             "this route is documented but its module does "
                             "not serve it yet");
}

int wb_admin_pending_routes(wabot_ctx *ctx)
{
    static const wb_admin_route routes[] = {
        {"POST", "/campaigns", not_implemented},
        {"GET", "/campaigns", not_implemented},
        {"GET", "/campaigns/:id", not_implemented},
        {"POST", "/campaigns/:id/pause", not_implemented},
        {"POST", "/campaigns/:id/resume", not_implemented},
        {"POST", "/campaigns/:id/cancel", not_implemented},
        {"POST", "/reminders", not_implemented},
        {"GET", "/reminders", not_implemented},
        {"GET", "/reminders/:id", not_implemented},
        {"DELETE", "/reminders/:id", not_implemented},
    };
    return wb_admin_mount_table(ctx, routes, sizeof routes / sizeof *routes);
}
