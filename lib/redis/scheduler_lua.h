/* The Redis scheduler's Lua scripts (included by lib/redis/scheduler.c,
 * and by lib/redis/turn.c, whose commit runs the enqueue body). One
 * script per vtable operation, each run by EVALSHA as one atomic step.
 * Key layout, argument lists and the reasons for the choices below:
 * doc/redis.md, "Scheduler keys and scripts".
 *
 * Conventions shared by every script:
 *  - every key of a queue carries the hash tag "{queue}", so a script
 *    touches one cluster slot; job keys are built in Lua from ARGV[1] (the
 *    configured prefix) and ARGV[2] ("{queue}:"), as BullMQ builds its job
 *    keys from a key prefix;
 *  - times come from the library as canonical decimal strings (never
 *    Redis TIME), so fake clocks work; sorted-set scores are doubles, so
 *    every time comparison that decides something is re-done exactly on
 *    the strings (le / lt below): a score range only picks candidates;
 *  - numbers Lua computed are written with int() ("%d"), never with
 *    Lua's default conversion, which rounds to 14 digits;
 *  - expected outcomes are return values (codes below), never errors:
 *    an error reply means "storage failure" to the C side.
 *
 * Job hash fields (doc/redis.md, "The job hash"): enqueue writes payload
 * state attempts run_at priority seq rank, and `fixed`: the fields that
 * never change after enqueue, packed as "max_attempts backoff backoff_ms
 * backoff_max_ms jitter created" (decimal, one space apart). stalls,
 * token, lease_until and finished are absent until first written, and
 * read as 0; last_error is absent when none. state: "0".."4"
 * (wabot_job_state). A job of the earlier layout (before the eighth
 * session: no `fixed`, every field written at enqueue) is read the same
 * way: record() packs its six fields, every other script touches only
 * fields both layouts share. */
#ifndef WB_REDIS_SCHEDULER_LUA_H
#define WB_REDIS_SCHEDULER_LUA_H

/* Return codes of the scripts (integer replies). */
#define SCHED_LUA_OK 0
#define SCHED_LUA_NOT_FOUND 1
#define SCHED_LUA_CONFLICT 2
#define SCHED_LUA_EXISTS 3
#define SCHED_LUA_STATE 4
/* next_due only: a job is waiting, so the answer is "now". */
#define SCHED_LUA_WAITING 5

/* Helpers prepended to every script. `rank` is the ready set's member: a
 * sorted set whose members all score 0 is ordered by the bytes of its
 * members, so the member spells the order itself: 8 hex digits of
 * (INT32_MAX - priority) (priority descending), 16 hex digits of the
 * run time as a biased unsigned number (earliest first; computed exactly
 * by the C side, passed as run_hex), 16 hex digits of the enqueue
 * sequence (FIFO), then the id. Finished sets score by finish time and
 * their member is 16 hex digits of a finish sequence, then the id, so
 * jobs finished in the same millisecond keep their finish order. */
#define SCHED_LUA_PRELUDE                                                     \
    "local FIELDS = {'payload','state','attempts','stalls','token',"         \
    "'run_at','lease_until','finished','priority','last_error','fixed'}\n"  \
    "local function int(n) return string.format('%d', n) end\n"             \
    "local function jobkey(id) return ARGV[1] .. ARGV[2] .. 'job:' .. id "  \
    "end\n"                                                                  \
    /* The job's FIELDS; a job of the earlier layout has its fixed       \
     * fields one by one, packed here as enqueue packs them now. */       \
    "local function record(jk)\n"                                           \
    "  local rec = redis.call('HMGET', jk, unpack(FIELDS))\n"               \
    "  if rec[2] and not rec[11] then\n"                                    \
    "    local f = redis.call('HMGET', jk, 'max_attempts', 'backoff',\n"    \
    "      'backoff_ms', 'backoff_max_ms', 'jitter', 'created')\n"          \
    "    for i = 1, 6 do if not f[i] then return rec end end\n"             \
    "    rec[11] = table.concat(f, ' ')\n"                                  \
    "  end\n"                                                               \
    "  return rec\n"                                                        \
    "end\n"                                                                  \
    "local function rank(prio, run_hex, seq, id)\n"                          \
    "  return string.format('%08x', 2147483647 - prio) .. run_hex ..\n"     \
    "         string.format('%016x', seq) .. id\n"                           \
    "end\n"                                                                  \
    /* Exact a <= b on canonical decimal int64 strings, byte by byte     \
     * (string comparison would go through the server's locale). */       \
    "local function le(a, b)\n"                                              \
    "  local na, nb = a:byte(1) == 45, b:byte(1) == 45\n"                    \
    "  if na ~= nb then return na end\n"                                     \
    "  if #a ~= #b then return (#a < #b) ~= na end\n"                        \
    "  for i = 1, #a do\n"                                                   \
    "    local x, y = a:byte(i), b:byte(i)\n"                                \
    "    if x ~= y then return (x < y) ~= na end\n"                          \
    "  end\n"                                                                \
    "  return true\n"                                                        \
    "end\n"                                                                  \
    "local function lt(a, b) return a ~= b and le(a, b) end\n"               \
    /* Into a finished set (completed or failed). */                         \
    "local function finish(set, seqkey, id, now)\n"                          \
    "  local f = redis.call('INCR', seqkey)\n"                               \
    "  redis.call('ZADD', set, now, string.format('%016x', f) .. id)\n"      \
    "end\n"                                                                  \
    /* The token-checked operations' guard. */                               \
    "local function leased(jk, token)\n"                                     \
    "  local s = redis.call('HMGET', jk, 'state', 'token')\n"                \
    "  if not s[1] then return 1 end\n"                                      \
    "  if s[1] ~= '2' or s[2] ~= token then return 2 end\n"                  \
    "  return 0\n"                                                           \
    "end\n"                                                                  \
    /* Back to waiting ('0') or delayed ('1') with a new run time. */        \
    "local function requeue(jk, ready, delayed, id, run_at, run_hex, st)\n"  \
    "  local f = redis.call('HMGET', jk, 'priority', 'seq')\n"               \
    "  local r = rank(tonumber(f[1]), run_hex, tonumber(f[2]), id)\n"        \
    "  redis.call('HSET', jk, 'state', st, 'run_at', run_at, 'rank', r,\n"   \
    "             'lease_until', '0')\n"                                     \
    "  if st == '0' then redis.call('ZADD', ready, '0', r)\n"                \
    "  else redis.call('ZADD', delayed, run_at, id) end\n"                   \
    "end\n"

/* KEYS: job ready delayed seq
 * ARGV: id payload state(0 waiting/1 delayed) run_at run_hex priority
 *       fixed
 * Eight fields where there were 17: each hash field costs the
 * server an entry to create and free (doc/redis.md, "The job hash").
 * attempts, priority and seq are written although this layout could do
 * without them (priority and seq are in the rank; attempts could start
 * absent as stalls does): a process of the earlier version computes with
 * them, and with them it never loses a job of this layout.
 *
 * enqueue_at(kb, ab) enqueues the job whose keys are KEYS[kb + 1..4] and
 * arguments ARGV[ab + 1..7], so a script enqueues several jobs, or jobs
 * after arguments of its own (the turn commit), without copying them
 * into tables and without the prelude (neither is free: the server makes
 * and collects every table and closure on every call). The rank is
 * rank() of the prelude, written out. -> 3 (the id is taken) or 0, 0.
 *
 * With `lease` (a time, as text) a job due now (state 0) is enqueued
 * already reserved by the caller, as a reserve would leave it: active
 * until `lease` in the active set ak, attempts 1, its fencing token the
 * next of the token counter tk -> 0, token. The turn commit leases a
 * reply to the process that commits it, which runs it from memory
 * without a reserve (lib/pipeline/outbox.c, "Jobs leased at commit");
 * if that process dies the lease expires and stall recovery puts the job
 * back, as for any reserved job. */
#define SCHED_LUA_ENQUEUE_AT                                                 \
    "local function enqueue_at(kb, ab, lease, ak, tk)\n"                     \
    "  local jk = KEYS[kb + 1]\n"                                            \
    "  if redis.call('EXISTS', jk) == 1 then return 3 end\n"                 \
    "  local seq = redis.call('INCR', KEYS[kb + 4])\n"                       \
    "  local prio, st, run_at = ARGV[ab + 6], ARGV[ab + 3], ARGV[ab + 4]\n"  \
    "  local r = string.format('%08x', 2147483647 - tonumber(prio)) ..\n"    \
    "            ARGV[ab + 5] .. string.format('%016x', seq) .. ARGV[ab + 1]\n" \
    "  if lease and st == '0' then\n"                                        \
    "    local tok = redis.call('INCR', tk)\n"                               \
    "    redis.call('HSET', jk, 'payload', ARGV[ab + 2], 'state', '2',\n"    \
    "      'attempts', '1', 'run_at', run_at, 'priority', prio,\n"           \
    "      'seq', string.format('%d', seq), 'rank', r, 'fixed', ARGV[ab + 7],\n" \
    "      'token', string.format('%d', tok), 'lease_until', lease)\n"       \
    "    redis.call('ZADD', ak, lease, ARGV[ab + 1])\n"                      \
    "    return 0, tok\n"                                                    \
    "  end\n"                                                                \
    "  redis.call('HSET', jk, 'payload', ARGV[ab + 2], 'state', st,\n"       \
    "    'attempts', '0', 'run_at', run_at, 'priority', prio,\n"             \
    "    'seq', string.format('%d', seq), 'rank', r, 'fixed', ARGV[ab + 7])\n" \
    "  if st == '0' then redis.call('ZADD', KEYS[kb + 2], '0', r)\n"         \
    "  else redis.call('ZADD', KEYS[kb + 3], run_at, ARGV[ab + 1]) end\n"    \
    "  return 0, 0\n"                                                        \
    "end\n"
#define SCHED_LUA_ENQUEUE SCHED_LUA_ENQUEUE_AT "return enqueue_at(0, 0)\n"

/* KEYS: ready delayed active token
 * ARGV: prefix base now lease_until
 * Reply: 1 (nothing ready) or {id, FIELDS...} of the reserved job. */
#define SCHED_LUA_RESERVE                                                     \
    SCHED_LUA_PRELUDE                                                        \
    "local now = ARGV[3]\n"                                                  \
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', "      \
    "now)) do\n"                                                             \
    "  local jk = jobkey(id)\n"                                              \
    "  local f = redis.call('HMGET', jk, 'run_at', 'rank')\n"                \
    "  if le(f[1], now) then\n"                                              \
    "    redis.call('ZREM', KEYS[2], id)\n"                                  \
    "    redis.call('ZADD', KEYS[1], '0', f[2])\n"                           \
    "    redis.call('HSET', jk, 'state', '0')\n"                             \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "local top = redis.call('ZPOPMIN', KEYS[1])\n"                           \
    "if #top == 0 then return 1 end\n"                                       \
    "local id = string.sub(top[1], 41)\n"                                    \
    "local jk = jobkey(id)\n"                                                \
    "local tok = redis.call('INCR', KEYS[4])\n"                              \
    "redis.call('HINCRBY', jk, 'attempts', '1')\n"                           \
    "redis.call('HSET', jk, 'state', '2', 'token', int(tok),\n"              \
    "           'lease_until', ARGV[4])\n"                                   \
    "redis.call('ZADD', KEYS[3], ARGV[4], id)\n"                             \
    "local rec = record(jk)\n"                                               \
    "table.insert(rec, 1, id)\n"                                             \
    "return rec\n"

/* KEYS: job active
 * ARGV: prefix base id token until */
#define SCHED_LUA_EXTEND                                                      \
    SCHED_LUA_PRELUDE                                                        \
    "local rc = leased(KEYS[1], ARGV[4])\n"                                  \
    "if rc ~= 0 then return rc end\n"                                        \
    "redis.call('HSET', KEYS[1], 'lease_until', ARGV[5])\n"                  \
    "redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])\n"                        \
    "return 0\n"

/* KEYS: job active completed seq
 * ARGV: prefix base id token now */
#define SCHED_LUA_COMPLETE                                                    \
    SCHED_LUA_PRELUDE                                                        \
    "local rc = leased(KEYS[1], ARGV[4])\n"                                  \
    "if rc ~= 0 then return rc end\n"                                        \
    "redis.call('ZREM', KEYS[2], ARGV[3])\n"                                 \
    "finish(KEYS[3], KEYS[4], ARGV[3], ARGV[5])\n"                           \
    "redis.call('HSET', KEYS[1], 'state', '3', 'finished', ARGV[5],\n"       \
    "           'lease_until', '0')\n"                                       \
    "return 0\n"

/* KEYS: job active ready delayed failed seq
 * ARGV: prefix base id token now to(0 waiting/1 delayed/4 failed)
 *       retry_at retry_hex has_reason(1/0) reason */
#define SCHED_LUA_FAIL                                                        \
    SCHED_LUA_PRELUDE                                                        \
    "local rc = leased(KEYS[1], ARGV[4])\n"                                  \
    "if rc ~= 0 then return rc end\n"                                        \
    "redis.call('ZREM', KEYS[2], ARGV[3])\n"                                 \
    "if ARGV[9] == '1' then\n"                                               \
    "  redis.call('HSET', KEYS[1], 'last_error', ARGV[10])\n"                \
    "else redis.call('HDEL', KEYS[1], 'last_error') end\n"                   \
    "if ARGV[6] == '4' then\n"                                               \
    "  finish(KEYS[5], KEYS[6], ARGV[3], ARGV[5])\n"                         \
    "  redis.call('HSET', KEYS[1], 'state', '4', 'finished', ARGV[5],\n"     \
    "             'lease_until', '0')\n"                                     \
    "else\n"                                                                 \
    "  requeue(KEYS[1], KEYS[3], KEYS[4], ARGV[3], ARGV[7], ARGV[8],\n"      \
    "          ARGV[6])\n"                                                   \
    "end\n"                                                                  \
    "return 0\n"

/* KEYS: job active ready delayed
 * ARGV: prefix base id token to(0 waiting/1 delayed) run_at run_hex */
#define SCHED_LUA_RELEASE                                                     \
    SCHED_LUA_PRELUDE                                                        \
    "local rc = leased(KEYS[1], ARGV[4])\n"                                  \
    "if rc ~= 0 then return rc end\n"                                        \
    "redis.call('ZREM', KEYS[2], ARGV[3])\n"                                 \
    "if tonumber(redis.call('HGET', KEYS[1], 'attempts')) > 0 then\n"        \
    "  redis.call('HINCRBY', KEYS[1], 'attempts', -1)\n"                     \
    "end\n"                                                                  \
    "requeue(KEYS[1], KEYS[3], KEYS[4], ARGV[3], ARGV[6], ARGV[7], "         \
    "ARGV[5])\n"                                                             \
    "return 0\n"

/* KEYS: job ready delayed
 * ARGV: prefix base id */
#define SCHED_LUA_CANCEL                                                      \
    SCHED_LUA_PRELUDE                                                        \
    "local f = redis.call('HMGET', KEYS[1], 'state', 'rank')\n"              \
    "if not f[1] then return 1 end\n"                                        \
    "if f[1] == '0' then redis.call('ZREM', KEYS[2], f[2])\n"                \
    "elseif f[1] == '1' then redis.call('ZREM', KEYS[3], ARGV[3])\n"         \
    "else return 4 end\n"                                                    \
    "redis.call('DEL', KEYS[1])\n"                                           \
    "return 0\n"

/* KEYS: job
 * ARGV: prefix base
 * Reply: 1 (no such job) or {FIELDS...}. */
#define SCHED_LUA_GET                                                         \
    SCHED_LUA_PRELUDE                                                        \
    "local rec = record(KEYS[1])\n"                                          \
    "if not rec[1] then return 1 end\n"                                      \
    "return rec\n"

/* KEYS: ready delayed active completed failed
 * Reply: the five cardinalities in wabot_job_state order. */
#define SCHED_LUA_COUNTS                                                      \
    "local c = {}\n"                                                         \
    "for i = 1, 5 do c[i] = redis.call('ZCARD', KEYS[i]) end\n"              \
    "return c\n"

/* KEYS: active ready failed seq
 * ARGV: prefix base now max_stalls
 * Reply: how many jobs moved. In lease order, then enqueue order, like
 * the memory backend (it decides the finish order of jobs failed here). */
#define SCHED_LUA_RECOVER_BODY                                               \
    "local now = ARGV[3]\n"                                                  \
    "local jobs = {}\n"                                                      \
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', "      \
    "now)) do\n"                                                             \
    "  local f = redis.call('HMGET', jobkey(id), 'lease_until', 'seq')\n"    \
    "  if le(f[1], now) then\n"                                              \
    "    jobs[#jobs + 1] = {id = id, lease = f[1], seq = tonumber(f[2])}\n"  \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "table.sort(jobs, function(a, b)\n"                                      \
    "  if a.lease ~= b.lease then return lt(a.lease, b.lease) end\n"         \
    "  return a.seq < b.seq\n"                                               \
    "end)\n"                                                                 \
    "local max = tonumber(ARGV[4])\n"                                        \
    "for _, j in ipairs(jobs) do\n"                                          \
    "  local jk = jobkey(j.id)\n"                                            \
    "  redis.call('ZREM', KEYS[1], j.id)\n"                                  \
    "  if redis.call('HINCRBY', jk, 'stalls', '1') > max then\n"             \
    "    redis.call('HSET', jk, 'state', '4', 'finished', now,\n"            \
    "               'lease_until', '0', 'last_error', 'stalled')\n"          \
    "    finish(KEYS[3], KEYS[4], j.id, now)\n"                              \
    "  else\n"                                                               \
    "    redis.call('HSET', jk, 'state', '0', 'lease_until', '0')\n"         \
    "    redis.call('ZADD', KEYS[2], '0', redis.call('HGET', jk, 'rank'))\n" \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "return #jobs\n"
#define SCHED_LUA_RECOVER SCHED_LUA_PRELUDE SCHED_LUA_RECOVER_BODY

/* KEYS: ready delayed active
 * ARGV: prefix base
 * Reply: 5 (a job is waiting) or {earliest run_at or nil, earliest
 * lease_until or nil} as exact strings; the C side picks the smaller. */
#define SCHED_LUA_NEXT_DUE_BODY                                              \
    "if redis.call('ZCARD', KEYS[1]) > 0 then return 5 end\n"                \
    "local out = {false, false}\n"                                           \
    "local d = redis.call('ZRANGE', KEYS[2], '0', '0')\n"                    \
    "if d[1] then out[1] = redis.call('HGET', jobkey(d[1]), 'run_at') end\n" \
    "local a = redis.call('ZRANGE', KEYS[3], '0', '0')\n"                    \
    "if a[1] then\n"                                                         \
    "  out[2] = redis.call('HGET', jobkey(a[1]), 'lease_until')\n"           \
    "end\n"                                                                  \
    "return out\n"
#define SCHED_LUA_NEXT_DUE SCHED_LUA_PRELUDE SCHED_LUA_NEXT_DUE_BODY

/* KEYS: the finished set (completed or failed)
 * ARGV: prefix base keep_count finished_before
 * Reply: how many jobs were removed. */
#define SCHED_LUA_TRIM                                                        \
    SCHED_LUA_PRELUDE                                                        \
    "local set, removed = KEYS[1], 0\n"                                      \
    "local function drop(member)\n"                                          \
    "  redis.call('DEL', jobkey(string.sub(member, 17)))\n"                  \
    "  redis.call('ZREM', set, member)\n"                                    \
    "  removed = removed + 1\n"                                              \
    "end\n"                                                                  \
    "local excess = redis.call('ZCARD', set) - tonumber(ARGV[3])\n"          \
    /* the oldest `excess`: one ZREMRANGEBYRANK, their hashes DEL'd 500      \
     * at a time (a command per job was most of a trim's cost) */            \
    "if excess > 0 then\n"                                                   \
    "  local last = int(excess - 1)\n"                                       \
    "  local ms, keys = redis.call('ZRANGE', set, '0', last), {}\n"          \
    "  redis.call('ZREMRANGEBYRANK', set, '0', last)\n"                      \
    "  for i = 1, #ms do\n"                                                  \
    "    keys[#keys + 1] = jobkey(string.sub(ms[i], 17))\n"                  \
    "    if #keys == 500 or i == #ms then\n"                                 \
    "      redis.call('DEL', unpack(keys))\n"                                \
    "      keys = {}\n"                                                      \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  removed = removed + #ms\n"                                            \
    "end\n"                                                                  \
    "local before = ARGV[4]\n"                                               \
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', before))"  \
    " do\n"                                                                  \
    "  local f = redis.call('HGET', jobkey(string.sub(m, 17)), 'finished')\n" \
    "  if lt(f, before) then drop(m) end\n"                                  \
    "end\n"                                                                  \
    "return removed\n"

#endif
