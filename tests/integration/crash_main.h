/* The frame of the tests that run wabot-server processes against a real
 * redis-server (with AOF) and the fake provider, killing and restarting
 * them (two-server-crash, crash-reconcile, redis-outbox-crash,
 * redis-servers, campaign-crash). */
#ifndef CRASH_MAIN_H
#define CRASH_MAIN_H

#include <check.h>

#include "fake_provider.h"
#include "redis_harness.h"

/* The test's shared pieces, set by crash_main before the suite runs. */
typedef struct crash_env {
    const char *server_path; /* argv[1], or $WABOT_SERVER */
    rh_server redis;         /* started with AOF */
    fp_server *fp;
} crash_env;

/* Check that wabot-server and redis-server are there (missing: exit 77,
 * or 1 under CI=true), start Redis with AOF and the fake provider with
 * `fp_cfg` (NULL: defaults), run `su` in this process (the tests spawn
 * and kill servers: no fork per test), stop both. Returns the process's
 * exit status. */
int crash_main(int argc, char **argv, crash_env *env, const fp_config *fp_cfg,
               Suite *su);

#endif
