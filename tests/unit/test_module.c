/* Modules: a toy module written with the public headers only -- its own
 * options (one per organisation), a pipeline middleware, a queue and its
 * worker, a counter and a hook -- and the registry's rules (names,
 * dependency order, failures, destruction). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ------------------------------------------------------------------ */
/* The toy module                                                      */

typedef struct toy {
    int greeted;       /* turns answered */
    int jobs_done;     /* jobs of the toy queue run */
    char last_event[128];
} toy;

enum { TOY_GREETING, TOY_REPEAT };

static const wabot_option_def toy_options[] = {
    {WABOT_OPTION_DEF_VERSION, "greeting", WABOT_OPTION_STRING,
     WABOT_OPTION_PER_ORG, 0, 0, 0, "Hello from the toy", "what toy says",
     NULL, NULL, NULL},
    {WABOT_OPTION_DEF_VERSION, "repeat", WABOT_OPTION_INT,
     WABOT_OPTION_PER_ORG, 1, 1, 3, NULL, "how many times it says it",
     "TOY_REPEAT", NULL, NULL},
};

static const char *const toy_hooks[] = {"greeted", NULL};

static int toy_turn(wabot_turn *t, void *ud)
{
    wabot_module *m = ud;
    toy *state = wabot_module_data(m);
    const char *text = wabot_message_text(wabot_turn_message(t));
    if (!text || strcmp(text, "toy") != 0)
        return wabot_next(t);
    const char *org = wabot_turn_organization(t);
    int64_t repeat = 0;
    ck_assert_int_eq(wabot_module_option_int(m, org, TOY_REPEAT, &repeat),
                     WABOT_OK);
    for (int64_t i = 0; i < repeat; i++) {
        int rc = wabot_reply_text(t, wabot_module_option_str(m, org,
                                                             TOY_GREETING));
        if (rc != WABOT_OK)
            return rc;
    }
    wabot_turn_set_handled(t);
    state->greeted++;
    wabot_metrics_add(wabot_turn_ctx(t), "toy.greeted", 1);
    char event[96];
    snprintf(event, sizeof event, "{\"customer\":\"%s\"}",
             wabot_turn_customer(t));
    int rc = wabot_hook_emit(m, "greeted", event, strlen(event));
    if (rc != WABOT_OK)
        return rc;
    return wabot_job_enqueue(wabot_turn_ctx(t), "toy-jobs", event,
                             strlen(event), NULL, NULL);
}

static int toy_job(wabot_job *job, void *ud)
{
    (void)job;
    toy *state = wabot_module_data(ud);
    state->jobs_done++;
    return WABOT_OK;
}

static int toy_create(wabot_module *m, void *ud)
{
    (void)ud;
    toy *state = calloc(1, sizeof *state);
    if (!state)
        return WABOT_ERR_NOMEM;
    wabot_module_set_data(m, state);
    wabot_ctx *ctx = wabot_module_ctx(m);
    int rc = wabot_module_use(m, WABOT_STAGE_TURN, "greet", toy_turn, m);
    if (rc == WABOT_OK)
        rc = wabot_worker_add(ctx, "toy-jobs", toy_job, m, NULL, 1);
    return rc;
}

static void toy_destroy(wabot_module *m, void *ud)
{
    int *destroyed = ud;
    if (destroyed)
        (*destroyed)++;
    free(wabot_module_data(m));
}

static const wabot_module_def toy_def = {
    WABOT_MODULE_DEF_VERSION, "toy", "a module for the tests", NULL,
    toy_options, 2, toy_hooks, toy_create, toy_destroy};

static int on_greeted(wabot_ctx *ctx, const char *hook, const char *json,
                      size_t len, void *ud)
{
    (void)ctx;
    ck_assert_str_eq(hook, "toy.greeted");
    toy *seen = ud;
    snprintf(seen->last_event, sizeof seen->last_event, "%.*s", (int)len,
             json);
    seen->greeted++;
    return WABOT_OK;
}

static void send_text(tu_env *e, const char *id, const char *org,
                      const char *text)
{
    wabot_message *m = tu_text(id, "+15550002222", text);
    if (org)
        wabot_message_set_organization(m, org);
    int rc = wabot_ctx_handle_message(e->ctx, m);
    ck_assert_msg(rc == WABOT_OK, "%s", wabot_ctx_errmsg(e->ctx));
    wabot_message_free(m);
}

START_TEST(test_toy_module_options_are_listed_and_set_by_name)
{
    wabot_options *o = wabot_options_new();
    size_t before = wabot_options_count(o);
    ck_assert_int_eq(wabot_options_add_module(o, &toy_def, NULL), WABOT_OK);
    ck_assert_uint_eq(wabot_options_count(o), before + 2);
    size_t i;
    ck_assert_int_eq(wabot_options_find(o, "toy.greeting", &i), WABOT_OK);
    ck_assert_uint_eq(i, before);
    ck_assert_str_eq(wabot_options_env(o, i), "WABOT_TOY_GREETING");
    ck_assert_str_eq(wabot_options_doc(o, i), "what toy says");
    ck_assert_int_eq(wabot_options_find(o, "toy.repeat", &i), WABOT_OK);
    ck_assert_str_eq(wabot_options_env(o, i), "TOY_REPEAT");
    ck_assert_int_eq(wabot_options_set(o, "toy.repeat", "4"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_options_set(o, "WABOT_OPT_TOY_REPEAT", "2"),
                     WABOT_OK);
    const char *env[] = {"WABOT_TOY_GREETING=Hi there", NULL};
    ck_assert_int_eq(wabot_options_apply_env(o, env), WABOT_OK);
    char buf[64];
    wabot_options_format(o, i, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "2");
    wabot_options_find(o, "toy.greeting", &i);
    wabot_options_format(o, i, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "Hi there");
    wabot_options_free(o);
}
END_TEST

START_TEST(test_toy_module_answers_per_org_runs_its_worker_and_hook)
{
    wabot_options *o = wabot_options_new();
    int destroyed = 0;
    ck_assert_int_eq(wabot_options_add_module(o, &toy_def, &destroyed),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "toy.greeting",
                                           "Hello from Acme"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_org(o, "acme", "toy.repeat", "2"),
                     WABOT_OK);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);

    wabot_module *m = wabot_ctx_module(e.ctx, "toy");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(wabot_module_name(m), "toy");
    ck_assert_ptr_eq(wabot_module_ctx(m), e.ctx);
    ck_assert_ptr_eq(wabot_module_descriptor(m), &toy_def);
    toy seen = {0};
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "toy.greeted", on_greeted,
                                          &seen, NULL),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_hook_subscriber_count(e.ctx, "toy.greeted"), 1);

    send_text(&e, "m1", "acme", "toy");
    send_text(&e, "m2", NULL, "toy");
    send_text(&e, "m3", NULL, "something else");
    tu_drain(e.ctx);

    ck_assert_uint_eq(wabot_recorder_count(e.rec), 3);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "Hello from Acme");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "Hello from Acme");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 2)),
                     "Hello from the toy");
    toy *state = wabot_module_data(m);
    ck_assert_int_eq(state->greeted, 2);
    ck_assert_int_eq(state->jobs_done, 2);
    ck_assert_int_eq(seen.greeted, 2);
    ck_assert_str_eq(seen.last_event, "{\"customer\":\"+15550002222\"}");
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "toy.greeted"), 2);

    /* Changed at run time through the context: the next turn sees it. */
    ck_assert_int_eq(wabot_ctx_set_org_option(e.ctx, "acme", "toy.greeting",
                                              "Acme says hi"),
                     WABOT_OK);
    send_text(&e, "m4", "acme", "toy");
    tu_drain(e.ctx);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 3)),
                     "Acme says hi");

    int64_t v;
    ck_assert_int_eq(wabot_module_option_int(m, NULL, TOY_GREETING, &v),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_module_option_int(m, NULL, 7, &v),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_null(wabot_module_option_str(m, NULL, TOY_REPEAT));
    ck_assert_int_eq(destroyed, 0);
    tu_env_free(&e);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

START_TEST(test_module_descriptors_are_validated)
{
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_add_module(o, NULL, NULL),
                     WABOT_ERR_INVAL);
    wabot_module_def bad = toy_def;
    bad.name = "Toy";
    ck_assert_int_eq(wabot_options_add_module(o, &bad, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "Toy"));
    bad = toy_def;
    bad.version = 0;
    ck_assert_int_eq(wabot_options_add_module(o, &bad, NULL),
                     WABOT_ERR_INVAL);

    wabot_option_def opts[2] = {toy_options[0], toy_options[1]};
    opts[1].int_min = 5; /* min > default */
    bad = toy_def;
    bad.options = opts;
    ck_assert_int_eq(wabot_options_add_module(o, &bad, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "repeat"));
    opts[1] = toy_options[0]; /* the same name twice */
    ck_assert_int_eq(wabot_options_add_module(o, &bad, NULL),
                     WABOT_ERR_INVAL);
    opts[1] = toy_options[1];
    opts[1].type = (wabot_option_type)99;
    ck_assert_int_eq(wabot_options_add_module(o, &bad, NULL),
                     WABOT_ERR_INVAL);

    size_t n = wabot_options_count(o);
    ck_assert_int_eq(wabot_options_add_module(o, &toy_def, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_options_add_module(o, &toy_def, NULL),
                     WABOT_ERR_EXISTS);
    ck_assert_uint_eq(wabot_options_count(o), n + 2);
    wabot_options_free(o);
}
END_TEST

/* Modules that record the order they are created and destroyed in. */
static char order_log[256];

static int log_create(wabot_module *m, void *ud)
{
    (void)ud;
    strcat(order_log, "+");
    strcat(order_log, wabot_module_name(m));
    return WABOT_OK;
}

static void log_destroy(wabot_module *m, void *ud)
{
    (void)ud;
    strcat(order_log, "-");
    strcat(order_log, wabot_module_name(m));
}

static int fail_create(wabot_module *m, void *ud)
{
    (void)m;
    (void)ud;
    return WABOT_ERR_STORAGE;
}

static const char *const needs_a[] = {"a", NULL};
static const char *const needs_c[] = {"c", NULL};
static const char *const needs_nobody[] = {"nobody", NULL};

#define LOG_MODULE(var, nm, req, create)                                     \
    static const wabot_module_def var = {WABOT_MODULE_DEF_VERSION, nm, NULL, \
                                         req, NULL, 0, NULL, create,          \
                                         log_destroy}
LOG_MODULE(mod_a, "a", NULL, log_create);
LOG_MODULE(mod_b, "b", needs_a, log_create);
LOG_MODULE(mod_c, "c", needs_a, log_create);
LOG_MODULE(mod_d, "d", needs_c, fail_create);
LOG_MODULE(mod_x, "x", needs_nobody, log_create);
LOG_MODULE(mod_c_loop, "c", needs_c, log_create);

START_TEST(test_modules_are_created_after_what_they_require)
{
    order_log[0] = '\0';
    wabot_options *o = wabot_options_new();
    wabot_options_add_module(o, &mod_b, NULL);
    wabot_options_add_module(o, &mod_c, NULL);
    wabot_options_add_module(o, &mod_a, NULL);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    ck_assert_str_eq(order_log, "+a+b+c");
    size_t n = wabot_ctx_module_count(ctx);
    ck_assert_str_eq(wabot_module_name(wabot_ctx_module_at(ctx, n - 3)), "a");
    ck_assert_str_eq(wabot_module_name(wabot_ctx_module_at(ctx, n - 1)), "c");
    ck_assert_ptr_null(wabot_ctx_module_at(ctx, n));
    ck_assert_ptr_null(wabot_ctx_module(ctx, "nobody"));
    wabot_ctx_free(ctx);
    ck_assert_str_eq(order_log, "+a+b+c-c-b-a");
    wabot_options_free(o);
}
END_TEST

START_TEST(test_a_failing_create_fails_the_context_and_undoes_the_rest)
{
    order_log[0] = '\0';
    wabot_options *o = wabot_options_new();
    wabot_options_add_module(o, &mod_d, NULL);
    wabot_options_add_module(o, &mod_c, NULL);
    wabot_options_add_module(o, &mod_a, NULL);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_ERR_STORAGE);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "module d"));
    ck_assert_str_eq(order_log, "+a+c-c-a"); /* d's destroy never runs */
    wabot_options_free(o);
}
END_TEST

START_TEST(test_unknown_or_circular_requirements_are_refused)
{
    wabot_options *o = wabot_options_new();
    wabot_options_add_module(o, &mod_x, NULL);
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "nobody"));
    wabot_options_free(o);

    o = wabot_options_new();
    wabot_options_add_module(o, &mod_c_loop, NULL);
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_options_errmsg(o), "circular"));
    wabot_options_free(o);
}
END_TEST

static int late_mw(wabot_turn *t, void *ud)
{
    (void)ud;
    return wabot_next(t);
}

START_TEST(test_module_middlewares_only_from_create)
{
    tu_env e;
    wabot_options *o = wabot_options_new();
    wabot_options_add_module(o, &toy_def, NULL);
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    wabot_module *m = wabot_ctx_module(e.ctx, "toy");
    ck_assert_int_eq(wabot_module_use(m, WABOT_STAGE_TURN, "late", late_mw,
                                      NULL),
                     WABOT_ERR_STATE);
    ck_assert_int_eq(wabot_module_use(m, (wabot_stage)42, "x", late_mw, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_module_use(NULL, WABOT_STAGE_TURN, "x", late_mw,
                                      NULL),
                     WABOT_ERR_INVAL);
    tu_env_free(&e);
}
END_TEST

static int fails(wabot_ctx *ctx, const char *hook, const char *json,
                 size_t len, void *ud)
{
    (void)ctx, (void)hook, (void)json, (void)len;
    (*(int *)ud)++;
    return WABOT_ERR_HANDLER;
}

static int counts(wabot_ctx *ctx, const char *hook, const char *json,
                  size_t len, void *ud)
{
    (void)ctx, (void)hook, (void)json, (void)len;
    (*(int *)ud)++;
    return WABOT_OK;
}

static void count_destroy(void *ud)
{
    (*(int *)ud) += 100;
}

START_TEST(test_hooks_reach_every_subscriber_and_report_the_first_error)
{
    tu_env e;
    wabot_options *o = wabot_options_new();
    wabot_options_add_module(o, &toy_def, NULL);
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    wabot_module *m = wabot_ctx_module(e.ctx, "toy");
    int calls = 0, destroyed = 0;
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "toy.nothing", counts,
                                          &calls, NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "nobody.greeted", counts,
                                          &calls, NULL),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "toy.greeted", NULL, NULL,
                                          NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "toy.greeted", fails,
                                          &calls, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "toy.greeted", counts,
                                          &calls, NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "toy.greeted", counts,
                                          &destroyed, count_destroy),
                     WABOT_OK);
    ck_assert_int_eq(wabot_hook_emit(m, "greeted", "{}", 2),
                     WABOT_ERR_HANDLER);
    ck_assert_int_eq(calls, 2);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(wabot_hook_emit(m, "greeted", "{not json", 9),
                     WABOT_ERR_PARSE);
    ck_assert_int_eq(wabot_hook_emit(m, "other", "{}", 2),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(calls, 2);
    tu_env_free(&e);
    ck_assert_int_eq(destroyed, 101);
}
END_TEST

/* The library's own features are modules of every context, found the
 * same way as a host's. */
START_TEST(test_library_features_are_modules_too)
{
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    wabot_module *m = wabot_ctx_module(ctx, "optout");
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(wabot_module_descriptor(m)->doc);
    /* In the library's order: dedup wraps the rate limit at the admit
     * stage, then opt-out's keywords in the turn. */
    static const char *const library[] = {"dedup", "inbound_limit",
                                          "optout"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(wabot_module_name(wabot_ctx_module_at(ctx, i)),
                         library[i]);
    ck_assert_ptr_eq(wabot_ctx_module_at(ctx, 2), m);
    wabot_ctx_free(ctx);

    /* A host module may require a library module. */
    static const char *const needs_optout[] = {"optout", NULL};
    static const wabot_module_def after = {
        WABOT_MODULE_DEF_VERSION, "after", NULL, needs_optout, NULL, 0, NULL,
        NULL, NULL};
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_add_module(o, &after, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_options_add_module(o, &toy_def, NULL), WABOT_OK);
    wabot_options_free(o);
    static const wabot_module_def clash = {
        WABOT_MODULE_DEF_VERSION, "optout", NULL, NULL, NULL, 0, NULL, NULL,
        NULL};
    o = wabot_options_new();
    ck_assert_int_eq(wabot_options_add_module(o, &clash, NULL),
                     WABOT_ERR_EXISTS);
    wabot_options_free(o);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The admit stage                                                     */

typedef struct gate {
    char log[128];
    int last_rc;         /* what wabot_next() returned to the gate */
    int saw_state;       /* the turn's state was loaded at the gate */
} gate;

static gate the_gate;

static void gate_log(const char *s)
{
    size_t n = strlen(the_gate.log);
    snprintf(the_gate.log + n, sizeof the_gate.log - n, "%s", s);
}

static int gate_step(wabot_turn *t, void *ud)
{
    (void)ud;
    gate_log("A(");
    if (*wabot_turn_state(t) != '\0')
        the_gate.saw_state = 1;
    const char *text = wabot_message_text(wabot_turn_message(t));
    if (text && strcmp(text, "drop") == 0) {
        gate_log(")");
        return wabot_reply_text(t, "dropped at the gate");
    }
    /* Discarded: the turn loads the saved conversation. */
    ck_assert_int_eq(wabot_turn_set_state(t, "gate"), WABOT_OK);
    the_gate.last_rc = wabot_next(t);
    gate_log(")");
    return the_gate.last_rc;
}

static int gate_create(wabot_module *m, void *ud)
{
    (void)ud;
    return wabot_module_use(m, WABOT_STAGE_ADMIT, "gate", gate_step, NULL);
}

static const wabot_module_def gate_def = {
    WABOT_MODULE_DEF_VERSION, "gate", "an admit-stage module", NULL, NULL, 0,
    NULL, gate_create, NULL};

/* The host's turn: moves the state, fails on "boom". */
static int host_turn(wabot_turn *t, void *ud)
{
    (void)ud;
    gate_log("T");
    ck_assert_str_ne(wabot_turn_state(t), "gate");
    const char *text = wabot_message_text(wabot_turn_message(t));
    wabot_turn_set_handled(t);
    if (strcmp(text, "boom") == 0)
        return WABOT_ERR_INVAL;
    wabot_turn_set_state(t, "seen");
    return wabot_reply_text(t, "answered");
}

static void gate_env(tu_env *e)
{
    memset(&the_gate, 0, sizeof the_gate);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_add_module(o, &gate_def, NULL), WABOT_OK);
    tu_env_init_opts(e, o);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_use(e->ctx, "host", host_turn, NULL, NULL),
                     WABOT_OK);
}

static int handle_text(tu_env *e, const char *id, const char *text)
{
    wabot_message *m = tu_text(id, "+15550002222", text);
    int rc = wabot_ctx_handle_message(e->ctx, m);
    wabot_message_free(m);
    return rc;
}

/* The webhook providers are modules that join the "webhook" module:
 * created after it, each serving its path. */
START_TEST(test_webhook_providers_are_modules_created_after_the_dispatcher)
{
    wabot_ctx *ctx = NULL;
    ck_assert_int_eq(wabot_ctx_new(&ctx, NULL), WABOT_OK);
    size_t at[3] = {0};
    static const char *const names[] = {"webhook", "twilio", "meta"};
    for (size_t k = 0; k < 3; k++) {
        size_t i = 0;
        while (i < wabot_ctx_module_count(ctx) &&
               strcmp(wabot_module_name(wabot_ctx_module_at(ctx, i)),
                      names[k]) != 0)
            i++;
        ck_assert_msg(i < wabot_ctx_module_count(ctx), "no module %s",
                      names[k]);
        at[k] = i;
    }
    ck_assert_uint_lt(at[0], at[1]);
    ck_assert_uint_lt(at[0], at[2]);
    /* Each provider's path is served: a Twilio form on its path is read
     * (403: unsigned), as is a Meta JSON body on its own (403 too). */
    wabot_http_header ct_form = {"Content-Type",
                                 "application/x-www-form-urlencoded"};
    wabot_http_header ct_json = {"Content-Type", "application/json"};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(ctx, "POST", "/whatsapp/webhook",
                                       &ct_form, 1, "a=b", 3, &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 403);
    wabot_http_response_free(r);
    ck_assert_int_eq(wabot_http_handle(ctx, "POST", "/whatsapp-v2/webhook",
                                       &ct_json, 1, "{}", 2, &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 403);
    wabot_http_response_free(r);
    /* A media type no provider reads: 415. */
    wabot_http_header ct_xml = {"Content-Type", "text/xml"};
    ck_assert_int_eq(wabot_http_handle(ctx, "POST", "/whatsapp/webhook",
                                       &ct_xml, 1, "<a/>", 4, &r),
                     WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 415);
    wabot_http_response_free(r);
    wabot_ctx_free(ctx);
}
END_TEST

START_TEST(test_admit_stage_wraps_the_turn_before_anything_is_loaded)
{
    tu_env e;
    gate_env(&e);
    ck_assert_int_eq(handle_text(&e, "m1", "hi"), WABOT_OK);
    ck_assert_int_eq(handle_text(&e, "m2", "hi again"), WABOT_OK);
    /* The gate ran around each turn, and the second turn's state
     * ("seen", saved by the first) was not loaded yet at the gate. */
    ck_assert_str_eq(the_gate.log, "A(T)A(T)");
    ck_assert_int_eq(the_gate.saw_state, 0);
    ck_assert_int_eq(the_gate.last_rc, WABOT_OK);
    /* Its wabot_next() returns the turn's status. */
    ck_assert_int_eq(handle_text(&e, "m3", "boom"), WABOT_ERR_INVAL);
    ck_assert_int_eq(the_gate.last_rc, WABOT_ERR_INVAL);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_admit_middleware_without_next_drops_the_message_and_sends_its_replies)
{
    tu_env e;
    gate_env(&e);
    /* A first turn opens the customer's 24-hour window (the admit stage
     * touches no profile: a reply to a first message that is dropped
     * would wait for a template). */
    ck_assert_int_eq(handle_text(&e, "m0", "hi"), WABOT_OK);
    ck_assert_int_eq(handle_text(&e, "m1", "drop"), WABOT_OK);
    ck_assert_str_eq(the_gate.log, "A(T)A()"); /* no second turn */
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)),
                     "dropped at the gate");
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.handled"), 1);
    /* Dedup runs first and wraps the gate: the dropped message was marked
     * done, so its redelivery does not reach the gate again. */
    ck_assert_int_eq(handle_text(&e, "m1", "drop"), WABOT_OK);
    ck_assert_str_eq(the_gate.log, "A(T)A()");
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "messages.duplicates"), 1);
    tu_env_free(&e);
}
END_TEST

/* The delivery module announces each accepted send; the receipts module
 * records it from there, and a host module may listen too. */
static int on_sent_event(wabot_ctx *ctx, const char *hook, const char *json,
                         size_t len, void *ud)
{
    (void)ctx;
    ck_assert_str_eq(hook, "delivery.sent");
    snprintf(ud, 256, "%.*s", (int)len, json);
    return WABOT_OK;
}

START_TEST(test_delivery_sent_event_reaches_receipts_and_host_subscribers)
{
    tu_env e;
    gate_env(&e);
    ck_assert_ptr_nonnull(wabot_ctx_module(e.ctx, "receipts"));
    /* The receipts module and the campaign module (campaign progress). */
    ck_assert_uint_eq(wabot_hook_subscriber_count(e.ctx, "delivery.sent"), 2);
    char seen[256] = "";
    ck_assert_int_eq(wabot_hook_subscribe(e.ctx, "delivery.sent",
                                          on_sent_event, seen, NULL),
                     WABOT_OK);
    ck_assert_int_eq(handle_text(&e, "m1", "hi"), WABOT_OK);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_msg(strstr(seen, "\"provider_id\":\"rec-1\"") != NULL, "%s",
                  seen);
    ck_assert_msg(strstr(seen, "\"to\":\"+15550002222\"") != NULL, "%s",
                  seen);
    /* The host's subscriber gets valid JSON with every field, though the
     * library's own subscribers take the event without JSON. */
    json_t *ev = json_loads(seen, 0, NULL);
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_gt(strlen(json_string_value(json_object_get(ev, "outbound_id"))), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "provider")),
                     wabot_provider_name(WABOT_PROVIDER_TEST));
    ck_assert_ptr_nonnull(json_object_get(ev, "correlation_id"));
    json_decref(ev);
    /* The receipts module recorded the send under the provider id. */
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(e.ctx, "rec-1", &d), WABOT_OK);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_SENT);
    ck_assert_str_eq(wabot_delivery_to(d), "+15550002222");
    wabot_delivery_free(d);
    tu_env_free(&e);
}
END_TEST

static Suite *module_suite(void)
{
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("module");
    tcase_add_test(tc, test_toy_module_options_are_listed_and_set_by_name);
    tcase_add_test(tc,
                   test_toy_module_answers_per_org_runs_its_worker_and_hook);
    tcase_add_test(tc, test_module_descriptors_are_validated);
    tcase_add_test(tc, test_modules_are_created_after_what_they_require);
    tcase_add_test(tc,
                   test_a_failing_create_fails_the_context_and_undoes_the_rest);
    tcase_add_test(tc, test_unknown_or_circular_requirements_are_refused);
    tcase_add_test(tc, test_module_middlewares_only_from_create);
    tcase_add_test(tc,
                   test_hooks_reach_every_subscriber_and_report_the_first_error);
    tcase_add_test(tc, test_library_features_are_modules_too);
    tcase_add_test(tc, test_webhook_providers_are_modules_created_after_the_dispatcher);
    tcase_add_test(tc, test_admit_stage_wraps_the_turn_before_anything_is_loaded);
    tcase_add_test(
        tc, test_delivery_sent_event_reaches_receipts_and_host_subscribers);
    tcase_add_test(
        tc,
        test_admit_middleware_without_next_drops_the_message_and_sends_its_replies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(module_suite());
}
