/* The "sent" counts of campaigns, added up between two loop iterations.
 *
 * Every send of a campaign message counts once (delivery.sent). One
 * storage increment per send was one Redis round trip per recipient on
 * the send path, most of what a campaign's sending cost there (and with
 * AOF appendfsync always, an fsync each). The sends of one iteration of
 * the loop are added up here and written by a loop source that is due at
 * once: one increment per campaign per iteration, before
 * wabot_ctx_run_until_idle() returns. What is written is exact; what a
 * crash loses is the sends of the iteration it interrupts that were not
 * written yet, as a crash between a send and its single increment did
 * (doc/campaigns.md, "Progress"). */
#include <pthread.h>
#include <string.h>

#include "campaign_store.h"
#include "internal/alloc.h"
#include "internal/ctx.h"
#include "internal/runtime.h"
#include "sent_counts.h"

#define SLOTS 16
#define RETRY_MS 1000

typedef struct slot {
    char org[WB_CAMPAIGN_ORG_MAX + 1];
    char id[WB_CAMPAIGN_ID_MAX + 1];
    int64_t n;
} slot;

struct wb_sent_counts {
    wabot_ctx *ctx;
    pthread_mutex_t mu;
    slot slots[SLOTS];
    size_t used;
    int64_t due; /* WB_NO_DEADLINE when nothing waits */
};

/* Take the pending counts out (under the lock) into `out`. */
static size_t take(wb_sent_counts *sc, slot *out)
{
    pthread_mutex_lock(&sc->mu);
    size_t n = sc->used;
    memcpy(out, sc->slots, n * sizeof *out);
    sc->used = 0;
    sc->due = WB_NO_DEADLINE;
    pthread_mutex_unlock(&sc->mu);
    return n;
}

static slot *find(wb_sent_counts *sc, const char *org, const char *id)
{
    for (size_t i = 0; i < sc->used; i++)
        if (strcmp(sc->slots[i].org, org) == 0 &&
            strcmp(sc->slots[i].id, id) == 0)
            return &sc->slots[i];
    return sc->used < SLOTS ? &sc->slots[sc->used] : NULL;
}

/* Add n to (org, id) if there is room: 1, else 0. Under the lock. */
static int put(wb_sent_counts *sc, const char *org, const char *id, int64_t n)
{
    slot *s = find(sc, org, id);
    if (s == NULL)
        return 0;
    if (s == &sc->slots[sc->used]) {
        memcpy(s->org, org, strlen(org) + 1);
        memcpy(s->id, id, strlen(id) + 1);
        s->n = 0;
        sc->used++;
    }
    s->n += n;
    return 1;
}

int wb_sent_counts_flush(wb_sent_counts *sc)
{
    if (sc == NULL)
        return WABOT_OK;
    slot out[SLOTS];
    size_t n = take(sc, out);
    int first = WABOT_OK;
    for (size_t i = 0; i < n; i++) {
        int rc = wb_campaign_count(sc->ctx, out[i].org, out[i].id, WB_CN_SENT,
                                   out[i].n);
        if (rc == WABOT_OK)
            continue;
        /* Kept for a later try (the storage may be back by then). */
        pthread_mutex_lock(&sc->mu);
        put(sc, out[i].org, out[i].id, out[i].n);
        sc->due = wb_now(sc->ctx) + RETRY_MS;
        pthread_mutex_unlock(&sc->mu);
        if (first == WABOT_OK)
            first = rc;
    }
    return first;
}

int wb_sent_counts_add(wb_sent_counts *sc, const char *org, const char *id,
                       int64_t n)
{
    if (strlen(org) > WB_CAMPAIGN_ORG_MAX || strlen(id) > WB_CAMPAIGN_ID_MAX)
        return wb_campaign_count(sc->ctx, org, id, WB_CN_SENT, n);
    for (int tries = 0; tries < 2; tries++) {
        pthread_mutex_lock(&sc->mu);
        int ok = put(sc, org, id, n);
        if (ok)
            sc->due = 0; /* at the loop's next turn */
        pthread_mutex_unlock(&sc->mu);
        if (ok)
            return WABOT_OK;
        wb_sent_counts_flush(sc); /* full: make room */
    }
    return wb_campaign_count(sc->ctx, org, id, WB_CN_SENT, n);
}

static int64_t deadline(void *ud)
{
    wb_sent_counts *sc = ud;
    pthread_mutex_lock(&sc->mu);
    int64_t d = sc->due;
    pthread_mutex_unlock(&sc->mu);
    return d;
}

static void fire(void *ud)
{
    wb_sent_counts *sc = ud;
    if (wb_sent_counts_flush(sc) != WABOT_OK)
        wb_log(sc->ctx, WABOT_LOG_WARN, "campaign",
               "campaign sent counts not written (tried again in %d ms): %s",
               RETRY_MS, wabot_ctx_errmsg(sc->ctx));
}

wb_sent_counts *wb_sent_counts_new(wabot_ctx *ctx)
{
    wb_sent_counts *sc = wb_calloc(&ctx->alloc, 1, sizeof *sc);
    if (sc == NULL)
        return NULL;
    sc->ctx = ctx;
    sc->due = WB_NO_DEADLINE;
    if (pthread_mutex_init(&sc->mu, NULL) != 0) {
        wb_free(&ctx->alloc, sc);
        return NULL;
    }
    wb_source src = {deadline, fire, sc, 0};
    if (wb_loop_add_source(ctx, &src) != WABOT_OK) {
        pthread_mutex_destroy(&sc->mu);
        wb_free(&ctx->alloc, sc);
        return NULL;
    }
    return sc;
}

void wb_sent_counts_free(wb_sent_counts *sc)
{
    if (sc == NULL)
        return;
    wb_sent_counts_flush(sc);
    pthread_mutex_destroy(&sc->mu);
    wb_free(&sc->ctx->alloc, sc);
}
