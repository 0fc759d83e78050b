/* The Lua scripts of the Redis storage backend's version-2 operations
 * (included by lib/redis/storage.c, and by lib/redis/turn.c for the
 * prelude). Key layout and the reasons for the choices below:
 * doc/redis.md, "Storage".
 *
 * Conventions:
 *  - KEYS[1] is the store-wide version counter; a value key K has its
 *    version in its header, or (earlier layout, incr) at K .. "\0v";
 *    sorted indexes live at K .. "\0z";
 *  - strings are compared byte by byte (lt below), never with Lua's
 *    string comparison, which goes through the server's locale;
 *  - numbers Lua makes are written with '%d' (integers below 2^53 are
 *    exact in Lua's doubles; '%d' formats them as integers, where '%.0f'
 *    and Lua's own number-to-string conversion, which a number given to
 *    redis.call goes through, take the C library's floating-point printf,
 *    several times the instructions); a constant argument is a string;
 *  - expected outcomes are return values, never errors. */
#ifndef WB_REDIS_STORAGE_LUA_H
#define WB_REDIS_STORAGE_LUA_H

/* Helpers on explicit key names (the version-1 scripts use fixed KEYS).
 * newver() takes versions from the counter nv_want at a time (one INCRBY
 * for all the writes of a script that sets nv_want to their number; a
 * version taken but not used is a gap: versions only need to grow).
 *
 * A value carries its version in a header (doc/redis.md, "Storage"):
 * NUL "wv" <decimal version> NUL <value>, one key and one SET per write.
 * Values of the earlier layout (before 0.2.x: the value as is, its
 * version at K .. "\0v") and values other clients wrote (no header, no
 * version key) stay readable: read() takes the version key for them, and
 * gives a value without either a version of its own there (restamp), as
 * before. A write always writes the header, so an earlier-layout key
 * moves to the header on its next write; its version key is then
 * ignored (and goes with the value's DEL, or expires one second after
 * the value it came with). incr keeps a value without a header
 * (INCRBY needs the plain number) and versions it with its version
 * key, the earlier layout.
 *
 * The prelude comes in parts, each a few `local function`s, so that a
 * hot script (lib/redis/turn.c, the storage batch) defines only the
 * helpers it calls: every definition is a closure the server makes and
 * collects on every call (~500 instructions each). In order of use:
 * NEWVER, then WRITE, WRITE_NX and UNPACKV, then READ (which needs NEWVER
 * and UNPACKV), then CURVAL (UNPACKV) and INCR (READ's restamp); CURVER
 * and LT stand alone.
 * A value is written with one concatenation ('\0wv' .. v .. '\0' ..
 * val): each intermediate string is hashed whole and interned. */
#define STORAGE_LUA_NEWVER                                                    \
    "local M, nv_want, nv_next, nv_last = 1000, 1, 1, 0\n"                    \
    "local function newver()\n"                                               \
    "  if nv_next > nv_last then\n"                                           \
    "    nv_last = redis.call('INCRBY', KEYS[1], string.format('%d', nv_want))\n" \
    "    nv_next = nv_last - nv_want + 1\n"                                   \
    "  end\n"                                                                 \
    "  nv_next = nv_next + 1\n"                                               \
    "  return string.format('%d', nv_next - 1)\n"                             \
    "end\n"
#define STORAGE_LUA_WRITE                                                     \
    "local function write(k, vk, val, ttl)\n"                                 \
    "  local v = newver()\n"                                                  \
    "  if ttl ~= '0' then\n"                                                  \
    "    redis.call('SET', k, '\\0wv' .. v .. '\\0' .. val, 'PX', ttl)\n"     \
    "  else\n"                                                                \
    "    redis.call('SET', k, '\\0wv' .. v .. '\\0' .. val)\n"                \
    "  end\n"                                                                 \
    "  return v\n"                                                            \
    "end\n"
/* write if k is absent (SET NX: one command for the check and the write):
 * -> the version, or false (present; the version is a gap). */
#define STORAGE_LUA_WRITE_NX                                                  \
    "local function write_nx(k, val, ttl)\n"                                  \
    "  local v, ok = newver(), false\n"                                       \
    "  if ttl ~= '0' then\n"                                                  \
    "    ok = redis.call('SET', k, '\\0wv' .. v .. '\\0' .. val, 'NX', 'PX',\n" \
    "                    ttl)\n"                                              \
    "  else\n"                                                                \
    "    ok = redis.call('SET', k, '\\0wv' .. v .. '\\0' .. val, 'NX')\n"     \
    "  end\n"                                                                 \
    "  return ok and v\n"                                                     \
    "end\n"
/* -> version, value; version nil when d has no header. */
#define STORAGE_LUA_UNPACKV                                                   \
    "local function unpackv(d)\n"                                             \
    "  local v, at = string.match(d, '^%zwv(%d+)%z()')\n"                     \
    "  if v then return v, string.sub(d, at) end\n"                          \
    "  return nil, d\n"                                                       \
    "end\n"
/* -> the version compare-and-set compares ('0' absent, '' a value
 * without any), and whether the key is present. The value itself is not
 * cut out of its header (a copy the server would hash whole): curval()
 * gives it. */
#define STORAGE_LUA_CURVER                                                    \
    "local function curver(k, vk)\n"                                          \
    "  local d = redis.call('GET', k)\n"                                      \
    "  if not d then return '0', false end\n"                                 \
    "  local v = string.match(d, '^%zwv(%d+)%z')\n"                           \
    "  if v then return v, true end\n"                                        \
    "  return redis.call('GET', vk or k .. '\\0v') or '', true\n"             \
    "end\n"
#define STORAGE_LUA_READ                                                      \
    /* A new version key for a value without a header, expiry untouched. */  \
    "local function restamp(k, vk)\n"                                         \
    "  local v = newver()\n"                                                  \
    "  local pttl = redis.call('PTTL', k)\n"                                  \
    "  if pttl >= 0 then\n"                                                   \
    "    redis.call('SET', vk, v, 'PX', string.format('%.0f', pttl + M))\n"   \
    "  else\n"                                                                \
    "    redis.call('SET', vk, v)\n"                                          \
    "  end\n"                                                                 \
    "  return v\n"                                                            \
    "end\n"                                                                   \
    /* -> value, version of a present key (nil when absent). vk, the      \
     * version key of the earlier layout, may be nil: it is named from k    \
     * when a value without a header needs it (the turn scripts pass none:  \
     * an argument costs the server more than the name's concatenation     \
     * on that rare path). */                                                 \
    "local function read(k, vk)\n"                                            \
    "  local d = redis.call('GET', k)\n"                                      \
    "  if not d then return nil end\n"                                        \
    "  local v, val = unpackv(d)\n"                                           \
    "  if v then return val, v end\n"                                         \
    "  vk = vk or k .. '\\0v'\n"                                              \
    "  return d, redis.call('GET', vk) or restamp(k, vk)\n"                   \
    "end\n"
/* -> the version as curver gives it, and the value (nil: absent). */
#define STORAGE_LUA_CURVAL                                                    \
    "local function curval(k, vk)\n"                                          \
    "  local d = redis.call('GET', k)\n"                                      \
    "  if not d then return '0', nil end\n"                                   \
    "  local v, val = unpackv(d)\n"                                           \
    "  if v then return v, val end\n"                                         \
    "  return redis.call('GET', vk or k .. '\\0v') or '', d\n"                \
    "end\n"
/* incr on a present value: the plain number (a header comes off,
 * expiry kept), INCRBY, a new version key. -> the new value, or false
 * (not an integer, overflow: nothing changed). */
#define STORAGE_LUA_INCR                                                      \
    "local function incr_present(k, vk, d, delta)\n"                          \
    "  local v, val = unpackv(d)\n"                                           \
    "  local pttl = -1\n"                                                     \
    "  if v then\n"                                                           \
    "    pttl = redis.call('PTTL', k)\n"                                      \
    "    redis.call('SET', k, val)\n"                                         \
    "  end\n"                                                                 \
    "  local r = redis.pcall('INCRBY', k, delta)\n"                           \
    "  if type(r) == 'table' and r.err then\n"                                \
    "    if v then redis.call('SET', k, d) end\n"                             \
    "    if pttl > 0 then redis.call('PEXPIRE', k, pttl) end\n"               \
    "    return false\n"                                                      \
    "  end\n"                                                                 \
    "  if pttl > 0 then redis.call('PEXPIRE', k, pttl) end\n"                 \
    "  local nv = restamp(k, vk)\n"                                           \
    "  return redis.call('GET', k), nv\n"                                     \
    "end\n"
#define STORAGE_LUA_LT                                                        \
    "local function lt(a, b)\n"                                               \
    "  local n = math.min(#a, #b)\n"                                          \
    "  for i = 1, n do\n"                                                     \
    "    local x, y = string.byte(a, i), string.byte(b, i)\n"                 \
    "    if x ~= y then return x < y end\n"                                   \
    "  end\n"                                                                 \
    "  return #a < #b\n"                                                      \
    "end\n"
/* Every helper, for a script that calls most of them (txn). */
#define STORAGE_LUA_PRELUDE_V2                                                \
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE STORAGE_LUA_WRITE_NX                 \
    STORAGE_LUA_UNPACKV STORAGE_LUA_CURVER STORAGE_LUA_READ                   \
    STORAGE_LUA_CURVAL STORAGE_LUA_INCR STORAGE_LUA_LT

/* KEYS[1] counter. ARGV: Redis cursor, skip list (16 hex digits of the
 * SHA-1 of each name already returned from the SCAN step at `cursor`;
 * '' = none), count, MATCH pattern, length of prefix + scan prefix, '1'
 * for values, SCAN COUNT. -> {cursor, skip, {k1[, val1, ver1], ...}}.
 *
 * A page only ever ends where a SCAN step ends, so the next page resumes
 * from a cursor SCAN itself returned and keeps SCAN's guarantee (a key
 * present throughout is returned) while the table grows, shrinks or
 * rehashes. Each step's names are sorted (byte order). A step that
 * would overflow the page is not taken: the page ends before it, or, on
 * an empty page, the step is retried smaller, down to one bucket
 * (COUNT 1). Only a single bucket holding more keys
 * than the page wants is split; the rest of it is resumed from the same
 * cursor, skipping the names already returned (by hash, so a bucket that
 * gained names meanwhile still returns them). Resuming after a name in
 * byte order instead (the first design) lost keys: the repeated step can
 * reach further than the first one did once keys are deleted. */
#define STORAGE_LUA_SCAN                                                      \
    STORAGE_LUA_NEWVER STORAGE_LUA_UNPACKV STORAGE_LUA_READ STORAGE_LUA_LT    \
    "local cur, skip, want = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"           \
    "local pat, plen, vals = ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'\n"    \
    "local hint = tonumber(ARGV[7])\n"                                        \
    "local out, seen, n, skipped = {}, {}, 0, {}\n"                           \
    "local function h(k) return string.sub(redis.sha1hex(k), 1, 16) end\n"    \
    "for i = 1, #skip, 16 do skipped[string.sub(skip, i, i + 15)] = true end\n"\
    "if skip ~= '' then hint = 1 end\n"                                       \
    "local function emit(k)\n"                                                \
    "  n = n + 1\n"                                                           \
    "  seen[k] = true\n"                                                      \
    "  out[#out + 1] = k\n"                                                   \
    "  if vals then\n"                                                        \
    "    local val, ver = read(k, k .. '\\0v')\n"                             \
    "    out[#out + 1] = val\n"                                               \
    "    out[#out + 1] = ver\n"                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "for step = 1, 64 do\n"                                                   \
    "  local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', hint)\n"      \
    "  local batch = {}\n"                                                    \
    "  for _, k in ipairs(r[2]) do\n"                                         \
    "    if not seen[k] and not string.find(k, '\\0', plen + 1, true)\n"      \
    "       and not (skip ~= '' and skipped[h(k)])\n"                         \
    "       and redis.call('TYPE', k).ok == 'string' then\n"                  \
    "      seen[k] = true\n"                                                  \
    "      batch[#batch + 1] = k\n"                                           \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "  for _, k in ipairs(batch) do seen[k] = nil end\n"                      \
    "  table.sort(batch, lt)\n"                                              \
    "  if n + #batch <= want then\n"                                          \
    "    for _, k in ipairs(batch) do emit(k) end\n"                          \
    "    cur, skip, skipped = r[1], '', {}\n"                                 \
    "    if cur == '0' or n == want then break end\n"                         \
    "  elseif n > 0 then\n"                                                   \
    "    break\n"                                                             \
    "  elseif hint > 1 then\n"                                                \
    "    hint = math.floor(hint / 4)\n"                                       \
    "    if hint < 1 then hint = 1 end\n"                                     \
    "  else\n"                                                                \
    "    local marks = {skip}\n"                                              \
    "    for i = 1, want do\n"                                                \
    "      emit(batch[i])\n"                                                  \
    "      marks[#marks + 1] = h(batch[i])\n"                                 \
    "    end\n"                                                               \
    "    return {cur, table.concat(marks), out}\n"                            \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "return {cur, '', out}\n"

/* KEYS[1] counter, then (value, version) per key. -> one element per key:
 * false (absent) or {version, value}. */
#define STORAGE_LUA_GET_MANY                                                  \
    STORAGE_LUA_NEWVER STORAGE_LUA_UNPACKV STORAGE_LUA_READ                   \
    "local out = {}\n"                                                        \
    "for i = 2, #KEYS, 2 do\n"                                                \
    "  local d, v = read(KEYS[i], KEYS[i + 1])\n"                             \
    "  if d then\n"                                                           \
    "    out[#out + 1] = {v, d}\n"                                            \
    "  else\n"                                                                \
    "    out[#out + 1] = false\n"                                             \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "return out\n"

/* KEYS as get_many; ARGV: value, ttl per key. -> the new versions. */
#define STORAGE_LUA_PUT_MANY                                                  \
    STORAGE_LUA_NEWVER STORAGE_LUA_WRITE                                      \
    "local out = {}\n"                                                        \
    "nv_want = math.max(1, (#KEYS - 1) / 2)\n"                                \
    "for i = 2, #KEYS, 2 do\n"                                                \
    "  out[#out + 1] = write(KEYS[i], KEYS[i + 1], ARGV[i - 1], ARGV[i])\n"   \
    "end\n"                                                                   \
    "return out\n"

/* KEYS[1] the index. ARGV: min, max, offset, limit, '1' for descending.
 * -> {member, score, ...}. Ranks come from ZCOUNT (O(log n)), so a large
 * offset costs nothing; descending is the ascending slice reversed. */
#define STORAGE_LUA_RANGE                                                     \
    "local lo = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])\n"      \
    "local hi = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[2])\n"             \
    "local off, lim = tonumber(ARGV[3]), tonumber(ARGV[4])\n"                 \
    "if off >= hi - lo then return {} end\n"                                  \
    "local take = math.min(lim, hi - lo - off)\n"                             \
    "local first = lo + off\n"                                                \
    "if ARGV[5] == '1' then first = hi - off - take end\n"                    \
    "local r = redis.call('ZRANGE', KEYS[1], first, first + take - 1,\n"      \
    "                     'WITHSCORES')\n"                                    \
    "if ARGV[5] ~= '1' then return r end\n"                                   \
    "local out = {}\n"                                                        \
    "for i = #r - 1, 1, -2 do\n"                                              \
    "  out[#out + 1] = r[i]\n"                                                \
    "  out[#out + 1] = r[i + 1]\n"                                            \
    "end\n"                                                                   \
    "return out\n"

/* KEYS[1] counter, then two per op: (value, version) for value ops, the
 * index twice for sorted ops. ARGV: per op kind, expected, value/member,
 * ttl, number (5 each). -> {0, index} when op `index` (0-based) fails its
 * condition (nothing written), else {1, version1, result1, ...} ('' for
 * none). Conditions are all judged first, against the store as it was. */
#define STORAGE_LUA_TXN                                                       \
    STORAGE_LUA_PRELUDE_V2                                                    \
    /* Redis's integer rule, and v + d within int64 on decimal strings. */    \
    "local function isint(s)\n"                                               \
    "  return s == '0' or (#s <= 20 and string.find(s, '^%-?[1-9]%d*$'))\n"  \
    "end\n"                                                                   \
    "local function addmag(a, b)\n"                                           \
    "  local r, carry, i, j = {}, 0, #a, #b\n"                                \
    "  while i > 0 or j > 0 or carry > 0 do\n"                                \
    "    local x = carry\n"                                                   \
    "    if i > 0 then x = x + string.byte(a, i) - 48 end\n"                  \
    "    if j > 0 then x = x + string.byte(b, j) - 48 end\n"                  \
    "    r[#r + 1] = string.char(48 + x % 10)\n"                              \
    "    carry = math.floor(x / 10)\n"                                        \
    "    i, j = i - 1, j - 1\n"                                               \
    "  end\n"                                                                 \
    "  return string.reverse(table.concat(r))\n"                              \
    "end\n"                                                                   \
    "local function magle(a, b)\n"                                            \
    "  if #a ~= #b then return #a < #b end\n"                                 \
    "  return a == b or lt(a, b)\n"                                           \
    "end\n"                                                                   \
    "local function mag(s)\n"                                                 \
    "  if string.sub(s, 1, 1) == '-' then return string.sub(s, 2), true end\n"\
    "  return s, false\n"                                                     \
    "end\n"                                                                   \
    "local MAXP, MAXN = '9223372036854775807', '9223372036854775808'\n"      \
    "local function incr_ok(v, d)\n"                                          \
    "  if not isint(v) then return false end\n"                               \
    "  local vm, vneg = mag(v)\n"                                             \
    "  if not magle(vm, vneg and MAXN or MAXP) then return false end\n"       \
    "  local dm, dneg = mag(d)\n"                                             \
    "  if vneg ~= dneg or vm == '0' or dm == '0' then return true end\n"      \
    "  return magle(addmag(vm, dm), vneg and MAXN or MAXP)\n"                 \
    "end\n"                                                                   \
    "local n = (#ARGV) / 5\n"                                                 \
    "local function arg(i, j) return ARGV[(i - 1) * 5 + j] end\n"             \
    "for i = 1, n do\n"                                                       \
    "  local kind, k, vk = arg(i, 1), KEYS[2 * i], KEYS[2 * i + 1]\n"         \
    "  local ok = true\n"                                                     \
    "  if kind == '2' or kind == '4' or kind == '5' then\n"                   \
    "    local cur, val = curval(k, vk)\n"                                    \
    "    if kind == '2' then ok = cur == arg(i, 2)\n"                         \
    "    elseif kind == '4' then ok = val ~= nil and cur == arg(i, 2)\n"      \
    "    elseif val ~= nil then ok = incr_ok(val, arg(i, 5)) end\n"           \
    "  end\n"                                                                 \
    "  if not ok then return {0, i - 1} end\n"                                \
    "end\n"                                                                   \
    "local out = {1}\n"                                                       \
    "nv_want = math.max(1, n)\n"                                              \
    "for i = 1, n do\n"                                                       \
    "  local kind, k, vk = arg(i, 1), KEYS[2 * i], KEYS[2 * i + 1]\n"         \
    "  local ver, res = '', ''\n"                                             \
    "  if kind == '1' or kind == '2' then\n"                                  \
    "    ver = write(k, vk, arg(i, 3), arg(i, 4))\n"                          \
    "  elseif kind == '3' or kind == '4' then\n"                              \
    "    redis.call('DEL', k, vk)\n"                                          \
    "  elseif kind == '5' then\n"                                             \
    "    local d = redis.call('GET', k)\n"                                    \
    "    if d then\n"                                                         \
    "      res, ver = incr_present(k, vk, d, arg(i, 5))\n"                    \
    "    else\n"                                                              \
    "      ver = write(k, vk, arg(i, 5), arg(i, 4))\n"                        \
    "      res = arg(i, 5)\n"                                                 \
    "    end\n"                                                               \
    "  elseif kind == '6' then\n"                                             \
    "    redis.call('ZADD', k, arg(i, 5), arg(i, 3))\n"                       \
    "  else\n"                                                                \
    "    redis.call('ZREM', k, arg(i, 3))\n"                                  \
    "  end\n"                                                                 \
    "  out[#out + 1] = ver\n"                                                 \
    "  out[#out + 1] = res\n"                                                 \
    "end\n"                                                                   \
    "return out\n"

#endif
