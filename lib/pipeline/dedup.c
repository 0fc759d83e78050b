/* Inbound dedup (DESIGN §5): providers redeliver (Twilio on time-outs,
 * Meta for up to 7 days on any non-200), so every message is claimed by
 * its provider id before it is handled.
 *
 *   claim: set-if-absent "claim" with a short lease (WABOT_OPT_DEDUP_LEASE_MS)
 *   done:  set "done" with the long TTL (WABOT_OPT_DEDUP_TTL_MS)
 *
 * A handler that dies between the two leaves only the claim, which
 * expires, so the provider's next redelivery is handled. Any existing
 * value means "handled or being handled": a host sharing the legacy
 * system's keys (format "processed:{MessageSid}", TTL 300 s) sees the
 * legacy system's markers as done, and it sees ours.
 *
 * On a store that keeps marks (the memory backend: storage.h, marks.h)
 * and with the default key format (nobody else's keys to share), the
 * "done" mark is a mark there instead of a key: 16 bytes in a table
 * instead of a 128-byte entry, for the dedup TTL, per message (issue 12).
 * The claim stays a key (its lease, renewal and release are unchanged).
 * Order keeps exactly-once: "done" is marked before the claim is
 * deleted, and a claim taken is checked against the marks after it was
 * taken, so an attempt that finds the claim gone finds the mark. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "inbound.h"
#include "marks.h"
#include "message.h"
#include "metrics.h"
#include "options.h"
#include "outbox.h"
#include "pipeline.h"
#include "runtime.h"
#include "storage.h"
#include "wabot/module.h"


/* Placeholders of the key format: the message id under the names users
 * know it by, the organisation and the provider. */
static const char *placeholder(const char *p, size_t *len,
                               const wabot_message *m, const char *org)
{
    static const char *const id_names[] = {"{id}", "{MessageSid}",
                                           "{wamid}"};
    for (size_t i = 0; i < sizeof id_names / sizeof id_names[0]; i++) {
        *len = strlen(id_names[i]);
        if (strncmp(p, id_names[i], *len) == 0)
            return wabot_message_id(m);
    }
    *len = strlen("{org}");
    if (strncmp(p, "{org}", *len) == 0)
        return org;
    *len = strlen("{provider}");
    if (strncmp(p, "{provider}", *len) == 0)
        return wabot_provider_name(wabot_message_provider(m));
    return NULL;
}

int wb_dedup_key(const char *format, const wabot_message *m, const char *org,
                 char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = format; *p != '\0';) {
        size_t plen = 1;
        const char *v = *p == '{' ? placeholder(p, &plen, m, org) : NULL;
        size_t vlen = v != NULL ? strlen(v) : 1;
        if (o + vlen >= n)
            return WABOT_ERR_INVAL;
        memcpy(out + o, v != NULL ? v : p, vlen);
        o += vlen;
        p += v != NULL ? plen : 1;
    }
    out[o] = '\0';
    return wb_storage_key_part_ok(out) ? WABOT_OK : WABOT_ERR_INVAL;
}

int wb_inbound_transient(int rc)
{
    return rc == WABOT_ERR_STORAGE || rc == WABOT_ERR_TIMEOUT ||
           rc == WABOT_ERR_BUSY || rc == WABOT_ERR_NOMEM ||
           rc == WABOT_ERR_CONFLICT;
}

/* The store's marks when the "done" marks go there, else NULL. */
static wb_marks *done_marks(const wabot_ctx *ctx)
{
    wb_marks *m = ctx->storage->marks;
    return m != NULL && ctx->storage->process_local &&
                   strcmp(ctx->cfg.dedup_key_format,
                               WB_DEFAULT_DEDUP_KEY_FORMAT) == 0
               ? m
               : NULL;
}

/* 1 if the key holds a claim (not a "done" mark, nor another system's). */
static int claim_in_progress(wabot_ctx *ctx, const char *key)
{
    char *v = NULL;
    int in_progress = wabot_storage_get(ctx->storage, key, &v, NULL, NULL) ==
                          WABOT_OK &&
                      strcmp(v, WB_DEDUP_CLAIM_VALUE) == 0;
    wabot_free(v);
    return in_progress;
}

int wb_dedup_prepare(wabot_ctx *ctx, const wabot_message *m, const char *org,
                     wb_dedup *d)
{
    d->held = 0;
    d->version = 0;
    if (!ctx->cfg.dedup)
        return 0;
    if (wb_dedup_key(ctx->cfg.dedup_key_format, m, org, d->key,
                     sizeof d->key) != WABOT_OK) {
        /* Only an id with control characters or of absurd length gets
         * here; handling it undeduplicated beats dropping it. */
        wb_log(ctx, WABOT_LOG_WARN, "pipeline",
               "message id unusable in a dedup key: handled without dedup");
        return 0;
    }
    return 1;
}

int wb_dedup_outcome(wabot_ctx *ctx, const wabot_message *m, wb_dedup *d,
                     int claim, uint64_t version)
{
    if (claim == WB_CLAIM_TAKEN) {
        d->held = 1;
        d->version = version;
        return WABOT_OK;
    }
    if (claim == WB_CLAIM_BUSY) {
        /* Someone is handling it right now. Answering "done" would lose the
         * message if that attempt fails; "busy" makes the provider
         * redeliver, and the redelivery finds it done, or free again. */
        wb_count(ctx, "messages.in_progress", 1);
        return wb_error(ctx, WABOT_ERR_BUSY, "message %s is being handled",
                        wabot_message_id(m));
    }
    wb_count(ctx, "messages.duplicates", 1);
    wb_log(ctx, WABOT_LOG_DEBUG, "pipeline",
           "message %s: duplicate delivery, not handled",
           wabot_message_id(m));
    return WABOT_ERR_EXISTS;
}

int wb_dedup_claim(wabot_ctx *ctx, const wabot_message *m, const char *org,
                   wb_dedup *d)
{
    if (!wb_dedup_prepare(ctx, m, org, d))
        return WABOT_OK;
    uint64_t version = 0;
    int rc = wabot_storage_set_nx(ctx->storage, d->key,
                                  WB_DEDUP_CLAIM_VALUE,
                                  strlen(WB_DEDUP_CLAIM_VALUE),
                                  ctx->cfg.dedup_lease_ms, &version);
    wb_marks *marks = done_marks(ctx);
    if (rc == WABOT_OK && marks != NULL && wb_marks_has(marks, d->key)) {
        /* Handled: its attempt marked it, then let its claim go. */
        (void)wabot_storage_del_if(ctx->storage, d->key, version);
        return wb_dedup_outcome(ctx, m, d, WB_CLAIM_EXISTS, 0);
    }
    if (rc == WABOT_OK)
        return wb_dedup_outcome(ctx, m, d, WB_CLAIM_TAKEN, version);
    if (rc == WABOT_ERR_EXISTS && marks != NULL &&
        wb_marks_has(marks, d->key))
        return wb_dedup_outcome(ctx, m, d, WB_CLAIM_EXISTS, 0);
    if (rc == WABOT_ERR_EXISTS)
        return wb_dedup_outcome(ctx, m, d,
                                claim_in_progress(ctx, d->key)
                                    ? WB_CLAIM_BUSY
                                    : WB_CLAIM_EXISTS,
                                0);
    return wb_error(ctx, rc, "dedup claim %s: %s", d->key,
                    wabot_strerror(rc));
}

/* The "done" mark in the store's marks, then the claim deleted (ours by
 * its version when `own`; else whichever is there, as the "done" key
 * would overwrite it). 1 when our own claim was still there, 0 when not,
 * -1 when the mark could not be made (out of memory: mark it the key's
 * way). */
static int finish_marked(wabot_ctx *ctx, wb_marks *marks, wb_dedup *d,
                         int own)
{
    if (wb_marks_add(marks, d->key, ctx->cfg.dedup_ttl_ms) != WABOT_OK)
        return -1;
    if (own && wabot_storage_del_if(ctx->storage, d->key, d->version) ==
                   WABOT_OK)
        return 1;
    int del = wabot_storage_del(ctx->storage, d->key);
    if (del != WABOT_OK && del != WABOT_ERR_NOT_FOUND)
        wb_log(ctx, WABOT_LOG_WARN, "pipeline",
               "cannot delete dedup claim %s: %s (it expires; the message "
               "is marked done)", d->key, wabot_strerror(del));
    return 0;
}

/* wb_dedup_finish(); with `own`, the "done" mark first tries to replace
 * the claim by compare-and-set on its version. Returns 1 when it did: no
 * other attempt claimed the message since ours (versions are never
 * reused), so none can be running its turn. Else 0. */
static int finish(wabot_ctx *ctx, wb_dedup *d, int rc, int own)
{
    if (!d->held)
        return 0;
    d->held = 0;
    if (rc < 0 && wb_inbound_transient(rc)) {
        /* Let the redelivery in now rather than after the lease. A claim
         * someone else took over after ours expired is left alone. */
        int del = wabot_storage_del_if(ctx->storage, d->key, d->version);
        if (del != WABOT_OK && del != WABOT_ERR_CONFLICT &&
            del != WABOT_ERR_NOT_FOUND)
            wb_log(ctx, WABOT_LOG_WARN, "pipeline",
                   "cannot release dedup claim %s: %s (it expires)", d->key,
                   wabot_strerror(del));
        return 0;
    }
    wb_marks *marks = done_marks(ctx);
    int marked = marks != NULL ? finish_marked(ctx, marks, d, own) : -1;
    if (marked >= 0)
        return marked;
    if (own && wabot_storage_cas(ctx->storage, d->key, d->version,
                                 WB_DEDUP_DONE_VALUE,
                                 strlen(WB_DEDUP_DONE_VALUE),
                                 ctx->cfg.dedup_ttl_ms, NULL) == WABOT_OK)
        return 1;
    int set = wabot_storage_set(ctx->storage, d->key, WB_DEDUP_DONE_VALUE,
                                strlen(WB_DEDUP_DONE_VALUE),
                                ctx->cfg.dedup_ttl_ms, NULL);
    if (set != WABOT_OK)
        wb_log(ctx, WABOT_LOG_WARN, "pipeline",
               "cannot mark %s done: %s (a redelivery after the lease "
               "would be handled again)", d->key, wabot_strerror(set));
    return 0;
}

void wb_dedup_finish(wabot_ctx *ctx, wb_dedup *d, int rc)
{
    (void)finish(ctx, d, rc, 0);
}

/* ------------------------------------------------------------------ */
/* Claims held by this process, renewed while their turns run           */

/* A claim lives dedup_lease_ms (short: a dead process's claims free
 * themselves quickly, so the provider's redelivery is handled within
 * seconds); the loop extends every claim a live turn holds each third of
 * the lease, by compare-and-set on the claim's version, so a turn longer
 * than the lease keeps its message. The turns run on the threads that
 * call wabot_http_handle(); the renewal on the thread that drives the
 * loop. */
typedef struct held_claim {
    wb_dedup *d; /* on the stack of dedup_step, registered while it runs */
    struct held_claim *next;
} held_claim;

typedef struct claims {
    pthread_mutex_t mu;
    held_claim *head;
    int64_t next; /* the next renewal; WB_NO_DEADLINE when none is held */
    wabot_ctx *ctx;
} claims;

static void claims_add(claims *c, held_claim *h)
{
    pthread_mutex_lock(&c->mu);
    h->next = c->head;
    c->head = h;
    int64_t at = WB_NO_DEADLINE;
    if (c->next == WB_NO_DEADLINE)
        at = c->next = wb_now(c->ctx) + c->ctx->cfg.dedup_lease_ms / 3;
    pthread_mutex_unlock(&c->mu);
    if (at != WB_NO_DEADLINE)
        wb_loop_notify(c->ctx, at); /* the loop arms its timer for it */
}

static void claims_remove(claims *c, held_claim *h)
{
    pthread_mutex_lock(&c->mu);
    for (held_claim **p = &c->head; *p != NULL; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    if (c->head == NULL)
        c->next = WB_NO_DEADLINE;
    pthread_mutex_unlock(&c->mu);
}

static int64_t claims_deadline(void *ud)
{
    claims *c = ud;
    pthread_mutex_lock(&c->mu);
    int64_t at = c->next;
    pthread_mutex_unlock(&c->mu);
    return at;
}

/* Extend every held claim; one that is no longer ours (it expired and
 * another attempt took it, or it was marked done) stays as it is. */
static void claims_renew(void *ud)
{
    claims *c = ud;
    wabot_ctx *ctx = c->ctx;
    int64_t lease = ctx->cfg.dedup_lease_ms;
    pthread_mutex_lock(&c->mu);
    for (held_claim *h = c->head; h != NULL; h = h->next) {
        uint64_t v = 0;
        int rc = wabot_storage_cas(ctx->storage, h->d->key, h->d->version,
                                   WB_DEDUP_CLAIM_VALUE,
                                   strlen(WB_DEDUP_CLAIM_VALUE), lease, &v);
        if (rc == WABOT_OK) {
            h->d->version = v;
            wb_count(ctx, "dedup.claims_renewed", 1);
        } else if (rc != WABOT_ERR_CONFLICT && rc != WABOT_ERR_NOT_FOUND) {
            wb_log(ctx, WABOT_LOG_WARN, "pipeline",
                   "cannot renew dedup claim %s: %s", h->d->key,
                   wabot_strerror(rc));
        }
    }
    c->next = c->head != NULL ? wb_now(ctx) + lease / 3 : WB_NO_DEADLINE;
    pthread_mutex_unlock(&c->mu);
}

/* The module's admit-stage middleware, first of the stage: it wraps the
 * rest (the rate limit and the turn), so the message is marked done, or
 * its claim released, with the turn's final status. */
static int dedup_step(wabot_turn *t, void *ud)
{
    claims *c = ud;
    wb_dedup d;
    /* On a store with the fast path, one round trip claims, checks the
     * limit and loads what the turn needs (outbox.h). */
    int rc = wb_turn_fast_begin(t, &d);
    if (rc == WABOT_ERR_UNSUPPORTED)
        rc = wb_dedup_claim(t->ctx, t->msg, t->org, &d);
    if (rc == WABOT_ERR_EXISTS)
        return WABOT_OK; /* handled or being handled: dropped, counted */
    if (rc != WABOT_OK)
        return rc;
    held_claim h = {&d, NULL};
    if (d.held && c != NULL)
        claims_add(c, &h);
    rc = wabot_next(t);
    if (d.held && c != NULL)
        claims_remove(c, &h); /* d.version is final from here on */
    /* (The fast path's commit marked it done already.) On a
     * process-local store the mark replaces the turn's marker when no
     * other attempt claimed the message meanwhile (outbox.h). */
    if (!wb_turn_fast_done(t) &&
        finish(t->ctx, &d, rc, wb_turn_marker_droppable(t)) == 1)
        wb_turn_marker_drop(t);
    wb_failpoint(t->ctx, "turn.after_done");
    return rc;
}

static int dedup_create(wabot_module *m, void *ud)
{
    (void)ud;
    wabot_ctx *ctx = wabot_module_ctx(m);
    claims *c = wb_calloc(&ctx->alloc, 1, sizeof *c);
    if (c == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
        wb_free(&ctx->alloc, c);
        return wb_error(ctx, WABOT_ERR_NOMEM, "dedup: out of memory");
    }
    c->ctx = ctx;
    c->next = WB_NO_DEADLINE;
    wabot_module_set_data(m, c);
    wb_source src = {claims_deadline, claims_renew, c, 0};
    int rc = wb_loop_add_source(ctx, &src);
    if (rc == WABOT_OK)
        rc = wabot_module_use(m, WABOT_STAGE_ADMIT, "claim", dedup_step, c);
    return rc;
}

static void dedup_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    claims *c = wabot_module_data(m);
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    wb_free(&wabot_module_ctx(m)->alloc, c);
}

const wabot_module_def wb_dedup_module = {
    WABOT_MODULE_DEF_VERSION, "dedup",
    "claims each inbound message by its provider id; redeliveries dropped; "
    "held claims renewed while their turns run",
    NULL, NULL, 0, NULL, dedup_create, dedup_destroy};
