/* The route table: pattern parsing, registration and matching.
 *
 * Routes live in a singly linked list that only grows: a writer (under
 * the mutex, which serialises writers and their duplicate check) links a
 * complete, immutable route in front and publishes it with a release
 * store; readers walk the list from an acquire load without any lock. So
 * wabot_http_handle() never blocks on registration, and a handler may
 * register routes. Nothing is unlinked before wb_http_server_free(), when
 * no request runs any more. Matching walks every route (the precedence
 * is a property of the set, not of the order); tables have tens of
 * routes. */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "internal/http_server.h"

/* In order of precedence: a literal beats a parameter beats the
 * wildcard. */
typedef enum seg_kind {
    SEG_LITERAL = 0,
    SEG_PARAM = 1,
    SEG_WILDCARD = 2
} seg_kind;

typedef struct wb_route_seg {
    seg_kind kind;
    const char *text; /* literal bytes, or the parameter name (no ':') */
    size_t len;
} wb_route_seg;

struct wb_route {
    wb_route *next;
    unsigned methods;   /* WB_HTTP_* bits; WB_HTTP_ANY for "*" */
    char *name;         /* "GET /pattern": logs; segment texts point in */
    wb_route_seg *segs; /* without the trailing wildcard */
    size_t nsegs;
    size_t nparams;
    int wildcard;
    wabot_http_handler_fn fn;
    wb_http_builtin_fn builtin;
    void *ud;
    wabot_destroy_fn destroy;
};

struct wb_http_routes {
    wabot_allocator alloc;
    _Atomic(wb_route *) head;
    pthread_mutex_t lock;
};

/* ------------------------------------------------------------------ */
/* Methods                                                             */

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", WB_HTTP_GET},         {"HEAD", WB_HTTP_HEAD},
    {"POST", WB_HTTP_POST},       {"PUT", WB_HTTP_PUT},
    {"PATCH", WB_HTTP_PATCH},     {"DELETE", WB_HTTP_DELETE},
    {"OPTIONS", WB_HTTP_OPTIONS},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

unsigned wb_http_method_bit(const char *method)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (strcmp(method, methods[i].name) == 0)
            return methods[i].bit;
    return 0;
}

void wb_http_allow_list(unsigned bits, char *out, size_t n)
{
    if (bits & WB_HTTP_GET)
        bits |= WB_HTTP_HEAD;
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_METHODS; i++) {
        if (!(bits & methods[i].bit))
            continue;
        int w = snprintf(out + o, n - o, "%s%s", o ? ", " : "",
                         methods[i].name);
        if (w < 0 || (size_t)w >= n - o)
            return;
        o += (size_t)w;
    }
}

/* ------------------------------------------------------------------ */
/* Paths                                                               */

size_t wb_http_path_trim(const char *path, size_t len)
{
    return len > 1 && path[len - 1] == '/' ? len - 1 : len;
}

int wb_http_next_segment(const char *s, size_t len, size_t *pos,
                         const char **seg, size_t *seg_len)
{
    if (*pos >= len || len == 1) /* the end, or the root: no segment */
        return 0;
    size_t start = *pos + 1;
    const char *slash = memchr(s + start, '/', len - start);
    size_t end = slash ? (size_t)(slash - s) : len;
    *seg = s + start;
    *seg_len = end - start;
    *pos = end;
    return 1;
}

/* "." or "..", also written %2e: never a parameter or wildcard value, so
 * a handler cannot be tricked into climbing a directory. */
static int is_dot_segment(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n; i++, dots++) {
        if (s[i] == '.')
            continue;
        if (s[i] == '%' && n - i >= 3 && s[i + 1] == '2' &&
            (s[i + 2] == 'e' || s[i + 2] == 'E')) {
            i += 2;
            continue;
        }
        return 0;
    }
    return dots == 1 || dots == 2;
}

/* A parameter value: non-empty, decodable, no NUL, no dot segment. */
static int param_value_ok(const char *s, size_t n)
{
    if (n == 0 || is_dot_segment(s, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%')
            continue;
        if (n - i < 3 || !isxdigit((unsigned char)s[i + 1]) ||
            !isxdigit((unsigned char)s[i + 2]) ||
            (s[i + 1] == '0' && s[i + 2] == '0'))
            return 0;
        i += 2;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Patterns                                                            */

/* Not isalnum(): the host's locale must not widen what a pattern
 * accepts. */
static int ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* URL path characters allowed in a literal segment (RFC 3986 pchar
 * without '%': literals are compared undecoded, so an escape in a
 * pattern would only match that exact spelling). */
static int literal_char_ok(unsigned char c)
{
    return ascii_alnum(c) ||
           (c != '\0' && strchr("-._~!$&'()+,;=:@", c) != NULL);
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > WABOT_HTTP_ROUTE_MAX_NAME ||
        (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!ascii_alnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

static int bad_pattern(wabot_ctx *ctx, const char *pattern, const char *why)
{
    return wb_error(ctx, WABOT_ERR_INVAL, "http route '%.*s': %s", 80,
                    pattern, why);
}

static int param_repeated(const wb_route *r, const char *name, size_t n)
{
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].kind == SEG_PARAM && r->segs[i].len == n &&
            memcmp(r->segs[i].text, name, n) == 0)
            return 1;
    return 0;
}

/* One segment of a user pattern into r->segs[r->nsegs]. */
static int parse_segment(wabot_ctx *ctx, const char *pattern, wb_route *r,
                         const char *seg, size_t n)
{
    if (r->wildcard)
        return bad_pattern(ctx, pattern, "'*' must be the last segment");
    if (n == 0)
        return bad_pattern(ctx, pattern, "empty segment (\"//\" or a "
                                         "trailing '/')");
    if (n == 1 && seg[0] == '*') {
        r->wildcard = 1;
        return WABOT_OK;
    }
    wb_route_seg *s = &r->segs[r->nsegs];
    if (seg[0] == ':') {
        if (!name_ok(seg + 1, n - 1))
            return bad_pattern(ctx, pattern,
                               "a parameter name must match "
                               "[A-Za-z_][A-Za-z0-9_]* (at most 32 bytes)");
        if (param_repeated(r, seg + 1, n - 1))
            return bad_pattern(ctx, pattern, "parameter name used twice");
        *s = (wb_route_seg){SEG_PARAM, seg + 1, n - 1};
        r->nparams++;
    } else {
        for (size_t i = 0; i < n; i++)
            if (!literal_char_ok((unsigned char)seg[i]))
                return bad_pattern(ctx, pattern,
                                   seg[i] == '*'
                                       ? "'*' must be a whole segment"
                                       : "a character outside the URL path "
                                         "characters (or '%')");
        if (is_dot_segment(seg, n))
            return bad_pattern(ctx, pattern, "'.' and '..' segments are "
                                             "not allowed");
        *s = (wb_route_seg){SEG_LITERAL, seg, n};
    }
    r->nsegs++;
    return WABOT_OK;
}

/* Split the pattern part of r->name (at `off`) into segments. `literal`:
 * a configured webhook path, taken as it is (segments may be empty). */
static int parse_pattern(wabot_ctx *ctx, wb_route *r, size_t off,
                         int literal)
{
    const char *p = r->name + off;
    size_t len = wb_http_path_trim(p, strlen(p));
    size_t pos = 0, n;
    const char *seg;
    while (wb_http_next_segment(p, len, &pos, &seg, &n)) {
        if (literal) {
            r->segs[r->nsegs++] = (wb_route_seg){SEG_LITERAL, seg, n};
            continue;
        }
        if (r->nsegs + (size_t)r->wildcard >= WABOT_HTTP_ROUTE_MAX_SEGMENTS)
            return bad_pattern(ctx, p, "more than 32 segments");
        int rc = parse_segment(ctx, p, r, seg, n);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

static int check_pattern_text(wabot_ctx *ctx, const char *pattern,
                              int literal)
{
    size_t len = strlen(pattern);
    if (len == 0)
        return bad_pattern(ctx, pattern, "empty pattern");
    if (len > WABOT_HTTP_ROUTE_MAX_PATTERN)
        return bad_pattern(ctx, pattern, "longer than 256 bytes");
    if (pattern[0] != '/')
        return bad_pattern(ctx, pattern, "must start with '/'");
    if (literal)
        return strpbrk(pattern, "?# \t\r\n") != NULL
                   ? bad_pattern(ctx, pattern, "query or blank in a path")
                   : WABOT_OK;
    if (len > 1 && pattern[len - 1] == '/')
        return bad_pattern(ctx, pattern, "trailing '/' (requests with one "
                                         "match without it)");
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Route objects                                                       */

static void route_free(const wabot_allocator *a, wb_route *r)
{
    if (r == NULL)
        return;
    wb_free(a, r->name);
    wb_free(a, r->segs);
    wb_free(a, r);
}

static wb_route *route_new(wabot_ctx *ctx, const char *method,
                           const char *pattern, int literal, int *rc)
{
    size_t mlen = strlen(method), plen = strlen(pattern);
    wb_route *r = wb_calloc(&ctx->alloc, 1, sizeof *r);
    /* Segments never outnumber the '/'s of the pattern. */
    size_t max_segs = 1;
    for (const char *s = pattern; *s; s++)
        max_segs += *s == '/';
    if (r != NULL) {
        r->name = wb_malloc(&ctx->alloc, mlen + 1 + plen + 1);
        r->segs = wb_calloc(&ctx->alloc, max_segs, sizeof *r->segs);
    }
    if (r == NULL || r->name == NULL || r->segs == NULL) {
        route_free(&ctx->alloc, r);
        *rc = wb_error(ctx, WABOT_ERR_NOMEM, "http route: out of memory");
        return NULL;
    }
    memcpy(r->name, method, mlen);
    r->name[mlen] = ' ';
    memcpy(r->name + mlen + 1, pattern, plen + 1);
    r->methods = strcmp(method, "*") == 0 ? WB_HTTP_ANY
                                          : wb_http_method_bit(method);
    *rc = parse_pattern(ctx, r, mlen + 1, literal);
    if (*rc != WABOT_OK) {
        route_free(&ctx->alloc, r);
        return NULL;
    }
    return r;
}

/* Same method and same pattern up to parameter names. */
static int same_route(const wb_route *a, const wb_route *b)
{
    if (a->methods != b->methods || a->nsegs != b->nsegs ||
        a->wildcard != b->wildcard)
        return 0;
    for (size_t i = 0; i < a->nsegs; i++) {
        const wb_route_seg *x = &a->segs[i], *y = &b->segs[i];
        if (x->kind != y->kind)
            return 0;
        if (x->kind == SEG_LITERAL &&
            (x->len != y->len || memcmp(x->text, y->text, x->len) != 0))
            return 0;
    }
    return 1;
}

/* Link r in (taking ownership) unless an equal route exists. */
static int publish(wabot_ctx *ctx, wb_route *r)
{
    wb_http_routes *t = ctx->http_routes;
    pthread_mutex_lock(&t->lock);
    wb_route *head = atomic_load_explicit(&t->head, memory_order_relaxed);
    for (const wb_route *o = head; o != NULL; o = o->next) {
        if (same_route(o, r)) {
            pthread_mutex_unlock(&t->lock);
            int rc = wb_error(ctx, WABOT_ERR_EXISTS,
                              "http route '%.100s' exists as '%.100s'",
                              r->name, o->name);
            route_free(&ctx->alloc, r);
            return rc;
        }
    }
    r->next = head;
    atomic_store_explicit(&t->head, r, memory_order_release);
    pthread_mutex_unlock(&t->lock);
    return WABOT_OK;
}

static int add_route(wabot_ctx *ctx, const char *method, const char *pattern,
                     int literal, wb_route *proto)
{
    if (strcmp(method, "*") != 0 && wb_http_method_bit(method) == 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "http route: unknown method '%.16s' (GET, HEAD, "
                        "POST, PUT, PATCH, DELETE, OPTIONS or *)", method);
    int rc = check_pattern_text(ctx, pattern, literal);
    if (rc != WABOT_OK)
        return rc;
    wb_route *r = route_new(ctx, method, pattern, literal, &rc);
    if (r == NULL)
        return rc;
    r->fn = proto->fn;
    r->builtin = proto->builtin;
    r->ud = proto->ud;
    r->destroy = proto->destroy;
    return publish(ctx, r);
}

int wabot_http_route_add(wabot_ctx *ctx, const char *method,
                         const char *pattern, wabot_http_handler_fn fn,
                         void *ud, wabot_destroy_fn destroy)
{
    if (ctx == NULL || method == NULL || pattern == NULL || fn == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "wabot_http_route_add: NULL ctx, method, pattern or "
                        "handler");
    wb_route proto = {.fn = fn, .ud = ud, .destroy = destroy};
    return add_route(ctx, method, pattern, 0, &proto);
}

int wb_http_route_builtin(wabot_ctx *ctx, const char *method,
                          const char *path, wb_http_builtin_fn fn)
{
    wb_route proto = {.builtin = fn};
    return add_route(ctx, method, path, 1, &proto);
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */

static int segment_matches(const wb_route_seg *s, const char *seg, size_t n)
{
    if (s->kind == SEG_PARAM)
        return param_value_ok(seg, n);
    return s->len == n && memcmp(s->text, seg, n) == 0;
}

/* Does r match path[0..len) (trimmed)? */
static int route_matches(const wb_route *r, const char *path, size_t len)
{
    size_t pos = 0, n;
    const char *seg;
    for (size_t i = 0; i < r->nsegs; i++)
        if (!wb_http_next_segment(path, len, &pos, &seg, &n) ||
            !segment_matches(&r->segs[i], seg, n))
            return 0;
    if (!r->wildcard)
        return !wb_http_next_segment(path, len, &pos, &seg, &n);
    while (wb_http_next_segment(path, len, &pos, &seg, &n))
        if (is_dot_segment(seg, n))
            return 0;
    return 1;
}

static int accepts(const wb_route *r, unsigned bit)
{
    return r->methods == WB_HTTP_ANY || (r->methods & bit) != 0 ||
           (bit == WB_HTTP_HEAD && (r->methods & WB_HTTP_GET));
}

/* 0 the exact method, 1 GET serving HEAD, 2 "*". */
static int method_rank(const wb_route *r, unsigned bit)
{
    if (r->methods == WB_HTTP_ANY)
        return 2;
    return (r->methods & bit) ? 0 : 1;
}

static seg_kind kind_at(const wb_route *r, size_t i)
{
    return i < r->nsegs ? r->segs[i].kind : SEG_WILDCARD;
}

/* Is a more specific than b, both matching the same path? */
static int more_specific(const wb_route *a, const wb_route *b, unsigned bit)
{
    size_t n = a->nsegs > b->nsegs ? a->nsegs : b->nsegs;
    for (size_t i = 0; i < n; i++) {
        seg_kind ka = kind_at(a, i), kb = kind_at(b, i);
        if (ka != kb)
            return ka < kb;
    }
    if (a->wildcard != b->wildcard)
        return !a->wildcard;
    return method_rank(a, bit) < method_rank(b, bit);
}

void wb_http_route_find(const wb_http_routes *t, const char *method,
                        const char *path, size_t len, wb_route_match *m)
{
    memset(m, 0, sizeof *m);
    if (len == 0 || path[0] != '/')
        return;
    len = wb_http_path_trim(path, len);
    unsigned bit = wb_http_method_bit(method);
    const wb_route *r = atomic_load_explicit(
        &((wb_http_routes *)t)->head, memory_order_acquire);
    for (; r != NULL; r = r->next) {
        if (!route_matches(r, path, len))
            continue;
        m->path_matched = 1;
        m->allowed |= r->methods;
        if (accepts(r, bit) &&
            (m->route == NULL || more_specific(r, m->route, bit)))
            m->route = r;
    }
}

/* ------------------------------------------------------------------ */
/* Captures                                                            */

int wb_http_route_capture(const wb_route *route,
                          wabot_http_server_request *req, size_t path_len)
{
    if (route->nparams == 0 && !route->wildcard)
        return WABOT_OK;
    const char *path = req->path;
    size_t len = wb_http_path_trim(path, path_len);
    /* One block: the pointer array, then each value (decoding never
     * lengthens), then the wildcard's rest. */
    size_t need = route->nparams * sizeof(char *) + len + route->nparams + 2;
    char *block = wb_malloc(&req->ctx->alloc, need);
    if (block == NULL)
        return WABOT_ERR_NOMEM;
    req->params = (char **)(void *)block;
    char *out = block + route->nparams * sizeof(char *);
    size_t pos = 0, n = 0, k = 0;
    const char *seg = NULL;
    for (size_t i = 0; i < route->nsegs; i++) {
        wb_http_next_segment(path, len, &pos, &seg, &n);
        if (route->segs[i].kind != SEG_PARAM)
            continue;
        size_t dlen = 0;
        wb_percent_decode(seg, n, out, &dlen); /* checked while matching */
        req->params[k++] = out;
        out += dlen + 1;
    }
    if (route->wildcard) {
        size_t from = pos < len ? pos + 1 : len;
        memcpy(out, path + from, len - from);
        out[len - from] = '\0';
        req->rest = out;
    }
    return WABOT_OK;
}

const char *wabot_http_server_request_param(
    const wabot_http_server_request *r, const char *name)
{
    if (r == NULL || name == NULL || r->route == NULL)
        return NULL;
    const wb_route *route = r->route;
    if (strcmp(name, "*") == 0)
        return route->wildcard ? r->rest : NULL;
    size_t nlen = strlen(name), k = 0;
    for (size_t i = 0; i < route->nsegs; i++) {
        const wb_route_seg *s = &route->segs[i];
        if (s->kind != SEG_PARAM)
            continue;
        if (s->len == nlen && memcmp(s->text, name, nlen) == 0)
            return r->params != NULL ? r->params[k] : NULL;
        k++;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Calling                                                             */

int wb_http_route_call(const wb_route *route, wabot_ctx *ctx,
                       const wabot_http_server_request *req,
                       wabot_http_response **resp)
{
    *resp = NULL;
    if (route->builtin != NULL) {
        int rc = route->builtin(ctx, &req->raw, resp);
        if (rc != WABOT_OK) {
            wabot_http_response_free(*resp);
            *resp = NULL;
        }
        return rc;
    }
    *resp = wb_response_new(ctx, 200, "", "", 0);
    if (*resp == NULL)
        return WABOT_ERR_NOMEM;
    (*resp)->err_ctx = ctx;
    int rc = route->fn(ctx, req, *resp, route->ud);
    (*resp)->err_ctx = NULL;
    if (rc < 0) {
        wabot_http_response_free(*resp);
        *resp = NULL;
        return rc;
    }
    return WABOT_OK;
}

int wb_http_route_is_builtin(const wb_route *route)
{
    return route->builtin != NULL;
}

const char *wb_http_route_name(const wb_route *route)
{
    return route->name;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

int wb_http_routes_new(wabot_ctx *ctx)
{
    wb_http_routes *t = wb_calloc(&ctx->alloc, 1, sizeof *t);
    if (t == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "http routes: out of memory");
    t->alloc = ctx->alloc;
    atomic_init(&t->head, NULL);
    pthread_mutex_init(&t->lock, NULL);
    ctx->http_routes = t;
    return WABOT_OK;
}

void wb_http_routes_free(wabot_ctx *ctx)
{
    wb_http_routes *t = ctx->http_routes;
    if (t == NULL)
        return;
    wb_route *r = atomic_load_explicit(&t->head, memory_order_acquire);
    while (r != NULL) {
        wb_route *next = r->next;
        if (r->destroy != NULL)
            r->destroy(r->ud);
        route_free(&t->alloc, r);
        r = next;
    }
    pthread_mutex_destroy(&t->lock);
    wabot_allocator a = t->alloc;
    wb_free(&a, t);
    ctx->http_routes = NULL;
}
