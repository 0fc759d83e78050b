/* The outbound message model and its job payload codec. Built by the
 * outbound builder (lib/outbound/), carried as JSON through the outbound
 * queue, read by transports. */
#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "message.h"
#include "strbuf.h"

const char *wabot_out_kind_name(wabot_out_kind k)
{
    switch (k) {
    case WABOT_OUT_TEXT: return "text";
    case WABOT_OUT_MEDIA: return "media";
    case WABOT_OUT_BUTTONS: return "buttons";
    case WABOT_OUT_LIST: return "list";
    case WABOT_OUT_TEMPLATE: return "template";
    }
    return "unknown";
}

const char *wabot_out_category_name(wabot_out_category c)
{
    switch (c) {
    case WABOT_CAT_REPLY: return "reply";
    case WABOT_CAT_NOTICE: return "notice";
    case WABOT_CAT_REMINDER: return "reminder";
    case WABOT_CAT_CAMPAIGN: return "campaign";
    }
    return "unknown";
}

wabot_outbound *wb_outbound_alloc(const wabot_allocator *a,
                                  wabot_out_kind kind)
{
    wabot_outbound *o = wb_calloc(a, 1, sizeof *o);
    if (!o)
        return NULL;
    o->alloc = a;
    o->kind = kind;
    o->category = WABOT_CAT_REPLY;
    return o;
}

/* Every owned string member, so free and dup cannot forget one. */
static const size_t str_offsets[] = {
    offsetof(wabot_outbound, id),   offsetof(wabot_outbound, to),
    offsetof(wabot_outbound, from), offsetof(wabot_outbound, organization),
    offsetof(wabot_outbound, text), offsetof(wabot_outbound, media_url),
    offsetof(wabot_outbound, in_reply_to),
    offsetof(wabot_outbound, template_name),
    offsetof(wabot_outbound, template_language),
    offsetof(wabot_outbound, correlation_id),
    offsetof(wabot_outbound, list_button),
    offsetof(wabot_outbound, list_section)};
#define N_STR (sizeof str_offsets / sizeof str_offsets[0])

static char **field_at(wabot_outbound *o, size_t off)
{
    return (char **)((char *)o + off);
}

void wb_outbound_free(wabot_outbound *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < N_STR; i++)
        wb_free(o->alloc, *field_at(o, str_offsets[i]));
    for (size_t i = 0; i < o->n_opts; i++) {
        wb_free(o->alloc, o->opts[i].id);
        wb_free(o->alloc, o->opts[i].title);
        wb_free(o->alloc, o->opts[i].description);
    }
    wb_free(o->alloc, o->opts);
    for (size_t i = 0; i < o->n_params; i++)
        wb_free(o->alloc, o->params[i]);
    wb_free(o->alloc, o->params);
    wb_free(o->alloc, o);
}

int wb_outbound_add_param(wabot_outbound *o, const char *param)
{
    char **p = wb_realloc(o->alloc, o->params, (o->n_params + 1) * sizeof *p);
    if (!p)
        return WABOT_ERR_NOMEM;
    o->params = p;
    if (!(p[o->n_params] = wb_strdup(o->alloc, param ? param : "")))
        return WABOT_ERR_NOMEM;
    o->n_params++;
    return WABOT_OK;
}

int wb_outbound_add_option(wabot_outbound *o, const char *id,
                           const char *title, const char *description)
{
    wb_out_option *opts =
        wb_realloc(o->alloc, o->opts, (o->n_opts + 1) * sizeof *opts);
    if (!opts)
        return WABOT_ERR_NOMEM;
    o->opts = opts;
    char *i = wb_strdup(o->alloc, id), *t = wb_strdup(o->alloc, title);
    char *d = description && *description
                  ? wb_strdup(o->alloc, description)
                  : NULL;
    if (!i || !t || (description && *description && !d)) {
        wb_free(o->alloc, i);
        wb_free(o->alloc, t);
        wb_free(o->alloc, d);
        return WABOT_ERR_NOMEM;
    }
    opts[o->n_opts].id = i;
    opts[o->n_opts].title = t;
    opts[o->n_opts].description = d;
    o->n_opts++;
    return WABOT_OK;
}

wabot_outbound *wb_outbound_dup(const wabot_allocator *a,
                                const wabot_outbound *src)
{
    wabot_outbound *o = wb_outbound_alloc(a, src->kind);
    if (!o)
        return NULL;
    o->category = src->category;
    o->provider = src->provider;
    for (size_t i = 0; i < N_STR; i++) {
        const char *s = *field_at((wabot_outbound *)src, str_offsets[i]);
        if (s && !(*field_at(o, str_offsets[i]) = wb_strdup(a, s)))
            goto oom;
    }
    for (size_t i = 0; i < src->n_opts; i++)
        if (wb_outbound_add_option(o, src->opts[i].id, src->opts[i].title,
                                   src->opts[i].description))
            goto oom;
    for (size_t i = 0; i < src->n_params; i++)
        if (wb_outbound_add_param(o, src->params[i]))
            goto oom;
    return o;
oom:
    wb_outbound_free(o);
    return NULL;
}

#define S(p) ((p) ? (p) : "")

const char *wabot_outbound_id(const wabot_outbound *o) { return o ? S(o->id) : ""; }
wabot_out_kind wabot_outbound_kind(const wabot_outbound *o)
{
    return o ? o->kind : WABOT_OUT_TEXT;
}
wabot_out_category wabot_outbound_category(const wabot_outbound *o)
{
    return o ? o->category : WABOT_CAT_REPLY;
}
wabot_provider wabot_outbound_provider(const wabot_outbound *o)
{
    return o ? o->provider : WABOT_PROVIDER_UNKNOWN;
}
const char *wabot_outbound_to(const wabot_outbound *o) { return o ? S(o->to) : ""; }
const char *wabot_outbound_from(const wabot_outbound *o) { return o ? S(o->from) : ""; }
const char *wabot_outbound_organization(const wabot_outbound *o)
{
    return o ? S(o->organization) : "";
}
const char *wabot_outbound_text(const wabot_outbound *o) { return o ? S(o->text) : ""; }
const char *wabot_outbound_media_url(const wabot_outbound *o)
{
    return o ? S(o->media_url) : "";
}
const char *wabot_outbound_in_reply_to(const wabot_outbound *o)
{
    return o ? S(o->in_reply_to) : "";
}
size_t wabot_outbound_option_count(const wabot_outbound *o)
{
    return o ? o->n_opts : 0;
}
const char *wabot_outbound_option_id(const wabot_outbound *o, size_t i)
{
    return o && i < o->n_opts ? o->opts[i].id : NULL;
}
const char *wabot_outbound_option_title(const wabot_outbound *o, size_t i)
{
    return o && i < o->n_opts ? o->opts[i].title : NULL;
}
const char *wabot_outbound_option_description(const wabot_outbound *o,
                                              size_t i)
{
    return o && i < o->n_opts ? S(o->opts[i].description) : NULL;
}
const char *wabot_outbound_correlation_id(const wabot_outbound *o)
{
    return o ? S(o->correlation_id) : "";
}
const char *wabot_outbound_list_button(const wabot_outbound *o)
{
    return o ? S(o->list_button) : "";
}
const char *wabot_outbound_list_section(const wabot_outbound *o)
{
    return o ? S(o->list_section) : "";
}

const char *wabot_outbound_template_name(const wabot_outbound *o)
{
    return o ? S(o->template_name) : "";
}
const char *wabot_outbound_template_language(const wabot_outbound *o)
{
    return o ? S(o->template_language) : "";
}
size_t wabot_outbound_param_count(const wabot_outbound *o)
{
    return o ? o->n_params : 0;
}
const char *wabot_outbound_param(const wabot_outbound *o, size_t i)
{
    return o && i < o->n_params ? o->params[i] : NULL;
}

char *wabot_outbound_to_json(const wabot_outbound *o)
{
    if (!o)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    /* Each name already as JSON, with its colon (plain ASCII names). */
    struct { const char *k, *v; } kv[] = {
        {"{\"id\":", S(o->id)},
        {",\"kind\":", wabot_out_kind_name(o->kind)},
        {",\"category\":", wabot_out_category_name(o->category)},
        {",\"provider\":", wabot_provider_name(o->provider)},
        {",\"to\":", S(o->to)},
        {",\"from\":", S(o->from)},
        {",\"organization\":", S(o->organization)},
        {",\"text\":", S(o->text)},
        {",\"media_url\":", S(o->media_url)},
        {",\"in_reply_to\":", S(o->in_reply_to)},
        {",\"correlation_id\":", S(o->correlation_id)},
        {",\"list_button\":", S(o->list_button)},
        {",\"list_section\":", S(o->list_section)},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        wb_strbuf_puts(&b, kv[i].k);
        wb_strbuf_json_str(&b, kv[i].v);
    }
    wb_strbuf_putc(&b, ',');
    wb_strbuf_puts(&b, "\"options\":[");
    for (size_t i = 0; i < o->n_opts; i++) {
        wb_strbuf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        wb_strbuf_json_str(&b, o->opts[i].id);
        wb_strbuf_puts(&b, ",\"title\":");
        wb_strbuf_json_str(&b, o->opts[i].title);
        if (o->opts[i].description) {
            wb_strbuf_puts(&b, ",\"description\":");
            wb_strbuf_json_str(&b, o->opts[i].description);
        }
        wb_strbuf_putc(&b, '}');
    }
    wb_strbuf_putc(&b, ']');
    if (o->kind == WABOT_OUT_TEMPLATE) {
        wb_strbuf_puts(&b, ",\"template\":{\"name\":");
        wb_strbuf_json_str(&b, S(o->template_name));
        wb_strbuf_puts(&b, ",\"language\":");
        wb_strbuf_json_str(&b, S(o->template_language));
        wb_strbuf_puts(&b, ",\"params\":[");
        for (size_t i = 0; i < o->n_params; i++) {
            if (i)
                wb_strbuf_putc(&b, ',');
            wb_strbuf_json_str(&b, o->params[i]);
        }
        wb_strbuf_puts(&b, "]}");
    }
    wb_strbuf_putc(&b, '}');
    return wb_strbuf_take(&b);
}

/* ------------------------------------------------------------------ */
/* Decoding a job payload                                              */

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

/* Optional members stay NULL when absent (payloads queued by an older
 * version have no correlation id or list texts). */
static int copy_optional(const wabot_allocator *a, json_t *j, const char *key,
                         char **slot)
{
    const char *v = jstr(j, key);
    return !*v || (*slot = wb_strdup(a, v)) ? WABOT_OK : WABOT_ERR_NOMEM;
}

static int decode_options(wabot_outbound *o, json_t *j)
{
    size_t idx;
    json_t *opt;
    json_array_foreach(json_object_get(j, "options"), idx, opt)
        if (wb_outbound_add_option(o, jstr(opt, "id"), jstr(opt, "title"),
                                   jstr(opt, "description")))
            return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

static int decode_template(wabot_outbound *o, json_t *j)
{
    json_t *tpl = json_object_get(j, "template"), *p;
    size_t idx;
    if (!(o->template_name = wb_strdup(o->alloc, jstr(tpl, "name"))) ||
        !(o->template_language = wb_strdup(o->alloc, jstr(tpl, "language"))))
        return WABOT_ERR_NOMEM;
    json_array_foreach(json_object_get(tpl, "params"), idx, p)
        if (wb_outbound_add_param(o, json_string_value(p)))
            return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

wabot_outbound *wb_outbound_from_json(const wabot_allocator *a,
                                      const char *json, size_t len)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    int kind = kind_from_name(jstr(j, "kind"));
    int cat = category_from_name(jstr(j, "category"));
    wabot_outbound *o = json_is_object(j) && kind > 0 && cat >= 0
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
    if (copy_optional(a, j, "correlation_id", &o->correlation_id) ||
        copy_optional(a, j, "list_button", &o->list_button) ||
        copy_optional(a, j, "list_section", &o->list_section) ||
        decode_options(o, j) ||
        (o->kind == WABOT_OUT_TEMPLATE && decode_template(o, j)))
        goto bad;
    json_decref(j);
    return o;
bad:
    wb_outbound_free(o);
    json_decref(j);
    return NULL;
}
