/* The invoice-processing queue: wabot_invoice_enqueue() and its built-in
 * worker, which issues the invoice (or finds it by its key), stores its
 * PDF, sends the customer the PDF as a WhatsApp document at its signed
 * URL with the text summary as caption, and marks the invoice SENT.
 *
 * Every step is idempotent, so a retried or redelivered job sends one
 * invoice: the job id is "invoice:<org>:<key>"; issuing with the key
 * gives the invoice already issued; the document message's idempotency
 * key is "invoice-doc:<org>:<number>" (a second enqueue is EXISTS);
 * SENT is set only from ISSUED. Without document URLs (no
 * invoices.secret or public_url) the text summary is sent alone. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "commerce/invoice_internal.h"
#include "internal/json_alloc.h"
#include "wabot/jobs.h"
#include "wabot/out.h"

#define MODULE "invoices"
#define JOB_ID_MAX 256
/* A summary longer than a provider allows (Twilio: 1600 characters of
 * Body) is replaced by this short one. */
#define SHORT_CAPTION "Invoice %s: %s %s, due %s"

/* ------------------------------------------------------------------ */
/* The payload                                                         */

static const char *str_of(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static int add_lines(wabot_invoice_draft *d, json_t *lines)
{
    if (!json_is_array(lines) || json_array_size(lines) == 0)
        return WABOT_ERR_INVAL;
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i);
        json_t *q = json_object_get(l, "quantity");
        json_t *u = json_object_get(l, "unit_minor");
        json_t *t = json_object_get(l, "tax_bp");
        if (!json_is_integer(q) || !json_is_integer(u) ||
            (t && !json_is_integer(t)))
            return WABOT_ERR_INVAL;
        int64_t bp = t ? json_integer_value(t) : WABOT_INVOICE_TAX_DEFAULT;
        if (bp < WABOT_INVOICE_TAX_DEFAULT || bp > WABOT_INVOICE_MAX_TAX_BP)
            return WABOT_ERR_INVAL;
        int rc = wabot_invoice_draft_add_line(
            d, str_of(l, "sku"), str_of(l, "name"), json_integer_value(q),
            json_integer_value(u), (int32_t)bp);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

/* A draft from a payload; NULL with *rc set (INVAL: a bad payload). */
static wabot_invoice_draft *draft_of(wabot_ctx *ctx, json_t *root, int *rc)
{
    const char *key = str_of(root, "key");
    wabot_invoice_draft *d =
        wabot_invoice_draft_new(ctx, str_of(root, "org"),
                                str_of(root, "customer"),
                                str_of(root, "currency"));
    *rc = d ? WABOT_OK : WABOT_ERR_INVAL;
    if (*rc == WABOT_OK)
        *rc = key ? wabot_invoice_draft_set_key(d, key) : WABOT_ERR_INVAL;
    if (*rc == WABOT_OK)
        *rc = add_lines(d, json_object_get(root, "lines"));
    if (*rc != WABOT_OK) {
        wabot_invoice_draft_free(d);
        return NULL;
    }
    return d;
}

static json_t *parse(wabot_ctx *ctx, const char *json, size_t len)
{
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *root = json ? json_loadb(json, len, 0, NULL) : NULL;
    wb_json_scope_leave(prev);
    return json_is_object(root) ? root : (json_decref(root), NULL);
}

static void free_json(wabot_ctx *ctx, json_t *root)
{
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_decref(root);
    wb_json_scope_leave(prev);
}

int wabot_invoice_enqueue(wabot_ctx *ctx, const char *json, size_t len,
                          char **job_id)
{
    if (job_id)
        *job_id = NULL;
    if (!ctx)
        return WABOT_ERR_INVAL;
    if (!wb_invoices_module_of(ctx))
        return WABOT_ERR_STATE;
    json_t *root = parse(ctx, json, len);
    if (!root)
        return wb_error(ctx, WABOT_ERR_PARSE, "invoices: payload is not a "
                        "JSON object");
    int rc;
    wabot_invoice_draft *d = draft_of(ctx, root, &rc); /* validates it */
    char id[JOB_ID_MAX];
    if (d)
        snprintf(id, sizeof id, "invoice:%s:%s", d->inv.org, d->inv.key);
    wabot_invoice_draft_free(d);
    free_json(ctx, root);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "invoices: bad payload (org, customer, "
                        "currency, key and lines are needed): %s",
                        wabot_ctx_errmsg(ctx));
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = id;
    return wabot_job_enqueue(ctx, WABOT_INVOICE_QUEUE, json, len, &spec,
                             job_id);
}

/* ------------------------------------------------------------------ */
/* The worker                                                          */

/* The document with `text` as caption, or `text` alone without a URL. */
static int set_content(wabot_out *o, const char *url, const char *text)
{
    return url ? wabot_out_set_media(o, url, text) : wabot_out_set_text(o, text);
}

static int send_document(wabot_ctx *ctx, const wb_invoice *inv)
{
    char *text = NULL, *url = NULL, key[160], caption[200],
         amount[WB_MONEY_STR], date[11];
    int rc = wabot_invoice_render_text(ctx, inv->org, inv->number, &text);
    if (rc != WABOT_OK)
        return rc;
    int has_url = wabot_invoice_document_url(ctx, inv->org, inv->number,
                                             &url) == WABOT_OK;
    wabot_out *o = wabot_out_new(ctx);
    snprintf(key, sizeof key, "invoice-doc:%s:%s", inv->org, inv->number);
    wb_money_amount_str(inv->total_minor, (unsigned)inv->exponent, amount);
    wb_inv_date(inv->due_ms, date);
    snprintf(caption, sizeof caption, SHORT_CAPTION, inv->number,
             inv->currency, amount, date);
    rc = o ? wabot_out_set_to(o, inv->customer) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK)
        rc = wabot_out_set_org(o, inv->org);
    if (rc == WABOT_OK)
        rc = wabot_out_set_category(o, WABOT_CAT_NOTICE);
    if (rc == WABOT_OK)
        rc = wabot_out_set_idempotency_key(o, key);
    if (rc == WABOT_OK)
        rc = wabot_out_set_correlation_id(o, key + strlen("invoice-doc:"));
    if (rc == WABOT_OK)
        rc = set_content(o, has_url ? url : NULL, text);
    if (rc == WABOT_OK)
        rc = wabot_out_enqueue(o, NULL);
    if (rc == WABOT_ERR_TOO_LARGE) {
        rc = set_content(o, has_url ? url : NULL, caption);
        if (rc == WABOT_OK)
            rc = wabot_out_enqueue(o, NULL);
    }
    if (rc == WABOT_ERR_EXISTS)
        rc = WABOT_OK; /* sent by an earlier attempt */
    wabot_out_free(o);
    wabot_ctx_mem_free(ctx, text);
    wabot_ctx_mem_free(ctx, url);
    return rc;
}

/* Issue (or find) the invoice, store its PDF, send it, mark it SENT. */
static int process(wabot_ctx *ctx, wabot_invoice_draft *d)
{
    int rc = wabot_invoice_issue(d, NULL);
    if (rc != WABOT_OK && rc != WABOT_ERR_EXISTS)
        return rc;
    const char *org = d->inv.org, *number = d->inv.number;
    wb_invoice inv;
    wb_invoice_init(&inv, &ctx->alloc);
    char *pdf = NULL;
    size_t len = 0;
    rc = wb_invoice_load(ctx, org, number, &inv);
    if (rc == WABOT_OK)
        rc = wabot_invoice_render_pdf(ctx, org, number, &pdf, &len);
    if (rc == WABOT_OK)
        rc = wb_invoice_store_pdf(ctx, org, number, pdf, len);
    if (rc == WABOT_OK && inv.status == WABOT_INVOICE_ISSUED) {
        rc = send_document(ctx, &inv);
        if (rc == WABOT_OK)
            rc = wabot_invoice_set_status(ctx, org, number,
                                          WABOT_INVOICE_SENT);
        if (rc == WABOT_ERR_STATE)
            rc = WABOT_OK; /* paid or void meanwhile: nothing to send */
    }
    wb_free(&ctx->alloc, pdf);
    wb_invoice_clear(&inv);
    return rc;
}

static int on_job(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len = 0;
    const char *payload = wabot_job_payload(job, &len);
    json_t *root = parse(ctx, payload, len);
    int rc = root ? WABOT_OK : WABOT_ERR_PARSE;
    wabot_invoice_draft *d = root ? draft_of(ctx, root, &rc) : NULL;
    free_json(ctx, root);
    if (rc == WABOT_OK)
        rc = process(ctx, d);
    if (rc == WABOT_ERR_PARSE || rc == WABOT_ERR_INVAL) {
        wabot_job_set_error(job, wabot_ctx_errmsg(ctx));
        wabot_job_set_permanent(job); /* retrying cannot fix the payload */
    }
    if (rc != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, MODULE, "job %s: %s", wabot_job_id(job),
               wabot_ctx_errmsg(ctx));
    wabot_invoice_draft_free(d);
    return rc;
}

int wb_invoice_worker_add(wabot_ctx *ctx, wabot_module *m)
{
    return wabot_queue_add_worker(
        ctx, WABOT_INVOICE_QUEUE, on_job, m, NULL,
        (int)wb_inv_opt_int(m, NULL, WB_INV_OPT_CONCURRENCY));
}
