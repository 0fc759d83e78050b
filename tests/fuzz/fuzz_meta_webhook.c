/* libFuzzer target: the Meta Cloud API webhook (depth pre-scan, JSON
 * parsing, the batch walk, and the whole wabot_http_handle() path).
 * Input = raw JSON body. */
#include <stdint.h>
#include <stdlib.h>

#include "internal/webhook.h"

wabot_ctx *fuzz_ctx(void);
void fuzz_http(wabot_ctx *ctx, const char *target, const char *ctype,
               const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parser(wabot_ctx *ctx, const char *s, size_t n)
{
    wb_webhook_batch b;
    wb_reject rej;
    wb_webhook_batch_init(&b, ctx);
    int rc = wb_meta_parse(ctx, s, n, &b, &rej);
    if (rc == WABOT_OK &&
        b.n_msgs > (size_t)ctx->cfg.max_batch_messages)
        abort();
    /* All-or-nothing: a rejected batch holds nothing. */
    if ((rc == WABOT_ERR_PARSE || rc == WABOT_ERR_TOO_LARGE) &&
        (rej.code == NULL || b.n_msgs != 0 || b.n_statuses != 0))
        abort();
    wb_webhook_batch_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wabot_ctx *ctx = fuzz_ctx();
    const char *s = size ? (const char *)data : NULL;
    if (wb_json_depth(s, size, 4) > 5)
        abort(); /* the pre-scan stops right after the limit */
    fuzz_parser(ctx, s, size);
    fuzz_http(ctx, "/whatsapp-v2/webhook", "application/json", data, size);
    return 0;
}
