/* Sending outside a turn: the original entry points, kept for the ABI as
 * wrappers over the builder (wabot/out.h). */
#include "outbound.h"
#include "wabot/send.h"

/* Addressing shared by both sends; the builder records why a value is
 * refused. */
static int address(wabot_out *b, const char *org, const char *to,
                   wabot_out_category category, const char *id)
{
    int rc = wabot_out_set_to(b, to);
    if (rc == WABOT_OK)
        rc = wabot_out_set_org(b, org);
    if (rc == WABOT_OK)
        rc = wabot_out_set_category(b, category);
    if (rc == WABOT_OK && id)
        rc = wabot_out_set_idempotency_key(b, id);
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
    wabot_out *b = wabot_out_new(ctx);
    if (!b)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    /* The text first: its errors came first before the builder existed. */
    int rc = wabot_out_set_text(b, text);
    if (rc == WABOT_OK)
        rc = address(b, org, to, category, id);
    if (rc == WABOT_OK)
        rc = wabot_out_enqueue(b, out_id);
    wabot_out_free(b);
    return rc;
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
    if (n && !params)
        return wb_error(ctx, WABOT_ERR_INVAL, "%zu template parameters but "
                        "no array", n);
    wabot_out *b = wabot_out_new(ctx);
    if (!b)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    int rc = address(b, org, to, category, id);
    if (rc == WABOT_OK)
        rc = wabot_out_set_template(b, name, language);
    for (size_t i = 0; rc == WABOT_OK && i < n; i++)
        rc = wabot_out_add_template_param(b, params[i]);
    if (rc == WABOT_OK)
        rc = wabot_out_enqueue(b, out_id);
    wabot_out_free(b);
    return rc;
}
