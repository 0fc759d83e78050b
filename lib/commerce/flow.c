/* The ready-made order flow (wabot_order_flow_install): router routes
 * over the commerce pieces. hi/hello greet, menu lists the products, free
 * text goes through the matcher into the cart (ambiguous words get
 * choices, unknown words a helpful answer), cart shows it, confirm places
 * the cart as an order and queues it for the order-processing worker
 * (whose status changes reach the customer as orders.text_*), clear
 * (and cancel, unless optout.keywords claims it first, as it does by
 * default) empties the cart. Every text is an option of the organisation.
 * Installed for one organisation, its routes and fallback are scoped to
 * that organisation by the router: other organisations' turns never see
 * them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commerce/commerce.h"
#include "commerce/order_internal.h"
#include "internal/json_alloc.h"
#include "internal/router.h"
#include "internal/strbuf.h"
#include "wabot/out.h"
#include "wabot/pipeline.h"
#include "wabot/router.h"

#define STATE_SHOP "shop"
#define MENU_PAGES_MAX 5

static const char *opt(wabot_turn *t, int o)
{
    return wb_ord_opt_str(wabot_turn_ctx(t), wabot_turn_organization(t), o);
}

/* "Sorry, <why>." for a failure the customer can act on. */
static int reply_sorry(wabot_turn *t)
{
    char text[600];
    snprintf(text, sizeof text, "Sorry, %s.",
             wabot_ctx_errmsg(wabot_turn_ctx(t)));
    return wabot_reply_text(t, text);
}

static int reply_cart(wabot_turn *t, const char *after)
{
    wabot_ctx *ctx = wabot_turn_ctx(t);
    wabot_cart *c = NULL;
    int rc = wabot_cart_get(t, &c);
    if (rc != WABOT_OK)
        return reply_sorry(t);
    char *text = wabot_cart_text(c);
    int lines = wabot_cart_line_count(c) > 0;
    wabot_cart_free(c);
    if (!text)
        return WABOT_ERR_NOMEM;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, text);
    if (lines && after && *after) {
        wb_strbuf_puts(&b, "\n\n");
        wb_strbuf_puts(&b, after);
    }
    wabot_ctx_mem_free(ctx, text);
    char *s = wb_strbuf_take(&b);
    rc = s ? wabot_reply_text(t, s) : WABOT_ERR_NOMEM;
    wb_free(&ctx->alloc, s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Keywords                                                            */

static int on_hi(wabot_turn *t, void *ud)
{
    (void)ud;
    int rc = wabot_reply_text(t, opt(t, WB_ORD_OPT_FLOW_GREETING));
    return rc == WABOT_OK ? wabot_turn_set_state(t, STATE_SHOP) : rc;
}

static int on_help(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, opt(t, WB_ORD_OPT_FLOW_HELP));
}

static int menu_list(wabot_turn *t)
{
    wabot_ctx *ctx = wabot_turn_ctx(t);
    wabot_out *o = wabot_out_new(ctx);
    int rc = o ? wabot_catalog_menu_list(ctx, wabot_turn_organization(t),
                                         NULL, 0, o, NULL)
               : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    return rc;
}

static int on_menu(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_turn_ctx(t);
    const char *org = wabot_turn_organization(t);
    if (wb_ord_opt_int(ctx, org, WB_ORD_OPT_FLOW_MENU_LIST) &&
        menu_list(t) == WABOT_OK)
        return WABOT_OK;
    size_t pages = 1;
    int rc = WABOT_OK;
    for (size_t p = 0; rc == WABOT_OK && p < pages && p < MENU_PAGES_MAX;
         p++) {
        char *text = NULL;
        rc = wabot_catalog_menu_text(ctx, org, NULL, 0, p, &text, &pages);
        if (rc == WABOT_OK)
            rc = wabot_reply_text(t, text);
        wabot_ctx_mem_free(ctx, text);
    }
    return rc == WABOT_OK ? WABOT_OK : reply_sorry(t);
}

static int on_cart(wabot_turn *t, void *ud)
{
    (void)ud;
    return reply_cart(t, opt(t, WB_ORD_OPT_FLOW_ADDED));
}

static int on_cancel(wabot_turn *t, void *ud)
{
    (void)ud;
    int rc = wabot_cart_clear(t);
    if (rc != WABOT_OK)
        return rc;
    return wabot_reply_text(t, opt(t, WB_ORD_OPT_FLOW_CANCELLED));
}

static int reply_placed(wabot_turn *t, const char *id)
{
    wabot_ctx *ctx = wabot_turn_ctx(t);
    char *json = NULL;
    int rc = wabot_order_get(ctx, wabot_turn_organization(t), id, &json);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *o = json_loads(json, 0, NULL);
    char *text = o ? wb_order_fill(ctx, opt(t, WB_ORD_OPT_FLOW_PLACED), o)
                   : NULL;
    json_decref(o);
    wb_json_scope_leave(prev);
    wabot_ctx_mem_free(ctx, json);
    rc = text ? wabot_reply_text(t, text) : WABOT_ERR_NOMEM;
    wb_free(&ctx->alloc, text);
    return rc;
}

static int on_confirm(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_turn_ctx(t);
    char *id = NULL;
    int rc = wabot_order_place_cart(t, &id);
    if (rc == WABOT_ERR_NOT_FOUND && !id)
        return reply_cart(t, NULL); /* "Your cart is empty." */
    if (rc != WABOT_OK)
        return reply_sorry(t);
    rc = wabot_order_confirm_in_turn(t, id);
    if (rc == WABOT_ERR_STATE || rc == WABOT_ERR_EXISTS)
        rc = WABOT_OK; /* an earlier run of this turn got that far */
    if (rc == WABOT_OK)
        rc = reply_placed(t, id);
    wabot_ctx_mem_free(ctx, id);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Picks and free text                                                 */

static int add_and_show(wabot_turn *t, const char *sku, int64_t qty)
{
    if (wabot_cart_add(t, sku, qty) != WABOT_OK)
        return reply_sorry(t);
    return reply_cart(t, opt(t, WB_ORD_OPT_FLOW_ADDED));
}

/* Button/list answers: "pick:<qty>:<sku>" (a matcher choice) and
 * "product:<sku>" (a menu row). */
static int on_pick(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *p = wabot_message_payload(wabot_turn_message(t));
    char *end = NULL;
    long long qty = strtoll(p + strlen("pick:"), &end, 10);
    if (!end || *end != ':' || qty <= 0)
        return wabot_reply_text(t, opt(t, WB_ORD_OPT_FLOW_HELP));
    return add_and_show(t, end + 1, qty);
}

static int on_product(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *p = wabot_message_payload(wabot_turn_message(t));
    return add_and_show(t, p + strlen("product:"), 1);
}

/* Is line i settled? A line the matcher calls ambiguous still is when
 * its best candidate alone is named exactly (score 1000): "2 coke" is
 * Coke even though Coke Zero also contains "coke", as a customer means
 * it; "cokke" or a word two names share exactly still get choices. */
static int line_clear(const wabot_match *m, size_t i)
{
    if (wabot_match_candidate_count(m, i) == 0)
        return 0;
    if (!wabot_match_line_ambiguous(m, i))
        return 1;
    return wabot_match_candidate_score(m, i, 0) == 1000 &&
           wabot_match_candidate_score(m, i, 1) < 1000;
}

/* Add the clear lines of m to the cart; *added how many, the first
 * failure answered at once. */
static int add_clear_lines(wabot_turn *t, const wabot_match *m, int *added)
{
    *added = 0;
    for (size_t i = 0; i < wabot_match_line_count(m); i++) {
        if (!line_clear(m, i))
            continue;
        if (wabot_cart_add(t, wabot_match_candidate_sku(m, i, 0),
                           wabot_match_line_quantity(m, i)) != WABOT_OK) {
            int rc = reply_sorry(t);
            if (rc != WABOT_OK)
                return rc;
            continue;
        }
        (*added)++;
    }
    return WABOT_OK;
}

static int reply_choices(wabot_turn *t, const wabot_match *m, int *asked)
{
    *asked = 0;
    int rc = WABOT_OK;
    for (size_t i = 0; rc == WABOT_OK && i < wabot_match_line_count(m); i++) {
        if (!wabot_match_line_ambiguous(m, i) || line_clear(m, i))
            continue;
        wabot_out *o = wabot_out_new(wabot_turn_ctx(t));
        rc = o ? wabot_match_choices_out(m, i, o) : WABOT_ERR_NOMEM;
        if (rc == WABOT_OK)
            rc = wabot_turn_reply_out(t, o);
        wabot_out_free(o);
        (*asked)++;
    }
    return rc;
}

static int on_text(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_turn_ctx(t);
    const char *text = wabot_message_text(wabot_turn_message(t));
    if (!text || !*text)
        return wabot_reply_text(t, opt(t, WB_ORD_OPT_FLOW_HELP));
    wabot_match *m = NULL;
    int rc = wabot_catalog_match(ctx, wabot_turn_organization(t), NULL, text,
                                 &m);
    if (rc != WABOT_OK)
        return reply_sorry(t);
    int added = 0, asked = 0;
    rc = add_clear_lines(t, m, &added);
    if (rc == WABOT_OK && added)
        rc = reply_cart(t, opt(t, WB_ORD_OPT_FLOW_ADDED));
    if (rc == WABOT_OK)
        rc = reply_choices(t, m, &asked);
    /* Unknown words (or no product at all) get the helpful answer; the
     * choices already asked about ambiguous lines. */
    if (rc == WABOT_OK && (!asked || wabot_match_unknown_count(m) > 0) &&
        !(added && wabot_match_unknown_count(m) == 0)) {
        char *answer = wabot_match_reply_text(m);
        rc = !answer ? WABOT_ERR_NOMEM
             : *answer ? wabot_reply_text(t, answer)
                       : WABOT_OK;
        wabot_ctx_mem_free(ctx, answer);
    }
    wabot_match_free(m);
    if (rc == WABOT_OK && wabot_turn_state(t)[0] == '\0')
        rc = wabot_turn_set_state(t, STATE_SHOP);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Installing                                                          */

/* Register the flow's routes and fallback; the router scope (set by the
 * caller) keeps them to the flow's organisation. */
static int install_routes(wabot_ctx *ctx)
{
    int rc = wabot_route_fallback(ctx, NULL, on_text, NULL, NULL);
    static const struct {
        const char *word;
        wabot_handler_fn fn;
    } words[] = {{"hi", on_hi},         {"hello", on_hi},
                 {"menu", on_menu},     {"cart", on_cart},
                 {"confirm", on_confirm}, {"clear", on_cancel},
                 {"cancel", on_cancel},
                 {"help", on_help}};
    for (size_t i = 0; rc == WABOT_OK && i < sizeof words / sizeof *words;
         i++)
        rc = wabot_route_keyword(ctx, NULL, words[i].word, words[i].fn, NULL,
                                 NULL);
    if (rc == WABOT_OK)
        rc = wabot_route_payload(ctx, NULL, "pick:*", on_pick, NULL, NULL);
    if (rc == WABOT_OK)
        rc = wabot_route_payload(ctx, NULL, "product:*", on_product, NULL,
                                 NULL);
    return rc;
}

int wabot_order_flow_install(wabot_ctx *ctx, const char *org)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!wb_orders_module_of(ctx))
        return WABOT_ERR_STATE;
    if (org && wb_org_check(ctx, org) != WABOT_OK)
        return WABOT_ERR_INVAL;
    /* Scoped by the router, not by a check in each handler: a handler
     * that declined another organisation's turn would still have taken
     * it (the first matching route ends the search), and the flow's
     * fallback would have replaced the host's. */
    int rc = wb_router_scope_org(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    rc = install_routes(ctx);
    int end = wb_router_scope_org(ctx, NULL);
    return rc != WABOT_OK ? rc : end;
}
