/* An invoice in memory and as its stored JSON (format in wabot/invoice.h).
 * Written with the string builder; read with jansson. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "commerce/invoice_internal.h"
#include "internal/json_alloc.h"
#include "internal/strbuf.h"

static const char *const status_names[] = {
    [WABOT_INVOICE_ISSUED] = "issued", [WABOT_INVOICE_SENT] = "sent",
    [WABOT_INVOICE_PAID] = "paid",     [WABOT_INVOICE_OVERDUE] = "overdue",
    [WABOT_INVOICE_VOID] = "void",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

const char *wabot_invoice_status_name(wabot_invoice_status s)
{
    return (unsigned)s < N_STATUS && status_names[s] ? status_names[s]
                                                     : "unknown";
}

wabot_invoice_status wb_inv_status_by_name(const char *name)
{
    for (size_t i = 1; name != NULL && i < N_STATUS; i++)
        if (strcmp(name, status_names[i]) == 0)
            return (wabot_invoice_status)i;
    return 0;
}

void wb_inv_date(int64_t ms, char buf[11])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 11, "%Y-%m-%d", &tm);
}

void wb_invoice_init(wb_invoice *inv, const wabot_allocator *a)
{
    memset(inv, 0, sizeof *inv);
    inv->alloc = a;
}

void wb_invoice_clear(wb_invoice *inv)
{
    const wabot_allocator *a = inv->alloc;
    for (size_t i = 0; i < inv->n_lines; i++) {
        wb_free(a, inv->lines[i].sku);
        wb_free(a, inv->lines[i].name);
    }
    wb_free(a, inv->lines);
    wb_free(a, inv->org);
    wb_free(a, inv->customer);
    wb_free(a, inv->key);
    wb_invoice_init(inv, a);
}

/* A line's net, tax (half up) and total. WABOT_OK, or WABOT_ERR_INVAL
 * with *why set (static text) when a value leaves int64. */
static int line_amounts(wb_inv_line *l, const char **why)
{
    if (wabot_money_mul(l->quantity, l->unit_minor, &l->net_minor) !=
        WABOT_OK) {
        *why = "quantity times unit price exceeds int64";
        return WABOT_ERR_INVAL;
    }
    if (wb_money_bp_share(l->net_minor, l->tax_bp, &l->tax_minor) !=
        WABOT_OK) {
        *why = "the line's tax exceeds int64";
        return WABOT_ERR_INVAL;
    }
    if (wabot_money_add(l->net_minor, l->tax_minor, &l->total_minor) !=
        WABOT_OK) {
        *why = "the line's total exceeds int64";
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

int wb_invoice_add_line(wb_invoice *inv, const char *sku, const char *name,
                        int64_t quantity, int64_t unit_minor, int32_t tax_bp,
                        const char **why)
{
    wb_inv_line l = {0};
    l.quantity = quantity;
    l.unit_minor = unit_minor;
    l.tax_bp = tax_bp;
    int rc = line_amounts(&l, why);
    if (rc != WABOT_OK)
        return rc;
    int64_t sub, tax, total;
    if (wabot_money_add(inv->subtotal_minor, l.net_minor, &sub) ||
        wabot_money_add(inv->tax_minor, l.tax_minor, &tax) ||
        wabot_money_add(inv->total_minor, l.total_minor, &total)) {
        *why = "the invoice's totals exceed int64";
        return WABOT_ERR_INVAL;
    }
    *why = "out of memory";
    if (wb_grow(inv->alloc, (void **)&inv->lines, inv->n_lines + 1,
                &inv->cap_lines, sizeof *inv->lines) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    l.sku = wb_strdup(inv->alloc, sku);
    l.name = wb_strdup(inv->alloc, name);
    if (!l.sku || !l.name) {
        wb_free(inv->alloc, l.sku);
        wb_free(inv->alloc, l.name);
        return WABOT_ERR_NOMEM;
    }
    inv->lines[inv->n_lines++] = l;
    inv->subtotal_minor = sub;
    inv->tax_minor = tax;
    inv->total_minor = total;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

static void put_str(wb_strbuf *b, const char *name, const char *v, int comma)
{
    wb_strbuf_printf(b, "%s\"%s\":", comma ? "," : "", name);
    wb_strbuf_json_str(b, v);
}

static void put_int(wb_strbuf *b, const char *name, int64_t v)
{
    wb_strbuf_printf(b, ",\"%s\":%lld", name, (long long)v);
}

static void put_line(wb_strbuf *b, const wb_inv_line *l)
{
    put_str(b, "sku", l->sku, 0);
    put_str(b, "name", l->name, 1);
    put_int(b, "quantity", l->quantity);
    put_int(b, "unit_minor", l->unit_minor);
    put_int(b, "tax_bp", l->tax_bp);
    put_int(b, "net_minor", l->net_minor);
    put_int(b, "tax_minor", l->tax_minor);
    put_int(b, "total_minor", l->total_minor);
}

char *wb_invoice_to_json(const wb_invoice *inv, size_t *len)
{
    wb_strbuf b;
    wb_strbuf_init(&b, inv->alloc);
    wb_strbuf_putc(&b, '{');
    put_str(&b, "number", inv->number, 0);
    put_int(&b, "seq", inv->seq);
    put_str(&b, "org", inv->org, 1);
    put_str(&b, "customer", inv->customer, 1);
    if (inv->key)
        put_str(&b, "key", inv->key, 1);
    put_str(&b, "currency", inv->currency, 1);
    put_int(&b, "exponent", inv->exponent);
    put_str(&b, "status", wabot_invoice_status_name(inv->status), 1);
    wb_strbuf_puts(&b, ",\"lines\":[");
    for (size_t i = 0; i < inv->n_lines; i++) {
        wb_strbuf_puts(&b, i ? ",{" : "{");
        put_line(&b, &inv->lines[i]);
        wb_strbuf_putc(&b, '}');
    }
    wb_strbuf_putc(&b, ']');
    put_int(&b, "subtotal_minor", inv->subtotal_minor);
    put_int(&b, "tax_minor", inv->tax_minor);
    put_int(&b, "total_minor", inv->total_minor);
    put_int(&b, "issued_ms", inv->issued_ms);
    put_int(&b, "due_ms", inv->due_ms);
    char date[11];
    wb_inv_date(inv->due_ms, date);
    put_str(&b, "due_date", date, 1);
    put_int(&b, "updated_ms", inv->updated_ms);
    wb_strbuf_putc(&b, '}');
    if (len)
        *len = b.len;
    return wb_strbuf_take(&b);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static int get_int(json_t *o, const char *name, int64_t *v)
{
    json_t *j = json_object_get(o, name);
    if (!json_is_integer(j))
        return -1;
    *v = (int64_t)json_integer_value(j);
    return 0;
}

static const char *get_str(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* Lines are taken as stored (not recomputed): an invoice keeps the
 * amounts it was issued with. */
static int read_line(wb_invoice *inv, json_t *jl)
{
    wb_inv_line l = {0};
    int64_t bp = 0;
    const char *sku = get_str(jl, "sku"), *name = get_str(jl, "name");
    if (!sku || !name || get_int(jl, "quantity", &l.quantity) ||
        get_int(jl, "unit_minor", &l.unit_minor) ||
        get_int(jl, "tax_bp", &bp) || get_int(jl, "net_minor", &l.net_minor) ||
        get_int(jl, "tax_minor", &l.tax_minor) ||
        get_int(jl, "total_minor", &l.total_minor))
        return WABOT_ERR_PARSE;
    l.tax_bp = (int32_t)bp;
    if (wb_grow(inv->alloc, (void **)&inv->lines, inv->n_lines + 1,
                &inv->cap_lines, sizeof *inv->lines) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    l.sku = wb_strdup(inv->alloc, sku);
    l.name = wb_strdup(inv->alloc, name);
    inv->lines[inv->n_lines++] = l; /* cleared with the invoice */
    return l.sku && l.name ? WABOT_OK : WABOT_ERR_NOMEM;
}

static int read_header(wb_invoice *inv, json_t *root)
{
    const char *number = get_str(root, "number"), *org = get_str(root, "org");
    const char *cust = get_str(root, "customer"), *key = get_str(root, "key");
    const char *cur = get_str(root, "currency");
    int64_t exp = 0;
    if (!number || strlen(number) > WB_INV_NUMBER_MAX || !org || !cust ||
        !cur || strlen(cur) != 3 || get_int(root, "exponent", &exp) ||
        get_int(root, "seq", &inv->seq) ||
        get_int(root, "subtotal_minor", &inv->subtotal_minor) ||
        get_int(root, "tax_minor", &inv->tax_minor) ||
        get_int(root, "total_minor", &inv->total_minor) ||
        get_int(root, "issued_ms", &inv->issued_ms) ||
        get_int(root, "due_ms", &inv->due_ms) ||
        get_int(root, "updated_ms", &inv->updated_ms))
        return WABOT_ERR_PARSE;
    inv->status = wb_inv_status_by_name(get_str(root, "status"));
    if (inv->status == 0)
        return WABOT_ERR_PARSE;
    strcpy(inv->number, number);
    memcpy(inv->currency, cur, 4);
    inv->exponent = (int)exp;
    inv->org = wb_strdup(inv->alloc, org);
    inv->customer = wb_strdup(inv->alloc, cust);
    inv->key = key ? wb_strdup(inv->alloc, key) : NULL;
    if (!inv->org || !inv->customer || (key && !inv->key))
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

int wb_invoice_from_json(wb_invoice *inv, const char *json, size_t len)
{
    const wabot_allocator *prev = wb_json_scope_enter(inv->alloc);
    json_t *root = json_loadb(json, len, 0, NULL);
    int rc = root ? read_header(inv, root) : WABOT_ERR_PARSE;
    json_t *lines = json_object_get(root, "lines");
    if (rc == WABOT_OK && !json_is_array(lines))
        rc = WABOT_ERR_PARSE;
    for (size_t i = 0; rc == WABOT_OK && i < json_array_size(lines); i++)
        rc = read_line(inv, json_array_get(lines, i));
    json_decref(root);
    wb_json_scope_leave(prev);
    return rc;
}
