/* The catalog conformance suite on the memory backend. */
#include "catalog_suite.h"
#include "testutil.h"

static wabot_storage *memory_create(void *ud)
{
    (void)ud;
    return wabot_storage_memory_new(NULL);
}

static void memory_destroy(wabot_storage *s, void *ud)
{
    (void)ud;
    wabot_storage_free(s);
}

int main(void)
{
    Suite *s = suite_create("catalog-memory");
    wb_catalog_backend b = {"memory", memory_create, memory_destroy, NULL};
    suite_add_tcase(s, wb_catalog_conformance_tcase(&b));
    return tu_run_suite(s);
}
