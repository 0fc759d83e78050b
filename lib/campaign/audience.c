/* Audiences (include/wabot/campaign.h): who a campaign goes to, resolved a
 * page at a time through storage so no organisation is ever loaded whole.
 * Opted-out customers are always excluded, and counted. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/message.h"
#include "internal/state.h"
#include "json_io.h"
#include "wabot/campaign.h"
#include "wabot/storage.h"

#define PHONE_MAX 32

typedef enum kind { ALL, TAGS_ANY, TAGS_ALL, LIST, ATTRIBUTE } kind;

typedef struct audience {
    kind k;
    json_t *set;        /* TAGS_*: tag strings; LIST: phones */
    const char *name;   /* ATTRIBUTE */
    const char *equals; /* ATTRIBUTE */
} audience;

typedef struct tally {
    json_t *recipients;
    size_t opted_out, not_matched, not_found;
    json_t *opted; /* wb_audience_page: the opted-out phones; else NULL */
} tally;

static int bad(wabot_ctx *ctx, const char *member, const char *why)
{
    return wb_error(ctx, WABOT_ERR_INVAL, "audience: \"%s\" %s", member, why);
}

static int strings(json_t *a, size_t max)
{
    size_t i;
    json_t *v;
    if (!json_is_array(a) || json_array_size(a) == 0 ||
        json_array_size(a) > max)
        return 0;
    json_array_foreach(a, i, v) if (!json_is_string(v)) return 0;
    return 1;
}

/* Check the audience object and read it into *au (borrowing from `in`). */
static int parse(wabot_ctx *ctx, json_t *in, audience *au)
{
    const char *type = json_string_value(json_object_get(in, "type"));
    memset(au, 0, sizeof *au);
    if (type == NULL)
        return bad(ctx, "type", "is required: all, tags, list or attribute");
    if (strcmp(type, "all") == 0) {
        au->k = ALL;
    } else if (strcmp(type, "tags") == 0) {
        json_t *any = json_object_get(in, "any"), *all = json_object_get(in, "all");
        if ((any == NULL) == (all == NULL))
            return bad(ctx, "any", "or \"all\" (exactly one) lists the tags");
        au->k = any != NULL ? TAGS_ANY : TAGS_ALL;
        au->set = any != NULL ? any : all;
        if (!strings(au->set, 100))
            return bad(ctx, any != NULL ? "any" : "all",
                       "must be an array of 1 to 100 strings");
    } else if (strcmp(type, "list") == 0) {
        au->k = LIST;
        au->set = json_object_get(in, "customers");
        if (!strings(au->set, 100000))
            return bad(ctx, "customers",
                       "must be an array of 1 to 100000 phone numbers");
    } else if (strcmp(type, "attribute") == 0) {
        au->k = ATTRIBUTE;
        au->name = json_string_value(json_object_get(in, "name"));
        au->equals = json_string_value(json_object_get(in, "equals"));
        if (au->name == NULL || au->equals == NULL)
            return bad(ctx, "name", "and \"equals\" (strings) are required");
    } else {
        return bad(ctx, "type", "must be all, tags, list or attribute");
    }
    return WABOT_OK;
}

static int has_tag(json_t *tags, json_t *tag)
{
    size_t i;
    json_t *v;
    json_array_foreach(tags, i, v) if (json_equal(v, tag)) return 1;
    return 0;
}

static int matches(const audience *au, json_t *c)
{
    json_t *tags = json_object_get(c, "tags");
    size_t i;
    json_t *t;
    switch (au->k) {
    case TAGS_ANY:
        json_array_foreach(au->set, i, t) if (has_tag(tags, t)) return 1;
        return 0;
    case TAGS_ALL:
        json_array_foreach(au->set, i, t) if (!has_tag(tags, t)) return 0;
        return 1;
    case ATTRIBUTE: {
        const char *v = json_string_value(
            json_object_get(json_object_get(c, "attributes"), au->name));
        return v != NULL && strcmp(v, au->equals) == 0;
    }
    default:
        return 1;
    }
}

/* Sort one customer into the recipients or an exclusion. */
static int take(tally *t, const audience *au, json_t *c)
{
    if (!matches(au, c)) {
        t->not_matched++;
        return WABOT_OK;
    }
    if (json_is_true(json_object_get(c, "opted_out"))) {
        t->opted_out++;
        return t->opted != NULL
                   ? json_array_append(t->opted, json_object_get(c, "phone"))
                   : WABOT_OK;
    }
    /* wb_audience_page hands back whole customers. */
    return json_array_append(t->recipients, t->opted != NULL
                                                ? c
                                                : json_object_get(c, "phone"));
}

/* A page of a scan over the organisation's customers. */
static int scan_page(wabot_ctx *ctx, const char *org, const audience *au,
                     const char *cursor, size_t count, tally *t, char **next)
{
    json_t *page = json_array();
    int rc = page != NULL ? wb_profile_list(ctx, org, cursor, count, page, next)
                          : WABOT_ERR_NOMEM;
    size_t i;
    json_t *c;
    json_array_foreach(page, i, c)
    {
        if (rc != WABOT_OK)
            break;
        if (take(t, au, c) != 0)
            rc = wb_error(ctx, WABOT_ERR_NOMEM, "audience: out of memory");
    }
    json_decref(page);
    return rc;
}

/* A page of an explicit list: the cursor is the next index. */
static int list_page(wabot_ctx *ctx, const char *org, const audience *au,
                     const char *cursor, size_t count, tally *t, char **next)
{
    char *end;
    unsigned long long at = strtoull(cursor, &end, 10);
    size_t n = json_array_size(au->set);
    if (*cursor == '\0' || *end != '\0' || at > n)
        return wb_error(ctx, WABOT_ERR_INVAL, "audience: bad cursor \"%s\"",
                        cursor);
    size_t stop = at + count < n ? at + count : n;
    for (size_t i = at; i < stop; i++) {
        char phone[PHONE_MAX];
        json_t *c = NULL;
        int rc = wb_e164_normalize(json_string_value(json_array_get(au->set, i)),
                                   phone, sizeof phone) == WABOT_OK
                     ? wb_profile_doc(ctx, org, phone, &c)
                     : WABOT_ERR_NOT_FOUND;
        if (rc == WABOT_ERR_NOT_FOUND || rc == WABOT_ERR_PARSE) {
            t->not_found++;
            continue;
        }
        if (rc == WABOT_OK) {
            json_object_set_new(c, "phone", json_string(phone));
            rc = take(t, au, c) == 0 ? WABOT_OK : WABOT_ERR_NOMEM;
        }
        json_decref(c);
        if (rc != WABOT_OK)
            return rc;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%zu", stop < n ? stop : (size_t)0);
    *next = wb_strdup(&ctx->alloc, buf);
    return *next != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* One page into *page: {"recipients":[...],"cursor":"...","excluded":{...}}
 * (plus "opted_out_phones" when `docs`: recipients are then customers). */
static int resolve_page(wabot_ctx *ctx, const char *org, json_t *in,
                        const char *cursor, size_t count, int docs,
                        json_t **page)
{
    audience au;
    int rc = parse(ctx, in, &au);
    if (rc != WABOT_OK)
        return rc;
    tally t = {json_array(), 0, 0, 0, docs ? json_array() : NULL};
    char *next = NULL;
    if (t.recipients == NULL || (docs && t.opted == NULL))
        rc = WABOT_ERR_NOMEM;
    else if (au.k == LIST)
        rc = list_page(ctx, org, &au, cursor, count, &t, &next);
    else
        rc = scan_page(ctx, org, &au, cursor, count, &t, &next);
    if (rc == WABOT_OK) {
        *page = json_pack("{s:O,s:s,s:{s:I,s:I,s:I}}", "recipients",
                          t.recipients, "cursor", next, "excluded",
                          "opted_out", (json_int_t)t.opted_out,
                          "not_matched", (json_int_t)t.not_matched,
                          "not_found", (json_int_t)t.not_found);
        if (*page == NULL ||
            (docs && json_object_set(*page, "opted_out_phones", t.opted)))
            rc = WABOT_ERR_NOMEM;
    }
    wb_free(&ctx->alloc, next);
    json_decref(t.recipients);
    json_decref(t.opted);
    if (rc == WABOT_ERR_NOMEM)
        return wb_error(ctx, rc, "audience: out of memory");
    return rc;
}

static int resolve(wabot_ctx *ctx, const char *org, json_t *in,
                   const char *cursor, size_t count, char **out)
{
    json_t *page = NULL;
    int rc = resolve_page(ctx, org, in, cursor, count, 0, &page);
    if (rc == WABOT_OK)
        rc = wb_campaign_json_out(ctx, page, out);
    json_decref(page);
    return rc;
}

int wb_audience_page(wabot_ctx *ctx, const char *org, json_t *audience,
                     const char *cursor, size_t count, json_t **page)
{
    *page = NULL;
    if (count == 0 || count > WABOT_STORAGE_PAGE_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL, "audience: bad count %zu",
                        count);
    return resolve_page(ctx, org, audience, cursor, count, 1, page);
}

int wabot_audience_resolve_json(wabot_ctx *ctx, const char *org,
                                const char *audience_json, size_t len,
                                const char *cursor, size_t count, char **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || audience_json == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "audience: NULL argument");
    if (count == 0 || count > WABOT_STORAGE_PAGE_MAX)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "audience: count %zu is not 1..%d", count,
                        WABOT_STORAGE_PAGE_MAX);
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *in = NULL;
    int rc = wb_campaign_json_in(ctx, audience_json, len, 0, "audience", &in);
    if (rc == WABOT_OK)
        rc = resolve(ctx, org, in, cursor != NULL ? cursor : "0", count, out);
    json_decref(in);
    wb_json_scope_leave(prev);
    return rc;
}
