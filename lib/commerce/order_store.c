/* Orders in storage: creation, status changes with stock reservation,
 * lists, counts and statistics. Every key of an organisation shares its
 * hash tag with the catalog's ("{org}"), so one transaction can change an
 * order and the products whose stock it takes:
 *
 *   orders:{org}:seq              the last order number given (incr)
 *   orders:{org}:o:<id>           the order (record, schema 1, JSON)
 *   orders:{org}:k:<key>          id of the order placed under a key
 *   orders:{org}:all, :s:<status>, :c:<customer>   sorted indexes by number
 *   orders:{org}:n:<status>, :n:all                counts
 *   orders:{org}:cur              currencies seen (sorted index)
 *   orders:{org}:rev:<CUR>        revenue of confirmed, not cancelled
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commerce/commerce.h"
#include "commerce/order_internal.h"
#include "internal/json_alloc.h"
#include "internal/metrics.h"
#include "internal/strbuf.h"
#include "wabot/storage.h"

#define ORDER_SCHEMA 1
#define KEY_MAX 512
#define RETRIES 1000 /* a conflict means another change committed */

static const char *const status_names[] = {
    "unknown", "pending", "confirmed", "processing", "fulfilled", "cancelled"};

const char *wabot_order_status_name(wabot_order_status s)
{
    return s >= WABOT_ORDER_PENDING && s <= WABOT_ORDER_CANCELLED
               ? status_names[s]
               : "unknown";
}

wabot_order_status wb_order_status_parse(const char *name)
{
    for (int s = WABOT_ORDER_PENDING; name && s <= WABOT_ORDER_CANCELLED; s++)
        if (strcmp(status_names[s], name) == 0)
            return (wabot_order_status)s;
    return 0;
}

static void okey(char out[KEY_MAX], const char *org, const char *what,
                 const char *rest)
{
    snprintf(out, KEY_MAX, "orders:{%s}:%s%s%s", org, what, rest ? ":" : "",
             rest ? rest : "");
}

static int allowed(wabot_order_status from, wabot_order_status to)
{
    switch (from) {
    case WABOT_ORDER_PENDING:
        return to == WABOT_ORDER_CONFIRMED || to == WABOT_ORDER_CANCELLED;
    case WABOT_ORDER_CONFIRMED:
        return to == WABOT_ORDER_PROCESSING || to == WABOT_ORDER_CANCELLED;
    case WABOT_ORDER_PROCESSING:
        return to == WABOT_ORDER_FULFILLED || to == WABOT_ORDER_CANCELLED;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Records                                                             */

static int encode(json_t *o, char **val, size_t *len)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return WABOT_ERR_NOMEM;
    int rc = wabot_storage_record_encode(ORDER_SCHEMA, s, strlen(s), val, len);
    wb_json_free(s);
    return rc;
}

static int decode(const char *val, size_t len, json_t **out)
{
    static const wabot_schema schema = {WABOT_SCHEMA_VERSION, ORDER_SCHEMA,
                                        NULL, NULL};
    char *payload = NULL;
    size_t plen = 0;
    int rc = wabot_storage_record_decode(&schema, val, len, &payload, &plen,
                                         NULL);
    if (rc != WABOT_OK)
        return rc;
    *out = json_loadb(payload, plen, 0, NULL);
    wabot_free(payload);
    return json_is_object(*out) ? WABOT_OK : WABOT_ERR_PARSE;
}

int wb_order_load(wabot_ctx *ctx, const char *org, const char *id,
                  json_t **out, uint64_t *version)
{
    char key[KEY_MAX], *val = NULL;
    size_t len = 0;
    okey(key, org, "o", id);
    int rc = wabot_storage_get(ctx->storage, key, &val, &len, version);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wb_error(ctx, rc, "order %s not found", id);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read order %s", id);
    rc = decode(val, len, out);
    wabot_free(val);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "stored order %s is corrupt", id);
    return WABOT_OK;
}

static int64_t jint(json_t *o, const char *name)
{
    return (int64_t)json_integer_value(json_object_get(o, name));
}

static const char *jstr(json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : "";
}

/* ------------------------------------------------------------------ */
/* Creation                                                            */

static int customer_ok(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    if (n == 0 || n > WB_ORDER_CUSTOMER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f || c[i] == '{' ||
            c[i] == '}')
            return 0;
    return 1;
}

/* The lines' skus and quantities, checked: skus[i] borrowed from lines. */
static int read_lines(wabot_ctx *ctx, const char *org, json_t *lines,
                      const char **skus, int64_t *qty, size_t *n)
{
    if (!json_is_array(lines))
        return wb_error(ctx, WABOT_ERR_PARSE, "order lines must be a JSON "
                        "array");
    *n = json_array_size(lines);
    if (*n == 0 || *n > WABOT_ORDER_MAX_LINES)
        return wb_error(ctx, WABOT_ERR_INVAL, "an order has 1..%d lines",
                        WABOT_ORDER_MAX_LINES);
    int64_t max = wb_commerce_opt_int(ctx, org, WB_COMMERCE_OPT_MAX_QUANTITY);
    for (size_t i = 0; i < *n; i++) {
        json_t *l = json_array_get(lines, i);
        skus[i] = json_string_value(json_object_get(l, "sku"));
        json_t *q = json_object_get(l, "quantity");
        if (!skus[i] || !wb_sku_valid(skus[i]))
            return wb_error(ctx, WABOT_ERR_INVAL, "line %zu: bad sku", i + 1);
        if (!json_is_integer(q) || json_integer_value(q) <= 0)
            return wb_error(ctx, WABOT_ERR_INVAL, "line %zu: quantity must "
                            "be a whole number above 0", i + 1);
        qty[i] = json_integer_value(q);
        if (qty[i] > max)
            return wb_error(ctx, WABOT_ERR_TOO_LARGE, "line %zu: at most "
                            "%lld of one product per order", i + 1,
                            (long long)max);
        for (size_t j = 0; j < i; j++)
            if (strcmp(skus[j], skus[i]) == 0)
                return wb_error(ctx, WABOT_ERR_INVAL, "line %zu: %s is on "
                                "the order twice", i + 1, skus[i]);
    }
    return WABOT_OK;
}

/* One priced line; *cur is the order's currency so far. */
static int price_line(wabot_ctx *ctx, const wabot_product *p, const char *sku,
                      int64_t qty, char cur[4], int64_t *total, json_t *out)
{
    if (!p)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND, "no product %s", sku);
    if (!p->active)
        return wb_error(ctx, WABOT_ERR_STATE, "%s is not available", p->name);
    if (cur[0] && strcmp(cur, p->currency) != 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "the order is in %s and %s "
                        "costs %s", cur, p->name, p->currency);
    memcpy(cur, p->currency, 4);
    if (p->stock != WABOT_PRODUCT_STOCK_UNLIMITED && qty > p->stock)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "only %lld of %s in stock",
                        (long long)p->stock, p->name);
    int64_t line;
    if (wabot_money_mul(p->price, qty, &line) != WABOT_OK ||
        wabot_money_add(*total, line, total) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "the order's total exceeds "
                        "int64");
    json_array_append_new(
        out, json_pack("{s:s, s:s, s:I, s:I, s:I}", "sku", p->sku, "name",
                       p->name, "quantity", (json_int_t)qty, "unit_minor",
                       (json_int_t)p->price, "total_minor",
                       (json_int_t)line));
    return WABOT_OK;
}

static int priced_lines(wabot_ctx *ctx, const char *org, json_t *lines,
                        json_t **out, char cur[4], int64_t *total)
{
    const char *skus[WABOT_ORDER_MAX_LINES];
    int64_t qty[WABOT_ORDER_MAX_LINES];
    wabot_product *ps[WABOT_ORDER_MAX_LINES];
    size_t n = 0;
    int rc = read_lines(ctx, org, lines, skus, qty, &n);
    if (rc != WABOT_OK)
        return rc;
    rc = wb_catalog_get_many(ctx, org, n, skus, ps);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read the catalog");
    *out = json_array();
    cur[0] = '\0';
    *total = 0;
    for (size_t i = 0; i < n && rc == WABOT_OK; i++)
        rc = price_line(ctx, ps[i], skus[i], qty[i], cur, total, *out);
    for (size_t i = 0; i < n; i++)
        wabot_product_free(ps[i]);
    if (rc != WABOT_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* The id already placed under key, into id (EXISTS), or NOT_FOUND. */
static int find_key(wabot_ctx *ctx, const char *org, const char *key,
                    char id[WB_ORDER_ID_MAX])
{
    char k[KEY_MAX], *val = NULL;
    okey(k, org, "k", key);
    int rc = wabot_storage_get(ctx->storage, k, &val, NULL, NULL);
    if (rc != WABOT_OK)
        return rc;
    snprintf(id, WB_ORDER_ID_MAX, "%s", val);
    wabot_free(val);
    return WABOT_ERR_EXISTS;
}

static int write_new(wabot_ctx *ctx, const char *org, json_t *o,
                     const char *key)
{
    char k[KEY_MAX], *val = NULL;
    size_t len = 0;
    const char *id = jstr(o, "id"), *customer = jstr(o, "customer");
    int64_t seq = jint(o, "seq");
    int rc = encode(o, &val, &len);
    if (rc != WABOT_OK)
        return rc;
    wabot_storage_txn *t = wabot_storage_txn_new(ctx->storage);
    if (!t) {
        wabot_free(val);
        return WABOT_ERR_NOMEM;
    }
    okey(k, org, "o", id);
    rc = wabot_storage_txn_cas(t, k, 0, val, len, 0);
    if (rc == WABOT_OK && key) {
        okey(k, org, "k", key);
        rc = wabot_storage_txn_cas(t, k, 0, id, strlen(id), 0);
    }
    okey(k, org, "all", NULL);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, id, strlen(id), seq);
    okey(k, org, "s", "pending");
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, id, strlen(id), seq);
    okey(k, org, "c", customer);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, id, strlen(id), seq);
    okey(k, org, "n", "pending");
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, 1, 0);
    okey(k, org, "n", "all");
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, 1, 0);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    wabot_storage_txn_free(t);
    wabot_free(val);
    return rc;
}

int wb_order_create(wabot_ctx *ctx, const char *org, const char *customer,
                    json_t *lines, const char *key,
                    char id_out[WB_ORDER_ID_MAX])
{
    if (!customer_ok(customer))
        return wb_error(ctx, WABOT_ERR_INVAL, "customer must be 1..%d bytes "
                        "without braces or control bytes",
                        WB_ORDER_CUSTOMER_MAX);
    if (key && (!customer_ok(key) || strlen(key) > WB_ORDER_KEY_MAX))
        return wb_error(ctx, WABOT_ERR_INVAL, "order key must be 1..%d bytes "
                        "without braces or control bytes", WB_ORDER_KEY_MAX);
    int rc = key ? find_key(ctx, org, key, id_out) : WABOT_ERR_NOT_FOUND;
    if (rc != WABOT_ERR_NOT_FOUND)
        return rc == WABOT_ERR_EXISTS
                   ? wb_error(ctx, rc, "order %s was placed under key %s",
                              id_out, key)
                   : wb_error(ctx, rc, "cannot read order key %s", key);
    json_t *priced = NULL;
    char cur[4];
    int64_t total = 0, seq = 0;
    rc = priced_lines(ctx, org, lines, &priced, cur, &total);
    if (rc != WABOT_OK)
        return rc;
    char k[KEY_MAX];
    okey(k, org, "seq", NULL);
    rc = wabot_storage_incr(ctx->storage, k, 1, 0, &seq);
    if (rc != WABOT_OK) {
        json_decref(priced);
        return wb_error(ctx, rc, "cannot number the order");
    }
    snprintf(id_out, WB_ORDER_ID_MAX, "ORD-%06lld", (long long)seq);
    int64_t now = wabot_ctx_now_ms(ctx);
    json_t *o = json_pack(
        "{s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:I, s:b, s:s, s:I, s:I}", "id",
        id_out, "seq", (json_int_t)seq, "org", org, "customer", customer,
        "currency", cur, "status", "pending", "lines", priced, "total_minor",
        (json_int_t)total, "stock_reserved", 0, "reason", "", "created_ms",
        (json_int_t)now, "updated_ms", (json_int_t)now);
    if (o && key)
        json_object_set_new(o, "key", json_string(key));
    rc = o ? write_new(ctx, org, o, key) : WABOT_ERR_NOMEM;
    json_decref(o);
    if (rc == WABOT_ERR_CONFLICT && key) {
        /* Another thread placed an order under the same key first. */
        rc = find_key(ctx, org, key, id_out);
        return wb_error(ctx, rc == WABOT_ERR_NOT_FOUND ? WABOT_ERR_STORAGE : rc,
                        "order %s was placed under key %s", id_out, key);
    }
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot store order %s", id_out);
    wb_count(ctx, "orders.created", 1);
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Status changes                                                      */

/* Take (sign -1) or give back (+1) the stock of the order's lines whose
 * product tracks it: CAS ops on the products into t. */
static int stock_ops(wabot_ctx *ctx, const char *org, json_t *o, int sign,
                     wabot_storage_txn *t, wabot_product **ps, size_t *np)
{
    json_t *lines = json_object_get(o, "lines");
    size_t n = json_array_size(lines);
    const char *skus[WABOT_ORDER_MAX_LINES];
    if (n > WABOT_ORDER_MAX_LINES)
        return wb_error(ctx, WABOT_ERR_PARSE, "stored order is corrupt");
    for (size_t i = 0; i < n; i++)
        skus[i] = jstr(json_array_get(lines, i), "sku");
    int rc = wb_catalog_get_many(ctx, org, n, skus, ps);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read the catalog");
    *np = n;
    for (size_t i = 0; i < n && rc == WABOT_OK; i++) {
        wabot_product *p = ps[i];
        int64_t q = jint(json_array_get(lines, i), "quantity");
        if (!p || p->stock == WABOT_PRODUCT_STOCK_UNLIMITED) {
            if (!p && sign < 0)
                rc = wb_error(ctx, WABOT_ERR_NOT_FOUND, "product %s was "
                              "deleted", skus[i]);
            continue; /* nothing to take or give back */
        }
        if (sign < 0 && p->stock < q)
            return wb_error(ctx, WABOT_ERR_TOO_LARGE, "not enough %s in stock "
                            "(%lld left, %lld ordered)", p->name,
                            (long long)p->stock, (long long)q);
        p->stock += sign * q;
        char key[WB_KEY_MAX], *val = NULL;
        size_t len = 0;
        wb_catalog_key(key, org, "p", p->sku);
        rc = wb_product_encode(p, &val, &len);
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_cas(t, key, p->version, val, len, 0);
        wabot_free(val);
    }
    return rc;
}

static int move_ops(wabot_ctx *ctx, const char *org, json_t *o,
                    uint64_t version, wabot_order_status from,
                    wabot_order_status to, wabot_storage_txn *t,
                    wabot_product **ps, size_t *np)
{
    int rc = WABOT_OK;
    int reserved = json_is_true(json_object_get(o, "stock_reserved"));
    int64_t total = jint(o, "total_minor"), delta = 0;
    const char *id = jstr(o, "id"), *cur = jstr(o, "currency");
    if (to == WABOT_ORDER_CONFIRMED) {
        rc = stock_ops(ctx, org, o, -1, t, ps, np);
        json_object_set_new(o, "stock_reserved", json_true());
        delta = total;
    } else if (to == WABOT_ORDER_CANCELLED && reserved) {
        rc = stock_ops(ctx, org, o, +1, t, ps, np);
        json_object_set_new(o, "stock_reserved", json_false());
        delta = -total;
    }
    json_object_set_new(o, "status", json_string(wabot_order_status_name(to)));
    json_object_set_new(o, "updated_ms", json_integer(wabot_ctx_now_ms(ctx)));
    char k[KEY_MAX], *val = NULL;
    size_t len = 0;
    if (rc == WABOT_OK)
        rc = encode(o, &val, &len);
    okey(k, org, "o", id);
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_cas(t, k, version, val, len, 0);
    wabot_free(val);
    okey(k, org, "s", wabot_order_status_name(from));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_remove(t, k, id, strlen(id));
    okey(k, org, "s", wabot_order_status_name(to));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_sorted_add(t, k, id, strlen(id), jint(o, "seq"));
    okey(k, org, "n", wabot_order_status_name(from));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, -1, 0);
    okey(k, org, "n", wabot_order_status_name(to));
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_incr(t, k, 1, 0);
    if (rc == WABOT_OK && delta != 0) {
        okey(k, org, "rev", cur);
        rc = wabot_storage_txn_incr(t, k, delta, 0);
        okey(k, org, "cur", NULL);
        if (rc == WABOT_OK)
            rc = wabot_storage_txn_sorted_add(t, k, cur, strlen(cur), 0);
    }
    return rc;
}

/* One attempt: CONFLICT means someone changed the order or a product. */
static int move_once(wabot_ctx *ctx, const char *org, const char *id,
                     wabot_order_status to, const char *reason, int *changed)
{
    json_t *o = NULL;
    uint64_t version = 0;
    int rc = wb_order_load(ctx, org, id, &o, &version);
    if (rc != WABOT_OK)
        return rc;
    wabot_order_status from = wb_order_status_parse(jstr(o, "status"));
    if (from == to) {
        json_decref(o);
        return WABOT_OK; /* a retried call is harmless */
    }
    if (!allowed(from, to)) {
        json_decref(o);
        return wb_error(ctx, WABOT_ERR_STATE, "order %s cannot go from %s to "
                        "%s", id, wabot_order_status_name(from),
                        wabot_order_status_name(to));
    }
    if (reason)
        json_object_set_new(o, "reason", json_string(reason));
    wabot_product *ps[WABOT_ORDER_MAX_LINES];
    size_t np = 0;
    wabot_storage_txn *t = wabot_storage_txn_new(ctx->storage);
    rc = t ? move_ops(ctx, org, o, version, from, to, t, ps, &np)
           : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_storage_txn_commit(t, NULL);
    wabot_storage_txn_free(t);
    for (size_t i = 0; i < np; i++)
        wabot_product_free(ps[i]);
    if (rc == WABOT_OK) {
        *changed = 1;
        wb_order_notify(ctx, org, o, to);
        char name[64];
        snprintf(name, sizeof name, "orders.%s", wabot_order_status_name(to));
        wb_count(ctx, name, 1);
    }
    json_decref(o);
    return rc;
}

int wb_order_move(wabot_ctx *ctx, const char *org, const char *id,
                  wabot_order_status to, const char *reason, int *changed)
{
    int dummy = 0;
    if (!changed)
        changed = &dummy;
    *changed = 0;
    if (to < WABOT_ORDER_PENDING || to > WABOT_ORDER_CANCELLED)
        return wb_error(ctx, WABOT_ERR_INVAL, "unknown order status %d",
                        (int)to);
    int rc = WABOT_ERR_CONFLICT;
    for (int i = 0; i < RETRIES && rc == WABOT_ERR_CONFLICT; i++)
        rc = move_once(ctx, org, id, to, reason, changed);
    if (rc == WABOT_ERR_CONFLICT)
        return wb_error(ctx, WABOT_ERR_CONFLICT, "order %s: too many "
                        "concurrent changes", id);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static int read_page(wabot_ctx *ctx, const char *org, const char *index,
                     int64_t below, int64_t want, wabot_order_status status,
                     json_t *out, int64_t *last, int *more)
{
    wabot_storage_items *ids = NULL;
    int rc = wabot_storage_sorted_range(ctx->storage, index,
                                        WABOT_STORAGE_SCORE_MIN, below - 1, 0,
                                        want, WABOT_STORAGE_RANGE_DESC, &ids);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read %s", index);
    size_t n = wabot_storage_items_count(ids);
    *more = (int64_t)n == want;
    char **keys = n ? wb_calloc(&ctx->alloc, n, sizeof *keys) : NULL;
    for (size_t i = 0; keys && i < n; i++) {
        char k[KEY_MAX];
        okey(k, org, "o", wabot_storage_items_key(ids, i, NULL));
        keys[i] = wb_strdup(&ctx->alloc, k);
        *last = wabot_storage_items_score(ids, i);
        if (!keys[i])
            rc = WABOT_ERR_NOMEM;
    }
    if (n && !keys)
        rc = WABOT_ERR_NOMEM;
    wabot_storage_items *recs = NULL;
    if (rc == WABOT_OK && n)
        rc = wabot_storage_get_many(ctx->storage, n,
                                    (const char *const *)keys, &recs);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        size_t len = 0;
        const char *v = wabot_storage_items_value(recs, i, &len);
        json_t *o = NULL;
        if (!v || decode(v, len, &o) != WABOT_OK) {
            json_decref(o);
            continue; /* removed meanwhile, or corrupt: not listed */
        }
        if (status == 0 ||
            wb_order_status_parse(jstr(o, "status")) == status)
            json_array_append(out, o);
        json_decref(o);
    }
    wabot_storage_items_free(recs);
    wabot_storage_items_free(ids);
    for (size_t i = 0; keys && i < n; i++)
        wb_free(&ctx->alloc, keys[i]);
    wb_free(&ctx->alloc, keys);
    return rc;
}

int wb_order_list(wabot_ctx *ctx, const char *org, const char *customer,
                  wabot_order_status status, const char *cursor,
                  int64_t limit, char **json)
{
    if (limit < 1 || limit > 1000)
        return wb_error(ctx, WABOT_ERR_INVAL, "limit %lld is not in 1..1000",
                        (long long)limit);
    if (customer && !customer_ok(customer))
        return wb_error(ctx, WABOT_ERR_INVAL, "bad customer");
    char *end = NULL;
    long long c = cursor ? strtoll(cursor, &end, 10) : 0;
    if (cursor && (*cursor == '\0' || *end != '\0' || c < 0))
        return wb_error(ctx, WABOT_ERR_INVAL, "malformed cursor");
    int64_t below = c > 0 ? c : WABOT_STORAGE_SCORE_MAX;
    char index[KEY_MAX];
    if (customer)
        okey(index, org, "c", customer);
    else if (status)
        okey(index, org, "s", wabot_order_status_name(status));
    else
        okey(index, org, "all", NULL);
    /* Only a customer's index needs filtering by status. */
    wabot_order_status filter = customer ? status : 0;
    json_t *out = json_array();
    int more = 1, rc = WABOT_OK;
    int64_t last = below;
    while (rc == WABOT_OK && more && (int64_t)json_array_size(out) < limit) {
        int64_t want = limit - (int64_t)json_array_size(out);
        rc = read_page(ctx, org, index, last, want, filter, out, &last,
                       &more);
    }
    if (rc != WABOT_OK) {
        json_decref(out);
        return rc;
    }
    char next[32];
    snprintf(next, sizeof next, "%lld", more ? (long long)last : 0LL);
    json_t *root = json_pack("{s:o, s:s}", "orders", out, "cursor", next);
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)
                   : NULL;
    json_decref(root);
    *json = s ? wb_strdup(&ctx->alloc, s) : NULL;
    wb_json_free(s);
    return *json ? WABOT_OK : WABOT_ERR_NOMEM;
}

int wb_order_counts(wabot_ctx *ctx, const char *org, int64_t *counts,
                    size_t n)
{
    char keys[WABOT_ORDER_STATUS_COUNT][KEY_MAX];
    const char *kp[WABOT_ORDER_STATUS_COUNT] = {0};
    if (n > WABOT_ORDER_STATUS_COUNT)
        n = WABOT_ORDER_STATUS_COUNT;
    for (size_t s = 0; s < n; s++) {
        okey(keys[s], org, "n",
             s == 0 ? "all" : wabot_order_status_name((wabot_order_status)s));
        kp[s] = keys[s];
    }
    wabot_storage_items *it = NULL;
    int rc = wabot_storage_get_many(ctx->storage, n, kp, &it);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "cannot read order counts");
    for (size_t s = 0; s < n; s++) {
        const char *v = wabot_storage_items_value(it, s, NULL);
        counts[s] = v ? strtoll(v, NULL, 10) : 0;
    }
    wabot_storage_items_free(it);
    return WABOT_OK;
}

static int revenue(wabot_ctx *ctx, const char *org, wb_strbuf *b)
{
    char k[KEY_MAX];
    okey(k, org, "cur", NULL);
    wabot_storage_items *curs = NULL, *vals = NULL;
    int rc = wabot_storage_sorted_range(ctx->storage, k,
                                        WABOT_STORAGE_SCORE_MIN,
                                        WABOT_STORAGE_SCORE_MAX, 0, 1000, 0,
                                        &curs);
    size_t n = rc == WABOT_OK ? wabot_storage_items_count(curs) : 0;
    char (*keys)[KEY_MAX] = n ? wb_calloc(&ctx->alloc, n, KEY_MAX) : NULL;
    const char **kp = n ? wb_calloc(&ctx->alloc, n, sizeof *kp) : NULL;
    if (n && (!keys || !kp))
        rc = WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        okey(keys[i], org, "rev", wabot_storage_items_key(curs, i, NULL));
        kp[i] = keys[i];
    }
    if (rc == WABOT_OK && n)
        rc = wabot_storage_get_many(ctx->storage, n, kp, &vals);
    wb_strbuf_puts(b, "\"revenue\":{");
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        const char *v = wabot_storage_items_value(vals, i, NULL);
        wb_strbuf_puts(b, i ? "," : "");
        wb_strbuf_json_str(b, wabot_storage_items_key(curs, i, NULL));
        wb_strbuf_printf(b, ":%lld", v ? strtoll(v, NULL, 10) : 0LL);
    }
    wb_strbuf_puts(b, "}");
    wabot_storage_items_free(curs);
    wabot_storage_items_free(vals);
    wb_free(&ctx->alloc, keys);
    wb_free(&ctx->alloc, kp);
    return rc;
}

int wb_order_stats(wabot_ctx *ctx, const char *org, char **json)
{
    int64_t counts[WABOT_ORDER_STATUS_COUNT];
    int rc = wb_order_counts(ctx, org, counts, WABOT_ORDER_STATUS_COUNT);
    if (rc != WABOT_OK)
        return rc;
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, "{\"org\":");
    wb_strbuf_json_str(&b, org);
    wb_strbuf_printf(&b, ",\"count\":%lld,\"by_status\":{",
                     (long long)counts[0]);
    for (int s = WABOT_ORDER_PENDING; s <= WABOT_ORDER_CANCELLED; s++)
        wb_strbuf_printf(&b, "%s\"%s\":%lld", s > 1 ? "," : "",
                         status_names[s], (long long)counts[s]);
    wb_strbuf_puts(&b, "},");
    rc = revenue(ctx, org, &b);
    wb_strbuf_puts(&b, "}");
    if (rc != WABOT_OK) {
        wb_strbuf_free(&b);
        return rc;
    }
    *json = wb_strbuf_take(&b);
    return *json ? WABOT_OK : WABOT_ERR_NOMEM;
}
