/* Delivery records of outbound messages, keyed by the provider's message
 * id. The outbound path records each successful send; receipts (status
 * callbacks) move the state forward (lib/webhook/receipts.c). Private. */
#ifndef WB_RECEIPTS_H
#define WB_RECEIPTS_H

#include "ctx.h"
#include "storage.h"
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
/* wb_receipt_sent_many in two halves, for a batch shared with other
 * writes (the delivery's pass: wb_delivery_rider). _ops: the ops that
 * record n sends, keys[i] holding w[i]'s key; op k (of the count
 * returned) is write at[k]'s; a write with no op has rcs[i] set (an
 * unusable id, out of memory), the others WABOT_OK. On a store with a
 * receipt table it does every write itself and returns 0. _done, once
 * the ops ran: rcs from their statuses (a conflict merged by
 * read-modify-write), their values freed. Loop thread. */
typedef char wb_receipt_keys[WB_STORAGE_KEY_MAX + 1];
size_t wb_receipt_sent_ops(wabot_ctx *ctx, size_t n,
                           const wb_receipt_write *const *w,
                           wb_receipt_keys *keys, struct wb_storage_bop *ops,
                           size_t *at, int *rcs);
void wb_receipt_sent_done(wabot_ctx *ctx, const wb_receipt_write *const *w,
                          size_t m, struct wb_storage_bop *ops,
                          const size_t *at, int *rcs);
/* The delivery's rider that writes q's fresh sends with its pass
 * (lib/internal/delivery.h); set by the receipts module. */
struct wb_delivery_rider;
void wb_receipt_rider(wb_receipt_retry *q, struct wb_delivery_rider *r);
/* Writes waiting (0 for NULL). Any thread. */
size_t wb_receipt_pending(wb_receipt_retry *q);
/* Do one write now (receipts.c): WABOT_OK, or the storage's status. */
int wb_receipt_write_do(wabot_ctx *ctx, const wb_receipt_write *w);
/* The receipts module's queue in ctx, or NULL. */
wb_receipt_retry *wb_receipt_retry_of(const wabot_ctx *ctx);

#endif
