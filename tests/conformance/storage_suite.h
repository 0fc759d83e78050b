/*
 * The storage conformance suite: one behaviour, many backends.
 *
 * Every test talks to the backend only through the public wabot_storage_*
 * functions, so any backend that passes it behaves like the built-in ones.
 * A runner describes its backend with a wb_storage_backend and adds the
 * returned TCase to a Suite (see run_memory.c).
 *
 * Time: tests that involve TTLs call advance_ms() to move the backend's
 * clock past a deadline. A backend with a fake clock moves it; a backend
 * on real time (Redis) sleeps. TTLs used by the suite are 50..300 ms, and
 * no test asserts on how close to its deadline a key expires.
 */
#ifndef WB_STORAGE_SUITE_H
#define WB_STORAGE_SUITE_H

#include <check.h>
#include <stdint.h>

#include "wabot.h"

typedef struct wb_storage_backend {
    /* Shown in the TCase name ("conformance:<name>"). */
    const char *name;
    /* A new, empty store for one test. NULL fails the test. */
    wabot_storage *(*create)(void *ud);
    /* Release what create() returned. */
    void (*destroy)(wabot_storage *s, void *ud);
    /* Move the backend's notion of time forward by ms. */
    void (*advance_ms)(int64_t ms, void *ud);
    void *ud;
} wb_storage_backend;

/* Up to this many backends may be registered in one process. */
#define WB_STORAGE_SUITE_MAX_BACKENDS 4

/* A TCase running every conformance test against `b` (copied; b->ud must
 * outlive the run). Each test gets a fresh store from b->create() through
 * a checked fixture. Aborts if more than WB_STORAGE_SUITE_MAX_BACKENDS are
 * registered. */
TCase *wb_storage_conformance_tcase(const wb_storage_backend *b);

#endif
