/* The outbound builder: setters that check each value against WhatsApp's
 * limits as it is set, so a caller learns of a bad message at the call
 * that made it bad. What depends on the whole message (content present,
 * the provider's limits) is checked when it is composed (compose.c). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "builder.h"
#include "provider.h"
#include "runtime.h"
#include "strbuf.h"

#define NO_OUT WABOT_ERR_INVAL

/* Ids from the context's generator, seeded from the system's entropy
 * (the keys of every process queueing into one Redis share a namespace):
 * 64 random bits per id without a system call per message. */
static char *generated(wabot_ctx *ctx, const char *prefix)
{
    char id[40];
    size_t n = strlen(prefix);
    if (n > sizeof id - 18)
        return NULL;
    memcpy(id, prefix, n);
    id[n] = '-';
    /* Not snprintf("%s-%016llx"): two of these per reply were 6 % of a
     * webhook's instructions. */
    wb_fmt_hex64(id + n + 1, wb_random(ctx));
    return wb_strdup(&ctx->alloc, id);
}

wabot_out *wabot_out_new(wabot_ctx *ctx)
{
    if (!ctx)
        return NULL;
    wabot_out *out = wb_calloc(&ctx->alloc, 1, sizeof *out);
    if (!out)
        return NULL;
    out->ctx = ctx;
    out->msg = wb_outbound_alloc(&ctx->alloc, WABOT_OUT_TEXT);
    if (out->msg) {
        out->msg->id = generated(ctx, "send");
        out->msg->correlation_id = generated(ctx, "corr");
    }
    if (!out->msg || !out->msg->id || !out->msg->correlation_id) {
        wabot_out_free(out);
        return NULL;
    }
    return out;
}

void wabot_out_free(wabot_out *out)
{
    if (!out)
        return;
    wb_outbound_free(out->msg);
    wb_free(&out->ctx->alloc, out->locale);
    wb_free(&out->ctx->alloc, out);
}

/* ------------------------------------------------------------------ */
/* Checks, each recording why it failed                                */

static int set_str(wabot_out *out, char **slot, const char *s)
{
    if (wb_str_replace(&out->ctx->alloc, slot, s) != WABOT_OK)
        return wb_error(out->ctx, WABOT_ERR_NOMEM, "out of memory");
    return WABOT_OK;
}

static int need_text(const wabot_out *out, const char *what, const char *s)
{
    if (!s || !*s)
        return wb_error(out->ctx, WABOT_ERR_INVAL, "%s is empty", what);
    return WABOT_OK;
}

static int max_chars(const wabot_out *out, const char *what, const char *s,
                     size_t max)
{
    size_t n = s ? wb_utf8_length(s) : 0;
    if (n > max)
        return wb_error(out->ctx, WABOT_ERR_TOO_LARGE,
                        "%s has %zu characters; the limit is %zu", what, n,
                        max);
    return WABOT_OK;
}

static int max_bytes(const wabot_out *out, const char *what, const char *s,
                     size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max)
        return wb_error(out->ctx, WABOT_ERR_TOO_LARGE,
                        "%s has %zu bytes; the limit is %zu", what, n, max);
    return WABOT_OK;
}

/* 1..max bytes, no control characters: ids that become storage keys. */
static int id_ok(const wabot_out *out, const char *what, const char *s,
                 size_t max)
{
    size_t n = s ? strlen(s) : 0;
    int ctl = 0;
    for (size_t i = 0; i < n; i++)
        ctl |= iscntrl((unsigned char)s[i]) != 0;
    if (n == 0 || n > max || ctl)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "%s must have 1..%zu bytes without control "
                        "characters", what, max);
    return WABOT_OK;
}

/* Content setters refuse what cannot go in one message with what is
 * there already. */
static int conflict(const wabot_out *out, const char *adding,
                    const char *present)
{
    return wb_error(out->ctx, WABOT_ERR_INVAL,
                    "cannot add %s to a message with %s", adding, present);
}

static const char *content_of(const wabot_out *out)
{
    if (out->msg->template_name)
        return "a template";
    if (out->options == WABOT_OUT_BUTTONS)
        return "buttons";
    if (out->options == WABOT_OUT_LIST)
        return "list rows";
    if (out->msg->media_url)
        return "media";
    return NULL;
}

int wb_locale_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > WB_LOCALE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Addressing                                                          */

static int set_number(wabot_out *out, char **slot, const char *what,
                      const char *number, int optional)
{
    char e164[20];
    if (optional && (!number || !*number))
        return set_str(out, slot, NULL);
    if (!number || wb_e164_normalize(number, e164, sizeof e164) != WABOT_OK)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "%s \"%s\" is not an E.164 number", what,
                        number ? number : "(null)");
    return set_str(out, slot, e164);
}

int wabot_out_set_to(wabot_out *out, const char *to)
{
    return out ? set_number(out, &out->msg->to, "recipient", to, 0) : NO_OUT;
}

int wabot_out_set_from(wabot_out *out, const char *from)
{
    return out ? set_number(out, &out->msg->from, "sender", from, 1)
               : NO_OUT;
}

int wabot_out_set_org(wabot_out *out, const char *org)
{
    if (!out)
        return NO_OUT;
    if (org && strlen(org) > WB_ORG_MAX)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "organisation longer than %d bytes", WB_ORG_MAX);
    return set_str(out, &out->msg->organization, org && *org ? org : NULL);
}

int wabot_out_set_category(wabot_out *out, wabot_out_category category)
{
    if (!out)
        return NO_OUT;
    if ((unsigned)category >= WB_CATEGORIES)
        return wb_error(out->ctx, WABOT_ERR_INVAL, "unknown category %d",
                        (int)category);
    out->msg->category = category;
    return WABOT_OK;
}

int wabot_out_set_locale(wabot_out *out, const char *locale)
{
    if (!out)
        return NO_OUT;
    if (locale && *locale && !wb_locale_ok(locale))
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "locale \"%s\" is not a tag like pt-BR", locale);
    return set_str(out, &out->locale, locale && *locale ? locale : NULL);
}

/* ------------------------------------------------------------------ */
/* Content                                                             */

int wabot_out_set_text(wabot_out *out, const char *text)
{
    if (!out)
        return NO_OUT;
    int rc = need_text(out, "text", text);
    if (rc == WABOT_OK)
        rc = max_chars(out, "text", text, WB_OUT_TEXT_MAX);
    if (rc == WABOT_OK && out->msg->template_name)
        rc = conflict(out, "text", "a template");
    return rc == WABOT_OK ? set_str(out, &out->msg->text, text) : rc;
}

int wabot_out_set_media(wabot_out *out, const char *url, const char *caption)
{
    if (!out)
        return NO_OUT;
    const char *present = content_of(out);
    int rc = need_text(out, "media URL", url);
    if (rc == WABOT_OK)
        rc = max_bytes(out, "media URL", url, WB_MEDIA_URL_MAX);
    if (rc == WABOT_OK)
        rc = max_chars(out, "caption", caption, WB_OUT_TEXT_MAX);
    if (rc == WABOT_OK && present && strcmp(present, "media") != 0)
        rc = conflict(out, "media", present);
    if (rc != WABOT_OK)
        return rc;
    char *u = wb_strdup(&out->ctx->alloc, url);
    char *c = wb_strdup(&out->ctx->alloc, caption ? caption : "");
    if (!u || !c) {
        wb_free(&out->ctx->alloc, u);
        wb_free(&out->ctx->alloc, c);
        return wb_error(out->ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    wb_free(&out->ctx->alloc, out->msg->media_url);
    wb_free(&out->ctx->alloc, out->msg->text);
    out->msg->media_url = u;
    out->msg->text = c;
    return WABOT_OK;
}

typedef struct option_rules {
    wabot_out_kind kind;
    const char *what; /* "button", "row" */
    size_t max_n, max_title;
} option_rules;

static const option_rules buttons = {WABOT_OUT_BUTTONS, "button",
                                     WB_WA_BUTTONS_MAX,
                                     WB_WA_BUTTON_TITLE_MAX};
static const option_rules rows = {WABOT_OUT_LIST, "row", WB_WA_ROWS_MAX,
                                  WB_WA_ROW_TITLE_MAX};

static int add_option(wabot_out *out, const option_rules *r, const char *id,
                      const char *title, const char *description)
{
    const char *present = content_of(out);
    char what[32];
    if (present && out->options != r->kind)
        return conflict(out, r->kind == WABOT_OUT_BUTTONS ? "buttons"
                                                          : "list rows",
                        present);
    if (!id || !*id || !title || !*title)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "%s %zu has an empty id or title", r->what,
                        out->msg->n_opts);
    if (out->msg->n_opts >= r->max_n)
        return wb_error(out->ctx, WABOT_ERR_TOO_LARGE,
                        "%zu %ss; the limit is %zu", out->msg->n_opts + 1,
                        r->what, r->max_n);
    snprintf(what, sizeof what, "%s %zu id", r->what, out->msg->n_opts);
    int rc = max_bytes(out, what, id, WB_WA_ID_MAX);
    snprintf(what, sizeof what, "%s %zu title", r->what, out->msg->n_opts);
    if (rc == WABOT_OK)
        rc = max_chars(out, what, title, r->max_title);
    snprintf(what, sizeof what, "%s %zu description", r->what,
             out->msg->n_opts);
    if (rc == WABOT_OK)
        rc = max_chars(out, what, description, WB_WA_ROW_DESCRIPTION_MAX);
    if (rc != WABOT_OK)
        return rc;
    if (wb_outbound_add_option(out->msg, id, title, description) != WABOT_OK)
        return wb_error(out->ctx, WABOT_ERR_NOMEM, "out of memory");
    out->options = r->kind;
    return WABOT_OK;
}

int wabot_out_add_button(wabot_out *out, const char *id, const char *title)
{
    return out ? add_option(out, &buttons, id, title, NULL) : NO_OUT;
}

int wabot_out_add_row(wabot_out *out, const char *id, const char *title,
                      const char *description)
{
    return out ? add_option(out, &rows, id, title, description) : NO_OUT;
}

int wabot_out_set_list_button(wabot_out *out, const char *text)
{
    if (!out)
        return NO_OUT;
    int rc = need_text(out, "list button text", text);
    if (rc == WABOT_OK)
        rc = max_chars(out, "list button text", text, WB_WA_LIST_BUTTON_MAX);
    return rc == WABOT_OK ? set_str(out, &out->msg->list_button, text) : rc;
}

int wabot_out_set_template(wabot_out *out, const char *name,
                           const char *language)
{
    if (!out)
        return NO_OUT;
    const char *present = out->msg->text ? "text" : content_of(out);
    if (present && strcmp(present, "a template") != 0)
        return conflict(out, "a template", present);
    if (!name || !*name || !language || !*language)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "a template needs a name and a language code");
    int rc = max_bytes(out, "template name", name, WB_TEMPLATE_NAME_MAX);
    if (rc == WABOT_OK)
        rc = max_bytes(out, "template language", language,
                       WB_TEMPLATE_LANGUAGE_MAX);
    if (rc == WABOT_OK)
        rc = set_str(out, &out->msg->template_name, name);
    if (rc == WABOT_OK)
        rc = set_str(out, &out->msg->template_language, language);
    return rc;
}

int wabot_out_add_template_param(wabot_out *out, const char *value)
{
    if (!out)
        return NO_OUT;
    if (!value)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "template parameter %zu is NULL", out->msg->n_params);
    if (out->msg->n_params >= WB_TEMPLATE_PARAMS_MAX)
        return wb_error(out->ctx, WABOT_ERR_TOO_LARGE,
                        "%zu template parameters; the limit is %d",
                        out->msg->n_params + 1, WB_TEMPLATE_PARAMS_MAX);
    int rc = max_bytes(out, "template parameter", value,
                       WB_TEMPLATE_PARAM_MAX);
    if (rc == WABOT_OK && wb_outbound_add_param(out->msg, value) != WABOT_OK)
        rc = wb_error(out->ctx, WABOT_ERR_NOMEM, "out of memory");
    return rc;
}

/* ------------------------------------------------------------------ */
/* Identity                                                            */

int wabot_out_set_idempotency_key(wabot_out *out, const char *key)
{
    if (!out)
        return NO_OUT;
    int rc = id_ok(out, "idempotency key", key, WB_IDEMPOTENCY_KEY_MAX);
    if (rc == WABOT_OK)
        rc = set_str(out, &out->msg->id, key);
    if (rc == WABOT_OK)
        out->key_set = 1;
    return rc;
}

const char *wabot_out_idempotency_key(const wabot_out *out)
{
    return out ? out->msg->id : "";
}

int wabot_out_set_correlation_id(wabot_out *out, const char *id)
{
    if (!out)
        return NO_OUT;
    int rc = id_ok(out, "correlation id", id, WB_CORRELATION_ID_MAX);
    return rc == WABOT_OK ? set_str(out, &out->msg->correlation_id, id) : rc;
}

const char *wabot_out_correlation_id(const wabot_out *out)
{
    return out ? out->msg->correlation_id : "";
}

int wabot_out_set_in_reply_to(wabot_out *out, const char *message_id)
{
    if (!out)
        return NO_OUT;
    if (message_id && strlen(message_id) > WB_WA_ID_MAX)
        return wb_error(out->ctx, WABOT_ERR_INVAL,
                        "in-reply-to id longer than %d bytes", WB_WA_ID_MAX);
    return set_str(out, &out->msg->in_reply_to,
                   message_id && *message_id ? message_id : NULL);
}
