/*
 * Options v2: typed, listable option definitions.
 *
 * Every option of the library and of every module is described by one
 * definition (name, type, default, range, one-line doc, environment
 * variable, flags). The same table drives the setters, wabot-server's
 * --help and its environment mapping, doc/options.md and the bindings, so
 * nothing keeps a second copy of it.
 *
 * Names are lower-case ("max_body_bytes"); an option of a module is listed
 * as "<module>.<name>" ("toy.greeting"). The by-name functions accept any
 * case and, for the library's own options, the old "WABOT_OPT_" prefix.
 *
 * Options marked WABOT_OPTION_PER_ORG may be overridden per organisation:
 * before the context exists with wabot_options_set_org(), afterwards with
 * wabot_ctx_set_org_option(). Code handling a turn reads such an option
 * through the turn's organisation (wabot_turn_option_int/_str), so texts,
 * limits and windows can differ per organisation.
 *
 * Textual values (wabot_options_set, the environment, config files):
 *   INT       decimal integer
 *   BOOL      1/0, true/false, yes/no, on/off
 *   DURATION  milliseconds, or a number with a unit: 250ms, 30s, 5m, 24h, 7d
 *   BYTES     bytes, or a number with a unit: 16KiB, 1MiB, 1GiB (KB/MB/GB
 *             are the same powers of 1024)
 *   STRING    the text itself
 *   ENUM      one of the option's choice names (case-insensitive) or its
 *             index
 */
#ifndef WABOT_OPTIONS_H
#define WABOT_OPTIONS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An option's type. Append-only. */
typedef enum wabot_option_type {
    WABOT_OPTION_INT = 1,      /**< int64 within [min, max] */
    WABOT_OPTION_STRING = 2,   /**< UTF-8 text */
    WABOT_OPTION_BOOL = 3,     /**< 0 or 1 */
    WABOT_OPTION_DURATION = 4, /**< int64 milliseconds within [min, max] */
    WABOT_OPTION_BYTES = 5,    /**< int64 bytes within [min, max] */
    WABOT_OPTION_ENUM = 6      /**< index into the definition's choices */
} wabot_option_type;

/** Flags of an option definition (bits; append-only). */
#define WABOT_OPTION_PER_ORG 0x1u /**< may be overridden per organisation */
#define WABOT_OPTION_SECRET 0x2u  /**< never printed: help, logs and
                                       wabot_options_format() of a listing
                                       show "(secret)" */
#define WABOT_OPTION_EMPTY_OK 0x4u /**< STRING: "" is a valid value */

/**
 * Validator for a STRING option: return WABOT_OK, or WABOT_ERR_INVAL after
 * writing why (one line, NUL-terminated, at most why_len bytes) into `why`.
 * Called with the value about to be set; must not call into the library.
 */
typedef int (*wabot_option_check_fn)(const char *value, char *why,
                                     size_t why_len);

#define WABOT_OPTION_DEF_VERSION 1
/**
 * One option definition, filled by a module author (static tables are
 * typical). The library copies what it needs when the module is added.
 */
typedef struct wabot_option_def {
    uint32_t version;       /**< WABOT_OPTION_DEF_VERSION */
    const char *name;       /**< [a-z][a-z0-9_]*, unique in its module */
    wabot_option_type type;
    uint32_t flags;         /**< WABOT_OPTION_* bits */
    int64_t int_default;    /**< INT, BOOL, DURATION, BYTES, ENUM */
    int64_t int_min;        /**< INT, DURATION, BYTES (ignored otherwise) */
    int64_t int_max;
    const char *str_default; /**< STRING ("" when NULL) */
    const char *doc;        /**< one line, no trailing period needed */
    const char *env;        /**< environment variable; NULL: derived as
                                 WABOT_<MODULE>_<NAME> upper-cased */
    const char *const *choices; /**< ENUM: NULL-terminated names */
    wabot_option_check_fn check; /**< STRING: optional validator */
} wabot_option_def;

/* ------------------------------------------------------------------ */
/* Listing (wabot-server --help, doc/options.md, bindings)             */

/** Number of options known to `opts`: the library's, then every module's
 *  in the order the modules were added. 0 if opts is NULL. */
WABOT_API size_t wabot_options_count(const wabot_options *opts);
/** Full name of option i ("max_body_bytes", "toy.greeting"); NULL when i
 *  is out of range. Borrowed, valid while opts lives. */
WABOT_API const char *wabot_options_name(const wabot_options *opts, size_t i);
/** Type of option i; 0 when i is out of range. */
WABOT_API wabot_option_type wabot_options_type(const wabot_options *opts,
                                               size_t i);
/** WABOT_OPTION_* flags of option i; 0 when out of range. */
WABOT_API uint32_t wabot_options_flags(const wabot_options *opts, size_t i);
/** One-line documentation of option i ("" when none); NULL when out of
 *  range. Borrowed, valid while opts lives. */
WABOT_API const char *wabot_options_doc(const wabot_options *opts, size_t i);
/** Section option i is listed under: the library's area ("webhook",
 *  "dedup", "outbound", ...) or the module's name. NULL when out of range.
 *  Borrowed, valid while opts lives. */
WABOT_API const char *wabot_options_group(const wabot_options *opts,
                                          size_t i);
/** Environment variable that wabot_options_apply_env() reads for option i;
 *  NULL when out of range. Borrowed, valid while opts lives. */
WABOT_API const char *wabot_options_env(const wabot_options *opts, size_t i);
/** Range of an INT, DURATION or BYTES option i. WABOT_ERR_INVAL for
 *  another type or an index out of range. */
WABOT_API int wabot_options_range(const wabot_options *opts, size_t i,
                                  int64_t *min, int64_t *max);
/** Choice j of ENUM option i; NULL past the last one or for another
 *  type. Borrowed. */
WABOT_API const char *wabot_options_choice(const wabot_options *opts,
                                           size_t i, size_t j);
/** Index of the option named `name` (any case; "WABOT_OPT_" prefix
 *  allowed for the library's options) into *index. WABOT_ERR_NOT_FOUND if
 *  there is none, WABOT_ERR_INVAL for NULL arguments. */
WABOT_API int wabot_options_find(const wabot_options *opts, const char *name,
                                 size_t *index);

/**
 * Write option i's value as text into buf (at most len bytes incl. the
 * NUL; truncated like snprintf), in the form the setters accept: durations
 * and sizes with a unit when exact ("30s", "24h", "1MiB"), booleans as
 * "true"/"false", enums by name. `which` 0: the current value; 1: the
 * default. Secrets are written as they are: callers printing a listing
 * check WABOT_OPTION_SECRET. Returns the length the full text needs (like
 * snprintf), or WABOT_ERR_INVAL when i is out of range.
 */
WABOT_API int wabot_options_format(const wabot_options *opts, size_t i,
                                   int which, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Setting by name                                                     */

/**
 * Set an option for organisation `org` only (the value wins over the
 * global one for turns of that organisation). The option must be marked
 * WABOT_OPTION_PER_ORG; the value is parsed and checked like
 * wabot_options_set(). WABOT_ERR_INVAL (unknown option, not per
 * organisation, bad value, empty org); wabot_options_errmsg() says why.
 */
WABOT_API int wabot_options_set_org(wabot_options *opts, const char *org,
                                    const char *name, const char *value);

/**
 * Apply the environment: for every option whose variable
 * (wabot_options_env()) is set, set the option from its text; then every
 * WABOT_OPT_<NAME>=<value> (the older spelling, any known option name with
 * '.' written as '_'). `envp` is a NULL-terminated "NAME=value" array, or
 * NULL for the process environment. Stops at the first bad value:
 * WABOT_ERR_INVAL, and wabot_options_errmsg() names the variable (a secret's
 * value is never repeated). Variables of no option are ignored, except an
 * unknown WABOT_OPT_<NAME>, which is an error (a typo must not pass
 * silently). Not thread-safe (like every call on options).
 */
WABOT_API int wabot_options_apply_env(wabot_options *opts,
                                      const char *const *envp);

/* ------------------------------------------------------------------ */
/* Reading options at run time (per organisation)                      */

struct wabot_turn; /* wabot/pipeline.h */

/**
 * Override option `name` for organisation `org` on a running context
 * (e.g. from an admin API). Thread-safe; takes effect for turns that start
 * afterwards. Errors as wabot_options_set_org(); the detail is in
 * wabot_ctx_errmsg().
 */
WABOT_API int wabot_ctx_set_org_option(wabot_ctx *ctx, const char *org,
                                       const char *name, const char *value);
/**
 * Value of an INT, BOOL, DURATION, BYTES or ENUM option as seen by
 * organisation `org` (its override if any, else the global value; org NULL:
 * the global value). WABOT_ERR_NOT_FOUND for an unknown name,
 * WABOT_ERR_INVAL for a STRING option or NULL arguments. Thread-safe.
 */
WABOT_API int wabot_ctx_option_int(const wabot_ctx *ctx, const char *org,
                                   const char *name, int64_t *value);
/**
 * Value of a STRING option as seen by organisation `org` (NULL: global).
 * The pointer stays valid for the context's lifetime, even if the option is
 * overridden again later. NULL for an unknown name or another type (see
 * wabot_ctx_errmsg()). Thread-safe.
 */
WABOT_API const char *wabot_ctx_option_str(const wabot_ctx *ctx,
                                           const char *org, const char *name);
/** wabot_ctx_option_int() for the turn's organisation. */
WABOT_API int wabot_turn_option_int(const struct wabot_turn *turn,
                                    const char *name,
                                    int64_t *value);
/** wabot_ctx_option_str() for the turn's organisation. */
WABOT_API const char *wabot_turn_option_str(const struct wabot_turn *turn,
                                            const char *name);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_OPTIONS_H */
