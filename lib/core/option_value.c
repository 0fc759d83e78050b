/* Option values as text: parsing what the setters, the environment and
 * config files give, checking ranges, and writing values back in the same
 * syntax (durations and sizes with units, booleans and enums by name). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

static int why_fail(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return WABOT_ERR_INVAL;
}

typedef struct unit {
    const char *name;
    int64_t factor;
} unit;

static const unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    {NULL, 0}};
static const unit byte_units[] = {
    {"b", 1}, {"kib", 1024}, {"kb", 1024}, {"k", 1024},
    {"mib", 1048576}, {"mb", 1048576}, {"m", 1048576},
    {"gib", 1073741824}, {"gb", 1073741824}, {"g", 1073741824},
    {NULL, 0}};

/* A decimal integer optionally followed by a unit of `units` (NULL: no
 * unit allowed). 0 on success. */
static int parse_scaled(const char *text, const unit *units, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || end == text)
        return -1;
    while (*end == ' ')
        end++;
    if (*end == '\0') {
        *out = n;
        return 0;
    }
    for (const unit *u = units; u && u->name; u++) {
        if (strcasecmp(end, u->name) != 0)
            continue;
        if (n != 0 && (n > INT64_MAX / u->factor || n < INT64_MIN / u->factor))
            return -1;
        *out = n * u->factor;
        return 0;
    }
    return -1;
}

static int parse_bool(const char *text, int64_t *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL};
    static const char *const no[] = {"0", "false", "no", "off", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_enum(const wb_optdef *d, const char *text, int64_t *out)
{
    for (size_t j = 0; d->choices && d->choices[j]; j++) {
        if (strcasecmp(text, d->choices[j]) == 0) {
            *out = (int64_t)j;
            return 0;
        }
    }
    return parse_scaled(text, NULL, out);
}

static size_t n_choices(const wb_optdef *d)
{
    size_t n = 0;
    while (d->choices && d->choices[n])
        n++;
    return n;
}

int wb_optval_check_int(const wb_optdef *d, int64_t v, char *why, size_t n)
{
    if (d->type == WABOT_OPTION_BOOL && v != 0 && v != 1)
        return why_fail(why, n, "%s is a boolean (0 or 1), got %" PRId64,
                        d->name, v);
    if (d->type == WABOT_OPTION_ENUM) {
        if (v < 0 || (size_t)v >= n_choices(d))
            return why_fail(why, n, "%s must be one of its %zu choices, "
                            "got %" PRId64, d->name, n_choices(d), v);
        return WABOT_OK;
    }
    if (d->type != WABOT_OPTION_BOOL && (v < d->imin || v > d->imax))
        return why_fail(why, n, "%s must be between %" PRId64 " and %" PRId64
                        ", got %" PRId64, d->name, d->imin, d->imax, v);
    return WABOT_OK;
}

int wb_optval_check_str(const wb_optdef *d, const char *v, char *why,
                        size_t n)
{
    if (v[0] == '\0' && !(d->flags & WABOT_OPTION_EMPTY_OK))
        return why_fail(why, n, "%s must not be empty", d->name);
    if (d->check) {
        char detail[200] = "";
        if (d->check(v, detail, sizeof detail) != WABOT_OK)
            return why_fail(why, n, "%s %s", d->name,
                            detail[0] ? detail : "has a bad value");
    }
    return WABOT_OK;
}

int wb_optval_parse(const wb_optdef *d, const char *text, wb_optval *v,
                    const wabot_allocator *a, char *why, size_t n)
{
    memset(v, 0, sizeof *v);
    if (d->type == WABOT_OPTION_STRING) {
        int rc = wb_optval_check_str(d, text, why, n);
        if (rc != WABOT_OK)
            return rc;
        return (v->s = wb_strdup(a, text)) ? WABOT_OK : WABOT_ERR_NOMEM;
    }
    int bad;
    const char *expect;
    switch (d->type) {
    case WABOT_OPTION_BOOL:
        bad = parse_bool(text, &v->i);
        expect = "a boolean (true/false, 1/0, yes/no, on/off)";
        break;
    case WABOT_OPTION_DURATION:
        bad = parse_scaled(text, duration_units, &v->i);
        expect = "a duration (milliseconds, or 250ms, 30s, 5m, 24h, 7d)";
        break;
    case WABOT_OPTION_BYTES:
        bad = parse_scaled(text, byte_units, &v->i);
        expect = "a size (bytes, or 16KiB, 1MiB, 1GiB)";
        break;
    case WABOT_OPTION_ENUM:
        bad = parse_enum(d, text, &v->i);
        expect = "one of its choices";
        break;
    default:
        bad = parse_scaled(text, NULL, &v->i);
        expect = "a decimal integer";
        break;
    }
    if (bad)
        return why_fail(why, n, "%s needs %s, got \"%s\"", d->name, expect,
                        (d->flags & WABOT_OPTION_SECRET) ? "(hidden)" : text);
    return wb_optval_check_int(d, v->i, why, n);
}

/* The largest unit that divides v exactly, as "<n><unit>". */
static int format_scaled(int64_t v, const unit *units, size_t n_units,
                         char *buf, size_t len)
{
    for (size_t k = n_units; k-- > 0;) {
        const unit *u = &units[k];
        if (u->factor > 1 && v != 0 && v % u->factor == 0)
            return snprintf(buf, len, "%" PRId64 "%s", v / u->factor,
                            u->name);
    }
    return snprintf(buf, len, "%" PRId64, v);
}

int wb_optval_format(const wb_optdef *d, const wb_optval *v, char *buf,
                     size_t len)
{
    static const unit dur[] = {{"s", 1000}, {"m", 60000}, {"h", 3600000},
                               {"d", 86400000}};
    static const unit size[] = {{"KiB", 1024}, {"MiB", 1048576},
                                {"GiB", 1073741824}};
    switch (d->type) {
    case WABOT_OPTION_STRING:
        return snprintf(buf, len, "%s", v->s ? v->s : "");
    case WABOT_OPTION_BOOL:
        return snprintf(buf, len, "%s", v->i ? "true" : "false");
    case WABOT_OPTION_ENUM:
        if (v->i >= 0 && (size_t)v->i < n_choices(d))
            return snprintf(buf, len, "%s", d->choices[v->i]);
        return snprintf(buf, len, "%" PRId64, v->i);
    case WABOT_OPTION_DURATION:
        if (v->i != 0 && v->i % 1000 != 0)
            return snprintf(buf, len, "%" PRId64 "ms", v->i);
        return format_scaled(v->i, dur, 4, buf, len);
    case WABOT_OPTION_BYTES:
        return format_scaled(v->i, size, 3, buf, len);
    default:
        return snprintf(buf, len, "%" PRId64, v->i);
    }
}

int wb_optvals_init(const wb_schema *s, wb_optval *vals,
                    const wabot_allocator *a)
{
    for (size_t i = 0; i < s->n; i++) {
        const wb_optdef *d = &s->defs[i];
        vals[i].i = d->idef;
        vals[i].s = NULL;
        if (d->type == WABOT_OPTION_STRING &&
            !(vals[i].s = wb_strdup(a, d->sdef))) {
            wb_optvals_free(vals, i, a);
            return WABOT_ERR_NOMEM;
        }
    }
    return WABOT_OK;
}

void wb_optvals_free(wb_optval *vals, size_t n, const wabot_allocator *a)
{
    for (size_t i = 0; vals && i < n; i++) {
        wb_free(a, vals[i].s);
        vals[i].s = NULL;
    }
}
