/* Storage handle internals, shared by the wrapper and the built-in
 * backends. Private. */
#ifndef WB_STORAGE_H
#define WB_STORAGE_H

#include "wabot/jobs.h"
#include "wabot/resilience.h"
#include "wabot/storage.h"

/* Longest key the wrappers accept, in bytes (without the NUL). */
#define WB_STORAGE_KEY_MAX 1024

struct wb_turn_path;

struct wb_storage_bop;

struct wabot_storage {
    const wabot_storage_vtable *vt; /* borrowed */
    void *impl;                     /* owned: vt->destroy(impl) on free */
    const char *name;               /* static string */
    /* The turn fast path (below), or NULL: a built-in backend may offer
     * it; wabot_storage_new() backends never do. */
    const struct wb_turn_path *turn;
    /* Pipelined batches (below), or NULL: then a loop of the vtable's
     * single operations. A built-in backend may offer it. */
    int (*batch)(void *impl, size_t n, struct wb_storage_bop *ops);
    /* 1: the store lives and dies with this process (the built-in memory
     * backend), so no other process ever reads what it holds after a
     * crash. */
    int process_local;
    /* Or NULL: a compact set of marks a process-local backend keeps beside
     * its keys (lib/internal/marks.h; the memory backend's, for the
     * inbound dedup's "done" marks). Owned by the backend's impl. */
    struct wb_marks *marks;
    /* Or NULL: a compact table of delivery records a process-local backend
     * keeps beside its keys (lib/internal/receipt_table.h; the memory
     * backend's, for the receipts module). Owned by the backend's impl. */
    struct wb_rtab *receipts;
    /* Or NULL: the handle a built-in backend records its own failures'
     * details against (lib/core/errors.c), for wabot_storage_errmsg()
     * (the Redis backend: its connection handle). */
    const void *detail_owner;
};

/* ------------------------------------------------------------------ */
/* Pipelined batches: n independent operations in one round trip       */
/*                                                                     */
/* Each op is atomic on its own, exactly as the single operation of    */
/* the same name; the batch as a whole is not (no isolation, no        */
/* all-or-nothing: use a transaction for that), and its keys need not  */
/* share a hash tag. For hot paths that do the same small step for     */
/* many unrelated keys (the send path's reads and records for a        */
/* reserved batch of jobs): one round trip instead of n on Redis.      */

typedef enum wb_bop_kind {
    WB_BOP_GET = 1, /* -> status OK (val, len, version) or NOT_FOUND */
    WB_BOP_SET,     /* val, len, ttl_ms -> version */
    WB_BOP_CAS,     /* expected (0 = absent), val, len, ttl_ms -> version,
                     * or CONFLICT */
    WB_BOP_DEL      /* -> OK or NOT_FOUND */
} wb_bop_kind;

typedef struct wb_storage_bop {
    /* in (borrowed until the call returns) */
    wb_bop_kind kind;
    const char *key; /* NUL-terminated, 1..WB_STORAGE_KEY_MAX bytes */
    const char *val;
    size_t len;
    int64_t ttl_ms;
    uint64_t expected;
    /* out */
    int status;        /* WABOT_OK or the single operation's status */
    uint64_t version;  /* GET, SET, CAS */
    char *out;         /* GET: the value (malloc'ed, NUL-terminated;
                        * free() it, or wb_storage_bops_clear) */
    size_t out_len;
} wb_storage_bop;

/* Run ops[0..n) (n <= WABOT_STORAGE_BATCH_MAX), in order: an op sees
 * the writes of the ops before it. Every op gets its own status. Returns WABOT_OK when each op ran (and possibly failed on its
 * own), or the status of a failure that struck the whole batch (bad
 * arguments, the store unreachable: then every op's status is that too,
 * and a write's outcome is unknown as for any failed write). */
int wb_storage_batch(wabot_storage *s, size_t n, wb_storage_bop *ops);
/* Free the values GETs returned. */
void wb_storage_bops_clear(size_t n, wb_storage_bop *ops);

/* ------------------------------------------------------------------ */
/* The turn fast path: an internal capability of a storage backend      */
/*                                                                     */
/* The pipeline's per-message storage work in two round trips instead  */
/* of one per step (doc/architecture.md, "The turn outbox"). A backend */
/* offers it when it can do the steps below as one atomic operation    */
/* each AND the context's scheduler and limiter live in the same store */
/* (the Redis backends on one wabot_redis handle); usable() says       */
/* whether they do. Everything else (memory backends, host backends,   */
/* mixed setups) takes the generic path, step by step. The semantics   */
/* are the generic path's, step for step; only the round trips go.     */
/* Strings below are NUL-terminated storage keys (no prefix).           */

/* The dedup claim's outcome. */
enum { WB_CLAIM_TAKEN = 0, WB_CLAIM_BUSY = 1, WB_CLAIM_EXISTS = 2 };

typedef struct wb_turn_begin_req {
    const char *claim_key;   /* NULL: no claim (dedup off) */
    const char *claim_value; /* "claim" */
    int64_t lease_ms;        /* the claim's TTL */
    const wabot_rate_limit *limit; /* NULL: no inbound limit */
    const char *marker_key;  /* turn:{org:cust}:<msg> */
    const char *profile_key; /* cust:{org:cust} */
    const char *conv_key;    /* conv:{org:cust} */
    const char *profile_name; /* NULL: keep the stored name */
    int64_t touch_ms;        /* the inbound time for the profile */
    int64_t now_ms;          /* the clock (limiter) */
} wb_turn_begin_req;

/* What begin found, in the generic path's order: it stops at the first
 * step that ends the message (not claimed, limited, committed before). */
typedef struct wb_turn_begin_res {
    int claim;               /* WB_CLAIM_*; BUSY/EXISTS: nothing else ran */
    uint64_t claim_version;  /* TAKEN: the claim's version */
    int limited;             /* 1: over the limit; nothing else ran */
    int64_t retry_after_ms;
    int committed;           /* 1: the marker exists; nothing else ran */
    int profile_done;        /* 0: the profile was not touched (a record
                                the backend cannot edit): the caller
                                touches it the generic way */
    char *name;              /* libc; NULL = unknown */
    int opted_out;
    int conv_found;          /* conv/conv_len: the stored record (libc) */
    char *conv;
    size_t conv_len;
    uint64_t conv_version;
} wb_turn_begin_res;

typedef struct wb_turn_commit_req {
    const char *conv_key;    /* NULL: the conversation is not written */
    uint64_t conv_expect;    /* compare-and-set: 0 = must be absent */
    const char *conv_val;
    size_t conv_len;
    int64_t conv_ttl_ms;
    const char *marker_key;  /* must be absent; written "1" */
    int64_t marker_ttl_ms;
    const char *done_key;    /* NULL: none; else set to done_value */
    const char *done_value;
    int64_t done_ttl_ms;
    const char *const *queues; /* queue of each job */
    const wabot_job_record *jobs;
    size_t n_jobs;
    int64_t now_ms;
    /* Per job, or NULL: > 0 to enqueue a job due now reserved by the
     * caller until then (res->token gives its fencing token); 0 to
     * enqueue it for any worker. A backend may enqueue it unreserved
     * (token 0): the caller then leaves it to the workers' polls. */
    const int64_t *lease_until;
} wb_turn_commit_req;

/* Most jobs one commit takes (the outbox's per-turn limit is lower). */
#define WB_TURN_MAX_JOBS 128

typedef struct wb_turn_commit_res {
    int failed;              /* CONFLICT: 0 the conversation, 1 the marker */
    uint64_t conv_version;   /* the conversation's new version */
    unsigned char existed[WB_TURN_MAX_JOBS]; /* 1: the job's id was on its
                                                queue already */
    uint64_t token[WB_TURN_MAX_JOBS]; /* leased jobs' fencing tokens, else 0 */
} wb_turn_commit_res;

typedef struct wb_turn_path {
    /* 1 if sched and limiter (either may be NULL: none) share the store,
     * so begin and commit may touch their keys. */
    int (*usable)(const wabot_storage *s, const wabot_scheduler *sched,
                  const wabot_limiter *limiter);
    /* Claim, limit, marker check, profile touch, conversation load: one
     * atomic step. res's strings are libc memory: wb_turn_begin_clear().
     * WABOT_OK or a storage failure (nothing decided then). */
    int (*begin)(wabot_storage *s, const wb_turn_begin_req *req,
                 wb_turn_begin_res *res);
    /* The turn's commit: the conversation (CAS), the marker (absent), the
     * jobs onto their queues (an id on its queue already is counted, not
     * an error) and the dedup "done", all or nothing. WABOT_OK;
     * WABOT_ERR_CONFLICT with res->failed; or a storage failure. */
    int (*commit)(wabot_storage *s, const wb_turn_commit_req *req,
                  wb_turn_commit_res *res);
} wb_turn_path;

/* s's fast path if it can serve a context with this scheduler and
 * limiter, else NULL. */
const wb_turn_path *wb_storage_turn_path(const wabot_storage *s,
                                         const wabot_scheduler *sched,
                                         const wabot_limiter *limiter);
void wb_turn_begin_clear(wb_turn_begin_res *res);

/* The sink behind wabot_buf_set(): libc memory, NUL-terminated. */
struct wabot_buf {
    char *data; /* NULL until set */
    size_t len;
};

/* One item of a wabot_storage_items list (libc memory). */
typedef struct wb_item {
    char *key; /* NUL-terminated copy */
    size_t klen;
    char *val; /* NULL = no value */
    size_t vlen;
    uint64_t version;
    int64_t score;
    int status; /* WABOT_OK or WABOT_ERR_NOT_FOUND */
} wb_item;

struct wabot_storage_items {
    wb_item *v;
    size_t n, cap;
    char *cursor; /* scan: the next cursor; NULL = "0" */
};

/* len bytes of p (p may be NULL when len is 0) + NUL, libc memory; NULL on
 * out of memory or len SIZE_MAX. */
char *wb_storage_dup(const char *p, size_t len);
/* The schema of a stored record (lib/storage/record.c) and where its
 * payload starts, without copying it; a value without a well-formed
 * "#schema <n>\n" marker is schema 0, all payload. */
uint32_t wb_storage_record_split(const char *val, size_t len, size_t *start);

/* A new, empty list; NULL on out of memory. */
wabot_storage_items *wb_items_new(void);
/* A list of n items holding the keys, every status NOT_FOUND (get_many). */
int wb_items_of_keys(size_t n, const char *const *keys,
                     wabot_storage_items **out);

/* The Redis Cluster hash tag of key: *tag and *len get the part between the
 * first '{' and the next '}' when it is non-empty, else the whole key. */
void wb_storage_hash_tag(const char *key, const char **tag, size_t *len);

/* Longest key in bytes is WB_STORAGE_KEY_MAX (above); the public
 * constants must agree with the backends: */
#define WB_STORAGE_SCORE_OK(x)                                                \
    ((x) >= WABOT_STORAGE_SCORE_MIN && (x) <= WABOT_STORAGE_SCORE_MAX)

/* Record the detail for wabot_storage_errmsg() (this thread, handle s)
 * and return status. */
int wb_storage_fail(const wabot_storage *s, int status, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* Wrap a backend under a static `name` without the public checks (for the
 * built-in backends, whose tables are known to be complete). Takes
 * ownership of impl only on success. NULL on out of memory. */
wabot_storage *wb_storage_wrap(const wabot_storage_vtable *vt, void *impl,
                               const char *name);

/* 1 if s is usable as one component of a library storage key
 * ("conv:{<org>:<customer>}"): non-NULL, non-empty, no control
 * characters (bytes < 0x20 and 0x7f). */
int wb_storage_key_part_ok(const char *s);

#endif
