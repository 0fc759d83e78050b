/* The library's own modules and subsystems. This file is the composition
 * root: it is the only place that names them, so the core knows none. */
#include "commerce/invoice_internal.h"
#include "admin.h"
#include "commerce/commerce.h"
#include "commerce/order_internal.h"
#include "campaign.h"
#include "delivery.h"
#include "http.h"
#include "http_server.h"
#include "inbound.h"
#include "metrics.h"
#include "migration.h"
#include "module.h"
#include "monitoring.h"
#include "options.h"
#include "outbound.h"
#include "outbox.h"
#include "receipts.h"
#include "router.h"
#include "runtime.h"
#include "state.h"
#include "webhook.h"

/* Modules, in the order a context creates them (unless their
 * requirements say otherwise). */
static const wabot_module_def *const builtin[] = {
    &wb_dedup_module,
    &wb_inbound_limit_module,
    &wb_optout_module,
    &wb_outbox_module,
    &wb_outbound_module,
    &wb_texts_module,
    &wb_delivery_module,
    &wb_receipts_module,
    &wb_webhook_module,
    &wb_twilio_module,
    &wb_meta_module,
    &wb_admin_module,
    &wb_migration_module,
    &wb_health_module,
    &wb_monitoring_module,
    &wb_commerce_module,
    &wb_invoices_module,
    &wb_orders_module,
    &wb_campaign_module,
};

const wabot_module_def *const *wb_builtin_modules(size_t *n)
{
    *n = sizeof builtin / sizeof builtin[0];
    return builtin;
}

/* ------------------------------------------------------------------ */
/* Subsystems: what the pipeline and the modules run on                 */

static int router_init(wabot_ctx *ctx, const wabot_options *opts)
{
    (void)opts;
    ctx->router = wb_router_new(&ctx->alloc);
    ctx->turn_end = wb_router_turn_end;
    return ctx->router ? WABOT_OK : WABOT_ERR_NOMEM;
}

static void router_free(wabot_ctx *ctx)
{
    wb_router_free(ctx->router);
    ctx->router = NULL;
    ctx->turn_end = NULL;
}

static int metrics_init(wabot_ctx *ctx, const wabot_options *opts)
{
    (void)opts;
    ctx->metrics = wb_metrics_new(&ctx->alloc);
    return ctx->metrics ? WABOT_OK : WABOT_ERR_NOMEM;
}

static void metrics_free(wabot_ctx *ctx)
{
    wb_metrics_free(ctx->metrics);
    ctx->metrics = NULL;
}

static int locks_init(wabot_ctx *ctx, const wabot_options *opts)
{
    (void)opts;
    ctx->locks = wb_locktab_new(&ctx->alloc);
    return ctx->locks ? WABOT_OK : WABOT_ERR_NOMEM;
}

static void locks_free(wabot_ctx *ctx)
{
    wb_locktab_free(ctx->locks);
    ctx->locks = NULL;
}

static int http_server_init(wabot_ctx *ctx, const wabot_options *opts)
{
    (void)opts;
    return wb_http_server_init(ctx);
}

static int runtime_init(wabot_ctx *ctx, const wabot_options *opts)
{
    return wb_runtime_init(ctx, opts && opts->has_loop ? &opts->loop : NULL,
                           opts ? opts->scheduler : NULL);
}

/* Stopped in reverse: the HTTP client first (it unwatches its sockets
 * through the loop), then the runtime (running jobs may use everything
 * else), then the route table (a route's destroy may use the data of the
 * module that registered it), all before the modules are destroyed. */
static const wb_subsystem subsystems[] = {
    {"router", "out of memory", router_init, NULL, router_free},
    {"metrics", "out of memory", metrics_init, NULL, metrics_free},
    {"locks", "out of memory", locks_init, NULL, locks_free},
    {"http_server", "out of memory", http_server_init, wb_http_server_free,
     NULL},
    {"runtime", "cannot set up the job runtime", runtime_init,
     wb_runtime_free, NULL},
    {"http", NULL, wb_http_attach, wb_http_shutdown, NULL},
};

const wb_subsystem *wb_builtin_subsystems(size_t *n)
{
    *n = sizeof subsystems / sizeof subsystems[0];
    return subsystems;
}
