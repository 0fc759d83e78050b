/* The `invoices` library module: its options, the public functions of
 * wabot/invoice.h that issue, read and change invoices, and the hook
 * `invoices.issued`. Storage is invoice_store.c, rendering
 * invoice_render.c and pdf_invoice.c, document URLs invoice_url.c, the
 * queue's worker invoice_worker.c. */
#include <jansson.h>
#include <string.h>

#include "internal/admin.h"
#include "commerce/invoice_internal.h"
#include "internal/json_alloc.h"
#include "internal/module.h"
#include "wabot/metrics.h"

#define MODULE "invoices"
#define DEFAULT_FORMAT "INV-{year}-{seq:6}"

static const wabot_option_def invoice_options[WB_INV_N_OPTS] = {
    [WB_INV_OPT_SECRET] = {WABOT_OPTION_DEF_VERSION, "secret",
     WABOT_OPTION_STRING, WABOT_OPTION_SECRET | WABOT_OPTION_EMPTY_OK, 0, 0,
     0, "",
     "key of the HMAC-SHA256 signing invoice document URLs; empty: no "
     "document URLs (set the same value in every process)",
     NULL, NULL, NULL},
    [WB_INV_OPT_URL_TTL] = {WABOT_OPTION_DEF_VERSION, "url_ttl",
     WABOT_OPTION_DURATION, WABOT_OPTION_PER_ORG, 7LL * 86400000, 60000,
     366LL * 86400000, NULL, "how long a signed document URL stays valid",
     NULL, NULL, NULL},
    [WB_INV_OPT_NET_DAYS] = {WABOT_OPTION_DEF_VERSION, "net_days",
     WABOT_OPTION_INT, WABOT_OPTION_PER_ORG, 30, 0, 3650, NULL,
     "payment terms: an invoice is due this many days after it is issued",
     NULL, NULL, NULL},
    [WB_INV_OPT_NUMBER_FORMAT] = {WABOT_OPTION_DEF_VERSION, "number_format",
     WABOT_OPTION_STRING, WABOT_OPTION_PER_ORG, 0, 0, 0, DEFAULT_FORMAT,
     "invoice numbers: letters, digits, _ . - and {year}, {seq} or {seq:N} "
     "(zero-padded to N digits)",
     NULL, NULL, wb_inv_check_format},
    [WB_INV_OPT_YEARLY_RESET] = {WABOT_OPTION_DEF_VERSION, "yearly_reset",
     WABOT_OPTION_BOOL, WABOT_OPTION_PER_ORG, 1, 0, 1, NULL,
     "numbering restarts at 1 each year (UTC) when the format shows {year}",
     NULL, NULL, NULL},
    [WB_INV_OPT_TAX_BP] = {WABOT_OPTION_DEF_VERSION, "tax_bp",
     WABOT_OPTION_INT, WABOT_OPTION_PER_ORG, 0, 0, WABOT_INVOICE_MAX_TAX_BP,
     NULL, "default tax rate of a line in basis points (825 = 8.25%)", NULL,
     NULL, NULL},
    [WB_INV_OPT_ORG_NAME] = {WABOT_OPTION_DEF_VERSION, "org_name",
     WABOT_OPTION_STRING, WABOT_OPTION_PER_ORG | WABOT_OPTION_EMPTY_OK, 0,
     0, 0, "", "the seller's name on invoices; empty: the organisation's id",
     NULL, NULL, NULL},
    [WB_INV_OPT_CONCURRENCY] = {WABOT_OPTION_DEF_VERSION, "concurrency",
     WABOT_OPTION_INT, 0, 2, 1, 64, NULL,
     "invoice-processing jobs run at once per context", NULL, NULL, NULL},
};

static const char *const invoice_hooks[] = {"issued", "status_changed",
                                            NULL};

/* The module's data: its metric families (this process's counts; the
 * stored counters of wabot_invoice_stats are the shared truth). */
typedef struct invoices_state {
    wabot_metric_family *issued;  /* {org, currency} */
    wabot_metric_family *changes; /* {org, status} */
} invoices_state;

static void count(wabot_module *m, int issued, const char *org,
                  const char *what)
{
    const invoices_state *st = wabot_module_data(m);
    const char *labels[] = {org, what};
    if (st)
        wabot_metrics_counter_add_labels(issued ? st->issued : st->changes,
                                         labels, 2, 1);
}

/* ------------------------------------------------------------------ */
/* Helpers shared by the invoice files                                 */

wabot_module *wb_invoices_module_of(wabot_ctx *ctx)
{
    wabot_module *m = ctx ? wabot_ctx_module(ctx, MODULE) : NULL;
    if (!m)
        wb_error(ctx, WABOT_ERR_STATE, "invoices: no invoices module");
    return m;
}

/* 1..max bytes without control bytes, '{' or '}' (they would break the
 * keys' hash tag), nor ':' when `colon` is 0. */
static int valid_text(const char *s, size_t max, int colon)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '{' || c == '}' ||
            (c == ':' && !colon))
            return 0;
    }
    return 1;
}

int wb_inv_valid_id(const char *s, size_t max)
{
    return valid_text(s, max, 0);
}

const char *wb_inv_org(wabot_ctx *ctx, const char *org)
{
    if (org == NULL || *org == '\0')
        return ctx->cfg.default_org;
    if (!wb_inv_valid_id(org, WB_INV_ID_MAX)) {
        wb_error(ctx, WABOT_ERR_INVAL,
                 "invoices: organisation must be 1..%d bytes without '{', "
                 "'}', ':' or control bytes", WB_INV_ID_MAX);
        return NULL;
    }
    return org;
}

int64_t wb_inv_opt_int(wabot_module *m, const char *org, int opt)
{
    int64_t v = 0;
    wabot_module_option_int(m, org, (size_t)opt, &v);
    return v;
}

const char *wb_inv_org_name(wabot_module *m, const char *org)
{
    const char *name = wabot_module_option_str(m, org, WB_INV_OPT_ORG_NAME);
    return name && *name ? name : org;
}

/* The module and the organisation of a public call: WABOT_OK, or the
 * error (recorded). */
static int begin(wabot_ctx *ctx, const char **org, wabot_module **m)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    *m = wb_invoices_module_of(ctx);
    if (!*m)
        return WABOT_ERR_STATE;
    *org = wb_inv_org(ctx, *org);
    return *org ? WABOT_OK : WABOT_ERR_INVAL;
}

/* ------------------------------------------------------------------ */
/* Drafts                                                              */

wabot_invoice_draft *wabot_invoice_draft_new(wabot_ctx *ctx, const char *org,
                                             const char *customer,
                                             const char *currency)
{
    wabot_module *m = NULL;
    if (begin(ctx, &org, &m) != WABOT_OK)
        return NULL;
    if (!wb_inv_valid_id(customer, WB_INV_ID_MAX)) {
        wb_error(ctx, WABOT_ERR_INVAL,
                 "invoices: customer must be 1..%d bytes without '{', '}', "
                 "':' or control bytes", WB_INV_ID_MAX);
        return NULL;
    }
    int exponent = wabot_currency_exponent(currency); /* < 0: unknown */
    if (exponent < 0) {
        wb_error(ctx, WABOT_ERR_INVAL, "invoices: unknown currency \"%.8s\"",
                 currency ? currency : "(null)");
        return NULL;
    }
    wabot_invoice_draft *d = wb_calloc(&ctx->alloc, 1, sizeof *d);
    if (!d)
        return NULL;
    d->ctx = ctx;
    d->m = m;
    wb_invoice_init(&d->inv, &ctx->alloc);
    memcpy(d->inv.currency, currency, 4);
    d->inv.exponent = exponent;
    d->inv.org = wb_strdup(&ctx->alloc, org);
    d->inv.customer = wb_strdup(&ctx->alloc, customer);
    if (!d->inv.org || !d->inv.customer) {
        wabot_invoice_draft_free(d);
        return NULL;
    }
    return d;
}

void wabot_invoice_draft_free(wabot_invoice_draft *d)
{
    if (!d)
        return;
    wb_invoice_clear(&d->inv);
    wb_free(&d->ctx->alloc, d);
}

int wabot_invoice_draft_set_key(wabot_invoice_draft *d, const char *key)
{
    if (!d)
        return WABOT_ERR_INVAL;
    if (!valid_text(key, WB_INV_KEY_MAX, 1))
        return wb_error(d->ctx, WABOT_ERR_INVAL,
                            "invoices: key must be 1..%d bytes without "
                            "'{', '}' or control bytes", WB_INV_KEY_MAX);
    return wb_str_replace(&d->ctx->alloc, &d->inv.key, key);
}

static int line_args_ok(wabot_invoice_draft *d, const char *sku,
                        const char *name, int64_t quantity,
                        int64_t unit_minor, int32_t tax_bp)
{
    wabot_ctx *ctx = d->ctx;
    if (!sku || !*sku || strlen(sku) > WB_INV_SKU_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: sku must be 1..%d "
                        "bytes", WB_INV_SKU_MAX);
    if (!name || !*name || strlen(name) > WB_INV_NAME_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: name must be 1..%d "
                        "bytes", WB_INV_NAME_MAX);
    if (quantity < 1 || quantity > WABOT_INVOICE_MAX_QUANTITY)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: quantity %lld of %s "
                        "is not in 1..%d", (long long)quantity, sku,
                        WABOT_INVOICE_MAX_QUANTITY);
    if (unit_minor < 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: negative unit price "
                        "of %s", sku);
    if (tax_bp != WABOT_INVOICE_TAX_DEFAULT &&
        (tax_bp < 0 || tax_bp > WABOT_INVOICE_MAX_TAX_BP))
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: tax %d bp of %s is "
                        "not in 0..%d", (int)tax_bp, sku,
                        WABOT_INVOICE_MAX_TAX_BP);
    if (d->inv.n_lines >= WABOT_INVOICE_MAX_LINES)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: more than %d lines",
                        WABOT_INVOICE_MAX_LINES);
    return WABOT_OK;
}

int wabot_invoice_draft_add_line(wabot_invoice_draft *d, const char *sku,
                                 const char *name, int64_t quantity,
                                 int64_t unit_minor, int32_t tax_bp)
{
    if (!d)
        return WABOT_ERR_INVAL;
    int rc = line_args_ok(d, sku, name, quantity, unit_minor, tax_bp);
    if (rc != WABOT_OK)
        return rc;
    if (tax_bp == WABOT_INVOICE_TAX_DEFAULT)
        tax_bp = (int32_t)wb_inv_opt_int(d->m, d->inv.org, WB_INV_OPT_TAX_BP);
    const char *why = "";
    rc = wb_invoice_add_line(&d->inv, sku, name, quantity, unit_minor, tax_bp,
                             &why);
    if (rc != WABOT_OK)
        return wb_error(d->ctx, rc, "invoices: line %s: %s", sku, why);
    return WABOT_OK;
}

static int emit_issued(wabot_invoice_draft *d)
{
    size_t len = 0;
    char *json = wb_invoice_to_json(&d->inv, &len);
    if (!json)
        return WABOT_ERR_NOMEM;
    int rc = wabot_hook_emit(d->m, "issued", json, len);
    wb_free(&d->ctx->alloc, json);
    return rc;
}

int wabot_invoice_issue(wabot_invoice_draft *d, char **number)
{
    if (number)
        *number = NULL;
    if (!d)
        return WABOT_ERR_INVAL;
    if (d->inv.n_lines == 0)
        return wb_error(d->ctx, WABOT_ERR_INVAL, "invoices: no lines");
    int rc = wb_invoice_store_issue(d->ctx, d->m, &d->inv);
    if (rc == WABOT_OK) {
        count(d->m, 1, d->inv.org, d->inv.currency);
        int hrc = emit_issued(d);
        if (hrc != WABOT_OK)
            wb_log(d->ctx, WABOT_LOG_WARN, MODULE,
                   "a subscriber of invoices.issued failed for %s: %s",
                   d->inv.number, wabot_strerror(hrc));
    }
    if ((rc == WABOT_OK || rc == WABOT_ERR_EXISTS) && number) {
        *number = wb_strdup(&d->ctx->alloc, d->inv.number);
        if (!*number)
            return WABOT_ERR_NOMEM;
    }
    if (rc == WABOT_ERR_EXISTS)
        wb_error(d->ctx, rc, "invoices: key %s was issued as %s", d->inv.key,
                 d->inv.number);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading and changing                                                */

/* The start of a call that reads one invoice: the module, the
 * organisation, the arguments, then the invoice loaded into *inv (to
 * clear whatever the result). */
static int load_for_call(wabot_ctx *ctx, const char **org,
                         const char *number, const void *out,
                         wabot_module **m, wb_invoice *inv)
{
    int rc = begin(ctx, org, m);
    if (rc != WABOT_OK)
        return rc;
    wb_invoice_init(inv, &ctx->alloc);
    if (!number || !out)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: NULL argument");
    return wb_invoice_load(ctx, *org, number, inv);
}

int wabot_invoice_get(wabot_ctx *ctx, const char *org, const char *number,
                      char **json)
{
    if (json)
        *json = NULL;
    wabot_module *m = NULL;
    wb_invoice inv = {0};
    int rc = load_for_call(ctx, &org, number, json, &m, &inv);
    if (rc == WABOT_OK) {
        *json = wb_invoice_to_json(&inv, NULL);
        rc = *json ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    wb_invoice_clear(&inv);
    return rc;
}

int wabot_invoice_list(wabot_ctx *ctx, const char *org, const char *customer,
                       wabot_invoice_status status, int64_t offset,
                       int64_t limit, char **json)
{
    if (json)
        *json = NULL;
    wabot_module *m = NULL;
    int brc = begin(ctx, &org, &m);
    if (brc != WABOT_OK)
        return brc;
    if (!json || offset < 0 || limit < 1 || limit > 1000 ||
        (customer && !wb_inv_valid_id(customer, WB_INV_ID_MAX)) ||
        (status != 0 && wb_inv_status_by_name(
                            wabot_invoice_status_name(status)) == 0))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "invoices: list needs json, offset >= 0, limit "
                        "1..1000, a valid customer and status");
    return wb_invoice_list(ctx, org, customer, status, offset, limit, json);
}

/* Subscribers (reminders) learn of the change; a failing one is logged,
 * the change stands. */
static void emit_status_changed(wabot_module *m, const char *org,
                                const char *number,
                                wabot_invoice_status status)
{
    wabot_ctx *ctx = wabot_module_ctx(m);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *ev = json_pack("{s:s,s:s,s:s}", "org", org, "number", number,
                           "status", wabot_invoice_status_name(status));
    char *json = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int rc = json ? wabot_hook_emit(m, "status_changed", json, strlen(json))
                  : WABOT_ERR_NOMEM;
    wb_json_free(json);
    wb_json_scope_leave(prev);
    if (rc != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, MODULE,
               "a subscriber of invoices.status_changed failed for %s: %s",
               number, wabot_strerror(rc));
}

int wabot_invoice_set_status(wabot_ctx *ctx, const char *org,
                             const char *number, wabot_invoice_status status)
{
    wabot_module *m = NULL;
    int brc = begin(ctx, &org, &m);
    if (brc != WABOT_OK)
        return brc;
    if (!number || wb_inv_status_by_name(wabot_invoice_status_name(status)) ==
                       0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "invoices: a number and a known status are needed");
    int rc = wb_invoice_change(ctx, org, number, status);
    if (rc == WABOT_OK) {
        count(m, 0, org, wabot_invoice_status_name(status));
        emit_status_changed(m, org, number, status);
    }
    return rc;
}

int wabot_invoice_mark_paid(wabot_ctx *ctx, const char *org,
                            const char *number)
{
    return wabot_invoice_set_status(ctx, org, number, WABOT_INVOICE_PAID);
}

int wabot_invoice_void(wabot_ctx *ctx, const char *org, const char *number)
{
    return wabot_invoice_set_status(ctx, org, number, WABOT_INVOICE_VOID);
}

int wabot_invoice_mark_overdue(wabot_ctx *ctx, const char *org,
                               int64_t limit, int64_t *marked)
{
    int64_t n = 0;
    if (marked)
        *marked = 0;
    wabot_module *m = NULL;
    int rc = begin(ctx, &org, &m);
    if (rc != WABOT_OK)
        return rc;
    if (limit < 1 || limit > 1000)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: limit %lld is not "
                        "in 1..1000", (long long)limit);
    rc = wb_invoice_mark_overdue(ctx, org, limit, &n);
    if (marked)
        *marked = n;
    return rc;
}

int wabot_invoice_stats(wabot_ctx *ctx, const char *org, char **json)
{
    if (json)
        *json = NULL;
    wabot_module *m = NULL;
    int brc = begin(ctx, &org, &m);
    if (brc != WABOT_OK)
        return brc;
    if (!json)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: NULL json");
    return wb_invoice_stats(ctx, org, json);
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */

int wabot_invoice_render_text(wabot_ctx *ctx, const char *org,
                              const char *number, char **text)
{
    if (text)
        *text = NULL;
    wabot_module *m = NULL;
    wb_invoice inv = {0};
    int rc = load_for_call(ctx, &org, number, text, &m, &inv);
    if (rc == WABOT_OK) {
        *text = wb_invoice_text(&inv, wb_inv_org_name(m, org));
        rc = *text ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    wb_invoice_clear(&inv);
    return rc;
}

int wabot_invoice_render_pdf(wabot_ctx *ctx, const char *org,
                             const char *number, char **pdf, size_t *len)
{
    if (pdf)
        *pdf = NULL;
    wabot_module *m = NULL;
    wb_invoice inv = {0};
    int rc = load_for_call(ctx, &org, number, len ? (void *)pdf : NULL, &m,
                           &inv);
    const char *why = "";
    if (rc == WABOT_OK)
        rc = wb_pdf_invoice(&inv, wb_inv_org_name(m, org), &ctx->alloc, pdf,
                            len, &why);
    if (rc == WABOT_ERR_HANDLER)
        wb_error(ctx, rc, "invoices: PDF of %s: %s", number, why);
    wb_invoice_clear(&inv);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static int register_metrics(wabot_ctx *ctx, invoices_state *st)
{
    static const char *const issued_labels[] = {"org", "currency"};
    static const char *const change_labels[] = {"org", "status"};
    wabot_metric_def issued = {WABOT_METRIC_DEF_VERSION,
                               "wabot_invoices_issued_total",
                               "invoices issued by this process",
                               WABOT_METRIC_COUNTER, issued_labels, 2, NULL,
                               0, 0};
    wabot_metric_def changes = {WABOT_METRIC_DEF_VERSION,
                                "wabot_invoice_status_changes_total",
                                "invoice status changes made by this process",
                                WABOT_METRIC_COUNTER, change_labels, 2, NULL,
                                0, 0};
    int rc = wabot_metrics_register(ctx, &issued, &st->issued);
    if (rc == WABOT_OK)
        rc = wabot_metrics_register(ctx, &changes, &st->changes);
    return rc;
}

static int invoices_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    invoices_state *st = wb_calloc(&ctx->alloc, 1, sizeof *st);
    if (!st)
        return WABOT_ERR_NOMEM;
    wabot_module_set_data(m, st);
    int rc = register_metrics(ctx, st);
    if (rc == WABOT_OK)
        rc = wb_invoice_routes_add(ctx, m);
    if (rc == WABOT_OK)
        rc = wb_invoice_worker_add(ctx, m);
    if (rc == WABOT_OK)
        rc = wb_admin_invoices_routes(ctx);
    return rc;
}

static void invoices_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wb_free(&wabot_module_ctx(m)->alloc, wabot_module_data(m));
}

const wabot_module_def wb_invoices_module = {
    WABOT_MODULE_DEF_VERSION, MODULE,
    "invoices: gap-free numbering per organisation, tax, PDF documents at "
    "signed URLs, the invoice-processing worker",
    NULL, invoice_options, WB_INV_N_OPTS, invoice_hooks, invoices_create,
    invoices_destroy};
