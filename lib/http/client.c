/* The HTTP client handle, requests and calls, and wb_http_send().
 *
 * A call is shared by up to three parties: the wb_http_send() frame, the
 * client that completes it (inline inside start() or later), and
 * wb_http_shutdown(), which completes the calls of a context that is going
 * away while a host client may still hold them. Whoever claims the call
 * first delivers the one completion; a reference count lets the last party
 * free it, and the client's reference is dropped on its first completion
 * even when that completion was no longer the one that counted. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "http.h"
#include "runtime.h"

struct wabot_http_request {
    const char *method;
    const char *url;
    wabot_http_header *headers;
    size_t n_headers;
    const char *body; /* NUL-terminated */
    size_t len;
    int64_t timeout_ms;
    /* the strings and the header array follow in the same block */
};

struct wabot_http_call {
    wabot_allocator alloc;  /* a copy: a call may outlive its context */
    const wabot_ctx *ctx;   /* compared, never dereferenced */
    wabot_http_client *client;
    wabot_http_request *req;
    wb_http_done_fn done;
    void *ud;
    int refs;         /* atomic */
    int completed;    /* atomic: 0 -> 1 exactly once */
    int client_gone;  /* atomic: the client completed (its ref is dropped) */
    int linked;       /* in client->calls; client->lock */
    struct wabot_http_call *prev, *next, *detached;
};

struct wabot_http_client {
    const wabot_http_client_vtable *vt;
    void *impl;
    pthread_mutex_t lock; /* guards calls (a client may serve contexts on
                             several loop threads) */
    wabot_http_call *calls; /* started and not completed */
};

/* After wb_http_shutdown(): refuses everything, owns nothing. */
static int closed_start(void *impl, const wabot_http_request *req,
                        wabot_http_call *call)
{
    (void)impl;
    (void)req;
    (void)call;
    return WABOT_ERR_STATE;
}

static const wabot_http_client_vtable closed_vt = {
    WABOT_HTTP_CLIENT_VTABLE_VERSION, closed_start, NULL};
static wabot_http_client closed_client = {&closed_vt, NULL,
                                          PTHREAD_MUTEX_INITIALIZER, NULL};

/* ------------------------------------------------------------------ */
/* Client handle                                                        */

wabot_http_client *wabot_http_client_new(const wabot_http_client_vtable *vt,
                                         void *impl)
{
    /* Newer versions only add members at the end: accept them. */
    if (!vt || vt->version < 1 || !vt->start)
        return wb_null("wabot_http_client_new: NULL vtable, version 0 or no start");
    wabot_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return wb_null("wabot_http_client_new: out of memory");
    c->vt = vt;
    c->impl = impl;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void wabot_http_client_free(wabot_http_client *c)
{
    if (!c || c == &closed_client)
        return;
    if (c->vt->destroy)
        c->vt->destroy(c->impl);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void *wb_http_client_impl(const wabot_http_client *c,
                          const wabot_http_client_vtable *vt)
{
    return c && c->vt == vt ? c->impl : NULL;
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

const char *wabot_http_request_method(const wabot_http_request *r)
{
    return r ? r->method : NULL;
}

const char *wabot_http_request_url(const wabot_http_request *r)
{
    return r ? r->url : NULL;
}

size_t wabot_http_request_header_count(const wabot_http_request *r)
{
    return r ? r->n_headers : 0;
}

const char *wabot_http_request_header_name(const wabot_http_request *r,
                                           size_t i)
{
    return r && i < r->n_headers ? r->headers[i].name : NULL;
}

const char *wabot_http_request_header_value(const wabot_http_request *r,
                                            size_t i)
{
    return r && i < r->n_headers ? r->headers[i].value : NULL;
}

const char *wabot_http_request_body(const wabot_http_request *r, size_t *len)
{
    if (len)
        *len = r ? r->len : 0;
    return r ? r->body : NULL;
}

int64_t wabot_http_request_timeout_ms(const wabot_http_request *r)
{
    return r ? r->timeout_ms : 0;
}

/* Copy s (n bytes) to *p, NUL-terminate, advance *p. */
static const char *put(char **p, const char *s, size_t n)
{
    char *d = *p;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *p = d + n + 1;
    return d;
}

static size_t request_size(const char *method, const char *url,
                           const wabot_http_header *h, size_t n, size_t len)
{
    size_t size = sizeof(wabot_http_request) + n * sizeof *h;
    size += strlen(method) + 1 + strlen(url) + 1 + len + 1;
    for (size_t i = 0; i < n; i++)
        size += strlen(h[i].name) + 1 + strlen(h[i].value ? h[i].value : "") + 1;
    return size;
}

/* One block: the struct, the header array, then every string. */
static wabot_http_request *request_new(const wabot_allocator *a,
                                       const char *method, const char *url,
                                       const wabot_http_header *h, size_t n,
                                       const char *body, size_t len,
                                       int64_t timeout_ms)
{
    wabot_http_request *r = wb_malloc(a, request_size(method, url, h, n, len));
    if (!r)
        return NULL;
    r->headers = (wabot_http_header *)(r + 1);
    r->n_headers = n;
    char *p = (char *)(r->headers + n);
    r->method = put(&p, method, strlen(method));
    r->url = put(&p, url, strlen(url));
    for (size_t i = 0; i < n; i++) {
        const char *v = h[i].value ? h[i].value : "";
        r->headers[i].name = put(&p, h[i].name, strlen(h[i].name));
        r->headers[i].value = put(&p, v, strlen(v));
    }
    r->body = put(&p, body, len);
    r->len = len;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : WB_HTTP_DEFAULT_TIMEOUT_MS;
    return r;
}

/* ------------------------------------------------------------------ */
/* Calls                                                                */

static void call_unref(wabot_http_call *call)
{
    if (__atomic_sub_fetch(&call->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    wabot_allocator a = call->alloc;
    wb_free(&a, call->req);
    wb_free(&a, call);
}

static int call_claim(wabot_http_call *call)
{
    int expected = 0;
    return __atomic_compare_exchange_n(&call->completed, &expected, 1, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* The client's reference goes with its first completion, counted or not. */
static void call_client_release(wabot_http_call *call)
{
    if (__atomic_exchange_n(&call->client_gone, 1, __ATOMIC_ACQ_REL) == 0)
        call_unref(call);
}

static void call_link(wabot_http_call *call)
{
    wabot_http_client *c = call->client;
    pthread_mutex_lock(&c->lock);
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    call->linked = 1;
    pthread_mutex_unlock(&c->lock);
}

static void unlink_locked(wabot_http_call *call)
{
    wabot_http_client *c = call->client;
    if (!call->linked)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->linked = 0;
}

static void call_unlink(wabot_http_call *call)
{
    pthread_mutex_lock(&call->client->lock);
    unlink_locked(call);
    pthread_mutex_unlock(&call->client->lock);
}

void wb_http_call_finish(wabot_http_call *call, const wb_http_response *r)
{
    if (!call)
        return;
    if (call_claim(call)) {
        call_unlink(call);
        call->done(call->ud, r);
    }
    /* else: a second completion, or the context shut down first */
    call_client_release(call);
}

static void finish_failed(wabot_http_call *call, int status, const char *msg)
{
    wb_http_response r = {status, 0, NULL, 0, "", 0, msg};
    wb_http_call_finish(call, &r);
}

void wabot_http_call_fail(wabot_http_call *call, int status,
                          const char *message)
{
    int timeout = status == WABOT_ERR_TIMEOUT;
    if (!message || !*message)
        message = timeout ? "request timed out" : "request failed";
    finish_failed(call, timeout ? WABOT_ERR_TIMEOUT : WABOT_ERR_TRANSPORT,
                  message);
}

/* Headers without a name are dropped, a missing value is "". */
static size_t copy_headers(wabot_http_header *dst, const wabot_http_header *src,
                           size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!src[i].name)
            continue;
        dst[k].name = src[i].name;
        dst[k++].value = src[i].value ? src[i].value : "";
    }
    return k;
}

void wabot_http_call_done(wabot_http_call *call, int status_code,
                          const wabot_http_header *headers, size_t nheaders,
                          const char *body, size_t len)
{
    if (!call)
        return;
    if (status_code < 100 || status_code > 999) {
        char msg[64];
        snprintf(msg, sizeof msg, "invalid HTTP status code %d", status_code);
        finish_failed(call, WABOT_ERR_TRANSPORT, msg);
        return;
    }
    if (!headers)
        nheaders = 0;
    if (!body)
        len = 0;
    /* The body is copied so that done always sees it NUL-terminated. */
    const wabot_allocator *a = &call->alloc;
    wabot_http_header *h =
        nheaders ? wb_malloc(a, nheaders * sizeof *h) : NULL;
    char *b = len < SIZE_MAX ? wb_malloc(a, len + 1) : NULL;
    if ((nheaders && !h) || !b) {
        wb_free(a, h);
        wb_free(a, b);
        finish_failed(call, WABOT_ERR_TRANSPORT,
                      "out of memory copying the response");
        return;
    }
    if (len)
        memcpy(b, body, len);
    b[len] = '\0';
    wb_http_response r = {WABOT_OK, status_code, h,
                          copy_headers(h, headers, nheaders), b, len, ""};
    wabot_allocator keep = *a; /* finish may free the call */
    wb_http_call_finish(call, &r);
    wb_free(&keep, h);
    wb_free(&keep, b);
}

/* ------------------------------------------------------------------ */
/* wb_http_send                                                         */

static int is_token(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalpha((unsigned char)s[n]) && s[n] != '-')
            return 0;
    return n > 0 && n <= max;
}

static int is_http_url(const char *url)
{
    return (strncasecmp(url, "http://", 7) == 0 && url[7]) ||
           (strncasecmp(url, "https://", 8) == 0 && url[8]);
}

/* Header names are tokens; no CR/LF anywhere, so a value can never
 * smuggle in another header. */
static int check_headers(wabot_ctx *ctx, const wabot_http_header *h,
                         size_t n)
{
    if (n && !h)
        return wb_error(ctx, WABOT_ERR_INVAL, "headers is NULL");
    for (size_t i = 0; i < n; i++) {
        if (!h[i].name || !*h[i].name || strpbrk(h[i].name, ": \t\r\n"))
            return wb_error(ctx, WABOT_ERR_INVAL,
                            "header %zu has an invalid name", i);
        if (h[i].value && strpbrk(h[i].value, "\r\n"))
            return wb_error(ctx, WABOT_ERR_INVAL,
                            "header %s: value contains CR or LF", h[i].name);
    }
    return WABOT_OK;
}

static int check_args(wabot_ctx *ctx, const char *method, const char *url,
                      const wabot_http_header *headers, size_t n,
                      const char *body, size_t len, wb_http_done_fn done)
{
    if (!method || !is_token(method, 16))
        return wb_error(ctx, WABOT_ERR_INVAL, "invalid HTTP method");
    if (!url || !is_http_url(url) || strpbrk(url, "\r\n \t"))
        return wb_error(ctx, WABOT_ERR_INVAL,
                        "url must be an absolute http(s) URL");
    if (!body && len)
        return wb_error(ctx, WABOT_ERR_INVAL, "body is NULL, len is not 0");
    if (len > SIZE_MAX / 2)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE, "body too large");
    if (!done)
        return wb_error(ctx, WABOT_ERR_INVAL, "done is NULL");
    return check_headers(ctx, headers, n);
}

/* The context's client, creating the curl client on first use. */
static wabot_http_client *context_client(wabot_ctx *ctx, int *rc)
{
    *rc = WABOT_OK;
    if (ctx->http == &closed_client) {
        *rc = wb_error(ctx, WABOT_ERR_STATE, "the context is shutting down");
        return NULL;
    }
    if (!ctx->http) {
        ctx->http = wb_curl_client_new(ctx);
        if (!ctx->http) {
            *rc = wb_error(ctx, WABOT_ERR_NOMEM,
                           "cannot create the libcurl client");
            return NULL;
        }
        ctx->own_http = 1;
    }
    return ctx->http;
}

static wabot_http_call *call_new(wabot_ctx *ctx, wabot_http_client *c,
                                 wabot_http_request *req,
                                 wb_http_done_fn done, void *ud)
{
    wabot_http_call *call = wb_calloc(&ctx->alloc, 1, sizeof *call);
    if (!call)
        return NULL;
    call->alloc = ctx->alloc;
    call->ctx = ctx;
    call->client = c;
    call->req = req;
    call->done = done;
    call->ud = ud;
    call->refs = 2; /* this frame + the client's completion */
    return call;
}

/* start() said no. If nobody completed the call, it never will be: the
 * client's reference goes too. If it was completed anyway, that counts. */
static int refused(wabot_ctx *ctx, wabot_http_call *call, int rc)
{
    if (!call_claim(call))
        return WABOT_OK;
    call_unlink(call);
    call_client_release(call);
    return wb_error(ctx, rc, "the HTTP client refused %s %s: %s",
                    call->req->method, call->req->url, wabot_strerror(rc));
}

int wb_http_send(wabot_ctx *ctx, const char *method, const char *url,
                 const wabot_http_header *headers, size_t n, const char *body,
                 size_t len, int64_t timeout_ms, wb_http_done_fn done,
                 void *ud)
{
    if (!ctx)
        return WABOT_ERR_INVAL;
    int rc = check_args(ctx, method, url, headers, n, body, len, done);
    if (rc != WABOT_OK)
        return rc;
    wabot_http_client *c = context_client(ctx, &rc);
    if (!c)
        return rc;
    wabot_http_request *req = request_new(&ctx->alloc, method, url, headers,
                                          n, body, len, timeout_ms);
    wabot_http_call *call = req ? call_new(ctx, c, req, done, ud) : NULL;
    if (!call) {
        wb_free(&ctx->alloc, req);
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    }
    call_link(call); /* before start(): it may complete inline */
    rc = c->vt->start(c->impl, req, call);
    if (rc < 0)
        rc = refused(ctx, call, rc);
    call_unref(call);
    return rc < 0 ? rc : WABOT_OK;
}

const char *wb_http_header_get(const wb_http_response *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

size_t wb_http_in_flight(wabot_ctx *ctx)
{
    if (!ctx || !ctx->http)
        return 0;
    wabot_http_client *c = ctx->http;
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (wabot_http_call *call = c->calls; call; call = call->next)
        n += call->ctx == ctx;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Claim every call of ctx under the lock (a completing client can no
 * longer deliver them), then deliver "shutting down" outside it: done
 * callbacks may take the lock again. */
static void detach_calls(wabot_http_client *c, const wabot_ctx *ctx)
{
    wabot_http_call *list = NULL;
    pthread_mutex_lock(&c->lock);
    for (wabot_http_call *call = c->calls, *next; call; call = next) {
        next = call->next;
        if (call->ctx != ctx || !call_claim(call))
            continue;
        unlink_locked(call);
        __atomic_add_fetch(&call->refs, 1, __ATOMIC_ACQ_REL);
        call->detached = list;
        list = call;
    }
    pthread_mutex_unlock(&c->lock);
    while (list) {
        wabot_http_call *call = list;
        list = call->detached;
        wb_http_response r = {WABOT_ERR_TRANSPORT, 0, NULL, 0, "", 0,
                              "shutting down"};
        call->done(call->ud, &r);
        call_unref(call);
    }
}

int wb_http_attach(wabot_ctx *ctx, const wabot_options *opts)
{
    (void)opts;
    if (ctx->rt)
        ctx->rt->in_flight = wb_http_in_flight;
    return WABOT_OK;
}

void wb_http_shutdown(wabot_ctx *ctx)
{
    if (!ctx)
        return;
    wabot_http_client *c = ctx->http;
    int own = ctx->own_http;
    /* First: done callbacks below that try to send again are refused. */
    ctx->http = &closed_client;
    ctx->own_http = 0;
    if (!c || c == &closed_client)
        return;
    detach_calls(c, ctx);
    if (own)
        wabot_http_client_free(c);
}
