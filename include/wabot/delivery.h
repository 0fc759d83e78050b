/*
 * Delivery state of outbound messages: the record that provider receipts
 * (Twilio status callbacks, Meta statuses[]) keep for every message sent,
 * read back by the provider's message id (doc/security.md).
 *
 * These declarations lived in wabot/security.h, which still includes this
 * header, so code that included security.h compiles unchanged.
 */
#ifndef WABOT_DELIVERY_H
#define WABOT_DELIVERY_H

#include "core.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Delivery state of outbound messages                                 */

/**
 * Delivery states. The stored state only moves forward:
 * QUEUED < SENT < FAILED = UNDELIVERED < DELIVERED < READ (a delivered or
 * read receipt outranks a failure report: it proves delivery). Values are
 * append-only.
 */
typedef enum wabot_delivery_state {
    WABOT_DELIVERY_UNKNOWN = 0,
    WABOT_DELIVERY_QUEUED = 1,     /**< accepted by the provider */
    WABOT_DELIVERY_SENT = 2,       /**< handed to WhatsApp */
    WABOT_DELIVERY_DELIVERED = 3,  /**< on the customer's device */
    WABOT_DELIVERY_READ = 4,       /**< read by the customer */
    WABOT_DELIVERY_FAILED = 5,     /**< refused; see the error code */
    WABOT_DELIVERY_UNDELIVERED = 6 /**< Twilio: could not be delivered */
} wabot_delivery_state;

/** Static lower-case name ("queued", "sent", ...; "unknown"). */
WABOT_API const char *wabot_delivery_state_name(wabot_delivery_state s);

typedef struct wabot_delivery wabot_delivery;

/**
 * Read the delivery record of the message the provider calls
 * `provider_id` (Twilio SM..., Meta wamid...). Records are written when a
 * send succeeds and by every receipt (also for ids this process never
 * sent: another process may have), and kept WABOT_OPT_RECEIPT_TTL_MS.
 * On WABOT_OK *out owns a snapshot (free with wabot_delivery_free).
 * WABOT_ERR_NOT_FOUND if there is none, WABOT_ERR_INVAL, STORAGE, NOMEM.
 * Thread-safe.
 */
WABOT_API int wabot_delivery_get(wabot_ctx *ctx, const char *provider_id,
                                 wabot_delivery **out);
WABOT_API wabot_delivery_state wabot_delivery_state_of(
    const wabot_delivery *d);
/** Provider error code of a failure ("131050", "63016"), "" if none. */
WABOT_API const char *wabot_delivery_error_code(const wabot_delivery *d);
/** The library's outbound message id; "" when the send was not recorded
 *  by a context sharing this storage. */
WABOT_API const char *wabot_delivery_outbound_id(const wabot_delivery *d);
WABOT_API const char *wabot_delivery_provider_id(const wabot_delivery *d);
/** Recipient (E.164) and organisation; "" when unknown. */
WABOT_API const char *wabot_delivery_to(const wabot_delivery *d);
WABOT_API const char *wabot_delivery_organization(const wabot_delivery *d);
WABOT_API wabot_provider wabot_delivery_provider(const wabot_delivery *d);
/** ms since the epoch of the receipt (or send) that set the state. */
WABOT_API int64_t wabot_delivery_updated_ms(const wabot_delivery *d);
/** The correlation id the message was queued with (wabot_out_set_
 *  correlation_id, or generated); "" when the send was not recorded or
 *  predates correlation ids. */
WABOT_API const char *wabot_delivery_correlation_id(const wabot_delivery *d);
WABOT_API void wabot_delivery_free(wabot_delivery *d);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_DELIVERY_H */
