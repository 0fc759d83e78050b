/* Shared helpers for libwabot's Check suites. */
#ifndef WABOT_TESTUTIL_H
#define WABOT_TESTUTIL_H

#include <check.h>
#include <jansson.h>
#include <stdint.h>

#include "wabot.h"
#include "wabot/jobs.h"
#include "wabot/loop.h"

/* A fake clock: time moves only when a test moves it. Thread-safe. */
typedef struct tu_clock {
    int64_t now; /* accessed atomically */
} tu_clock;

/* Start at a fixed, realistic instant (2026-01-01T00:00:00Z). */
#define TU_EPOCH_MS 1767225600000LL

void tu_clock_init(tu_clock *c, int64_t start_ms);
void tu_clock_advance(tu_clock *c, int64_t ms);
int64_t tu_clock_now(tu_clock *c);
/* A wabot_clock reading c (c must outlive its users). */
wabot_clock tu_clock_wabot(tu_clock *c);

/* An allocator over libc that counts allocations and frees (atomically);
 * c must outlive its users. */
typedef struct tu_counting_alloc {
    long allocs, frees;
} tu_counting_alloc;
wabot_allocator tu_counting_allocator(tu_counting_alloc *c);
long tu_counted(const long *counter); /* atomic read of allocs or frees */

/* Run a suite with Check's normal output; returns the process exit code. */
int tu_run_suite(Suite *s);
/* The same without forking: for tests that stop and restart a process
 * they started, or keep a server's threads in this process. */
int tu_run_suite_nofork(Suite *s);

/* n copies of unit, NUL-terminated (malloc'ed; free()). */
char *tu_repeat(const char *unit, size_t n);

/* A context with memory storage, a recorder transport and the given
 * clock (may be NULL = system clock). The test frees ctx, then the
 * storage and transport (tu_env_free does all three). */
typedef struct tu_env {
    wabot_ctx *ctx;
    wabot_storage *storage;
    wabot_transport *rec;
    tu_clock clock;
} tu_env;
void tu_env_init(tu_env *e);                   /* fake clock at TU_EPOCH_MS */
void tu_env_init_opts(tu_env *e, wabot_options *opts); /* extra options */
void tu_env_free(tu_env *e);

/* Run every job that is due now (replies go out through the outbound
 * queue): wabot_ctx_run_until_idle up to the context's current time. */
void tu_drain(wabot_ctx *ctx);
/* A job record as the library would enqueue it (wabot_job_spec's
 * defaults), id and payload borrowed, created and due at run_at_ms. */
wabot_job_record tu_job_record(const char *id, const char *payload,
                               int64_t run_at_ms);

/* Assert that r is the library's JSON error answer: `status`, content
 * type application/json, body exactly {"error":{"code":<code>,
 * "message":<string>}}. Does not free r. */
void tu_assert_json_error(const wabot_http_response *r, int status,
                          const char *code);

/* A text message from `from` with the given id (owned by the caller). */
wabot_message *tu_text(const char *id, const char *from, const char *text);

/* How many of a bulk test's items to use: `full`, or full / 10 when
 * WABOT_TEST_SMALL=1 (scripts/check.sh sets it for the ASan and valgrind
 * passes: they check memory, the plain pass checks the full scale, and CI
 * keeps within its time). */
int tu_scale(int full);

#endif
