/* The "webhook" module: the dispatcher the provider modules (twilio.c,
 * meta.c) register with. It serves their paths (GET: a provider's
 * handshake; POST: the provider of the Content-Type), and runs the steps
 * common to every provider: the size limit, receipts, the pipeline, the
 * answer. Parsing lives in the providers, authenticity in verify.c,
 * delivery receipts in receipts.c; this file only decides what runs in
 * which order and what is answered. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal/backlog.h"
#include "internal/inbound.h"
#include "internal/metrics.h"
#include "internal/outbound.h"
#include "internal/webhook.h"
#include "internal/pipeline.h"
#include "internal/runtime.h"

/* ------------------------------------------------------------------ */
/* The batch                                                           */

void wb_webhook_batch_init(wb_webhook_batch *b, const wabot_ctx *ctx)
{
    memset(b, 0, sizeof *b);
    b->alloc = ctx->alloc;
}

static void status_free(const wabot_allocator *a, wb_status_update *s)
{
    wb_free(a, s->id);
    wb_free(a, s->status);
    wb_free(a, s->recipient);
    wb_free(a, s->error_code);
    wb_free(a, s->send_key);
}

void wb_webhook_batch_clear(wb_webhook_batch *b)
{
    for (size_t i = 0; i < b->n_msgs; i++)
        wabot_message_free(b->msgs[i]);
    for (size_t i = 0; i < b->n_statuses; i++)
        status_free(&b->alloc, &b->statuses[i]);
    wb_free(&b->alloc, b->msgs);
    wb_free(&b->alloc, b->statuses);
    wabot_allocator a = b->alloc;
    memset(b, 0, sizeof *b);
    b->alloc = a;
}

int wb_webhook_batch_add_msg(wb_webhook_batch *b, wabot_message *m)
{
    void *items = b->msgs;
    if (wb_grow(&b->alloc, &items, b->n_msgs + 1, &b->cap_msgs,
                sizeof *b->msgs)) {
        wabot_message_free(m);
        return WABOT_ERR_NOMEM;
    }
    b->msgs = items;
    b->msgs[b->n_msgs++] = m;
    return WABOT_OK;
}

wb_status_update *wb_webhook_batch_add_status(wb_webhook_batch *b)
{
    void *items = b->statuses;
    if (wb_grow(&b->alloc, &items, b->n_statuses + 1, &b->cap_statuses,
                sizeof *b->statuses))
        return NULL;
    b->statuses = items;
    wb_status_update *s = &b->statuses[b->n_statuses++];
    memset(s, 0, sizeof *s);
    return s;
}

/* ------------------------------------------------------------------ */
/* Request inspection                                                  */

/* The providers registered with a context's webhook module. */
#define WB_MAX_PROVIDERS 8
struct wb_webhooks {
    const wb_webhook_provider *p[WB_MAX_PROVIDERS];
    size_t n;
    wb_webhook_serve_fn serve;
    wb_webhook_diverter divert; /* plan NULL: everything is handled here */
};

static const wb_webhooks *webhooks_of(const wabot_ctx *ctx)
{
    wabot_module *m = wabot_ctx_module(ctx, "webhook");
    return m != NULL ? wabot_module_data(m) : NULL;
}

/* The provider reading the media type of a Content-Type value (without
 * parameters such as "; charset=utf-8", surrounding white space, or
 * case); NULL if none does. */
static const wb_webhook_provider *provider_for(const wb_webhooks *w,
                                               const char *ct)
{
    if (ct == NULL || w == NULL)
        return NULL;
    ct += strspn(ct, " \t");
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->p[i]->media_type) == n &&
            strncasecmp(ct, w->p[i]->media_type, n) == 0)
            return w->p[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */

int wb_webhook_reject(wabot_ctx *ctx, const wb_reject *rej,
                      wabot_http_response **resp)
{
    char name[64];
    snprintf(name, sizeof name, "webhook.rejected.%s", rej->code);
    wb_count(ctx, name, 1);
    wb_log(ctx, WABOT_LOG_WARN, "webhook", "rejected %d %s: %s",
           rej->http_status, rej->code, rej->message);
    *resp = wb_response_error(ctx, rej);
    /* A 503 is a storage or time-out hiccup whose dedup claim was
     * released: the redelivery may come at once. */
    if (*resp != NULL && rej->http_status == 503 &&
        wb_response_add_header(*resp, "Retry-After",
                               WB_RETRY_AFTER_SECONDS) != WABOT_OK) {
        wabot_http_response_free(*resp);
        *resp = NULL;
    }
    if (*resp == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "webhook: out of memory");
    return WABOT_OK;
}

static int answer(wabot_ctx *ctx, wabot_http_response *r,
                  wabot_http_response **resp)
{
    *resp = r;
    if (r == NULL)
        return wb_error(ctx, WABOT_ERR_NOMEM, "webhook: out of memory");
    return WABOT_OK;
}

/* GET on a webhook path: the verification handshake of the provider
 * that has one (Meta's). */
static int handle_get(wabot_ctx *ctx, const char *query,
                      wabot_http_response **resp)
{
    const wb_webhooks *w = webhooks_of(ctx);
    const wb_webhook_provider *p = NULL;
    for (size_t i = 0; w != NULL && i < w->n && p == NULL; i++)
        if (w->p[i]->handshake != NULL)
            p = w->p[i];
    wb_reject rej;
    if (p == NULL) {
        wb_reject_set(&rej, WABOT_ERR_UNSUPPORTED, 405, "method_not_allowed",
                      "no provider on this path has a GET handshake; "
                      "use POST");
        return wb_webhook_reject(ctx, &rej, resp);
    }
    int rc = p->handshake(ctx, query, &rej, resp);
    if (rc == WABOT_ERR_AUTH)
        return wb_webhook_reject(ctx, &rej, resp);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "webhook: %s", wabot_strerror(rc));
    return WABOT_OK;
}

/* Delivery receipts update the delivery state of what we sent. A receipt
 * that cannot be stored is logged and dropped: the request carrying it is
 * still answered 200, since providers do not redeliver callbacks reliably
 * and a retry of a whole Meta batch would re-run its messages' dedup
 * only. */
static void apply_status_updates(wabot_ctx *ctx, const wb_webhook_batch *b)
{
    if (b->n_statuses > 0)
        wb_count(ctx, "webhook.status_callbacks", (int64_t)b->n_statuses);
    for (size_t i = 0; i < b->n_statuses; i++) {
        int rc = wb_receipt_apply(ctx, &b->statuses[i]);
        if (rc != WABOT_OK)
            wb_log(ctx, WABOT_LOG_WARN, "webhook",
                   "receipt for %s not recorded: %s", b->statuses[i].id,
                   wabot_strerror(rc));
    }
}

/* Run every message through the pipeline in batch order. A failing turn
 * does not change the answer (the pipeline has logged and counted it, and
 * a redelivery would fail the same way), except when it failed for
 * infrastructure reasons (storage down, a time-out): the answer is then
 * 503 so the provider redelivers, which dedup makes safe. Returns the
 * number of such failures. */
static size_t handle_messages(wabot_ctx *ctx, const wb_webhook_batch *b,
                              wb_inline *sink)
{
    size_t transient = 0;
    for (size_t i = 0; i < b->n_msgs; i++) {
        int rc = sink ? wb_ctx_handle_message_inline(ctx, b->msgs[i], sink)
                      : wabot_ctx_handle_message(ctx, b->msgs[i]);
        if (rc < 0 && wb_inbound_transient(rc))
            transient++;
        if (rc < 0)
            wb_log(ctx, WABOT_LOG_DEBUG, "webhook",
                   "message %s: turn failed (%s)",
                   wabot_message_id(b->msgs[i]), wabot_strerror(rc));
    }
    return transient;
}

/* Handle a parsed, authentic batch and answer it. */
static int process_batch(wabot_ctx *ctx, const wb_webhook_provider *p,
                         wb_webhook_batch *b, wabot_http_response **resp)
{
    apply_status_updates(ctx, b);
    if (b->n_ignored_changes > 0)
        wb_count(ctx, "webhook.ignored_changes",
                 (int64_t)b->n_ignored_changes);
    /* Twilio can carry the turn's replies in its answer (opt-in). */
    wb_inline sink = {NULL, 0, 0};
    int inline_replies = p->inline_replies != NULL && p->inline_replies(ctx);
    if (b->n_msgs > 0 && wb_backlog_admit(ctx) != WABOT_OK) {
        /* Nothing handled, no dedup claim taken: the redelivery is a
         * first delivery. */
        wb_webhook_batch_clear(b);
        wb_reject rej;
        wb_reject_set(&rej, WABOT_ERR_BUSY, 503, "overloaded",
                      "the outbound backlog is full (outbound_backlog_max); "
                      "redeliver later");
        return wb_webhook_reject(ctx, &rej, resp);
    }
    size_t transient = handle_messages(ctx, b, inline_replies ? &sink : NULL);
    wb_webhook_batch_clear(b);
    if (transient > 0) {
        /* Inline replies would be lost with a 503: queue them instead. */
        for (size_t i = 0; i < sink.n; i++)
            wb_outbound_enqueue(ctx, sink.items[i]);
        wb_inline_clear(ctx, &sink);
        wb_reject rej;
        wb_reject_set(&rej, WABOT_ERR_STORAGE, 503, "temporarily_unavailable",
                      "%zu message(s) could not be handled for now "
                      "(storage or time-out); redeliver later", transient);
        return wb_webhook_reject(ctx, &rej, resp);
    }
    wabot_http_response *r = p->answer(ctx, sink.items, sink.n);
    wb_inline_clear(ctx, &sink);
    return answer(ctx, r, resp);
}

static int parse_failed(wabot_ctx *ctx, int rc, const wb_reject *rej,
                        wabot_http_response **resp)
{
    if (rc == WABOT_ERR_PARSE || rc == WABOT_ERR_TOO_LARGE ||
        rc == WABOT_ERR_AUTH)
        return wb_webhook_reject(ctx, rej, resp);
    /* out of memory: no answer can be built either */
    return wb_error(ctx, rc, "webhook: %s while reading the request",
                    wabot_strerror(rc));
}

int wb_webhook_get(wabot_ctx *ctx, const wb_request *req,
                   wabot_http_response **resp)
{
    const char *q = strchr(req->target, '?');
    return handle_get(ctx, q != NULL ? q : "", resp);
}

/* A batch (partly) for another system: all of it forwarded, or the part
 * for here handled first, then the whole request forwarded. A 5xx of
 * either side is the answer, so the provider redelivers (dedup makes
 * that safe on both sides); else a mixed batch gets this side's answer. */
static int divert(wabot_ctx *ctx, const wb_webhook_diverter *d,
                  const wb_webhook_provider *p, const wb_request *req,
                  wb_webhook_batch *b, wabot_http_response **resp)
{
    wb_divert_plan plan = d->plan(ctx, b, d->ud);
    if (plan == WB_DIVERT_HERE)
        return process_batch(ctx, p, b, resp);
    if (plan == WB_DIVERT_LEGACY) {
        wb_webhook_batch_clear(b);
        return d->forward(ctx, req, resp, d->ud);
    }
    wabot_http_response *here = NULL, *there = NULL;
    int rc = process_batch(ctx, p, b, &here);
    if (rc != WABOT_OK || wabot_http_response_status(here) >= 500) {
        *resp = here;
        return rc;
    }
    rc = d->forward(ctx, req, &there, d->ud);
    if (rc != WABOT_OK) {
        wabot_http_response_free(here);
        return rc;
    }
    int legacy_failed = wabot_http_response_status(there) >= 500;
    *resp = legacy_failed ? there : here;
    wabot_http_response_free(legacy_failed ? here : there);
    return WABOT_OK;
}

int wb_webhook_post(wabot_ctx *ctx, const wb_request *req,
                    wabot_http_response **resp)
{
    wb_reject rej;
    const char *ct = wb_header_get(req, "Content-Type");
    const wb_webhook_provider *p = provider_for(webhooks_of(ctx), ct);
    if (p == NULL) {
        wb_reject_set(&rej, WABOT_ERR_UNSUPPORTED, 415,
                      "unsupported_media_type",
                      "Content-Type '%.60s' is not supported; send "
                      WB_CT_FORM " (Twilio) or " WB_CT_JSON " (Meta)",
                      ct != NULL ? ct : "(none)");
        return wb_webhook_reject(ctx, &rej, resp);
    }
    if (ctx->cfg.max_body_bytes >= 0 &&
        (uint64_t)req->len > (uint64_t)ctx->cfg.max_body_bytes) {
        wb_reject_set(&rej, WABOT_ERR_TOO_LARGE, 413, "body_too_large",
                      "body is %zu bytes, over the limit of %lld "
                      "(max_body_bytes)", req->len,
                      (long long)ctx->cfg.max_body_bytes);
        return wb_webhook_reject(ctx, &rej, resp);
    }
    wb_webhook_batch batch;
    wb_webhook_batch_init(&batch, ctx);
    int rc = p->read(ctx, req, &batch, &rej);
    if (rc != WABOT_OK)
        return parse_failed(ctx, rc, &rej, resp);
    const wb_webhook_diverter *d = &webhooks_of(ctx)->divert;
    if (d->plan == NULL)
        return process_batch(ctx, p, &batch, resp);
    return divert(ctx, d, p, req, &batch, resp);
}

/* ------------------------------------------------------------------ */
/* The provider registry                                               */

wb_webhooks *wb_webhooks_new(wabot_ctx *ctx, wb_webhook_serve_fn serve)
{
    wb_webhooks *w = wb_calloc(&ctx->alloc, 1, sizeof *w);
    if (w != NULL)
        w->serve = serve;
    return w;
}

void wb_webhooks_free(wabot_ctx *ctx, wb_webhooks *w)
{
    wb_free(&ctx->alloc, w);
}

static wb_webhooks *registry_of(wabot_module *m)
{
    wabot_module *wm = wabot_ctx_module(wabot_module_ctx(m), "webhook");
    return wm != NULL ? wabot_module_data(wm) : NULL;
}

int wb_webhook_set_diverter(wabot_module *m, const wb_webhook_diverter *d)
{
    wb_webhooks *w = registry_of(m);
    if (w == NULL)
        return wb_error(wabot_module_ctx(m), WABOT_ERR_STATE,
                        "%s: no webhook module", wabot_module_name(m));
    if (w->divert.plan != NULL)
        return wb_error(wabot_module_ctx(m), WABOT_ERR_EXISTS,
                        "%s: a webhook diverter is installed already",
                        wabot_module_name(m));
    w->divert = *d;
    return WABOT_OK;
}

int wb_webhook_provider_add(wabot_module *m, const wb_webhook_provider *p,
                            const char *path)
{
    wabot_ctx *ctx = wabot_module_ctx(m);
    wb_webhooks *w = registry_of(m);
    if (w == NULL || w->n == WB_MAX_PROVIDERS)
        return wb_error(ctx, WABOT_ERR_STATE,
                        "webhook provider %s: no webhook module, or no room "
                        "in it", p->name);
    w->p[w->n++] = p;
    if (path == NULL)
        return WABOT_OK; /* parsing only: served by no path */
    return w->serve(ctx, path, p->handshake != NULL);
}
