/* The module registry of a context: module instances in creation order,
 * their pipeline middlewares and the hooks they offer each other. The
 * context knows modules only through this registry. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "module.h"
#include "options.h"
#include "strbuf.h"

struct wabot_module {
    wabot_ctx *ctx;
    const wabot_module_def *def;
    void *ud;
    void *data;
    size_t opt_base;   /* index of its first option in the schema */
    int in_create;
    int created;
};

/* A subscriber: the host's (fn, JSON events) or the library's own
 * (event_fn, the emitter's C event as is). */
typedef struct hook_sub {
    char *hook;
    wabot_hook_fn fn;
    wb_hook_event_fn event_fn;
    void *ud;
    wabot_destroy_fn destroy;
} hook_sub;

struct wb_modules {
    wabot_module *mods; /* creation order */
    size_t n;
    hook_sub *subs;
    size_t n_subs, cap_subs;
};

/* ------------------------------------------------------------------ */
/* Creation in dependency order                                        */

enum { UNSEEN, VISITING, PLACED };

typedef struct order_state {
    const wb_schema *s;
    int *mark;
    size_t *order;
    size_t n;
    char *why;
    size_t why_len;
} order_state;

static long spec_index(const wb_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_mods; i++)
        if (strcmp(s->mods[i].def->name, name) == 0)
            return (long)i;
    return -1;
}

/* Depth-first: every required module before the module itself. */
static int place(order_state *st, size_t i)
{
    if (st->mark[i] == PLACED)
        return WABOT_OK;
    const wabot_module_def *def = st->s->mods[i].def;
    if (st->mark[i] == VISITING) {
        snprintf(st->why, st->why_len, "module %s: circular requires",
                 def->name);
        return WABOT_ERR_INVAL;
    }
    st->mark[i] = VISITING;
    for (const char *const *r = def->requires; r && *r; r++) {
        long j = spec_index(st->s, *r);
        if (j < 0) {
            snprintf(st->why, st->why_len,
                     "module %s requires module %s, which was not added",
                     def->name, *r);
            return WABOT_ERR_INVAL;
        }
        int rc = place(st, (size_t)j);
        if (rc != WABOT_OK)
            return rc;
    }
    st->mark[i] = PLACED;
    st->order[st->n++] = i;
    return WABOT_OK;
}

static int creation_order(const wb_schema *s, size_t *order, int *mark,
                          char *why, size_t n)
{
    order_state st = {s, mark, order, 0, why, n};
    for (size_t i = 0; i < s->n_mods; i++) {
        int rc = place(&st, i);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

int wb_modules_create(wabot_ctx *ctx, char *why, size_t why_len)
{
    const wb_schema *s = ctx->schema;
    wb_modules *r = wb_calloc(&ctx->alloc, 1, sizeof *r);
    if (!r)
        return WABOT_ERR_NOMEM;
    ctx->modules = r;
    if (s->n_mods == 0)
        return WABOT_OK;
    size_t *order = wb_calloc(&ctx->alloc, s->n_mods, sizeof *order);
    int *mark = wb_calloc(&ctx->alloc, s->n_mods, sizeof *mark);
    r->mods = wb_calloc(&ctx->alloc, s->n_mods, sizeof *r->mods);
    int rc = order && mark && r->mods ? WABOT_OK : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = creation_order(s, order, mark, why, why_len);
    for (size_t k = 0; rc == WABOT_OK && k < s->n_mods; k++) {
        const wb_modspec *spec = &s->mods[order[k]];
        wabot_module *m = &r->mods[r->n++];
        *m = (wabot_module){ctx, spec->def, spec->ud, NULL, spec->opt_base,
                            1, 0};
        rc = spec->def->create ? spec->def->create(m, spec->ud) : WABOT_OK;
        m->in_create = 0;
        if (rc != WABOT_OK) {
            snprintf(why, why_len, "module %s: create failed: %s%s%s",
                     spec->def->name, wabot_strerror(rc),
                     *wabot_ctx_errmsg(ctx) ? ": " : "",
                     wabot_ctx_errmsg(ctx));
            r->n--; /* not created: no destroy */
        } else {
            m->created = 1;
        }
    }
    wb_free(&ctx->alloc, order);
    wb_free(&ctx->alloc, mark);
    return rc;
}

void wb_modules_destroy(wabot_ctx *ctx)
{
    wb_modules *r = ctx->modules;
    if (!r)
        return;
    for (size_t k = r->n; k-- > 0;) {
        wabot_module *m = &r->mods[k];
        if (m->created && m->def->destroy)
            m->def->destroy(m, m->ud);
        m->created = 0;
    }
}

void wb_modules_free(wabot_ctx *ctx)
{
    wb_modules *r = ctx->modules;
    if (!r)
        return;
    wb_modules_destroy(ctx);
    for (size_t i = 0; i < r->n_subs; i++) {
        if (r->subs[i].destroy)
            r->subs[i].destroy(r->subs[i].ud);
        wb_free(&ctx->alloc, r->subs[i].hook);
    }
    wb_free(&ctx->alloc, r->subs);
    wb_free(&ctx->alloc, r->mods);
    wb_free(&ctx->alloc, r);
    ctx->modules = NULL;
}

/* ------------------------------------------------------------------ */
/* Lookup and accessors                                                */

size_t wabot_ctx_module_count(const wabot_ctx *ctx)
{
    return ctx && ctx->modules ? ctx->modules->n : 0;
}

wabot_module *wabot_ctx_module_at(const wabot_ctx *ctx, size_t i)
{
    return i < wabot_ctx_module_count(ctx) ? &ctx->modules->mods[i] : NULL;
}

wabot_module *wabot_ctx_module(const wabot_ctx *ctx, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < wabot_ctx_module_count(ctx); i++)
        if (strcmp(ctx->modules->mods[i].def->name, name) == 0)
            return &ctx->modules->mods[i];
    return NULL;
}

wabot_ctx *wabot_module_ctx(const wabot_module *m)
{
    return m ? m->ctx : NULL;
}

const char *wabot_module_name(const wabot_module *m)
{
    return m ? m->def->name : NULL;
}

const wabot_module_def *wabot_module_descriptor(const wabot_module *m)
{
    return m ? m->def : NULL;
}

void *wabot_module_data(const wabot_module *m)
{
    return m ? m->data : NULL;
}

void wabot_module_set_data(wabot_module *m, void *data)
{
    if (m)
        m->data = data;
}

static int module_value(const wabot_module *m, const char *org, size_t i,
                        wb_optval *v)
{
    if (!m || i >= m->def->n_options)
        return WABOT_ERR_INVAL;
    return wb_ctx_option_value(m->ctx, org, m->opt_base + i, v);
}

int wabot_module_option_int(const wabot_module *m, const char *org, size_t i,
                            int64_t *value)
{
    wb_optval v;
    if (!value || module_value(m, org, i, &v) != WABOT_OK ||
        m->def->options[i].type == WABOT_OPTION_STRING)
        return m ? wb_error(m->ctx, WABOT_ERR_INVAL,
                            "module %s has no integer option %zu",
                            m->def->name, i)
                 : WABOT_ERR_INVAL;
    *value = v.i;
    return WABOT_OK;
}

const char *wabot_module_option_str(const wabot_module *m, const char *org,
                                    size_t i)
{
    wb_optval v;
    if (module_value(m, org, i, &v) != WABOT_OK ||
        m->def->options[i].type != WABOT_OPTION_STRING)
        return NULL;
    return v.s;
}

/* ------------------------------------------------------------------ */
/* Pipeline stages                                                     */

int wabot_module_use(wabot_module *m, wabot_stage stage, const char *name,
                     wabot_middleware_fn fn, void *ud)
{
    if (!m || !fn)
        return WABOT_ERR_INVAL;
    if (stage != WABOT_STAGE_TURN && stage != WABOT_STAGE_ADMIT)
        return wb_error(m->ctx, WABOT_ERR_INVAL, "unknown stage %d",
                        (int)stage);
    if (!m->in_create)
        return wb_error(m->ctx, WABOT_ERR_STATE,
                        "module %s: wabot_module_use outside create",
                        m->def->name);
    /* Modules are created before the host can call wabot_use(), so
     * appending puts module middlewares first, in creation order. */
    char label[160];
    snprintf(label, sizeof label, "%s:%s", m->def->name, name ? name : "");
    return wb_ctx_add_middleware(m->ctx, stage == WABOT_STAGE_ADMIT, label,
                                 fn, ud, NULL);
}

/* ------------------------------------------------------------------ */
/* Hooks                                                               */

/* The module declaring full hook name `hook` ("mod.name"), or NULL. */
static const wabot_module *hook_owner(const wabot_ctx *ctx, const char *hook)
{
    const char *dot = strchr(hook, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < wabot_ctx_module_count(ctx); i++) {
        const wabot_module *m = &ctx->modules->mods[i];
        size_t n = strlen(m->def->name);
        if ((size_t)(dot - hook) != n || strncmp(hook, m->def->name, n) != 0)
            continue;
        for (const char *const *h = m->def->hooks; h && *h; h++)
            if (strcmp(*h, dot + 1) == 0)
                return m;
        return NULL;
    }
    return NULL;
}

static int add_sub(wabot_ctx *ctx, const char *hook, hook_sub sub)
{
    if (!hook_owner(ctx, hook))
        return wb_error(ctx, WABOT_ERR_NOT_FOUND,
                        "no module declares hook \"%s\"", hook);
    wb_modules *r = ctx->modules;
    void *items = r->subs;
    char *copy = wb_strdup(&ctx->alloc, hook);
    if (!copy || wb_grow(&ctx->alloc, &items, r->n_subs + 1, &r->cap_subs,
                         sizeof *r->subs) != WABOT_OK) {
        wb_free(&ctx->alloc, copy);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    r->subs = items;
    sub.hook = copy;
    r->subs[r->n_subs++] = sub;
    return WABOT_OK;
}

int wabot_hook_subscribe(wabot_ctx *ctx, const char *hook, wabot_hook_fn fn,
                         void *ud, wabot_destroy_fn destroy)
{
    if (!ctx || !ctx->modules)
        return WABOT_ERR_INVAL;
    if (!hook || !fn)
        return wb_error(ctx, WABOT_ERR_INVAL, "hook and fn must not be NULL");
    return add_sub(ctx, hook, (hook_sub){NULL, fn, NULL, ud, destroy});
}

int wb_hook_subscribe_event(wabot_ctx *ctx, const char *hook,
                            wb_hook_event_fn fn, void *ud)
{
    if (!ctx || !ctx->modules || !hook || !fn)
        return WABOT_ERR_INVAL;
    return add_sub(ctx, hook, (hook_sub){NULL, NULL, fn, ud, NULL});
}

static int declares(const wabot_module *m, const char *name)
{
    for (const char *const *h = m->def->hooks; h && *h; h++)
        if (strcmp(*h, name) == 0)
            return 1;
    return 0;
}

static void full_name(char *full, size_t n, const wabot_module *m,
                      const char *name)
{
    /* once per event emitted: joined, printf only for a name too long */
    if (WB_JOIN(full, n, m->def->name, ".", name) < 0)
        snprintf(full, n, "%s.%s", m->def->name, name);
}

int wabot_hook_emit(wabot_module *m, const char *name, const char *json,
                    size_t len)
{
    if (!m || !name || (!json && len))
        return WABOT_ERR_INVAL;
    wabot_ctx *ctx = m->ctx;
    if (!declares(m, name))
        return wb_error(ctx, WABOT_ERR_NOT_FOUND,
                        "module %s declares no hook \"%s\"", m->def->name,
                        name);
    json_error_t err;
    json_t *doc = json_loadb(json ? json : "", len, JSON_DECODE_ANY, &err);
    if (!doc)
        return wb_error(ctx, WABOT_ERR_PARSE, "hook %s.%s: event is not "
                        "JSON: %s", m->def->name, name, err.text);
    json_decref(doc);
    char full[160];
    full_name(full, sizeof full, m, name);
    int first = WABOT_OK;
    const wb_modules *r = ctx->modules;
    for (size_t i = 0; i < r->n_subs; i++) {
        if (strcmp(r->subs[i].hook, full) != 0 || !r->subs[i].fn)
            continue;
        int rc = r->subs[i].fn(ctx, full, json ? json : "", len,
                               r->subs[i].ud);
        if (rc < 0 && first == WABOT_OK)
            first = rc;
    }
    return first;
}

/* The library's own emitters: its subscribers get the event as is, the
 * host's its JSON, built once and only when one of them listens (the
 * JSON is the library's own, valid by construction). */
int wb_hook_emit_event(wabot_module *m, const char *name, const void *ev,
                       wb_hook_json_fn to_json)
{
    wabot_ctx *ctx = m->ctx;
    char full[160];
    full_name(full, sizeof full, m, name);
    wb_strbuf json;
    wb_strbuf_init(&json, &ctx->alloc);
    int first = WABOT_OK, built = 0;
    const wb_modules *r = ctx->modules;
    for (size_t i = 0; i < r->n_subs; i++) {
        const hook_sub *sub = &r->subs[i];
        if (strcmp(sub->hook, full) != 0)
            continue;
        int rc;
        if (sub->event_fn) {
            rc = sub->event_fn(ctx, ev, sub->ud);
        } else {
            if (!built++)
                to_json(ev, &json);
            rc = json.oom ? WABOT_ERR_NOMEM
                          : sub->fn(ctx, full, json.data, json.len, sub->ud);
        }
        if (rc < 0 && first == WABOT_OK)
            first = rc;
    }
    wb_strbuf_free(&json);
    return first;
}

size_t wabot_hook_subscriber_count(const wabot_ctx *ctx, const char *hook)
{
    if (!ctx || !ctx->modules || !hook)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < ctx->modules->n_subs; i++)
        n += strcmp(ctx->modules->subs[i].hook, hook) == 0;
    return n;
}
