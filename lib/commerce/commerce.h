/* The commerce module's private parts: products, storage keys, the
 * matcher's index, the module's data. Private to lib/commerce. */
#ifndef WB_COMMERCE_H
#define WB_COMMERCE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wabot/commerce.h"
#include "wabot/metrics.h"
#include "wabot/module.h"

/* ------------------------------------------------------------------ */
/* Money (money.c)                                                     */

#define WB_MONEY_STR 64
/* Format into out (never fails: an unknown currency prints the raw
 * number and code). Returns out. */
const char *wb_money_str(int64_t minor, const char *currency,
                         uint32_t flags, char out[WB_MONEY_STR]);
/* The bare amount of `minor` at `exponent` decimals, no currency:
 * "1234.56" for 123456 at 2, "-0.05" for -5, "7.50" for 750 basis points
 * at 2 (a percentage). exponent <= 18. Returns out. */
const char *wb_money_amount_str(int64_t minor, unsigned exponent,
                                char out[WB_MONEY_STR]);
/* *share = amount * bp / 10000 rounded half up (a tax in basis points);
 * amount >= 0, 0 <= bp <= 100000. WABOT_OK, or WABOT_ERR_TOO_LARGE (*share
 * unchanged) when the result leaves int64. */
int wb_money_bp_share(int64_t amount, int32_t bp, int64_t *share);

/* UTF-8 (match_index.c): the length of the well-formed sequence at
 * s[0..n), or 0; and 1 if all of s[0..n) is well-formed. */
size_t wb_utf8_seq_len(const char *s, size_t n);
int wb_utf8_valid(const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* Products (product.c)                                                */

struct wabot_product {
    wabot_ctx *ctx;
    char *sku, *name, *description, *category, *image_url;
    char currency[4];
    char **aliases;
    size_t n_aliases;
    int64_t price;
    int64_t stock;
    int active;
    uint64_t version;
    int64_t seq;             /* creation order in the catalog (list score) */
    /* The last setter failure, for import reports (static strings). */
    const char *bad_field, *bad_reason;
};

/* A product as the JSON object of the import/export shape; with_seq adds
 * the stored creation order. New reference, NULL on out of memory. */
json_t *wb_product_to_json_obj(const wabot_product *p, int with_seq);
/* Fill p from a JSON object of that shape (stored: a stored record, which
 * also has "seq"). On a bad member returns WABOT_ERR_INVAL with
 * p->bad_field/bad_reason set; unknown members are refused too (a typo
 * must not silently drop a value). */
int wb_product_from_json_obj(wabot_product *p, json_t *obj, int stored);
/* 1 if key is a member of the import shape (not "seq"). */
int wb_product_member_known(const char *key);
/* Stored record <-> product. */
int wb_product_encode(const wabot_product *p, char **val, size_t *len);
int wb_product_decode(wabot_ctx *ctx, const char *val, size_t len,
                      uint64_t version, wabot_product **out);
/* What a stored product must have: sku, name, currency. */
int wb_product_complete(const wabot_product *p);
/* 1 if sku is a valid sku. */
int wb_sku_valid(const char *sku);

/* ------------------------------------------------------------------ */
/* Catalog storage (catalog.c)                                         */

#define WB_KEY_MAX 512
/* "commerce:{<org>}:<what>[:<rest>]": every key of an organisation's
 * catalog shares its hash tag, so one transaction may touch them all. */
int wb_catalog_key(char out[WB_KEY_MAX], const char *org, const char *what,
                   const char *rest);
/* WABOT_OK or INVAL (with a detail) for an organisation name. */
int wb_org_check(wabot_ctx *ctx, const char *org);
/* The catalog's revision: grows on every change (0: never changed). */
int wb_catalog_revision(wabot_ctx *ctx, const char *org, int64_t *rev);
/* Every product of org in creation order (active ones only if
 * active_only) into *out and *n (owned array of owned products; free with
 * wb_products_free). Checks org first (INVAL with a detail). */
int wb_catalog_all(wabot_ctx *ctx, const char *org, const char *category,
                   int active_only, wabot_product ***out, size_t *n);
void wb_products_free(wabot_ctx *ctx, wabot_product **ps, size_t n);
/* Read several products at once: out[i] NULL when absent. */
int wb_catalog_get_many(wabot_ctx *ctx, const char *org, size_t n,
                        const char *const *skus, wabot_product **out);
/* Write products (create or replace, each known to be complete) in one
 * transaction; existing[i] is the stored version of products[i] (NULL if
 * new). Used by create, update and import. */
int wb_catalog_write(wabot_ctx *ctx, const char *org, size_t n,
                     wabot_product **products,
                     wabot_product *const *existing);
/* The catalog changed in this process: the gauge and the index. */
void wb_catalog_changed(wabot_ctx *ctx, const char *org);

/* ------------------------------------------------------------------ */
/* Number words and other per-language words (number_words.c)          */

typedef struct wb_lang_words {
    const char *lang;                 /* "en", "es", "pt" */
    /* Number words: "two" 2, "a dozen" 12 (phrases of folded words). */
    const struct wb_number_word { const char *words; int value; } *numbers;
    size_t n_numbers;
    /* Words that join order lines ("and"). */
    const char *const *connectors;
    /* Words that carry nothing ("please", "i", "want"). */
    const char *const *fillers;
} wb_lang_words;

/* The table for a locale ("pt-BR" -> "pt"); English when NULL, "" or a
 * language without a table. */
const wb_lang_words *wb_lang_words_for(const char *locale);
int wb_word_in(const char *const *list, const char *word);

/* ------------------------------------------------------------------ */
/* The matcher's index (match_index.c)                                  */

typedef struct wb_match_index wb_match_index;

/* One product as the index keeps it. */
typedef struct wb_indexed_product {
    char *sku, *name, *currency;
    int64_t price;
    /* Its names (name, then aliases) as arrays of term ids. */
    uint32_t **names;
    uint32_t *name_lens;
    size_t n_names;
} wb_indexed_product;

/* A term the query word resolved to, with the match's weight (1000 =
 * exact, less for a typo). */
typedef struct wb_term_hit {
    uint32_t term;
    int weight;
} wb_term_hit;

wb_match_index *wb_match_index_build(const wabot_allocator *a,
                                     wabot_product **ps, size_t n,
                                     int64_t revision);
/* The index takes ps (an array from the index's allocator, as
 * wb_catalog_all returns it) and its products, the ones it was built
 * from: freed with the index. Before the index is shared. */
void wb_match_index_adopt(wb_match_index *ix, wabot_product **ps, size_t n);
/* Those products, in catalog order (creation order); *n their number.
 * Immutable, valid while the caller holds a reference. */
wabot_product *const *wb_match_index_catalog(const wb_match_index *ix,
                                             size_t *n);
void wb_match_index_ref(wb_match_index *ix);
void wb_match_index_unref(wb_match_index *ix);
int64_t wb_match_index_revision(const wb_match_index *ix);
size_t wb_match_index_terms(const wb_match_index *ix);
size_t wb_match_index_products(const wb_match_index *ix);
const wb_indexed_product *wb_match_index_product(const wb_match_index *ix,
                                                 uint32_t id);
/* Terms a (normalised) query word may mean: exact first, then words one
 * edit away (words of 4+ letters). Up to cap hits; returns how many. */
size_t wb_match_index_lookup(const wb_match_index *ix, const char *word,
                             wb_term_hit *hits, size_t cap);
/* Products whose names contain term t (ids; *n their number). */
const uint32_t *wb_match_index_postings(const wb_match_index *ix,
                                        uint32_t term, size_t *n);
/* Normalise one folded word the way the index stores it (plural
 * reduced) into out (capacity at least strlen(word) + 1). */
void wb_match_normalise(const char *word, char *out);
/* Split folded text into words (letters, digits and well-formed
 * non-ASCII characters; everything else separates). Calls fn for each; a separator that ends a line (",", ";",
 * "+", "&", new line) is reported as the word ",". */
void wb_match_words(const char *folded,
                    void (*fn)(const char *w, size_t n, void *ud), void *ud);

/* ------------------------------------------------------------------ */
/* The module (module.c)                                               */

enum {
    WB_COMMERCE_OPT_MENU_TITLE,
    WB_COMMERCE_OPT_MENU_EMPTY,
    WB_COMMERCE_OPT_MENU_PAGE_CHARS,
    WB_COMMERCE_OPT_MAX_QUANTITY,
    WB_COMMERCE_OPT_MIN_SCORE,
    WB_COMMERCE_OPT_UNKNOWN_REPLY,
    WB_COMMERCE_OPT_AMBIGUOUS_REPLY,
    WB_COMMERCE_OPT_NOTHING_REPLY,
    WB_COMMERCE_OPT_CART_EMPTY,
    WB_COMMERCE_OPT_CART_TITLE,
    WB_COMMERCE_OPT_CART_TOTAL,
    WB_COMMERCE_OPT_UNAVAILABLE,
    WB_COMMERCE_OPT_INDEX_CHECK,
    WB_COMMERCE_OPT_COUNT
};

typedef struct wb_org_index {
    char *org;
    wb_match_index *ix;
    atomic_llong checked_ms; /* when ix was last found current */
} wb_org_index;

typedef struct wb_commerce {
    wabot_module *m;
    wabot_ctx *ctx;
    pthread_rwlock_t lock; /* the index table */
    wb_org_index *orgs;
    size_t n_orgs, cap_orgs;
    /* +1 on every wb_commerce_index_drop (under lock): an index built
     * across a drop may hold what was just changed, so it is not kept */
    uint64_t drops;
    /* gauge {org}, registered on the first change (as the library's own
     * families are: a context that sells nothing exports none) */
    _Atomic(wabot_metric_family *) products;
} wb_commerce;

extern const wabot_module_def wb_commerce_module;

/* The context's commerce module data; NULL (with a detail) if the module
 * is not there. */
wb_commerce *wb_commerce_of(wabot_ctx *ctx);
/* Mount the catalog's admin routes (admin_routes.c); WABOT_OK when the
 * admin API is off (nothing mounted). */
int wb_commerce_admin_routes(wabot_ctx *ctx);
wabot_metric_family *wb_commerce_products_gauge(wb_commerce *cm);
int64_t wb_commerce_opt_int(wabot_ctx *ctx, const char *org, size_t opt);
const char *wb_commerce_opt_str(wabot_ctx *ctx, const char *org, size_t opt);
/* The organisation's index, fresh as of the catalog's revision; a
 * reference the caller drops with wb_match_index_unref. */
int wb_commerce_index(wabot_ctx *ctx, const char *org, wb_match_index **out);
/* Forget org's index (its catalog changed). */
void wb_commerce_index_drop(wabot_ctx *ctx, const char *org);

/* Replace every "{words}" in tmpl with words, appended to b (module.c). */
struct wb_strbuf;
void wb_commerce_fill(struct wb_strbuf *b, const char *tmpl,
                      const char *words);
/* s cut to max code points ("…" marking a cut) appended to b (menu.c). */
void wb_commerce_put_cut(struct wb_strbuf *b, const char *s, size_t max);

#endif
