/* Customers per organisation (include/wabot/campaign.h): validation of the
 * JSON the C API takes, over the profile record of lib/state/customer.c
 * (one store: inbound messages and the campaign module share it). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/message.h"
#include "internal/metrics.h"
#include "internal/state.h"
#include "json_io.h"
#include "wabot/campaign.h"

#define PHONE_MAX 32
#define TAGS_MAX 100
#define TAG_LEN_MAX 64
#define ATTRS_MAX 100
#define ATTR_NAME_MAX 64
#define ATTR_VALUE_MAX 1024
#define IMPORT_ERRORS_MAX 1000

/* Why a customer object was refused: the member and the reason. */
typedef struct refusal {
    const char *field;
    char why[160];
} refusal;

static int refuse(refusal *r, const char *field, const char *why)
{
    r->field = field;
    snprintf(r->why, sizeof r->why, "%s", why);
    return WABOT_ERR_INVAL;
}

/* 1 if s is 1..max bytes, each in `extra` or a letter or digit. */
static int word_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr(extra, c) != NULL))
            return 0;
    }
    return 1;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* tags: strings, deduplicated into a new array in *out. */
static int check_tags(json_t *v, json_t **out, refusal *r)
{
    if (!json_is_array(v))
        return refuse(r, "tags", "must be an array of strings");
    if (json_array_size(v) > TAGS_MAX)
        return refuse(r, "tags", "more than 100 tags");
    *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t)
    {
        if (!json_is_string(t) || json_string_length(t) == 0 ||
            json_string_length(t) > TAG_LEN_MAX ||
            has_control(json_string_value(t))) {
            json_decref(*out);
            *out = NULL;
            return refuse(r, "tags",
                          "each tag is a string of 1 to 64 bytes without "
                          "control characters");
        }
        int dup = 0;
        for (size_t j = 0; j < json_array_size(*out) && !dup; j++)
            dup = json_equal(json_array_get(*out, j), t);
        if (!dup)
            json_array_append(*out, t);
    }
    return WABOT_OK;
}

static int check_attributes(json_t *v, refusal *r)
{
    if (!json_is_object(v))
        return refuse(r, "attributes", "must be an object of strings");
    if (json_object_size(v) > ATTRS_MAX)
        return refuse(r, "attributes", "more than 100 attributes");
    const char *k;
    json_t *a;
    json_object_foreach(v, k, a)
    {
        if (!word_ok(k, ATTR_NAME_MAX, "_-"))
            return refuse(r, "attributes",
                          "names are 1 to 64 bytes of letters, digits, "
                          "'_' and '-'");
        if (!json_is_string(a) || json_string_length(a) > ATTR_VALUE_MAX)
            return refuse(r, "attributes",
                          "values are strings of at most 1024 bytes");
    }
    return WABOT_OK;
}

static int check_opt(json_t *in, json_t *fields, int64_t now_ms, refusal *r)
{
    static const char *const sources[] = {"api", "keyword", "131050",
                                          "21610"};
    json_t *opted = json_object_get(in, "opted_out");
    json_t *src = json_object_get(in, "opt_source");
    if (opted == NULL)
        return src == NULL ? WABOT_OK
                           : refuse(r, "opt_source",
                                    "only given together with opted_out");
    if (!json_is_boolean(opted))
        return refuse(r, "opted_out", "must be true or false");
    const char *s = "api";
    if (src != NULL) {
        s = json_string_value(src);
        size_t i = 0;
        while (s != NULL && i < 4 && strcmp(s, sources[i]) != 0)
            i++;
        if (s == NULL || i == 4)
            return refuse(r, "opt_source",
                          "must be \"api\", \"keyword\", \"131050\" or "
                          "\"21610\"");
    }
    json_object_set(fields, "opted_out", opted);
    json_object_set_new(fields, "opt_source", json_string(s));
    json_object_set_new(fields, "opt_changed_ms", json_integer(now_ms));
    return WABOT_OK;
}

/* One writable member other than phone and the opt-out pair. */
static int check_member(const char *k, json_t *v, json_t *fields,
                        refusal *r)
{
    json_t *copy = NULL;
    int rc = WABOT_OK;
    if (strcmp(k, "name") == 0) {
        if (!json_is_string(v) && !json_is_null(v))
            return refuse(r, "name", "must be a string");
        if (json_is_string(v) && has_control(json_string_value(v)))
            return refuse(r, "name", "has control characters");
    } else if (strcmp(k, "tags") == 0) {
        if (!json_is_null(v) && (rc = check_tags(v, &copy, r)) != WABOT_OK)
            return rc;
    } else if (strcmp(k, "attributes") == 0) {
        if (!json_is_null(v) && (rc = check_attributes(v, r)) != WABOT_OK)
            return rc;
    } else if (strcmp(k, "locale") == 0) {
        if (!json_is_null(v) && (!json_is_string(v) ||
                                 !word_ok(json_string_value(v), 35, "_-")))
            return refuse(r, "locale",
                          "must be 1 to 35 bytes of letters, digits, '_' "
                          "and '-'");
    } else if (strcmp(k, "timezone") == 0) {
        if (!json_is_null(v) && (!json_is_string(v) ||
                                 !word_ok(json_string_value(v), 64, "_/+-")))
            return refuse(r, "timezone",
                          "must be an IANA name such as Europe/Lisbon");
    } else {
        return refuse(r, k, "unknown or read-only member");
    }
    json_object_set_new(fields, k, copy != NULL ? copy : json_incref(v));
    return WABOT_OK;
}

/* Check a customer object; on success *fields is the members to merge and
 * phone the E.164 number. */
static int check_customer(json_t *in, int64_t now_ms, json_t **fields,
                          char *phone, refusal *r)
{
    *fields = NULL;
    if (!json_is_object(in))
        return refuse(r, "customer", "must be a JSON object");
    json_t *p = json_object_get(in, "phone");
    if (!json_is_string(p))
        return refuse(r, "phone", "is required (a string)");
    if (wb_e164_normalize(json_string_value(p), phone, PHONE_MAX) != WABOT_OK)
        return refuse(r, "phone", "is not an E.164 number (6 to 15 digits)");
    *fields = json_object();
    const char *k;
    json_t *v;
    int rc = check_opt(in, *fields, now_ms, r);
    json_object_foreach(in, k, v)
    {
        if (rc != WABOT_OK)
            break;
        if (strcmp(k, "phone") && strcmp(k, "opted_out") &&
            strcmp(k, "opt_source"))
            rc = check_member(k, v, *fields, r);
    }
    if (rc != WABOT_OK) {
        json_decref(*fields);
        *fields = NULL;
    }
    return rc;
}

/* The customer as JSON text in the context's memory. */
static int doc_text(wabot_ctx *ctx, json_t *doc, const char *phone,
                    char **out)
{
    json_object_set_new(doc, "phone", json_string(phone));
    return wb_campaign_json_out(ctx, doc, out);
}

static int upsert(wabot_ctx *ctx, const char *org, json_t *in, char **out)
{
    refusal r;
    json_t *fields;
    char phone[PHONE_MAX];
    int rc = check_customer(in, wb_now(ctx), &fields, phone, &r);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "customer: field \"%s\": %s", r.field,
                        r.why);
    int created = 0;
    json_t *doc = NULL;
    rc = wb_profile_merge(ctx, org, phone, fields, wb_now(ctx), &created,
                          out != NULL ? &doc : NULL);
    json_decref(fields);
    if (rc == WABOT_OK && created)
        wb_count(ctx, "customers.created", 1);
    if (rc == WABOT_OK && out != NULL)
        rc = doc_text(ctx, doc, phone, out);
    json_decref(doc);
    return rc;
}

/* The common entry of the writing calls: arguments, the feature flag,
 * then `body` on the parsed input inside the context's JSON scope. */
typedef int (*write_fn)(wabot_ctx *ctx, const char *org, json_t *in,
                        char **out);

static int write_entry(wabot_ctx *ctx, const char *org, const char *json,
                       size_t len, int want_array, write_fn body, char **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || json == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "customer: NULL argument");
    int rc = wabot_campaign_feature_check(ctx, org,
                                          WABOT_CAMPAIGN_FEATURE_CAMPAIGNS);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *in = NULL;
    rc = wb_campaign_json_in(ctx, json, len, want_array,
                             want_array ? "customer import" : "customer", &in);
    if (rc == WABOT_OK)
        rc = body(ctx, org, in, out);
    json_decref(in);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_customer_upsert_json(wabot_ctx *ctx, const char *org,
                               const char *json, size_t len, char **out)
{
    return write_entry(ctx, org, json, len, 0, upsert, out);
}

/* Import counts and the per-row errors (the first IMPORT_ERRORS_MAX). */
typedef struct import_report {
    size_t created, updated, failed;
    json_t *errors;
    int dry; /* check the rows, write nothing */
} import_report;

/* One row: refused rows are reported, not fatal; a storage failure is. */
static int import_row(wabot_ctx *ctx, const char *org, size_t row, json_t *in,
                      import_report *rep)
{
    refusal r;
    json_t *fields;
    char phone[PHONE_MAX];
    int rc = check_customer(in, wb_now(ctx), &fields, phone, &r);
    if (rc != WABOT_OK) {
        rep->failed++;
        if (json_array_size(rep->errors) < IMPORT_ERRORS_MAX &&
            json_array_append_new(rep->errors,
                                  json_pack("{s:I,s:s,s:s}", "row",
                                            (json_int_t)row, "field", r.field,
                                            "reason", r.why)) != 0)
            return wb_error(ctx, WABOT_ERR_NOMEM, "customer import");
        return WABOT_OK;
    }
    int created = 0;
    if (rep->dry) {
        json_decref(fields);
        return WABOT_OK;
    }
    rc = wb_profile_merge(ctx, org, phone, fields, wb_now(ctx), &created,
                          NULL);
    json_decref(fields);
    if (rc != WABOT_OK)
        return wb_error(ctx, rc, "customer import: row %zu: %s", row,
                        wabot_errmsg());
    if (created) {
        rep->created++;
        wb_count(ctx, "customers.created", 1);
    } else {
        rep->updated++;
    }
    return WABOT_OK;
}

static int rows_run(wabot_ctx *ctx, const char *org, json_t *rows,
                    char **report, int dry)
{
    import_report rep = {0, 0, 0, json_array(), dry};
    size_t i;
    json_t *v;
    int rc = rep.errors != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
    json_array_foreach(rows, i, v)
    {
        if (rc != WABOT_OK)
            break;
        rc = import_row(ctx, org, i, v, &rep);
    }
    if (rc == WABOT_OK) {
        json_t *o = json_pack(
            "{s:I,s:I,s:I,s:I,s:O}", "rows", (json_int_t)json_array_size(rows),
            "created", (json_int_t)rep.created, "updated",
            (json_int_t)rep.updated, "failed", (json_int_t)rep.failed,
            "errors", rep.errors);
        if (report != NULL)
            rc = wb_campaign_json_out(ctx, o, report);
        json_decref(o);
    }
    json_decref(rep.errors);
    return rc;
}

static int import_rows(wabot_ctx *ctx, const char *org, json_t *rows,
                       char **report)
{
    return rows_run(ctx, org, rows, report, 0);
}

static int check_rows(wabot_ctx *ctx, const char *org, json_t *rows,
                      char **report)
{
    return rows_run(ctx, org, rows, report, 1);
}

int wabot_customer_import_json(wabot_ctx *ctx, const char *org,
                               const char *json, size_t len, char **report)
{
    return write_entry(ctx, org, json, len, 1, import_rows, report);
}

int wb_customer_import_check_json(wabot_ctx *ctx, const char *org,
                                  const char *json, size_t len,
                                  char **report)
{
    return write_entry(ctx, org, json, len, 1, check_rows, report);
}

/* The E.164 spelling of `phone`. */
static int norm_phone(wabot_ctx *ctx, const char *phone, char *out)
{
    if (phone == NULL ||
        wb_e164_normalize(phone, out, PHONE_MAX) != WABOT_OK)
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "customer: phone is not an E.164 number");
    return WABOT_OK;
}

int wabot_customer_get_json(wabot_ctx *ctx, const char *org,
                            const char *phone, char **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "customer: NULL argument");
    char e164[PHONE_MAX];
    int rc = norm_phone(ctx, phone, e164);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *doc = NULL;
    rc = wb_profile_doc(ctx, org, e164, &doc);
    if (rc == WABOT_OK)
        rc = doc_text(ctx, doc, e164, out);
    json_decref(doc);
    wb_json_scope_leave(prev);
    return rc;
}

int wabot_customer_delete(wabot_ctx *ctx, const char *org, const char *phone)
{
    if (ctx == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "customer: NULL context");
    int rc = wabot_campaign_feature_check(ctx, org,
                                          WABOT_CAMPAIGN_FEATURE_CAMPAIGNS);
    char e164[PHONE_MAX];
    if (rc == WABOT_OK)
        rc = norm_phone(ctx, phone, e164);
    if (rc == WABOT_OK)
        rc = wb_profile_delete(ctx, org, e164);
    if (rc == WABOT_OK)
        wb_count(ctx, "customers.deleted", 1);
    return rc;
}

int wabot_customer_list_json(wabot_ctx *ctx, const char *org,
                             const char *cursor, size_t count, char **out)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return wb_error(ctx, WABOT_ERR_INVAL, "customer: NULL argument");
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *arr = json_array();
    char *next = NULL;
    int rc = arr != NULL ? wb_profile_list(ctx, org,
                                           cursor != NULL ? cursor : "0",
                                           count, arr, &next)
                         : wb_error(ctx, WABOT_ERR_NOMEM, "customer: list");
    if (rc == WABOT_OK) {
        json_t *o = json_pack("{s:O,s:s}", "customers", arr, "cursor", next);
        rc = wb_campaign_json_out(ctx, o, out);
        json_decref(o);
    }
    wb_free(&ctx->alloc, next);
    json_decref(arr);
    wb_json_scope_leave(prev);
    return rc;
}
