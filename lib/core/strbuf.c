/* Growable, NUL-terminated byte buffer with a sticky out-of-memory flag, so
 * builders can append freely and check once at the end. */
#include "strbuf.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

void wb_strbuf_init(wb_strbuf *b, const wabot_allocator *a)
{
    memset(b, 0, sizeof *b);
    b->alloc = a;
}

static int grow(wb_strbuf *b, size_t extra)
{
    if (b->oom)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return 0;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *d = wb_realloc(b->alloc, b->data, cap);
    if (!d) {
        b->oom = 1;
        return 0;
    }
    b->data = d;
    b->cap = cap;
    return 1;
}

void wb_strbuf_append(wb_strbuf *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void wb_strbuf_puts(wb_strbuf *b, const char *s)
{
    wb_strbuf_append(b, s, strlen(s));
}

void wb_strbuf_putc(wb_strbuf *b, char c)
{
    wb_strbuf_append(b, &c, 1);
}

void wb_strbuf_vprintf(wb_strbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !grow(b, (size_t)n))
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void wb_strbuf_printf(wb_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void wb_strbuf_json_str(wb_strbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    wb_strbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; s && *p; p++) {
        switch (*p) {
        case '"': wb_strbuf_puts(b, "\\\""); break;
        case '\\': wb_strbuf_puts(b, "\\\\"); break;
        case '\n': wb_strbuf_puts(b, "\\n"); break;
        case '\r': wb_strbuf_puts(b, "\\r"); break;
        case '\t': wb_strbuf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
                wb_strbuf_append(b, e, sizeof e);
            } else {
                wb_strbuf_putc(b, (char)*p);
            }
        }
    }
    wb_strbuf_putc(b, '"');
}

void wb_strbuf_reset(wb_strbuf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *wb_strbuf_take(wb_strbuf *b)
{
    if (b->oom) {
        wb_strbuf_free(b);
        return NULL;
    }
    if (!b->data)
        wb_strbuf_append(b, "", 0);
    char *d = b->oom ? NULL : b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void wb_strbuf_free(wb_strbuf *b)
{
    wb_free(b->alloc, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
