/*
 * Commerce, part 1: money, the product catalog, the product matcher and the
 * cart (doc/commerce.md). Orders, invoices and the ready-made order flow
 * build on these.
 *
 * Money is always an int64 count of the currency's minor units (cents for
 * USD, yen for JPY, fils for KWD) with an ISO 4217 code; there is no
 * floating point anywhere. Arithmetic that would overflow int64 fails with
 * WABOT_ERR_TOO_LARGE instead of wrapping.
 *
 * The catalog belongs to the `commerce` library module and lives in the
 * context's storage (memory or Redis, through the storage vtable), one
 * catalog per organisation. Every catalog, matcher and cart function is
 * thread-safe; storage calls block as documented in doc/threading.md (one
 * or a few round trips each, stated per function).
 *
 * Objects returned here (products, lists, match results, carts, reports)
 * are snapshots owned by the caller and independent of the storage; free
 * each with its own function. Strings they return are borrowed from them
 * and valid until they are freed. Text returned as `char *` is owned by the
 * caller: free it with wabot_ctx_mem_free(ctx, p).
 */
#ifndef WABOT_COMMERCE_H
#define WABOT_COMMERCE_H

#include "core.h"
#include "out.h"
#include "pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Money                                                               */

/**
 * Exponent (number of minor-unit digits) of ISO 4217 currency `code`
 * ("USD" 2, "JPY" 0, "KWD" 3, "CLF" 4), upper case exactly. Returns the
 * exponent (>= 0), WABOT_ERR_NOT_FOUND for a code the table does not know,
 * WABOT_ERR_INVAL for NULL. Static table, any thread.
 */
WABOT_API int wabot_currency_exponent(const char *code);

/** wabot_money_format() flag: a symbol before the amount ("$1.50",
 *  "R$ 12.00") where the table knows one, instead of "1.50 USD". */
#define WABOT_MONEY_SYMBOL 1u

/**
 * Write `minor` units of `currency` as text into buf (len bytes including
 * the NUL; truncated like snprintf): the amount with the currency's
 * exponent, '.' as decimal point, no grouping ("-1234.50 USD", "500 JPY",
 * "1.250 KWD"), or with WABOT_MONEY_SYMBOL the symbol in front ("$1.50").
 * Returns the length the full text needs (like snprintf; buf may be NULL
 * with len 0), WABOT_ERR_NOT_FOUND for an unknown currency, INVAL for a
 * NULL currency or a NULL buf with len > 0. Any thread.
 */
WABOT_API int wabot_money_format(int64_t minor, const char *currency,
                                 uint32_t flags, char *buf, size_t len);

/**
 * Parse a decimal amount ("12.5", "12.50", "-3", "1250" for JPY) of
 * `currency` into minor units: at most the currency's exponent of
 * fraction digits, no grouping, no sign other than a leading '-'.
 * Errors: WABOT_ERR_PARSE (not a number, too many decimals), TOO_LARGE
 * (outside int64), NOT_FOUND (unknown currency), INVAL (NULL). Any
 * thread.
 */
WABOT_API int wabot_money_parse(const char *text, const char *currency,
                                int64_t *minor);

/** *out = a + b; WABOT_ERR_TOO_LARGE if that overflows int64 (*out
 *  unchanged), INVAL for NULL out. Any thread. */
WABOT_API int wabot_money_add(int64_t a, int64_t b, int64_t *out);
/** *out = amount * quantity (a line total); WABOT_ERR_TOO_LARGE on
 *  overflow (*out unchanged), INVAL for NULL out. Any thread. */
WABOT_API int wabot_money_mul(int64_t amount, int64_t quantity,
                              int64_t *out);

/* ------------------------------------------------------------------ */
/* Products                                                            */

/** A product (opaque): a snapshot the caller owns. */
typedef struct wabot_product wabot_product;

/** Stock value meaning "not tracked, never runs out". */
#define WABOT_PRODUCT_STOCK_UNLIMITED (-1)

/** Limits (bytes of UTF-8): sku 1..64 of [A-Za-z0-9._-]; name 1..200;
 *  alias 1..200, at most 16; description 0..1000; category 0..100;
 *  image URL 0..2048 (http or https); price 0..10^15 minor units. */
#define WABOT_PRODUCT_SKU_MAX 64
#define WABOT_PRODUCT_NAME_MAX 200
#define WABOT_PRODUCT_ALIASES_MAX 16
#define WABOT_PRODUCT_DESCRIPTION_MAX 1000
#define WABOT_PRODUCT_CATEGORY_MAX 100
#define WABOT_PRODUCT_IMAGE_URL_MAX 2048
#define WABOT_PRODUCT_PRICE_MAX INT64_C(1000000000000000)

/**
 * A new, empty product for ctx (borrowed: it must outlive the product;
 * memory comes from its allocator): no sku, price 0 with no currency,
 * stock unlimited, active. NULL for a NULL ctx or out of memory. Any
 * thread; a product is used by one thread at a time.
 */
WABOT_API wabot_product *wabot_product_new(wabot_ctx *ctx);
/** Free a product; NULL is a no-op. */
WABOT_API void wabot_product_free(wabot_product *p);

/* Setters copy their arguments and check the limits above: WABOT_OK,
 * WABOT_ERR_INVAL (NULL product, a value breaking a rule; the product is
 * then unchanged; detail in wabot_ctx_errmsg()), NOMEM. */
WABOT_API int wabot_product_set_sku(wabot_product *p, const char *sku);
WABOT_API int wabot_product_set_name(wabot_product *p, const char *name);
/** Append an alias the matcher knows the product by ("coca-cola"). */
WABOT_API int wabot_product_add_alias(wabot_product *p, const char *alias);
/** Remove every alias. */
WABOT_API int wabot_product_clear_aliases(wabot_product *p);
/** NULL or "" clears. */
WABOT_API int wabot_product_set_description(wabot_product *p,
                                            const char *text);
/** NULL or "" clears (the product is then in no category). */
WABOT_API int wabot_product_set_category(wabot_product *p,
                                         const char *category);
/** Price in minor units of an ISO 4217 currency; NOT_FOUND for an
 *  unknown currency, INVAL for a negative or too large price. */
WABOT_API int wabot_product_set_price(wabot_product *p, int64_t minor,
                                      const char *currency);
/** Units in stock (>= 0), or WABOT_PRODUCT_STOCK_UNLIMITED. */
WABOT_API int wabot_product_set_stock(wabot_product *p, int64_t stock);
/** Inactive products are stored and listed but not matched or sold. */
WABOT_API int wabot_product_set_active(wabot_product *p, int active);
/** NULL or "" clears. */
WABOT_API int wabot_product_set_image_url(wabot_product *p, const char *url);

/* Getters: borrowed strings ("" when unset; NULL only for a NULL
 * product), valid until the product changes or is freed. */
WABOT_API const char *wabot_product_sku(const wabot_product *p);
WABOT_API const char *wabot_product_name(const wabot_product *p);
WABOT_API size_t wabot_product_alias_count(const wabot_product *p);
/** Alias i; NULL when out of range. */
WABOT_API const char *wabot_product_alias(const wabot_product *p, size_t i);
WABOT_API const char *wabot_product_description(const wabot_product *p);
WABOT_API const char *wabot_product_category(const wabot_product *p);
WABOT_API int64_t wabot_product_price(const wabot_product *p);
WABOT_API const char *wabot_product_currency(const wabot_product *p);
WABOT_API int64_t wabot_product_stock(const wabot_product *p);
WABOT_API int wabot_product_active(const wabot_product *p);
WABOT_API const char *wabot_product_image_url(const wabot_product *p);
/** The stored version (for compare-and-set): set by wabot_catalog_get(),
 *  lists and successful writes; 0 for a product never stored. */
WABOT_API uint64_t wabot_product_version(const wabot_product *p);

/**
 * The product as a JSON object (the import/export shape, doc/commerce.md):
 * {"sku","name","aliases","description","category","price","currency",
 * "stock" (omitted when unlimited),"active","image_url"}. Owned; free with
 * wabot_ctx_mem_free(). NULL for NULL or out of memory.
 */
WABOT_API char *wabot_product_to_json(const wabot_product *p);

/* ------------------------------------------------------------------ */
/* Catalog                                                             */

/**
 * Store a new product in organisation `org`'s catalog. The product must
 * have a sku, a name and a currency. On success the product's version is
 * set to the stored version (also into *version, may be NULL).
 * Errors: WABOT_ERR_EXISTS (the sku is taken), INVAL (bad org, missing
 * field; detail in wabot_ctx_errmsg()), STORAGE. Two round trips. Any
 * thread.
 */
WABOT_API int wabot_catalog_create(wabot_ctx *ctx, const char *org,
                                   wabot_product *p, uint64_t *version);
/**
 * Replace the stored product of p's sku with p. With `expected` non-zero
 * the write happens only if the stored version is still `expected`
 * (WABOT_ERR_CONFLICT otherwise: someone changed it since it was read);
 * 0 writes whatever the stored version is. p's version (and *version)
 * get the new one. Errors: NOT_FOUND (no such product), CONFLICT, INVAL,
 * STORAGE. Two round trips (plus retries on a concurrent change when
 * `expected` is 0). Any thread.
 */
WABOT_API int wabot_catalog_update(wabot_ctx *ctx, const char *org,
                                   wabot_product *p, uint64_t expected,
                                   uint64_t *version);
/** Read one product: *out owns a snapshot (wabot_product_free).
 *  NOT_FOUND, INVAL, PARSE (a corrupt record), STORAGE. One round trip. */
WABOT_API int wabot_catalog_get(wabot_ctx *ctx, const char *org,
                                const char *sku, wabot_product **out);
/** Delete a product; `expected` as for update (0: any version).
 *  NOT_FOUND, CONFLICT, INVAL, STORAGE. Two round trips. */
WABOT_API int wabot_catalog_delete(wabot_ctx *ctx, const char *org,
                                   const char *sku, uint64_t expected);
/** Number of products in the organisation's catalog (active or not) into
 *  *count. INVAL, STORAGE. One round trip. */
WABOT_API int wabot_catalog_count(wabot_ctx *ctx, const char *org,
                                  int64_t *count);

/** A page of products (opaque). */
typedef struct wabot_product_list wabot_product_list;

/** wabot_catalog_list() flag: only active products. */
#define WABOT_CATALOG_ACTIVE_ONLY 1u

/**
 * A page of up to `limit` (1..1000) products of `category` (NULL: every
 * product), in the order they were created, starting after `cursor`
 * (NULL or "0": from the start). *out (owned; wabot_product_list_free)
 * holds the page and the cursor of the next one ("0" = no more). A product
 * created during an iteration appears at its end; one deleted may or may
 * not appear. Errors: INVAL (bad org, limit, malformed cursor), STORAGE.
 * Two round trips per page (more when ACTIVE_ONLY skips many). Any thread.
 */
WABOT_API int wabot_catalog_list(wabot_ctx *ctx, const char *org,
                                 const char *category, uint32_t flags,
                                 const char *cursor, size_t limit,
                                 wabot_product_list **out);
WABOT_API size_t wabot_product_list_count(const wabot_product_list *l);
/** Product i (borrowed from the list); NULL when out of range. */
WABOT_API const wabot_product *wabot_product_list_at(
    const wabot_product_list *l, size_t i);
/** The cursor of the next page ("0" = done). Borrowed. */
WABOT_API const char *wabot_product_list_cursor(const wabot_product_list *l);
WABOT_API void wabot_product_list_free(wabot_product_list *l);

/** wabot_catalog_import() flag: write the valid rows even when others
 *  fail (default: all or nothing). */
#define WABOT_IMPORT_PARTIAL 1u

/** What an import did (opaque; wabot_import_report_free). */
typedef struct wabot_import_report wabot_import_report;

/**
 * Import products from JSON text: an array of product objects (the shape
 * of wabot_product_to_json(); "price" may also be a decimal string such
 * as "12.50"), or an object {"products": [...]}. A row whose sku exists
 * replaces that product; a new sku is created. Every row is checked first
 * and each problem is reported (row number from 1, field, reason). Unless
 * WABOT_IMPORT_PARTIAL, one bad row means nothing is written and the call
 * returns WABOT_ERR_INVAL; with it, the good rows are written and the call
 * returns WABOT_OK. Rows are written in transactions of up to 25 products;
 * a storage failure part-way (WABOT_ERR_STORAGE) may leave earlier
 * transactions written, which importing again repairs (rows are upserts).
 * *report (may be NULL; owned) tells what happened, also on INVAL.
 * Errors: PARSE (not JSON, or not an array of objects: no report rows),
 * TOO_LARGE (over 10,000 rows), INVAL, STORAGE. Any thread.
 */
WABOT_API int wabot_catalog_import(wabot_ctx *ctx, const char *org,
                                   const char *json, size_t len,
                                   uint32_t flags,
                                   wabot_import_report **report);
/** Rows written (created + replaced). */
WABOT_API size_t wabot_import_report_written(const wabot_import_report *r);
/** Number of problems found. */
WABOT_API size_t wabot_import_report_error_count(
    const wabot_import_report *r);
/** Problem i: row (from 1; 0 for the document as a whole), field name
 *  ("" when the row itself is wrong) and reason. Borrowed; NULL/0 out of
 *  range. */
WABOT_API size_t wabot_import_report_error_row(const wabot_import_report *r,
                                               size_t i);
WABOT_API const char *wabot_import_report_error_field(
    const wabot_import_report *r, size_t i);
WABOT_API const char *wabot_import_report_error_reason(
    const wabot_import_report *r, size_t i);
/** The report as JSON {"written":n,"errors":[{"row","field","reason"}]}.
 *  Owned (wabot_ctx_mem_free). */
WABOT_API char *wabot_import_report_json(const wabot_import_report *r);
WABOT_API void wabot_import_report_free(wabot_import_report *r);

/**
 * Every product of the organisation as a JSON array, in creation order,
 * in the import shape (importing it into an empty catalog recreates it).
 * *json owned (wabot_ctx_mem_free), *len (may be NULL) its length.
 * Errors: INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_catalog_export(wabot_ctx *ctx, const char *org,
                                   char **json, size_t *len);

/* ------------------------------------------------------------------ */
/* Menus                                                               */

/**
 * The menu as text for WhatsApp: the organisation's title
 * (commerce.menu_title), then the active products of `category` (NULL:
 * all, grouped under their categories) as "• Name — $1.50" lines, split
 * into pages of at most `max_chars` characters each (0: option
 * commerce.menu_page_chars, default 1600, Twilio's Body limit; Meta
 * allows 4096). Page `page` (from 0) into *text (owned), the number of
 * pages into *pages (may be NULL); when there are several, each ends
 * with its number ("(2/3)"). A product line longer than a page is cut.
 * An empty catalog gives one page with the commerce.menu_empty text.
 * Errors: NOT_FOUND (page out of range), INVAL (bad org, max_chars below
 * 400), STORAGE. Reads the in-memory snapshot of the catalog the matcher
 * uses (wabot_catalog_match): no storage read while it is current; a
 * change made through this context shows at once, one made by another
 * process sharing the storage once commerce.index_check_ms has passed.
 * Without the commerce module, reads the whole category. Any thread.
 */
WABOT_API int wabot_catalog_menu_text(wabot_ctx *ctx, const char *org,
                                      const char *category, size_t max_chars,
                                      size_t page, char **text,
                                      size_t *pages);
/**
 * Fill `out` (a builder of the same context) as an interactive list
 * message of page `page` of the menu: the title as body, up to 10 rows
 * (id "product:<sku>", title the name cut to 24 characters, description
 * the price), the list button from the texts catalog. *pages (may be
 * NULL) gets the number of pages of 10. Errors: NOT_FOUND (no active
 * product or page out of range), INVAL, STORAGE, and the builder's own.
 * Reads the catalog as wabot_catalog_menu_text() does. Any thread.
 */
WABOT_API int wabot_catalog_menu_list(wabot_ctx *ctx, const char *org,
                                      const char *category, size_t page,
                                      wabot_out *out, size_t *pages);

/* ------------------------------------------------------------------ */
/* Product matcher: free text to order lines                            */

/** The result of matching one text (opaque; wabot_match_free). */
typedef struct wabot_match wabot_match;

/**
 * Read free text ("2 cokes and 3 x water", "two pizzas, 1 coke zero",
 * "cokes x2") as order lines against the organisation's active products.
 * Text is folded as keyword routes fold it (case, accents), plurals are
 * reduced, one-letter typos are tolerated ("cokke"), aliases count as
 * names, and quantities are digits, "x2"/"2x", or number words of
 * `locale` (NULL or "": English; "es", "pt", "pt-BR", ...: that
 * language's table, doc/commerce.md). Each line has ranked candidates
 * (best first) with scores 0..1000; a line is ambiguous when more than
 * one product contains every word the customer wrote ("coke" with Coke
 * and Coke Zero). Words that match nothing are listed as unknown.
 *
 * Uses an in-memory index of the catalog: a change made through this
 * context replaces it at once; changes made by other processes sharing
 * the storage are seen once commerce.index_check_ms (default 1 s) has
 * passed since the last check (then one round trip reads the catalog's
 * revision, and a rebuild reads the catalog). A lookup costs a few hash
 * probes per word, never a scan of the catalog. *out owned. Errors: INVAL (bad org, NULL text), TOO_LARGE
 * (over 1000 bytes of text), STORAGE. Any thread.
 */
WABOT_API int wabot_catalog_match(wabot_ctx *ctx, const char *org,
                                  const char *locale, const char *text,
                                  wabot_match **out);
/** Number of order lines found. */
WABOT_API size_t wabot_match_line_count(const wabot_match *m);
/** Quantity of line i (1 when none was written); 0 out of range. */
WABOT_API int64_t wabot_match_line_quantity(const wabot_match *m, size_t i);
/** 1 if line i has several candidates that fit equally well. */
WABOT_API int wabot_match_line_ambiguous(const wabot_match *m, size_t i);
/** The words of the text line i was read from (folded). */
WABOT_API const char *wabot_match_line_text(const wabot_match *m, size_t i);
/** Number of candidates of line i (best first, at most 10). */
WABOT_API size_t wabot_match_candidate_count(const wabot_match *m, size_t i);
/** Candidate j of line i: sku, name, score (0..1000, 1000 = every word
 *  matched exactly), price and currency. NULL / 0 out of range. */
WABOT_API const char *wabot_match_candidate_sku(const wabot_match *m,
                                                size_t i, size_t j);
WABOT_API const char *wabot_match_candidate_name(const wabot_match *m,
                                                 size_t i, size_t j);
WABOT_API int wabot_match_candidate_score(const wabot_match *m, size_t i,
                                          size_t j);
WABOT_API int64_t wabot_match_candidate_price(const wabot_match *m,
                                              size_t i, size_t j);
WABOT_API const char *wabot_match_candidate_currency(const wabot_match *m,
                                                     size_t i, size_t j);
/** Words that matched no product (folded), in text order. */
WABOT_API size_t wabot_match_unknown_count(const wabot_match *m);
WABOT_API const char *wabot_match_unknown(const wabot_match *m, size_t i);
/**
 * A reply for the customer when the match is not a clean order: the
 * commerce.unknown_reply text with {words} replaced by the unknown words,
 * and for each ambiguous line commerce.ambiguous_reply with {words} and a
 * numbered list of its candidates. "" when every line is clear and no
 * word is unknown; also a commerce.nothing_reply text when the text held
 * no product at all. Owned (wabot_ctx_mem_free); NULL on out of memory.
 */
WABOT_API char *wabot_match_reply_text(const wabot_match *m);
/**
 * Fill `out` (a builder of the match's context) with the choices of
 * ambiguous line i, for the customer to pick one: the
 * commerce.ambiguous_reply text as body, then up to 3 reply buttons, or up
 * to 10 list rows when there are more, one per product that contains
 * every word of the line (best first). Ids are "pick:<quantity>:<sku>",
 * titles the product names cut to the provider's limits (20 characters
 * for buttons, 24 for rows), row descriptions the prices. Errors: INVAL
 * (NULL, i out of range, a line that is not ambiguous), and the builder's
 * own. The builder's thread.
 */
WABOT_API int wabot_match_choices_out(const wabot_match *m, size_t i,
                                      wabot_out *out);
/** The whole result as JSON {"lines":[{"text","quantity","ambiguous",
 *  "candidates":[{"sku","name","score","price","currency"}]}],
 *  "unknown":[...]}. Owned (wabot_ctx_mem_free). */
WABOT_API char *wabot_match_json(const wabot_match *m);
WABOT_API void wabot_match_free(wabot_match *m);

/* ------------------------------------------------------------------ */
/* Cart: kept in the conversation session (member "cart") of a turn      */

/**
 * Add `quantity` (1..commerce.max_quantity) of product `sku` of the
 * turn's organisation to the cart, or more of it when it is there. The
 * product must exist and be active; a tracked stock must cover the cart's
 * whole quantity of it; a cart holds one currency. Saved with the turn.
 * Errors: NOT_FOUND (no such product), STATE (inactive), TOO_LARGE (more
 * than the stock or commerce.max_quantity, or over 50 lines), INVAL (bad
 * quantity, another currency), STORAGE; detail in wabot_ctx_errmsg().
 * The turn's thread.
 */
WABOT_API int wabot_cart_add(wabot_turn *turn, const char *sku,
                             int64_t quantity);
/** Remove a line; NOT_FOUND when the cart has no such line. */
WABOT_API int wabot_cart_remove(wabot_turn *turn, const char *sku);
/** Set a line's quantity (0 removes it); the checks of wabot_cart_add
 *  apply to a line that is added or grows. */
WABOT_API int wabot_cart_set_quantity(wabot_turn *turn, const char *sku,
                                      int64_t quantity);
/** Empty the cart. */
WABOT_API int wabot_cart_clear(wabot_turn *turn);

/** A priced view of a cart (opaque; wabot_cart_free). */
typedef struct wabot_cart wabot_cart;

/**
 * The cart as of now, priced from the catalog (one round trip): lines in
 * the order they were added with name, quantity, unit price and line
 * total. A line whose product was deleted has status WABOT_ERR_NOT_FOUND
 * (an inactive one WABOT_ERR_STATE, one over its stock
 * WABOT_ERR_TOO_LARGE) and is left out of the total. *out owned.
 * Errors: INVAL, TOO_LARGE (the total overflows), STORAGE. The turn's
 * thread.
 */
WABOT_API int wabot_cart_get(wabot_turn *turn, wabot_cart **out);
WABOT_API size_t wabot_cart_line_count(const wabot_cart *c);
WABOT_API const char *wabot_cart_line_sku(const wabot_cart *c, size_t i);
/** The product's name ("" when it was deleted). */
WABOT_API const char *wabot_cart_line_name(const wabot_cart *c, size_t i);
WABOT_API int64_t wabot_cart_line_quantity(const wabot_cart *c, size_t i);
WABOT_API int64_t wabot_cart_line_unit_price(const wabot_cart *c, size_t i);
WABOT_API int64_t wabot_cart_line_total(const wabot_cart *c, size_t i);
/** WABOT_OK, or why the line cannot be ordered (see wabot_cart_get). */
WABOT_API int wabot_cart_line_status(const wabot_cart *c, size_t i);
/** Sum of the orderable lines, and the cart's currency ("" if empty). */
WABOT_API int64_t wabot_cart_total(const wabot_cart *c);
WABOT_API const char *wabot_cart_currency(const wabot_cart *c);
/** The cart as a message: one line per item with its line total, lines
 *  that cannot be ordered marked (commerce.unavailable_text), the total;
 *  commerce.cart_empty_text for an empty cart. Owned
 *  (wabot_ctx_mem_free); NULL on out of memory. */
WABOT_API char *wabot_cart_text(const wabot_cart *c);
WABOT_API void wabot_cart_free(wabot_cart *c);

/* ------------------------------------------------------------------ */
/* Stats                                                               */

/**
 * Commerce figures as JSON: {"organization", "products", "active",
 * "categories", "index": {"terms", "built_at_revision"}, "matches",
 * "unknown_words", "ambiguous_lines", "cart_adds"} (counters since the
 * context started, for all organisations). Reads the catalog (its size
 * in round trips / 1000). *json owned. Errors: INVAL, STORAGE. Any
 * thread.
 */
WABOT_API int wabot_commerce_stats_json(wabot_ctx *ctx, const char *org,
                                        char **json);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_COMMERCE_H */
