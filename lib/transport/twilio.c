/* Twilio transport: POST {base}/2010-04-01/Accounts/{sid}/Messages.json,
 * form-encoded, HTTP Basic auth. WhatsApp numbers carry the "whatsapp:"
 * prefix. Twilio has no interactive messages in this API, so buttons and
 * lists are sent as text with numbered options; templates use ContentSid
 * (the template name is the HX... content SID) and ContentVariables. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json_alloc.h"
#include "message.h"
#include "provider.h"

typedef struct twilio {
    char *sid, *from, *service, *callback;
    char *callback_param; /* "StatusCallback=" and the callback URL with
                             its correlation parameter, form-encoded, up
                             to the id (built once: status_callback) */
    char *url;  /* the Messages.json endpoint */
    char *auth; /* "Basic base64(sid:token)" */
    int64_t timeout_ms;
} twilio;

static void twilio_free(void *impl)
{
    twilio *t = impl;
    if (!t)
        return;
    free(t->sid);
    free(t->from);
    free(t->service);
    free(t->callback);
    free(t->callback_param);
    free(t->url);
    if (t->auth)
        OPENSSL_cleanse(t->auth, strlen(t->auth)); /* holds the token */
    free(t->auth);
    free(t);
}

void wabot_twilio_config_init(wabot_twilio_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = WABOT_TWILIO_CONFIG_VERSION;
    cfg->timeout_ms = 10000;
}

static char *basic_auth(const char *user, const char *pass)
{
    size_t n = strlen(user) + 1 + strlen(pass);
    char *plain = malloc(n + 1);
    char *out = malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (!plain || !out) {
        free(plain);
        free(out);
        return NULL;
    }
    snprintf(plain, n + 1, "%s:%s", user, pass);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain,
                    (int)n);
    OPENSSL_cleanse(plain, n);
    free(plain);
    return out;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static char *e164_or_null(const char *s, int *bad)
{
    if (!s || !*s)
        return NULL;
    char e[20];
    if (wb_e164_normalize(s, e, sizeof e) != WABOT_OK) {
        *bad = 1;
        return NULL;
    }
    return strdup(e);
}

static const wabot_transport_vtable twilio_vt;
static char *callback_param(const char *url);

wabot_transport *wabot_transport_twilio_new(const wabot_twilio_config *cfg)
{
    if (!cfg || cfg->version < 1 || !cfg->account_sid || !*cfg->account_sid ||
        !cfg->auth_token || !*cfg->auth_token ||
        ((!cfg->from || !*cfg->from) &&
         (!cfg->messaging_service_sid || !*cfg->messaging_service_sid)))
        return wb_null("wabot_transport_twilio_new: config NULL or version 0, or account_sid, auth_token, or both from and messaging_service_sid missing");
    const char *base = cfg->base_url && *cfg->base_url
                           ? cfg->base_url
                           : "https://api.twilio.com";
    if (!wb_url_ok(base) ||
        (cfg->status_callback_url && *cfg->status_callback_url &&
         !wb_url_ok(cfg->status_callback_url)))
        return wb_null("wabot_transport_twilio_new: base_url or status_callback_url is not an http(s) URL");
    twilio *t = calloc(1, sizeof *t);
    int bad = 0;
    if (!t)
        return wb_null("wabot_transport_twilio_new: out of memory");
    t->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    t->sid = strdup(cfg->account_sid);
    t->from = e164_or_null(cfg->from, &bad);
    t->service = dup_or_null(cfg->messaging_service_sid);
    t->callback = dup_or_null(cfg->status_callback_url);
    if (t->callback && !(t->callback_param = callback_param(t->callback)))
        bad = 1;
    t->auth = basic_auth(cfg->account_sid, cfg->auth_token);
    size_t n = strlen(base) + strlen(cfg->account_sid) + 64;
    t->url = malloc(n);
    if (t->url)
        snprintf(t->url, n, "%s%s/2010-04-01/Accounts/%s/Messages.json", base,
                 base[strlen(base) - 1] == '/' ? "" : "", cfg->account_sid);
    if (bad || !t->sid || !t->auth || !t->url) {
        twilio_free(t);
        return wb_null("wabot_transport_twilio_new: from is not an E.164 number, or out of memory");
    }
    wabot_transport *tr = wabot_transport_new(&twilio_vt, t, "twilio");
    if (!tr)
        twilio_free(t);
    return tr;
}

static void param(wb_strbuf *b, const char *key, const char *value)
{
    if (b->len)
        wb_strbuf_putc(b, '&');
    wb_strbuf_puts(b, key);
    wb_strbuf_putc(b, '=');
    wb_form_encode(b, value);
}

/* key=whatsapp:<e164>, form-encoded. */
static void whatsapp_param(wb_strbuf *b, const char *key, const char *e164)
{
    if (b->len)
        wb_strbuf_putc(b, '&');
    wb_strbuf_puts(b, key);
    wb_strbuf_append(b, "=whatsapp%3A", 12);
    wb_form_encode(b, e164);
}

/* Buttons and lists become text with numbered options. */
static void options_as_text(wb_strbuf *body, const wabot_outbound *m)
{
    wb_strbuf_puts(body, wabot_outbound_text(m));
    size_t n = wabot_outbound_option_count(m);
    for (size_t i = 0; i < n; i++)
        wb_strbuf_printf(body, "%s%zu. %s", i ? "\n" : "\n\n", i + 1,
                         wabot_outbound_option_title(m, i));
}

/* The Body of m as Twilio sends it; NULL on out of memory. libc. */
static char *body_text(const wabot_outbound *m)
{
    wabot_out_kind k = wabot_outbound_kind(m);
    wb_strbuf body;
    wb_strbuf_init(&body, NULL);
    if (k == WABOT_OUT_BUTTONS || k == WABOT_OUT_LIST)
        options_as_text(&body, m);
    else
        wb_strbuf_puts(&body, wabot_outbound_text(m));
    if (body.oom) {
        wb_strbuf_free(&body);
        return NULL;
    }
    return wb_strbuf_take(&body);
}

size_t wb_twilio_body_chars(const wabot_outbound *m)
{
    wabot_out_kind k = wabot_outbound_kind(m);
    if (k == WABOT_OUT_TEMPLATE)
        return 0;
    if (k != WABOT_OUT_BUTTONS && k != WABOT_OUT_LIST) /* the text as is */
        return wb_utf8_length(wabot_outbound_text(m));
    char *body = body_text(m);
    size_t n = body ? wb_utf8_length(body) : SIZE_MAX;
    free(body);
    return n;
}

int wb_twilio_inline_ok(const wabot_outbound *o)
{
    wabot_out_kind k = wabot_outbound_kind(o);
    return (k == WABOT_OUT_TEXT || k == WABOT_OUT_MEDIA) &&
           wb_utf8_length(wabot_outbound_text(o)) <= WB_TWILIO_BODY_MAX;
}

static char *content_variables(const wabot_outbound *m)
{
    json_t *vars = json_object();
    for (size_t i = 0; vars && i < wabot_outbound_param_count(m); i++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", i + 1);
        json_object_set_new(vars, k, json_string(wabot_outbound_param(m, i)));
    }
    char *s = vars ? json_dumps(vars, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(vars);
    return s;
}

/* The per-message StatusCallback: the configured URL with the outbound
 * id as its correlation (WB_SEND_KEY_PARAM), which Twilio echoes in every
 * status callback of the message (lib/delivery/reconcile.c). The URL is
 * a form value, so the id in it is form-encoded twice. All but the id is
 * the same for every message: built once, here, for status_callback.
 * NULL on out of memory. libc. */
static char *callback_param(const char *url)
{
    wb_strbuf u, f;
    wb_strbuf_init(&u, NULL);
    wb_strbuf_init(&f, NULL);
    wb_strbuf_puts(&u, url);
    wb_strbuf_putc(&u, strchr(url, '?') ? '&' : '?');
    wb_strbuf_puts(&u, WB_SEND_KEY_PARAM "=");
    wb_strbuf_puts(&f, "StatusCallback=");
    if (!u.oom)
        wb_form_encode(&f, u.data);
    int oom = u.oom || f.oom;
    wb_strbuf_free(&u);
    if (oom) {
        wb_strbuf_free(&f);
        return NULL;
    }
    return wb_strbuf_take(&f);
}

/* wb_form_encode(wb_form_encode(id)) without the string in between: an
 * escape's '%' is escaped again, a space's '+' becomes %2B. */
static void form_encode_twice(wb_strbuf *b, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if (wb_form_unreserved(*p)) {
            wb_strbuf_putc(b, (char)*p);
        } else if (*p == ' ') {
            wb_strbuf_append(b, "%2B", 3);
        } else {
            char e[5] = {'%', '2', '5', hex[*p >> 4], hex[*p & 15]};
            wb_strbuf_append(b, e, 5);
        }
    }
}

static void status_callback(const twilio *t, wb_strbuf *f, const char *id)
{
    if (!id || !*id) {
        param(f, "StatusCallback", t->callback);
        return;
    }
    if (f->len)
        wb_strbuf_putc(f, '&');
    wb_strbuf_puts(f, t->callback_param);
    form_encode_twice(f, id);
}

/* The form for m, or a negative status for a message Twilio cannot take. */
static int build_form(const twilio *t, const wabot_outbound *m,
                      const char *from, wb_strbuf *f, const char **why)
{
    whatsapp_param(f, "To", wabot_outbound_to(m));
    if (from && *from)
        whatsapp_param(f, "From", from);
    else if (t->from)
        whatsapp_param(f, "From", t->from);
    if (t->service)
        param(f, "MessagingServiceSid", t->service);
    if (t->callback)
        status_callback(t, f, wabot_outbound_id(m));
    wabot_out_kind k = wabot_outbound_kind(m);
    if (k == WABOT_OUT_TEMPLATE) {
        char *vars = content_variables(m);
        param(f, "ContentSid", wabot_outbound_template_name(m));
        if (vars)
            param(f, "ContentVariables", vars);
        wb_json_free(vars); /* json_dumps output */
        return WABOT_OK;
    }
    /* Only buttons and lists need a text of their own. */
    char *owned = k == WABOT_OUT_BUTTONS || k == WABOT_OUT_LIST
                      ? body_text(m)
                      : NULL;
    const char *body = owned ? owned : wabot_outbound_text(m);
    int rc = WABOT_OK;
    if ((k == WABOT_OUT_BUTTONS || k == WABOT_OUT_LIST) && !owned) {
        *why = "out of memory";
        rc = WABOT_ERR_NOMEM;
    } else if (strlen(body) > WB_TWILIO_BODY_MAX && /* bytes >= chars */
               wb_utf8_length(body) > WB_TWILIO_BODY_MAX) {
        *why = "Body longer than 1600 characters";
        rc = WABOT_ERR_TOO_LARGE;
    } else if (*body) {
        param(f, "Body", body);
    }
    if (k == WABOT_OUT_MEDIA)
        param(f, "MediaUrl", wabot_outbound_media_url(m));
    free(owned);
    return rc;
}

/* The hot path: a 2xx answer's "sid" read without a decode. */
static int success_sid(const wb_http_response *r, char *sid, size_t n)
{
    static const char *const path[] = {"sid", NULL};
    return r->status == WABOT_OK && r->code >= 200 && r->code < 300 &&
           wb_answer_id(r->body, r->len, path, sid, n) == WB_ANSWER_FOUND;
}

static void twilio_done(void *ud, const wb_http_response *r)
{
    wabot_send_op *op = ud;
    char fast[WB_PROVIDER_ID_MAX];
    if (success_sid(r, fast, sizeof fast)) {
        wb_provider_complete(op, WABOT_PROVIDER_TWILIO, r, fast, 0, NULL);
        return;
    }
    json_t *j = r->status == WABOT_OK && r->len
                    ? json_loadb(r->body, r->len, 0, NULL)
                    : NULL;
    const char *sid = json_string_value(json_object_get(j, "sid"));
    int code = (int)json_integer_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    wb_provider_complete(op, WABOT_PROVIDER_TWILIO, r, sid, code, msg);
    json_decref(j);
}

static int twilio_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    twilio *t = impl;
    const char *why = "";
    wb_strbuf form;
    wb_strbuf_init(&form, NULL);
    int rc = build_form(t, m, wabot_outbound_from(m), &form, &why);
    if (rc == WABOT_OK && form.oom)
        rc = WABOT_ERR_NOMEM;
    if (rc != WABOT_OK) {
        wb_strbuf_free(&form);
        /* The message cannot be sent as it is: complete, do not retry. */
        wabot_send_op_fail(op, WABOT_ERR_PERMANENT, 0, why, 0);
        return WABOT_OK;
    }
    wabot_http_header h[] = {
        {"Authorization", t->auth},
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"Accept", "application/json"}};
    rc = wb_http_send(wb_send_op_ctx(op), "POST", t->url, h, 3, form.data,
                      form.len, t->timeout_ms, twilio_done, op);
    wb_strbuf_free(&form);
    return rc;
}

static const wabot_transport_vtable twilio_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, twilio_send, twilio_free};
