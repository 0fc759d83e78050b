/* Status strings and per-thread, per-context detail messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* One detail slot per thread, tagged with the object the failed call was
 * made on (a context, a storage handle, an options object, or NULL for a
 * constructor that returned NULL). Threads never race on it; a message
 * about one object is never reported by another object's accessor, and
 * wabot_errmsg() reports the thread's last one whatever it was about. */
static _Thread_local struct {
    const void *owner;
    char msg[512];
} tls_err;

/* Formatted through a scratch buffer: a new detail often quotes the one
 * before it (a context's message wrapping its storage's), which lives in
 * the same slot. */
void wb_detailv(const void *owner, const char *fmt, va_list ap)
{
    char msg[sizeof tls_err.msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(tls_err.msg, msg, sizeof msg);
    tls_err.owner = owner;
}

int wb_detail(const void *owner, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_detailv(owner, fmt, ap);
    va_end(ap);
    return status;
}

void *wb_null(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_detailv(NULL, fmt, ap);
    va_end(ap);
    return NULL;
}

const char *wb_detail_of(const void *owner)
{
    return tls_err.owner == owner ? tls_err.msg : "";
}

int wb_error(const wabot_ctx *ctx, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_detailv(ctx, fmt, ap);
    va_end(ap);
    if (ctx)
        wb_log(ctx, WABOT_LOG_DEBUG, "core", "%s: %s", wabot_strerror(status),
               tls_err.msg);
    return status;
}

void wb_error_clear(const wabot_ctx *ctx)
{
    if (tls_err.owner == (const void *)ctx)
        tls_err.msg[0] = '\0';
}

const char *wabot_ctx_errmsg(const wabot_ctx *ctx)
{
    return wb_detail_of(ctx);
}

const char *wabot_errmsg(void)
{
    return tls_err.msg;
}
