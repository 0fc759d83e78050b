/* The Redis job backend: the memory scheduler's semantics, each operation
 * one Lua script (lib/redis/scheduler_lua.h) run through the shared
 * connection pool (lib/redis/pool.c), so it is thread-safe and several
 * processes can share a queue.
 *
 * This file only marshals: it names the queue's keys, turns the
 * arguments into exact decimal strings (times are int64 milliseconds, and
 * Lua numbers are doubles, so exactness is kept on the C side and in the
 * scripts' string comparisons), runs the script and reads its reply back
 * into a wabot_job_record. Key layout and script list: doc/redis.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "redis.h"
#include "strbuf.h"
#include "scheduler_args.h"
#include "scheduler_lua.h"

static wb_redis_script enqueue_script =
    WB_REDIS_SCRIPT("scheduler.enqueue", SCHED_LUA_ENQUEUE);
/* enqueue for each job in turn: KEYS and ARGV are each job's four keys
 * and seven arguments one after the other. Reply: each job's code. */
static wb_redis_script enqueue_many_script = WB_REDIS_SCRIPT(
    "scheduler.enqueue_many",
    SCHED_LUA_ENQUEUE_AT
    "local out = {}\n"
    "for i = 0, #KEYS / 4 - 1 do\n"
    "  out[i + 1] = enqueue_at(4 * i, " WB_REDIS_ENQUEUE_NARGS_LUA " * i)\n"
    "end\n"
    "return out\n");
static wb_redis_script reserve_script =
    WB_REDIS_SCRIPT("scheduler.reserve", SCHED_LUA_RESERVE);
static wb_redis_script extend_script =
    WB_REDIS_SCRIPT("scheduler.extend", SCHED_LUA_EXTEND);
static wb_redis_script complete_script =
    WB_REDIS_SCRIPT("scheduler.complete", SCHED_LUA_COMPLETE);
static wb_redis_script fail_script =
    WB_REDIS_SCRIPT("scheduler.fail", SCHED_LUA_FAIL);
static wb_redis_script release_script =
    WB_REDIS_SCRIPT("scheduler.release", SCHED_LUA_RELEASE);
static wb_redis_script cancel_script =
    WB_REDIS_SCRIPT("scheduler.cancel", SCHED_LUA_CANCEL);
static wb_redis_script get_script =
    WB_REDIS_SCRIPT("scheduler.get", SCHED_LUA_GET);
static wb_redis_script counts_script =
    WB_REDIS_SCRIPT("scheduler.counts", SCHED_LUA_COUNTS);
static wb_redis_script recover_script =
    WB_REDIS_SCRIPT("scheduler.recover", SCHED_LUA_RECOVER);
static wb_redis_script next_due_script =
    WB_REDIS_SCRIPT("scheduler.next_due", SCHED_LUA_NEXT_DUE);
static wb_redis_script trim_script =
    WB_REDIS_SCRIPT("scheduler.trim", SCHED_LUA_TRIM);

/* Failed jobs for the admin API (wb_sched_failed).
 * each_failed: KEYS failed; ARGV prefix base start stop -> {total,
 * {id, FIELDS...}...}, newest first (jobs whose hash is gone skipped).
 * retry_failed: KEYS job ready delayed failed; ARGV prefix base id now
 * now_hex -> code: the job leaves the failed set (its member found among
 * those scored at its finish time) and waits, attempts and stalls 0. */
static wb_redis_script each_failed_script = WB_REDIS_SCRIPT(
    "scheduler.each_failed",
    SCHED_LUA_PRELUDE
    "local out = {redis.call('ZCARD', KEYS[1])}\n"
    "for _, m in ipairs(redis.call('ZREVRANGE', KEYS[1], ARGV[3], "
    "ARGV[4])) do\n"
    "  local id = string.sub(m, 17)\n"
    "  local rec = record(jobkey(id))\n"
    "  if rec[2] then\n"
    "    table.insert(rec, 1, id)\n"
    "    out[#out + 1] = rec\n"
    "  end\n"
    "end\n"
    "return out\n");
static wb_redis_script retry_failed_script = WB_REDIS_SCRIPT(
    "scheduler.retry_failed",
    SCHED_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'finished')\n"
    "if not f[1] then return 1 end\n"
    "if f[1] ~= '4' then return 4 end\n"
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], f[2], f[2])) "
    "do\n"
    "  if string.sub(m, 17) == ARGV[3] then redis.call('ZREM', KEYS[4], m) "
    "end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'attempts', '0', 'stalls', '0', "
    "'finished', '0')\n"
    "requeue(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[4], ARGV[5], '0')\n"
    "return 0\n");

/* Batches: one script (one round trip, one atomic step) does the work
 * of several single-job scripts, with the same outcome as running them
 * one after the other, but with one command where those repeat one per
 * job (doc/redis.md, "Batches on the worker side").
 *
 * poll: recover, reserve up to max jobs, then next_due of what is left:
 * KEYS ready delayed active token failed seq; ARGV prefix base now
 * lease_until max_stalls max (may be 0) -> {recovered, due, job...}, each
 * job as reserve returns it, due as next_due answers. The worker runs one
 * per queue, pipelined (wb_sched_batch.poll_many): every queue in one
 * round trip, each script still on one queue's slot.
 *
 * The reserves are batched: the due delayed jobs are promoted once (no
 * time passes inside a script, so every later reserve would find none),
 * the best `max` jobs leave the ready set with one ZPOPMIN, their fencing
 * tokens come from one INCRBY (the values n INCRs would give, in the same
 * order) and they enter the active set with one ZADD; per job, one HMGET
 * and one HSET remain. When fewer than `max` were ready the ready set is
 * empty, so next_due needs no ZCARD. */
static wb_redis_script poll_script = WB_REDIS_SCRIPT(
    "scheduler.poll",
    SCHED_LUA_PRELUDE
    /* the two scripts' bodies on the prelude above (its jobkey() reads
     * ARGV[1] and ARGV[2], which each is given as they are here) */
    "local function recover(KEYS, ARGV)\n" SCHED_LUA_RECOVER_BODY "\nend\n"
    "local function next_due(KEYS, ARGV)\n" SCHED_LUA_NEXT_DUE_BODY
    "\nend\n"
    "local ready, delayed, active = KEYS[1], KEYS[2], KEYS[3]\n"
    "local now, lease = ARGV[3], ARGV[4]\n"
    "local out = {recover({active, ready, KEYS[5], KEYS[6]},\n"
    "                     {ARGV[1], ARGV[2], now, ARGV[5]}), false}\n"
    "local max, emptied = tonumber(ARGV[6]), false\n"
    "if max > 0 then\n"
    "  for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', "
    "now)) do\n"
    "    local jk = jobkey(id)\n"
    "    local f = redis.call('HMGET', jk, 'run_at', 'rank')\n"
    "    if le(f[1], now) then\n"
    "      redis.call('ZREM', delayed, id)\n"
    "      redis.call('ZADD', ready, '0', f[2])\n"
    "      redis.call('HSET', jk, 'state', '0')\n"
    "    end\n"
    "  end\n"
    "  local top = redis.call('ZPOPMIN', ready, ARGV[6])\n"
    "  local n = #top / 2\n"
    "  emptied = n < max\n"
    "  if n > 0 then\n"
    "    local tok = redis.call('INCRBY', KEYS[4], int(n)) - n\n"
    "    local z = {}\n"
    "    for i = 1, n do\n"
    "      local id = string.sub(top[2 * i - 1], 41)\n"
    "      local jk = jobkey(id)\n"
    "      local rec = record(jk)\n"
    "      local t, att = int(tok + i), int(tonumber(rec[3]) + 1)\n"
    "      redis.call('HSET', jk, 'state', '2', 'attempts', att,\n"
    "                 'token', t, 'lease_until', lease)\n"
    "      rec[2], rec[3], rec[5], rec[7] = '2', att, t, lease\n"
    "      table.insert(rec, 1, id)\n"
    "      out[#out + 1] = rec\n"
    "      z[2 * i - 1], z[2 * i] = lease, id\n"
    "    end\n"
    "    redis.call('ZADD', active, unpack(z))\n"
    "  end\n"
    "end\n"
    "if emptied then\n"
    "  out[2] = {false, false}\n"
    "  local d = redis.call('ZRANGE', delayed, '0', '0')\n"
    "  if d[1] then out[2][1] = redis.call('HGET', jobkey(d[1]), 'run_at') "
    "end\n"
    "  local a = redis.call('ZRANGE', active, '0', '0')\n"
    "  if a[1] then\n"
    "    out[2][2] = redis.call('HGET', jobkey(a[1]), 'lease_until')\n"
    "  end\n"
    "else\n"
    "  out[2] = next_due({ready, delayed, active}, {ARGV[1], ARGV[2]})\n"
    "end\n"
    "return out\n");

/* complete_many: KEYS active completed seq, then each job's key; ARGV
 * prefix base now, then id and token per job -> one code per job, as
 * complete would answer them one after the other (a job named twice is
 * completed once; the second finds it completed: conflict). The jobs
 * that pass the token check leave the active set with one ZREM, take
 * their finish sequences from one INCRBY and enter the completed set
 * with one ZADD; per job, one HMGET (the check) and one HSET remain. */
static wb_redis_script complete_many_script = WB_REDIS_SCRIPT(
    "scheduler.complete_many",
    SCHED_LUA_PRELUDE
    "local now, out, ids, keys, seen = ARGV[3], {}, {}, {}, {}\n"
    "for i = 1, #KEYS - 3 do\n"
    "  local jk, id = KEYS[3 + i], ARGV[2 + 2 * i]\n"
    "  local rc = 2\n"
    "  if not seen[jk] then rc = leased(jk, ARGV[3 + 2 * i]) end\n"
    "  out[i] = rc\n"
    "  if rc == 0 then\n"
    "    seen[jk] = true\n"
    "    ids[#ids + 1], keys[#keys + 1] = id, jk\n"
    "  end\n"
    "end\n"
    "local n = #ids\n"
    "if n > 0 then\n"
    "  redis.call('ZREM', KEYS[1], unpack(ids))\n"
    "  local f = redis.call('INCRBY', KEYS[3], int(n)) - n\n"
    "  local z = {}\n"
    "  for i = 1, n do\n"
    "    z[2 * i - 1] = now\n"
    "    z[2 * i] = string.format('%016x', f + i) .. ids[i]\n"
    "    redis.call('HSET', keys[i], 'state', '3', 'finished', now,\n"
    "               'lease_until', '0')\n"
    "  end\n"
    "  redis.call('ZADD', KEYS[2], unpack(z))\n"
    "end\n"
    "return out\n");

/* The backend keeps nothing but the connection handle: all state is in
 * Redis, so any number of backends (in any number of processes) on one
 * prefix see the same queues. */
typedef struct rsched {
    wabot_redis *r; /* borrowed */
} rsched;

/* ------------------------------------------------------------------ */
/* Keys and arguments                                                  */

/* Without printf: nine snprintf calls here were ~9k instructions of
 * every job's enqueue (doc/performance.md, ninth session). The names fit:
 * queue names and job ids are checked against WB_QUEUE_NAME_MAX and
 * WB_JOB_ID_MAX (wb_queue_name_ok, wb_job_id_ok) before any backend sees
 * them, and the buffers are sized for those. */
static void qkeys_init(qkeys *k, const char *queue, const char *id)
{
    WB_JOIN(k->base, sizeof k->base, "{", queue, "}:");
    WB_JOIN(k->ready, sizeof k->ready, k->base, "ready");
    WB_JOIN(k->delayed, sizeof k->delayed, k->base, "delayed");
    WB_JOIN(k->active, sizeof k->active, k->base, "active");
    WB_JOIN(k->completed, sizeof k->completed, k->base, "completed");
    WB_JOIN(k->failed, sizeof k->failed, k->base, "failed");
    WB_JOIN(k->seq, sizeof k->seq, k->base, "seq");
    WB_JOIN(k->token, sizeof k->token, k->base, "token");
    WB_JOIN(k->job, sizeof k->job, k->base, "job:", id ? id : "");
}

static void fmt_i64(char buf[NUM_MAX], int64_t v)
{
    wb_fmt_i64(buf, v);
}

static void fmt_u64(char buf[NUM_MAX], uint64_t v)
{
    wb_fmt_u64(buf, v);
}

/* A run time as 16 hex digits that sort like the signed value: the
 * ready set's members are ordered by their bytes (scheduler_lua.h). */
static void fmt_run_hex(char *buf, int64_t run_at_ms)
{
    uint64_t biased = (uint64_t)run_at_ms ^ UINT64_C(0x8000000000000000);
    wb_fmt_hex64(buf, biased);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Waiting if due at now_ms, else delayed: the memory backend's rule,
 * decided here on exact integers. Script state codes. */
static const char *state_for_run_at(int64_t run_at_ms, int64_t now_ms)
{
    return run_at_ms <= now_ms ? "0" : "1";
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

/* Script return codes (integer replies) to statuses. */
static int code_status(rsched *s, const redisReply *rep)
{
    long long code;
    if (!wb_redis_reply_int(rep, &code))
        return wb_redis_fail(s->r, "scheduler: unexpected script reply");
    switch (code) {
    case SCHED_LUA_OK: return WABOT_OK;
    case SCHED_LUA_NOT_FOUND: return WABOT_ERR_NOT_FOUND;
    case SCHED_LUA_CONFLICT: return WABOT_ERR_CONFLICT;
    case SCHED_LUA_EXISTS: return WABOT_ERR_EXISTS;
    case SCHED_LUA_STATE: return WABOT_ERR_STATE;
    default: return wb_redis_fail(s->r, "scheduler: unknown script code");
    }
}

/* Run a script and map an integer reply to a status. */
static int eval_code(rsched *s, wb_redis_script *sc, size_t nkeys,
                     const char **keys, size_t nargs, const char **args,
                     const size_t *lens)
{
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, sc, nkeys, keys, nargs, args, lens, &rep);
    if (rc != WABOT_OK)
        return rc;
    rc = code_status(s, rep);
    wb_redis_reply_free(rep);
    return rc;
}

/* An integer reply that is a count (recover, trim). */
static int eval_count(rsched *s, wb_redis_script *sc, size_t nkeys,
                      const char **keys, size_t nargs, const char **args,
                      long long *count)
{
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, sc, nkeys, keys, nargs, args, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    if (!wb_redis_reply_int(rep, count) || *count < 0)
        rc = wb_redis_fail(s->r, "scheduler: unexpected count reply");
    wb_redis_reply_free(rep);
    return rc;
}

/* The job fields in the order of FIELDS in scheduler_lua.h. */
enum {
    F_PAYLOAD,
    F_STATE,
    F_ATTEMPTS,
    F_STALLS,
    F_TOKEN,
    F_RUN_AT,
    F_LEASE_UNTIL,
    F_FINISHED,
    F_PRIORITY,
    F_LAST_ERROR,
    F_FIXED,
    F_COUNT
};

static int is_str(const redisReply *e)
{
    return e != NULL && (e->type == REDIS_REPLY_STRING ||
                         e->type == REDIS_REPLY_STATUS);
}

/* A whole decimal integer, as the scripts store them: exactly the len
 * bytes at s. */
static int dec_i64(const char *s, size_t len, int64_t *out)
{
    char buf[NUM_MAX];
    if (len == 0 || len >= NUM_MAX)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (end != buf + len)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int dec_i32(const char *s, size_t len, int32_t *out)
{
    int64_t v;
    if (!dec_i64(s, len, &v) || v < INT32_MIN || v > INT32_MAX)
        return 0;
    *out = (int32_t)v;
    return 1;
}

static int reply_i64(const redisReply *e, int64_t *out)
{
    return is_str(e) && dec_i64(e->str, e->len, out);
}

static int reply_u64(const redisReply *e, uint64_t *out)
{
    if (!is_str(e) || e->len == 0 || e->len >= NUM_MAX || e->str[0] == '-')
        return 0;
    char *end;
    unsigned long long v = strtoull(e->str, &end, 10);
    if (end != e->str + e->len)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int reply_i32(const redisReply *e, int32_t *out)
{
    return is_str(e) && dec_i32(e->str, e->len, out);
}

/* A field enqueue leaves absent until it is first written: absent is 0. */
static int is_absent(const redisReply *e)
{
    return e == NULL || e->type == REDIS_REPLY_NIL;
}

static int reply_i32_or0(const redisReply *e, int32_t *out)
{
    *out = 0;
    return is_absent(e) || reply_i32(e, out);
}

static int reply_i64_or0(const redisReply *e, int64_t *out)
{
    *out = 0;
    return is_absent(e) || reply_i64(e, out);
}

static int reply_u64_or0(const redisReply *e, uint64_t *out)
{
    *out = 0;
    return is_absent(e) || reply_u64(e, out);
}

/* The length of the number of the packed `fixed` field at *p (up to a
 * space or the end); *next gets where the one after it starts. */
static size_t fixed_len(const char *p, const char *end, const char **next)
{
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    *next = sp != NULL ? sp + 1 : end;
    return (size_t)((sp != NULL ? sp : end) - p);
}

static int fixed_i64(const char **p, const char *end, int64_t *out)
{
    const char *next;
    size_t len = fixed_len(*p, end, &next);
    if (!dec_i64(*p, len, out))
        return 0;
    *p = next;
    return 1;
}

static int fixed_i32(const char **p, const char *end, int32_t *out)
{
    const char *next;
    size_t len = fixed_len(*p, end, &next);
    if (!dec_i32(*p, len, out))
        return 0;
    *p = next;
    return 1;
}

/* The `fixed` field: "max_attempts backoff backoff_ms backoff_max_ms
 * jitter created" (scheduler_lua.h). 0 unless exactly those six. */
static int parse_fixed(const redisReply *e, wabot_job_record *rec)
{
    if (!is_str(e))
        return 0;
    const char *p = e->str, *end = e->str + e->len;
    return fixed_i32(&p, end, &rec->max_attempts) &&
           fixed_i32(&p, end, &rec->backoff) &&
           fixed_i64(&p, end, &rec->backoff_ms) &&
           fixed_i64(&p, end, &rec->backoff_max_ms) &&
           fixed_i32(&p, end, &rec->jitter_pct) &&
           fixed_i64(&p, end, &rec->created_ms) && p == end &&
           e->str[e->len - 1] != ' ';
}

/* The numeric fields of a stored job into rec. 0 if any is malformed. */
static int parse_numbers(redisReply *const *f, wabot_job_record *rec)
{
    return reply_i32(f[F_STATE], &rec->state) &&
           reply_i32(f[F_ATTEMPTS], &rec->attempts) &&
           reply_i32_or0(f[F_STALLS], &rec->stalls) &&
           reply_u64_or0(f[F_TOKEN], &rec->token) &&
           reply_i64(f[F_RUN_AT], &rec->run_at_ms) &&
           reply_i64_or0(f[F_LEASE_UNTIL], &rec->lease_until_ms) &&
           reply_i64_or0(f[F_FINISHED], &rec->finished_ms) &&
           reply_i32(f[F_PRIORITY], &rec->priority) &&
           parse_fixed(f[F_FIXED], rec);
}

/* Fill `out` from the job's fields (f[0..F_COUNT-1]); the reply's strings
 * are copied by wabot_job_info_set, so the reply can go right after. */
static int fill_info(rsched *s, const char *id, redisReply *const *f,
                     wabot_job_info *out)
{
    wabot_job_record rec;
    memset(&rec, 0, sizeof rec);
    rec.version = WABOT_JOB_RECORD_VERSION;
    rec.id = id;
    if (!is_str(f[F_PAYLOAD]) || !parse_numbers(f, &rec))
        return wb_redis_fail(s->r, "scheduler: malformed job hash");
    rec.payload = f[F_PAYLOAD]->str;
    rec.payload_len = f[F_PAYLOAD]->len;
    rec.last_error = is_str(f[F_LAST_ERROR]) ? f[F_LAST_ERROR]->str : NULL;
    return wabot_job_info_set(out, &rec);
}

/* A record reply ({[id,] FIELDS...}) or a code. */
static int read_record(rsched *s, const redisReply *rep, const char *id,
                       wabot_job_info *out)
{
    if (rep->type == REDIS_REPLY_INTEGER)
        return code_status(s, rep);
    size_t skip = id == NULL ? 1 : 0; /* reserve puts the id first */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != F_COUNT + skip)
        return wb_redis_fail(s->r, "scheduler: unexpected record reply");
    if (id == NULL) {
        if (!is_str(rep->element[0]))
            return wb_redis_fail(s->r, "scheduler: reply without an id");
        id = rep->element[0]->str;
    }
    return fill_info(s, id, rep->element + skip, out);
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

void wb_redis_enqueue_args_init(wb_redis_enqueue_args *a, const char *queue,
                                const wabot_job_record *job, int64_t now_ms)
{
    qkeys_init(&a->k, queue, job->id);
    fmt_i64(a->run_at, job->run_at_ms);
    fmt_run_hex(a->run_hex, job->run_at_ms);
    fmt_i64(a->priority, job->priority);
    const int64_t fixed[] = {job->max_attempts, job->backoff,
                             job->backoff_ms, job->backoff_max_ms,
                             job->jitter_pct,
                             job->created_ms != 0 ? job->created_ms : now_ms};
    char *f = a->fixed; /* 6 numbers of <= 20 bytes and spaces: fits */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (i > 0)
            *f++ = ' ';
        f += wb_fmt_i64(f, fixed[i]);
    }
    const char *args[] = {job->id, job->payload,
                          state_for_run_at(job->run_at_ms, now_ms),
                          a->run_at, a->run_hex, a->priority, a->fixed};
    _Static_assert(sizeof args / sizeof args[0] == WB_REDIS_ENQUEUE_NARGS,
                   "the enqueue script's arguments");
    memcpy(a->args, args, sizeof args);
    for (size_t i = 0; i < WB_REDIS_ENQUEUE_NARGS; i++) /* the payload: bytes */
        a->lens[i] = i == 1 ? job->payload_len : strlen(a->args[i]);
    a->keys[0] = a->k.job;
    a->keys[1] = a->k.ready;
    a->keys[2] = a->k.delayed;
    a->keys[3] = a->k.seq;
}

static int rs_enqueue(void *impl, const char *queue,
                      const wabot_job_record *job, int64_t now_ms)
{
    rsched *s = impl;
    wb_redis_enqueue_args a;
    wb_redis_enqueue_args_init(&a, queue, job, now_ms);
    return eval_code(s, &enqueue_script, WB_REDIS_ENQUEUE_NKEYS, a.keys,
                     WB_REDIS_ENQUEUE_NARGS, a.args, a.lens);
}

static int rs_reserve(void *impl, const char *queue, int64_t now_ms,
                      int64_t lease_ms, wabot_job_info *out)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, NULL);
    char now[NUM_MAX], until[NUM_MAX];
    fmt_i64(now, now_ms);
    fmt_i64(until, add_sat(now_ms, lease_ms));
    const char *keys[] = {k.ready, k.delayed, k.active, k.token};
    const char *args[] = {wb_redis_prefix(s->r), k.base, now, until};
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, &reserve_script, 4, keys, 4, args, NULL,
                           &rep);
    if (rc != WABOT_OK)
        return rc;
    rc = read_record(s, rep, NULL, out);
    wb_redis_reply_free(rep);
    return rc;
}

static int rs_extend(void *impl, const char *queue, const char *id,
                     uint64_t token, int64_t until_ms)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    char tok[NUM_MAX], until[NUM_MAX];
    fmt_u64(tok, token);
    fmt_i64(until, until_ms);
    const char *keys[] = {k.job, k.active};
    const char *args[] = {wb_redis_prefix(s->r), k.base, id, tok, until};
    return eval_code(s, &extend_script, 2, keys, 5, args, NULL);
}

static int rs_complete(void *impl, const char *queue, const char *id,
                       uint64_t token, int64_t now_ms)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    char tok[NUM_MAX], now[NUM_MAX];
    fmt_u64(tok, token);
    fmt_i64(now, now_ms);
    const char *keys[] = {k.job, k.active, k.completed, k.seq};
    const char *args[] = {wb_redis_prefix(s->r), k.base, id, tok, now};
    return eval_code(s, &complete_script, 4, keys, 5, args, NULL);
}

static int rs_fail(void *impl, const char *queue, const char *id,
                   uint64_t token, int64_t now_ms, const char *reason,
                   int64_t retry_at_ms)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    char tok[NUM_MAX], now[NUM_MAX], retry_at[NUM_MAX], retry_hex[NUM_MAX];
    fmt_u64(tok, token);
    fmt_i64(now, now_ms);
    fmt_i64(retry_at, retry_at_ms);
    fmt_run_hex(retry_hex, retry_at_ms);
    const char *to = retry_at_ms < 0 ? "4"
                                     : state_for_run_at(retry_at_ms, now_ms);
    const char *keys[] = {k.job, k.active, k.ready, k.delayed, k.failed,
                          k.seq};
    const char *args[] = {wb_redis_prefix(s->r), k.base, id, tok, now, to,
                          retry_at, retry_hex, reason ? "1" : "0",
                          reason ? reason : ""};
    return eval_code(s, &fail_script, 6, keys, 10, args, NULL);
}

static int rs_release(void *impl, const char *queue, const char *id,
                      uint64_t token, int64_t now_ms, int64_t run_at_ms)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    char tok[NUM_MAX], run_at[NUM_MAX], run_hex[NUM_MAX];
    fmt_u64(tok, token);
    fmt_i64(run_at, run_at_ms);
    fmt_run_hex(run_hex, run_at_ms);
    const char *keys[] = {k.job, k.active, k.ready, k.delayed};
    const char *args[] = {wb_redis_prefix(s->r), k.base, id, tok,
                          state_for_run_at(run_at_ms, now_ms), run_at,
                          run_hex};
    return eval_code(s, &release_script, 4, keys, 7, args, NULL);
}

static int rs_cancel(void *impl, const char *queue, const char *id)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    const char *keys[] = {k.job, k.ready, k.delayed};
    const char *args[] = {wb_redis_prefix(s->r), k.base, id};
    return eval_code(s, &cancel_script, 3, keys, 3, args, NULL);
}

static int rs_get(void *impl, const char *queue, const char *id,
                  wabot_job_info *out)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    const char *keys[] = {k.job};
    const char *args[] = {wb_redis_prefix(s->r), k.base};
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, &get_script, 1, keys, 2, args, NULL, &rep);
    if (rc != WABOT_OK)
        return rc;
    rc = read_record(s, rep, id, out);
    wb_redis_reply_free(rep);
    return rc;
}

static int rs_counts(void *impl, const char *queue, int64_t *counts,
                     size_t n)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, NULL);
    /* In wabot_job_state order. */
    const char *keys[] = {k.ready, k.delayed, k.active, k.completed,
                          k.failed};
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, &counts_script, 5, keys, 0, NULL, NULL,
                           &rep);
    if (rc != WABOT_OK)
        return rc;
    int64_t c[WABOT_JOB_STATE_COUNT];
    if (rep->type != REDIS_REPLY_ARRAY ||
        rep->elements != WABOT_JOB_STATE_COUNT)
        rc = wb_redis_fail(s->r, "scheduler: unexpected counts reply");
    for (size_t i = 0; rc == WABOT_OK && i < WABOT_JOB_STATE_COUNT; i++) {
        long long v = 0;
        if (!wb_redis_reply_int(rep->element[i], &v))
            rc = wb_redis_fail(s->r, "scheduler: unexpected counts reply");
        c[i] = v;
    }
    wb_redis_reply_free(rep);
    /* Written only on success; states beyond ours stay as the wrapper
     * zeroed them. */
    for (size_t i = 0; rc == WABOT_OK && i < n && i < WABOT_JOB_STATE_COUNT;
         i++)
        counts[i] = c[i];
    return rc;
}

static int rs_recover(void *impl, const char *queue, int64_t now_ms,
                      int32_t max_stalls, int32_t *recovered)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, NULL);
    char now[NUM_MAX], max[NUM_MAX];
    fmt_i64(now, now_ms);
    fmt_i64(max, max_stalls);
    const char *keys[] = {k.active, k.ready, k.failed, k.seq};
    const char *args[] = {wb_redis_prefix(s->r), k.base, now, max};
    long long moved = 0;
    int rc = eval_count(s, &recover_script, 4, keys, 4, args, &moved);
    /* The script is atomic: on an error nothing moved. */
    *recovered = rc == WABOT_OK ? (int32_t)(moved > INT32_MAX ? INT32_MAX
                                                              : moved)
                                : 0;
    return rc;
}

/* next_due's answer (a code or {run_at, lease_until}) into *due_ms;
 * WABOT_ERR_NOT_FOUND when the queue has nothing, WABOT_ERR_STORAGE on a
 * reply of another shape. */
static int due_of(const redisReply *rep, int64_t now_ms, int64_t *due_ms)
{
    long long code;
    int64_t d = 0, a = 0;
    if (wb_redis_reply_int(rep, &code) && code == SCHED_LUA_WAITING) {
        *due_ms = now_ms;
        return WABOT_OK;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
        return WABOT_ERR_STORAGE;
    int has_d = reply_i64(rep->element[0], &d);
    int has_a = reply_i64(rep->element[1], &a);
    if (!has_d && !has_a)
        return WABOT_ERR_NOT_FOUND;
    *due_ms = has_d && (!has_a || d <= a) ? d : a;
    return WABOT_OK;
}

static int rs_next_due(void *impl, const char *queue, int64_t now_ms,
                       int64_t *due_ms)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, NULL);
    const char *keys[] = {k.ready, k.delayed, k.active};
    const char *args[] = {wb_redis_prefix(s->r), k.base};
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, &next_due_script, 3, keys, 2, args, NULL,
                           &rep);
    if (rc != WABOT_OK)
        return rc;
    rc = due_of(rep, now_ms, due_ms);
    if (rc == WABOT_ERR_STORAGE)
        rc = wb_redis_fail(s->r, "scheduler: unexpected next_due reply");
    wb_redis_reply_free(rep);
    return rc;
}

static int rs_trim(void *impl, const char *queue, int32_t state,
                   int64_t keep_count, int64_t finished_before_ms,
                   int64_t *removed)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, NULL);
    char keep[NUM_MAX], before[NUM_MAX];
    fmt_i64(keep, keep_count);
    fmt_i64(before, finished_before_ms);
    const char *keys[] = {state == WABOT_JOB_COMPLETED ? k.completed
                                                       : k.failed};
    const char *args[] = {wb_redis_prefix(s->r), k.base, keep, before};
    long long n = 0;
    int rc = eval_count(s, &trim_script, 1, keys, 4, args, &n);
    *removed = rc == WABOT_OK ? (int64_t)n : 0;
    return rc;
}

/* At most this many jobs per batch script (the worker asks for fewer). */
#define BATCH_MAX 256

/* The keys and arguments of one queue's poll script. */
typedef struct poll_args {
    qkeys k;
    char now[NUM_MAX], until[NUM_MAX], stalls[NUM_MAX], count[NUM_MAX];
    const char *keys[6], *args[6];
} poll_args;

static void poll_args_init(poll_args *p, const rsched *s,
                           const wb_sched_poll *q, int64_t now_ms,
                           int64_t lease_ms, int32_t max_stalls)
{
    qkeys_init(&p->k, q->queue, NULL);
    fmt_i64(p->now, now_ms);
    fmt_i64(p->until, add_sat(now_ms, lease_ms));
    fmt_i64(p->stalls, max_stalls);
    fmt_i64(p->count, (int64_t)(q->max > BATCH_MAX ? BATCH_MAX : q->max));
    const char *keys[] = {p->k.ready, p->k.delayed, p->k.active,
                          p->k.token, p->k.failed, p->k.seq};
    const char *args[] = {wb_redis_prefix(s->r), p->k.base, p->now,
                          p->until, p->stalls, p->count};
    memcpy(p->keys, keys, sizeof keys);
    memcpy(p->args, args, sizeof args);
}

/* One queue's poll reply into q. */
static void poll_read(rsched *s, const redisReply *rep, wb_sched_poll *q,
                      int64_t now_ms)
{
    long long moved = 0;
    size_t max = q->max > BATCH_MAX ? BATCH_MAX : q->max;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->elements > max + 2 ||
        !wb_redis_reply_int(rep->element[0], &moved)) {
        q->rc = wb_redis_fail(s->r, rep->type == REDIS_REPLY_ERROR
                                        ? rep->str
                                        : "scheduler: unexpected poll reply");
        return;
    }
    q->recovered = (int32_t)(moved > INT32_MAX ? INT32_MAX : moved);
    int rc = WABOT_OK;
    for (size_t i = 2; i < rep->elements && rc == WABOT_OK; i++) {
        rc = read_record(s, rep->element[i], NULL, q->out[i - 2]);
        if (rc == WABOT_OK)
            q->got++;
    }
    /* The jobs read before a malformed one are reserved: hand them out
     * (the rest come back after their lease). */
    q->rc = q->got > 0 ? WABOT_OK : rc;
    int drc = due_of(rep->element[1], now_ms, &q->due_ms);
    q->has_due = drc == WABOT_OK;
    if (drc == WABOT_ERR_STORAGE && q->rc == WABOT_OK)
        q->rc = wb_redis_fail(s->r, "scheduler: unexpected poll reply");
}

/* The keys and arguments of one complete_many call: up to BATCH_MAX jobs
 * of one queue. */
typedef struct complete_args {
    qkeys k;
    char now[NUM_MAX];
    const char **keys, **args;
    char (*jobkeys)[KEY_MAX];
    char (*toks)[NUM_MAX];
} complete_args;

static void complete_args_free(complete_args *c)
{
    free(c->keys);
    free(c->args);
    free(c->jobkeys);
    free(c->toks);
}

static int complete_args_init(complete_args *c, const rsched *s,
                              const char *queue, size_t n,
                              const char *const *ids, const uint64_t *tokens,
                              int64_t now_ms, wb_redis_call *call)
{
    memset(c, 0, sizeof *c);
    qkeys_init(&c->k, queue, NULL);
    fmt_i64(c->now, now_ms);
    c->keys = malloc((3 + n) * sizeof *c->keys);
    c->args = malloc((3 + 2 * n) * sizeof *c->args);
    c->jobkeys = malloc(n * sizeof *c->jobkeys);
    c->toks = malloc(n * sizeof *c->toks);
    if (!c->keys || !c->args || !c->jobkeys || !c->toks)
        return WABOT_ERR_NOMEM;
    c->keys[0] = c->k.active;
    c->keys[1] = c->k.completed;
    c->keys[2] = c->k.seq;
    c->args[0] = wb_redis_prefix(s->r);
    c->args[1] = c->k.base;
    c->args[2] = c->now;
    for (size_t i = 0; i < n; i++) {
        WB_JOIN(c->jobkeys[i], KEY_MAX, c->k.base, "job:", ids[i]);
        fmt_u64(c->toks[i], tokens[i]);
        c->keys[3 + i] = c->jobkeys[i];
        c->args[3 + 2 * i] = ids[i];
        c->args[4 + 2 * i] = c->toks[i];
    }
    *call = (wb_redis_call){3 + n, c->keys, 3 + 2 * n, c->args,
                            &complete_many_script, NULL, NULL, NULL};
    return WABOT_OK;
}

/* One call of the pipeline: which queue, and whether it completes jobs
 * [first, first + n) of it or polls it. */
typedef struct poll_call {
    size_t queue, first, n;
    int poll;
} poll_call;

static size_t count_calls(size_t n, const wb_sched_poll *polls)
{
    size_t calls = 0;
    for (size_t i = 0; i < n; i++)
        calls += (polls[i].n_complete + BATCH_MAX - 1) / BATCH_MAX +
                 (polls[i].poll != 0);
    return calls;
}

/* Every queue's completions first, then every poll: one round trip. */
static int rs_poll_many(void *impl, size_t n, wb_sched_poll *polls,
                        int64_t now_ms, int64_t lease_ms, int32_t max_stalls)
{
    rsched *s = impl;
    size_t nc = count_calls(n, polls), k = 0;
    if (nc == 0)
        return WABOT_OK;
    poll_call *pc = calloc(nc, sizeof *pc);
    poll_args *pa = calloc(n, sizeof *pa);
    complete_args *ca = calloc(nc, sizeof *ca);
    wb_redis_call *calls = calloc(nc, sizeof *calls);
    redisReply **reps = calloc(nc, sizeof *reps);
    int rc = pc && pa && ca && calls && reps ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++)
        for (size_t f = 0; rc == WABOT_OK && f < polls[i].n_complete;
             f += BATCH_MAX, k++) {
            size_t m = polls[i].n_complete - f;
            pc[k] = (poll_call){i, f, m > BATCH_MAX ? BATCH_MAX : m, 0};
            rc = complete_args_init(&ca[k], s, polls[i].queue, pc[k].n,
                                    polls[i].ids + f, polls[i].tokens + f,
                                    now_ms, &calls[k]);
        }
    for (size_t i = 0; rc == WABOT_OK && i < n; i++) {
        if (!polls[i].poll)
            continue;
        poll_args_init(&pa[i], s, &polls[i], now_ms, lease_ms, max_stalls);
        pc[k] = (poll_call){i, 0, 0, 1};
        calls[k++] = (wb_redis_call){6, pa[i].keys, 6, pa[i].args,
                                     &poll_script, NULL, NULL, NULL};
    }
    if (rc == WABOT_OK)
        rc = wb_redis_eval_pipeline(s->r, NULL, nc, calls, reps);
    for (size_t c = 0; rc == WABOT_OK && c < nc; c++) {
        wb_sched_poll *p = &polls[pc[c].queue];
        if (pc[c].poll) {
            poll_read(s, reps[c], p, now_ms);
        } else if (reps[c]->type == REDIS_REPLY_ARRAY &&
                   reps[c]->elements == pc[c].n) {
            for (size_t j = 0; j < pc[c].n; j++)
                p->results[pc[c].first + j] =
                    code_status(s, reps[c]->element[j]);
        } else {
            int bad = wb_redis_fail(s->r, "scheduler: unexpected batch reply");
            for (size_t j = 0; j < pc[c].n; j++)
                p->results[pc[c].first + j] = bad;
        }
        wb_redis_reply_free(reps[c]);
    }
    for (size_t c = 0; ca != NULL && c < nc; c++)
        complete_args_free(&ca[c]);
    free(pc);
    free(pa);
    free(ca);
    free(calls);
    free(reps);
    return rc;
}

static int rs_complete_many(void *impl, const char *queue, size_t n,
                            const char *const *ids, const uint64_t *tokens,
                            int64_t now_ms, int *results)
{
    wb_sched_poll p = {.queue = queue, .n_complete = n, .ids = ids,
                       .tokens = tokens, .results = results};
    return rs_poll_many(impl, 1, &p, now_ms, 1, 0);
}

/* Jobs one enqueue_many script takes: a bound on how long one call holds
 * the server (each job is an EXISTS, INCR, HSET and ZADD). */
#define ENQUEUE_CHUNK 128

/* The keys and arguments of one chunk: each job's enqueue keys and
 * arguments in turn, pointing into a[]. */
typedef struct enqueue_chunk {
    const char *keys[ENQUEUE_CHUNK * WB_REDIS_ENQUEUE_NKEYS];
    const char *args[ENQUEUE_CHUNK * WB_REDIS_ENQUEUE_NARGS];
    size_t lens[ENQUEUE_CHUNK * WB_REDIS_ENQUEUE_NARGS];
} enqueue_chunk;

static void chunk_init(enqueue_chunk *c, const wb_redis_enqueue_args *a,
                       size_t n, wb_redis_call *call)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(c->keys + i * WB_REDIS_ENQUEUE_NKEYS, a[i].keys,
               sizeof a[i].keys);
        memcpy(c->args + i * WB_REDIS_ENQUEUE_NARGS, a[i].args,
               sizeof a[i].args);
        memcpy(c->lens + i * WB_REDIS_ENQUEUE_NARGS, a[i].lens,
               sizeof a[i].lens);
    }
    *call = (wb_redis_call){n * WB_REDIS_ENQUEUE_NKEYS, c->keys,
                            n * WB_REDIS_ENQUEUE_NARGS, c->args, NULL, NULL,
                            c->lens, NULL};
}

/* The chunk's reply: one enqueue code per job. */
static void chunk_read(rsched *s, const redisReply *rep, size_t n,
                       int *results)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        int bad = wb_redis_fail(s->r, "scheduler: unexpected batch reply");
        for (size_t i = 0; i < n; i++)
            results[i] = bad;
        return;
    }
    for (size_t i = 0; i < n; i++)
        results[i] = code_status(s, rep->element[i]);
}

/* Chunks of ENQUEUE_CHUNK jobs, each one script (one atomic step, the
 * queue's hash tag on every key), all chunks pipelined: one round trip. */
static int rs_enqueue_many(void *impl, const char *queue, size_t n,
                           const wabot_job_record *jobs, int64_t now_ms,
                           int *results)
{
    rsched *s = impl;
    size_t nc = (n + ENQUEUE_CHUNK - 1) / ENQUEUE_CHUNK;
    wb_redis_enqueue_args *a = calloc(n, sizeof *a);
    enqueue_chunk *chunks = calloc(nc, sizeof *chunks);
    wb_redis_call *calls = calloc(nc, sizeof *calls);
    redisReply **reps = calloc(nc, sizeof *reps);
    int rc = a && chunks && calls && reps ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++)
        wb_redis_enqueue_args_init(&a[i], queue, &jobs[i], now_ms);
    for (size_t c = 0; rc == WABOT_OK && c < nc; c++) {
        size_t first = c * ENQUEUE_CHUNK, m = n - first;
        chunk_init(&chunks[c], a + first, m > ENQUEUE_CHUNK ? ENQUEUE_CHUNK : m,
                   &calls[c]);
    }
    if (rc == WABOT_OK)
        rc = wb_redis_eval_pipeline(s->r, &enqueue_many_script, nc, calls,
                                    reps);
    for (size_t c = 0; rc == WABOT_OK && c < nc; c++) {
        size_t first = c * ENQUEUE_CHUNK, m = n - first;
        chunk_read(s, reps[c], m > ENQUEUE_CHUNK ? ENQUEUE_CHUNK : m,
                   results + first);
        wb_redis_reply_free(reps[c]);
    }
    free(a);
    free(chunks);
    free(calls);
    free(reps);
    return rc;
}

static const wb_sched_batch redis_batch = {rs_complete_many, rs_poll_many,
                                           rs_enqueue_many};

static void rs_destroy(void *impl)
{
    free(impl);
}

static const wabot_scheduler_vtable redis_vtable = {
    .version = WABOT_SCHEDULER_VTABLE_VERSION,
    .enqueue = rs_enqueue,
    .reserve = rs_reserve,
    .extend = rs_extend,
    .complete = rs_complete,
    .fail = rs_fail,
    .release = rs_release,
    .cancel = rs_cancel,
    .get = rs_get,
    .counts = rs_counts,
    .recover = rs_recover,
    .next_due = rs_next_due,
    .trim = rs_trim,
    .destroy = rs_destroy,
};

wabot_redis *wb_redis_scheduler_handle(const wabot_scheduler *s)
{
    return s != NULL && s->vt == &redis_vtable ? ((rsched *)s->impl)->r
                                                : NULL;
}

/* ------------------------------------------------------------------ */
/* Failed jobs (the admin API)                                         */

static int rs_each_failed(void *impl, const char *queue, int64_t offset,
                          int64_t limit, wb_job_visit_fn fn, void *ud,
                          int64_t *total)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, NULL);
    char start[NUM_MAX], stop[NUM_MAX];
    fmt_i64(start, offset);
    fmt_i64(stop, add_sat(offset, limit) - 1);
    const char *keys[] = {k.failed};
    const char *args[] = {wb_redis_prefix(s->r), k.base, start, stop};
    redisReply *rep = NULL;
    int rc = wb_redis_eval(s->r, &each_failed_script, 1, keys, 4, args, NULL,
                           &rep);
    if (rc != WABOT_OK)
        return rc;
    long long n = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        !wb_redis_reply_int(rep->element[0], &n)) {
        wb_redis_reply_free(rep);
        return wb_redis_fail(s->r, "scheduler: unexpected list reply");
    }
    *total = n;
    wabot_job_info *info = wabot_job_info_new();
    rc = info != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 1; rc == WABOT_OK && i < rep->elements; i++) {
        rc = read_record(s, rep->element[i], NULL, info);
        if (rc == WABOT_OK)
            fn(wabot_job_info_record(info), ud);
    }
    wabot_job_info_free(info);
    wb_redis_reply_free(rep);
    return rc;
}

static int rs_retry(void *impl, const char *queue, const char *id,
                    int64_t now_ms)
{
    rsched *s = impl;
    qkeys k;
    qkeys_init(&k, queue, id);
    char now[NUM_MAX], now_hex[NUM_MAX];
    fmt_i64(now, now_ms);
    fmt_run_hex(now_hex, now_ms);
    const char *keys[] = {k.job, k.ready, k.delayed, k.failed};
    const char *args[] = {wb_redis_prefix(s->r), k.base, id, now, now_hex};
    return eval_code(s, &retry_failed_script, 4, keys, 5, args, NULL);
}

static const wb_sched_failed redis_failed = {rs_each_failed, rs_retry};

/* ------------------------------------------------------------------ */
/* Public                                                              */

wabot_scheduler *wabot_scheduler_redis_new(wabot_redis *r)
{
    if (r == NULL)
        return NULL;
    rsched *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->r = r;
    wabot_scheduler *sched = wb_scheduler_wrap(&redis_vtable, s, "redis");
    if (sched == NULL)
        free(s);
    else {
        sched->batch = &redis_batch;
        sched->failed = &redis_failed;
    }
    return sched;
}
