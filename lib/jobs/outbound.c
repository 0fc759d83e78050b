/* The outbound queue: every reply is a job whose id is the reply's id
 * ("<inbound id>:r<n>"), so a webhook delivered twice cannot send twice
 * while the first job is retained. The built-in worker hands the message
 * to the transport and settles the job when the transport completes. */
#include <jansson.h>
#include <string.h>

#include "message.h"
#include "metrics.h"
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
wabot_outbound *wb_outbound_from_json(const wabot_allocator *a,
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

static void free_outbound(void *o)
{
    wb_outbound_free(o);
}

static void on_sent(void *ud, const wabot_outbound *o, const wb_send_result *r)
{
    wabot_job *job = ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    if (r->status == WABOT_OK) {
        wb_count(ctx, "outbound.sent", 1);
        wabot_job_finish(job, WABOT_OK);
        return;
    }
    wb_count(ctx, "outbound.failed_attempts", 1);
    wb_log(ctx, WABOT_LOG_WARN, "transport",
           "send %s to %s failed (attempt %d of %d): %s (provider code %d) %s",
           wabot_outbound_id(o), wabot_outbound_to(o), wabot_job_attempt(job),
           wabot_job_max_attempts(job), wabot_strerror(r->status),
           r->provider_code, r->message);
    char reason[300];
    snprintf(reason, sizeof reason, "%s (provider code %d) %s",
             wabot_strerror(r->status), r->provider_code, r->message);
    wabot_job_set_error(job, reason);
    if (r->status == WABOT_ERR_INVAL)
        wabot_job_set_permanent(job);
    if (wabot_job_attempt(job) >= wabot_job_max_attempts(job) ||
        r->status == WABOT_ERR_INVAL)
        wb_count(ctx, "outbound.failed", 1);
    wabot_job_finish(job, r->status);
}

int wb_outbound_worker(wabot_job *job, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_job_ctx(job);
    size_t len;
    const char *payload = wabot_job_payload(job, &len);
    wabot_outbound *o = wb_outbound_from_json(&ctx->alloc, payload, len);
    if (!o) {
        wabot_job_set_error(job, "payload is not an outbound message");
        wabot_job_set_permanent(job);
        wb_count(ctx, "outbound.failed", 1);
        return WABOT_ERR_PARSE;
    }
    job->user = o;
    job->user_free = free_outbound;
    int rc = wb_transport_send(ctx, ctx->transport, o, on_sent, job);
    if (rc < 0) {
        wabot_job_set_error(job, "transport refused the message");
        wb_count(ctx, "outbound.failed_attempts", 1);
        return rc;
    }
    return WABOT_JOB_PENDING;
}
