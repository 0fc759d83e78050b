/*
 * Transports: how outbound messages reach a provider.
 *
 * A transport implements wabot_transport_vtable. Sending is asynchronous:
 * send() receives the message and a wabot_send_op, and must later call
 * exactly one of wabot_send_op_ok() / wabot_send_op_fail() on that op — from
 * inside send() itself (synchronous transports) or later, from the host's
 * loop thread. The op and the message are valid until that call.
 *
 * Built in:
 *   console   prints each message as one line on a FILE (embedded default);
 *   recorder  keeps every message in memory so a host's own tests can assert
 *             on what the bot said (the test kit), with fault injection.
 * Provider transports (Twilio, Meta Cloud API) are below.
 */
#ifndef WABOT_TRANSPORT_H
#define WABOT_TRANSPORT_H

#include <stdio.h>

#include "core.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wabot_send_op wabot_send_op;

#define WABOT_TRANSPORT_VTABLE_VERSION 1

typedef struct wabot_transport_vtable {
    uint32_t version; /**< WABOT_TRANSPORT_VTABLE_VERSION */
    /** Start sending `msg`. Return WABOT_OK if the op will be (or was)
     *  completed; a negative status means the op was not taken and will
     *  not be completed (the library then treats the send as failed). */
    int (*send)(void *impl, const wabot_outbound *msg, wabot_send_op *op);
    /** Release the transport (wabot_transport_free). May be NULL. */
    void (*destroy)(void *impl);
} wabot_transport_vtable;

/** The context whose send this op is (borrowed; valid while the op is).
 *  NULL for NULL. A custom transport uses it to reach the context's
 *  clock, metrics or HTTP client. Any thread holding the op. */
WABOT_API wabot_ctx *wabot_send_op_ctx(const wabot_send_op *op);
/** The organisation the message of this op belongs to (borrowed; valid
 *  while the op is), "" when unknown or for NULL; picks per-organisation
 *  credentials in a transport shared by organisations. Any thread holding
 *  the op. */
WABOT_API const char *wabot_send_op_organization(const wabot_send_op *op);

/** Complete an op successfully; `provider_id` (copied, may be NULL) is the
 *  provider's message id. Valid once per op. */
WABOT_API void wabot_send_op_ok(wabot_send_op *op, const char *provider_id);
/**
 * Complete an op with a failure. `status` is a negative wabot_status
 * (typically WABOT_ERR_TRANSPORT), `provider_code` the provider's error code
 * (0 if none), `message` a description (copied, may be NULL),
 * `retry_after_ms` the provider's hint (0 if none). Valid once per op.
 */
WABOT_API void wabot_send_op_fail(wabot_send_op *op, int status,
                                  int provider_code, const char *message,
                                  int64_t retry_after_ms);

/** Wrap a transport. `vt` is borrowed, `impl` owned (destroy runs on free).
 *  `name` is copied ("twilio", "meta", ...). NULL on bad arguments / NOMEM. */
WABOT_API wabot_transport *wabot_transport_new(const wabot_transport_vtable *vt,
                                               void *impl, const char *name);
WABOT_API void wabot_transport_free(wabot_transport *t);
WABOT_API const char *wabot_transport_name(const wabot_transport *t);

/** Console transport writing "[bot -> +E164] text" lines to `out` (borrowed;
 *  NULL = stdout), flushed after each message. Thread-safe. */
WABOT_API wabot_transport *wabot_transport_console_new(FILE *out);

/* ------------------------------------------------------------------ */
/* Provider transports (HTTP through the context's client, see http.h)  */

#define WABOT_TWILIO_CONFIG_VERSION 1
/** Twilio Programmable Messaging (WhatsApp). Strings are copied. */
typedef struct wabot_twilio_config {
    uint32_t version;            /**< WABOT_TWILIO_CONFIG_VERSION */
    const char *account_sid;     /**< "AC...", required */
    const char *auth_token;      /**< required */
    const char *from;            /**< default sender, E.164; or NULL with: */
    const char *messaging_service_sid; /**< "MG...", optional */
    const char *status_callback_url;   /**< optional */
    const char *base_url;        /**< default "https://api.twilio.com" */
    int64_t timeout_ms;          /**< per request, default 10000 */
} wabot_twilio_config;

#define WABOT_META_CONFIG_VERSION 1
/** Meta WhatsApp Cloud API. Strings are copied. */
typedef struct wabot_meta_config {
    uint32_t version;            /**< WABOT_META_CONFIG_VERSION */
    const char *access_token;    /**< required */
    const char *phone_number_id; /**< required */
    const char *api_version;     /**< default "v21.0" */
    const char *base_url;        /**< default "https://graph.facebook.com" */
    int64_t timeout_ms;          /**< per request, default 10000 */
} wabot_meta_config;

/** Fill with version and defaults (everything else NULL/0). */
WABOT_API void wabot_twilio_config_init(wabot_twilio_config *cfg);
WABOT_API void wabot_meta_config_init(wabot_meta_config *cfg);

/**
 * Provider transports. NULL (and nothing allocated) when a required field
 * is missing, a URL is not http(s), or out of memory. Sends go through the
 * HTTP client of the context that sends (asynchronous, on its loop);
 * success completes the op with the provider's message id (Twilio "SM...",
 * Meta "wamid..."); failures complete it with a status that classifies
 * them: WABOT_ERR_RATE_LIMITED (with Retry-After when given),
 * WABOT_ERR_PERMANENT, WABOT_ERR_WINDOW_CLOSED, WABOT_ERR_TRANSPORT or
 * WABOT_ERR_TIMEOUT, and the provider's error code and message.
 */
WABOT_API wabot_transport *wabot_transport_twilio_new(
    const wabot_twilio_config *cfg);
WABOT_API wabot_transport *wabot_transport_meta_new(
    const wabot_meta_config *cfg);

/**
 * Classify a provider answer: the status a transport reports for HTTP
 * status `http_code` (0 = no response) with the provider's error `code`
 * (0 = none). WABOT_OK for 2xx. Tables in doc/transports.md.
 */
WABOT_API int wabot_provider_classify(wabot_provider provider, int http_code,
                                      int code);

/* ------------------------------------------------------------------ */
/* Senders: which organisation owns which business number, and which
 * transport (credentials) sends for it.                               */

/**
 * Register business number `number` (E.164) of organisation `org`, sent
 * through `transport` (borrowed; must outlive the context). An inbound
 * message to that number belongs to `org`; an outbound message of `org`
 * goes out from its first registered number unless it names one, through
 * that number's transport. Messages of organisations without senders use
 * the context's transport. Setup-time (not thread-safe with handling).
 * WABOT_ERR_INVAL, WABOT_ERR_EXISTS (number already registered), NOMEM.
 */
WABOT_API int wabot_transport_sender_add(wabot_ctx *ctx, const char *org,
                                         const char *number,
                                         wabot_transport *transport);
/** The organisation that registered business number `number` (E.164 as
 *  wabot_transport_sender_add normalised it), or NULL. Borrowed, valid for
 *  the context's lifetime. Thread-safe once setup is done. */
WABOT_API const char *wabot_transport_sender_org(const wabot_ctx *ctx,
                                                 const char *number);
/** Older spelling of wabot_transport_sender_add(), kept for compatibility. */
WABOT_API int wabot_ctx_add_sender(wabot_ctx *ctx, const char *org,
                                   const char *number,
                                   wabot_transport *transport);
/** Older spelling of wabot_transport_sender_org(), kept for compatibility. */
WABOT_API const char *wabot_ctx_sender_org(const wabot_ctx *ctx,
                                           const char *number);

/* ------------------------------------------------------------------ */
/* Recorder (test kit)                                                 */

/** A transport that records every message and completes it successfully
 *  with provider id "rec-<n>" (n from 1), unless a failure is queued.
 *  Owned: free with wabot_transport_free(). NULL when out of memory.
 *  Thread-safe. */
WABOT_API wabot_transport *wabot_transport_recorder_new(void);
/** Number of messages recorded; 0 for a non-recorder. Any thread. */
WABOT_API size_t wabot_transport_recorder_count(const wabot_transport *t);
/** Recorded message i (borrowed; valid until clear or free); NULL if out of
 *  range or not a recorder. Any thread. */
WABOT_API const wabot_outbound *wabot_transport_recorder_get(
    const wabot_transport *t, size_t i);
/** Forget every recorded message. Any thread. */
WABOT_API void wabot_transport_recorder_clear(wabot_transport *t);
/** Make the next `count` sends fail with (status, provider_code, message
 *  (copied)); failed sends are not recorded. WABOT_ERR_INVAL for a
 *  non-recorder, NOMEM. Any thread. */
WABOT_API int wabot_transport_recorder_fail_next(wabot_transport *t,
                                                 size_t count, int status,
                                                 int provider_code,
                                                 const char *message);

/* Older spellings of the recorder functions above, kept for compatibility:
 * wabot_recorder_X is wabot_transport_recorder_X. */
WABOT_API wabot_transport *wabot_recorder_new(void);
WABOT_API size_t wabot_recorder_count(const wabot_transport *t);
WABOT_API const wabot_outbound *wabot_recorder_get(const wabot_transport *t,
                                                   size_t i);
WABOT_API void wabot_recorder_clear(wabot_transport *t);
WABOT_API int wabot_recorder_fail_next(wabot_transport *t, size_t count,
                                       int status, int provider_code,
                                       const char *message);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_TRANSPORT_H */
