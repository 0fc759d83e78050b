/* UTC offsets of IANA time zones, read from the system's tz database
 * (/usr/share/zoneinfo, TZif files, RFC 8536) without touching the
 * process's TZ: localtime_r after setenv("TZ") changes a process-wide
 * setting under the host's feet and is not thread-safe, so the library
 * parses the zone file itself. Transitions come from the 64-bit (v2+)
 * block; instants after the last transition follow the footer's POSIX TZ
 * rule (zic's "slim" files stop their transitions early and rely on it).
 * Leap seconds are ignored (the "right/" zones are not supported). */
#include <stdio.h>
#include <string.h>

#include "internal/alloc.h"
#include "tz.h"

#define TZ_DIR "/usr/share/zoneinfo/"
#define TZ_FILE_MAX (256 * 1024)
#define DAY_S 86400LL

/* A "Mm.w.d/time" rule: day d (0 Sunday) of week w (5: last) of month m,
 * at `secs` local time. */
typedef struct tz_rule {
    int month, week, wday;
    int32_t secs;
} tz_rule;

struct wb_tz {
    const wabot_allocator *alloc;
    size_t n;            /* transitions */
    int64_t *when;       /* transition instants (s), ascending */
    int32_t *off_after;  /* UTC offset (s) from when[i] on */
    int32_t off_before;  /* before the first transition */
    /* Footer rule, for instants after the last transition. */
    int has_footer, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    tz_rule start, end;
};

static int64_t be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    if (bytes == 4)
        return (int64_t)(int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t year_of(int64_t secs)
{
    int64_t z = (secs >= 0 ? secs : secs - DAY_S + 1) / DAY_S + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

/* ---- the POSIX TZ footer ----------------------------------------- */

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q ? q + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static int num(const char **pp, int max)
{
    const char *p = *pp;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 3)
        v = v * 10 + (*p++ - '0'), digits++;
    *pp = p;
    return digits && v <= max ? v : -1;
}

/* [+-]hh[:mm[:ss]] into seconds; NULL on error. */
static const char *hms(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int h = num(&p, 167), m = 0, s = 0;
    if (h < 0)
        return NULL;
    if (*p == ':' && (p++, (m = num(&p, 59)) < 0))
        return NULL;
    if (*p == ':' && (p++, (s = num(&p, 59)) < 0))
        return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

/* ",Mm.w.d[/time]"; only the M form (every current zone uses it). */
static const char *rule(const char *p, tz_rule *r)
{
    if (*p++ != ',' || *p++ != 'M')
        return NULL;
    r->month = num(&p, 12);
    if (r->month < 1 || *p++ != '.' || (r->week = num(&p, 5)) < 1 ||
        *p++ != '.' || (r->wday = num(&p, 6)) < 0)
        return NULL;
    r->secs = 7200;
    if (*p == '/')
        p = hms(p + 1, &r->secs);
    return p;
}

static int parse_footer(wb_tz *z, const char *s)
{
    int32_t off;
    const char *p = skip_name(s);
    if (!p || !(p = hms(p, &off)))
        return 0;
    z->std_off = -off; /* POSIX offsets count west of UTC */
    z->has_footer = 1;
    if (*p == '\0')
        return 1;
    if (!(p = skip_name(p)))
        return 0;
    z->dst_off = z->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if (!(p = hms(p, &off)))
            return 0;
        z->dst_off = -off;
    }
    if (!(p = rule(p, &z->start)) || !(p = rule(p, &z->end)) || *p)
        return 0;
    z->has_dst = 1;
    return 1;
}

/* The UTC instant the rule fires in `year`, given the offset in force
 * before it. */
static int64_t rule_instant(const tz_rule *r, int64_t year, int32_t off)
{
    int64_t first = days_from_civil(year, r->month, 1);
    int wday1 = (int)(((first % 7) + 11) % 7); /* 1970-01-01: Thursday */
    int64_t day = first + (r->wday - wday1 + 7) % 7 + (r->week - 1) * 7;
    int mdays = r->month == 12 ? 31
                               : (int)(days_from_civil(year, r->month + 1,
                                                       1) - first);
    while (day - first >= mdays)
        day -= 7;
    return day * DAY_S + r->secs - off;
}

static int32_t footer_offset(const wb_tz *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_off;
    int64_t year = year_of(t + z->std_off);
    int64_t on = rule_instant(&z->start, year, z->std_off);
    int64_t off = rule_instant(&z->end, year, z->dst_off);
    int in_dst = on < off ? t >= on && t < off : !(t >= off && t < on);
    return in_dst ? z->dst_off : z->std_off;
}

/* ---- TZif ----------------------------------------------------------- */

typedef struct tzif_counts {
    int64_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static int counts_at(const unsigned char *p, size_t left, tzif_counts *c)
{
    if (left < 44 || memcmp(p, "TZif", 4) != 0)
        return 0;
    c->isut = be(p + 20, 4), c->isstd = be(p + 24, 4);
    c->leap = be(p + 28, 4), c->time = be(p + 32, 4);
    c->type = be(p + 36, 4), c->chars = be(p + 40, 4);
    return c->isut >= 0 && c->isstd >= 0 && c->leap >= 0 && c->time >= 0 &&
           c->type > 0 && c->type <= 256 && c->chars >= 0;
}

static size_t block_size(const tzif_counts *c, int tb)
{
    return (size_t)(c->time * tb + c->time + c->type * 6 + c->chars +
                    c->leap * (tb + 4) + c->isstd + c->isut);
}

static int parse_tzif(wb_tz *z, const unsigned char *buf, size_t len)
{
    tzif_counts c;
    if (!counts_at(buf, len, &c))
        return 0;
    const unsigned char *p = buf + 44;
    int tb = 4;
    if (buf[4] >= '2') { /* skip the 32-bit block, use the 64-bit one */
        size_t skip = block_size(&c, 4);
        if (44 + skip > len || !counts_at(p + skip, len - 44 - skip, &c))
            return 0;
        p += skip + 44;
        tb = 8;
    }
    size_t need = block_size(&c, tb);
    if ((size_t)(p - buf) + need > len)
        return 0;
    const unsigned char *idx = p + c.time * tb, *types = idx + c.time;
    z->n = (size_t)c.time;
    z->when = wb_calloc(z->alloc, z->n + 1, sizeof *z->when);
    z->off_after = wb_calloc(z->alloc, z->n + 1, sizeof *z->off_after);
    if (!z->when || !z->off_after)
        return -1;
    for (size_t i = 0; i < z->n; i++) {
        if (idx[i] >= c.type)
            return 0;
        z->when[i] = be(p + i * (size_t)tb, tb);
        z->off_after[i] = (int32_t)be(types + idx[i] * 6, 4);
    }
    z->off_before = (int32_t)be(types, 4); /* RFC 8536: type 0 */
    const char *foot = (const char *)p + need;
    size_t flen = len - (size_t)(p + need - buf);
    if (tb == 8 && flen >= 2 && foot[0] == '\n') {
        char rule_text[128];
        const char *nl = memchr(foot + 1, '\n', flen - 1);
        size_t n = nl ? (size_t)(nl - foot - 1) : 0;
        if (n > 0 && n < sizeof rule_text) {
            memcpy(rule_text, foot + 1, n);
            rule_text[n] = '\0';
            if (!parse_footer(z, rule_text))
                z->has_footer = 0;
        }
    }
    return 1;
}

int wb_tz_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr("_/+-", ch)))
            return 0;
    }
    return 1;
}

static unsigned char *read_zone(const wabot_allocator *a, const char *name,
                                size_t *len)
{
    char path[sizeof TZ_DIR + 64];
    snprintf(path, sizeof path, "%s%s", TZ_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = wb_malloc(a, TZ_FILE_MAX);
    *len = buf ? fread(buf, 1, TZ_FILE_MAX, f) : 0;
    fclose(f);
    return buf;
}

int wb_tz_load(const wabot_allocator *a, const char *name, wb_tz **out)
{
    *out = NULL;
    if (!wb_tz_name_ok(name))
        return WABOT_ERR_INVAL;
    size_t len = 0;
    unsigned char *buf = read_zone(a, name, &len);
    if (!buf)
        return WABOT_ERR_NOT_FOUND;
    wb_tz *z = wb_calloc(a, 1, sizeof *z);
    int ok = -1;
    if (z) {
        z->alloc = a;
        ok = parse_tzif(z, buf, len);
    }
    wb_free(a, buf);
    if (ok <= 0) {
        wb_tz_free(z);
        return ok < 0 ? WABOT_ERR_NOMEM : WABOT_ERR_NOT_FOUND;
    }
    *out = z;
    return WABOT_OK;
}

void wb_tz_free(wb_tz *z)
{
    if (!z)
        return;
    wb_free(z->alloc, z->when);
    wb_free(z->alloc, z->off_after);
    wb_free(z->alloc, z);
}

int32_t wb_tz_offset(const wb_tz *z, int64_t t)
{
    if (!z)
        return 0;
    if (z->n == 0 || t < z->when[0])
        return z->n == 0 && z->has_footer ? footer_offset(z, t)
                                          : z->off_before;
    if (t >= z->when[z->n - 1] && z->has_footer)
        return footer_offset(z, t);
    size_t lo = 0, hi = z->n; /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->when[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off_after[lo];
}

/* ---- ISO 8601 instants ------------------------------------------- */

static int digits_at(const char **pp, int n, int lo, int hi)
{
    const char *p = *pp;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *pp = p + n;
    return v >= lo && v <= hi ? v : -1;
}

static int expect(const char **pp, char c)
{
    if (**pp != c)
        return 0;
    (*pp)++;
    return 1;
}

/* "Z", "+HH:MM", "+HHMM" or "+HH" into seconds east of UTC. */
static int zone_suffix(const char *p, int32_t *off)
{
    if (p[0] == 'Z' || p[0] == 'z') {
        *off = 0;
        return p[1] == '\0';
    }
    if (*p != '+' && *p != '-')
        return 0;
    int sign = *p++ == '-' ? -1 : 1;
    int h = digits_at(&p, 2, 0, 23), m = 0;
    if (h < 0)
        return 0;
    if (*p != '\0') {
        expect(&p, ':');
        if ((m = digits_at(&p, 2, 0, 59)) < 0 || *p != '\0')
            return 0;
    }
    *off = sign * (h * 3600 + m * 60);
    return 1;
}

int wb_iso8601_ms(const char *s, int64_t *ms)
{
    const char *p = s;
    int y = digits_at(&p, 4, 1970, 9999), mo = -1, d = -1, h = -1, mi = -1;
    if (y < 0 || !expect(&p, '-') || (mo = digits_at(&p, 2, 1, 12)) < 0 ||
        !expect(&p, '-') || (d = digits_at(&p, 2, 1, 31)) < 0 ||
        !(expect(&p, 'T') || expect(&p, 't') || expect(&p, ' ')) ||
        (h = digits_at(&p, 2, 0, 23)) < 0 || !expect(&p, ':') ||
        (mi = digits_at(&p, 2, 0, 59)) < 0)
        return 0;
    int sec = 0, frac = 0;
    if (expect(&p, ':') && (sec = digits_at(&p, 2, 0, 60)) < 0)
        return 0;
    if (*p == '.' || *p == ',') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        if (n == 0)
            return 0;
        for (; n < 3; n++)
            frac *= 10;
    }
    int32_t off;
    if (!zone_suffix(p, &off))
        return 0;
    int64_t days = days_from_civil(y, mo, d);
    if (days_from_civil(y, mo, 1) + d - 1 != days ||
        (mo < 12 ? days >= days_from_civil(y, mo + 1, 1)
                 : days >= days_from_civil(y + 1, 1, 1)))
        return 0; /* 31 February */
    *ms = ((days * DAY_S + h * 3600 + mi * 60 + sec) - off) * 1000 + frac;
    return 1;
}
