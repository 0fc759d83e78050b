/* Transports: the send-op contract, console, recorder (test kit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int reply_from_ud(wabot_turn *t, void *ud)
{
    return wabot_reply_text(t, ud);
}

static void handle(wabot_ctx *ctx, const char *id, const char *text)
{
    wabot_message *m = tu_text(id, "+14155550100", text);
    ck_assert_int_eq(wabot_ctx_handle_message(ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(ctx);
}

static char *read_all(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static int reply_multi(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *ids[] = {"a", "b"}, *titles[] = {"Alpha", "Beta"};
    wabot_reply_text(t, "line one\nline two");
    wabot_reply_buttons(t, "Pick", 2, ids, titles);
    return wabot_reply_media(t, "https://x/menu.pdf", "Menu");
}

/* A queue whose next job is always due at once (a campaign's fan-out)
 * must not hold the outbound worker's sends back until it runs dry:
 * sends go out between its jobs. */
typedef struct chain {
    wabot_ctx *ctx;
    wabot_transport *rec;
    int runs;
    size_t sent_at_50;
} chain;

static int chain_step(wabot_job *job, void *ud)
{
    (void)job;
    chain *c = ud;
    if (++c->runs == 50)
        c->sent_at_50 = wabot_recorder_count(c->rec);
    if (c->runs < 200) {
        char id[16];
        snprintf(id, sizeof id, "c%d", c->runs);
        wabot_job_spec spec;
        wabot_job_spec_init(&spec);
        spec.job_id = id;
        ck_assert_int_eq(wabot_job_enqueue(c->ctx, "chain", "x", 1, &spec,
                                           NULL),
                         WABOT_OK);
    }
    return WABOT_OK;
}

START_TEST(test_sends_go_out_while_another_queue_stays_due)
{
    tu_env e;
    tu_env_init(&e);
    chain c = {e.ctx, e.rec, 0, 0};
    ck_assert_int_eq(wabot_queue_add_worker(e.ctx, "chain", chain_step, &c,
                                            NULL, 1),
                     WABOT_OK);
    wabot_use(e.ctx, NULL, reply_from_ud, "pong", NULL);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "c0";
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, "chain", "x", 1, &spec, NULL),
                     WABOT_OK);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_int_eq(c.runs, 200);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_uint_eq(c.sent_at_50, 1); /* long before the chain ended */
    tu_env_free(&e);
}
END_TEST

START_TEST(test_console_prints_one_prefixed_entry_per_message)
{
    FILE *f = tmpfile();
    wabot_transport *console = wabot_transport_console_new(f);
    wabot_options *o = wabot_options_new();
    wabot_options_set_transport(o, console);
    wabot_ctx *ctx;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_use(ctx, NULL, reply_multi, NULL, NULL);
    handle(ctx, "SM1", "hi");
    char *out = read_all(f);
    ck_assert_str_eq(out,
                     "[bot -> +14155550100] line one\n"
                     "    line two\n"
                     "[bot -> +14155550100] Pick\n"
                     "    [a] Alpha  [b] Beta\n"
                     "[bot -> +14155550100] [media https://x/menu.pdf] Menu\n");
    ck_assert_int_eq(wabot_metrics_counter(ctx, "outbound.sent"), 3);
    free(out);
    wabot_ctx_free(ctx);
    wabot_transport_free(console);
    fclose(f);
}
END_TEST

START_TEST(test_recorder_keeps_messages_in_order_until_cleared)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, reply_from_ud, "pong", NULL);
    handle(e.ctx, "SM1", "a");
    handle(e.ctx, "SM2", "b");
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    ck_assert_str_eq(wabot_outbound_id(wabot_recorder_get(e.rec, 0)), "SM1:r0");
    ck_assert_str_eq(wabot_outbound_id(wabot_recorder_get(e.rec, 1)), "SM2:r0");
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 1)), "pong");
    ck_assert_ptr_null(wabot_recorder_get(e.rec, 2));
    wabot_recorder_clear(e.rec);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 0);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_failed_send_is_retried_with_backoff)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, reply_from_ud, "pong", NULL);
    ck_assert_int_eq(wabot_recorder_fail_next(e.rec, 2, WABOT_ERR_TRANSPORT,
                                              131026, "undeliverable"),
                     WABOT_OK);
    handle(e.ctx, "SM1", "a");
    handle(e.ctx, "SM2", "b");
    handle(e.ctx, "SM3", "c");
    /* The first two sends failed and wait for their retry. */
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_str_eq(wabot_outbound_id(wabot_recorder_get(e.rec, 0)), "SM3:r0");
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.failed_attempts"), 2);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "jobs.outbound.retried"), 2);
    int64_t counts[WABOT_JOB_STATE_COUNT];
    wabot_queue_counts(e.ctx, WABOT_QUEUE_OUTBOUND, counts, WABOT_JOB_STATE_COUNT);
    ck_assert_int_eq(counts[WABOT_JOB_DELAYED], 2);
    /* Backoff: 1 s base with up to 20 % jitter. */
    tu_clock_advance(&e.clock, 1000);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 3);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.sent"), 3);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.failed"), 0);
    ck_assert_int_eq(wabot_recorder_fail_next(e.rec, 1, WABOT_OK, 0, NULL),
                     WABOT_ERR_INVAL);
    tu_env_free(&e);
}
END_TEST

/* A payload with every member, empty ones too, is what earlier versions
 * queued (and wabot_outbound_to_json still writes): one left in the queue
 * across an upgrade is sent as it would have been. New payloads leave
 * the empty members out. */
START_TEST(test_a_reply_queued_with_every_member_is_sent_as_before)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, reply_from_ud, "pong", NULL);
    wabot_recorder_fail_next(e.rec, 1, WABOT_ERR_TRANSPORT, 500, "down");
    handle(e.ctx, "SM1", "a");
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(e.ctx, WABOT_QUEUE_OUTBOUND, "SM1:r0",
                                   &info),
                     WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_ptr_null(strstr(r->payload, "media_url"));
    ck_assert_ptr_null(strstr(r->payload, "\"options\""));
    wabot_job_info_free(info);
    tu_clock_advance(&e.clock, 10000);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    char *sent = wabot_outbound_to_json(wabot_recorder_get(e.rec, 0));
    ck_assert_ptr_nonnull(strstr(sent, "\"media_url\":\"\""));
    /* The same reply as an earlier version queued it, under another id. */
    char *old = strstr(sent, "SM1:r0");
    ck_assert_ptr_nonnull(old);
    memcpy(old, "SM9", 3);
    wabot_job_spec spec;
    wabot_job_spec_init(&spec);
    spec.job_id = "SM9:r0";
    ck_assert_int_eq(wabot_job_enqueue(e.ctx, WABOT_QUEUE_OUTBOUND, sent,
                                       strlen(sent), &spec, NULL),
                     WABOT_OK);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    char *again = wabot_outbound_to_json(wabot_recorder_get(e.rec, 1));
    ck_assert_str_eq(again, sent);
    wabot_free(again);
    wabot_free(sent);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_send_failing_every_attempt_ends_failed)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_OUTBOUND_MAX_ATTEMPTS, 3);
    tu_env e;
    tu_env_init_opts(&e, o);
    wabot_options_free(o);
    wabot_use(e.ctx, NULL, reply_from_ud, "pong", NULL);
    wabot_recorder_fail_next(e.rec, 100, WABOT_ERR_TRANSPORT, 500, "down");
    handle(e.ctx, "SM1", "a");
    for (int i = 0; i < 10; i++) {
        tu_clock_advance(&e.clock, 10000);
        tu_drain(e.ctx);
    }
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 0);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.failed_attempts"), 3);
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.failed"), 1);
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(e.ctx, WABOT_QUEUE_OUTBOUND, "SM1:r0", &info), WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_int_eq(r->state, WABOT_JOB_FAILED);
    ck_assert_int_eq(r->attempts, 3);
    ck_assert_ptr_nonnull(strstr(r->last_error, "down"));
    wabot_job_info_free(info);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_recorder_functions_reject_other_transports)
{
    wabot_transport *c = wabot_transport_console_new(NULL);
    ck_assert_uint_eq(wabot_recorder_count(c), 0);
    ck_assert_ptr_null(wabot_recorder_get(c, 0));
    ck_assert_int_eq(wabot_recorder_fail_next(c, 1, WABOT_ERR_TRANSPORT, 0, NULL),
                     WABOT_ERR_INVAL);
    wabot_recorder_clear(c); /* no-op */
    wabot_transport_free(c);
}
END_TEST

/* An asynchronous transport: keeps ops and completes them later, as a
 * network transport would. */
typedef struct async_tp {
    wabot_send_op *ops[8];
    size_t n;
    int destroyed;
} async_tp;

static int async_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    (void)m;
    async_tp *a = impl;
    if (a->n == 8)
        return WABOT_ERR_BUSY; /* refused: the op will not be completed */
    a->ops[a->n++] = op;
    return WABOT_OK;
}

static void async_destroy(void *impl)
{
    ((async_tp *)impl)->destroyed = 1;
}

static const wabot_transport_vtable async_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, async_send, async_destroy};

START_TEST(test_async_completion_after_send_returns_is_counted)
{
    async_tp a = {0};
    wabot_transport *t = wabot_transport_new(&async_vt, &a, "async");
    ck_assert_str_eq(wabot_transport_name(t), "async");
    wabot_options *o = wabot_options_new();
    wabot_options_set_transport(o, t);
    wabot_ctx *ctx;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_use(ctx, NULL, reply_from_ud, "later", NULL);
    handle(ctx, "SM1", "a");
    handle(ctx, "SM2", "b");
    ck_assert_uint_eq(a.n, 2);
    ck_assert_int_eq(wabot_metrics_counter(ctx, "outbound.sent"), 0);
    wabot_send_op_ok(a.ops[0], "wamid.1");
    wabot_send_op_fail(a.ops[1], WABOT_ERR_TRANSPORT, 131047, "window", 0);
    ck_assert_int_eq(wabot_metrics_counter(ctx, "outbound.sent"), 1);
    ck_assert_int_eq(wabot_metrics_counter(ctx, "outbound.failed_attempts"), 1);
    ck_assert_int_eq(wabot_metrics_counter(ctx, "jobs.outbound.processed"), 1);
    ck_assert_int_eq(wabot_metrics_counter(ctx, "jobs.outbound.retried"), 1);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
    ck_assert_int_eq(a.destroyed, 1);
}
END_TEST

START_TEST(test_refused_send_is_a_failed_attempt)
{
    async_tp a = {0};
    a.n = 8; /* full: every send is refused */
    wabot_transport *t = wabot_transport_new(&async_vt, &a, NULL);
    ck_assert_str_eq(wabot_transport_name(t), "custom");
    wabot_options *o = wabot_options_new();
    wabot_options_set_transport(o, t);
    wabot_ctx *ctx;
    ck_assert_int_eq(wabot_ctx_new(&ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_use(ctx, NULL, reply_from_ud, "x", NULL);
    handle(ctx, "SM1", "a");
    ck_assert_int_eq(wabot_metrics_counter(ctx, "outbound.failed_attempts"), 1);
    ck_assert_int_eq(wabot_metrics_counter(ctx, "jobs.outbound.retried"), 1);
    wabot_ctx_free(ctx);
    wabot_transport_free(t);
}
END_TEST

START_TEST(test_transport_new_validates_vtable)
{
    wabot_transport_vtable bad = {0, async_send, NULL};
    ck_assert_ptr_null(wabot_transport_new(&bad, NULL, "x"));
    wabot_transport_vtable nosend = {WABOT_TRANSPORT_VTABLE_VERSION, NULL, NULL};
    ck_assert_ptr_null(wabot_transport_new(&nosend, NULL, "x"));
    ck_assert_ptr_null(wabot_transport_new(NULL, NULL, "x"));
    /* A newer vtable version is accepted (extra members are ignored). */
    wabot_transport_vtable newer = {WABOT_TRANSPORT_VTABLE_VERSION + 1,
                                    async_send, NULL};
    wabot_transport *t = wabot_transport_new(&newer, NULL, "newer");
    ck_assert_ptr_nonnull(t);
    wabot_transport_free(t);
}
END_TEST

START_TEST(test_recorder_older_spellings_read_the_same_recording)
{
    tu_env e;
    tu_env_init(&e);
    wabot_pipeline_use(e.ctx, NULL, reply_from_ud, "pong", NULL);
    handle(e.ctx, "SM1", "a");
    ck_assert_uint_eq(wabot_transport_recorder_count(e.rec), 1);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_ptr_eq(wabot_recorder_get(e.rec, 0),
                     wabot_transport_recorder_get(e.rec, 0));
    /* A failure queued through the old name applies to the new one. */
    ck_assert_int_eq(wabot_recorder_fail_next(e.rec, 1, WABOT_ERR_PERMANENT,
                                              131026, "undeliverable"),
                     WABOT_OK);
    handle(e.ctx, "SM2", "b");
    ck_assert_uint_eq(wabot_transport_recorder_count(e.rec), 1);
    wabot_recorder_clear(e.rec);
    ck_assert_uint_eq(wabot_transport_recorder_count(e.rec), 0);
    wabot_transport *t = wabot_recorder_new();
    ck_assert_uint_eq(wabot_transport_recorder_count(t), 0);
    ck_assert_int_eq(wabot_transport_recorder_fail_next(t, 1,
                         WABOT_ERR_TRANSPORT, 0, NULL), WABOT_OK);
    wabot_transport_free(t);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_sender_older_spellings_share_one_registry)
{
    tu_env e;
    tu_env_init(&e);
    ck_assert_int_eq(wabot_transport_sender_add(e.ctx, "acme", "+15550001111",
                                                e.rec), WABOT_OK);
    ck_assert_str_eq(wabot_ctx_sender_org(e.ctx, "+15550001111"), "acme");
    ck_assert_int_eq(wabot_ctx_add_sender(e.ctx, "other", "+15550001111",
                                          e.rec), WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_ctx_add_sender(e.ctx, "beta", "+15550002222",
                                          e.rec), WABOT_OK);
    ck_assert_str_eq(wabot_transport_sender_org(e.ctx, "+15550002222"),
                     "beta");
    ck_assert_ptr_null(wabot_transport_sender_org(e.ctx, "+15550003333"));
    tu_env_free(&e);
}
END_TEST

/* A custom transport learns, inside send(), which context and which
 * organisation the message belongs to. */
typedef struct seen_tp {
    wabot_ctx *ctx;
    char org[32];
    int sends;
} seen_tp;

static int seen_send(void *impl, const wabot_outbound *m, wabot_send_op *op)
{
    (void)m;
    seen_tp *s = impl;
    s->sends++;
    s->ctx = wabot_send_op_ctx(op);
    snprintf(s->org, sizeof s->org, "%s", wabot_send_op_organization(op));
    wabot_send_op_ok(op, "wamid.seen");
    return WABOT_OK;
}

static const wabot_transport_vtable seen_vt = {
    WABOT_TRANSPORT_VTABLE_VERSION, seen_send, NULL};

START_TEST(test_send_op_names_its_context_and_organization)
{
    seen_tp seen = {0};
    wabot_transport *t = wabot_transport_new(&seen_vt, &seen, "seen");
    tu_env e;
    tu_env_init(&e);
    /* The inbound messages of tu_text go to +15550001111. */
    ck_assert_int_eq(wabot_transport_sender_add(e.ctx, "acme", "+15550001111",
                                                t), WABOT_OK);
    wabot_pipeline_use(e.ctx, NULL, reply_from_ud, "hi", NULL);
    handle(e.ctx, "SM1", "a");
    ck_assert_int_eq(seen.sends, 1);
    ck_assert_ptr_eq(seen.ctx, e.ctx);
    ck_assert_str_eq(seen.org, "acme");
    ck_assert_ptr_null(wabot_send_op_ctx(NULL));
    ck_assert_str_eq(wabot_send_op_organization(NULL), "");
    tu_env_free(&e);
    wabot_transport_free(t);
}
END_TEST

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("transport");
    tcase_add_test(tc, test_console_prints_one_prefixed_entry_per_message);
    tcase_add_test(tc, test_sends_go_out_while_another_queue_stays_due);
    tcase_add_test(tc, test_recorder_keeps_messages_in_order_until_cleared);
    tcase_add_test(tc, test_failed_send_is_retried_with_backoff);
    tcase_add_test(tc, test_send_failing_every_attempt_ends_failed);
    tcase_add_test(tc, test_a_reply_queued_with_every_member_is_sent_as_before);
    tcase_add_test(tc, test_recorder_functions_reject_other_transports);
    tcase_add_test(tc, test_async_completion_after_send_returns_is_counted);
    tcase_add_test(tc, test_refused_send_is_a_failed_attempt);
    tcase_add_test(tc, test_transport_new_validates_vtable);
    tcase_add_test(tc, test_recorder_older_spellings_read_the_same_recording);
    tcase_add_test(tc, test_sender_older_spellings_share_one_registry);
    tcase_add_test(tc, test_send_op_names_its_context_and_organization);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(transport_suite());
}
