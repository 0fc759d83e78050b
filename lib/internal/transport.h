/* Transport internals. Private. */
#ifndef WB_TRANSPORT_H
#define WB_TRANSPORT_H

#include <stddef.h>

#include "wabot/transport.h"
#include "alloc.h"

/* WhatsApp's message limits, as Meta's Cloud API enforces them (characters
 * are UTF-8 code points; ids are bytes). The outbound builder checks every
 * message against them when it is built; the Meta transport checks again
 * before it spends a request. */
#define WB_WA_TEXT_MAX 4096
#define WB_WA_BUTTONS_MAX 3
#define WB_WA_BUTTON_TITLE_MAX 20
#define WB_WA_ROWS_MAX 10
#define WB_WA_ROW_TITLE_MAX 24
#define WB_WA_ROW_DESCRIPTION_MAX 72
#define WB_WA_LIST_BUTTON_MAX 20
#define WB_WA_SECTION_TITLE_MAX 24
#define WB_WA_ID_MAX 256
/* Twilio: the Body of one message, numbered options included. */
#define WB_TWILIO_BODY_MAX 1600
/* The query parameter of Twilio's per-message StatusCallback URL that
 * carries the send's correlation (its outbound id); Meta carries it as
 * biz_opaque_callback_data. Echoed in status callbacks (reconcile.c). */
#define WB_SEND_KEY_PARAM "wabot_send"

/* What `provider`'s API makes of o, checked before o is queued so that a
 * message no send could deliver fails when it is built. WABOT_OK, or
 * WABOT_ERR_TOO_LARGE with the reason in why (size n). Providers without
 * rules of their own (console, tests, custom transports) accept anything
 * the builder accepted. */
int wb_transport_check(wabot_provider provider, const wabot_outbound *o,
                       char *why, size_t n);
/* The provider a transport speaks for (built-ins by their names), or
 * WABOT_PROVIDER_UNKNOWN. */
wabot_provider wb_transport_provider(const wabot_transport *t);
/* 1 if o can be answered inline in the webhook's TwiML response: text and
 * media whose text fits one Twilio message. */
int wb_twilio_inline_ok(const wabot_outbound *o);
/* Characters of the Body Twilio would send for o (buttons and lists
 * become text with numbered options). */
size_t wb_twilio_body_chars(const wabot_outbound *o);
/* Meta's checks of o (counts, lengths); WABOT_OK or TOO_LARGE, *why a
 * static reason. */
int wb_meta_check(const wabot_outbound *o, const char **why);

typedef struct wb_send_result {
    int status;            /* WABOT_OK or negative */
    const char *provider_id;
    int provider_code;
    const char *message;
    int64_t retry_after_ms;
} wb_send_result;

/* Called exactly once per send (possibly before wb_transport_send returns,
 * possibly from another thread). The result is valid during the call. */
typedef void (*wb_send_done_fn)(void *ud, const wabot_outbound *msg,
                                const wb_send_result *r);

/* Send msg (borrowed until done runs). Returns WABOT_OK when the op was
 * accepted (done will run / has run), or a negative status when the
 * transport refused it (done does NOT run). */
int wb_transport_send(wabot_ctx *ctx, wabot_transport *t,
                      const wabot_outbound *msg, wb_send_done_fn done,
                      void *ud);
/* The context a send belongs to (built-in transports use its HTTP client). */
wabot_ctx *wb_send_op_ctx(const wabot_send_op *op);

/* The impl of t if it was created with vt (to recognise built-ins), else
 * NULL. */
void *wb_transport_impl(const wabot_transport *t,
                        const wabot_transport_vtable *vt);
#endif
