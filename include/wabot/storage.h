/*
 * Storage: the key-value interface behind conversation state, profiles,
 * dedup and rate limits.
 *
 * Every operation is one atomic step that a Redis backend performs in one
 * round trip. Values are byte strings; every value carries a version (a
 * positive integer that grows on every write of the key), which makes
 * optimistic concurrency (compare-and-set) possible. TTLs are in
 * milliseconds; 0 means no expiry. An expired key behaves exactly like an
 * absent one.
 *
 * A backend implements wabot_storage_vtable; wabot_storage wraps it in a
 * handle. Library code and the conformance suite only use the wrapper
 * functions below, so any backend that passes tests/conformance behaves like
 * the built-in ones. Implementations must be thread-safe.
 */
#ifndef WABOT_STORAGE_H
#define WABOT_STORAGE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A value sink: backends copy a value into it with wabot_buf_set(), so
 *  the library owns the memory whatever allocator the backend uses. */
typedef struct wabot_buf wabot_buf;
/** Copy len bytes into the sink (a NUL is appended). NOMEM on failure. */
WABOT_API int wabot_buf_set(wabot_buf *buf, const char *data, size_t len);

/** Version 2 appended scan, batch get/put, sorted indexes and
 *  transactions (the members after `destroy`). A version-1 table is still
 *  accepted: see wabot_storage_new(). */
#define WABOT_STORAGE_VTABLE_VERSION 2

/** Results of scan, batch get and sorted ranges: an ordered list of items,
 *  each a key (or a sorted member) with an optional value, its version,
 *  a score and a status. Caller side: read it with the
 *  wabot_storage_items_* accessors below, free it with
 *  wabot_storage_items_free(). Backend side: fill it with
 *  wabot_storage_items_add(), _add_scored() or _found(). */
typedef struct wabot_storage_items wabot_storage_items;

/** Transaction operation kinds (wabot_storage_op.kind). Append-only. */
typedef enum wabot_storage_op_kind {
    WABOT_STORAGE_OP_SET = 1,           /**< key, val/len, ttl_ms */
    WABOT_STORAGE_OP_CAS = 2,           /**< key, expected, val/len, ttl_ms */
    WABOT_STORAGE_OP_DEL = 3,           /**< key (absent is fine) */
    WABOT_STORAGE_OP_DEL_IF = 4,        /**< key, expected */
    WABOT_STORAGE_OP_INCR = 5,          /**< key, number = delta, ttl_ms */
    WABOT_STORAGE_OP_SORTED_ADD = 6,    /**< key, val/len = member, number =
                                             score */
    WABOT_STORAGE_OP_SORTED_REMOVE = 7  /**< key, val/len = member */
} wabot_storage_op_kind;

#define WABOT_STORAGE_OP_VERSION 1
/** One operation of a transaction, as a backend receives it (callers use
 *  the wabot_storage_txn_* builder). Versioned: a backend reads a member
 *  only if `version` says it exists; members only ever grow at the end.
 *  Backends get an array of POINTERS to ops, so a newer, larger struct
 *  never shifts the elements an older backend reads. */
typedef struct wabot_storage_op {
    uint32_t version;  /**< WABOT_STORAGE_OP_VERSION */
    uint32_t kind;     /**< a wabot_storage_op_kind */
    const char *key;   /**< NUL-terminated, 1..1024 bytes */
    const char *val;   /**< value or sorted member (never NULL) */
    size_t len;        /**< its length */
    int64_t ttl_ms;    /**< set, cas, incr (on creation); 0 = none */
    uint64_t expected; /**< cas, del_if */
    int64_t number;    /**< incr: delta; sorted_add: score */
} wabot_storage_op;

/** Longest batch for get_many/put_many, most ops in one transaction, most
 *  items one scan page or sorted range may ask for. */
#define WABOT_STORAGE_BATCH_MAX 10000
#define WABOT_STORAGE_TXN_MAX_OPS 128
#define WABOT_STORAGE_PAGE_MAX 10000
/** Longest sorted-index member, in bytes. */
#define WABOT_STORAGE_MEMBER_MAX 1024
/** Scores of sorted indexes are integers in [-2^53, 2^53]: exact on every
 *  backend (Redis keeps scores as doubles). */
#define WABOT_STORAGE_SCORE_MIN (-INT64_C(9007199254740992))
#define WABOT_STORAGE_SCORE_MAX INT64_C(9007199254740992)
/** wabot_storage_scan() flag: return each key's value and version too. */
#define WABOT_STORAGE_SCAN_VALUES 1u
/** wabot_storage_sorted_range() flag: highest score first. */
#define WABOT_STORAGE_RANGE_DESC 1u

/**
 * Storage operations. All return WABOT_OK or a negative status; a backend
 * that cannot reach its store returns WABOT_ERR_STORAGE (or
 * WABOT_ERR_TIMEOUT). Keys are NUL-terminated; values may hold any bytes.
 *
 * get      value into `out` and its version into *version;
 *          WABOT_ERR_NOT_FOUND if absent.
 * set      unconditional write; ttl_ms 0 = keep no expiry; *version gets
 *          the new version (version may be NULL).
 * set_nx   write only if absent; WABOT_ERR_EXISTS otherwise.
 * cas      write only if the current version equals `expected`
 *          (0 = the key must be absent); WABOT_ERR_CONFLICT otherwise.
 * del      delete; WABOT_ERR_NOT_FOUND if absent.
 * del_if   delete only if the version equals `expected`; CONFLICT if it
 *          differs, NOT_FOUND if absent (releases a claim safely).
 * incr     add delta to an integer value (absent = 0) and return the
 *          result; the TTL is set only when the key is created.
 *          WABOT_ERR_CONFLICT if the value is not an integer.
 * expire   set a key's TTL (0 removes it); NOT_FOUND if absent.
 * destroy  release the backend (called by wabot_storage_free).
 *
 * Version 2 (each one atomic step; see the wrappers for the semantics;
 * arguments are checked by the wrappers, counts are >= 1 where a count is
 * given, out pointers are non-NULL):
 * scan          up to `count` live keys starting with `prefix` (may be
 *               ""), from the opaque `cursor` ("0" = start); add each with
 *               wabot_storage_items_add() (value and version only with
 *               WABOT_STORAGE_SCAN_VALUES, else val NULL and version 0),
 *               put the next cursor into `next` ("0" = done).
 * get_many      `out` already holds n items (the keys, all NOT_FOUND); call
 *               wabot_storage_items_found(out, i, ...) for each present key.
 * put_many      n unconditional sets; versions[i] gets each new version.
 * sorted_*      score-ordered members under one key (a namespace of its own:
 *               a sorted index and a value may share a name).
 * txn           all of ops or nothing. On a failed condition return
 *               WABOT_ERR_CONFLICT with *failed = the op's index; on success
 *               versions[i] gets the new version of a set/cas/incr op and
 *               numbers[i] an incr op's result.
 * A member left NULL in a version-2 table is treated like a version-1
 * backend for that operation (a loop of single operations, or
 * WABOT_ERR_UNSUPPORTED).
 */
typedef struct wabot_storage_vtable {
    uint32_t version; /**< WABOT_STORAGE_VTABLE_VERSION */
    int (*get)(void *impl, const char *key, wabot_buf *out,
               uint64_t *version);
    int (*set)(void *impl, const char *key, const char *val, size_t len,
               int64_t ttl_ms, uint64_t *version);
    int (*set_nx)(void *impl, const char *key, const char *val, size_t len,
                  int64_t ttl_ms, uint64_t *version);
    int (*cas)(void *impl, const char *key, uint64_t expected,
               const char *val, size_t len, int64_t ttl_ms,
               uint64_t *version);
    int (*del)(void *impl, const char *key);
    int (*del_if)(void *impl, const char *key, uint64_t expected);
    int (*incr)(void *impl, const char *key, int64_t delta, int64_t ttl_ms,
                int64_t *result);
    int (*expire)(void *impl, const char *key, int64_t ttl_ms);
    void (*destroy)(void *impl);
    /* ---- version 2 ---- */
    int (*scan)(void *impl, const char *prefix, const char *cursor,
                size_t count, uint32_t flags, wabot_storage_items *out,
                wabot_buf *next);
    int (*get_many)(void *impl, size_t n, const char *const *keys,
                    wabot_storage_items *out);
    int (*put_many)(void *impl, size_t n, const char *const *keys,
                    const char *const *vals, const size_t *lens,
                    const int64_t *ttls_ms, uint64_t *versions);
    int (*sorted_add)(void *impl, const char *key, const char *member,
                      size_t len, int64_t score);
    int (*sorted_remove)(void *impl, const char *key, const char *member,
                         size_t len);
    int (*sorted_score)(void *impl, const char *key, const char *member,
                        size_t len, int64_t *score);
    int (*sorted_count)(void *impl, const char *key, int64_t min,
                        int64_t max, int64_t *count);
    int (*sorted_range)(void *impl, const char *key, int64_t min,
                        int64_t max, int64_t offset, int64_t limit,
                        uint32_t flags, wabot_storage_items *out);
    int (*sorted_remove_range)(void *impl, const char *key, int64_t min,
                               int64_t max, int64_t *removed);
    int (*txn)(void *impl, size_t n, const wabot_storage_op *const *ops,
               uint64_t *versions, int64_t *numbers, size_t *failed);
} wabot_storage_vtable;

/**
 * Wrap a backend. `vt` is borrowed (static tables are typical) and must
 * outlive the handle; `impl` is owned: vt->destroy(impl) runs on free.
 * NULL if vt is NULL, its version is 0 or any version-1 operation is NULL,
 * or on out of memory. A vtable with a version newer than this library
 * knows is accepted (extra members are ignored).
 *
 * Version-1 tables (backends written against 0.1) keep working: members
 * after `destroy` are never read from them. For such a backend (and for a
 * NULL version-2 member) get_many and put_many run as loops of get and set
 * (each key atomic, the batch as a whole not); scan, the sorted_* functions
 * and transactions cannot be emulated correctly and return
 * WABOT_ERR_UNSUPPORTED with a detail (wabot_storage_errmsg()).
 */
WABOT_API wabot_storage *wabot_storage_new(const wabot_storage_vtable *vt,
                                           void *impl);
WABOT_API void wabot_storage_free(wabot_storage *s);
/** Name given at creation ("memory", "redis", or "custom"). */
WABOT_API const char *wabot_storage_name(const wabot_storage *s);

/**
 * The built-in memory backend: thread-safe (one mutex), expiry by the
 * given clock (NULL = system clock; copied), lazily on access plus a sweep
 * when the table grows. Embedded default; state is lost with the process.
 */
WABOT_API wabot_storage *wabot_storage_memory_new(const wabot_clock *clock);
/** Number of live keys in a memory backend (expired keys excluded);
 *  WABOT_ERR_INVAL for another backend. */
WABOT_API int64_t wabot_storage_memory_count(wabot_storage *s);

/* Wrappers: argument checks, then the backend. Strings returned through
 * `*val` are owned by the caller (free with wabot_free()), NUL-terminated,
 * and *len (may be NULL) gets their length. */
WABOT_API int wabot_storage_get(wabot_storage *s, const char *key,
                                char **val, size_t *len, uint64_t *version);
WABOT_API int wabot_storage_set(wabot_storage *s, const char *key,
                                const char *val, size_t len, int64_t ttl_ms,
                                uint64_t *version);
WABOT_API int wabot_storage_set_nx(wabot_storage *s, const char *key,
                                   const char *val, size_t len,
                                   int64_t ttl_ms, uint64_t *version);
WABOT_API int wabot_storage_cas(wabot_storage *s, const char *key,
                                uint64_t expected, const char *val,
                                size_t len, int64_t ttl_ms,
                                uint64_t *version);
WABOT_API int wabot_storage_del(wabot_storage *s, const char *key);
WABOT_API int wabot_storage_del_if(wabot_storage *s, const char *key,
                                   uint64_t expected);
WABOT_API int wabot_storage_incr(wabot_storage *s, const char *key,
                                 int64_t delta, int64_t ttl_ms,
                                 int64_t *result);
WABOT_API int wabot_storage_expire(wabot_storage *s, const char *key,
                                   int64_t ttl_ms);

/* ------------------------------------------------------------------ */
/* Version 2                                                           */

/**
 * The detail of the last failed wrapper call on `s` from this thread (an
 * argument error, an unsupported operation, the failing op of a
 * transaction; for a Redis storage, the last Redis failure on this
 * thread: timeout, I/O error or the server's error reply); "" if none.
 * Valid until the next storage call on this thread. Any thread.
 */
WABOT_API const char *wabot_storage_errmsg(const wabot_storage *s);

/**
 * Prefix scan. Returns in *page (owned by the caller, free with
 * wabot_storage_items_free()) up to `count` (1..WABOT_STORAGE_PAGE_MAX)
 * live keys that start with `prefix` ("" = every key), and the cursor to
 * pass back for the next page (wabot_storage_items_cursor()); start with
 * "0" and stop when the returned cursor is "0". With
 * WABOT_STORAGE_SCAN_VALUES in `flags` each item carries its value and
 * version as they were when the page was read.
 *
 * Guarantees, on every backend: a key present for the whole iteration is
 * returned at least once; no key appears twice within one page; an expired
 * or absent key is never returned; a page may hold fewer than `count` keys
 * (even none) before the end, so only the "0" cursor means done. A key
 * written or deleted during the iteration may or may not be returned, and
 * (Redis) a key may come back on a later page. Keys of sorted indexes are
 * not keys here. Order: unspecified (memory: byte order).
 * Errors: WABOT_ERR_INVAL (NULL storage/prefix/cursor/page, count 0 or too
 * large, a malformed cursor), UNSUPPORTED (version-1 backend), STORAGE.
 * Any thread.
 */
WABOT_API int wabot_storage_scan(wabot_storage *s, const char *prefix,
                                 const char *cursor, size_t count,
                                 uint32_t flags, wabot_storage_items **page);

/**
 * Batch get: n (0..WABOT_STORAGE_BATCH_MAX) keys in one atomic step
 * (version-1 backends: one get per key). *out (caller-owned; free with
 * wabot_storage_items_free()) has n items
 * in the order of `keys`: status WABOT_OK with value and version, or
 * WABOT_ERR_NOT_FOUND (absent or expired). keys may be NULL when n is 0.
 * Errors: WABOT_ERR_INVAL (a NULL/empty/too long key, n too large),
 * STORAGE. Any thread.
 */
WABOT_API int wabot_storage_get_many(wabot_storage *s, size_t n,
                                     const char *const *keys,
                                     wabot_storage_items **out);

/**
 * Batch put: n unconditional sets (as wabot_storage_set) in one atomic
 * step (version-1 backends: one set per key, not atomic as a whole).
 * vals[i] may be NULL only with lens[i] 0; ttls_ms may be NULL (no TTL);
 * versions (may be NULL) gets each new version. A key given twice: the
 * later value wins. Errors: WABOT_ERR_INVAL, STORAGE. Any thread.
 */
WABOT_API int wabot_storage_put_many(wabot_storage *s, size_t n,
                                     const char *const *keys,
                                     const char *const *vals,
                                     const size_t *lens,
                                     const int64_t *ttls_ms,
                                     uint64_t *versions);

/**
 * Sorted indexes: under one key, members (any bytes, 0..
 * WABOT_STORAGE_MEMBER_MAX long) ordered by an integer score in
 * [WABOT_STORAGE_SCORE_MIN, WABOT_STORAGE_SCORE_MAX], ties by the
 * member's bytes. A sorted index is its own namespace (a value may have
 * the same key), has no TTL, and disappears with its last member.
 *
 * sorted_add: add `member` with `score`, or move it to the new score.
 * Errors of every sorted function: WABOT_ERR_INVAL (NULL storage, bad key,
 * NULL member with len > 0, score out of range, NULL out pointer),
 * UNSUPPORTED (version-1 backend), STORAGE. Any thread.
 */
WABOT_API int wabot_storage_sorted_add(wabot_storage *s, const char *key,
                                       const char *member, size_t len,
                                       int64_t score);
/** Remove `member`; WABOT_ERR_NOT_FOUND if it is not there. */
WABOT_API int wabot_storage_sorted_remove(wabot_storage *s, const char *key,
                                          const char *member, size_t len);
/** The score of `member` into *score; WABOT_ERR_NOT_FOUND if absent. */
WABOT_API int wabot_storage_sorted_score(wabot_storage *s, const char *key,
                                         const char *member, size_t len,
                                         int64_t *score);
/** How many members have a score in [min, max] (0 for an absent index or
 *  min > max). Pass WABOT_STORAGE_SCORE_MIN/MAX for all. */
WABOT_API int wabot_storage_sorted_count(wabot_storage *s, const char *key,
                                         int64_t min, int64_t max,
                                         int64_t *count);
/**
 * Members with a score in [min, max], ascending (score, then member
 * bytes) or with WABOT_STORAGE_RANGE_DESC descending (the exact reverse),
 * skipping the first `offset` (>= 0) and returning at most `limit`
 * (1..WABOT_STORAGE_PAGE_MAX). *out (caller-owned; free with
 * wabot_storage_items_free()) items: key = member,
 * score. Cost O(log n + limit) on the built-in backends, whatever the
 * offset. An absent index gives an empty list.
 */
WABOT_API int wabot_storage_sorted_range(wabot_storage *s, const char *key,
                                         int64_t min, int64_t max,
                                         int64_t offset, int64_t limit,
                                         uint32_t flags,
                                         wabot_storage_items **out);
/** Remove every member with a score in [min, max]; *removed (may be NULL)
 *  gets how many. */
WABOT_API int wabot_storage_sorted_remove_range(wabot_storage *s,
                                                const char *key, int64_t min,
                                                int64_t max,
                                                int64_t *removed);

/* Items (results of scan, get_many, sorted_range). Accessors take an index
 * below wabot_storage_items_count(); out-of-range indexes and a NULL list
 * give NULL / 0 / WABOT_ERR_INVAL. Returned pointers are borrowed from the
 * list, NUL-terminated, valid until wabot_storage_items_free(). A list may
 * be read from several threads at once. */
/** Number of items. */
WABOT_API size_t wabot_storage_items_count(const wabot_storage_items *it);
/** Item i's key (scan, get_many) or member (sorted_range); *len (may be
 *  NULL) gets its length. */
WABOT_API const char *wabot_storage_items_key(const wabot_storage_items *it,
                                              size_t i, size_t *len);
/** Item i's value, or NULL when it has none (absent key, scan without
 *  values, sorted ranges). */
WABOT_API const char *wabot_storage_items_value(
    const wabot_storage_items *it, size_t i, size_t *len);
/** Item i's version (0 when it has no value). */
WABOT_API uint64_t wabot_storage_items_version(const wabot_storage_items *it,
                                               size_t i);
/** Item i's score (sorted_range; 0 otherwise). */
WABOT_API int64_t wabot_storage_items_score(const wabot_storage_items *it,
                                            size_t i);
/** Item i's status: WABOT_OK, or WABOT_ERR_NOT_FOUND (get_many). */
WABOT_API int wabot_storage_items_status(const wabot_storage_items *it,
                                         size_t i);
/** The cursor for the next scan page ("0" = done); "0" for other lists. */
WABOT_API const char *wabot_storage_items_cursor(
    const wabot_storage_items *it);
/** Free a list; NULL is a no-op. */
WABOT_API void wabot_storage_items_free(wabot_storage_items *it);

/* Backend side: filling a list handed to scan/get_many/sorted_range. Bytes
 * are copied. Return WABOT_OK, WABOT_ERR_NOMEM, or WABOT_ERR_INVAL (NULL
 * list, NULL bytes with a length, index out of range). */
/** Append a key; val NULL = no value (version then ignored). */
WABOT_API int wabot_storage_items_add(wabot_storage_items *it,
                                      const char *key, size_t klen,
                                      const char *val, size_t vlen,
                                      uint64_t version);
/** Append a sorted member with its score. */
WABOT_API int wabot_storage_items_add_scored(wabot_storage_items *it,
                                             const char *member, size_t len,
                                             int64_t score);
/** get_many: item i is present with this value and version. */
WABOT_API int wabot_storage_items_found(wabot_storage_items *it, size_t i,
                                        const char *val, size_t vlen,
                                        uint64_t version);

/**
 * Transactions: up to WABOT_STORAGE_TXN_MAX_OPS operations committed as
 * one atomic step, all or nothing. Build with the wabot_storage_txn_*
 * adders (arguments are checked and copied at once), then commit.
 *
 * Rules: every condition (cas version, del_if version, incr on an integer
 * without overflow) is judged against the store as it was before the
 * transaction; if any fails nothing is written, commit returns
 * WABOT_ERR_CONFLICT and *failed gets the index of the first failing op.
 * del of an absent key and sorted_remove of an absent member are not
 * failures. A key may appear in at most one value op (set, cas, del,
 * del_if, incr); sorted ops on one key may repeat (applied in order).
 * All keys of one transaction must share one Redis Cluster hash tag:
 * the text between the first '{' and the next '}' when that is non-empty,
 * else the whole key — so a transaction over several keys names them like
 * "order:{acme}:42" and "seq:{acme}". Checked on every backend, so code
 * tested on memory runs on a Cluster; otherwise WABOT_ERR_INVAL.
 *
 * A txn belongs to one thread at a time; the storage it uses must outlive
 * it. A committed txn may be read (versions, results) and committed again.
 */
typedef struct wabot_storage_txn wabot_storage_txn;

/** A new, empty transaction on s (NULL for a NULL s or out of memory). */
WABOT_API wabot_storage_txn *wabot_storage_txn_new(wabot_storage *s);
/** Free; NULL is a no-op. */
WABOT_API void wabot_storage_txn_free(wabot_storage_txn *t);
/* Adders: WABOT_OK, or WABOT_ERR_INVAL (bad key/value/ttl, a value key
 * used twice, the op limit reached; the txn is unchanged), NOMEM. */
/** Unconditional write, as wabot_storage_set(). */
WABOT_API int wabot_storage_txn_set(wabot_storage_txn *t, const char *key,
                                    const char *val, size_t len,
                                    int64_t ttl_ms);
/** Write if the version is `expected` (0 = absent), as wabot_storage_cas(). */
WABOT_API int wabot_storage_txn_cas(wabot_storage_txn *t, const char *key,
                                    uint64_t expected, const char *val,
                                    size_t len, int64_t ttl_ms);
/** Delete (absent is fine). */
WABOT_API int wabot_storage_txn_del(wabot_storage_txn *t, const char *key);
/** Delete if the version is `expected`; absent or another version fails. */
WABOT_API int wabot_storage_txn_del_if(wabot_storage_txn *t, const char *key,
                                       uint64_t expected);
/** Add delta, as wabot_storage_incr(). */
WABOT_API int wabot_storage_txn_incr(wabot_storage_txn *t, const char *key,
                                     int64_t delta, int64_t ttl_ms);
/** Add or move a sorted member, as wabot_storage_sorted_add(). */
WABOT_API int wabot_storage_txn_sorted_add(wabot_storage_txn *t,
                                           const char *key,
                                           const char *member, size_t len,
                                           int64_t score);
/** Remove a sorted member (absent is fine). */
WABOT_API int wabot_storage_txn_sorted_remove(wabot_storage_txn *t,
                                              const char *key,
                                              const char *member,
                                              size_t len);
/** Number of ops added. */
WABOT_API size_t wabot_storage_txn_count(const wabot_storage_txn *t);
/**
 * Commit. WABOT_OK: every op applied. WABOT_ERR_CONFLICT: nothing
 * written, *failed (may be NULL) = index of the failing op. Also
 * WABOT_ERR_INVAL (NULL txn), UNSUPPORTED (version-1 backend),
 * STORAGE/TIMEOUT (outcome unknown on Redis, as for any write). A txn
 * without ops commits at once with WABOT_OK. Detail of a failure:
 * wabot_storage_errmsg().
 */
WABOT_API int wabot_storage_txn_commit(wabot_storage_txn *t, size_t *failed);
/** After a successful commit: op i's new version (set, cas, incr), else 0. */
WABOT_API uint64_t wabot_storage_txn_version(const wabot_storage_txn *t,
                                             size_t i);
/** After a successful commit: op i's result (incr), else 0. */
WABOT_API int64_t wabot_storage_txn_result(const wabot_storage_txn *t,
                                           size_t i);

/* ------------------------------------------------------------------ */
/* Records with a schema number                                        */

/**
 * A stored record may carry the number of the schema it was written with:
 * the value is the marker "#schema <n>\n" followed by the payload. A value
 * without the marker (everything written before storage v2) is schema 0,
 * its payload the whole value. Readers name the schema they speak and how
 * to bring an older payload up to it, one step at a time.
 */
#define WABOT_SCHEMA_VERSION 1
/** Turn a payload of schema `from` into one of schema from + 1 (write it
 *  with wabot_buf_set()). Return WABOT_OK, or an error that the read then
 *  returns (WABOT_ERR_PARSE for a payload it cannot read). */
typedef int (*wabot_schema_upgrade_fn)(void *ud, uint32_t from,
                                       const char *payload, size_t len,
                                       wabot_buf *out);
typedef struct wabot_schema {
    uint32_t version;  /**< WABOT_SCHEMA_VERSION */
    uint32_t current;  /**< the schema this reader and writer speak */
    wabot_schema_upgrade_fn upgrade; /**< NULL: older payloads read as is */
    void *ud;          /**< passed to upgrade */
} wabot_schema;

/**
 * Encode payload as a record of schema `schema` into *out (caller-owned,
 * free with wabot_free(); NUL-terminated; *outlen its length). Errors:
 * WABOT_ERR_INVAL (NULL out/outlen, NULL payload with a length), NOMEM.
 * Any thread.
 */
WABOT_API int wabot_storage_record_encode(uint32_t schema,
                                          const char *payload, size_t len,
                                          char **out, size_t *outlen);
/**
 * Decode a stored value read for `sc`: its payload brought up to
 * sc->current (upgrade applied from the stored schema, one step at a
 * time) into *out (caller-owned, wabot_free(); NUL-terminated), *outlen
 * its length, *stored (may be NULL) the schema it was stored with.
 * Errors: WABOT_ERR_INVAL (bad arguments, sc->version 0),
 * WABOT_ERR_UNSUPPORTED (stored by a newer schema than sc->current: a
 * reader must not rewrite it), the upgrade's own error, NOMEM. Any thread.
 */
WABOT_API int wabot_storage_record_decode(const wabot_schema *sc,
                                          const char *val, size_t len,
                                          char **out, size_t *outlen,
                                          uint32_t *stored);
/**
 * wabot_storage_get() then wabot_storage_record_decode(): the payload at
 * schema sc->current into *payload (caller-owned, free with wabot_free();
 * NUL-terminated), *len (may be NULL), and
 * the value's storage version into *version (may be NULL) for a later
 * compare-and-set — set whenever the value exists, even if it cannot be
 * decoded, so a caller may overwrite a corrupt record. Errors: those of
 * both.
 */
WABOT_API int wabot_storage_get_record(wabot_storage *s, const char *key,
                                       const wabot_schema *sc,
                                       char **payload, size_t *len,
                                       uint64_t *version);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_STORAGE_H */
