/* jansson's allocations routed to the context allocator (opt-in,
 * wabot_allocator_route_json). A process of its own: the routing is
 * process-wide and cannot be undone. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- a host that set its own jansson allocator keeps it ------------- */

static int host_calls;
static void *host_malloc(size_t n)
{
    host_calls++;
    return malloc(n);
}
static void host_free(void *p)
{
    free(p);
}

START_TEST(test_host_jansson_allocator_is_never_replaced)
{
    json_set_alloc_funcs(host_malloc, host_free);
    ck_assert_int_eq(wabot_allocator_route_json(), WABOT_ERR_STATE);
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    ck_assert_ptr_eq((void *)m, (void *)host_malloc);
    ck_assert_ptr_eq((void *)f, (void *)host_free);
    json_t *v = json_string("host's");
    ck_assert_int_gt(host_calls, 0);
    json_decref(v);
    json_set_alloc_funcs(malloc, free); /* back to the default for the next */
}
END_TEST

/* ---- routed: JSON built inside a turn uses the context's allocator --- */

typedef struct turn_probe {
    tu_counting_alloc *c;
    long allocs_in_turn; /* allocator calls while building one value */
    long frees_in_turn;
    json_t *kept;        /* built in the turn, dropped after it */
} turn_probe;

static int build_json(wabot_turn *t, void *ud)
{
    turn_probe *p = ud;
    long a0 = tu_counted(&p->c->allocs), f0 = tu_counted(&p->c->frees);
    json_t *v = json_pack("{s:s, s:[i,i,i]}", "name", "Ana", "n", 1, 2, 3);
    ck_assert_ptr_nonnull(v);
    p->allocs_in_turn = tu_counted(&p->c->allocs) - a0;
    json_decref(v);
    p->frees_in_turn = tu_counted(&p->c->frees) - f0;
    p->kept = json_pack("{s:s}", "kept", "beyond the turn");
    /* The library's own JSON (session, json_dumps) goes the same way. */
    ck_assert_int_eq(wabot_turn_session_set_json(t, "cart", "{\"a\":[1,2]}",
                                                 11), WABOT_OK);
    char *s = wabot_turn_session_json(t);
    ck_assert_str_eq(s, "{\"cart\":{\"a\":[1,2]}}");
    wabot_ctx_mem_free(wabot_turn_ctx(t), s);
    return wabot_reply_text(t, "ok");
}

static void *drop_on_thread(void *v)
{
    json_decref(v);
    return NULL;
}

START_TEST(test_json_built_inside_a_turn_goes_through_the_ctx_allocator)
{
    ck_assert_int_eq(wabot_allocator_route_json(), WABOT_OK);
    ck_assert_int_eq(wabot_allocator_route_json(), WABOT_OK); /* idempotent */
    tu_counting_alloc c = {0, 0};
    wabot_allocator a = tu_counting_allocator(&c);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_allocator(o, &a), WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    turn_probe p = {&c, 0, 0, NULL};
    wabot_pipeline_use(e.ctx, "json", build_json, &p, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    /* object, string, array, three integers: each one a block */
    ck_assert_int_ge(p.allocs_in_turn, 6);
    ck_assert_int_eq(p.frees_in_turn, p.allocs_in_turn);

    /* Outside any library call jansson uses libc: the counter stays. */
    long a0 = tu_counted(&c.allocs);
    json_t *outside = json_pack("{s:i}", "x", 1);
    ck_assert_int_eq(tu_counted(&c.allocs), a0);
    /* The value kept from the turn goes back to the ctx allocator even when
     * dropped on another thread, outside any scope. */
    long f0 = tu_counted(&c.frees);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, drop_on_thread, p.kept), 0);
    pthread_join(th, NULL);
    ck_assert_int_ge(tu_counted(&c.frees) - f0, 3);
    json_decref(outside);

    tu_drain(e.ctx); /* the reply goes out inside a loop function */
    ck_assert_uint_eq(wabot_transport_recorder_count(e.rec), 1);
    tu_env_free(&e);
    ck_assert_int_eq(tu_counted(&c.allocs), tu_counted(&c.frees));
}
END_TEST

static Suite *json_alloc_suite(void)
{
    Suite *s = suite_create("json_alloc");
    TCase *tc = tcase_create("json_alloc");
    /* Order matters when CK_FORK=no: the refusal test leaves jansson at its
     * default allocator for the routing test. */
    tcase_add_test(tc, test_host_jansson_allocator_is_never_replaced);
    tcase_add_test(tc, test_json_built_inside_a_turn_goes_through_the_ctx_allocator);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(json_alloc_suite());
}
