/* The memory job backend: one mutex around a table of queues.
 *
 * Per queue:
 *  - a hash of every job by id (dedup, and lookup by id for the
 *    token-checked operations);
 *  - three ordered sets, one per unfinished state a job can wait in: ready
 *    (waiting: priority desc, run_at asc, enqueue order), delayed (run_at
 *    asc) and active (lease_until asc). A job is in at most one of them at
 *    a time. Each set is a sorted run (a linked list a job joins at its
 *    tail when it sorts after the tail: jobs of one priority enqueued as
 *    they come, leases of one length taken in order, the common case, all
 *    O(1)) beside an indexed binary heap for the jobs that arrive out of
 *    order (O(log n)); the set's first job is the better of the two firsts;
 *  - two lists of finished jobs (completed, failed) in finish order, so
 *    retention removes from the old end in O(removed).
 * Counts are the sizes of those five containers.
 *
 * Every transition checks, before it changes anything, that the container
 * it moves the job into has room, so an out-of-memory error leaves the
 * queue exactly as it was.
 *
 * The loop thread asks every queue with a worker, at every pass, for a
 * job to reserve, its stalled jobs and its next due time; most queues are
 * empty most of the time (reminders, campaigns, invoices beside a busy
 * outbound queue), and each question took the mutex the webhook threads
 * enqueue under. So the first queues are also listed where a reader finds
 * them without the lock, each with the number of jobs in its sets, and
 * those three questions about an empty or absent queue are answered
 * without it. A job enqueued meanwhile wakes the loop (its enqueue
 * notifies after the unlock), so the next pass asks again. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "htab.h"
#include "mutex.h"
#include "siphash.h"
#include "jobs.h"

#define MIN_BUCKETS 16
#define MIN_HEAP 16

/* The reason recorded for a job failed by recover(). A static string, not a
 * copy, so that moving a stalled job to failed cannot run out of memory
 * half-way through a batch; free_reason() knows not to free it. */
static char stalled_reason[] = "stalled";

/* ------------------------------------------------------------------ */
/* Types                                                               */

/* Jobs by id and queues by name: lib/core/htab.c's intrusive table, the
 * node embedded first in each. */
typedef wb_hnode hnode;
typedef wb_htab htab;

/* 144 bytes before the id and payload (issue 12: the outbound backlog
 * holds up to 20 000 of them at a flood's peak): the node is 16 bytes, the
 * heap index 32-bit (a heap holds fewer than 2^32 jobs:
 * heap_reserve_one()), the payload found after the id. */
typedef struct mjob {
    hnode node;               /* by id (data[]) */
    struct mjob *prev, *next; /* finished list, or a set's sorted run */
    uint64_t seq;             /* enqueue order: the FIFO tie-break */
    uint64_t token;
    uint32_t pos;             /* index in its set's heap, or IN_RUN */
    int32_t state;
    int32_t attempts;
    int32_t max_attempts;
    int32_t stalls;
    int32_t backoff;
    int32_t jitter_pct;
    int32_t priority;
    int64_t created_ms;
    int64_t run_at_ms;
    int64_t lease_until_ms;
    int64_t finished_ms;
    int64_t backoff_ms;
    int64_t backoff_max_ms;
    char *last_error; /* owned, stalled_reason, or NULL */
    size_t payload_len;
    char data[];      /* id, NUL, payload, NUL */
} mjob;

_Static_assert(sizeof(mjob) <= 144 || sizeof(void *) > 8,
               "a memory job's header is 144 bytes on 64-bit targets");

static const char *job_payload(const mjob *j)
{
    return j->data + j->node.klen + 1;
}

typedef int (*before_fn)(const mjob *a, const mjob *b);

typedef struct mheap {
    mjob **items;
    size_t count, cap;
    before_fn before; /* a before b: a is nearer the top */
} mheap;

typedef struct mlist {
    mjob *head, *tail; /* head: finished first */
    int64_t count;
} mlist;

/* An ordered set of unfinished jobs: a sorted run and a heap, both
 * ordered by heap.before. The heap's array always has room for every job
 * of the set, so moving a job from the run into the heap (extend) never
 * allocates. */
typedef struct mset {
    mheap heap;
    mlist run;
} mset;

#define IN_RUN UINT32_MAX /* mjob.pos of a job in its set's run */

typedef struct mqueue {
    hnode node; /* by name */
    htab jobs;
    mset ready, delayed, active;
    /* Jobs in the three sets: written under the mutex (place, unplace),
     * read without it (queue_idle). */
    atomic_size_t live;
    mlist completed, failed;
    uint64_t last_token;
    uint64_t last_seq;
    char name[];
} mqueue;

/* Queues listed for lock-free lookup: a deployment has a handful. */
#define FAST_QUEUES 16

typedef struct msched {
    pthread_mutex_t mu;
    htab queues;
    uint64_t k0, k1; /* hash key */
    /* The first FAST_QUEUES queues in creation order: an entry is written
     * (under the mutex) before n_fast counts it, and neither ever changes
     * again while the backend lives. */
    mqueue *fast[FAST_QUEUES];
    atomic_int n_fast;
} msched;

/* ------------------------------------------------------------------ */
/* Hashing: SipHash-1-3 with a per-backend random key (lib/core/siphash.c),
 * because job ids may embed provider message ids and phone numbers chosen
 * by outsiders and chains must not be floodable. */


static int htab_init(htab *t, size_t key_off)
{
    return wb_htab_init(t, NULL, MIN_BUCKETS, key_off);
}

/* ------------------------------------------------------------------ */
/* Indexed binary heaps                                                */

static int ready_before(const mjob *a, const mjob *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->run_at_ms != b->run_at_ms)
        return a->run_at_ms < b->run_at_ms;
    return a->seq < b->seq;
}

/* Ties broken like the ready heap, so promotion order is deterministic. */
static int delayed_before(const mjob *a, const mjob *b)
{
    if (a->run_at_ms != b->run_at_ms)
        return a->run_at_ms < b->run_at_ms;
    return ready_before(a, b);
}

static int active_before(const mjob *a, const mjob *b)
{
    if (a->lease_until_ms != b->lease_until_ms)
        return a->lease_until_ms < b->lease_until_ms;
    return a->seq < b->seq;
}

static void heap_set(mheap *h, size_t i, mjob *j)
{
    h->items[i] = j;
    j->pos = (uint32_t)i; /* < IN_RUN: heap_reserve_one() */
}

static void sift_up(mheap *h, size_t i)
{
    mjob *j = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->before(j, h->items[parent]))
            break;
        heap_set(h, i, h->items[parent]);
        i = parent;
    }
    heap_set(h, i, j);
}

static void sift_down(mheap *h, size_t i)
{
    mjob *j = h->items[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->count)
            break;
        if (c + 1 < h->count && h->before(h->items[c + 1], h->items[c]))
            c++;
        if (!h->before(h->items[c], j))
            break;
        heap_set(h, i, h->items[c]);
        i = c;
    }
    heap_set(h, i, j);
}

/* Restore order after the job at i changed its key. */
static void heap_fix(mheap *h, size_t i)
{
    if (i > 0 && h->before(h->items[i], h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

/* Make room for `count` + 1 items; the only heap operation that can fail. */
static int heap_reserve_one(mheap *h, size_t count)
{
    if (count < h->cap)
        return WABOT_OK;
    /* The indexes stay below IN_RUN (mjob.pos is 32-bit). */
    if (h->cap > SIZE_MAX / 2 / sizeof(mjob *) || h->cap > IN_RUN / 2)
        return WABOT_ERR_NOMEM;
    size_t cap = h->cap != 0 ? h->cap * 2 : MIN_HEAP;
    mjob **items = realloc(h->items, cap * sizeof *items);
    if (items == NULL)
        return WABOT_ERR_NOMEM;
    h->items = items;
    h->cap = cap;
    return WABOT_OK;
}

/* Caller made room with heap_reserve_one(). */
static void heap_push(mheap *h, mjob *j)
{
    h->items[h->count] = j;
    sift_up(h, h->count++);
}

static void heap_remove(mheap *h, mjob *j)
{
    size_t i = j->pos;
    mjob *last = h->items[--h->count];
    if (i == h->count)
        return;
    heap_set(h, i, last);
    heap_fix(h, i);
}

static mjob *heap_top(const mheap *h)
{
    return h->count > 0 ? h->items[0] : NULL;
}

/* ------------------------------------------------------------------ */
/* Finished lists                                                      */

static void list_append(mlist *l, mjob *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->count++;
}

static void list_remove(mlist *l, mjob *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->count--;
}

/* ------------------------------------------------------------------ */
/* Jobs and their state containers                                     */

static const char *job_id(const mjob *j)
{
    return j->data;
}

static void free_reason(char *reason)
{
    if (reason != stalled_reason)
        free(reason);
}

static void job_free(mjob *j)
{
    free_reason(j->last_error);
    free(j);
}

/* ------------------------------------------------------------------ */
/* Ordered sets: a sorted run beside a heap                            */

static size_t set_count(const mset *s)
{
    return s->heap.count + (size_t)s->run.count;
}

static int set_reserve_one(mset *s)
{
    return heap_reserve_one(&s->heap, set_count(s));
}

/* Room was made by set_reserve_one(). */
static void set_push(mset *s, mjob *j)
{
    if (s->run.tail == NULL || s->heap.before(s->run.tail, j)) {
        list_append(&s->run, j);
        j->pos = IN_RUN;
    } else {
        heap_push(&s->heap, j);
    }
}

static void set_remove(mset *s, mjob *j)
{
    if (j->pos == IN_RUN)
        list_remove(&s->run, j);
    else
        heap_remove(&s->heap, j);
}

static mjob *set_top(const mset *s)
{
    mjob *r = s->run.head, *h = heap_top(&s->heap);
    if (r == NULL)
        return h;
    if (h == NULL)
        return r;
    return s->heap.before(h, r) ? h : r;
}

/* Restore order after j's key changed. Leaving the run and coming back
 * needs no allocation: the heap has room for the whole set. */
static void set_fix(mset *s, mjob *j)
{
    if (j->pos != IN_RUN) {
        heap_fix(&s->heap, j->pos);
        return;
    }
    list_remove(&s->run, j);
    set_push(s, j);
}

static mset *set_of(mqueue *q, int32_t state)
{
    switch (state) {
    case WABOT_JOB_WAITING: return &q->ready;
    case WABOT_JOB_DELAYED: return &q->delayed;
    case WABOT_JOB_ACTIVE: return &q->active;
    default: return NULL;
    }
}

static mlist *list_of(mqueue *q, int32_t state)
{
    return state == WABOT_JOB_COMPLETED ? &q->completed : &q->failed;
}

/* Ensure j can be placed in `state` without allocating. */
static int make_room(mqueue *q, int32_t state)
{
    mset *s = set_of(q, state);
    return s != NULL ? set_reserve_one(s) : WABOT_OK;
}

/* Put j (not in any container) into the container of j->state. Room was
 * made by make_room(). */
static void place(mqueue *q, mjob *j)
{
    mset *s = set_of(q, j->state);
    if (s != NULL) {
        set_push(s, j);
        atomic_fetch_add_explicit(&q->live, 1, memory_order_release);
    } else
        list_append(list_of(q, j->state), j);
}

static void unplace(mqueue *q, mjob *j)
{
    mset *s = set_of(q, j->state);
    if (s != NULL) {
        set_remove(s, j);
        atomic_fetch_sub_explicit(&q->live, 1, memory_order_release);
    } else
        list_remove(list_of(q, j->state), j);
}

/* Move j to `state`. Room was made by make_room(); the lease only exists
 * while active. */
static void move(mqueue *q, mjob *j, int32_t state)
{
    unplace(q, j);
    j->state = state;
    if (state != WABOT_JOB_ACTIVE)
        j->lease_until_ms = 0;
    place(q, j);
}

/* Waiting if due at now_ms, else delayed: the rule of enqueue, release
 * and a retrying fail. */
static int32_t state_for_run_at(int64_t run_at_ms, int64_t now_ms)
{
    return run_at_ms <= now_ms ? WABOT_JOB_WAITING : WABOT_JOB_DELAYED;
}

static void to_record(const mjob *j, wabot_job_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->version = WABOT_JOB_RECORD_VERSION;
    rec->id = job_id(j);
    rec->payload = job_payload(j);
    rec->payload_len = j->payload_len;
    rec->state = j->state;
    rec->attempts = j->attempts;
    rec->max_attempts = j->max_attempts;
    rec->stalls = j->stalls;
    rec->token = j->token;
    rec->created_ms = j->created_ms;
    rec->run_at_ms = j->run_at_ms;
    rec->lease_until_ms = j->lease_until_ms;
    rec->finished_ms = j->finished_ms;
    rec->backoff = j->backoff;
    rec->backoff_ms = j->backoff_ms;
    rec->backoff_max_ms = j->backoff_max_ms;
    rec->jitter_pct = j->jitter_pct;
    rec->priority = j->priority;
    rec->last_error = j->last_error;
}

/* A fresh job from an enqueued record: everything the record says about
 * its past (state, attempts, stalls, token, lease, finish, last error) is
 * ignored. NULL on out of memory. */
static mjob *job_new(const wabot_job_record *rec, int64_t now_ms,
                     uint64_t hash)
{
    size_t id_len = strlen(rec->id);
    if (rec->payload_len > SIZE_MAX - sizeof(mjob) - id_len - 2)
        return NULL;
    mjob *j = calloc(1, sizeof *j + id_len + 1 + rec->payload_len + 1);
    if (j == NULL)
        return NULL;
    memcpy(j->data, rec->id, id_len + 1);
    char *payload = j->data + id_len + 1;
    if (rec->payload_len > 0)
        memcpy(payload, rec->payload, rec->payload_len);
    payload[rec->payload_len] = '\0';
    j->payload_len = rec->payload_len;
    j->node.hash = (uint32_t)hash;
    j->node.klen = (uint32_t)id_len; /* data[] starts with the id */
    j->max_attempts = rec->max_attempts;
    j->backoff = rec->backoff;
    j->backoff_ms = rec->backoff_ms;
    j->backoff_max_ms = rec->backoff_max_ms;
    j->jitter_pct = rec->jitter_pct;
    j->priority = rec->priority;
    j->run_at_ms = rec->run_at_ms;
    j->created_ms = rec->created_ms != 0 ? rec->created_ms : now_ms;
    j->state = state_for_run_at(rec->run_at_ms, now_ms);
    return j;
}

/* ------------------------------------------------------------------ */
/* Queues                                                              */

static mqueue *queue_find(const msched *m, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = wb_siphash13(m->k0, m->k1, name, len);
    hnode *n = wb_htab_find(&m->queues, h, name, len);
    return (mqueue *)n; /* node is the first member */
}

static void job_drop(wb_hnode *n, void *ud)
{
    (void)ud;
    job_free((mjob *)n);
}

static void queue_free(mqueue *q)
{
    wb_htab_each(&q->jobs, job_drop, NULL);
    wb_htab_free(&q->jobs);
    free(q->ready.heap.items);
    free(q->delayed.heap.items);
    free(q->active.heap.items);
    free(q);
}

/* Queues appear on first enqueue and live as long as the backend: a
 * deployment has a handful of them. */
static mqueue *queue_get_or_create(msched *m, const char *name)
{
    mqueue *q = queue_find(m, name);
    if (q != NULL)
        return q;
    size_t len = strlen(name);
    q = calloc(1, sizeof *q + len + 1);
    if (q == NULL)
        return NULL;
    if (htab_init(&q->jobs, offsetof(mjob, data)) != WABOT_OK) {
        free(q);
        return NULL;
    }
    memcpy(q->name, name, len + 1);
    q->node.hash = (uint32_t)wb_siphash13(m->k0, m->k1, name, len);
    q->node.klen = (uint32_t)len;
    q->ready.heap.before = ready_before;
    q->delayed.heap.before = delayed_before;
    q->active.heap.before = active_before;
    wb_htab_add(&m->queues, &q->node);
    int n = atomic_load_explicit(&m->n_fast, memory_order_relaxed);
    if (n < FAST_QUEUES) {
        m->fast[n] = q;
        atomic_store_explicit(&m->n_fast, n + 1, memory_order_release);
    }
    return q;
}

/* Without the lock: 1 when queue `name` holds no job waiting, delayed or
 * active (or does not exist), so that reserve, recover and next_due have
 * nothing to do; 0 when it may hold one (or is not listed: ask under the
 * lock). */
static int queue_idle(const msched *m, const char *name)
{
    int n = atomic_load_explicit(&m->n_fast, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(m->fast[i]->name, name) == 0)
            return atomic_load_explicit(&m->fast[i]->live,
                                        memory_order_acquire) == 0;
    return n < FAST_QUEUES; /* every queue is listed: none by that name */
}

static mjob *job_find(const msched *m, const mqueue *q, const char *id,
                      uint64_t *hash_out)
{
    size_t len = strlen(id);
    uint64_t h = wb_siphash13(m->k0, m->k1, id, len);
    if (hash_out != NULL)
        *hash_out = h;
    if (q == NULL)
        return NULL;
    return (mjob *)wb_htab_find(&q->jobs, h, id, len);
}

/* ------------------------------------------------------------------ */
/* Locking and lookup shared by the operations                         */

static msched *lock(void *impl)
{
    msched *m = impl;
    pthread_mutex_lock(&m->mu);
    return m;
}

static int unlock(msched *m, int rc)
{
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* The active job `id` reserved under `token`, for the token-checked
 * operations: NOT_FOUND if there is no such job, CONFLICT if it is not
 * active or the token is not the current reservation's. */
static int find_leased(msched *m, const char *queue, const char *id,
                       uint64_t token, mqueue **q_out, mjob **j_out)
{
    mqueue *q = queue_find(m, queue);
    mjob *j = job_find(m, q, id, NULL);
    if (j == NULL)
        return WABOT_ERR_NOT_FOUND;
    if (j->state != WABOT_JOB_ACTIVE || j->token != token)
        return WABOT_ERR_CONFLICT;
    *q_out = q;
    *j_out = j;
    return WABOT_OK;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

static int mem_enqueue(void *impl, const char *queue,
                       const wabot_job_record *job, int64_t now_ms)
{
    msched *m = impl;
    /* The job is made (hash, allocation, copy) before the lock is taken:
     * every webhook thread enqueues, and the allocator's work, a page
     * fault at times, would lengthen what they all wait for. */
    size_t id_len = strlen(job->id);
    uint64_t hash = wb_siphash13(m->k0, m->k1, job->id, id_len);
    mjob *j = job_new(job, now_ms, hash);
    if (j == NULL)
        return WABOT_ERR_NOMEM;
    lock(m);
    mqueue *q = queue_get_or_create(m, queue);
    int rc = WABOT_OK;
    if (q == NULL)
        rc = WABOT_ERR_NOMEM;
    else if (wb_htab_find(&q->jobs, hash, job->id, id_len) != NULL)
        rc = WABOT_ERR_EXISTS;
    else if (make_room(q, j->state) != WABOT_OK)
        rc = WABOT_ERR_NOMEM;
    if (rc == WABOT_OK) {
        j->seq = ++q->last_seq;
        wb_htab_add(&q->jobs, &j->node);
        place(q, j);
    }
    unlock(m, rc);
    if (rc != WABOT_OK)
        job_free(j);
    return rc;
}

/* Delayed jobs whose time has come become waiting. On out of memory the
 * rest simply stay delayed until the next call. */
static void promote_due(mqueue *q, int64_t now_ms)
{
    mjob *j;
    while ((j = set_top(&q->delayed)) != NULL && j->run_at_ms <= now_ms) {
        if (make_room(q, WABOT_JOB_WAITING) != WABOT_OK)
            return;
        move(q, j, WABOT_JOB_WAITING);
    }
}

static int mem_reserve(void *impl, const char *queue, int64_t now_ms,
                       int64_t lease_ms, wabot_job_info *out)
{
    if (queue_idle(impl, queue))
        return WABOT_ERR_NOT_FOUND;
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    if (q == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    promote_due(q, now_ms);
    mjob *j = set_top(&q->ready);
    if (j == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    if (make_room(q, WABOT_JOB_ACTIVE) != WABOT_OK)
        return unlock(m, WABOT_ERR_NOMEM);

    /* Fill `out` with the job as it will be before changing it, so a
     * failed copy leaves the job waiting. */
    wabot_job_record rec;
    to_record(j, &rec);
    rec.state = WABOT_JOB_ACTIVE;
    rec.attempts = j->attempts + 1;
    rec.token = q->last_token + 1;
    rec.lease_until_ms = add_sat(now_ms, lease_ms);
    int rc = wabot_job_info_set(out, &rec);
    if (rc != WABOT_OK)
        return unlock(m, rc);

    j->attempts = rec.attempts;
    j->token = ++q->last_token;
    j->lease_until_ms = rec.lease_until_ms; /* before: it orders the heap */
    move(q, j, WABOT_JOB_ACTIVE);
    return unlock(m, WABOT_OK);
}

static int mem_extend(void *impl, const char *queue, const char *id,
                      uint64_t token, int64_t until_ms)
{
    msched *m = lock(impl);
    mqueue *q;
    mjob *j;
    int rc = find_leased(m, queue, id, token, &q, &j);
    if (rc != WABOT_OK)
        return unlock(m, rc);
    j->lease_until_ms = until_ms;
    set_fix(&q->active, j);
    return unlock(m, WABOT_OK);
}

static int mem_complete(void *impl, const char *queue, const char *id,
                        uint64_t token, int64_t now_ms)
{
    msched *m = lock(impl);
    mqueue *q;
    mjob *j;
    int rc = find_leased(m, queue, id, token, &q, &j);
    if (rc != WABOT_OK)
        return unlock(m, rc);
    j->finished_ms = now_ms;
    move(q, j, WABOT_JOB_COMPLETED);
    return unlock(m, WABOT_OK);
}

static int mem_fail(void *impl, const char *queue, const char *id,
                    uint64_t token, int64_t now_ms, const char *reason,
                    int64_t retry_at_ms)
{
    msched *m = lock(impl);
    mqueue *q;
    mjob *j;
    int rc = find_leased(m, queue, id, token, &q, &j);
    if (rc != WABOT_OK)
        return unlock(m, rc);
    int32_t state = retry_at_ms < 0 ? WABOT_JOB_FAILED
                                    : state_for_run_at(retry_at_ms, now_ms);
    char *copy = NULL;
    if (reason != NULL && (copy = strdup(reason)) == NULL)
        return unlock(m, WABOT_ERR_NOMEM);
    if (make_room(q, state) != WABOT_OK) {
        free(copy);
        return unlock(m, WABOT_ERR_NOMEM);
    }
    free_reason(j->last_error);
    j->last_error = copy;
    if (state == WABOT_JOB_FAILED)
        j->finished_ms = now_ms;
    else
        j->run_at_ms = retry_at_ms;
    move(q, j, state);
    return unlock(m, WABOT_OK);
}

static int mem_release(void *impl, const char *queue, const char *id,
                       uint64_t token, int64_t now_ms, int64_t run_at_ms)
{
    msched *m = lock(impl);
    mqueue *q;
    mjob *j;
    int rc = find_leased(m, queue, id, token, &q, &j);
    if (rc != WABOT_OK)
        return unlock(m, rc);
    int32_t state = state_for_run_at(run_at_ms, now_ms);
    if (make_room(q, state) != WABOT_OK)
        return unlock(m, WABOT_ERR_NOMEM);
    if (j->attempts > 0)
        j->attempts--;
    j->run_at_ms = run_at_ms;
    move(q, j, state);
    return unlock(m, WABOT_OK);
}

static int mem_cancel(void *impl, const char *queue, const char *id)
{
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    mjob *j = job_find(m, q, id, NULL);
    if (j == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    if (j->state != WABOT_JOB_WAITING && j->state != WABOT_JOB_DELAYED)
        return unlock(m, WABOT_ERR_STATE);
    unplace(q, j);
    wb_htab_remove(&q->jobs, &j->node);
    job_free(j);
    return unlock(m, WABOT_OK);
}

static int mem_get(void *impl, const char *queue, const char *id,
                   wabot_job_info *out)
{
    msched *m = lock(impl);
    mjob *j = job_find(m, queue_find(m, queue), id, NULL);
    if (j == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    wabot_job_record rec;
    to_record(j, &rec);
    return unlock(m, wabot_job_info_set(out, &rec));
}

static int mem_state_of(void *impl, const char *queue, const char *id,
                        int32_t *state)
{
    msched *m = lock(impl);
    const mjob *j = job_find(m, queue_find(m, queue), id, NULL);
    if (j == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    *state = j->state;
    return unlock(m, WABOT_OK);
}

static int mem_counts(void *impl, const char *queue, int64_t *counts,
                      size_t n)
{
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    if (q != NULL) {
        int64_t c[WABOT_JOB_STATE_COUNT] = {
            [WABOT_JOB_WAITING] = (int64_t)set_count(&q->ready),
            [WABOT_JOB_DELAYED] = (int64_t)set_count(&q->delayed),
            [WABOT_JOB_ACTIVE] = (int64_t)set_count(&q->active),
            [WABOT_JOB_COMPLETED] = q->completed.count,
            [WABOT_JOB_FAILED] = q->failed.count,
        };
        for (size_t s = 0; s < n && s < WABOT_JOB_STATE_COUNT; s++)
            counts[s] = c[s];
    } else {
        for (size_t s = 0; s < n && s < WABOT_JOB_STATE_COUNT; s++)
            counts[s] = 0;
    }
    return unlock(m, WABOT_OK);
}

/* One expired lease: back to waiting, or failed after too many stalls.
 * Its token stays, so the worker that lost it is refused. */
static int recover_one(mqueue *q, mjob *j, int64_t now_ms, int32_t max_stalls)
{
    int32_t state = j->stalls + 1 > max_stalls ? WABOT_JOB_FAILED
                                               : WABOT_JOB_WAITING;
    if (make_room(q, state) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    j->stalls++;
    if (state == WABOT_JOB_FAILED) {
        free_reason(j->last_error);
        j->last_error = stalled_reason;
        j->finished_ms = now_ms;
    }
    move(q, j, state);
    return WABOT_OK;
}

static int mem_recover(void *impl, const char *queue, int64_t now_ms,
                       int32_t max_stalls, int32_t *recovered)
{
    if (queue_idle(impl, queue)) { /* no active job to have stalled */
        *recovered = 0;
        return WABOT_OK;
    }
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    int32_t moved = 0;
    int rc = WABOT_OK;
    mjob *j;
    while (q != NULL && moved < INT32_MAX &&
           (j = set_top(&q->active)) != NULL && j->lease_until_ms <= now_ms) {
        rc = recover_one(q, j, now_ms, max_stalls);
        if (rc != WABOT_OK)
            break;
        moved++;
    }
    *recovered = moved;
    return unlock(m, rc);
}

static int mem_next_due(void *impl, const char *queue, int64_t now_ms,
                        int64_t *due_ms)
{
    if (queue_idle(impl, queue))
        return WABOT_ERR_NOT_FOUND;
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    if (q == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    if (set_count(&q->ready) > 0) {
        *due_ms = now_ms;
        return unlock(m, WABOT_OK);
    }
    const mjob *d = set_top(&q->delayed);
    const mjob *a = set_top(&q->active);
    if (d == NULL && a == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    if (d != NULL && (a == NULL || d->run_at_ms <= a->lease_until_ms))
        *due_ms = d->run_at_ms;
    else
        *due_ms = a->lease_until_ms;
    return unlock(m, WABOT_OK);
}

/* The list is in finish order, so the oldest jobs are at its head. */
static int mem_trim(void *impl, const char *queue, int32_t state,
                    int64_t keep_count, int64_t finished_before_ms,
                    int64_t *removed)
{
    if (state != WABOT_JOB_COMPLETED && state != WABOT_JOB_FAILED)
        return WABOT_ERR_INVAL;
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    int64_t n = 0;
    mlist *l = q != NULL ? list_of(q, state) : NULL;
    while (l != NULL && l->head != NULL &&
           (l->count > keep_count ||
            l->head->finished_ms < finished_before_ms)) {
        mjob *j = l->head;
        list_remove(l, j);
        wb_htab_remove(&q->jobs, &j->node);
        job_free(j);
        n++;
    }
    *removed = n;
    return unlock(m, WABOT_OK);
}

static void queue_drop(wb_hnode *n, void *ud)
{
    (void)ud;
    queue_free((mqueue *)n);
}

static void mem_destroy(void *impl)
{
    msched *m = impl;
    wb_htab_each(&m->queues, queue_drop, NULL);
    wb_htab_free(&m->queues);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const wabot_scheduler_vtable mem_vtable = {
    .version = WABOT_SCHEDULER_VTABLE_VERSION,
    .enqueue = mem_enqueue,
    .reserve = mem_reserve,
    .extend = mem_extend,
    .complete = mem_complete,
    .fail = mem_fail,
    .release = mem_release,
    .cancel = mem_cancel,
    .get = mem_get,
    .counts = mem_counts,
    .recover = mem_recover,
    .next_due = mem_next_due,
    .trim = mem_trim,
    .destroy = mem_destroy,
};

/* Failed jobs for the admin API (wb_sched_failed). */
static int mem_each_failed(void *impl, const char *queue, int64_t offset,
                           int64_t limit, wb_job_visit_fn fn, void *ud,
                           int64_t *total)
{
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    *total = q != NULL ? q->failed.count : 0;
    int64_t i = 0;
    for (mjob *j = q != NULL ? q->failed.tail : NULL;
         j != NULL && i < offset + limit; j = j->prev, i++) {
        if (i < offset)
            continue;
        wabot_job_record rec;
        to_record(j, &rec);
        fn(&rec, ud);
    }
    return unlock(m, WABOT_OK);
}

static int mem_retry(void *impl, const char *queue, const char *id,
                     int64_t now_ms)
{
    msched *m = lock(impl);
    mqueue *q = queue_find(m, queue);
    mjob *j = job_find(m, q, id, NULL);
    if (j == NULL)
        return unlock(m, WABOT_ERR_NOT_FOUND);
    if (j->state != WABOT_JOB_FAILED)
        return unlock(m, WABOT_ERR_STATE);
    if (make_room(q, WABOT_JOB_WAITING) != WABOT_OK)
        return unlock(m, WABOT_ERR_NOMEM);
    j->attempts = 0;
    j->stalls = 0;
    j->finished_ms = 0;
    j->run_at_ms = now_ms;
    move(q, j, WABOT_JOB_WAITING);
    return unlock(m, WABOT_OK);
}

static const wb_sched_failed mem_failed = {mem_each_failed, mem_retry};

/* ------------------------------------------------------------------ */
/* Public                                                              */

wabot_scheduler *wabot_scheduler_memory_new(void)
{
    msched *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    if (htab_init(&m->queues, offsetof(mqueue, name)) != WABOT_OK) {
        free(m);
        return NULL;
    }
    if (wb_mutex_init(&m->mu) != 0) {
        wb_htab_free(&m->queues);
        free(m);
        return NULL;
    }
    wb_siphash_key(m, &m->k0, &m->k1);
    wabot_scheduler *s = wb_scheduler_wrap(&mem_vtable, m, "memory");
    if (s == NULL)
        mem_destroy(m);
    else {
        s->failed = &mem_failed;
        s->state_of = mem_state_of;
    }
    return s;
}
