/* The lexical layer of the library's JSON scanners: whitespace, and
 * strings as strictly as jansson reads them (lib/internal/json_scan.h). */
#include <stdint.h>
#include <string.h>

#include "json_scan.h"

/* Length of the UTF-8 sequence at p (shortest form, no surrogates, at
 * most U+10FFFF, as jansson checks), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], v;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
        (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    return n;
}

static int hex4(const unsigned char *p, const unsigned char *end,
                unsigned *v)
{
    if (end - p < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* After "\u" at p: one code point into *cp, a surrogate pair taking both
 * escapes. \u0000 and lone surrogates are refused (jansson refuses
 * them). Returns the bytes read after the "\u", or 0 if invalid. */
static size_t unicode_escape(const unsigned char *p, const unsigned char *end,
                             unsigned *cp)
{
    unsigned v, lo;
    if (hex4(p, end, &v) != 0 || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return 0;
    *cp = v;
    if (v < 0xD800 || v > 0xDBFF)
        return 4;
    p += 4;
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
        hex4(p + 2, end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
        return 0;
    *cp = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
    return 10;
}

int wb_jscan_string_rest(wb_jscan *s, const unsigned char *b,
                         const unsigned char **start, size_t *len,
                         int *escaped)
{
    for (;;) {
        s->p = wb_jscan_first_special(s->p, s->end);
        if (s->p == s->end)
            return -1;
        unsigned c = *s->p;
        if (c == '"') {
            *start = b;
            *len = (size_t)(s->p - b);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            *escaped = 1;
            if (++s->p == s->end)
                return -1;
            c = *s->p++;
            if (c == 'u') {
                unsigned cp;
                size_t n = unicode_escape(s->p, s->end, &cp);
                if (n == 0)
                    return -1;
                s->p += n;
            } else if (!strchr("\"\\/bfnrt", (int)c) || c == 0) {
                return -1;
            }
            continue;
        }
        size_t n = utf8_len(s->p, s->end);
        if (n == 0)
            return -1;
        s->p += n;
    }
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Every escape is shorter than or as long as what it stands for: "\n"
 * (2 bytes) is 1, "\uXXXX" (6) at most 3, a pair (12) is 4. */
size_t wb_jscan_unescape(const unsigned char *raw, size_t len, char *out)
{
    const unsigned char *p = raw, *end = raw + len;
    size_t n = 0;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p != '\\')
            p++;
        memcpy(out + n, run, (size_t)(p - run));
        n += (size_t)(p - run);
        if (p == end)
            break;
        unsigned c = p[1];
        p += 2;
        if (c == 'u') {
            unsigned cp = 0xFFFD;
            size_t k = unicode_escape(p, end, &cp);
            n += put_utf8(out + n, cp);
            p += k ? k : 4;
            continue;
        }
        switch (c) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        default: out[n++] = (char)c; break; /* " \ / */
        }
    }
    out[n] = '\0';
    return n;
}
