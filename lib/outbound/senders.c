/* Senders: organisation numbers and the transports that send for them.
 * They live in the outbound module's configuration (with the window
 * templates), which is the "outbound" library module's data: created with
 * the context, and nothing below the module layer has to know it. */
#include <string.h>

#include "message.h"
#include "outbound.h"
#include "wabot/module.h"

static int outbound_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    ctx->out = wb_calloc(&ctx->alloc, 1, sizeof *ctx->out);
    return ctx->out ? WABOT_OK : WABOT_ERR_NOMEM;
}

static void outbound_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    wb_outbound_cfg *c = ctx->out;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_senders; i++) {
        wb_free(&ctx->alloc, c->senders[i].org);
        wb_free(&ctx->alloc, c->senders[i].number);
    }
    wb_free(&ctx->alloc, c->senders);
    for (size_t i = 0; i < WB_CATEGORIES; i++) {
        wb_free(&ctx->alloc, c->window[i].name);
        wb_free(&ctx->alloc, c->window[i].language);
    }
    wb_free(&ctx->alloc, c);
    ctx->out = NULL;
}

int wabot_transport_sender_add(wabot_ctx *ctx, const char *org,
                               const char *number, wabot_transport *transport)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    char e164[20];
    if (!org || !*org || !transport || !number ||
        wb_e164_normalize(number, e164, sizeof e164) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_INVAL, "a sender needs an "
                        "organisation, an E.164 number and a transport");
    if (wabot_ctx_sender_org(ctx, e164))
        return wb_error(ctx, WABOT_ERR_EXISTS, "number %s is already "
                        "registered", e164);
    wb_outbound_cfg *c = ctx->out;
    wb_sender *s = wb_realloc(&ctx->alloc, c->senders,
                              (c->n_senders + 1) * sizeof *s);
    if (!s)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    c->senders = s;
    wb_sender *it = &s[c->n_senders];
    it->org = wb_strdup(&ctx->alloc, org);
    it->number = wb_strdup(&ctx->alloc, e164);
    it->transport = transport;
    if (!it->org || !it->number) {
        wb_free(&ctx->alloc, it->org);
        wb_free(&ctx->alloc, it->number);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    c->n_senders++;
    return WABOT_OK;
}

const wabot_module_def wb_outbound_module = {
    WABOT_MODULE_DEF_VERSION, "outbound",
    "senders and window templates of outbound messages",
    NULL, NULL, 0, NULL, outbound_create, outbound_destroy};

const char *wabot_transport_sender_org(const wabot_ctx *ctx,
                                        const char *number)
{
    const wb_outbound_cfg *c = ctx ? ctx->out : NULL;
    for (size_t i = 0; c && number && *number && i < c->n_senders; i++)
        if (strcmp(c->senders[i].number, number) == 0)
            return c->senders[i].org;
    return NULL;
}

wabot_transport *wb_sender_route(const wabot_ctx *ctx, const wabot_outbound *o,
                                 const char **from)
{
    const wb_outbound_cfg *c = ctx->out;
    const char *org = wabot_outbound_organization(o);
    const char *want = wabot_outbound_from(o);
    const wb_sender *first = NULL;
    for (size_t i = 0; i < c->n_senders; i++) {
        const wb_sender *s = &c->senders[i];
        if (strcmp(s->org, org) != 0)
            continue;
        if (!first)
            first = s;
        if (strcmp(s->number, want) == 0) {
            *from = s->number;
            return s->transport;
        }
    }
    if (first) {
        *from = first->number;
        return first->transport;
    }
    *from = want;
    return ctx->transport;
}
