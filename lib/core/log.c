#include <stdarg.h>
#include <stdio.h>

#include "ctx.h"

const char *wabot_log_level_name(wabot_log_level level)
{
    switch (level) {
    case WABOT_LOG_DEBUG: return "debug";
    case WABOT_LOG_INFO: return "info";
    case WABOT_LOG_WARN: return "warn";
    case WABOT_LOG_ERROR: return "error";
    case WABOT_LOG_NONE: return "none";
    }
    return "unknown";
}

int wb_log_enabled(const wabot_ctx *ctx, wabot_log_level level)
{
    return ctx && ctx->log_fn && (int64_t)level >= ctx->cfg.log_level &&
           level < WABOT_LOG_NONE;
}

void wb_log(const wabot_ctx *ctx, wabot_log_level level, const char *module,
            const char *fmt, ...)
{
    if (!wb_log_enabled(ctx, level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_ud, level, module, line);
}
