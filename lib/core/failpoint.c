/* Failpoints for crash tests: WABOT_FAILPOINT=<name> in the environment
 * of a process makes the first context created afterwards kill the process
 * (SIGKILL, no clean-up, as a power cut or the OOM killer would) the first
 * time it reaches the point called <name>. Read once per context; when the
 * variable is absent a failpoint costs a pointer test. Points are listed
 * in doc/reliability notes of doc/architecture.md ("The turn outbox"). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

void wb_failpoints_init(wabot_ctx *ctx)
{
    const char *name = getenv("WABOT_FAILPOINT");
    ctx->failpoint = name && *name ? wb_strdup(&ctx->alloc, name) : NULL;
    if (ctx->failpoint)
        wb_log(ctx, WABOT_LOG_WARN, "core", "WABOT_FAILPOINT=%s: this "
               "process kills itself when it gets there (crash tests only)",
               ctx->failpoint);
}

void wb_failpoints_free(wabot_ctx *ctx)
{
    wb_free(&ctx->alloc, ctx->failpoint);
    ctx->failpoint = NULL;
}

void wb_failpoint(const wabot_ctx *ctx, const char *name)
{
    if (!ctx->failpoint || strcmp(ctx->failpoint, name) != 0)
        return;
    wb_log(ctx, WABOT_LOG_ERROR, "core", "failpoint %s reached: SIGKILL",
           name);
    kill(getpid(), SIGKILL);
}
