/* Options: the option schema (lib/core/option_schema.c) drives the typed
 * setters, the by-name and environment setters, the listing and the
 * per-organisation overrides; values live here until a context copies
 * them. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctx.h"
#include "options.h"
#include "versioned.h"

/* The caller-filled structs as each version laid them out. */
static const size_t clock_sizes[] = {sizeof(wabot_clock)};
static const size_t allocator_sizes[] = {sizeof(wabot_allocator)};

extern char **environ;

/* A failure's detail stays on the options (wabot_options_errmsg: until
 * the next call on them) and goes to this thread's slot (wabot_errmsg). */
int wb_options_fail(wabot_options *o, int rc)
{
    if (rc < 0)
        wb_detail(o, rc, "%s", o->errmsg);
    return rc;
}

int wb_options_error(wabot_options *o, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->errmsg, sizeof o->errmsg, fmt, ap);
    va_end(ap);
    return wb_options_fail(o, rc);
}

#define opt_error wb_options_error

static int opt_ok(wabot_options *o)
{
    o->errmsg[0] = '\0';
    return WABOT_OK;
}

wabot_options *wabot_options_new(void)
{
    wabot_options *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->schema = wb_schema_builtin();
    o->vals = o->schema ? calloc(o->schema->n, sizeof *o->vals) : NULL;
    o->orgs = wb_orgopts_new(NULL);
    if (!o->vals || !o->orgs ||
        wb_optvals_init(o->schema, o->vals, NULL) != WABOT_OK) {
        free(o->vals);
        wb_orgopts_free(o->orgs);
        wb_schema_unref(o->schema);
        free(o);
        return NULL;
    }
    return o;
}

void wabot_options_free(wabot_options *o)
{
    if (!o)
        return;
    wb_optvals_free(o->vals, o->schema->n, NULL);
    free(o->vals);
    wb_orgopts_free(o->orgs);
    wb_schema_unref(o->schema);
    free(o);
}

const char *wabot_options_errmsg(const wabot_options *o)
{
    return o ? o->errmsg : "options is NULL";
}

/* ------------------------------------------------------------------ */
/* Setting                                                             */

static const wb_optdef *def_of_id(const wabot_options *o, wabot_option id,
                                  long *index)
{
    long i = wb_schema_find_id(o->schema, id);
    if (index)
        *index = i;
    return i < 0 ? NULL : &o->schema->defs[i];
}

static int set_value(wabot_options *o, long i, const wb_optval *v)
{
    wb_optval *slot = &o->vals[i];
    if (o->schema->defs[i].type == WABOT_OPTION_STRING) {
        free(slot->s);
        slot->s = v->s;
    } else {
        slot->i = v->i;
    }
    return opt_ok(o);
}

static int set_int_at(wabot_options *o, long i, int64_t value)
{
    const wb_optdef *d = &o->schema->defs[i];
    int rc = wb_optval_check_int(d, value, o->errmsg, sizeof o->errmsg);
    if (rc != WABOT_OK)
        return wb_options_fail(o, rc);
    wb_optval v = {value, NULL};
    return set_value(o, i, &v);
}

static int set_str_at(wabot_options *o, long i, const char *value)
{
    const wb_optdef *d = &o->schema->defs[i];
    if (!value)
        value = d->sdef;
    wb_optval v;
    int rc = wb_optval_parse(d, value, &v, NULL, o->errmsg, sizeof o->errmsg);
    return rc == WABOT_OK ? set_value(o, i, &v) : wb_options_fail(o, rc);
}

static int is_int_type(wabot_option_type t)
{
    return t != WABOT_OPTION_STRING;
}

int wabot_options_set_int(wabot_options *o, wabot_option opt, int64_t value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    long i;
    const wb_optdef *d = def_of_id(o, opt, &i);
    if (!d)
        return opt_error(o, WABOT_ERR_INVAL, "unknown option id %d",
                         (int)opt);
    if (!is_int_type(d->type))
        return opt_error(o, WABOT_ERR_INVAL, "%s is a string option: use "
                         "wabot_options_set_str", d->name);
    return set_int_at(o, i, value);
}

int wabot_options_set_str(wabot_options *o, wabot_option opt,
                          const char *value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    long i;
    const wb_optdef *d = def_of_id(o, opt, &i);
    if (!d)
        return opt_error(o, WABOT_ERR_INVAL, "unknown option id %d",
                         (int)opt);
    if (is_int_type(d->type))
        return opt_error(o, WABOT_ERR_INVAL, "%s is an integer option: use "
                         "wabot_options_set_int", d->name);
    return set_str_at(o, i, value);
}

int wabot_options_get_int(const wabot_options *o, wabot_option opt,
                          int64_t *value)
{
    long i;
    const wb_optdef *d = o ? def_of_id(o, opt, &i) : NULL;
    if (!d || !value || !is_int_type(d->type))
        return WABOT_ERR_INVAL;
    *value = o->vals[i].i;
    return WABOT_OK;
}

int wabot_options_get_str(const wabot_options *o, wabot_option opt,
                          const char **value)
{
    long i;
    const wb_optdef *d = o ? def_of_id(o, opt, &i) : NULL;
    if (!d || !value || is_int_type(d->type))
        return WABOT_ERR_INVAL;
    *value = o->vals[i].s;
    return WABOT_OK;
}

/* Parse `value` for option i into a new value; errors into errmsg. */
static int parse_at(wabot_options *o, long i, const char *value,
                    wb_optval *v)
{
    return wb_options_fail(o, wb_optval_parse(&o->schema->defs[i], value, v,
                                              NULL, o->errmsg,
                                              sizeof o->errmsg));
}

int wabot_options_set(wabot_options *o, const char *name, const char *value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!name || !value)
        return opt_error(o, WABOT_ERR_INVAL,
                         "name and value must not be NULL");
    long i = wb_schema_find(o->schema, name);
    if (i < 0)
        return opt_error(o, WABOT_ERR_INVAL, "unknown option \"%s\"", name);
    wb_optval v;
    int rc = parse_at(o, i, value, &v);
    return rc == WABOT_OK ? set_value(o, i, &v) : rc;
}

int wabot_options_set_org(wabot_options *o, const char *org,
                          const char *name, const char *value)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!org || !org[0] || !name || !value)
        return opt_error(o, WABOT_ERR_INVAL,
                         "org, name and value must not be NULL or empty");
    long i = wb_schema_find(o->schema, name);
    if (i < 0)
        return opt_error(o, WABOT_ERR_INVAL, "unknown option \"%s\"", name);
    const wb_optdef *d = &o->schema->defs[i];
    if (!(d->flags & WABOT_OPTION_PER_ORG))
        return opt_error(o, WABOT_ERR_INVAL, "%s cannot be set per "
                         "organisation", d->name);
    wb_optval v;
    int rc = parse_at(o, i, value, &v);
    if (rc != WABOT_OK)
        return rc;
    rc = wb_orgopts_set(o->orgs, org, (size_t)i, &v, d->type);
    free(v.s);
    return rc == WABOT_OK ? opt_ok(o) : rc;
}

/* ------------------------------------------------------------------ */
/* The environment                                                     */

static const char *env_value(const char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = envp; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int env_set(wabot_options *o, long i, const char *var,
                   const char *value)
{
    wb_optval v;
    char why[sizeof o->errmsg];
    int rc = wb_optval_parse(&o->schema->defs[i], value, &v, NULL, why,
                             sizeof why);
    if (rc != WABOT_OK)
        return opt_error(o, rc, "%s: %s", var, why);
    return set_value(o, i, &v);
}

#define OPT_ENV_PREFIX "WABOT_OPT_"

/* WABOT_OPT_<NAME>=value, the older spelling. */
static int apply_prefixed(wabot_options *o, const char *entry)
{
    const char *name = entry + strlen(OPT_ENV_PREFIX);
    const char *eq = strchr(name, '=');
    if (!eq)
        return WABOT_OK;
    char key[160];
    if ((size_t)(eq - name) >= sizeof key)
        return opt_error(o, WABOT_ERR_INVAL, "%.*s: unknown option",
                         (int)(eq - entry), entry);
    memcpy(key, name, (size_t)(eq - name));
    key[eq - name] = '\0';
    long i = wb_schema_find(o->schema, key);
    if (i < 0)
        return opt_error(o, WABOT_ERR_INVAL, "%s%s: unknown option",
                         OPT_ENV_PREFIX, key);
    char var[sizeof key + 16];
    snprintf(var, sizeof var, "%s%s", OPT_ENV_PREFIX, key);
    return env_set(o, i, var, eq + 1);
}

int wabot_options_apply_env(wabot_options *o, const char *const *envp)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!envp)
        envp = (const char *const *)environ;
    for (const char *const *e = envp; *e; e++) {
        if (strncmp(*e, OPT_ENV_PREFIX, strlen(OPT_ENV_PREFIX)) != 0)
            continue;
        int rc = apply_prefixed(o, *e);
        if (rc != WABOT_OK)
            return rc;
    }
    /* The option's own variable wins over the older spelling. */
    for (size_t i = 0; i < o->schema->n; i++) {
        const char *var = o->schema->defs[i].env;
        const char *v = env_value(envp, var);
        if (!v)
            continue;
        int rc = env_set(o, (long)i, var, v);
        if (rc != WABOT_OK)
            return rc;
    }
    return opt_ok(o);
}

/* ------------------------------------------------------------------ */
/* Listing                                                             */

static const wb_optdef *def_at(const wabot_options *o, size_t i)
{
    return o && i < o->schema->n ? &o->schema->defs[i] : NULL;
}

size_t wabot_options_count(const wabot_options *o)
{
    return o ? o->schema->n : 0;
}

const char *wabot_options_name(const wabot_options *o, size_t i)
{
    const wb_optdef *d = def_at(o, i);
    return d ? d->name : NULL;
}

wabot_option_type wabot_options_type(const wabot_options *o, size_t i)
{
    const wb_optdef *d = def_at(o, i);
    return d ? d->type : (wabot_option_type)0;
}

uint32_t wabot_options_flags(const wabot_options *o, size_t i)
{
    const wb_optdef *d = def_at(o, i);
    return d ? d->flags : 0;
}

const char *wabot_options_doc(const wabot_options *o, size_t i)
{
    const wb_optdef *d = def_at(o, i);
    return d ? d->doc : NULL;
}

const char *wabot_options_group(const wabot_options *o, size_t i)
{
    const wb_optdef *d = def_at(o, i);
    return d ? d->group : NULL;
}

const char *wabot_options_env(const wabot_options *o, size_t i)
{
    const wb_optdef *d = def_at(o, i);
    return d ? d->env : NULL;
}

int wabot_options_range(const wabot_options *o, size_t i, int64_t *min,
                        int64_t *max)
{
    const wb_optdef *d = def_at(o, i);
    if (!d || !min || !max ||
        (d->type != WABOT_OPTION_INT && d->type != WABOT_OPTION_DURATION &&
         d->type != WABOT_OPTION_BYTES))
        return WABOT_ERR_INVAL;
    *min = d->imin;
    *max = d->imax;
    return WABOT_OK;
}

const char *wabot_options_choice(const wabot_options *o, size_t i, size_t j)
{
    const wb_optdef *d = def_at(o, i);
    if (!d || d->type != WABOT_OPTION_ENUM)
        return NULL;
    for (size_t k = 0; d->choices[k]; k++)
        if (k == j)
            return d->choices[k];
    return NULL;
}

int wabot_options_find(const wabot_options *o, const char *name,
                       size_t *index)
{
    if (!o || !name || !index)
        return WABOT_ERR_INVAL;
    long i = wb_schema_find(o->schema, name);
    if (i < 0)
        return WABOT_ERR_NOT_FOUND;
    *index = (size_t)i;
    return WABOT_OK;
}

int wabot_options_format(const wabot_options *o, size_t i, int which,
                         char *buf, size_t len)
{
    const wb_optdef *d = def_at(o, i);
    if (!d || (!buf && len))
        return WABOT_ERR_INVAL;
    wb_optval dflt = {d->idef, (char *)d->sdef};
    return wb_optval_format(d, which ? &dflt : &o->vals[i], buf, len);
}

/* ------------------------------------------------------------------ */
/* Modules                                                             */

int wabot_options_add_module(wabot_options *o, const wabot_module_def *def,
                             void *ud)
{
    if (!o)
        return WABOT_ERR_INVAL;
    wb_schema *t;
    int rc = wb_schema_with_module(o->schema, def, ud, &t, o->errmsg,
                                   sizeof o->errmsg);
    if (rc != WABOT_OK)
        return wb_options_fail(o, rc);
    wb_optval *vals = calloc(t->n, sizeof *vals);
    if (!vals) {
        wb_schema_unref(t);
        return opt_error(o, WABOT_ERR_NOMEM, "out of memory");
    }
    size_t old = o->schema->n;
    memcpy(vals, o->vals, old * sizeof *vals);
    wb_schema tail = *t; /* defaults for the new options only */
    tail.defs = t->defs + old;
    tail.n = t->n - old;
    if (wb_optvals_init(&tail, vals + old, NULL) != WABOT_OK) {
        free(vals);
        wb_schema_unref(t);
        return opt_error(o, WABOT_ERR_NOMEM, "out of memory");
    }
    free(o->vals);
    o->vals = vals;
    wb_schema_unref(o->schema);
    o->schema = t;
    return opt_ok(o);
}

/* ------------------------------------------------------------------ */
/* The context's copy                                                  */

static void cfg_load(wb_config *c, const wb_schema *s, const wb_optval *v)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < s->n; i++) {
        const wb_optdef *d = &s->defs[i];
        if (d->cfg_off < 0)
            continue;
        char *slot = (char *)c + d->cfg_off;
        if (d->type == WABOT_OPTION_STRING)
            *(char **)slot = v[i].s;
        else
            *(int64_t *)slot = v[i].i;
    }
}

int wb_ctx_options_init(wabot_ctx *ctx, const wabot_options *opts)
{
    const wabot_allocator *a = &ctx->alloc;
    ctx->schema = opts ? wb_schema_ref(opts->schema) : wb_schema_builtin();
    if (!ctx->schema)
        return WABOT_ERR_NOMEM;
    size_t n = ctx->schema->n;
    ctx->optvals = wb_calloc(a, n, sizeof *ctx->optvals);
    ctx->orgopts = wb_orgopts_new(a);
    if (!ctx->optvals || !ctx->orgopts)
        return WABOT_ERR_NOMEM;
    if (!opts) {
        if (wb_optvals_init(ctx->schema, ctx->optvals, a) != WABOT_OK)
            return WABOT_ERR_NOMEM;
    } else {
        for (size_t i = 0; i < n; i++) {
            ctx->optvals[i].i = opts->vals[i].i;
            if (opts->vals[i].s &&
                !(ctx->optvals[i].s = wb_strdup(a, opts->vals[i].s)))
                return WABOT_ERR_NOMEM;
        }
        if (wb_orgopts_copy(ctx->orgopts, opts->orgs, ctx->schema))
            return WABOT_ERR_NOMEM;
    }
    cfg_load(&ctx->cfg, ctx->schema, ctx->optvals);
    return WABOT_OK;
}

void wb_ctx_options_free(wabot_ctx *ctx)
{
    if (ctx->schema && ctx->optvals)
        wb_optvals_free(ctx->optvals, ctx->schema->n, &ctx->alloc);
    wb_free(&ctx->alloc, ctx->optvals);
    wb_orgopts_free(ctx->orgopts);
    wb_schema_unref(ctx->schema);
    ctx->optvals = NULL;
    ctx->orgopts = NULL;
    ctx->schema = NULL;
}

/* Value of option i for org: its override, else the global value. */
static wb_optval value_for(const wabot_ctx *ctx, const char *org, size_t i)
{
    wb_optval v;
    if ((ctx->schema->defs[i].flags & WABOT_OPTION_PER_ORG) &&
        wb_orgopts_get(ctx->orgopts, org, i, &v))
        return v;
    return ctx->optvals[i];
}

int64_t wb_opt_int(const wabot_ctx *ctx, const char *org, wabot_option id)
{
    long i = wb_schema_find_id(ctx->schema, id);
    return i < 0 ? 0 : value_for(ctx, org, (size_t)i).i;
}

const char *wb_opt_str(const wabot_ctx *ctx, const char *org,
                       wabot_option id)
{
    long i = wb_schema_find_id(ctx->schema, id);
    return i < 0 ? "" : value_for(ctx, org, (size_t)i).s;
}

int wb_ctx_option_value(const wabot_ctx *ctx, const char *org, size_t i,
                        wb_optval *v)
{
    if (i >= ctx->schema->n)
        return WABOT_ERR_INVAL;
    *v = value_for(ctx, org, i);
    return WABOT_OK;
}

int wabot_ctx_set_org_option(wabot_ctx *ctx, const char *org,
                             const char *name, const char *value)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!org || !org[0] || !name || !value)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "org, name and value must not be NULL or empty");
    long i = wb_schema_find(ctx->schema, name);
    if (i < 0)
        return wb_error(ctx, WABOT_ERR_INVAL, "unknown option \"%s\"", name);
    const wb_optdef *d = &ctx->schema->defs[i];
    if (!(d->flags & WABOT_OPTION_PER_ORG))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "%s cannot be set per organisation", d->name);
    wb_optval v;
    char why[256];
    int rc = wb_optval_parse(d, value, &v, &ctx->alloc, why, sizeof why);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "%s", why);
    rc = wb_orgopts_set(ctx->orgopts, org, (size_t)i, &v, d->type);
    wb_free(&ctx->alloc, v.s);
    return rc == WABOT_OK ? WABOT_OK
                          : wb_error(ctx, rc, "out of memory");
}

int wabot_ctx_option_int(const wabot_ctx *ctx, const char *org,
                         const char *name, int64_t *value)
{
    if (!ctx || !name || !value)
        return WABOT_ERR_INVAL;
    long i = wb_schema_find(ctx->schema, name);
    if (i < 0)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND, "unknown option \"%s\"",
                        name);
    if (!is_int_type(ctx->schema->defs[i].type))
        return wb_error(ctx, WABOT_ERR_INVAL, "%s is a string option",
                        ctx->schema->defs[i].name);
    *value = value_for(ctx, org, (size_t)i).i;
    return WABOT_OK;
}

const char *wabot_ctx_option_str(const wabot_ctx *ctx, const char *org,
                                 const char *name)
{
    if (!ctx || !name)
        return NULL;
    long i = wb_schema_find(ctx->schema, name);
    if (i < 0) {
        wb_error(ctx, WABOT_ERR_NOT_FOUND, "unknown option \"%s\"", name);
        return NULL;
    }
    if (is_int_type(ctx->schema->defs[i].type)) {
        wb_error(ctx, WABOT_ERR_INVAL, "%s is not a string option",
                 ctx->schema->defs[i].name);
        return NULL;
    }
    return value_for(ctx, org, (size_t)i).s;
}

int wabot_options_set_log(wabot_options *o, wabot_log_fn fn, void *ud)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->log_fn = fn;
    o->log_ud = ud;
    return WABOT_OK;
}

int wabot_options_set_clock(wabot_options *o, const wabot_clock *clock)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!clock) {
        o->has_clock = 0;
        return WABOT_OK;
    }
    if (clock->version == 0 || !clock->now_ms)
        return opt_error(o, WABOT_ERR_INVAL,
                         "clock needs version >= 1 and now_ms");
    wb_copy_versioned(&o->clock, sizeof o->clock, clock, clock->version,
                      clock_sizes, WB_N_VERSIONS(clock_sizes));
    o->has_clock = 1;
    return WABOT_OK;
}

int wabot_options_set_allocator(wabot_options *o, const wabot_allocator *a)
{
    if (!o)
        return WABOT_ERR_INVAL;
    if (!a) {
        o->has_alloc = 0;
        return WABOT_OK;
    }
    if (a->version == 0 || !a->malloc || !a->realloc || !a->free)
        return opt_error(o, WABOT_ERR_INVAL,
                         "allocator needs version >= 1 and malloc, "
                         "realloc and free");
    wb_copy_versioned(&o->alloc, sizeof o->alloc, a, a->version,
                      allocator_sizes, WB_N_VERSIONS(allocator_sizes));
    o->has_alloc = 1;
    return WABOT_OK;
}

int wabot_options_set_storage(wabot_options *o, wabot_storage *s)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->storage = s;
    return WABOT_OK;
}

int wabot_options_set_scheduler(wabot_options *o, wabot_scheduler *s)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->scheduler = s;
    return WABOT_OK;
}

int wabot_options_set_http_client(wabot_options *o, wabot_http_client *c)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->http_client = c;
    return WABOT_OK;
}

int wabot_options_set_limiter(wabot_options *o, wabot_limiter *l)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->limiter = l;
    return WABOT_OK;
}

int wabot_options_set_transport(wabot_options *o, wabot_transport *t)
{
    if (!o)
        return WABOT_ERR_INVAL;
    o->transport = t;
    return WABOT_OK;
}
