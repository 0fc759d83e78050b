/* The limiter conformance suite: GCRA behaviours every backend must show,
 * written against the public wabot_limiter_* functions only (as the
 * storage and scheduler suites are). Times are passed in, so no backend
 * needs a clock. */
#ifndef WABOT_LIMITER_SUITE_H
#define WABOT_LIMITER_SUITE_H

#include <check.h>

#include "wabot.h"

typedef struct wb_limiter_backend {
    const char *name;
    wabot_limiter *(*create)(void *ud);          /* a fresh, empty limiter */
    void (*destroy)(wabot_limiter *l, void *ud);
    void *ud;
} wb_limiter_backend;

/* A test case running the suite on b (b must outlive the run). */
TCase *wb_limiter_conformance_tcase(const wb_limiter_backend *b);

#endif
