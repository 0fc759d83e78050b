/* The pipeline: Koa-style middlewares, error handling, conversation state
 * in a turn, replies, concurrency. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inbound.h"
#include "testutil.h"

static void handle_ok(wabot_ctx *ctx, const char *id, const char *from,
                      const char *text)
{
    wabot_message *m = tu_text(id, from, text);
    int rc = wabot_ctx_handle_message(ctx, m);
    ck_assert_msg(rc == WABOT_OK, "handle %s: %s (%s)", id, wabot_strerror(rc),
                  wabot_ctx_errmsg(ctx));
    wabot_message_free(m);
    tu_drain(ctx);
}

/* ---- middleware order ---------------------------------------------- */

typedef struct trace {
    char buf[256];
} trace;

static void note(trace *t, const char *s)
{
    strncat(t->buf, s, sizeof t->buf - strlen(t->buf) - 1);
}

typedef struct mw_arg {
    trace *tr;
    const char *name;
    int (*next)(wabot_turn *); /* NULL: wabot_next */
} mw_arg;

static int mw_wrap(wabot_turn *t, void *ud)
{
    mw_arg *a = ud;
    char s[32];
    snprintf(s, sizeof s, "%s< ", a->name);
    note(a->tr, s);
    int rc = a->next ? a->next(t) : wabot_next(t);
    snprintf(s, sizeof s, "%s> ", a->name);
    note(a->tr, s);
    return rc;
}

static int route_note(wabot_turn *t, void *ud)
{
    note(ud, "handler ");
    return wabot_reply_text(t, "ok");
}

START_TEST(test_middlewares_run_in_order_around_the_router)
{
    tu_env e;
    tu_env_init(&e);
    trace tr = {""};
    mw_arg a = {&tr, "a", NULL}, b = {&tr, "b", NULL};
    ck_assert_int_eq(wabot_use(e.ctx, "a", mw_wrap, &a, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_use(e.ctx, "b", mw_wrap, &b, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(e.ctx, NULL, route_note, &tr, NULL),
                     WABOT_OK);
    handle_ok(e.ctx, "SM1", "+14155550100", "hi");
    ck_assert_str_eq(tr.buf, "a< b< handler b> a> ");
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.handled"), 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_old_and_new_pipeline_names_build_one_chain)
{
    tu_env e;
    tu_env_init(&e);
    trace tr = {""};
    mw_arg a = {&tr, "a", wabot_pipeline_next}, b = {&tr, "b", NULL},
           c = {&tr, "c", wabot_pipeline_next};
    ck_assert_int_eq(wabot_pipeline_use(e.ctx, "a", mw_wrap, &a, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_use(e.ctx, "b", mw_wrap, &b, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_pipeline_use(e.ctx, "c", mw_wrap, &c, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_pipeline_use(e.ctx, "x", NULL, NULL, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_fallback(e.ctx, NULL, route_note, &tr, NULL),
                     WABOT_OK);
    handle_ok(e.ctx, "SM1", "+14155550100", "hi");
    ck_assert_str_eq(tr.buf, "a< b< c< handler c> b> a> ");
    tu_env_free(&e);
}
END_TEST

static int mw_stop(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_reply_text(t, "stopped here");
}

START_TEST(test_middleware_without_next_ends_the_turn)
{
    tu_env e;
    tu_env_init(&e);
    trace tr = {""};
    wabot_use(e.ctx, "stop", mw_stop, NULL, NULL);
    wabot_route_fallback(e.ctx, NULL, route_note, &tr, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "hi");
    ck_assert_str_eq(tr.buf, "");
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.unhandled"), 1);
    tu_env_free(&e);
}
END_TEST

static int mw_next_twice(wabot_turn *t, void *ud)
{
    int *second = ud;
    wabot_next(t);
    *second = wabot_next(t);
    return WABOT_OK;
}

START_TEST(test_calling_next_twice_is_a_state_error)
{
    tu_env e;
    tu_env_init(&e);
    int second = 0;
    trace tr = {""};
    wabot_use(e.ctx, NULL, mw_next_twice, &second, NULL);
    wabot_route_fallback(e.ctx, NULL, route_note, &tr, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "hi");
    ck_assert_int_eq(second, WABOT_ERR_STATE);
    ck_assert_str_eq(tr.buf, "handler ");
    tu_env_free(&e);
}
END_TEST

static int mw_handled_after_next(wabot_turn *t, void *ud)
{
    int rc = wabot_next(t);
    *(int *)ud = wabot_turn_handled(t);
    return rc;
}

START_TEST(test_handled_flag_visible_after_next)
{
    tu_env e;
    tu_env_init(&e);
    int handled = -1;
    trace tr = {""};
    wabot_use(e.ctx, NULL, mw_handled_after_next, &handled, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "hi");
    ck_assert_int_eq(handled, 0);
    wabot_route_fallback(e.ctx, NULL, route_note, &tr, NULL);
    handle_ok(e.ctx, "SM2", "+14155550100", "hi");
    ck_assert_int_eq(handled, 1);
    tu_env_free(&e);
}
END_TEST

static int destroyed;
static void count_destroy(void *ud)
{
    (void)ud;
    destroyed++;
}

static int mw_pass(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_next(t);
}

START_TEST(test_middleware_and_error_handler_destructors_run_once)
{
    destroyed = 0;
    wabot_ctx *ctx;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    wabot_use(ctx, "a", mw_pass, NULL, count_destroy);
    wabot_use(ctx, "b", mw_pass, NULL, count_destroy);
    ck_assert_int_eq(wabot_use(ctx, "bad", NULL, NULL, count_destroy),
                     WABOT_ERR_INVAL);
    wabot_ctx_set_error_handler(ctx, NULL, NULL, NULL);
    wabot_ctx_free(ctx);
    ck_assert_int_eq(destroyed, 2);
}
END_TEST

/* ---- errors ------------------------------------------------------- */

static int mw_fail(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_turn_set_state(t, "should-not-persist");
    wabot_reply_text(t, "before failure");
    return WABOT_ERR_HANDLER;
}

typedef struct err_seen {
    int status;
    char detail[128];
    int calls;
} err_seen;

static void on_error(wabot_turn *t, int status, const char *detail, void *ud)
{
    err_seen *s = ud;
    s->status = status;
    snprintf(s->detail, sizeof s->detail, "%s", detail);
    s->calls++;
    wabot_reply_text(t, "Sorry, something went wrong.");
}

START_TEST(test_failure_runs_error_handler_and_discards_state)
{
    tu_env e;
    tu_env_init(&e);
    err_seen seen = {0};
    wabot_ctx_set_error_handler(e.ctx, on_error, &seen, NULL);
    wabot_use(e.ctx, "failing", mw_fail, NULL, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_ERR_HANDLER);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_int_eq(seen.calls, 1);
    ck_assert_int_eq(seen.status, WABOT_ERR_HANDLER);
    ck_assert_str_eq(seen.detail, "handler failed");
    /* Replies queued before the failure and the handler's apology both go. */
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "Sorry, something went wrong.");
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(e.ctx, "default", "+14155550100", &c),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.failed"), 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_error_handler_set_by_either_name_replaces_the_other)
{
    tu_env e;
    tu_env_init(&e);
    err_seen first = {0}, second = {0};
    destroyed = 0;
    ck_assert_int_eq(wabot_ctx_set_error_handler(e.ctx, on_error, &first,
                                                 count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_pipeline_set_error_handler(e.ctx, on_error,
                                                      &second, NULL),
                     WABOT_OK);
    ck_assert_int_eq(destroyed, 1); /* the replaced handler's destroy ran */
    wabot_pipeline_use(e.ctx, "failing", mw_fail, NULL, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_ERR_HANDLER);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_int_eq(first.calls, 0);
    ck_assert_int_eq(second.calls, 1);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_invalid_message_is_rejected)
{
    tu_env e;
    tu_env_init(&e);
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, NULL), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(e.ctx), "NULL"));
    ck_assert_int_eq(wabot_ctx_handle_message(NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_use(NULL, NULL, mw_pass, NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_next(NULL), WABOT_ERR_INVAL);
    tu_env_free(&e);
}
END_TEST

/* ---- state and session -------------------------------------------- */

static int count_visits(wabot_turn *t, void *ud)
{
    (void)ud;
    int64_t n = wabot_turn_session_int(t, "visits", 0) + 1;
    wabot_turn_session_set_int(t, "visits", n);
    wabot_turn_set_state(t, n == 1 ? "greeted" : "returning");
    char text[64];
    snprintf(text, sizeof text, "visit %lld in state %s", (long long)n,
             wabot_turn_state(t));
    return wabot_reply_text(t, text);
}

START_TEST(test_state_and_session_persist_between_messages)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, count_visits, NULL, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    handle_ok(e.ctx, "SM2", "+14155550100", "b");
    handle_ok(e.ctx, "SM3", "+14155550199", "other customer");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "visit 1 in state greeted");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "visit 2 in state returning");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 2)),
                     "visit 1 in state greeted");
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(e.ctx, "default", "+14155550100", &c),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(c), "returning");
    ck_assert_str_eq(wabot_conversation_session(c), "{\"visits\":2}");
    wabot_conversation_free(c);
    tu_env_free(&e);
}
END_TEST

static int read_only(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_turn_set_state(t, wabot_turn_state(t)); /* same value: no change */
    return wabot_reply_text(t, "read");
}

START_TEST(test_unchanged_conversation_is_not_saved)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, read_only, NULL, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(e.ctx, "default", "+14155550100", &c),
                     WABOT_ERR_NOT_FOUND);
    tu_env_free(&e);
}
END_TEST

static int session_ops(wabot_turn *t, void *ud)
{
    char **out = ud;
    ck_assert_int_eq(wabot_turn_session_set_str(t, "name", "Ana"), WABOT_OK);
    ck_assert_int_eq(wabot_turn_session_set_json(t, "cart", "[1,2,{\"x\":3}]", 13), WABOT_OK);
    ck_assert_int_eq(wabot_turn_session_set_json(t, "bad", "[1,", 3), WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_turn_session_set_int(t, "n", 7), WABOT_OK);
    ck_assert_str_eq(wabot_turn_session_str(t, "name"), "Ana");
    ck_assert_ptr_null(wabot_turn_session_str(t, "n")); /* wrong type */
    ck_assert_int_eq(wabot_turn_session_int(t, "name", -1), -1);
    ck_assert_int_eq(wabot_turn_session_int(t, "n", -1), 7);
    ck_assert_int_eq(wabot_turn_session_del(t, "n"), WABOT_OK);
    ck_assert_int_eq(wabot_turn_session_del(t, "n"), WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_turn_session_set_str(t, "", "x"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_turn_session_set_str(t, "k", NULL), WABOT_ERR_INVAL);
    char *json = wabot_turn_session_json(t);
    *out = strdup(json);
    wabot_ctx_mem_free(wabot_turn_ctx(t), json);
    return WABOT_OK;
}

START_TEST(test_session_values_typed_access)
{
    tu_env e;
    tu_env_init(&e);
    char *json = NULL;
    wabot_use(e.ctx, NULL, session_ops, &json, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    ck_assert_str_eq(json, "{\"cart\":[1,2,{\"x\":3}],\"name\":\"Ana\"}");
    free(json);
    tu_env_free(&e);
}
END_TEST

static int clear_all(wabot_turn *t, void *ud)
{
    (void)ud;
    if (wabot_turn_session_int(t, "n", 0) == 0) {
        wabot_turn_session_set_int(t, "n", 1);
        return wabot_turn_set_state(t, "s1");
    }
    wabot_turn_session_clear(t);
    return wabot_turn_set_state(t, NULL);
}

START_TEST(test_session_clear_and_state_reset)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, clear_all, NULL, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    handle_ok(e.ctx, "SM2", "+14155550100", "b");
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(e.ctx, "default", "+14155550100", &c),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_state(c), "");
    ck_assert_str_eq(wabot_conversation_session(c), "{}");
    wabot_conversation_free(c);
    tu_env_free(&e);
}
END_TEST

static int reply_name(wabot_turn *t, void *ud)
{
    (void)ud;
    char s[64];
    snprintf(s, sizeof s, "name=%s org=%s", wabot_turn_customer_name(t),
             wabot_turn_organization(t));
    return wabot_reply_text(t, s);
}

START_TEST(test_profile_name_remembered_and_org_defaulted)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_str(o, WABOT_OPT_DEFAULT_ORGANIZATION, "shop");
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    wabot_use(e.ctx, NULL, reply_name, NULL, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    wabot_message_set_profile_name(m, "Maria");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    handle_ok(e.ctx, "SM2", "+14155550100", "again, no profile name");
    m = tu_text("SM3", "+14155550100", "other org");
    wabot_message_set_organization(m, "acme");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "name=Maria org=shop");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "name=Maria org=shop");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 2)),
                     "name= org=acme");
    ck_assert_str_eq(wabot_outbound_organization(wabot_recorder_get(e.rec, 2)),
                     "acme");
    tu_env_free(&e);
}
END_TEST

/* ---- replies -------------------------------------------------------- */

static int reply_limits(wabot_turn *t, void *ud)
{
    (void)ud;
    char big[4098];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *ids[] = {"a", "b", "c", "d"};
    const char *titles[] = {"A", "B", "C", "D"};
    const char *long_title[] = {"This title is too long!"};
    ck_assert_int_eq(wabot_reply_text(t, ""), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_reply_text(t, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_reply_text(t, big), WABOT_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(wabot_turn_ctx(t)), "4096"));
    big[4096] = '\0';
    ck_assert_int_eq(wabot_reply_text(t, big), WABOT_OK);
    ck_assert_int_eq(wabot_reply_buttons(t, "b", 4, ids, titles), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_reply_buttons(t, "b", 0, ids, titles), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_reply_buttons(t, "b", 1, ids, long_title), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_reply_buttons(t, "b", 3, ids, titles), WABOT_OK);
    ck_assert_int_eq(wabot_reply_list(t, "l", 4, ids, titles), WABOT_OK);
    ck_assert_int_eq(wabot_reply_media(t, "", NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_reply_media(t, "https://x/a.png", NULL), WABOT_OK);
    ck_assert_uint_eq(wabot_turn_reply_count(t), 4);
    return WABOT_OK;
}

START_TEST(test_reply_limits_are_enforced_at_the_call)
{
    tu_env e;
    wabot_options *opts = wabot_options_new();
    /* Long texts refused (the default splits them: test_long_text.c). */
    ck_assert_int_eq(wabot_options_set(opts, "texts.long_text", "refuse"),
                     WABOT_OK);
    tu_env_init_opts(&e, opts);
    wabot_options_free(opts);
    wabot_use(e.ctx, NULL, reply_limits, NULL, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 4);
    const wabot_outbound *o = wabot_recorder_get(e.rec, 3);
    ck_assert_int_eq(wabot_outbound_kind(o), WABOT_OUT_MEDIA);
    ck_assert_str_eq(wabot_outbound_media_url(o), "https://x/a.png");
    ck_assert_str_eq(wabot_outbound_id(o), "SM1:r3");
    ck_assert_int_eq(wabot_outbound_kind(wabot_recorder_get(e.rec, 2)), WABOT_OUT_LIST);
    ck_assert_uint_eq(wabot_outbound_option_count(wabot_recorder_get(e.rec, 2)), 4);
    tu_env_free(&e);
}
END_TEST

static int mw_set_local(wabot_turn *t, void *ud)
{
    static int value = 42;
    (void)ud;
    wabot_turn_set_local(t, "answer", &value);
    return wabot_next(t);
}

static int use_local(wabot_turn *t, void *ud)
{
    (void)ud;
    int *v = wabot_turn_get_local(t, "answer");
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_null(wabot_turn_get_local(t, "missing"));
    return wabot_reply_text(t, *v == 42 ? "local ok" : "local bad");
}

START_TEST(test_locals_pass_values_between_middlewares)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, mw_set_local, NULL, NULL);
    wabot_use(e.ctx, NULL, use_local, NULL, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)), "local ok");
    tu_env_free(&e);
}
END_TEST

/* ---- concurrency and conflicts -------------------------------------- */

static int incr_counter(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_turn_session_set_int(t, "counter",
                                      wabot_turn_session_int(t, "counter", 0) + 1);
}

typedef struct worker_arg {
    wabot_ctx *ctx;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < 1000; i++) {
        char id[64];
        snprintf(id, sizeof id, "SM-%d-%d", a->id, i);
        wabot_message *m = wabot_message_new(id, "+14155550100", NULL);
        wabot_message_set_text(m, "+1");
        if (wabot_ctx_handle_message(a->ctx, m) != WABOT_OK)
            abort();
        wabot_message_free(m);
    }
    return NULL;
}

START_TEST(test_eight_threads_one_customer_lose_no_update)
{
    tu_env e;
    /* 8000 messages at once from one customer: a flood the inbound rate
     * limit would stop, which is not what this test is about. */
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT,
                                           0), WABOT_OK);
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    wabot_use(e.ctx, "incr", incr_counter, NULL, NULL);
    pthread_t th[8];
    worker_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (worker_arg){e.ctx, i};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    wabot_conversation *c = NULL;
    ck_assert_int_eq(wabot_conversation_get(e.ctx, "default", "+14155550100", &c),
                     WABOT_OK);
    ck_assert_str_eq(wabot_conversation_session(c), "{\"counter\":8000}");
    wabot_conversation_free(c);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.received"), 8000);
    tu_env_free(&e);
}
END_TEST

/* Simulates another process writing the same conversation while this turn
 * runs: the save must conflict, the turn re-run on fresh state, and the
 * first attempt's replies dropped. */
typedef struct interferer {
    int runs;
    int interfere_times;
} interferer;

static int interfere(wabot_turn *t, void *ud)
{
    interferer *in = ud;
    in->runs++;
    int64_t n = wabot_turn_session_int(t, "counter", 0);
    if (in->interfere_times > 0) {
        in->interfere_times--;
        wabot_storage *s = wabot_ctx_storage(wabot_turn_ctx(t));
        const char *v = "{\"state\":\"other\",\"session\":{\"counter\":100}}";
        ck_assert_int_eq(wabot_storage_set(s, "conv:{default:+14155550100}",
                                           v, strlen(v), 0, NULL),
                         WABOT_OK);
    }
    char text[32];
    snprintf(text, sizeof text, "counter was %lld", (long long)n);
    wabot_reply_text(t, text);
    return wabot_turn_session_set_int(t, "counter", n + 1);
}

START_TEST(test_conflicting_save_reruns_turn_on_fresh_state)
{
    tu_env e;
    tu_env_init(&e);
    interferer in = {0, 1};
    wabot_use(e.ctx, NULL, interfere, &in, NULL);
    handle_ok(e.ctx, "SM1", "+14155550100", "a");
    ck_assert_int_eq(in.runs, 2);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "state.conflicts"), 1);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "counter was 100");
    wabot_conversation *c = NULL;
    wabot_conversation_get(e.ctx, "default", "+14155550100", &c);
    ck_assert_str_eq(wabot_conversation_session(c), "{\"counter\":101}");
    ck_assert_str_eq(wabot_conversation_state(c), "other");
    wabot_conversation_free(c);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_conflicts_beyond_retry_limit_fail_the_turn)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_STATE_MAX_RETRIES, 2);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    interferer in = {0, 100};
    wabot_use(e.ctx, NULL, interfere, &in, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "a");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_ERR_CONFLICT);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_int_eq(in.runs, 3);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "state.conflicts"), 3);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.failed"), 1);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_keyword_list_matches_folded_words_whatever_their_first_byte)
{
    const char *list = "CANCEL, STOP ,Arr\xc3\xaat,..Basta,2stop,\xc3\x89tat";
    ck_assert_int_eq(wb_keyword_in_list(list, "stop"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "  Stop!! "), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "arret"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "ARR\xc3\x8aT"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "basta"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "2STOP"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "etat"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "cancel"), 1);
    ck_assert_int_eq(wb_keyword_in_list(list, "menu"), 0);
    ck_assert_int_eq(wb_keyword_in_list(list, "sto"), 0);
    ck_assert_int_eq(wb_keyword_in_list(list, "stopp"), 0);
    ck_assert_int_eq(wb_keyword_in_list(list, "cancel now"), 0);
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_middlewares_run_in_order_around_the_router);
    tcase_add_test(tc, test_keyword_list_matches_folded_words_whatever_their_first_byte);
    tcase_add_test(tc, test_old_and_new_pipeline_names_build_one_chain);
    tcase_add_test(tc, test_middleware_without_next_ends_the_turn);
    tcase_add_test(tc, test_calling_next_twice_is_a_state_error);
    tcase_add_test(tc, test_handled_flag_visible_after_next);
    tcase_add_test(tc, test_middleware_and_error_handler_destructors_run_once);
    tcase_add_test(tc, test_failure_runs_error_handler_and_discards_state);
    tcase_add_test(tc, test_error_handler_set_by_either_name_replaces_the_other);
    tcase_add_test(tc, test_invalid_message_is_rejected);
    tcase_add_test(tc, test_state_and_session_persist_between_messages);
    tcase_add_test(tc, test_unchanged_conversation_is_not_saved);
    tcase_add_test(tc, test_session_values_typed_access);
    tcase_add_test(tc, test_session_clear_and_state_reset);
    tcase_add_test(tc, test_profile_name_remembered_and_org_defaulted);
    tcase_add_test(tc, test_reply_limits_are_enforced_at_the_call);
    tcase_add_test(tc, test_locals_pass_values_between_middlewares);
    tcase_add_test(tc, test_eight_threads_one_customer_lose_no_update);
    tcase_add_test(tc, test_conflicting_save_reruns_turn_on_fresh_state);
    tcase_add_test(tc, test_conflicts_beyond_retry_limit_fail_the_turn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(pipeline_suite());
}
