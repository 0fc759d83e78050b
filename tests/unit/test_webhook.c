/* The webhook: wabot_http_handle() routing and answers, the Twilio form
 * parser, the Meta Cloud API JSON parser, limits and rejections. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "internal/webhook.h"

#define TWILIO_PATH "/whatsapp/webhook"
#define META_PATH "/whatsapp-v2/webhook"
#define CT_FORM "application/x-www-form-urlencoded"
#define CT_JSON "application/json"

/* ---- fixture: a context whose only middleware records messages ------ */

typedef struct seen_msg {
    int provider, type;
    char id[64], from[32], to[32], to_id[64], profile[64];
    char text[256], payload[128], title[128];
    size_t n_media;
    char media_url[3][128], media_type[3][64];
    int has_loc;
    double lat, lon;
    char loc_name[64], loc_addr[128];
    int64_t ts;
} seen_msg;

static tu_env env;
static seen_msg seen[16];
static size_t n_seen;
static int mw_status; /* what the recording middleware returns */

#define COPY(dst, s) snprintf((dst), sizeof(dst), "%s", (s))

static int record_mw(wabot_turn *t, void *ud)
{
    (void)ud;
    const wabot_message *m = wabot_turn_message(t);
    ck_assert_uint_lt(n_seen, sizeof seen / sizeof seen[0]);
    seen_msg *s = &seen[n_seen++];
    s->provider = wabot_message_provider(m);
    s->type = wabot_message_type(m);
    COPY(s->id, wabot_message_id(m));
    COPY(s->from, wabot_message_from(m));
    COPY(s->to, wabot_message_to(m));
    COPY(s->to_id, wabot_message_to_id(m));
    COPY(s->profile, wabot_message_profile_name(m));
    COPY(s->text, wabot_message_text(m));
    COPY(s->payload, wabot_message_payload(m));
    COPY(s->title, wabot_message_payload_title(m));
    s->n_media = wabot_message_media_count(m);
    for (size_t i = 0; i < s->n_media && i < 3; i++) {
        COPY(s->media_url[i], wabot_message_media_url(m, i));
        COPY(s->media_type[i], wabot_message_media_type(m, i));
    }
    s->has_loc = wabot_message_location(m, &s->lat, &s->lon);
    COPY(s->loc_name, wabot_message_location_name(m));
    COPY(s->loc_addr, wabot_message_location_address(m));
    s->ts = wabot_message_timestamp_ms(m);
    return mw_status; /* the router is not under test: the turn ends here */
}

static void use_recorder(void)
{
    n_seen = 0;
    mw_status = WABOT_OK;
    ck_assert_int_eq(wabot_use(env.ctx, "record", record_mw, NULL, NULL),
                     WABOT_OK);
}

/* Options every fixture of this suite starts from: the parsers are under
 * test here, so requests are unsigned (test_security.c covers
 * signatures), and the same message may be posted again and again
 * (without the inbound dedup and rate limit). */
static wabot_options *parser_options(void)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_VERIFY_SIGNATURES, 0),
                     WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_DEDUP, 0), WABOT_OK);
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT, 0),
                     WABOT_OK);
    return o;
}

static void init_env(void)
{
    wabot_options *o = parser_options();
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
}

static void setup(void)
{
    init_env();
    use_recorder();
}

static void teardown(void)
{
    tu_env_free(&env);
}

/* Rebuild the fixture with one integer option changed. */
static void reinit_with(wabot_option opt, int64_t value)
{
    tu_env_free(&env);
    wabot_options *o = parser_options();
    ck_assert_int_eq(wabot_options_set_int(o, opt, value), WABOT_OK);
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
    use_recorder();
}

static int64_t counter(const char *name)
{
    return wabot_metrics_counter(env.ctx, name);
}

/* ---- requests ------------------------------------------------------- */

static wabot_http_response *request(const char *method, const char *target,
                                    const char *ctype, const char *body,
                                    size_t len)
{
    wabot_http_header h[] = {{"Content-Type", ctype}};
    wabot_http_response *r = NULL;
    int rc = wabot_http_handle(env.ctx, method, target, h, ctype ? 1 : 0,
                               body, len, &r);
    ck_assert_msg(rc == WABOT_OK, "wabot_http_handle: %s (%s)",
                  wabot_strerror(rc), wabot_ctx_errmsg(env.ctx));
    ck_assert_ptr_nonnull(r);
    return r;
}

static wabot_http_response *post(const char *target, const char *ctype,
                                 const char *body)
{
    return request("POST", target, ctype, body, body ? strlen(body) : 0);
}

static wabot_http_response *post_twilio(const char *form)
{
    return post(TWILIO_PATH, CT_FORM, form);
}

/* JSON in tests is written with single quotes for readability. */
static wabot_http_response *post_meta(const char *single_quoted)
{
    char *json = strdup(single_quoted);
    ck_assert_ptr_nonnull(json);
    for (char *p = json; *p; p++)
        if (*p == '\'')
            *p = '"';
    wabot_http_response *r = post(META_PATH, CT_JSON, json);
    free(json);
    return r;
}

static void assert_ok(wabot_http_response *r)
{
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_msg(wabot_http_response_status(r) == 200, "status %d: %s",
                  wabot_http_response_status(r), body);
    wabot_http_response_free(r);
}

/* Assert an error answer: status, JSON body {"error":{code,message}},
 * message containing `detail`, and the rejection counter. Frees r. */
static void assert_error(wabot_http_response *r, int status, const char *code,
                         const char *detail)
{
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_msg(wabot_http_response_status(r) == status,
                  "status %d, expected %d: %s",
                  wabot_http_response_status(r), status, body);
    ck_assert_str_eq(wabot_http_response_content_type(r), CT_JSON);
    ck_assert_uint_eq(strlen(body), len);
    json_error_t e;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(root != NULL, "error body is not JSON: %s", body);
    json_t *err = json_object_get(root, "error");
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    const char *msg = json_string_value(json_object_get(err, "message"));
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, detail) != NULL,
                  "message '%s' does not mention '%s'", msg, detail);
    json_decref(root);
    char name[96];
    snprintf(name, sizeof name, "webhook.rejected.%s", code);
    ck_assert_int_ge(counter(name), 1);
    wabot_http_response_free(r);
}

/* ---- Twilio payloads ------------------------------------------------ */

#define TW_COMMON                                                           \
    "SmsMessageSid=SM5b2d3f1e0c4a4b6e8f9a0b1c2d3e4f50"                      \
    "&ProfileName=Jane+Doe&SmsSid=SM5b2d3f1e0c4a4b6e8f9a0b1c2d3e4f50"        \
    "&WaId=14155550123&SmsStatus=received&To=whatsapp%3A%2B14155238886"      \
    "&NumSegments=1&MessageSid=SM5b2d3f1e0c4a4b6e8f9a0b1c2d3e4f50"           \
    "&AccountSid=AC0123456789abcdef0123456789abcdef"                         \
    "&From=whatsapp%3A%2B14155550123&ApiVersion=2010-04-01"

START_TEST(test_twilio_text_message_is_handled)
{
    wabot_http_response *r =
        post_twilio(TW_COMMON "&NumMedia=0&Body=Hello+there%21+%F0%9F%91%8B");
    ck_assert_str_eq(wabot_http_response_content_type(r), "text/xml");
    size_t len;
    ck_assert_str_eq(wabot_http_response_body(r, &len), WB_TWIML_EMPTY);
    assert_ok(r);
    ck_assert_uint_eq(n_seen, 1);
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->provider, WABOT_PROVIDER_TWILIO);
    ck_assert_int_eq(s->type, WABOT_MSG_TEXT);
    ck_assert_str_eq(s->id, "SM5b2d3f1e0c4a4b6e8f9a0b1c2d3e4f50");
    ck_assert_str_eq(s->from, "+14155550123");
    ck_assert_str_eq(s->to, "+14155238886");
    ck_assert_str_eq(s->to_id, "AC0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(s->profile, "Jane Doe");
    ck_assert_str_eq(s->text, "Hello there! \xF0\x9F\x91\x8B");
    ck_assert_int_eq(s->ts, TU_EPOCH_MS);
    ck_assert_int_eq(s->has_loc, 0);
}
END_TEST

START_TEST(test_twilio_media_message_has_every_item)
{
    assert_ok(post_twilio(
        TW_COMMON "&NumMedia=2&Body=Two+photos"
                  "&MediaContentType0=image%2Fjpeg"
                  "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2F"
                  "Accounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME1"
                  "&MediaContentType1=application%2Fpdf"
                  "&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2FME2"));
    ck_assert_uint_eq(n_seen, 1);
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_IMAGE);
    ck_assert_str_eq(s->text, "Two photos");
    ck_assert_uint_eq(s->n_media, 2);
    ck_assert_str_eq(s->media_url[0], "https://api.twilio.com/2010-04-01/"
                                      "Accounts/AC1/Messages/MM1/Media/ME1");
    ck_assert_str_eq(s->media_type[0], "image/jpeg");
    ck_assert_str_eq(s->media_url[1], "https://api.twilio.com/ME2");
    ck_assert_str_eq(s->media_type[1], "application/pdf");
}
END_TEST

START_TEST(test_twilio_media_type_follows_content_type)
{
    static const struct {
        const char *ct;
        int type;
    } cases[] = {
        {"audio%2Fogg", WABOT_MSG_AUDIO},
        {"video%2Fmp4", WABOT_MSG_VIDEO},
        {"application%2Fpdf", WABOT_MSG_DOCUMENT},
        {"image%2Fwebp", WABOT_MSG_IMAGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "%s&NumMedia=1&Body=&MediaContentType0=%s"
                 "&MediaUrl0=https%%3A%%2F%%2Fexample.com%%2Fm",
                 TW_COMMON, cases[i].ct);
        assert_ok(post_twilio(body));
        ck_assert_int_eq(seen[i].type, cases[i].type);
    }
}
END_TEST

START_TEST(test_twilio_missing_media_url_is_400)
{
    assert_error(post_twilio(TW_COMMON "&NumMedia=2&Body="
                                       "&MediaUrl0=https%3A%2F%2Fx.com%2F1"),
                 400, "missing_field", "MediaUrl1");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_location_message)
{
    assert_ok(post_twilio(TW_COMMON "&NumMedia=0&Body=&MessageType=location"
                                    "&Latitude=-33.8688&Longitude=151.2093"
                                    "&Address=Sydney+NSW%2C+Australia"
                                    "&Label=Opera+House"));
    ck_assert_uint_eq(n_seen, 1);
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_LOCATION);
    ck_assert_int_eq(s->has_loc, 1);
    ck_assert_double_eq_tol(s->lat, -33.8688, 1e-9);
    ck_assert_double_eq_tol(s->lon, 151.2093, 1e-9);
    ck_assert_str_eq(s->loc_name, "Opera House");
    ck_assert_str_eq(s->loc_addr, "Sydney NSW, Australia");
}
END_TEST

START_TEST(test_twilio_bad_latitude_is_400)
{
    assert_error(post_twilio(TW_COMMON "&NumMedia=0&Body="
                                       "&Latitude=95&Longitude=10"),
                 400, "invalid_field", "Latitude");
}
END_TEST

START_TEST(test_twilio_button_reply)
{
    assert_ok(post_twilio(TW_COMMON "&NumMedia=0&Body=Yes%2C+confirm"
                                    "&MessageType=button"
                                    "&ButtonText=Yes%2C+confirm"
                                    "&ButtonPayload=order%3Aconfirm%3A42"));
    ck_assert_uint_eq(n_seen, 1);
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_BUTTON_REPLY);
    ck_assert_str_eq(s->payload, "order:confirm:42");
    ck_assert_str_eq(s->title, "Yes, confirm");
    ck_assert_str_eq(s->text, "Yes, confirm");
}
END_TEST

START_TEST(test_twilio_button_without_payload_uses_text)
{
    assert_ok(post_twilio(TW_COMMON "&NumMedia=0&Body=Menu&ButtonText=Menu"));
    ck_assert_int_eq(seen[0].type, WABOT_MSG_BUTTON_REPLY);
    ck_assert_str_eq(seen[0].payload, "Menu");
}
END_TEST

START_TEST(test_twilio_status_callback_is_acknowledged_not_handled)
{
    wabot_http_response *r = post_twilio(
        "MessageSid=SM9f8e7d6c5b4a39281706f5e4d3c2b1a0&MessageStatus=delivered"
        "&SmsStatus=delivered&ChannelStatusMessage=Delivered"
        "&To=whatsapp%3A%2B14155550123&From=whatsapp%3A%2B14155238886"
        "&AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01");
    ck_assert_str_eq(wabot_http_response_content_type(r), "text/xml");
    assert_ok(r);
    ck_assert_uint_eq(n_seen, 0);
    ck_assert_int_eq(counter("webhook.status_callbacks"), 1);
}
END_TEST

START_TEST(test_twilio_status_callback_is_parsed_as_status_update)
{
    const char *form = "MessageSid=SM9f&MessageStatus=undelivered"
                       "&ErrorCode=63016&To=whatsapp%3A%2B14155550123";
    wb_webhook_batch b;
    wb_reject rej;
    wb_webhook_batch_init(&b, env.ctx);
    ck_assert_int_eq(wb_twilio_parse(env.ctx, form, strlen(form), &b, &rej),
                     WABOT_OK);
    ck_assert_uint_eq(b.n_msgs, 0);
    ck_assert_uint_eq(b.n_statuses, 1);
    ck_assert_str_eq(b.statuses[0].id, "SM9f");
    ck_assert_str_eq(b.statuses[0].status, "undelivered");
    ck_assert_str_eq(b.statuses[0].error_code, "63016");
    ck_assert_str_eq(b.statuses[0].recipient, "whatsapp:+14155550123");
    wb_webhook_batch_clear(&b);
}
END_TEST

START_TEST(test_twilio_sms_message_sid_is_the_fallback_id)
{
    assert_ok(post_twilio("SmsMessageSid=SMabc&From=whatsapp%3A%2B14155550123"
                          "&Body=hi&NumMedia=0"));
    ck_assert_str_eq(seen[0].id, "SMabc");
}
END_TEST

START_TEST(test_twilio_missing_message_sid_is_400)
{
    assert_error(post_twilio("From=whatsapp%3A%2B14155550123&Body=hi"),
                 400, "missing_field", "MessageSid");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_missing_from_is_400)
{
    assert_error(post_twilio("MessageSid=SM1&Body=hi&NumMedia=0"), 400,
                 "missing_field", "From");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_unparsable_from_is_400)
{
    assert_error(post_twilio("MessageSid=SM1&From=whatsapp%3Anot-a-number"
                             "&Body=hi&NumMedia=0"),
                 400, "invalid_field", "From");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_nul_byte_never_shortens_a_value)
{
    assert_error(post_twilio("MessageSid=SM1&From=whatsapp%3A%2B14155550123%00"
                             "junk&Body=hi&NumMedia=0"),
                 400, "invalid_field", "From");
    assert_error(post_twilio(TW_COMMON "&NumMedia=0&Body=a%00b"), 400,
                 "invalid_field", "Body");
    assert_error(post_twilio(TW_COMMON "&NumMedia=0&Body=&Latitude=1%001"
                                       "&Longitude=2"),
                 400, "invalid_field", "Latitude");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_invalid_utf8_body_is_400)
{
    assert_error(post_twilio(TW_COMMON "&NumMedia=0&Body=caf%E9"), 400,
                 "invalid_field", "Body");
}
END_TEST

START_TEST(test_twilio_malformed_percent_escape_is_400)
{
    assert_error(post_twilio(TW_COMMON "&NumMedia=0&Body=100%25+sure+%ZZ"),
                 400, "malformed_form", "Body");
    assert_error(post_twilio(TW_COMMON "&NumMedia=0&Body=ends+with+%4"), 400,
                 "malformed_form", "percent escape");
    ck_assert_int_eq(counter("webhook.rejected.malformed_form"), 2);
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_too_many_params_is_413)
{
    reinit_with(WABOT_OPT_MAX_PARAMS, 16);
    char body[2048] = TW_COMMON "&Body=x&NumMedia=0"; /* 13 params */
    for (int i = 0; i < 4; i++) {
        char extra[32];
        snprintf(extra, sizeof extra, "&Extra%d=1", i);
        strcat(body, extra);
    }
    assert_error(post_twilio(body), 413, "too_many_params", "16");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_twilio_field_too_large_is_413)
{
    reinit_with(WABOT_OPT_MAX_FIELD_BYTES, 100);
    char body[2048];
    char big[200];
    memset(big, 'a', 101);
    big[101] = '\0';
    snprintf(body, sizeof body, "%s&NumMedia=0&Body=%s", TW_COMMON, big);
    assert_error(post_twilio(body), 413, "field_too_large", "'Body'");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_body_too_large_is_413)
{
    reinit_with(WABOT_OPT_MAX_BODY_BYTES, 1024);
    char body[1100];
    memset(body, 'a', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    assert_error(post_twilio(body), 413, "body_too_large", "1024");
    assert_error(post(META_PATH, CT_JSON, body), 413, "body_too_large",
                 "max_body_bytes");
    ck_assert_int_eq(counter("webhook.rejected.body_too_large"), 2);
}
END_TEST

/* ---- the form decoder ------------------------------------------------ */

START_TEST(test_form_decodes_plus_and_percent_and_keeps_repeats_in_order)
{
    const char *s = "a=1+2&b=%41%62&a=3&flag&&=empty&c=";
    wb_form_limits lim = {16, 64};
    wb_form *f = NULL;
    wb_reject rej;
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, s, strlen(s), &lim, &f,
                                   &rej),
                     WABOT_OK);
    ck_assert_uint_eq(wb_form_count(f), 6);
    const char *want[][2] = {{"a", "1 2"}, {"b", "Ab"}, {"a", "3"},
                             {"flag", ""}, {"", "empty"}, {"c", ""}};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(wb_form_at(f, i)->key, want[i][0]);
        ck_assert_str_eq(wb_form_at(f, i)->value, want[i][1]);
    }
    ck_assert_str_eq(wb_form_get(f, "a"), "1 2");
    ck_assert_ptr_null(wb_form_get(f, "missing"));
    ck_assert_ptr_null(wb_form_at(f, 6));
    wb_form_free(f);
}
END_TEST

START_TEST(test_form_keeps_nul_bytes_with_their_length)
{
    const char *s = "From%00x=1&v=a%00b";
    wb_form_limits lim = {16, 64};
    wb_form *f = NULL;
    wb_reject rej;
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, s, strlen(s), &lim, &f,
                                   &rej),
                     WABOT_OK);
    ck_assert_ptr_null(wb_form_get(f, "From")); /* key is "From\0x" */
    ck_assert_uint_eq(wb_form_find(f, "v")->value_len, 3);
    ck_assert_int_eq(memcmp(wb_form_get(f, "v"), "a\0b", 3), 0);
    wb_form_free(f);
}
END_TEST

START_TEST(test_form_rejects_every_broken_escape)
{
    const char *bad[] = {"a=%", "a=%4", "a=%G1", "%zz=1", "a=1%2"};
    wb_form_limits lim = {16, 64};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wb_form *f = NULL;
        wb_reject rej;
        ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, bad[i], strlen(bad[i]),
                                       &lim, &f, &rej),
                         WABOT_ERR_PARSE);
        ck_assert_ptr_null(f);
        ck_assert_str_eq(rej.code, "malformed_form");
    }
}
END_TEST

/* The decoded text lives in one block sized from the body: bare keys
 * ("k&k&...") need the most room per byte sent (two NULs per pair). */
START_TEST(test_form_of_only_bare_one_byte_keys_decodes_every_pair)
{
    char s[400];
    size_t n = 0;
    for (int i = 0; i < 200; i++) {
        s[n++] = (char)('a' + i % 26);
        s[n++] = '&';
    }
    wb_form_limits lim = {200, 64};
    wb_form *f = NULL;
    wb_reject rej;
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, s, n, &lim, &f, &rej),
                     WABOT_OK);
    ck_assert_uint_eq(wb_form_count(f), 200);
    for (size_t i = 0; i < 200; i++) {
        const wb_form_param *p = wb_form_at(f, i);
        ck_assert_uint_eq(p->key_len, 1);
        ck_assert_int_eq(p->key[0], 'a' + (int)(i % 26));
        ck_assert_int_eq(p->key[1], '\0');
        ck_assert_str_eq(p->value, "");
        ck_assert_uint_eq(p->value_len, 0);
    }
    wb_form_free(f);
}
END_TEST

START_TEST(test_form_limits_are_checked_in_pair_order)
{
    wb_form_limits lim = {2, 4};
    wb_form *f = NULL;
    wb_reject rej;
    const char *many = "a=1&b=2&c=%";
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, many, strlen(many), &lim,
                                   &f, &rej),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_str_eq(rej.code, "too_many_params");
    const char *bad_first = "a=%&b=2&c=3";
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, bad_first,
                                   strlen(bad_first), &lim, &f, &rej),
                     WABOT_ERR_PARSE);
    ck_assert_str_eq(rej.code, "malformed_form");
    const char *long_value = "a=12345&b=2&c=3";
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, long_value,
                                   strlen(long_value), &lim, &f, &rej),
                     WABOT_ERR_TOO_LARGE);
    ck_assert_str_eq(rej.code, "field_too_large");
    ck_assert_ptr_null(f);
}
END_TEST

/* ---- Meta payloads --------------------------------------------------- */

#define META_HEAD                                                           \
    "{'object':'whatsapp_business_account','entry':[{'id':'102290129340398'," \
    "'changes':[{'field':'messages','value':{'messaging_product':'whatsapp',"  \
    "'metadata':{'display_phone_number':'15550783881',"                       \
    "'phone_number_id':'106540352242922'},"                                   \
    "'contacts':[{'profile':{'name':'Sheena Nelson'},'wa_id':'16505551234'}],"
#define META_TAIL "}}]}]}"
/* One message of `type` with the type-specific members `rest`. */
#define META_ONE(type, rest)                                                \
    META_HEAD "'messages':[{'from':'16505551234',"                          \
              "'id':'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA='," \
              "'timestamp':'1749416383','type':'" type "'," rest "}]" META_TAIL

START_TEST(test_meta_text_message_is_handled)
{
    wabot_http_response *r =
        post_meta(META_ONE("text", "'text':{'body':'Hi, is my order ready?'}"));
    size_t len;
    ck_assert_str_eq(wabot_http_response_content_type(r), CT_JSON);
    ck_assert_str_eq(wabot_http_response_body(r, &len), "{\"status\":\"ok\"}");
    assert_ok(r);
    ck_assert_uint_eq(n_seen, 1);
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->provider, WABOT_PROVIDER_META);
    ck_assert_int_eq(s->type, WABOT_MSG_TEXT);
    ck_assert_str_eq(s->id, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTA"
                            "zODEwMTQ0RgA=");
    ck_assert_str_eq(s->from, "+16505551234");
    ck_assert_str_eq(s->to, "+15550783881");
    ck_assert_str_eq(s->to_id, "106540352242922");
    ck_assert_str_eq(s->text, "Hi, is my order ready?");
    ck_assert_int_eq(s->ts, 1749416383000LL);
}
END_TEST

START_TEST(test_meta_profile_name_comes_from_matching_contact)
{
    assert_ok(post_meta(
        "{'object':'whatsapp_business_account','entry':[{'id':'1','changes':"
        "[{'field':'messages','value':{'contacts':["
        "{'profile':{'name':'Someone Else'},'wa_id':'447700900123'},"
        "{'profile':{'name':'Sheena Nelson'},'wa_id':'16505551234'}],"
        "'messages':["
        "{'from':'16505551234','id':'wamid.1','type':'text','text':{'body':'a'}},"
        "{'from':'4915112345678','id':'wamid.2','type':'text','text':{'body':'b'}}"
        "]}}]}]}"));
    ck_assert_uint_eq(n_seen, 2);
    ck_assert_str_eq(seen[0].profile, "Sheena Nelson");
    ck_assert_str_eq(seen[1].profile, ""); /* no contact for this number */
}
END_TEST

START_TEST(test_meta_missing_timestamp_means_now_and_no_metadata_means_empty_to)
{
    assert_ok(post_meta(
        "{'object':'whatsapp_business_account','entry':[{'changes':[{"
        "'field':'messages','value':{'messages':[{'from':'16505551234',"
        "'id':'wamid.1','type':'text','text':{'body':'x'}}]}}]}]}"));
    ck_assert_int_eq(seen[0].ts, TU_EPOCH_MS);
    ck_assert_str_eq(seen[0].to, "");
    ck_assert_str_eq(seen[0].to_id, "");
}
END_TEST

/* 2 entries x 2 changes x 2 messages: handled in document order. */
START_TEST(test_meta_batch_is_handled_in_order)
{
    char json[8192] = "{'object':'whatsapp_business_account','entry':[";
    int k = 0;
    for (int e = 0; e < 2; e++) {
        strcat(json, e ? ",{'id':'2','changes':[" : "{'id':'1','changes':[");
        for (int c = 0; c < 2; c++) {
            strcat(json, c ? ",{" : "{");
            strcat(json, "'field':'messages','value':{'metadata':{"
                         "'display_phone_number':'15550783881',"
                         "'phone_number_id':'106540352242922'},'messages':[");
            for (int m = 0; m < 2; m++, k++) {
                char one[256];
                snprintf(one, sizeof one,
                         "%s{'from':'1650555%04d','id':'wamid.%d',"
                         "'timestamp':'17494163%02d','type':'text',"
                         "'text':{'body':'message %d'}}",
                         m ? "," : "", k, k, k, k);
                strcat(json, one);
            }
            strcat(json, "]}}");
        }
        strcat(json, "]}");
    }
    strcat(json, "]}");
    assert_ok(post_meta(json));
    ck_assert_uint_eq(n_seen, 8);
    for (int i = 0; i < 8; i++) {
        char id[32], text[32];
        snprintf(id, sizeof id, "wamid.%d", i);
        snprintf(text, sizeof text, "message %d", i);
        ck_assert_str_eq(seen[i].id, id);
        ck_assert_str_eq(seen[i].text, text);
    }
}
END_TEST

START_TEST(test_meta_media_messages_carry_id_mime_and_caption)
{
    static const struct {
        const char *type;
        int want;
    } cases[] = {
        {"image", WABOT_MSG_IMAGE},       {"audio", WABOT_MSG_AUDIO},
        {"video", WABOT_MSG_VIDEO},       {"document", WABOT_MSG_DOCUMENT},
        {"sticker", WABOT_MSG_STICKER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rest[256], json[2048];
        snprintf(rest, sizeof rest,
                 "'%s':{'id':'1003383421387256','mime_type':'x/%s',"
                 "'sha256':'abc','caption':'cap %s','filename':'f.pdf'}",
                 cases[i].type, cases[i].type, cases[i].type);
        snprintf(json, sizeof json, META_HEAD
                 "'messages':[{'from':'16505551234','id':'wamid.%zu',"
                 "'timestamp':'1749416383','type':'%s',%s}]" META_TAIL,
                 i, cases[i].type, rest);
        assert_ok(post_meta(json));
        seen_msg *s = &seen[i];
        char want[64];
        ck_assert_int_eq(s->type, cases[i].want);
        ck_assert_uint_eq(s->n_media, 1);
        ck_assert_str_eq(s->media_url[0], "1003383421387256");
        snprintf(want, sizeof want, "x/%s", cases[i].type);
        ck_assert_str_eq(s->media_type[0], want);
        snprintf(want, sizeof want, "cap %s", cases[i].type);
        ck_assert_str_eq(s->text, want);
    }
}
END_TEST

START_TEST(test_meta_interactive_button_reply)
{
    assert_ok(post_meta(META_ONE(
        "interactive", "'interactive':{'type':'button_reply','button_reply':"
                       "{'id':'order:confirm:42','title':'Confirm'}}")));
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_BUTTON_REPLY);
    ck_assert_str_eq(s->payload, "order:confirm:42");
    ck_assert_str_eq(s->title, "Confirm");
    ck_assert_str_eq(s->text, "Confirm");
}
END_TEST

START_TEST(test_meta_interactive_list_reply)
{
    assert_ok(post_meta(META_ONE(
        "interactive",
        "'interactive':{'type':'list_reply','list_reply':{'id':'sku-123',"
        "'title':'Blue T-shirt','description':'Cotton, size M'}}")));
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_LIST_REPLY);
    ck_assert_str_eq(s->payload, "sku-123");
    ck_assert_str_eq(s->title, "Blue T-shirt");
    ck_assert_str_eq(s->text, "Blue T-shirt");
}
END_TEST

START_TEST(test_meta_template_quick_reply_button)
{
    assert_ok(post_meta(META_ONE(
        "button", "'context':{'from':'15550783881','id':'wamid.ctx'},"
                  "'button':{'payload':'STOP_PROMOS','text':'Stop promotions'}")));
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_BUTTON_REPLY);
    ck_assert_str_eq(s->payload, "STOP_PROMOS");
    ck_assert_str_eq(s->title, "Stop promotions");
    ck_assert_str_eq(s->text, "Stop promotions");
}
END_TEST

START_TEST(test_meta_location_message)
{
    assert_ok(post_meta(META_ONE(
        "location", "'location':{'latitude':37.483872,'longitude':-122.148358,"
                    "'name':'Philz Coffee','address':'101 Forest Ave, Palo Alto'}")));
    seen_msg *s = &seen[0];
    ck_assert_int_eq(s->type, WABOT_MSG_LOCATION);
    ck_assert_int_eq(s->has_loc, 1);
    ck_assert_double_eq_tol(s->lat, 37.483872, 1e-9);
    ck_assert_double_eq_tol(s->lon, -122.148358, 1e-9);
    ck_assert_str_eq(s->loc_name, "Philz Coffee");
    ck_assert_str_eq(s->loc_addr, "101 Forest Ave, Palo Alto");
}
END_TEST

START_TEST(test_meta_contacts_reaction_and_unknown_types)
{
    assert_ok(post_meta(META_ONE(
        "contacts", "'contacts':[{'name':{'formatted_name':'John Smith',"
                    "'first_name':'John'},'phones':[{'phone':'+1 650 555 0101',"
                    "'type':'CELL'}]}]")));
    assert_ok(post_meta(META_ONE(
        "reaction", "'reaction':{'message_id':'wamid.out1','emoji':"
                    "'\\uD83D\\uDC4D'}")));
    assert_ok(post_meta(META_ONE(
        "order", "'order':{'catalog_id':'1','product_items':[]}")));
    assert_ok(post_meta(META_ONE(
        "unsupported", "'errors':[{'code':131051,'title':'Unsupported'}]")));
    ck_assert_uint_eq(n_seen, 4);
    ck_assert_int_eq(seen[0].type, WABOT_MSG_CONTACTS);
    ck_assert_int_eq(seen[1].type, WABOT_MSG_REACTION);
    ck_assert_str_eq(seen[1].text, "\xF0\x9F\x91\x8D");
    ck_assert_int_eq(seen[2].type, WABOT_MSG_UNKNOWN);
    ck_assert_int_eq(seen[3].type, WABOT_MSG_UNKNOWN);
    ck_assert_str_eq(seen[3].from, "+16505551234");
}
END_TEST

START_TEST(test_meta_statuses_only_payload_is_acknowledged)
{
    assert_ok(post_meta(
        "{'object':'whatsapp_business_account','entry':[{'id':'1','changes':[{"
        "'field':'messages','value':{'messaging_product':'whatsapp',"
        "'metadata':{'display_phone_number':'15550783881',"
        "'phone_number_id':'106540352242922'},'statuses':["
        "{'id':'wamid.out1','status':'delivered','timestamp':'1749416400',"
        "'recipient_id':'16505551234','pricing':{'billable':true}},"
        "{'id':'wamid.out2','status':'failed','timestamp':'1749416401',"
        "'recipient_id':'16505551234','errors':[{'code':131047,"
        "'title':'Re-engagement message'}]}]}}]}]}"));
    ck_assert_uint_eq(n_seen, 0);
    ck_assert_int_eq(counter("webhook.status_callbacks"), 2);
}
END_TEST

START_TEST(test_meta_statuses_are_parsed_as_status_updates)
{
    const char *json =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
        "\"field\":\"messages\",\"value\":{\"statuses\":[{\"id\":\"wamid.o\","
        "\"status\":\"failed\",\"timestamp\":\"1749416401\",\"recipient_id\":"
        "\"16505551234\",\"errors\":[{\"code\":131047}]}]}}]}]}";
    wb_webhook_batch b;
    wb_reject rej;
    wb_webhook_batch_init(&b, env.ctx);
    ck_assert_int_eq(wb_meta_parse(env.ctx, json, strlen(json), &b, &rej),
                     WABOT_OK);
    ck_assert_uint_eq(b.n_statuses, 1);
    ck_assert_str_eq(b.statuses[0].id, "wamid.o");
    ck_assert_str_eq(b.statuses[0].status, "failed");
    ck_assert_str_eq(b.statuses[0].recipient, "16505551234");
    ck_assert_str_eq(b.statuses[0].error_code, "131047");
    ck_assert_int_eq(b.statuses[0].timestamp_ms, 1749416401000LL);
    wb_webhook_batch_clear(&b);
}
END_TEST

START_TEST(test_meta_change_other_than_messages_is_ignored)
{
    assert_ok(post_meta(
        "{'object':'whatsapp_business_account','entry':[{'id':'1','changes':["
        "{'field':'message_template_status_update','value':{'event':'APPROVED',"
        "'message_template_id':594425479261596}},"
        "{'field':'messages','value':{'messages':[{'from':'16505551234',"
        "'id':'wamid.1','type':'text','text':{'body':'x'}}]}}]}]}"));
    ck_assert_uint_eq(n_seen, 1);
    ck_assert_int_eq(counter("webhook.ignored_changes"), 1);
}
END_TEST

START_TEST(test_meta_malformed_json_is_400_with_position)
{
    assert_error(post(META_PATH, CT_JSON, "{\"object\": \"whatsapp_bus"), 400,
                 "malformed_json", "line 1");
    assert_error(post(META_PATH, CT_JSON, ""), 400, "malformed_json",
                 "invalid JSON");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_meta_duplicate_keys_are_malformed_json)
{
    assert_error(post_meta("{'object':'whatsapp_business_account',"
                           "'object':'page','entry':[]}"),
                 400, "malformed_json", "duplicate");
}
END_TEST

START_TEST(test_meta_json_too_deep_is_413_before_parsing)
{
    reinit_with(WABOT_OPT_MAX_JSON_DEPTH, 8);
    /* Brackets inside strings do not count. */
    assert_ok(post_meta("{'object':'whatsapp_business_account','x':'[[[[[[[[[["
                        "{{{{\\'','entry':[]}"));
    char json[64] = "";
    for (int i = 0; i < 9; i++)
        strcat(json, "[");
    for (int i = 0; i < 9; i++)
        strcat(json, "]");
    assert_error(post(META_PATH, CT_JSON, json), 413, "json_too_deep",
                 "8 levels");
    ck_assert_uint_eq(wb_json_depth(json, strlen(json), 100), 9);
}
END_TEST

START_TEST(test_meta_unsupported_object_is_400)
{
    assert_error(post_meta("{'object':'page','entry':[]}"), 400,
                 "unsupported_object", "page");
    assert_error(post_meta("{'entry':[]}"), 400, "unsupported_object",
                 "object: missing");
}
END_TEST

START_TEST(test_meta_invalid_shape_names_the_path_and_handles_nothing)
{
    /* The first change is fine; the second change's first message has no
     * "from": nothing of the batch may run. */
    assert_error(
        post_meta("{'object':'whatsapp_business_account','entry':[{'changes':["
                  "{'field':'messages','value':{'messages':[{'from':'16505551234',"
                  "'id':'wamid.ok','type':'text','text':{'body':'x'}}]}},"
                  "{'field':'messages','value':{'messages':[{'id':'wamid.bad',"
                  "'type':'text','text':{'body':'y'}}]}}]}]}"),
        400, "invalid_payload",
        "entry[0].changes[1].value.messages[0].from: missing");
    ck_assert_uint_eq(n_seen, 0);
    assert_error(post_meta("{'object':'whatsapp_business_account','entry':{}}"),
                 400, "invalid_payload", "entry: expected an array");
    assert_error(post_meta("{'object':'whatsapp_business_account','entry':"
                           "[{'changes':[{'field':'messages','value':"
                           "{'messages':[42]}}]}]}"),
                 400, "invalid_payload",
                 "entry[0].changes[0].value.messages[0]: expected an object");
    assert_error(post_meta(META_ONE("text", "'text':{'body':7}")), 400,
                 "invalid_payload", "messages[0].text.body: expected a string");
    assert_error(post_meta(META_HEAD "'messages':[{'from':'16505551234',"
                           "'type':'text','text':{'body':'x'}}]" META_TAIL),
                 400, "invalid_payload", "messages[0].id: missing");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

START_TEST(test_meta_too_many_messages_is_413)
{
    reinit_with(WABOT_OPT_MAX_BATCH_MESSAGES, 3);
    const char *msg = "{'from':'16505551234','id':'wamid.x','type':'text',"
                      "'text':{'body':'x'}}";
    char json[4096] = "{'object':'whatsapp_business_account','entry':[";
    for (int c = 0; c < 2; c++) { /* 2 + 2 messages over two entries */
        strcat(json, c ? ",{'changes':[{'field':'messages','value':{'messages':["
                       : "{'changes':[{'field':'messages','value':{'messages':[");
        strcat(json, msg);
        strcat(json, ",");
        strcat(json, msg);
        strcat(json, "]}}]}");
    }
    strcat(json, "]}");
    assert_error(post_meta(json), 413, "too_many_messages", "3");
    ck_assert_uint_eq(n_seen, 0);
}
END_TEST

/* ---- HTTP routing ---------------------------------------------------- */

START_TEST(test_unknown_path_is_404)
{
    assert_error(post("/other", CT_FORM, "a=1"), 404, "not_found", "/other");
    assert_error(post("/whatsapp/webhook/extra", CT_FORM, "a=1"), 404,
                 "not_found", "/whatsapp/webhook/extra");
}
END_TEST

/* GET is Meta's verification handshake (test_security.c); without the
 * configured token it is refused. Other methods are not served. */
START_TEST(test_get_on_a_webhook_path_is_405)
{
    assert_error(request("GET", META_PATH "?hub.mode=subscribe", NULL, NULL, 0),
                 403, "verification_failed", "meta_verify_token");
    assert_error(request("PUT", TWILIO_PATH, CT_FORM, "a", 1), 405,
                 "method_not_allowed", "PUT");
    wabot_http_response *r = request("DELETE", META_PATH, NULL, NULL, 0);
    ck_assert_str_eq(wabot_http_response_header(r, "Allow"),
                     "GET, HEAD, POST");
    assert_error(r, 405, "method_not_allowed", "GET, HEAD, POST");
}
END_TEST

/* HEAD is the handshake without a body; a successful webhook answer has
 * no header besides its content type. */
START_TEST(test_head_on_a_webhook_path_is_get_without_body)
{
    wabot_http_response *r =
        request("HEAD", META_PATH "?hub.mode=subscribe", NULL, NULL, 0);
    ck_assert_int_eq(wabot_http_response_status(r), 403);
    ck_assert_str_eq(wabot_http_response_content_type(r), CT_JSON);
    size_t len = 1;
    ck_assert_str_eq(wabot_http_response_body(r, &len), "");
    ck_assert_uint_eq(len, 0);
    wabot_http_response_free(r);
    r = post_twilio(TW_COMMON "&NumMedia=0&Body=hi");
    ck_assert_uint_eq(wabot_http_response_header_count(r), 0);
    assert_ok(r);
}
END_TEST

START_TEST(test_unsupported_content_type_is_415)
{
    assert_error(post(TWILIO_PATH, "text/plain", "hello"), 415,
                 "unsupported_media_type", "text/plain");
    assert_error(post(META_PATH, NULL, "{}"), 415, "unsupported_media_type",
                 "(none)");
    assert_error(post(META_PATH, "application/jsonx", "{}"), 415,
                 "unsupported_media_type", "application/jsonx");
    ck_assert_int_eq(counter("webhook.rejected.unsupported_media_type"), 3);
}
END_TEST

START_TEST(test_content_type_parameters_and_case_are_ignored)
{
    assert_ok(post(TWILIO_PATH, "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
                   TW_COMMON "&NumMedia=0&Body=hi"));
    assert_ok(post(META_PATH, " application/json ;charset=utf-8",
                   "{\"object\":\"whatsapp_business_account\",\"entry\":[]}"));
    ck_assert_uint_eq(n_seen, 1);
}
END_TEST

START_TEST(test_header_names_are_case_insensitive)
{
    wabot_http_header h[] = {{"X-Other", "1"},
                             {"content-TYPE", CT_FORM}};
    const char *body = TW_COMMON "&NumMedia=0&Body=hi";
    wabot_http_response *r = NULL;
    ck_assert_int_eq(wabot_http_handle(env.ctx, "POST", TWILIO_PATH, h, 2, body,
                                       strlen(body), &r),
                     WABOT_OK);
    assert_ok(r);
    ck_assert_uint_eq(n_seen, 1);
}
END_TEST

START_TEST(test_trailing_slash_and_query_are_tolerated)
{
    assert_ok(post(TWILIO_PATH "/", CT_FORM, TW_COMMON "&NumMedia=0&Body=a"));
    assert_ok(post(TWILIO_PATH "?source=twilio", CT_FORM,
                   TW_COMMON "&NumMedia=0&Body=b"));
    assert_error(post(TWILIO_PATH "//", CT_FORM, "a=1"), 404, "not_found", "//");
    ck_assert_uint_eq(n_seen, 2);
}
END_TEST

START_TEST(test_each_path_accepts_both_providers)
{
    wabot_http_response *r = post(TWILIO_PATH, CT_JSON,
        "{\"object\":\"whatsapp_business_account\",\"entry\":[]}");
    ck_assert_str_eq(wabot_http_response_content_type(r), CT_JSON);
    assert_ok(r);
    r = post(META_PATH, CT_FORM, TW_COMMON "&NumMedia=0&Body=hi");
    ck_assert_str_eq(wabot_http_response_content_type(r), "text/xml");
    assert_ok(r);
    ck_assert_uint_eq(n_seen, 1);
}
END_TEST

START_TEST(test_configured_paths_are_used)
{
    tu_env_free(&env);
    wabot_options *o = parser_options();
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_TWILIO_WEBHOOK_PATH,
                                           "/hooks/twilio"), WABOT_OK);
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
    use_recorder();
    assert_ok(post("/hooks/twilio", CT_FORM, TW_COMMON "&NumMedia=0&Body=x"));
    assert_error(post(TWILIO_PATH, CT_FORM, "a=1"), 404, "not_found",
                 TWILIO_PATH);
}
END_TEST

START_TEST(test_failing_turn_is_still_answered_200)
{
    mw_status = WABOT_ERR_HANDLER;
    assert_ok(post_twilio(TW_COMMON "&NumMedia=0&Body=boom"));
    ck_assert_uint_eq(n_seen, 1);
}
END_TEST

START_TEST(test_requests_and_rejections_are_counted)
{
    assert_ok(post_twilio(TW_COMMON "&NumMedia=0&Body=hi"));
    assert_error(post("/nope", CT_FORM, ""), 404, "not_found", "/nope");
    assert_error(post_twilio("Body=hi"), 400, "missing_field", "MessageSid");
    ck_assert_int_eq(counter("webhook.requests"), 3);
    ck_assert_int_eq(counter("webhook.rejected.not_found"), 1);
    ck_assert_int_eq(counter("webhook.rejected.missing_field"), 1);
}
END_TEST

START_TEST(test_error_detail_is_printable_ascii_json)
{
    /* Raw invalid UTF-8 and control bytes in the request end up quoted in
     * the message; the body must stay valid JSON. */
    assert_error(post("/\xff\x01\"x", CT_FORM, "a=1"), 404, "not_found",
                 "/??\"x");
    assert_error(post(META_PATH, CT_JSON, "{\"a\":\xff}"), 400,
                 "malformed_json", "invalid JSON");
}
END_TEST

START_TEST(test_null_arguments_are_inval)
{
    wabot_http_response *r = (wabot_http_response *)1;
    ck_assert_int_eq(wabot_http_handle(NULL, "POST", TWILIO_PATH, NULL, 0,
                                       NULL, 0, &r),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(wabot_http_handle(env.ctx, NULL, TWILIO_PATH, NULL, 0,
                                       NULL, 0, &r),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_handle(env.ctx, "POST", NULL, NULL, 0, NULL,
                                       0, &r),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_handle(env.ctx, "POST", TWILIO_PATH, NULL, 0,
                                       NULL, 0, NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_handle(env.ctx, "POST", TWILIO_PATH, NULL, 0,
                                       NULL, 5, &r),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_http_handle(env.ctx, "POST", TWILIO_PATH, NULL, 2,
                                       NULL, 0, &r),
                     WABOT_ERR_INVAL);
    ck_assert_str_ne(wabot_ctx_errmsg(env.ctx), "");
    ck_assert_int_eq(counter("webhook.requests"), 0);
    /* Accessors tolerate NULL; free(NULL) is a no-op. */
    ck_assert_int_eq(wabot_http_response_status(NULL), 0);
    wabot_http_response_free(NULL);
}
END_TEST

START_TEST(test_response_outlives_the_context)
{
    wabot_http_response *r = post_twilio(TW_COMMON "&NumMedia=0&Body=hi");
    tu_env_free(&env);
    size_t len;
    ck_assert_str_eq(wabot_http_response_body(r, &len), WB_TWIML_EMPTY);
    wabot_http_response_free(r);
    init_env(); /* for teardown */
}
END_TEST

static Suite *webhook_suite(void)
{
    Suite *s = suite_create("webhook");
    TCase *tw = tcase_create("twilio");
    tcase_add_checked_fixture(tw, setup, teardown);
    tcase_add_test(tw, test_twilio_text_message_is_handled);
    tcase_add_test(tw, test_twilio_media_message_has_every_item);
    tcase_add_test(tw, test_twilio_media_type_follows_content_type);
    tcase_add_test(tw, test_twilio_missing_media_url_is_400);
    tcase_add_test(tw, test_twilio_location_message);
    tcase_add_test(tw, test_twilio_bad_latitude_is_400);
    tcase_add_test(tw, test_twilio_button_reply);
    tcase_add_test(tw, test_twilio_button_without_payload_uses_text);
    tcase_add_test(tw, test_twilio_status_callback_is_acknowledged_not_handled);
    tcase_add_test(tw, test_twilio_status_callback_is_parsed_as_status_update);
    tcase_add_test(tw, test_twilio_sms_message_sid_is_the_fallback_id);
    tcase_add_test(tw, test_twilio_missing_message_sid_is_400);
    tcase_add_test(tw, test_twilio_missing_from_is_400);
    tcase_add_test(tw, test_twilio_unparsable_from_is_400);
    tcase_add_test(tw, test_twilio_nul_byte_never_shortens_a_value);
    tcase_add_test(tw, test_twilio_invalid_utf8_body_is_400);
    tcase_add_test(tw, test_twilio_malformed_percent_escape_is_400);
    tcase_add_test(tw, test_twilio_too_many_params_is_413);
    tcase_add_test(tw, test_twilio_field_too_large_is_413);
    tcase_add_test(tw, test_body_too_large_is_413);
    suite_add_tcase(s, tw);

    TCase *form = tcase_create("form");
    tcase_add_checked_fixture(form, setup, teardown);
    tcase_add_test(form,
        test_form_decodes_plus_and_percent_and_keeps_repeats_in_order);
    tcase_add_test(form, test_form_keeps_nul_bytes_with_their_length);
    tcase_add_test(form, test_form_rejects_every_broken_escape);
    tcase_add_test(form,
        test_form_of_only_bare_one_byte_keys_decodes_every_pair);
    tcase_add_test(form, test_form_limits_are_checked_in_pair_order);
    suite_add_tcase(s, form);

    TCase *meta = tcase_create("meta");
    tcase_add_checked_fixture(meta, setup, teardown);
    tcase_add_test(meta, test_meta_text_message_is_handled);
    tcase_add_test(meta, test_meta_profile_name_comes_from_matching_contact);
    tcase_add_test(meta,
        test_meta_missing_timestamp_means_now_and_no_metadata_means_empty_to);
    tcase_add_test(meta, test_meta_batch_is_handled_in_order);
    tcase_add_test(meta, test_meta_media_messages_carry_id_mime_and_caption);
    tcase_add_test(meta, test_meta_interactive_button_reply);
    tcase_add_test(meta, test_meta_interactive_list_reply);
    tcase_add_test(meta, test_meta_template_quick_reply_button);
    tcase_add_test(meta, test_meta_location_message);
    tcase_add_test(meta, test_meta_contacts_reaction_and_unknown_types);
    tcase_add_test(meta, test_meta_statuses_only_payload_is_acknowledged);
    tcase_add_test(meta, test_meta_statuses_are_parsed_as_status_updates);
    tcase_add_test(meta, test_meta_change_other_than_messages_is_ignored);
    tcase_add_test(meta, test_meta_malformed_json_is_400_with_position);
    tcase_add_test(meta, test_meta_duplicate_keys_are_malformed_json);
    tcase_add_test(meta, test_meta_json_too_deep_is_413_before_parsing);
    tcase_add_test(meta, test_meta_unsupported_object_is_400);
    tcase_add_test(meta,
        test_meta_invalid_shape_names_the_path_and_handles_nothing);
    tcase_add_test(meta, test_meta_too_many_messages_is_413);
    suite_add_tcase(s, meta);

    TCase *http = tcase_create("http");
    tcase_add_checked_fixture(http, setup, teardown);
    tcase_add_test(http, test_unknown_path_is_404);
    tcase_add_test(http, test_get_on_a_webhook_path_is_405);
    tcase_add_test(http, test_head_on_a_webhook_path_is_get_without_body);
    tcase_add_test(http, test_unsupported_content_type_is_415);
    tcase_add_test(http, test_content_type_parameters_and_case_are_ignored);
    tcase_add_test(http, test_header_names_are_case_insensitive);
    tcase_add_test(http, test_trailing_slash_and_query_are_tolerated);
    tcase_add_test(http, test_each_path_accepts_both_providers);
    tcase_add_test(http, test_configured_paths_are_used);
    tcase_add_test(http, test_failing_turn_is_still_answered_200);
    tcase_add_test(http, test_requests_and_rejections_are_counted);
    tcase_add_test(http, test_error_detail_is_printable_ascii_json);
    tcase_add_test(http, test_null_arguments_are_inval);
    tcase_add_test(http, test_response_outlives_the_context);
    suite_add_tcase(s, http);
    return s;
}

int main(void)
{
    return tu_run_suite(webhook_suite());
}
