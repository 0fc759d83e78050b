/* What every admin route file answers with (lib/internal/admin.h): a
 * library status as an HTTP error, the JSON body check, the Location
 * header, JSON text from the C API as the answer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal/admin.h"
#include "internal/ctx.h"

int wb_admin_answer_status(wabot_ctx *ctx, wabot_http_response *resp, int rc,
                           const char *field)
{
    const char *why = *wabot_ctx_errmsg(ctx) ? wabot_ctx_errmsg(ctx)
                                             : wabot_strerror(rc);
    switch (rc) {
    case WABOT_ERR_INVAL:
        return wabot_admin_error(resp, 400, "invalid_field", field, why);
    case WABOT_ERR_PARSE:
        return wabot_admin_error(resp, 400, "bad_json", NULL, why);
    case WABOT_ERR_NOT_FOUND:
        return wabot_admin_error(resp, 404, "not_found", NULL, why);
    case WABOT_ERR_EXISTS:
        return wabot_admin_error(resp, 409, "exists", field, why);
    case WABOT_ERR_CONFLICT:
        return wabot_admin_error(resp, 409, "version_conflict", NULL,
                                 "it changed since that version; read it "
                                 "again");
    case WABOT_ERR_STATE:
        return wabot_admin_error(resp, 409, "state_conflict", NULL, why);
    case WABOT_ERR_UNSUPPORTED:
        return wabot_admin_error(resp, 501, "not_implemented", NULL, why);
    case WABOT_ERR_TOO_LARGE:
        return wabot_admin_error(resp, 413, "too_large", NULL, why);
    case WABOT_ERR_STORAGE:
    case WABOT_ERR_TIMEOUT:
        return wabot_admin_error(resp, 503, "unavailable", NULL, why);
    default:
        return rc;
    }
}

int wb_admin_json_content(const wabot_http_server_request *req,
                          wabot_http_response *resp, int *rc)
{
    const char *ct = wabot_http_server_request_header(req, "Content-Type");
    if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0)
        return 1;
    *rc = wabot_admin_error(resp, 415, "unsupported_media_type", NULL,
                            "send application/json");
    return 0;
}

int wb_admin_partial(const wabot_http_server_request *req)
{
    const char *p = wabot_http_server_request_query_param(req, "partial",
                                                          NULL);
    return p != NULL && strcmp(p, "1") == 0;
}

json_t *wb_admin_body_object(const wabot_http_server_request *req,
                             wabot_http_response *resp, int *rc)
{
    if (!wb_admin_json_content(req, resp, rc))
        return NULL;
    size_t len = 0;
    const char *body = wabot_http_server_request_body(req, &len);
    json_error_t err;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (json_is_object(o))
        return o;
    json_decref(o);
    char why[200];
    snprintf(why, sizeof why, "the body is not a JSON object: %s",
             o == NULL ? err.text : "another JSON type");
    *rc = wabot_admin_error(resp, 400, "bad_json", NULL, why);
    return NULL;
}

void wb_admin_location(char *out, size_t n, const char *path, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char keep[] = "-._~/:@!$&'()*+,;=%";
    size_t o = 0;
    for (int part = 0; part < 2; part++) {
        const unsigned char *s =
            (const unsigned char *)(part == 0 ? path : id);
        if (part == 1 && o + 1 < n)
            out[o++] = '/';
        for (; *s != '\0' && o + 4 < n; s++) {
            if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                (*s >= '0' && *s <= '9') || (*s < 0x80 && strchr(keep, *s))) {
                out[o++] = (char)*s;
            } else {
                out[o++] = '%';
                out[o++] = hex[*s >> 4];
                out[o++] = hex[*s & 15];
            }
        }
    }
    out[o] = '\0';
}

int wb_admin_answer_owned(wabot_ctx *ctx, wabot_http_response *resp,
                          int status, char *json)
{
    if (json == NULL)
        return WABOT_ERR_NOMEM;
    int rc = wabot_http_response_set_json(resp, status, json);
    wabot_ctx_mem_free(ctx, json);
    return rc;
}

int wb_admin_answer_strbuf(wabot_http_response *resp, int status,
                           wb_strbuf *b)
{
    char *text = wb_strbuf_take(b);
    if (text == NULL)
        return WABOT_ERR_NOMEM;
    int rc = wabot_http_response_set_json(resp, status, text);
    free(text);
    return rc;
}

int wb_admin_limit(const wabot_http_server_request *req,
                   wabot_http_response *resp, long dflt, long max, long *out,
                   int *rc)
{
    const char *lim = wabot_http_server_request_query_param(req, "limit",
                                                            NULL);
    char *end = NULL;
    long v = lim != NULL ? strtol(lim, &end, 10) : dflt;
    if (lim != NULL && (end == lim || *end != '\0'))
        v = 0;
    if (v < 1 || v > max) {
        char why[64];
        snprintf(why, sizeof why, "limit must be 1..%ld", max);
        *rc = wabot_admin_error(resp, 400, "invalid_field", "limit", why);
        return 0;
    }
    *out = v;
    return 1;
}

/* The member wabot_errmsg() names ("field \"tags\": ..."), into field. */
const char *wb_admin_errmsg_field(wabot_ctx *ctx, char *field, size_t n)
{
    const char *m = strstr(wabot_ctx_errmsg(ctx), "field \"");
    if (m == NULL)
        return NULL;
    m += 7;
    size_t len = strcspn(m, "\"");
    if (len == 0 || len >= n)
        return NULL;
    memcpy(field, m, len);
    field[len] = '\0';
    return field;
}
