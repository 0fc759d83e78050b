/* libFuzzer target: the Twilio webhook (form decoder, Twilio parser, and
 * the whole wabot_http_handle() path). Input = raw form body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/webhook.h"

wabot_ctx *fuzz_ctx(void);
void fuzz_http(wabot_ctx *ctx, const char *target, const char *ctype,
               const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The decoder on its own, with tiny limits: every parameter is readable
 * and its recorded lengths match the bytes. */
static void fuzz_form(wabot_ctx *ctx, const char *s, size_t n)
{
    wb_form_limits lim = {8, 64};
    wb_form *f = NULL;
    wb_reject rej;
    if (wb_form_parse(&ctx->alloc, s, n, &lim, &f, &rej) != WABOT_OK)
        return;
    for (size_t i = 0; i < wb_form_count(f); i++) {
        const wb_form_param *p = wb_form_at(f, i);
        if (p->key[p->key_len] != '\0' || p->value[p->value_len] != '\0' ||
            p->key_len > lim.max_field_bytes ||
            p->value_len > lim.max_field_bytes)
            abort();
        if (memchr(p->key, '\0', p->key_len) == NULL &&
            wb_form_find(f, p->key) == NULL)
            abort();
    }
    wb_form_free(f);
}

static void fuzz_parser(wabot_ctx *ctx, const char *s, size_t n)
{
    wb_webhook_batch b;
    wb_reject rej;
    wb_webhook_batch_init(&b, ctx);
    int rc = wb_twilio_parse(ctx, s, n, &b, &rej);
    if (rc == WABOT_OK && b.n_msgs + b.n_statuses != 1)
        abort(); /* one Twilio request is one message or one status */
    if ((rc == WABOT_ERR_PARSE || rc == WABOT_ERR_TOO_LARGE) &&
        (rej.code == NULL || b.n_msgs != 0))
        abort();
    wb_webhook_batch_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wabot_ctx *ctx = fuzz_ctx();
    const char *s = size ? (const char *)data : NULL;
    fuzz_form(ctx, s, size);
    fuzz_parser(ctx, s, size);
    fuzz_http(ctx, "/whatsapp/webhook", "application/x-www-form-urlencoded",
              data, size);
    return 0;
}
