/* Menus for WhatsApp: the catalog as text pages within the provider's
 * length limit, or as an interactive list message of 10 rows a page. */
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "provider.h"
#include "strbuf.h"

/* Room kept at the end of a page for "\n(12/34)". */
#define FOOTER_ROOM 16
#define ROWS_PER_PAGE 10
#define ROW_TITLE_MAX 24

/* Bytes of the first max code points of s. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t i = 0, cps = 0;
    while (s[i] && cps < max) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        cps++;
    }
    return i;
}

void wb_commerce_put_cut(wb_strbuf *b, const char *s, size_t max)
{
    if (wb_utf8_length(s) <= max) {
        wb_strbuf_puts(b, s);
        return;
    }
    wb_strbuf_append(b, s, utf8_prefix(s, max - 1));
    wb_strbuf_puts(b, "\xE2\x80\xA6");
}

typedef struct page_set {
    wb_strbuf *pages;
    size_t n, cap;
    size_t used; /* code points of the current page */
} page_set;

static int new_page(const wabot_allocator *a, page_set *ps, const char *title,
                    size_t title_cps)
{
    if (wb_grow(a, (void **)&ps->pages, ps->n + 1, &ps->cap,
                sizeof *ps->pages) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    wb_strbuf *b = &ps->pages[ps->n++];
    wb_strbuf_init(b, a);
    wb_commerce_put_cut(b, title, title_cps);
    ps->used = wb_utf8_length(b->data ? b->data : "");
    return WABOT_OK;
}

/* Append one line ("\n" + text) to the last page, opening a new one when
 * it does not fit. */
static int add_line(const wabot_allocator *a, page_set *ps, const char *line,
                    size_t budget, const char *title, size_t title_cps)
{
    size_t cps = 1 + wb_utf8_length(line);
    if (ps->used + cps > budget) {
        int rc = new_page(a, ps, title, title_cps);
        if (rc != WABOT_OK)
            return rc;
    }
    wb_strbuf *b = &ps->pages[ps->n - 1];
    wb_strbuf_putc(b, '\n');
    wb_strbuf_puts(b, line);
    ps->used += cps;
    return b->oom ? WABOT_ERR_NOMEM : WABOT_OK;
}

static void product_line(wb_strbuf *b, const wabot_product *p, size_t max)
{
    char price[WB_MONEY_STR];
    wb_money_str(p->price, p->currency, WABOT_MONEY_SYMBOL, price);
    size_t room = max > wb_utf8_length(price) + 8
                      ? max - wb_utf8_length(price) - 8
                      : 1;
    wb_strbuf_puts(b, "\xE2\x80\xA2 "); /* bullet */
    wb_commerce_put_cut(b, p->name, room);
    wb_strbuf_printf(b, " \xE2\x80\x94 %s", price); /* em dash */
}

/* Products grouped by category, in order of first appearance; those
 * without a category first, with no heading. */
static int paginate(wabot_ctx *ctx, wabot_product *const *ps, size_t n,
                    int grouped, const char *title, size_t max_chars,
                    page_set *out)
{
    const wabot_allocator *a = &ctx->alloc;
    size_t budget = max_chars - FOOTER_ROOM, title_cps = max_chars / 4;
    size_t line_max = budget - title_cps - 1;
    unsigned char *done = wb_calloc(a, n ? n : 1, 1);
    int rc = done ? new_page(a, out, title, title_cps) : WABOT_ERR_NOMEM;
    wb_strbuf line;
    wb_strbuf_init(&line, a);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        if (done[i])
            continue;
        const char *cat = grouped ? ps[i]->category : NULL;
        if (cat) {
            wb_strbuf_reset(&line);
            wb_strbuf_putc(&line, '*');
            wb_commerce_put_cut(&line, cat, line_max - 2);
            wb_strbuf_putc(&line, '*');
            rc = add_line(a, out, line.data, budget, title, title_cps);
        }
        for (size_t j = i; rc == WABOT_OK && j < n; j++) {
            const char *c = grouped ? ps[j]->category : NULL;
            if (done[j] || !((!cat && !c) || (cat && c && !strcmp(cat, c))))
                continue;
            done[j] = 1;
            wb_strbuf_reset(&line);
            product_line(&line, ps[j], line_max);
            rc = line.oom ? WABOT_ERR_NOMEM
                          : add_line(a, out, line.data, budget, title,
                                     title_cps);
        }
    }
    wb_strbuf_free(&line);
    wb_free(a, done);
    return rc;
}

/* The active products a menu shows, in catalog order: from the matcher's
 * in-memory snapshot of the catalog (module.c, wb_commerce_index: one
 * revision check at most every commerce.index_check_ms, a rebuild only
 * when the catalog changed), so a menu costs no storage read and no
 * product decode; the whole catalog read when the commerce module is
 * not loaded. */
typedef struct menu_src {
    wabot_ctx *ctx;
    wb_match_index *ix;    /* the snapshot's owner, or NULL */
    wabot_product **owned; /* the fallback's products, or NULL */
    size_t n_owned;
    wabot_product **picked; /* a category's products (borrowed), or NULL */
    wabot_product *const *ps;
    size_t n;
} menu_src;

static void menu_src_free(menu_src *m)
{
    if (m->ix)
        wb_match_index_unref(m->ix);
    wb_products_free(m->ctx, m->owned, m->n_owned);
    wb_free(&m->ctx->alloc, m->picked);
}

static int menu_src_read(wabot_ctx *ctx, const char *org, const char *cat,
                         menu_src *m)
{
    *m = (menu_src){.ctx = ctx};
    if (!wabot_ctx_module(ctx, "commerce")) {
        int rc = wb_catalog_all(ctx, org, cat, 1, &m->owned, &m->n_owned);
        m->ps = m->owned;
        m->n = m->n_owned;
        return rc;
    }
    int rc = wb_commerce_index(ctx, org, &m->ix);
    if (rc != WABOT_OK)
        return rc;
    size_t n;
    wabot_product *const *all = wb_match_index_catalog(m->ix, &n);
    if (!cat) {
        m->ps = all;
        m->n = n;
        return WABOT_OK;
    }
    /* A category's own index has the same order: the same scores. */
    m->picked = wb_calloc(&ctx->alloc, n ? n : 1, sizeof *m->picked);
    if (!m->picked)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (all[i]->category && strcmp(all[i]->category, cat) == 0)
            m->picked[m->n++] = all[i];
    m->ps = m->picked;
    return WABOT_OK;
}

static void free_pages(page_set *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        wb_strbuf_free(&ps->pages[i]);
    if (ps->pages)
        wb_free(ps->pages[0].alloc, ps->pages);
}

int wabot_catalog_menu_text(wabot_ctx *ctx, const char *org,
                            const char *category, size_t max_chars,
                            size_t page, char **text, size_t *pages)
{
    if (!ctx || !text)
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    if (max_chars == 0)
        max_chars = (size_t)wb_commerce_opt_int(
            ctx, org, WB_COMMERCE_OPT_MENU_PAGE_CHARS);
    if (max_chars < 400)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "a menu page needs at least 400 characters");
    const char *cat = category && category[0] ? category : NULL;
    menu_src src;
    rc = menu_src_read(ctx, org, cat, &src);
    if (rc != WABOT_OK) {
        menu_src_free(&src);
        return rc;
    }
    const char *title =
        src.n ? wb_commerce_opt_str(ctx, org, WB_COMMERCE_OPT_MENU_TITLE)
              : wb_commerce_opt_str(ctx, org, WB_COMMERCE_OPT_MENU_EMPTY);
    page_set set = {0};
    rc = paginate(ctx, src.ps, src.n, cat == NULL, title, max_chars, &set);
    menu_src_free(&src);
    if (rc == WABOT_OK && page >= set.n)
        rc = wb_error(ctx, WABOT_ERR_NOT_FOUND, "the menu has %zu pages",
                      set.n);
    if (rc == WABOT_OK) {
        wb_strbuf *b = &set.pages[page];
        if (set.n > 1)
            wb_strbuf_printf(b, "\n(%zu/%zu)", page + 1, set.n);
        if (pages)
            *pages = set.n;
        *text = wb_strbuf_take(b);
        rc = *text ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    free_pages(&set);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Interactive list                                                     */

static int add_rows(wabot_out *out, wabot_product *const *ps, size_t from,
                    size_t to)
{
    int rc = WABOT_OK;
    for (size_t i = from; rc == WABOT_OK && i < to; i++) {
        char id[WABOT_PRODUCT_SKU_MAX + 16], price[WB_MONEY_STR];
        snprintf(id, sizeof id, "product:%s", ps[i]->sku);
        wb_strbuf title;
        wb_strbuf_init(&title, NULL);
        wb_commerce_put_cut(&title, ps[i]->name, ROW_TITLE_MAX);
        rc = title.oom ? WABOT_ERR_NOMEM
                       : wabot_out_add_row(out, id, title.data,
                                           wb_money_str(ps[i]->price,
                                                        ps[i]->currency,
                                                        WABOT_MONEY_SYMBOL,
                                                        price));
        wb_strbuf_free(&title);
    }
    return rc;
}

int wabot_catalog_menu_list(wabot_ctx *ctx, const char *org,
                            const char *category, size_t page,
                            wabot_out *out, size_t *pages)
{
    if (!ctx || !out)
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    menu_src src;
    rc = menu_src_read(ctx, org, category && category[0] ? category : NULL,
                       &src);
    if (rc != WABOT_OK) {
        menu_src_free(&src);
        return rc;
    }
    wabot_product *const *ps = src.ps;
    size_t n = src.n;
    size_t n_pages = (n + ROWS_PER_PAGE - 1) / ROWS_PER_PAGE;
    if (page >= n_pages)
        rc = wb_error(ctx, WABOT_ERR_NOT_FOUND,
                      n ? "the menu has %zu pages" : "no product to list",
                      n_pages);
    wb_strbuf body;
    wb_strbuf_init(&body, &ctx->alloc);
    wb_commerce_put_cut(&body, wb_commerce_opt_str(ctx, org, WB_COMMERCE_OPT_MENU_TITLE),
            1000);
    if (n_pages > 1)
        wb_strbuf_printf(&body, " (%zu/%zu)", page + 1, n_pages);
    if (rc == WABOT_OK)
        rc = body.oom ? WABOT_ERR_NOMEM : wabot_out_set_text(out, body.data);
    if (rc == WABOT_OK) {
        size_t from = page * ROWS_PER_PAGE;
        size_t to = from + ROWS_PER_PAGE < n ? from + ROWS_PER_PAGE : n;
        rc = add_rows(out, ps, from, to);
    }
    wb_strbuf_free(&body);
    menu_src_free(&src);
    if (rc == WABOT_OK && pages)
        *pages = n_pages;
    return rc;
}
