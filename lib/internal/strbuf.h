/* Growable byte buffer, always NUL-terminated. Private. */
#ifndef WB_STRBUF_H
#define WB_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "wabot/core.h"

typedef struct wb_strbuf {
    const wabot_allocator *alloc; /* NULL = libc */
    char *data;                   /* NULL until the first append */
    size_t len, cap;
    int oom;                      /* sticky: an append failed */
} wb_strbuf;

void wb_strbuf_init(wb_strbuf *b, const wabot_allocator *a);
/* Room for n more bytes from now on (an out-of-memory is sticky, as for
 * an append): a builder that knows about how long its text will be
 * allocates once instead of growing 64, 128, 256... (issue 12: the job
 * payload and the outbox record grew three times each per message). */
void wb_strbuf_reserve(wb_strbuf *b, size_t n);
void wb_strbuf_append(wb_strbuf *b, const char *s, size_t n);
void wb_strbuf_puts(wb_strbuf *b, const char *s);
void wb_strbuf_putc(wb_strbuf *b, char c);
void wb_strbuf_printf(wb_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wb_strbuf_vprintf(wb_strbuf *b, const char *fmt, va_list ap);
/* Append v in decimal (what "%" PRId64 prints, without printf). */
void wb_strbuf_int(wb_strbuf *b, int64_t v);
/* Append s as a JSON string literal (with quotes, escaped). */
void wb_strbuf_json_str(wb_strbuf *b, const char *s);
/* The same, or null when s is NULL (jansson's "s?"). */
void wb_strbuf_json_str_or_null(wb_strbuf *b, const char *s);
void wb_strbuf_reset(wb_strbuf *b);
/* Give up ownership of the data (never NULL unless oom: "" if empty);
 * the buffer is reset. Returns NULL if any append failed. */
char *wb_strbuf_take(wb_strbuf *b);
void wb_strbuf_free(wb_strbuf *b);

/* Integers as text without printf (a tenth of snprintf's cost), for ids
 * and keys on the hot path. wb_fmt_u64: decimal, NUL-terminated, returns
 * the length. wb_fmt_hex64: 16 lowercase hex digits and a NUL. */
#define WB_FMT_U64_SIZE 21
size_t wb_fmt_u64(char out[WB_FMT_U64_SIZE], uint64_t v);
/* Signed decimal, as wb_fmt_u64 (INT64_MIN included: 20 bytes). */
size_t wb_fmt_i64(char out[WB_FMT_U64_SIZE], int64_t v);
void wb_fmt_hex64(char out[17], uint64_t v);

/* Concatenate the NULL-terminated list of strings `parts` into buf (n
 * bytes with the NUL). Returns the length, or -1 (buf holds "" when
 * n > 0) if it does not fit. For storage keys on the hot path: a third
 * of the cost of snprintf("conv:{%s:%s}", ...). WB_JOIN(buf, n, "a", s,
 * ...) passes the list. */
int wb_str_join(char *buf, size_t n, const char *const *parts);
#define WB_JOIN(buf, n, ...) \
    wb_str_join((buf), (n), (const char *const[]){__VA_ARGS__, NULL})

#endif
