/* Status strings and per-thread, per-context detail messages. */
#include <stdarg.h>
#include <stdio.h>

#include "ctx.h"

const char *wabot_strerror(int status)
{
    switch (status) {
    case WABOT_OK: return "success";
    case WABOT_ERR_INVAL: return "invalid argument";
    case WABOT_ERR_NOMEM: return "out of memory";
    case WABOT_ERR_NOT_FOUND: return "not found";
    case WABOT_ERR_EXISTS: return "already exists";
    case WABOT_ERR_CONFLICT: return "version conflict";
    case WABOT_ERR_PARSE: return "malformed input";
    case WABOT_ERR_TOO_LARGE: return "input exceeds a limit";
    case WABOT_ERR_UNSUPPORTED: return "not supported";
    case WABOT_ERR_STORAGE: return "storage failure";
    case WABOT_ERR_TRANSPORT: return "transport failure";
    case WABOT_ERR_STATE: return "invalid call in this state";
    case WABOT_ERR_HANDLER: return "handler failed";
    case WABOT_ERR_AUTH: return "authentication failed";
    case WABOT_ERR_TIMEOUT: return "timed out";
    case WABOT_ERR_BUSY: return "busy";
    case WABOT_ERR_RATE_LIMITED: return "rate limited";
    case WABOT_ERR_PERMANENT: return "refused permanently";
    case WABOT_ERR_WINDOW_CLOSED: return "outside the 24-hour window";
    case WABOT_ERR_OPTED_OUT: return "customer opted out";
    case WABOT_ERR_CIRCUIT_OPEN: return "circuit open";
    default: return "unknown status";
    }
}

/* The detail message lives in thread-local storage tagged with the context
 * it belongs to: threads never race on it, and a message about one context
 * is never reported for another. */
static _Thread_local struct {
    const wabot_ctx *ctx;
    char msg[512];
} tls_err;

int wb_error(const wabot_ctx *ctx, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tls_err.ctx = ctx;
    vsnprintf(tls_err.msg, sizeof tls_err.msg, fmt, ap);
    va_end(ap);
    if (ctx)
        wb_log(ctx, WABOT_LOG_DEBUG, "core", "%s: %s", wabot_strerror(status),
               tls_err.msg);
    return status;
}

void wb_error_clear(const wabot_ctx *ctx)
{
    if (tls_err.ctx == ctx)
        tls_err.msg[0] = '\0';
}

const char *wabot_ctx_errmsg(const wabot_ctx *ctx)
{
    return tls_err.ctx == ctx ? tls_err.msg : "";
}
