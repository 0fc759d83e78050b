/* The outbound queue: every reply is a job whose id is the reply's id
 * ("<inbound id>:r<n>"), so a webhook delivered twice cannot send twice
 * while the first job is retained. The built-in worker hands the message
 * to the transport and settles the job when the transport completes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "outbound.h"
#include "receipts.h"
#include "wabot/state.h"
#include "metrics.h"
#include "options.h"
#include "runtime.h"
#include "transport.h"

int wb_outbound_enqueue_new(wabot_ctx *ctx, const wabot_outbound *o)
{
    char *json = wabot_outbound_to_json(o);
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

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static int kind_from_name(const char *s)
{
    for (int k = WABOT_OUT_TEXT; k <= WABOT_OUT_TEMPLATE; k++)
        if (strcmp(s, wabot_out_kind_name((wabot_out_kind)k)) == 0)
            return k;
    return -1;
}

static int category_from_name(const char *s)
{
    for (int c = WABOT_CAT_REPLY; c <= WABOT_CAT_CAMPAIGN; c++)
        if (strcmp(s, wabot_out_category_name((wabot_out_category)c)) == 0)
            return c;
    return -1;
}

static wabot_provider provider_from_name(const char *s)
{
    for (int p = WABOT_PROVIDER_UNKNOWN; p <= WABOT_PROVIDER_TEST; p++)
        if (strcmp(s, wabot_provider_name((wabot_provider)p)) == 0)
            return (wabot_provider)p;
    return WABOT_PROVIDER_UNKNOWN;
}

/* Rebuild an outbound message from its job payload. NULL if the payload
 * is not one (a permanent failure: retrying cannot fix it). */
static wabot_outbound *wb_outbound_from_json(const wabot_allocator *a,
                                             const char *json, size_t len)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    int kind = kind_from_name(jstr(j, "kind"));
    int cat = category_from_name(jstr(j, "category"));
    wabot_outbound *o = kind > 0 && cat >= 0
                            ? wb_outbound_alloc(a, (wabot_out_kind)kind)
                            : NULL;
    if (!o || !*jstr(j, "to"))
        goto bad;
    o->category = (wabot_out_category)cat;
    o->provider = provider_from_name(jstr(j, "provider"));
    struct { char **slot; const char *key; } f[] = {
        {&o->id, "id"}, {&o->to, "to"}, {&o->from, "from"},
        {&o->organization, "organization"}, {&o->text, "text"},
        {&o->media_url, "media_url"}, {&o->in_reply_to, "in_reply_to"}};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (!(*f[i].slot = wb_strdup(a, jstr(j, f[i].key))))
            goto bad;
    size_t idx;
    json_t *opt;
    json_array_foreach(json_object_get(j, "options"), idx, opt)
        if (wb_outbound_add_option(o, jstr(opt, "id"), jstr(opt, "title")))
            goto bad;
    json_t *tpl = json_object_get(j, "template");
    if (o->kind == WABOT_OUT_TEMPLATE) {
        if (!(o->template_name = wb_strdup(a, jstr(tpl, "name"))) ||
            !(o->template_language = wb_strdup(a, jstr(tpl, "language"))))
            goto bad;
        json_array_foreach(json_object_get(tpl, "params"), idx, opt)
            if (wb_outbound_add_param(o, json_string_value(opt)))
                goto bad;
    }
    json_decref(j);
    return o;
bad:
    wb_outbound_free(o);
    json_decref(j);
    return NULL;
}

/* What a send in flight needs when it completes. */
typedef struct send_ctx {
    wabot_outbound *o;
    wabot_transport *transport;
    wabot_breaker *breaker;
} send_ctx;

static void free_send_ctx(void *p)
{
    send_ctx *s = p;
    wb_outbound_free(s->o);
    free(s);
}

static int is_final_refusal(int status)
{
    return status == WABOT_ERR_PERMANENT || status == WABOT_ERR_WINDOW_CLOSED ||
           status == WABOT_ERR_OPTED_OUT || status == WABOT_ERR_INVAL ||
           status == WABOT_ERR_TOO_LARGE || status == WABOT_ERR_PARSE;
}

static wabot_breaker_outcome outcome_of(int status)
{
    if (status == WABOT_OK)
        return WABOT_OUTCOME_SUCCESS;
    if (status == WABOT_ERR_TRANSPORT || status == WABOT_ERR_TIMEOUT)
        return WABOT_OUTCOME_FAILURE;
    return WABOT_OUTCOME_IGNORED; /* throttled, or the message's own fault */
}

/* A final failure: recorded with its reason, never retried. */
static int refuse(wabot_job *job, int status, const char *counter,
                  const char *reason)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    wb_count(ctx, counter, 1);
    wb_count(ctx, "outbound.failed", 1);
    wabot_job_set_error(job, reason);
    wabot_job_set_permanent(job);
    return status;
}

static void on_sent(void *ud, const wabot_outbound *o, const wb_send_result *r)
{
    wabot_job *job = ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    send_ctx *sc = job->user;
    wb_breaker_report(ctx, sc->transport, sc->breaker, wb_now(ctx),
                      outcome_of(r->status));
    if (r->status == WABOT_OK) {
        wb_count(ctx, "outbound.sent", 1);
        wb_outbound_sent(ctx, o, r->provider_id);
        wabot_job_finish(job, WABOT_OK);
        return;
    }
    char reason[300];
    snprintf(reason, sizeof reason, "%s (provider code %d) %s",
             wabot_strerror(r->status), r->provider_code, r->message);
    wb_log(ctx, WABOT_LOG_WARN, "transport",
           "send %s to %s: %s (attempt %d of %d)", wabot_outbound_id(o),
           wabot_outbound_to(o), reason, wabot_job_attempt(job),
           wabot_job_max_attempts(job));
    if (r->status == WABOT_ERR_RATE_LIMITED) {
        wb_count(ctx, "outbound.throttled", 1);
        wabot_job_retry_in(job, r->retry_after_ms > 0 ? r->retry_after_ms
                                                      : 1000);
        wabot_job_finish(job, r->status);
        return;
    }
    wb_count(ctx, "outbound.failed_attempts", 1);
    if (is_final_refusal(r->status)) {
        refuse(job, r->status, "outbound.refused", reason);
    } else {
        wabot_job_set_error(job, reason);
        if (wabot_job_attempt(job) >= wabot_job_max_attempts(job))
            wb_count(ctx, "outbound.failed", 1);
    }
    wabot_job_finish(job, r->status);
}

/* Opt-out and the 24-hour window. WABOT_OK to go on (o may have become a
 * template), or the refusal status. */
static int check_customer(wabot_job *job, wabot_outbound *o)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    wabot_out_category cat = wabot_outbound_category(o);
    int marketing = cat == WABOT_CAT_CAMPAIGN || cat == WABOT_CAT_REMINDER;
    int64_t window_ms =
        wb_opt_int(ctx, wabot_outbound_organization(o), WABOT_OPT_WINDOW_MS);
    int windowed =
        window_ms > 0 && wabot_outbound_kind(o) != WABOT_OUT_TEMPLATE;
    if (!marketing && !windowed)
        return WABOT_OK;
    wabot_customer *c = NULL;
    int rc = wabot_customer_get(ctx, wabot_outbound_organization(o),
                                wabot_outbound_to(o), &c);
    if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
        return rc; /* storage trouble: retried */
    int opted_out = c && wabot_customer_opted_out(c);
    int64_t last = c ? wabot_customer_last_inbound_ms(c) : 0;
    wabot_customer_free(c);
    if (marketing && opted_out)
        return refuse(job, WABOT_ERR_OPTED_OUT, "outbound.opted_out",
                      "the customer opted out");
    if (!windowed || wb_now(ctx) - last <= window_ms)
        return WABOT_OK;
    const wb_window_template *w = &ctx->out->window[cat];
    if (!w->name)
        return refuse(job, WABOT_ERR_WINDOW_CLOSED, "outbound.window_closed",
                      "outside the 24-hour window and no template fallback");
    const char *text = wabot_outbound_text(o);
    const char *params[] = {text};
    char *saved = o->text;
    o->text = NULL;
    o->kind = WABOT_OUT_TEMPLATE;
    rc = wb_outbound_set_template(ctx, o, w->name, w->language, *text ? 1 : 0,
                                  params);
    wb_free(o->alloc, saved);
    wb_count(ctx, "outbound.window_fallback", 1);
    return rc;
}

/* The local limits: per sender number, per recipient pair, per
 * organisation, all-or-nothing. WABOT_OK, or RATE_LIMITED with the job
 * given back for later. */
static int check_limits(wabot_job *job, const wabot_outbound *o,
                        const wabot_transport *t)
{
    wabot_ctx *ctx = wabot_job_ctx(job);
    const wb_config *c = &ctx->cfg;
    const char *from = *wabot_outbound_from(o) ? wabot_outbound_from(o)
                                               : wabot_transport_name(t);
    char sender[96], pair[128], org[160];
    snprintf(sender, sizeof sender, "sender:%s", from);
    snprintf(pair, sizeof pair, "pair:%s:%s", from, wabot_outbound_to(o));
    snprintf(org, sizeof org, "org:%s", wabot_outbound_organization(o));
    wabot_rate_limit l[3];
    size_t n = 0;
    if (c->rate_sender_per_s > 0)
        /* A tenth of a second's worth may go at once: smooth, yet a
         * turn's few replies are not spread over 12.5 ms steps. */
        l[n++] = (wabot_rate_limit){sender, c->rate_sender_per_s, 1000,
                                    c->rate_sender_per_s / 10};
    if (c->rate_pair_period_ms > 0)
        l[n++] = (wabot_rate_limit){pair, 1, c->rate_pair_period_ms,
                                    c->rate_pair_burst};
    if (c->rate_org_per_s > 0)
        l[n++] = (wabot_rate_limit){org, c->rate_org_per_s, 1000, 0};
    if (n == 0)
        return WABOT_OK;
    int64_t wait = 0;
    int rc = wabot_limiter_check(ctx->limiter, l, n, wb_now(ctx), &wait);
    if (rc == WABOT_ERR_RATE_LIMITED) {
        wb_count(ctx, "outbound.throttled", 1);
        wabot_job_retry_in(job, wait > 0 ? wait : 1);
    }
    return rc;
}

int wb_outbound_worker(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len;
    const char *payload = wabot_job_payload(job, &len);
    send_ctx *sc = calloc(1, sizeof *sc);
    if (!sc)
        return WABOT_ERR_NOMEM;
    job->user = sc;
    job->user_free = free_send_ctx;
    if (!(sc->o = wb_outbound_from_json(&ctx->alloc, payload, len)))
        return refuse(job, WABOT_ERR_PARSE, "outbound.refused",
                      "payload is not an outbound message");
    wabot_outbound *o = sc->o;
    const char *from = "";
    wabot_transport *t = wb_sender_route(ctx, o, &from);
    if (strcmp(from, wabot_outbound_from(o)) != 0 &&
        wb_str_replace(o->alloc, &o->from, from) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    int rc = check_customer(job, o);
    if (rc != WABOT_OK)
        return rc;
    /* The breaker first: while it is open, no rate-limit units are spent
     * on sends that cannot happen. */
    int64_t retry_at = 0, now = wb_now(ctx);
    sc->transport = t;
    if (wb_breaker_acquire(ctx, t, &sc->breaker, now, &retry_at) !=
        WABOT_OK) {
        /* Not failed, not lost: back in the queue until half-open. */
        wb_count(ctx, "outbound.circuit_open", 1);
        wabot_job_retry_in(job, retry_at > now ? retry_at - now : 1);
        return WABOT_ERR_CIRCUIT_OPEN;
    }
    if ((rc = check_limits(job, o, t)) != WABOT_OK) {
        /* give the permit (maybe a probe) back */
        wb_breaker_report(ctx, t, sc->breaker, now, WABOT_OUTCOME_IGNORED);
        sc->breaker = NULL;
        return rc;
    }
    rc = wb_transport_send(ctx, t, o, on_sent, job);
    if (rc < 0) {
        wb_breaker_report(ctx, t, sc->breaker, wb_now(ctx),
                          WABOT_OUTCOME_IGNORED);
        wabot_job_set_error(job, "transport refused the message");
        wb_count(ctx, "outbound.failed_attempts", 1);
        return rc;
    }
    return WABOT_JOB_PENDING;
}

/* Delivery receipts find the message by the provider's id. */
void wb_outbound_sent(wabot_ctx *ctx, const wabot_outbound *o,
                      const char *provider_id)
{
    if (provider_id && *provider_id)
        wb_receipt_sent(ctx, o, provider_id);
}
