/*
 * The scheduler (job backend) conformance suite: one behaviour, many
 * backends.
 *
 * Every test talks to the backend only through the public
 * wabot_scheduler_* and wabot_job_info_* functions, so any backend that
 * passes it behaves like the built-in memory backend (and the worker side
 * of the library may rely on exactly these semantics). A runner describes
 * its backend with a wb_scheduler_backend and adds the returned TCase to a
 * Suite (see run_scheduler_memory.c).
 *
 * Time: the scheduler keeps no clock; every operation is given now_ms by
 * its caller. The tests pass explicit instants around a fixed epoch, so a
 * backend on a real server (Redis) runs them without sleeping.
 */
#ifndef WB_SCHEDULER_SUITE_H
#define WB_SCHEDULER_SUITE_H

#include <check.h>
#include <stdint.h>

#include "wabot.h"
#include "wabot/jobs.h"

typedef struct wb_scheduler_backend {
    /* Shown in the TCase name ("scheduler:<name>"). */
    const char *name;
    /* A new scheduler with no jobs in any queue, for one test. NULL fails
     * the test. (A shared server: use a fresh key prefix per call.) */
    wabot_scheduler *(*create)(void *ud);
    /* Release what create() returned (and, for a server, its keys). */
    void (*destroy)(wabot_scheduler *s, void *ud);
    void *ud;
} wb_scheduler_backend;

/* Up to this many backends may be registered in one process. */
#define WB_SCHEDULER_SUITE_MAX_BACKENDS 4

/* A TCase running every conformance test against `b` (copied; b->ud must
 * outlive the run). Each test gets a fresh scheduler from b->create()
 * through a checked fixture. Aborts if more than
 * WB_SCHEDULER_SUITE_MAX_BACKENDS are registered. */
TCase *wb_scheduler_conformance_tcase(const wb_scheduler_backend *b);

#endif
