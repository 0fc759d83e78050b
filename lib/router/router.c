/* The router: route registration and per-turn dispatch (doc/router.md).
 *
 * Routes are kept in one array in registration order; dispatch walks it
 * twice (routes scoped to the current state, then unscoped routes) and
 * then looks up the fallbacks. Route counts are small, so a linear walk
 * beats any index, and it keeps the matching order obvious.
 *
 * Dispatch only reads the router, so any number of threads may dispatch
 * at once without a lock; registration writes it and must happen before
 * serving starts (router.h says so). */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "keyword_fold.h"
#include "pipeline.h"

typedef enum route_kind {
    ROUTE_KEYWORD,
    ROUTE_COMMAND,
    ROUTE_REGEX,
    ROUTE_PAYLOAD,
    ROUTE_TYPE
} route_kind;

typedef struct wb_route {
    route_kind kind;
    char *state;        /* NULL: unscoped; "": new conversations only */
    char *arg;          /* folded keyword, command name, or payload */
    size_t arg_len;     /* (the payload without its trailing '*') */
    int payload_prefix; /* payload registered with a trailing '*' */
    wabot_msg_type type;
    char *org;          /* NULL: every organisation (wb_router_scope_org) */
    int has_re;
    regex_t re;         /* routes are allocated one by one so this never
                           moves after regcomp() */
    wabot_handler_fn fn;
    void *ud;
    wabot_destroy_fn destroy;
} wb_route;

typedef struct wb_fallback {
    char *state; /* NULL: the global fallback */
    char *org;   /* NULL: every organisation (wb_router_scope_org) */
    wabot_handler_fn fn;
    void *ud;
    wabot_destroy_fn destroy;
} wb_fallback;

struct wb_router {
    wabot_allocator alloc_copy;
    const wabot_allocator *alloc; /* &alloc_copy, or NULL for libc */
    wb_route **routes;
    size_t n_routes, cap_routes;
    wb_fallback *fallbacks;
    size_t n_fallbacks, cap_fallbacks;
    char *scope_org; /* given to what is registered now; NULL: none */
};

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */

wb_router *wb_router_new(const wabot_allocator *a)
{
    wb_router *r = wb_calloc(a, 1, sizeof *r);
    if (!r)
        return NULL;
    /* A copy, so the router never depends on where the caller keeps its
     * allocator table. */
    if (a) {
        r->alloc_copy = *a;
        r->alloc = &r->alloc_copy;
    }
    return r;
}

/* Free a route; `run_destroy` is 0 when registration failed, because the
 * caller still owns `ud` then (router.h). */
static void route_free(const wb_router *r, wb_route *rt, int run_destroy)
{
    if (!rt)
        return;
    if (run_destroy && rt->destroy)
        rt->destroy(rt->ud);
    if (rt->has_re)
        regfree(&rt->re);
    wb_free(r->alloc, rt->state);
    wb_free(r->alloc, rt->org);
    wb_free(r->alloc, rt->arg);
    wb_free(r->alloc, rt);
}

void wb_router_free(wb_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_routes; i++)
        route_free(r, r->routes[i], 1);
    for (size_t i = 0; i < r->n_fallbacks; i++) {
        wb_fallback *fb = &r->fallbacks[i];
        if (fb->destroy)
            fb->destroy(fb->ud);
        wb_free(r->alloc, fb->state);
        wb_free(r->alloc, fb->org);
    }
    wb_free(r->alloc, r->scope_org);
    wb_free(r->alloc, r->routes);
    wb_free(r->alloc, r->fallbacks);
    wb_free(r->alloc, r);
}

size_t wb_router_count(const wb_router *r)
{
    return r ? r->n_routes + r->n_fallbacks : 0;
}

size_t wabot_route_count(const wabot_ctx *ctx)
{
    return ctx ? wb_router_count(ctx->router) : 0;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */

/* Checks every registration function shares. */
static int check_common(wabot_ctx *ctx, const char *fn_name,
                        wabot_handler_fn fn)
{
    if (!ctx)
        return wb_error(NULL, WABOT_ERR_INVAL, "%s: ctx is NULL", fn_name);
    if (!ctx->router)
        return wb_error(ctx, WABOT_ERR_STATE, "%s: context has no router",
                        fn_name);
    if (!fn)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: handler is NULL",
                        fn_name);
    return WABOT_OK;
}

static int nomem(wabot_ctx *ctx, const char *fn_name)
{
    return wb_error(ctx, WABOT_ERR_NOMEM, "%s: out of memory", fn_name);
}

/* A new route with its state copied; NULL when out of memory. */
static wb_route *route_new(wb_router *r, route_kind kind, const char *state,
                           wabot_handler_fn fn, void *ud,
                           wabot_destroy_fn destroy)
{
    wb_route *rt = wb_calloc(r->alloc, 1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->kind = kind;
    rt->fn = fn;
    rt->ud = ud;
    rt->destroy = destroy;
    if ((state && !(rt->state = wb_strdup(r->alloc, state))) ||
        (r->scope_org && !(rt->org = wb_strdup(r->alloc, r->scope_org)))) {
        wb_free(r->alloc, rt->state);
        wb_free(r->alloc, rt);
        return NULL;
    }
    return rt;
}

/* Append a fully built route; on failure the route is freed without its
 * destroy. */
static int route_commit(wabot_ctx *ctx, const char *fn_name, wb_route *rt)
{
    wb_router *r = ctx->router;
    if (wb_grow(r->alloc, (void **)&r->routes, r->n_routes + 1,
                &r->cap_routes, sizeof *r->routes) != WABOT_OK) {
        route_free(r, rt, 0);
        return nomem(ctx, fn_name);
    }
    r->routes[r->n_routes++] = rt;
    return WABOT_OK;
}

int wabot_route_keyword(wabot_ctx *ctx, const char *state,
                        const char *keyword, wabot_handler_fn fn, void *ud,
                        wabot_destroy_fn destroy)
{
    static const char me[] = "wabot_route_keyword";
    int rc = check_common(ctx, me, fn);
    if (rc != WABOT_OK)
        return rc;
    if (!keyword)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: keyword is NULL", me);
    wb_router *r = ctx->router;
    wb_route *rt = route_new(r, ROUTE_KEYWORD, state, fn, ud, destroy);
    size_t n = strlen(keyword);
    /* Folded once here so dispatch only folds the message text. */
    if (!rt || !(rt->arg = wb_malloc(r->alloc, n + 1))) {
        route_free(r, rt, 0);
        return nomem(ctx, me);
    }
    rt->arg_len = wb_keyword_fold_to(keyword, n, rt->arg);
    if (rt->arg_len == 0) {
        /* It would match every caption-less media message. */
        route_free(r, rt, 0);
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "%s: keyword \"%s\" is empty after folding", me,
                        keyword);
    }
    return route_commit(ctx, me, rt);
}

static const char *command_prefix(const wabot_ctx *ctx)
{
    const char *p = ctx->cfg.command_prefix;
    return p ? p : "/";
}

static int has_space(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (wb_fold_space_len(s + i, n - i))
            return 1;
    return 0;
}

int wabot_route_command(wabot_ctx *ctx, const char *state, const char *name,
                        wabot_handler_fn fn, void *ud,
                        wabot_destroy_fn destroy)
{
    static const char me[] = "wabot_route_command";
    int rc = check_common(ctx, me, fn);
    if (rc != WABOT_OK)
        return rc;
    if (!name || !*name)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: name is NULL or empty",
                        me);
    if (has_space(name))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "%s: name \"%s\" contains white space", me, name);
    const char *prefix = command_prefix(ctx);
    /* "/help" would only match "//help": surely a mistake. */
    if (*prefix && strncmp(name, prefix, strlen(prefix)) == 0)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "%s: name \"%s\" must not include the command "
                        "prefix \"%s\"", me, name, prefix);
    wb_router *r = ctx->router;
    wb_route *rt = route_new(r, ROUTE_COMMAND, state, fn, ud, destroy);
    if (!rt || !(rt->arg = wb_strdup(r->alloc, name))) {
        route_free(r, rt, 0);
        return nomem(ctx, me);
    }
    rt->arg_len = strlen(name);
    return route_commit(ctx, me, rt);
}

int wabot_route_regex(wabot_ctx *ctx, const char *state, const char *pattern,
                      unsigned flags, wabot_handler_fn fn, void *ud,
                      wabot_destroy_fn destroy)
{
    static const char me[] = "wabot_route_regex";
    int rc = check_common(ctx, me, fn);
    if (rc != WABOT_OK)
        return rc;
    if (!pattern)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: pattern is NULL", me);
    /* Unknown bits are refused, not ignored: a program built against a
     * newer header must not silently lose a flag's meaning. */
    if (flags & ~WABOT_REGEX_ICASE)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: unknown flags 0x%x", me,
                        flags & ~WABOT_REGEX_ICASE);
    wb_router *r = ctx->router;
    wb_route *rt = route_new(r, ROUTE_REGEX, state, fn, ud, destroy);
    if (!rt)
        return nomem(ctx, me);
    int cflags = REG_EXTENDED | (flags & WABOT_REGEX_ICASE ? REG_ICASE : 0);
    int err = regcomp(&rt->re, pattern, cflags);
    if (err != 0) {
        char why[160];
        regerror(err, &rt->re, why, sizeof why);
        route_free(r, rt, 0); /* has_re is 0: no regfree on a failed regcomp */
        if (err == REG_ESPACE)
            return nomem(ctx, me);
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: bad pattern \"%s\": %s",
                        me, pattern, why);
    }
    rt->has_re = 1;
    return route_commit(ctx, me, rt);
}

int wabot_route_payload(wabot_ctx *ctx, const char *state,
                        const char *payload, wabot_handler_fn fn, void *ud,
                        wabot_destroy_fn destroy)
{
    static const char me[] = "wabot_route_payload";
    int rc = check_common(ctx, me, fn);
    if (rc != WABOT_OK)
        return rc;
    /* An empty payload never arrives (it means "not a reply"). */
    if (!payload || !*payload)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "%s: payload is NULL or empty", me);
    wb_router *r = ctx->router;
    wb_route *rt = route_new(r, ROUTE_PAYLOAD, state, fn, ud, destroy);
    size_t n = strlen(payload);
    size_t prefix = payload[n - 1] == '*';
    if (!rt || !(rt->arg = wb_strndup(r->alloc, payload, n - prefix))) {
        route_free(r, rt, 0);
        return nomem(ctx, me);
    }
    rt->arg_len = n - prefix;
    rt->payload_prefix = prefix != 0;
    return route_commit(ctx, me, rt);
}

int wabot_route_type(wabot_ctx *ctx, const char *state, wabot_msg_type type,
                     wabot_handler_fn fn, void *ud, wabot_destroy_fn destroy)
{
    static const char me[] = "wabot_route_type";
    int rc = check_common(ctx, me, fn);
    if (rc != WABOT_OK)
        return rc;
    /* Keep in step with the last value of wabot_msg_type. */
    if ((int)type < WABOT_MSG_UNKNOWN || (int)type > WABOT_MSG_REACTION)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: unknown message type %d",
                        me, (int)type);
    wb_router *r = ctx->router;
    wb_route *rt = route_new(r, ROUTE_TYPE, state, fn, ud, destroy);
    if (!rt)
        return nomem(ctx, me);
    rt->type = type;
    return route_commit(ctx, me, rt);
}

/* Equal names, NULL equal only to NULL (a state or an organisation scope). */
static int same_name(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* The fallback registered for exactly this state and organisation
 * scope (NULL: unscoped). */
static wb_fallback *find_fallback(const wb_router *r, const char *state,
                                  const char *org)
{
    for (size_t i = 0; i < r->n_fallbacks; i++)
        if (same_name(r->fallbacks[i].state, state) &&
            same_name(r->fallbacks[i].org, org))
            return &r->fallbacks[i];
    return NULL;
}

/* The fallback for a turn in `state` of organisation `org`: the state's
 * before the global one, and within each, the organisation's before the
 * unscoped one. */
static const wb_fallback *turn_fallback(const wb_router *r, const char *state,
                                        const char *org)
{
    const wb_fallback *fb = find_fallback(r, state, org);
    if (!fb)
        fb = find_fallback(r, state, NULL);
    if (!fb)
        fb = find_fallback(r, NULL, org);
    if (!fb)
        fb = find_fallback(r, NULL, NULL);
    return fb;
}

int wb_router_scope_org(wabot_ctx *ctx, const char *org)
{
    static const char me[] = "wb_router_scope_org";
    if (!ctx || !ctx->router)
        return wb_error(ctx, WABOT_ERR_INVAL, "%s: no context or router", me);
    wb_router *r = ctx->router;
    char *copy = NULL;
    if (org && !(copy = wb_strdup(r->alloc, org)))
        return nomem(ctx, me);
    wb_free(r->alloc, r->scope_org);
    r->scope_org = copy;
    return WABOT_OK;
}

int wabot_route_fallback(wabot_ctx *ctx, const char *state,
                         wabot_handler_fn fn, void *ud,
                         wabot_destroy_fn destroy)
{
    static const char me[] = "wabot_route_fallback";
    int rc = check_common(ctx, me, fn);
    if (rc != WABOT_OK)
        return rc;
    wb_router *r = ctx->router;
    wb_fallback *fb = find_fallback(r, state, r->scope_org);
    if (fb) {
        wb_fallback old = *fb;
        fb->fn = fn;
        fb->ud = ud;
        fb->destroy = destroy;
        /* Re-registering the same user data must not free it while it is
         * still in use: its destroy then runs once, at context free. */
        if (old.destroy && !(old.ud == ud && old.destroy == destroy))
            old.destroy(old.ud);
        return WABOT_OK;
    }
    if (wb_grow(r->alloc, (void **)&r->fallbacks, r->n_fallbacks + 1,
                &r->cap_fallbacks, sizeof *r->fallbacks) != WABOT_OK)
        return nomem(ctx, me);
    wb_fallback nfb = {NULL, NULL, fn, ud, destroy};
    if (state && !(nfb.state = wb_strdup(r->alloc, state)))
        return nomem(ctx, me);
    if (r->scope_org && !(nfb.org = wb_strdup(r->alloc, r->scope_org))) {
        wb_free(r->alloc, nfb.state);
        return nomem(ctx, me);
    }
    r->fallbacks[r->n_fallbacks++] = nfb;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Matching. Each matcher returns 1 (matched, captures set), 0 (no
 * match) or a negative status (a capture could not be stored).        */

/* Store capture i unless an earlier one failed (rc < 0): matchers chain
 * their captures through rc and report the first failure once. */
static int capture(wabot_turn *turn, size_t i, const char *s, size_t n,
                   int rc)
{
    return rc < 0 ? rc : wb_turn_set_capture(turn, i, s, n);
}

static int match_keyword(const wb_route *rt, wabot_turn *turn,
                         const char *text)
{
    if (!wb_keyword_fold_equals(text, strlen(text), rt->arg, rt->arg_len))
        return 0;
    int rc = capture(turn, 0, text, strlen(text), WABOT_OK);
    return rc < 0 ? rc : 1;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII-only: strncasecmp() would follow the process locale. */
static int ascii_caseeq(const char *a, const char *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(x[i]) != ascii_lower(y[i]))
            return 0;
    return 1;
}

/* Trim white space from both ends of s[0..*n); returns the new start.
 * Stepping one byte over non-space bytes is safe: no byte inside a
 * multi-byte sequence can start a white-space code point. */
static const char *trim_space(const char *s, size_t *n)
{
    size_t start = 0, end = 0, i = 0;
    int seen = 0;
    while (i < *n) {
        size_t sp = wb_fold_space_len(s + i, *n - i);
        if (sp) {
            i += sp;
            continue;
        }
        if (!seen)
            start = i;
        seen = 1;
        end = ++i;
    }
    *n = seen ? end - start : 0;
    return s + (seen ? start : *n);
}

static int match_command(const wb_route *rt, wabot_turn *turn,
                         const char *text)
{
    const char *prefix = command_prefix(wabot_turn_ctx(turn));
    size_t n = strlen(text), pn = strlen(prefix);
    if (n < pn + rt->arg_len || memcmp(text, prefix, pn) != 0 ||
        !ascii_caseeq(text + pn, rt->arg, rt->arg_len))
        return 0;
    const char *rest = text + pn + rt->arg_len;
    size_t rn = n - pn - rt->arg_len;
    if (rn > 0 && wb_fold_space_len(rest, rn) == 0)
        return 0; /* "/helpme" is not "/help" */
    rest = trim_space(rest, &rn);
    int rc = capture(turn, 0, text, n, WABOT_OK);
    rc = capture(turn, 1, rest, rn, rc);
    return rc < 0 ? rc : 1;
}

static int match_regex(const wb_route *rt, wabot_turn *turn,
                       const char *text)
{
    regmatch_t m[WB_MAX_CAPTURES];
    size_t nm = rt->re.re_nsub + 1;
    if (nm > WB_MAX_CAPTURES)
        nm = WB_MAX_CAPTURES;
    if (regexec(&rt->re, text, nm, m, 0) != 0)
        return 0;
    int rc = WABOT_OK;
    for (size_t i = 0; i < nm; i++) {
        if (m[i].rm_so < 0) /* an optional group that did not take part */
            rc = capture(turn, i, "", 0, rc);
        else
            rc = capture(turn, i, text + m[i].rm_so,
                         (size_t)(m[i].rm_eo - m[i].rm_so), rc);
    }
    return rc < 0 ? rc : 1;
}

static int match_payload(const wb_route *rt, wabot_turn *turn,
                         const char *payload)
{
    size_t n = strlen(payload);
    if (n == 0 || n < rt->arg_len || memcmp(payload, rt->arg, rt->arg_len))
        return 0;
    if (!rt->payload_prefix && n != rt->arg_len)
        return 0;
    int rc = capture(turn, 0, payload, n, WABOT_OK);
    if (rt->payload_prefix)
        rc = capture(turn, 1, payload + rt->arg_len, n - rt->arg_len, rc);
    return rc < 0 ? rc : 1;
}

static int route_match(const wb_route *rt, wabot_turn *turn)
{
    const wabot_message *m = wabot_turn_message(turn);
    /* Another organisation's route is not there for this turn. */
    if (rt->org && strcmp(rt->org, wabot_turn_organization(turn)) != 0)
        return 0;
    /* Captures belong to the route that matches, never to an earlier
     * attempt (checked first: clearing walks every slot). */
    if (wabot_turn_capture_count(turn) > 0)
        wb_turn_clear_captures(turn);
    switch (rt->kind) {
    case ROUTE_KEYWORD:
        return match_keyword(rt, turn, wabot_message_text(m));
    case ROUTE_COMMAND:
        return match_command(rt, turn, wabot_message_text(m));
    case ROUTE_REGEX:
        return match_regex(rt, turn, wabot_message_text(m));
    case ROUTE_PAYLOAD:
        return match_payload(rt, turn, wabot_message_payload(m));
    case ROUTE_TYPE:
        return wabot_message_type(m) == rt->type;
    }
    return 0;
}

/* Try the routes of one pass (scoped: state equals `state`; unscoped:
 * state NULL). Returns 1 and sets *rc to the handler's status when one
 * ran, -1 with *rc set on a capture failure, else 0. */
static int run_pass(const wb_router *r, wabot_turn *turn,
                    const char *state, int *rc)
{
    for (size_t i = 0; i < r->n_routes; i++) {
        const wb_route *rt = r->routes[i];
        if (state ? !(rt->state && strcmp(rt->state, state) == 0)
                  : rt->state != NULL)
            continue;
        int m = route_match(rt, turn);
        if (m < 0) {
            *rc = wb_error(wabot_turn_ctx(turn), m,
                           "router: cannot store the captures of a route");
            return -1;
        }
        if (m) {
            wabot_turn_set_handled(turn);
            *rc = rt->fn(turn, rt->ud);
            return 1;
        }
    }
    return 0;
}

int wb_router_turn_end(wabot_turn *turn)
{
    wabot_ctx *ctx = wabot_turn_ctx(turn);
    return wb_router_dispatch(ctx ? ctx->router : NULL, turn);
}

int wb_router_dispatch(wb_router *r, wabot_turn *turn)
{
    if (!r || !turn)
        return WABOT_ERR_INVAL;
    const char *state = wabot_turn_state(turn);
    if (!state)
        state = "";
    int rc = WABOT_OK;
    if (run_pass(r, turn, state, &rc) || run_pass(r, turn, NULL, &rc))
        return rc;
    const wb_fallback *fb =
        turn_fallback(r, state, wabot_turn_organization(turn));
    if (wabot_turn_capture_count(turn) > 0)
        wb_turn_clear_captures(turn);
    if (!fb)
        return WABOT_OK;
    wabot_turn_set_handled(turn);
    return fb->fn(turn, fb->ud);
}

char *wabot_route_keyword_fold(const char *text)
{
    if (!text)
        return NULL;
    size_t n = strlen(text);
    /* libc, not a context allocator: the caller frees with wabot_free(). */
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    wb_keyword_fold_to(text, n, out);
    return out;
}
