/* What a route handler can read of its request. The query is decoded on
 * first use only: most routes never look at it. */
#include <string.h>

#include "internal/http_server.h"

void wb_http_request_clear(wabot_http_server_request *req)
{
    wb_free(&req->ctx->alloc, req->params);
    wb_form_free(req->qform);
    req->params = NULL;
    req->rest = NULL;
    req->qform = NULL;
    req->q_state = 0;
}

const char *wabot_http_server_request_method(
    const wabot_http_server_request *r)
{
    return r != NULL ? r->raw.method : NULL;
}

const char *wabot_http_server_request_path(
    const wabot_http_server_request *r)
{
    return r != NULL ? r->path : NULL;
}

const char *wabot_http_server_request_query(
    const wabot_http_server_request *r)
{
    return r != NULL ? r->query : NULL;
}

/* The request is the handler's alone (one thread), so the const it is
 * handed does not stop this cache from being filled once. */
static const wb_form *query_form(const wabot_http_server_request *cr)
{
    wabot_http_server_request *r = (wabot_http_server_request *)cr;
    if (r->q_state == 0) {
        wabot_ctx *ctx = r->ctx;
        wb_form_limits lim = {
            ctx->cfg.max_params > 0 ? (size_t)ctx->cfg.max_params : 0,
            ctx->cfg.max_field_bytes > 0 ? (size_t)ctx->cfg.max_field_bytes
                                         : 0};
        wb_reject ignored;
        int rc = wb_form_parse(&ctx->alloc, r->query, strlen(r->query), &lim,
                               &r->qform, &ignored);
        /* Out of memory is not remembered: a later call may succeed. */
        if (rc != WABOT_ERR_NOMEM)
            r->q_state = rc == WABOT_OK ? 1 : -1;
    }
    return r->q_state == 1 ? r->qform : NULL;
}

const char *wabot_http_server_request_query_param(
    const wabot_http_server_request *r, const char *name, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (r == NULL || name == NULL)
        return NULL;
    const wb_form *f = query_form(r);
    const wb_form_param *p = f != NULL ? wb_form_find(f, name) : NULL;
    if (p == NULL)
        return NULL;
    if (len != NULL)
        *len = p->value_len;
    return p->value;
}

const char *wabot_http_server_request_header(
    const wabot_http_server_request *r, const char *name)
{
    if (r == NULL || name == NULL)
        return NULL;
    return wb_header_get(&r->raw, name);
}

const char *wabot_http_server_request_body(
    const wabot_http_server_request *r, size_t *len)
{
    if (len != NULL)
        *len = r != NULL ? r->raw.len : 0;
    if (r == NULL || r->raw.body == NULL)
        return r != NULL ? "" : NULL;
    return r->raw.body;
}
