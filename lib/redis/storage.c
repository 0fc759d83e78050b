/* The Redis storage backend: every operation one Lua script (EVALSHA), so
 * one round trip and atomic, with the memory backend's exact semantics.
 *
 * Layout (P = the configured prefix, K = the storage key):
 *
 *   P K            the value behind a version header, NUL "wv" <version>
 *                  NUL <value>: one key, one SET per write, one GET per
 *                  read. Still a Redis string, so another client (the
 *                  legacy system sharing dedup keys during a migration)
 *                  can GET (non-nil), SET NX or EXISTS it as usual;
 *   P K \0 v       the earlier layout's version key (a value without a
 *                  header: written before the header, by incr, which
 *                  needs the plain number for INCRBY, or by another
 *                  client); still read, never written for a header value;
 *   P \0 version   the store-wide version counter (INCR): a key that is
 *                  deleted or expires and is written again never gets back
 *                  a version a stale compare-and-set could still hold.
 *
 * Storage keys are NUL-terminated, so no storage key can collide with a
 * name holding a NUL byte. The value key decides presence; a version key
 * gets the value's TTL plus one second (M), so it can never expire first.
 * A value with neither header nor version key (written by another client)
 * is absent to compare-and-set and gets a fresh version key on its first
 * get (storage_lua.h, read()).
 *
 * Expiry is Redis's own (PX / PEXPIRE): an expired key is simply absent.
 * Numbers cross into Lua as decimal strings and are written back with
 * string.format('%d') (integers; the script conventions in storage_lua.h
 * say why not '%.0f'), because Lua 5.1 numbers are doubles (versions are
 * exact up to 2^53) and INCRBY's result is read back as the stored string
 * so the full int64 range stays exact. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "strbuf.h"
#include "storage.h"
#include "storage_lua.h"

/* Longest TTL sent to Redis (about 142,000 years): longer ones mean the
 * same and would overflow Redis's deadline arithmetic or Lua's doubles. */
#define MAX_TTL_MS (INT64_C(1) << 52)

/* Every single-key script: KEYS[1] the counter, KEYS[2] the value, KEYS[3]
 * its version key (the earlier layout's; storage_lua.h). Each defines
 * only the helpers it calls (expire takes NEWVER for its M): a definition
 * is a closure the server makes and collects on every call, ~440
 * instructions each (the get script: 37.4k -> 34.7k instructions per
 * call; the rest is the script call itself, where a plain GET costs a
 * fraction: doc/performance.md, sixteenth session). */
#define LUA_KEYS "local K, VK = KEYS[2], KEYS[3]\n"

/* -> nil (absent) or {version, value} */
static wb_redis_script get_script = WB_REDIS_SCRIPT(
    "storage get",
    STORAGE_LUA_NEWVER STORAGE_LUA_UNPACKV STORAGE_LUA_READ LUA_KEYS
    "local d, v = read(K, VK)\n"
    "if not d then return false end\n"
    "return {v, d}\n");

/* ARGV: value, ttl -> version */
static wb_redis_script set_script = WB_REDIS_SCRIPT(
    "storage set", STORAGE_LUA_NEWVER STORAGE_LUA_WRITE LUA_KEYS
    "return write(K, VK, ARGV[1], ARGV[2])\n");

/* ARGV: value, ttl -> version, or nil if the key exists */
static wb_redis_script set_nx_script = WB_REDIS_SCRIPT(
    "storage set_nx", STORAGE_LUA_NEWVER STORAGE_LUA_WRITE_NX LUA_KEYS
    "return write_nx(K, ARGV[1], ARGV[2])\n");

/* ARGV: expected version ('0' = absent), value, ttl -> version, or nil on
 * a mismatch (also when '0' was expected and the key holds anything, a
 * value another client wrote included: SET NX's answer) */
static wb_redis_script cas_script = WB_REDIS_SCRIPT(
    "storage cas",
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE STORAGE_LUA_WRITE_NX STORAGE_LUA_CURVER
    LUA_KEYS
    /* "must be absent" is SET NX: one command, not a GET and a SET */
    "if ARGV[1] == '0' then return write_nx(K, ARGV[2], ARGV[3]) end\n"
    "if curver(K, VK) ~= ARGV[1] then return false end\n"
    "return write(K, VK, ARGV[2], ARGV[3])\n");

/* -> 1 deleted, 0 absent */
static wb_redis_script del_script = WB_REDIS_SCRIPT(
    "storage del", LUA_KEYS
    "if redis.call('DEL', K) == 0 then return 0 end\n"
    "redis.call('DEL', VK)\n"
    "return 1\n");

/* ARGV: expected version -> 1 deleted, 0 absent, -1 other version */
static wb_redis_script del_if_script = WB_REDIS_SCRIPT(
    "storage del_if", STORAGE_LUA_CURVER LUA_KEYS
    "local cur, present = curver(K, VK)\n"
    "if not present then return 0 end\n"
    "if cur ~= ARGV[1] then return -1 end\n"
    "redis.call('DEL', K, VK)\n"
    "return 1\n");

/* ARGV: delta, ttl -> the new value (decimal string), or nil if the value
 * is not an integer or the sum overflows. INCRBY applies Redis's integer
 * rule, which the memory backend copies, and keeps the TTL. */
static wb_redis_script incr_script = WB_REDIS_SCRIPT(
    "storage incr",
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE STORAGE_LUA_UNPACKV STORAGE_LUA_READ
    STORAGE_LUA_INCR LUA_KEYS
    "local d = redis.call('GET', K)\n"
    "if not d then\n"
    "  write(K, VK, ARGV[1], ARGV[2])\n"
    "  return ARGV[1]\n"
    "end\n"
    "local r = incr_present(K, VK, d, ARGV[1])\n"
    "return r\n");

/* ARGV: ttl ('0' = none) -> 1, or 0 if absent */
static wb_redis_script expire_script = WB_REDIS_SCRIPT(
    "storage expire", STORAGE_LUA_NEWVER LUA_KEYS
    "if redis.call('EXISTS', K) == 0 then return 0 end\n"
    "if ARGV[1] ~= '0' then\n"
    "  redis.call('PEXPIRE', K, ARGV[1])\n"
    "  redis.call('PEXPIRE', VK,\n"
    "             string.format('%.0f', tonumber(ARGV[1]) + M))\n"
    "else\n"
    "  redis.call('PERSIST', K)\n"
    "  redis.call('PERSIST', VK)\n"
    "end\n"
    "return 1\n");

/* ------------------------------------------------------------------ */
/* Calls                                                               */

typedef struct redis_store {
    wabot_redis *r;
} redis_store;

/* The three keys of one operation, without the prefix (the pool adds it):
 * the counter, the value, its version key. */
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
    k->names[0] = COUNTER_KEY;
    k->lens[0] = sizeof COUNTER_KEY - 1;
    k->names[1] = key;
    k->lens[1] = len;
    k->names[2] = k->ver;
    k->lens[2] = len + 2;
    return WABOT_OK;
}

/* A decimal argument: the buffer must outlive the call. */
typedef struct num_arg {
    char text[24];
} num_arg;

static const char *i64_arg(num_arg *a, int64_t v)
{
    wb_fmt_i64(a->text, v);
    return a->text;
}

static const char *u64_arg(num_arg *a, uint64_t v)
{
    wb_fmt_u64(a->text, v);
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
    wb_redis_reply_free(rep);
    return wb_redis_fail(st->r, what);
}

/* A version reply: a bulk decimal, or nil for `absent_rc`. */
static int version_reply(redis_store *st, redisReply *rep, int absent_rc,
                         uint64_t *version, const char *op)
{
    uint64_t v;
    if (rep->type == REDIS_REPLY_NIL) {
        wb_redis_reply_free(rep);
        return absent_rc;
    }
    if (rep->type != REDIS_REPLY_STRING || !parse_u64(rep->str, rep->len, &v))
        return unexpected(st, rep, op);
    wb_redis_reply_free(rep);
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
    wb_redis_reply_free(rep);
    return n == 1 ? WABOT_OK : n == 0 ? WABOT_ERR_NOT_FOUND
                                      : WABOT_ERR_CONFLICT;
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

/* A get reply (freed): nil -> NOT_FOUND, {version, value} -> *out (a
 * NUL-terminated copy, malloc'ed) and *version. */
static int get_reply(redis_store *st, redisReply *rep, wabot_buf *out,
                     uint64_t *version)
{
    if (rep->type == REDIS_REPLY_NIL) {
        wb_redis_reply_free(rep);
        return WABOT_ERR_NOT_FOUND;
    }
    uint64_t v;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        !parse_u64(rep->element[0]->str, rep->element[0]->len, &v))
        return unexpected(st, rep, "get");
    int rc = wabot_buf_set(out, rep->element[1]->str, rep->element[1]->len);
    wb_redis_reply_free(rep);
    if (rc == WABOT_OK)
        *version = v;
    return rc;
}

/* A value's version header (NUL "wv" <decimal> NUL): its version and the
 * value's offset; 0 when d has none the script's pattern would take. */
static size_t header_parse(const char *d, size_t len, uint64_t *version)
{
    if (len < 5 || d[0] != '\0' || d[1] != 'w' || d[2] != 'v')
        return 0;
    size_t i = 3;
    while (i < len && d[i] >= '0' && d[i] <= '9')
        i++;
    if (i == len || d[i] != '\0' || !parse_u64(d + 3, i - 3, version))
        return 0;
    return i + 1;
}

/* A plain GET's reply (freed) as the get script would answer it: OK
 * (out and *version set), NOT_FOUND, or GET_ASK_SCRIPT: a value without a
 * header (the earlier layout, another client's value: the script reads
 * its version key or gives it one) or an error reply, which only the
 * script answers as get always has. */
#define GET_ASK_SCRIPT 1
static int plain_get_result(redisReply *rep, wabot_buf *out,
                            uint64_t *version)
{
    int rc = GET_ASK_SCRIPT;
    size_t at;
    uint64_t v;
    if (rep->type == REDIS_REPLY_NIL) {
        rc = WABOT_ERR_NOT_FOUND;
    } else if (rep->type == REDIS_REPLY_STRING &&
               (at = header_parse(rep->str, rep->len, &v)) > 0) {
        rc = wabot_buf_set(out, rep->str + at, rep->len - at);
        if (rc == WABOT_OK)
            *version = v;
    }
    wb_redis_reply_free(rep);
    return rc;
}

/* A plain GET first (a script's call costs the server several times a
 * GET: doc/performance.md, sixteenth session): absent, or a value with
 * its version header, is the answer the script would give. Anything else
 * (a value without a header: the earlier layout, another client's; an
 * error reply) goes to the get script, which answers it as before. */
static int rs_get(void *impl, const char *key, wabot_buf *out,
                  uint64_t *version)
{
    redis_store *st = impl;
    size_t klen = strlen(key);
    if (klen == 0 || klen > WB_STORAGE_KEY_MAX)
        return WABOT_ERR_INVAL;
    redisReply *rep;
    int rc = wb_redis_plain(st->r, "GET", 1, &key, 0, NULL, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    rc = plain_get_result(rep, out, version);
    if (rc != GET_ASK_SCRIPT)
        return rc;
    rc = run(st, &get_script, key, 0, NULL, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    return get_reply(st, rep, out, version);
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
        wb_redis_reply_free(rep);
        return WABOT_ERR_CONFLICT;
    }
    int64_t v;
    if (rep->type != REDIS_REPLY_STRING || !parse_i64(rep->str, rep->len, &v))
        return unexpected(st, rep, "incr");
    wb_redis_reply_free(rep);
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

/* ------------------------------------------------------------------ */
/* Pipelined batches (storage.h, wb_storage_batch)                     */

/* A batch's ops run inside one script per BOP_CHUNK ops, pipelined (one
 * round trip in all). Each op is still the single operation's script
 * body, in order, so its outcome is exactly that operation's; what the
 * batch saves is the server's per-script cost (one EVALSHA instead of
 * one per op) and the version counter's commands: the script takes the
 * versions its writes may need with one INCRBY (a write that does not
 * happen, a conflicting cas, leaves a gap: versions only need to grow).
 * An op whose command fails (an error reply such as OOM) fails alone, as
 * it would on its own: redis.pcall and pcall keep the rest of the script
 * running.
 *
 * KEYS[1] counter, then the value key per op (the earlier layout's
 * version key is named in the script when needed). ARGV[1] how many
 * versions to take at a time, then per op: kind (g s c d), expected,
 * value, ttl -> one element per op, as the op's own script answers it,
 * or an error reply. */
static wb_redis_script batch_script = WB_REDIS_SCRIPT(
    "storage batch",
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE STORAGE_LUA_WRITE_NX
    STORAGE_LUA_UNPACKV STORAGE_LUA_CURVER STORAGE_LUA_READ
    "nv_want = tonumber(ARGV[1])\n"
    /* Any op, any layout; an error it raises is its result. */
    "local function op(i)\n"
    "  local k, b = KEYS[i + 1], 4 * i - 2\n"
    "  local kind = ARGV[b]\n"
    "  if kind == 'g' then\n"
    "    local d, v = read(k)\n"
    "    if not d then return false end\n"
    "    return {v, d}\n"
    "  elseif kind == 'd' then\n"
    "    if redis.call('DEL', k) == 0 then return 0 end\n"
    "    redis.call('DEL', k .. '\\0v')\n"
    "    return 1\n"
    "  elseif kind == 'c' then\n"
    "    if ARGV[b + 1] == '0' then\n" /* as the cas script */
    "      return write_nx(k, ARGV[b + 2], ARGV[b + 3])\n"
    "    end\n"
    "    if curver(k) ~= ARGV[b + 1] then return false end\n"
    "  end\n"
    "  return write(k, nil, ARGV[b + 2], ARGV[b + 3])\n"
    "end\n"
    /* The common ops without pcall and op's calls (pcall and the calls
     * were about a third of the server's cost per op): a get of a value
     * with a header or of none, a set, a cas against a value with a
     * header or against none (SET NX), once the versions are taken (the
     * script's first write takes them in op()). Anything else (the
     * earlier layout, a delete, an error on the way) goes through op(). */
    "local out = {}\n"
    "for i = 1, (#ARGV - 1) / 4 do\n"
    "  local k, b = KEYS[i + 1], 4 * i - 2\n"
    "  local kind, r = ARGV[b], nil\n"
    "  if kind == 'g' then\n"
    "    local d = redis.pcall('GET', k)\n"
    "    if d == false then r = false\n"
    "    elseif type(d) == 'string' then\n"
    "      local v, at = string.match(d, '^%zwv(%d+)%z()')\n"
    "      if v then r = {v, string.sub(d, at)} end\n"
    "    end\n"
    "  elseif (kind == 's' or kind == 'c') and nv_next <= nv_last then\n"
    "    local go, nx = true, kind == 'c' and ARGV[b + 1] == '0'\n"
    "    if kind == 'c' and not nx then\n" /* curver(), with a header */
    "      local d = redis.pcall('GET', k)\n"
    "      go = nil\n"
    "      if d == false then go = false\n"
    "      elseif type(d) == 'string' then\n"
    "        local v = string.match(d, '^%zwv(%d+)%z')\n"
    "        if v then go = v == ARGV[b + 1] end\n"
    "      end\n"
    "      if go == false then r = false end\n"
    "    end\n"
    "    if go then\n"
    "      local v, ttl = string.format('%d', nv_next), ARGV[b + 3]\n"
    "      nv_next = nv_next + 1\n"
    "      local val = '\\0wv' .. v .. '\\0' .. ARGV[b + 2]\n"
    "      if nx and ttl ~= '0' then\n"
    "        r = redis.pcall('SET', k, val, 'NX', 'PX', ttl)\n"
    "      elseif nx then r = redis.pcall('SET', k, val, 'NX')\n"
    "      elseif ttl ~= '0' then r = redis.pcall('SET', k, val, 'PX', ttl)\n"
    "      else r = redis.pcall('SET', k, val) end\n"
    "      if r and not r.err then r = v end\n"
    "    end\n"
    "  end\n"
    "  if r == nil then\n"
    "    local ok\n"
    "    ok, r = pcall(op, i)\n"
    "    if not ok and not (type(r) == 'table' and r.err) then\n"
    "      r = {err = tostring(r)}\n"
    "    end\n"
    "  end\n"
    "  out[i] = r\n"
    "end\n"
    "return out\n");

/* Ops per batch script: bounds one script's run (the server waits for
 * it) and its argument vectors. */
#define BOP_CHUNK 128

/* One op's numeric arguments (their buffers live here). */
typedef struct bop_call {
    num_arg expected, ttl;
} bop_call;

/* One chunk's argument vectors. */
typedef struct bop_chunk {
    const char *keys[1 + BOP_CHUNK];
    size_t klens[1 + BOP_CHUNK];
    const char *args[1 + 4 * BOP_CHUNK];
    size_t alens[1 + 4 * BOP_CHUNK];
    num_arg want;
} bop_chunk;

static const char *bop_name(wb_bop_kind kind)
{
    switch (kind) {
    case WB_BOP_GET: return "get";
    case WB_BOP_SET: return "set";
    case WB_BOP_CAS: return "cas";
    default:         return "del";
    }
}

static void chunk_arg(bop_chunk *c, size_t i, const char *s, size_t len)
{
    c->args[i] = s;
    c->alens[i] = len;
}

/* Ops [0, n) of ops (n <= BOP_CHUNK) into one call of the batch script. */
static int chunk_build(const wb_storage_bop *ops, size_t n, bop_call *b,
                       bop_chunk *c, wb_redis_call *call)
{
    size_t writes = 0;
    c->keys[0] = COUNTER_KEY;
    c->klens[0] = sizeof COUNTER_KEY - 1;
    for (size_t i = 0; i < n; i++) {
        const wb_storage_bop *op = &ops[i];
        size_t klen = strlen(op->key);
        if (klen == 0 || klen > WB_STORAGE_KEY_MAX)
            return WABOT_ERR_INVAL;
        c->keys[1 + i] = op->key;
        c->klens[1 + i] = klen;
        int w = op->kind == WB_BOP_SET || op->kind == WB_BOP_CAS;
        writes += (size_t)w;
        size_t a = 1 + 4 * i;
        chunk_arg(c, a, bop_name(op->kind), 1); /* g s c d */
        if (op->kind == WB_BOP_CAS) {
            const char *e = u64_arg(&b[i].expected, op->expected);
            chunk_arg(c, a + 1, e, strlen(e));
        } else {
            chunk_arg(c, a + 1, "", 0);
        }
        chunk_arg(c, a + 2, w && op->val != NULL ? op->val : "",
                  w ? op->len : 0);
        const char *t = w ? ttl_arg(&b[i].ttl, op->ttl_ms) : "0";
        chunk_arg(c, a + 3, t, strlen(t));
    }
    const char *want = i64_arg(&c->want, writes ? (int64_t)writes : 1);
    chunk_arg(c, 0, want, strlen(want));
    *call = (wb_redis_call){1 + n, c->keys, 1 + 4 * n, c->args,
                            &batch_script, c->klens, c->alens, NULL};
    return WABOT_OK;
}

/* Op i's reply (freed) into its status and results. */
static void bop_result(redis_store *st, wb_storage_bop *op, redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        char what[64];
        snprintf(what, sizeof what, "storage batch %s: %.40s",
                 bop_name(op->kind), rep->str);
        wb_redis_reply_free(rep);
        op->status = wb_redis_fail(st->r, what);
        return;
    }
    switch (op->kind) {
    case WB_BOP_GET: {
        wabot_buf buf = {NULL, 0};
        op->status = get_reply(st, rep, &buf, &op->version);
        op->out = buf.data;
        op->out_len = buf.len;
        break;
    }
    case WB_BOP_SET:
        op->status = version_reply(st, rep, WABOT_ERR_STORAGE, &op->version,
                                   "set");
        break;
    case WB_BOP_CAS:
        op->status = version_reply(st, rep, WABOT_ERR_CONFLICT, &op->version,
                                   "cas");
        break;
    default:
        op->status = outcome_reply(st, rep, "del");
        break;
    }
}

/* A chunk's reply (freed) into its ops: element i is op i's own reply
 * (its free is a no-op: it goes with the array's, last); a reply that is
 * not such an array (the script failed as a whole) fails every op. */
static void chunk_result(redis_store *st, wb_storage_bop *ops, size_t n,
                         redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        char what[96];
        snprintf(what, sizeof what, "storage batch: %.60s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str
                                                : "unexpected reply");
        int bad = wb_redis_fail(st->r, what);
        for (size_t i = 0; i < n; i++)
            ops[i].status = bad;
        wb_redis_reply_free(rep);
        return;
    }
    for (size_t i = 0; i < n; i++)
        bop_result(st, &ops[i], rep->element[i]);
    wb_redis_reply_free(rep);
}

/* Ops [0, h) through the batch script, BOP_CHUNK ops per call, and the
 * gets after them, [h, n), as plain GETs, all in one pipeline: one round
 * trip. A script's op costs the server several times what a GET does
 * (doc/performance.md, sixteenth session), and a batch's trailing gets
 * (the delivery's reads after its outcome records) have nothing after
 * them that a plain GET could run ahead of. A value with its version
 * header is what the script's op gives; the others (see
 * plain_get_result) go through the script after, in one more round trip,
 * so every op ends as the script would have answered it (an error reply,
 * a key of another type, fails its op alone there). */
static int batch_mixed(redis_store *st, size_t n, wb_storage_bop *ops,
                       size_t h)
{
    size_t nc = (h + BOP_CHUNK - 1) / BOP_CHUNK, ng = n - h;
    bop_call *b = malloc((h ? h : 1) * sizeof *b);
    bop_chunk *chunks = malloc((nc ? nc : 1) * sizeof *chunks);
    wb_redis_call *calls = calloc(nc + ng, sizeof *calls);
    redisReply **out = calloc(nc + ng, sizeof *out);
    size_t *again = malloc((ng ? ng : 1) * sizeof *again);
    int rc = b && chunks && calls && out && again ? WABOT_OK
                                                  : WABOT_ERR_NOMEM;
    for (size_t c = 0; c < nc && rc == WABOT_OK; c++) {
        size_t first = c * BOP_CHUNK;
        size_t m = h - first < BOP_CHUNK ? h - first : BOP_CHUNK;
        rc = chunk_build(ops + first, m, b + first, &chunks[c], &calls[c]);
    }
    for (size_t i = 0; i < ng && rc == WABOT_OK; i++)
        calls[nc + i] = (wb_redis_call){.nkeys = 1, .keys = &ops[h + i].key,
                                        .command = "GET"};
    if (rc == WABOT_OK)
        rc = wb_redis_eval_pipeline(st->r, NULL, nc + ng, calls, out);
    for (size_t c = 0; c < nc && rc == WABOT_OK; c++) {
        size_t first = c * BOP_CHUNK;
        size_t m = h - first < BOP_CHUNK ? h - first : BOP_CHUNK;
        chunk_result(st, ops + first, m, out[c]);
    }
    size_t nagain = 0;
    for (size_t i = 0; i < ng && rc == WABOT_OK; i++) {
        wb_storage_bop *op = &ops[h + i];
        wabot_buf buf = {NULL, 0};
        int r = plain_get_result(out[nc + i], &buf, &op->version);
        if (r == GET_ASK_SCRIPT) {
            again[nagain++] = h + i;
            continue;
        }
        op->status = r;
        op->out = buf.data;
        op->out_len = buf.len;
    }
    if (nagain > 0) {
        wb_storage_bop *re = calloc(nagain, sizeof *re);
        for (size_t k = 0; re && k < nagain; k++)
            re[k] = ops[again[k]];
        int orc = re ? batch_mixed(st, nagain, re, nagain) : WABOT_ERR_NOMEM;
        for (size_t k = 0; k < nagain; k++) {
            if (orc == WABOT_OK)
                ops[again[k]] = re[k];
            else
                ops[again[k]].status = orc;
        }
        free(re);
    }
    free(b);
    free(chunks);
    free(calls);
    free(out);
    free(again);
    return rc;
}

static int rs_batch(void *impl, size_t n, wb_storage_bop *ops)
{
    redis_store *st = impl;
    if (n == 0)
        return WABOT_OK;
    size_t h = n; /* the keys were checked by wb_storage_batch */
    while (h > 0 && ops[h - 1].kind == WB_BOP_GET)
        h--;
    return batch_mixed(st, n, ops, h);
}

/* ------------------------------------------------------------------ */
/* Version 2                                                           */

static wb_redis_script scan_script =
    WB_REDIS_SCRIPT("storage scan", STORAGE_LUA_SCAN);
static wb_redis_script get_many_script =
    WB_REDIS_SCRIPT("storage get_many", STORAGE_LUA_GET_MANY);
static wb_redis_script put_many_script =
    WB_REDIS_SCRIPT("storage put_many", STORAGE_LUA_PUT_MANY);
static wb_redis_script range_script =
    WB_REDIS_SCRIPT("storage sorted_range", STORAGE_LUA_RANGE);
static wb_redis_script txn_script =
    WB_REDIS_SCRIPT("storage txn", STORAGE_LUA_TXN);

/* Key names (without the prefix) for a script over many storage keys:
 * [0] the counter, then two per key: the value and its version, or (sorted
 * ops) the index twice. */
typedef struct key_list {
    const char **names;
    size_t *lens;
    char *buf; /* the derived names */
    size_t n;
} key_list;

static void key_list_free(key_list *k)
{
    free(k->names);
    free(k->lens);
    free(k->buf);
}

/* sorted[i] (may be NULL: none) says key i names a sorted index. */
static int key_list_build(key_list *k, size_t n, const char *const *keys,
                          const int *sorted)
{
    memset(k, 0, sizeof *k);
    k->n = 1 + 2 * n;
    k->names = malloc(k->n * sizeof *k->names);
    k->lens = malloc(k->n * sizeof *k->lens);
    k->buf = malloc(n * (WB_STORAGE_KEY_MAX + 2) + 1);
    if (k->names == NULL || k->lens == NULL || k->buf == NULL) {
        key_list_free(k);
        return WABOT_ERR_NOMEM;
    }
    k->names[0] = COUNTER_KEY;
    k->lens[0] = sizeof COUNTER_KEY - 1;
    char *p = k->buf;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(keys[i]);
        memcpy(p, keys[i], len);
        memcpy(p + len, sorted != NULL && sorted[i] ? "\0z" : "\0v", 2);
        int z = sorted != NULL && sorted[i];
        k->names[1 + 2 * i] = z ? p : keys[i];
        k->lens[1 + 2 * i] = z ? len + 2 : len;
        k->names[2 + 2 * i] = p;
        k->lens[2 + 2 * i] = len + 2;
        p += len + 2;
    }
    return WABOT_OK;
}

static int is_bulk(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING;
}

/* ---- scan ---- */

/* Hex digits of names skipped in one bucket: 128 names, so a cursor
 * stays within the 2112 bytes doc/storage.md promises. Only a bucket
 * holding more keys than a page wants is split across pages; one SCAN
 * step of COUNT 1 holding 128 names does not happen in a Redis dict. */
#define SCAN_SKIP_MAX (16 * 128)

/* The backend's cursor: "<SCAN cursor>", or "<SCAN cursor>;<skip list>"
 * (16 hex digits per name already returned from the bucket at that
 * cursor: see STORAGE_LUA_SCAN). The first design's "<cursor>:<hex of a
 * name>" is still read, as its SCAN cursor alone (the names it had
 * returned may come back: allowed). */
static int scan_cursor_decode(const char *cursor, char *rcur,
                              const char **skip, size_t *slen)
{
    size_t dlen = strspn(cursor, "0123456789");
    if (dlen == 0 || dlen > 20)
        return WABOT_ERR_INVAL;
    memcpy(rcur, cursor, dlen);
    rcur[dlen] = '\0';
    *skip = "";
    *slen = 0;
    const char *rest = cursor + dlen, *hex = rest + 1;
    size_t hlen = *rest != '\0' ? strlen(hex) : 0;
    if (*rest != '\0' && *rest != ';' && *rest != ':')
        return WABOT_ERR_INVAL;
    if (*rest != '\0' && (hlen == 0 || strspn(hex, "0123456789abcdef") !=
                                            hlen))
        return WABOT_ERR_INVAL;
    if (*rest == ';') {
        if (hlen % 16 != 0 || hlen > SCAN_SKIP_MAX)
            return WABOT_ERR_INVAL;
        *skip = hex;
        *slen = hlen;
    }
    return WABOT_OK;
}

/* Append s with glob characters escaped; returns the new end. */
static char *glob_escape(char *p, const char *s)
{
    for (; *s; s++) {
        if (strchr("*?[]\\", *s) != NULL)
            *p++ = '\\';
        *p++ = *s;
    }
    return p;
}

/* MATCH pattern for names starting with the pool prefix + the scan
 * prefix. */
static char *glob_prefix(const char *pool_prefix, const char *prefix)
{
    size_t n = strlen(pool_prefix) + strlen(prefix);
    char *g = malloc(2 * n + 2);
    if (g == NULL)
        return NULL;
    char *p = glob_escape(glob_escape(g, pool_prefix), prefix);
    *p++ = '*';
    *p = '\0';
    return g;
}

static int scan_next_cursor(const redisReply *cur, const redisReply *skip,
                            wabot_buf *next)
{
    if (cur->len == 0 || cur->len > 20 || skip->len % 16 != 0 ||
        skip->len > SCAN_SKIP_MAX)
        return WABOT_ERR_STORAGE;
    char text[24 + SCAN_SKIP_MAX];
    memcpy(text, cur->str, cur->len);
    size_t n = cur->len;
    if (skip->len > 0) {
        text[n++] = ';';
        memcpy(text + n, skip->str, skip->len);
        n += skip->len;
    }
    return wabot_buf_set(next, text, n);
}

/* The page: names (prefix stripped) with values and versions if asked. */
static int scan_items(const redis_store *st, const redisReply *out,
                      int vals, wabot_storage_items *items)
{
    size_t plen = wb_redis_prefix_len(st->r), step = vals ? 3 : 1;
    if (out->elements % step != 0)
        return WABOT_ERR_STORAGE;
    for (size_t i = 0; i < out->elements; i += step) {
        const redisReply *k = out->element[i];
        uint64_t ver = 0;
        if (!is_bulk(k) || k->len <= plen)
            return WABOT_ERR_STORAGE;
        if (vals && (!is_bulk(out->element[i + 1]) ||
                     !is_bulk(out->element[i + 2]) ||
                     !parse_u64(out->element[i + 2]->str,
                                out->element[i + 2]->len, &ver)))
            return WABOT_ERR_STORAGE;
        int rc = wabot_storage_items_add(
            items, k->str + plen, k->len - plen,
            vals ? out->element[i + 1]->str : NULL,
            vals ? out->element[i + 1]->len : 0, ver);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

static int rs_scan(void *impl, const char *prefix, const char *cursor,
                   size_t count, uint32_t flags, wabot_storage_items *out,
                   wabot_buf *next)
{
    redis_store *st = impl;
    char rcur[24];
    const char *skip = "";
    size_t slen = 0;
    int rc = scan_cursor_decode(cursor, rcur, &skip, &slen);
    if (rc != WABOT_OK)
        return rc;
    char *pattern = glob_prefix(wb_redis_prefix(st->r), prefix);
    if (pattern == NULL)
        return WABOT_ERR_NOMEM;
    num_arg want, plen, hint;
    int vals = (flags & WABOT_STORAGE_SCAN_VALUES) != 0;
    const char *args[7] = {
        rcur, skip, u64_arg(&want, count), pattern,
        u64_arg(&plen, wb_redis_prefix_len(st->r) + strlen(prefix)),
        vals ? "1" : "0",
        u64_arg(&hint, count < 100 ? 100 : count > 1000 ? 1000 : count)};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = i == 1 ? slen : strlen(args[i]);
    const char *keys[1] = {COUNTER_KEY};
    size_t klens[1] = {sizeof COUNTER_KEY - 1};
    redisReply *rep;
    rc = wb_redis_evaln(st->r, &scan_script, 1, keys, klens, 7, args, lens,
                        &rep);
    free(pattern);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        !is_bulk(rep->element[0]) || !is_bulk(rep->element[1]) ||
        rep->element[2]->type != REDIS_REPLY_ARRAY)
        return unexpected(st, rep, "scan");
    rc = scan_items(st, rep->element[2], vals, out);
    if (rc == WABOT_OK)
        rc = scan_next_cursor(rep->element[0], rep->element[1], next);
    if (rc == WABOT_ERR_STORAGE)
        return unexpected(st, rep, "scan");
    wb_redis_reply_free(rep);
    return rc;
}

/* ---- batches ---- */

static int rs_get_many(void *impl, size_t n, const char *const *keys,
                       wabot_storage_items *out)
{
    redis_store *st = impl;
    key_list k;
    int rc = key_list_build(&k, n, keys, NULL);
    if (rc != WABOT_OK)
        return rc;
    redisReply *rep;
    rc = wb_redis_evaln(st->r, &get_many_script, k.n, k.names, k.lens, 0,
                        NULL, NULL, &rep);
    key_list_free(&k);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)
        return unexpected(st, rep, "get_many");
    for (size_t i = 0; i < n && rc == WABOT_OK; i++) {
        const redisReply *e = rep->element[i];
        uint64_t v;
        if (e->type == REDIS_REPLY_NIL)
            continue;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            !is_bulk(e->element[0]) || !is_bulk(e->element[1]) ||
            !parse_u64(e->element[0]->str, e->element[0]->len, &v))
            return unexpected(st, rep, "get_many");
        rc = wabot_storage_items_found(out, i, e->element[1]->str,
                                       e->element[1]->len, v);
    }
    wb_redis_reply_free(rep);
    return rc;
}

static int rs_put_many(void *impl, size_t n, const char *const *keys,
                       const char *const *vals, const size_t *lens,
                       const int64_t *ttls_ms, uint64_t *versions)
{
    redis_store *st = impl;
    key_list k;
    int rc = key_list_build(&k, n, keys, NULL);
    if (rc != WABOT_OK)
        return rc;
    const char **args = malloc(2 * n * sizeof *args);
    size_t *alens = malloc(2 * n * sizeof *alens);
    num_arg *ttls = malloc(n * sizeof *ttls);
    redisReply *rep = NULL;
    rc = args != NULL && alens != NULL && ttls != NULL ? WABOT_OK
                                                       : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        args[2 * i] = vals[i];
        alens[2 * i] = lens[i];
        args[2 * i + 1] = ttl_arg(&ttls[i], ttls_ms[i]);
        alens[2 * i + 1] = strlen(args[2 * i + 1]);
    }
    if (rc == WABOT_OK)
        rc = wb_redis_evaln(st->r, &put_many_script, k.n, k.names, k.lens,
                            2 * n, args, alens, &rep);
    key_list_free(&k);
    free(args);
    free(alens);
    free(ttls);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)
        return unexpected(st, rep, "put_many");
    for (size_t i = 0; i < n; i++)
        if (!is_bulk(rep->element[i]) ||
            !parse_u64(rep->element[i]->str, rep->element[i]->len,
                       &versions[i]))
            return unexpected(st, rep, "put_many");
    wb_redis_reply_free(rep);
    return WABOT_OK;
}

/* ---- sorted indexes ---- */

/* P key \0z */
typedef struct zname {
    char *name;
    size_t len;
} zname;

static int zname_of(const redis_store *st, const char *key, zname *z)
{
    size_t plen = wb_redis_prefix_len(st->r), klen = strlen(key);
    z->name = malloc(plen + klen + 2);
    if (z->name == NULL)
        return WABOT_ERR_NOMEM;
    memcpy(z->name, wb_redis_prefix(st->r), plen);
    memcpy(z->name + plen, key, klen);
    memcpy(z->name + plen + klen, "\0z", 2);
    z->len = plen + klen + 2;
    return WABOT_OK;
}

/* One command on the index of key: argv[1] is the index's name. */
static int zcommand(redis_store *st, const char *key, int argc,
                    const char **argv, size_t *lens, redisReply **rep)
{
    zname z;
    int rc = zname_of(st, key, &z);
    if (rc != WABOT_OK)
        return rc;
    argv[1] = z.name;
    lens[1] = z.len;
    for (int i = 2; i < argc; i++)
        if (lens[i] == SIZE_MAX)
            lens[i] = strlen(argv[i]);
    lens[0] = strlen(argv[0]);
    rc = wb_redis_command(st->r, argc, argv, lens, rep);
    free(z.name);
    return rc;
}

/* A score reply (Redis prints integral doubles as integers). */
static int parse_score(const char *s, size_t len, int64_t *out)
{
    char buf[40];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0' || d < -9007199254740992.0 || d > 9007199254740992.0)
        return 0;
    *out = (int64_t)d;
    return 1;
}

static int rs_sorted_add(void *impl, const char *key, const char *member,
                         size_t len, int64_t score)
{
    num_arg sc;
    const char *argv[4] = {"ZADD", NULL, i64_arg(&sc, score), member};
    size_t lens[4] = {0, 0, SIZE_MAX, len};
    redisReply *rep;
    int rc = zcommand(impl, key, 4, argv, lens, &rep);
    if (rc == WABOT_OK)
        wb_redis_reply_free(rep);
    return rc;
}

static int rs_sorted_remove(void *impl, const char *key, const char *member,
                            size_t len)
{
    const char *argv[3] = {"ZREM", NULL, member};
    size_t lens[3] = {0, 0, len};
    redisReply *rep;
    int rc = zcommand(impl, key, 3, argv, lens, &rep);
    if (rc != WABOT_OK)
        return rc;
    long long n;
    if (!wb_redis_reply_int(rep, &n))
        return unexpected(impl, rep, "sorted_remove");
    wb_redis_reply_free(rep);
    return n == 1 ? WABOT_OK : WABOT_ERR_NOT_FOUND;
}

static int rs_sorted_score(void *impl, const char *key, const char *member,
                           size_t len, int64_t *score)
{
    const char *argv[3] = {"ZSCORE", NULL, member};
    size_t lens[3] = {0, 0, len};
    redisReply *rep;
    int rc = zcommand(impl, key, 3, argv, lens, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type == REDIS_REPLY_NIL) {
        wb_redis_reply_free(rep);
        return WABOT_ERR_NOT_FOUND;
    }
    if (!is_bulk(rep) || !parse_score(rep->str, rep->len, score))
        return unexpected(impl, rep, "sorted_score");
    wb_redis_reply_free(rep);
    return WABOT_OK;
}

/* ZCOUNT or ZREMRANGEBYSCORE: an integer reply into *n. */
static int zrange_int(redis_store *st, const char *cmd, const char *key,
                      int64_t min, int64_t max, int64_t *n)
{
    num_arg a, b;
    const char *argv[4] = {cmd, NULL, i64_arg(&a, min), i64_arg(&b, max)};
    size_t lens[4] = {0, 0, SIZE_MAX, SIZE_MAX};
    redisReply *rep;
    int rc = zcommand(st, key, 4, argv, lens, &rep);
    if (rc != WABOT_OK)
        return rc;
    long long v;
    if (!wb_redis_reply_int(rep, &v))
        return unexpected(st, rep, cmd);
    wb_redis_reply_free(rep);
    *n = v;
    return WABOT_OK;
}

static int rs_sorted_count(void *impl, const char *key, int64_t min,
                           int64_t max, int64_t *count)
{
    return zrange_int(impl, "ZCOUNT", key, min, max, count);
}

static int rs_sorted_remove_range(void *impl, const char *key, int64_t min,
                                  int64_t max, int64_t *removed)
{
    return zrange_int(impl, "ZREMRANGEBYSCORE", key, min, max, removed);
}

static int rs_sorted_range(void *impl, const char *key, int64_t min,
                           int64_t max, int64_t offset, int64_t limit,
                           uint32_t flags, wabot_storage_items *out)
{
    redis_store *st = impl;
    num_arg a, b, o, l;
    const char *args[5] = {i64_arg(&a, min), i64_arg(&b, max),
                           i64_arg(&o, offset), i64_arg(&l, limit),
                           flags & WABOT_STORAGE_RANGE_DESC ? "1" : "0"};
    size_t klen = strlen(key);
    char name[WB_STORAGE_KEY_MAX + 2];
    memcpy(name, key, klen);
    memcpy(name + klen, "\0z", 2);
    const char *keys[1] = {name};
    size_t klens[1] = {klen + 2};
    redisReply *rep;
    int rc = wb_redis_evaln(st->r, &range_script, 1, keys, klens, 5, args,
                            NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0)
        return unexpected(st, rep, "sorted_range");
    for (size_t i = 0; i < rep->elements && rc == WABOT_OK; i += 2) {
        const redisReply *m = rep->element[i], *s = rep->element[i + 1];
        int64_t score;
        if (!is_bulk(m) || !is_bulk(s) || !parse_score(s->str, s->len, &score))
            return unexpected(st, rep, "sorted_range");
        rc = wabot_storage_items_add_scored(out, m->str, m->len, score);
    }
    wb_redis_reply_free(rep);
    return rc;
}

/* ---- transactions ---- */

typedef struct txn_args {
    const char **v;
    size_t *lens;
    num_arg *nums; /* 3 per op: expected, ttl, number */
} txn_args;

static void txn_args_free(txn_args *a)
{
    free(a->v);
    free(a->lens);
    free(a->nums);
}

static int txn_args_build(txn_args *a, size_t n,
                          const wabot_storage_op *const *ops)
{
    static const char *const kinds[] = {"0", "1", "2", "3", "4",
                                        "5", "6", "7"};
    a->v = malloc(5 * n * sizeof *a->v);
    a->lens = malloc(5 * n * sizeof *a->lens);
    a->nums = malloc(3 * n * sizeof *a->nums);
    if (a->v == NULL || a->lens == NULL || a->nums == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const wabot_storage_op *op = ops[i];
        if (op->kind < WABOT_STORAGE_OP_SET ||
            op->kind > WABOT_STORAGE_OP_SORTED_REMOVE)
            return WABOT_ERR_INVAL;
        const char **v = &a->v[5 * i];
        size_t *l = &a->lens[5 * i];
        v[0] = kinds[op->kind];
        v[1] = u64_arg(&a->nums[3 * i], op->expected);
        v[2] = op->val;
        v[3] = ttl_arg(&a->nums[3 * i + 1], op->ttl_ms);
        v[4] = i64_arg(&a->nums[3 * i + 2], op->number);
        for (int j = 0; j < 5; j++)
            l[j] = j == 2 ? op->len : strlen(v[j]);
    }
    return WABOT_OK;
}

static int txn_reply(redis_store *st, redisReply *rep, size_t n,
                     const wabot_storage_op *const *ops, uint64_t *versions,
                     int64_t *numbers, size_t *failed)
{
    long long ok, idx;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        !wb_redis_reply_int(rep->element[0], &ok))
        return unexpected(st, rep, "txn");
    if (ok == 0) {
        if (rep->elements != 2 || !wb_redis_reply_int(rep->element[1], &idx) ||
            idx < 0 || (size_t)idx >= n)
            return unexpected(st, rep, "txn");
        *failed = (size_t)idx;
        wb_redis_reply_free(rep);
        return WABOT_ERR_CONFLICT;
    }
    if (rep->elements != 1 + 2 * n)
        return unexpected(st, rep, "txn");
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = rep->element[1 + 2 * i];
        const redisReply *r = rep->element[2 + 2 * i];
        if (!is_bulk(v) || !is_bulk(r) ||
            (v->len > 0 && !parse_u64(v->str, v->len, &versions[i])) ||
            (ops[i]->kind == WABOT_STORAGE_OP_INCR &&
             !parse_i64(r->str, r->len, &numbers[i])))
            return unexpected(st, rep, "txn");
    }
    wb_redis_reply_free(rep);
    return WABOT_OK;
}

static int rs_txn(void *impl, size_t n, const wabot_storage_op *const *ops,
                  uint64_t *versions, int64_t *numbers, size_t *failed)
{
    redis_store *st = impl;
    const char **keys = malloc(n * sizeof *keys);
    int *sorted = malloc(n * sizeof *sorted);
    if (keys == NULL || sorted == NULL) {
        free(keys);
        free(sorted);
        return WABOT_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        keys[i] = ops[i]->key;
        sorted[i] = ops[i]->kind >= WABOT_STORAGE_OP_SORTED_ADD;
    }
    key_list k;
    txn_args a = {0};
    int rc = key_list_build(&k, n, keys, sorted);
    free(keys);
    free(sorted);
    if (rc != WABOT_OK)
        return rc;
    rc = txn_args_build(&a, n, ops);
    redisReply *rep = NULL;
    if (rc == WABOT_OK)
        rc = wb_redis_evaln(st->r, &txn_script, k.n, k.names, k.lens, 5 * n,
                            a.v, a.lens, &rep);
    key_list_free(&k);
    txn_args_free(&a);
    if (rc != WABOT_OK)
        return rc;
    return txn_reply(st, rep, n, ops, versions, numbers, failed);
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
    .scan = rs_scan,
    .get_many = rs_get_many,
    .put_many = rs_put_many,
    .sorted_add = rs_sorted_add,
    .sorted_remove = rs_sorted_remove,
    .sorted_score = rs_sorted_score,
    .sorted_count = rs_sorted_count,
    .sorted_range = rs_sorted_range,
    .sorted_remove_range = rs_sorted_remove_range,
    .txn = rs_txn,
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
    if (s == NULL) {
        free(st);
        return NULL;
    }
    s->turn = &wb_redis_turn_path;
    s->batch = rs_batch;
    s->detail_owner = r; /* the pool's failures (pool.c) */
    return s;
}

wabot_redis *wb_redis_storage_handle(const wabot_storage *s)
{
    return s != NULL && s->vt == &redis_vtable ? ((redis_store *)s->impl)->r
                                                : NULL;
}
