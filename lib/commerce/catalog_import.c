/* Bulk import and export of a catalog as JSON (wabot_catalog_import,
 * wabot_catalog_export). Every row is checked before anything is written,
 * so a bad row costs nothing unless the caller asked for a partial
 * import. */
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "json_alloc.h"
#include "strbuf.h"

#define MAX_ROWS 10000
/* Products per transaction: each takes up to 4 ops, two more are shared,
 * within WABOT_STORAGE_TXN_MAX_OPS. */
#define CHUNK 25
#define CHUNK_RETRIES 3

typedef struct import_error {
    size_t row;
    char *field, *reason;
} import_error;

struct wabot_import_report {
    wabot_ctx *ctx;
    size_t written;
    import_error *errors;
    size_t n, cap;
};

static int report_add(wabot_import_report *r, size_t row, const char *field,
                      const char *reason)
{
    const wabot_allocator *a = &r->ctx->alloc;
    if (wb_grow(a, (void **)&r->errors, r->n + 1, &r->cap,
                sizeof *r->errors) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    import_error *e = &r->errors[r->n];
    e->row = row;
    e->field = wb_strdup(a, field);
    e->reason = wb_strdup(a, reason);
    if (!e->field || !e->reason) {
        wb_free(a, e->field);
        wb_free(a, e->reason);
        return WABOT_ERR_NOMEM;
    }
    r->n++;
    return WABOT_OK;
}

/* The rows of the document: an array, or {"products": [...]}. */
static json_t *rows_of(json_t *doc)
{
    if (json_is_array(doc))
        return doc;
    json_t *rows = json_object_get(doc, "products");
    return json_is_array(rows) ? rows : NULL;
}

static int seen_sku(wabot_product **ps, size_t n, const char *sku)
{
    for (size_t i = 0; i < n; i++)
        if (ps[i] && strcmp(ps[i]->sku, sku) == 0)
            return 1;
    return 0;
}

/* Check every row into ps[] (NULL for a bad row, reported). Duplicate
 * skus within the document are an error of the later row. */
static int check_rows(wabot_ctx *ctx, json_t *rows, wabot_product **ps,
                      wabot_import_report *r)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        wabot_product *p = wabot_product_new(ctx);
        if (!p)
            return WABOT_ERR_NOMEM;
        int rc = wb_product_from_json_obj(p, row, 0);
        if (rc == WABOT_OK && seen_sku(ps, i, p->sku)) {
            p->bad_field = "sku";
            p->bad_reason = "appears in an earlier row";
            rc = WABOT_ERR_INVAL;
        }
        if (rc == WABOT_ERR_NOMEM) {
            wabot_product_free(p);
            return rc;
        }
        if (rc != WABOT_OK) {
            rc = report_add(r, i + 1, p->bad_field ? p->bad_field : "",
                            p->bad_reason ? p->bad_reason : "invalid");
            wabot_product_free(p);
            if (rc != WABOT_OK)
                return rc;
            continue;
        }
        ps[i] = p;
    }
    return WABOT_OK;
}

/* Write up to CHUNK products in one transaction, each against the
 * version it has now; retried when another writer got in between. */
static int write_chunk(wabot_ctx *ctx, const char *org, wabot_product **ps,
                       size_t n)
{
    const char *skus[CHUNK];
    wabot_product *old[CHUNK];
    for (size_t i = 0; i < n; i++)
        skus[i] = ps[i]->sku;
    int rc = WABOT_ERR_CONFLICT;
    for (int attempt = 0; rc == WABOT_ERR_CONFLICT && attempt < CHUNK_RETRIES;
         attempt++) {
        rc = wb_catalog_get_many(ctx, org, n, skus, old);
        if (rc != WABOT_OK)
            return rc;
        rc = wb_catalog_write(ctx, org, n, ps, old);
        for (size_t i = 0; i < n; i++)
            wabot_product_free(old[i]);
    }
    return rc;
}

static int write_rows(wabot_ctx *ctx, const char *org, wabot_product **ps,
                      size_t n, wabot_import_report *r)
{
    wabot_product *chunk[CHUNK];
    size_t k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && ps[i])
            chunk[k++] = ps[i];
        if (k == 0 || (k < CHUNK && i < n))
            continue;
        int rc = write_chunk(ctx, org, chunk, k);
        if (rc != WABOT_OK)
            return rc;
        r->written += k;
        k = 0;
    }
    return WABOT_OK;
}

static int import_doc(wabot_ctx *ctx, const char *org, json_t *rows,
                      uint32_t flags, wabot_import_report *r)
{
    size_t n = json_array_size(rows);
    if (n > MAX_ROWS)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                        "at most %d rows per import", MAX_ROWS);
    wabot_product **ps = wb_calloc(&ctx->alloc, n ? n : 1, sizeof *ps);
    if (!ps)
        return WABOT_ERR_NOMEM;
    int rc = check_rows(ctx, rows, ps, r);
    if (rc == WABOT_OK && r->n > 0 && !(flags & WABOT_IMPORT_PARTIAL))
        rc = wb_error(ctx, WABOT_ERR_INVAL,
                      "%zu problems in the import, nothing written "
                      "(first: row %zu, %s %s)",
                      r->n, r->errors[0].row, r->errors[0].field,
                      r->errors[0].reason);
    if (rc == WABOT_OK)
        rc = write_rows(ctx, org, ps, n, r);
    wb_products_free(ctx, ps, n);
    return rc;
}

int wabot_catalog_import(wabot_ctx *ctx, const char *org, const char *json,
                         size_t len, uint32_t flags,
                         wabot_import_report **report)
{
    if (!ctx || (!json && len > 0))
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    wabot_import_report *r = wb_calloc(&ctx->alloc, 1, sizeof *r);
    if (!r)
        return WABOT_ERR_NOMEM;
    r->ctx = ctx;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_error_t err;
    json_t *doc = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES,
                             &err);
    json_t *rows = doc ? rows_of(doc) : NULL;
    if (!doc)
        rc = wb_error(ctx, WABOT_ERR_PARSE, "import is not JSON: %s (line "
                      "%d)", err.text, err.line);
    else if (!rows)
        rc = wb_error(ctx, WABOT_ERR_PARSE,
                      "import must be an array of products or "
                      "{\"products\": [...]}");
    else
        rc = import_doc(ctx, org, rows, flags, r);
    json_decref(doc);
    wb_json_scope_leave(prev);
    if (report && rc != WABOT_ERR_PARSE && rc != WABOT_ERR_NOMEM)
        *report = r;
    else
        wabot_import_report_free(r);
    return rc;
}

size_t wabot_import_report_written(const wabot_import_report *r)
{
    return r ? r->written : 0;
}

size_t wabot_import_report_error_count(const wabot_import_report *r)
{
    return r ? r->n : 0;
}

size_t wabot_import_report_error_row(const wabot_import_report *r, size_t i)
{
    return r && i < r->n ? r->errors[i].row : 0;
}

const char *wabot_import_report_error_field(const wabot_import_report *r,
                                            size_t i)
{
    return r && i < r->n ? r->errors[i].field : NULL;
}

const char *wabot_import_report_error_reason(const wabot_import_report *r,
                                             size_t i)
{
    return r && i < r->n ? r->errors[i].reason : NULL;
}

char *wabot_import_report_json(const wabot_import_report *r)
{
    if (!r)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &r->ctx->alloc);
    wb_strbuf_printf(&b, "{\"written\":%zu,\"errors\":[", r->written);
    for (size_t i = 0; i < r->n; i++) {
        wb_strbuf_printf(&b, "%s{\"row\":%zu,\"field\":", i ? "," : "",
                         r->errors[i].row);
        wb_strbuf_json_str(&b, r->errors[i].field);
        wb_strbuf_puts(&b, ",\"reason\":");
        wb_strbuf_json_str(&b, r->errors[i].reason);
        wb_strbuf_putc(&b, '}');
    }
    wb_strbuf_puts(&b, "]}");
    return wb_strbuf_take(&b);
}

void wabot_import_report_free(wabot_import_report *r)
{
    if (!r)
        return;
    const wabot_allocator *a = &r->ctx->alloc;
    for (size_t i = 0; i < r->n; i++) {
        wb_free(a, r->errors[i].field);
        wb_free(a, r->errors[i].reason);
    }
    wb_free(a, r->errors);
    wb_free(a, r);
}

/* ------------------------------------------------------------------ */
/* Export                                                              */

static json_t *products_array(wabot_product **ps, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = wb_product_to_json_obj(ps[i], 0);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int wabot_catalog_export(wabot_ctx *ctx, const char *org, char **json,
                         size_t *len)
{
    if (!ctx || !json)
        return WABOT_ERR_INVAL;
    int rc;
    wabot_product **ps = NULL;
    size_t n = 0;
    rc = wb_catalog_all(ctx, org, NULL, 0, &ps, &n);
    if (rc != WABOT_OK)
        return rc;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    json_t *arr = products_array(ps, n);
    char *s = arr ? json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER)
                  : NULL;
    json_decref(arr);
    wb_json_scope_leave(prev);
    wb_products_free(ctx, ps, n);
    *json = wb_strdup(&ctx->alloc, s);
    wb_json_free(s);
    if (!*json)
        return WABOT_ERR_NOMEM;
    if (len)
        *len = strlen(*json);
    return WABOT_OK;
}
