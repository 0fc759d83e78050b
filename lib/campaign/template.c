/* Message templating (include/wabot/template.h): placeholders are checked
 * once at compile time so that rendering, at send time, cannot fail. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/strbuf.h"
#include "wabot/template.h"

#define ATTR_MAX 64
#define DEFAULT_MAX 256

/* A literal run (scope < 0) or a placeholder. Literal and default text
 * point into the template's copy of the source; attr is its own copy
 * (NUL-terminated for the lookup function). */
typedef struct segment {
    int scope; /* -1 literal, else a wabot_template_scope */
    const char *text;
    size_t len;
    char *attr;
    const char *dflt; /* NULL: no default */
    size_t dlen;
} segment;

struct wabot_template {
    wabot_ctx *ctx;
    char *src;
    segment *seg;
    size_t nseg, cap, nplace;
};

void wabot_template_free(wabot_template *t)
{
    if (t == NULL)
        return;
    const wabot_allocator *a = &t->ctx->alloc;
    for (size_t i = 0; i < t->nseg; i++)
        wb_free(a, t->seg[i].attr);
    wb_free(a, t->seg);
    wb_free(a, t->src);
    wb_free(a, t);
}

static int push(wabot_template *t, segment s)
{
    if (wb_grow(&t->ctx->alloc, (void **)&t->seg, t->nseg + 1, &t->cap,
                sizeof *t->seg) != WABOT_OK) {
        wb_free(&t->ctx->alloc, s.attr);
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "template: out of memory");
    }
    t->seg[t->nseg++] = s;
    return WABOT_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int is_attr_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Narrow [*b, *e) to its part without surrounding spaces. */
static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_space(s[*b]))
        (*b)++;
    while (*e > *b && is_space(s[*e - 1]))
        (*e)--;
}

/* Which placeholder the key s[b, e) names; the attribute's start in *ab.
 * -1 for an unknown one. */
static int key_scope(const char *s, size_t b, size_t e, size_t *ab)
{
    static const struct {
        const char *prefix;
        int scope;
    } kinds[] = {{"customer.", WABOT_TEMPLATE_CUSTOMER},
                 {"org.", WABOT_TEMPLATE_ORG}};
    if (e - b == 4 && memcmp(s + b, "name", 4) == 0) {
        *ab = e;
        return WABOT_TEMPLATE_NAME;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (e - b >= n && memcmp(s + b, kinds[i].prefix, n) == 0) {
            *ab = b + n;
            return kinds[i].scope;
        }
    }
    return -1;
}

/* Parse the placeholder between "{{" at `open` and "}}" at `close`. */
static int placeholder(wabot_template *t, size_t open, size_t close)
{
    const char *s = t->src;
    size_t kb = open + 2, ke = close;
    const char *bar = memchr(s + kb, '|', ke - kb);
    segment g = {0};
    if (bar != NULL) {
        size_t db = (size_t)(bar - s) + 1, de = close;
        ke = (size_t)(bar - s);
        trim(s, &db, &de);
        if (de - db > DEFAULT_MAX)
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: default of the placeholder at byte "
                            "%zu is over %d bytes", open, DEFAULT_MAX);
        for (size_t i = db; i < de; i++)
            if (s[i] == '{' || s[i] == '}')
                return wb_error(t->ctx, WABOT_ERR_INVAL,
                                "template: '%c' at byte %zu inside the "
                                "placeholder opened at byte %zu", s[i], i,
                                open);
        g.dflt = s + db;
        g.dlen = de - db;
    }
    trim(s, &kb, &ke);
    size_t ab = 0;
    g.scope = key_scope(s, kb, ke, &ab);
    if (g.scope < 0)
        return wb_error(t->ctx, WABOT_ERR_INVAL,
                        "template: unknown placeholder at byte %zu: \"%.*s\" "
                        "(expected name, customer.<attr> or org.<attr>)",
                        open, (int)(ke - kb), s + kb);
    if (g.scope != WABOT_TEMPLATE_NAME) {
        if (ke == ab || ke - ab > ATTR_MAX)
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: attribute name at byte %zu must be "
                            "1 to %d bytes", ab, ATTR_MAX);
        for (size_t i = ab; i < ke; i++)
            if (!is_attr_char(s[i]))
                return wb_error(t->ctx, WABOT_ERR_INVAL,
                                "template: byte %zu: attribute names are "
                                "letters, digits, '_' and '-'", i);
    }
    g.attr = wb_strndup(&t->ctx->alloc, s + ab, ke - ab);
    if (g.attr == NULL)
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "template: out of memory");
    t->nplace++;
    return push(t, g);
}

/* Split the source into literal runs and placeholders. */
static int parse(wabot_template *t, size_t len)
{
    const char *s = t->src;
    size_t lit = 0, i = 0;
    while (i < len) {
        if (s[i] == '\0')
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: NUL byte at byte %zu", i);
        if (i + 1 < len && s[i] == '}' && s[i + 1] == '}')
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: \"}}\" at byte %zu closes no "
                            "placeholder", i);
        if (!(i + 1 < len && s[i] == '{' && s[i + 1] == '{')) {
            i++;
            continue;
        }
        size_t close = i + 2;
        while (close + 1 < len && !(s[close] == '}' && s[close + 1] == '}') &&
               s[close] != '{' && s[close] != '\0')
            close++;
        if (close + 1 >= len)
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: \"{{\" at byte %zu is never closed", i);
        if (s[close] == '\0')
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: NUL byte at byte %zu", close);
        if (s[close] == '{')
            return wb_error(t->ctx, WABOT_ERR_INVAL,
                            "template: '{' at byte %zu inside the placeholder "
                            "opened at byte %zu", close, i);
        int rc = WABOT_OK;
        if (i > lit)
            rc = push(t, (segment){-1, s + lit, i - lit, NULL, NULL, 0});
        if (rc == WABOT_OK)
            rc = placeholder(t, i, close);
        if (rc != WABOT_OK)
            return rc;
        i = lit = close + 2;
    }
    if (len > lit)
        return push(t, (segment){-1, s + lit, len - lit, NULL, NULL, 0});
    return WABOT_OK;
}

int wabot_template_compile(wabot_ctx *ctx, const char *text, size_t len,
                           wabot_template **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL || (text == NULL && len > 0))
        return wb_detail(ctx, WABOT_ERR_INVAL, "template: NULL argument");
    if (len > WABOT_TEMPLATE_MAX_LEN)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                        "template: %zu bytes, over the limit of %d", len,
                        WABOT_TEMPLATE_MAX_LEN);
    wabot_template *t = wb_calloc(&ctx->alloc, 1, sizeof *t);
    if (t == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "template: out of memory");
    t->ctx = ctx;
    t->src = wb_malloc(&ctx->alloc, len + 1);
    if (t->src == NULL) {
        wabot_template_free(t);
        return wb_error(ctx, WABOT_ERR_NOMEM, "template: out of memory");
    }
    if (len > 0)
        memcpy(t->src, text, len);
    t->src[len] = '\0';
    int rc = parse(t, len);
    if (rc != WABOT_OK) {
        wabot_template_free(t);
        return rc;
    }
    *out = t;
    return WABOT_OK;
}

size_t wabot_template_placeholders(const wabot_template *t)
{
    return t != NULL ? t->nplace : 0;
}

int wabot_template_render(const wabot_template *t,
                          wabot_template_lookup_fn fn, void *ud, char **out,
                          size_t *out_len)
{
    if (out != NULL)
        *out = NULL;
    if (t == NULL || out == NULL)
        return wb_detail(t, WABOT_ERR_INVAL, "template: NULL argument");
    wb_strbuf b;
    wb_strbuf_init(&b, &t->ctx->alloc);
    for (size_t i = 0; i < t->nseg; i++) {
        const segment *g = &t->seg[i];
        if (g->scope < 0) {
            wb_strbuf_append(&b, g->text, g->len);
            continue;
        }
        const char *v = fn != NULL ? fn(ud, (wabot_template_scope)g->scope,
                                        g->attr)
                                   : NULL;
        if (v != NULL && v[0] != '\0')
            wb_strbuf_puts(&b, v);
        else if (g->dflt != NULL)
            wb_strbuf_append(&b, g->dflt, g->dlen);
    }
    size_t n = b.len;
    char *s = wb_strbuf_take(&b);
    if (s == NULL)
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "template: out of memory");
    *out = s;
    if (out_len != NULL)
        *out_len = n;
    return WABOT_OK;
}

/* Lookup over the parsed JSON variables. A number or bool is spelt as in
 * JSON; the spelling lives in `scratch` until the next call, which is
 * enough: render copies each value before asking for the next one. */
typedef struct json_vars {
    json_t *root;
    char scratch[64];
} json_vars;

static const char *json_lookup(void *ud, wabot_template_scope scope,
                               const char *attr)
{
    json_vars *jv = ud;
    json_t *v = NULL;
    if (scope == WABOT_TEMPLATE_NAME)
        v = json_object_get(jv->root, "name");
    else
        v = json_object_get(
            json_object_get(jv->root,
                            scope == WABOT_TEMPLATE_ORG ? "org" : "customer"),
            attr);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(jv->scratch, sizeof jv->scratch, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    else if (json_is_real(v))
        snprintf(jv->scratch, sizeof jv->scratch, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(jv->scratch, sizeof jv->scratch, "%s",
                 json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return jv->scratch;
}

int wabot_template_render_json(const wabot_template *t, const char *vars,
                               size_t vars_len, char **out, size_t *out_len)
{
    if (out != NULL)
        *out = NULL;
    if (t == NULL || out == NULL || vars == NULL)
        return wb_detail(t, WABOT_ERR_INVAL, "template: NULL argument");
    const wabot_allocator *prev = wb_json_scope_enter(&t->ctx->alloc);
    json_error_t jerr;
    json_vars jv = {json_loadb(vars, vars_len, 0, &jerr), {0}};
    int rc;
    if (!json_is_object(jv.root))
        rc = wb_error(t->ctx, WABOT_ERR_PARSE,
                      "template: variables are not a JSON object (%s)",
                      jv.root == NULL ? jerr.text : "another JSON type");
    else
        rc = wabot_template_render(t, json_lookup, &jv, out, out_len);
    json_decref(jv.root);
    wb_json_scope_leave(prev);
    return rc;
}
