#define _GNU_SOURCE /* strcasestr */
/* Core: version, status codes, options, context, errors, logging, clock,
 * allocator. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "versioned.h"
#include "htab.h"
#include "strbuf.h"

START_TEST(test_version_matches_header)
{
    ck_assert_uint_eq(wabot_version_num(), WABOT_VERSION_NUM);
    ck_assert_str_eq(wabot_version_str(), WABOT_VERSION_STR);
}
END_TEST

START_TEST(test_strerror_names_every_code_and_unknown)
{
    for (int s = WABOT_OK; s >= WABOT_ERR_CIRCUIT_OPEN; s--)
        ck_assert_str_ne(wabot_strerror(s), "unknown status");
    ck_assert_str_eq(wabot_strerror(-999), "unknown status");
    ck_assert_str_eq(wabot_strerror(42), "unknown status");
}
END_TEST

START_TEST(test_status_codes_never_renumbered)
{
    /* Published values: append-only (doc/abi.md). */
    ck_assert_int_eq(WABOT_ERR_INVAL, -1);
    ck_assert_int_eq(WABOT_ERR_NOMEM, -2);
    ck_assert_int_eq(WABOT_ERR_NOT_FOUND, -3);
    ck_assert_int_eq(WABOT_ERR_EXISTS, -4);
    ck_assert_int_eq(WABOT_ERR_CONFLICT, -5);
    ck_assert_int_eq(WABOT_ERR_PARSE, -6);
    ck_assert_int_eq(WABOT_ERR_TOO_LARGE, -7);
    ck_assert_int_eq(WABOT_ERR_UNSUPPORTED, -8);
    ck_assert_int_eq(WABOT_ERR_STORAGE, -9);
    ck_assert_int_eq(WABOT_ERR_TRANSPORT, -10);
    ck_assert_int_eq(WABOT_ERR_STATE, -11);
    ck_assert_int_eq(WABOT_ERR_HANDLER, -12);
    ck_assert_int_eq(WABOT_ERR_AUTH, -13);
    ck_assert_int_eq(WABOT_ERR_TIMEOUT, -14);
    ck_assert_int_eq(WABOT_ERR_BUSY, -15);
    ck_assert_int_eq(WABOT_ERR_RATE_LIMITED, -16);
    ck_assert_int_eq(WABOT_ERR_PERMANENT, -17);
    ck_assert_int_eq(WABOT_ERR_WINDOW_CLOSED, -18);
    ck_assert_int_eq(WABOT_ERR_OPTED_OUT, -19);
    ck_assert_int_eq(WABOT_ERR_CIRCUIT_OPEN, -20);
}
END_TEST

START_TEST(test_options_unknown_id_is_inval_with_message)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, (wabot_option)9999, 1),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "unknown option"));
    ck_assert_int_eq(wabot_options_set_str(o, (wabot_option)0, "x"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(o, "no_such_option", "1"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "no_such_option"));
    wabot_options_free(o);
}
END_TEST

START_TEST(test_options_wrong_setter_type_is_inval)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_COMMAND_PREFIX, 1),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "string option"));
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_MAX_PARAMS, "1"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "integer option"));
    wabot_options_free(o);
}
END_TEST

START_TEST(test_options_range_checked)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_MAX_BODY_BYTES, 0),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strcasestr(wabot_options_errmsg(o), "MAX_BODY_BYTES"));
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_MAX_BODY_BYTES, 4096),
                     WABOT_OK);
    ck_assert_str_eq(wabot_options_errmsg(o), "");
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, 9),
                     WABOT_ERR_INVAL);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_options_by_name_parses_and_validates)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set(o, "max_params", "10"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "WABOT_OPT_MAX_PARAMS", "11"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "Max_Params", "12x"),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "decimal"));
    ck_assert_int_eq(wabot_options_set(o, "log_level", "debug"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "log_level", "loud"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(o, "command_prefix", "!"), WABOT_OK);
    ck_assert_int_eq(wabot_options_set(o, "command_prefix", ""),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(o, NULL, "1"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(NULL, "max_params", "1"),
                     WABOT_ERR_INVAL);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_options_read_back_defaults_and_set_values)
{
    wabot_options *o = wabot_options_new();
    int64_t v = 0;
    const char *str = NULL;
    ck_assert_int_eq(wabot_options_get_int(o, WABOT_OPT_MAX_BODY_BYTES, &v), WABOT_OK);
    ck_assert_int_eq(v, 1024 * 1024);
    ck_assert_int_eq(wabot_options_get_str(o, WABOT_OPT_TWILIO_WEBHOOK_PATH, &str), WABOT_OK);
    ck_assert_str_eq(str, "/whatsapp/webhook");
    wabot_options_set(o, "max_body_bytes", "4096");
    wabot_options_set(o, "command_prefix", "!");
    ck_assert_int_eq(wabot_options_get_int(o, WABOT_OPT_MAX_BODY_BYTES, &v), WABOT_OK);
    ck_assert_int_eq(v, 4096);
    ck_assert_int_eq(wabot_options_get_str(o, WABOT_OPT_COMMAND_PREFIX, &str), WABOT_OK);
    ck_assert_str_eq(str, "!");
    ck_assert_int_eq(wabot_options_get_int(o, WABOT_OPT_COMMAND_PREFIX, &v), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_get_str(o, WABOT_OPT_MAX_PARAMS, &str), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_get_int(o, (wabot_option)4242, &v), WABOT_ERR_INVAL);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_options_webhook_path_must_be_a_path)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(
        wabot_options_set_str(o, WABOT_OPT_TWILIO_WEBHOOK_PATH, "hook"),
        WABOT_ERR_INVAL);
    ck_assert_int_eq(
        wabot_options_set_str(o, WABOT_OPT_TWILIO_WEBHOOK_PATH, "/a?b=1"),
        WABOT_ERR_INVAL);
    ck_assert_int_eq(
        wabot_options_set_str(o, WABOT_OPT_META_WEBHOOK_PATH, "/meta/hook"),
        WABOT_OK);
    /* NULL restores the default */
    ck_assert_int_eq(
        wabot_options_set_str(o, WABOT_OPT_META_WEBHOOK_PATH, NULL), WABOT_OK);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_options_reject_bad_clock_and_allocator)
{
    wabot_options *o = wabot_options_new();
    wabot_clock c = {0, NULL, NULL};
    ck_assert_int_eq(wabot_options_set_clock(o, &c), WABOT_ERR_INVAL);
    wabot_allocator a = {WABOT_ALLOCATOR_VERSION, NULL, NULL, NULL, NULL};
    ck_assert_int_eq(wabot_options_set_allocator(o, &a), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set_clock(o, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_allocator(o, NULL), WABOT_OK);
    wabot_options_free(o);
}
END_TEST

START_TEST(test_ctx_with_defaults_uses_memory_and_console)
{
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    ck_assert_str_eq(wabot_storage_name(wabot_ctx_storage(ctx)), "memory");
    ck_assert_str_eq(wabot_transport_name(wabot_ctx_transport(ctx)),
                     "console");
    ck_assert_int_eq(wabot_ctx_new(NULL, NULL), WABOT_ERR_INVAL);
    wabot_ctx_free(ctx);
}
END_TEST

START_TEST(test_free_functions_accept_null)
{
    wabot_ctx_free(NULL);
    wabot_options_free(NULL);
    wabot_free(NULL);
    wabot_message_free(NULL);
    wabot_storage_free(NULL);
    wabot_transport_free(NULL);
    wabot_http_response_free(NULL);
    wabot_ctx_mem_free(NULL, NULL);
}
END_TEST

START_TEST(test_clock_is_injected)
{
    tu_env e;
    tu_env_init(&e);
    ck_assert_int_eq(wabot_ctx_now_ms(e.ctx), TU_EPOCH_MS);
    tu_clock_advance(&e.clock, 1500);
    ck_assert_int_eq(wabot_ctx_now_ms(e.ctx), TU_EPOCH_MS + 1500);
    tu_env_free(&e);
}
END_TEST

static void *fail_on_other_ctx(void *arg)
{
    wabot_ctx *ctx = arg;
    /* This thread has no error recorded for ctx, whatever others did. */
    const char *before = wabot_ctx_errmsg(ctx);
    int clean = before[0] == '\0';
    ck_assert_int_eq(wabot_use(ctx, NULL, NULL, NULL, NULL), WABOT_ERR_INVAL);
    return (void *)(intptr_t)(clean && wabot_ctx_errmsg(ctx)[0] != '\0');
}

/* A struct that grew: version 1 ended at `a`, version 2 added `b`. */
typedef struct grown {
    uint32_t version;
    int64_t a;
    int64_t b;
} grown;
static const size_t grown_sizes[] = {WB_SIZE_THROUGH(grown, a),
                                     sizeof(grown)};

START_TEST(test_versioned_copy_reads_only_the_callers_version)
{
    /* A caller built against version 1: its struct ends at `a` (ASan and
     * valgrind see any read past it). */
    typedef struct grown_v1 {
        uint32_t version;
        int64_t a;
    } grown_v1;
    ck_assert_uint_eq(sizeof(grown_v1), WB_SIZE_THROUGH(grown, a));
    grown_v1 *old = malloc(sizeof *old);
    old->version = 1;
    old->a = 42;
    grown dst;
    memset(&dst, 0xab, sizeof dst);
    ck_assert_int_eq(wb_copy_versioned(&dst, sizeof dst, old, old->version,
                                       grown_sizes, 2), 0);
    ck_assert_int_eq(dst.version, 2);
    ck_assert_int_eq(dst.a, 42);
    ck_assert_int_eq(dst.b, 0);
    free(old);

    grown newer = {7, 1, 2}; /* a version this library does not know */
    ck_assert_int_eq(wb_copy_versioned(&dst, sizeof dst, &newer, 7,
                                       grown_sizes, 2), 0);
    ck_assert_int_eq(dst.version, 2);
    ck_assert_int_eq(dst.b, 2);
    ck_assert_int_eq(wb_copy_versioned(&dst, sizeof dst, &newer, 0,
                                       grown_sizes, 2), -1);
}
END_TEST

START_TEST(test_errmsg_is_per_thread_and_per_ctx)
{
    wabot_ctx *a, *b;
    ck_assert_int_eq(wabot_ctx_new(&a, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&b, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_use(a, NULL, NULL, NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(a), "middleware"));
    ck_assert_str_eq(wabot_ctx_errmsg(b), "");
    pthread_t th;
    void *ok;
    pthread_create(&th, NULL, fail_on_other_ctx, b);
    pthread_join(th, &ok);
    ck_assert_ptr_nonnull(ok);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(a), "middleware"));
    wabot_ctx_free(a);
    wabot_ctx_free(b);
}
END_TEST

typedef struct log_sink {
    int n;
    wabot_log_level last;
    char module[32];
} log_sink;

static void sink_log(void *ud, wabot_log_level level, const char *module,
                     const char *msg)
{
    log_sink *s = ud;
    ck_assert_ptr_nonnull(msg);
    s->n++;
    s->last = level;
    snprintf(s->module, sizeof s->module, "%s", module);
}

START_TEST(test_log_threshold_filters_messages)
{
    log_sink s = {0};
    wabot_options *o = wabot_options_new();
    wabot_options_set_log(o, sink_log, &s);
    wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, WABOT_LOG_DEBUG);
    wabot_ctx *ctx;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_use(ctx, NULL, NULL, NULL, NULL); /* errors are logged at debug */
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.last, WABOT_LOG_DEBUG);
    ck_assert_str_eq(s.module, "core");
    wabot_ctx_free(ctx);

    s.n = 0;
    wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, WABOT_LOG_WARN);
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_use(ctx, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(s.n, 0);
    wabot_ctx_free(ctx);
    wabot_options_free(o);
    ck_assert_str_eq(wabot_log_level_name(WABOT_LOG_WARN), "warn");
}
END_TEST

static int reply_hi(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_turn_session_set_int(t, "n", 1);
    return wabot_reply_text(t, "hi");
}

START_TEST(test_allocator_hook_serves_every_ctx_allocation)
{
    tu_counting_alloc ca = {0, 0};
    wabot_allocator a = tu_counting_allocator(&ca);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_allocator(o, &a), WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    ck_assert_int_gt(ca.allocs, 0);
    wabot_use(e.ctx, "hi", reply_hi, NULL, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hello");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    char *json = wabot_metrics_json(e.ctx);
    ck_assert_ptr_nonnull(json);
    wabot_ctx_mem_free(e.ctx, json);
    long during = ca.allocs;
    tu_env_free(&e);
    ck_assert_int_gt(during, 3);
    ck_assert_int_eq(ca.allocs, ca.frees);
}
END_TEST

/* The free rule (core.h): memory returned by a function that takes a
 * context (or a turn of one) comes from the context's allocator and is
 * freed with wabot_ctx_mem_free; without a context it comes from libc and
 * is freed with wabot_free. A tracking allocator that knows every pointer
 * it handed out catches a function that breaks the rule it documents. */
#define TRACK_MAX 4096
typedef struct tracking_alloc {
    pthread_mutex_t lock;
    void *live[TRACK_MAX];
    size_t n;
    int foreign_frees; /* frees of pointers this allocator never returned */
} tracking_alloc;

static void track_add(tracking_alloc *ta, void *p)
{
    pthread_mutex_lock(&ta->lock);
    ck_assert_uint_lt(ta->n, TRACK_MAX);
    ta->live[ta->n++] = p;
    pthread_mutex_unlock(&ta->lock);
}

static int track_remove(tracking_alloc *ta, void *p)
{
    int found = 0;
    pthread_mutex_lock(&ta->lock);
    for (size_t i = 0; i < ta->n && !found; i++) {
        if (ta->live[i] == p) {
            ta->live[i] = ta->live[--ta->n];
            found = 1;
        }
    }
    if (!found)
        ta->foreign_frees++;
    pthread_mutex_unlock(&ta->lock);
    return found;
}

static int tracked(tracking_alloc *ta, const void *p)
{
    int found = 0;
    pthread_mutex_lock(&ta->lock);
    for (size_t i = 0; i < ta->n && !found; i++)
        found = ta->live[i] == p;
    pthread_mutex_unlock(&ta->lock);
    return found;
}

static void *ta_malloc(size_t n, void *ud)
{
    void *p = malloc(n);
    if (p)
        track_add(ud, p);
    return p;
}

static void *ta_realloc(void *p, size_t n, void *ud)
{
    if (p && !track_remove(ud, p))
        return NULL; /* not ours: refuse rather than corrupt the heap */
    void *q = realloc(p, n);
    if (q)
        track_add(ud, q);
    else if (p)
        track_add(ud, p);
    return q;
}

static void ta_free(void *p, void *ud)
{
    if (track_remove(ud, p))
        free(p);
}

/* Frees `p` by the context rule after checking it came from the context. */
static void free_ctx_owned(tracking_alloc *ta, const wabot_ctx *ctx, char *p,
                           const char *what)
{
    ck_assert_msg(p != NULL, "%s returned NULL", what);
    ck_assert_msg(tracked(ta, p), "%s: not from the context's allocator", what);
    wabot_ctx_mem_free(ctx, p);
    ck_assert_msg(!tracked(ta, p), "%s: still live after wabot_ctx_mem_free",
                  what);
}

/* Frees `p` by the no-context rule after checking it is libc memory. */
static void free_libc_owned(tracking_alloc *ta, char *p, const char *what)
{
    ck_assert_msg(p != NULL, "%s returned NULL", what);
    ck_assert_msg(!tracked(ta, p), "%s: from the context's allocator, "
                  "documented as wabot_free", what);
    wabot_free(p);
}

typedef struct free_rule_run {
    tracking_alloc *ta;
    int checked;
} free_rule_run;

static int turn_returns_owned(wabot_turn *t, void *ud)
{
    free_rule_run *r = ud;
    wabot_turn_session_set_int(t, "n", 1);
    free_ctx_owned(r->ta, wabot_turn_ctx(t), wabot_turn_session_json(t),
                   "wabot_turn_session_json");
    char *job_id = NULL;
    ck_assert_int_eq(wabot_turn_enqueue(t, "free-rule", "x", 1, NULL,
                                        &job_id), WABOT_OK);
    free_ctx_owned(r->ta, wabot_turn_ctx(t), job_id, "wabot_turn_enqueue id");
    r->checked = 1;
    return wabot_reply_text(t, "hi");
}

START_TEST(test_returned_memory_is_freed_by_the_documented_function)
{
    tracking_alloc *ta = calloc(1, sizeof *ta);
    pthread_mutex_init(&ta->lock, NULL);
    wabot_allocator a = {WABOT_ALLOCATOR_VERSION, ta_malloc, ta_realloc,
                         ta_free, ta};
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_allocator(o, &a), WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    free_rule_run run = {ta, 0};
    wabot_pipeline_use(e.ctx, "owned", turn_returns_owned, &run, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hello");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_int_eq(run.checked, 1);

    /* Functions that take a context. */
    free_ctx_owned(ta, e.ctx, wabot_metrics_json(e.ctx), "wabot_metrics_json");
    free_ctx_owned(ta, e.ctx, wabot_metrics_prometheus(e.ctx),
                   "wabot_metrics_prometheus");
    free_ctx_owned(ta, e.ctx, wabot_jobs_stats_json(e.ctx),
                   "wabot_jobs_stats_json");
    char *id = NULL;
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, "free-rule", "p", 1, NULL, &id),
                     WABOT_OK);
    free_ctx_owned(ta, e.ctx, id, "wabot_job_enqueue id");
    id = NULL;
    ck_assert_int_eq(wabot_send_text(e.ctx, NULL, "+14155550100", "hey",
                                     WABOT_CAT_REPLY, NULL, &id),
                     WABOT_OK);
    free_ctx_owned(ta, e.ctx, id, "wabot_send_text id");

    /* Functions without a context. */
    free_libc_owned(ta, wabot_route_keyword_fold("  Héllo! "),
                    "wabot_route_keyword_fold");
    free_libc_owned(ta, wabot_keyword_fold("STOP"), "wabot_keyword_fold");
    ck_assert_uint_ge(wabot_transport_recorder_count(e.rec), 1);
    free_libc_owned(ta,
                    wabot_outbound_to_json(
                        wabot_transport_recorder_get(e.rec, 0)),
                    "wabot_outbound_to_json");
    char *val = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_storage_set(e.storage, "free-rule", "v", 1, 0,
                                       NULL), WABOT_OK);
    ck_assert_int_eq(wabot_storage_get(e.storage, "free-rule", &val, &len,
                                       NULL), WABOT_OK);
    free_libc_owned(ta, val, "wabot_storage_get value");
    char *rec = NULL;
    ck_assert_int_eq(wabot_storage_record_encode(2, "ab", 2, &rec, &len),
                     WABOT_OK);
    free_libc_owned(ta, rec, "wabot_storage_record_encode");

    tu_env_free(&e);
    ck_assert_int_eq(ta->foreign_frees, 0);
    ck_assert_uint_eq(ta->n, 0); /* the context gave back all it took */
    pthread_mutex_destroy(&ta->lock);
    free(ta);
}
END_TEST

START_TEST(test_metrics_count_and_serialise_sorted)
{
    tu_env e;
    tu_env_init(&e);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "custom.b"), 0);
    ck_assert_int_eq(wabot_metrics_add(e.ctx, "custom.b", 2), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_add(e.ctx, "custom.a", 1), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_add(e.ctx, "custom.b", 3), WABOT_OK);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "custom.b"), 5);
    ck_assert_int_eq(wabot_metrics_add(e.ctx, "", 1), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_metrics_add(e.ctx, NULL, 1), WABOT_ERR_INVAL);
    for (int i = 0; i < 200; i++) { /* forces the table to grow */
        char name[32];
        snprintf(name, sizeof name, "grow.%03d", i);
        ck_assert_int_eq(wabot_metrics_add(e.ctx, name, i), WABOT_OK);
    }
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "grow.199"), 199);
    char *s = wabot_metrics_json(e.ctx);
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "metrics JSON invalid: %s", err.text);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "custom.b")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "timestamp")),
                     TU_EPOCH_MS);
    ck_assert(strstr(s, "custom.a") < strstr(s, "custom.b"));
    json_decref(j);
    wabot_ctx_mem_free(e.ctx, s);
    tu_env_free(&e);
}
END_TEST

static void *add_many(void *arg)
{
    for (int i = 0; i < 10000; i++)
        wabot_metrics_add(arg, i % 2 ? "race.x" : "race.y", 1);
    return NULL;
}

START_TEST(test_metrics_are_thread_safe)
{
    tu_env e;
    tu_env_init(&e);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, add_many, e.ctx);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "race.x"), 20000);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "race.y"), 20000);
    tu_env_free(&e);
}
END_TEST

/* lib/core/htab.c: a node holds no key pointer; the key is the entry's
 * flexible array, at the table's key_off from the node. */
typedef struct ht_entry {
    wb_hnode node;
    int value;
    char key[];
} ht_entry;

static ht_entry *ht_add(wb_htab *t, const char *key, int value)
{
    size_t len = strlen(key);
    ht_entry *e = calloc(1, sizeof *e + len + 1);
    ck_assert_ptr_nonnull(e);
    memcpy(e->key, key, len + 1);
    e->value = value;
    e->node.hash = wb_htab_hash(t, key, len);
    e->node.klen = (uint32_t)len;
    wb_htab_add(t, &e->node);
    return e;
}

static ht_entry *ht_find(const wb_htab *t, const char *key)
{
    size_t len = strlen(key);
    return (ht_entry *)wb_htab_find(t, wb_htab_hash(t, key, len), key, len);
}

static void ht_free_entry(wb_hnode *n, void *ud)
{
    (void)ud;
    free(n);
}

START_TEST(test_htab_finds_keys_at_the_tables_key_offset)
{
    ck_assert_uint_eq(sizeof(wb_hnode), 2 * sizeof(void *));
    wb_htab t;
    ck_assert_int_eq(wb_htab_init(&t, NULL, 4, offsetof(ht_entry, key)),
                     WABOT_OK);
    char key[32];
    for (int i = 0; i < 2000; i++) { /* grows from 4 buckets */
        snprintf(key, sizeof key, "k%04d", i); /* all of one length */
        ht_add(&t, key, i);
    }
    ck_assert_uint_eq(t.count, 2000);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%04d", i);
        ht_entry *e = ht_find(&t, key);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->value, i);
        ck_assert_str_eq(wb_htab_key(&t, &e->node), key);
        if (i % 2 == 0) {
            wb_htab_remove(&t, &e->node);
            free(e);
        }
    }
    ck_assert_ptr_null(ht_find(&t, "k0000"));
    ck_assert_ptr_null(ht_find(&t, "k000")); /* a prefix of a key */
    ck_assert_ptr_null(ht_find(&t, "k00011")); /* a key and more */
    ck_assert_int_eq(ht_find(&t, "k0001")->value, 1);
    ck_assert_uint_eq(t.count, 1000);
    wb_htab_each(&t, ht_free_entry, NULL);
    wb_htab_free(&t);
}
END_TEST

/* wb_strbuf_reserve: one allocation for what is announced (the appends
 * that follow within it never grow the buffer), what is there kept; an
 * impossible size is the sticky out-of-memory an append would give. */
START_TEST(test_strbuf_reserve_allocates_once_for_what_follows)
{
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_puts(&b, "head:");
    wb_strbuf_reserve(&b, 500);
    ck_assert_uint_ge(b.cap, 5 + 500 + 1);
    size_t cap = b.cap;
    const char *data = b.data;
    for (int i = 0; i < 50; i++)
        wb_strbuf_puts(&b, "0123456789");
    ck_assert_uint_eq(b.cap, cap); /* no growth */
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.len, 505);
    ck_assert(strncmp(b.data, "head:0123456789", 15) == 0);
    wb_strbuf_reserve(&b, 0); /* room enough: nothing changes */
    ck_assert_uint_eq(b.cap, cap);
    wb_strbuf_reserve(&b, SIZE_MAX - 8);
    ck_assert(b.oom);
    ck_assert_ptr_null(wb_strbuf_take(&b));
    wb_strbuf_free(&b);
}
END_TEST

START_TEST(test_strbuf_json_str_escapes_specials_and_copies_runs)
{
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_json_str(&b, "plain text \"q\" back\\slash\nnl\ttab\rcr\x01\x1f end \xc3\xa9");
    ck_assert_str_eq(b.data, "\"plain text \\\"q\\\" back\\\\slash\\nnl\\ttab"
                             "\\rcr\\u0001\\u001f end \xc3\xa9\"");
    wb_strbuf_reset(&b);
    wb_strbuf_json_str(&b, "");
    wb_strbuf_json_str(&b, NULL);
    ck_assert_str_eq(b.data, "\"\"\"\"");
    char longer[200];
    memset(longer, 'z', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    wb_strbuf_json_str(&b, longer); /* grows past the buffer at once */
    ck_assert_uint_eq(b.len, 4 + 2 + 199);
    ck_assert_uint_eq(strlen(b.data), b.len);
    ck_assert_int_eq(b.data[b.len - 1], '"');
    wb_strbuf_free(&b);
}
END_TEST

START_TEST(test_strbuf_int_prints_like_prid64)
{
    const int64_t v[] = {0, 7, -7, 1234567890123, INT64_MAX, INT64_MIN};
    const char *want = "0 7 -7 1234567890123 9223372036854775807 "
                       "-9223372036854775808";
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (i)
            wb_strbuf_putc(&b, ' ');
        wb_strbuf_int(&b, v[i]);
    }
    ck_assert_str_eq(b.data, want);
    wb_strbuf_free(&b);
}
END_TEST

START_TEST(test_strbuf_int_matches_printf_at_every_digit_count)
{
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    int64_t p10 = 1;
    /* 10^0 .. 10^18: the next power does not fit in an int64_t. */
    for (int k = 0; k < 19; k++, p10 = k < 19 ? p10 * 10 : p10) {
        const int64_t v[] = {p10 - 1, p10, p10 + 1, p10 / 9 * 7,
                             -p10, -(p10 - 1), -(p10 + 1)};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            char want[32];
            snprintf(want, sizeof want, "%" PRId64, v[i]);
            wb_strbuf_reset(&b);
            wb_strbuf_int(&b, v[i]);
            ck_assert_str_eq(b.data, want);
        }
    }
    wb_strbuf_free(&b);
}
END_TEST

START_TEST(test_fmt_u64_and_hex64_match_printf)
{
    uint64_t p10 = 1;
    for (int k = 0; k < 20; k++) {
        const uint64_t v[] = {p10 - 1, p10, p10 + 1, p10 / 9 * 7,
                              UINT64_MAX - p10, (uint64_t)k << 60};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            char want[32], got[WB_FMT_U64_SIZE], hex[17];
            snprintf(want, sizeof want, "%" PRIu64, v[i]);
            ck_assert_uint_eq(wb_fmt_u64(got, v[i]), strlen(want));
            ck_assert_str_eq(got, want);
            snprintf(want, sizeof want, "%016" PRIx64, v[i]);
            wb_fmt_hex64(hex, v[i]);
            ck_assert_str_eq(hex, want);
        }
        if (k < 19)
            p10 *= 10;
    }
    char got[WB_FMT_U64_SIZE];
    ck_assert_uint_eq(wb_fmt_u64(got, UINT64_MAX), 20);
    ck_assert_str_eq(got, "18446744073709551615");
}
END_TEST

START_TEST(test_fmt_i64_matches_printf_at_both_ends)
{
    const int64_t v[] = {0,  1,  -1,        9,         -9,        10,
                         -10, 99, -100,     INT64_MAX, INT64_MIN, INT64_MIN + 1,
                         -1234567890123456789};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char want[32], got[WB_FMT_U64_SIZE];
        snprintf(want, sizeof want, "%" PRId64, v[i]);
        ck_assert_uint_eq(wb_fmt_i64(got, v[i]), strlen(want));
        ck_assert_str_eq(got, want);
    }
}
END_TEST

/* Appends that end exactly at the buffer's room, one byte before and one
 * past it, for each way of appending: the text is whole and terminated. */
START_TEST(test_strbuf_appends_that_fill_the_room_exactly_keep_every_byte)
{
    for (size_t fill = 56; fill < 72; fill++) {
        wb_strbuf b;
        wb_strbuf_init(&b, NULL);
        char want[256] = "", s[128];
        memset(s, 'x', fill);
        s[fill] = '\0';
        wb_strbuf_append(&b, s, fill);
        strcat(want, s);
        wb_strbuf_json_str(&b, "ab");
        strcat(want, "\"ab\"");
        wb_strbuf_putc(&b, '!');
        strcat(want, "!");
        wb_strbuf_json_str(&b, s + 50);
        strcat(want, "\"");
        strcat(want, s + 50);
        strcat(want, "\"");
        ck_assert_str_eq(b.data, want);
        ck_assert_uint_eq(b.len, strlen(want));
        ck_assert_int_eq(b.oom, 0);
        wb_strbuf_free(&b);
    }
}
END_TEST

START_TEST(test_record_marker_spells_every_schema_number_in_decimal)
{
    const uint32_t schema[] = {0, 1, 9, 10, 99, 100, 123456, UINT32_MAX};
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++) {
        char want[48], *rec = NULL;
        size_t len = 0;
        int n = snprintf(want, sizeof want, "#schema %" PRIu32 "\npay",
                         schema[i]);
        ck_assert_int_eq(wabot_storage_record_encode(schema[i], "pay", 3,
                                                     &rec, &len),
                         WABOT_OK);
        ck_assert_uint_eq(len, (size_t)n);
        ck_assert_str_eq(rec, want);
        free(rec);
    }
}
END_TEST

START_TEST(test_strbuf_printf_fits_room_and_grows_past_it)
{
    wb_strbuf b;
    wb_strbuf_init(&b, NULL);
    wb_strbuf_printf(&b, "%d:%s", 42, "x"); /* first append: 64 bytes */
    ck_assert_str_eq(b.data, "42:x");
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    wb_strbuf_printf(&b, "[%s]", big); /* past the room: formatted twice */
    ck_assert_uint_eq(b.len, 4 + 2 + 299);
    ck_assert_uint_eq(strlen(b.data), b.len);
    ck_assert_int_eq(b.data[5], 'a');
    ck_assert_int_eq(b.data[b.len - 1], ']');
    wb_strbuf_printf(&b, "%s", ""); /* nothing added, still terminated */
    ck_assert_uint_eq(strlen(b.data), b.len);
    ck_assert_int_eq(b.oom, 0);
    wb_strbuf_free(&b);
}
END_TEST

START_TEST(test_str_join_concatenates_or_refuses_what_does_not_fit)
{
    char buf[12];
    ck_assert_int_eq(WB_JOIN(buf, sizeof buf, "conv:{", "o", ":", "+1", "}"),
                     11);
    ck_assert_str_eq(buf, "conv:{o:+1}");
    ck_assert_int_eq(WB_JOIN(buf, sizeof buf, "conv:{", "o", ":", "+12", "}"),
                     -1); /* 12 bytes need 13 with the NUL */
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(WB_JOIN(buf, sizeof buf, ""), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(WB_JOIN(buf, 0, "x"), -1);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_version_matches_header);
    tcase_add_test(tc, test_strerror_names_every_code_and_unknown);
    tcase_add_test(tc, test_status_codes_never_renumbered);
    tcase_add_test(tc, test_options_unknown_id_is_inval_with_message);
    tcase_add_test(tc, test_options_wrong_setter_type_is_inval);
    tcase_add_test(tc, test_options_range_checked);
    tcase_add_test(tc, test_options_by_name_parses_and_validates);
    tcase_add_test(tc, test_options_read_back_defaults_and_set_values);
    tcase_add_test(tc, test_options_webhook_path_must_be_a_path);
    tcase_add_test(tc, test_options_reject_bad_clock_and_allocator);
    tcase_add_test(tc, test_ctx_with_defaults_uses_memory_and_console);
    tcase_add_test(tc, test_free_functions_accept_null);
    tcase_add_test(tc, test_clock_is_injected);
    tcase_add_test(tc, test_errmsg_is_per_thread_and_per_ctx);
    tcase_add_test(tc, test_versioned_copy_reads_only_the_callers_version);
    tcase_add_test(tc, test_log_threshold_filters_messages);
    tcase_add_test(tc, test_allocator_hook_serves_every_ctx_allocation);
    tcase_add_test(tc, test_returned_memory_is_freed_by_the_documented_function);
    tcase_add_test(tc, test_metrics_count_and_serialise_sorted);
    tcase_add_test(tc, test_metrics_are_thread_safe);
    tcase_add_test(tc, test_strbuf_reserve_allocates_once_for_what_follows);
    tcase_add_test(tc, test_strbuf_json_str_escapes_specials_and_copies_runs);
    tcase_add_test(tc, test_strbuf_printf_fits_room_and_grows_past_it);
    tcase_add_test(tc, test_str_join_concatenates_or_refuses_what_does_not_fit);
    tcase_add_test(tc, test_strbuf_int_prints_like_prid64);
    tcase_add_test(tc, test_htab_finds_keys_at_the_tables_key_offset);
    tcase_add_test(tc,
        test_record_marker_spells_every_schema_number_in_decimal);
    tcase_add_test(tc, test_strbuf_int_matches_printf_at_every_digit_count);
    tcase_add_test(tc, test_fmt_u64_and_hex64_match_printf);
    tcase_add_test(tc, test_fmt_i64_matches_printf_at_both_ends);
    tcase_add_test(tc,
        test_strbuf_appends_that_fill_the_room_exactly_keep_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(core_suite());
}
