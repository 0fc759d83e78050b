/* The webhook routes' handlers: GET (Meta's handshake) and POST on each
 * configured webhook path, registered in the context's route table by
 * lib/http_server. A POST goes to a provider parser and its messages
 * to the pipeline. Parsing lives in twilio.c and meta.c, authenticity in
 * verify.c (signatures, the GET handshake), delivery receipts in
 * receipts.c; this file only decides what runs in which order (content
 * type, size, signature, body) and what is answered. */
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

/* Grow an array of `size`-byte items to hold one more. */
static int grow(const wabot_allocator *a, void **items, size_t n, size_t *cap,
                size_t size)
{
    if (n < *cap)
        return WABOT_OK;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = wb_realloc(a, *items, ncap * size);
    if (p == NULL)
        return WABOT_ERR_NOMEM;
    *items = p;
    *cap = ncap;
    return WABOT_OK;
}

int wb_webhook_batch_add_msg(wb_webhook_batch *b, wabot_message *m)
{
    void *items = b->msgs;
    if (grow(&b->alloc, &items, b->n_msgs, &b->cap_msgs, sizeof *b->msgs)) {
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
    if (grow(&b->alloc, &items, b->n_statuses, &b->cap_statuses,
             sizeof *b->statuses))
        return NULL;
    b->statuses = items;
    wb_status_update *s = &b->statuses[b->n_statuses++];
    memset(s, 0, sizeof *s);
    return s;
}

/* ------------------------------------------------------------------ */
/* Request inspection                                                  */

typedef enum body_kind { BODY_UNSUPPORTED, BODY_FORM, BODY_JSON } body_kind;

/* The media type of a Content-Type value, without parameters
 * ("; charset=utf-8"), surrounding white space, or case. */
static body_kind body_kind_of(const char *ct)
{
    if (ct == NULL)
        return BODY_UNSUPPORTED;
    ct += strspn(ct, " \t");
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == strlen(WB_CT_FORM) && strncasecmp(ct, WB_CT_FORM, n) == 0)
        return BODY_FORM;
    if (n == strlen(WB_CT_JSON) && strncasecmp(ct, WB_CT_JSON, n) == 0)
        return BODY_JSON;
    return BODY_UNSUPPORTED;
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

/* GET on a webhook path: Meta's verification handshake. */
static int handle_get(wabot_ctx *ctx, const char *query,
                      wabot_http_response **resp)
{
    wb_reject rej;
    int rc = wb_meta_handshake(ctx, query, &rej, resp);
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
static int process_batch(wabot_ctx *ctx, body_kind kind, wb_webhook_batch *b,
                         wabot_http_response **resp)
{
    apply_status_updates(ctx, b);
    if (b->n_ignored_changes > 0)
        wb_count(ctx, "webhook.ignored_changes",
                 (int64_t)b->n_ignored_changes);
    /* Twilio can carry the turn's replies in its answer (opt-in). */
    wb_inline sink = {NULL, 0, 0};
    int inline_replies = kind == BODY_FORM && ctx->cfg.twilio_inline_replies;
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
    wabot_http_response *r =
        kind != BODY_FORM ? wb_response_json_ok(ctx)
        : sink.n          ? wb_response_twiml_messages(ctx, sink.items, sink.n)
                          : wb_response_twiml_empty(ctx);
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

/* Twilio: the form is decoded (with its limits) first because the
 * signature covers the decoded parameters; nothing is interpreted before
 * the signature holds. */
static int handle_twilio(wabot_ctx *ctx, const wb_request *r,
                         wabot_http_response **resp)
{
    wb_form_limits lim = {
        ctx->cfg.max_params > 0 ? (size_t)ctx->cfg.max_params : 0,
        ctx->cfg.max_field_bytes > 0 ? (size_t)ctx->cfg.max_field_bytes : 0};
    wb_form *f = NULL;
    wb_reject rej;
    int rc = wb_form_parse(&ctx->alloc, r->body, r->len, &lim, &f, &rej);
    if (rc == WABOT_OK)
        rc = wb_verify_twilio(ctx, r, f, &rej);
    wb_webhook_batch batch;
    wb_webhook_batch_init(&batch, ctx);
    if (rc == WABOT_OK)
        rc = wb_twilio_parse_form(ctx, f, &batch, &rej);
    wb_form_free(f);
    if (rc != WABOT_OK)
        return parse_failed(ctx, rc, &rej, resp);
    return process_batch(ctx, BODY_FORM, &batch, resp);
}

static int handle_meta(wabot_ctx *ctx, const wb_request *r,
                       wabot_http_response **resp)
{
    wb_reject rej;
    wb_webhook_batch batch;
    wb_webhook_batch_init(&batch, ctx);
    int rc = wb_verify_meta(ctx, r, &rej);
    if (rc == WABOT_OK)
        rc = wb_meta_parse(ctx, r->body, r->len, &batch, &rej);
    if (rc != WABOT_OK)
        return parse_failed(ctx, rc, &rej, resp);
    return process_batch(ctx, BODY_JSON, &batch, resp);
}

int wb_webhook_get(wabot_ctx *ctx, const wb_request *req,
                   wabot_http_response **resp)
{
    const char *q = strchr(req->target, '?');
    return handle_get(ctx, q != NULL ? q : "", resp);
}

int wb_webhook_post(wabot_ctx *ctx, const wb_request *req,
                    wabot_http_response **resp)
{
    wb_reject rej;
    const char *ct = wb_header_get(req, "Content-Type");
    body_kind kind = body_kind_of(ct);
    if (kind == BODY_UNSUPPORTED) {
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
    return kind == BODY_FORM ? handle_twilio(ctx, req, resp)
                             : handle_meta(ctx, req, resp);
}
