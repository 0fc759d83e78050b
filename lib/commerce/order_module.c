/* The `orders` library module: its options (status texts and the flow's
 * texts, per organisation), the public functions of wabot/order.h, the
 * customer notifications and the `order-processing` queue's worker.
 * Storage is order_store.c, the ready-made flow flow.c. */
#include <stdio.h>
#include <string.h>

#include "commerce/commerce.h"
#include "commerce/order_internal.h"
#include "internal/json_alloc.h"
#include "internal/strbuf.h"
#include "wabot/invoice.h"
#include "wabot/jobs.h"
#include "wabot/out.h"
#include "wabot/pipeline.h"

#define MODULE "orders"
#define JOB_ID_MAX 256

#define TEXT(name, dflt, doc)                                                \
    {WABOT_OPTION_DEF_VERSION, name, WABOT_OPTION_STRING,                    \
     WABOT_OPTION_PER_ORG | WABOT_OPTION_EMPTY_OK, 0, 0, 0, dflt, doc, NULL, \
     NULL, NULL}

static const wabot_option_def order_options[WB_ORD_N_OPTS] = {
    [WB_ORD_OPT_TEXT_CONFIRMED] = TEXT(
        "text_confirmed",
        "Order {id} is confirmed: {items}. Total {total}. Your invoice "
        "follows.",
        "message to the customer when an order is confirmed ({id}, {items}, "
        "{total}, {status}, {reason}); empty: none"),
    [WB_ORD_OPT_TEXT_PROCESSING] = TEXT(
        "text_processing", "",
        "message when an order is being prepared; empty: none"),
    [WB_ORD_OPT_TEXT_FULFILLED] = TEXT(
        "text_fulfilled", "Order {id} is on its way. Thank you!",
        "message when an order is fulfilled; empty: none"),
    [WB_ORD_OPT_TEXT_CANCELLED] = TEXT(
        "text_cancelled", "Order {id} was cancelled. {reason}",
        "message when an order is cancelled ({reason}: why, e.g. out of "
        "stock); empty: none"),
    [WB_ORD_OPT_CONCURRENCY] = {WABOT_OPTION_DEF_VERSION, "concurrency",
        WABOT_OPTION_INT, 0, 2, 1, 64, NULL,
        "order-processing jobs run at once per context", NULL, NULL, NULL},
    [WB_ORD_OPT_FLOW_GREETING] = TEXT(
        "flow_greeting",
        "Hi! Welcome to our shop. Send *menu* to see what we have, then "
        "write what you'd like, e.g. \"2 coke\".",
        "order flow: answer to hi/hello"),
    [WB_ORD_OPT_FLOW_HELP] = TEXT(
        "flow_help",
        "Write what you'd like (\"2 coke and a water\"), *cart* to see your "
        "cart, *confirm* to order, *clear* to empty the cart, *menu* for "
        "the menu.",
        "order flow: answer to help"),
    [WB_ORD_OPT_FLOW_ADDED] = TEXT(
        "flow_added", "Send *confirm* to place the order, or add more.",
        "order flow: line after the cart when items were added"),
    [WB_ORD_OPT_FLOW_PLACED] = TEXT(
        "flow_placed",
        "Thank you! Order {id} ({total}) is placed; the confirmation follows "
        "in a moment.",
        "order flow: answer to confirm ({id}, {total}, {items})"),
    [WB_ORD_OPT_FLOW_CANCELLED] = TEXT(
        "flow_cancelled", "Your cart is empty now. Send *menu* to start again.",
        "order flow: answer to clear (or cancel, when it is not an opt-out "
        "keyword)"),
    [WB_ORD_OPT_FLOW_MENU_LIST] = {WABOT_OPTION_DEF_VERSION, "flow_menu_list",
        WABOT_OPTION_BOOL, WABOT_OPTION_PER_ORG, 0, 0, 1, NULL,
        "order flow: send the menu as an interactive list instead of text",
        NULL, NULL, NULL},
};

wabot_module *wb_orders_module_of(wabot_ctx *ctx)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, MODULE) : NULL;
    if (!m && ctx)
        wb_error(ctx, WABOT_ERR_STATE, "orders: no orders module");
    return m;
}

const char *wb_ord_opt_str(wabot_ctx *ctx, const char *org, int opt)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, MODULE) : NULL;
    const char *s = m ? wabot_module_option_str(m, org, (size_t)opt) : NULL;
    return s ? s : order_options[opt].str_default;
}

int64_t wb_ord_opt_int(wabot_ctx *ctx, const char *org, int opt)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, MODULE) : NULL;
    int64_t v = order_options[opt].int_default;
    if (m)
        wabot_module_option_int(m, org, (size_t)opt, &v);
    return v;
}

const char *wb_order_org(wabot_ctx *ctx, const char *org)
{
    if (!org || !*org)
        org = ctx->cfg.default_org;
    return wb_org_check(ctx, org) == WABOT_OK ? org : NULL;
}

/* Common start of the public calls: the module, the organisation. */
static int begin(wabot_ctx *ctx, const char **org)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!wb_orders_module_of(ctx))
        return WABOT_ERR_STATE;
    *org = wb_order_org(ctx, *org);
    return *org ? WABOT_OK : WABOT_ERR_INVAL;
}

static char *dump(wabot_ctx *ctx, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *copy = s ? wb_strdup(&ctx->alloc, s) : NULL;
    wb_json_free(s);
    return copy;
}

/* ------------------------------------------------------------------ */
/* Texts and notifications                                             */

static void put_items(wb_strbuf *b, json_t *order)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(order, "lines"), i, l) {
        wb_strbuf_printf(b, "%s%lld \xC3\x97 ", i ? ", " : "",
                         (long long)json_integer_value(
                             json_object_get(l, "quantity")));
        wb_strbuf_puts(b, json_string_value(json_object_get(l, "name")));
    }
}

static void put_token(wb_strbuf *b, const char *tok, size_t n, json_t *o)
{
    char money[WB_MONEY_STR];
    if (n == 4 && memcmp(tok, "{id}", 4) == 0)
        wb_strbuf_puts(b, json_string_value(json_object_get(o, "id")));
    else if (n == 7 && memcmp(tok, "{total}", 7) == 0)
        wb_strbuf_puts(b, wb_money_str(
                              json_integer_value(
                                  json_object_get(o, "total_minor")),
                              json_string_value(json_object_get(o, "currency")),
                              WABOT_MONEY_SYMBOL, money));
    else if (n == 8 && memcmp(tok, "{status}", 8) == 0)
        wb_strbuf_puts(b, json_string_value(json_object_get(o, "status")));
    else if (n == 8 && memcmp(tok, "{reason}", 8) == 0)
        wb_strbuf_puts(b, json_string_value(json_object_get(o, "reason")));
    else if (n == 7 && memcmp(tok, "{items}", 7) == 0)
        put_items(b, o);
    else
        wb_strbuf_append(b, tok, n); /* not a token: kept as written */
}

char *wb_order_fill(wabot_ctx *ctx, const char *tmpl, json_t *order)
{
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    for (const char *p = tmpl; *p;) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!close) {
            wb_strbuf_puts(&b, p);
            break;
        }
        wb_strbuf_append(&b, p, (size_t)(open - p));
        put_token(&b, open, (size_t)(close - open + 1), order);
        p = close + 1;
    }
    /* An empty {reason} at the end must not leave a dangling space. */
    while (b.len && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    return wb_strbuf_take(&b);
}

static int status_opt(wabot_order_status s)
{
    switch (s) {
    case WABOT_ORDER_CONFIRMED: return WB_ORD_OPT_TEXT_CONFIRMED;
    case WABOT_ORDER_PROCESSING: return WB_ORD_OPT_TEXT_PROCESSING;
    case WABOT_ORDER_FULFILLED: return WB_ORD_OPT_TEXT_FULFILLED;
    case WABOT_ORDER_CANCELLED: return WB_ORD_OPT_TEXT_CANCELLED;
    default: return -1;
    }
}

int wb_order_notify(wabot_ctx *ctx, const char *org, json_t *order,
                    wabot_order_status status)
{
    int opt = status_opt(status);
    const char *tmpl = opt >= 0 ? wb_ord_opt_str(ctx, org, opt) : "";
    if (!*tmpl)
        return WABOT_OK;
    char *text = wb_order_fill(ctx, tmpl, order);
    const char *id = json_string_value(json_object_get(order, "id"));
    char key[JOB_ID_MAX];
    snprintf(key, sizeof key, "order-status:%s:%s:%s", org, id,
             wabot_order_status_name(status));
    wabot_out *o = wabot_out_new(ctx);
    int rc = o && text ? WABOT_OK : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_out_set_to(
            o, json_string_value(json_object_get(order, "customer")));
    if (rc == WABOT_OK)
        rc = wabot_out_set_org(o, org);
    if (rc == WABOT_OK)
        rc = wabot_out_set_category(o, WABOT_CAT_NOTICE);
    if (rc == WABOT_OK)
        rc = wabot_out_set_idempotency_key(o, key);
    if (rc == WABOT_OK)
        rc = wabot_out_set_correlation_id(o, id);
    if (rc == WABOT_OK)
        rc = wabot_out_set_text(o, text);
    if (rc == WABOT_OK)
        rc = wabot_out_enqueue(o, NULL);
    if (rc == WABOT_ERR_EXISTS)
        rc = WABOT_OK; /* told already by an earlier attempt */
    if (rc != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "order %s: cannot tell the "
               "customer it is %s: %s", id, wabot_order_status_name(status),
               wabot_ctx_errmsg(ctx));
    wabot_out_free(o);
    wb_free(&ctx->alloc, text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Public calls                                                        */

int wabot_order_create(wabot_ctx *ctx, const char *org, const char *customer,
                       const char *lines_json, const char *key, char **id)
{
    if (id)
        *id = NULL;
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!lines_json)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL lines");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *lines = json_loads(lines_json, 0, NULL);
    char out[WB_ORDER_ID_MAX] = "";
    rc = lines ? wb_order_create(ctx, org, customer, lines, key, out)
               : wb_error(ctx, WABOT_ERR_PARSE, "order lines are not JSON");
    json_decref(lines);
    wb_json_scope_leave(prev);
    if (id && (rc == WABOT_OK || rc == WABOT_ERR_EXISTS)) {
        *id = wb_strdup(&ctx->alloc, out);
        if (!*id)
            return WABOT_ERR_NOMEM;
    }
    return rc;
}

int wabot_order_get(wabot_ctx *ctx, const char *org, const char *id,
                    char **json)
{
    if (json)
        *json = NULL;
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!id || !json)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL id or json");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *o = NULL;
    rc = wb_order_load(ctx, org, id, &o, NULL);
    if (rc == WABOT_OK) {
        *json = dump(ctx, o);
        rc = *json ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    json_decref(o);
    wb_json_scope_leave(prev);
    return rc;
}

static int move(wabot_ctx *ctx, const char *org, const char *id,
                wabot_order_status to, const char *reason, int *changed)
{
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!id)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL id");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = wb_order_move(ctx, org, id, to, reason, changed);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_order_set_status(wabot_ctx *ctx, const char *org, const char *id,
                           wabot_order_status status)
{
    return move(ctx, org, id, status, NULL, NULL);
}

int wabot_order_cancel(wabot_ctx *ctx, const char *org, const char *id)
{
    return move(ctx, org, id, WABOT_ORDER_CANCELLED, NULL, NULL);
}

int wabot_order_list(wabot_ctx *ctx, const char *org, const char *customer,
                     wabot_order_status status, const char *cursor,
                     int64_t limit, char **json)
{
    if (json)
        *json = NULL;
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!json || (int)status < 0 || status > WABOT_ORDER_CANCELLED)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL json or bad "
                        "status");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    rc = wb_order_list(ctx, org, customer, status, cursor, limit, json);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_order_counts(wabot_ctx *ctx, const char *org, int64_t *counts,
                       size_t n)
{
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!counts || n == 0 || n > WABOT_ORDER_STATUS_COUNT)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: counts needs 1..%d "
                        "slots", WABOT_ORDER_STATUS_COUNT);
    return wb_order_counts(ctx, org, counts, n);
}

int wabot_order_stats(wabot_ctx *ctx, const char *org, char **json)
{
    if (json)
        *json = NULL;
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!json)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL json");
    return wb_order_stats(ctx, org, json);
}

/* ------------------------------------------------------------------ */
/* Placing a cart, confirming                                          */

static int cart_lines(wabot_ctx *ctx, const wabot_cart *c, json_t *lines)
{
    size_t n = wabot_cart_line_count(c);
    if (n == 0)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND, "the cart is empty");
    for (size_t i = 0; i < n; i++) {
        int st = wabot_cart_line_status(c, i);
        if (st != WABOT_OK)
            return wb_error(ctx, st, "%s is no longer available",
                            wabot_cart_line_sku(c, i));
        json_array_append_new(
            lines, json_pack("{s:s, s:I}", "sku", wabot_cart_line_sku(c, i),
                             "quantity",
                             (json_int_t)wabot_cart_line_quantity(c, i)));
    }
    return WABOT_OK;
}

int wabot_order_place_cart(wabot_turn *turn, char **id)
{
    if (id)
        *id = NULL;
    wabot_ctx *ctx = turn ? wabot_turn_ctx(turn) : NULL;
    const char *org = turn ? wabot_turn_organization(turn) : NULL;
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    wabot_cart *c = NULL;
    rc = wabot_cart_get(turn, &c);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *lines = json_array();
    char out[WB_ORDER_ID_MAX] = "";
    rc = lines ? cart_lines(ctx, c, lines) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wb_order_create(
            ctx, org, wabot_turn_customer(turn), lines,
            wabot_message_id(wabot_turn_message(turn)), out);
    json_decref(lines);
    wb_json_scope_leave(prev);
    wabot_cart_free(c);
    if (rc == WABOT_ERR_EXISTS)
        rc = WABOT_OK; /* this turn ran before: the same order */
    if (rc == WABOT_OK)
        rc = wabot_cart_clear(turn);
    if (rc == WABOT_OK && id) {
        *id = wb_strdup(&ctx->alloc, out);
        rc = *id ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    return rc;
}

/* The job's payload and id; STATE unless the order is PENDING. */
static int confirm_job(wabot_ctx *ctx, const char *org, const char *id,
                       char job_id[JOB_ID_MAX], char **payload)
{
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *o = NULL;
    int rc = wb_order_load(ctx, org, id, &o, NULL);
    const char *st = rc == WABOT_OK
                         ? json_string_value(json_object_get(o, "status"))
                         : NULL;
    if (rc == WABOT_OK && wb_order_status_parse(st) != WABOT_ORDER_PENDING)
        rc = wb_error(ctx, WABOT_ERR_STATE, "order %s is %s, not pending", id,
                      st);
    json_decref(o);
    json_t *p = rc == WABOT_OK ? json_pack("{s:s, s:s}", "org", org, "id", id)
                               : NULL;
    *payload = p ? dump(ctx, p) : NULL;
    json_decref(p);
    wb_json_scope_leave(prev);
    if (rc == WABOT_OK && !*payload)
        rc = WABOT_ERR_NOMEM;
    snprintf(job_id, JOB_ID_MAX, "order:%s:%s", org, id);
    return rc;
}

int wabot_order_confirm(wabot_ctx *ctx, const char *org, const char *id)
{
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!id)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL id");
    char job_id[JOB_ID_MAX], *payload = NULL;
    rc = confirm_job(ctx, org, id, job_id, &payload);
    if (rc == WABOT_OK) {
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = job_id;
        rc = wabot_job_enqueue(ctx, WABOT_ORDER_QUEUE, payload,
                               strlen(payload), &spec, NULL);
    }
    wb_free(&ctx->alloc, payload);
    return rc;
}

int wabot_order_confirm_in_turn(wabot_turn *turn, const char *id)
{
    wabot_ctx *ctx = turn ? wabot_turn_ctx(turn) : NULL;
    const char *org = turn ? wabot_turn_organization(turn) : NULL;
    int rc = begin(ctx, &org);
    if (rc != WABOT_OK)
        return rc;
    if (!id)
        return wb_error(ctx, WABOT_ERR_INVAL, "orders: NULL id");
    char job_id[JOB_ID_MAX], *payload = NULL;
    rc = confirm_job(ctx, org, id, job_id, &payload);
    if (rc == WABOT_OK) {
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = job_id;
        rc = wabot_turn_enqueue(turn, WABOT_ORDER_QUEUE, payload,
                                strlen(payload), &spec, NULL);
    }
    wb_free(&ctx->alloc, payload);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The order-processing worker                                         */

/* Queue the order's invoice (key = order id); EXISTS is success. Without
 * the invoices module there is no invoice to make. */
static int enqueue_invoice(wabot_ctx *ctx, json_t *o)
{
    if (!wabot_ctx_module(ctx, "invoices"))
        return WABOT_OK;
    json_t *lines = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(o, "lines"), i, l)
        json_array_append_new(
            lines, json_pack("{s:O, s:O, s:O, s:O}", "sku",
                             json_object_get(l, "sku"), "name",
                             json_object_get(l, "name"), "quantity",
                             json_object_get(l, "quantity"), "unit_minor",
                             json_object_get(l, "unit_minor")));
    json_t *p = json_pack("{s:O, s:O, s:O, s:O, s:o}", "org",
                          json_object_get(o, "org"), "customer",
                          json_object_get(o, "customer"), "currency",
                          json_object_get(o, "currency"), "key",
                          json_object_get(o, "id"), "lines", lines);
    char *text = p ? dump(ctx, p) : NULL;
    json_decref(p);
    int rc = text ? wabot_invoice_enqueue(ctx, text, strlen(text), NULL)
                  : WABOT_ERR_NOMEM;
    wb_free(&ctx->alloc, text);
    return rc == WABOT_ERR_EXISTS ? WABOT_OK : rc;
}

static wabot_order_status status_of(json_t *o)
{
    return wb_order_status_parse(
        json_string_value(json_object_get(o, "status")));
}

/* Confirm (or cancel for lack of stock), queue the invoice, move on.
 * Each step looks at where the order is, so a retried job resumes. */
static int process(wabot_ctx *ctx, const char *org, const char *id)
{
    json_t *o = NULL;
    int rc = wb_order_load(ctx, org, id, &o, NULL);
    wabot_order_status st = rc == WABOT_OK ? status_of(o) : 0;
    json_decref(o);
    o = NULL;
    if (st == WABOT_ORDER_PENDING) {
        rc = wb_order_move(ctx, org, id, WABOT_ORDER_CONFIRMED, NULL, NULL);
        if (rc == WABOT_ERR_TOO_LARGE || rc == WABOT_ERR_NOT_FOUND) {
            char reason[256];
            snprintf(reason, sizeof reason, "%s", wabot_ctx_errmsg(ctx));
            return wb_order_move(ctx, org, id, WABOT_ORDER_CANCELLED, reason,
                                 NULL);
        }
        st = rc == WABOT_OK ? WABOT_ORDER_CONFIRMED : 0;
    }
    if (st != WABOT_ORDER_CONFIRMED && st != WABOT_ORDER_PROCESSING)
        return rc; /* cancelled or fulfilled meanwhile: nothing to do */
    rc = wb_order_load(ctx, org, id, &o, NULL);
    if (rc == WABOT_OK)
        rc = enqueue_invoice(ctx, o);
    json_decref(o);
    if (rc == WABOT_OK && st == WABOT_ORDER_CONFIRMED)
        rc = wb_order_move(ctx, org, id, WABOT_ORDER_PROCESSING, NULL, NULL);
    if (rc == WABOT_ERR_STATE)
        rc = WABOT_OK; /* cancelled meanwhile */
    return rc;
}

static int on_job(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len = 0;
    const char *payload = wabot_job_payload(job, &len);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *root = json_loadb(payload, len, 0, NULL);
    const char *org = json_string_value(json_object_get(root, "org"));
    const char *id = json_string_value(json_object_get(root, "id"));
    int rc = org && id && wb_order_org(ctx, org) ? process(ctx, org, id)
                                                 : WABOT_ERR_PARSE;
    json_decref(root);
    wb_json_scope_leave(prev);
    if (rc == WABOT_ERR_PARSE || rc == WABOT_ERR_NOT_FOUND) {
        wabot_job_set_error(job, rc == WABOT_ERR_PARSE
                                     ? "bad order-processing payload"
                                     : wabot_ctx_errmsg(ctx));
        wabot_job_set_permanent(job); /* retrying cannot fix it */
    }
    if (rc != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "job %s: %s", wabot_job_id(job),
               wabot_ctx_errmsg(ctx));
    return rc;
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static int orders_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    int rc = wabot_queue_add_worker(
        ctx, WABOT_ORDER_QUEUE, on_job, m, NULL,
        (int)wb_ord_opt_int(ctx, NULL, WB_ORD_OPT_CONCURRENCY));
    return rc == WABOT_OK ? wb_order_admin_routes(ctx) : rc;
}

static const char *const orders_requires[] = {"commerce", NULL};

const wabot_module_def wb_orders_module = {
    WABOT_MODULE_DEF_VERSION, MODULE,
    "orders placed from carts, stock reserved at confirmation by the "
    "order-processing worker, which queues the invoice; the ready-made "
    "order flow",
    orders_requires, order_options, WB_ORD_N_OPTS, NULL, orders_create, NULL};
