/*
 * The admin API's mount point (the `admin` module; doc/admin.md).
 *
 * Admin routes live under one prefix (option admin.prefix, default
 * "/whatsapp-v2") and answer only requests carrying
 * "Authorization: Bearer <token>" with one of the configured tokens
 * (option admin.token, environment WABOT_ADMIN_TOKEN: one token or several
 * separated by commas; compared in constant time). With no token
 * configured the admin API is off: its routes are not registered and
 * every admin path answers 404. A missing token answers 401 (with
 * "WWW-Authenticate: Bearer"), a wrong one 403; the handler never runs.
 * Errors are JSON: {"error":{"code":"...","message":"...","field":"..."}}.
 */
#ifndef WABOT_ADMIN_H
#define WABOT_ADMIN_H

#include "core.h"
#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Non-zero when the admin API is on (a token is configured). Any
 *  thread. 0 for NULL or a context without the admin module. */
WABOT_API int wabot_admin_enabled(const wabot_ctx *ctx);

/**
 * Serve `method` on admin.prefix + `subpath` (a route pattern, see
 * http_server.h: "/migration", "/orders/:id") with `fn`, behind the token
 * check. When the admin API is off nothing is registered, WABOT_OK is
 * returned and `destroy` runs on `ud` at once. Otherwise as
 * wabot_http_route_add (destroy runs in wabot_ctx_free; on failure never).
 * Errors: as wabot_http_route_add, and WABOT_ERR_STATE without the admin
 * module.
 */
WABOT_API int wabot_admin_route_add(wabot_ctx *ctx, const char *method,
                                    const char *subpath,
                                    wabot_http_handler_fn fn, void *ud,
                                    wabot_destroy_fn destroy);

/**
 * Fill `resp` with an admin error: status `http_status` and
 * {"error":{"code":code,"message":message,"field":field}} ("field" left
 * out when NULL). Strings are JSON-escaped. WABOT_OK, WABOT_ERR_INVAL
 * (NULL resp/code/message, a status outside 400..599), NOMEM.
 */
WABOT_API int wabot_admin_error(wabot_http_response *resp, int http_status,
                                const char *code, const char *field,
                                const char *message);

#ifdef __cplusplus
}
#endif

#endif
