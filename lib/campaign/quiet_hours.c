/* Quiet hours: a reminder due during an organisation's night waits for
 * its morning, in the customer's (else the organisation's) time zone. */
#include <string.h>

#include "tz.h"

#define DAY_MS 86400000LL

static int two_digits(const char *p, int max)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return -1;
    int v = (p[0] - '0') * 10 + (p[1] - '0');
    return v <= max ? v : -1;
}

int wb_quiet_parse(const char *spec, int *start_min, int *end_min)
{
    *start_min = *end_min = 0;
    if (spec == NULL || *spec == '\0')
        return 1;
    if (strlen(spec) != 11 || spec[2] != ':' || spec[5] != '-' ||
        spec[8] != ':')
        return 0;
    int h1 = two_digits(spec, 23), m1 = two_digits(spec + 3, 59);
    int h2 = two_digits(spec + 6, 23), m2 = two_digits(spec + 9, 59);
    if (h1 < 0 || m1 < 0 || h2 < 0 || m2 < 0)
        return 0;
    *start_min = h1 * 60 + m1;
    *end_min = h2 * 60 + m2;
    return *start_min != *end_min;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t local_ms(const wb_tz *z, int64_t t_ms)
{
    return t_ms + (int64_t)wb_tz_offset(z, floor_div(t_ms, 1000)) * 1000;
}

static int quiet_at(int start, int end, int64_t local)
{
    int m = (int)((local - floor_div(local, DAY_MS) * DAY_MS) / 60000);
    return start < end ? m >= start && m < end : m >= start || m < end;
}

int64_t wb_quiet_release_ms(const wb_tz *z, int start_min, int end_min,
                            int64_t t_ms)
{
    if (start_min == end_min)
        return t_ms;
    int64_t local = local_ms(z, t_ms);
    if (!quiet_at(start_min, end_min, local))
        return t_ms;
    /* The next local wall time end_min after `local`. */
    int64_t day = floor_div(local, DAY_MS) * DAY_MS;
    int64_t target = day + (int64_t)end_min * 60000;
    if (target <= local)
        target += DAY_MS;
    /* Local wall time to UTC: the offset depends on the answer, so
     * iterate (twice is enough outside a transition). */
    int64_t u = target - (local - t_ms);
    for (int i = 0; i < 4; i++) {
        int64_t next = target - (local_ms(z, u) - u);
        if (next == u)
            break;
        u = next;
    }
    /* Inside a DST gap the wall time does not exist: the end of the gap
     * is outside the quiet hours anyway; never go back in time. */
    while (u > t_ms && quiet_at(start_min, end_min, local_ms(z, u)))
        u += 60000;
    return u > t_ms ? u : t_ms;
}
