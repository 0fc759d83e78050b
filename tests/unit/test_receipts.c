/* Delivery receipts: the record a successful send leaves, Twilio status
 * callbacks and Meta statuses[] moving its state forward (never back),
 * duplicates, unknown ids, opt-out codes, metrics and the read API. */
#include <stdio.h>
#include <string.h>

#include "flaky_storage.h"
#include "testutil.h"
#include "internal/message.h"
#include "internal/receipts.h"
#include "internal/storage.h"
#include "internal/webhook.h"
#include "wabot/security.h"

#define TWILIO_PATH "/whatsapp/webhook"
#define META_PATH "/whatsapp-v2/webhook"
#define CT_FORM "application/x-www-form-urlencoded"
#define CT_JSON "application/json"
#define SID "SM0123456789abcdef0123456789abcdef"
#define WAMID "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3"

static tu_env env;

static void setup(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    /* Signatures have their own suite; these requests are unsigned. */
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES,
                                           0), WABOT_OK);
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
}

static void teardown(void)
{
    tu_env_free(&env);
}

static int64_t counter(const char *name)
{
    return wabot_metrics_counter(env.ctx, name);
}

static void post(const char *path, const char *ctype, const char *body)
{
    wabot_http_header h[] = {{"Content-Type", ctype}};
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(env.ctx, "POST", path, h, 1, body,
                                       strlen(body), &r), WABOT_OK);
    ck_assert_msg(wabot_http_response_status(r) == 200, "%d: %s",
                  wabot_http_response_status(r),
                  wabot_http_response_body(r, NULL));
    wabot_http_response_free(r);
}

/* A Twilio status callback for SID. */
static void twilio_status(const char *status, const char *error_code)
{
    char form[512];
    snprintf(form, sizeof form,
             "MessageSid=" SID "&SmsSid=" SID "&AccountSid=AC1&From=whatsapp"
             "%%3A%%2B14155238886&To=whatsapp%%3A%%2B14155550100&"
             "MessageStatus=%s&SmsStatus=%s%s%s", status, status,
             error_code ? "&ErrorCode=" : "", error_code ? error_code : "");
    post(TWILIO_PATH, CT_FORM, form);
}

/* A Meta webhook with one status for WAMID. */
static void meta_status(const char *status, const char *error_code)
{
    char json[1024], errors[160] = "";
    if (error_code != NULL)
        snprintf(errors, sizeof errors,
                 ",\"errors\":[{\"code\":%s,\"title\":\"x\"}]", error_code);
    snprintf(json, sizeof json,
             "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
             "\"1\",\"changes\":[{\"field\":\"messages\",\"value\":{"
             "\"messaging_product\":\"whatsapp\",\"statuses\":[{\"id\":\""
             WAMID "\",\"status\":\"%s\",\"timestamp\":\"1767225700\","
             "\"recipient_id\":\"14155550100\"%s}]}}]}]}", status, errors);
    post(META_PATH, CT_JSON, json);
}

static wabot_delivery *get(const char *id)
{
    wabot_delivery *d = NULL;
    int rc = wabot_delivery_get(env.ctx, id, &d);
    ck_assert_msg(rc == WABOT_OK, "wabot_delivery_get(%s): %s", id,
                  wabot_ctx_errmsg(env.ctx));
    return d;
}

static wabot_delivery_state state_of(const char *id)
{
    wabot_delivery *d = get(id);
    wabot_delivery_state s = wabot_delivery_state_of(d);
    wabot_delivery_free(d);
    return s;
}

/* An outbound reply as the transport would have sent it. */
static wabot_outbound *outbound(const char *id, const char *to)
{
    wabot_outbound *o = wb_outbound_alloc(NULL, WABOT_OUT_TEXT);
    ck_assert_ptr_nonnull(o);
    o->id = strdup(id);
    o->to = strdup(to);
    o->organization = strdup("acme");
    o->text = strdup("hi");
    o->provider = WABOT_PROVIDER_TWILIO;
    return o;
}

/* SID's record: a Twilio send to +14155550100 in `state` with these
 * fields and no error code. */
static void expect_record(wabot_delivery_state state, const char *outbound_id,
                          const char *org, const char *correlation_id)
{
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), state);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), outbound_id);
    ck_assert_str_eq(wabot_delivery_to(d), "+14155550100");
    ck_assert_str_eq(wabot_delivery_organization(d), org);
    ck_assert_str_eq(wabot_delivery_provider_id(d), SID);
    ck_assert_str_eq(wabot_delivery_error_code(d), "");
    ck_assert_str_eq(wabot_delivery_correlation_id(d), correlation_id);
    ck_assert_int_eq(wabot_delivery_provider(d), WABOT_PROVIDER_TWILIO);
    wabot_delivery_free(d);
}

START_TEST(test_send_is_recorded_and_readable)
{
    wabot_outbound *o = outbound("SMin:r0", "+14155550100");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    expect_record(WABOT_DELIVERY_SENT, "SMin:r0", "acme", "");
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_updated_ms(d), TU_EPOCH_MS);
    wabot_delivery_free(d);
    ck_assert_str_eq(wabot_delivery_state_name(WABOT_DELIVERY_READ), "read");
    ck_assert_str_eq(wabot_delivery_state_name(99), "unknown");
}
END_TEST

/* The record is JSON written by hand (the hot path): text that needs
 * escaping reads back as it was, and a status moves it forward intact. */
START_TEST(test_record_fields_that_need_escaping_read_back_unchanged)
{
    wabot_outbound *o = outbound("SMin:\"q\"\\r1", "+14155550100");
    free(o->organization);
    o->organization = strdup("acme \"west\"\t\u00e9");
    free(o->correlation_id);
    o->correlation_id = strdup("corr\x01\n{}");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    twilio_status("delivered", NULL);
    expect_record(WABOT_DELIVERY_DELIVERED, "SMin:\"q\"\\r1",
                  "acme \"west\"\t\u00e9", "corr\x01\n{}");
}
END_TEST

/* What a send leaves on a shared store: fields not known are left out of
 * the JSON record (a record per send is kept for the receipt TTL), and a
 * record written before, with them as null and "", reads the same and
 * takes receipts. */
START_TEST(test_record_leaves_out_unknown_fields_and_reads_older_ones)
{
    env.storage->process_local = 0; /* the memory store standing in */
    wabot_outbound *o = outbound("SMin:r0", "+14155550100");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(env.storage, "receipt:" SID, &v, NULL,
                                       NULL),
                     WABOT_OK);
    ck_assert_msg(strstr(v, "code") == NULL &&
                      strstr(v, "correlation_id") == NULL &&
                      strstr(v, "null") == NULL,
                  "%s", v);
    free(v);
    static const char old[] =
        "{\"state\":\"sent\",\"code\":\"\",\"outbound_id\":\"SMold:r0\","
        "\"to\":\"+14155550100\",\"org\":\"acme\",\"correlation_id\":null,"
        "\"provider\":\"twilio\",\"updated_ms\":5,\"seen\":[\"sent\"]}";
    ck_assert_int_eq(wabot_storage_set(env.storage, "receipt:" SID, old,
                                       strlen(old), 0, NULL),
                     WABOT_OK);
    twilio_status("delivered", NULL);
    expect_record(WABOT_DELIVERY_DELIVERED, "SMold:r0", "acme", "");
}
END_TEST

static size_t stored_len(const char *key, char *first)
{
    char *v = NULL;
    size_t len = 0;
    ck_assert_int_eq(wabot_storage_get(env.storage, key, &v, &len, NULL),
                     WABOT_OK);
    *first = v[0];
    free(v);
    return len;
}

/* On a process-local store nobody else reads the record: it is kept in
 * the compact form (no JSON names), reads the same through the API,
 * takes receipts, and a JSON record written before is read and rewritten
 * compact on its next change. */
START_TEST(test_record_is_compact_on_a_local_store_and_reads_the_same)
{
    wabot_outbound *o = outbound("SMin:\"q\"\\r1", "+14155550100");
    free(o->correlation_id);
    o->correlation_id = strdup("corr\x01\n{}");
    wb_receipt_sent(env.ctx, o, SID);
    char first;
    size_t compact = stored_len("receipt:" SID, &first);
    ck_assert_int_eq(first, '\x02');
    expect_record(WABOT_DELIVERY_SENT, "SMin:\"q\"\\r1", "acme",
                  "corr\x01\n{}");
    twilio_status("delivered", NULL);
    twilio_status("delivered", NULL); /* a duplicate: "seen" survived */
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "receipts.duplicates"),
                     1);
    expect_record(WABOT_DELIVERY_DELIVERED, "SMin:\"q\"\\r1", "acme",
                  "corr\x01\n{}");
    /* The same send on a shared store: JSON, longer. */
    ck_assert_int_eq(wabot_storage_del(env.storage, "receipt:" SID),
                     WABOT_OK);
    env.storage->process_local = 0;
    wb_receipt_sent(env.ctx, o, SID);
    size_t json = stored_len("receipt:" SID, &first);
    ck_assert_int_eq(first, '{');
    ck_assert_uint_lt(compact, json);
    /* A JSON record on the local store reads, and turns compact. */
    env.storage->process_local = 1;
    twilio_status("read", NULL);
    stored_len("receipt:" SID, &first);
    ck_assert_int_eq(first, '\x02');
    expect_record(WABOT_DELIVERY_READ, "SMin:\"q\"\\r1", "acme",
                  "corr\x01\n{}");
    wb_outbound_free(o);
}
END_TEST

/* The compact form before the binary header (marker 0x01, numbers in
 * decimal) still reads, takes a receipt, and is rewritten in the binary
 * form (marker 0x02), 12 bytes shorter for the same record. */
START_TEST(test_an_older_compact_record_reads_and_turns_binary)
{
    static const char old[] = "\x01" "2\0" "\0" "SMin:r0\0" "+14155550100\0"
                              "acme\0" "\0" "1\0" "1767225600000\0" "4";
    ck_assert_int_eq(wabot_storage_set(env.storage, "receipt:" SID, old,
                                       sizeof old - 1, 0, NULL),
                     WABOT_OK);
    expect_record(WABOT_DELIVERY_SENT, "SMin:r0", "acme", "");
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_updated_ms(d), 1767225600000LL);
    wabot_delivery_free(d);
    twilio_status("sent", NULL); /* seen already: a duplicate */
    ck_assert_int_eq(wabot_metrics_counter(env.ctx, "receipts.duplicates"),
                     1);
    twilio_status("delivered", NULL);
    char first;
    size_t len = stored_len("receipt:" SID, &first);
    ck_assert_int_eq(first, '\x02');
    /* the old form would now be one byte longer (seen "12") */
    ck_assert_uint_eq(len, sizeof old - 1 + 1 - 12);
    expect_record(WABOT_DELIVERY_DELIVERED, "SMin:r0", "acme", "");
}
END_TEST

START_TEST(test_twilio_receipts_move_forward_in_order)
{
    wabot_outbound *o = outbound("SMin:r0", "+14155550100");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    twilio_status("queued", NULL);   /* older than "sent": stale */
    ck_assert_int_eq(state_of(SID), WABOT_DELIVERY_SENT);
    twilio_status("delivered", NULL);
    ck_assert_int_eq(state_of(SID), WABOT_DELIVERY_DELIVERED);
    twilio_status("read", NULL);
    ck_assert_int_eq(state_of(SID), WABOT_DELIVERY_READ);
    ck_assert_int_eq(counter("receipts.queued"), 1);
    ck_assert_int_eq(counter("receipts.delivered"), 1);
    ck_assert_int_eq(counter("receipts.read"), 1);
    ck_assert_int_eq(counter("receipts.stale"), 1);
    ck_assert_int_eq(counter("receipts.unknown"), 0);
}
END_TEST

START_TEST(test_receipts_out_of_order_end_in_the_right_state)
{
    twilio_status("read", NULL);
    twilio_status("sent", NULL);      /* a late "sent" after "read" */
    twilio_status("delivered", NULL);
    twilio_status("queued", NULL);
    ck_assert_int_eq(state_of(SID), WABOT_DELIVERY_READ);
    ck_assert_int_eq(counter("receipts.stale"), 3);
    /* the send's own record, arriving last, merges without going back */
    wabot_outbound *o = outbound("SMin:r0", "+14155550100");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_READ);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "SMin:r0");
    wabot_delivery_free(d);
}
END_TEST

START_TEST(test_duplicate_receipt_changes_nothing)
{
    meta_status("sent", NULL);
    meta_status("delivered", NULL);
    wabot_delivery *before = get(WAMID);
    tu_clock_advance(&env.clock, 5000);
    meta_status("delivered", NULL);
    meta_status("sent", NULL);
    wabot_delivery *after = get(WAMID);
    ck_assert_int_eq(wabot_delivery_state_of(after), WABOT_DELIVERY_DELIVERED);
    ck_assert_int_eq(wabot_delivery_updated_ms(after),
                     wabot_delivery_updated_ms(before));
    ck_assert_int_eq(counter("receipts.delivered"), 1);
    ck_assert_int_eq(counter("receipts.sent"), 1);
    ck_assert_int_eq(counter("receipts.duplicates"), 2);
    ck_assert_int_eq(counter("receipts.stale"), 0);
    wabot_delivery_free(before);
    wabot_delivery_free(after);
}
END_TEST

START_TEST(test_unknown_id_is_recorded_and_counted)
{
    meta_status("delivered", NULL);
    wabot_delivery *d = get(WAMID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "");
    ck_assert_str_eq(wabot_delivery_to(d), "+14155550100");
    ck_assert_int_eq(wabot_delivery_provider(d), WABOT_PROVIDER_META);
    /* the provider's time of the status */
    ck_assert_int_eq(wabot_delivery_updated_ms(d), 1767225700000LL);
    wabot_delivery_free(d);
    ck_assert_int_eq(counter("receipts.unknown"), 1);
    wabot_delivery *none = NULL;
    ck_assert_int_eq(wabot_delivery_get(env.ctx, "wamid.none", &none),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(none);
    ck_assert_int_eq(wabot_delivery_get(env.ctx, "", &none), WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_failure_keeps_the_code_and_131050_opts_the_customer_out)
{
    wabot_outbound *o = outbound("camp:1", "+14155550100");
    o->provider = WABOT_PROVIDER_META;
    wb_receipt_sent(env.ctx, o, WAMID);
    wb_outbound_free(o);
    meta_status("failed", "131050");
    wabot_delivery *d = get(WAMID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_FAILED);
    ck_assert_str_eq(wabot_delivery_error_code(d), "131050");
    wabot_delivery_free(d);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(env.ctx, "acme", "+14155550100", &c),
                     WABOT_OK);
    ck_assert(wabot_customer_opted_out(c));
    wabot_customer_free(c);
    ck_assert_int_eq(counter("receipts.failed"), 1);
    ck_assert_int_eq(counter("receipts.opted_out"), 1);
}
END_TEST

START_TEST(test_twilio_undelivered_and_ordinary_failure_codes)
{
    twilio_status("sent", NULL);
    twilio_status("undelivered", "63024");
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_UNDELIVERED);
    ck_assert_str_eq(wabot_delivery_error_code(d), "63024");
    wabot_delivery_free(d);
    /* an invalid number is not an opt-out */
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(env.ctx, "default", "+14155550100",
                                        &c), WABOT_ERR_NOT_FOUND);
    /* a delivery proof outranks a failure report */
    twilio_status("delivered", NULL);
    ck_assert_int_eq(state_of(SID), WABOT_DELIVERY_DELIVERED);
    d = get(SID);
    ck_assert_str_eq(wabot_delivery_error_code(d), "");
    wabot_delivery_free(d);
    /* Twilio's "replied STOP" code opts out too (default organisation:
     * the send was not recorded here) */
    twilio_status("failed", "21610");
    ck_assert_int_eq(wabot_customer_get(env.ctx, "default", "+14155550100",
                                        &c), WABOT_OK);
    ck_assert(wabot_customer_opted_out(c));
    wabot_customer_free(c);
}
END_TEST

START_TEST(test_meta_batch_of_statuses_applies_each)
{
    const char *json =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
        "\"changes\":[{\"field\":\"messages\",\"value\":{\"statuses\":["
        "{\"id\":\"wamid.1\",\"status\":\"read\"},"
        "{\"id\":\"wamid.1\",\"status\":\"delivered\"},"
        "{\"id\":\"wamid.2\",\"status\":\"sent\"},"
        "{\"id\":\"wamid.3\",\"status\":\"deleted\"}]}}]}]}";
    post(META_PATH, CT_JSON, json);
    ck_assert_int_eq(state_of("wamid.1"), WABOT_DELIVERY_READ);
    ck_assert_int_eq(state_of("wamid.2"), WABOT_DELIVERY_SENT);
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(env.ctx, "wamid.3", &d),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_int_eq(counter("receipts.ignored"), 1);
    ck_assert_int_eq(counter("webhook.status_callbacks"), 4);
}
END_TEST

START_TEST(test_records_expire_after_the_receipt_ttl)
{
    meta_status("sent", NULL);
    tu_clock_advance(&env.clock, 7LL * 24 * 3600 * 1000 + 1);
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(env.ctx, WAMID, &d),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_receipt_direct_apply_ignores_unusable_ids)
{
    wb_status_update u = {WABOT_PROVIDER_META, "bad\nid", "sent", NULL, NULL,
                          0, NULL};
    ck_assert_int_eq(wb_receipt_apply(env.ctx, &u), WABOT_OK);
    wb_status_update v = {WABOT_PROVIDER_META, "wamid.ok", "receiving", NULL,
                          NULL, 0, NULL};
    ck_assert_int_eq(wb_receipt_apply(env.ctx, &v), WABOT_OK);
    ck_assert_int_eq(counter("receipts.ignored"), 2);
    wabot_outbound *o = outbound("x", "+14155550100");
    wb_receipt_sent(env.ctx, o, "");      /* logged, nothing stored */
    wb_receipt_sent(env.ctx, NULL, SID);  /* ignored */
    wb_outbound_free(o);
}
END_TEST


/* ------------------------------------------------------------------ */
/* Storage hiccups: nothing dropped                                     */

static flaky_storage flaky;

/* env over a storage that fails while flaky.down is set. */
static void flaky_setup(void)
{
    tu_clock_init(&env.clock, TU_EPOCH_MS);
    wabot_clock k = tu_clock_wabot(&env.clock);
    flaky.inner = wabot_storage_memory_new(&k);
    env.storage = flaky_storage_new(&flaky);
    env.rec = wabot_transport_recorder_new();
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES,
                                           0), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_clock(o, &k), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_storage(o, env.storage), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_transport(o, env.rec), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_new(&env.ctx, o), WABOT_OK);
    wabot_options_free(o);
}

static void flaky_teardown(void)
{
    tu_env_free(&env);
    wabot_storage_free(flaky.inner);
}

/* Move the fake clock by ms and run what is due. */
static void tick(int64_t ms)
{
    tu_clock_advance(&env.clock, ms);
    tu_drain(env.ctx);
}

/* 22 sends recorded while the storage is down (as in issue 19's 2 s Redis
 * outage) all land once it is back; none is lost. */
START_TEST(test_send_records_wait_for_the_storage_and_land_when_it_returns)
{
    char sid[64];
    atomic_store(&flaky.down, 1);
    for (int i = 0; i < 22; i++) {
        snprintf(sid, sizeof sid, "SM%032d", i);
        wabot_outbound *o = outbound("r", "+14155550100");
        wb_receipt_sent(env.ctx, o, sid);
        wb_outbound_free(o);
    }
    ck_assert_int_eq(counter("receipts.writes_deferred"), 22);
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 22);
    tick(2000); /* still down: retried, kept */
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 22);
    ck_assert_int_eq(counter("receipts.writes_recovered"), 0);
    atomic_store(&flaky.down, 0);
    tick(5000);
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 0);
    ck_assert_int_eq(counter("receipts.writes_recovered"), 22);
    ck_assert_int_eq(counter("receipts.writes_dropped"), 0);
    for (int i = 0; i < 22; i++) {
        snprintf(sid, sizeof sid, "SM%032d", i);
        wabot_delivery *d = get(sid);
        ck_assert_str_eq(wabot_delivery_outbound_id(d), "r");
        ck_assert_int_eq(wabot_delivery_updated_ms(d), TU_EPOCH_MS);
        wabot_delivery_free(d);
    }
}
END_TEST

static int storage_down_now(wabot_ctx *ctx, const char *hook,
                            const char *json, size_t len, void *ud)
{
    (void)ctx, (void)hook, (void)json, (void)len, (void)ud;
    atomic_store(&flaky.down, 1);
    return WABOT_OK;
}

/* The provider accepts a send and the storage fails before the delivery's
 * next pass, which writes the send's "sent" record and, in the same batch
 * (the delivery's rider), the receipts module's record of it: that record
 * waits in memory and lands once the storage is back; none is lost. */
START_TEST(test_a_send_answered_before_an_outage_is_recorded_when_it_ends)
{
    /* a host subscriber runs after the receipts module's: the send is
     * queued for the pass, then the storage goes */
    ck_assert_int_eq(wabot_hook_subscribe(env.ctx, "delivery.sent",
                                          storage_down_now, NULL, NULL),
                     WABOT_OK);
    const char *params[] = {"Ana"};
    ck_assert_int_eq(wabot_send_template(env.ctx, "acme", "+14155550100",
                                         "hello", "en", 1, params,
                                         WABOT_CAT_NOTICE, "n1", NULL),
                     WABOT_OK);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 1);
    ck_assert_int_eq(atomic_load(&flaky.down), 1);
    ck_assert_int_eq(counter("receipts.writes_deferred"), 1);
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 1);
    tick(2000); /* still down: kept */
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 1);
    atomic_store(&flaky.down, 0);
    tick(5000);
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 0);
    ck_assert_int_eq(counter("receipts.writes_recovered"), 1);
    wabot_delivery *d = get("rec-1");
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "n1");
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_SENT);
    wabot_delivery_free(d);
}
END_TEST

/* A status callback that arrives during the outage is answered 200 (the
 * provider would not send it again) and applied once storage is back,
 * merged with the send's record whichever lands first. */
START_TEST(test_status_callback_during_an_outage_is_applied_later)
{
    atomic_store(&flaky.down, 1);
    wabot_outbound *o = outbound("SM1:r0", "+14155550100");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    twilio_status("delivered", NULL);
    ck_assert_int_eq(counter("receipts.writes_deferred"), 2);
    ck_assert_int_eq(counter("receipts.delivered"), 0);
    atomic_store(&flaky.down, 0);
    tick(100);
    ck_assert_int_eq(counter("receipts.delivered"), 1);
    ck_assert_int_eq(state_of(SID), WABOT_DELIVERY_DELIVERED);
    wabot_delivery *d = get(SID);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "SM1:r0");
    wabot_delivery_free(d);
}
END_TEST

/* While the storage stays down the retries back off (100 ms, doubling,
 * at most 5 s apart) instead of hammering it. */
START_TEST(test_deferred_writes_back_off_while_the_storage_stays_down)
{
    atomic_store(&flaky.down, 1);
    wabot_outbound *o = outbound("r", "+14155550100");
    wb_receipt_sent(env.ctx, o, SID);
    wb_outbound_free(o);
    long before = atomic_load(&flaky.failed);
    int64_t waits[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        tick(waits[i] - 1);
        ck_assert_int_eq(atomic_load(&flaky.failed), before + (long)i);
        tick(1);
        ck_assert_int_eq(atomic_load(&flaky.failed), before + (long)i + 1);
    }
    ck_assert_uint_eq(wb_receipt_pending(wb_receipt_retry_of(env.ctx)), 1);
}
END_TEST

/* The memory the queue may take is bounded: past WB_RECEIPT_RETRY_MAX
 * writes, more are dropped and counted, never silently. */
START_TEST(test_deferred_writes_are_bounded_and_drops_counted)
{
    atomic_store(&flaky.down, 1);
    wabot_outbound *o = outbound("r", "+14155550100");
    char sid[64];
    for (int i = 0; i < WB_RECEIPT_RETRY_MAX + 3; i++) {
        snprintf(sid, sizeof sid, "SM%032d", i);
        wb_receipt_sent(env.ctx, o, sid);
    }
    wb_outbound_free(o);
    ck_assert_int_eq(counter("receipts.writes_deferred"),
                     WB_RECEIPT_RETRY_MAX);
    ck_assert_int_eq(counter("receipts.writes_dropped"), 3);
    atomic_store(&flaky.down, 0);
    for (int i = 0; i < 300; i++)
        tick(1);
    ck_assert_int_eq(counter("receipts.writes_recovered"),
                     WB_RECEIPT_RETRY_MAX);
}
END_TEST

static Suite *receipts_suite(void)
{
    Suite *s = suite_create("receipts");
    TCase *tc = tcase_create("receipts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_send_is_recorded_and_readable);
    tcase_add_test(tc, test_record_leaves_out_unknown_fields_and_reads_older_ones);
    tcase_add_test(tc, test_record_is_compact_on_a_local_store_and_reads_the_same);
    tcase_add_test(tc, test_an_older_compact_record_reads_and_turns_binary);
    tcase_add_test(tc, test_twilio_receipts_move_forward_in_order);
    tcase_add_test(tc,
                   test_record_fields_that_need_escaping_read_back_unchanged);
    tcase_add_test(tc, test_receipts_out_of_order_end_in_the_right_state);
    tcase_add_test(tc, test_duplicate_receipt_changes_nothing);
    tcase_add_test(tc, test_unknown_id_is_recorded_and_counted);
    tcase_add_test(tc,
        test_failure_keeps_the_code_and_131050_opts_the_customer_out);
    tcase_add_test(tc, test_twilio_undelivered_and_ordinary_failure_codes);
    tcase_add_test(tc, test_meta_batch_of_statuses_applies_each);
    tcase_add_test(tc, test_records_expire_after_the_receipt_ttl);
    tcase_add_test(tc, test_receipt_direct_apply_ignores_unusable_ids);
    suite_add_tcase(s, tc);
    TCase *hic = tcase_create("storage hiccups");
    tcase_add_checked_fixture(hic, flaky_setup, flaky_teardown);
    tcase_add_test(hic,
        test_send_records_wait_for_the_storage_and_land_when_it_returns);
    tcase_add_test(hic, test_status_callback_during_an_outage_is_applied_later);
    tcase_add_test(
        hic, test_a_send_answered_before_an_outage_is_recorded_when_it_ends);
    tcase_add_test(hic,
        test_deferred_writes_back_off_while_the_storage_stays_down);
    tcase_add_test(hic, test_deferred_writes_are_bounded_and_drops_counted);
    suite_add_tcase(s, hic);
    return s;
}

int main(void)
{
    return tu_run_suite(receipts_suite());
}
