/* Time zones from the system's tz database (tz.c) and quiet hours in
 * local time (quiet_hours.c). Private to the campaign module. */
#ifndef WB_CAMPAIGN_TZ_H
#define WB_CAMPAIGN_TZ_H

#include <stdint.h>

#include "wabot/core.h"

/* A parsed zone: immutable once loaded, so any thread may read it. */
typedef struct wb_tz wb_tz;

/* 1 if name has the shape of an IANA zone name ("Europe/Lisbon"): 1..64
 * bytes of [A-Za-z0-9_/+-], no "..", not starting with '/'. */
int wb_tz_name_ok(const char *name);
/* Load zone `name` from /usr/share/zoneinfo into *out (free with
 * wb_tz_free). WABOT_ERR_INVAL (bad name), WABOT_ERR_NOT_FOUND (no such
 * zone or not a TZif file), NOMEM. */
int wb_tz_load(const wabot_allocator *a, const char *name, wb_tz **out);
void wb_tz_free(wb_tz *z);
/* Offset east of UTC, in seconds, at instant t (seconds since the epoch);
 * 0 for a NULL zone (UTC). */
int32_t wb_tz_offset(const wb_tz *z, int64_t t);

/* Quiet hours "HH:MM-HH:MM" (local time; may wrap midnight, "21:00-08:00")
 * into minutes of the day. "" means none (*start == *end == 0). Returns 1
 * when valid, 0 otherwise; equal ends are refused. */
int wb_quiet_parse(const char *spec, int *start_min, int *end_min);
/* The first instant (ms) >= t_ms at which the local time in zone z (NULL:
 * UTC) is outside the quiet hours [start_min, end_min): t_ms itself when it
 * is outside already. Handles DST changes (the end is local wall time). */
int64_t wb_quiet_release_ms(const wb_tz *z, int start_min, int end_min,
                            int64_t t_ms);

/* An ISO 8601 instant with Z or an offset ("2025-01-15T10:00:00Z",
 * "2026-03-01T09:30+01:00", "...T09:30:00.250-0500") into *ms since the
 * epoch. Years 1970..9999. Returns 1, or 0 when malformed. */
int wb_iso8601_ms(const char *s, int64_t *ms);

#endif
