/* The admin module's descriptor (lib/admin/admin.c). Private. */
#ifndef WB_ADMIN_H
#define WB_ADMIN_H

#include "wabot/admin.h"
#include "wabot/module.h"

extern const wabot_module_def wb_admin_module;

/* wabot_admin_route_add() with two more choices: `path` under the admin
 * prefix or as it is (under_prefix 0: /metrics), and `extra`, more
 * accepted tokens (comma-separated; NULL or "": none; borrowed, valid for
 * the context's life). The route is served when the admin API is on or
 * extra names a token. */
int wb_admin_mount(wabot_ctx *ctx, const char *method, const char *path,
                   int under_prefix, const char *extra,
                   wabot_http_handler_fn fn, void *ud,
                   wabot_destroy_fn destroy);

#endif
