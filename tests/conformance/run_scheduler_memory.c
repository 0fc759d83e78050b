/* Runs the scheduler conformance suite on the memory backend, and again on
 * a pass-through "custom" backend built with wabot_scheduler_new(), which
 * proves the wrapper forwards every operation faithfully. Then tests of
 * the wrapper itself (with a stub backend), of wabot_job_info, the spec
 * defaults and state names, and memory-specific behaviour. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler_suite.h"
#include "testutil.h"

#define T0 TU_EPOCH_MS

/* ------------------------------------------------------------------ */
/* Backend: memory                                                     */

static wabot_scheduler *memory_create(void *ud)
{
    (void)ud;
    return wabot_scheduler_memory_new();
}

static void scheduler_destroy(wabot_scheduler *s, void *ud)
{
    (void)ud;
    wabot_scheduler_free(s);
}

/* ------------------------------------------------------------------ */
/* Backend: pass-through, a minimal custom backend over another one    */

/* Copy a snapshot across, as a backend with its own storage would. */
static int pt_copy_out(wabot_job_info *from, wabot_job_info *to, int rc)
{
    if (rc == WABOT_OK)
        rc = wabot_job_info_set(to, wabot_job_info_record(from));
    wabot_job_info_free(from);
    return rc;
}

static int pt_enqueue(void *impl, const char *queue,
                      const wabot_job_record *job, int64_t now_ms)
{
    return wabot_scheduler_enqueue(impl, queue, job, now_ms);
}

static int pt_reserve(void *impl, const char *queue, int64_t now_ms,
                      int64_t lease_ms, wabot_job_info *out)
{
    wabot_job_info *tmp = wabot_job_info_new();
    if (tmp == NULL)
        return WABOT_ERR_NOMEM;
    return pt_copy_out(
        tmp, out, wabot_scheduler_reserve(impl, queue, now_ms, lease_ms, tmp));
}

static int pt_extend(void *impl, const char *queue, const char *id,
                     uint64_t token, int64_t until_ms)
{
    return wabot_scheduler_extend(impl, queue, id, token, until_ms);
}

static int pt_complete(void *impl, const char *queue, const char *id,
                       uint64_t token, int64_t now_ms)
{
    return wabot_scheduler_complete(impl, queue, id, token, now_ms);
}

static int pt_fail(void *impl, const char *queue, const char *id,
                   uint64_t token, int64_t now_ms, const char *reason,
                   int64_t retry_at_ms)
{
    return wabot_scheduler_fail(impl, queue, id, token, now_ms, reason,
                                retry_at_ms);
}

static int pt_release(void *impl, const char *queue, const char *id,
                      uint64_t token, int64_t now_ms, int64_t run_at_ms)
{
    return wabot_scheduler_release(impl, queue, id, token, now_ms, run_at_ms);
}

static int pt_cancel(void *impl, const char *queue, const char *id)
{
    return wabot_scheduler_cancel(impl, queue, id);
}

static int pt_get(void *impl, const char *queue, const char *id,
                  wabot_job_info *out)
{
    wabot_job_info *tmp = wabot_job_info_new();
    if (tmp == NULL)
        return WABOT_ERR_NOMEM;
    return pt_copy_out(tmp, out, wabot_scheduler_get(impl, queue, id, tmp));
}

static int pt_counts(void *impl, const char *queue, int64_t *counts,
                     size_t n)
{
    return wabot_scheduler_counts(impl, queue, counts, n);
}

static int pt_recover(void *impl, const char *queue, int64_t now_ms,
                      int32_t max_stalls, int32_t *recovered)
{
    return wabot_scheduler_recover(impl, queue, now_ms, max_stalls,
                                   recovered);
}

static int pt_next_due(void *impl, const char *queue, int64_t now_ms,
                       int64_t *due_ms)
{
    return wabot_scheduler_next_due(impl, queue, now_ms, due_ms);
}

static int pt_trim(void *impl, const char *queue, int32_t state,
                   int64_t keep_count, int64_t finished_before_ms,
                   int64_t *removed)
{
    return wabot_scheduler_trim(impl, queue, state, keep_count,
                                finished_before_ms, removed);
}

static void pt_destroy(void *impl)
{
    wabot_scheduler_free(impl);
}

static const wabot_scheduler_vtable pt_vtable = {
    WABOT_SCHEDULER_VTABLE_VERSION,
    pt_enqueue, pt_reserve, pt_extend, pt_complete, pt_fail, pt_release,
    pt_cancel, pt_get, pt_counts, pt_recover, pt_next_due, pt_trim,
    pt_destroy,
};

static wabot_scheduler *passthrough_create(void *ud)
{
    wabot_scheduler *inner = memory_create(ud);
    if (inner == NULL)
        return NULL;
    wabot_scheduler *s = wabot_scheduler_new(&pt_vtable, inner);
    if (s == NULL)
        wabot_scheduler_free(inner);
    return s;
}

/* ------------------------------------------------------------------ */
/* A stub backend that records what the wrapper hands it               */

typedef struct stub {
    int destroyed;
    int rc;       /* what every operation returns */
    int fill_out; /* reserve/get: fill `out` before returning rc */
    int calls;
    const wabot_job_record *last_job;
    size_t last_n;
} stub;

static int stub_call(void *impl)
{
    stub *st = impl;
    st->calls++;
    return st->rc;
}

static int stub_fill(void *impl, wabot_job_info *out)
{
    stub *st = impl;
    if (st->fill_out) {
        wabot_job_record r = {0};
        r.version = WABOT_JOB_RECORD_VERSION;
        r.id = "stubbed";
        r.payload = "";
        ck_assert_int_eq(wabot_job_info_set(out, &r), WABOT_OK);
    }
    return stub_call(impl);
}

static int stub_enqueue(void *impl, const char *queue,
                        const wabot_job_record *job, int64_t now_ms)
{
    (void)queue, (void)now_ms;
    ((stub *)impl)->last_job = job;
    return stub_call(impl);
}

static int stub_reserve(void *impl, const char *queue, int64_t now_ms,
                        int64_t lease_ms, wabot_job_info *out)
{
    (void)queue, (void)now_ms, (void)lease_ms;
    return stub_fill(impl, out);
}

static int stub_extend(void *impl, const char *queue, const char *id,
                       uint64_t token, int64_t until_ms)
{
    (void)queue, (void)id, (void)token, (void)until_ms;
    return stub_call(impl);
}

static int stub_complete(void *impl, const char *queue, const char *id,
                         uint64_t token, int64_t now_ms)
{
    (void)queue, (void)id, (void)token, (void)now_ms;
    return stub_call(impl);
}

static int stub_fail(void *impl, const char *queue, const char *id,
                     uint64_t token, int64_t now_ms, const char *reason,
                     int64_t retry_at_ms)
{
    (void)queue, (void)id, (void)token, (void)now_ms, (void)reason,
        (void)retry_at_ms;
    return stub_call(impl);
}

static int stub_release(void *impl, const char *queue, const char *id,
                        uint64_t token, int64_t now_ms, int64_t run_at_ms)
{
    (void)queue, (void)id, (void)token, (void)now_ms, (void)run_at_ms;
    return stub_call(impl);
}

static int stub_cancel(void *impl, const char *queue, const char *id)
{
    (void)queue, (void)id;
    return stub_call(impl);
}

static int stub_get(void *impl, const char *queue, const char *id,
                    wabot_job_info *out)
{
    (void)queue, (void)id;
    return stub_fill(impl, out);
}

static int stub_counts(void *impl, const char *queue, int64_t *counts,
                       size_t n)
{
    (void)queue;
    ck_assert_ptr_nonnull(counts);
    ((stub *)impl)->last_n = n;
    return stub_call(impl);
}

static int stub_recover(void *impl, const char *queue, int64_t now_ms,
                        int32_t max_stalls, int32_t *recovered)
{
    (void)queue, (void)now_ms, (void)max_stalls;
    ck_assert_ptr_nonnull(recovered);
    *recovered = 3;
    return stub_call(impl);
}

static int stub_next_due(void *impl, const char *queue, int64_t now_ms,
                         int64_t *due_ms)
{
    (void)queue, (void)now_ms;
    *due_ms = 77;
    return stub_call(impl);
}

static int stub_trim(void *impl, const char *queue, int32_t state,
                     int64_t keep_count, int64_t finished_before_ms,
                     int64_t *removed)
{
    (void)queue, (void)state, (void)keep_count, (void)finished_before_ms;
    ck_assert_ptr_nonnull(removed);
    *removed = 4;
    return stub_call(impl);
}

static void stub_destroy(void *impl)
{
    ((stub *)impl)->destroyed++;
}

static const wabot_scheduler_vtable stub_vtable = {
    WABOT_SCHEDULER_VTABLE_VERSION,
    stub_enqueue, stub_reserve, stub_extend, stub_complete, stub_fail,
    stub_release, stub_cancel, stub_get, stub_counts, stub_recover,
    stub_next_due, stub_trim, stub_destroy,
};

static wabot_job_record stub_rec(void)
{
    wabot_job_record r = {0};
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "a";
    r.max_attempts = 1;
    return r;
}

/* ------------------------------------------------------------------ */
/* wabot_scheduler_new and the wrapper                                 */

START_TEST(test_scheduler_new_rejects_null_vtable)
{
    stub st = {0};
    ck_assert_ptr_null(wabot_scheduler_new(NULL, &st));
}
END_TEST

START_TEST(test_scheduler_new_rejects_version_zero)
{
    stub st = {0};
    wabot_scheduler_vtable vt = stub_vtable;
    vt.version = 0;
    ck_assert_ptr_null(wabot_scheduler_new(&vt, &st));
    ck_assert_int_eq(st.destroyed, 0);
}
END_TEST

START_TEST(test_scheduler_new_rejects_each_null_op)
{
    stub st = {0};
    /* Every member after `version` is a function pointer: null each in
     * turn through a byte view of the table. */
    size_t first = offsetof(wabot_scheduler_vtable, enqueue);
    size_t n_ops = (sizeof(wabot_scheduler_vtable) - first) /
                   sizeof(void (*)(void));
    ck_assert_uint_eq(n_ops, 13);
    for (size_t i = 0; i < n_ops; i++) {
        wabot_scheduler_vtable vt = stub_vtable;
        void (*null_fn)(void) = NULL;
        memcpy((char *)&vt + first + i * sizeof null_fn, &null_fn,
               sizeof null_fn);
        ck_assert_msg(wabot_scheduler_new(&vt, &st) == NULL,
                      "op %zu NULL accepted", i);
    }
    ck_assert_int_eq(st.destroyed, 0);
}
END_TEST

START_TEST(test_scheduler_new_accepts_newer_vtable_version)
{
    stub st = {0};
    wabot_scheduler_vtable vt = stub_vtable;
    vt.version = WABOT_SCHEDULER_VTABLE_VERSION + 1;
    wabot_scheduler *s = wabot_scheduler_new(&vt, &st);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(wabot_scheduler_name(s), "custom");
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_scheduler_free_destroys_backend_once)
{
    stub st = {0};
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    ck_assert_ptr_nonnull(s);
    wabot_scheduler_free(s);
    ck_assert_int_eq(st.destroyed, 1);
    wabot_scheduler_free(NULL);
}
END_TEST

START_TEST(test_scheduler_name_of_null_is_null)
{
    ck_assert_ptr_null(wabot_scheduler_name(NULL));
}
END_TEST

START_TEST(test_backend_errors_pass_through_wrappers)
{
    stub st = {0};
    st.rc = WABOT_ERR_STORAGE;
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    wabot_job_info *out = wabot_job_info_new();
    wabot_job_record r = stub_rec();
    int64_t c[WABOT_JOB_STATE_COUNT], due = 5, removed = 0;
    int32_t recovered = 0;
    ck_assert_int_eq(wabot_scheduler_enqueue(s, "q", &r, T0),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0, 1, out),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_extend(s, "q", "a", 1, T0),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_complete(s, "q", "a", 1, T0),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_fail(s, "q", "a", 1, T0, NULL, -1),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_release(s, "q", "a", 1, T0, T0),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_cancel(s, "q", "a"), WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_get(s, "q", "a", out),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_counts(s, "q", c, 5),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_recover(s, "q", T0, 1, &recovered),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(wabot_scheduler_next_due(s, "q", T0, &due),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(due, 5); /* written only on success */
    ck_assert_int_eq(wabot_scheduler_trim(s, "q", WABOT_JOB_FAILED, 0, 0,
                                          &removed),
                     WABOT_ERR_STORAGE);
    ck_assert_int_eq(st.calls, 12);
    wabot_job_info_free(out);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_partial_progress_is_reported_with_an_error)
{
    /* recover/trim may move some jobs before failing: say how many. */
    stub st = {0};
    st.rc = WABOT_ERR_STORAGE;
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    int32_t recovered = 0;
    int64_t removed = 0;
    wabot_scheduler_recover(s, "q", T0, 1, &recovered);
    wabot_scheduler_trim(s, "q", WABOT_JOB_FAILED, 0, 0, &removed);
    ck_assert_int_eq(recovered, 3);
    ck_assert_int_eq(removed, 4);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_backend_error_after_filling_out_leaves_no_record)
{
    stub st = {0};
    st.rc = WABOT_ERR_STORAGE;
    st.fill_out = 1;
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0, 1, out),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(wabot_job_info_record(out));
    ck_assert_int_eq(wabot_scheduler_get(s, "q", "a", out),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(wabot_job_info_record(out));
    wabot_job_info_free(out);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_backend_success_without_record_is_storage_error)
{
    stub st = {0};
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    wabot_job_info *out = wabot_job_info_new();
    /* A record from an earlier call must not be handed back as new. */
    wabot_job_record r = stub_rec();
    ck_assert_int_eq(wabot_job_info_set(out, &r), WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0, 1, out),
                     WABOT_ERR_STORAGE);
    ck_assert_ptr_null(wabot_job_info_record(out));
    ck_assert_int_eq(wabot_scheduler_get(s, "q", "a", out),
                     WABOT_ERR_STORAGE);
    wabot_job_info_free(out);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_argument_errors_never_reach_backend)
{
    stub st = {0};
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    wabot_job_record r = stub_rec();
    r.max_attempts = 0;
    ck_assert_int_eq(wabot_scheduler_enqueue(s, "q", &r, T0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_scheduler_enqueue(s, "bad queue", &r, T0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_scheduler_complete(s, "q", "", 1, T0),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0, 0, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_scheduler_trim(s, "q", WABOT_JOB_ACTIVE, 0, 0,
                                          NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(st.calls, 0);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_backend_receives_non_null_empty_payload)
{
    stub st = {0};
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    wabot_job_record r = stub_rec();
    ck_assert_int_eq(wabot_scheduler_enqueue(s, "q", &r, T0), WABOT_OK);
    ck_assert_ptr_nonnull(st.last_job);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_counts_are_zeroed_before_the_backend_fills_them)
{
    stub st = {0};
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    int64_t c[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    ck_assert_int_eq(wabot_scheduler_counts(s, "q", c, 8), WABOT_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(c[i], 0);
    ck_assert_uint_eq(st.last_n, 8);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_optional_outputs_are_filled_when_given)
{
    stub st = {0};
    wabot_scheduler *s = wabot_scheduler_new(&stub_vtable, &st);
    int32_t recovered = 0;
    int64_t removed = 0, due = 0;
    ck_assert_int_eq(wabot_scheduler_recover(s, "q", T0, 0, &recovered),
                     WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_trim(s, "q", WABOT_JOB_COMPLETED, 0, 0,
                                          &removed),
                     WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_next_due(s, "q", T0, &due), WABOT_OK);
    ck_assert_int_eq(recovered, 3);
    ck_assert_int_eq(removed, 4);
    ck_assert_int_eq(due, 77);
    wabot_scheduler_free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* wabot_job_info, spec defaults, state names                          */

START_TEST(test_job_info_has_no_record_until_set)
{
    wabot_job_info *info = wabot_job_info_new();
    ck_assert_ptr_nonnull(info);
    ck_assert_ptr_null(wabot_job_info_record(info));
    ck_assert_ptr_null(wabot_job_info_record(NULL));
    wabot_job_info_free(info);
    wabot_job_info_free(NULL);
}
END_TEST

START_TEST(test_job_info_set_deep_copies_the_strings)
{
    char id[] = "job-1", payload[] = "{\"a\":1}", err[] = "oops";
    wabot_job_record r = {0};
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = id;
    r.payload = payload;
    r.payload_len = strlen(payload);
    r.last_error = err;
    r.attempts = 2;
    r.token = 99;
    r.priority = -4;
    wabot_job_info *info = wabot_job_info_new();
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_OK);
    memset(id, 'X', sizeof id - 1);
    memset(payload, 'X', sizeof payload - 1);
    memset(err, 'X', sizeof err - 1);
    const wabot_job_record *g = wabot_job_info_record(info);
    ck_assert_str_eq(g->id, "job-1");
    ck_assert_str_eq(g->payload, "{\"a\":1}");
    ck_assert_uint_eq(g->payload_len, 7);
    ck_assert_str_eq(g->last_error, "oops");
    ck_assert_int_eq(g->attempts, 2);
    ck_assert_uint_eq(g->token, 99);
    ck_assert_int_eq(g->priority, -4);
    ck_assert_uint_eq(g->version, WABOT_JOB_RECORD_VERSION);
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_job_info_payload_is_nul_terminated_and_binary_safe)
{
    static const char bin[] = {'x', '\0', 'y'};
    wabot_job_record r = {0};
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "b";
    r.payload = bin;
    r.payload_len = sizeof bin;
    wabot_job_info *info = wabot_job_info_new();
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_OK);
    const wabot_job_record *g = wabot_job_info_record(info);
    ck_assert_uint_eq(g->payload_len, 3);
    ck_assert(memcmp(g->payload, bin, 3) == 0);
    ck_assert_int_eq(g->payload[3], '\0');
    ck_assert_ptr_null(g->last_error);
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_job_info_set_replaces_the_previous_record)
{
    wabot_job_record r = {0};
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "first";
    r.payload = "p1";
    r.payload_len = 2;
    r.last_error = "e1";
    wabot_job_info *info = wabot_job_info_new();
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_OK);
    r.id = "second";
    r.payload = NULL;
    r.payload_len = 0;
    r.last_error = NULL;
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_OK);
    const wabot_job_record *g = wabot_job_info_record(info);
    ck_assert_str_eq(g->id, "second");
    ck_assert_str_eq(g->payload, "");
    ck_assert_ptr_null(g->last_error);
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_job_info_set_rejects_bad_arguments)
{
    wabot_job_info *info = wabot_job_info_new();
    wabot_job_record r = {0};
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "ok";
    ck_assert_int_eq(wabot_job_info_set(NULL, &r), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_job_info_set(info, NULL), WABOT_ERR_INVAL);
    r.version = 0;
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_ERR_INVAL);
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = NULL;
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_ERR_INVAL);
    r.id = "ok";
    r.payload_len = 4; /* with a NULL payload */
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_ERR_INVAL);
    r.payload = "x";
    r.payload_len = SIZE_MAX;
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_ERR_INVAL);
    ck_assert_ptr_null(wabot_job_info_record(info));
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_job_info_keeps_record_when_set_is_refused)
{
    wabot_job_record r = {0};
    r.version = WABOT_JOB_RECORD_VERSION;
    r.id = "kept";
    wabot_job_info *info = wabot_job_info_new();
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_OK);
    r.id = NULL;
    ck_assert_int_eq(wabot_job_info_set(info, &r), WABOT_ERR_INVAL);
    ck_assert_str_eq(wabot_job_info_record(info)->id, "kept");
    wabot_job_info_free(info);
}
END_TEST

START_TEST(test_spec_init_sets_documented_defaults)
{
    wabot_job_spec spec;
    memset(&spec, 0xab, sizeof spec);
    wabot_job_spec_init(&spec);
    ck_assert_uint_eq(spec.version, WABOT_JOB_SPEC_VERSION);
    ck_assert_ptr_null(spec.job_id);
    ck_assert_int_eq(spec.run_at_ms, 0);
    ck_assert_int_eq(spec.delay_ms, 0);
    ck_assert_int_eq(spec.max_attempts, 5);
    ck_assert_int_eq(spec.backoff, WABOT_BACKOFF_EXPONENTIAL);
    ck_assert_int_eq(spec.backoff_ms, 1000);
    ck_assert_int_eq(spec.backoff_max_ms, 3600000);
    ck_assert_int_eq(spec.jitter_pct, 20);
    ck_assert_int_eq(spec.priority, 0);
    wabot_job_spec_init(NULL);
}
END_TEST

START_TEST(test_job_state_names)
{
    ck_assert_str_eq(wabot_job_state_name(WABOT_JOB_WAITING), "waiting");
    ck_assert_str_eq(wabot_job_state_name(WABOT_JOB_DELAYED), "delayed");
    ck_assert_str_eq(wabot_job_state_name(WABOT_JOB_ACTIVE), "active");
    ck_assert_str_eq(wabot_job_state_name(WABOT_JOB_COMPLETED), "completed");
    ck_assert_str_eq(wabot_job_state_name(WABOT_JOB_FAILED), "failed");
    ck_assert_str_eq(wabot_job_state_name((wabot_job_state)99), "unknown");
    ck_assert_str_eq(wabot_job_state_name((wabot_job_state)-1), "unknown");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Memory-specific                                                     */

static wabot_job_record mem_rec(const char *id, int64_t run_at)
{
    wabot_job_record r = stub_rec();
    r.id = id;
    r.run_at_ms = run_at;
    r.payload = "p";
    r.payload_len = 1;
    return r;
}

START_TEST(test_memory_backend_is_named_memory)
{
    wabot_scheduler *s = wabot_scheduler_memory_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(wabot_scheduler_name(s), "memory");
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_memory_huge_lease_saturates_instead_of_overflowing)
{
    wabot_scheduler *s = wabot_scheduler_memory_new();
    wabot_job_record r = mem_rec("a", T0);
    ck_assert_int_eq(wabot_scheduler_enqueue(s, "q", &r, T0), WABOT_OK);
    wabot_job_info *out = wabot_job_info_new();
    ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0, INT64_MAX, out),
                     WABOT_OK);
    ck_assert_int_eq(wabot_job_info_record(out)->lease_until_ms, INT64_MAX);
    int32_t n = -1;
    ck_assert_int_eq(wabot_scheduler_recover(s, "q", INT64_MAX - 1, 0, &n),
                     WABOT_OK);
    ck_assert_int_eq(n, 0);
    wabot_job_info_free(out);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_memory_frees_jobs_in_every_state_on_destroy)
{
    /* Run under ASan/valgrind: nothing may leak whatever state jobs are
     * left in, including failed with the built-in "stalled" reason. */
    wabot_scheduler *s = wabot_scheduler_memory_new();
    wabot_job_info *out = wabot_job_info_new();
    const char *ids[] = {"a", "c", "f", "s", "r", "w", "d"};
    for (int i = 0; i < 7; i++) {
        wabot_job_record r = mem_rec(ids[i], ids[i][0] == 'd' ? T0 + 9 : T0);
        ck_assert_int_eq(wabot_scheduler_enqueue(s, "q", &r, T0), WABOT_OK);
    }
    uint64_t token[5];
    for (int i = 0; i < 5; i++) { /* FIFO: a, c, f, s, r */
        ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0, 10, out),
                         WABOT_OK);
        ck_assert_str_eq(wabot_job_info_record(out)->id, ids[i]);
        token[i] = wabot_job_info_record(out)->token;
    }
    ck_assert_int_eq(wabot_scheduler_extend(s, "q", "a", token[0], T0 + 99),
                     WABOT_OK);
    ck_assert_int_eq(wabot_scheduler_complete(s, "q", "c", token[1], T0),
                     WABOT_OK);
    ck_assert_int_eq(
        wabot_scheduler_fail(s, "q", "f", token[2], T0, "bad", -1), WABOT_OK);
    ck_assert_int_eq(
        wabot_scheduler_fail(s, "q", "r", token[4], T0, "retry", T0 + 50),
        WABOT_OK);
    int32_t n = 0;
    ck_assert_int_eq(wabot_scheduler_recover(s, "q", T0 + 15, 0, &n),
                     WABOT_OK);
    ck_assert_int_eq(n, 1); /* s */
    int64_t c[WABOT_JOB_STATE_COUNT];
    ck_assert_int_eq(wabot_scheduler_counts(s, "q", c, 5), WABOT_OK);
    ck_assert_int_eq(c[WABOT_JOB_WAITING], 1);
    ck_assert_int_eq(c[WABOT_JOB_DELAYED], 2);
    ck_assert_int_eq(c[WABOT_JOB_ACTIVE], 1);
    ck_assert_int_eq(c[WABOT_JOB_COMPLETED], 1);
    ck_assert_int_eq(c[WABOT_JOB_FAILED], 2);
    wabot_job_info_free(out);
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_memory_many_queues_are_independent)
{
    wabot_scheduler *s = wabot_scheduler_memory_new();
    char q[32];
    for (int i = 0; i < 200; i++) {
        snprintf(q, sizeof q, "queue-%d", i);
        for (int k = 0; k <= i % 5; k++) {
            char id[16];
            snprintf(id, sizeof id, "j%d", k);
            wabot_job_record r = mem_rec(id, T0);
            ck_assert_int_eq(wabot_scheduler_enqueue(s, q, &r, T0), WABOT_OK);
        }
    }
    for (int i = 0; i < 200; i++) {
        int64_t c[WABOT_JOB_STATE_COUNT];
        snprintf(q, sizeof q, "queue-%d", i);
        ck_assert_int_eq(wabot_scheduler_counts(s, q, c, 5), WABOT_OK);
        ck_assert_int_eq(c[WABOT_JOB_WAITING], i % 5 + 1);
    }
    wabot_scheduler_free(s);
}
END_TEST

START_TEST(test_memory_large_queue_keeps_order_through_growth)
{
    /* 50000 jobs in reverse priority order exercise heap and table growth;
     * they must come out strictly by priority. */
    wabot_scheduler *s = wabot_scheduler_memory_new();
    enum { N = 50000 };
    char id[16];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "j%d", i);
        wabot_job_record r = mem_rec(id, T0 + (i % 7));
        r.priority = i % 1000;
        ck_assert_int_eq(wabot_scheduler_enqueue(s, "q", &r, T0 + 10),
                         WABOT_OK);
    }
    wabot_job_info *out = wabot_job_info_new();
    int32_t last_prio = INT32_MAX;
    int64_t last_run_at = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(wabot_scheduler_reserve(s, "q", T0 + 10, 1000, out),
                         WABOT_OK);
        const wabot_job_record *g = wabot_job_info_record(out);
        ck_assert_int_le(g->priority, last_prio);
        if (g->priority == last_prio)
            ck_assert_int_ge(g->run_at_ms, last_run_at);
        last_prio = g->priority;
        last_run_at = g->run_at_ms;
    }
    wabot_job_info_free(out);
    wabot_scheduler_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scheduler");

    wb_scheduler_backend memory = {"memory", memory_create,
                                   scheduler_destroy, NULL};
    suite_add_tcase(s, wb_scheduler_conformance_tcase(&memory));
    wb_scheduler_backend custom = {"custom-passthrough", passthrough_create,
                                   scheduler_destroy, NULL};
    suite_add_tcase(s, wb_scheduler_conformance_tcase(&custom));

    TCase *tc = tcase_create("wrapper");
    tcase_add_test(tc, test_scheduler_new_rejects_null_vtable);
    tcase_add_test(tc, test_scheduler_new_rejects_version_zero);
    tcase_add_test(tc, test_scheduler_new_rejects_each_null_op);
    tcase_add_test(tc, test_scheduler_new_accepts_newer_vtable_version);
    tcase_add_test(tc, test_scheduler_free_destroys_backend_once);
    tcase_add_test(tc, test_scheduler_name_of_null_is_null);
    tcase_add_test(tc, test_backend_errors_pass_through_wrappers);
    tcase_add_test(tc, test_partial_progress_is_reported_with_an_error);
    tcase_add_test(tc, test_backend_error_after_filling_out_leaves_no_record);
    tcase_add_test(tc, test_backend_success_without_record_is_storage_error);
    tcase_add_test(tc, test_argument_errors_never_reach_backend);
    tcase_add_test(tc, test_backend_receives_non_null_empty_payload);
    tcase_add_test(tc, test_counts_are_zeroed_before_the_backend_fills_them);
    tcase_add_test(tc, test_optional_outputs_are_filled_when_given);
    suite_add_tcase(s, tc);

    tc = tcase_create("job_info");
    tcase_add_test(tc, test_job_info_has_no_record_until_set);
    tcase_add_test(tc, test_job_info_set_deep_copies_the_strings);
    tcase_add_test(tc,
                   test_job_info_payload_is_nul_terminated_and_binary_safe);
    tcase_add_test(tc, test_job_info_set_replaces_the_previous_record);
    tcase_add_test(tc, test_job_info_set_rejects_bad_arguments);
    tcase_add_test(tc, test_job_info_keeps_record_when_set_is_refused);
    tcase_add_test(tc, test_spec_init_sets_documented_defaults);
    tcase_add_test(tc, test_job_state_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, test_memory_backend_is_named_memory);
    tcase_add_test(tc,
                   test_memory_huge_lease_saturates_instead_of_overflowing);
    tcase_add_test(tc, test_memory_frees_jobs_in_every_state_on_destroy);
    tcase_add_test(tc, test_memory_many_queues_are_independent);
    tcase_add_test(tc, test_memory_large_queue_keeps_order_through_growth);
    suite_add_tcase(s, tc);

    return tu_run_suite(s);
}
