/* The lexical layer of the library's JSON scanners (lib/core/json_scan.c):
 * readers of a few known shapes on hot paths (a provider's answer id, the
 * outbound job payload) that walk the text instead of building a jansson
 * tree. They accept only what jansson would accept (strict strings: valid
 * UTF-8, valid escapes, no \u0000, no lone surrogates) and leave anything
 * else to a jansson decode, so the result is the one a decode gives.
 * Private. */
#ifndef WB_JSON_SCAN_H
#define WB_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct wb_jscan {
    const unsigned char *p, *end;
} wb_jscan;

/* Skip JSON whitespace. Inline: the scanners call it between every two
 * tokens, and mostly there is none or one space to skip. */
static inline void wb_jscan_ws(wb_jscan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Printable ASCII but the quote and the backslash: stands for itself
 * inside a string (the common case, checked first). */
static inline int wb_jscan_plain(unsigned c)
{
    return c - 0x20u < 0x60u && c != '"' && c != '\\';
}

/* The bytes among the eight at p that need a look, as a mask with bit 7
 * of byte i set for byte i (a word at a time: a byte under 0x20, one with
 * the high bit, a quote, a backslash). Borrows carry only upwards, so the
 * lowest flagged byte is always a true one, whatever the bytes above it.
 * Strings are most of a provider's answer, and a byte at a time was most
 * of reading it. Little-endian only: the lowest address must be the
 * lowest byte (see wb_jscan_first_special). */
static inline uint64_t wb_jscan_special8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t v, q, b;
    memcpy(&v, p, sizeof v);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    return (v & high) |                      /* >= 0x80 */
           ((v - ones * 0x20) & ~v & high) | /* < 0x20 */
           ((q - ones) & ~q & high) |        /* a quote */
           ((b - ones) & ~b & high);         /* a backslash */
}

/* The first byte from p on that is not plain (or end): sixteen bytes at
 * a time with SSE2 (every x86-64 has it), else eight in a word, while
 * that many are left; the flagged one found by its bit, not by reading
 * the block again a byte at a time (most strings of an answer are keys
 * and short values that end inside their first block). */
static inline const unsigned char *
wb_jscan_first_special(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed: a byte >= 0x80 is negative, so "< 0x20" takes it too */
        __m128i m = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
            _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__GNUC__) || defined(__clang__))
    while (end - p >= 8) {
        uint64_t m = wb_jscan_special8(p);
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && wb_jscan_plain(*p))
        p++;
    return p;
}

/* wb_jscan_string past its first byte that needs a look (at s->p; b:
 * the string's first byte): escapes, UTF-8, the end. */
int wb_jscan_string_rest(wb_jscan *s, const unsigned char *b,
                         const unsigned char **start, size_t *len,
                         int *escaped);

/* The string at s->p (on its opening quote): its raw bytes between the
 * quotes and whether it has escapes; s->p moves past the closing quote.
 * 0, or -1 if jansson would refuse it. Inline up to the first byte that
 * needs a look: in a provider's answer and a job payload that is the
 * closing quote of most strings (keys, ids, dates), and a call per
 * string was a fifth of the scan. */
static inline int wb_jscan_string(wb_jscan *s, const unsigned char **start,
                                  size_t *len, int *escaped)
{
    const unsigned char *b = ++s->p;
    *escaped = 0;
    const unsigned char *q = wb_jscan_first_special(b, s->end);
    if (q < s->end && *q == '"') {
        *start = b;
        *len = (size_t)(q - b);
        s->p = q + 1;
        return 0;
    }
    s->p = q;
    return wb_jscan_string_rest(s, b, start, len, escaped);
}

/* Decode the raw bytes of a string wb_jscan_string accepted into out
 * (len + 1 bytes always suffice): escapes become the UTF-8 they stand
 * for, as jansson decodes them. NUL-terminated; returns the length. */
size_t wb_jscan_unescape(const unsigned char *raw, size_t len, char *out);

#endif
