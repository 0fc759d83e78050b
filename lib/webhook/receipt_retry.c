/* Deferred receipt writes: a delivery record that could not be written
 * because the storage failed (a Redis restart, a network cut) is kept in
 * memory and written again from the context's loop, with backoff, until
 * the storage answers. Never dropped after one failure: only when the
 * queue is full (WB_RECEIPT_RETRY_MAX) or the process ends.
 *
 * Records merge (rank and the "seen" set, lib/webhook/receipts.c), so a
 * deferred write landing after later ones for the same message ends in
 * the same record as if it had landed first.
 *
 * Counted: receipts.writes_deferred (queued after a failure),
 * receipts.writes_recovered (written on a retry), receipts.writes_dropped
 * (queue full, or a retry that failed for good). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal/delivery.h"
#include "internal/metrics.h"
#include "internal/receipts.h"
#include "internal/runtime.h"

#define MODULE "receipts"
#define FIRST_DELAY_MS 100
#define MAX_DELAY_MS 5000
/* Writes tried per loop pass, so a long backlog never holds the loop. */
#define BATCH 256

typedef struct pending {
    wb_receipt_write w; /* strings owned */
    struct pending *next;
} pending;

struct wb_receipt_retry {
    wabot_ctx *ctx;
    pthread_mutex_t mu;
    /* Sends to record on the next pass, in one batch (never failed yet) */
    pending *fresh, *fresh_tail;
    size_t n_fresh;
    /* Writes the storage refused, retried with backoff */
    pending *head, *tail;
    size_t n;
    int64_t next_at; /* WB_NO_DEADLINE when empty */
    int64_t delay_ms;
    /* Fresh sends taken by the delivery's pass (its rider), until it
     * settles them: loop thread only. */
    const int *delivery_due; /* set with the rider (wb_receipt_rider) */
    pending *riding;
    size_t n_riding, m_riding;
    const wb_receipt_write *ride_w[BATCH];
    wb_receipt_keys *ride_keys; /* n_riding of them */
    size_t ride_at[BATCH];
    int ride_rcs[BATCH];
};

/* ------------------------------------------------------------------ */
/* Entries                                                             */

/* The write's string members, so copy and size cannot forget one. */
#define N_STR 8
static void str_slots(wb_receipt_write *w, char **s[N_STR])
{
    s[0] = &w->provider_id;
    s[1] = &w->outbound_id;
    s[2] = &w->to;
    s[3] = &w->org;
    s[4] = &w->correlation_id;
    s[5] = &w->status;
    s[6] = &w->recipient;
    s[7] = &w->error_code;
}

/* A copy of w in one block, its strings after the entry: every send
 * queues one, and an allocation per string was six per send. Freed
 * whole (pending_free). */
static pending *pending_new(const wabot_allocator *a,
                            const wb_receipt_write *w)
{
    char **from[N_STR], **to[N_STR];
    size_t len[N_STR], total = 0;
    str_slots((wb_receipt_write *)w, from);
    for (size_t i = 0; i < N_STR; i++) {
        len[i] = *from[i] ? strlen(*from[i]) + 1 : 0;
        total += len[i];
    }
    pending *p = wb_malloc(a, sizeof *p + total);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    p->w.kind = w->kind;
    p->w.provider = w->provider;
    p->w.at_ms = w->at_ms;
    str_slots(&p->w, to);
    char *d = (char *)(p + 1);
    for (size_t i = 0; i < N_STR; i++) {
        if (!len[i])
            continue;
        memcpy(d, *from[i], len[i]);
        *to[i] = d;
        d += len[i];
    }
    return p;
}

static void pending_free(const wabot_allocator *a, pending *p)
{
    wb_free(a, p);
}

/* ------------------------------------------------------------------ */
/* The queue                                                           */

int wb_receipt_retryable(int status)
{
    return status == WABOT_ERR_STORAGE || status == WABOT_ERR_TIMEOUT ||
           status == WABOT_ERR_BUSY || status == WABOT_ERR_CONFLICT;
}

void wb_receipt_defer(wb_receipt_retry *q, const wb_receipt_write *w)
{
    wabot_ctx *ctx = q->ctx;
    pthread_mutex_lock(&q->mu);
    pending *p = q->n < WB_RECEIPT_RETRY_MAX ? pending_new(&ctx->alloc, w)
                                             : NULL;
    int64_t due = WB_NO_DEADLINE;
    if (p) {
        if (q->tail)
            q->tail->next = p;
        else
            q->head = p;
        q->tail = p;
        if (q->n++ == 0) {
            q->delay_ms = FIRST_DELAY_MS;
            q->next_at = wb_now(ctx) + q->delay_ms;
        }
        due = q->next_at;
    }
    pthread_mutex_unlock(&q->mu);
    if (!p) {
        wb_count(ctx, "receipts.writes_dropped", 1);
        wb_log(ctx, WABOT_LOG_ERROR, MODULE,
               "%s of %s dropped: %d receipt writes already wait for the "
               "storage (or out of memory)",
               w->kind == WB_RECEIPT_SENT ? "send record" : "receipt",
               w->provider_id, WB_RECEIPT_RETRY_MAX);
        return;
    }
    wb_count(ctx, "receipts.writes_deferred", 1);
    wb_loop_notify(ctx, due);
}

size_t wb_receipt_pending(wb_receipt_retry *q)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* The fresh sends wait for the delivery's pass, which takes them (its
 * rider) and is due: their "sent" records are written by it too. */
static int riding_next_pass(const wb_receipt_retry *q)
{
    return q->delivery_due != NULL &&
           __atomic_load_n(q->delivery_due, __ATOMIC_ACQUIRE);
}

static int64_t retry_deadline(void *ud)
{
    wb_receipt_retry *q = ud;
    pthread_mutex_lock(&q->mu);
    int64_t at = q->fresh && !riding_next_pass(q) ? 0 : q->next_at;
    pthread_mutex_unlock(&q->mu);
    return at;
}

/* Take up to max entries off the front of the list *head .. *tail of
 * *count entries (under q->mu); *taken says how many. */
static pending *take_front(wb_receipt_retry *q, pending **head,
                           pending **tail, size_t *count, size_t max,
                           size_t *taken)
{
    pthread_mutex_lock(&q->mu);
    pending *first = *head, *last = NULL;
    size_t n = 0;
    for (pending *p = first; p && n < max; p = p->next, n++)
        last = p;
    if (last) {
        *head = last->next;
        if (!*head)
            *tail = NULL;
        last->next = NULL;
        *count -= n;
    }
    pthread_mutex_unlock(&q->mu);
    *taken = n;
    return first;
}

/* Take up to BATCH entries off the front of the retry queue. */
static pending *take_batch(wb_receipt_retry *q, size_t *taken)
{
    return take_front(q, &q->head, &q->tail, &q->n, BATCH, taken);
}

/* Put what was not written back in front, in its order, and schedule the
 * next pass: soon when the storage answered, with backoff when it did
 * not. */
static void give_back(wb_receipt_retry *q, pending *rest, int storage_down)
{
    wabot_ctx *ctx = q->ctx;
    pthread_mutex_lock(&q->mu);
    if (rest) {
        size_t n = 1;
        pending *last = rest;
        for (; last->next; last = last->next)
            n++;
        last->next = q->head;
        q->head = rest;
        if (!q->tail)
            q->tail = last;
        q->n += n;
    }
    if (storage_down)
        q->delay_ms = q->delay_ms * 2 > MAX_DELAY_MS ? MAX_DELAY_MS
                                                     : q->delay_ms * 2;
    else
        q->delay_ms = FIRST_DELAY_MS;
    q->next_at = q->n == 0       ? WB_NO_DEADLINE
                 : storage_down ? wb_now(ctx) + q->delay_ms
                                : wb_now(ctx);
    pthread_mutex_unlock(&q->mu);
}

void wb_receipt_sent_later(wb_receipt_retry *q, const wb_receipt_write *w)
{
    wabot_ctx *ctx = q->ctx;
    pending *p = pending_new(&ctx->alloc, w);
    if (!p) {
        /* out of memory: at once, as before batching */
        int rc = wb_receipt_write_do(ctx, w);
        if (wb_receipt_retryable(rc))
            wb_receipt_defer(q, w);
        return;
    }
    pthread_mutex_lock(&q->mu);
    if (q->fresh_tail)
        q->fresh_tail->next = p;
    else
        q->fresh = p;
    q->fresh_tail = p;
    q->n_fresh++;
    pthread_mutex_unlock(&q->mu);
    wb_loop_notify(ctx, 0);
}

/* n fresh sends from chunk on were written (rcs): what the storage
 * refused goes to the retry queue; each is freed. Returns the entry
 * after them. */
static pending *fresh_settle(wb_receipt_retry *q, pending *chunk, size_t n,
                             const int *rcs)
{
    wabot_ctx *ctx = q->ctx;
    for (size_t i = 0; i < n; i++) {
        pending *next = chunk->next;
        if (wb_receipt_retryable(rcs[i])) {
            wb_log(ctx, WABOT_LOG_WARN, MODULE, "send of %s as %s not "
                   "recorded yet: %s; retried until the storage answers",
                   chunk->w.outbound_id ? chunk->w.outbound_id : "",
                   chunk->w.provider_id, wabot_strerror(rcs[i]));
            wb_receipt_defer(q, &chunk->w);
        } else if (rcs[i] < 0) {
            wb_log(ctx, WABOT_LOG_WARN, MODULE,
                   "send of %s as %s not recorded: %s",
                   chunk->w.outbound_id ? chunk->w.outbound_id : "",
                   chunk->w.provider_id, wabot_strerror(rcs[i]));
        }
        pending_free(&ctx->alloc, chunk);
        chunk = next;
    }
    return chunk;
}

/* Take up to max fresh sends off the front. */
static pending *take_fresh(wb_receipt_retry *q, size_t max, size_t *taken)
{
    return take_front(q, &q->fresh, &q->fresh_tail, &q->n_fresh, max, taken);
}

/* Record the sends queued since the last pass: BATCH at a time, each one
 * batch of storage operations (wb_receipt_sent_many); what the storage
 * refused goes to the retry queue. */
static void flush_fresh(wb_receipt_retry *q)
{
    const wb_receipt_write *w[BATCH];
    int rcs[BATCH];
    size_t n;
    pending *p;
    while ((p = take_fresh(q, BATCH, &n)) != NULL) {
        size_t i = 0;
        for (pending *e = p; e; e = e->next)
            w[i++] = &e->w;
        wb_receipt_sent_many(q->ctx, n, w, rcs);
        fresh_settle(q, p, n, rcs);
    }
}

static void rider_settle(void *ud, wb_storage_bop *ops, size_t m);

/* The delivery's rider (wb_delivery_rider): the fresh sends' records go
 * in the batch of the pass that wrote their "sent" records. */
static size_t rider_take(void *ud, wb_storage_bop *ops, size_t room)
{
    wb_receipt_retry *q = ud;
    size_t n;
    q->riding = take_fresh(q, room < BATCH ? room : BATCH, &n);
    q->n_riding = n;
    q->m_riding = 0;
    if (n == 0)
        return 0;
    size_t i = 0;
    for (pending *e = q->riding; e; e = e->next)
        q->ride_w[i++] = &e->w;
    q->ride_keys = malloc(n * sizeof *q->ride_keys);
    if (q->ride_keys == NULL)
        for (i = 0; i < n; i++)
            q->ride_rcs[i] = WABOT_ERR_NOMEM; /* deferred: retried */
    else
        q->m_riding = wb_receipt_sent_ops(q->ctx, n, q->ride_w, q->ride_keys,
                                          ops, q->ride_at, q->ride_rcs);
    if (q->m_riding == 0) /* nothing to write (a receipt table) */
        rider_settle(q, ops, 0);
    return q->m_riding;
}

static void rider_settle(void *ud, wb_storage_bop *ops, size_t m)
{
    wb_receipt_retry *q = ud;
    wb_receipt_sent_done(q->ctx, q->ride_w, m, ops, q->ride_at, q->ride_rcs);
    fresh_settle(q, q->riding, q->n_riding, q->ride_rcs);
    free(q->ride_keys);
    q->ride_keys = NULL;
    q->riding = NULL;
    q->n_riding = q->m_riding = 0;
}

void wb_receipt_rider(wb_receipt_retry *q, wb_delivery_rider *r)
{
    q->delivery_due = wb_delivery_due_flag(q->ctx);
    *r = (wb_delivery_rider){rider_take, rider_settle, q};
}

/* Loop thread: the fresh sends, then the deferred entries in order until
 * the storage fails again. */
static void retry_fire(void *ud)
{
    wb_receipt_retry *q = ud;
    wabot_ctx *ctx = q->ctx;
    if (!riding_next_pass(q))
        flush_fresh(q);
    pthread_mutex_lock(&q->mu);
    int due = q->next_at <= wb_now(ctx);
    pthread_mutex_unlock(&q->mu);
    if (!due)
        return;
    size_t n = 0;
    pending *p = take_batch(q, &n);
    while (p) {
        int rc = wb_receipt_write_do(ctx, &p->w);
        if (wb_receipt_retryable(rc))
            break;
        pending *next = p->next;
        if (rc == WABOT_OK) {
            wb_count(ctx, "receipts.writes_recovered", 1);
        } else {
            wb_count(ctx, "receipts.writes_dropped", 1);
            wb_log(ctx, WABOT_LOG_WARN, MODULE, "deferred write for %s "
                   "failed for good: %s", p->w.provider_id,
                   wabot_strerror(rc));
        }
        pending_free(&ctx->alloc, p);
        p = next;
    }
    give_back(q, p, p != NULL);
}

wb_receipt_retry *wb_receipt_retry_new(wabot_ctx *ctx)
{
    wb_receipt_retry *q = wb_calloc(&ctx->alloc, 1, sizeof *q);
    if (!q)
        return NULL;
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        wb_free(&ctx->alloc, q);
        return NULL;
    }
    q->ctx = ctx;
    q->next_at = WB_NO_DEADLINE;
    q->delay_ms = FIRST_DELAY_MS;
    wb_source src = {retry_deadline, retry_fire, q, 0};
    if (wb_loop_add_source(ctx, &src) != WABOT_OK) {
        pthread_mutex_destroy(&q->mu);
        wb_free(&ctx->alloc, q);
        return NULL;
    }
    return q;
}

void wb_receipt_retry_free(wb_receipt_retry *q)
{
    if (!q)
        return;
    wabot_ctx *ctx = q->ctx;
    flush_fresh(q); /* the storage is still there */
    if (q->n)
        wb_log(ctx, WABOT_LOG_ERROR, MODULE,
               "%zu receipt writes still waited for the storage at "
               "shutdown: lost", q->n);
    for (pending *p = q->head, *next; p; p = next) {
        next = p->next;
        pending_free(&ctx->alloc, p);
    }
    pthread_mutex_destroy(&q->mu);
    wb_free(&ctx->alloc, q);
}
