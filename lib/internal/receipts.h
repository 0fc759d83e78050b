/* Delivery records of outbound messages, keyed by the provider's message
 * id. The outbound path records each successful send; receipts (status
 * callbacks) move the state forward (lib/webhook/receipts.c). Private. */
#ifndef WB_RECEIPTS_H
#define WB_RECEIPTS_H

#include "ctx.h"
#include "wabot/message.h"

/* Record that `o` was accepted by the provider under `provider_id`
 * (Twilio "SM...", Meta "wamid..."): stores {outbound id, recipient,
 * organisation, provider, state "sent", time} for WABOT_OPT_RECEIPT_TTL_MS
 * so receipts can find the message. A receipt that arrived before this
 * call (callbacks race the send's answer) is merged, never overwritten.
 * Failures are logged, not returned: the message has been sent whatever
 * happens to its record. Thread-safe. */
void wb_receipt_sent(wabot_ctx *ctx, const wabot_outbound *o,
                     const char *provider_id);

/* The receipts module: subscribes to "delivery.sent" and records each
 * send with wb_receipt_sent's rules (requires the delivery module). */
struct wabot_module_def;
extern const struct wabot_module_def wb_receipts_module;

/* "receipt:<provider_id>" into buf (size n); NULL when the id is
 * empty, holds control characters or does not fit. */
char *wb_receipt_key(char *buf, size_t n, const char *provider_id);

#endif
