/* The option schema: the library's table plus the option tables of the
 * modules added to an options object, with derived names and environment
 * variables. Immutable once built and shared by reference count, so a
 * context keeps the schema it was made from whatever happens to the
 * options afterwards. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

#define NAME_MAX_LEN 64

static wb_schema *schema_alloc(size_t n_defs, size_t n_mods)
{
    wb_schema *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->defs = calloc(n_defs ? n_defs : 1, sizeof *s->defs);
    s->mods = calloc(n_mods ? n_mods : 1, sizeof *s->mods);
    if (!s->defs || !s->mods) {
        free(s->defs);
        free(s->mods);
        free(s);
        return NULL;
    }
    memset(s->by_id, 0xff, sizeof s->by_id);
    return s;
}

static void schema_free(wb_schema *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->defs[i].name);
        free(s->defs[i].env);
    }
    free(s->defs);
    free(s->mods);
    free(s);
}

wb_schema *wb_schema_ref(wb_schema *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void wb_schema_unref(wb_schema *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        schema_free(s);
}

/* "WABOT_" + upper(name) with '.' -> '_'. */
static char *derive_env(const char *name)
{
    size_t n = strlen(name);
    char *e = malloc(n + 7);
    if (!e)
        return NULL;
    memcpy(e, "WABOT_", 6);
    for (size_t i = 0; i <= n; i++)
        e[6 + i] = name[i] == '.' ? '_' : (char)toupper((unsigned char)name[i]);
    return e;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static int fill_names(wb_optdef *d, const char *name, const char *env)
{
    d->name = lower_dup(name);
    d->env = d->name ? (env ? strdup(env) : derive_env(d->name)) : NULL;
    return d->name && d->env ? WABOT_OK : WABOT_ERR_NOMEM;
}

static wb_schema *builtin_options(void)
{
    wb_schema *s = schema_alloc(wb_n_builtin_options, 0);
    if (!s)
        return NULL;
    for (size_t i = 0; i < wb_n_builtin_options; i++) {
        const wb_builtin_option *b = &wb_builtin_options[i];
        wb_optdef *d = &s->defs[s->n++];
        d->id = b->id;
        d->group = b->group;
        d->doc = b->doc;
        d->type = b->type;
        d->flags = b->flags;
        d->idef = b->idef;
        d->imin = b->imin;
        d->imax = b->imax;
        d->sdef = b->sdef ? b->sdef : "";
        d->choices = b->choices;
        d->check = b->check;
        d->cfg_off = (long)b->offset;
        if (fill_names(d, b->name, b->env) != WABOT_OK) {
            schema_free(s);
            return NULL;
        }
        if ((unsigned)b->id < 256)
            s->by_id[b->id] = (int16_t)i;
    }
    return s;
}

wb_schema *wb_schema_builtin(void)
{
    wb_schema *s = builtin_options();
    size_t n;
    const wabot_module_def *const *mods = wb_builtin_modules(&n);
    for (size_t i = 0; s && i < n; i++) {
        wb_schema *t = NULL;
        char why[256];
        if (wb_schema_with_module(s, mods[i], NULL, &t, why, sizeof why))
            t = NULL; /* a library module that does not validate: a bug */
        wb_schema_unref(s);
        s = t;
    }
    return s;
}

static int valid_name(const char *s)
{
    if (!s || !islower((unsigned char)s[0]) || strlen(s) > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
            *s != '_')
            return 0;
    return 1;
}

static int def_error(char *why, size_t n, const char *mod, const char *opt,
                     const char *what)
{
    snprintf(why, n, "module %s: option %s: %s", mod, opt ? opt : "(null)",
             what);
    return WABOT_ERR_INVAL;
}

/* Validate one option definition of module `mod`. */
static int check_def(const char *mod, const wabot_option_def *o, char *why,
                     size_t n)
{
    if (o->version == 0)
        return def_error(why, n, mod, o->name, "version must be >= 1");
    if (!valid_name(o->name))
        return def_error(why, n, mod, o->name,
                         "name must match [a-z][a-z0-9_]* (64 bytes max)");
    if (o->type < WABOT_OPTION_INT || o->type > WABOT_OPTION_ENUM)
        return def_error(why, n, mod, o->name, "unknown type");
    if (o->type == WABOT_OPTION_ENUM && (!o->choices || !o->choices[0]))
        return def_error(why, n, mod, o->name, "an enum needs choices");
    if ((o->type == WABOT_OPTION_INT || o->type == WABOT_OPTION_DURATION ||
         o->type == WABOT_OPTION_BYTES) &&
        (o->int_min > o->int_max || o->int_default < o->int_min ||
         o->int_default > o->int_max))
        return def_error(why, n, mod, o->name,
                         "needs min <= default <= max");
    return WABOT_OK;
}

static void def_from_module(wb_optdef *d, const wabot_module_def *m,
                            const wabot_option_def *o)
{
    d->group = m->name;
    d->doc = o->doc ? o->doc : "";
    d->type = o->type;
    d->flags = o->flags;
    d->idef = o->int_default;
    d->imin = o->int_min;
    d->imax = o->int_max;
    if (o->type == WABOT_OPTION_BOOL) {
        d->imin = 0;
        d->imax = 1;
    }
    d->sdef = o->str_default ? o->str_default : "";
    d->choices = o->choices;
    d->check = o->check;
    d->cfg_off = -1;
}

static int check_module(const wb_schema *s, const wabot_module_def *m,
                        char *why, size_t n)
{
    if (!m || m->version == 0) {
        snprintf(why, n, "module descriptor is NULL or has version 0");
        return WABOT_ERR_INVAL;
    }
    if (!valid_name(m->name)) {
        snprintf(why, n, "module name \"%s\" must match [a-z][a-z0-9_]*",
                 m->name ? m->name : "(null)");
        return WABOT_ERR_INVAL;
    }
    for (size_t i = 0; i < s->n_mods; i++) {
        if (strcmp(s->mods[i].def->name, m->name) == 0) {
            snprintf(why, n, "module %s was added already", m->name);
            return WABOT_ERR_EXISTS;
        }
    }
    if (m->n_options && !m->options) {
        snprintf(why, n, "module %s: n_options without options", m->name);
        return WABOT_ERR_INVAL;
    }
    for (size_t i = 0; i < m->n_options; i++) {
        int rc = check_def(m->name, &m->options[i], why, n);
        if (rc != WABOT_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->options[j].name, m->options[i].name) == 0)
                return def_error(why, n, m->name, m->options[i].name,
                                 "defined twice");
    }
    return WABOT_OK;
}

int wb_schema_with_module(const wb_schema *s, const wabot_module_def *m,
                          void *ud, wb_schema **out, char *why, size_t n)
{
    *out = NULL;
    int rc = check_module(s, m, why, n);
    if (rc != WABOT_OK)
        return rc;
    wb_schema *t = schema_alloc(s->n + m->n_options, s->n_mods + 1);
    if (!t)
        return WABOT_ERR_NOMEM;
    memcpy(t->by_id, s->by_id, sizeof t->by_id);
    for (size_t i = 0; i < s->n; i++) {
        wb_optdef *d = &t->defs[t->n];
        *d = s->defs[i];
        d->name = NULL;
        d->env = NULL;
        t->n++;
        if (fill_names(d, s->defs[i].name, s->defs[i].env) != WABOT_OK)
            goto nomem;
    }
    memcpy(t->mods, s->mods, s->n_mods * sizeof *s->mods);
    t->mods[s->n_mods] = (wb_modspec){m, ud, t->n};
    t->n_mods = s->n_mods + 1;
    for (size_t i = 0; i < m->n_options; i++) {
        const wabot_option_def *o = &m->options[i];
        wb_optdef *d = &t->defs[t->n++];
        def_from_module(d, m, o);
        char full[2 * NAME_MAX_LEN + 2];
        snprintf(full, sizeof full, "%s.%s", m->name, o->name);
        if (fill_names(d, full, o->env) != WABOT_OK)
            goto nomem;
    }
    *out = t;
    return WABOT_OK;
nomem:
    schema_free(t);
    return WABOT_ERR_NOMEM;
}

long wb_schema_find(const wb_schema *s, const char *name)
{
    if (strncasecmp(name, "WABOT_OPT_", 10) == 0)
        name += 10;
    for (size_t i = 0; i < s->n; i++)
        if (strcasecmp(s->defs[i].name, name) == 0)
            return (long)i;
    /* WABOT_OPT_TOY_GREETING: '.' written as '_' */
    for (size_t i = 0; i < s->n; i++) {
        const char *a = s->defs[i].name, *b = name;
        while (*a && *b &&
               (tolower((unsigned char)*a) == tolower((unsigned char)*b) ||
                (*a == '.' && *b == '_')))
            a++, b++;
        if (*a == '\0' && *b == '\0')
            return (long)i;
    }
    return -1;
}

long wb_schema_find_id(const wb_schema *s, wabot_option id)
{
    return (unsigned)id < 256 ? s->by_id[id] : -1;
}
