/* Idempotency-Key on admin POSTs (doc/admin.md, "Idempotency").
 *
 * The first request with a key claims it in the context's storage (set-if-
 * absent, a short "pending" lease), runs, and stores its answer (status,
 * content type, body, Location/ETag) for admin.idempotency_ttl. A repeat
 * with the same key and the same request (method, target and body, by
 * SHA-256) gets that answer again, from any process sharing the storage;
 * with another request it gets 422; while the first still runs, 409.
 * Answers 5xx are not kept (the key is released), so a retry after an
 * outage runs again. Keys are scoped by the bearer token's digest: two
 * tokens never see each other's answers. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "internal/admin.h"
#include "internal/ctx.h"
#include "internal/json_alloc.h"
#include "internal/metrics.h"
#include "wabot/storage.h"

#define KEY_MAX 255
/* How long a claim without an answer holds the key: a process that died
 * mid-request frees it after this. */
#define PENDING_TTL_MS 60000
/* The response headers kept with the answer. */
static const char *const kept_headers[] = {"Location", "ETag"};

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256 of parts[0..n) (each with its length) as 64 hex digits. 0 on
 * failure. */
static int digest_hex(const char *const *parts, const size_t *lens, size_t n,
                      char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, parts[i], lens[i]);
    ok = ok && EVP_DigestFinal_ex(c, d, &dlen) && dlen == 32;
    EVP_MD_CTX_free(c);
    if (ok)
        hex(d, 32, out);
    return ok;
}

/* The request's fingerprint: method, target and body (the NULs of the
 * first three fence them apart). */
static int fingerprint(const wabot_http_server_request *req, char out[65])
{
    size_t len = 0;
    const char *p[4] = {wabot_http_server_request_method(req),
                        wabot_http_server_request_path(req),
                        wabot_http_server_request_query(req),
                        wabot_http_server_request_body(req, &len)};
    size_t l[4] = {strlen(p[0]) + 1, strlen(p[1]) + 1, strlen(p[2]) + 1,
                   len};
    return digest_hex(p, l, 4, out);
}

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return 0;
    return 1;
}

/* The stored record of a finished answer, as JSON text (NULL: the answer
 * cannot be kept, e.g. a body that is not UTF-8). */
static char *record_of(const char *fp, const wabot_http_response *resp)
{
    size_t len = 0;
    const char *body = wabot_http_response_body(resp, &len);
    json_t *b = json_stringn(body, len);
    json_t *h = json_array();
    for (size_t i = 0; h && i < sizeof kept_headers / sizeof *kept_headers;
         i++) {
        const char *v = wabot_http_response_header(resp, kept_headers[i]);
        if (v != NULL)
            json_array_append_new(h, json_pack("[ss]", kept_headers[i], v));
    }
    json_t *o = b && h ? json_pack("{s:s,s:i,s:s,s:O,s:O}", "fp", fp,
                                   "status", wabot_http_response_status(resp),
                                   "ct", wabot_http_response_content_type(resp),
                                   "body", b, "headers", h)
                       : NULL;
    json_decref(b);
    json_decref(h);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Answer from a stored record: the same answer again, or 422/409. */
static int replay(wabot_ctx *ctx, const char *stored, size_t slen,
                  const char *fp, wabot_http_response *resp)
{
    json_t *o = json_loadb(stored, slen, 0, NULL);
    const char *sfp = json_string_value(json_object_get(o, "fp"));
    int rc;
    if (sfp == NULL || strcmp(sfp, fp) != 0) {
        wb_count(ctx, "admin.idempotency_mismatch", 1);
        rc = wabot_admin_error(resp, 422, "idempotency_key_reused",
                               "Idempotency-Key",
                               "this Idempotency-Key was used with a "
                               "different request");
    } else if (json_object_get(o, "status") == NULL) {
        rc = wabot_admin_error(resp, 409, "idempotency_in_progress",
                               "Idempotency-Key",
                               "a request with this Idempotency-Key is "
                               "still running; retry later");
        if (rc == WABOT_OK)
            rc = wabot_http_response_add_header(resp, "Retry-After", "1");
    } else {
        wb_count(ctx, "admin.idempotency_replays", 1);
        json_t *b = json_object_get(o, "body");
        const char *ct = json_string_value(json_object_get(o, "ct"));
        rc = wabot_http_response_set_status(
            resp, (int)json_integer_value(json_object_get(o, "status")));
        if (rc == WABOT_OK)
            rc = wabot_http_response_set_body(resp, ct,
                                              json_string_value(b),
                                              json_string_length(b));
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(o, "headers"), i, h)
        {
            if (rc == WABOT_OK)
                rc = wabot_http_response_add_header(
                    resp, json_string_value(json_array_get(h, 0)),
                    json_string_value(json_array_get(h, 1)));
        }
        if (rc == WABOT_OK)
            rc = wabot_http_response_add_header(resp, "Idempotent-Replayed",
                                                "true");
    }
    json_decref(o);
    return rc;
}

static int unavailable(wabot_http_response *resp)
{
    return wabot_admin_error(resp, 503, "unavailable", NULL,
                             "the idempotency store is unavailable");
}

int wb_admin_idempotent(wabot_ctx *ctx, const char *token, size_t token_len,
                        int64_t ttl_ms,
                        const wabot_http_server_request *req,
                        wabot_http_response *resp, wabot_http_handler_fn fn,
                        void *ud)
{
    const char *key = wabot_http_server_request_header(req, "Idempotency-Key");
    if (key == NULL)
        return fn(ctx, req, resp, ud);
    if (!key_ok(key))
        return wabot_admin_error(resp, 400, "invalid_field",
                                 "Idempotency-Key",
                                 "Idempotency-Key must be 1..255 visible "
                                 "ASCII characters");
    char fp[65], scope[65], skey[64 + KEY_MAX + 32];
    const char *tp[1] = {token};
    size_t tl[1] = {token_len};
    if (!fingerprint(req, fp) || !digest_hex(tp, tl, 1, scope))
        return wb_error(ctx, WABOT_ERR_NOMEM, "admin: SHA-256 failed");
    scope[32] = '\0'; /* 128 bits name a token well enough */
    snprintf(skey, sizeof skey, "admin:idem:%s:%s", scope, key);
    wabot_storage *st = ctx->storage;
    const wabot_allocator *prev = wb_json_scope_enter(&ctx->alloc);
    char pending[96];
    snprintf(pending, sizeof pending, "{\"fp\":\"%s\"}", fp);
    uint64_t ver = 0;
    int rc = WABOT_OK;
    /* Twice at most: a record that expires between the claim and the read
     * is claimed again. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int s = wabot_storage_set_nx(st, skey, pending, strlen(pending),
                                     PENDING_TTL_MS, &ver);
        if (s == WABOT_OK)
            break;
        if (s != WABOT_ERR_EXISTS) {
            rc = unavailable(resp);
            goto out;
        }
        char *val = NULL;
        size_t vlen = 0;
        s = wabot_storage_get(st, skey, &val, &vlen, NULL);
        if (s == WABOT_ERR_NOT_FOUND)
            continue;
        rc = s == WABOT_OK ? replay(ctx, val, vlen, fp, resp)
                           : unavailable(resp);
        wabot_free(val);
        goto out;
    }
    if (ver == 0) {
        rc = unavailable(resp);
        goto out;
    }
    wb_json_scope_leave(prev);
    rc = fn(ctx, req, resp, ud);
    prev = wb_json_scope_enter(&ctx->alloc);
    int status = wabot_http_response_status(resp);
    char *rec = rc == WABOT_OK && status < 500 ? record_of(fp, resp) : NULL;
    if (rec == NULL ||
        wabot_storage_cas(st, skey, ver, rec, strlen(rec), ttl_ms, NULL) !=
            WABOT_OK)
        wabot_storage_del_if(st, skey, ver); /* not kept: the key is free */
    wb_json_free(rec);
out:
    wb_json_scope_leave(prev);
    return rc;
}
