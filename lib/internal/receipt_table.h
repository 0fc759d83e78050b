/* A compact table of delivery records, kept by a process-local storage
 * backend beside its keys (lib/storage/receipt_table.c), for the receipts
 * module (lib/webhook/receipts.c).
 *
 * A send's record was a storage entry "receipt:<provider id>" (about 190
 * bytes with key, entry header, malloc's rounding and hash node, kept a
 * week: issue 12). Here a record is a fixed-size slot: 88 bits of the
 * provider id's keyed hash, a deadline, and WB_RTAB_PAYLOAD bytes the
 * receipts module packs its fields into (or WB_RTAB_PAYLOAD_WIDE in a
 * slot twice the size, for the records that need it). Records it cannot
 * pack stay storage keys. Like marks.h, the id's text is not kept: a
 * record is found by its id, never listed. Private. */
#ifndef WB_RECEIPT_TABLE_H
#define WB_RECEIPT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "wabot/core.h"

#define WB_RTAB_PAYLOAD 48
/* A record whose fields need more room (a Meta reply's long id) takes a
 * 128-byte slot with this payload instead. */
#define WB_RTAB_PAYLOAD_WIDE 112
/* Organisations the table names by a number (1..WB_RTAB_ORGS); a record
 * of one more stays a storage key. */
#define WB_RTAB_ORGS 1023

typedef struct wb_rtab wb_rtab;

/* One id's place, between wb_rtab_lock and wb_rtab_unlock: the shard's
 * mutex is held, so every change of that id is serialised (the caller may
 * read and write the storage's key of the id meanwhile: the lock order is
 * table, then storage, never the other way). */
typedef struct wb_rtab_cur {
    void *shard;
    uint64_t h0;
    uint32_t h1;
    int64_t pos; /* index position of the live record, -1 = none */
} wb_rtab_cur;

/* A new empty table reading time from clock (copied; its ud must outlive
 * the table). NULL on out of memory. */
wb_rtab *wb_rtab_new(const wabot_clock *clock);
void wb_rtab_free(wb_rtab *t); /* NULL: no-op */

/* Lock id's shard and find its live record (an expired one is dropped). */
void wb_rtab_lock(wb_rtab *t, const char *id, wb_rtab_cur *c);
void wb_rtab_unlock(wb_rtab_cur *c);
/* The locked record's payload, or NULL; *len (may be NULL) gets its size,
 * WB_RTAB_PAYLOAD or WB_RTAB_PAYLOAD_WIDE. */
const void *wb_rtab_get(wb_rtab *t, const wb_rtab_cur *c, size_t *len);
/* Write the locked id's record for ttl_ms (<= 0: until removed), a new
 * one or over the old (moved to a slot of the other size when len is
 * not the old one's). len is WB_RTAB_PAYLOAD or WB_RTAB_PAYLOAD_WIDE.
 * WABOT_OK, WABOT_ERR_NOMEM (nothing changed) or WABOT_ERR_INVAL (any
 * other len). */
int wb_rtab_put(wb_rtab *t, wb_rtab_cur *c, const void *payload, size_t len,
                int64_t ttl_ms);
/* Remove the locked id's record (none: no-op). */
void wb_rtab_remove(wb_rtab *t, wb_rtab_cur *c);

/* The number (1..WB_RTAB_ORGS) naming org, added when new; 0 when the
 * table names WB_RTAB_ORGS already or on out of memory. Any thread. */
unsigned wb_rtab_org_id(wb_rtab *t, const char *org);
/* The organisation numbered id, or NULL. Valid while the table lives. */
const char *wb_rtab_org(wb_rtab *t, unsigned id);

/* Live records, and the bytes the table holds (slots, index, names), for
 * benchmarks and tests. Drops expired records first. */
size_t wb_rtab_count(wb_rtab *t, size_t *bytes);

#endif
