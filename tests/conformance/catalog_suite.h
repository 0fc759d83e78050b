/*
 * The catalog conformance suite: the commerce catalog (products, versions,
 * indexes, counters, import, the matcher's index across contexts) behaves
 * the same on every storage backend. Public API only. A runner describes
 * its backend and adds the returned TCase to a Suite (run_catalog_memory.c,
 * tests/redis/run_catalog_redis.c).
 */
#ifndef WB_CATALOG_SUITE_H
#define WB_CATALOG_SUITE_H

#include <check.h>

#include "wabot.h"

typedef struct wb_catalog_backend {
    const char *name;                        /* "catalog:<name>" */
    wabot_storage *(*create)(void *ud);      /* a new, empty store */
    void (*destroy)(wabot_storage *s, void *ud);
    void *ud;
} wb_catalog_backend;

/* A TCase running every catalog test against b (copied; b->ud must
 * outlive the run). One backend per process. */
TCase *wb_catalog_conformance_tcase(const wb_catalog_backend *b);

#endif
