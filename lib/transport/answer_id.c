/* The message id of a provider's success answer, without decoding it.
 *
 * Decoding every 201/200 answer with jansson (a tree of a dozen values,
 * each allocated, for one string) was about a fifth of the send path's
 * CPU. This scanner walks the JSON grammar over the text instead, builds
 * nothing, and remembers where the string at one path is (the last
 * occurrence, as jansson keeps the last of duplicate keys).
 *
 * It answers FOUND or ABSENT only for a document jansson would accept
 * (strict literals and numbers, valid UTF-8, valid escapes, nothing after
 * the value), so the result is the one a decode would give. Anything it
 * is not sure of -- malformed text, \u0000, numbers jansson might find
 * too big, deep nesting, an id with escapes or longer than the buffer --
 * is UNSURE, and the caller decodes the answer as before: a strange
 * answer costs time, never a different outcome. */
#include <string.h>

#include "provider.h"

#define MAX_DEPTH 64
#define MAX_NUMBER 15 /* digits and signs; longer may overflow in jansson */

typedef struct scan {
    const unsigned char *p, *end;
    const char *const *path; /* remaining path of the value being read */
    const unsigned char *hit; /* the string at the full path, if any */
    size_t hit_len;
    int hit_escaped;
} scan;

static void ws(scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

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

/* After "\u" at s->p: one code point, a surrogate pair taking both
 * escapes. \u0000 and lone surrogates are refused (jansson refuses
 * them). */
static int unicode_escape(scan *s)
{
    unsigned v, lo;
    if (hex4(s->p, s->end, &v) != 0 || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return -1;
    s->p += 4;
    if (v < 0xD800 || v > 0xDBFF)
        return 0;
    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
        hex4(s->p + 2, s->end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
        return -1;
    s->p += 6;
    return 0;
}

/* The string at s->p (on its opening quote): its raw bytes and whether it
 * has escapes. */
static int string(scan *s, const unsigned char **start, size_t *len,
                  int *escaped)
{
    const unsigned char *b = ++s->p;
    *escaped = 0;
    while (s->p < s->end) {
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
                if (unicode_escape(s) != 0)
                    return -1;
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
    return -1;
}

static int digits(scan *s)
{
    const unsigned char *b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > b ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, short enough that
 * jansson cannot find it too big. */
static int number(scan *s)
{
    const unsigned char *b = s->p;
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (digits(s) != 0)
        return -1;
    if (s->p < s->end && *s->p == '.' && (s->p++, digits(s) != 0))
        return -1;
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (digits(s) != 0)
            return -1;
    }
    return s->p - b <= MAX_NUMBER ? 0 : -1;
}

static int literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int value(scan *s, const char *const *path, int depth);

/* The path's next step for member `key` of an object on the path. */
static const char *const *member_path(const char *const *path,
                                      const unsigned char *key, size_t len,
                                      int escaped)
{
    if (!path || !path[0] || escaped || strlen(path[0]) != len ||
        memcmp(path[0], key, len) != 0)
        return NULL;
    return path + 1;
}

static int object(scan *s, const char *const *path, int depth)
{
    s->p++; /* { */
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        const unsigned char *key;
        size_t len;
        int esc;
        if (s->p == s->end || *s->p != '"' || string(s, &key, &len, &esc))
            return -1;
        ws(s);
        if (s->p == s->end || *s->p++ != ':')
            return -1;
        if (value(s, member_path(path, key, len, esc), depth + 1) != 0)
            return -1;
        ws(s);
        if (s->p == s->end)
            return -1;
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p++ != ',')
            return -1;
        ws(s);
    }
}

/* Path step "#0" is an array's first element. */
static int array(scan *s, const char *const *path, int depth)
{
    s->p++; /* [ */
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    int first = path && path[0] && strcmp(path[0], "#0") == 0;
    for (;;) {
        if (value(s, first ? path + 1 : NULL, depth + 1) != 0)
            return -1;
        first = 0;
        ws(s);
        if (s->p == s->end)
            return -1;
        if (*s->p == ']') {
            s->p++;
            return 0;
        }
        if (*s->p++ != ',')
            return -1;
    }
}

/* A value on the path replaces whatever an earlier occurrence of the same
 * key found (jansson keeps the last duplicate), so the hit is forgotten on
 * entering it. */
static int value(scan *s, const char *const *path, int depth)
{
    ws(s);
    if (s->p == s->end || depth > MAX_DEPTH)
        return -1;
    if (path)
        s->hit = NULL;
    switch (*s->p) {
    case '{':
        return object(s, path, depth);
    case '[':
        return array(s, path, depth);
    case '"': {
        const unsigned char *b;
        size_t len;
        int esc;
        if (string(s, &b, &len, &esc) != 0)
            return -1;
        if (path && !path[0]) { /* the full path: the last one counts */
            s->hit = b;
            s->hit_len = len;
            s->hit_escaped = esc;
        }
        return 0;
    }
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        return *s->p == '-' || (*s->p >= '0' && *s->p <= '9') ? number(s)
                                                               : -1;
    }
}

int wb_answer_id(const char *body, size_t len, const char *const *path,
                 char *id, size_t n)
{
    scan s = {(const unsigned char *)body, (const unsigned char *)body + len,
              path, NULL, 0, 0};
    if (!body || value(&s, path, 0) != 0)
        return WB_ANSWER_UNSURE;
    ws(&s);
    if (s.p != s.end) /* jansson refuses text after the value */
        return WB_ANSWER_UNSURE;
    if (!s.hit)
        return WB_ANSWER_ABSENT;
    if (s.hit_escaped || memchr(s.hit, '\0', s.hit_len) || s.hit_len >= n)
        return WB_ANSWER_UNSURE;
    memcpy(id, s.hit, s.hit_len);
    id[s.hit_len] = '\0';
    return WB_ANSWER_FOUND;
}
