/* Invoice documents at signed, expiring URLs.
 *
 *   <public_url>/invoices/doc/<org>/<expiry>/<sig>/<number>.pdf
 *
 * expiry is Unix seconds; sig is the lower-case hex HMAC-SHA256, keyed
 * with invoices.secret, of "wabot-invoice-doc\n<org>\n<expiry>\n<number>".
 * Anyone holding the URL may fetch the document until it expires (the
 * providers fetch media by URL without credentials); without it the
 * 256-bit signature cannot be guessed, and changing any part of the path
 * breaks it. A wrong, altered or expired URL, and every URL while no
 * secret is set, answer the same 404, so a prober learns nothing about
 * which part was wrong. The number is the last segment so the document's
 * file name is "<number>.pdf" (providers take the type from it). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commerce/invoice_internal.h"
#include "internal/strbuf.h"
#include "wabot/http_server.h"

#define ROUTE "/invoices/doc/:org/:exp/:sig/:file"
#define SIG_HEX 64
#define NOT_FOUND_JSON                                                       \
    "{\"error\":{\"code\":\"not_found\",\"message\":\"no such document\"}}"

static void sign(const char *secret, const char *org, const char *exp,
                 const char *number, char hex[SIG_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char msg[WB_INV_ID_MAX + WB_INV_NUMBER_MAX + 64];
    int n = snprintf(msg, sizeof msg, "wabot-invoice-doc\n%s\n%s\n%s", org,
                     exp, number);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg,
         (size_t)n, mac, &mac_len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    hex[SIG_HEX] = '\0';
}

/* Percent-encode everything but RFC 3986's unreserved characters. */
static void put_segment(wb_strbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            wb_strbuf_putc(b, (char)*p);
        else
            wb_strbuf_printf(b, "%%%02X", *p);
    }
}

int wabot_invoice_document_url(wabot_ctx *ctx, const char *org,
                               const char *number, char **url)
{
    if (url)
        *url = NULL;
    wabot_module *m = ctx ? wb_invoices_module_of(ctx) : NULL;
    if (!m)
        return ctx ? WABOT_ERR_STATE : WABOT_ERR_INVAL;
    if (!(org = wb_inv_org(ctx, org)))
        return WABOT_ERR_INVAL;
    if (!number || !url)
        return wb_error(ctx, WABOT_ERR_INVAL, "invoices: NULL argument");
    const char *secret = wabot_module_option_str(m, NULL, WB_INV_OPT_SECRET);
    const char *base = ctx->cfg.public_url;
    if (!secret || !*secret || !base || !*base)
        return wb_error(ctx, WABOT_ERR_STATE,
                        "invoices: document URLs need invoices.secret and "
                        "public_url");
    wb_invoice inv;
    wb_invoice_init(&inv, &ctx->alloc);
    int rc = wb_invoice_load(ctx, org, number, &inv); /* it must exist */
    wb_invoice_clear(&inv);
    if (rc != WABOT_OK)
        return rc;
    char exp[24], sig[SIG_HEX + 1];
    int64_t ttl = wb_inv_opt_int(m, org, WB_INV_OPT_URL_TTL);
    snprintf(exp, sizeof exp, "%lld", (long long)((wb_now(ctx) + ttl) / 1000));
    sign(secret, org, exp, number, sig);
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    size_t blen = strlen(base);
    wb_strbuf_append(&b, base, base[blen - 1] == '/' ? blen - 1 : blen);
    wb_strbuf_puts(&b, "/invoices/doc/");
    put_segment(&b, org);
    wb_strbuf_printf(&b, "/%s/%s/", exp, sig);
    put_segment(&b, number);
    wb_strbuf_puts(&b, ".pdf");
    *url = wb_strbuf_take(&b);
    return *url ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* ------------------------------------------------------------------ */
/* The route                                                           */

/* 1 if the path's parts carry a valid, unexpired signature; the number
 * goes to `number`. */
static int verify(wabot_ctx *ctx, wabot_module *m,
                  const wabot_http_server_request *req, const char *org,
                  char *number)
{
    const char *secret = wabot_module_option_str(m, NULL, WB_INV_OPT_SECRET);
    const char *exp = wabot_http_server_request_param(req, "exp");
    const char *sig = wabot_http_server_request_param(req, "sig");
    const char *file = wabot_http_server_request_param(req, "file");
    size_t flen = file ? strlen(file) : 0;
    if (!secret || !*secret || !exp || !sig || strlen(sig) != SIG_HEX ||
        flen <= 4 || flen - 4 > WB_INV_NUMBER_MAX ||
        strcmp(file + flen - 4, ".pdf") != 0 || !wb_inv_valid_id(org, 64) ||
        strlen(exp) > 15 || strspn(exp, "0123456789") != strlen(exp))
        return 0;
    memcpy(number, file, flen - 4);
    number[flen - 4] = '\0';
    if (strtoll(exp, NULL, 10) * 1000 <= wb_now(ctx))
        return 0;
    char want[SIG_HEX + 1];
    sign(secret, org, exp, number, want);
    return CRYPTO_memcmp(want, sig, SIG_HEX) == 0;
}

/* The stored PDF, else one rendered now (and stored for next time). */
static int document(wabot_ctx *ctx, const char *org,
                    const char *number, char **pdf, size_t *len)
{
    char *stored = NULL;
    size_t slen = 0;
    if (wb_invoice_load_pdf(ctx, org, number, &stored, &slen) == WABOT_OK) {
        *pdf = wb_malloc(&ctx->alloc, slen + 1);
        if (*pdf)
            memcpy(*pdf, stored, slen + 1);
        *len = slen;
        wabot_free(stored);
        return *pdf ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    int rc = wabot_invoice_render_pdf(ctx, org, number, pdf, len);
    if (rc == WABOT_OK)
        wb_invoice_store_pdf(ctx, org, number, *pdf, *len);
    return rc;
}

static int serve_document(wabot_ctx *ctx,
                          const wabot_http_server_request *req,
                          wabot_http_response *resp, void *ud)
{
    wabot_module *m = ud;
    const char *org = wabot_http_server_request_param(req, "org");
    char number[WB_INV_NUMBER_MAX + 1], disp[WB_INV_NUMBER_MAX + 64];
    if (!verify(ctx, m, req, org, number))
        return wabot_http_response_set_json(resp, 404, NOT_FOUND_JSON);
    char *pdf = NULL;
    size_t len = 0;
    int rc = document(ctx, org, number, &pdf, &len);
    if (rc == WABOT_ERR_NOT_FOUND)
        return wabot_http_response_set_json(resp, 404, NOT_FOUND_JSON);
    if (rc != WABOT_OK)
        return rc;
    snprintf(disp, sizeof disp, "inline; filename=\"%s.pdf\"", number);
    rc = wabot_http_response_set_body(resp, "application/pdf", pdf, len);
    if (rc == WABOT_OK)
        rc = wabot_http_response_add_header(resp, "Content-Disposition", disp);
    if (rc == WABOT_OK)
        rc = wabot_http_response_add_header(resp, "Cache-Control",
                                            "private, no-store");
    wb_free(&ctx->alloc, pdf);
    return rc;
}

int wb_invoice_routes_add(wabot_ctx *ctx, wabot_module *m)
{
    return wabot_http_route_add(ctx, "GET", ROUTE, serve_document, m, NULL);
}
