/* Deadlines in 40 bits, for the compact tables that keep one per slot
 * (lib/storage/marks.c, lib/storage/receipt_table.c): ms since a start
 * 2^38 ms (8.7 years) before the table was made, so a clock set back
 * still orders its deadlines, plus `first` (the values below it are the
 * table's own slot states). Times before the start are the start; times
 * past the 40 bits are WB_DL_NEVER, as is no TTL. Private. */
#ifndef WB_DLCLOCK_H
#define WB_DLCLOCK_H

#include <stdint.h>

#include "wabot/core.h"

#define WB_DL_BITS 40
#define WB_DL_MASK (((uint64_t)1 << WB_DL_BITS) - 1)
#define WB_DL_NEVER WB_DL_MASK

typedef struct wb_dlclock {
    wabot_clock clock;
    int64_t start_ms; /* the clock when the table was made, less 2^38 */
    uint64_t first;   /* the deadline of the start */
} wb_dlclock;

static inline void wb_dlclock_init(wb_dlclock *c, const wabot_clock *clock,
                                   uint64_t first)
{
    const int64_t back = (int64_t)1 << 38;
    int64_t now = clock->now_ms(clock->ud);
    c->clock = *clock;
    c->start_ms = now > INT64_MIN + back ? now - back : INT64_MIN;
    c->first = first;
}

/* The time ms as a deadline. */
static inline uint64_t wb_dl_at(const wb_dlclock *c, int64_t ms)
{
    if (ms <= c->start_ms)
        return c->first;
    uint64_t d = (uint64_t)ms - (uint64_t)c->start_ms;
    return d < WB_DL_NEVER - c->first ? d + c->first : WB_DL_NEVER;
}

static inline uint64_t wb_dl_now(const wb_dlclock *c)
{
    return wb_dl_at(c, c->clock.now_ms(c->clock.ud));
}

/* The deadline ttl_ms from now (ttl_ms <= 0: never). */
static inline uint64_t wb_dl_after(const wb_dlclock *c, int64_t ttl_ms)
{
    int64_t now = c->clock.now_ms(c->clock.ud);
    if (ttl_ms <= 0 || now > INT64_MAX - ttl_ms)
        return WB_DL_NEVER;
    return wb_dl_at(c, now + ttl_ms);
}

#endif
