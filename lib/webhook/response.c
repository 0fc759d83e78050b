/* The webhook's answers (TwiML, {"status":"ok"}, JSON errors) and the
 * rejection record behind every error answer. The response object
 * itself is lib/http_server/response.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal/webhook.h"
#include "internal/strbuf.h"

int wb_reject_set(wb_reject *r, int status, int http_status,
                  const char *code, const char *fmt, ...)
{
    if (r == NULL)
        return status;
    r->http_status = http_status;
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    /* Details may quote provider input (jansson's error text, a form key):
     * keep them printable ASCII so the JSON body and log lines are valid
     * whatever bytes the request carried. */
    for (char *p = r->message; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e)
            *p = '?';
    }
    return status;
}

wabot_http_response *wb_response_twiml_empty(const wabot_ctx *ctx)
{
    return wb_response_new(ctx, 200, WB_CT_XML, WB_TWIML_EMPTY,
                           strlen(WB_TWIML_EMPTY));
}

static void xml_text(wb_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': wb_strbuf_puts(b, "&amp;"); break;
        case '<': wb_strbuf_puts(b, "&lt;"); break;
        case '>': wb_strbuf_puts(b, "&gt;"); break;
        case '"': wb_strbuf_puts(b, "&quot;"); break;
        default: wb_strbuf_putc(b, *s);
        }
    }
}

wabot_http_response *wb_response_twiml_messages(const wabot_ctx *ctx,
                                                wabot_outbound *const *msgs,
                                                size_t n)
{
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for (size_t i = 0; i < n; i++) {
        const char *text = wabot_outbound_text(msgs[i]);
        wb_strbuf_puts(&b, "<Message>");
        if (wabot_outbound_kind(msgs[i]) == WABOT_OUT_MEDIA) {
            wb_strbuf_puts(&b, "<Body>");
            xml_text(&b, text);
            wb_strbuf_puts(&b, "</Body><Media>");
            xml_text(&b, wabot_outbound_media_url(msgs[i]));
            wb_strbuf_puts(&b, "</Media>");
        } else {
            xml_text(&b, text);
        }
        wb_strbuf_puts(&b, "</Message>");
    }
    wb_strbuf_puts(&b, "</Response>");
    wabot_http_response *r = NULL;
    if (!b.oom)
        r = wb_response_new(ctx, 200, WB_CT_XML, b.data, b.len);
    wb_strbuf_free(&b);
    return r;
}

wabot_http_response *wb_response_json_ok(const wabot_ctx *ctx)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    return wb_response_new(ctx, 200, WB_CT_JSON, ok, sizeof ok - 1);
}

wabot_http_response *wb_response_error(const wabot_ctx *ctx,
                                       const wb_reject *rej)
{
    wb_strbuf b;
    wb_strbuf_init(&b, &ctx->alloc);
    wb_strbuf_puts(&b, "{\"error\":{\"code\":");
    wb_strbuf_json_str(&b, rej->code);
    wb_strbuf_puts(&b, ",\"message\":");
    wb_strbuf_json_str(&b, rej->message);
    wb_strbuf_puts(&b, "}}");
    wabot_http_response *r = NULL;
    if (!b.oom)
        r = wb_response_new(ctx, rej->http_status, WB_CT_JSON, b.data, b.len);
    wb_strbuf_free(&b);
    return r;
}
