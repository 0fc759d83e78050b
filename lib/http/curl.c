/* The default HTTP client: libcurl's multi-socket interface, driven by the
 * context's loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION ->
 * wb_loop_watch) and when it next needs a call (CURLMOPT_TIMERFUNCTION ->
 * a deadline source folded into the context's one timer). The loop calls
 * on_fd() / source_fire(), which run curl_multi_socket_action() and only
 * then deliver finished transfers: curl forbids re-entering it from its
 * own callbacks, and a done callback may well start the next request.
 *
 * curl measures time on its own monotonic clock, while the context's clock
 * may be a fake one that tests move by hand. The expiry is therefore kept
 * on CLOCK_MONOTONIC and translated into "now on the context's clock + the
 * real time left", so curl's timeouts fire in real time whatever the
 * context's clock does.
 *
 * This is the client with http_threads 0; with more, wb_curl_client_new
 * builds the one of curl_threads.c, and both share the transfer code
 * declared in curl_xfer.h. */
#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "curl_xfer.h"
#include "runtime.h"

#define MAX_HEADER_BYTES (64 * 1024)

typedef struct wb_curl {
    wabot_ctx *ctx;
    CURLM *multi;
    int64_t expiry_us; /* CLOCK_MONOTONIC; -1: curl wants no timer call.
                          Atomic: wabot_ctx_next_timeout_ms() may read it
                          from any thread. */
    wb_xfer_list active; /* added to the multi handle */
    wb_xfer *idle;     /* singly linked through next */
    size_t n_idle;
    int *fds;          /* sockets we asked the loop to watch */
    size_t n_fds, cap_fds;
    wb_url_cache urls;
    int closing;
} wb_curl;

static const wabot_http_client_vtable curl_vt;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static char user_agent[64];

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(user_agent, sizeof user_agent, "libwabot/%s",
             wabot_version_str());
}

int wb_curl_global(wabot_ctx *ctx)
{
    pthread_once(&global_once, global_init);
    if (global_rc == CURLE_OK)
        return WABOT_OK;
    wb_log(ctx, WABOT_LOG_ERROR, "http", "curl_global_init: %s",
           curl_easy_strerror(global_rc));
    return WABOT_ERR_UNSUPPORTED;
}

static int64_t expiry_get(const wb_curl *cl)
{
    return __atomic_load_n(&cl->expiry_us, __ATOMIC_RELAXED);
}

static void expiry_set(wb_curl *cl, int64_t us)
{
    __atomic_store_n(&cl->expiry_us, us, __ATOMIC_RELAXED);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static wb_curl *curl_of(wabot_ctx *ctx)
{
    return wb_http_client_impl(ctx->http, &curl_vt);
}

/* ------------------------------------------------------------------ */
/* The deadline source (ud = ctx, so it stays harmless once the client
 * is gone: sources live as long as the context)                         */

static int64_t source_deadline(void *ud)
{
    wabot_ctx *ctx = ud;
    wb_curl *cl = curl_of(ctx);
    int64_t expiry = cl ? expiry_get(cl) : -1;
    if (expiry < 0)
        return WB_NO_DEADLINE;
    int64_t left = expiry - mono_us();
    if (left < 0)
        left = 0;
    /* Rounded up: firing before curl's expiry would only make it ask
     * again. */
    return wb_now(ctx) + (left + 999) / 1000;
}

static void socket_action(wb_curl *cl, curl_socket_t s, int flags);

static void source_fire(void *ud)
{
    wb_curl *cl = curl_of(ud);
    if (!cl)
        return;
    expiry_set(cl, -1); /* one-shot: curl sets what it still needs */
    socket_action(cl, CURL_SOCKET_TIMEOUT, 0);
    if (expiry_get(cl) < 0 && cl->active.n) {
        /* Belt and braces: never leave transfers without a timer. */
        long ms = -1;
        if (curl_multi_timeout(cl->multi, &ms) == CURLM_OK && ms >= 0)
            expiry_set(cl, mono_us() + (int64_t)ms * 1000);
    }
}

static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    (void)multi;
    wb_curl *cl = ud;
    expiry_set(cl, timeout_ms < 0 ? -1 : mono_us() + (int64_t)timeout_ms * 1000);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sockets                                                              */

static int track_fd(wb_curl *cl, int fd, int watched)
{
    size_t i = 0;
    while (i < cl->n_fds && cl->fds[i] != fd)
        i++;
    if (!watched) {
        if (i < cl->n_fds)
            cl->fds[i] = cl->fds[--cl->n_fds];
        return WABOT_OK;
    }
    if (i < cl->n_fds)
        return WABOT_OK;
    if (cl->n_fds == cl->cap_fds) {
        size_t cap = cl->cap_fds ? cl->cap_fds * 2 : 8;
        int *f = wb_realloc(&cl->ctx->alloc, cl->fds, cap * sizeof *f);
        if (!f)
            return WABOT_ERR_NOMEM;
        cl->fds = f;
        cl->cap_fds = cap;
    }
    cl->fds[cl->n_fds++] = fd;
    return WABOT_OK;
}

static void on_fd(void *ud, int fd, unsigned events)
{
    int flags = (events & WABOT_POLL_IN ? CURL_CSELECT_IN : 0) |
                (events & WABOT_POLL_OUT ? CURL_CSELECT_OUT : 0);
    socket_action(ud, fd, flags);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *ud,
                     void *socketp)
{
    (void)easy;
    (void)socketp;
    wb_curl *cl = ud;
    unsigned ev = 0;
    if (what != CURL_POLL_REMOVE)
        ev = (what & CURL_POLL_IN ? WABOT_POLL_IN : 0) |
             (what & CURL_POLL_OUT ? WABOT_POLL_OUT : 0);
    if (!cl->ctx->rt) /* the runtime is gone (see curl_destroy) */
        return 0;
    if (track_fd(cl, s, ev != 0) != WABOT_OK ||
        wb_loop_watch(cl->ctx, s, ev, on_fd, cl) != WABOT_OK)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Response collection (curl callbacks: no completions from here)        */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    wb_xfer *x = ud;
    size_t total = size * n, len = total;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the last. */
        wb_strbuf_reset(&x->hdrs);
        x->n_hdrs = 0;
        return total;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon || colon == buf)
        return total; /* the blank end line, or no header at all */
    size_t nlen = (size_t)(colon - buf);
    while (nlen && is_blank(buf[nlen - 1]))
        nlen--;
    const char *v = colon + 1, *end = buf + len;
    while (v < end && is_blank(*v))
        v++;
    while (end > v && is_blank(end[-1]))
        end--;
    if (x->n_hdrs == WB_HTTP_MAX_RESPONSE_HEADERS ||
        x->hdrs.len + total > MAX_HEADER_BYTES) {
        x->abort_reason = "response headers exceed the limit";
        return 0;
    }
    wb_strbuf_append(&x->hdrs, buf, nlen);
    wb_strbuf_putc(&x->hdrs, '\0');
    wb_strbuf_append(&x->hdrs, v, (size_t)(end - v));
    wb_strbuf_putc(&x->hdrs, '\0');
    if (x->hdrs.oom) {
        x->abort_reason = "out of memory reading the response headers";
        return 0;
    }
    x->n_hdrs++;
    return total;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    wb_xfer *x = ud;
    size_t total = size * n;
    if (total > WB_HTTP_MAX_RESPONSE_BODY - x->body.len) {
        x->abort_reason = "response body exceeds 4 MiB";
        return 0;
    }
    wb_strbuf_append(&x->body, buf, total);
    if (x->body.oom) {
        x->abort_reason = "out of memory reading the response body";
        return 0;
    }
    return total;
}

/* ------------------------------------------------------------------ */
/* Transfers                                                            */

static void url_clear(wabot_ctx *ctx, wb_url *e)
{
    curl_url_cleanup(e->u);
    wb_free(&ctx->alloc, e->text);
    memset(e, 0, sizeof *e);
}

void wb_url_cache_clear(wabot_ctx *ctx, wb_url_cache *urls)
{
    for (size_t i = 0; i < WB_CACHED_URLS; i++)
        url_clear(ctx, &urls->urls[i]);
}

/* The parsed form of `text`, from the cache or parsed now into a slot no
 * transfer uses; NULL (the caller gives curl the text) when the URL does
 * not parse here (curl reports it then) or every slot is in use. */
static wb_url *url_get(wabot_ctx *ctx, wb_url_cache *c, const char *text)
{
    for (size_t i = 0; i < WB_CACHED_URLS; i++)
        if (c->urls[i].text && strcmp(c->urls[i].text, text) == 0)
            return &c->urls[i];
    for (size_t k = 0; k < WB_CACHED_URLS; k++) {
        wb_url *e = &c->urls[(c->next + k) % WB_CACHED_URLS];
        if (e->users > 0)
            continue;
        c->next = (size_t)(e - c->urls + 1) % WB_CACHED_URLS;
        url_clear(ctx, e);
        e->u = curl_url();
        e->text = wb_strdup(&ctx->alloc, text);
        if (!e->u || !e->text ||
            curl_url_set(e->u, CURLUPART_URL, text, 0) != CURLUE_OK) {
            url_clear(ctx, e);
            return NULL;
        }
        return e;
    }
    return NULL;
}

void wb_xfer_release_url(wb_xfer *x)
{
    if (x->url)
        x->url->users--;
    x->url = NULL;
}

wb_xfer *wb_xfer_new(wabot_ctx *ctx)
{
    wb_xfer *x = wb_calloc(&ctx->alloc, 1, sizeof *x);
    if (!x)
        return NULL;
    x->ctx = ctx;
    x->easy = curl_easy_init();
    if (!x->easy) {
        wb_free(&ctx->alloc, x);
        return NULL;
    }
    wb_strbuf_init(&x->body, &ctx->alloc);
    wb_strbuf_init(&x->hdrs, &ctx->alloc);
    wb_strbuf_init(&x->hkey, &ctx->alloc);
    wb_strbuf_init(&x->hnext, &ctx->alloc);
    return x;
}

static wb_xfer *xfer_get(wb_curl *cl)
{
    wb_xfer *x = cl->idle;
    if (!x)
        return wb_xfer_new(cl->ctx);
    cl->idle = x->next;
    cl->n_idle--;
    x->next = NULL;
    return x;
}

void wb_xfer_free(wb_xfer *x)
{
    wb_xfer_release_url(x);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->slist);
    wb_strbuf_free(&x->body);
    wb_strbuf_free(&x->hdrs);
    wb_strbuf_free(&x->hkey);
    wb_strbuf_free(&x->hnext);
    wb_free(&x->ctx->alloc, x);
}

/* A response buffer goes back to the pool emptied but allocated when it
 * is small (a provider's answer is a few hundred bytes: no malloc/free
 * per send), freed when it is large (a body may have been 4 MiB). */
#define KEEP_BUFFER_BYTES (16 * 1024)

static void buffer_recycle(wb_strbuf *b)
{
    if (b->cap > KEEP_BUFFER_BYTES || b->oom)
        wb_strbuf_free(b);
    else
        wb_strbuf_reset(b);
}

/* The options stay on the handle (and the header list with them): the
 * next request of the same shape changes only what differs
 * (wb_xfer_setup). The parsed URL goes back to its cache, so the handle
 * must no longer point at it. */
void wb_xfer_recycle(wb_xfer *x)
{
    if (x->url)
        curl_easy_setopt(x->easy, CURLOPT_CURLU, NULL);
    wb_xfer_release_url(x);
    buffer_recycle(&x->body);
    buffer_recycle(&x->hdrs);
    x->dirty = 0;
}

/* As many idle handles as sends may be in flight: a handle freed would
 * be created again by the next send. */
size_t wb_curl_keep_idle(const wabot_ctx *ctx)
{
    size_t keep = (size_t)ctx->cfg.outbound_concurrency;
    return keep < WB_IDLE_HANDLES ? WB_IDLE_HANDLES : keep;
}

/* Back to the pool: buffers emptied, options reset. The multi handle
 * keeps the connections, not the easy handle. */
static void xfer_put(wb_curl *cl, wb_xfer *x)
{
    if (cl->n_idle >= wb_curl_keep_idle(cl->ctx) || cl->closing) {
        wb_xfer_free(x);
        return;
    }
    wb_xfer_recycle(x);
    x->call = NULL;
    x->prev = NULL;
    x->next = cl->idle;
    cl->idle = x;
    cl->n_idle++;
}

void wb_xfer_link(wb_xfer_list *l, wb_xfer *x)
{
    x->prev = NULL;
    x->next = l->head;
    if (l->head)
        l->head->prev = x;
    l->head = x;
    l->n++;
}

void wb_xfer_unlink(wb_xfer_list *l, wb_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        l->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    l->n--;
}

wb_xfer *wb_curl_next_finished(CURLM *multi, CURLcode *rc)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        *rc = m->data.result;
        wb_xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(multi, easy);
        if (x)
            return x;
    }
    return NULL;
}

/* How a request uses the handle: POST with a body is the hot path (every
 * send); anything else starts from a reset handle. */
enum { WB_XFER_OTHER = 0, WB_XFER_POST_BODY = 1 };

static int shape_of(const wabot_http_request *req)
{
    size_t len;
    wabot_http_request_body(req, &len);
    return len && strcmp(wabot_http_request_method(req), "POST") == 0
               ? WB_XFER_POST_BODY
               : WB_XFER_OTHER;
}

/* curl writes this Content-Type itself for a POST body (a constant
 * string) when none is given; as one of our header lines it would go
 * through curl's printf byte by byte, on every send. */
static int curl_default(const char *name, const char *value, int shape)
{
    return shape == WB_XFER_POST_BODY && strcasecmp(name, "Content-Type") == 0 &&
           strcmp(value, "application/x-www-form-urlencoded") == 0;
}

/* The request's headers as "name\0value\0"..., into x->hnext. */
static void header_key(wb_xfer *x, const wabot_http_request *req, int shape)
{
    wb_strbuf *k = &x->hnext;
    wb_strbuf_reset(k);
    wb_strbuf_putc(k, (char)('0' + shape));
    size_t n = wabot_http_request_header_count(req);
    for (size_t i = 0; i < n; i++) {
        const char *name = wabot_http_request_header_name(req, i);
        wb_strbuf_append(k, name, strlen(name) + 1);
        const char *value = wabot_http_request_header_value(req, i);
        wb_strbuf_append(k, value, strlen(value) + 1);
    }
}

/* "Name: value" lines from the key (header_key). An empty value needs
 * curl's "Name;" form (a bare "Name:" would remove the header). Expect is
 * switched off unless asked for: API servers answer at once, and waiting
 * for 100 Continue would cost a round trip on every large body. */
static int build_headers(wb_xfer *x, const wb_strbuf *key, int shape)
{
    int has_expect = 0;
    wb_strbuf line;
    wb_strbuf_init(&line, &x->ctx->alloc);
    const char *p = key->data + 1, *end = key->data + key->len;
    while (p < end) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;
        p = value + strlen(value) + 1;
        has_expect |= strcasecmp(name, "Expect") == 0;
        if (curl_default(name, value, shape))
            continue;
        wb_strbuf_reset(&line);
        wb_strbuf_puts(&line, name);
        if (*value) {
            wb_strbuf_append(&line, ": ", 2);
            wb_strbuf_puts(&line, value);
        } else {
            wb_strbuf_putc(&line, ';'); /* curl's way to send it empty */
        }
        struct curl_slist *s =
            line.oom ? NULL : curl_slist_append(x->slist, line.data);
        if (!s) {
            wb_strbuf_free(&line);
            return WABOT_ERR_NOMEM;
        }
        x->slist = s;
    }
    wb_strbuf_free(&line);
    if (!has_expect) {
        struct curl_slist *s = curl_slist_append(x->slist, "Expect:");
        if (!s)
            return WABOT_ERR_NOMEM;
        x->slist = s;
    }
    return WABOT_OK;
}

/* The header list for req: the one already on the handle when the
 * request's headers are those it was built from (a transport sends the
 * same ones every time), else a new one. */
static int set_headers(wb_xfer *x, const wabot_http_request *req, int shape)
{
    header_key(x, req, shape);
    if (x->hnext.oom)
        return WABOT_ERR_NOMEM;
    if (x->slist && x->hnext.len == x->hkey.len &&
        memcmp(x->hnext.data, x->hkey.data, x->hkey.len) == 0)
        return WABOT_OK;
    curl_slist_free_all(x->slist);
    x->slist = NULL;
    wb_strbuf_reset(&x->hkey);
    if (build_headers(x, &x->hnext, shape) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    wb_strbuf swap = x->hkey; /* the key goes with the list */
    x->hkey = x->hnext;
    x->hnext = swap;
    return curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->slist) == CURLE_OK
               ? WABOT_OK
               : WABOT_ERR_INVAL;
}

static int set_method(CURL *e, const wabot_http_request *req)
{
    const char *m = wabot_http_request_method(req);
    size_t len;
    const char *body = wabot_http_request_body(req, &len);
    int bad = 0;
    if (len == 0 && strcmp(m, "GET") == 0)
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    if (len == 0 && strcmp(m, "HEAD") == 0)
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    if (len || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        /* The request owns the body until the call completes, and the
         * handle leaves the multi before that: no second copy needed. */
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK;
    }
    if (strcmp(m, "POST") != 0)
        bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m) != CURLE_OK;
    return bad;
}

/* Whether the environment names a proxy for curl (what it reads for
 * http and https URLs, in either case). */
static int env_names_proxy(void)
{
    static const char *const names[] = {
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
        "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (getenv(names[i]))
            return 1;
    return 0;
}

/* The options every request shares, on a fresh or reset handle. */
static int prime(wb_xfer *x)
{
    CURL *e = x->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* Wait for a connection that may multiplex (HTTP/2 over TLS) rather
     * than open one per request while the first handshake runs. */
    bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent);
    /* curl reads five proxy variables of the environment each time it
     * sets a transfer's connection up (~1.6k instructions, and once more
     * for each wake-up of a transfer waiting for a connection). When none
     * is set as the handle is set up, it is told there is no proxy (both
     * options are needed: the proxy alone still reads no_proxy); a proxy
     * named in the environment is used as before. */
    if (!env_names_proxy()) {
        bad |= curl_easy_setopt(e, CURLOPT_PROXY, "");
        bad |= curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    }
    x->primed = !bad;
    return bad;
}

/* Start from a clean handle unless this request and the last are both a
 * POST with a body: then every option but the URL, the body, the
 * timeouts and the header list is what it was, and only those are set
 * (curl_easy_reset and a dozen setopt calls per send were a tenth of the
 * sender thread's work). */
static int reuse_or_reset(wb_xfer *x, int shape)
{
    if (x->primed && shape == WB_XFER_POST_BODY && x->shape == shape)
        return 0;
    if (x->primed) {
        curl_easy_reset(x->easy);
        x->primed = 0;
        curl_slist_free_all(x->slist); /* the handle forgot it */
        x->slist = NULL;
    }
    x->shape = shape;
    return prime(x);
}

int wb_xfer_setup(wb_xfer *x, wb_url_cache *urls,
                  const wabot_http_request *req)
{
    CURL *e = x->easy;
    int64_t t = wabot_http_request_timeout_ms(req);
    long timeout = t > LONG_MAX ? LONG_MAX : (long)t;
    long connect = timeout < WB_HTTP_CONNECT_TIMEOUT_MS
                       ? timeout
                       : WB_HTTP_CONNECT_TIMEOUT_MS;
    x->errbuf[0] = '\0';
    x->abort_reason = NULL;
    x->n_hdrs = 0;
    int shape = shape_of(req);
    if (reuse_or_reset(x, shape))
        return WABOT_ERR_INVAL;
    int rc = set_headers(x, req, shape);
    if (rc != WABOT_OK)
        return rc;
    int bad = 0;
    x->url = url_get(x->ctx, urls, wabot_http_request_url(req));
    if (x->url) {
        x->url->users++;
        bad |= curl_easy_setopt(e, CURLOPT_CURLU, x->url->u);
    } else {
        /* CURLOPT_CURLU would win over the text: none is set (recycle) */
        bad |= curl_easy_setopt(e, CURLOPT_URL, wabot_http_request_url(req));
    }
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
    bad |= set_method(e, req);
    return bad ? WABOT_ERR_INVAL : WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* Completion                                                           */

static void complete_ok(wb_xfer *x, wabot_http_call *call)
{
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    wabot_http_header h[WB_HTTP_MAX_RESPONSE_HEADERS];
    const char *p = x->hdrs.data;
    for (size_t i = 0; i < x->n_hdrs; i++) {
        h[i].name = p;
        p += strlen(p) + 1;
        h[i].value = p;
        p += strlen(p) + 1;
    }
    wb_http_response r = {WABOT_OK, (int)code, h, x->n_hdrs,
                          x->body.data ? x->body.data : "", x->body.len, ""};
    wb_http_call_finish(call, &r);
}

/* The request left (curl counted its bytes) and the connection ended
 * with no answer, or part of one: a reset, an empty reply. */
static int lost_after_request(wb_xfer *x, CURLcode rc)
{
    if (rc != CURLE_GOT_NOTHING && rc != CURLE_RECV_ERROR &&
        rc != CURLE_PARTIAL_FILE)
        return 0;
    long sent = 0;
    return curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent) ==
               CURLE_OK &&
           sent > 0;
}

static void complete_failed(wb_xfer *x, wabot_http_call *call, CURLcode rc)
{
    char msg[CURL_ERROR_SIZE + 96];
    int status = WABOT_ERR_TRANSPORT;
    if (x->abort_reason) {
        snprintf(msg, sizeof msg, "%s", x->abort_reason);
    } else {
        const char *why = "";
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            status = WABOT_ERR_TIMEOUT;
        } else if (lost_after_request(x, rc)) {
            /* The server may have acted on it: for the caller this is a
             * timeout, an unknown outcome (sends are reconciled). */
            status = WABOT_ERR_TIMEOUT;
            why = "connection lost after the request was sent, outcome "
                  "unknown: ";
        }
        snprintf(msg, sizeof msg, "%s%s%s%s", why, curl_easy_strerror(rc),
                 x->errbuf[0] ? ": " : "", x->errbuf);
    }
    wb_http_response r = {status, 0, NULL, 0, "", 0, msg};
    wb_http_call_finish(call, &r);
}

void wb_xfer_complete(wb_xfer *x, wabot_http_call *call, CURLcode rc)
{
    if (rc == CURLE_OK)
        complete_ok(x, call);
    else
        complete_failed(x, call, rc);
}

/* The handle has left the multi handle. The buffers the response points
 * into live until done returns; then the handle goes back to the pool. */
static void xfer_done(wb_curl *cl, wb_xfer *x, CURLcode rc)
{
    wb_xfer_unlink(&cl->active, x);
    wabot_http_call *call = x->call;
    x->call = NULL;
    wb_xfer_complete(x, call, rc);
    xfer_put(cl, x);
}

/* Outside every curl callback: done callbacks may add handles. */
static void deliver_finished(wb_curl *cl)
{
    CURLcode rc;
    wb_xfer *x;
    while ((x = wb_curl_next_finished(cl->multi, &rc)))
        xfer_done(cl, x, rc);
}

static void socket_action(wb_curl *cl, curl_socket_t s, int flags)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(cl->multi, s, flags, &running);
    if (mc != CURLM_OK)
        wb_log(cl->ctx, WABOT_LOG_ERROR, "http",
               "curl_multi_socket_action: %s", curl_multi_strerror(mc));
    deliver_finished(cl);
}

/* ------------------------------------------------------------------ */
/* The client vtable                                                    */

static int curl_start(void *impl, const wabot_http_request *req,
                      wabot_http_call *call)
{
    wb_curl *cl = impl;
    if (cl->closing)
        return WABOT_ERR_STATE;
    wb_xfer *x = xfer_get(cl);
    if (!x)
        return WABOT_ERR_NOMEM;
    int rc = wb_xfer_setup(x, &cl->urls, req);
    if (rc == WABOT_OK) {
        CURLMcode mc = curl_multi_add_handle(cl->multi, x->easy);
        if (mc != CURLM_OK) {
            wb_log(cl->ctx, WABOT_LOG_ERROR, "http",
                   "curl_multi_add_handle: %s", curl_multi_strerror(mc));
            rc = WABOT_ERR_TRANSPORT;
        }
    }
    if (rc != WABOT_OK) {
        xfer_put(cl, x);
        return rc;
    }
    x->call = call;
    wb_xfer_link(&cl->active, x);
    /* Outside a loop function nobody re-arms the host's timer on the way
     * out: tell the loop that curl wants to run (it asked for "now"). */
    if (!wb_loop_active(cl->ctx))
        wb_loop_notify(cl->ctx, source_deadline(cl->ctx));
    return WABOT_OK;
}

/* Fail what is in flight, close every connection, unwatch every socket.
 * Normally called by wb_http_shutdown() while the runtime still exists;
 * if the context frees the client after its runtime, sockets are only
 * closed (there is no loop left to tell). */
static void curl_destroy(void *impl)
{
    wb_curl *cl = impl;
    wabot_ctx *ctx = cl->ctx;
    cl->closing = 1; /* done callbacks below cannot start new requests */
    while (cl->active.head) {
        wb_xfer *x = cl->active.head;
        curl_multi_remove_handle(cl->multi, x->easy);
        wb_xfer_unlink(&cl->active, x);
        wb_http_response r = {WABOT_ERR_TRANSPORT, 0, NULL, 0, "", 0,
                              "shutting down"};
        wb_http_call_finish(x->call, &r);
        wb_xfer_free(x);
    }
    while (cl->idle) {
        wb_xfer *x = cl->idle;
        cl->idle = x->next;
        wb_xfer_free(x);
    }
    curl_multi_cleanup(cl->multi);
    wb_url_cache_clear(ctx, &cl->urls);
    for (size_t i = 0; ctx->rt && i < cl->n_fds; i++)
        wb_loop_watch(ctx, cl->fds[i], 0, NULL, NULL);
    wb_free(&ctx->alloc, cl->fds);
    wb_free(&ctx->alloc, cl);
}

static const wabot_http_client_vtable curl_vt = {
    WABOT_HTTP_CLIENT_VTABLE_VERSION, curl_start, curl_destroy};

int wb_curl_multi_limits(CURLM *m, long host)
{
    long total = 2 * host > WB_HTTP_MAX_TOTAL_CONNECTIONS
                     ? 2 * host
                     : WB_HTTP_MAX_TOTAL_CONNECTIONS;
    int bad = 0;
    bad |= curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, total);
    bad |= curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, host);
    bad |= curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
    return bad ? WABOT_ERR_UNSUPPORTED : WABOT_OK;
}

static int multi_setup(wb_curl *cl)
{
    CURLM *m = cl->multi;
    long host = cl->ctx->cfg.http_host_connections > 0
                    ? (long)cl->ctx->cfg.http_host_connections
                    : WB_HTTP_MAX_HOST_CONNECTIONS;
    int bad = 0;
    bad |= curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    bad |= curl_multi_setopt(m, CURLMOPT_SOCKETDATA, cl);
    bad |= curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    bad |= curl_multi_setopt(m, CURLMOPT_TIMERDATA, cl);
    bad |= wb_curl_multi_limits(m, host) != WABOT_OK;
    return bad ? WABOT_ERR_UNSUPPORTED : WABOT_OK;
}

static wb_curl *curl_new(wabot_ctx *ctx)
{
    if (wb_curl_global(ctx) != WABOT_OK)
        return NULL;
    wb_curl *cl = wb_calloc(&ctx->alloc, 1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->ctx = ctx;
    expiry_set(cl, -1);
    cl->multi = curl_multi_init();
    if (!cl->multi || multi_setup(cl) != WABOT_OK) {
        wb_log(ctx, WABOT_LOG_ERROR, "http", "cannot set up curl multi");
        curl_multi_cleanup(cl->multi);
        wb_free(&ctx->alloc, cl);
        return NULL;
    }
    return cl;
}

wabot_http_client *wb_curl_client_new(wabot_ctx *ctx)
{
    if (ctx->cfg.http_threads > 0)
        return wb_curl_threads_client_new(ctx, (size_t)ctx->cfg.http_threads);
    wb_curl *cl = curl_new(ctx);
    if (!cl)
        return NULL;
    wabot_http_client *c = wabot_http_client_new(&curl_vt, cl);
    if (!c) {
        curl_destroy(cl);
        return NULL;
    }
    /* ud is the context, not cl: the source cannot be removed and must
     * stay harmless after the client is freed. */
    wb_source src = {source_deadline, source_fire, ctx, 0};
    if (wb_loop_add_source(ctx, &src) != WABOT_OK) {
        wb_log(ctx, WABOT_LOG_ERROR, "http", "no room for the curl timer");
        wabot_http_client_free(c);
        return NULL;
    }
    return c;
}
