/* The cart, kept in the conversation session as the member "cart":
 *   {"currency":"USD","lines":[{"sku":"coke","qty":2}, ...]}
 * Only skus and quantities are kept; names and prices come from the
 * catalog each time the cart is viewed, so a price change shows and a
 * deleted product is reported instead of sold. */
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "metrics.h"
#include "pipeline.h"
#include "strbuf.h"

#define MAX_LINES 50
#define SESSION_KEY "cart"

typedef struct cart_line {
    char sku[WABOT_PRODUCT_SKU_MAX + 1];
    int64_t qty;
} cart_line;

typedef struct cart_data {
    char currency[4];
    cart_line lines[MAX_LINES];
    size_t n;
} cart_data;

/* Read the session's cart; a missing or malformed one is empty (the
 * session is the customer's scratch space, not a ledger). */
static int cart_load(wabot_turn *t, cart_data *c)
{
    memset(c, 0, sizeof *c);
    /* Read in place: the turn's session tree (lib/internal/pipeline.h),
     * not a dump of it parsed again; nothing here allocates. */
    json_t *cart = json_object_get(t->session, SESSION_KEY);
    const char *cur = json_string_value(json_object_get(cart, "currency"));
    if (cur && strlen(cur) == 3)
        memcpy(c->currency, cur, 4);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(cart, "lines"), i, l) {
        const char *sku = json_string_value(json_object_get(l, "sku"));
        json_int_t qty = json_integer_value(json_object_get(l, "qty"));
        if (!sku || !wb_sku_valid(sku) || qty <= 0 || c->n >= MAX_LINES)
            continue;
        strcpy(c->lines[c->n].sku, sku);
        c->lines[c->n++].qty = qty;
    }
    return WABOT_OK;
}

static int cart_save(wabot_turn *t, const cart_data *c)
{
    wb_strbuf b;
    wb_strbuf_init(&b, &wabot_turn_ctx(t)->alloc);
    wb_strbuf_puts(&b, "{\"currency\":");
    wb_strbuf_json_str(&b, c->n ? c->currency : "");
    wb_strbuf_puts(&b, ",\"lines\":[");
    for (size_t i = 0; i < c->n; i++) {
        wb_strbuf_puts(&b, i ? ",{\"sku\":" : "{\"sku\":");
        wb_strbuf_json_str(&b, c->lines[i].sku);
        wb_strbuf_printf(&b, ",\"qty\":%lld}", (long long)c->lines[i].qty);
    }
    wb_strbuf_puts(&b, "]}");
    if (b.oom) {
        wb_strbuf_free(&b);
        return WABOT_ERR_NOMEM;
    }
    int rc = wabot_turn_session_set_json(t, SESSION_KEY, b.data, b.len);
    wb_strbuf_free(&b);
    return rc;
}

static cart_line *find_line(cart_data *c, const char *sku)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->lines[i].sku, sku) == 0)
            return &c->lines[i];
    return NULL;
}

static void drop_line(cart_data *c, cart_line *l)
{
    size_t i = (size_t)(l - c->lines);
    memmove(&c->lines[i], &c->lines[i + 1], (c->n - i - 1) * sizeof *l);
    c->n--;
}

/* May the cart hold `total` of product p? */
static int check_line(wabot_ctx *ctx, const char *org, const cart_data *c,
                      const wabot_product *p, int64_t total)
{
    if (!p->active)
        return wb_error(ctx, WABOT_ERR_STATE, "%s is not available",
                        p->name);
    if (c->n && c->currency[0] && strcmp(c->currency, p->currency) != 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "the cart is in %s and %s costs %s", c->currency,
                        p->name, p->currency);
    int64_t max = wb_commerce_opt_int(ctx, org, WB_COMMERCE_OPT_MAX_QUANTITY);
    if (total > max)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                        "at most %lld of %s per order", (long long)max,
                        p->name);
    if (p->stock != WABOT_PRODUCT_STOCK_UNLIMITED && total > p->stock)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                        "only %lld of %s in stock", (long long)p->stock,
                        p->name);
    return WABOT_OK;
}

/* Set sku's line to qty (0 removes); a line that is new or grows is
 * checked against the catalog. */
static int cart_put(wabot_turn *t, const char *sku, int64_t qty, int add)
{
    wabot_ctx *ctx = wabot_turn_ctx(t);
    if (!ctx || !sku)
        return WABOT_ERR_INVAL;
    const char *org = wabot_turn_organization(t);
    cart_data c;
    int rc = cart_load(t, &c);
    if (rc != WABOT_OK)
        return rc;
    cart_line *l = find_line(&c, sku);
    int64_t have = l ? l->qty : 0;
    int64_t total = qty;
    if (add && wabot_money_add(have, qty, &total) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "absurd quantity");
    if (total == 0) {
        if (!l)
            return wb_error(ctx, WABOT_ERR_NOT_FOUND, "%s is not in the cart",
                            sku);
        drop_line(&c, l);
        return cart_save(t, &c);
    }
    if (total > have) {
        if (!l && c.n >= MAX_LINES)
            return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                            "a cart holds at most %d products", MAX_LINES);
        wabot_product *p = NULL;
        rc = wabot_catalog_get(ctx, org, sku, &p);
        if (rc == WABOT_OK)
            rc = check_line(ctx, org, &c, p, total);
        if (rc == WABOT_OK && !c.n)
            memcpy(c.currency, p->currency, 4);
        wabot_product_free(p);
        if (rc != WABOT_OK)
            return rc;
    }
    if (!l) {
        l = &c.lines[c.n++];
        strcpy(l->sku, sku);
    }
    l->qty = total;
    return cart_save(t, &c);
}

int wabot_cart_add(wabot_turn *turn, const char *sku, int64_t quantity)
{
    if (!turn)
        return WABOT_ERR_INVAL;
    wabot_ctx *ctx = wabot_turn_ctx(turn);
    if (quantity <= 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "quantity must be at least 1");
    int rc = cart_put(turn, sku, quantity, 1);
    if (rc == WABOT_OK)
        wb_count(ctx, "commerce.cart_adds", 1);
    return rc;
}

int wabot_cart_set_quantity(wabot_turn *turn, const char *sku,
                            int64_t quantity)
{
    if (!turn)
        return WABOT_ERR_INVAL;
    if (quantity < 0)
        return wb_error(wabot_turn_ctx(turn), WABOT_ERR_INVAL,
                        "quantity must not be negative");
    return cart_put(turn, sku, quantity, 0);
}

int wabot_cart_remove(wabot_turn *turn, const char *sku)
{
    return turn ? cart_put(turn, sku, 0, 0) : WABOT_ERR_INVAL;
}

int wabot_cart_clear(wabot_turn *turn)
{
    if (!turn)
        return WABOT_ERR_INVAL;
    cart_data c;
    memset(&c, 0, sizeof c);
    return cart_save(turn, &c);
}

/* ------------------------------------------------------------------ */
/* The priced view                                                     */

typedef struct view_line {
    char *sku, *name;
    int64_t qty, unit, total;
    int status;
} view_line;

struct wabot_cart {
    wabot_ctx *ctx;
    char *org;
    char currency[4];
    view_line *lines;
    size_t n;
    int64_t total;
};

static int price_line(wabot_cart *v, view_line *vl, const wabot_product *p)
{
    if (!p) {
        vl->status = WABOT_ERR_NOT_FOUND;
        return WABOT_OK;
    }
    vl->name = wb_strdup(&v->ctx->alloc, p->name);
    if (!vl->name)
        return WABOT_ERR_NOMEM;
    vl->unit = p->price;
    vl->status = !p->active ? WABOT_ERR_STATE
                 : p->stock != WABOT_PRODUCT_STOCK_UNLIMITED &&
                         vl->qty > p->stock
                     ? WABOT_ERR_TOO_LARGE
                 : strcmp(p->currency, v->currency) != 0 ? WABOT_ERR_INVAL
                                                         : WABOT_OK;
    if (wabot_money_mul(p->price, vl->qty, &vl->total) != WABOT_OK)
        return wb_error(v->ctx, WABOT_ERR_TOO_LARGE, "line total overflows");
    if (vl->status == WABOT_OK &&
        wabot_money_add(v->total, vl->total, &v->total) != WABOT_OK)
        return wb_error(v->ctx, WABOT_ERR_TOO_LARGE, "cart total overflows");
    return WABOT_OK;
}

static int price_cart(wabot_cart *v, const cart_data *c)
{
    const char *skus[MAX_LINES];
    wabot_product *ps[MAX_LINES] = {0};
    for (size_t i = 0; i < c->n; i++)
        skus[i] = c->lines[i].sku;
    int rc = wb_catalog_get_many(v->ctx, v->org, c->n, skus, ps);
    for (size_t i = 0; rc == WABOT_OK && i < c->n; i++) {
        view_line *vl = &v->lines[v->n++];
        vl->qty = c->lines[i].qty;
        vl->sku = wb_strdup(&v->ctx->alloc, c->lines[i].sku);
        rc = vl->sku ? price_line(v, vl, ps[i]) : WABOT_ERR_NOMEM;
    }
    for (size_t i = 0; i < c->n; i++)
        wabot_product_free(ps[i]);
    return rc;
}

int wabot_cart_get(wabot_turn *turn, wabot_cart **out)
{
    if (!turn || !out)
        return WABOT_ERR_INVAL;
    wabot_ctx *ctx = wabot_turn_ctx(turn);
    cart_data c;
    int rc = cart_load(turn, &c);
    if (rc != WABOT_OK)
        return rc;
    wabot_cart *v = wb_calloc(&ctx->alloc, 1, sizeof *v);
    if (!v)
        return WABOT_ERR_NOMEM;
    v->ctx = ctx;
    memcpy(v->currency, c.currency, 4);
    v->org = wb_strdup(&ctx->alloc, wabot_turn_organization(turn));
    v->lines = wb_calloc(&ctx->alloc, c.n ? c.n : 1, sizeof *v->lines);
    rc = v->org && v->lines ? price_cart(v, &c) : WABOT_ERR_NOMEM;
    if (rc != WABOT_OK) {
        wabot_cart_free(v);
        return rc;
    }
    *out = v;
    return WABOT_OK;
}

void wabot_cart_free(wabot_cart *c)
{
    if (!c)
        return;
    const wabot_allocator *a = &c->ctx->alloc;
    for (size_t i = 0; c->lines && i < c->n; i++) {
        wb_free(a, c->lines[i].sku);
        wb_free(a, c->lines[i].name);
    }
    wb_free(a, c->lines);
    wb_free(a, c->org);
    wb_free(a, c);
}

static const view_line *vline(const wabot_cart *c, size_t i)
{
    return c && i < c->n ? &c->lines[i] : NULL;
}

size_t wabot_cart_line_count(const wabot_cart *c)
{
    return c ? c->n : 0;
}

const char *wabot_cart_line_sku(const wabot_cart *c, size_t i)
{
    const view_line *l = vline(c, i);
    return l ? l->sku : NULL;
}

const char *wabot_cart_line_name(const wabot_cart *c, size_t i)
{
    const view_line *l = vline(c, i);
    return l ? (l->name ? l->name : "") : NULL;
}

int64_t wabot_cart_line_quantity(const wabot_cart *c, size_t i)
{
    const view_line *l = vline(c, i);
    return l ? l->qty : 0;
}

int64_t wabot_cart_line_unit_price(const wabot_cart *c, size_t i)
{
    const view_line *l = vline(c, i);
    return l ? l->unit : 0;
}

int64_t wabot_cart_line_total(const wabot_cart *c, size_t i)
{
    const view_line *l = vline(c, i);
    return l ? l->total : 0;
}

int wabot_cart_line_status(const wabot_cart *c, size_t i)
{
    const view_line *l = vline(c, i);
    return l ? l->status : WABOT_ERR_INVAL;
}

int64_t wabot_cart_total(const wabot_cart *c)
{
    return c ? c->total : 0;
}

const char *wabot_cart_currency(const wabot_cart *c)
{
    return c ? c->currency : NULL;
}

char *wabot_cart_text(const wabot_cart *c)
{
    if (!c)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &c->ctx->alloc);
    if (c->n == 0) {
        wb_strbuf_puts(&b, wb_commerce_opt_str(c->ctx, c->org,
                                               WB_COMMERCE_OPT_CART_EMPTY));
        return wb_strbuf_take(&b);
    }
    wb_strbuf_puts(&b, wb_commerce_opt_str(c->ctx, c->org,
                                           WB_COMMERCE_OPT_CART_TITLE));
    char money[WB_MONEY_STR];
    for (size_t i = 0; i < c->n; i++) {
        const view_line *l = &c->lines[i];
        wb_strbuf_printf(&b, "\n%lld \xC3\x97 %s", (long long)l->qty,
                         l->name ? l->name : l->sku);
        if (l->status == WABOT_OK)
            wb_strbuf_printf(&b, " \xE2\x80\x94 %s",
                             wb_money_str(l->total, c->currency,
                                          WABOT_MONEY_SYMBOL, money));
        else
            wb_strbuf_printf(&b, " (%s)",
                             wb_commerce_opt_str(c->ctx, c->org,
                                                 WB_COMMERCE_OPT_UNAVAILABLE));
    }
    wb_strbuf_printf(&b, "\n%s: %s",
                     wb_commerce_opt_str(c->ctx, c->org,
                                         WB_COMMERCE_OPT_CART_TOTAL),
                     wb_money_str(c->total, c->currency, WABOT_MONEY_SYMBOL,
                                  money));
    return wb_strbuf_take(&b);
}
