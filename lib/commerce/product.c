/* Products: the snapshot object, its rules, and its JSON shape (the one
 * import, export and the stored record share). */
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "json_alloc.h"
#include "wabot/storage.h"

/* Stored records carry this schema (wabot_storage_record_*). */
#define PRODUCT_SCHEMA 1

static const wabot_allocator *palloc(const wabot_product *p)
{
    return &p->ctx->alloc;
}

wabot_product *wabot_product_new(wabot_ctx *ctx)
{
    if (!ctx)
        return NULL;
    wabot_product *p = wb_calloc(&ctx->alloc, 1, sizeof *p);
    if (!p)
        return NULL;
    p->ctx = ctx;
    p->stock = WABOT_PRODUCT_STOCK_UNLIMITED;
    p->active = 1;
    return p;
}

static void clear_aliases(wabot_product *p)
{
    for (size_t i = 0; i < p->n_aliases; i++)
        wb_free(palloc(p), p->aliases[i]);
    wb_free(palloc(p), p->aliases);
    p->aliases = NULL;
    p->n_aliases = 0;
}

void wabot_product_free(wabot_product *p)
{
    if (!p)
        return;
    const wabot_allocator *a = palloc(p);
    clear_aliases(p);
    wb_free(a, p->sku);
    wb_free(a, p->name);
    wb_free(a, p->description);
    wb_free(a, p->category);
    wb_free(a, p->image_url);
    wb_free(a, p);
}

/* Record why a setter refused (for wabot_ctx_errmsg and import reports). */
static int bad(wabot_product *p, const char *field, const char *reason)
{
    p->bad_field = field;
    p->bad_reason = reason;
    return wb_error(p->ctx, WABOT_ERR_INVAL, "product %s: %s", field, reason);
}

/* Text rules: at most max bytes, at least min, no control characters.
 * Returns NULL or the reason. */
static const char *text_problem(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min)
        return "must not be empty";
    if (n > max)
        return "too long";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
            return "contains control characters";
    if (!wb_utf8_valid(s, n))
        return "is not valid UTF-8";
    return NULL;
}

int wb_sku_valid(const char *sku)
{
    size_t n = strlen(sku);
    if (n == 0 || n > WABOT_PRODUCT_SKU_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = sku[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Replace a string member, "" or NULL clearing it when optional. */
static int set_text(wabot_product *p, char **slot, const char *field,
                    const char *s, size_t min, size_t max)
{
    if (!s)
        s = "";
    const char *why = text_problem(s, min, max);
    if (why)
        return bad(p, field, why);
    if (wb_str_replace(palloc(p), slot, s[0] ? s : NULL) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

int wabot_product_set_sku(wabot_product *p, const char *sku)
{
    if (!p)
        return WABOT_ERR_INVAL;
    if (!sku || !wb_sku_valid(sku))
        return bad(p, "sku", "must be 1..64 characters of A-Z a-z 0-9 . _ -");
    return wb_str_replace(palloc(p), &p->sku, sku);
}

int wabot_product_set_name(wabot_product *p, const char *name)
{
    if (!p)
        return WABOT_ERR_INVAL;
    if (!name)
        return bad(p, "name", "must not be empty");
    return set_text(p, &p->name, "name", name, 1, WABOT_PRODUCT_NAME_MAX);
}

int wabot_product_add_alias(wabot_product *p, const char *alias)
{
    if (!p)
        return WABOT_ERR_INVAL;
    if (!alias)
        return bad(p, "aliases", "must not be empty");
    const char *why = text_problem(alias, 1, WABOT_PRODUCT_NAME_MAX);
    if (why)
        return bad(p, "aliases", why);
    if (p->n_aliases >= WABOT_PRODUCT_ALIASES_MAX)
        return bad(p, "aliases", "at most 16 aliases");
    char *copy = wb_strdup(palloc(p), alias);
    char **grown = copy ? wb_realloc(palloc(p), p->aliases,
                                     (p->n_aliases + 1) * sizeof *grown)
                        : NULL;
    if (!grown) {
        wb_free(palloc(p), copy);
        return WABOT_ERR_NOMEM;
    }
    p->aliases = grown;
    p->aliases[p->n_aliases++] = copy;
    return WABOT_OK;
}

int wabot_product_clear_aliases(wabot_product *p)
{
    if (!p)
        return WABOT_ERR_INVAL;
    clear_aliases(p);
    return WABOT_OK;
}

int wabot_product_set_description(wabot_product *p, const char *text)
{
    if (!p)
        return WABOT_ERR_INVAL;
    return set_text(p, &p->description, "description", text, 0,
                    WABOT_PRODUCT_DESCRIPTION_MAX);
}

int wabot_product_set_category(wabot_product *p, const char *category)
{
    if (!p)
        return WABOT_ERR_INVAL;
    return set_text(p, &p->category, "category", category, 0,
                    WABOT_PRODUCT_CATEGORY_MAX);
}

int wabot_product_set_price(wabot_product *p, int64_t minor,
                            const char *currency)
{
    if (!p)
        return WABOT_ERR_INVAL;
    if (!currency || wabot_currency_exponent(currency) < 0) {
        bad(p, "currency", "not an ISO 4217 currency code");
        return WABOT_ERR_NOT_FOUND;
    }
    if (minor < 0 || minor > WABOT_PRODUCT_PRICE_MAX)
        return bad(p, "price", "must be 0..10^15 minor units");
    memcpy(p->currency, currency, 4);
    p->price = minor;
    return WABOT_OK;
}

int wabot_product_set_stock(wabot_product *p, int64_t stock)
{
    if (!p)
        return WABOT_ERR_INVAL;
    if (stock < WABOT_PRODUCT_STOCK_UNLIMITED)
        return bad(p, "stock", "must be >= 0, or -1 for unlimited");
    p->stock = stock;
    return WABOT_OK;
}

int wabot_product_set_active(wabot_product *p, int active)
{
    if (!p)
        return WABOT_ERR_INVAL;
    p->active = active != 0;
    return WABOT_OK;
}

int wabot_product_set_image_url(wabot_product *p, const char *url)
{
    if (!p)
        return WABOT_ERR_INVAL;
    if (url && url[0] && strncmp(url, "https://", 8) != 0 &&
        strncmp(url, "http://", 7) != 0)
        return bad(p, "image_url", "must be an http or https URL");
    return set_text(p, &p->image_url, "image_url", url, 0,
                    WABOT_PRODUCT_IMAGE_URL_MAX);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

const char *wabot_product_sku(const wabot_product *p)
{
    return p ? or_empty(p->sku) : NULL;
}

const char *wabot_product_name(const wabot_product *p)
{
    return p ? or_empty(p->name) : NULL;
}

size_t wabot_product_alias_count(const wabot_product *p)
{
    return p ? p->n_aliases : 0;
}

const char *wabot_product_alias(const wabot_product *p, size_t i)
{
    return p && i < p->n_aliases ? p->aliases[i] : NULL;
}

const char *wabot_product_description(const wabot_product *p)
{
    return p ? or_empty(p->description) : NULL;
}

const char *wabot_product_category(const wabot_product *p)
{
    return p ? or_empty(p->category) : NULL;
}

int64_t wabot_product_price(const wabot_product *p)
{
    return p ? p->price : 0;
}

const char *wabot_product_currency(const wabot_product *p)
{
    return p ? p->currency : NULL;
}

int64_t wabot_product_stock(const wabot_product *p)
{
    return p ? p->stock : 0;
}

int wabot_product_active(const wabot_product *p)
{
    return p ? p->active : 0;
}

const char *wabot_product_image_url(const wabot_product *p)
{
    return p ? or_empty(p->image_url) : NULL;
}

uint64_t wabot_product_version(const wabot_product *p)
{
    return p ? p->version : 0;
}

int wb_product_complete(const wabot_product *p)
{
    if (!p->sku)
        return wb_error(p->ctx, WABOT_ERR_INVAL, "product has no sku");
    if (!p->name)
        return wb_error(p->ctx, WABOT_ERR_INVAL, "product %s has no name",
                        p->sku);
    if (!p->currency[0])
        return wb_error(p->ctx, WABOT_ERR_INVAL,
                        "product %s has no price and currency", p->sku);
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static int put(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

json_t *wb_product_to_json_obj(const wabot_product *p, int with_seq)
{
    json_t *o = json_object(), *aliases = json_array();
    int bad_put = !o || !aliases;
    for (size_t i = 0; !bad_put && i < p->n_aliases; i++)
        bad_put = json_array_append_new(aliases, json_string(p->aliases[i]));
    if (bad_put) {
        json_decref(o);
        json_decref(aliases);
        return NULL;
    }
    bad_put |= put(o, "sku", json_string(or_empty(p->sku)));
    bad_put |= put(o, "name", json_string(or_empty(p->name)));
    bad_put |= put(o, "aliases", aliases);
    bad_put |= put(o, "description", json_string(or_empty(p->description)));
    bad_put |= put(o, "category", json_string(or_empty(p->category)));
    bad_put |= put(o, "price", json_integer(p->price));
    bad_put |= put(o, "currency", json_string(p->currency));
    if (p->stock != WABOT_PRODUCT_STOCK_UNLIMITED)
        bad_put |= put(o, "stock", json_integer(p->stock));
    bad_put |= put(o, "active", json_boolean(p->active));
    bad_put |= put(o, "image_url", json_string(or_empty(p->image_url)));
    if (with_seq)
        bad_put |= put(o, "seq", json_integer(p->seq));
    if (bad_put) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *wabot_product_to_json(const wabot_product *p)
{
    if (!p)
        return NULL;
    const wabot_allocator *prev = wb_json_scope_enter(palloc(p));
    json_t *o = wb_product_to_json_obj(p, 0);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    wb_json_scope_leave(prev);
    char *out = wb_strdup(palloc(p), s);
    wb_json_free(s);
    return out;
}

/* A string member, or NULL (with the problem recorded) when of another
 * type. Absent members give "". */
static const char *str_member(wabot_product *p, json_t *obj,
                              const char *key, int *rc)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return "";
    if (!json_is_string(v)) {
        *rc = bad(p, key, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

static int price_from_json(wabot_product *p, json_t *obj)
{
    json_t *cur = json_object_get(obj, "currency");
    if (!json_is_string(cur))
        return bad(p, "currency", "missing or not a string");
    const char *code = json_string_value(cur);
    if (wabot_currency_exponent(code) < 0)
        return bad(p, "currency", "not an ISO 4217 currency code");
    json_t *pr = json_object_get(obj, "price");
    int64_t minor;
    if (json_is_integer(pr)) {
        minor = json_integer_value(pr);
    } else if (json_is_string(pr)) {
        int rc = wabot_money_parse(json_string_value(pr), code, &minor);
        if (rc != WABOT_OK)
            return bad(p, "price", rc == WABOT_ERR_TOO_LARGE
                                       ? "too large"
                                       : "not a decimal amount of the "
                                         "currency");
    } else {
        return bad(p, "price", pr ? "must be an integer of minor units or "
                                    "a decimal string"
                                  : "missing");
    }
    int rc = wabot_product_set_price(p, minor, code);
    return rc == WABOT_ERR_NOT_FOUND ? WABOT_ERR_INVAL : rc;
}

static int aliases_from_json(wabot_product *p, json_t *obj)
{
    json_t *al = json_object_get(obj, "aliases");
    if (!al || json_is_null(al))
        return WABOT_OK;
    if (!json_is_array(al))
        return bad(p, "aliases", "must be an array of strings");
    size_t i;
    json_t *v;
    json_array_foreach(al, i, v) {
        if (!json_is_string(v))
            return bad(p, "aliases", "must be an array of strings");
        int rc = wabot_product_add_alias(p, json_string_value(v));
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

static int stock_active_from_json(wabot_product *p, json_t *obj)
{
    json_t *st = json_object_get(obj, "stock");
    if (st && !json_is_null(st)) {
        if (!json_is_integer(st))
            return bad(p, "stock", "must be an integer (absent: unlimited)");
        int rc = wabot_product_set_stock(p, json_integer_value(st));
        if (rc != WABOT_OK)
            return rc;
    }
    json_t *ac = json_object_get(obj, "active");
    if (ac && !json_is_boolean(ac))
        return bad(p, "active", "must be true or false");
    p->active = ac ? json_is_true(ac) : 1;
    return WABOT_OK;
}

/* The import shape's members; a stored record also has "seq". */
static const char *const known_members[] = {
    "sku", "name", "aliases", "description", "category", "price",
    "currency", "stock", "active", "image_url", NULL};

int wb_product_member_known(const char *key)
{
    return wb_word_in(known_members, key);
}

int wb_product_from_json_obj(wabot_product *p, json_t *obj, int stored)
{
    if (!json_is_object(obj))
        return bad(p, "", "must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!wb_product_member_known(key) &&
            !(stored && strcmp(key, "seq") == 0))
            return bad(p, "", "has an unknown member");
    }
    int rc = WABOT_OK;
    const char *sku = str_member(p, obj, "sku", &rc);
    if (!sku)
        return rc;
    if ((rc = wabot_product_set_sku(p, sku)) != WABOT_OK)
        return rc;
    const char *name = str_member(p, obj, "name", &rc);
    if (!name)
        return rc;
    if ((rc = wabot_product_set_name(p, name)) != WABOT_OK)
        return rc;
    static const char *const optional[] = {"description", "category",
                                           "image_url"};
    for (size_t i = 0; i < 3; i++) {
        const char *s = str_member(p, obj, optional[i], &rc);
        if (!s)
            return rc;
        rc = i == 0   ? wabot_product_set_description(p, s)
             : i == 1 ? wabot_product_set_category(p, s)
                      : wabot_product_set_image_url(p, s);
        if (rc != WABOT_OK)
            return rc;
    }
    if ((rc = aliases_from_json(p, obj)) != WABOT_OK)
        return rc;
    if ((rc = price_from_json(p, obj)) != WABOT_OK)
        return rc;
    if ((rc = stock_active_from_json(p, obj)) != WABOT_OK)
        return rc;
    if (stored)
        p->seq = json_integer_value(json_object_get(obj, "seq"));
    return WABOT_OK;
}

int wb_product_encode(const wabot_product *p, char **val, size_t *len)
{
    const wabot_allocator *prev = wb_json_scope_enter(palloc(p));
    json_t *o = wb_product_to_json_obj(p, 1);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    wb_json_scope_leave(prev);
    if (!s)
        return WABOT_ERR_NOMEM;
    int rc = wabot_storage_record_encode(PRODUCT_SCHEMA, s, strlen(s), val,
                                         len);
    wb_json_free(s);
    return rc;
}

int wb_product_decode(wabot_ctx *ctx, const char *val, size_t len,
                      uint64_t version, wabot_product **out)
{
    static const wabot_schema schema = {WABOT_SCHEMA_VERSION, PRODUCT_SCHEMA,
                                        NULL, NULL};
    char *payload = NULL;
    size_t plen = 0;
    int rc = wabot_storage_record_decode(&schema, val, len, &payload, &plen,
                                         NULL);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *obj = json_loadb(payload, plen, 0, NULL);
    wabot_free(payload);
    wabot_product *p = wabot_product_new(ctx);
    rc = !obj ? WABOT_ERR_PARSE : !p ? WABOT_ERR_NOMEM : WABOT_OK;
    if (rc == WABOT_OK && wb_product_from_json_obj(p, obj, 1) != WABOT_OK)
        rc = WABOT_ERR_PARSE;
    json_decref(obj);
    wb_json_scope_leave(prev);
    if (rc != WABOT_OK) {
        wabot_product_free(p);
        return wb_error(ctx, rc, "stored product is corrupt");
    }
    p->version = version;
    *out = p;
    return WABOT_OK;
}
