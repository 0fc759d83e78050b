/* application/x-www-form-urlencoded decoding (the WHATWG URL standard's
 * parser, with limits and a strict % escape rule). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal/webhook.h"

/* One allocation per form: this struct, then the parameter array (room
 * for every pair the body can hold, up to max_params), then the decoded
 * keys and values one after another, NUL-terminated. A component never
 * decodes longer than it is sent and a pair adds at most two NULs, so the
 * text needs at most len + 2 * pairs bytes. */
struct wb_form {
    wabot_allocator alloc;
    wb_form_param *params;
    size_t n, cap;
    char *next; /* where the next decoded component goes */
};

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode s[0..n) into dst (room for n + 1 bytes, NUL-terminated) and
 * return the decoded length, or -1 at a bad % escape (*bad = its offset).
 * `plus` is what '+' stands for: a space in a form, itself in a URL path. */
static ptrdiff_t decode_into(char *dst, const char *s, size_t n, char plus,
                             size_t *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            dst[o++] = plus;
        } else if (s[i] == '%') {
            /* WHATWG keeps a broken '%' literally; we reject it instead,
             * since providers always escape '%' and a broken escape
             * usually means a truncated or wrongly encoded body. */
            int hi = n - i >= 3 ? hex_value((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value((unsigned char)s[i + 2]) : -1;
            if (lo < 0) {
                *bad = i;
                return -1;
            }
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[o++] = s[i];
        }
    }
    dst[o] = '\0';
    return (ptrdiff_t)o;
}

int wb_percent_decode(const char *s, size_t n, char *dst, size_t *dlen)
{
    size_t bad;
    ptrdiff_t d = decode_into(dst, s, n, '+', &bad);
    if (d < 0)
        return WABOT_ERR_PARSE;
    *dlen = (size_t)d;
    return WABOT_OK;
}

/* Name component `key` of parameter `index` for a rejection's detail:
 * its key (key == NULL) or the value of `key` (so the sender sees which
 * field to fix). Only on the rejection path: formatting it for every
 * accepted component cost more than the decoding. */
static const char *component_name(char what[96], const char *key,
                                  size_t index)
{
    if (key == NULL)
        snprintf(what, 96, "the key of parameter %zu", index + 1);
    else
        snprintf(what, 96, "the value of '%.64s'", key);
    return what;
}

/* Decode one component of parameter `index` into the form's text: its key
 * (key == NULL) or the value of `key`. *out and *dlen are the decoded
 * string. */
static int put_component(wb_form *f, const char *s, size_t n,
                         const char *key, const wb_form_limits *lim,
                         char **out, size_t *dlen, wb_reject *rej)
{
    char what[96];
    size_t bad = 0;
    ptrdiff_t d = decode_into(f->next, s, n, ' ', &bad);
    if (d < 0)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "malformed_form",
                             "bad percent escape in %s at offset %zu "
                             "(expected %%XX with two hex digits)",
                             component_name(what, key, f->n), bad);
    if ((size_t)d > lim->max_field_bytes)
        return wb_reject_set(rej, WABOT_ERR_TOO_LARGE, 413, "field_too_large",
                             "%s is %zu bytes, over the limit of %zu "
                             "(max_field_bytes)",
                             component_name(what, key, f->n), (size_t)d,
                             lim->max_field_bytes);
    *out = f->next;
    *dlen = (size_t)d;
    f->next += d + 1;
    return WABOT_OK;
}

static int add_pair(wb_form *f, const char *pair, size_t n,
                    const wb_form_limits *lim, wb_reject *rej)
{
    if (f->n >= lim->max_params)
        return wb_reject_set(rej, WABOT_ERR_TOO_LARGE, 413, "too_many_params",
                             "more than %zu form parameters (max_params)",
                             lim->max_params);
    const char *eq = memchr(pair, '=', n);
    size_t klen = eq ? (size_t)(eq - pair) : n;
    const char *v = eq ? eq + 1 : pair + n;
    size_t vlen = eq ? n - klen - 1 : 0;
    wb_form_param *p = &f->params[f->n];
    int rc = put_component(f, pair, klen, NULL, lim, &p->key, &p->key_len,
                           rej);
    if (rc == WABOT_OK)
        rc = put_component(f, v, vlen, p->key, lim, &p->value,
                           &p->value_len, rej);
    if (rc == WABOT_OK)
        f->n++;
    return rc;
}

/* The number of non-empty '&'-separated pairs in s[0..len). */
static size_t count_pairs(const char *s, size_t len)
{
    size_t pairs = 0, start = 0;
    while (start < len) {
        const char *amp = memchr(s + start, '&', len - start);
        size_t end = amp ? (size_t)(amp - s) : len;
        pairs += end > start;
        start = end + 1;
    }
    return pairs;
}

static wb_form *form_alloc(const wabot_allocator *a, size_t len,
                           size_t pairs)
{
    size_t params = pairs * sizeof(wb_form_param);
    if (pairs > (SIZE_MAX - sizeof(wb_form) - len) /
                    (sizeof(wb_form_param) + 2))
        return NULL;
    wb_form *f = wb_malloc(a, sizeof *f + params + len + 2 * pairs);
    if (f == NULL)
        return NULL;
    f->alloc = *a;
    f->params = (wb_form_param *)(f + 1);
    f->n = 0;
    f->cap = pairs;
    f->next = (char *)f->params + params;
    return f;
}

int wb_form_parse(const wabot_allocator *a, const char *s, size_t len,
                  const wb_form_limits *lim, wb_form **out, wb_reject *rej)
{
    if (a == NULL || lim == NULL || out == NULL || (s == NULL && len > 0))
        return WABOT_ERR_INVAL;
    *out = NULL;
    size_t pairs = count_pairs(s, len);
    /* Pairs past max_params are refused before they are decoded. */
    wb_form *f = form_alloc(a, len, pairs < lim->max_params
                                        ? pairs
                                        : lim->max_params);
    if (f == NULL)
        return WABOT_ERR_NOMEM;
    size_t start = 0;
    while (start < len) {
        const char *amp = memchr(s + start, '&', len - start);
        size_t end = amp ? (size_t)(amp - s) : len;
        if (end > start) {
            int rc = add_pair(f, s + start, end - start, lim, rej);
            if (rc != WABOT_OK) {
                wb_form_free(f);
                return rc;
            }
        }
        start = end + 1;
    }
    *out = f;
    return WABOT_OK;
}

void wb_form_free(wb_form *f)
{
    if (f == NULL)
        return;
    wabot_allocator a = f->alloc;
    wb_free(&a, f);
}

size_t wb_form_count(const wb_form *f)
{
    return f != NULL ? f->n : 0;
}

const wb_form_param *wb_form_at(const wb_form *f, size_t i)
{
    return f != NULL && i < f->n ? &f->params[i] : NULL;
}

const wb_form_param *wb_form_find(const wb_form *f, const char *key)
{
    if (f == NULL || key == NULL)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < f->n; i++) {
        const wb_form_param *p = &f->params[i];
        /* Compare full lengths: "From%00x" must not match "From". */
        if (p->key_len == klen && memcmp(p->key, key, klen) == 0)
            return p;
    }
    return NULL;
}

const char *wb_form_get(const wb_form *f, const char *key)
{
    const wb_form_param *p = wb_form_find(f, key);
    return p != NULL ? p->value : NULL;
}
