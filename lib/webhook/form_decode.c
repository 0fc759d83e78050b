/* application/x-www-form-urlencoded decoding (the WHATWG URL standard's
 * parser, with limits and a strict % escape rule). */
#include <stdio.h>
#include <string.h>

#include "internal/webhook.h"

struct wb_form {
    wabot_allocator alloc;
    wb_form_param *params;
    size_t n, cap;
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

/* Decoded length of s[0..n) into *dlen; -1 at a bad % escape (*bad =
 * its offset). A separate pass so limits are enforced before anything is
 * allocated. */
static int decoded_len(const char *s, size_t n, size_t *dlen, size_t *bad)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++, out++) {
        if (s[i] != '%')
            continue;
        /* WHATWG keeps a broken '%' literally; we reject it instead, since
         * providers always escape '%' and a broken escape usually means a
         * truncated or wrongly encoded body. */
        if (n - i < 3 || hex_value((unsigned char)s[i + 1]) < 0 ||
            hex_value((unsigned char)s[i + 2]) < 0) {
            *bad = i;
            return -1;
        }
        i += 2;
    }
    *dlen = out;
    return 0;
}

/* Decode s[0..n) into dst (room for the decoded length + NUL); the input
 * has already been validated by decoded_len(). `plus` is what '+' stands
 * for: a space in a form, itself in a URL path. */
static size_t decode_into(char *dst, const char *s, size_t n, char plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            dst[o++] = plus;
        } else if (s[i] == '%') {
            dst[o++] = (char)(hex_value((unsigned char)s[i + 1]) * 16 +
                              hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else {
            dst[o++] = s[i];
        }
    }
    dst[o] = '\0';
    return o;
}

int wb_percent_decode(const char *s, size_t n, char *dst, size_t *dlen)
{
    size_t d, bad;
    if (decoded_len(s, n, &d, &bad) < 0)
        return WABOT_ERR_PARSE;
    *dlen = decode_into(dst, s, n, '+');
    return WABOT_OK;
}

static int form_grow(wb_form *f)
{
    void *items = f->params;
    int rc = wb_grow(&f->alloc, &items, f->n + 1, &f->cap, sizeof *f->params);
    f->params = items;
    return rc;
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

/* Validate and measure one component of parameter `index`: its key
 * (key == NULL) or the value of `key`. */
static int check_component(const char *s, size_t n, const char *key,
                           size_t index, const wb_form_limits *lim,
                           size_t *dlen, wb_reject *rej)
{
    char what[96];
    size_t bad = 0, d = 0;
    if (decoded_len(s, n, &d, &bad) < 0)
        return wb_reject_set(rej, WABOT_ERR_PARSE, 400, "malformed_form",
                             "bad percent escape in %s at offset %zu "
                             "(expected %%XX with two hex digits)",
                             component_name(what, key, index), bad);
    if (d > lim->max_field_bytes)
        return wb_reject_set(rej, WABOT_ERR_TOO_LARGE, 413, "field_too_large",
                             "%s is %zu bytes, over the limit of %zu "
                             "(max_field_bytes)",
                             component_name(what, key, index), d,
                             lim->max_field_bytes);
    *dlen = d;
    return WABOT_OK;
}

/* Decode s[0..n) into a new string (length in *dlen on entry: the
 * measured decoded length). */
static char *decode_dup(const wabot_allocator *a, const char *s, size_t n,
                        size_t *dlen)
{
    char *d = wb_malloc(a, *dlen + 1);
    if (d != NULL)
        *dlen = decode_into(d, s, n, ' ');
    return d;
}

static int add_pair(wb_form *f, const char *pair, size_t n,
                    const wb_form_limits *lim, wb_reject *rej)
{
    if (f->n >= lim->max_params)
        return wb_reject_set(rej, WABOT_ERR_TOO_LARGE, 413, "too_many_params",
                             "more than %zu form parameters (max_params)",
                             lim->max_params);
    if (form_grow(f) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    const char *eq = memchr(pair, '=', n);
    size_t klen = eq ? (size_t)(eq - pair) : n;
    const char *v = eq ? eq + 1 : pair + n;
    size_t vlen = eq ? n - klen - 1 : 0;
    wb_form_param p = {0};
    int rc = check_component(pair, klen, NULL, f->n, lim, &p.key_len, rej);
    if (rc != WABOT_OK)
        return rc;
    p.key = decode_dup(&f->alloc, pair, klen, &p.key_len);
    if (p.key == NULL)
        return WABOT_ERR_NOMEM;
    rc = check_component(v, vlen, p.key, f->n, lim, &p.value_len, rej);
    if (rc == WABOT_OK) {
        p.value = decode_dup(&f->alloc, v, vlen, &p.value_len);
        if (p.value == NULL)
            rc = WABOT_ERR_NOMEM;
    }
    if (rc != WABOT_OK) {
        wb_free(&f->alloc, p.key);
        return rc;
    }
    f->params[f->n++] = p;
    return WABOT_OK;
}

int wb_form_parse(const wabot_allocator *a, const char *s, size_t len,
                  const wb_form_limits *lim, wb_form **out, wb_reject *rej)
{
    if (a == NULL || lim == NULL || out == NULL || (s == NULL && len > 0))
        return WABOT_ERR_INVAL;
    *out = NULL;
    wb_form *f = wb_calloc(a, 1, sizeof *f);
    if (f == NULL)
        return WABOT_ERR_NOMEM;
    f->alloc = *a;
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
    for (size_t i = 0; i < f->n; i++) {
        wb_free(&a, f->params[i].key);
        wb_free(&a, f->params[i].value);
    }
    wb_free(&a, f->params);
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
