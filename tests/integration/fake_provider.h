/*
 * A fake WhatsApp provider for tests and benchmarks: one HTTP server on
 * 127.0.0.1 that speaks the SEND side of both providers the library talks
 * to, records every request, and answers with faults on demand.
 *
 *   Twilio:  POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
 *            Basic auth AccountSid:AuthToken, form-encoded body.
 *   Meta:    POST {base}/{vNN.N}/{phone_number_id}/messages
 *            Authorization: Bearer <token>, JSON body.
 *   Other paths: 404 (not recorded as sends, but recorded as requests).
 *
 * Answers follow the providers' documented shapes (see "Provider facts"
 * at the end of this header for the codes used and which are unconfirmed).
 *
 * Threads: every connection gets its own thread, so a delayed or hanging
 * answer never holds up other clients. Every fp_* function below may be
 * called from any thread while the server runs, except fp_stop.
 *
 * The fake is independent of libwabot: it never includes <wabot.h>.
 */
#ifndef WABOT_TEST_FAKE_PROVIDER_H
#define WABOT_TEST_FAKE_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp_server fp_server;

/* Which provider a fault, an outage or a recorded request concerns. */
typedef enum fp_provider {
    FP_ANY = 0,    /* faults and outages: both providers */
    FP_TWILIO = 1,
    FP_META = 2,
    FP_OTHER = 3   /* recorded requests only: a path of neither (404) */
} fp_provider;

/*
 * What the fake accepts. Strings are copied by fp_start; NULL credentials
 * take the FP_DEFAULT_* values below. meta_phone_number_id NULL accepts
 * any all-digit id; meta_api_version NULL accepts any "vNN.N" (a set
 * version makes other versions 404, like an unknown path).
 */
typedef struct fp_config {
    int port;                          /* 0: a free port */
    const char *twilio_account_sid;    /* NULL: FP_DEFAULT_TWILIO_SID */
    const char *twilio_auth_token;     /* NULL: FP_DEFAULT_TWILIO_TOKEN */
    const char *meta_access_token;     /* NULL: FP_DEFAULT_META_TOKEN */
    const char *meta_phone_number_id;  /* NULL: any digits */
    const char *meta_api_version;      /* NULL: any "vNN.N" */
    int enable_control;                /* serve /__fake/ (see below) */
    /* 1: after each accepted Twilio send with a StatusCallback (an
     * http://127.0.0.1:PORT/... URL), POST its status callbacks there as
     * Twilio does, "sent" then "delivered", form-encoded and signed
     * (X-Twilio-Signature with the auth token), from a thread of their
     * own, so the URL's query (the sender's correlation) comes back. */
    int send_status_callbacks;
    /* 0: a thread per connection (a delayed or hung answer holds only its
     * own connection). N > 0: N threads polling every connection
     * (poll(), not epoll: see daemon_start), for benchmarks (tests/bench/e2e.py): far fewer thread
     * switches per request, but a delay/hang fault then holds one of
     * the N threads and the connections it serves. */
    int pool_threads;
} fp_config;

#define FP_DEFAULT_TWILIO_SID "AC00000000000000000000000000000000"
#define FP_DEFAULT_TWILIO_TOKEN "fake-twilio-token"
#define FP_DEFAULT_META_TOKEN "fake-meta-token"

/*
 * Start listening on 127.0.0.1:cfg->port (cfg may be NULL: all defaults).
 * Returns the server, or NULL when the port cannot be bound or memory runs
 * out. Stop it with fp_stop.
 */
fp_server *fp_start(const fp_config *cfg);

/* The bound port (never 0 once started). */
int fp_port(const fp_server *s);

/* "http://127.0.0.1:PORT", owned by s, valid until fp_stop. */
const char *fp_base_url(const fp_server *s);

/*
 * Stop: pending delayed and hanging answers end at once (their connections
 * close without an answer), every connection thread is joined, and
 * everything s owns is freed. fp_stop(NULL) is a no-op. Call it from one
 * thread, once, after every other call on s has returned.
 */
void fp_stop(fp_server *s);

/* Status callbacks answered 2xx so far / given up (no answer, or not 2xx;
 * one try each) -- fp_config.send_status_callbacks. */
size_t fp_status_callbacks_sent(fp_server *s);
size_t fp_status_callbacks_failed(fp_server *s);

/* ---- Faults --------------------------------------------------------- */

typedef enum fp_fault_kind {
    FP_FAULT_NONE = 0,
    /* Answer http_status; the body is the provider's error JSON with
     * `code` (0: the status's default code, listed at the end of this
     * header) and `message`, or
     * exactly `body` with `content_type` when body is set (an HTML 502 from
     * a proxy, an empty 500...). Retry-After is sent when retry_after_s>0. */
    FP_FAULT_STATUS,
    /* 429 with Retry-After: retry_after_s (when > 0) and the provider's
     * error JSON: Twilio code 20429, Meta code 130429 (or `code` when set,
     * e.g. 131056 or 80007). */
    FP_FAULT_RATE_LIMIT,
    /* The provider's error JSON for `code` (required) at the HTTP status
     * that provider uses for it (http_status overrides): Twilio 400 for
     * 21211, 21610, 63016, 63024...; Meta 400 for 131047, 131026, 100...,
     * 401 for 190, 403 for 368/10, 429 for 130429/131056/80007/4. */
    FP_FAULT_PROVIDER_ERROR,
    /* Answer normally (auth, validation, success), but only after
     * delay_ms. The send is decided and recorded on arrival, so a client
     * that gives up first has still sent the message (as with a real
     * provider): the ambiguous-timeout case. */
    FP_FAULT_DELAY,
    /* Never answer: the connection stays open until the client closes it
     * or the server stops; then it is closed without an answer. */
    FP_FAULT_HANG,
    /* Close the connection without an answer (the client sees an empty
     * reply). */
    FP_FAULT_DROP
} fp_fault_kind;

/* Strings are copied by fp_fault_push; zero-initialise, set what you need. */
typedef struct fp_fault {
    fp_fault_kind kind;
    int http_status;      /* STATUS: required; others: 0 = the default */
    int code;             /* provider error code; 0 = the kind's default */
    const char *message;  /* NULL: a default for the code */
    const char *details;  /* Meta error_data.details; NULL: the message */
    int subcode;          /* Meta error_subcode; 0: left out (as v16+) */
    int retry_after_s;    /* > 0: Retry-After header (any error kind) */
    int delay_ms;         /* wait before answering; any kind (DELAY: the
                             whole point) */
    const char *body;         /* STATUS only: exact body to send */
    const char *content_type; /* with body; NULL: text/plain */
} fp_fault;

/*
 * Queue a fault for the next `times` requests to `which` (FP_ANY: either
 * provider); times -1: until fp_fault_clear. Faults are used in the order
 * pushed: a request takes the oldest queued fault that matches its
 * provider, and the fault leaves the queue when its count reaches 0.
 * Faults apply to requests on a provider's send path only, before
 * authentication. Returns 0, or -1 (bad arguments, out of memory).
 */
int fp_fault_push(fp_server *s, fp_provider which, const fp_fault *f,
                  int times);

/* Remove every queued fault. */
void fp_fault_clear(fp_server *s);

/*
 * Outage mode: while down, every send to `which` (FP_ANY: both) is
 * answered 503 with the provider's error JSON (Twilio code 20503, Meta
 * code 2), before faults and authentication. down = 0 lifts it.
 */
void fp_set_down(fp_server *s, fp_provider which, int down);

/* ---- Recording ------------------------------------------------------ */

typedef struct fp_form_field {
    char *name;
    char *value;
} fp_form_field;

/*
 * One recorded request, copied out by fp_request_get: every pointer is
 * owned by the struct and valid until fp_request_free. String fields are
 * NUL-terminated; absent headers are NULL.
 */
typedef struct fp_request {
    fp_provider provider;   /* FP_TWILIO, FP_META or FP_OTHER */
    char *method;
    char *path;             /* without the query */
    char *query;            /* raw query string, NULL if none */
    char *authorization;    /* Authorization header */
    char *content_type;     /* Content-Type header */
    char *body;             /* raw body (may contain NULs: see body_len) */
    size_t body_len;
    int status;             /* HTTP status of the answer (decided on
                               arrival; with DELAY sent later); 0: none
                               (HANG, DROP) */
    fp_fault_kind fault;    /* the fault or outage applied; NONE if none
                               (an outage records FP_FAULT_STATUS) */
    char *to;               /* Twilio To / Meta to, as sent; NULL if none */
    char *message_id;       /* the SM... / wamid... id when the send
                               succeeded, else NULL */
    int64_t at_ms;          /* CLOCK_MONOTONIC ms when it arrived */
    /* Twilio (form-encoded bodies): every field, decoded, in order. */
    fp_form_field *form;
    size_t form_len;
    void *json_;            /* private: the parsed JSON body (Meta) */
} fp_request;

/* Requests recorded so far (every method and path except /__fake/). */
size_t fp_request_count(fp_server *s);

/*
 * Copy request i (0 = the first to arrive) into *out. 0, or -1 when i is
 * out of range or memory runs out (*out is then zeroed). Free with
 * fp_request_free.
 */
int fp_request_get(fp_server *s, size_t i, fp_request *out);

/* Free what fp_request_get put in *req (not req itself); zeroes it. NULL
 * is a no-op. */
void fp_request_free(fp_request *req);

/*
 * The index-th value (0-based) of form field `name` (case-sensitive, as
 * Twilio), e.g. fp_request_form(r, "MediaUrl", 1). Owned by req; NULL
 * when absent.
 */
const char *fp_request_form(const fp_request *req, const char *name,
                            size_t index);

/* How many times form field `name` occurs. */
size_t fp_request_form_count(const fp_request *req, const char *name);

/*
 * The string at a dotted path in the JSON body: "text.body",
 * "template.language.code", "interactive.action.buttons.1.reply.id"
 * (numbers index arrays). Owned by req; NULL when absent, not a string,
 * or the body is not JSON.
 */
const char *fp_request_json(const fp_request *req, const char *path);

/* Length of the array (or object) at path; 0 when absent or neither. */
size_t fp_request_json_len(const fp_request *req, const char *path);

/*
 * The media URL a send carried, whichever the provider: Twilio's first
 * MediaUrl, or Meta's "<type>.link" of a media message (image, document,
 * audio, video, sticker). This is the URL a real provider would fetch.
 * Owned by req; NULL when the request carries none (a text, a Meta media
 * sent by uploaded id).
 */
const char *fp_request_media_url(const fp_request *req);

/*
 * The text a send carried, whichever the provider: Twilio's Body, or
 * Meta's text.body, a media message's caption, or an interactive
 * message's body.text. Owned by req; NULL when none.
 */
const char *fp_request_text(const fp_request *req);

/*
 * Successful sends to `to`, compared after removing a "whatsapp:" prefix
 * and a leading '+' on both sides, so "+14155550100" counts Twilio's
 * "whatsapp:+14155550100" and Meta's "14155550100".
 */
size_t fp_count_to(fp_server *s, const char *to);

/* Successful sends, all recipients. */
size_t fp_count_sent(fp_server *s);

/*
 * Wait until at least n requests are recorded (answered or not). 1 when
 * reached, 0 at the deadline. For tests whose sends are asynchronous.
 */
int fp_wait_requests(fp_server *s, size_t n, int timeout_ms);

/* Forget every recorded request and count (faults and outages stay). */
void fp_reset(fp_server *s);

/*
 * Every recorded request as a JSON array (malloc'ed; free()). Each item:
 * provider ("twilio"|"meta"|"other"), method, path, query, authorization,
 * content_type, body, status, fault, to, message_id, at_ms, media_url
 * (fp_request_media_url, or null), and "form" (Twilio: [[name, value],
 * ...] in order) or "json" (the parsed body).
 * NULL when memory runs out.
 */
char *fp_requests_json(fp_server *s);

/*
 * ---- Control endpoints (cfg->enable_control; used by fake-provider) ----
 *
 *  POST /__fake/fault         JSON {"provider":"twilio"|"meta"|"any",
 *                               "kind":"status"|"rate_limit"|
 *                                      "provider_error"|"delay"|"hang"|
 *                                      "drop",
 *                               "times":N (default 1, -1 = until cleared),
 *                               "status","code","message","details",
 *                               "subcode","retry_after","delay_ms",
 *                               "body","content_type"}   -> 200 {"ok":true}
 *  POST /__fake/fault/clear                               -> 200
 *  POST /__fake/down?provider=twilio|meta|any&on=1|0      -> 200
 *  POST /__fake/reset   records, faults and outages all cleared -> 200
 *  GET  /__fake/requests  fp_requests_json                -> 200
 *  GET  /__fake/count[?to=+1415...]  {"count":N (sends to `to`, or all
 *                                     sends), "requests":M}        -> 200
 *  Bad input -> 400 {"error":"..."}; unknown /__fake/ path -> 404.
 *
 * ---- Provider facts used (docs checked; "unconfirmed" = best guess) ----
 *
 * Twilio error JSON {"code","message","more_info","status"}, more_info
 * "https://www.twilio.com/docs/errors/<code>". 401 code 20003
 * "Authenticate" (also for an AccountSid in the path that is not the
 * configured one), with WWW-Authenticate: Basic realm="Twilio API".
 * 400 21604 To missing; 21603 From and MessagingServiceSid missing; 21602
 * Body, MediaUrl and ContentSid all missing; 21211 To not a phone number
 * ("[whatsapp:]+digits", 7-15 digits); 21617 Body over 1600 characters;
 * 21623 more than 10 MediaUrl (unconfirmed). 429 20429. 503 20503
 * (unconfirmed; 20500 is documented as internal error). Status 201 with
 * the Message resource: status "queued", or "accepted" when sent through
 * a MessagingServiceSid (as Twilio documents).
 *
 * Meta (Graph) error JSON {"error":{"message","type":"OAuthException",
 * "code","error_data":{"messaging_product":"whatsapp","details"},
 * "fbtrace_id"}}; error_subcode only when a fault sets it (Meta removed
 * it in v16+). 401 code 190 for a wrong or missing token. 400 code 100
 * "(#100) Invalid parameter" for bad bodies (details say which), and
 * code 100 subcode 33 for an unknown phone number id. 503 code 2 for an
 * outage (documented "API Service", HTTP 503). Success 200
 * {"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],
 * "messages":[{"id":"wamid..."}]} (+ "message_status":"accepted" for
 * templates). Accepted types: text, template, interactive (button: 1-3
 * reply buttons, title <= 20, id <= 256; list: 1-10 sections, <= 10 rows
 * in all, row title <= 24), image/document/audio/video/sticker (link or
 * id), location, reaction. "type" defaults to "text".
 *
 * Default codes of a STATUS fault without `code`: Twilio 401 -> 20003,
 * 404 -> 20404, 429 -> 20429, 503 -> 20503, other 5xx -> 20500, other
 * 4xx -> 20000 + status (made up); Meta 401 -> 190, 403 -> 10, 429 ->
 * 130429, 503 -> 2, other 5xx -> 1, other 4xx -> 100. HTTP statuses of
 * Meta's throttling codes 4 and 80007 (429 here) are unconfirmed.
 */

#ifdef __cplusplus
}
#endif

#endif
