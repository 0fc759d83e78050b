/* Keyword folding: how keyword routes and the opt-out words compare
 * message text (doc/router.md; wabot_keyword_fold() is the router's).
 *
 * One pass over the UTF-8 input; each code point is white space,
 * trimmable punctuation, or "other". Other code points are emitted folded
 * (ASCII lower case, Latin letters to their base letters) or unchanged.
 * White space and punctuation seen after the first emitted character are
 * held back as a pending run: a later "other" character replays the run
 * (white space collapsed to one ASCII space, punctuation kept), while a run
 * still pending at the end is trailing junk and is dropped. Holding back a
 * pointer instead of bytes keeps the fold allocation-free. */
#include "keyword_fold.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* Base letters of Latin-1 Supplement (U+00C0..U+00FF) and Latin
 * Extended-A (U+0100..U+017F). "" marks a non-letter (U+00D7 multiply,
 * U+00F7 divide), which passes through unchanged. Every entry is at most
 * two bytes, as is the UTF-8 of every code point here, so folding never
 * lengthens text. */
#define FOLD_FIRST 0x00C0
#define FOLD_LAST 0x017F
static const char latin_base[FOLD_LAST - FOLD_FIRST + 1][3] = {
    /* U+00C0 À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï */
    "a", "a", "a", "a", "a", "a", "ae", "c",
    "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00D0 Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß */
    "d", "n", "o", "o", "o", "o", "o", "",
    "o", "u", "u", "u", "u", "y", "th", "ss",
    /* U+00E0 à á â ã ä å æ ç è é ê ë ì í î ï */
    "a", "a", "a", "a", "a", "a", "ae", "c",
    "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00F0 ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ */
    "d", "n", "o", "o", "o", "o", "o", "",
    "o", "u", "u", "u", "u", "y", "th", "y",
    /* U+0100 Ā ā Ă ă Ą ą Ć ć Ĉ ĉ Ċ ċ Č č Ď ď */
    "a", "a", "a", "a", "a", "a", "c", "c",
    "c", "c", "c", "c", "c", "c", "d", "d",
    /* U+0110 Đ đ Ē ē Ĕ ĕ Ė ė Ę ę Ě ě Ĝ ĝ Ğ ğ */
    "d", "d", "e", "e", "e", "e", "e", "e",
    "e", "e", "e", "e", "g", "g", "g", "g",
    /* U+0120 Ġ ġ Ģ ģ Ĥ ĥ Ħ ħ Ĩ ĩ Ī ī Ĭ ĭ Į į */
    "g", "g", "g", "g", "h", "h", "h", "h",
    "i", "i", "i", "i", "i", "i", "i", "i",
    /* U+0130 İ ı Ĳ ĳ Ĵ ĵ Ķ ķ ĸ Ĺ ĺ Ļ ļ Ľ ľ Ŀ */
    "i", "i", "ij", "ij", "j", "j", "k", "k",
    "k", "l", "l", "l", "l", "l", "l", "l",
    /* U+0140 ŀ Ł ł Ń ń Ņ ņ Ň ň ŉ Ŋ ŋ Ō ō Ŏ ŏ */
    "l", "l", "l", "n", "n", "n", "n", "n",
    "n", "n", "n", "n", "o", "o", "o", "o",
    /* U+0150 Ő ő Œ œ Ŕ ŕ Ŗ ŗ Ř ř Ś ś Ŝ ŝ Ş ş */
    "o", "o", "oe", "oe", "r", "r", "r", "r",
    "r", "r", "s", "s", "s", "s", "s", "s",
    /* U+0160 Š š Ţ ţ Ť ť Ŧ ŧ Ũ ũ Ū ū Ŭ ŭ Ů ů */
    "s", "s", "t", "t", "t", "t", "t", "t",
    "u", "u", "u", "u", "u", "u", "u", "u",
    /* U+0170 Ű ű Ų ų Ŵ ŵ Ŷ ŷ Ÿ Ź ź Ż ż Ž ž ſ */
    "u", "u", "u", "u", "w", "w", "y", "y",
    "y", "z", "z", "z", "z", "z", "z", "s",
};

/* Unicode White_Space code points (beyond ASCII), all folded to ' '. */
static const int32_t unicode_spaces[] = {
    0x0085, 0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
    0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F,
    0x3000,
};

/* Punctuation trimmed from both ends (kept between words). */
static const int32_t trim_punct[] = {
    '.', '!', '?', ',', ';', ':', 0x00A1 /* ¡ */, 0x00BF /* ¿ */,
};

static int in_set(int32_t cp, const int32_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == cp)
            return 1;
    return 0;
}

static int is_space(int32_t cp)
{
    if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
        return 1;
    return cp >= 0x80 &&
           in_set(cp, unicode_spaces,
                  sizeof unicode_spaces / sizeof unicode_spaces[0]);
}

static int is_trim_punct(int32_t cp)
{
    return in_set(cp, trim_punct, sizeof trim_punct / sizeof trim_punct[0]);
}

/* Length and value of a well-formed multi-byte sequence at s[0..n), or 0
 * if it is malformed (bad lead or continuation byte, truncated, overlong,
 * surrogate, beyond U+10FFFF). */
static size_t utf8_multi(const unsigned char *s, size_t n, int32_t *cp)
{
    size_t len;
    int32_t v, min;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2, v = s[0] & 0x1F, min = 0x80;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3, v = s[0] & 0x0F, min = 0x800;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4, v = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Decode one code point at s[0..n) (n >= 1). A malformed byte decodes as
 * one byte with *cp = -1, so it is classed "other" and passes through. */
static size_t utf8_decode(const char *s, size_t n, int32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len = utf8_multi(u, n, cp);
    if (len == 0) {
        *cp = -1;
        return 1;
    }
    return len;
}

/* Where folded bytes go: written to `out`, or (out == NULL) compared with
 * `expect`, stopping at the first difference. */
typedef struct fold_sink {
    char *out;
    const char *expect;
    size_t expect_len;
    size_t len;
    int differs;
} fold_sink;

static void sink_put(fold_sink *k, const char *s, size_t n)
{
    if (k->out) {
        memcpy(k->out + k->len, s, n);
        k->len += n;
        return;
    }
    if (k->differs)
        return;
    if (n > k->expect_len - k->len ||
        memcmp(k->expect + k->len, s, n) != 0) {
        k->differs = 1;
        return;
    }
    k->len += n;
}

static void emit_folded(fold_sink *k, const char *s, size_t len, int32_t cp)
{
    if (cp >= 'A' && cp <= 'Z') {
        char c = (char)(cp - 'A' + 'a');
        sink_put(k, &c, 1);
        return;
    }
    if (cp >= FOLD_FIRST && cp <= FOLD_LAST) {
        const char *base = latin_base[cp - FOLD_FIRST];
        if (base[0] != '\0') {
            sink_put(k, base, strlen(base));
            return;
        }
    }
    sink_put(k, s, len);
}

/* Replay a run of white space and punctuation that sits between words. */
static void emit_run(fold_sink *k, const char *s, const char *end)
{
    int in_space = 0;
    while (s < end) {
        int32_t cp;
        size_t len = utf8_decode(s, (size_t)(end - s), &cp);
        if (is_space(cp)) {
            if (!in_space)
                sink_put(k, " ", 1);
            in_space = 1;
        } else {
            sink_put(k, s, len);
            in_space = 0;
        }
        s += len;
    }
}

static void fold_run(const char *text, size_t n, fold_sink *k)
{
    const char *pending = NULL; /* start of a held-back run */
    int started = 0;            /* emitted a character already */
    size_t i = 0;
    while (i < n && !k->differs) {
        int32_t cp;
        size_t len = utf8_decode(text + i, n - i, &cp);
        if (is_space(cp) || is_trim_punct(cp)) {
            if (started && !pending)
                pending = text + i;
        } else {
            if (pending)
                emit_run(k, pending, text + i);
            pending = NULL;
            emit_folded(k, text + i, len, cp);
            started = 1;
        }
        i += len;
    }
}

size_t wb_keyword_fold_to(const char *text, size_t n, char *out)
{
    fold_sink k = {.out = out};
    fold_run(text, n, &k);
    out[k.len] = '\0';
    return k.len;
}

int wb_keyword_fold_equals(const char *text, size_t n, const char *folded,
                           size_t folded_len)
{
    fold_sink k = {.expect = folded, .expect_len = folded_len};
    fold_run(text, n, &k);
    return !k.differs && k.len == folded_len;
}

size_t wb_fold_space_len(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    int32_t cp;
    size_t len = utf8_decode(s, n, &cp);
    return is_space(cp) ? len : 0;
}
