/* Orders: what order_store.c, order_module.c and flow.c share. Private. */
#ifndef WB_ORDER_INTERNAL_H
#define WB_ORDER_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/ctx.h"
#include "wabot/module.h"
#include "wabot/order.h"

#define WB_ORDER_ID_MAX 32
#define WB_ORDER_KEY_MAX 128
#define WB_ORDER_CUSTOMER_MAX 128

/* Options of the `orders` module, indexed by these. */
enum {
    WB_ORD_OPT_TEXT_CONFIRMED,
    WB_ORD_OPT_TEXT_PROCESSING,
    WB_ORD_OPT_TEXT_FULFILLED,
    WB_ORD_OPT_TEXT_CANCELLED,
    WB_ORD_OPT_CONCURRENCY,
    WB_ORD_OPT_FLOW_GREETING,
    WB_ORD_OPT_FLOW_HELP,
    WB_ORD_OPT_FLOW_ADDED,
    WB_ORD_OPT_FLOW_PLACED,
    WB_ORD_OPT_FLOW_CANCELLED,
    WB_ORD_OPT_FLOW_MENU_LIST,
    WB_ORD_N_OPTS
};

/* The `orders` module of ctx (NULL with a STATE detail when absent). */
wabot_module *wb_orders_module_of(wabot_ctx *ctx);
/* Option text of org (never NULL). */
const char *wb_ord_opt_str(wabot_ctx *ctx, const char *org, int opt);
int64_t wb_ord_opt_int(wabot_ctx *ctx, const char *org, int opt);

/* org or the default organisation, checked; NULL with INVAL detail. */
const char *wb_order_org(wabot_ctx *ctx, const char *org);

/* ---- order_store.c --------------------------------------------------- */

/* Create an order from parsed lines (array of {sku, quantity}); see
 * wabot_order_create. *id_out gets the id (buffer of WB_ORDER_ID_MAX). */
int wb_order_create(wabot_ctx *ctx, const char *org, const char *customer,
                    json_t *lines, const char *key,
                    char id_out[WB_ORDER_ID_MAX]);
/* The stored order as a JSON object (caller decrefs, in a json scope of
 * ctx->alloc) and its version. NOT_FOUND, STORAGE, PARSE. */
int wb_order_load(wabot_ctx *ctx, const char *org, const char *id,
                  json_t **out, uint64_t *version);
/* Change status (stock rules included), retrying on concurrent changes.
 * *changed (may be NULL) 1 if this call made the change. `reason` (may be
 * NULL) is stored with the order. */
int wb_order_move(wabot_ctx *ctx, const char *org, const char *id,
                  wabot_order_status to, const char *reason, int *changed);
int wb_order_list(wabot_ctx *ctx, const char *org, const char *customer,
                  wabot_order_status status, const char *cursor,
                  int64_t limit, char **json);
int wb_order_counts(wabot_ctx *ctx, const char *org, int64_t *counts,
                    size_t n);
int wb_order_stats(wabot_ctx *ctx, const char *org, char **json);
/* Parse a status name; 0 when unknown. */
wabot_order_status wb_order_status_parse(const char *name);

/* ---- order_module.c ---------------------------------------------------- */

/* Tell the customer about the order's new status (orders.text_<status>;
 * nothing when the text is empty). */
int wb_order_notify(wabot_ctx *ctx, const char *org, json_t *order,
                    wabot_order_status status);
/* {id}, {total}, {status}, {reason}, {items} of order replaced in tmpl. */
char *wb_order_fill(wabot_ctx *ctx, const char *tmpl, json_t *order);

extern const wabot_module_def wb_orders_module;

/* The orders' admin routes (order_routes.c), mounted by the module's
 * create. */
int wb_order_admin_routes(wabot_ctx *ctx);

#endif
