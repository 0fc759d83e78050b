/* The `commerce` library module: its options (texts and limits per
 * organisation), its metrics, the matcher's index cache and the stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "metrics.h"
#include "strbuf.h"

#define PER_ORG WABOT_OPTION_PER_ORG
#define TEXT(name, dflt, doc)                                                \
    {WABOT_OPTION_DEF_VERSION, name, WABOT_OPTION_STRING, PER_ORG, 0, 0, 0,  \
     dflt, doc, NULL, NULL, NULL}

/* Indexed by WB_COMMERCE_OPT_*. */
static const wabot_option_def options[WB_COMMERCE_OPT_COUNT] = {
    TEXT("menu_title", "Our menu", "first line of the menu text"),
    TEXT("menu_empty", "The menu is empty right now.",
         "the menu text when no product is active"),
    {WABOT_OPTION_DEF_VERSION, "menu_page_chars", WABOT_OPTION_INT, PER_ORG,
     1600, 400, 4096, NULL,
     "characters per page of the menu text (Twilio allows 1600, Meta 4096)",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "max_quantity", WABOT_OPTION_INT, PER_ORG, 100,
     1, 1000000, NULL, "most units of one product a cart line may hold",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "match_min_score", WABOT_OPTION_INT, PER_ORG,
     500, 1, 1000, NULL,
     "lowest matcher score (0..1000) for a product to be a candidate", NULL,
     NULL, NULL},
    TEXT("unknown_reply",
         "Sorry, I couldn't find {words} on our menu. Send \"menu\" to see "
         "what we have.",
         "answer for words that match no product ({words}: those words)"),
    TEXT("ambiguous_reply", "Which \"{words}\" did you mean?",
         "question before the choices of an ambiguous line ({words}: what "
         "the customer wrote)"),
    TEXT("nothing_reply",
         "I didn't see a product in that. Try \"2 cokes and a water\", or "
         "send \"menu\".",
         "answer for a text with no product in it"),
    TEXT("cart_empty_text", "Your cart is empty.", "the cart of no lines"),
    TEXT("cart_title", "Your cart:", "first line of the cart text"),
    TEXT("cart_total", "Total", "label of the cart's total"),
    TEXT("unavailable_text", "no longer available",
         "mark of a cart line that cannot be ordered"),
    {WABOT_OPTION_DEF_VERSION, "index_check_ms", WABOT_OPTION_DURATION,
     PER_ORG, 1000, 0, 3600000, NULL,
     "how long the matcher and the menus trust their in-memory snapshot "
     "of the catalog before they check its revision again (changes made "
     "by other processes show after at most this; 0: check every time)",
     NULL, NULL, NULL},
};

wb_commerce *wb_commerce_of(wabot_ctx *ctx)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, "commerce") : NULL;
    wb_commerce *cm = m ? wabot_module_data(m) : NULL;
    if (!cm && ctx)
        wb_error(ctx, WABOT_ERR_STATE, "the commerce module is not loaded");
    return cm;
}

int64_t wb_commerce_opt_int(wabot_ctx *ctx, const char *org, size_t opt)
{
    wb_commerce *cm = wb_commerce_of(ctx);
    int64_t v = options[opt].int_default;
    if (cm)
        wabot_module_option_int(cm->m, org, opt, &v);
    return v;
}

const char *wb_commerce_opt_str(wabot_ctx *ctx, const char *org, size_t opt)
{
    wb_commerce *cm = wb_commerce_of(ctx);
    const char *s = cm ? wabot_module_option_str(cm->m, org, opt) : NULL;
    return s ? s : options[opt].str_default;
}

void wb_commerce_fill(wb_strbuf *b, const char *tmpl, const char *words)
{
    static const char mark[] = "{words}";
    for (const char *p = tmpl; *p;) {
        const char *hit = strstr(p, mark);
        if (!hit) {
            wb_strbuf_puts(b, p);
            return;
        }
        wb_strbuf_append(b, p, (size_t)(hit - p));
        wb_strbuf_puts(b, words);
        p = hit + sizeof mark - 1;
    }
}

/* ------------------------------------------------------------------ */
/* The index cache: one immutable index per organisation               */

static wb_org_index *find_org(wb_commerce *cm, const char *org)
{
    for (size_t i = 0; i < cm->n_orgs; i++)
        if (strcmp(cm->orgs[i].org, org) == 0)
            return &cm->orgs[i];
    return NULL;
}

/* The cached index if it is of revision rev (rev < 0: if it was found
 * current within the last `fresh_ms`), as a new reference; else NULL. */
static wb_match_index *cached(wb_commerce *cm, const char *org, int64_t rev,
                              int64_t now, int64_t fresh_ms)
{
    pthread_rwlock_rdlock(&cm->lock);
    wb_org_index *oi = find_org(cm, org);
    wb_match_index *ix = oi ? oi->ix : NULL;
    if (ix && rev >= 0 && wb_match_index_revision(ix) == rev)
        atomic_store(&oi->checked_ms, now);
    else if (ix && (rev >= 0 || now - atomic_load(&oi->checked_ms) >= fresh_ms))
        ix = NULL;
    if (ix)
        wb_match_index_ref(ix);
    pthread_rwlock_unlock(&cm->lock);
    return ix;
}

/* Keep ix as org's index (one more reference) unless a newer one is
 * there already or this process changed a catalog while ix was built
 * (`drops` moved since `epoch`): ix may predate that change yet carry
 * the revision read before it, and would be trusted for index_check_ms. */
static void keep(wb_commerce *cm, const char *org, wb_match_index *ix,
                 int64_t now, uint64_t epoch)
{
    pthread_rwlock_wrlock(&cm->lock);
    if (cm->drops != epoch) {
        pthread_rwlock_unlock(&cm->lock);
        return;
    }
    wb_org_index *oi = find_org(cm, org);
    if (!oi && wb_grow(&cm->ctx->alloc, (void **)&cm->orgs, cm->n_orgs + 1,
                       &cm->cap_orgs, sizeof *cm->orgs) == WABOT_OK) {
        char *name = wb_strdup(&cm->ctx->alloc, org);
        if (name) {
            oi = &cm->orgs[cm->n_orgs++];
            oi->org = name;
            oi->ix = NULL;
        }
    }
    if (oi && (!oi->ix || wb_match_index_revision(oi->ix) <
                              wb_match_index_revision(ix))) {
        wb_match_index_unref(oi->ix);
        wb_match_index_ref(ix);
        oi->ix = ix;
        atomic_store(&oi->checked_ms, now);
    }
    pthread_rwlock_unlock(&cm->lock);
}

int wb_commerce_index(wabot_ctx *ctx, const char *org, wb_match_index **out)
{
    wb_commerce *cm = wb_commerce_of(ctx);
    if (!cm)
        return WABOT_ERR_STATE;
    /* Within commerce.index_check_ms of the last check the index is
     * trusted without a round trip (this process's own changes drop it at
     * once; other processes' show after at most that long). */
    int64_t now = wabot_ctx_now_ms(ctx);
    int64_t fresh = wb_commerce_opt_int(ctx, org, WB_COMMERCE_OPT_INDEX_CHECK);
    wb_match_index *ix = fresh > 0 ? cached(cm, org, -1, now, fresh) : NULL;
    if (ix) {
        *out = ix;
        return WABOT_OK;
    }
    /* The revision is read before the products: a change made while the
     * index is built moves it again, so the next check rebuilds; a change
     * made here also moves `drops`, so the index is not kept at all. */
    pthread_rwlock_rdlock(&cm->lock);
    uint64_t epoch = cm->drops;
    pthread_rwlock_unlock(&cm->lock);
    int64_t rev;
    int rc = wb_catalog_revision(ctx, org, &rev);
    if (rc != WABOT_OK)
        return rc;
    ix = cached(cm, org, rev, now, fresh);
    if (ix) {
        *out = ix;
        return WABOT_OK;
    }
    wabot_product **ps = NULL;
    size_t n = 0;
    rc = wb_catalog_all(ctx, org, NULL, 1, &ps, &n);
    if (rc != WABOT_OK)
        return rc;
    ix = wb_match_index_build(&ctx->alloc, ps, n, rev);
    if (!ix) {
        wb_products_free(ctx, ps, n);
        return WABOT_ERR_NOMEM;
    }
    wb_match_index_adopt(ix, ps, n); /* the menus' snapshot */
    wb_count(ctx, "commerce.index_builds", 1);
    keep(cm, org, ix, now, epoch);
    *out = ix;
    return WABOT_OK;
}

void wb_commerce_index_drop(wabot_ctx *ctx, const char *org)
{
    wb_commerce *cm = wb_commerce_of(ctx);
    if (!cm)
        return;
    pthread_rwlock_wrlock(&cm->lock);
    wb_org_index *oi = find_org(cm, org);
    wb_match_index *ix = oi ? oi->ix : NULL;
    if (oi)
        oi->ix = NULL;
    cm->drops++;
    pthread_rwlock_unlock(&cm->lock);
    wb_match_index_unref(ix);
}

/* ------------------------------------------------------------------ */
/* Stats                                                               */

static void count_categories(wabot_product **ps, size_t n, size_t *active,
                             size_t *categories)
{
    *active = 0;
    *categories = 0;
    for (size_t i = 0; i < n; i++) {
        *active += ps[i]->active;
        if (!ps[i]->category)
            continue;
        size_t j = 0;
        while (j < i && !(ps[j]->category &&
                          strcmp(ps[j]->category, ps[i]->category) == 0))
            j++;
        *categories += j == i;
    }
}

int wabot_commerce_stats_json(wabot_ctx *ctx, const char *org, char **json)
{
    if (!ctx || !json)
        return WABOT_ERR_INVAL;
    int rc;
    wabot_product **ps = NULL;
    size_t n = 0, active, categories;
    rc = wb_catalog_all(ctx, org, NULL, 0, &ps, &n);
    if (rc != WABOT_OK)
        return rc;
    count_categories(ps, n, &active, &categories);
    wb_products_free(ctx, ps, n);
    wb_match_index *ix = NULL;
    rc = wb_commerce_index(ctx, org, &ix);
    if (rc != WABOT_OK)
        return rc;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, "{\"organization\":");
    wb_strbuf_json_str(&b, org);
    wb_strbuf_printf(
        &b,
        ",\"products\":%zu,\"active\":%zu,\"categories\":%zu,"
        "\"index\":{\"terms\":%zu,\"products\":%zu,\"built_at_revision\":"
        "%lld},\"matches\":%lld,\"unknown_words\":%lld,"
        "\"ambiguous_lines\":%lld,\"cart_adds\":%lld}",
        n, active, categories, wb_match_index_terms(ix),
        wb_match_index_products(ix),
        (long long)wb_match_index_revision(ix),
        (long long)wabot_metrics_counter(ctx, "commerce.matches"),
        (long long)wabot_metrics_counter(ctx, "commerce.unknown_words"),
        (long long)wabot_metrics_counter(ctx, "commerce.ambiguous_lines"),
        (long long)wabot_metrics_counter(ctx, "commerce.cart_adds"));
    wb_match_index_unref(ix);
    *json = wb_strbuf_take(&b);
    return *json ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static int commerce_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    wb_commerce *cm = wb_calloc(&ctx->alloc, 1, sizeof *cm);
    if (!cm)
        return WABOT_ERR_NOMEM;
    cm->m = m;
    cm->ctx = ctx;
    pthread_rwlock_init(&cm->lock, NULL);
    atomic_init(&cm->products, NULL);
    wabot_module_set_data(m, cm);
    return wb_commerce_admin_routes(ctx);
}

wabot_metric_family *wb_commerce_products_gauge(wb_commerce *cm)
{
    wabot_metric_family *f = atomic_load(&cm->products);
    if (f)
        return f;
    static const char *const labels[] = {"org"};
    wabot_metric_def def = {WABOT_METRIC_DEF_VERSION,
                            "wabot_commerce_products",
                            "products in the catalog, per organisation, as "
                            "of this process's last change",
                            WABOT_METRIC_GAUGE, labels, 1, NULL, 0, 0};
    /* Registering the same definition twice gives the same family, so two
     * threads racing here agree. */
    if (wabot_metrics_register(cm->ctx, &def, &f) != WABOT_OK)
        return NULL;
    atomic_store(&cm->products, f);
    return f;
}

static void commerce_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wb_commerce *cm = wabot_module_data(m);
    if (!cm)
        return;
    for (size_t i = 0; i < cm->n_orgs; i++) {
        wb_match_index_unref(cm->orgs[i].ix);
        wb_free(&cm->ctx->alloc, cm->orgs[i].org);
    }
    wb_free(&cm->ctx->alloc, cm->orgs);
    pthread_rwlock_destroy(&cm->lock);
    wabot_module_set_data(m, NULL);
    wb_free(&cm->ctx->alloc, cm);
}

/* The admin module mounts the catalog's routes (admin_routes.c). */
static const char *const commerce_requires[] = {"admin", NULL};

const wabot_module_def wb_commerce_module = {
    WABOT_MODULE_DEF_VERSION, "commerce",
    "product catalog, product matcher and cart (orders and invoices build on "
    "them)",
    commerce_requires, options, WB_COMMERCE_OPT_COUNT, NULL, commerce_create,
    commerce_destroy};
