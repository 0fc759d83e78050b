/* The texts catalog: the words the library itself puts in front of
 * customers (a list's button and section title), per organisation and per
 * locale, with built-in English defaults.
 *
 * It is a library module: its options (texts.locale, texts.list_button,
 * texts.list_section) give the global value and the per-organisation
 * overrides, settable like any option (environment, wabot_ctx_set_org_
 * option); its data holds what wabot_ctx_set_text adds per locale. The
 * resolution order is documented at wabot_ctx_set_text (wabot/out.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "builder.h"
#include "wabot/module.h"

#define MODULE "texts"
#define VALUE_MAX 1024
#define ANY NULL

/* Option indexes of the module's table; a text's option is its key (the
 * texts are OPT_LIST_BUTTON .. N_OPTS - 1). */
enum {
    OPT_LOCALE,
    OPT_LONG_TEXT,
    OPT_LIST_BUTTON,
    OPT_LIST_SECTION,
    OPT_TRUNCATION_MARKER,
    N_OPTS
};

/* In the order of wb_long_text_policy. */
static const char *const long_text_choices[] = {"split", "truncate",
                                                "refuse", NULL};

static int check_locale(const char *v, char *why, size_t n)
{
    if (*v && !wb_locale_ok(v)) {
        snprintf(why, n, "\"%s\" is not a locale tag like pt-BR", v);
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

static int check_text(const char *v, char *why, size_t n)
{
    if (strlen(v) > VALUE_MAX) {
        snprintf(why, n, "is longer than %d bytes", VALUE_MAX);
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

#define ORG WABOT_OPTION_PER_ORG
static const wabot_option_def options[N_OPTS] = {
    {WABOT_OPTION_DEF_VERSION, "locale", WABOT_OPTION_STRING,
     ORG | WABOT_OPTION_EMPTY_OK, 0, 0, 0, "",
     "locale of the library's texts (e.g. pt-BR) unless a message sets one; "
     "empty: none",
     NULL, NULL, check_locale},
    {WABOT_OPTION_DEF_VERSION, "long_text", WABOT_OPTION_ENUM, ORG,
     WB_LONG_TEXT_SPLIT, 0, 0, NULL,
     "a text over the provider's limit: split (into ordered parts at line "
     "or word boundaries), truncate (with the truncation marker) or refuse "
     "(WABOT_ERR_TOO_LARGE when the reply is made)",
     NULL, long_text_choices, NULL},
    {WABOT_OPTION_DEF_VERSION, "list_button", WABOT_OPTION_STRING, ORG, 0, 0,
     0, "Choose", "text of the button that opens a list message", NULL, NULL,
     check_text},
    {WABOT_OPTION_DEF_VERSION, "list_section", WABOT_OPTION_STRING, ORG, 0, 0,
     0, "Options", "title of a list message's section", NULL, NULL,
     check_text},
    {WABOT_OPTION_DEF_VERSION, "truncation_marker", WABOT_OPTION_STRING, ORG,
     0, 0, 0, "\xe2\x80\xa6",
     "what ends a text cut to the provider's limit (long_text=truncate)",
     NULL, NULL, check_text},
};

/* ------------------------------------------------------------------ */
/* The catalog                                                         */

typedef struct entry {
    char *org, *locale; /* ANY (NULL) or the value; locale normalised */
    int key;            /* option index */
    char *value;
} entry;

/* Append-only: a later entry for the same (org, locale, key) wins, and
 * values are never freed before the context, so looked-up pointers stay
 * valid for its lifetime. */
typedef struct catalog {
    const wabot_allocator *alloc;
    pthread_rwlock_t lock;
    entry *items;
    size_t n, cap;
} catalog;

static int key_index(const char *key)
{
    for (int i = OPT_LIST_BUTTON; key && i < N_OPTS; i++)
        if (strcmp(key, options[i].name) == 0)
            return i;
    return -1;
}

/* "pt_BR" and "PT-br" are the same locale: lower case, '-' only. */
static void normalise(const char *locale, char *out, size_t n)
{
    size_t i = 0;
    for (; locale && locale[i] && i + 1 < n; i++)
        out[i] = locale[i] == '_' ? '-' : (char)tolower((unsigned char)locale[i]);
    out[i] = '\0';
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static const char *find(catalog *c, const char *org, const char *locale,
                        int key)
{
    for (size_t i = c->n; i-- > 0;) {
        const entry *e = &c->items[i];
        if (e->key == key && same(e->org, org) && same(e->locale, locale))
            return e->value;
    }
    return NULL;
}

static catalog *catalog_of(const wabot_ctx *ctx)
{
    return wabot_module_data(wabot_ctx_module(ctx, MODULE));
}

static void catalog_free(catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        wb_free(c->alloc, c->items[i].org);
        wb_free(c->alloc, c->items[i].locale);
        wb_free(c->alloc, c->items[i].value);
    }
    wb_free(c->alloc, c->items);
    pthread_rwlock_destroy(&c->lock);
    wb_free(c->alloc, c);
}

static int catalog_add(catalog *c, const char *org, const char *locale,
                       int key, const char *value)
{
    entry e = {wb_strdup(c->alloc, org), wb_strdup(c->alloc, locale), key,
               wb_strdup(c->alloc, value)};
    int rc = (org && !e.org) || (locale && !e.locale) || !e.value
                 ? WABOT_ERR_NOMEM
                 : WABOT_OK;
    pthread_rwlock_wrlock(&c->lock);
    if (rc == WABOT_OK)
        rc = wb_grow(c->alloc, (void **)&c->items, c->n + 1, &c->cap,
                     sizeof *c->items);
    if (rc == WABOT_OK)
        c->items[c->n++] = e;
    pthread_rwlock_unlock(&c->lock);
    if (rc != WABOT_OK) {
        wb_free(c->alloc, e.org);
        wb_free(c->alloc, e.locale);
        wb_free(c->alloc, e.value);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

int wabot_ctx_set_text(wabot_ctx *ctx, const char *org, const char *locale,
                       const char *key, const char *value)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    int k = key_index(key);
    if (k < 0)
        return wb_error(ctx, WABOT_ERR_NOT_FOUND, "no library text \"%s\"",
                        key ? key : "(null)");
    if (!value || !*value || strlen(value) > VALUE_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "text %s must have 1..%d bytes", key, VALUE_MAX);
    if (locale && *locale && !wb_locale_ok(locale))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "locale \"%s\" is not a tag like pt-BR", locale);
    catalog *c = catalog_of(ctx);
    if (!c)
        return wb_error(ctx, WABOT_ERR_STATE, "the texts module is missing");
    char norm[WB_LOCALE_MAX + 1];
    normalise(locale, norm, sizeof norm);
    if (catalog_add(c, org && *org ? org : ANY, *norm ? norm : ANY, k,
                    value) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    return WABOT_OK;
}

/* The organisation's own override of the option (its value differs from
 * the global one as a pointer: overrides are separate copies). */
static const char *org_option(const wabot_module *m, const char *org, int k)
{
    const char *mine = wabot_module_option_str(m, org, (size_t)k);
    return mine != wabot_module_option_str(m, ANY, (size_t)k) ? mine : NULL;
}

/* Steps 1..6 of the resolution, under the read lock. */
static const char *from_catalog(catalog *c, const wabot_module *m,
                                const char *org, const char *locale,
                                const char *lang, int k)
{
    const char *v = NULL;
    pthread_rwlock_rdlock(&c->lock);
    if (*locale && !v)
        v = find(c, org, locale, k);
    if (*lang && !v)
        v = find(c, org, lang, k);
    if (!v)
        v = find(c, org, ANY, k);
    if (!v)
        v = org_option(m, org, k);
    if (*locale && !v)
        v = find(c, ANY, locale, k);
    if (*lang && !v)
        v = find(c, ANY, lang, k);
    if (!v)
        v = find(c, ANY, ANY, k);
    pthread_rwlock_unlock(&c->lock);
    return v;
}

const char *wabot_ctx_text(const wabot_ctx *ctx, const char *org,
                           const char *locale, const char *key)
{
    int k = key_index(key);
    const wabot_module *m = ctx ? wabot_ctx_module(ctx, MODULE) : NULL;
    catalog *c = m ? wabot_module_data(m) : NULL;
    if (k < 0 || !c)
        return NULL;
    if (!org || !*org)
        org = ctx->cfg.default_org;
    if (!locale || !*locale)
        locale = wb_texts_locale(ctx, org);
    char norm[WB_LOCALE_MAX + 1], lang[WB_LOCALE_MAX + 1];
    normalise(locale, norm, sizeof norm);
    size_t lang_len = strcspn(norm, "-"); /* norm fits lang: same size */
    memcpy(lang, norm, lang_len);
    lang[lang_len] = '\0';
    if (strcmp(lang, norm) == 0)
        lang[0] = '\0'; /* no region: the locale is the language */
    const char *v = from_catalog(c, m, org, norm, lang, k);
    return v ? v : wabot_module_option_str(m, ANY, (size_t)k);
}

wb_long_text_policy wb_texts_long_text(const wabot_ctx *ctx, const char *org)
{
    int64_t v = WB_LONG_TEXT_SPLIT;
    const wabot_module *m = wabot_ctx_module(ctx, MODULE);
    if (m)
        wabot_module_option_int(m, org, OPT_LONG_TEXT, &v);
    return (wb_long_text_policy)v;
}

const char *wb_texts_locale(const wabot_ctx *ctx, const char *org)
{
    const char *v = wabot_module_option_str(wabot_ctx_module(ctx, MODULE),
                                            org, OPT_LOCALE);
    return v ? v : "";
}

/* ------------------------------------------------------------------ */
/* The module                                                          */

static int texts_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    catalog *c = wb_calloc(&ctx->alloc, 1, sizeof *c);
    if (!c)
        return WABOT_ERR_NOMEM;
    c->alloc = &ctx->alloc;
    pthread_rwlock_init(&c->lock, NULL);
    wabot_module_set_data(m, c);
    return WABOT_OK;
}

static void texts_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    catalog_free(wabot_module_data(m));
    wabot_module_set_data(m, NULL);
}

const wabot_module_def wb_texts_module = {
    WABOT_MODULE_DEF_VERSION, MODULE,
    "the library's customer-visible texts per organisation and locale",
    NULL, options, N_OPTS, NULL, texts_create, texts_destroy};
