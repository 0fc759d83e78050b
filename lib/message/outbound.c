/* The outbound message model. Built by the pipeline's reply functions (and
 * later by campaigns and reminders), read by transports. */
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
    offsetof(wabot_outbound, template_language)};
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
                           const char *title)
{
    wb_out_option *opts =
        wb_realloc(o->alloc, o->opts, (o->n_opts + 1) * sizeof *opts);
    if (!opts)
        return WABOT_ERR_NOMEM;
    o->opts = opts;
    char *i = wb_strdup(o->alloc, id), *t = wb_strdup(o->alloc, title);
    if (!i || !t) {
        wb_free(o->alloc, i);
        wb_free(o->alloc, t);
        return WABOT_ERR_NOMEM;
    }
    opts[o->n_opts].id = i;
    opts[o->n_opts].title = t;
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
        if (wb_outbound_add_option(o, src->opts[i].id, src->opts[i].title))
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
    struct { const char *k, *v; } kv[] = {
        {"id", S(o->id)},
        {"kind", wabot_out_kind_name(o->kind)},
        {"category", wabot_out_category_name(o->category)},
        {"provider", wabot_provider_name(o->provider)},
        {"to", S(o->to)},
        {"from", S(o->from)},
        {"organization", S(o->organization)},
        {"text", S(o->text)},
        {"media_url", S(o->media_url)},
        {"in_reply_to", S(o->in_reply_to)},
    };
    wb_strbuf_putc(&b, '{');
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        wb_strbuf_json_str(&b, kv[i].k);
        wb_strbuf_putc(&b, ':');
        wb_strbuf_json_str(&b, kv[i].v);
        wb_strbuf_putc(&b, ',');
    }
    wb_strbuf_puts(&b, "\"options\":[");
    for (size_t i = 0; i < o->n_opts; i++) {
        wb_strbuf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        wb_strbuf_json_str(&b, o->opts[i].id);
        wb_strbuf_puts(&b, ",\"title\":");
        wb_strbuf_json_str(&b, o->opts[i].title);
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
