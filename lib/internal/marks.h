/* A compact set of keys with expiry times ("marks"), kept by a
 * process-local storage backend beside its keys (lib/storage/marks.c).
 *
 * The inbound dedup's "done" marks were a storage entry each (128 bytes
 * with header and malloc's rounding, kept a day: issue 12). Here a mark is
 * 88 bits of its key's keyed hash and an expiry time, 16 bytes in an
 * open-addressing table. Only membership can be asked: the key's text is
 * not kept, so marks are not storage keys (no get, no scan). Private. */
#ifndef WB_MARKS_H
#define WB_MARKS_H

#include <stddef.h>
#include <stdint.h>

#include "wabot/core.h"

typedef struct wb_marks wb_marks;

/* A new empty set reading time from clock (copied; the clock's ud must
 * outlive the set). NULL on out of memory. */
wb_marks *wb_marks_new(const wabot_clock *clock);
void wb_marks_free(wb_marks *m); /* NULL: no-op */

/* Mark key for ttl_ms (0, or a deadline more than 26 years after the
 * set was made: until deleted); a key marked already gets the new
 * deadline. WABOT_OK or WABOT_ERR_NOMEM (the set is unchanged). */
int wb_marks_add(wb_marks *m, const char *key, int64_t ttl_ms);
/* 1 if key is marked and its mark has not expired, else 0. */
int wb_marks_has(wb_marks *m, const char *key);
/* Unmark key: WABOT_OK or WABOT_ERR_NOT_FOUND. */
int wb_marks_del(wb_marks *m, const char *key);
/* Live marks, and the bytes the set holds (its tables), for benchmarks
 * and tests. Sweeps expired marks first. */
size_t wb_marks_count(wb_marks *m, size_t *bytes);

#endif
