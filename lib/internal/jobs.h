/* Jobs internals shared by the scheduler wrapper, the built-in backends
 * and the worker side. Private. Append-only while several people work on
 * the jobs module. */
#ifndef WB_JOBS_H
#define WB_JOBS_H

#include "wabot/jobs.h"

/* Limits the wrappers enforce (bytes, without the NUL). */
#define WB_QUEUE_NAME_MAX 64
#define WB_JOB_ID_MAX 256

struct wabot_scheduler {
    const wabot_scheduler_vtable *vt; /* borrowed */
    void *impl;                       /* owned: vt->destroy(impl) on free */
    const char *name;                 /* static string */
};

/* A deep copy of one record. `rec` points into `strings`, one libc block
 * holding id, payload and last_error (each NUL-terminated), so a snapshot
 * is one allocation and is replaced all at once. */
struct wabot_job_info {
    wabot_job_record rec;
    char *strings; /* NULL until set */
};

/* Wrap a backend under a static `name` without the public checks (for the
 * built-in backends, whose tables are known to be complete). Takes
 * ownership of impl only on success. NULL on out of memory. */
wabot_scheduler *wb_scheduler_wrap(const wabot_scheduler_vtable *vt,
                                   void *impl, const char *name);

/* Forget info's record (wabot_job_info_record() gives NULL afterwards). */
void wb_job_info_clear(wabot_job_info *info);

/* 1 if s is a valid queue name: 1..64 bytes of [A-Za-z0-9._:-]. */
int wb_queue_name_ok(const char *s);
/* 1 if s is a valid job id: 1..256 bytes, no control characters. */
int wb_job_id_ok(const char *s);
/* 1 if job is what a backend may rely on in an enqueued record (the
 * enqueue wrapper's check, for a caller that enqueues another way). */
int wb_job_record_ok(const wabot_job_record *job);

#endif
