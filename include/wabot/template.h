/*
 * Message templating for campaigns and reminders (doc/campaigns.md).
 *
 * A template is WhatsApp text with placeholders:
 *   {{name}}              the customer's name
 *   {{customer.<attr>}}   one of the customer's attributes
 *   {{org.<attr>}}        one of the organisation's attributes
 *   {{name|there}}        any placeholder with a default, used when the
 *                         value is missing or empty
 * <attr> is 1..64 bytes of [A-Za-z0-9_-]. Spaces around the key and the
 * default are ignored ({{ name | there }} is {{name|there}}). A default is
 * up to 256 bytes and holds no '{' or '}'. Values are inserted as they are:
 * nothing is escaped (WhatsApp text has no markup to escape). Single '{'
 * and '}' are ordinary text; "{{" always opens a placeholder and "}}"
 * outside one is an error.
 *
 * A template is checked once, when compiled (when the campaign or reminder
 * is created): an unknown placeholder, an unclosed "{{", a stray "}}", a
 * bad attribute name or default, or a NUL byte is WABOT_ERR_INVAL with a
 * detail in wabot_errmsg() naming the 0-based byte position. A compiled
 * template then renders without failing (only out of memory can stop it):
 * a missing value without a default renders as nothing.
 */
#ifndef WABOT_TEMPLATE_H
#define WABOT_TEMPLATE_H

#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The longest template source accepted, in bytes. */
#define WABOT_TEMPLATE_MAX_LEN 65536

/** A compiled template. Opaque; immutable once compiled. */
typedef struct wabot_template wabot_template;

/** Where a placeholder's value comes from. Append-only. */
typedef enum wabot_template_scope {
    WABOT_TEMPLATE_NAME = 0,     /**< {{name}}; attr is "" */
    WABOT_TEMPLATE_CUSTOMER = 1, /**< {{customer.<attr>}} */
    WABOT_TEMPLATE_ORG = 2       /**< {{org.<attr>}} */
} wabot_template_scope;

/**
 * Supplies a placeholder's value: a NUL-terminated string that must stay
 * valid until the render call returns, or NULL (or "") for "no value" (the
 * default is used). `attr` is NUL-terminated. Called on the rendering
 * thread, once per placeholder occurrence.
 */
typedef const char *(*wabot_template_lookup_fn)(void *ud,
                                                wabot_template_scope scope,
                                                const char *attr);

/**
 * Check and compile `len` bytes of `text` (not necessarily NUL-terminated).
 * On success *out is a new template owned by the caller (free with
 * wabot_template_free before the context is freed). Any thread.
 * Errors: WABOT_ERR_INVAL (NULL argument, or a template error: the detail
 * in wabot_errmsg() names the byte position), WABOT_ERR_TOO_LARGE (over
 * WABOT_TEMPLATE_MAX_LEN), WABOT_ERR_NOMEM. *out is NULL on failure.
 */
WABOT_API int wabot_template_compile(wabot_ctx *ctx, const char *text,
                                     size_t len, wabot_template **out);

/** Free a template; NULL is a no-op. */
WABOT_API void wabot_template_free(wabot_template *t);

/**
 * Render `t` with values from `fn` (NULL: every placeholder has no value).
 * On success *out is a NUL-terminated string owned by the caller, freed
 * with wabot_ctx_mem_free(ctx, *out) (ctx being the template's context),
 * and *out_len (if not NULL) its length. Any thread, also several at once
 * on one template. Errors: WABOT_ERR_INVAL (NULL t or out),
 * WABOT_ERR_NOMEM; never anything else.
 */
WABOT_API int wabot_template_render(const wabot_template *t,
                                    wabot_template_lookup_fn fn, void *ud,
                                    char **out, size_t *out_len);

/**
 * Render `t` with values from a JSON object:
 *   {"name":"Ana","customer":{"city":"Porto"},"org":{"name":"Acme"}}
 * Every member is optional; a value that is not a string (number, bool)
 * is rendered in its JSON spelling, null and objects count as missing.
 * Result and threads as wabot_template_render. Errors: WABOT_ERR_INVAL
 * (NULL argument), WABOT_ERR_PARSE (not a JSON object; detail in
 * wabot_errmsg()), WABOT_ERR_NOMEM.
 */
WABOT_API int wabot_template_render_json(const wabot_template *t,
                                         const char *vars, size_t vars_len,
                                         char **out, size_t *out_len);

/** The number of placeholders in `t` (0 for NULL). Any thread. */
WABOT_API size_t wabot_template_placeholders(const wabot_template *t);

#ifdef __cplusplus
}
#endif

#endif
