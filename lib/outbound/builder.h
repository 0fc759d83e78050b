/* The builder's state, shared by the files of lib/outbound/. Private. */
#ifndef WB_OUTBOUND_BUILDER_H
#define WB_OUTBOUND_BUILDER_H

#include "message.h"
#include "outbound.h"

/* Template limits (bytes); the WhatsApp message limits are in transport.h. */
#define WB_TEMPLATE_NAME_MAX 512
#define WB_TEMPLATE_LANGUAGE_MAX 16
#define WB_TEMPLATE_PARAMS_MAX 20
#define WB_TEMPLATE_PARAM_MAX 1024
#define WB_MEDIA_URL_MAX 2048
#define WB_IDEMPOTENCY_KEY_MAX 200
#define WB_CORRELATION_ID_MAX 128
#define WB_ORG_MAX 256
#define WB_LOCALE_MAX 35
/* Characters a text or caption may have when set: what the long-text
 * policy can still send (WB_LONG_TEXT_MAX_PARTS messages of WhatsApp's
 * 4096); the provider's own limit is applied when the message is composed
 * (long_text.c). */
#define WB_OUT_TEXT_MAX (WB_LONG_TEXT_MAX_PARTS * WB_WA_TEXT_MAX)

struct wabot_out {
    wabot_ctx *ctx;
    /* What was set; NULL members are filled when the message is composed
     * (a turn's address, the default organisation, the catalog's texts).
     * Its kind is decided then, from what is present. */
    wabot_outbound *msg;
    wabot_out_kind options; /* BUTTONS or LIST once one is added, else 0 */
    char *locale;           /* NULL: the organisation's */
    int key_set;            /* the caller chose the idempotency key */
};

/* 1 if s is a locale tag the catalog accepts (1..35 bytes of letters,
 * digits, '-' and '_'). */
int wb_locale_ok(const char *s);

#endif
