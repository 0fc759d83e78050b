/* libFuzzer target: delivery receipts. The input is a raw webhook body: a
 * Meta JSON document when it starts with '{', else a Twilio form (status
 * callbacks are both). Every status update the parser produces is applied
 * to the delivery records, twice, and the records are read back:
 *  - a mapped status leaves a readable record whose state is known;
 *  - applying the same update again is a duplicate and changes nothing.
 * Then the whole wabot_http_handle() path runs on the same body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/webhook.h"
#include "wabot/metrics.h"
#include "wabot/security.h"

wabot_ctx *fuzz_ctx(void);
void fuzz_http(wabot_ctx *ctx, const char *target, const char *ctype,
               const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            abort();                                                         \
    } while (0)

static wabot_delivery *read_record(wabot_ctx *ctx, const char *id)
{
    wabot_delivery *d = NULL;
    int rc = wabot_delivery_get(ctx, id, &d);
    CHECK(rc == WABOT_OK || rc == WABOT_ERR_NOT_FOUND ||
          rc == WABOT_ERR_INVAL || rc == WABOT_ERR_NOMEM);
    return d;
}

static void check_update(wabot_ctx *ctx, const wb_status_update *u)
{
    CHECK(wb_receipt_apply(ctx, u) == WABOT_OK);
    wabot_delivery *before = read_record(ctx, u->id);
    int64_t dups = wabot_metrics_counter(ctx, "receipts.duplicates");
    int64_t ignored = wabot_metrics_counter(ctx, "receipts.ignored");
    CHECK(wb_receipt_apply(ctx, u) == WABOT_OK);
    wabot_delivery *after = read_record(ctx, u->id);
    /* Applied again: either ignored both times, or a duplicate now. */
    CHECK(wabot_metrics_counter(ctx, "receipts.ignored") > ignored ||
          wabot_metrics_counter(ctx, "receipts.duplicates") == dups + 1);
    CHECK((before == NULL) == (after == NULL));
    if (before != NULL) {
        CHECK(wabot_delivery_state_of(before) != WABOT_DELIVERY_UNKNOWN);
        CHECK(wabot_delivery_state_of(after) ==
              wabot_delivery_state_of(before));
        CHECK(wabot_delivery_updated_ms(after) ==
              wabot_delivery_updated_ms(before));
        CHECK(strcmp(wabot_delivery_error_code(after),
                     wabot_delivery_error_code(before)) == 0);
        (void)strlen(wabot_delivery_to(after));
        (void)strlen(wabot_delivery_outbound_id(after));
    }
    wabot_delivery_free(before);
    wabot_delivery_free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wabot_ctx *ctx = fuzz_ctx();
    const char *s = size ? (const char *)data : NULL;
    int json = size > 0 && data[0] == '{';
    wb_webhook_batch b;
    wb_reject rej;
    wb_webhook_batch_init(&b, ctx);
    int rc = json ? wb_meta_parse(ctx, s, size, &b, &rej)
                  : wb_twilio_parse(ctx, s, size, &b, &rej);
    CHECK(rc == WABOT_OK || rc == WABOT_ERR_PARSE ||
          rc == WABOT_ERR_TOO_LARGE || rc == WABOT_ERR_NOMEM);
    for (size_t i = 0; rc == WABOT_OK && i < b.n_statuses; i++) {
        const wb_status_update *u = &b.statuses[i];
        CHECK(u->id != NULL && u->status != NULL);
        check_update(ctx, u);
    }
    wb_webhook_batch_clear(&b);
    fuzz_http(ctx, json ? "/whatsapp-v2/webhook" : "/whatsapp/webhook",
              json ? "application/json" : "application/x-www-form-urlencoded",
              data, size);
    return 0;
}
