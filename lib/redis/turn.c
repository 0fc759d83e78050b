/* The Redis storage backend's turn fast path (lib/internal/storage.h,
 * "The turn fast path"): a webhook's storage work in two scripts.
 *
 *   begin   dedup claim -> inbound limit (GCRA) -> turn marker check ->
 *           profile touch -> conversation read; stops at the first step
 *           that ends the message, exactly where the generic path stops;
 *   commit  conversation compare-and-set + marker (must be absent) ->
 *           the turn's jobs onto their queues (the scheduler's own
 *           enqueue code) -> dedup "done"; all or nothing.
 *
 * The jobs go straight onto their queues inside the commit, so the fast
 * path needs no outbox record: what the generic path makes durable in the
 * record and relays afterwards is relayed in the same atomic step. A
 * redelivery after the commit finds the dedup key "done" (or, when dedup
 * is off, the marker).
 *
 * Both scripts touch keys of several hash tags (the customer's, the dedup
 * key's, the limiter's, the queues') and the store-wide version counter.
 * That is what the storage backend needs already (one Redis, or a Cluster
 * with a hash-tagged prefix such as "{wabot}:": doc/redis.md), and the
 * path is offered only when the scheduler and the limiter run on the same
 * wabot_redis handle as the storage (usable() below).
 *
 * Scripts report outcomes as values; numbers cross as decimal strings. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limiter_gcra.h"
#include "redis.h"
#include "strbuf.h"
#include "scheduler_args.h"
#include "scheduler_lua.h"
#include "storage.h"
#include "storage_lua.h"

#define MAX_TTL_MS (INT64_C(1) << 52)

/* KEYS: counter, claim, gcra, marker, profile, conversation (unused ones
 * repeat the marker; the earlier layout's version keys are named in the
 * script when needed: read()).
 * ARGV: claim? claim-value lease | limit? now t tau | name? name touch_ms.
 * -> {'B'} busy, {'D'} done/other, {'L', claimv, wait},
 *    {'C', claimv}, {'K', claimv, profile_done, name, opted, convver, conv}
 *
 * The profile is edited here only when it is a schema 0/1 JSON object of
 * the known shape (name, last_inbound_ms, opted_out, created_ms: what an
 * inbound message alone creates); anything else — a customer with tags,
 * attributes or an opt-out source (lib/campaign) — comes back with
 * profile_done '0' and the C side touches it the generic way, which keeps
 * every member (and also logs and rewrites a corrupt profile). A new
 * profile gets created_ms as the generic path gives it. */
static wb_redis_script begin_script = WB_REDIS_SCRIPT(
    "turn begin",
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE_NX STORAGE_LUA_UNPACKV
    STORAGE_LUA_READ WB_GCRA_LUA
    "nv_want = 2\n" /* the claim and the profile */
    "local claimv = ''\n"
    "if ARGV[1] == '1' then\n"
    "  claimv = write_nx(KEYS[2], ARGV[2], ARGV[3])\n"
    "  if not claimv then\n"
    "    local _, val = unpackv(redis.call('GET', KEYS[2]))\n"
    "    if val == ARGV[2] then return {'B'} end\n"
    "    return {'D'}\n"
    "  end\n"
    "end\n"
    "if ARGV[4] == '1' then\n"
    "  local now_ms = tonumber(ARGV[5])\n"
    "  local now_us = now_ms * 1000\n"
    "  local s = redis.call('GET', KEYS[3])\n"
    "  local ok, wait, tat = gcra(s and tonumber(s) or false,\n"
    "                             tonumber(ARGV[6]), tonumber(ARGV[7]),\n"
    "                             now_ms, now_us)\n"
    "  if not ok then\n"
    "    return {'L', claimv, string.format('%.0f', wait)}\n"
    "  end\n"
    "  gcra_store(KEYS[3], tat, now_us)\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[4]) == 1 then return {'C', claimv} end\n"
    /* The profile: read, touch, write if it changed (or is new). */
    "local raw = redis.call('GET', KEYS[5])\n"
    "if raw then local _, val = unpackv(raw); raw = val end\n"
    "local body, ok = raw, true\n"
    "if raw and string.sub(raw, 1, 8) == '#schema ' then\n"
    "  local n, rest = string.match(raw, '^#schema (%d+)\\n(.*)$')\n"
    "  if n == '1' then body = rest\n"
    "  elseif n and n ~= '0' then ok = false\n"
    "  elseif n == '0' then body = rest end\n"
    "end\n"
    "local name, last, lasts, opted = nil, 0, '0', false\n"
    "local created, nraw = ARGV[10], nil\n"
    /* The shape this script writes is read with one match, and a name
     * with nothing to escape is written back as it was read: cjson's
     * decode and encode were ~19k of the script's ~116k instructions
     * (doc/performance.md). Anything else takes cjson, as before. */
    "local fast = false\n"
    "if ok and raw then\n"
    /* one literal: Lua 5.1 joins '..' operands at run time, every call */
    "  local n, l, o, c = string.match(body,\n"
    "    '^{\"name\":(.-),\"last_inbound_ms\":(%d+),\"opted_out\":(%a+)(.*)$')\n"
    "  fast = n ~= nil and (o == 'true' or o == 'false') and #l <= 15 and\n"
    "         (l == '0' or string.byte(l, 1) ~= 48)\n"
    "  if fast and c ~= '}' then\n"
    "    c = string.match(c, '^,\"created_ms\":(%d+)}$')\n"
    "    fast = c ~= nil and #c <= 15 and (c == '0' or string.byte(c, 1) ~= 48)\n"
    "  elseif fast then c = nil end\n"
    "  if fast and n ~= 'null' then\n"
    "    fast = string.find(n, '^\"[^\"\\\\%c]*\"$') ~= nil\n"
    "    if fast and #n > 2 then name = string.sub(n, 2, -2); nraw = n end\n"
    "  end\n"
    "  if fast then\n"
    "    local lv = tonumber(l)\n"
    "    if lv > 0 then last = lv; lasts = l end\n"
    "    opted = o == 'true'\n"
    "    created = c\n"
    "  else name, nraw = nil, nil end\n"
    "end\n"
    "if ok and raw and not fast then\n"
    "  local known = {name = 1, last_inbound_ms = 1, opted_out = 1,\n"
    "                 created_ms = 1}\n"
    "  local good, j = pcall(cjson.decode, body)\n"
    "  if not good or type(j) ~= 'table' then ok = false\n"
    "  else\n"
    "    for k in pairs(j) do\n"
    "      if not known[k] then ok = false end\n"
    "    end\n"
    "    local n, l, o = j['name'], j['last_inbound_ms'], j['opted_out']\n"
    "    local c = j['created_ms']\n"
    "    if n == cjson.null then n = nil end\n"
    "    if (n ~= nil and type(n) ~= 'string') or\n"
    "       (l ~= nil and (type(l) ~= 'number' or l ~= math.floor(l))) or\n"
    "       (c ~= nil and (type(c) ~= 'number' or c ~= math.floor(c))) or\n"
    "       (o ~= nil and type(o) ~= 'boolean') then ok = false\n"
    "    elseif ok then\n"
    "      if n ~= '' then name = n end\n"
    "      if l and l > 0 then last = l; lasts = string.format('%.0f', l) end\n"
    "      opted = o == true\n"
    "      created = c and string.format('%.0f', c) or nil\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local pdone = '0'\n"
    "if ok then\n"
    "  pdone = '1'\n"
    "  local changed = false\n"
    "  if tonumber(ARGV[10]) > last then lasts = ARGV[10]; changed = true end\n"
    "  if ARGV[8] == '1' and name ~= ARGV[9] then\n"
    "    name = ARGV[9]; nraw = nil; changed = true\n"
    "  end\n"
    "  if changed or not raw then\n"
    "    local nj = 'null'\n"
    "    if name then nj = nraw or cjson.encode(name) end\n"
    "    local ob = 'false'\n"
    "    if opted then ob = 'true' end\n"
    "    local cj = ''\n"
    "    if created then cj = ',\"created_ms\":' .. created end\n"
    /* write() without its TTL, in one concatenation with the header */
    "    redis.call('SET', KEYS[5], '\\0wv' .. newver() ..\n"
    "          '\\0#schema 1\\n{\"name\":' .. nj ..\n"
    "          ',\"last_inbound_ms\":' .. lasts .. ',\"opted_out\":' .. ob ..\n"
    "          cj .. '}')\n"
    "  end\n"
    "end\n"
    "local conv, cver = read(KEYS[6])\n"
    "if not conv then conv, cver = '', '' end\n"
    "local ob = '0'\n"
    "if opted then ob = '1' end\n"
    "return {'K', claimv, pdone, name or '', ob, cver, conv}\n");

/* KEYS: counter, conversation, marker, done (unused ones repeat the
 * marker), then per job the enqueue script's four keys, and for a job
 * leased its queue's active set and token counter too. ARGV: conv?
 * expect value ttl | marker ttl | done? value ttl | job count, then per
 * job the enqueue script's seven arguments (WB_REDIS_ENQUEUE_NARGS) and
 * its lease ('0': none; else the lease's end: the job is enqueued
 * reserved by this caller, scheduler_lua.h's enqueue_at)
 * (COMMIT_JOB_ARGS). A job not leased costs no key or table more than
 * before leases existed.
 * -> {0, 0} conversation conflict, {0, 1} marker exists (nothing
 * written), or {1, conversation version ('' if not written), one
 * character per job: '1' if its id was on its queue already[, when any
 * job was leased: per job its fencing token, 0 if not leased]}. */
/* A job's keys and arguments in the commit: the enqueue script's, and a
 * leased job's queue's active set and token counter; the enqueue
 * script's arguments and the lease. */
#define COMMIT_JOB_KEYS (WB_REDIS_ENQUEUE_NKEYS + 2)
#define WB_REDIS_ENQUEUE_NKEYS_LUA "4"
#define COMMIT_JOB_ARGS (WB_REDIS_ENQUEUE_NARGS + 1)
#define COMMIT_JOB_ARGS_LUA "8"
_Static_assert(WB_REDIS_ENQUEUE_NKEYS == 4 && COMMIT_JOB_ARGS == 8,
               "the commit script counts a job's keys and arguments as text");

static wb_redis_script commit_script = WB_REDIS_SCRIPT(
    "turn commit",
    /* The scheduler's enqueue, on KEYS and ARGV from an offset. */
    SCHED_LUA_ENQUEUE_AT
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE STORAGE_LUA_WRITE_NX
    STORAGE_LUA_CURVER
    "nv_want = 3\n" /* the conversation, the marker, the dedup key */
    "if ARGV[1] == '1' and curver(KEYS[2]) ~= ARGV[2] then\n"
    "  return {0, 0}\n"
    "end\n"
    /* The marker must be absent: written by SET NX, the conversation's
     * write after it, so a present marker leaves nothing written. */
    "if not write_nx(KEYS[3], '1', ARGV[5]) then return {0, 1} end\n"
    "local cver = ''\n"
    "if ARGV[1] == '1' then\n"
    "  cver = write(KEYS[2], nil, ARGV[3], ARGV[4])\n"
    "end\n"
    "local existed, toks, kb = '', nil, 4\n"
    "for i = 0, tonumber(ARGV[9]) - 1 do\n"
    "  local ab = 9 + " COMMIT_JOB_ARGS_LUA " * i\n"
    "  local lease = ARGV[ab + " COMMIT_JOB_ARGS_LUA "]\n"
    "  local rc, tok\n"
    "  if lease == '0' then\n"
    "    rc = enqueue_at(kb, ab)\n"
    "    kb = kb + " WB_REDIS_ENQUEUE_NKEYS_LUA "\n"
    "  else\n"
    "    rc, tok = enqueue_at(kb, ab, lease, KEYS[kb + "
    WB_REDIS_ENQUEUE_NKEYS_LUA " + 1],\n"
    "                         KEYS[kb + " WB_REDIS_ENQUEUE_NKEYS_LUA " + 2])\n"
    "    kb = kb + " WB_REDIS_ENQUEUE_NKEYS_LUA " + 2\n"
    "    toks = toks or {}\n"
    "    toks[i + 1] = tok\n"
    "  end\n"
    "  existed = existed .. (rc == 3 and '1' or '0')\n"
    "end\n"
    "if ARGV[6] == '1' then write(KEYS[4], nil, ARGV[7], ARGV[8]) end\n"
    "if not toks then return {1, cver, existed} end\n"
    "for i = 1, tonumber(ARGV[9]) do toks[i] = toks[i] or 0 end\n"
    "return {1, cver, existed, toks}\n");

/* ------------------------------------------------------------------ */
/* Arguments                                                           */

static const char COUNTER_KEY[] = "\0version";

/* A storage key the scripts may be given (without the prefix). */
static int key_ok(const char *key)
{
    size_t len = key ? strlen(key) : 0;
    return len > 0 && len <= WB_STORAGE_KEY_MAX;
}

static void push_key(const char *key, const char **keys, size_t *lens,
                     size_t *n)
{
    keys[*n] = key;
    lens[(*n)++] = strlen(key);
}

static void fmt_ttl(char *buf, int64_t ttl_ms)
{
    wb_fmt_i64(buf, ttl_ms > MAX_TTL_MS ? MAX_TTL_MS : ttl_ms < 0 ? 0 : ttl_ms);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static const redisReply *elem(const redisReply *rep, size_t i)
{
    return rep->type == REDIS_REPLY_ARRAY && i < rep->elements
               ? rep->element[i]
               : NULL;
}

/* A string element as text: 1, or 0 if it is not one. */
static int elem_str(const redisReply *rep, size_t i, const char **s,
                    size_t *len)
{
    const redisReply *e = elem(rep, i);
    if (e == NULL || e->type != REDIS_REPLY_STRING)
        return 0;
    *s = e->str;
    *len = e->len;
    return 1;
}

/* A decimal element ("" = 0). */
static int elem_u64(const redisReply *rep, size_t i, uint64_t *v)
{
    const char *s;
    size_t len;
    if (!elem_str(rep, i, &s, &len) || len > 20)
        return 0;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    *v = len ? strtoull(buf, &end, 10) : 0;
    return len == 0 || *end == '\0';
}

static char *dup_elem(const redisReply *rep, size_t i, size_t *len)
{
    const char *s;
    size_t n;
    if (!elem_str(rep, i, &s, &n))
        return NULL;
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
        if (len)
            *len = n;
    }
    return d;
}

static int begin_reply(wabot_redis *r, const redisReply *rep,
                       wb_turn_begin_res *res)
{
    const char *tag;
    size_t tlen;
    if (!elem_str(rep, 0, &tag, &tlen) || tlen != 1)
        return wb_redis_fail(r, "turn begin: unexpected reply");
    if (*tag == 'B' || *tag == 'D') {
        res->claim = *tag == 'B' ? WB_CLAIM_BUSY : WB_CLAIM_EXISTS;
        return WABOT_OK;
    }
    if (!elem_u64(rep, 1, &res->claim_version))
        return wb_redis_fail(r, "turn begin: unexpected reply");
    uint64_t wait = 0;
    if (*tag == 'L') {
        if (!elem_u64(rep, 2, &wait))
            return wb_redis_fail(r, "turn begin: unexpected reply");
        res->limited = 1;
        res->retry_after_ms = (int64_t)wait;
        return WABOT_OK;
    }
    if (*tag == 'C') {
        res->committed = 1;
        return WABOT_OK;
    }
    const char *s;
    size_t len;
    if (*tag != 'K' || !elem_str(rep, 2, &s, &len) || len != 1 ||
        !elem_u64(rep, 5, &res->conv_version))
        return wb_redis_fail(r, "turn begin: unexpected reply");
    res->profile_done = *s == '1';
    if (res->profile_done) {
        if (!elem_str(rep, 3, &s, &len) ||
            (len > 0 && (res->name = dup_elem(rep, 3, NULL)) == NULL))
            return WABOT_ERR_NOMEM;
        res->opted_out = elem_str(rep, 4, &s, &len) && len == 1 && *s == '1';
    }
    res->conv_found = res->conv_version != 0;
    if (res->conv_found &&
        (res->conv = dup_elem(rep, 6, &res->conv_len)) == NULL)
        return WABOT_ERR_NOMEM;
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* The capability                                                      */

static int turn_usable(const wabot_storage *s, const wabot_scheduler *sched,
                       const wabot_limiter *limiter)
{
    wabot_redis *r = wb_redis_storage_handle(s);
    return r != NULL && sched != NULL &&
           wb_redis_scheduler_handle(sched) == r &&
           (limiter == NULL || wb_redis_limiter_handle(limiter) == r);
}

static int turn_begin(wabot_storage *s, const wb_turn_begin_req *req,
                      wb_turn_begin_res *res)
{
    memset(res, 0, sizeof *res);
    wabot_redis *r = wb_redis_storage_handle(s);
    enum { NKEYS = 6, NARGS = 10 };
    const char *claim = req->claim_key ? req->claim_key : req->marker_key;
    if (!key_ok(req->marker_key) || !key_ok(claim) ||
        !key_ok(req->profile_key) || !key_ok(req->conv_key))
        return WABOT_ERR_INVAL;
    char gkey[sizeof WB_GCRA_KEY_NS + WB_STORAGE_KEY_MAX];
    if (req->limit != NULL) {
        int w = snprintf(gkey, sizeof gkey, WB_GCRA_KEY_NS "%s",
                         req->limit->key);
        if (w < 0 || (size_t)w >= sizeof gkey)
            return WABOT_ERR_INVAL;
    }
    const char *keys[NKEYS];
    size_t lens[NKEYS], n = 0;
    keys[n] = COUNTER_KEY;
    lens[n++] = sizeof COUNTER_KEY - 1;
    push_key(claim, keys, lens, &n);
    push_key(req->limit != NULL ? gkey : req->marker_key, keys, lens, &n);
    push_key(req->marker_key, keys, lens, &n);
    push_key(req->profile_key, keys, lens, &n);
    push_key(req->conv_key, keys, lens, &n);

    char lease[24], touch[24];
    fmt_ttl(lease, req->lease_ms);
    wb_fmt_i64(touch, req->touch_ms);
    wb_gcra_nums g = {"0", "1", "0"};
    if (req->limit != NULL)
        wb_gcra_nums_of(req->limit, req->now_ms, &g);
    const char *args[NARGS] = {
        req->claim_key ? "1" : "0", req->claim_value ? req->claim_value : "",
        lease, req->limit ? "1" : "0", g.now, g.t, g.tau,
        req->profile_name ? "1" : "0",
        req->profile_name ? req->profile_name : "", touch};
    redisReply *rep = NULL;
    int rc = wb_redis_evaln(r, &begin_script, n, keys, lens, NARGS, args,
                            NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    rc = begin_reply(r, rep, res);
    wb_redis_reply_free(rep);
    if (rc != WABOT_OK)
        wb_turn_begin_clear(res);
    return rc;
}

/* The commit's argument vectors (heap: up to MAX_JOBS jobs). */
typedef struct commit_args {
    const char **keys;
    size_t *klens;
    const char **args;
    size_t *alens;
    wb_redis_enqueue_args *jobs;
    char (*leases)[24];
    size_t nk, na;
} commit_args;

static void commit_args_free(commit_args *c)
{
    free(c->keys);
    free(c->klens);
    free(c->args);
    free(c->alens);
    free(c->jobs);
    free(c->leases);
}

static void push_arg(commit_args *c, const char *s, size_t len)
{
    c->args[c->na] = s;
    c->alens[c->na++] = len;
}

static int turn_commit(wabot_storage *s, const wb_turn_commit_req *req,
                       wb_turn_commit_res *res)
{
    memset(res, 0, sizeof *res);
    wabot_redis *r = wb_redis_storage_handle(s);
    if (req->n_jobs > WB_TURN_MAX_JOBS)
        return WABOT_ERR_TOO_LARGE;
    const char *conv = req->conv_key ? req->conv_key : req->marker_key;
    const char *done = req->done_key ? req->done_key : req->marker_key;
    if (!key_ok(req->marker_key) || !key_ok(conv) || !key_ok(done))
        return WABOT_ERR_INVAL;
    size_t nj = req->n_jobs;
    commit_args c = {0};
    size_t maxk = 4 + COMMIT_JOB_KEYS * nj, maxa = 9 + COMMIT_JOB_ARGS * nj;
    c.keys = malloc(maxk * sizeof *c.keys);
    c.klens = malloc(maxk * sizeof *c.klens);
    c.args = malloc(maxa * sizeof *c.args);
    c.alens = malloc(maxa * sizeof *c.alens);
    c.jobs = malloc((nj ? nj : 1) * sizeof *c.jobs);
    c.leases = malloc((nj ? nj : 1) * sizeof *c.leases);
    if (!c.keys || !c.klens || !c.args || !c.alens || !c.jobs || !c.leases) {
        commit_args_free(&c);
        return WABOT_ERR_NOMEM;
    }
    c.keys[0] = COUNTER_KEY;
    c.klens[0] = sizeof COUNTER_KEY - 1;
    c.nk = 1;
    push_key(conv, c.keys, c.klens, &c.nk);
    push_key(req->marker_key, c.keys, c.klens, &c.nk);
    push_key(done, c.keys, c.klens, &c.nk);
    char expect[24], conv_ttl[24], marker_ttl[24], done_ttl[24], count[24];
    wb_fmt_u64(expect, req->conv_expect);
    fmt_ttl(conv_ttl, req->conv_ttl_ms);
    fmt_ttl(marker_ttl, req->marker_ttl_ms);
    fmt_ttl(done_ttl, req->done_ttl_ms);
    wb_fmt_u64(count, nj);
    push_arg(&c, req->conv_key ? "1" : "0", 1);
    push_arg(&c, expect, strlen(expect));
    push_arg(&c, req->conv_key ? req->conv_val : "",
             req->conv_key ? req->conv_len : 0);
    push_arg(&c, conv_ttl, strlen(conv_ttl));
    push_arg(&c, marker_ttl, strlen(marker_ttl));
    push_arg(&c, req->done_key ? "1" : "0", 1);
    const char *dv = req->done_key && req->done_value ? req->done_value : "";
    push_arg(&c, dv, strlen(dv));
    push_arg(&c, done_ttl, strlen(done_ttl));
    push_arg(&c, count, strlen(count));
    for (size_t i = 0; i < nj; i++) {
        wb_redis_enqueue_args *a = &c.jobs[i];
        wb_redis_enqueue_args_init(a, req->queues[i], &req->jobs[i],
                                   req->now_ms);
        for (size_t k = 0; k < WB_REDIS_ENQUEUE_NKEYS; k++) {
            c.keys[c.nk] = a->keys[k];
            c.klens[c.nk++] = strlen(a->keys[k]);
        }
        int64_t lease = req->lease_until ? req->lease_until[i] : 0;
        if (lease > 0) {
            push_key(a->k.active, c.keys, c.klens, &c.nk);
            push_key(a->k.token, c.keys, c.klens, &c.nk);
        }
        for (size_t k = 0; k < WB_REDIS_ENQUEUE_NARGS; k++)
            push_arg(&c, a->args[k], a->lens[k]);
        wb_fmt_i64(c.leases[i], lease > 0 ? lease : 0);
        push_arg(&c, c.leases[i], strlen(c.leases[i]));
    }
    redisReply *rep = NULL;
    int rc = wb_redis_evaln(r, &commit_script, c.nk, c.keys, c.klens, c.na,
                            c.args, c.alens, &rep);
    commit_args_free(&c);
    if (rc != WABOT_OK)
        return rc;
    const redisReply *ok = elem(rep, 0), *second = elem(rep, 1), *toks;
    const char *ex;
    size_t exlen;
    if (ok == NULL || ok->type != REDIS_REPLY_INTEGER || second == NULL) {
        rc = wb_redis_fail(r, "turn commit: unexpected reply");
    } else if (ok->integer == 0) {
        res->failed = second->type == REDIS_REPLY_INTEGER
                          ? (int)second->integer
                          : 0;
        rc = WABOT_ERR_CONFLICT;
    } else if (!elem_u64(rep, 1, &res->conv_version) ||
               !elem_str(rep, 2, &ex, &exlen) || exlen != nj ||
               ((toks = elem(rep, 3)) != NULL &&
                (toks->type != REDIS_REPLY_ARRAY || toks->elements != nj))) {
        rc = wb_redis_fail(r, "turn commit: unexpected reply");
    } else {
        for (size_t i = 0; i < nj && i < WB_TURN_MAX_JOBS; i++) {
            const redisReply *t = toks ? toks->element[i] : NULL;
            res->existed[i] = ex[i] == '1';
            res->token[i] = t && t->type == REDIS_REPLY_INTEGER &&
                                    t->integer > 0
                                ? (uint64_t)t->integer
                                : 0;
        }
    }
    wb_redis_reply_free(rep);
    return rc;
}

const wb_turn_path wb_redis_turn_path = {turn_usable, turn_begin,
                                         turn_commit};
