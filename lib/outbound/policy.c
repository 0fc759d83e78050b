/* Whether, and in which form, a message may go when its turn to be sent
 * comes: opt-out for reminders and campaigns, and the 24-hour window with
 * its per-category template fallback. Asked by delivery before each send,
 * because both depend on the customer's state at that moment, not when
 * the message was queued. */
#include <string.h>

#include "message.h"
#include "metrics.h"
#include "options.h"
#include "outbound.h"
#include "wabot/send.h"
#include "wabot/state.h"

/* Fill o's template fields (validated). */
static int set_template(wabot_ctx *ctx, wabot_outbound *o, const char *name,
                        const char *language, size_t n,
                        const char *const *params)
{
    if (!name || !*name || strlen(name) > 512 || !language || !*language ||
        strlen(language) > 16)
        return wb_error(ctx, WABOT_ERR_INVAL, "a template needs a name and a "
                        "language code");
    if (n > 20 || (n && !params))
        return wb_error(ctx, WABOT_ERR_INVAL, "0..20 template parameters");
    if (wb_outbound_set_str(o, &o->template_name, name) != WABOT_OK ||
        wb_outbound_set_str(o, &o->template_language, language) != WABOT_OK)
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

static int refused(wb_refusal *why, int status, const char *counter,
                   const char *reason)
{
    why->counter = counter;
    why->reason = reason;
    return status;
}

/* The window closed: the category's template instead, the text as {{1}}. */
static int window_fallback(wabot_ctx *ctx, wabot_outbound *o, wb_refusal *why)
{
    const wb_window_template *w = &ctx->out->window[o->category];
    if (!w->name)
        return refused(why, WABOT_ERR_WINDOW_CLOSED, "outbound.window_closed",
                       "outside the 24-hour window and no template "
                       "fallback");
    const char *text = wabot_outbound_text(o);
    const char *params[] = {text};
    char *saved = o->text;
    o->text = NULL;
    o->kind = WABOT_OUT_TEMPLATE;
    int rc = set_template(ctx, o, w->name, w->language, *text ? 1 : 0,
                          params);
    wb_outbound_free_str(o, saved);
    wb_count(ctx, "outbound.window_fallback", 1);
    return rc;
}

/* Whether o is a campaign or reminder message (opt-out applies), and
 * the window that applies to it (0: none). */
static int64_t policy_of(wabot_ctx *ctx, const wabot_outbound *o,
                         int *marketing)
{
    wabot_out_category cat = wabot_outbound_category(o);
    *marketing = cat == WABOT_CAT_CAMPAIGN || cat == WABOT_CAT_REMINDER;
    int64_t window_ms =
        wb_opt_int(ctx, wabot_outbound_organization(o), WABOT_OPT_WINDOW_MS);
    return window_ms > 0 && wabot_outbound_kind(o) != WABOT_OUT_TEMPLATE
               ? window_ms
               : 0;
}

int wb_outbound_admit_needs_profile(wabot_ctx *ctx, const wabot_outbound *o)
{
    int marketing;
    int64_t window_ms = policy_of(ctx, o, &marketing);
    return marketing || window_ms > 0;
}

int wb_outbound_admit_known(wabot_ctx *ctx, const wabot_outbound *o,
                            int64_t inbound_ms)
{
    int marketing;
    int64_t window_ms = policy_of(ctx, o, &marketing);
    return inbound_ms > 0 && !marketing &&
           (window_ms == 0 || wb_now(ctx) - inbound_ms <= window_ms);
}

int wb_outbound_admit_with(wabot_ctx *ctx, wabot_outbound *o, int opted_out,
                           int64_t last_inbound_ms, wb_refusal *why)
{
    int marketing;
    int64_t window_ms = policy_of(ctx, o, &marketing);
    if (marketing && opted_out)
        return refused(why, WABOT_ERR_OPTED_OUT, "outbound.opted_out",
                       "the customer opted out");
    if (window_ms == 0 || wb_now(ctx) - last_inbound_ms <= window_ms)
        return WABOT_OK;
    return window_fallback(ctx, o, why);
}

int wabot_ctx_set_window_template(wabot_ctx *ctx, wabot_out_category category,
                                  const char *name, const char *language)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    if ((unsigned)category >= WB_CATEGORIES)
        return wb_error(ctx, WABOT_ERR_INVAL, "unknown category %d",
                        (int)category);
    if (name && (!*name || !language || !*language))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "a window template needs a name and a language");
    wb_window_template *w = &ctx->out->window[category];
    char *n = name ? wb_strdup(&ctx->alloc, name) : NULL;
    char *l = name ? wb_strdup(&ctx->alloc, language) : NULL;
    if (name && (!n || !l)) {
        wb_free(&ctx->alloc, n);
        wb_free(&ctx->alloc, l);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    wb_free(&ctx->alloc, w->name);
    wb_free(&ctx->alloc, w->language);
    w->name = n;
    w->language = l;
    return WABOT_OK;
}
