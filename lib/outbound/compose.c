/* Composing: from a builder to a complete outbound message (addressing
 * filled, the catalog's texts resolved, the provider's limits checked),
 * and into the outbound queue. */
#include <string.h>

#include "builder.h"
#include "metrics.h"
#include "provider.h"

static wabot_out_kind kind_of(const wabot_out *out)
{
    const wabot_outbound *m = out->msg;
    if (m->template_name)
        return WABOT_OUT_TEMPLATE;
    if (out->options)
        return out->options;
    if (m->media_url)
        return WABOT_OUT_MEDIA;
    return m->text ? WABOT_OUT_TEXT : 0;
}

static int check_content(const wabot_out *out, wabot_out_kind kind)
{
    wabot_ctx *ctx = out->ctx;
    if (!kind)
        return wb_error(ctx, WABOT_ERR_INVAL, "the message has no content: "
                        "set a text, media, buttons, rows or a template");
    if ((kind == WABOT_OUT_BUTTONS || kind == WABOT_OUT_LIST) &&
        (!out->msg->text || !*out->msg->text))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "buttons and lists need a body text");
    if (out->msg->list_button && kind != WABOT_OUT_LIST)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "a list button text on a message without rows");
    return WABOT_OK;
}

/* Member *slot, else `dflt` (NULL: leave it absent). */
static int fill(wabot_outbound *o, char **slot, const char *dflt)
{
    if (*slot || !dflt)
        return WABOT_OK;
    return (*slot = wb_strdup(o->alloc, dflt)) ? WABOT_OK : WABOT_ERR_NOMEM;
}

static int address(const wabot_out *out, const wb_out_address *addr,
                   wabot_outbound *o)
{
    wabot_ctx *ctx = out->ctx;
    if (addr && !out->key_set &&
        wb_str_replace(o->alloc, &o->id, addr->id) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    if (addr)
        o->provider = addr->provider;
    if (fill(o, &o->to, addr ? addr->to : NULL) ||
        fill(o, &o->from, addr ? addr->from : "") ||
        fill(o, &o->organization, addr ? addr->org : ctx->cfg.default_org) ||
        fill(o, &o->in_reply_to, addr ? addr->in_reply_to : NULL) ||
        fill(o, &o->text, ""))
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

/* A list's button and section texts from the catalog, in the message's
 * locale (else its organisation's). */
static int list_texts(const wabot_out *out, wabot_outbound *o)
{
    const char *org = o->organization;
    if (fill(o, &o->list_button,
             wabot_ctx_text(out->ctx, org, out->locale, "list_button")) ||
        fill(o, &o->list_section,
             wabot_ctx_text(out->ctx, org, out->locale, "list_section")))
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

/* The provider whose limits apply: the one of the transport the message
 * is routed to (a send's or a reply's organisation's sender), else, for a
 * reply through a transport of no known provider, the one the customer
 * wrote from (its webhook may answer inline). */
static wabot_provider provider_for(const wabot_out *out,
                                   const wb_out_address *addr,
                                   const wabot_outbound *o)
{
    const char *from = "";
    wabot_provider p =
        wb_transport_provider(wb_sender_route(out->ctx, o, &from));
    return p == WABOT_PROVIDER_UNKNOWN && addr ? addr->provider : p;
}

int wb_out_compose(const wabot_out *out, const wb_out_address *addr,
                   wabot_outbound **res, wabot_outbound ***head,
                   size_t *n_head)
{
    *res = NULL;
    *head = NULL;
    *n_head = 0;
    wabot_ctx *ctx = out->ctx;
    wabot_out_kind kind = kind_of(out);
    int rc = check_content(out, kind);
    if (rc != WABOT_OK)
        return rc;
    wabot_outbound *o = wb_outbound_dup(&ctx->alloc, out->msg);
    if (!o)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    o->kind = kind;
    if (address(out, addr, o) != WABOT_OK ||
        (kind == WABOT_OUT_LIST && list_texts(out, o) != WABOT_OK)) {
        wb_outbound_free(o);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    char why[256];
    wabot_provider provider = provider_for(out, addr, o);
    if (!o->to)
        rc = wb_error(ctx, WABOT_ERR_INVAL, "the message has no recipient");
    else if ((rc = wb_long_text_fit(ctx, provider, o, out->locale, head,
                                    n_head)) != WABOT_OK)
        ; /* detail recorded */
    else if ((rc = wb_transport_check(provider, o, why, sizeof why)) !=
             WABOT_OK)
        rc = wb_error(ctx, rc, "%s", why);
    if (rc != WABOT_OK) {
        wb_long_text_parts_free(&ctx->alloc, *head, *n_head);
        *head = NULL;
        *n_head = 0;
        wb_outbound_free(o);
        return rc;
    }
    *res = o;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* The outbound queue                                                  */

int wb_outbound_enqueue_new(wabot_ctx *ctx, const wabot_outbound *o)
{
    char *json = wb_outbound_to_payload(o);
    if (!json)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = wabot_outbound_id(o);
    spec.max_attempts = (int32_t)ctx->cfg.outbound_max_attempts;
    int rc = wabot_job_enqueue(ctx, WABOT_QUEUE_OUTBOUND, json, strlen(json),
                               &spec, NULL);
    wabot_free(json);
    if (rc == WABOT_ERR_EXISTS)
        wb_count(ctx, "outbound.duplicates", 1);
    return rc;
}

int wb_outbound_enqueue(wabot_ctx *ctx, const wabot_outbound *o)
{
    int rc = wb_outbound_enqueue_new(ctx, o);
    if (rc == WABOT_ERR_EXISTS) {
        wb_log(ctx, WABOT_LOG_INFO, "outbound", "reply %s already queued: "
               "not sent twice", wabot_outbound_id(o));
        return WABOT_OK;
    }
    return rc;
}

int wabot_out_enqueue(wabot_out *out, char **id)
{
    if (id)
        *id = NULL;
    if (!out)
        return WABOT_ERR_INVAL;
    wabot_ctx *ctx = out->ctx;
    wabot_outbound *o = NULL, **head = NULL;
    size_t n_head = 0;
    int rc = wb_out_compose(out, NULL, &o, &head, &n_head);
    if (rc != WABOT_OK)
        return rc;
    /* The parts of a long text in order, the message itself last; a part
     * queued before (the same key queued again) is not queued twice. */
    for (size_t i = 0; i < n_head && rc >= 0; i++)
        if ((rc = wb_outbound_enqueue_new(ctx, head[i])) == WABOT_ERR_EXISTS)
            rc = WABOT_OK;
    wb_long_text_parts_free(&ctx->alloc, head, n_head);
    if (rc == WABOT_OK)
        rc = wb_outbound_enqueue_new(ctx, o);
    if (rc == WABOT_ERR_EXISTS)
        wb_error(ctx, rc, "idempotency key \"%s\" was queued already: "
                 "not sent twice", o->id);
    if (id && (rc == WABOT_OK || rc == WABOT_ERR_EXISTS) &&
        !(*id = wb_strdup(&ctx->alloc, o->id)))
        rc = wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    wb_outbound_free(o);
    return rc;
}
