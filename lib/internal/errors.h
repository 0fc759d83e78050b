/* The one detail slot behind every *_errmsg() accessor and wabot_errmsg()
 * (lib/core/errors.c; doc/errors.md says the rule). */
#ifndef WB_INTERNAL_ERRORS_H
#define WB_INTERNAL_ERRORS_H

#include <stdarg.h>

/* Record a detail message about `owner` (any handle, or NULL for a failed
 * constructor) on this thread and return `status`, so callers can write
 * `return wb_detail(s, WABOT_ERR_INVAL, "...")`. */
int wb_detail(const void *owner, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wb_detailv(const void *owner, const char *fmt, va_list ap);
/* For constructors that return NULL: record the detail (owner NULL, read
 * with wabot_errmsg()) and return NULL. */
void *wb_null(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* This thread's detail if it is about `owner`, else "". */
const char *wb_detail_of(const void *owner);

#endif
