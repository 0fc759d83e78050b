/* JSON in and out of the campaign module's C API (json_io.h). */
#include "json_io.h"

#include "internal/ctx.h"
#include "internal/json_alloc.h"

int wb_campaign_json_in(wabot_ctx *ctx, const char *json, size_t len,
                        int want_array, const char *what, json_t **out)
{
    json_error_t jerr;
    json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (want_array ? json_is_array(j) : json_is_object(j)) {
        *out = j;
        return WABOT_OK;
    }
    *out = NULL;
    json_decref(j);
    return wb_error(ctx, WABOT_ERR_PARSE, "%s: not a JSON %s (%s)", what,
                    want_array ? "array" : "object",
                    j == NULL ? jerr.text : "another JSON type");
}

int wb_campaign_json_out(wabot_ctx *ctx, const json_t *o, char **out)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    *out = wb_strdup(&ctx->alloc, text);
    wb_json_free(text);
    return *out != NULL ? WABOT_OK
                        : wb_error(ctx, WABOT_ERR_NOMEM,
                                   "campaign: out of memory");
}
