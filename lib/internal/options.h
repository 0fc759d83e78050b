/* Options v2 internals: the schema (option definitions shared, read-only,
 * between an options object and the contexts made from it), values, and
 * per-organisation overrides. Private. */
#ifndef WB_OPTIONS_H
#define WB_OPTIONS_H

#include <pthread.h>
#include <stdatomic.h>

#include "ctx.h"
#include "wabot/module.h"
#include "wabot/options.h"

/* ------------------------------------------------------------------ */
/* Defaults of inbound hygiene options (lib/core/option_defs.c)        */

#define WB_DEFAULT_DEDUP_KEY_FORMAT "dedup:{id}"
#define WB_DEFAULT_RATE_NOTICE                                               \
    "You are sending messages faster than we can answer them. Please "       \
    "wait a minute before writing again."
/* Twilio's and the carriers' standard English words, then common Spanish,
 * Portuguese, French, German and Italian ones. Compared folded (case and
 * accents do not matter: "Arrêt" is ARRET). */
#define WB_DEFAULT_OPTOUT_KEYWORDS                                           \
    "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,"                              \
    "PARAR,DETENER,BAJA,CANCELAR,SAIR,DESCADASTRAR,"                         \
    "ARRET,ARRETER,DESABONNER,STOPP,ABMELDEN,ANNULLA,DISISCRIVITI"
#define WB_DEFAULT_OPTIN_KEYWORDS                                            \
    "START,UNSTOP,SUBSCRIBE,INICIAR,ALTA,ASSINAR,COMMENCER,ANMELDEN"
#define WB_DEFAULT_OPTOUT_REPLY                                              \
    "You have been unsubscribed: you will not receive promotions or "        \
    "reminders from us any more. You can still write to us. Reply START "   \
    "to subscribe again."
#define WB_DEFAULT_OPTIN_REPLY                                               \
    "You are subscribed again. Reply STOP at any time to unsubscribe."

/* 1 if `id` is one of the options of wabot/security.h whose string value
 * wb_security_option_check() validates
 * (lib/core/option_checks.c). */
int wb_security_option(wabot_option id);
/* Validate a string value of such an option. WABOT_OK, or
 * WABOT_ERR_INVAL with `why` (size n) saying what is wrong. */
int wb_security_option_check(wabot_option id, const char *value, char *why,
                             size_t n);

/* A row of the library's own table (lib/core/option_defs.c). */
typedef struct wb_builtin_option {
    wabot_option id;
    const char *name;    /* the enum name without WABOT_OPT_ */
    const char *group;   /* section in listings: "webhook", "dedup", ... */
    size_t offset;       /* into wb_config */
    wabot_option_type type;
    uint32_t flags;
    int64_t idef, imin, imax;
    const char *sdef;
    const char *doc;
    const char *env;     /* NULL: WABOT_<NAME> */
    const char *const *choices;
    wabot_option_check_fn check;
} wb_builtin_option;

extern const wb_builtin_option wb_builtin_options[];
extern const size_t wb_n_builtin_options;

/* One option of a schema. */
typedef struct wb_optdef {
    char *name;          /* full, lower-case (owned) */
    char *env;           /* owned */
    const char *doc;     /* borrowed: static, or the module's descriptor */
    const char *group;   /* the library's group, or the module's name */
    wabot_option_type type;
    uint32_t flags;
    int64_t idef, imin, imax;
    const char *sdef;    /* borrowed, never NULL for STRING */
    const char *const *choices;
    wabot_option_check_fn check;
    wabot_option id;     /* the library's enum id; 0 for module options */
    long cfg_off;        /* offset into wb_config, or -1 */
} wb_optdef;

/* A module added to options: its descriptor (borrowed) and user data. */
typedef struct wb_modspec {
    const wabot_module_def *def;
    void *ud;
    size_t opt_base;     /* index of its first option in the schema */
} wb_modspec;

/* Immutable once built; shared by reference count between an options
 * object and the contexts made from it. Always allocated with libc: it is
 * built before any context (and its allocator) exists. */
typedef struct wb_schema {
    atomic_int refs;
    wb_optdef *defs;
    size_t n;
    wb_modspec *mods;
    size_t n_mods;
    int16_t by_id[256]; /* enum id -> index, -1 if none (ids < 256) */
} wb_schema;

/* The library's own options and modules (lib/builtin_modules.c lists the
 * modules). */
wb_schema *wb_schema_builtin(void);
const wabot_module_def *const *wb_builtin_modules(size_t *n);
/* A new schema: `s` plus module `def` (validated; errors into why). */
int wb_schema_with_module(const wb_schema *s, const wabot_module_def *def,
                          void *ud, wb_schema **out, char *why, size_t n);
wb_schema *wb_schema_ref(wb_schema *s);
void wb_schema_unref(wb_schema *s);
/* Index of a name (any case, "WABOT_OPT_" allowed), or -1. */
long wb_schema_find(const wb_schema *s, const char *name);
long wb_schema_find_id(const wb_schema *s, wabot_option id);

/* A value: integers in i, strings in s (owned by whoever holds it). */
typedef struct wb_optval {
    int64_t i;
    char *s;
} wb_optval;

/* Parse `text` for definition d into *v (strings newly allocated with a).
 * WABOT_ERR_INVAL with `why` on a bad value, NOMEM. */
int wb_optval_parse(const wb_optdef *d, const char *text, wb_optval *v,
                    const wabot_allocator *a, char *why, size_t n);
/* Check an integer / string value against d (range, choices, validator). */
int wb_optval_check_int(const wb_optdef *d, int64_t v, char *why, size_t n);
int wb_optval_check_str(const wb_optdef *d, const char *v, char *why,
                        size_t n);
/* Text of a value in the setters' syntax (snprintf semantics). */
int wb_optval_format(const wb_optdef *d, const wb_optval *v, char *buf,
                     size_t len);
/* Defaults for every option of s into vals (n = s->n). */
int wb_optvals_init(const wb_schema *s, wb_optval *vals,
                    const wabot_allocator *a);
void wb_optvals_free(wb_optval *vals, size_t n, const wabot_allocator *a);

/* Per-organisation overrides: a map org -> values, readers never wait for
 * each other (read lock), replaced strings are kept until the map is freed
 * so pointers handed out stay valid. */
typedef struct wb_orgopts wb_orgopts;
wb_orgopts *wb_orgopts_new(const wabot_allocator *a);
void wb_orgopts_free(wb_orgopts *o);
/* Set (copying the string) option index i of org. NOMEM. */
int wb_orgopts_set(wb_orgopts *o, const char *org, size_t i,
                   const wb_optval *v, wabot_option_type type);
/* 1 and *v if org overrides option i, else 0. Strings are borrowed. */
int wb_orgopts_get(const wb_orgopts *o, const char *org, size_t i,
                   wb_optval *v);
/* Copy every override of src into dst. NOMEM. */
int wb_orgopts_copy(wb_orgopts *dst, const wb_orgopts *src,
                    const wb_schema *s);

/* The context's view (lib/core/options.c). */
typedef struct wb_ctxopts {
    wb_schema *schema;
    wb_optval *vals;     /* global values, strings owned */
    wb_orgopts *orgs;
} wb_ctxopts;

/* Fill ctx->opts and ctx->cfg from opts (NULL: defaults). */
int wb_ctx_options_init(wabot_ctx *ctx, const wabot_options *opts);
void wb_ctx_options_free(wabot_ctx *ctx);
/* An option of the library (by enum id) for `org` (NULL: global). */
int64_t wb_opt_int(const wabot_ctx *ctx, const char *org, wabot_option id);
const char *wb_opt_str(const wabot_ctx *ctx, const char *org,
                       wabot_option id);
/* Option i of the context's schema for org (strings borrowed, valid for
 * the context's lifetime). WABOT_ERR_INVAL when i is out of range. */
int wb_ctx_option_value(const wabot_ctx *ctx, const char *org, size_t i,
                        wb_optval *v);

#endif
