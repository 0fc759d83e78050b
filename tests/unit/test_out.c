/* The outbound builder (wabot/out.h): setters and their limits, queueing
 * with idempotency keys and correlation ids, turn replies, the old entry
 * points as wrappers, and the texts catalog down to the JSON the Meta
 * transport sends. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "testutil.h"
#include "wabot.h"

/* ---- a canned HTTP client: every request answered like Meta's API ---- */

static const char *META_OK =
    "{\"messaging_product\":\"whatsapp\",\"messages\":[{\"id\":\"wamid.OUT\"}]}";

typedef struct canned_client {
    char *bodies[16];
    size_t n;
} canned_client;

static int canned_start(void *impl, const wabot_http_request *r,
                        wabot_http_call *call)
{
    canned_client *c = impl;
    if (c->n < 16)
        c->bodies[c->n++] = strdup(wabot_http_request_body(r, NULL));
    wabot_http_call_done(call, 200, NULL, 0, META_OK, strlen(META_OK));
    return WABOT_OK;
}

static void canned_destroy(void *impl)
{
    canned_client *c = impl;
    for (size_t i = 0; i < c->n; i++)
        free(c->bodies[i]);
}

static const wabot_http_client_vtable canned_vt = {
    WABOT_HTTP_CLIENT_VTABLE_VERSION, canned_start, canned_destroy};

/* ---- helpers ------------------------------------------------------- */

/* The queued job's payload as JSON (the test owns it). */
static json_t *queued(wabot_ctx *ctx, const char *id)
{
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(ctx, WABOT_QUEUE_OUTBOUND, id, &info),
                     WABOT_OK);
    const wabot_job_record *rec = wabot_job_info_record(info);
    json_t *j = json_loadb(rec->payload, rec->payload_len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    wabot_job_info_free(info);
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "(absent)";
}

/* The message's JSON without what is random per builder. */
static char *comparable(const wabot_outbound *o)
{
    char *s = wabot_outbound_to_json(o);
    json_t *j = json_loads(s, 0, NULL);
    wabot_free(s);
    json_object_del(j, "correlation_id");
    char *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return out;
}

/* The customer writes (to `org`'s default number), so free-form messages
 * to them are inside the 24-hour window. */
static void customer_writes(wabot_ctx *ctx, const char *org, const char *from)
{
    static int n;
    char id[32];
    snprintf(id, sizeof id, "SMwin%d", ++n);
    wabot_message *m = tu_text(id, from, "hi");
    if (org)
        wabot_message_set_organization(m, org);
    ck_assert_int_eq(wabot_ctx_handle_message(ctx, m), WABOT_OK);
    wabot_message_free(m);
}

static void assert_detail(wabot_ctx *ctx, const char *needle)
{
    const char *msg = wabot_ctx_errmsg(ctx);
    ck_assert_msg(strstr(msg, needle) != NULL, "errmsg \"%s\" lacks \"%s\"",
                  msg, needle);
}

/* ---- setters and limits -------------------------------------------- */

START_TEST(test_setters_fill_the_queued_job)
{
    tu_env e;
    tu_env_init(&e);
    wabot_out *o = wabot_out_new(e.ctx);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_out_set_to(o, "whatsapp:+1 415 555 0100"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_org(o, "acme"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_from(o, "+15550001111"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_category(o, WABOT_CAT_NOTICE), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_text(o, "Pick a slot"), WABOT_OK);
    ck_assert_int_eq(wabot_out_add_row(o, "slot:9", "9:00", "morning"), WABOT_OK);
    ck_assert_int_eq(wabot_out_add_row(o, "slot:14", "14:00", NULL), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_list_button(o, "Slots"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_idempotency_key(o, "order-7-slots"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_correlation_id(o, "order-7"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_in_reply_to(o, "SM123"), WABOT_OK);
    char *id = NULL;
    ck_assert_int_eq(wabot_out_enqueue(o, &id), WABOT_OK);
    ck_assert_str_eq(id, "order-7-slots");
    wabot_ctx_mem_free(e.ctx, id);
    wabot_out_free(o);

    json_t *j = queued(e.ctx, "order-7-slots");
    ck_assert_str_eq(jstr(j, "kind"), "list");
    ck_assert_str_eq(jstr(j, "category"), "notice");
    ck_assert_str_eq(jstr(j, "to"), "+14155550100");
    ck_assert_str_eq(jstr(j, "from"), "+15550001111");
    ck_assert_str_eq(jstr(j, "organization"), "acme");
    ck_assert_str_eq(jstr(j, "text"), "Pick a slot");
    ck_assert_str_eq(jstr(j, "in_reply_to"), "SM123");
    ck_assert_str_eq(jstr(j, "correlation_id"), "order-7");
    ck_assert_str_eq(jstr(j, "list_button"), "Slots");
    ck_assert_str_eq(jstr(j, "list_section"), "Options");
    json_t *rows = json_object_get(j, "options");
    ck_assert_uint_eq(json_array_size(rows), 2);
    ck_assert_str_eq(jstr(json_array_get(rows, 0), "description"), "morning");
    ck_assert_ptr_null(json_object_get(json_array_get(rows, 1), "description"));
    json_decref(j);
    tu_env_free(&e);
}
END_TEST

typedef enum { ADD_BUTTONS, ADD_ROWS } fill_kind;

static wabot_out *with_options(wabot_ctx *ctx, fill_kind k, size_t n)
{
    wabot_out *o = wabot_out_new(ctx);
    ck_assert_int_eq(wabot_out_set_text(o, "body"), WABOT_OK);
    for (size_t i = 0; i < n; i++) {
        char id[24]; /* "o" and any size_t: no truncation warning at -O0 */
        snprintf(id, sizeof id, "o%zu", i);
        ck_assert_int_eq(k == ADD_BUTTONS ? wabot_out_add_button(o, id, "t")
                                          : wabot_out_add_row(o, id, "t", NULL),
                         WABOT_OK);
    }
    return o;
}

START_TEST(test_every_limit_fails_when_set_with_status_and_detail)
{
    tu_env e;
    tu_env_init(&e);
    wabot_ctx *ctx = e.ctx;
    wabot_out *o = wabot_out_new(ctx);
    /* Set: at most what ten messages can carry; the provider's own limit
     * applies when the message is made (texts.long_text, test_long_text.c). */
    char *s = tu_repeat("x", 40961);
    ck_assert_int_eq(wabot_out_set_text(o, s), WABOT_ERR_TOO_LARGE);
    assert_detail(ctx, "40961 characters; the limit is 40960");
    free(s);
    s = tu_repeat("\xc3\xa9", 4096); /* 4096 characters, 8192 bytes */
    ck_assert_int_eq(wabot_out_set_text(o, s), WABOT_OK);
    free(s);
    ck_assert_int_eq(wabot_out_set_text(o, ""), WABOT_ERR_INVAL);
    assert_detail(ctx, "text is empty");
    ck_assert_int_eq(wabot_out_set_to(o, "not a number"), WABOT_ERR_INVAL);
    assert_detail(ctx, "E.164");
    ck_assert_int_eq(wabot_out_set_from(o, "12"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_out_set_category(o, (wabot_out_category)9),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_out_set_locale(o, "pt BR"), WABOT_ERR_INVAL);
    s = tu_repeat("k", 201);
    ck_assert_int_eq(wabot_out_set_idempotency_key(o, s), WABOT_ERR_INVAL);
    assert_detail(ctx, "idempotency key");
    free(s);
    ck_assert_int_eq(wabot_out_set_correlation_id(o, "a\nb"), WABOT_ERR_INVAL);
    s = tu_repeat("u", 2049);
    ck_assert_int_eq(wabot_out_set_media(o, s, NULL), WABOT_ERR_TOO_LARGE);
    free(s);
    ck_assert_int_eq(wabot_out_set_list_button(o, "123456789012345678901"),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_out_set_list_button(o, "12345678901234567890"),
                     WABOT_OK);
    wabot_out_free(o);

    /* Buttons: 3, titles of 20 characters, ids of 256 bytes. */
    o = with_options(ctx, ADD_BUTTONS, 3);
    ck_assert_int_eq(wabot_out_add_button(o, "o3", "t"), WABOT_ERR_TOO_LARGE);
    assert_detail(ctx, "4 buttons; the limit is 3");
    wabot_out_free(o);
    o = with_options(ctx, ADD_BUTTONS, 0);
    ck_assert_int_eq(wabot_out_add_button(o, "b", "123456789012345678901"),
                     WABOT_ERR_TOO_LARGE);
    assert_detail(ctx, "button 0 title");
    ck_assert_int_eq(wabot_out_add_button(o, "b", "\xc3\xa9\xc3\xa9\xc3\xa9"
                                                  "45678901234567890"),
                     WABOT_OK);
    s = tu_repeat("i", 257);
    ck_assert_int_eq(wabot_out_add_button(o, s, "t"), WABOT_ERR_TOO_LARGE);
    free(s);
    ck_assert_int_eq(wabot_out_add_button(o, "", "t"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_out_add_row(o, "r", "t", NULL), WABOT_ERR_INVAL);
    assert_detail(ctx, "cannot add list rows to a message with buttons");
    ck_assert_int_eq(wabot_out_set_media(o, "https://x/y.png", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_out_set_template(o, "t", "en"), WABOT_ERR_INVAL);
    wabot_out_free(o);

    /* Rows: 10, titles of 24, descriptions of 72 characters. */
    o = with_options(ctx, ADD_ROWS, 10);
    ck_assert_int_eq(wabot_out_add_row(o, "o10", "t", NULL),
                     WABOT_ERR_TOO_LARGE);
    wabot_out_free(o);
    o = with_options(ctx, ADD_ROWS, 0);
    ck_assert_int_eq(wabot_out_add_row(o, "r", "1234567890123456789012345",
                                       NULL),
                     WABOT_ERR_TOO_LARGE);
    s = tu_repeat("d", 73);
    ck_assert_int_eq(wabot_out_add_row(o, "r", "t", s), WABOT_ERR_TOO_LARGE);
    assert_detail(ctx, "row 0 description has 73 characters");
    free(s);
    wabot_out_free(o);

    /* Templates: name, language, 20 parameters of 1024 bytes. */
    o = wabot_out_new(ctx);
    ck_assert_int_eq(wabot_out_set_template(o, "", "en"), WABOT_ERR_INVAL);
    s = tu_repeat("n", 513);
    ck_assert_int_eq(wabot_out_set_template(o, s, "en"), WABOT_ERR_TOO_LARGE);
    free(s);
    ck_assert_int_eq(wabot_out_set_template(o, "order_update", "pt_BR"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_out_set_text(o, "hi"), WABOT_ERR_INVAL);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(wabot_out_add_template_param(o, "p"), WABOT_OK);
    ck_assert_int_eq(wabot_out_add_template_param(o, "p"), WABOT_ERR_TOO_LARGE);
    ck_assert_int_eq(wabot_out_add_template_param(o, NULL), WABOT_ERR_INVAL);
    wabot_out_free(o);

    ck_assert_int_eq(wabot_out_set_text(NULL, "x"), WABOT_ERR_INVAL);
    ck_assert_ptr_null(wabot_out_new(NULL));
    wabot_out_free(NULL);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_queueing_checks_the_whole_message)
{
    tu_env e;
    tu_env_init(&e);
    wabot_ctx *ctx = e.ctx;
    wabot_out *o = wabot_out_new(ctx);
    char *id = (char *)"untouched";
    ck_assert_int_eq(wabot_out_enqueue(o, &id), WABOT_ERR_INVAL);
    ck_assert_ptr_null(id);
    assert_detail(ctx, "no content");
    ck_assert_int_eq(wabot_out_set_text(o, "hello"), WABOT_OK);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_INVAL);
    assert_detail(ctx, "no recipient");
    ck_assert_int_eq(wabot_out_set_to(o, "+14155550100"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_list_button(o, "Go"), WABOT_OK);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_INVAL);
    assert_detail(ctx, "list button text on a message without rows");
    wabot_out_free(o);

    o = wabot_out_new(ctx);
    wabot_out_set_to(o, "+14155550100");
    ck_assert_int_eq(wabot_out_add_button(o, "y", "Yes"), WABOT_OK);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_INVAL);
    assert_detail(ctx, "need a body text");
    wabot_out_free(o);
    int64_t counts[8] = {0};
    ck_assert_int_eq(wabot_queue_counts(ctx, WABOT_QUEUE_OUTBOUND, counts, 8),
                     WABOT_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(counts[i], 0);
    tu_env_free(&e);
}
END_TEST

/* Twilio's 1600 characters apply when the message is routed to a Twilio
 * sender (numbered options included), and not elsewhere. */
START_TEST(test_twilio_limit_applies_where_the_provider_is_known)
{
    tu_env e;
    tu_env_init(&e);
    wabot_twilio_config tc;
    wabot_twilio_config_init(&tc);
    tc.account_sid = "AC00000000000000000000000000000000";
    tc.auth_token = "secret-token";
    tc.from = "+14155238886";
    wabot_transport *twilio = wabot_transport_twilio_new(&tc);
    ck_assert_int_eq(wabot_ctx_add_sender(e.ctx, "acme", "+14155238886",
                                          twilio),
                     WABOT_OK);
    ck_assert_int_eq(wabot_ctx_set_org_option(e.ctx, "acme",
                                              "texts.long_text", "refuse"),
                     WABOT_OK);
    char *text = tu_repeat("x", 1601);
    wabot_out *o = wabot_out_new(e.ctx);
    wabot_out_set_to(o, "+14155550100");
    wabot_out_set_text(o, text);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_OK); /* recorder */
    wabot_out_set_org(o, "acme");
    wabot_out_set_idempotency_key(o, "to-acme");
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_TOO_LARGE);
    assert_detail(e.ctx, "1600 characters");
    wabot_out_free(o);
    free(text);

    text = tu_repeat("x", 1595); /* + "\n\n1. Yes" = 1602 */
    o = wabot_out_new(e.ctx);
    wabot_out_set_to(o, "+14155550100");
    wabot_out_set_org(o, "acme");
    wabot_out_set_text(o, text);
    wabot_out_add_button(o, "a", "Yes");
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_TOO_LARGE);
    assert_detail(e.ctx, "numbered options");
    wabot_out_free(o);
    free(text);
    tu_env_free(&e);
    wabot_transport_free(twilio);
}
END_TEST

/* ---- idempotency and correlation ------------------------------------ */

START_TEST(test_repeated_idempotency_key_is_exists_and_sends_once)
{
    tu_env e;
    tu_env_init(&e);
    customer_writes(e.ctx, NULL, "+14155550100");
    wabot_out *o = wabot_out_new(e.ctx);
    const char *gen = wabot_out_idempotency_key(o);
    ck_assert_int_eq(strncmp(gen, "send-", 5), 0);
    ck_assert_uint_eq(strlen(gen), 5 + 16);
    wabot_out_set_to(o, "+14155550100");
    wabot_out_set_text(o, "Your order shipped");
    char *first = NULL, *second = NULL;
    ck_assert_int_eq(wabot_out_enqueue(o, &first), WABOT_OK);
    ck_assert_str_eq(first, wabot_out_idempotency_key(o));
    ck_assert_int_eq(wabot_out_enqueue(o, &second), WABOT_ERR_EXISTS);
    ck_assert_str_eq(second, first);
    assert_detail(e.ctx, "queued already");

    wabot_out *again = wabot_out_new(e.ctx);
    wabot_out_set_to(again, "+14155550100");
    wabot_out_set_text(again, "Your order shipped (again)");
    ck_assert_int_eq(wabot_out_set_idempotency_key(again, first), WABOT_OK);
    ck_assert_int_eq(wabot_out_enqueue(again, NULL), WABOT_ERR_EXISTS);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(e.rec, 0)),
                     "Your order shipped");
    ck_assert_int_eq(wabot_metrics_counter(e.ctx, "outbound.duplicates"), 2);
    wabot_ctx_mem_free(e.ctx, first);
    wabot_ctx_mem_free(e.ctx, second);
    wabot_out_free(again);
    wabot_out_free(o);
    tu_env_free(&e);
}
END_TEST

START_TEST(test_correlation_id_is_generated_kept_and_recorded_with_the_send)
{
    tu_env e;
    tu_env_init(&e);
    customer_writes(e.ctx, NULL, "+14155550100");
    customer_writes(e.ctx, NULL, "+14155550101");
    wabot_out *a = wabot_out_new(e.ctx), *b = wabot_out_new(e.ctx);
    ck_assert_int_eq(strncmp(wabot_out_correlation_id(a), "corr-", 5), 0);
    ck_assert_str_ne(wabot_out_correlation_id(a), wabot_out_correlation_id(b));
    char generated[64];
    snprintf(generated, sizeof generated, "%s", wabot_out_correlation_id(b));
    ck_assert_int_eq(wabot_out_set_correlation_id(a, "invoice-42"), WABOT_OK);
    ck_assert_str_eq(wabot_out_correlation_id(a), "invoice-42");
    wabot_out_set_to(a, "+14155550100");
    wabot_out_set_text(a, "Invoice 42 is ready");
    wabot_out_set_idempotency_key(a, "inv-42");
    wabot_out_set_to(b, "+14155550101");
    wabot_out_set_text(b, "Hello");
    wabot_out_set_idempotency_key(b, "hello-1");
    ck_assert_int_eq(wabot_out_enqueue(a, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_out_enqueue(b, NULL), WABOT_OK);

    json_t *j = queued(e.ctx, "inv-42");
    ck_assert_str_eq(jstr(j, "correlation_id"), "invoice-42");
    json_decref(j);
    j = queued(e.ctx, "hello-1");
    ck_assert_str_eq(jstr(j, "correlation_id"), generated);
    json_decref(j);

    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 2);
    const wabot_outbound *sent = wabot_recorder_get(e.rec, 0);
    ck_assert_str_eq(wabot_outbound_correlation_id(sent), "invoice-42");
    /* The recorder's first provider id; receipts find the message by it. */
    wabot_delivery *d = NULL;
    ck_assert_int_eq(wabot_delivery_get(e.ctx, "rec-1", &d), WABOT_OK);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "inv-42");
    ck_assert_str_eq(wabot_delivery_correlation_id(d), "invoice-42");
    wabot_delivery_free(d);
    wabot_out_free(a);
    wabot_out_free(b);
    tu_env_free(&e);
}
END_TEST

/* ---- turn replies ---------------------------------------------------- */

static int reply_menu(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_out *o = wabot_out_new(wabot_turn_ctx(t));
    wabot_out_set_text(o, "Menu");
    wabot_out_add_row(o, "m:pizza", "Pizza", "stone oven");
    wabot_out_add_row(o, "m:pasta", "Pasta", NULL);
    wabot_out_set_correlation_id(o, "menu-v2");
    int rc = wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    return rc;
}

START_TEST(test_turn_reply_through_the_builder_is_addressed_by_the_turn)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, reply_menu, NULL, NULL);
    wabot_message *m = tu_text("SM77", "+14155550100", "menu");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    const wabot_outbound *o = wabot_recorder_get(e.rec, 0);
    ck_assert_str_eq(wabot_outbound_id(o), "SM77:r0");
    ck_assert_int_eq(wabot_outbound_kind(o), WABOT_OUT_LIST);
    ck_assert_int_eq(wabot_outbound_category(o), WABOT_CAT_REPLY);
    ck_assert_str_eq(wabot_outbound_to(o), "+14155550100");
    ck_assert_str_eq(wabot_outbound_from(o), "+15550001111");
    ck_assert_str_eq(wabot_outbound_in_reply_to(o), "SM77");
    ck_assert_str_eq(wabot_outbound_organization(o), "default");
    ck_assert_str_eq(wabot_outbound_correlation_id(o), "menu-v2");
    ck_assert_str_eq(wabot_outbound_option_description(o, 0), "stone oven");
    ck_assert_str_eq(wabot_outbound_option_description(o, 1), "");
    ck_assert_str_eq(wabot_outbound_list_button(o), "Choose");
    ck_assert_str_eq(wabot_outbound_list_section(o), "Options");
    tu_env_free(&e);
}
END_TEST

/* Every wrapper against the builder calls it stands for. */
static int reply_all_wrappers(wabot_turn *t, void *ud)
{
    int by_builder = *(int *)ud;
    const char *ids[] = {"y", "n"}, *titles[] = {"Yes", "No"};
    const char *params[] = {"Ana", "42"};
    if (!by_builder) {
        wabot_reply_text(t, "Hello");
        wabot_reply_media(t, "https://cdn.example.com/a.pdf", "Menu");
        wabot_reply_buttons(t, "Sure?", 2, ids, titles);
        wabot_reply_list(t, "Pick", 2, ids, titles);
        return wabot_reply_template(t, "greeting", "en", 2, params);
    }
    wabot_ctx *ctx = wabot_turn_ctx(t);
    wabot_out *o = wabot_out_new(ctx);
    wabot_out_set_text(o, "Hello");
    wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    o = wabot_out_new(ctx);
    wabot_out_set_media(o, "https://cdn.example.com/a.pdf", "Menu");
    wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    o = wabot_out_new(ctx);
    wabot_out_set_text(o, "Sure?");
    wabot_out_add_button(o, "y", "Yes");
    wabot_out_add_button(o, "n", "No");
    wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    o = wabot_out_new(ctx);
    wabot_out_set_text(o, "Pick");
    wabot_out_add_row(o, "y", "Yes", NULL);
    wabot_out_add_row(o, "n", "No", NULL);
    wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    o = wabot_out_new(ctx);
    wabot_out_set_template(o, "greeting", "en");
    wabot_out_add_template_param(o, "Ana");
    wabot_out_add_template_param(o, "42");
    int rc = wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    return rc;
}

/* One turn and two sends, all through the old entry points. */
static void record_with_wrappers(tu_env *e)
{
    static int zero = 0;
    tu_env_init(e);
    customer_writes(e->ctx, "acme", "+14155550101");
    wabot_use(e->ctx, NULL, reply_all_wrappers, &zero, NULL);
    wabot_message *m = tu_text("SM5", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(e->ctx, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(wabot_send_text(e->ctx, "acme", "+14155550101",
                                     "Notice", WABOT_CAT_NOTICE, "n-1", NULL),
                     WABOT_OK);
    const char *params[] = {"x"};
    ck_assert_int_eq(wabot_send_template(e->ctx, NULL, "+14155550102", "promo",
                                         "de", 1, params, WABOT_CAT_CAMPAIGN,
                                         "c-1", NULL),
                     WABOT_OK);
    tu_drain(e->ctx);
}

START_TEST(test_wrappers_send_what_the_builder_sends)
{
    tu_env old, now;
    record_with_wrappers(&old);
    /* The same turn and sends through the builder. */
    tu_env_init(&now);
    customer_writes(now.ctx, "acme", "+14155550101");
    static int one = 1;
    wabot_use(now.ctx, NULL, reply_all_wrappers, &one, NULL);
    wabot_message *m = tu_text("SM5", "+14155550100", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(now.ctx, m), WABOT_OK);
    wabot_message_free(m);
    wabot_out *o = wabot_out_new(now.ctx);
    wabot_out_set_org(o, "acme");
    wabot_out_set_to(o, "+14155550101");
    wabot_out_set_text(o, "Notice");
    wabot_out_set_category(o, WABOT_CAT_NOTICE);
    wabot_out_set_idempotency_key(o, "n-1");
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_OK);
    wabot_out_free(o);
    o = wabot_out_new(now.ctx);
    wabot_out_set_to(o, "+14155550102");
    wabot_out_set_template(o, "promo", "de");
    wabot_out_add_template_param(o, "x");
    wabot_out_set_category(o, WABOT_CAT_CAMPAIGN);
    wabot_out_set_idempotency_key(o, "c-1");
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_OK);
    wabot_out_free(o);
    tu_drain(now.ctx);

    ck_assert_uint_eq(wabot_recorder_count(old.rec), 7);
    ck_assert_uint_eq(wabot_recorder_count(now.rec), 7);
    for (size_t i = 0; i < 7; i++) {
        char *a = comparable(wabot_recorder_get(old.rec, i));
        char *b = comparable(wabot_recorder_get(now.rec, i));
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    /* And what the wrappers made is what they made before the builder. */
    const wabot_outbound *r = wabot_recorder_get(old.rec, 2);
    ck_assert_str_eq(wabot_outbound_id(r), "SM5:r2");
    ck_assert_int_eq(wabot_outbound_kind(r), WABOT_OUT_BUTTONS);
    r = wabot_recorder_get(old.rec, 4);
    ck_assert_int_eq(wabot_outbound_kind(r), WABOT_OUT_TEMPLATE);
    ck_assert_str_eq(wabot_outbound_text(r), "");
    ck_assert_str_eq(wabot_outbound_param(r, 1), "42");
    r = wabot_recorder_get(old.rec, 5);
    ck_assert_str_eq(wabot_outbound_id(r), "n-1");
    ck_assert_str_eq(wabot_outbound_from(r), "");
    ck_assert_int_eq(wabot_outbound_provider(r), WABOT_PROVIDER_UNKNOWN);
    tu_env_free(&old);
    tu_env_free(&now);
}
END_TEST

/* ---- the texts catalog ----------------------------------------------- */

START_TEST(test_texts_resolve_along_the_fallback_chain)
{
    tu_env e;
    tu_env_init(&e);
    wabot_ctx *ctx = e.ctx;
    const char *k = "list_button";
    /* 7: the built-in default, through the global option. */
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Choose");
    ck_assert_str_eq(wabot_ctx_text(ctx, NULL, NULL, "list_section"),
                     "Options");
    /* 6: any org, any locale. */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, NULL, k, "Pick"), WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Pick");
    /* 5 and 4: the language, then the exact locale (any case, '_'). */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, "pt", k, "Escolher"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Escolher");
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, "PT_br", k, "Escolha"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Escolha");
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-PT", k), "Escolher");
    /* 3: the organisation's option override beats any locale's text... */
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "texts.list_button",
                                              "Acme menu"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Acme menu");
    ck_assert_str_eq(wabot_ctx_text(ctx, "other", "pt-BR", k), "Escolha");
    /* ... and its catalog text beats its option. */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, "acme", NULL, k, "Acme pick"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Acme pick");
    /* 2 and 1: the organisation's language, then its exact locale. */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, "acme", "pt", k, "Acme escolher"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Acme escolher");
    ck_assert_int_eq(wabot_ctx_set_text(ctx, "acme", "pt-BR", k,
                                        "Acme escolha"),
                     WABOT_OK);
    const char *best = wabot_ctx_text(ctx, "acme", "pt-BR", k);
    ck_assert_str_eq(best, "Acme escolha");
    /* A later text replaces it; the old pointer stays readable. */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, "acme", "pt-BR", k, "Acme v2"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", "pt-BR", k), "Acme v2");
    ck_assert_str_eq(best, "Acme escolha");
    /* No locale given: the organisation's texts.locale. */
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", NULL, k), "Acme pick");
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "texts.locale",
                                              "pt-BR"),
                     WABOT_OK);
    ck_assert_str_eq(wabot_ctx_text(ctx, "acme", NULL, k), "Acme v2");
    /* Errors. */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, NULL, "nope", "x"),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_ptr_null(wabot_ctx_text(ctx, NULL, NULL, "nope"));
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, "pt BR", k, "x"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, NULL, k, ""),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "acme", "texts.locale",
                                              "not a locale"),
                     WABOT_ERR_INVAL);
    tu_env_free(&e);
}
END_TEST

static int reply_list(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *ids[] = {"a", "b"}, *titles[] = {"A", "B"};
    return wabot_reply_list(t, "Choose one", 2, ids, titles);
}

typedef struct meta_env {
    tu_env e;
    canned_client client;
    wabot_http_client *http;
    wabot_transport *meta;
} meta_env;

static void meta_env_init(meta_env *v)
{
    memset(&v->client, 0, sizeof v->client);
    v->http = wabot_http_client_new(&canned_vt, &v->client);
    wabot_meta_config mc;
    wabot_meta_config_init(&mc);
    mc.access_token = "meta-token";
    mc.phone_number_id = "106540352242922";
    mc.base_url = "http://127.0.0.1:9/";
    v->meta = wabot_transport_meta_new(&mc);
    wabot_options *o = wabot_options_new();
    wabot_options_set_http_client(o, v->http);
    tu_env_init_opts(&v->e, o);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_ctx_add_sender(v->e.ctx, "loja", "+5511999990000",
                                          v->meta),
                     WABOT_OK);
}

static void meta_env_free(meta_env *v)
{
    tu_env_free(&v->e);
    wabot_transport_free(v->meta);
    wabot_http_client_free(v->http);
}

static json_t *request(meta_env *v, size_t i)
{
    ck_assert_uint_gt(v->client.n, i);
    json_t *j = json_loads(v->client.bodies[i], 0, NULL);
    ck_assert_ptr_nonnull(j);
    return j;
}

static const char *action(json_t *j, const char *key)
{
    json_t *a = json_object_get(json_object_get(j, "interactive"), "action");
    if (strcmp(key, "section") == 0)
        return json_string_value(json_object_get(
            json_array_get(json_object_get(a, "sections"), 0), "title"));
    return json_string_value(json_object_get(a, key));
}

START_TEST(test_meta_list_texts_come_from_the_catalog)
{
    meta_env v;
    meta_env_init(&v);
    wabot_ctx *ctx = v.e.ctx;
    customer_writes(ctx, "loja", "+5511988887777");
    wabot_use(ctx, NULL, reply_list, NULL, NULL);
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, "pt", "list_button",
                                        "Escolher"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_ctx_set_text(ctx, NULL, "pt", "list_section",
                                        "Opções"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "loja", "texts.locale",
                                              "pt-BR"),
                     WABOT_OK);
    wabot_message *m = tu_text("wamid.IN1", "+5511988887777", "menu");
    wabot_message_set_organization(m, "loja");
    ck_assert_int_eq(wabot_ctx_handle_message(ctx, m), WABOT_OK);
    wabot_message_free(m);

    /* A send in another locale, with its own button text. */
    ck_assert_int_eq(wabot_ctx_set_text(ctx, "loja", "de", "list_section",
                                        "Auswahl"),
                     WABOT_OK);
    wabot_out *o = wabot_out_new(ctx);
    wabot_out_set_org(o, "loja");
    wabot_out_set_to(o, "+5511988887777");
    wabot_out_set_locale(o, "de-AT");
    wabot_out_set_text(o, "Termin?");
    wabot_out_add_row(o, "t:1", "Montag", "9 Uhr");
    wabot_out_set_list_button(o, "Termine");
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_OK);
    wabot_out_free(o);
    tu_drain(ctx);

    json_t *j = request(&v, 0);
    ck_assert_str_eq(action(j, "button"), "Escolher");
    ck_assert_str_eq(action(j, "section"), "Opções");
    json_decref(j);
    j = request(&v, 1);
    ck_assert_str_eq(action(j, "button"), "Termine");
    ck_assert_str_eq(action(j, "section"), "Auswahl");
    json_t *row = json_array_get(json_object_get(json_array_get(
        json_object_get(json_object_get(json_object_get(j, "interactive"),
                                        "action"),
                        "sections"), 0), "rows"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(row, "description")),
                     "9 Uhr");
    json_decref(j);
    meta_env_free(&v);
}
END_TEST

/* A catalog text Meta cannot take fails the reply that would use it. */
START_TEST(test_meta_limit_on_a_catalog_text_fails_the_reply)
{
    meta_env v;
    meta_env_init(&v);
    wabot_ctx *ctx = v.e.ctx;
    ck_assert_int_eq(wabot_ctx_set_org_option(ctx, "loja", "texts.list_button",
                                              "Choose one of these options"),
                     WABOT_OK);
    wabot_out *o = wabot_out_new(ctx);
    wabot_out_set_org(o, "loja");
    wabot_out_set_to(o, "+5511988887777");
    wabot_out_set_text(o, "Which?");
    wabot_out_add_row(o, "a", "A", NULL);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_TOO_LARGE);
    assert_detail(ctx, "list button text");
    wabot_out_free(o);
    tu_drain(ctx);
    ck_assert_uint_eq(v.client.n, 0);
    meta_env_free(&v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("out");
    TCase *tc = tcase_create("builder");
    tcase_add_test(tc, test_setters_fill_the_queued_job);
    tcase_add_test(tc, test_every_limit_fails_when_set_with_status_and_detail);
    tcase_add_test(tc, test_queueing_checks_the_whole_message);
    tcase_add_test(tc, test_twilio_limit_applies_where_the_provider_is_known);
    tcase_add_test(tc, test_repeated_idempotency_key_is_exists_and_sends_once);
    tcase_add_test(tc,
                   test_correlation_id_is_generated_kept_and_recorded_with_the_send);
    tcase_add_test(tc, test_turn_reply_through_the_builder_is_addressed_by_the_turn);
    tcase_add_test(tc, test_wrappers_send_what_the_builder_sends);
    suite_add_tcase(s, tc);
    tc = tcase_create("texts");
    tcase_add_test(tc, test_texts_resolve_along_the_fallback_chain);
    tcase_add_test(tc, test_meta_list_texts_come_from_the_catalog);
    tcase_add_test(tc, test_meta_limit_on_a_catalog_text_fails_the_reply);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
