/*
 * Orders: placed from a cart (or from lines), priced at order time, moved
 * through PENDING -> CONFIRMED -> PROCESSING -> FULFILLED (or CANCELLED),
 * with stock reserved atomically at confirmation by the `order-processing`
 * queue's built-in worker, which then queues the invoice. The `orders`
 * library module (options orders.*) carries it, and the ready-made order
 * flow (wabot_order_flow_install) puts the commerce pieces behind router
 * routes. See doc/commerce.md, "Orders" and "The order flow".
 *
 * Money is integer minor units of the products' ISO 4217 currency; a sum
 * or product beyond int64 is WABOT_ERR_TOO_LARGE with a message.
 *
 * Status changes allowed: PENDING -> CONFIRMED or CANCELLED; CONFIRMED ->
 * PROCESSING or CANCELLED; PROCESSING -> FULFILLED or CANCELLED. FULFILLED
 * and CANCELLED are final; any other change is WABOT_ERR_STATE with both
 * names in the message. PENDING -> CONFIRMED takes the stock of every line
 * whose product tracks stock, in the same storage transaction as the
 * status change (compare-and-set on each product's version: never
 * oversells, across threads and processes); not enough stock is
 * WABOT_ERR_TOO_LARGE naming the product. Cancelling a confirmed order
 * gives its stock back.
 *
 * Orders live in the context's storage (memory or Redis). Every function
 * here may be called from any thread and from several processes sharing
 * one storage; each records a detail for wabot_ctx_errmsg() when it
 * fails, and returns WABOT_ERR_STATE when the context has no `orders`
 * module.
 *
 * JSON of one order (wabot_order_get, list items):
 *   {"id":"ORD-000042","seq":42,"org":"acme","customer":"+1555..",
 *    "key":"SM123","currency":"USD","status":"pending",
 *    "lines":[{"sku":"coke","name":"Coke","quantity":2,"unit_minor":150,
 *              "total_minor":300}],
 *    "total_minor":300,"stock_reserved":false,"reason":"",
 *    "created_ms":..,"updated_ms":..}          ("key" absent when none)
 */
#ifndef WABOT_ORDER_H
#define WABOT_ORDER_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An order's status. Append-only. */
typedef enum wabot_order_status {
    WABOT_ORDER_PENDING = 1,
    WABOT_ORDER_CONFIRMED = 2,
    WABOT_ORDER_PROCESSING = 3,
    WABOT_ORDER_FULFILLED = 4,
    WABOT_ORDER_CANCELLED = 5
} wabot_order_status;

/** Number of statuses + 1 (size of a counts array indexed by status). */
#define WABOT_ORDER_STATUS_COUNT 6
/** The queue whose built-in worker confirms orders. */
#define WABOT_ORDER_QUEUE "order-processing"
/** Most lines on one order. */
#define WABOT_ORDER_MAX_LINES 50

/** Lower-case name of a status ("pending", ...), "unknown" otherwise.
 *  Static storage. Any thread. */
WABOT_API const char *wabot_order_status_name(wabot_order_status s);

/**
 * Place an order for `customer` of organisation `org` (NULL or "": the
 * context's default) from `lines_json`, an array
 * [{"sku":"coke","quantity":2}, ...] (1..WABOT_ORDER_MAX_LINES lines, a
 * sku at most once). Names and prices are copied from the catalog now;
 * every product must exist and be active, share one currency, and a
 * tracked stock must cover the quantity (checked again, atomically, at
 * confirmation). The order is PENDING, its id "ORD-<n>" from a storage
 * counter of the organisation (unique across processes).
 * `key` (may be NULL; 1..128 bytes without control bytes or braces), e.g.
 * the inbound message id: a second create with the same key creates
 * nothing and returns WABOT_ERR_EXISTS with the first order's id, so a
 * redelivered message never makes a second order. *id (may be NULL) gets
 * the id, owned (wabot_ctx_mem_free), also on EXISTS.
 * Errors: PARSE (not a JSON array), INVAL (bad org, customer, line,
 * quantity <= 0, mixed currencies), NOT_FOUND (unknown sku), STATE (an
 * inactive product), TOO_LARGE (quantity over commerce.max_quantity or
 * the stock, a total beyond int64), EXISTS, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_order_create(wabot_ctx *ctx, const char *org,
                                 const char *customer,
                                 const char *lines_json, const char *key,
                                 char **id);

/**
 * Place an order from the turn's cart (wabot_cart_add) for the turn's
 * customer and organisation, keyed by the turn's message id (a re-run or
 * redelivered turn gives the same order: WABOT_OK and its id), and empty
 * the cart. Lines that cannot be ordered fail the call (nothing placed).
 * *id (may be NULL) owned. Errors: those of wabot_order_create, and
 * NOT_FOUND with "the cart is empty". The turn's thread.
 */
WABOT_API int wabot_order_place_cart(wabot_turn *turn, char **id);

/**
 * Queue order `id` for the built-in `order-processing` worker, which
 * confirms it (taking the stock), queues its invoice
 * (wabot_invoice_enqueue, key = the order id) and moves it to PROCESSING.
 * The job id is "order:<org>:<id>": queuing the same order twice is
 * WABOT_ERR_EXISTS. An order the worker cannot confirm for lack of stock
 * is CANCELLED with the reason and the customer told. Inside a turn use
 * wabot_order_confirm_in_turn instead (the job joins the turn's outbox).
 * Errors: NOT_FOUND, STATE (not PENDING), EXISTS, INVAL, STORAGE. Any
 * thread.
 */
WABOT_API int wabot_order_confirm(wabot_ctx *ctx, const char *org,
                                  const char *id);
/** wabot_order_confirm as one of the turn's effects (wabot_turn_enqueue:
 *  queued only if the turn commits). The turn's thread. */
WABOT_API int wabot_order_confirm_in_turn(wabot_turn *turn, const char *id);

/**
 * Move order `id` to `status` (allowed changes in the file comment; the
 * stock rules too). Setting the status it has is WABOT_OK and changes
 * nothing. The customer is told with the organisation's text for the new
 * status (orders.text_<status>; empty: no message), an outbound message
 * with idempotency key "order-status:<org>:<id>:<status>".
 * Errors: STATE (change not allowed: the message names both statuses),
 * TOO_LARGE (not enough stock to confirm), NOT_FOUND, INVAL, STORAGE.
 * Any thread.
 */
WABOT_API int wabot_order_set_status(wabot_ctx *ctx, const char *org,
                                     const char *id,
                                     wabot_order_status status);
/** wabot_order_set_status(.., WABOT_ORDER_CANCELLED). */
WABOT_API int wabot_order_cancel(wabot_ctx *ctx, const char *org,
                                 const char *id);

/**
 * The order's JSON (format above) into *json, owned (wabot_ctx_mem_free).
 * Errors: NOT_FOUND, INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_order_get(wabot_ctx *ctx, const char *org,
                              const char *id, char **json);
/**
 * Orders of `org`, newest first: of one customer (`customer` non-NULL)
 * and/or in one status (`status` 0: any), starting after `cursor` (NULL
 * or "0": from the newest), at most `limit` (1..1000). *json (owned):
 * {"orders":[...], "cursor":"<next>"} ("0": no more). Errors: INVAL (bad
 * org, limit, cursor or status), STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_order_list(wabot_ctx *ctx, const char *org,
                               const char *customer,
                               wabot_order_status status, const char *cursor,
                               int64_t limit, char **json);
/**
 * Number of orders of `org` per status: counts[s] for each status s <
 * n (counts[0] = all orders). n up to WABOT_ORDER_STATUS_COUNT. One round
 * trip. Errors: INVAL, STORAGE. Any thread.
 */
WABOT_API int wabot_order_counts(wabot_ctx *ctx, const char *org,
                                 int64_t *counts, size_t n);
/**
 * Statistics of `org` as JSON (owned):
 *   {"org":"acme","count":n,"by_status":{"pending":n,...},
 *    "revenue":{"USD":minor,...}}   totals of confirmed orders not cancelled
 * Errors: INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_order_stats(wabot_ctx *ctx, const char *org,
                                char **json);

/* ------------------------------------------------------------------ */
/* The ready-made order flow                                           */

/**
 * Install the shop's conversation on the context's router: keywords
 * "hi"/"hello" (greeting), "menu" (the menu text, or a list message),
 * "cart", "confirm", "clear" (and "cancel", which the opt-out module
 * answers first while it is one of optout.keywords, as by default),
 * "help", buttons "pick:<qty>:<sku>" and "product:<sku>", and a
 * fallback that reads free text with the matcher into the cart (ambiguous words get choices as buttons or a list, unless
 * the best candidate alone is named exactly: "coke" is Coke, not Coke Zero;
 * unknown words a helpful answer). "confirm" places the cart as an order
 * and queues it for the order-processing worker; its status changes reach
 * the customer through orders.text_*. Every text is a per-organisation
 * option (orders.flow_*). `org`: NULL to serve every organisation, else
 * only turns of that one: other organisations' turns go on to their own
 * routes and fallback as if the flow were not installed, and the flow's
 * fallback does not replace the one registered for every organisation.
 * The flow uses state "shop" after the greeting. Call before serving,
 * once per organisation (or once with NULL, whose fallback replaces the
 * global one). Errors: INVAL, STATE (no orders module), NOMEM (from the
 * router). Not thread-safe (like route setup).
 */
WABOT_API int wabot_order_flow_install(wabot_ctx *ctx, const char *org);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_ORDER_H */
