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
 * success *res is owned by the caller (wb_outbound_free), and a long text
 * split by the organisation's texts.long_text left its earlier parts in
 * *head (n_head; queue them before *res; wb_long_text_parts_free). Errors with a
 * detail in wabot_ctx_errmsg(): INVAL, TOO_LARGE, NOMEM. */
int wb_out_compose(const wabot_out *out, const wb_out_address *addr,
                   wabot_outbound **res, wabot_outbound ***head,
                   size_t *n_head);

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
/* Opt-out and the 24-hour window for o, just before it is sent, in two
 * steps for a caller that reads profiles in batches (the delivery
 * worker): whether the decision needs the customer's profile at all,
 * then the decision from what the profile says (an absent profile: not
 * opted out, last inbound 0): WABOT_OK to send (o may have become the
 * category's window template), or a final refusal (OPTED_OUT,
 * WINDOW_CLOSED) with *why filled. */
int wb_outbound_admit_needs_profile(wabot_ctx *ctx, const wabot_outbound *o);
/* 1 when o may go without its profile read: no opt-out applies to its
 * category and the customer wrote at inbound_ms (> 0: a lower bound of
 * the profile's last inbound, such as the time of the message o
 * answers), recently enough that the window is open now. 0: decide from
 * the profile. */
int wb_outbound_admit_known(wabot_ctx *ctx, const wabot_outbound *o,
                            int64_t inbound_ms);
int wb_outbound_admit_with(wabot_ctx *ctx, wabot_outbound *o, int opted_out,
                           int64_t last_inbound_ms, wb_refusal *why);

/* The texts catalog (lib/outbound/texts.c): a library module. */
extern const wabot_module_def wb_texts_module;
/* What to do with a text over the provider's limit (option
 * texts.long_text, per organisation; lib/outbound/long_text.c). */
typedef enum wb_long_text_policy {
    WB_LONG_TEXT_SPLIT = 0,
    WB_LONG_TEXT_TRUNCATE = 1,
    WB_LONG_TEXT_REFUSE = 2
} wb_long_text_policy;
wb_long_text_policy wb_texts_long_text(const wabot_ctx *ctx, const char *org);
/* Most parts one text is split into (a longer one is TOO_LARGE). */
#define WB_LONG_TEXT_MAX_PARTS 10
/* A part's id: the message's id (at most 256 bytes) + ":p<k>". */
#define WB_OUTBOUND_PART_ID_MAX 272
/* Fit o's text to `provider`'s limit by the organisation's policy. On
 * WABOT_OK o's text may have been truncated (ending with the texts
 * catalog's truncation_marker for o's organisation and `locale`, NULL for
 * the default; looked up only then) or cut
 * down to its last part, and *head (n_head, 0 and NULL when none) holds
 * the earlier parts, plain texts to queue before o in order, ids
 * "<o's id>:p1".. (free with wb_long_text_parts_free). TOO_LARGE (detail
 * recorded) for refuse, or when the text cannot be made to fit; NOMEM. */
int wb_long_text_fit(wabot_ctx *ctx, wabot_provider provider,
                     wabot_outbound *o, const char *locale,
                     wabot_outbound ***head, size_t *n_head);
void wb_long_text_parts_free(const wabot_allocator *a, wabot_outbound **parts,
                             size_t n);
/* Characters of s as a provider counts them: code points, or UTF-16 code
 * units (utf16 = 1: Twilio). */
size_t wb_long_text_units(const char *s, int utf16);
/* The organisation's default locale (option texts.locale; "" = none). */
const char *wb_texts_locale(const wabot_ctx *ctx, const char *org);

#endif
