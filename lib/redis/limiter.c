/* The Redis GCRA limiter: the memory limiter's arithmetic (lib/resilience/
 * gcra.c) in one Lua script, so a check over several keys is one atomic,
 * all-or-nothing round trip shared by every process on the Redis.
 *
 * Key P "gcra:" K holds the key's theoretical arrival time (TAT) in
 * microseconds as a decimal string, with a TTL that ends one second after
 * the TAT: a TAT in the past acts exactly like an absent key, so expiry
 * changes no verdict (as the memory backend's forgetting).
 *
 * The emission interval T (ceil'ed) and tau = T * burst are computed here
 * with gcra.c's saturating integer rules and sent as decimal strings; the
 * script works on Lua doubles, exact for integers below 2^53. Inputs are
 * clamped so every value the script forms stays below 2^53: now within
 * +-4e12 ms (until the year 2096), T <= 2^48 us (8.9 years per call),
 * tau <= 2^49 us. Inside those bounds the verdicts and waits are the
 * memory backend's, exactly.
 *
 * Time is the now_ms the caller passes (the library's clock), as for the
 * memory limiter; processes sharing a Redis should keep their clocks in
 * sync (NTP). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "limiter_gcra.h"
#include "resilience.h"

#define NOW_MS_LIMIT INT64_C(4000000000000)
#define T_MAX_US (INT64_C(1) << 48)
#define TAU_MAX_US (INT64_C(1) << 49)
#define KEY_NS WB_GCRA_KEY_NS
#define STACK_LIMITS 8

/* KEYS[i]: the TATs; ARGV[1] now (ms); ARGV[2i], ARGV[2i+1]: T and tau of
 * limit i (us). -> 0 (allowed, every key took one unit) or the wait in ms
 * (nothing taken). A call is allowed when TAT - tau falls in or before the
 * call's millisecond (floor division, exact through fmod). */
static wb_redis_script check_script = WB_REDIS_SCRIPT(
    "limiter check", WB_GCRA_LUA
    "local now_ms = tonumber(ARGV[1])\n"
    "local now_us = now_ms * 1000\n"
    "local tats = {}\n"
    "local retry = 0\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local tat = tats[k]\n"
    "  if tat == nil then\n"
    "    local s = redis.call('GET', k)\n"
    "    tat = s and tonumber(s) or false\n"
    "  end\n"
    "  local ok, wait, after = gcra(tat, tonumber(ARGV[2 * i]),\n"
    "    tonumber(ARGV[2 * i + 1]), now_ms, now_us)\n"
    "  if not ok and wait > retry then retry = wait end\n"
    "  tats[k] = after\n"
    "end\n"
    "if retry > 0 then return retry end\n"
    "for k, tat in pairs(tats) do gcra_store(k, tat, now_us) end\n"
    "return 0\n");

typedef struct redis_limiter {
    wabot_redis *r;
} redis_limiter;

/* ------------------------------------------------------------------ */
/* gcra.c's integer rules                                              */

static int64_t sat_mul(int64_t a, int64_t b) /* a, b >= 0 */
{
    if (a != 0 && b > INT64_MAX / a)
        return INT64_MAX;
    return a * b;
}

static int64_t emission_us(const wabot_rate_limit *l)
{
    int64_t period_us = sat_mul(l->period_ms, 1000);
    return period_us / l->count + (period_us % l->count != 0);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void wb_gcra_nums_of(const wabot_rate_limit *l, int64_t now_ms,
                     wb_gcra_nums *out)
{
    int64_t t = emission_us(l);
    int64_t tau = sat_mul(t, l->burst);
    snprintf(out->now, sizeof out->now, "%" PRId64,
             clamp(now_ms, -NOW_MS_LIMIT, NOW_MS_LIMIT));
    snprintf(out->t, sizeof out->t, "%" PRId64, clamp(t, 1, T_MAX_US));
    snprintf(out->tau, sizeof out->tau, "%" PRId64,
             clamp(tau, 0, TAU_MAX_US));
}

/* ------------------------------------------------------------------ */
/* The call                                                            */

/* Arguments of one check: keys "gcra:<key>", then the numbers. */
typedef struct check_args {
    const char **keys;
    const char **argv;
    char (*nums)[24];
    char *keybuf;
    /* small checks stay on the stack */
    const char *stack_keys[STACK_LIMITS];
    const char *stack_argv[1 + 2 * STACK_LIMITS];
    char stack_nums[1 + 2 * STACK_LIMITS][24];
} check_args;

static void check_args_free(check_args *a)
{
    if (a->keys != a->stack_keys) {
        free((void *)a->keys);
        free((void *)a->argv);
        free(a->nums);
    }
    free(a->keybuf);
}

static int check_args_build(check_args *a, const wabot_rate_limit *limits,
                            size_t n, int64_t now_ms)
{
    a->keys = a->stack_keys;
    a->argv = a->stack_argv;
    a->nums = a->stack_nums;
    a->keybuf = NULL;
    if (n > STACK_LIMITS) {
        a->keys = malloc(n * sizeof *a->keys);
        a->argv = malloc((1 + 2 * n) * sizeof *a->argv);
        a->nums = malloc((1 + 2 * n) * sizeof *a->nums);
        if (a->keys == NULL || a->argv == NULL || a->nums == NULL)
            return WABOT_ERR_NOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += sizeof KEY_NS + strlen(limits[i].key);
    if ((a->keybuf = malloc(total)) == NULL)
        return WABOT_ERR_NOMEM;
    char *p = a->keybuf;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(limits[i].key);
        memcpy(p, KEY_NS, sizeof KEY_NS - 1);
        memcpy(p + sizeof KEY_NS - 1, limits[i].key, len + 1);
        a->keys[i] = p;
        p += sizeof KEY_NS + len;
    }
    snprintf(a->nums[0], sizeof a->nums[0], "%" PRId64,
             clamp(now_ms, -NOW_MS_LIMIT, NOW_MS_LIMIT));
    for (size_t i = 0; i < n; i++) {
        wb_gcra_nums g;
        wb_gcra_nums_of(&limits[i], now_ms, &g);
        memcpy(a->nums[1 + 2 * i], g.t, sizeof g.t);
        memcpy(a->nums[2 + 2 * i], g.tau, sizeof g.tau);
        a->argv[1 + 2 * i] = a->nums[1 + 2 * i];
        a->argv[2 + 2 * i] = a->nums[2 + 2 * i];
    }
    a->argv[0] = a->nums[0];
    return WABOT_OK;
}

static int rl_check(void *impl, const wabot_rate_limit *limits, size_t n,
                    int64_t now_ms, int64_t *retry_after_ms)
{
    redis_limiter *rl = impl;
    check_args a;
    int rc = check_args_build(&a, limits, n, now_ms);
    redisReply *rep = NULL;
    if (rc == WABOT_OK)
        rc = wb_redis_eval(rl->r, &check_script, n, a.keys, 1 + 2 * n,
                           a.argv, NULL, &rep);
    check_args_free(&a);
    if (rc != WABOT_OK)
        return rc;
    long long wait;
    if (!wb_redis_reply_int(rep, &wait) || wait < 0) {
        wb_redis_reply_free(rep);
        return wb_redis_fail(rl->r, "limiter check: unexpected reply");
    }
    wb_redis_reply_free(rep);
    if (wait == 0)
        return WABOT_OK;
    *retry_after_ms = (int64_t)wait;
    return WABOT_ERR_RATE_LIMITED;
}

static void rl_destroy(void *impl)
{
    free(impl);
}

static const wabot_limiter_vtable redis_limiter_vtable = {
    .version = WABOT_LIMITER_VTABLE_VERSION,
    .check = rl_check,
    .destroy = rl_destroy,
};

wabot_redis *wb_redis_limiter_handle(const wabot_limiter *l)
{
    const redis_limiter *rl = wb_limiter_impl_if(l, rl_check);
    return rl != NULL ? rl->r : NULL;
}

wabot_limiter *wabot_limiter_redis_new(wabot_redis *r)
{
    if (r == NULL)
        return NULL;
    redis_limiter *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->r = r;
    wabot_limiter *l = wabot_limiter_new(&redis_limiter_vtable, rl);
    if (l == NULL)
        free(rl);
    return l;
}
