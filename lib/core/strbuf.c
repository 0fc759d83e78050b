/* Growable, NUL-terminated byte buffer with a sticky out-of-memory flag, so
 * builders can append freely and check once at the end. */
#include "strbuf.h"

#include <limits.h>
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

/* Room for n more bytes and the NUL: the test inline, grow() only when
 * the buffer must grow (builders append a few bytes at a time). */
static inline int room(wb_strbuf *b, size_t n)
{
    return (!b->oom && n < b->cap - b->len) || grow(b, n);
}

void wb_strbuf_reserve(wb_strbuf *b, size_t n)
{
    (void)room(b, n);
}

void wb_strbuf_append(wb_strbuf *b, const char *s, size_t n)
{
    if (!room(b, n))
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
    if (!room(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void wb_strbuf_vprintf(wb_strbuf *b, const char *fmt, va_list ap)
{
    /* One formatting pass when the text fits the room there is (the usual
     * case once the buffer has grown), a second only when it did not. */
    if (b->oom || (b->data == NULL && !grow(b, 0)))
        return;
    size_t room = b->cap - b->len;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(b->data + b->len, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        b->data[b->len] = '\0'; /* until the retry writes it whole */
        if (!grow(b, (size_t)n))
            return;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
}

void wb_strbuf_printf(wb_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* The decimal digits of m, written backwards so that they end at `end`;
 * returns where they start. Two digits per division (a timestamp has 13). */
static char *dec_digits(char *end, uint64_t m)
{
    static const char pairs[] =
        "000102030405060708091011121314151617181920212223242526272829"
        "303132333435363738394041424344454647484950515253545556575859"
        "606162636465666768697071727374757677787980818283848586878889"
        "90919293949596979899";
    char *p = end;
    while (m >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (m % 100), 2);
        m /= 100;
    }
    if (m >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * m, 2);
    } else {
        *--p = (char)('0' + m);
    }
    return p;
}

void wb_strbuf_int(wb_strbuf *b, int64_t v)
{
    char text[24];
    /* The magnitude as unsigned: INT64_MIN has no positive twin. */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = dec_digits(text + sizeof text, m);
    if (v < 0)
        *--p = '-';
    wb_strbuf_append(b, p, (size_t)(text + sizeof text - p));
}

size_t wb_fmt_u64(char out[WB_FMT_U64_SIZE], uint64_t v)
{
    char text[WB_FMT_U64_SIZE];
    char *p = dec_digits(text + sizeof text - 1, v);
    size_t n = (size_t)(text + sizeof text - 1 - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

size_t wb_fmt_i64(char out[WB_FMT_U64_SIZE], int64_t v)
{
    if (v >= 0)
        return wb_fmt_u64(out, (uint64_t)v);
    /* the magnitude as unsigned: INT64_MIN has no positive twin */
    char t[WB_FMT_U64_SIZE];
    size_t n = wb_fmt_u64(t, (uint64_t)0 - (uint64_t)v);
    out[0] = '-';
    memcpy(out + 1, t, n + 1); /* 19 digits at most, and the NUL */
    return n + 1;
}

void wb_fmt_hex64(char out[17], uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
    out[16] = '\0';
}

/* The JSON escape of byte c, or NULL when c stands for itself. */
static const char *json_escape(unsigned char c, char u[7])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        memcpy(u, "\\u00", 4);
        u[4] = hex[c >> 4];
        u[5] = hex[c & 15];
        u[6] = '\0';
        return u;
    }
}

void wb_strbuf_json_str(wb_strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    const unsigned char *run = p;
    while (*p >= 0x20 && *p != '"' && *p != '\\')
        p++;
    if (*p == '\0') {
        /* Nothing to escape (the usual string): quotes and bytes at once. */
        size_t n = (size_t)(p - run);
        if (!room(b, n + 2))
            return;
        char *d = b->data + b->len;
        d[0] = '"';
        memcpy(d + 1, run, n);
        d[n + 1] = '"';
        d[n + 2] = '\0';
        b->len += n + 2;
        return;
    }
    wb_strbuf_putc(b, '"');
    p = run;
    /* Runs of bytes that stand for themselves go in with one copy. */
    for (;;) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        wb_strbuf_append(b, (const char *)run, (size_t)(p - run));
        if (*p == '\0')
            break;
        char u[7];
        wb_strbuf_puts(b, json_escape(*p++, u));
    }
    wb_strbuf_putc(b, '"');
}

void wb_strbuf_json_str_or_null(wb_strbuf *b, const char *s)
{
    if (s != NULL)
        wb_strbuf_json_str(b, s);
    else
        wb_strbuf_puts(b, "null");
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

int wb_str_join(char *buf, size_t n, const char *const *parts)
{
    size_t len = 0;
    for (; *parts != NULL; parts++) {
        size_t k = strlen(*parts);
        if (k >= n - len || n - len == 0 || len + k > INT_MAX) {
            if (n > 0)
                buf[0] = '\0';
            return -1;
        }
        memcpy(buf + len, *parts, k);
        len += k;
    }
    if (n == 0)
        return -1;
    buf[len] = '\0';
    return (int)len;
}

void wb_strbuf_free(wb_strbuf *b)
{
    wb_free(b->alloc, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
