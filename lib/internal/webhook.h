/* Webhook internals: the form decoder, the two provider parsers, status
 * updates and the response object. Private.
 *
 * The parsers take a raw body and produce a batch (messages + status
 * updates) without any HTTP around them, so fuzz targets and later
 * features (signature verification, delivery receipts) can call them
 * directly. wabot_http_handle() is a thin dispatcher over them. */
#ifndef WB_WEBHOOK_H
#define WB_WEBHOOK_H

#include <stddef.h>

#include "wabot/module.h"
#include "wabot/webhook.h"
#include "ctx.h"
#include "message.h"

/* ------------------------------------------------------------------ */
/* Rejections                                                          */

/* Why a request is rejected: the HTTP status, a stable machine code
 * (also the metric suffix "webhook.rejected.<code>") and a one-line
 * printable-ASCII detail naming the field, path or limit. */
typedef struct wb_reject {
    int http_status;  /* 400, 403, 404, 405, 413, 415, 503 */
    const char *code; /* static string, e.g. "malformed_form" */
    char message[256];
} wb_reject;

/* Fill r and return `status` (WABOT_ERR_PARSE or WABOT_ERR_TOO_LARGE), so
 * parsers can `return wb_reject_set(...)`. Bytes outside printable ASCII
 * in the formatted message are replaced by '?' so the message is always
 * safe to embed in a JSON body and a log line. */
int wb_reject_set(wb_reject *r, int status, int http_status,
                  const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------ */
/* application/x-www-form-urlencoded                                   */

/* One decoded parameter. key/value are NUL-terminated copies; the
 * lengths count every byte because "%00" decodes to a NUL. */
typedef struct wb_form_param {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
} wb_form_param;

typedef struct wb_form wb_form;

typedef struct wb_form_limits {
    size_t max_params;      /* more -> 413 too_many_params */
    size_t max_field_bytes; /* longer decoded key/value -> 413 field_too_large */
} wb_form_limits;

/* Decode `len` bytes of form data: '&'-separated "key=value" pairs, '+'
 * is a space, %XX a byte; empty pairs ("a=1&&b=2") are skipped, a pair
 * without '=' has the value "". Repeated keys are all kept, in order.
 * Bytes are kept as sent (no UTF-8 check: signature verification needs
 * the exact bytes; consumers validate what they use).
 * On WABOT_OK *out owns the form (free with wb_form_free). Errors:
 * WABOT_ERR_PARSE (bad % escape: 400 malformed_form), WABOT_ERR_TOO_LARGE
 * (413 too_many_params / field_too_large), both with *rej filled; NOMEM. */
int wb_form_parse(const wabot_allocator *a, const char *s, size_t len,
                  const wb_form_limits *lim, wb_form **out, wb_reject *rej);
void wb_form_free(wb_form *f);
/* Percent-decode s[0..n) as a URL path segment ('+' stays '+') into dst
 * (room for n + 1 bytes, NUL-terminated): WABOT_OK with the decoded
 * length in *dlen, or WABOT_ERR_PARSE at a '%' without two hex digits. */
int wb_percent_decode(const char *s, size_t n, char *dst, size_t *dlen);
size_t wb_form_count(const wb_form *f);
/* Parameter i in received order (borrowed); NULL if out of range. */
const wb_form_param *wb_form_at(const wb_form *f, size_t i);
/* First parameter named `key` (exact, case-sensitive); NULL if absent. */
const wb_form_param *wb_form_find(const wb_form *f, const char *key);
/* Value of wb_form_find(f, key) (borrowed), or NULL. */
const char *wb_form_get(const wb_form *f, const char *key);

/* ------------------------------------------------------------------ */
/* Parsed webhook batch                                                 */

/* One delivery-status update (Twilio MessageStatus callback, Meta
 * statuses[] item). Collected now, applied to outbound delivery state in
 * the receipts issue. Strings are NULL when absent. */
typedef struct wb_status_update {
    wabot_provider provider;
    char *id;         /* provider message id of the outbound message */
    char *status;     /* provider status name, e.g. "delivered" */
    char *recipient;  /* Meta recipient_id / Twilio To, as sent */
    char *error_code; /* provider error code as text, e.g. "131047" */
    int64_t timestamp_ms;
    char *send_key;   /* the send's correlation the provider echoed (our
                         outbound id: Twilio's StatusCallback parameter,
                         Meta's biz_opaque_callback_data); NULL = none */
} wb_status_update;

/* Everything one webhook request carried, in the provider's order. */
typedef struct wb_webhook_batch {
    wabot_allocator alloc; /* copy of the context's allocator */
    wabot_message **msgs;
    size_t n_msgs, cap_msgs;
    wb_status_update *statuses;
    size_t n_statuses, cap_statuses;
    size_t n_ignored_changes; /* Meta changes whose field is not "messages" */
} wb_webhook_batch;

void wb_webhook_batch_init(wb_webhook_batch *b, const wabot_ctx *ctx);
/* Free every message and status and empty the batch (reusable). */
void wb_webhook_batch_clear(wb_webhook_batch *b);
/* Append m (ownership moves to the batch even on failure). NOMEM. */
int wb_webhook_batch_add_msg(wb_webhook_batch *b, wabot_message *m);
/* Append an empty status update; NULL on NOMEM. */
wb_status_update *wb_webhook_batch_add_status(wb_webhook_batch *b);

/* ------------------------------------------------------------------ */
/* Provider parsers                                                     */

/* Parse a Twilio webhook body (form-encoded) into `out` (initialised,
 * empty). Inbound message -> one message; MessageStatus callback -> one
 * status update. Limits come from ctx->cfg. On any error `out` is left
 * empty. WABOT_OK; WABOT_ERR_PARSE / WABOT_ERR_TOO_LARGE with *rej
 * filled; NOMEM. Thread-safe. */
int wb_twilio_parse(wabot_ctx *ctx, const char *body, size_t len,
                    wb_webhook_batch *out, wb_reject *rej);

/* wb_twilio_parse() on a form decoded already (the signature check needs
 * the decoded parameters before anything is parsed). `out` is left empty
 * on any error. */
int wb_twilio_parse_form(wabot_ctx *ctx, const wb_form *f,
                         wb_webhook_batch *out, wb_reject *rej);

/* Parse a Meta Cloud API webhook body (JSON) into `out` (initialised,
 * empty): every message and status of every change of every entry, in
 * order. All-or-nothing: one invalid item rejects the whole batch and
 * leaves `out` empty. Returns as wb_twilio_parse. Thread-safe. */
int wb_meta_parse(wabot_ctx *ctx, const char *body, size_t len,
                  wb_webhook_batch *out, wb_reject *rej);

/* Deepest nesting of arrays/objects in `s` outside strings, stopping as
 * soon as it exceeds `limit` (returns limit + 1 then). Exposed for tests. */
size_t wb_json_depth(const char *s, size_t len, size_t limit);

/* ------------------------------------------------------------------ */
/* Signatures (signature.c)                                             */

/* Length of a Twilio signature: Base64 of a 20-byte HMAC-SHA1. */
#define WB_TWILIO_SIG_LEN 28

/* Check an X-Twilio-Signature value against each of urls[0..n_urls) (and
 * each one's other port variant: without its port, or with the scheme's
 * default port added). `form` holds the decoded body parameters; NULL
 * means a raw body, signed through bodySHA256=<hex> in the URL, which
 * must match body[0..len). WABOT_OK if one candidate matches,
 * WABOT_ERR_AUTH if none does, WABOT_ERR_NOMEM. `a` allocates scratch
 * memory (NULL = libc). */
int wb_twilio_verify(const wabot_allocator *a, const char *token,
                     const char *const *urls, size_t n_urls,
                     const wb_form *form, const char *body, size_t len,
                     const char *signature);
/* The signature Twilio would send for url and form (NULL: none), as
 * NUL-terminated Base64 into out. WABOT_OK or NOMEM. For tests. */
int wb_twilio_sign(const char *token, const char *url, const wb_form *form,
                   char out[WB_TWILIO_SIG_LEN + 1]);
/* Check an X-Hub-Signature-256 value ("sha256=<hex>") for body with the
 * app secret. WABOT_OK, WABOT_ERR_AUTH or NOMEM. */
int wb_meta_verify(const char *secret, const char *body, size_t len,
                   const char *header);

/* ------------------------------------------------------------------ */
/* Authenticity policy (verify.c)                                      */

/* One request as wabot_http_handle() received it (all borrowed). */
typedef struct wb_request {
    const char *method;
    const char *target; /* path and query, as received */
    const wabot_http_header *headers;
    size_t nheaders;
    const char *body;
    size_t len;
} wb_request;

/* Header value by case-insensitive name (the first one), or NULL. */
const char *wb_header_get(const wb_request *r, const char *name);


/* Is this Twilio request (decoded form f) signed with the configured
 * auth token for the URL Twilio called (WABOT_OPT_PUBLIC_URL, or the Host
 * header; X-Forwarded-* only when trusted)? WABOT_OK (also when
 * verification is off: counted and warned about); WABOT_ERR_AUTH with a
 * 403 in *rej (invalid_signature, signature_not_configured); NOMEM. */
int wb_verify_twilio(wabot_ctx *ctx, const wb_request *r, const wb_form *f,
                     wb_reject *rej);
/* The same for a Meta request (X-Hub-Signature-256 over the raw body). */
int wb_verify_meta(wabot_ctx *ctx, const wb_request *r, wb_reject *rej);
/* Meta's GET handshake on `query` ("?hub.mode=..." or ""): WABOT_OK with
 * *resp = 200 text/plain hub.challenge; WABOT_ERR_AUTH with a 403
 * verification_failed in *rej; NOMEM. */
int wb_meta_handshake(wabot_ctx *ctx, const char *query, wb_reject *rej,
                      wabot_http_response **resp);

/* ------------------------------------------------------------------ */
/* Delivery receipts (receipts.c)                                      */

/* Apply one status update to the delivery record of the message it
 * names: deduplicated by id + state, the state only moves forward, a
 * permanent opt-out code marks the customer, everything is counted
 * (receipts.<state>, receipts.duplicates, receipts.stale,
 * receipts.unknown, receipts.ignored). WABOT_OK, or a storage failure
 * (the receipt is then lost: providers do not retry callbacks that were
 * answered). */
int wb_receipt_apply(wabot_ctx *ctx, const wb_status_update *u);

/* ------------------------------------------------------------------ */
/* Responses                                                            */

/* The response object of wabot_http_handle() (http_response.c): the
 * webhook's answers and, through the setters of http_server.h, those of
 * the host's routes. */
typedef struct wb_http_header_field {
    char *name;  /* one allocation: "name\0value\0" */
    char *value; /* points into name's block */
} wb_http_header_field;

struct wabot_http_response {
    wabot_allocator alloc;    /* copy: the response may outlive the ctx */
    int status;
    const char *content_type; /* static string, or ct_owned */
    char *body;               /* NUL-terminated, allocated with alloc */
    size_t len;
    char *ct_owned;           /* a content type set by a handler */
    wb_http_header_field *hdrs;
    size_t n_hdrs, cap_hdrs;
    const wabot_ctx *err_ctx; /* for error details while a handler runs */
};

/* A response with a copy of body[0..len). NULL on NOMEM. */
wabot_http_response *wb_response_new(const wabot_ctx *ctx, int status,
                                     const char *content_type,
                                     const char *body, size_t len);
/* Append a header after the same checks as wabot_http_response_add_header.
 * WABOT_OK, WABOT_ERR_INVAL, NOMEM. */
int wb_response_add_header(wabot_http_response *r, const char *name,
                           const char *value);
/* Drop the body, keep status, content type and headers (HEAD). */
void wb_response_drop_body(wabot_http_response *r);


/* Answer with the JSON error for `rej`, counted (webhook.rejected.<code>)
 * and logged; a 503 carries "Retry-After: WB_RETRY_AFTER_SECONDS".
 * WABOT_OK with *resp set, or NOMEM. */
int wb_webhook_reject(wabot_ctx *ctx, const wb_reject *rej,
                      wabot_http_response **resp);
/* Seconds in the Retry-After of a 503: the failed message's dedup claim
 * was released, so a redelivery may come at once; one second keeps a
 * client that honours it from hammering a storage that just failed. */
#define WB_RETRY_AFTER_SECONDS "1"

/* ------------------------------------------------------------------ */
/* Providers (modules)                                                  */

/* What a provider module (twilio.c, meta.c; a future one the same way)
 * registers with the "webhook" module (http.c), which owns the routes'
 * handlers and runs the common steps: the body size limit, the choice of
 * provider by Content-Type, receipts, the pipeline, the answer. */
typedef struct wb_webhook_provider {
    const char *name;       /* "twilio" */
    const char *media_type; /* the POST Content-Type it reads, lower case */
    /* GET on its path (a verification handshake): WABOT_OK with *resp,
     * WABOT_ERR_AUTH with *rej, NOMEM. NULL: the provider has none. */
    int (*handshake)(wabot_ctx *ctx, const char *query, wb_reject *rej,
                     wabot_http_response **resp);
    /* Authenticate and parse a POST into `out` (initialised, empty; left
     * empty on error): WABOT_OK; PARSE / TOO_LARGE / AUTH with *rej; NOMEM. */
    int (*read)(wabot_ctx *ctx, const wb_request *r, wb_webhook_batch *out,
                wb_reject *rej);
    /* Non-zero when the answer may carry the turn's replies (Twilio's
     * TwiML); NULL: never. */
    int (*inline_replies)(const wabot_ctx *ctx);
    /* The 200 answer, with the inline replies when there are any. */
    wabot_http_response *(*answer)(const wabot_ctx *ctx,
                                   wabot_outbound *const *replies, size_t n);
} wb_webhook_provider;

/* Register `p` (static) with the context's "webhook" module and have its
 * path served (GET/HEAD and POST). Providers
 * may share a path: a POST goes to the provider of its Content-Type
 * whatever the path. Called from a provider module's create (which
 * requires "webhook"). WABOT_OK, NOMEM, WABOT_ERR_STATE (no webhook
 * module). */
int wb_webhook_provider_add(wabot_module *m, const wb_webhook_provider *p,
                            const char *path);

/* Diverting requests to another system (the migration module): after a
 * POST is authenticated and parsed, `plan` says where its items go; for
 * WB_DIVERT_MIXED it has taken the other system's messages out of the
 * batch. The original request then goes to `forward`, which answers it
 * (WABOT_OK with *resp; an error only when no answer can be built). A
 * mixed batch is handled here first; the other system must share the
 * dedup keys to skip what was handled here. */
typedef enum wb_divert_plan {
    WB_DIVERT_HERE,
    WB_DIVERT_LEGACY,
    WB_DIVERT_MIXED
} wb_divert_plan;
typedef struct wb_webhook_diverter {
    wb_divert_plan (*plan)(wabot_ctx *ctx, wb_webhook_batch *b, void *ud);
    int (*forward)(wabot_ctx *ctx, const wb_request *r,
                   wabot_http_response **resp, void *ud);
    void *ud;
} wb_webhook_diverter;
/* Install the one diverter (copied) from a module's create. WABOT_OK,
 * WABOT_ERR_EXISTS (one is installed), WABOT_ERR_STATE (no webhook
 * module). */
int wb_webhook_set_diverter(wabot_module *m, const wb_webhook_diverter *d);

/* The registry the "webhook" module keeps as its data. The module lives
 * with the route table (lib/http_server/webhook_module.c), which sits
 * above this layer: it passes `serve`, which routes GET and POST on a
 * path to wb_webhook_get / wb_webhook_post (with_get: the provider has a
 * handshake). */
typedef struct wb_webhooks wb_webhooks;
typedef int (*wb_webhook_serve_fn)(wabot_ctx *ctx, const char *path,
                                   int with_get);
wb_webhooks *wb_webhooks_new(wabot_ctx *ctx, wb_webhook_serve_fn serve);
void wb_webhooks_free(wabot_ctx *ctx, wb_webhooks *w);

/* The handlers of the webhook paths: GET (and HEAD) is the handshake of
 * the provider that has one, POST goes to the provider of the
 * Content-Type. WABOT_OK with *resp set; an error only when no answer can
 * be built (NOMEM). */
int wb_webhook_get(wabot_ctx *ctx, const wb_request *req,
                   wabot_http_response **resp);
int wb_webhook_post(wabot_ctx *ctx, const wb_request *req,
                    wabot_http_response **resp);

/* The provider modules (twilio.c, meta.c). */
extern const wabot_module_def wb_twilio_module;
extern const wabot_module_def wb_meta_module;

/* 200 for a Twilio webhook: empty TwiML. */
wabot_http_response *wb_response_twiml_empty(const wabot_ctx *ctx);
/* <Response> with one <Message> per reply (text, or <Body>+<Media>). */
wabot_http_response *wb_response_twiml_messages(const wabot_ctx *ctx,
                                                wabot_outbound *const *msgs,
                                                size_t n);
/* 200 for a Meta webhook: {"status":"ok"}. */
wabot_http_response *wb_response_json_ok(const wabot_ctx *ctx);
/* The JSON error response for a rejection. NULL on NOMEM. */
wabot_http_response *wb_response_error(const wabot_ctx *ctx,
                                       const wb_reject *rej);

#define WB_CT_JSON "application/json"
#define WB_CT_FORM "application/x-www-form-urlencoded"
#define WB_CT_XML "text/xml"
#define WB_CT_TEXT "text/plain"
#define WB_TWIML_EMPTY "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"

#endif
