/* The WhatsApp text summary of an invoice. WhatsApp shows *text* bold;
 * amounts carry the currency's decimals (wb_money_amount_str). */
#include "commerce/invoice_internal.h"
#include "internal/strbuf.h"

static void amount(wb_strbuf *b, const wb_invoice *inv, int64_t minor)
{
    char buf[WB_MONEY_STR];
    wb_strbuf_printf(b, "%s %s", inv->currency,
                     wb_money_amount_str(minor, (unsigned)inv->exponent, buf));
}

char *wb_invoice_text(const wb_invoice *inv, const char *org_name)
{
    wb_strbuf b;
    char date[11];
    wb_strbuf_init(&b, inv->alloc);
    wb_strbuf_printf(&b, "*Invoice %s*\n%s\n\n", inv->number, org_name);
    for (size_t i = 0; i < inv->n_lines; i++) {
        const wb_inv_line *l = &inv->lines[i];
        wb_strbuf_printf(&b, "%lld x %s: ", (long long)l->quantity, l->name);
        amount(&b, inv, l->net_minor);
        wb_strbuf_putc(&b, '\n');
    }
    wb_strbuf_puts(&b, "\nSubtotal: ");
    amount(&b, inv, inv->subtotal_minor);
    wb_strbuf_puts(&b, "\nTax: ");
    amount(&b, inv, inv->tax_minor);
    wb_strbuf_puts(&b, "\n*Total: ");
    amount(&b, inv, inv->total_minor);
    wb_inv_date(inv->due_ms, date);
    wb_strbuf_printf(&b, "*\nDue: %s", date);
    return wb_strbuf_take(&b);
}
