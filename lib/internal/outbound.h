/* The outbound module (lib/outbound/): composing messages, the turn's
 * replies, and deciding whether and in which form they may go. Its
 * configuration (senders, window templates) is a library module's data
 * reachable as ctx->out; delivery (lib/delivery/) asks its policy before
 * every send. Nothing in the core includes this header: the pipeline
 * reaches the replies through pipeline.h and the public API. Private. */
#ifndef WB_OUTBOUND_H
#define WB_OUTBOUND_H

#include "ctx.h"
#include "wabot/message.h"
#include "wabot/module.h"
#include "wabot/out.h"
#include "wabot/transport.h"

typedef struct wb_sender {
    char *org;
    char *number; /* E.164 */
    wabot_transport *transport;
} wb_sender;

typedef struct wb_window_template {
    char *name; /* NULL: no fallback */
    char *language;
} wb_window_template;

#define WB_CATEGORIES 4 /* wabot_out_category values */

typedef struct wb_outbound_cfg {
    wb_sender *senders;
    size_t n_senders;
    wb_window_template window[WB_CATEGORIES];
} wb_outbound_cfg;

/* Senders (lib/outbound/senders.c). The "outbound" library module: its
 * create sets ctx->out, its destroy frees it. */
extern const wabot_module_def wb_outbound_module;
/* The transport and sender number for message o: the sender registered for
 * (o's organisation, o's from), else the organisation's first sender, else
 * the context's transport with o's own from. *from is borrowed. */
wabot_transport *wb_sender_route(const wabot_ctx *ctx, const wabot_outbound *o,
                                 const char **from);

/* Composition (lib/outbound/compose.c). What a turn gives its replies;
 * members the builder set win over these. */
typedef struct wb_out_address {
    const char *id;          /* idempotency key unless the builder has one */
    const char *to, *from, *org, *in_reply_to;
    wabot_provider provider; /* the inbound message's */
} wb_out_address;
/* The message `out` describes, complete and checked (content, list texts
 * from the catalog, the provider's limits): for a turn's reply with `addr`,
 * or for a send (addr NULL: the provider is the routed transport's). On
 * success *res is owned by the caller (wb_outbound_free). Errors with a
 * detail in wabot_ctx_errmsg(): INVAL, TOO_LARGE, NOMEM. */
int wb_out_compose(const wabot_out *out, const wb_out_address *addr,
                   wabot_outbound **res);

/* The outbound queue (lib/outbound/compose.c). Queue o as an outbound job
 * (job id = o's id). A duplicate id counts as "outbound.duplicates" and
 * returns WABOT_OK. */
int wb_outbound_enqueue(wabot_ctx *ctx, const wabot_outbound *o);
/* The same, but a duplicate returns WABOT_ERR_EXISTS (for sends). */
int wb_outbound_enqueue_new(wabot_ctx *ctx, const wabot_outbound *o);

/* Policy (lib/outbound/policy.c). Why a message may not go. */
typedef struct wb_refusal {
    const char *counter; /* metric to count it under */
    const char *reason;  /* recorded as the job's error */
} wb_refusal;
/* Opt-out and the 24-hour window for o, just before it is sent: WABOT_OK
 * to send (o may have become the category's window template), a final
 * refusal (OPTED_OUT, WINDOW_CLOSED) with *why filled, or another
 * negative status when the customer could not be read (try again). */
int wb_outbound_admit(wabot_ctx *ctx, wabot_outbound *o, wb_refusal *why);

/* The texts catalog (lib/outbound/texts.c): a library module. */
extern const wabot_module_def wb_texts_module;
/* The organisation's default locale (option texts.locale; "" = none). */
const char *wb_texts_locale(const wabot_ctx *ctx, const char *org);

#endif
