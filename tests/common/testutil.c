#include "testutil.h"

#include <stdlib.h>
#include <string.h>

void tu_clock_init(tu_clock *c, int64_t start_ms)
{
    __atomic_store_n(&c->now, start_ms, __ATOMIC_SEQ_CST);
}

void tu_clock_advance(tu_clock *c, int64_t ms)
{
    __atomic_add_fetch(&c->now, ms, __ATOMIC_SEQ_CST);
}

int64_t tu_clock_now(tu_clock *c)
{
    return __atomic_load_n(&c->now, __ATOMIC_SEQ_CST);
}

static int64_t fake_now(void *ud)
{
    return tu_clock_now(ud);
}

wabot_clock tu_clock_wabot(tu_clock *c)
{
    wabot_clock k = {WABOT_CLOCK_VERSION, fake_now, c};
    return k;
}

static void *counting_malloc(size_t n, void *ud)
{
    __atomic_add_fetch(&((tu_counting_alloc *)ud)->allocs, 1,
                       __ATOMIC_RELAXED);
    return malloc(n);
}

static void *counting_realloc(void *p, size_t n, void *ud)
{
    if (!p)
        __atomic_add_fetch(&((tu_counting_alloc *)ud)->allocs, 1,
                           __ATOMIC_RELAXED);
    return realloc(p, n);
}

static void counting_free(void *p, void *ud)
{
    __atomic_add_fetch(&((tu_counting_alloc *)ud)->frees, 1,
                       __ATOMIC_RELAXED);
    free(p);
}

wabot_allocator tu_counting_allocator(tu_counting_alloc *c)
{
    wabot_allocator a = {WABOT_ALLOCATOR_VERSION, counting_malloc,
                         counting_realloc, counting_free, c};
    return a;
}

long tu_counted(const long *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static int run(Suite *s, int fork)
{
    SRunner *sr = srunner_create(s);
    if (!fork)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int tu_run_suite(Suite *s)
{
    return run(s, 1);
}

int tu_run_suite_nofork(Suite *s)
{
    return run(s, 0);
}

char *tu_repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

void tu_env_init_opts(tu_env *e, wabot_options *opts)
{
    tu_clock_init(&e->clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&e->clock);
    e->storage = wabot_storage_memory_new(&k);
    ck_assert_ptr_nonnull(e->storage);
    e->rec = wabot_recorder_new();
    ck_assert_ptr_nonnull(e->rec);
    ck_assert_int_eq(wabot_options_set_clock(opts, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(opts, e->storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_transport(opts, e->rec), WABOT_OK);
    int rc = wabot_ctx_new(&e->ctx, opts);
    ck_assert_msg(rc == WABOT_OK, "wabot_ctx_new: %s",
                  wabot_options_errmsg(opts));
}

void tu_env_init(tu_env *e)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    tu_env_init_opts(e, o);
    wabot_options_free(o);
}

void tu_env_free(tu_env *e)
{
    wabot_ctx_free(e->ctx);
    wabot_transport_free(e->rec);
    wabot_storage_free(e->storage);
    e->ctx = NULL;
    e->rec = NULL;
    e->storage = NULL;
}

wabot_message *tu_text(const char *id, const char *from, const char *text)
{
    wabot_message *m = wabot_message_new(id, from, "+15550001111");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(wabot_message_set_text(m, text), WABOT_OK);
    return m;
}

wabot_job_record tu_job_record(const char *id, const char *payload,
                               int64_t run_at_ms)
{
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    wabot_job_record r;
    memset(&r, 0, sizeof r);
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = id;
    r.payload = payload;
    r.payload_len = strlen(payload);
    r.max_attempts = spec.max_attempts;
    r.backoff = spec.backoff;
    r.backoff_ms = spec.backoff_ms;
    r.backoff_max_ms = spec.backoff_max_ms;
    r.jitter_pct = spec.jitter_pct;
    r.priority = spec.priority;
    r.created_ms = run_at_ms;
    r.run_at_ms = run_at_ms;
    return r;
}

void tu_drain(wabot_ctx *ctx)
{
    int rc = wabot_ctx_run_until_idle(ctx, wabot_ctx_now_ms(ctx));
    ck_assert_msg(rc >= 0, "run_until_idle: %s", wabot_strerror(rc));
}

void tu_assert_json_error(const wabot_http_response *r, int status,
                          const char *code)
{
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_msg(wabot_http_response_status(r) == status,
                  "status %d, expected %d: %s",
                  wabot_http_response_status(r), status, body);
    ck_assert_str_eq(wabot_http_response_content_type(r), "application/json");
    json_error_t e;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(root != NULL, "not JSON: %s", body);
    ck_assert_uint_eq(json_object_size(root), 1);
    json_t *err = json_object_get(root, "error");
    ck_assert_uint_eq(json_object_size(err), 2);
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(err, "message")));
    json_decref(root);
}

int tu_scale(int full)
{
    const char *e = getenv("WABOT_TEST_SMALL");
    return e != NULL && strcmp(e, "1") == 0 ? full / 10 : full;
}
