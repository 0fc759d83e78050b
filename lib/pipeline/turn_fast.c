/* The turn fast path, pipeline side: dedup's admit step runs the storage's
 * "begin" (claim, inbound limit, turn marker, profile touch, conversation
 * read: one round trip on Redis) and keeps what it found on the turn; the
 * steps after it take their part from there instead of asking the storage
 * again. The commit is in outbox.c. See outbox.h and storage.h. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "inbound.h"
#include "message.h"
#include "outbox.h"
#include "pipeline.h"
#include "runtime.h"
#include "state.h"
#include "storage.h"
#include "strbuf.h"

/* The profile name to store: the message's, when it is valid UTF-8 (what
 * wb_profile_touch() accepts; it logs the refusal), else NULL = keep. */
static const char *profile_name(const wabot_message *m)
{
    const char *name = wabot_message_profile_name(m);
    if (!name || !*name)
        return NULL;
    json_t *j = json_string(name);
    json_decref(j);
    return j ? name : NULL;
}

int64_t wb_turn_inbound_ms(const wabot_turn *t)
{
    int64_t ts = wabot_message_timestamp_ms(t->msg);
    return ts > 0 ? ts : wb_now(t->ctx);
}

int wb_turn_fast_begin(wabot_turn *t, wb_dedup *d)
{
    wabot_ctx *ctx = t->ctx;
    char limit_key[WB_STORAGE_KEY_MAX + 1];
    wabot_rate_limit lim;
    int limited = wb_inbound_limit_of(ctx, t->org, t->customer, limit_key,
                                      &lim);
    const wb_turn_path *path = wb_storage_turn_path(
        ctx->storage, ctx->rt->sched, limited ? ctx->limiter : NULL);
    if (!path || !wb_storage_key_part_ok(t->org) ||
        !wb_storage_key_part_ok(t->customer))
        return WABOT_ERR_UNSUPPORTED;
    char marker[WB_STORAGE_KEY_MAX + 1], cust[WB_STORAGE_KEY_MAX + 1],
        conv[WB_STORAGE_KEY_MAX + 1];
    int w = WB_JOIN(marker, sizeof marker, "turn:{", t->org, ":",
                    t->customer, "}:", wabot_message_id(t->msg));
    if (w < 0 || (size_t)w >= sizeof marker ||
        !wb_cust_key(cust, sizeof cust, t->org, t->customer) ||
        !wb_conv_key(conv, sizeof conv, t->org, t->customer))
        return WABOT_ERR_UNSUPPORTED; /* the generic path reports it */
    int claim = wb_dedup_prepare(ctx, t->msg, t->org, d);
    size_t klen = claim ? strlen(d->key) : 0;
    wb_turn_fast *f = wb_calloc(&ctx->alloc, 1, sizeof *f + klen + 1);
    if (!f)
        return wb_error(ctx, WABOT_ERR_NOMEM, "out of memory");
    wb_turn_begin_req req = {
        claim ? d->key : NULL, WB_DEDUP_CLAIM_VALUE, ctx->cfg.dedup_lease_ms,
        limited ? &lim : NULL, marker, cust, conv, profile_name(t->msg),
        wb_turn_inbound_ms(t), wb_now(ctx)};
    int rc = path->begin(ctx->storage, &req, &f->res);
    if (rc != WABOT_OK) {
        wb_free(&ctx->alloc, f);
        if (claim)
            return wb_error(ctx, rc, "dedup claim %s: %s", d->key,
                            wabot_strerror(rc));
        return wb_error(ctx, rc, "beginning the turn: %s",
                        wabot_strerror(rc));
    }
    f->path = path;
    f->limit_checked = limited;
    t->fast = f;
    if (!claim)
        return WABOT_OK;
    rc = wb_dedup_outcome(ctx, t->msg, d, f->res.claim, f->res.claim_version);
    if (rc == WABOT_OK) {
        f->claim_held = 1;
        memcpy(f->done_key, d->key, klen + 1);
    }
    return rc;
}

int wb_turn_fast_limited(wabot_turn *t, int *notify)
{
    *notify = 0;
    const wb_turn_fast *f = t->fast;
    if (!f || !f->limit_checked)
        return -1;
    if (!f->res.limited)
        return 0;
    wb_inbound_over(t->ctx, t->org, t->customer, f->res.retry_after_ms,
                    notify);
    return 1;
}

int wb_turn_fast_committed(const wabot_turn *t)
{
    return t->fast ? t->fast->res.committed : -1;
}

int wb_turn_fast_profile(wabot_turn *t, wb_profile *p)
{
    wb_turn_fast *f = t->fast;
    memset(p, 0, sizeof *p);
    if (!f || !f->res.profile_done)
        return 0;
    if (f->res.name &&
        !(p->name = wb_strdup(&t->ctx->alloc, f->res.name)))
        return wb_error(t->ctx, WABOT_ERR_NOMEM, "out of memory");
    p->opted_out = f->res.opted_out;
    return 1;
}

int wb_turn_fast_conv(wabot_turn *t, wb_conv *c)
{
    wb_turn_fast *f = t->fast;
    if (!f || f->conv_used)
        return 0;
    f->conv_used = 1; /* a re-run reads it afresh */
    int rc = wb_conv_load_stored(t->ctx, t->org, t->customer,
                                 f->res.conv_found ? f->res.conv : NULL,
                                 f->res.conv_len, f->res.conv_version, c);
    return rc == WABOT_OK ? 1 : rc;
}

int wb_turn_fast_done(const wabot_turn *t)
{
    return t->fast ? t->fast->done : 0;
}

void wb_turn_fast_free(wabot_turn *t)
{
    if (!t->fast)
        return;
    wb_turn_begin_clear(&t->fast->res);
    wb_free(&t->ctx->alloc, t->fast);
    t->fast = NULL;
}
