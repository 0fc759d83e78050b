/* The context's libcurl client with its transfers on sender threads
 * (option http_threads > 0).
 *
 * On the loop thread, curl (socket I/O, header and body parsing, TLS) was
 * most of a send's cost (doc/performance.md). Here each of n threads owns
 * one multi handle, with its own connections, parsed URLs and DNS cache
 * (libcurl's multi handles are not thread-safe: one thread per multi), and
 * drives it with curl_multi_perform() / curl_multi_poll().
 *
 *   loop thread                          sender thread t
 *   start(): transfer -> t->inbox  ----> takes the inbox, sets each
 *            (its eventfd written when     transfer up, adds it
 *             the thread sleeps)           perform, poll, ...
 *                                          finished -> t->outbox
 *   on_posted(t): takes the outbox, <---- wb_loop_post(&t->post) when
 *            runs each done callback,       the outbox was empty
 *            keeps the transfer spare
 *
 * So done callbacks still run on the loop thread, and one wake-up serves a
 * burst in either direction. A call stays in the client's list of calls
 * until its done has run: wb_http_in_flight() is exact, and
 * wabot_ctx_run_until_idle() waits for the sender threads' transfers.
 *
 * A transfer belongs to one thread for its life (its URL comes from that
 * thread's cache); the loop thread keeps each thread's spare transfers and
 * the thread recycles one (buffers, its URL) when it takes it up
 * again, so that work stays off the loop thread too.
 *
 * A transfer curl would only park (its URL's host answers over HTTP/1.1
 * and the thread's connections to it are all busy) is held on the thread
 * instead and added when one of its transfers ends: curl sets a parked
 * transfer up again from the start each time a connection frees (23k
 * instructions a time, doc/performance.md). Its wait counts against its
 * timeout, as it did inside curl.
 *
 * http_host_connections is the total for the client: it is shared out
 * among the threads (a thread gets at least one; there are never more
 * threads than connections), so a provider sees the same number of
 * connections whatever http_threads is, and pacing that assumes
 * outbound_concurrency == http_host_connections (doc/http.md) holds. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "curl_xfer.h"
#include "runtime.h"

/* Longest curl_multi_poll() wait without work: a thread sleeps there
 * until curl's own timeout, a socket or curl_multi_wakeup(). */
#define POLL_MS 1000

typedef struct wb_curlt wb_curlt;

typedef struct wb_sender {
    wb_curlt *cl;
    pthread_t tid;
    int started;
    CURLM *multi;
    /* Written by the loop thread to wake the thread from curl_multi_poll
     * (one of its extra fds): an eventfd write and read cost less than
     * curl_multi_wakeup's socket pair (a send, and curl's recv to drain
     * it: 4 % of wabot-server's CPU under load). */
    int wake_fd;
    /* the sender thread only */
    wb_url_cache urls;
    wb_xfer_list active; /* in the multi handle */
    wb_xfer *held, *held_tail; /* set up, waiting for a free connection */
    long conns;                /* its connections per host */
    /* the loop thread only */
    wb_xfer *spare;  /* finished transfers to reuse, through next */
    size_t n_spare;
    size_t load;     /* handed to the thread, done not run yet */
    /* lock */
    pthread_mutex_t lock;
    wb_xfer *inbox, *inbox_tail;
    wb_xfer *outbox, *outbox_tail;
    int sleeping; /* in curl_multi_poll (or about to be) with an empty
                     inbox: only then does a hand-over wake it */
    int stop;
    wb_post post; /* on_posted(this), queued while the outbox is not empty */
    char name[16]; /* the thread's name: "wabot-send<i>" */
} wb_sender;

struct wb_curlt {
    wabot_ctx *ctx;
    wb_sender *threads;
    size_t n;
    size_t next; /* round robin among equally loaded threads */
    int closing;
};

static const wabot_http_client_vtable threads_vt;

/* ------------------------------------------------------------------ */
/* Lists                                                                */

static void fifo_push(wb_xfer **head, wb_xfer **tail, wb_xfer *x)
{
    x->next = NULL;
    if (*tail)
        (*tail)->next = x;
    else
        *head = x;
    *tail = x;
}

/* Append the list first..last; returns 1 if the fifo was empty. */
static int fifo_append(wb_xfer **head, wb_xfer **tail, wb_xfer *first,
                       wb_xfer *last)
{
    int was_empty = *head == NULL;
    if (*tail)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
    return was_empty;
}

/* ------------------------------------------------------------------ */
/* The sender thread                                                    */

/* The transfer cannot start: it finishes at once, with a reason. */
static void refuse(wb_xfer *x, const char *why, wb_xfer **done,
                   wb_xfer **done_tail)
{
    x->abort_reason = why;
    x->rc = CURLE_FAILED_INIT;
    fifo_push(done, done_tail, x);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whether curl would only park x: every connection of the thread to its
 * host carries a request, one at a time. Counted per URL, so that two
 * URLs of one host may still exceed the connections (curl parks those,
 * as before); never holds what curl would start. */
static int must_hold(const wb_sender *t, const wb_xfer *x)
{
    return x->url && x->url->one_at_a_time &&
           x->url->running >= (size_t)t->conns;
}

static void add(wb_sender *t, wb_xfer *x, wb_xfer **done,
                wb_xfer **done_tail)
{
    if (curl_multi_add_handle(t->multi, x->easy) != CURLM_OK) {
        refuse(x, "curl_multi_add_handle failed", done, done_tail);
        return;
    }
    if (x->url)
        x->url->running++;
    wb_xfer_link(&t->active, x);
}

static void start_one(wb_sender *t, wb_xfer *x, wb_xfer **done,
                      wb_xfer **done_tail)
{
    if (x->dirty)
        wb_xfer_recycle(x);
    if (wb_xfer_setup(x, &t->urls, x->req) != WABOT_OK) {
        refuse(x, "cannot set the request up (out of memory?)", done,
               done_tail);
        return;
    }
    if (must_hold(t, x)) { /* behind those of its URL held before it */
        x->held_since_us = mono_us();
        fifo_push(&t->held, &t->held_tail, x);
        return;
    }
    add(t, x, done, done_tail);
}

/* Milliseconds of x's timeout left at now (<= 0: none). */
static int64_t held_left_ms(const wb_xfer *x, int64_t now)
{
    return wabot_http_request_timeout_ms(x->req) -
           (now - x->held_since_us) / 1000;
}

/* Held transfers that fit now are added in the order they came (their
 * timeout less the wait), those whose timeout ran out while held end as
 * curl ends a timeout; the rest stay, in order. */
static void release_held(wb_sender *t, wb_xfer **done, wb_xfer **done_tail)
{
    int64_t now = mono_us();
    wb_xfer *list = t->held, *keep = NULL, *keep_tail = NULL;
    t->held = t->held_tail = NULL;
    while (list) {
        wb_xfer *x = list;
        list = x->next;
        int64_t left = held_left_ms(x, now);
        if (left <= 0) {
            snprintf(x->errbuf, sizeof x->errbuf, "no free connection "
                     "within the request's timeout");
            x->rc = CURLE_OPERATION_TIMEDOUT;
            wb_xfer_release_url(x); /* as collect() does */
            curl_easy_setopt(x->easy, CURLOPT_CURLU, NULL);
            fifo_push(done, done_tail, x);
        } else if (must_hold(t, x)) { /* and those of its URL after it */
            fifo_push(&keep, &keep_tail, x);
        } else {
            long ms = left > LONG_MAX ? LONG_MAX : (long)left;
            curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, ms);
            if (ms < WB_HTTP_CONNECT_TIMEOUT_MS)
                curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
            add(t, x, done, done_tail);
        }
    }
    t->held = keep;
    t->held_tail = keep_tail;
}

/* How long the thread may sleep: until the first held transfer's
 * timeout at the latest. */
static long sleep_ms(const wb_sender *t)
{
    int64_t now = mono_us(), ms = POLL_MS;
    for (const wb_xfer *x = t->held; x; x = x->next) {
        int64_t left = held_left_ms(x, now);
        if (left < ms)
            ms = left < 1 ? 1 : left;
    }
    return (long)ms;
}

/* What a finished transfer's answer says of its URL's connections. */
static void note_version(wb_xfer *x)
{
    long v = 0;
    if (!x->url ||
        curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &v) != CURLE_OK ||
        v == 0)
        return; /* no answer: nothing learnt */
    x->url->one_at_a_time =
        v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1;
}

/* Finished transfers leave the multi handle here; their URL goes back to
 * this thread's cache (curl works on its own copy of it while it runs). */
static void collect(wb_sender *t, wb_xfer **done, wb_xfer **done_tail)
{
    CURLcode rc;
    wb_xfer *x;
    while ((x = wb_curl_next_finished(t->multi, &rc))) {
        wb_xfer_unlink(&t->active, x);
        if (x->url) {
            x->url->running--;
            note_version(x);
        }
        wb_xfer_release_url(x);
        curl_easy_setopt(x->easy, CURLOPT_CURLU, NULL);
        x->rc = rc;
        fifo_push(done, done_tail, x);
    }
}

/* Hand finished transfers to the loop: one post per burst. */
static void hand_back(wb_sender *t, wb_xfer *done, wb_xfer *done_tail)
{
    if (!done)
        return;
    pthread_mutex_lock(&t->lock);
    int first = fifo_append(&t->outbox, &t->outbox_tail, done, done_tail);
    pthread_mutex_unlock(&t->lock);
    if (first)
        wb_loop_post(t->cl->ctx, &t->post);
}

/* Returns the inbox, or NULL with *stop set when told to stop (the inbox
 * stays for the loop thread to fail). */
static wb_xfer *take_inbox(wb_sender *t, int *stop)
{
    pthread_mutex_lock(&t->lock);
    wb_xfer *in = NULL;
    t->sleeping = 0;
    *stop = t->stop;
    if (!*stop) {
        in = t->inbox;
        t->inbox = t->inbox_tail = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    return in;
}

/* Whether to wait in curl_multi_poll: not when transfers were handed
 * over since the inbox was taken (nobody wakes a thread that is not
 * sleeping). Otherwise the thread counts as sleeping from here on, and
 * a hand-over wakes it (curl_multi_poll returns at once for a wake-up
 * that came before it started waiting). */
static int about_to_sleep(wb_sender *t)
{
    pthread_mutex_lock(&t->lock);
    int sleep = !t->inbox && !t->stop;
    t->sleeping = sleep;
    pthread_mutex_unlock(&t->lock);
    return sleep;
}

/* Wait for a socket, curl's timeout or the loop's wake-up; a wake-up is
 * consumed here (the eventfd stays readable until read). */
static void sleep_in_poll(wb_sender *t)
{
    struct curl_waitfd wake = {t->wake_fd, CURL_WAIT_POLLIN, 0};
    curl_multi_poll(t->multi, &wake, 1, (int)sleep_ms(t), NULL);
    if (wake.revents) {
        uint64_t n;
        ssize_t r;
        do
            r = read(t->wake_fd, &n, sizeof n);
        while (r < 0 && errno == EINTR);
    }
}

/* Wake t from sleep_in_poll. */
static void wake(wb_sender *t)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(t->wake_fd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, so the thread has a wake-up pending */
}

static void *sender_main(void *arg)
{
    wb_sender *t = arg;
#ifdef __linux__
    /* top -H, perf and /proc/<pid>/task/<tid>/comm tell them apart */
    prctl(PR_SET_NAME, t->name, 0, 0, 0);
#endif
    for (;;) {
        int stop;
        wb_xfer *in = take_inbox(t, &stop);
        if (stop)
            return NULL;
        wb_xfer *done = NULL, *done_tail = NULL;
        while (in) {
            wb_xfer *x = in;
            in = in->next;
            start_one(t, x, &done, &done_tail);
        }
        int running = 0;
        curl_multi_perform(t->multi, &running);
        collect(t, &done, &done_tail);
        if (t->held) /* added now, started by the next perform */
            release_held(t, &done, &done_tail);
        hand_back(t, done, done_tail);
        if (about_to_sleep(t))
            sleep_in_poll(t);
    }
}

/* ------------------------------------------------------------------ */
/* The loop thread                                                      */

static void spare_put(wb_sender *t, wb_xfer *x)
{
    wb_curlt *cl = t->cl;
    if (cl->closing || t->n_spare >= wb_curl_keep_idle(cl->ctx)) {
        wb_xfer_free(x);
        return;
    }
    x->dirty = 1; /* recycled by its thread when it takes it up */
    x->call = NULL;
    x->req = NULL;
    x->next = t->spare;
    t->spare = x;
    t->n_spare++;
}

/* Posted by t: run the done callbacks of what it finished. */
static void on_posted(void *ud)
{
    wb_sender *t = ud;
    pthread_mutex_lock(&t->lock);
    wb_xfer *list = t->outbox;
    t->outbox = t->outbox_tail = NULL;
    pthread_mutex_unlock(&t->lock);
    while (list) {
        wb_xfer *x = list;
        list = x->next;
        wabot_http_call *call = x->call;
        x->call = NULL;
        t->load--;
        wb_xfer_complete(x, call, x->rc);
        spare_put(t, x);
    }
}

/* The least loaded thread, round robin among equals. */
static wb_sender *pick(wb_curlt *cl)
{
    wb_sender *best = NULL;
    for (size_t k = 0; k < cl->n; k++) {
        wb_sender *t = &cl->threads[(cl->next + k) % cl->n];
        if (!best || t->load < best->load)
            best = t;
    }
    cl->next = (size_t)(best - cl->threads + 1) % cl->n;
    return best;
}

static int threads_start(void *impl, const wabot_http_request *req,
                         wabot_http_call *call)
{
    wb_curlt *cl = impl;
    if (cl->closing)
        return WABOT_ERR_STATE;
    wb_sender *t = pick(cl);
    wb_xfer *x = t->spare;
    if (x) {
        t->spare = x->next;
        t->n_spare--;
    } else if (!(x = wb_xfer_new(cl->ctx))) {
        return WABOT_ERR_NOMEM;
    }
    x->owner = t;
    x->req = req;
    x->call = call;
    x->next = NULL;
    t->load++;
    pthread_mutex_lock(&t->lock);
    fifo_append(&t->inbox, &t->inbox_tail, x, x);
    /* A thread that is not sleeping takes the inbox before it next
     * waits; one that is needs one wake-up (a write to curl's wake-up
     * socket), which then serves the whole burst. */
    int sleeping = t->sleeping;
    t->sleeping = 0;
    pthread_mutex_unlock(&t->lock);
    if (sleeping)
        wake(t);
    return WABOT_OK;
}

static void fail_all(wb_xfer *list)
{
    while (list) {
        wb_xfer *x = list;
        list = x->next;
        wb_http_response r = {WABOT_ERR_TRANSPORT, 0, NULL, 0, "", 0,
                              "shutting down"};
        wb_http_call_finish(x->call, &r);
        wb_xfer_free(x);
    }
}

/* After the thread is joined: everything it held, handed to it or handed
 * back fails with "shutting down" (wb_http_shutdown() has normally
 * delivered that already; this drops the client's references). */
static void sender_clear(wb_curlt *cl, wb_sender *t)
{
    if (cl->ctx->rt)
        wb_loop_unpost(cl->ctx, &t->post);
    while (t->active.head) {
        wb_xfer *x = t->active.head;
        curl_multi_remove_handle(t->multi, x->easy);
        wb_xfer_unlink(&t->active, x);
        wb_xfer_release_url(x);
        x->next = NULL;
        fail_all(x);
    }
    fail_all(t->held);
    t->held = t->held_tail = NULL;
    fail_all(t->inbox);
    fail_all(t->outbox);
    t->inbox = t->inbox_tail = t->outbox = t->outbox_tail = NULL;
    while (t->spare) {
        wb_xfer *x = t->spare;
        t->spare = x->next;
        wb_xfer_free(x);
    }
    wb_url_cache_clear(cl->ctx, &t->urls);
    curl_multi_cleanup(t->multi);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    pthread_mutex_destroy(&t->lock);
}

static void sender_stop(wb_sender *t)
{
    if (!t->started)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_mutex_unlock(&t->lock);
    wake(t);
    pthread_join(t->tid, NULL);
    t->started = 0;
}

static void threads_destroy(void *impl)
{
    wb_curlt *cl = impl;
    cl->closing = 1; /* done callbacks below cannot start new requests */
    for (size_t i = 0; i < cl->n; i++)
        sender_stop(&cl->threads[i]);
    for (size_t i = 0; i < cl->n; i++)
        if (cl->threads[i].multi)
            sender_clear(cl, &cl->threads[i]);
    wb_free(&cl->ctx->alloc, cl->threads);
    wb_free(&cl->ctx->alloc, cl);
}

static const wabot_http_client_vtable threads_vt = {
    WABOT_HTTP_CLIENT_VTABLE_VERSION, threads_start, threads_destroy};

/* ------------------------------------------------------------------ */
/* Setup                                                                */

/* The library's threads take no signals: the host's handlers run on its
 * own threads, as without http_threads. */
static int spawn(wb_sender *t)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t->tid, NULL, sender_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    t->started = rc == 0;
    return rc == 0 ? WABOT_OK : WABOT_ERR_NOMEM;
}

/* Thread i's share of `host` connections among n. */
static long share_of(long host, size_t n, size_t i)
{
    return host / (long)n + ((long)i < host % (long)n ? 1 : 0);
}

static int sender_init(wb_curlt *cl, wb_sender *t, long host)
{
    t->cl = cl;
    snprintf(t->name, sizeof t->name, "wabot-send%u",
             (unsigned)(t - cl->threads) % 100u);
    t->conns = host;
    pthread_mutex_init(&t->lock, NULL);
    t->post = (wb_post){on_posted, t, NULL, 0};
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->multi = curl_multi_init();
    if (t->wake_fd < 0 || !t->multi ||
        wb_curl_multi_limits(t->multi, host) != WABOT_OK) {
        if (!t->multi && t->wake_fd >= 0) { /* no sender_clear for it */
            close(t->wake_fd);
            t->wake_fd = -1;
        }
        return WABOT_ERR_UNSUPPORTED;
    }
    return spawn(t);
}

wabot_http_client *wb_curl_threads_client_new(wabot_ctx *ctx, size_t n)
{
    if (wb_curl_global(ctx) != WABOT_OK)
        return NULL;
    long host = ctx->cfg.http_host_connections > 0
                    ? (long)ctx->cfg.http_host_connections
                    : WB_HTTP_MAX_HOST_CONNECTIONS;
    if ((long)n > host)
        n = (size_t)host; /* every thread gets a connection */
    wb_curlt *cl = wb_calloc(&ctx->alloc, 1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->ctx = ctx;
    cl->threads = wb_calloc(&ctx->alloc, n, sizeof *cl->threads);
    if (!cl->threads) {
        wb_free(&ctx->alloc, cl);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cl->n = i + 1; /* what destroy must undo */
        if (sender_init(cl, &cl->threads[i], share_of(host, n, i)) !=
            WABOT_OK) {
            wb_log(ctx, WABOT_LOG_ERROR, "http",
                   "cannot start HTTP sender thread %zu of %zu", i + 1, n);
            threads_destroy(cl);
            return NULL;
        }
    }
    wabot_http_client *c = wabot_http_client_new(&threads_vt, cl);
    if (!c)
        threads_destroy(cl);
    return c;
}
