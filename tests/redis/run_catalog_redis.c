/* The catalog conformance suite on a real redis-server (a fresh key prefix
 * per test). Exits 77 (skip) without redis-server, except under CI=true,
 * where that fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog_suite.h"
#include "redis_harness.h"
#include "testutil.h"

static rh_server g_srv;
static wabot_redis *g_redis;

static wabot_storage *redis_create(void *ud)
{
    (void)ud;
    static int counter;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "cat%ld-%d:", (long)getpid(), ++counter);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.prefix = prefix;
    cfg.pool_size = 8; /* the concurrency test's threads */
    const char *err = NULL;
    g_redis = wabot_redis_new(&cfg, &err);
    ck_assert_msg(g_redis != NULL, "wabot_redis_new: %s", err ? err : "?");
    return wabot_storage_redis_new(g_redis);
}

static void redis_destroy(wabot_storage *s, void *ud)
{
    (void)ud;
    wabot_storage_free(s);
    wabot_redis_free(g_redis);
    g_redis = NULL;
}

int main(void)
{
    int started = rh_main_start(&g_srv);
    if (started != 0)
        return started;
    Suite *s = suite_create("catalog-redis");
    wb_catalog_backend b = {"redis", redis_create, redis_destroy, NULL};
    suite_add_tcase(s, wb_catalog_conformance_tcase(&b));
    int rc = tu_run_suite(s);
    rh_destroy(&g_srv);
    return rc;
}
