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

#include "json_scan.h"
#include "provider.h"

#define MAX_DEPTH 64
#define MAX_NUMBER 15 /* digits and signs; longer may overflow in jansson */

typedef struct scan {
    wb_jscan j;
    const char *const *path; /* remaining path of the value being read */
    const unsigned char *hit; /* the string at the full path, if any */
    size_t hit_len;
    int hit_escaped;
} scan;

static void ws(scan *s)
{
    wb_jscan_ws(&s->j);
}

static int string(scan *s, const unsigned char **start, size_t *len,
                  int *escaped)
{
    return wb_jscan_string(&s->j, start, len, escaped);
}

static int digits(scan *s)
{
    const unsigned char *b = s->j.p;
    while (s->j.p < s->j.end && *s->j.p >= '0' && *s->j.p <= '9')
        s->j.p++;
    return s->j.p > b ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, short enough that
 * jansson cannot find it too big. */
static int number(scan *s)
{
    const unsigned char *b = s->j.p;
    if (*s->j.p == '-')
        s->j.p++;
    if (s->j.p < s->j.end && *s->j.p == '0')
        s->j.p++;
    else if (digits(s) != 0)
        return -1;
    if (s->j.p < s->j.end && *s->j.p == '.' && (s->j.p++, digits(s) != 0))
        return -1;
    if (s->j.p < s->j.end && (*s->j.p == 'e' || *s->j.p == 'E')) {
        s->j.p++;
        if (s->j.p < s->j.end && (*s->j.p == '+' || *s->j.p == '-'))
            s->j.p++;
        if (digits(s) != 0)
            return -1;
    }
    return s->j.p - b <= MAX_NUMBER ? 0 : -1;
}

static int literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->j.end - s->j.p) < n || memcmp(s->j.p, word, n) != 0)
        return -1;
    s->j.p += n;
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
    s->j.p++; /* { */
    ws(s);
    if (s->j.p < s->j.end && *s->j.p == '}') {
        s->j.p++;
        return 0;
    }
    for (;;) {
        const unsigned char *key;
        size_t len;
        int esc;
        if (s->j.p == s->j.end || *s->j.p != '"' || string(s, &key, &len, &esc))
            return -1;
        ws(s);
        if (s->j.p == s->j.end || *s->j.p++ != ':')
            return -1;
        if (value(s, member_path(path, key, len, esc), depth + 1) != 0)
            return -1;
        ws(s);
        if (s->j.p == s->j.end)
            return -1;
        if (*s->j.p == '}') {
            s->j.p++;
            return 0;
        }
        if (*s->j.p++ != ',')
            return -1;
        ws(s);
    }
}

/* Path step "#0" is an array's first element. */
static int array(scan *s, const char *const *path, int depth)
{
    s->j.p++; /* [ */
    ws(s);
    if (s->j.p < s->j.end && *s->j.p == ']') {
        s->j.p++;
        return 0;
    }
    int first = path && path[0] && strcmp(path[0], "#0") == 0;
    for (;;) {
        if (value(s, first ? path + 1 : NULL, depth + 1) != 0)
            return -1;
        first = 0;
        ws(s);
        if (s->j.p == s->j.end)
            return -1;
        if (*s->j.p == ']') {
            s->j.p++;
            return 0;
        }
        if (*s->j.p++ != ',')
            return -1;
    }
}

/* A value on the path replaces whatever an earlier occurrence of the same
 * key found (jansson keeps the last duplicate), so the hit is forgotten on
 * entering it. */
static int value(scan *s, const char *const *path, int depth)
{
    ws(s);
    if (s->j.p == s->j.end || depth > MAX_DEPTH)
        return -1;
    if (path)
        s->hit = NULL;
    switch (*s->j.p) {
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
        return *s->j.p == '-' || (*s->j.p >= '0' && *s->j.p <= '9') ? number(s)
                                                               : -1;
    }
}

int wb_answer_id(const char *body, size_t len, const char *const *path,
                 char *id, size_t n)
{
    scan s = {{(const unsigned char *)body, (const unsigned char *)body + len},
              path, NULL, 0, 0};
    if (!body || value(&s, path, 0) != 0)
        return WB_ANSWER_UNSURE;
    ws(&s);
    if (s.j.p != s.j.end) /* jansson refuses text after the value */
        return WB_ANSWER_UNSURE;
    if (!s.hit)
        return WB_ANSWER_ABSENT;
    if (s.hit_escaped || memchr(s.hit, '\0', s.hit_len) || s.hit_len >= n)
        return WB_ANSWER_UNSURE;
    memcpy(id, s.hit, s.hit_len);
    id[s.hit_len] = '\0';
    return WB_ANSWER_FOUND;
}
