/* A scheduler over the memory one, for tests of what the library does
 * around its job backend: enqueues can be made to fail (a Redis hiccup),
 * a hook runs after each next_due() answer is computed, before it is
 * returned (a job enqueued there is one the caller's deadline missed: the
 * loop's wake-up race), and one before each counts() (a round trip to a
 * shared scheduler, held as long as the test wants). Its name is not the
 * memory backend's, so the library treats it as shared. Header-only:
 * include it in one test file. */
#ifndef WABOT_TEST_FLAKY_SCHEDULER_H
#define WABOT_TEST_FLAKY_SCHEDULER_H

#include "wabot.h"
#include "wabot/jobs.h"

typedef struct flaky {
    wabot_scheduler *inner;
    int fail_enqueues; /* > 0: that many enqueues fail with STORAGE */
    /* Called after the inner next_due() answered for queue (NULL: none). */
    void (*after_next_due)(struct flaky *f, const char *queue);
    /* Called before the inner counts() answers (NULL: none). */
    void (*before_counts)(struct flaky *f, const char *queue);
    void *ud; /* the hooks' */
} flaky;

static int fl_enqueue(void *impl, const char *q, const wabot_job_record *j,
                      int64_t now)
{
    flaky *f = impl;
    if (f->fail_enqueues > 0) {
        f->fail_enqueues--;
        return WABOT_ERR_STORAGE;
    }
    return wabot_scheduler_enqueue(f->inner, q, j, now);
}
static int fl_reserve(void *impl, const char *q, int64_t now, int64_t lease,
                      wabot_job_info *out)
{
    return wabot_scheduler_reserve(((flaky *)impl)->inner, q, now, lease, out);
}
static int fl_extend(void *impl, const char *q, const char *id, uint64_t tok,
                     int64_t until)
{
    return wabot_scheduler_extend(((flaky *)impl)->inner, q, id, tok, until);
}
static int fl_complete(void *impl, const char *q, const char *id, uint64_t tok,
                       int64_t now)
{
    return wabot_scheduler_complete(((flaky *)impl)->inner, q, id, tok, now);
}
static int fl_fail(void *impl, const char *q, const char *id, uint64_t tok,
                   int64_t now, const char *why, int64_t at)
{
    return wabot_scheduler_fail(((flaky *)impl)->inner, q, id, tok, now, why,
                                at);
}
static int fl_release(void *impl, const char *q, const char *id, uint64_t tok,
                      int64_t now, int64_t at)
{
    return wabot_scheduler_release(((flaky *)impl)->inner, q, id, tok, now,
                                   at);
}
static int fl_cancel(void *impl, const char *q, const char *id)
{
    return wabot_scheduler_cancel(((flaky *)impl)->inner, q, id);
}
static int fl_get(void *impl, const char *q, const char *id,
                  wabot_job_info *out)
{
    return wabot_scheduler_get(((flaky *)impl)->inner, q, id, out);
}
static int fl_counts(void *impl, const char *q, int64_t *c, size_t n)
{
    flaky *f = impl;
    if (f->before_counts)
        f->before_counts(f, q);
    return wabot_scheduler_counts(f->inner, q, c, n);
}
static int fl_recover(void *impl, const char *q, int64_t now, int32_t max,
                      int32_t *n)
{
    return wabot_scheduler_recover(((flaky *)impl)->inner, q, now, max, n);
}
static int fl_next_due(void *impl, const char *q, int64_t now, int64_t *due)
{
    flaky *f = impl;
    int rc = wabot_scheduler_next_due(f->inner, q, now, due);
    if (f->after_next_due)
        f->after_next_due(f, q);
    return rc;
}
static int fl_trim(void *impl, const char *q, int32_t st, int64_t keep,
                   int64_t before, int64_t *removed)
{
    return wabot_scheduler_trim(((flaky *)impl)->inner, q, st, keep, before,
                                removed);
}
static void fl_destroy(void *impl)
{
    (void)impl; /* the test owns it */
}

static const wabot_scheduler_vtable flaky_vt = {
    WABOT_SCHEDULER_VTABLE_VERSION, fl_enqueue, fl_reserve, fl_extend,
    fl_complete, fl_fail, fl_release, fl_cancel, fl_get, fl_counts,
    fl_recover, fl_next_due, fl_trim, fl_destroy};

#endif
