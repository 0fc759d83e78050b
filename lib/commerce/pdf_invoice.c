/* An invoice as a PDF document, drawn with libharu (Debian libhpdf).
 *
 * A4 portrait, the standard Helvetica fonts (no font files to ship) in
 * WinAnsiEncoding: UTF-8 text is converted to it, characters it lacks
 * print as '?'. Lines flow onto further pages. libharu allocates with
 * malloc (its allocator hooks carry no user data), so the finished
 * document is copied into memory of the caller's allocator. */
#include <hpdf.h>
#include <stdio.h>
#include <string.h>

#include "commerce/invoice_internal.h"

#define MARGIN 50.0f
#define PAGE_BOTTOM 90.0f
#define ROW 16.0f
/* Right edges of the amount columns; the item column starts at MARGIN. */
#define COL_QTY 330.0f
#define COL_UNIT 415.0f
#define COL_TAX 470.0f
#define COL_AMOUNT 545.0f

typedef struct pdf_out {
    HPDF_Doc doc;
    HPDF_Page page;
    HPDF_Font regular, bold;
    float y;
    int failed;
    const char *why;
} pdf_out;

static void on_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *ud)
{
    (void)error_no;
    (void)detail_no;
    pdf_out *p = ud;
    p->failed = 1;
    p->why = "libharu reported an error";
}

/* UTF-8 to WinAnsi (Latin-1 for U+00A0..U+00FF, the euro sign at 0x80);
 * anything else, malformed bytes included, becomes '?'. */
static void to_winansi(const char *s, char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p && o + 1 < n) {
        unsigned cp = *p, extra = 0;
        if (cp >= 0xF0)
            cp &= 0x07, extra = 3;
        else if (cp >= 0xE0)
            cp &= 0x0F, extra = 2;
        else if (cp >= 0xC0)
            cp &= 0x1F, extra = 1;
        else if (cp >= 0x80)
            cp = '?';
        p++;
        for (; extra > 0 && (*p & 0xC0) == 0x80; extra--)
            cp = cp << 6 | (*p++ & 0x3F);
        if (extra > 0)
            cp = '?';
        char c = cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF) ? (char)cp
                 : cp == 0x20AC                          ? (char)0x80
                                                         : '?';
        out[o++] = c;
    }
    out[o] = '\0';
}

static void text_at(pdf_out *p, HPDF_Font font, float size, float x,
                    int right, const char *utf8)
{
    char buf[512];
    to_winansi(utf8, buf, sizeof buf);
    HPDF_Page_SetFontAndSize(p->page, font, size);
    if (right)
        x -= HPDF_Page_TextWidth(p->page, buf);
    HPDF_Page_BeginText(p->page);
    HPDF_Page_TextOut(p->page, x, p->y, buf);
    HPDF_Page_EndText(p->page);
}

static void new_page(pdf_out *p)
{
    p->page = HPDF_AddPage(p->doc);
    HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    p->y = HPDF_Page_GetHeight(p->page) - MARGIN;
}

static void next_row(pdf_out *p, float dy)
{
    p->y -= dy;
    if (p->y < PAGE_BOTTOM)
        new_page(p);
}

static void money(const wb_invoice *inv, int64_t minor, char *buf, size_t n)
{
    char amount[WB_MONEY_STR];
    snprintf(buf, n, "%s %s", inv->currency,
             wb_money_amount_str(minor, (unsigned)inv->exponent, amount));
}

static void header(pdf_out *p, const wb_invoice *inv, const char *org_name)
{
    char buf[160], date[11];
    text_at(p, p->bold, 18, MARGIN, 0, org_name);
    next_row(p, 30);
    snprintf(buf, sizeof buf, "Invoice %s", inv->number);
    text_at(p, p->bold, 14, MARGIN, 0, buf);
    next_row(p, 22);
    snprintf(buf, sizeof buf, "Customer: %s", inv->customer);
    text_at(p, p->regular, 10, MARGIN, 0, buf);
    next_row(p, ROW);
    wb_inv_date(inv->issued_ms, date);
    snprintf(buf, sizeof buf, "Issued: %s", date);
    text_at(p, p->regular, 10, MARGIN, 0, buf);
    next_row(p, ROW);
    wb_inv_date(inv->due_ms, date);
    snprintf(buf, sizeof buf, "Due date: %s", date);
    text_at(p, p->regular, 10, MARGIN, 0, buf);
    next_row(p, 28);
    text_at(p, p->bold, 10, MARGIN, 0, "Item");
    text_at(p, p->bold, 10, COL_QTY, 1, "Qty");
    text_at(p, p->bold, 10, COL_UNIT, 1, "Unit price");
    text_at(p, p->bold, 10, COL_TAX, 1, "Tax %");
    text_at(p, p->bold, 10, COL_AMOUNT, 1, "Amount");
    next_row(p, ROW + 4);
}

static void line_row(pdf_out *p, const wb_invoice *inv, const wb_inv_line *l)
{
    char buf[WB_MONEY_STR], name[300];
    snprintf(name, sizeof name, "%.200s (%s)", l->name, l->sku);
    text_at(p, p->regular, 10, MARGIN, 0, name);
    snprintf(buf, sizeof buf, "%lld", (long long)l->quantity);
    text_at(p, p->regular, 10, COL_QTY, 1, buf);
    unsigned e = (unsigned)inv->exponent;
    text_at(p, p->regular, 10, COL_UNIT, 1,
            wb_money_amount_str(l->unit_minor, e, buf));
    /* Basis points shown as a percentage: 750 is "7.50". */
    text_at(p, p->regular, 10, COL_TAX, 1,
            wb_money_amount_str(l->tax_bp, 2, buf));
    text_at(p, p->regular, 10, COL_AMOUNT, 1,
            wb_money_amount_str(l->net_minor, e, buf));
    next_row(p, ROW);
}

static void totals(pdf_out *p, const wb_invoice *inv)
{
    char buf[80];
    next_row(p, 10);
    money(inv, inv->subtotal_minor, buf, sizeof buf);
    text_at(p, p->regular, 10, COL_UNIT, 1, "Subtotal");
    text_at(p, p->regular, 10, COL_AMOUNT, 1, buf);
    next_row(p, ROW);
    money(inv, inv->tax_minor, buf, sizeof buf);
    text_at(p, p->regular, 10, COL_UNIT, 1, "Tax");
    text_at(p, p->regular, 10, COL_AMOUNT, 1, buf);
    next_row(p, ROW + 2);
    money(inv, inv->total_minor, buf, sizeof buf);
    text_at(p, p->bold, 12, COL_UNIT, 1, "Total");
    text_at(p, p->bold, 12, COL_AMOUNT, 1, buf);
}

static int copy_out(pdf_out *p, const wabot_allocator *a, char **out,
                    size_t *len)
{
    if (HPDF_SaveToStream(p->doc) != HPDF_OK || p->failed)
        return WABOT_ERR_HANDLER;
    HPDF_UINT32 size = HPDF_GetStreamSize(p->doc);
    char *buf = wb_malloc(a, (size_t)size + 1);
    if (!buf)
        return WABOT_ERR_NOMEM;
    HPDF_UINT32 got = size;
    HPDF_STATUS st = HPDF_ReadFromStream(p->doc, (HPDF_BYTE *)buf, &got);
    /* libharu answers HPDF_STREAM_EOF when the whole stream fit. */
    if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || got != size) {
        wb_free(a, buf);
        p->why = "could not read the document back";
        return WABOT_ERR_HANDLER;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return WABOT_OK;
}

int wb_pdf_invoice(const wb_invoice *inv, const char *org_name,
                   const wabot_allocator *a, char **out, size_t *len,
                   const char **why)
{
    pdf_out p = {0};
    p.why = "libharu failed";
    *out = NULL;
    *len = 0;
    p.doc = HPDF_New(on_error, &p);
    if (!p.doc) {
        *why = "libharu could not start a document";
        return WABOT_ERR_NOMEM;
    }
    HPDF_SetCompressionMode(p.doc, HPDF_COMP_ALL);
    p.regular = HPDF_GetFont(p.doc, "Helvetica", "WinAnsiEncoding");
    p.bold = HPDF_GetFont(p.doc, "Helvetica-Bold", "WinAnsiEncoding");
    new_page(&p);
    int rc = WABOT_ERR_HANDLER;
    if (!p.failed) {
        header(&p, inv, org_name);
        for (size_t i = 0; i < inv->n_lines && !p.failed; i++)
            line_row(&p, inv, &inv->lines[i]);
        totals(&p, inv);
        rc = copy_out(&p, a, out, len);
    }
    *why = p.why;
    HPDF_Free(p.doc);
    return rc;
}
