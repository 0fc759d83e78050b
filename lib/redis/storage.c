/* The Redis storage backend: every operation one Lua script (EVALSHA), so
 * one round trip and atomic, with the memory backend's exact semantics.
 *
 * Layout (P = the configured prefix, K = the storage key):
 *
 *   P K            the value, a plain Redis string, so another client
 *                  (the legacy system sharing dedup keys during a
 *                  migration) can GET, SET NX or EXISTS it as usual;
 *   P K \0 v       its version, a decimal string;
 *   P \0 version   the store-wide version counter (INCR): a key that is
 *                  deleted or expires and is written again never gets back
 *                  a version a stale compare-and-set could still hold.
 *
 * Storage keys are NUL-terminated, so no storage key can collide with a
 * name holding a NUL byte. The value key decides presence; its version key
 * gets the same TTL plus VER_MARGIN_MS, so it can never expire first (a
 * version key left behind for a moment is ignored: the value is absent).
 * A value without a version key (written by another client) is absent to
 * compare-and-set and gets a fresh version on its first get.
 *
 * Expiry is Redis's own (PX / PEXPIRE): an expired key is simply absent.
 * Numbers cross into Lua as decimal strings and are written back with
 * string.format('%.0f'), because Lua 5.1 numbers are doubles (versions are
 * exact up to 2^53) and INCRBY's result is read back as the stored string
 * so the full int64 range stays exact. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "storage.h"

/* Longest TTL sent to Redis (about 142,000 years): longer ones mean the
 * same and would overflow Redis's deadline arithmetic or Lua's doubles. */
#define MAX_TTL_MS (INT64_C(1) << 52)

/* Shared by every script. KEYS[1] value, KEYS[2] version, KEYS[3] counter. */
#define LUA_PRELUDE                                                           \
    "local M = 1000\n"                                                        \
    "local function newver()\n"                                               \
    "  return string.format('%.0f', redis.call('INCR', KEYS[3]))\n"           \
    "end\n"                                                                   \
    /* Write a value and a new version; ttl is a decimal string, '0' =      \
     * no expiry. */                                                          \
    "local function write(val, ttl)\n"                                        \
    "  local v = newver()\n"                                                  \
    "  if ttl ~= '0' then\n"                                                  \
    "    redis.call('SET', KEYS[1], val, 'PX', ttl)\n"                        \
    "    redis.call('SET', KEYS[2], v, 'PX',\n"                               \
    "               string.format('%.0f', tonumber(ttl) + M))\n"              \
    "  else\n"                                                                \
    "    redis.call('SET', KEYS[1], val)\n"                                   \
    "    redis.call('SET', KEYS[2], v)\n"                                     \
    "  end\n"                                                                 \
    "  return v\n"                                                            \
    "end\n"                                                                   \
    /* A new version for a value that stays, its expiry untouched. */         \
    "local function restamp()\n"                                              \
    "  local v = newver()\n"                                                  \
    "  local pttl = redis.call('PTTL', KEYS[1])\n"                            \
    "  if pttl >= 0 then\n"                                                   \
    "    redis.call('SET', KEYS[2], v, 'PX', string.format('%.0f', pttl + M))\n" \
    "  else\n"                                                                \
    "    redis.call('SET', KEYS[2], v)\n"                                     \
    "  end\n"                                                                 \
    "  return v\n"                                                            \
    "end\n"                                                                   \
    /* The version of a present value ('' for one without a version). */     \
    "local function current()\n"                                              \
    "  return redis.call('GET', KEYS[2]) or ''\n"                             \
    "end\n"

/* -> nil (absent) or {version, value} */
static wb_redis_script get_script = WB_REDIS_SCRIPT(
    "storage get", LUA_PRELUDE
    "local d = redis.call('GET', KEYS[1])\n"
    "if not d then return false end\n"
    "local v = redis.call('GET', KEYS[2]) or restamp()\n"
    "return {v, d}\n");

/* ARGV: value, ttl -> version */
static wb_redis_script set_script = WB_REDIS_SCRIPT(
    "storage set", LUA_PRELUDE
    "return write(ARGV[1], ARGV[2])\n");

/* ARGV: value, ttl -> version, or nil if the key exists */
static wb_redis_script set_nx_script = WB_REDIS_SCRIPT(
    "storage set_nx", LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[1]) == 1 then return false end\n"
    "return write(ARGV[1], ARGV[2])\n");

/* ARGV: expected version ('0' = absent), value, ttl -> version, or nil on
 * a mismatch */
static wb_redis_script cas_script = WB_REDIS_SCRIPT(
    "storage cas", LUA_PRELUDE
    "local cur = '0'\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then cur = current() end\n"
    "if cur ~= ARGV[1] then return false end\n"
    "return write(ARGV[2], ARGV[3])\n");

/* -> 1 deleted, 0 absent */
static wb_redis_script del_script = WB_REDIS_SCRIPT(
    "storage del", LUA_PRELUDE
    "if redis.call('DEL', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 1\n");

/* ARGV: expected version -> 1 deleted, 0 absent, -1 other version */
static wb_redis_script del_if_script = WB_REDIS_SCRIPT(
    "storage del_if", LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if current() ~= ARGV[1] then return -1 end\n"
    "redis.call('DEL', KEYS[1], KEYS[2])\n"
    "return 1\n");

/* ARGV: delta, ttl -> the new value (decimal string), or nil if the value
 * is not an integer or the sum overflows. INCRBY applies Redis's integer
 * rule, which the memory backend copies, and keeps the TTL. */
static wb_redis_script incr_script = WB_REDIS_SCRIPT(
    "storage incr", LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  write(ARGV[1], ARGV[2])\n"
    "  return ARGV[1]\n"
    "end\n"
    "local r = redis.pcall('INCRBY', KEYS[1], ARGV[1])\n"
    "if type(r) == 'table' and r.err then return false end\n"
    "restamp()\n"
    "return redis.call('GET', KEYS[1])\n");

/* ARGV: ttl ('0' = none) -> 1, or 0 if absent */
static wb_redis_script expire_script = WB_REDIS_SCRIPT(
    "storage expire", LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if ARGV[1] ~= '0' then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "  redis.call('PEXPIRE', KEYS[2],\n"
    "             string.format('%.0f', tonumber(ARGV[1]) + M))\n"
    "else\n"
    "  redis.call('PERSIST', KEYS[1])\n"
    "  redis.call('PERSIST', KEYS[2])\n"
    "end\n"
    "return 1\n");

/* ------------------------------------------------------------------ */
/* Calls                                                               */

typedef struct redis_store {
    wabot_redis *r;
} redis_store;

/* The three keys of one operation, without the prefix (the pool adds it). */
typedef struct store_keys {
    const char *names[3];
    size_t lens[3];
    char ver[WB_STORAGE_KEY_MAX + 3];
} store_keys;

static const char COUNTER_KEY[] = "\0version";

static int keys_of(store_keys *k, const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > WB_STORAGE_KEY_MAX)
        return WABOT_ERR_INVAL;
    memcpy(k->ver, key, len);
    memcpy(k->ver + len, "\0v", 2);
    k->names[0] = key;
    k->lens[0] = len;
    k->names[1] = k->ver;
    k->lens[1] = len + 2;
    k->names[2] = COUNTER_KEY;
    k->lens[2] = sizeof COUNTER_KEY - 1;
    return WABOT_OK;
}

/* A decimal argument: the buffer must outlive the call. */
typedef struct num_arg {
    char text[24];
} num_arg;

static const char *i64_arg(num_arg *a, int64_t v)
{
    snprintf(a->text, sizeof a->text, "%" PRId64, v);
    return a->text;
}

static const char *u64_arg(num_arg *a, uint64_t v)
{
    snprintf(a->text, sizeof a->text, "%" PRIu64, v);
    return a->text;
}

static const char *ttl_arg(num_arg *a, int64_t ttl_ms)
{
    return i64_arg(a, ttl_ms > MAX_TTL_MS ? MAX_TTL_MS : ttl_ms);
}

static int run(redis_store *st, wb_redis_script *s, const char *key,
               size_t nargs, const char **args, const size_t *arglens,
               redisReply **out)
{
    store_keys k;
    int rc = keys_of(&k, key);
    if (rc != WABOT_OK)
        return rc;
    return wb_redis_evaln(st->r, s, 3, k.names, k.lens, nargs, args,
                          arglens, out);
}

/* Strict unsigned decimal (what the scripts write). */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return 0;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0')
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int unexpected(redis_store *st, redisReply *rep, const char *op)
{
    char what[64];
    snprintf(what, sizeof what, "storage %s: unexpected reply type %d", op,
             rep->type);
    freeReplyObject(rep);
    return wb_redis_fail(st->r, what);
}

/* A version reply: a bulk decimal, or nil for `absent_rc`. */
static int version_reply(redis_store *st, redisReply *rep, int absent_rc,
                         uint64_t *version, const char *op)
{
    uint64_t v;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return absent_rc;
    }
    if (rep->type != REDIS_REPLY_STRING || !parse_u64(rep->str, rep->len, &v))
        return unexpected(st, rep, op);
    freeReplyObject(rep);
    if (version != NULL)
        *version = v;
    return WABOT_OK;
}

/* An integer reply mapped: 1 -> OK, 0 -> NOT_FOUND, -1 -> CONFLICT. */
static int outcome_reply(redis_store *st, redisReply *rep, const char *op)
{
    long long n;
    if (!wb_redis_reply_int(rep, &n) || n < -1 || n > 1)
        return unexpected(st, rep, op);
    freeReplyObject(rep);
    return n == 1 ? WABOT_OK : n == 0 ? WABOT_ERR_NOT_FOUND
                                      : WABOT_ERR_CONFLICT;
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

static int rs_get(void *impl, const char *key, wabot_buf *out,
                  uint64_t *version)
{
    redis_store *st = impl;
    redisReply *rep;
    int rc = run(st, &get_script, key, 0, NULL, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return WABOT_ERR_NOT_FOUND;
    }
    uint64_t v;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        !parse_u64(rep->element[0]->str, rep->element[0]->len, &v))
        return unexpected(st, rep, "get");
    rc = wabot_buf_set(out, rep->element[1]->str, rep->element[1]->len);
    freeReplyObject(rep);
    if (rc == WABOT_OK)
        *version = v;
    return rc;
}

static int write_op(redis_store *st, wb_redis_script *s, const char *key,
                    const char *expected, const char *val, size_t len,
                    int64_t ttl_ms, int absent_rc, uint64_t *version)
{
    num_arg ttl;
    const char *args[3];
    size_t lens[3];
    size_t n = 0;
    if (expected != NULL) {
        args[n] = expected;
        lens[n++] = strlen(expected);
    }
    args[n] = val != NULL ? val : "";
    lens[n++] = len;
    args[n] = ttl_arg(&ttl, ttl_ms);
    lens[n] = strlen(args[n]);
    n++;
    redisReply *rep;
    int rc = run(st, s, key, n, args, lens, &rep);
    if (rc != WABOT_OK)
        return rc;
    return version_reply(st, rep, absent_rc, version, s->name);
}

static int rs_set(void *impl, const char *key, const char *val, size_t len,
                  int64_t ttl_ms, uint64_t *version)
{
    return write_op(impl, &set_script, key, NULL, val, len, ttl_ms,
                    WABOT_ERR_STORAGE, version);
}

static int rs_set_nx(void *impl, const char *key, const char *val,
                     size_t len, int64_t ttl_ms, uint64_t *version)
{
    return write_op(impl, &set_nx_script, key, NULL, val, len, ttl_ms,
                    WABOT_ERR_EXISTS, version);
}

static int rs_cas(void *impl, const char *key, uint64_t expected,
                  const char *val, size_t len, int64_t ttl_ms,
                  uint64_t *version)
{
    num_arg e;
    return write_op(impl, &cas_script, key, u64_arg(&e, expected), val, len,
                    ttl_ms, WABOT_ERR_CONFLICT, version);
}

static int rs_del(void *impl, const char *key)
{
    redis_store *st = impl;
    redisReply *rep;
    int rc = run(st, &del_script, key, 0, NULL, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    return outcome_reply(st, rep, "del");
}

static int rs_del_if(void *impl, const char *key, uint64_t expected)
{
    redis_store *st = impl;
    num_arg e;
    const char *args[1] = {u64_arg(&e, expected)};
    redisReply *rep;
    int rc = run(st, &del_if_script, key, 1, args, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    return outcome_reply(st, rep, "del_if");
}

static int rs_incr(void *impl, const char *key, int64_t delta,
                   int64_t ttl_ms, int64_t *result)
{
    redis_store *st = impl;
    num_arg d, ttl;
    const char *args[2] = {i64_arg(&d, delta), ttl_arg(&ttl, ttl_ms)};
    redisReply *rep;
    int rc = run(st, &incr_script, key, 2, args, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return WABOT_ERR_CONFLICT;
    }
    int64_t v;
    if (rep->type != REDIS_REPLY_STRING || !parse_i64(rep->str, rep->len, &v))
        return unexpected(st, rep, "incr");
    freeReplyObject(rep);
    *result = v;
    return WABOT_OK;
}

static int rs_expire(void *impl, const char *key, int64_t ttl_ms)
{
    redis_store *st = impl;
    num_arg ttl;
    const char *args[1] = {ttl_arg(&ttl, ttl_ms)};
    redisReply *rep;
    int rc = run(st, &expire_script, key, 1, args, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    return outcome_reply(st, rep, "expire");
}

static void rs_destroy(void *impl)
{
    free(impl);
}

static const wabot_storage_vtable redis_vtable = {
    .version = WABOT_STORAGE_VTABLE_VERSION,
    .get = rs_get,
    .set = rs_set,
    .set_nx = rs_set_nx,
    .cas = rs_cas,
    .del = rs_del,
    .del_if = rs_del_if,
    .incr = rs_incr,
    .expire = rs_expire,
    .destroy = rs_destroy,
};

wabot_storage *wabot_storage_redis_new(wabot_redis *r)
{
    if (r == NULL)
        return NULL;
    redis_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->r = r;
    wabot_storage *s = wb_storage_wrap(&redis_vtable, st, "redis");
    if (s == NULL)
        free(st);
    return s;
}
