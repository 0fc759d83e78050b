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

/* ------------------------------------------------------------------ */
/* Deferred writes (lib/webhook/receipt_retry.c)                        */

/* Receipt writes waiting for the storage, at most (then dropped, counted
 * as receipts.writes_dropped). */
#define WB_RECEIPT_RETRY_MAX 50000

/* One write of a delivery record, as data, so it can wait in memory. */
typedef enum wb_receipt_write_kind {
    WB_RECEIPT_SENT = 1,  /* a send the provider accepted */
    WB_RECEIPT_STATUS = 2 /* a status callback */
} wb_receipt_write_kind;

typedef struct wb_receipt_write {
    wb_receipt_write_kind kind;
    char *provider_id;
    char *outbound_id, *to, *org, *correlation_id; /* SENT; NULL = none;
                                     STATUS: outbound_id is the send key */
    char *status, *recipient, *error_code;       /* STATUS; NULL = none */
    wabot_provider provider;
    int64_t at_ms; /* SENT: when; STATUS: the receipt's timestamp */
} wb_receipt_write;

typedef struct wb_receipt_retry wb_receipt_retry;

/* The queue, with its loop source on ctx; NULL on NOMEM. */
wb_receipt_retry *wb_receipt_retry_new(wabot_ctx *ctx);
/* Free it; writes still waiting are logged as lost. */
void wb_receipt_retry_free(wb_receipt_retry *q);
/* 1 for a status that says "the storage did not answer" (worth a retry). */
int wb_receipt_retryable(int status);
/* Keep a copy of w and write it from the loop, with backoff, until the
 * storage takes it. Any thread. */
void wb_receipt_defer(wb_receipt_retry *q, const wb_receipt_write *w);
/* Record a send (w->kind WB_RECEIPT_SENT; copied) on the loop's next
 * pass, together with the others of that pass. Any thread. */
void wb_receipt_sent_later(wb_receipt_retry *q, const wb_receipt_write *w);
/* Write n send records (receipts.c) in one storage batch: each created
 * with compare-and-set on absence; one that a receipt created first is
 * merged by read-modify-write. On a store with a receipt table (memory)
 * each is one change under its id's table lock instead (no round trip to
 * save). rcs[i]: WABOT_OK or the storage's status. */
void wb_receipt_sent_many(wabot_ctx *ctx, size_t n,
                          const wb_receipt_write *const *w, int *rcs);
/* Writes waiting (0 for NULL). Any thread. */
size_t wb_receipt_pending(wb_receipt_retry *q);
/* Do one write now (receipts.c): WABOT_OK, or the storage's status. */
int wb_receipt_write_do(wabot_ctx *ctx, const wb_receipt_write *w);
/* The receipts module's queue in ctx, or NULL. */
wb_receipt_retry *wb_receipt_retry_of(const wabot_ctx *ctx);

#endif
