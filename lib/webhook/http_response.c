/* The response object of wabot_http_handle(): status, content type,
 * headers, body. The webhook builds its answers with wb_response_new();
 * route handlers fill theirs through the setters (every header checked,
 * so no request byte can split a response); hosts read it and free it. */
#include <string.h>
#include <strings.h>

#include "internal/webhook.h"

wabot_http_response *wb_response_new(const wabot_ctx *ctx, int status,
                                     const char *content_type,
                                     const char *body, size_t len)
{
    wabot_http_response *r = wb_calloc(&ctx->alloc, 1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->body = wb_malloc(&ctx->alloc, len + 1);
    if (r->body == NULL) {
        wb_free(&ctx->alloc, r);
        return NULL;
    }
    if (len > 0)
        memcpy(r->body, body, len);
    r->body[len] = '\0';
    r->len = len;
    r->alloc = ctx->alloc;
    r->status = status;
    r->content_type = content_type;
    return r;
}

void wb_response_drop_body(wabot_http_response *r)
{
    r->body[0] = '\0';
    r->len = 0;
}

/* The detail goes to the context of the handler that is filling r. */
static int refuse(const wabot_http_response *r, const char *what)
{
    return wb_error(r != NULL ? r->err_ctx : NULL, WABOT_ERR_INVAL,
                    "http response: %s", what);
}

/* RFC 9110 token characters: what a header name may be made of. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int token_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* Field values: visible bytes, blanks and obs-text; never CR, LF or any
 * other control byte, which would let a value end the header. */
static int value_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Headers the host derives or sends from elsewhere. */
static int reserved_name(const char *name)
{
    return strcasecmp(name, "Content-Type") == 0 ||
           strcasecmp(name, "Content-Length") == 0 ||
           strcasecmp(name, "Transfer-Encoding") == 0;
}

int wb_response_add_header(wabot_http_response *r, const char *name,
                           const char *value)
{
    if (r == NULL || name == NULL || value == NULL)
        return refuse(r, "NULL response, header name or value");
    if (!token_ok(name))
        return refuse(r, "a header name must be a non-empty HTTP token");
    if (!value_ok(value))
        return refuse(r, "a header value must not hold CR, LF or other "
                         "control bytes");
    if (reserved_name(name))
        return refuse(r, "Content-Type is set with the body; Content-Length "
                         "and Transfer-Encoding are the host's");
    if (r->n_hdrs == r->cap_hdrs) {
        size_t cap = r->cap_hdrs ? r->cap_hdrs * 2 : 4;
        void *p = wb_realloc(&r->alloc, r->hdrs, cap * sizeof *r->hdrs);
        if (p == NULL)
            return wb_error(r->err_ctx, WABOT_ERR_NOMEM, "out of memory");
        r->hdrs = p;
        r->cap_hdrs = cap;
    }
    size_t nlen = strlen(name), vlen = strlen(value);
    char *block = wb_malloc(&r->alloc, nlen + vlen + 2);
    if (block == NULL)
        return wb_error(r->err_ctx, WABOT_ERR_NOMEM, "out of memory");
    memcpy(block, name, nlen + 1);
    memcpy(block + nlen + 1, value, vlen + 1);
    r->hdrs[r->n_hdrs].name = block;
    r->hdrs[r->n_hdrs].value = block + nlen + 1;
    r->n_hdrs++;
    return WABOT_OK;
}

int wabot_http_response_add_header(wabot_http_response *r, const char *name,
                                   const char *value)
{
    return wb_response_add_header(r, name, value);
}

int wabot_http_response_set_status(wabot_http_response *r, int status)
{
    if (r == NULL || status < 100 || status > 599)
        return refuse(r, "status must be 100..599");
    r->status = status;
    return WABOT_OK;
}

int wabot_http_response_set_body(wabot_http_response *r,
                                 const char *content_type, const char *body,
                                 size_t len)
{
    if (r == NULL || (body == NULL && len > 0))
        return refuse(r, "NULL response, or NULL body with a length");
    if (content_type != NULL && !value_ok(content_type))
        return refuse(r, "a content type must not hold control bytes");
    size_t clen = content_type != NULL ? strlen(content_type) : 0;
    char *b = wb_malloc(&r->alloc, len + 1);
    char *ct = clen ? wb_malloc(&r->alloc, clen + 1) : NULL;
    if (b == NULL || (clen && ct == NULL)) {
        wb_free(&r->alloc, b);
        wb_free(&r->alloc, ct);
        return wb_error(r->err_ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    if (len > 0)
        memcpy(b, body, len);
    b[len] = '\0';
    if (clen)
        memcpy(ct, content_type, clen + 1);
    wb_free(&r->alloc, r->body);
    wb_free(&r->alloc, r->ct_owned);
    r->body = b;
    r->len = len;
    r->ct_owned = ct;
    r->content_type = ct != NULL ? ct : "";
    return WABOT_OK;
}

static int set_status_body(wabot_http_response *r, int status,
                           const char *content_type, const char *text)
{
    if (text == NULL)
        return refuse(r, "NULL body");
    int rc = wabot_http_response_set_status(r, status);
    if (rc == WABOT_OK)
        rc = wabot_http_response_set_body(r, content_type, text,
                                          strlen(text));
    return rc;
}

int wabot_http_response_set_json(wabot_http_response *r, int status,
                                 const char *json)
{
    return set_status_body(r, status, "application/json", json);
}

int wabot_http_response_set_text(wabot_http_response *r, int status,
                                 const char *text)
{
    return set_status_body(r, status, "text/plain; charset=utf-8", text);
}

int wabot_http_response_status(const wabot_http_response *r)
{
    return r != NULL ? r->status : 0;
}

const char *wabot_http_response_content_type(const wabot_http_response *r)
{
    return r != NULL && r->content_type != NULL ? r->content_type : "";
}

const char *wabot_http_response_body(const wabot_http_response *r,
                                     size_t *len)
{
    if (r == NULL) {
        if (len != NULL)
            *len = 0;
        return "";
    }
    if (len != NULL)
        *len = r->len;
    return r->body;
}

size_t wabot_http_response_header_count(const wabot_http_response *r)
{
    return r != NULL ? r->n_hdrs : 0;
}

const char *wabot_http_response_header_name(const wabot_http_response *r,
                                            size_t i)
{
    return r != NULL && i < r->n_hdrs ? r->hdrs[i].name : NULL;
}

const char *wabot_http_response_header_value(const wabot_http_response *r,
                                             size_t i)
{
    return r != NULL && i < r->n_hdrs ? r->hdrs[i].value : NULL;
}

const char *wabot_http_response_header(const wabot_http_response *r,
                                       const char *name)
{
    if (r == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < r->n_hdrs; i++)
        if (strcasecmp(r->hdrs[i].name, name) == 0)
            return r->hdrs[i].value;
    return NULL;
}

void wabot_http_response_free(wabot_http_response *r)
{
    if (r == NULL)
        return;
    /* The copied allocator, not the ctx's: the host may free the ctx
     * before it has finished sending the response. */
    wabot_allocator a = r->alloc;
    for (size_t i = 0; i < r->n_hdrs; i++)
        wb_free(&a, r->hdrs[i].name);
    wb_free(&a, r->hdrs);
    wb_free(&a, r->ct_owned);
    wb_free(&a, r->body);
    wb_free(&a, r);
}
