/* Receipt mappings across a real Redis restart (issue 19 item 4): sends
 * recorded and status callbacks received while redis-server is down wait
 * in memory and land once it is back; none is lost.
 *
 * Time: the library runs on the fake clock; only redis-server itself (its
 * restart, the pool's reconnect backoff of at most 2 s) takes real time,
 * waited for in wabot_ctx_poll() with a deadline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/message.h"
#include "internal/receipts.h"
#include "internal/webhook.h"
#include "redis_harness.h"
#include "testutil.h"
#include "wabot/redis.h"

static rh_server g_srv;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct fixture {
    tu_clock clock;
    wabot_redis *redis;
    wabot_storage *storage;
    wabot_transport *rec;
    wabot_ctx *ctx;
} fixture;

static void fx_start(fixture *f)
{
    tu_clock_init(&f->clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&f->clock);
    wabot_redis_config cfg;
    wabot_redis_config_init(&cfg);
    cfg.port = g_srv.port;
    cfg.prefix = "rcpt:";
    /* A stopped redis-server refuses at once; the timeouts only bound a
     * command the machine is slow to run (300 ms deferred a write with
     * the server up on a machine at load 12). */
    cfg.connect_timeout_ms = 5000;
    cfg.command_timeout_ms = 5000;
    const char *err = NULL;
    f->redis = wabot_redis_new(&cfg, &err);
    ck_assert_msg(f->redis != NULL, "wabot_redis_new: %s", err ? err : "?");
    f->storage = wabot_storage_redis_new(f->redis);
    f->rec = wabot_transport_recorder_new();
    wabot_options *o = wabot_options_new();
    wabot_options_set_clock(o, &k);
    wabot_options_set_storage(o, f->storage);
    wabot_options_set_transport(o, f->rec);
    wabot_options_set_int(o, WABOT_OPT_LOG_LEVEL, WABOT_LOG_ERROR);
    ck_assert_int_eq(wabot_ctx_new(&f->ctx, o), WABOT_OK);
    wabot_options_free(o);
}

static void fx_free(fixture *f)
{
    wabot_ctx_free(f->ctx);
    wabot_transport_free(f->rec);
    wabot_storage_free(f->storage);
    wabot_redis_free(f->redis);
}

static void sent(fixture *f, int i)
{
    char sid[64], id[32];
    snprintf(sid, sizeof sid, "SM%032d", i);
    snprintf(id, sizeof id, "in%d:r0", i);
    wabot_outbound *o = wb_outbound_alloc(NULL, WABOT_OUT_TEXT);
    o->id = strdup(id);
    o->to = strdup("+14155550100");
    o->organization = strdup("acme");
    o->text = strdup("hi");
    o->provider = WABOT_PROVIDER_TWILIO;
    wb_receipt_sent(f->ctx, o, sid);
    wb_outbound_free(o);
}

static int64_t counter(fixture *f, const char *name)
{
    return wabot_metrics_counter(f->ctx, name);
}

START_TEST(test_receipt_mappings_survive_a_redis_restart)
{
    fixture f;
    fx_start(&f);
    for (int i = 0; i < 10; i++)
        sent(&f, i);
    ck_assert_int_eq(counter(&f, "receipts.writes_deferred"), 0);

    rh_stop(&g_srv);
    for (int i = 10; i < 32; i++)
        sent(&f, i);
    wb_status_update u = {WABOT_PROVIDER_TWILIO, "SM00000000000000000000000000000003",
                          "delivered", NULL, NULL, TU_EPOCH_MS + 5, NULL};
    ck_assert_int_eq(wb_receipt_apply(f.ctx, &u), WABOT_OK);
    ck_assert_int_eq(counter(&f, "receipts.writes_deferred"), 23);
    /* Retries while it is down keep everything. */
    for (int i = 0; i < 5; i++) {
        tu_clock_advance(&f.clock, 1000);
        wabot_ctx_poll(f.ctx, 0);
    }
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(f.ctx)), 23);

    ck_assert_int_eq(rh_restart(&g_srv), 0);
    int64_t deadline = mono_ms() + 15000;
    while (wb_receipt_pending(wb_receipt_retry_of(f.ctx)) > 0 &&
           mono_ms() < deadline) {
        tu_clock_advance(&f.clock, 5000);
        wabot_ctx_poll(f.ctx, 50);
    }
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(f.ctx)), 0);
    ck_assert_int_eq(counter(&f, "receipts.writes_recovered"), 23);
    ck_assert_int_eq(counter(&f, "receipts.writes_dropped"), 0);
    for (int i = 0; i < 32; i++) {
        char sid[64], id[32];
        snprintf(sid, sizeof sid, "SM%032d", i);
        snprintf(id, sizeof id, "in%d:r0", i);
        wabot_delivery *d = NULL;
        ck_assert_msg(wabot_delivery_get(f.ctx, sid, &d) == WABOT_OK,
                      "mapping of %s lost", sid);
        ck_assert_str_eq(wabot_delivery_outbound_id(d), id);
        ck_assert_int_eq(wabot_delivery_state_of(d),
                         i == 3 ? WABOT_DELIVERY_DELIVERED
                                : WABOT_DELIVERY_SENT);
        wabot_delivery_free(d);
    }
    fx_free(&f);
}
END_TEST

int main(void)
{
    if (!rh_available()) {
        const char *ci = getenv("CI");
        return ci != NULL && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    if (rh_start(&g_srv, 1) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("redis-receipts");
    TCase *tc = tcase_create("restart");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_receipt_mappings_survive_a_redis_restart);
    suite_add_tcase(s, tc);
    /* No fork: the test stops and restarts the server this process
     * started (a forked child could not wait for it). */
    int rc = tu_run_suite_nofork(s);
    rh_destroy(&g_srv);
    return rc;
}
