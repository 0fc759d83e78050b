/* Turn internals, shared by the pipeline, the router and the webhook.
 * Private. */
#ifndef WB_PIPELINE_H
#define WB_PIPELINE_H

#include <jansson.h>

#include "wabot/pipeline.h"
#include "ctx.h"
#include "metrics.h"

#define WB_MAX_CAPTURES 10

typedef struct wb_local {
    char *key;
    void *value;
} wb_local;

/* Replies collected for an inline answer (TwiML) instead of the outbound
 * queue. */
typedef struct wb_inline {
    wabot_outbound **items;
    size_t n, cap;
} wb_inline;

struct wabot_turn {
    wabot_ctx *ctx;
    wb_inline *sink;      /* non-NULL: text/media replies go here */
    const wabot_message *msg;
    const char *org;      /* borrowed: message org or ctx default */
    const char *customer; /* borrowed: message from */
    size_t next_mw;       /* index of the next middleware to run */
    int failed;           /* a middleware/handler returned an error */
    int handled;
    /* conversation */
    char *state;          /* owned, NULL = "" */
    json_t *session;      /* object, owned */
    uint64_t version;     /* 0 = new conversation */
    int dirty;            /* state or session changed */
    /* profile */
    char *customer_name;
    int opted_out;
    /* router captures */
    char *caps[WB_MAX_CAPTURES];
    size_t n_caps;
    /* locals */
    wb_local *locals;
    size_t n_locals;
    /* replies */
    wabot_outbound **replies;
    size_t n_replies, cap_replies;
    /* the outbox (lib/pipeline/outbox.c): jobs to commit with the turn */
    struct wb_outjob *jobs;
    size_t n_jobs, cap_jobs;
    int committed;           /* this attempt's effects are durable */
    /* the turn fast path (outbox.h), NULL: the generic path */
    struct wb_turn_fast *fast;
    int committed_elsewhere; /* another attempt committed this message */
    /* wabot_next(): the running middleware's index + 1, and whether it has
     * called wabot_next() already (both saved/restored around each call) */
    int next_called;
    /* 1 while the admit stage runs (wabot_next() walks ctx->admit, then
     * enters the locked turn); 0 in the turn. */
    int admitting;
    int entered;             /* the admit stage reached the turn */
    wb_inline *admit_sink;   /* the sink, kept aside while admitting */
    wb_stopwatch started;    /* when the message arrived (metrics) */
};

/* Router captures: set capture i (i < WB_MAX_CAPTURES) to s[0..n). */
int wb_turn_set_capture(wabot_turn *t, size_t i, const char *s, size_t n);
void wb_turn_clear_captures(wabot_turn *t);
/* Hand the queued replies on (in order): inline ones (TwiML) to the sink;
 * the others to the outbound queue, unless the turn committed them
 * through the outbox already. Returns the first refusal, or WABOT_OK. */
int wb_turn_send_replies(wabot_turn *t);
/* 1 if reply i answers inline (the turn has a sink and it fits TwiML). */
int wb_reply_inline_ok(const wabot_turn *t, size_t i);
/* wabot_ctx_handle_message(), with text and media replies (up to Twilio's
 * 1600 characters) collected into sink instead of queued. */
int wb_ctx_handle_message_inline(wabot_ctx *ctx, const wabot_message *m,
                                 wb_inline *sink);
void wb_inline_clear(wabot_ctx *ctx, wb_inline *sink);

#endif
