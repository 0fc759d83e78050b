/* Reminders at work: the `reminders` queue's worker (one job per
 * occurrence, id "rem:<org>:<id>:<n>"), cancel-on-reply, and the invoice
 * hooks (PAYMENT_DUE at an invoice's due time, cancelled when it is paid
 * or voided).
 *
 * Cancel-on-reply is decided when the reminder fires, from the customer's
 * last_inbound_ms, which every inbound message keeps current and which the
 * worker reads anyway (opt-out, window): a message after the reminder was
 * created cancels it. Checking on the inbound path instead would add a
 * storage round trip to every turn (the Redis turn fast path is two); the
 * price is that the status reads SCHEDULED until the due time.
 *
 * Exactly once: the worker moves the reminder (sent = n) with a
 * compare-and-set before it queues the message, whose outbound id is
 * "reminder:<org>:<id>:<n>". A worker that dies between the two leaves
 * the job to be retried; the retry sees sent >= n and queues the same
 * outbound id again, which the outbound queue refuses if it exists. A
 * cancel that wins the compare-and-set stops the send; one that loses
 * gets WABOT_ERR_STATE. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/message.h"
#include "internal/metrics.h"
#include "internal/options.h"
#include "internal/outbound.h"
#include "internal/state.h"
#include "campaign_metrics.h"
#include "reminder.h"
#include "wabot/invoice.h"
#include "wabot/jobs.h"
#include "wabot/out.h"
#include "wabot/template.h"

#define CONCURRENCY 4
#define CAS_TRIES 16
/* The reason that cancels rather than fails a reminder. */
static const char REPLIED[] = "customer_replied";

static const char *str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static int64_t num(const json_t *o, const char *name)
{
    return (int64_t)json_integer_value(json_object_get(o, name));
}

/* ------------------------------------------------------------------ */
/* The message                                                         */

/* The message rendered for the customer (cust may be NULL). */
static char *render(wabot_ctx *ctx, const char *org, const json_t *doc,
                    const json_t *cust)
{
    const char *text = str(doc, "message");
    wabot_template *t = NULL;
    if (wabot_template_compile(ctx, text, strlen(text), &t) != WABOT_OK)
        return NULL;
    json_t *attrs = json_object_get(cust, "attributes");
    attrs = json_is_object(attrs) ? json_incref(attrs) : json_object();
    json_t *vars = json_pack("{s:s,s:o,s:{s:s}}", "name",
                             str(cust, "name") ? str(cust, "name") : "",
                             "customer", attrs, "org", "id", org);
    char *vtext = vars ? json_dumps(vars, JSON_COMPACT) : NULL;
    char *out = NULL;
    if (vtext)
        wabot_template_render_json(t, vtext, strlen(vtext), &out, NULL);
    wb_json_free(vtext);
    json_decref(vars);
    wabot_template_free(t);
    return out;
}

/* Why a reminder cannot go now, or NULL. *use_template: send the
 * reminder's own provider template (the window is closed). */
static const char *refusal(wabot_ctx *ctx, const char *org,
                           const json_t *doc, const json_t *cust,
                           int *use_template)
{
    *use_template = 0;
    int64_t last = num(cust, "last_inbound_ms");
    if (!json_is_false(json_object_get(doc, "cancelOnReply")) &&
        last > num(doc, "createdMs"))
        return REPLIED;
    if (json_is_true(json_object_get(cust, "opted_out")))
        return "opted_out";
    int64_t window = wb_opt_int(ctx, org, WABOT_OPT_WINDOW_MS);
    if (window <= 0 || wb_now(ctx) - last <= window)
        return NULL;
    if (json_is_object(json_object_get(doc, "template"))) {
        *use_template = 1;
        return NULL;
    }
    /* The context's fallback template for reminders: outbound applies it. */
    return ctx->out->window[WABOT_CAT_REMINDER].name ? NULL
                                                     : "window_closed";
}

static int fill_out(wabot_out *o, const char *org, const json_t *doc,
                    int64_t n, const char *text, int use_template)
{
    char idem[256], corr[128];
    snprintf(idem, sizeof idem, "reminder:%s:%s:%lld", org, str(doc, "id"),
             (long long)n);
    snprintf(corr, sizeof corr, "reminder:%s", str(doc, "id"));
    int rc = wabot_out_set_org(o, org);
    if (rc == WABOT_OK)
        rc = wabot_out_set_to(o, str(doc, "customerPhone"));
    if (rc == WABOT_OK)
        rc = wabot_out_set_category(o, WABOT_CAT_REMINDER);
    if (rc == WABOT_OK)
        rc = wabot_out_set_idempotency_key(o, idem);
    if (rc == WABOT_OK)
        rc = wabot_out_set_correlation_id(o, corr);
    if (rc != WABOT_OK || !use_template)
        return rc == WABOT_OK ? wabot_out_set_text(o, text) : rc;
    const json_t *tp = json_object_get(doc, "template");
    rc = wabot_out_set_template(o, str(tp, "name"), str(tp, "language"));
    return rc == WABOT_OK ? wabot_out_add_template_param(o, text) : rc;
}

/* The outbound message of occurrence n into *out, or the reason it must
 * not go (*why). Storage trouble is an error (the job is retried). */
static int prepare(wabot_ctx *ctx, const char *org, const json_t *doc,
                   int64_t n, wabot_out **out, const char **why)
{
    *out = NULL;
    *why = NULL;
    json_t *cust = NULL;
    int rc = wb_profile_doc(ctx, org, str(doc, "customerPhone"), &cust);
    if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
        return rc;
    int use_template = 0;
    *why = refusal(ctx, org, doc, cust, &use_template);
    char *text = *why ? NULL : render(ctx, org, doc, cust);
    json_decref(cust);
    if (*why)
        return WABOT_OK;
    wabot_out *o = text ? wabot_out_new(ctx) : NULL;
    rc = o ? fill_out(o, org, doc, n, text, use_template) : WABOT_ERR_NOMEM;
    wabot_ctx_mem_free(ctx, text);
    if (rc == WABOT_ERR_NOMEM) {
        wabot_out_free(o);
        return rc;
    }
    if (rc != WABOT_OK) { /* rendered too long, ...: never sendable */
        wabot_out_free(o);
        *why = "invalid_message";
        return WABOT_OK;
    }
    if (use_template)
        wb_count(ctx, "reminders.template_fallback", 1);
    *out = o;
    return WABOT_OK;
}

static int enqueue(wabot_ctx *ctx, wabot_out *o)
{
    int rc = wabot_out_enqueue(o, NULL);
    if (rc == WABOT_ERR_EXISTS) { /* a retry after the message was queued */
        wb_error_clear(ctx);
        rc = WABOT_OK;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* The worker                                                          */

/* The event wabot_reminders_total counts for an occurrence that went
 * (why NULL) or did not. */
static const char *event_of(const char *why)
{
    if (why == NULL)
        return "fired";
    if (why == REPLIED)
        return "skipped_replied";
    if (strcmp(why, "opted_out") == 0)
        return "skipped_opted_out";
    if (strcmp(why, "window_closed") == 0)
        return "skipped_window_closed";
    return "failed";
}

static void count_outcome(wabot_ctx *ctx, const char *org, const json_t *doc,
                          const char *why)
{
    wb_campaign_metrics_reminder(ctx, org, str(doc, "type"), event_of(why));
    char name[96], type[32];
    snprintf(type, sizeof type, "%s", str(doc, "type"));
    for (char *p = type; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (why == REPLIED) {
        wb_count(ctx, "reminders.cancelled", 1);
        wb_count(ctx, "reminders.cancelled.on_reply", 1);
        return;
    }
    if (why) {
        wb_count(ctx, "reminders.failed", 1);
        snprintf(name, sizeof name, "reminders.skipped.%s", why);
        wb_count(ctx, name, 1);
        snprintf(name, sizeof name, "reminders.failed.%s", type);
    } else {
        wb_count(ctx, "reminders.sent", 1);
        snprintf(name, sizeof name, "reminders.sent.%s", type);
    }
    wb_count(ctx, name, 1);
}

/* The reminder after occurrence n: sent (or FAILED with why); the next
 * occurrence's time when one remains (*next_at, else 0). */
static json_t *advance(wabot_ctx *ctx, const char *org, const json_t *doc,
                       int64_t n, const char *why, int64_t *next_at)
{
    json_t *d = json_deep_copy(doc);
    const json_t *rep = json_object_get(doc, "repeat");
    int64_t count = rep ? num(rep, "count") : 1;
    int64_t now = wb_now(ctx);
    *next_at = 0;
    json_object_set_new(d, "updatedMs", json_integer(now));
    if (why) {
        json_object_set_new(d, "status", json_string(why == REPLIED
                                                         ? "CANCELLED"
                                                         : "FAILED"));
        json_object_set_new(d, "reason", json_string(why));
        return d;
    }
    json_object_set_new(d, "sent", json_integer(n));
    if (n >= count) {
        json_object_set_new(d, "status", json_string("SENT"));
        return d;
    }
    int64_t at = num(doc, "scheduledMs") + n * num(rep, "intervalMs");
    *next_at = wb_rem_quiet_release(ctx, org, str(doc, "customerPhone"),
                                    at > now ? at : now);
    json_object_set_new(d, "nextRunMs", json_integer(*next_at));
    return d;
}

/* Occurrence n was recorded as sent: make sure its message and the next
 * occurrence's job are queued (both idempotent). */
static int resume(wabot_ctx *ctx, const char *org, const json_t *doc,
                  int64_t n)
{
    wabot_out *o = NULL;
    const char *why = NULL;
    int rc = prepare(ctx, org, doc, n, &o, &why);
    if (rc == WABOT_OK && o)
        rc = enqueue(ctx, o);
    wabot_out_free(o);
    if (rc == WABOT_OK && num(doc, "sent") == n &&
        strcmp(str(doc, "status"), "SCHEDULED") == 0)
        rc = wb_rem_schedule(ctx, org, doc, n + 1, num(doc, "nextRunMs"));
    return rc;
}

/* One try at occurrence n: WABOT_ERR_CONFLICT to try again. */
static int fire_step(wabot_ctx *ctx, wabot_job *job, const char *org,
                     const wb_rem *r, int64_t n)
{
    const char *status = str(r->doc, "status");
    if (num(r->doc, "sent") >= n)
        return strcmp(status, "CANCELLED") && strcmp(status, "FAILED")
                   ? resume(ctx, org, r->doc, n)
                   : WABOT_OK;
    if (strcmp(status, "SCHEDULED") != 0)
        return WABOT_OK; /* cancelled or failed meanwhile */
    int64_t now = wb_now(ctx);
    int64_t at = wb_rem_quiet_release(ctx, org, str(r->doc, "customerPhone"),
                                      now);
    if (at > now) { /* quiet hours began after it was scheduled */
        wb_count(ctx, "reminders.quiet_deferred", 1);
        wb_campaign_metrics_reminder(ctx, org, str(r->doc, "type"),
                                     "deferred_quiet_hours");
        wabot_job_retry_in(job, at - now);
        return WABOT_OK;
    }
    wabot_out *o = NULL;
    const char *why = NULL;
    int rc = prepare(ctx, org, r->doc, n, &o, &why);
    if (rc != WABOT_OK)
        return rc;
    int64_t next_at = 0;
    json_t *d = advance(ctx, org, r->doc, n, why, &next_at);
    rc = d ? wb_rem_store(ctx, org, r->doc, r->version, d) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK && o)
        rc = enqueue(ctx, o);
    if (rc == WABOT_OK)
        count_outcome(ctx, org, r->doc, why);
    if (rc == WABOT_OK && next_at)
        rc = wb_rem_schedule(ctx, org, d, n + 1, next_at);
    wabot_out_free(o);
    json_decref(d);
    return rc;
}

static int fire(wabot_ctx *ctx, wabot_job *job, const char *org,
                const char *id, int64_t n)
{
    for (int tries = 0; tries < CAS_TRIES; tries++) {
        wb_rem r;
        int rc = wb_rem_load(ctx, org, id, &r);
        if (rc == WABOT_ERR_NOT_FOUND || rc == WABOT_ERR_PARSE) {
            wabot_job_set_permanent(job);
            return rc == WABOT_ERR_PARSE ? rc : WABOT_OK;
        }
        if (rc != WABOT_OK)
            return rc;
        rc = fire_step(ctx, job, org, &r, n);
        json_decref(r.doc);
        if (rc != WABOT_ERR_CONFLICT)
            return rc;
    }
    return WABOT_ERR_CONFLICT;
}

static int reminder_job(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len = 0;
    const char *payload = wabot_job_payload(job, &len);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *p = json_loadb(payload, len, 0, NULL);
    const char *org = str(p, "org"), *id = str(p, "id");
    int64_t n = num(p, "n");
    int rc = WABOT_ERR_PARSE;
    if (org && id && n >= 1 && wb_rem_org_ok(org))
        rc = fire(ctx, job, org, id, n);
    else
        wabot_job_set_permanent(job);
    json_decref(p);
    wb_json_scope_leave(prev);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Invoices                                                            */

static void invoice_reminder_id(char *buf, size_t n, const char *number)
{
    snprintf(buf, n, "inv-%s", number);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
              *p == '-'))
            *p = '_';
}

static void amount_text(char *buf, size_t n, int64_t minor, int exponent)
{
    int digits = exponent < 0 ? 0 : exponent > 6 ? 6 : exponent;
    int64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    int64_t units = minor / scale, frac = minor % scale;
    char tail[24]; /* frac < 10^6: six digits */
    snprintf(tail, sizeof tail, "%06lld", (long long)(frac < 0 ? -frac : frac));
    if (digits == 0)
        snprintf(buf, n, "%lld", (long long)minor);
    else
        snprintf(buf, n, "%lld.%s", (long long)units, tail + 6 - digits);
}

/* The create request of the invoice's PAYMENT_DUE reminder. */
static json_t *payment_due_request(const json_t *inv)
{
    char id[WB_REM_ID_MAX + 1], when[32], amount[48], text[384];
    const char *number = str(inv, "number");
    invoice_reminder_id(id, sizeof id, number);
    time_t secs = (time_t)(num(inv, "due_ms") / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    amount_text(amount, sizeof amount, num(inv, "total_minor"),
                (int)num(inv, "exponent"));
    snprintf(text, sizeof text,
             "Reminder: invoice %s of %s %s is due on %s.", number, amount,
             str(inv, "currency") ? str(inv, "currency") : "",
             str(inv, "due_date") ? str(inv, "due_date") : when);
    /* Paying, not chatting, is what settles it: no cancel-on-reply. */
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s}}", "id", id,
                     "organizationId", str(inv, "org"), "customerPhone",
                     str(inv, "customer"), "type", "PAYMENT_DUE", "message",
                     text, "scheduledFor", when, "cancelOnReply", 0,
                     "metadata", "invoice", number);
}

static int on_invoice_issued(wabot_ctx *ctx, const char *hook,
                             const char *json, size_t len, void *ud)
{
    (void)hook;
    (void)ud;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *inv = json_loadb(json, len, 0, NULL);
    const char *org = str(inv, "org"), *customer = str(inv, "customer");
    char phone[WB_REM_PHONE_MAX];
    int rc = WABOT_OK;
    if (!wb_rem_org_ok(org) || !str(inv, "number") || !customer ||
        wb_e164_normalize(customer, phone, sizeof phone) != WABOT_OK) {
        wb_count(ctx, "reminders.invoice_skipped", 1);
    } else if (wabot_campaign_feature_check(
                   ctx, org, WABOT_CAMPAIGN_FEATURE_REMINDERS) == WABOT_OK) {
        json_t *req = payment_due_request(inv);
        rc = req ? wb_rem_create(ctx, req, NULL) : WABOT_ERR_NOMEM;
        if (rc == WABOT_ERR_EXISTS) /* the hook ran again */
            rc = WABOT_OK;
        json_decref(req);
    }
    json_decref(inv);
    wb_json_scope_leave(prev);
    wb_error_clear(ctx);
    return rc;
}

static int on_invoice_status(wabot_ctx *ctx, const char *hook,
                             const char *json, size_t len, void *ud)
{
    (void)hook;
    (void)ud;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *ev = json_loadb(json, len, 0, NULL);
    const char *org = str(ev, "org"), *status = str(ev, "status");
    const char *number = str(ev, "number");
    int rc = WABOT_OK;
    if (wb_rem_org_ok(org) && number && status &&
        (strcmp(status, "paid") == 0 || strcmp(status, "void") == 0)) {
        char id[WB_REM_ID_MAX + 1];
        invoice_reminder_id(id, sizeof id, number);
        rc = wb_rem_cancel(ctx, org, id,
                           status[0] == 'p' ? "invoice_paid"
                                            : "invoice_void");
        if (rc == WABOT_OK)
            wb_count(ctx, "reminders.cancelled", 1);
        if (rc == WABOT_ERR_NOT_FOUND || rc == WABOT_ERR_STATE)
            rc = WABOT_OK; /* no reminder, or it went already */
    }
    json_decref(ev);
    wb_json_scope_leave(prev);
    wb_error_clear(ctx);
    return rc;
}

/* ------------------------------------------------------------------ */

/* A hook of a module this context may not have: NOT_FOUND is fine. */
static int subscribe(wabot_ctx *ctx, const char *hook, wabot_hook_fn fn)
{
    int rc = wabot_hook_subscribe(ctx, hook, fn, NULL, NULL);
    if (rc == WABOT_ERR_NOT_FOUND) {
        wb_error_clear(ctx);
        rc = WABOT_OK;
    }
    return rc;
}

int wb_reminders_create(wabot_module *m)
{
    wabot_ctx *ctx = wabot_module_ctx(m);
    int64_t own = 1;
    wabot_ctx_option_int(ctx, NULL, "campaign.reminders_worker", &own);
    /* Off: a host that predates the module runs its own worker there. */
    int rc = own ? wabot_queue_add_worker(ctx, WABOT_QUEUE_REMINDERS,
                                          reminder_job, NULL, NULL,
                                          CONCURRENCY)
                 : WABOT_OK;
    if (rc == WABOT_OK)
        rc = subscribe(ctx, WABOT_INVOICE_HOOK_ISSUED, on_invoice_issued);
    if (rc == WABOT_OK)
        rc = subscribe(ctx, WABOT_INVOICE_HOOK_STATUS, on_invoice_status);
    return rc;
}
