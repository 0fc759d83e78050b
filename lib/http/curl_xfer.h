/* One libcurl transfer of the context's own client, and what both modes
 * of that client share (lib/http/curl.c drives transfers on the loop
 * thread, lib/http/curl_threads.c on sender threads). Private to lib/http.
 *
 * A transfer is used by one thread at a time: set up and run by the
 * thread that owns its multi handle, completed (wb_xfer_complete) on the
 * loop thread once it has left that multi handle. */
#ifndef WB_CURL_XFER_H
#define WB_CURL_XFER_H

#include <curl/curl.h>

#include "http.h"
#include "strbuf.h"

/* Parsed URLs kept for reuse: a sender posts to one or two URLs (Twilio's
 * Messages.json of its account, Meta's /<phone id>/messages), and curl
 * parsing the URL text again per request was a fifth of its work. */
#define WB_CACHED_URLS 8
/* Easy handles kept for reuse (they carry no connection, only setup). */
#define WB_IDLE_HANDLES 16

/* A parsed URL (CURLOPT_CURLU: curl reads it, never changes it) and the
 * transfers using it: replaced only while none does. */
typedef struct wb_url {
    char *text;
    CURLU *u;
    size_t users;
    /* Sender threads: its transfers in the multi handle, and whether its
     * last answer came over HTTP/1.x (a connection carries one request
     * at a time: more transfers than connections only wait in curl). */
    size_t running;
    int one_at_a_time;
} wb_url;

/* One per multi handle, used only by the thread driving that multi. */
typedef struct wb_url_cache {
    wb_url urls[WB_CACHED_URLS];
    size_t next; /* the next slot to replace, round robin */
} wb_url_cache;

typedef struct wb_xfer {
    wabot_ctx *ctx;
    CURL *easy;
    wabot_http_call *call; /* NULL while idle */
    const wabot_http_request *req; /* sender threads: set up there */
    void *owner;           /* sender threads: the thread it belongs to */
    CURLcode rc;           /* sender threads: how it ended */
    int dirty;             /* sender threads: recycle before the next use */
    wb_url *url;           /* the cached parsed URL it uses, or NULL */
    struct curl_slist *slist;
    /* What the easy handle was last set up with, so that the next request
     * of the same shape sets only what changes (wb_xfer_setup): */
    int primed;          /* the options every request shares are set */
    int shape;           /* WB_XFER_* of the last request */
    wb_strbuf hkey;      /* the headers slist was built from */
    wb_strbuf hnext;     /* scratch: the next request's headers */
    wb_strbuf body;
    wb_strbuf hdrs;      /* "name\0value\0" per header of the last response */
    size_t n_hdrs;
    const char *abort_reason; /* why one of our callbacks stopped it */
    int64_t held_since_us; /* sender threads: held for a connection since
                              (CLOCK_MONOTONIC) */
    char errbuf[CURL_ERROR_SIZE];
    struct wb_xfer *prev, *next;
} wb_xfer;

/* Transfers in a multi handle, doubly linked through prev/next. */
typedef struct wb_xfer_list {
    wb_xfer *head;
    size_t n;
} wb_xfer_list;

void wb_xfer_link(wb_xfer_list *l, wb_xfer *x);
void wb_xfer_unlink(wb_xfer_list *l, wb_xfer *x);
/* The next transfer of `multi` that finished, removed from the multi
 * handle, with how it ended in *rc; NULL when there is none. The message
 * is read before curl_multi_remove_handle invalidates it. */
wb_xfer *wb_curl_next_finished(CURLM *multi, CURLcode *rc);

/* curl_global_init once per process; WABOT_OK or logs and returns
 * WABOT_ERR_UNSUPPORTED. */
int wb_curl_global(wabot_ctx *ctx);

/* A new idle transfer; NULL on out of memory. */
wb_xfer *wb_xfer_new(wabot_ctx *ctx);
/* Free a transfer that is in no multi handle. */
void wb_xfer_free(wb_xfer *x);
/* Make a finished transfer ready for the next request: buffers emptied
 * (kept when small), options reset, its URL given back to its cache
 * (call, req and the links are the caller's). */
void wb_xfer_recycle(wb_xfer *x);
/* Give the cached URL back (the thread owning the cache only). */
void wb_xfer_release_url(wb_xfer *x);
/* Set the easy handle up for req, its URL parsed through `urls`.
 * WABOT_OK, NOMEM or INVAL. */
int wb_xfer_setup(wb_xfer *x, wb_url_cache *urls,
                  const wabot_http_request *req);
/* Deliver how the transfer ended (rc) to call, with the response it
 * collected. The transfer has left its multi handle. */
void wb_xfer_complete(wb_xfer *x, wabot_http_call *call, CURLcode rc);
/* Forget every cached URL (none may be in use). */
void wb_url_cache_clear(wabot_ctx *ctx, wb_url_cache *urls);
/* The connection limits of a multi handle allowed `host` connections per
 * host. WABOT_OK or WABOT_ERR_UNSUPPORTED. */
int wb_curl_multi_limits(CURLM *m, long host);
/* Idle transfers worth keeping: as many as sends may be in flight. */
size_t wb_curl_keep_idle(const wabot_ctx *ctx);

/* The threaded client (lib/http/curl_threads.c): n sender threads, each
 * with its own multi handle. NULL on failure (logged). */
wabot_http_client *wb_curl_threads_client_new(wabot_ctx *ctx, size_t n);

#endif
