/* Sending outside a turn: build an outbound message and queue it. */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "runtime.h"
#include "wabot/send.h"

#define MAX_TEXT 4096
#define MAX_PARAMS 20

static int build(wabot_ctx *ctx, wabot_outbound *o, const char *org,
                 const char *to, wabot_out_category category, const char *id)
{
    char e164[20], gen[40];
    if (!to || wb_e164_normalize(to, e164, sizeof e164) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_INVAL, "recipient \"%s\" is not an "
                        "E.164 number", to ? to : "(null)");
    if ((unsigned)category > WABOT_CAT_CAMPAIGN)
        return wb_error(ctx, WABOT_ERR_INVAL, "unknown category %d",
                        (int)category);
    if (id && (!*id || strlen(id) > 200))
        return wb_error(ctx, WABOT_ERR_INVAL, "id must have 1..200 bytes");
    if (!id) {
        snprintf(gen, sizeof gen, "send-%016llx",
                 (unsigned long long)wb_random(ctx));
        id = gen;
    }
    o->category = category;
    if (!(o->id = wb_strdup(o->alloc, id)) ||
        !(o->to = wb_strdup(o->alloc, e164)) ||
        !(o->from = wb_strdup(o->alloc, "")) ||
        !(o->organization = wb_strdup(o->alloc, org && *org
                                                    ? org
                                                    : ctx->cfg.default_org)))
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    return WABOT_OK;
}

static int queue(wabot_ctx *ctx, wabot_outbound *o, char **out_id)
{
    int rc = wb_outbound_enqueue_new(ctx, o);
    if (out_id && (rc == WABOT_OK || rc == WABOT_ERR_EXISTS) &&
        !(*out_id = wb_strdup(&ctx->alloc, o->id)))
        rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    wb_outbound_free(o);
    return rc;
}

int wabot_send_text(wabot_ctx *ctx, const char *org, const char *to,
                    const char *text, wabot_out_category category,
                    const char *id, char **out_id)
{
    if (out_id)
        *out_id = NULL;
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!text || !*text)
        return wb_error(ctx, WABOT_ERR_INVAL, "text is empty");
    if (strlen(text) > MAX_TEXT)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "text is %zu bytes; the "
                        "limit is %d", strlen(text), MAX_TEXT);
    wabot_outbound *o = wb_outbound_alloc(&ctx->alloc, WABOT_OUT_TEXT);
    if (!o)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    int rc = build(ctx, o, org, to, category, id);
    if (rc == WABOT_OK && !(o->text = wb_strdup(o->alloc, text)))
        rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    if (rc != WABOT_OK) {
        wb_outbound_free(o);
        return rc;
    }
    return queue(ctx, o, out_id);
}

int wb_outbound_set_template(wabot_ctx *ctx, wabot_outbound *o,
                             const char *name, const char *language, size_t n,
                             const char *const *params)
{
    if (!name || !*name || strlen(name) > 512 || !language || !*language ||
        strlen(language) > 16)
        return wb_error(ctx, WABOT_ERR_INVAL, "a template needs a name and a "
                        "language code");
    if (n > MAX_PARAMS || (n && !params))
        return wb_error(ctx, WABOT_ERR_INVAL, "0..%d template parameters",
                        MAX_PARAMS);
    if (!(o->template_name = wb_strdup(o->alloc, name)) ||
        !(o->template_language = wb_strdup(o->alloc, language)))
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!params[i] || strlen(params[i]) > 1024)
            return wb_error(ctx, WABOT_ERR_INVAL, "template parameter %zu is "
                            "NULL or longer than 1024 bytes", i);
        if (wb_outbound_add_param(o, params[i]) != WABOT_OK)
            return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    return WABOT_OK;
}

int wabot_send_template(wabot_ctx *ctx, const char *org, const char *to,
                        const char *name, const char *language, size_t n,
                        const char *const *params, wabot_out_category category,
                        const char *id, char **out_id)
{
    if (out_id)
        *out_id = NULL;
    if (!ctx)
        return WABOT_ERR_INVAL;
    wabot_outbound *o = wb_outbound_alloc(&ctx->alloc, WABOT_OUT_TEMPLATE);
    if (!o)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    int rc = build(ctx, o, org, to, category, id);
    if (rc == WABOT_OK)
        rc = wb_outbound_set_template(ctx, o, name, language, n, params);
    if (rc != WABOT_OK) {
        wb_outbound_free(o);
        return rc;
    }
    return queue(ctx, o, out_id);
}
