/* Invoices: what the files of lib/commerce/invoice*.c and pdf*.c share.
 * Private. */
#ifndef WB_INVOICE_INTERNAL_H
#define WB_INVOICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "commerce/commerce.h"
#include "internal/ctx.h"
#include "wabot/invoice.h"
#include "wabot/module.h"

/* Money is the commerce module's (money.c, commerce/commerce.h): the
 * currency exponents, int64 sums and products, the tax share rounded half
 * up and the bare amount text all have one implementation. */

/* ------------------------------------------------------------------ */
/* The invoice in memory (invoice_record.c)                            */

#define WB_INV_NUMBER_MAX 64
#define WB_INV_ID_MAX 64     /* org, customer */
#define WB_INV_KEY_MAX 128
#define WB_INV_SKU_MAX 64
#define WB_INV_NAME_MAX 256

typedef struct wb_inv_line {
    char *sku, *name;
    int64_t quantity, unit_minor;
    int32_t tax_bp;
    int64_t net_minor, tax_minor, total_minor;
} wb_inv_line;

typedef struct wb_invoice {
    const wabot_allocator *alloc;
    char number[WB_INV_NUMBER_MAX + 1];
    int64_t seq;
    char *org, *customer, *key; /* key may be NULL */
    char currency[4];
    int exponent;
    wabot_invoice_status status;
    wb_inv_line *lines;
    size_t n_lines, cap_lines;
    int64_t subtotal_minor, tax_minor, total_minor;
    int64_t issued_ms, due_ms, updated_ms;
} wb_invoice;

/* A public draft: the invoice it will issue. */
struct wabot_invoice_draft {
    wabot_ctx *ctx;
    wabot_module *m;
    wb_invoice inv;
};

void wb_invoice_init(wb_invoice *inv, const wabot_allocator *a);
void wb_invoice_clear(wb_invoice *inv);
/* Append a line and add it to the totals. WABOT_OK, INVAL (*why says
 * why: a value out of range or an amount beyond int64), NOMEM. */
int wb_invoice_add_line(wb_invoice *inv, const char *sku, const char *name,
                        int64_t quantity, int64_t unit_minor, int32_t tax_bp,
                        const char **why);
/* The invoice as JSON text (doc of wabot/invoice.h), allocated with
 * inv->alloc; NULL on out of memory. */
char *wb_invoice_to_json(const wb_invoice *inv, size_t *len);
/* Parse what wb_invoice_to_json wrote into a cleared inv. WABOT_OK,
 * PARSE, NOMEM. */
int wb_invoice_from_json(wb_invoice *inv, const char *json, size_t len);
/* "YYYY-MM-DD" (UTC) of ms into buf[11]. */
void wb_inv_date(int64_t ms, char buf[11]);
/* wabot_invoice_status by its name, 0 if unknown. */
wabot_invoice_status wb_inv_status_by_name(const char *name);

/* ------------------------------------------------------------------ */
/* The module (invoice_module.c)                                       */

enum {
    WB_INV_OPT_SECRET,
    WB_INV_OPT_URL_TTL,
    WB_INV_OPT_NET_DAYS,
    WB_INV_OPT_NUMBER_FORMAT,
    WB_INV_OPT_YEARLY_RESET,
    WB_INV_OPT_TAX_BP,
    WB_INV_OPT_ORG_NAME,
    WB_INV_OPT_CONCURRENCY,
    WB_INV_N_OPTS
};

extern const struct wabot_module_def wb_invoices_module;

/* The context's invoices module, or NULL after recording WABOT_ERR_STATE
 * ("no invoices module"). */
wabot_module *wb_invoices_module_of(wabot_ctx *ctx);
/* The organisation a caller named: org, or the default one for NULL/"".
 * NULL after recording INVAL when it is not a valid id. */
const char *wb_inv_org(wabot_ctx *ctx, const char *org);
/* 1 if s is a valid org/customer id (1..max bytes, no '{', '}', ':',
 * control bytes). */
int wb_inv_valid_id(const char *s, size_t max);
/* Integer option `opt` for org. */
int64_t wb_inv_opt_int(wabot_module *m, const char *org, int opt);

/* ------------------------------------------------------------------ */
/* Storage (invoice_store.c)                                           */

/* Issue inv (lines and totals set; number, seq, dates and status are
 * filled here) for its org. WABOT_OK, EXISTS (inv->key issued before:
 * inv->number is that invoice's), STATE (the next number exists), INVAL,
 * STORAGE, NOMEM. */
int wb_invoice_store_issue(wabot_ctx *ctx, wabot_module *m, wb_invoice *inv);
/* Load an invoice into a cleared inv. NOT_FOUND, PARSE, STORAGE, NOMEM. */
int wb_invoice_load(wabot_ctx *ctx, const char *org, const char *number,
                    wb_invoice *inv);
/* The number issued under idempotency key `key`, into buf (size
 * WB_INV_NUMBER_MAX + 1). NOT_FOUND, STORAGE. */
int wb_invoice_find_key(wabot_ctx *ctx, const char *org, const char *key,
                        char *buf);
/* Move an invoice to status `to` (allowed changes only). */
int wb_invoice_change(wabot_ctx *ctx, const char *org, const char *number,
                      wabot_invoice_status to);
/* Mark the open invoices of org that are past due as OVERDUE (at most
 * limit, oldest due first); *marked gets how many. */
int wb_invoice_mark_overdue(wabot_ctx *ctx, const char *org, int64_t limit,
                            int64_t *marked);
/* The list and statistics JSON of wabot/invoice.h (arguments checked). */
int wb_invoice_list(wabot_ctx *ctx, const char *org, const char *customer,
                    wabot_invoice_status status, int64_t offset,
                    int64_t limit, char **json);
int wb_invoice_stats(wabot_ctx *ctx, const char *org, char **json);
/* Store / load the rendered PDF of an invoice. */
int wb_invoice_store_pdf(wabot_ctx *ctx, const char *org, const char *number,
                         const char *pdf, size_t len);
int wb_invoice_load_pdf(wabot_ctx *ctx, const char *org, const char *number,
                        char **pdf, size_t *len);
/* Format the number for seq issued at ms with format `fmt`. -1 if it
 * does not fit buf (size WB_INV_NUMBER_MAX + 1). */
int wb_inv_format_number(const char *fmt, int64_t seq, int64_t ms,
                         char *buf);
/* Validate a number format (option check). */
int wb_inv_check_format(const char *value, char *why, size_t why_len);

/* ------------------------------------------------------------------ */
/* Rendering                                                           */

/* The WhatsApp text summary, allocated with inv->alloc; NULL on OOM. */
char *wb_invoice_text(const wb_invoice *inv, const char *org_name);
/* The PDF (pdf_invoice.c), allocated with `a`. WABOT_OK, NOMEM,
 * WABOT_ERR_HANDLER (libharu failed; *why set). */
int wb_pdf_invoice(const wb_invoice *inv, const char *org_name,
                   const wabot_allocator *a, char **out, size_t *len,
                   const char **why);
/* The organisation's display name (invoices.org_name, else its id). */
const char *wb_inv_org_name(wabot_module *m, const char *org);

/* ------------------------------------------------------------------ */
/* Document URLs (invoice_url.c)                                       */

/* Register GET /invoices/doc/:org/:exp/:sig/:file. */
int wb_invoice_routes_add(wabot_ctx *ctx, wabot_module *m);

/* ------------------------------------------------------------------ */
/* The worker (invoice_worker.c)                                       */

int wb_invoice_worker_add(wabot_ctx *ctx, wabot_module *m);

#endif
