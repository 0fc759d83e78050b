/* The outbound message model and its job payload codec. Built by the
 * outbound builder (lib/outbound/), carried as JSON through the outbound
 * queue, read by transports. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json_scan.h"
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

static int in_pack(const wabot_outbound *o, const char *s)
{
    uintptr_t b = (uintptr_t)(o + 1), p = (uintptr_t)s;
    return o->pack && p >= b && p < b + o->pack;
}

void wb_outbound_free_str(wabot_outbound *o, char *s)
{
    if (!in_pack(o, s))
        wb_free(o->alloc, s);
}

int wb_outbound_set_str(wabot_outbound *o, char **slot, const char *s)
{
    char *copy = NULL;
    if (s && !(copy = wb_strdup(o->alloc, s)))
        return WABOT_ERR_NOMEM;
    wb_outbound_free_str(o, *slot);
    *slot = copy;
    return WABOT_OK;
}

void wb_outbound_free(wabot_outbound *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < N_STR; i++)
        wb_outbound_free_str(o, *field_at(o, str_offsets[i]));
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

static void encode_options(wb_strbuf *b, const wabot_outbound *o)
{
    wb_strbuf_puts(b, ",\"options\":[");
    for (size_t i = 0; i < o->n_opts; i++) {
        wb_strbuf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        wb_strbuf_json_str(b, o->opts[i].id);
        wb_strbuf_puts(b, ",\"title\":");
        wb_strbuf_json_str(b, o->opts[i].title);
        if (o->opts[i].description) {
            wb_strbuf_puts(b, ",\"description\":");
            wb_strbuf_json_str(b, o->opts[i].description);
        }
        wb_strbuf_putc(b, '}');
    }
    wb_strbuf_putc(b, ']');
}

static void encode_template(wb_strbuf *b, const wabot_outbound *o)
{
    wb_strbuf_puts(b, ",\"template\":{\"name\":");
    wb_strbuf_json_str(b, S(o->template_name));
    wb_strbuf_puts(b, ",\"language\":");
    wb_strbuf_json_str(b, S(o->template_language));
    wb_strbuf_puts(b, ",\"params\":[");
    for (size_t i = 0; i < o->n_params; i++) {
        if (i)
            wb_strbuf_putc(b, ',');
        wb_strbuf_json_str(b, o->params[i]);
    }
    wb_strbuf_puts(b, "]}");
}

/* The JSON of o: every member (wabot_outbound_to_json's documented form),
 * or, `compact`, without the members that are empty (the job payload's
 * form: an absent member decodes as an empty one, by this version's
 * decoders and by every earlier one). */
static char *encode(const wabot_outbound *o, int compact)
{
    if (!o)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    /* A short reply's payload is 250-400 bytes: one allocation. */
    wb_strbuf_reserve(&b, 480 + (o->text ? strlen(o->text) : 0));
    /* Each name already as JSON, with its colon (plain ASCII names). */
    struct { const char *k, *v; } kv[] = {
        {"\"id\":", S(o->id)},
        {"\"kind\":", wabot_out_kind_name(o->kind)},
        {"\"category\":", wabot_out_category_name(o->category)},
        {"\"provider\":", wabot_provider_name(o->provider)},
        {"\"to\":", S(o->to)},
        {"\"from\":", S(o->from)},
        {"\"organization\":", S(o->organization)},
        {"\"text\":", S(o->text)},
        {"\"media_url\":", S(o->media_url)},
        {"\"in_reply_to\":", S(o->in_reply_to)},
        {"\"correlation_id\":", S(o->correlation_id)},
        {"\"list_button\":", S(o->list_button)},
        {"\"list_section\":", S(o->list_section)},
    };
    wb_strbuf_putc(&b, '{');
    int first = 1;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (compact && !*kv[i].v)
            continue;
        if (!first)
            wb_strbuf_putc(&b, ',');
        first = 0;
        wb_strbuf_puts(&b, kv[i].k);
        wb_strbuf_json_str(&b, kv[i].v);
    }
    if (!compact || o->n_opts > 0)
        encode_options(&b, o);
    if (o->kind == WABOT_OUT_TEMPLATE)
        encode_template(&b, o);
    wb_strbuf_putc(&b, '}');
    return wb_strbuf_take(&b);
}

char *wabot_outbound_to_json(const wabot_outbound *o)
{
    return encode(o, 0);
}

char *wb_outbound_to_payload(const wabot_outbound *o)
{
    return encode(o, 1);
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

/* The decode of any payload: a jansson tree. */
static wabot_outbound *decode_tree(const wabot_allocator *a, const char *json,
                                   size_t len)
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

/* ------------------------------------------------------------------ */
/* Decoding a job payload without a tree                               */

/* Every send decodes its job's payload, and the tree above (a hash table
 * and a dozen allocated strings, then copied) was a fifth of the send
 * path's CPU. What wabot_outbound_to_json writes for a message that is
 * not a template -- an object of string members and an array of option
 * objects -- is scanned here instead (json_scan.h: strings exactly as
 * jansson reads them). Anything else (a template, an unknown member, a
 * member of another type, text jansson would refuse, a payload the tree
 * would not make a message of) is left to decode_tree: a strange payload
 * costs time, never a different result. */

typedef struct slice {
    const unsigned char *p;
    size_t n;
    int esc;
} slice;

enum {
    F_ID, F_KIND, F_CATEGORY, F_PROVIDER, F_TO, F_FROM, F_ORG, F_TEXT,
    F_MEDIA, F_REPLY, F_CORR, F_LIST_BUTTON, F_LIST_SECTION, F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "id", "kind", "category", "provider", "to", "from", "organization",
    "text", "media_url", "in_reply_to", "correlation_id", "list_button",
    "list_section"};
enum { O_ID, O_TITLE, O_DESCRIPTION, O_COUNT };
static const char *const option_names[O_COUNT] = {"id", "title",
                                                  "description"};

static int slice_is(const slice *sl, const char *word)
{
    size_t n = strlen(word);
    return !sl->esc && sl->n == n && memcmp(sl->p, word, n) == 0;
}

static int name_index(const slice *key, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (slice_is(key, names[i]))
            return i;
    return -1;
}

/* At s->p, after whitespace: the character c, consumed. */
static int expect(wb_jscan *s, char c)
{
    wb_jscan_ws(s);
    if (s->p == s->end || *s->p != (unsigned char)c)
        return -1;
    s->p++;
    return 0;
}

static int string_value(wb_jscan *s, slice *sl)
{
    wb_jscan_ws(s);
    if (s->p == s->end || *s->p != '"')
        return -1;
    return wb_jscan_string(s, &sl->p, &sl->n, &sl->esc);
}

/* The member separator: 1 after ',', 0 after the closing `close`. */
static int next_member(wb_jscan *s, char close)
{
    wb_jscan_ws(s);
    if (s->p == s->end)
        return -1;
    unsigned char c = *s->p++;
    return c == ',' ? 1 : c == (unsigned char)close ? 0 : -1;
}

/* An object of string members named by `names`, into v[] (the last of
 * duplicates, as a tree keeps). At s->p: '{'. */
static int string_object(wb_jscan *s, const char *const *names, int count,
                         slice *v)
{
    if (expect(s, '{') != 0)
        return -1;
    wb_jscan_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (int more = 1; more == 1;) {
        slice key;
        int i;
        if (string_value(s, &key) != 0 ||
            (i = name_index(&key, names, count)) < 0 || expect(s, ':') != 0 ||
            string_value(s, &v[i]) != 0)
            return -1;
        if ((more = next_member(s, '}')) < 0)
            return -1;
    }
    return 0;
}

/* The string into out (sl->n + 1 bytes suffice), NUL-terminated;
 * returns its length. */
static size_t slice_copy(const slice *sl, char *out)
{
    if (sl->esc)
        return wb_jscan_unescape(sl->p, sl->n, out);
    memcpy(out, sl->p, sl->n);
    out[sl->n] = '\0';
    return sl->n;
}

static char *slice_dup(const wabot_allocator *a, const slice *sl)
{
    char *d = wb_malloc(a, sl->n + 1);
    if (d)
        slice_copy(sl, d);
    return d;
}

/* The options array at s->p ('['): checked, and with o, added to it (an
 * absent member is "", as the tree's decode gives). */
static int options_array(wb_jscan *s, wabot_outbound *o)
{
    if (expect(s, '[') != 0)
        return -1;
    wb_jscan_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (int more = 1; more == 1;) {
        slice v[O_COUNT] = {{(const unsigned char *)"", 0, 0},
                            {(const unsigned char *)"", 0, 0},
                            {(const unsigned char *)"", 0, 0}};
        if (string_object(s, option_names, O_COUNT, v) != 0)
            return -1;
        if (o) {
            char *id = slice_dup(o->alloc, &v[O_ID]);
            char *title = slice_dup(o->alloc, &v[O_TITLE]);
            char *desc = slice_dup(o->alloc, &v[O_DESCRIPTION]);
            int rc = id && title && desc
                         ? wb_outbound_add_option(o, id, title, desc)
                         : WABOT_ERR_NOMEM;
            wb_free(o->alloc, id);
            wb_free(o->alloc, title);
            wb_free(o->alloc, desc);
            if (rc != WABOT_OK)
                return rc;
        }
        if ((more = next_member(s, ']')) < 0)
            return -1;
    }
    return 0;
}

/* The payload's members into f[] and where its options array starts. */
static int scan_payload(wb_jscan *s, slice *f, const unsigned char **opts)
{
    if (expect(s, '{') != 0)
        return -1;
    for (int more = 1; more == 1;) {
        slice key;
        int i;
        if (string_value(s, &key) != 0 || expect(s, ':') != 0)
            return -1;
        if ((i = name_index(&key, field_names, F_COUNT)) >= 0) {
            if (string_value(s, &f[i]) != 0)
                return -1;
        } else if (slice_is(&key, "options")) {
            wb_jscan_ws(s);
            *opts = s->p;
            if (options_array(s, NULL) != 0)
                return -1;
        } else {
            return -1; /* a template, or a member it does not know */
        }
        if ((more = next_member(s, '}')) < 0)
            return -1;
    }
    wb_jscan_ws(s);
    return s->p == s->end ? 0 : -1;
}

static int kind_of_slice(const slice *sl)
{
    for (int k = WABOT_OUT_TEXT; k < WABOT_OUT_TEMPLATE; k++)
        if (slice_is(sl, wabot_out_kind_name((wabot_out_kind)k)))
            return k;
    return -1; /* templates (and the unknown) are the tree's */
}

static int category_of_slice(const slice *sl)
{
    for (int c = WABOT_CAT_REPLY; c <= WABOT_CAT_CAMPAIGN; c++)
        if (slice_is(sl, wabot_out_category_name((wabot_out_category)c)))
            return c;
    return -1;
}

/* 1: decoded into *out (NULL on NOMEM, as the tree's decode); 0: not
 * sure, decode the tree. */
static int decode_scan(const wabot_allocator *a, const char *json, size_t len,
                       wabot_outbound **out)
{
    wb_jscan s = {(const unsigned char *)json,
                  (const unsigned char *)json + len};
    slice f[F_COUNT];
    for (int i = 0; i < F_COUNT; i++)
        f[i] = (slice){(const unsigned char *)"", 0, 0};
    const unsigned char *opts = NULL;
    if (!json || scan_payload(&s, f, &opts) != 0)
        return 0;
    int kind = kind_of_slice(&f[F_KIND]), cat = category_of_slice(&f[F_CATEGORY]);
    if (kind <= 0 || cat < 0 || f[F_TO].n == 0)
        return 0;
    *out = NULL;
    struct { size_t slot; int field; int optional; } m[] = {
        {offsetof(wabot_outbound, id), F_ID, 0},
        {offsetof(wabot_outbound, to), F_TO, 0},
        {offsetof(wabot_outbound, from), F_FROM, 0},
        {offsetof(wabot_outbound, organization), F_ORG, 0},
        {offsetof(wabot_outbound, text), F_TEXT, 0},
        {offsetof(wabot_outbound, media_url), F_MEDIA, 0},
        {offsetof(wabot_outbound, in_reply_to), F_REPLY, 0},
        {offsetof(wabot_outbound, correlation_id), F_CORR, 1},
        {offsetof(wabot_outbound, list_button), F_LIST_BUTTON, 1},
        {offsetof(wabot_outbound, list_section), F_LIST_SECTION, 1}};
    /* One block for the message and its strings (a decoded string is
     * never longer than its raw text): one allocation per send, not one
     * per member. */
    size_t pack = 0;
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (!(m[i].optional && f[m[i].field].n == 0))
            pack += f[m[i].field].n + 1;
    wabot_outbound *o = wb_malloc(a, sizeof *o + pack);
    if (!o)
        return 1;
    memset(o, 0, sizeof *o);
    o->alloc = a;
    o->kind = (wabot_out_kind)kind;
    o->category = (wabot_out_category)cat;
    o->pack = pack;
    char *w = (char *)(o + 1);
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        if (m[i].optional && f[m[i].field].n == 0)
            continue;
        *field_at(o, m[i].slot) = w;
        w += slice_copy(&f[m[i].field], w) + 1;
    }
    /* No provider's name is this long: a longer one is no provider. */
    char provider[32];
    o->provider = f[F_PROVIDER].n < sizeof provider
                      ? (slice_copy(&f[F_PROVIDER], provider),
                         provider_from_name(provider))
                      : WABOT_PROVIDER_UNKNOWN;
    int ok = 1;
    if (opts) {
        wb_jscan os = {opts, (const unsigned char *)json + len};
        ok = options_array(&os, o) == WABOT_OK;
    }
    if (!ok) {
        wb_outbound_free(o);
        return 1;
    }
    *out = o;
    return 1;
}

wabot_outbound *wb_outbound_from_json(const wabot_allocator *a,
                                      const char *json, size_t len)
{
    wabot_outbound *o;
    return decode_scan(a, json, len, &o) ? o : decode_tree(a, json, len);
}

wabot_outbound *wb_outbound_from_json_tree(const wabot_allocator *a,
                                           const char *json, size_t len)
{
    return decode_tree(a, json, len);
}
