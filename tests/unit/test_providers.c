/* The Twilio and Meta transports through a canned HTTP client: every
 * request checked field by field against the providers' documented
 * formats, every error class mapped from real response bodies, and the
 * guarded outbound path (window, opt-out, limits, breaker) on a fake
 * clock. The real HTTP path is in tests/integration/test_providers.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testutil.h"

/* ---- a canned HTTP client ------------------------------------------ */

typedef struct canned {
    int code;               /* 0: fail with `fail` */
    int fail;
    const char *body;
    const char *retry_after;
} canned;

typedef struct seen {
    char method[8];
    char url[256];
    char auth[256];
    char ctype[64];
    char *body;
    int64_t timeout;
} seen;

typedef struct canned_client {
    canned answers[32];
    size_t n_answers, next;
    canned dflt;
    seen reqs[64];
    size_t n_reqs;
    /* hold: calls stay unanswered (as a busy connection) until
     * answer_held() */
    int hold;
    wabot_http_call *held[64];
    size_t n_held;
} canned_client;

static const char *header(const wabot_http_request *r, const char *name)
{
    for (size_t i = 0; i < wabot_http_request_header_count(r); i++)
        if (strcasecmp(wabot_http_request_header_name(r, i), name) == 0)
            return wabot_http_request_header_value(r, i);
    return "";
}

static int canned_start(void *impl, const wabot_http_request *r,
                        wabot_http_call *call)
{
    canned_client *c = impl;
    if (c->n_reqs < 64) {
        seen *s = &c->reqs[c->n_reqs++];
        snprintf(s->method, sizeof s->method, "%s", wabot_http_request_method(r));
        snprintf(s->url, sizeof s->url, "%s", wabot_http_request_url(r));
        snprintf(s->auth, sizeof s->auth, "%s", header(r, "Authorization"));
        snprintf(s->ctype, sizeof s->ctype, "%s", header(r, "Content-Type"));
        s->body = strdup(wabot_http_request_body(r, NULL));
        s->timeout = wabot_http_request_timeout_ms(r);
    }
    if (c->hold && c->n_held < 64) {
        c->held[c->n_held++] = call;
        return WABOT_OK;
    }
    const canned *a = c->next < c->n_answers ? &c->answers[c->next++] : &c->dflt;
    if (!a->code) {
        wabot_http_call_fail(call, a->fail ? a->fail : WABOT_ERR_TRANSPORT,
                             "connection refused");
        return WABOT_OK;
    }
    wabot_http_header h[1] = {{"Retry-After", a->retry_after}};
    wabot_http_call_done(call, a->code, h, a->retry_after ? 1 : 0, a->body,
                         strlen(a->body));
    return WABOT_OK;
}

static void canned_destroy(void *impl)
{
    canned_client *c = impl;
    for (size_t i = 0; i < c->n_reqs; i++)
        free(c->reqs[i].body);
}

static const wabot_http_client_vtable canned_vt = {
    WABOT_HTTP_CLIENT_VTABLE_VERSION, canned_start, canned_destroy};

static const char *TWILIO_OK =
    "{\"sid\":\"SM0123456789abcdef0123456789abcdef\",\"status\":\"queued\"}";
static const char *META_OK =
    "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"14155550100\","
    "\"wa_id\":\"14155550100\"}],\"messages\":[{\"id\":\"wamid.HBgLMTQxNTU1NTAxMDA\"}]}";

typedef struct env {
    tu_env e;
    canned_client client;
    wabot_http_client *http;
    wabot_transport *twilio, *meta;
} env;

static void env_init(env *v, wabot_options *o)
{
    memset(&v->client, 0, sizeof v->client);
    v->client.dflt = (canned){201, 0, TWILIO_OK, NULL};
    v->http = wabot_http_client_new(&canned_vt, &v->client);
    ck_assert_ptr_nonnull(v->http);
    wabot_twilio_config tc;
    wabot_twilio_config_init(&tc);
    tc.account_sid = "AC00000000000000000000000000000000";
    tc.auth_token = "secret-token";
    tc.from = "+14155238886";
    tc.status_callback_url = "https://bot.example.com/whatsapp/status";
    tc.base_url = "http://127.0.0.1:9";
    v->twilio = wabot_transport_twilio_new(&tc);
    ck_assert_ptr_nonnull(v->twilio);
    wabot_meta_config mc;
    wabot_meta_config_init(&mc);
    mc.access_token = "meta-token";
    mc.phone_number_id = "106540352242922";
    mc.api_version = "v21.0";
    mc.base_url = "http://127.0.0.1:9/";
    v->meta = wabot_transport_meta_new(&mc);
    ck_assert_ptr_nonnull(v->meta);
    wabot_options *own = o ? o : wabot_options_new();
    wabot_options_set_http_client(own, v->http);
    tu_env_init_opts(&v->e, own);
    if (!o)
        wabot_options_free(own);
    ck_assert_int_eq(wabot_ctx_add_sender(v->e.ctx, "acme", "+14155238886", v->twilio), WABOT_OK);
    ck_assert_int_eq(wabot_ctx_add_sender(v->e.ctx, "meta-org", "+15550009999", v->meta), WABOT_OK);
}

static void env_free(env *v)
{
    tu_env_free(&v->e);
    wabot_transport_free(v->twilio);
    wabot_transport_free(v->meta);
    wabot_http_client_free(v->http);
}

/* A customer of `org` writes (so the 24-hour window is open). */
static void customer_writes(env *v, const char *org, const char *from)
{
    static int n;
    char id[32];
    snprintf(id, sizeof id, "SMin%d", ++n);
    wabot_message *m = tu_text(id, from, "hi");
    wabot_message_set_organization(m, org);
    ck_assert_int_eq(wabot_ctx_handle_message(v->e.ctx, m), WABOT_OK);
    wabot_message_free(m);
}

static int send_text(env *v, const char *org, const char *to, const char *text,
                     wabot_out_category cat)
{
    return wabot_send_text(v->e.ctx, org, to, text, cat, NULL, NULL);
}

static json_t *body_json(const seen *s)
{
    json_error_t err;
    json_t *j = json_loads(s->body, 0, &err);
    ck_assert_msg(j != NULL, "body is not JSON: %s (%s)", s->body, err.text);
    return j;
}

static const char *jpath(json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        char *end;
        long idx = strtol(tok, &end, 10);
        cur = *end == '\0' ? json_array_get(cur, (size_t)idx)
                           : json_object_get(cur, tok);
    }
    return json_string_value(cur);
}

static void state_of(env *v, const char *id, int state, int attempts)
{
    wabot_job_info *info = NULL;
    ck_assert_int_eq(wabot_job_get(v->e.ctx, WABOT_QUEUE_OUTBOUND, id, &info), WABOT_OK);
    const wabot_job_record *r = wabot_job_info_record(info);
    ck_assert_msg(r->state == state && r->attempts == attempts,
                  "job %s: state %s attempts %d, expected %s %d (%s)", id,
                  wabot_job_state_name(r->state), r->attempts,
                  wabot_job_state_name(state), attempts,
                  r->last_error ? r->last_error : "");
    wabot_job_info_free(info);
}

START_TEST(test_twilio_text_request_matches_the_api)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    ck_assert_int_eq(wabot_send_text(v.e.ctx, "acme", "+14155550100", "Hello & bye",
                                     WABOT_CAT_NOTICE, "n1", NULL), WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    seen *s = &v.client.reqs[0];
    ck_assert_str_eq(s->method, "POST");
    ck_assert_str_eq(s->url, "http://127.0.0.1:9/2010-04-01/Accounts/"
                             "AC00000000000000000000000000000000/Messages.json");
    /* base64("AC00000000000000000000000000000000:secret-token") */
    ck_assert_str_eq(s->auth, "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDpzZWNyZXQtdG9rZW4=");
    ck_assert_str_eq(s->ctype, "application/x-www-form-urlencoded");
    ck_assert_str_eq(s->body, "To=whatsapp%3A%2B14155550100&From=whatsapp%3A%2B14155238886"
                              "&StatusCallback=https%3A%2F%2Fbot.example.com%2Fwhatsapp%2Fstatus"
                              "%3Fwabot_send%3Dn1" /* the correlation, echoed */
                              "&Body=Hello+%26+bye");
    ck_assert_int_eq(s->timeout, 10000);
    state_of(&v, "n1", WABOT_JOB_COMPLETED, 1);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.sent"), 1);
    env_free(&v);
}
END_TEST

/* Twilio's limit is 1600 characters, not bytes: a text of 1600 two-byte
 * characters (3200 bytes) goes whole, in one request (the transport counts
 * characters only when the bytes are more than the limit). */
START_TEST(test_twilio_text_of_1600_two_byte_characters_goes_whole)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    char text[2 * 1600 + 1];
    for (int i = 0; i < 1600; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    text[2 * 1600] = '\0';
    ck_assert_int_eq(send_text(&v, "acme", "+14155550100", text,
                               WABOT_CAT_NOTICE), WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    const char *body = strstr(v.client.reqs[0].body, "&Body=");
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(strlen(body), strlen("&Body=") + 6 * 1600);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.sent"), 1);
    env_free(&v);
}
END_TEST

/* The id is part of the callback URL, which is itself a form value: it
 * is form-encoded twice (an escape's '%' again, a space's '+' too). */
START_TEST(test_twilio_status_callback_carries_an_id_needing_escapes)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    ck_assert_int_eq(wabot_send_text(v.e.ctx, "acme", "+14155550100", "hi",
                                     WABOT_CAT_NOTICE, "in:1/r 2~", NULL),
                     WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    ck_assert_str_eq(v.client.reqs[0].body,
                     "To=whatsapp%3A%2B14155550100&From=whatsapp%3A%2B14155238886"
                     "&StatusCallback=https%3A%2F%2Fbot.example.com%2Fwhatsapp%2Fstatus"
                     "%3Fwabot_send%3Din%253A1%252Fr%2B2~"
                     "&Body=hi");
    env_free(&v);
}
END_TEST

START_TEST(test_twilio_media_buttons_and_templates)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    const char *params[] = {"Maria", "#42"};
    ck_assert_int_eq(wabot_send_template(v.e.ctx, "acme", "+14155550100",
                                         "HX0123456789abcdef0123456789abcdef", "en",
                                         2, params, WABOT_CAT_NOTICE, "t1", NULL),
                     WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    ck_assert_ptr_nonnull(strstr(v.client.reqs[0].body,
                                 "&ContentSid=HX0123456789abcdef0123456789abcdef"
                                 "&ContentVariables=%7B%221%22%3A%22Maria%22%2C%222%22%3A%22%2342%22%7D"));
    ck_assert_ptr_null(strstr(v.client.reqs[0].body, "Body="));
    env_free(&v);
}
END_TEST

static int reply_rich(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *ids[] = {"confirm:yes", "confirm:no"};
    const char *titles[] = {"Yes", "No"};
    wabot_reply_text(t, "Thanks!");
    wabot_reply_media(t, "https://cdn.example.com/menu.pdf?v=2", "Our menu");
    wabot_reply_media(t, "https://cdn.example.com/cake.JPG", NULL);
    wabot_reply_buttons(t, "Confirm?", 2, ids, titles);
    return wabot_reply_list(t, "Pick one", 2, ids, titles);
}

START_TEST(test_meta_requests_match_the_cloud_api)
{
    env v;
    env_init(&v, NULL);
    v.client.dflt = (canned){200, 0, META_OK, NULL};
    wabot_use(v.e.ctx, NULL, reply_rich, NULL, NULL);
    wabot_message *m = tu_text("wamid.INBOUND1", "+14155550100", "menu");
    wabot_message_set_organization(m, "meta-org");
    ck_assert_int_eq(wabot_ctx_handle_message(v.e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(v.client.reqs[i].url,
                         "http://127.0.0.1:9/v21.0/106540352242922/messages");
        ck_assert_str_eq(v.client.reqs[i].auth, "Bearer meta-token");
        ck_assert_str_eq(v.client.reqs[i].ctype, "application/json");
    }
    json_t *j = body_json(&v.client.reqs[0]);
    ck_assert_str_eq(jpath(j, "messaging_product"), "whatsapp");
    ck_assert_str_eq(jpath(j, "recipient_type"), "individual");
    ck_assert_str_eq(jpath(j, "to"), "14155550100");
    ck_assert_str_eq(jpath(j, "type"), "text");
    ck_assert_str_eq(jpath(j, "text.body"), "Thanks!");
    ck_assert_str_eq(jpath(j, "context.message_id"), "wamid.INBOUND1");
    /* the correlation Meta echoes in statuses[]: the outbound id */
    ck_assert_str_eq(jpath(j, "biz_opaque_callback_data"),
                     "wamid.INBOUND1:r0");
    json_decref(j);
    j = body_json(&v.client.reqs[1]);
    ck_assert_str_eq(jpath(j, "type"), "document");
    ck_assert_str_eq(jpath(j, "document.link"), "https://cdn.example.com/menu.pdf?v=2");
    ck_assert_str_eq(jpath(j, "document.caption"), "Our menu");
    ck_assert_str_eq(jpath(j, "document.filename"), "menu.pdf");
    json_decref(j);
    j = body_json(&v.client.reqs[2]);
    ck_assert_str_eq(jpath(j, "type"), "image");
    ck_assert_str_eq(jpath(j, "image.link"), "https://cdn.example.com/cake.JPG");
    json_decref(j);
    j = body_json(&v.client.reqs[3]);
    ck_assert_str_eq(jpath(j, "type"), "interactive");
    ck_assert_str_eq(jpath(j, "interactive.type"), "button");
    ck_assert_str_eq(jpath(j, "interactive.body.text"), "Confirm?");
    ck_assert_str_eq(jpath(j, "interactive.action.buttons.1.type"), "reply");
    ck_assert_str_eq(jpath(j, "interactive.action.buttons.1.reply.id"), "confirm:no");
    ck_assert_str_eq(jpath(j, "interactive.action.buttons.1.reply.title"), "No");
    json_decref(j);
    j = body_json(&v.client.reqs[4]);
    ck_assert_str_eq(jpath(j, "interactive.type"), "list");
    ck_assert_str_eq(jpath(j, "interactive.action.button"), "Choose");
    ck_assert_str_eq(jpath(j, "interactive.action.sections.0.rows.0.id"), "confirm:yes");
    json_decref(j);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.sent"), 5);
    env_free(&v);
}
END_TEST

START_TEST(test_meta_template_components)
{
    env v;
    env_init(&v, NULL);
    v.client.dflt = (canned){200, 0, META_OK, NULL};
    const char *params[] = {"Maria"};
    ck_assert_int_eq(wabot_send_template(v.e.ctx, "meta-org", "+14155550100",
                                         "order_update", "en_US", 1, params,
                                         WABOT_CAT_NOTICE, NULL, NULL), WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    json_t *j = body_json(&v.client.reqs[0]);
    ck_assert_str_eq(jpath(j, "type"), "template");
    ck_assert_str_eq(jpath(j, "template.name"), "order_update");
    ck_assert_str_eq(jpath(j, "template.language.code"), "en_US");
    ck_assert_str_eq(jpath(j, "template.components.0.type"), "body");
    ck_assert_str_eq(jpath(j, "template.components.0.parameters.0.text"), "Maria");
    json_decref(j);
    env_free(&v);
}
END_TEST

START_TEST(test_classification_table)
{
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 201, 0), WABOT_OK);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 0, 0), WABOT_ERR_TRANSPORT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 429, 20429), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 400, 63018), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 400, 21211), WABOT_ERR_PERMANENT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 400, 63024), WABOT_ERR_PERMANENT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_TWILIO, 400, 63016), WABOT_ERR_WINDOW_CLOSED);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 429, 130429), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 400, 131056), WABOT_ERR_RATE_LIMITED);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 400, 131047), WABOT_ERR_WINDOW_CLOSED);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 400, 131026), WABOT_ERR_PERMANENT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 403, 368), WABOT_ERR_PERMANENT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 400, 131050), WABOT_ERR_PERMANENT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 500, 2), WABOT_ERR_TRANSPORT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 503, 0), WABOT_ERR_TRANSPORT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 401, 190), WABOT_ERR_TRANSPORT);
    ck_assert_int_eq(wabot_provider_classify(WABOT_PROVIDER_META, 400, 99999), WABOT_ERR_PERMANENT);
}
END_TEST

typedef struct error_case {
    const char *org;
    canned answer;
    int job_state;
    int attempts;
    const char *counter;
} error_case;

static const error_case error_cases[] = {
    {"acme", {400, 0, "{\"code\":21211,\"message\":\"The 'To' number is not a valid phone number.\","
              "\"more_info\":\"https://www.twilio.com/docs/errors/21211\",\"status\":400}", NULL},
     WABOT_JOB_FAILED, 1, "outbound.refused"},
    {"meta-org", {400, 0, "{\"error\":{\"message\":\"(#131047) Re-engagement message\",\"type\":"
                  "\"OAuthException\",\"code\":131047,\"error_data\":{\"messaging_product\":"
                  "\"whatsapp\",\"details\":\"More than 24 hours have passed\"},\"fbtrace_id\":\"A\"}}", NULL},
     WABOT_JOB_FAILED, 1, "outbound.refused"},
    {"meta-org", {429, 0, "{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":"
                  "\"OAuthException\",\"code\":130429,\"fbtrace_id\":\"B\"}}", "7"},
     WABOT_JOB_DELAYED, 0, "outbound.throttled"},
    {"acme", {503, 0, "{\"code\":20503,\"message\":\"Service unavailable\",\"status\":503}", NULL},
     WABOT_JOB_DELAYED, 1, "jobs.outbound.retried"},
    {"meta-org", {0, WABOT_ERR_TIMEOUT, "", NULL}, WABOT_JOB_DELAYED, 1, "jobs.outbound.retried"},
};

START_TEST(test_error_answers_are_classified)
{
    const error_case *c = &error_cases[_i];
    env v;
    env_init(&v, NULL);
    v.client.answers[0] = c->answer;
    v.client.n_answers = 1;
    customer_writes(&v, c->org, "+14155550100");
    ck_assert_int_eq(wabot_send_text(v.e.ctx, c->org, "+14155550100", "hi",
                                     WABOT_CAT_REPLY, "e1", NULL), WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    state_of(&v, "e1", c->job_state, c->attempts);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, c->counter), 1);
    if (c->answer.retry_after) { /* Retry-After: 7 s */
        ck_assert_int_eq(wabot_ctx_next_timeout_ms(v.e.ctx), 7000);
    }
    env_free(&v);
}
END_TEST

START_TEST(test_outside_window_fails_without_a_request)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    tu_clock_advance(&v.e.clock, 24 * 3600 * 1000 + 1);
    ck_assert_int_eq(wabot_send_text(v.e.ctx, "acme", "+14155550100", "late",
                                     WABOT_CAT_NOTICE, "w1", NULL), WABOT_OK);
    ck_assert_int_eq(wabot_send_text(v.e.ctx, "acme", "+14155550199", "never wrote",
                                     WABOT_CAT_NOTICE, "w2", NULL), WABOT_OK);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 0);
    state_of(&v, "w1", WABOT_JOB_FAILED, 1);
    state_of(&v, "w2", WABOT_JOB_FAILED, 1);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.window_closed"), 2);
    env_free(&v);
}
END_TEST

START_TEST(test_inside_window_free_text_goes)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    tu_clock_advance(&v.e.clock, 24 * 3600 * 1000 - 1);
    send_text(&v, "acme", "+14155550100", "still in time", WABOT_CAT_NOTICE);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    ck_assert_ptr_nonnull(strstr(v.client.reqs[0].body, "Body=still+in+time"));
    env_free(&v);
}
END_TEST

START_TEST(test_outside_window_template_fallback_goes)
{
    env v;
    env_init(&v, NULL);
    v.client.dflt = (canned){200, 0, META_OK, NULL};
    ck_assert_int_eq(wabot_ctx_set_window_template(v.e.ctx, WABOT_CAT_REMINDER,
                                                   "reminder_generic", "en"), WABOT_OK);
    customer_writes(&v, "meta-org", "+14155550100");
    tu_clock_advance(&v.e.clock, 48 * 3600 * 1000);
    send_text(&v, "meta-org", "+14155550100", "Your payment is due", WABOT_CAT_REMINDER);
    send_text(&v, "meta-org", "+14155550100", "no fallback for notices", WABOT_CAT_NOTICE);
    tu_clock_advance(&v.e.clock, 7000); /* the pair limit spaces them */
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    json_t *j = body_json(&v.client.reqs[0]);
    ck_assert_str_eq(jpath(j, "type"), "template");
    ck_assert_str_eq(jpath(j, "template.name"), "reminder_generic");
    ck_assert_str_eq(jpath(j, "template.components.0.parameters.0.text"), "Your payment is due");
    json_decref(j);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.window_fallback"), 1);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.window_closed"), 1);
    env_free(&v);
}
END_TEST

START_TEST(test_opted_out_customer_gets_no_campaign_or_reminder)
{
    env v;
    env_init(&v, NULL);
    customer_writes(&v, "acme", "+14155550100");
    ck_assert_int_eq(wabot_customer_set_opted_out(v.e.ctx, "acme", "+14155550100", 1), WABOT_OK);
    send_text(&v, "acme", "+14155550100", "50% off!", WABOT_CAT_CAMPAIGN);
    send_text(&v, "acme", "+14155550100", "pay now", WABOT_CAT_REMINDER);
    send_text(&v, "acme", "+14155550100", "your order shipped", WABOT_CAT_NOTICE);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1);
    ck_assert_ptr_nonnull(strstr(v.client.reqs[0].body, "shipped"));
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.opted_out"), 2);
    env_free(&v);
}
END_TEST

START_TEST(test_pair_limit_spaces_sends_to_one_recipient)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_BURST, 3);
    env v;
    env_init(&v, o);
    wabot_options_free(o);
    customer_writes(&v, "acme", "+14155550100");
    for (int i = 0; i < 8; i++)
        send_text(&v, "acme", "+14155550100", "x", WABOT_CAT_NOTICE);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 4); /* one + a burst of 3 */
    for (int step = 1; step <= 4; step++) {
        tu_clock_advance(&v.e.clock, 5999);
        tu_drain(v.e.ctx);
        ck_assert_uint_eq(v.client.n_reqs, 3 + (size_t)step);
        tu_clock_advance(&v.e.clock, 1);
        tu_drain(v.e.ctx);
        ck_assert_uint_eq(v.client.n_reqs, 4 + (size_t)step);
    }
    ck_assert_int_ge(wabot_metrics_counter(v.e.ctx, "outbound.throttled"), 4);
    int64_t n[WABOT_JOB_STATE_COUNT];
    wabot_queue_counts(v.e.ctx, WABOT_QUEUE_OUTBOUND, n, WABOT_JOB_STATE_COUNT);
    ck_assert_int_eq(n[WABOT_JOB_COMPLETED], 8);
    ck_assert_int_eq(n[WABOT_JOB_FAILED], 0);
    env_free(&v);
}
END_TEST

START_TEST(test_sender_rate_limits_one_number)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, 10);
    env v;
    env_init(&v, o);
    wabot_options_free(o);
    char to[32];
    for (int i = 0; i < 35; i++) {
        snprintf(to, sizeof to, "+1415555%04d", i);
        customer_writes(&v, "acme", to);
        send_text(&v, "acme", to, "hello", WABOT_CAT_NOTICE);
    }
    for (int sec = 0; sec < 4; sec++) {
        size_t before = v.client.n_reqs;
        for (int ms = 0; ms < 1000; ms += 10) {
            tu_drain(v.e.ctx);
            tu_clock_advance(&v.e.clock, 10);
        }
        /* 10 per second, plus a burst of a tenth of that (1) */
        ck_assert_msg(v.client.n_reqs - before <= 11, "second %d: %zu sends",
                      sec, v.client.n_reqs - before);
        ck_assert_uint_ge(v.client.n_reqs - before, sec < 3 ? 10 : 0);
    }
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 35);
    env_free(&v);
}
END_TEST

/* Answer every held call with the default answer. */
static void answer_held(canned_client *c)
{
    size_t n = c->n_held;
    c->n_held = 0;
    for (size_t i = 0; i < n; i++)
        wabot_http_call_done(c->held[i], c->dflt.code, NULL, 0, c->dflt.body,
                             strlen(c->dflt.body));
}

/* 64 messages admitted at once over 4 connections, sender pacing at
 * rate_per_s (0: no pacing); the provider holds every request. */
static void env_init_held(env *v, int64_t rate_per_s)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_OUTBOUND_CONCURRENCY, 64);
    wabot_options_set_int(o, WABOT_OPT_HTTP_HOST_CONNECTIONS, 4);
    wabot_options_set_int(o, WABOT_OPT_RATE_SENDER_PER_S, rate_per_s);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    env_init(v, o);
    wabot_options_free(o);
    v->client.hold = 1;
}

static void thirty_customers_get_a_notice(env *v)
{
    char to[32];
    for (int i = 0; i < 30; i++) {
        snprintf(to, sizeof to, "+1415555%04d", i);
        customer_writes(v, "acme", to);
        send_text(v, "acme", to, "hello", WABOT_CAT_NOTICE);
    }
}

static void all_thirty_completed(env *v)
{
    int64_t n[WABOT_JOB_STATE_COUNT];
    wabot_queue_counts(v->e.ctx, WABOT_QUEUE_OUTBOUND, n, WABOT_JOB_STATE_COUNT);
    ck_assert_int_eq(n[WABOT_JOB_COMPLETED], 30);
}

/* outbound_concurrency above http_host_connections with pacing on: the
 * messages admitted beyond the connections wait in the worker without
 * taking a rate-limit unit, and leave as connections free, paced then
 * (handed to the client at once, they would wait for a connection after
 * their unit was spent and leave together). */
START_TEST(test_paced_sends_beyond_the_connections_wait_without_spending_units)
{
    env v;
    env_init_held(&v, 100);
    thirty_customers_get_a_notice(&v);
    /* The provider holds every request for a second: four are in flight
     * (the limit's burst would allow 11), the rest wait, unthrottled. */
    for (int ms = 0; ms < 1000; ms += 10) {
        tu_drain(v.e.ctx);
        ck_assert_uint_eq(v.client.n_reqs, 4);
        tu_clock_advance(&v.e.clock, 10);
    }
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.throttled"), 0);
    /* Answered: each answer frees a connection for the next message. */
    answer_held(&v.client);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 8);
    ck_assert_uint_eq(v.client.n_held, 4);
    /* Answered at once from now on: paced at 100/s, burst 10 (the units
     * not spent while waiting are there, no more). */
    v.client.hold = 0;
    answer_held(&v.client);
    size_t before = v.client.n_reqs;
    for (int ms = 0; ms < 100; ms += 10) {
        tu_drain(v.e.ctx);
        tu_clock_advance(&v.e.clock, 10);
    }
    ck_assert_uint_le(v.client.n_reqs - before, 10 + 10);
    for (int ms = 0; ms < 2000; ms += 10) {
        tu_drain(v.e.ctx);
        tu_clock_advance(&v.e.clock, 10);
    }
    ck_assert_uint_eq(v.client.n_reqs, 30);
    all_thirty_completed(&v);
    env_free(&v);
}
END_TEST

/* Without pacing nothing waits in the worker: every admitted message is
 * handed to the client, which starts each as a connection frees. */
START_TEST(test_unpaced_sends_are_handed_to_the_client_at_once)
{
    env v;
    env_init_held(&v, 0);
    thirty_customers_get_a_notice(&v);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 30);
    v.client.hold = 0;
    answer_held(&v.client);
    tu_drain(v.e.ctx);
    all_thirty_completed(&v);
    env_free(&v);
}
END_TEST

START_TEST(test_breaker_opens_delays_and_recovers_without_losing_jobs)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_BREAKER_MIN_VOLUME, 5);
    wabot_options_set_int(o, WABOT_OPT_RATE_PAIR_PERIOD_MS, 0);
    env v;
    env_init(&v, o);
    wabot_options_free(o);
    v.client.dflt = (canned){503, 0, "{\"code\":20503,\"message\":\"down\"}", NULL};
    char to[32];
    for (int i = 0; i < 30; i++) {
        snprintf(to, sizeof to, "+1415555%04d", i);
        customer_writes(&v, "acme", to);
        send_text(&v, "acme", to, "hello", WABOT_CAT_NOTICE);
    }
    tu_drain(v.e.ctx);
    size_t at_open = v.client.n_reqs;
    ck_assert_uint_eq(at_open, 5); /* opened at min_volume failures */
    ck_assert_int_ge(wabot_metrics_counter(v.e.ctx, "outbound.circuit_open"), 1);
    /* Open for 30 s: nothing reaches the provider, nothing fails. */
    for (int i = 0; i < 29; i++) {
        tu_clock_advance(&v.e.clock, 1000);
        tu_drain(v.e.ctx);
    }
    ck_assert_uint_eq(v.client.n_reqs, at_open);
    /* The provider recovers; half-open probes succeed; all go out. */
    v.client.dflt = (canned){201, 0, TWILIO_OK, NULL};
    for (int i = 0; i < 40; i++) {
        tu_clock_advance(&v.e.clock, 1000);
        tu_drain(v.e.ctx);
    }
    int64_t n[WABOT_JOB_STATE_COUNT];
    wabot_queue_counts(v.e.ctx, WABOT_QUEUE_OUTBOUND, n, WABOT_JOB_STATE_COUNT);
    ck_assert_int_eq(n[WABOT_JOB_COMPLETED], 30);
    ck_assert_int_eq(n[WABOT_JOB_FAILED], 0);
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.sent"), 30);
    env_free(&v);
}
END_TEST

START_TEST(test_transport_constructors_validate)
{
    wabot_twilio_config tc;
    wabot_twilio_config_init(&tc);
    ck_assert_ptr_null(wabot_transport_twilio_new(&tc));
    tc.account_sid = "AC1";
    tc.auth_token = "t";
    ck_assert_ptr_null(wabot_transport_twilio_new(&tc)); /* no sender */
    tc.from = "not a number";
    ck_assert_ptr_null(wabot_transport_twilio_new(&tc));
    tc.from = "+14155238886";
    tc.base_url = "ftp://x";
    ck_assert_ptr_null(wabot_transport_twilio_new(&tc));
    tc.base_url = NULL;
    wabot_transport *t = wabot_transport_twilio_new(&tc);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(wabot_transport_name(t), "twilio");
    wabot_transport_free(t);
    wabot_meta_config mc;
    wabot_meta_config_init(&mc);
    mc.access_token = "x";
    ck_assert_ptr_null(wabot_transport_meta_new(&mc));
    mc.phone_number_id = "1/../2";
    ck_assert_ptr_null(wabot_transport_meta_new(&mc));
    mc.phone_number_id = "123";
    t = wabot_transport_meta_new(&mc);
    ck_assert_ptr_nonnull(t);
    wabot_transport_free(t);
}
END_TEST

START_TEST(test_senders_map_numbers_to_organisations)
{
    env v;
    env_init(&v, NULL);
    ck_assert_int_eq(wabot_ctx_add_sender(v.e.ctx, "other", "whatsapp:+14155238886", v.meta),
                     WABOT_ERR_EXISTS);
    ck_assert_int_eq(wabot_ctx_add_sender(v.e.ctx, "", "+14155238000", v.meta), WABOT_ERR_INVAL);
    /* An inbound message to the acme number belongs to acme. */
    wabot_message *m = wabot_message_new("SMorg", "+14155550100", "+14155238886");
    ck_assert_int_eq(wabot_ctx_handle_message(v.e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(v.e.ctx, "acme", "+14155550100", &c), WABOT_OK);
    wabot_customer_free(c);
    env_free(&v);
}
END_TEST

/* Two contexts on one storage stand for two processes on one Redis: when
 * A's breaker opens, B holds its sends too, although B saw no failure. */
START_TEST(test_open_breaker_is_shared_through_storage)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_BREAKER_MIN_VOLUME, 3);
    env a;
    env_init(&a, o);
    wabot_options_free(o);
    a.client.dflt = (canned){503, 0, "{\"code\":20503,\"message\":\"down\"}", NULL};
    /* B: same storage and clock, its own HTTP client and breaker. */
    canned_client bc;
    memset(&bc, 0, sizeof bc);
    bc.dflt = (canned){201, 0, TWILIO_OK, NULL};
    wabot_http_client *bh = wabot_http_client_new(&canned_vt, &bc);
    wabot_clock k = tu_clock_wabot(&a.e.clock);
    o = wabot_options_new();
    wabot_options_set_clock(o, &k);
    wabot_options_set_storage(o, a.e.storage);
    wabot_options_set_http_client(o, bh);
    wabot_ctx *b;
    ck_assert_int_eq(wabot_ctx_new(&b, o), WABOT_OK);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_ctx_add_sender(b, "acme", "+14155238886", a.twilio), WABOT_OK);
    char to[32];
    for (int i = 0; i < 3; i++) {
        snprintf(to, sizeof to, "+1415555%04d", i);
        customer_writes(&a, "acme", to);
        send_text(&a, "acme", to, "from A", WABOT_CAT_NOTICE);
    }
    tu_drain(a.e.ctx);
    ck_assert_uint_eq(a.client.n_reqs, 3); /* A's breaker is now open */
    ck_assert_int_eq(wabot_send_text(b, "acme", "+14155550000", "from B",
                                     WABOT_CAT_NOTICE, NULL, NULL), WABOT_OK);
    tu_drain(b);
    ck_assert_uint_eq(bc.n_reqs, 0);
    ck_assert_int_eq(wabot_metrics_counter(b, "outbound.circuit_open"), 1);
    tu_clock_advance(&a.e.clock, 30001); /* the shared opening expires */
    tu_drain(b);
    ck_assert_uint_eq(bc.n_reqs, 1);
    wabot_ctx_free(b);
    wabot_http_client_free(bh); /* frees what bc recorded */
    env_free(&a);
}
END_TEST

static int reply_inline(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *ids[] = {"a"}, *titles[] = {"A"};
    wabot_reply_text(t, "Fish & <chips>");
    wabot_reply_media(t, "https://cdn.example.com/m.jpg", "Menu");
    return wabot_reply_buttons(t, "Pick", 1, ids, titles);
}

static wabot_http_response *post_twilio(wabot_ctx *ctx, const char *sid)
{
    wabot_http_header h[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    char body[256];
    snprintf(body, sizeof body, "MessageSid=%s&From=whatsapp%%3A%%2B14155550100"
             "&To=whatsapp%%3A%%2B14155238886&Body=hi", sid);
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(ctx, "POST", "/whatsapp/webhook", h, 1,
                                       body, strlen(body), &r), WABOT_OK);
    ck_assert_int_eq(wabot_http_response_status(r), 200);
    return r;
}

START_TEST(test_inline_twiml_carries_text_and_media_replies)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_TWILIO_INLINE_REPLIES, 1);
    wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0);
    env v;
    env_init(&v, o);
    wabot_options_free(o);
    wabot_use(v.e.ctx, NULL, reply_inline, NULL, NULL);
    wabot_http_response *r = post_twilio(v.e.ctx, "SM00000000000000000000000000000011");
    ck_assert_str_eq(wabot_http_response_content_type(r), "text/xml");
    ck_assert_str_eq(wabot_http_response_body(r, NULL),
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
                     "<Message>Fish &amp; &lt;chips&gt;</Message>"
                     "<Message><Body>Menu</Body><Media>https://cdn.example.com/m.jpg"
                     "</Media></Message></Response>");
    wabot_http_response_free(r);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 1); /* the buttons need the API */
    ck_assert_int_eq(wabot_metrics_counter(v.e.ctx, "outbound.inline"), 2);
    env_free(&v);
}
END_TEST

START_TEST(test_without_inline_option_replies_use_the_api)
{
    wabot_options *o = wabot_options_new();
    wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0);
    env v;
    env_init(&v, o);
    wabot_options_free(o);
    wabot_use(v.e.ctx, NULL, reply_inline, NULL, NULL);
    wabot_http_response *r = post_twilio(v.e.ctx, "SM00000000000000000000000000000012");
    ck_assert_ptr_nonnull(strstr(wabot_http_response_body(r, NULL), "<Response/>"));
    wabot_http_response_free(r);
    tu_drain(v.e.ctx);
    ck_assert_uint_eq(v.client.n_reqs, 3);
    env_free(&v);
}
END_TEST

static Suite *providers_suite(void)
{
    Suite *s = suite_create("providers");
    TCase *tc = tcase_create("providers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_twilio_text_request_matches_the_api);
    tcase_add_test(tc, test_twilio_text_of_1600_two_byte_characters_goes_whole);
    tcase_add_test(tc, test_twilio_status_callback_carries_an_id_needing_escapes);
    tcase_add_test(tc, test_twilio_media_buttons_and_templates);
    tcase_add_test(tc, test_meta_requests_match_the_cloud_api);
    tcase_add_test(tc, test_meta_template_components);
    tcase_add_test(tc, test_classification_table);
    tcase_add_loop_test(tc, test_error_answers_are_classified, 0,
                        sizeof error_cases / sizeof *error_cases);
    tcase_add_test(tc, test_outside_window_fails_without_a_request);
    tcase_add_test(tc, test_inside_window_free_text_goes);
    tcase_add_test(tc, test_outside_window_template_fallback_goes);
    tcase_add_test(tc, test_opted_out_customer_gets_no_campaign_or_reminder);
    tcase_add_test(tc, test_pair_limit_spaces_sends_to_one_recipient);
    tcase_add_test(tc, test_sender_rate_limits_one_number);
    tcase_add_test(tc, test_paced_sends_beyond_the_connections_wait_without_spending_units);
    tcase_add_test(tc, test_unpaced_sends_are_handed_to_the_client_at_once);
    tcase_add_test(tc, test_breaker_opens_delays_and_recovers_without_losing_jobs);
    tcase_add_test(tc, test_open_breaker_is_shared_through_storage);
    tcase_add_test(tc, test_inline_twiml_carries_text_and_media_replies);
    tcase_add_test(tc, test_without_inline_option_replies_use_the_api);
    tcase_add_test(tc, test_transport_constructors_validate);
    tcase_add_test(tc, test_senders_map_numbers_to_organisations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(providers_suite());
}
