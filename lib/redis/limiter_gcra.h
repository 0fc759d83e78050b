/* The Redis limiter's GCRA step, shared by lib/redis/limiter.c and the
 * turn fast path (lib/redis/turn.c), which checks the inbound limit inside
 * its begin script. Private to lib/redis. */
#ifndef WB_REDIS_LIMITER_GCRA_H
#define WB_REDIS_LIMITER_GCRA_H

#include <stdint.h>

#include "wabot/resilience.h"

#define WB_GCRA_KEY_NS "gcra:"

/* Lua: local function gcra(tat, t, tau, now_ms, now_us) -> ok, wait_ms,
 * tat_after (tat: the stored TAT in us or false; t, tau in us). The
 * decision only: the caller writes the TATs. */
#define WB_GCRA_LUA                                                           \
    "local function gcra(tat, t, tau, now_ms, now_us)\n"                      \
    "  if tat then\n"                                                         \
    "    local x = tat - tau\n"                                               \
    "    local r = math.fmod(x, 1000)\n"                                      \
    "    local allow_ms = (x - r) / 1000\n"                                   \
    "    if r < 0 then allow_ms = allow_ms - 1 end\n"                         \
    "    if allow_ms > now_ms then return false, allow_ms - now_ms, tat end\n" \
    "  end\n"                                                                 \
    "  if tat and tat > now_us then return true, 0, tat + t end\n"            \
    "  return true, 0, now_us + t\n"                                          \
    "end\n"                                                                   \
    /* Store a TAT until 1 s after it. */                                     \
    "local function gcra_store(k, tat, now_us)\n"                             \
    "  local ttl = math.ceil((tat - now_us) / 1000) + 1000\n"                 \
    "  redis.call('SET', k, string.format('%d', tat), 'PX',\n"                \
    "             string.format('%d', ttl))\n"                                \
    "end\n"

/* The script's numbers for one limit (decimal, NUL-terminated): now in
 * ms, the emission interval T and tau in us, clamped as limiter.c says. */
typedef struct wb_gcra_nums {
    char now[24], t[24], tau[24];
} wb_gcra_nums;

void wb_gcra_nums_of(const wabot_rate_limit *l, int64_t now_ms,
                     wb_gcra_nums *out);

#endif
