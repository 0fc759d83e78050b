/* Meta WhatsApp Cloud API transport: POST
 * {base}/{version}/{phone_number_id}/messages with a JSON body and a
 * Bearer token. Interactive limits are checked before sending so a bad
 * message fails at once instead of costing a request. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "json_alloc.h"
#include "message.h"
#include "provider.h"

typedef struct meta {
    char *url;  /* .../messages */
    char *auth; /* "Bearer <token>" */
    int64_t timeout_ms;
} meta;

static void meta_free(void *impl)
{
    meta *m = impl;
    if (!m)
        return;
    free(m->url);
    if (m->auth)
        OPENSSL_cleanse(m->auth, strlen(m->auth));
    free(m->auth);
    free(m);
}

void wabot_meta_config_init(wabot_meta_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = WABOT_META_CONFIG_VERSION;
    cfg->timeout_ms = 10000;
}

static const wabot_transport_vtable meta_vt;

wabot_transport *wabot_transport_meta_new(const wabot_meta_config *cfg)
{
    if (!cfg || cfg->version < 1 || !cfg->access_token ||
        !*cfg->access_token || !cfg->phone_number_id ||
        !*cfg->phone_number_id || strpbrk(cfg->phone_number_id, "/?# "))
        return wb_null("wabot_transport_meta_new: config NULL or version 0, access_token or phone_number_id missing, or phone_number_id holds /?# or a blank");
    const char *base = cfg->base_url && *cfg->base_url
                           ? cfg->base_url
                           : "https://graph.facebook.com";
    const char *version = cfg->api_version && *cfg->api_version
                              ? cfg->api_version
                              : "v21.0";
    if (!wb_url_ok(base) || strpbrk(version, "/?# "))
        return wb_null("wabot_transport_meta_new: base_url is not an http(s) URL or api_version holds /?# or a blank");
    meta *m = calloc(1, sizeof *m);
    if (!m)
        return wb_null("wabot_transport_meta_new: out of memory");
    m->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    size_t n = strlen(base) + strlen(version) + strlen(cfg->phone_number_id) + 16;
    m->url = malloc(n);
    if (m->url)
        snprintf(m->url, n, "%s%s%s/%s/messages", base,
                 base[strlen(base) - 1] == '/' ? "" : "/", version,
                 cfg->phone_number_id);
    n = strlen(cfg->access_token) + 8;
    m->auth = malloc(n);
    if (m->auth)
        snprintf(m->auth, n, "Bearer %s", cfg->access_token);
    if (!m->url || !m->auth) {
        meta_free(m);
        return wb_null("wabot_transport_meta_new: out of memory");
    }
    wabot_transport *t = wabot_transport_new(&meta_vt, m, "meta");
    if (!t)
        meta_free(m);
    return t;
}

/* Meta media types by the URL's extension; documents otherwise. */
static const char *media_type(const char *url)
{
    static const struct { const char *ext, *type; } map[] = {
        {".jpg", "image"},  {".jpeg", "image"}, {".png", "image"},
        {".webp", "sticker"}, {".mp4", "video"}, {".3gp", "video"},
        {".mp3", "audio"},  {".ogg", "audio"},  {".amr", "audio"},
        {".aac", "audio"},  {".m4a", "audio"}};
    const char *q = strchr(url, '?');
    size_t len = q ? (size_t)(q - url) : strlen(url);
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        size_t e = strlen(map[i].ext);
        if (len >= e && strncasecmp(url + len - e, map[i].ext, e) == 0)
            return map[i].type;
    }
    return "document";
}

static json_t *text_object(const char *text)
{
    return json_pack("{s:s, s:b}", "body", text, "preview_url", 0);
}

static json_t *media_object(const wabot_outbound *o, const char *type)
{
    json_t *obj = json_pack("{s:s}", "link", wabot_outbound_media_url(o));
    const char *caption = wabot_outbound_text(o);
    if (*caption && strcmp(type, "audio") && strcmp(type, "sticker"))
        json_object_set_new(obj, "caption", json_string(caption));
    if (!strcmp(type, "document")) {
        const char *url = wabot_outbound_media_url(o);
        const char *slash = strrchr(url, '/');
        char name[128];
        snprintf(name, sizeof name, "%s", slash && slash[1] ? slash + 1 : "file");
        name[strcspn(name, "?#")] = '\0';
        json_object_set_new(obj, "filename", json_string(name));
    }
    return obj;
}

static int check_options(const wabot_outbound *o, size_t max_n,
                         size_t max_title, const char **why)
{
    size_t n = wabot_outbound_option_count(o);
    if (n == 0 || n > max_n) {
        *why = "wrong number of buttons or rows";
        return WABOT_ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < n; i++) {
        if (wb_utf8_length(wabot_outbound_option_title(o, i)) > max_title ||
            strlen(wabot_outbound_option_id(o, i)) > WB_WA_ID_MAX ||
            wb_utf8_length(wabot_outbound_option_description(o, i)) >
                WB_WA_ROW_DESCRIPTION_MAX) {
            *why = "button or row title/id/description too long";
            return WABOT_ERR_TOO_LARGE;
        }
    }
    return WABOT_OK;
}

/* A list needs the text of the button that opens it and a section title
 * (the customer's language: they come from the texts catalog through the
 * message, never from here). */
static int check_list_texts(const wabot_outbound *o, const char **why)
{
    size_t button = wb_utf8_length(wabot_outbound_list_button(o));
    size_t section = wb_utf8_length(wabot_outbound_list_section(o));
    if (button == 0 || section == 0) {
        *why = "a list needs its button text and section title";
        return WABOT_ERR_INVAL;
    }
    if (button > WB_WA_LIST_BUTTON_MAX || section > WB_WA_SECTION_TITLE_MAX) {
        *why = "list button text over 20 or section title over 24 "
               "characters";
        return WABOT_ERR_TOO_LARGE;
    }
    return WABOT_OK;
}

int wb_meta_check(const wabot_outbound *o, const char **why)
{
    wabot_out_kind k = wabot_outbound_kind(o);
    if (k != WABOT_OUT_TEMPLATE &&
        wb_utf8_length(wabot_outbound_text(o)) > WB_WA_TEXT_MAX) {
        *why = "text longer than 4096 characters";
        return WABOT_ERR_TOO_LARGE;
    }
    if (k == WABOT_OUT_BUTTONS)
        return check_options(o, WB_WA_BUTTONS_MAX, WB_WA_BUTTON_TITLE_MAX,
                             why);
    if (k != WABOT_OUT_LIST)
        return WABOT_OK;
    int rc = check_options(o, WB_WA_ROWS_MAX, WB_WA_ROW_TITLE_MAX, why);
    return rc != WABOT_OK ? rc : check_list_texts(o, why);
}

static json_t *option_item(const wabot_outbound *o, size_t i, int list)
{
    const char *id = wabot_outbound_option_id(o, i);
    const char *title = wabot_outbound_option_title(o, i);
    if (!list)
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "reply", "reply",
                         "id", id, "title", title);
    json_t *row = json_pack("{s:s, s:s}", "id", id, "title", title);
    const char *description = wabot_outbound_option_description(o, i);
    if (row && *description)
        json_object_set_new(row, "description", json_string(description));
    return row;
}

static json_t *interactive(const wabot_outbound *o, int list)
{
    json_t *items = json_array();
    size_t n = wabot_outbound_option_count(o);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, option_item(o, i, list));
    json_t *action =
        list ? json_pack("{s:s, s:[{s:s, s:o}]}", "button",
                         wabot_outbound_list_button(o), "sections", "title",
                         wabot_outbound_list_section(o), "rows", items)
             : json_pack("{s:o}", "buttons", items);
    return json_pack("{s:s, s:{s:s}, s:o}", "type", list ? "list" : "button",
                     "body", "text", wabot_outbound_text(o), "action", action);
}

static json_t *template_object(const wabot_outbound *o)
{
    json_t *params = json_array();
    for (size_t i = 0; i < wabot_outbound_param_count(o); i++)
        json_array_append_new(params, json_pack("{s:s, s:s}", "type", "text",
                                                "text", wabot_outbound_param(o, i)));
    json_t *t = json_pack("{s:s, s:{s:s}}", "name",
                          wabot_outbound_template_name(o), "language", "code",
                          wabot_outbound_template_language(o));
    if (json_array_size(params))
        json_object_set_new(t, "components",
                            json_pack("[{s:s, s:o}]", "type", "body",
                                      "parameters", params));
    else
        json_decref(params);
    return t;
}

/* The request body for o, or NULL with *rc and *why set. */
static json_t *build_body(const wabot_outbound *o, int *rc, const char **why)
{
    wabot_out_kind k = wabot_outbound_kind(o);
    const char *text = wabot_outbound_text(o);
    if ((*rc = wb_meta_check(o, why)) != WABOT_OK)
        return NULL;
    const char *type = k == WABOT_OUT_TEXT ? "text"
                       : k == WABOT_OUT_MEDIA ? media_type(wabot_outbound_media_url(o))
                       : k == WABOT_OUT_TEMPLATE ? "template"
                                                 : "interactive";
    json_t *value = k == WABOT_OUT_TEXT       ? text_object(text)
                    : k == WABOT_OUT_MEDIA    ? media_object(o, type)
                    : k == WABOT_OUT_TEMPLATE ? template_object(o)
                                              : interactive(o, k == WABOT_OUT_LIST);
    const char *to = wabot_outbound_to(o);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o}", "messaging_product",
                             "whatsapp", "recipient_type", "individual", "to",
                             to[0] == '+' ? to + 1 : to, "type", type, type,
                             value);
    const char *reply_to = wabot_outbound_in_reply_to(o);
    if (body && strncmp(reply_to, "wamid.", 6) == 0)
        json_object_set_new(body, "context",
                            json_pack("{s:s}", "message_id", reply_to));
    /* The correlation Meta echoes in statuses[] (lib/delivery/
     * reconcile.c); at most 512 characters. */
    const char *id = wabot_outbound_id(o);
    if (body && *id && strlen(id) <= 512)
        json_object_set_new(body, "biz_opaque_callback_data",
                            json_string(id));
    if (!body) {
        *rc = WABOT_ERR_NOMEM;
        *why = "out of memory";
    }
    return body;
}

/* The hot path: a 2xx answer's messages[0].id read without a decode. */
static int success_id(const wb_http_response *r, char *id, size_t n)
{
    static const char *const path[] = {"messages", "#0", "id", NULL};
    return r->status == WABOT_OK && r->code >= 200 && r->code < 300 &&
           wb_answer_id(r->body, r->len, path, id, n) == WB_ANSWER_FOUND;
}

static void meta_done(void *ud, const wb_http_response *r)
{
    wabot_send_op *op = ud;
    char fast[WB_PROVIDER_ID_MAX];
    if (success_id(r, fast, sizeof fast)) {
        wb_provider_complete(op, WABOT_PROVIDER_META, r, fast, 0, NULL);
        return;
    }
    json_t *j = r->status == WABOT_OK && r->len
                    ? json_loadb(r->body, r->len, 0, NULL)
                    : NULL;
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "messages"), 0), "id"));
    json_t *err = json_object_get(j, "error");
    int code = (int)json_integer_value(json_object_get(err, "code"));
    const char *details = json_string_value(
        json_object_get(json_object_get(err, "error_data"), "details"));
    const char *msg = details ? details
                              : json_string_value(json_object_get(err, "message"));
    wb_provider_complete(op, WABOT_PROVIDER_META, r, id, code, msg);
    json_decref(j);
}

static int meta_send(void *impl, const wabot_outbound *o, wabot_send_op *op)
{
    meta *m = impl;
    int rc = WABOT_OK;
    const char *why = "";
    json_t *body = build_body(o, &rc, &why);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        wabot_send_op_fail(op, rc == WABOT_ERR_NOMEM ? WABOT_ERR_NOMEM
                                                     : WABOT_ERR_PERMANENT,
                           0, why, 0);
        return WABOT_OK;
    }
    wabot_http_header h[] = {{"Authorization", m->auth},
                             {"Content-Type", "application/json"}};
    rc = wb_http_send(wb_send_op_ctx(op), "POST", m->url, h, 2, text,
                      strlen(text), m->timeout_ms, meta_done, op);
    wb_json_free(text); /* json_dumps output */
    return rc;
}

static const wabot_transport_vtable meta_vt = {WABOT_TRANSPORT_VTABLE_VERSION,
                                               meta_send, meta_free};
