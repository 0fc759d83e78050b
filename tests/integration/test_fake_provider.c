/*
 * The fake provider (fake_provider.h) behaves like the providers' send
 * APIs, records what it is sent, and injects the faults it is asked for.
 * A libcurl client talks to it over loopback; the last tests run the
 * standalone `fake-provider` executable (argv[1]) as a child process.
 */
#include "fake_provider.h"
#include "http_client.h"
#include "server_proc.h"

#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#define SID "AC0123456789abcdef0123456789abcdef"
#define TOKEN "twilio-secret"
#define META_TOKEN "meta-secret"
#define PHONE_ID "106540352242922"
#define TO_E164 "+14155550100"
#define TO_WA "whatsapp:+14155550100"
#define FROM_WA "whatsapp:+14155238886"

static const char *exe_path;
static fp_server *srv;

/* ==== A small libcurl client ========================================= */

typedef struct resp {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char retry_after[32];
    char content_type[128];
} resp;

typedef struct req {
    const char *method; /* NULL: POST when body is set, else GET */
    const char *url;
    const char *userpwd;      /* Basic auth "user:pass" */
    const char *bearer;       /* Authorization: Bearer ... */
    const char *content_type;
    const char *body;
    long timeout_ms;          /* 0: 10 s */
} req;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t add = size * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->len, data, add);
    r->len += add;
    b[r->len] = '\0';
    r->body = b;
    return add;
}

static void header_value(const char *line, size_t len, const char *name,
                         char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0)
        return;
    line += nlen;
    len -= nlen;
    while (len > 0 && *line == ' ') {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len >= outsz)
        len = outsz - 1;
    memcpy(out, line, len);
    out[len] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = size * n;
    header_value(data, len, "retry-after:", r->retry_after,
                 sizeof r->retry_after);
    header_value(data, len, "content-type:", r->content_type,
                 sizeof r->content_type);
    return len;
}

static struct curl_slist *request_headers(const req *q)
{
    struct curl_slist *h = NULL;
    char line[512];
    if (q->content_type != NULL) {
        snprintf(line, sizeof line, "Content-Type: %s", q->content_type);
        h = curl_slist_append(h, line);
    }
    if (q->bearer != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", q->bearer);
        h = curl_slist_append(h, line);
    }
    return curl_slist_append(h, "Expect:");
}

static void request_on(CURL *c, const req *q, resp *out)
{
    memset(out, 0, sizeof *out);
    curl_easy_reset(c);
    struct curl_slist *h = request_headers(q);
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     q->timeout_ms ? q->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (q->userpwd != NULL)
        curl_easy_setopt(c, CURLOPT_USERPWD, q->userpwd);
    if (q->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body));
    }
    if (q->method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
}

static void request(const req *q, resp *out)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    request_on(c, q, out);
    curl_easy_cleanup(c);
}

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* The body as JSON (the test owns it). */
static json_t *resp_json(const resp *r)
{
    json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", r->body ? r->body : "(none)");
    return j;
}

static long long jint_at(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr_at(json_t *root, const char *key)
{
    const char *v = json_string_value(json_object_get(root, key));
    ck_assert_msg(v != NULL, "%s is not a string", key);
    return v;
}

static void form_add(char **form, const char *key, const char *value)
{
    char *k = curl_easy_escape(NULL, key, 0);
    char *v = curl_easy_escape(NULL, value, 0);
    size_t old = *form ? strlen(*form) : 0;
    char *f = realloc(*form, old + strlen(k) + strlen(v) + 3);
    ck_assert_ptr_nonnull(f);
    sprintf(f + old, "%s%s=%s", old ? "&" : "", k, v);
    *form = f;
    curl_free(k);
    curl_free(v);
}

/* ==== Talking to the in-process server =============================== */

static void twilio_url(fp_server *s, const char *sid, char *out, size_t sz)
{
    snprintf(out, sz, "%s/2010-04-01/Accounts/%s/Messages.json",
             fp_base_url(s), sid);
}

static void twilio_post_as(const char *userpwd, const char *form, resp *out)
{
    char url[256];
    twilio_url(srv, SID, url, sizeof url);
    req q = {.url = url, .userpwd = userpwd, .body = form,
             .content_type = "application/x-www-form-urlencoded"};
    request(&q, out);
}

static void twilio_post(const char *form, resp *out)
{
    twilio_post_as(SID ":" TOKEN, form, out);
}

/* A valid WhatsApp text through Twilio. */
static void twilio_send_text(const char *to, resp *out)
{
    char *form = NULL;
    form_add(&form, "To", to);
    form_add(&form, "From", FROM_WA);
    form_add(&form, "Body", "hello");
    twilio_post(form, out);
    free(form);
}

static void meta_post_on(CURL *c, const char *token, const char *json,
                         resp *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v21.0/%s/messages", fp_base_url(srv),
             PHONE_ID);
    req q = {.url = url, .bearer = token, .body = json,
             .content_type = "application/json"};
    if (c != NULL)
        request_on(c, &q, out);
    else
        request(&q, out);
}

static void meta_post(const char *json, resp *out)
{
    meta_post_on(NULL, META_TOKEN, json, out);
}

static void meta_send_text(const char *to, resp *out)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"messaging_product\":\"whatsapp\",\"to\":\"%s\","
             "\"type\":\"text\",\"text\":{\"body\":\"hi\"}}",
             to);
    meta_post(json, out);
}

static fp_request last_request(void)
{
    fp_request r;
    size_t n = fp_request_count(srv);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(fp_request_get(srv, n - 1, &r), 0);
    return r;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup(void)
{
    fp_config cfg = {.twilio_account_sid = SID,
                     .twilio_auth_token = TOKEN,
                     .meta_access_token = META_TOKEN};
    srv = fp_start(&cfg);
    ck_assert_ptr_nonnull(srv);
}

/* The benchmark's setting: two polling threads serve every connection. */
static void setup_pool(void)
{
    fp_config cfg = {.twilio_account_sid = SID,
                     .twilio_auth_token = TOKEN,
                     .meta_access_token = META_TOKEN,
                     .pool_threads = 2};
    srv = fp_start(&cfg);
    ck_assert_ptr_nonnull(srv);
}

static void teardown(void)
{
    fp_stop(srv);
    srv = NULL;
}

/* ==== Twilio ========================================================= */

START_TEST(test_twilio_send_answers_201_with_the_message_resource)
{
    resp r;
    twilio_send_text(TO_WA, &r);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 201);
    ck_assert_ptr_nonnull(strstr(r.content_type, "application/json"));
    json_t *j = resp_json(&r);
    const char *sid = jstr_at(j, "sid");
    ck_assert_uint_eq(strlen(sid), 34);
    ck_assert(strncmp(sid, "SM", 2) == 0);
    ck_assert_uint_eq(strspn(sid + 2, "0123456789abcdef"), 32);
    ck_assert_str_eq(jstr_at(j, "status"), "queued");
    ck_assert_str_eq(jstr_at(j, "to"), TO_WA);
    ck_assert_str_eq(jstr_at(j, "from"), FROM_WA);
    ck_assert_str_eq(jstr_at(j, "body"), "hello");
    ck_assert_str_eq(jstr_at(j, "account_sid"), SID);
    ck_assert_ptr_nonnull(strstr(jstr_at(j, "date_created"), "+0000"));
    ck_assert(json_is_null(json_object_get(j, "error_code")));

    fp_request rec = last_request();
    ck_assert_int_eq(rec.provider, FP_TWILIO);
    ck_assert_int_eq(rec.status, 201);
    ck_assert_str_eq(rec.message_id, sid);
    ck_assert_str_eq(rec.to, TO_WA);
    fp_request_free(&rec);
    json_decref(j);
    resp_free(&r);
}
END_TEST

/* The 201 answer is written without jansson (the fake's CPU counts in the
 * e2e benchmark) and must stay what jansson's compact dump of the Message
 * resource gives: the answer re-dumped after a decode is the same bytes,
 * with every escape a body can need and UTF-8 passed through; a member
 * that is not UTF-8 (a messaging service's sid: a body is refused with
 * 400) is left out, as json_string() made it. */
START_TEST(test_twilio_answer_is_jansson_compact_json_byte_for_byte)
{
    static const char *bodies[] = {
        "plain", " ", "q\"uote b\\ack/slash", "nl\n tab\t cr\r bs\b ff\f",
        "ctl \x01\x1f del \x7f", "caf\xc3\xa9 \xf0\x9f\x98\x80",
        "MessagingServiceSid",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char *form = NULL;
        form_add(&form, "To", TO_WA);
        form_add(&form, "From", FROM_WA);
        form_add(&form, "Body", bodies[i]);
        if (i == 6)
            form_add(&form, "MessagingServiceSid", "MG0123");
        resp r;
        twilio_post(form, &r);
        free(form);
        ck_assert_msg(r.status == 201, "body %zu: %ld %s", i, r.status, r.body);
        json_t *j = resp_json(&r);
        ck_assert_str_eq(jstr_at(j, "body"), bodies[i]);
        char *again = json_dumps(j, JSON_COMPACT);
        ck_assert_msg(strcmp(again, r.body) == 0, "answer %s\nre-dumped %s",
                      r.body, again);
        const char *sid = jstr_at(j, "sid");
        char media[256];
        snprintf(media, sizeof media,
                 "/2010-04-01/Accounts/%s/Messages/%s/Media.json", SID, sid);
        json_t *sub = json_object_get(j, "subresource_uris");
        ck_assert_str_eq(json_string_value(json_object_get(sub, "media")),
                         media);
        ck_assert_str_eq(jstr_at(j, "status"), i == 6 ? "accepted" : "queued");
        free(again);
        json_decref(j);
        resp_free(&r);
    }
    char *form = NULL;
    form_add(&form, "To", TO_WA);
    form_add(&form, "From", FROM_WA);
    form_add(&form, "Body", "hello");
    form_add(&form, "MessagingServiceSid", "MG\xc3\x28");
    resp r;
    twilio_post(form, &r);
    free(form);
    ck_assert_int_eq(r.status, 201);
    json_t *j = resp_json(&r);
    ck_assert_ptr_null(json_object_get(j, "messaging_service_sid"));
    ck_assert_str_eq(jstr_at(j, "status"), "accepted");
    ck_assert_ptr_nonnull(json_object_get(j, "sid"));
    json_decref(j);
    resp_free(&r);
}
END_TEST

START_TEST(test_twilio_request_is_recorded_with_every_field_in_order)
{
    char *form = NULL;
    form_add(&form, "To", TO_WA);
    form_add(&form, "MessagingServiceSid", "MG0123456789abcdef0123456789abcd");
    form_add(&form, "MediaUrl", "https://example.com/a.jpg");
    form_add(&form, "ContentSid", "HX0123456789abcdef0123456789abcd");
    form_add(&form, "ContentVariables", "{\"1\":\"12/1\",\"2\":\"3pm\"}");
    form_add(&form, "MediaUrl", "https://example.com/b.pdf");
    form_add(&form, "StatusCallback", "https://bot.example.com/status");
    resp r;
    twilio_post(form, &r);
    ck_assert_int_eq(r.status, 201);
    json_t *j = resp_json(&r);
    ck_assert_str_eq(jstr_at(j, "status"), "accepted");
    ck_assert_str_eq(jstr_at(j, "num_media"), "2");

    fp_request rec = last_request();
    ck_assert_str_eq(rec.method, "POST");
    ck_assert_str_eq(rec.path, "/2010-04-01/Accounts/" SID "/Messages.json");
    ck_assert(strncmp(rec.authorization, "Basic ", 6) == 0);
    ck_assert_str_eq(rec.content_type, "application/x-www-form-urlencoded");
    ck_assert_str_eq(rec.body, form);
    ck_assert_str_eq(fp_request_form(&rec, "To", 0), TO_WA);
    ck_assert_uint_eq(fp_request_form_count(&rec, "MediaUrl"), 2);
    ck_assert_str_eq(fp_request_form(&rec, "MediaUrl", 0),
                     "https://example.com/a.jpg");
    ck_assert_str_eq(fp_request_form(&rec, "MediaUrl", 1),
                     "https://example.com/b.pdf");
    ck_assert_ptr_null(fp_request_form(&rec, "MediaUrl", 2));
    ck_assert_str_eq(fp_request_form(&rec, "ContentVariables", 0),
                     "{\"1\":\"12/1\",\"2\":\"3pm\"}");
    ck_assert_str_eq(fp_request_form(&rec, "StatusCallback", 0),
                     "https://bot.example.com/status");
    ck_assert_str_eq(fp_request_form(&rec, "MessagingServiceSid", 0),
                     "MG0123456789abcdef0123456789abcd");
    ck_assert_ptr_null(fp_request_form(&rec, "From", 0));
    fp_request_free(&rec);
    json_decref(j);
    resp_free(&r);
    free(form);
}
END_TEST

static void assert_twilio_error(const resp *r, long status, int code)
{
    ck_assert_int_eq(r->status, status);
    json_t *j = resp_json(r);
    ck_assert_int_eq(jint_at(j, "code"), code);
    ck_assert_int_eq(jint_at(j, "status"), status);
    ck_assert(strlen(jstr_at(j, "message")) > 0);
    char more[64];
    snprintf(more, sizeof more, "/errors/%d", code);
    ck_assert_ptr_nonnull(strstr(jstr_at(j, "more_info"), more));
    json_decref(j);
}

START_TEST(test_twilio_wrong_credentials_get_401_code_20003)
{
    char *form = NULL;
    form_add(&form, "To", TO_WA);
    form_add(&form, "From", FROM_WA);
    form_add(&form, "Body", "x");
    resp r;
    twilio_post_as(SID ":wrong", form, &r);
    assert_twilio_error(&r, 401, 20003);
    resp_free(&r);
    twilio_post_as(NULL, form, &r);
    assert_twilio_error(&r, 401, 20003);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_sent(srv), 0);
    ck_assert_uint_eq(fp_request_count(srv), 2);
    free(form);
}
END_TEST

static void assert_twilio_rejects(const char *to, const char *from,
                                  const char *body, int code)
{
    char *form = NULL;
    if (to)
        form_add(&form, "To", to);
    if (from)
        form_add(&form, "From", from);
    if (body)
        form_add(&form, "Body", body);
    resp r;
    twilio_post(form ? form : "", &r);
    assert_twilio_error(&r, 400, code);
    resp_free(&r);
    free(form);
}

START_TEST(test_twilio_incomplete_forms_get_400_with_the_documented_code)
{
    assert_twilio_rejects(NULL, FROM_WA, "x", 21604);
    assert_twilio_rejects(TO_WA, NULL, "x", 21603);
    assert_twilio_rejects(TO_WA, FROM_WA, NULL, 21602);
    assert_twilio_rejects("whatsapp:not-a-number", FROM_WA, "x", 21211);
    ck_assert_uint_eq(fp_count_sent(srv), 0);
}
END_TEST

/* ==== Meta =========================================================== */

START_TEST(test_meta_text_send_answers_200_with_a_wamid)
{
    resp r;
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    json_t *j = resp_json(&r);
    ck_assert_str_eq(jstr_at(j, "messaging_product"), "whatsapp");
    json_t *contact = json_array_get(json_object_get(j, "contacts"), 0);
    ck_assert_str_eq(jstr_at(contact, "input"), TO_E164);
    ck_assert_str_eq(jstr_at(contact, "wa_id"), "14155550100");
    json_t *msg = json_array_get(json_object_get(j, "messages"), 0);
    const char *id = jstr_at(msg, "id");
    ck_assert(strncmp(id, "wamid.", 6) == 0);
    ck_assert_uint_gt(strlen(id), 20);

    fp_request rec = last_request();
    ck_assert_int_eq(rec.provider, FP_META);
    ck_assert_str_eq(rec.authorization, "Bearer " META_TOKEN);
    ck_assert_str_eq(rec.message_id, id);
    ck_assert_str_eq(fp_request_json(&rec, "text.body"), "hi");
    ck_assert_str_eq(fp_request_json(&rec, "to"), TO_E164);
    fp_request_free(&rec);
    json_decref(j);
    resp_free(&r);
}
END_TEST

static const char template_json[] =
    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","
    "\"to\":\"14155550100\",\"type\":\"template\",\"template\":{"
    "\"name\":\"order_update\",\"language\":{\"code\":\"en_US\"},"
    "\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\","
    "\"text\":\"42\"}]}]}}";

static const char buttons_json[] =
    "{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
    "\"type\":\"interactive\",\"context\":{\"message_id\":\"wamid.IN1\"},"
    "\"interactive\":{\"type\":\"button\",\"body\":{\"text\":\"Pick\"},"
    "\"action\":{\"buttons\":["
    "{\"type\":\"reply\",\"reply\":{\"id\":\"a\",\"title\":\"Yes\"}},"
    "{\"type\":\"reply\",\"reply\":{\"id\":\"b\",\"title\":\"No\"}},"
    "{\"type\":\"reply\",\"reply\":{\"id\":\"c\",\"title\":\"Later\"}}]}}}";

static const char list_json[] =
    "{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
    "\"type\":\"interactive\",\"interactive\":{\"type\":\"list\","
    "\"body\":{\"text\":\"Menu\"},\"action\":{\"button\":\"Open\","
    "\"sections\":[{\"title\":\"S\",\"rows\":[{\"id\":\"r1\","
    "\"title\":\"One\"},{\"id\":\"r2\",\"title\":\"Two\"}]}]}}}";

START_TEST(test_meta_template_and_interactive_bodies_are_recorded)
{
    resp r;
    meta_post(template_json, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = resp_json(&r);
    json_t *msg = json_array_get(json_object_get(j, "messages"), 0);
    ck_assert_str_eq(jstr_at(msg, "message_status"), "accepted");
    json_decref(j);
    resp_free(&r);
    fp_request rec = last_request();
    ck_assert_str_eq(fp_request_json(&rec, "type"), "template");
    ck_assert_str_eq(fp_request_json(&rec, "template.name"), "order_update");
    ck_assert_str_eq(fp_request_json(&rec, "template.language.code"),
                     "en_US");
    ck_assert_str_eq(
        fp_request_json(&rec, "template.components.0.parameters.0.text"),
        "42");
    fp_request_free(&rec);

    meta_post(buttons_json, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    rec = last_request();
    ck_assert_str_eq(fp_request_json(&rec, "interactive.type"), "button");
    ck_assert_uint_eq(fp_request_json_len(&rec, "interactive.action.buttons"),
                      3);
    ck_assert_str_eq(
        fp_request_json(&rec, "interactive.action.buttons.2.reply.title"),
        "Later");
    ck_assert_str_eq(fp_request_json(&rec, "context.message_id"),
                     "wamid.IN1");
    ck_assert_ptr_null(fp_request_json(&rec, "interactive.nope"));
    fp_request_free(&rec);

    meta_post(list_json, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_to(srv, TO_E164), 3);
}
END_TEST

static void assert_meta_error(const resp *r, long status, int code)
{
    ck_assert_int_eq(r->status, status);
    json_t *j = resp_json(r);
    json_t *e = json_object_get(j, "error");
    ck_assert_int_eq(jint_at(e, "code"), code);
    ck_assert_str_eq(jstr_at(e, "type"), "OAuthException");
    ck_assert(strlen(jstr_at(e, "message")) > 0);
    ck_assert(strlen(jstr_at(e, "fbtrace_id")) > 0);
    if (code != 190) {
        json_t *data = json_object_get(e, "error_data");
        ck_assert_str_eq(jstr_at(data, "messaging_product"), "whatsapp");
        ck_assert(strlen(jstr_at(data, "details")) > 0);
    }
    json_decref(j);
}

START_TEST(test_meta_wrong_token_gets_401_code_190)
{
    resp r;
    meta_post_on(NULL, "not-the-token", template_json, &r);
    assert_meta_error(&r, 401, 190);
    resp_free(&r);
    meta_post_on(NULL, NULL, template_json, &r);
    assert_meta_error(&r, 401, 190);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_sent(srv), 0);
}
END_TEST

START_TEST(test_meta_invalid_bodies_get_400_code_100)
{
    static const char *const bad[] = {
        "not json",
        "{\"to\":\"14155550100\",\"type\":\"text\",\"text\":{\"body\":\"x\"}}",
        "{\"messaging_product\":\"whatsapp\",\"type\":\"text\","
        "\"text\":{\"body\":\"x\"}}",
        "{\"messaging_product\":\"whatsapp\",\"to\":\"1415\","
        "\"text\":{\"body\":\"\"}}",
        "{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
        "\"type\":\"template\",\"template\":{\"name\":\"t\"}}",
        "{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
        "\"type\":\"interactive\",\"interactive\":{\"type\":\"button\","
        "\"body\":{\"text\":\"b\"},\"action\":{\"buttons\":["
        "{\"type\":\"reply\",\"reply\":{\"id\":\"1\",\"title\":\"1\"}},"
        "{\"type\":\"reply\",\"reply\":{\"id\":\"2\",\"title\":\"2\"}},"
        "{\"type\":\"reply\",\"reply\":{\"id\":\"3\",\"title\":\"3\"}},"
        "{\"type\":\"reply\",\"reply\":{\"id\":\"4\",\"title\":\"4\"}}]}}}",
        "{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
        "\"type\":\"document\",\"document\":{\"filename\":\"a.pdf\"}}",
        NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        resp r;
        meta_post(bad[i], &r);
        assert_meta_error(&r, 400, 100);
        resp_free(&r);
    }
    ck_assert_uint_eq(fp_count_sent(srv), 0);
}
END_TEST

START_TEST(test_meta_checks_configured_phone_number_id_and_version)
{
    fp_stop(srv);
    fp_config cfg = {.meta_access_token = META_TOKEN,
                     .meta_phone_number_id = PHONE_ID,
                     .meta_api_version = "v21.0"};
    srv = fp_start(&cfg);
    ck_assert_ptr_nonnull(srv);
    resp r;
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);

    char url[256];
    snprintf(url, sizeof url, "%s/v21.0/999/messages", fp_base_url(srv));
    req q = {.url = url, .bearer = META_TOKEN, .body = template_json,
             .content_type = "application/json"};
    request(&q, &r);
    ck_assert_int_eq(r.status, 400);
    json_t *j = resp_json(&r);
    json_t *e = json_object_get(j, "error");
    ck_assert_int_eq(jint_at(e, "code"), 100);
    ck_assert_int_eq(jint_at(e, "error_subcode"), 33);
    ck_assert_str_eq(jstr_at(e, "type"), "GraphMethodException");
    json_decref(j);
    resp_free(&r);

    snprintf(url, sizeof url, "%s/v20.0/%s/messages", fp_base_url(srv),
             PHONE_ID);
    request(&q, &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
}
END_TEST

START_TEST(test_unknown_paths_get_404_and_are_recorded)
{
    char url[256];
    snprintf(url, sizeof url, "%s/nowhere", fp_base_url(srv));
    req q = {.url = url};
    resp r;
    request(&q, &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
    fp_request rec = last_request();
    ck_assert_int_eq(rec.provider, FP_OTHER);
    ck_assert_str_eq(rec.method, "GET");
    ck_assert_int_eq(rec.status, 404);
    fp_request_free(&rec);
}
END_TEST

/* ==== Faults ========================================================= */

START_TEST(test_status_fault_answers_that_status_with_provider_json)
{
    fp_fault f = {.kind = FP_FAULT_STATUS, .http_status = 500};
    ck_assert_int_eq(fp_fault_push(srv, FP_ANY, &f, 2), 0);
    resp r;
    twilio_send_text(TO_WA, &r);
    assert_twilio_error(&r, 500, 20500);
    resp_free(&r);
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 500);
    resp_free(&r);

    fp_fault g = {.kind = FP_FAULT_STATUS, .http_status = 502,
                  .body = "<html>Bad Gateway</html>",
                  .content_type = "text/html"};
    fp_fault_push(srv, FP_META, &g, 1);
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 502);
    ck_assert_str_eq(r.body, "<html>Bad Gateway</html>");
    ck_assert_str_eq(r.content_type, "text/html");
    resp_free(&r);

    fp_request rec = last_request();
    ck_assert_int_eq(rec.fault, FP_FAULT_STATUS);
    ck_assert_ptr_null(rec.message_id);
    fp_request_free(&rec);
    ck_assert_uint_eq(fp_count_sent(srv), 0);
}
END_TEST

START_TEST(test_rate_limit_fault_sends_429_with_retry_after)
{
    fp_fault f = {.kind = FP_FAULT_RATE_LIMIT, .retry_after_s = 7};
    fp_fault_push(srv, FP_TWILIO, &f, 1);
    resp r;
    twilio_send_text(TO_WA, &r);
    assert_twilio_error(&r, 429, 20429);
    ck_assert_str_eq(r.retry_after, "7");
    resp_free(&r);

    fp_fault g = {.kind = FP_FAULT_RATE_LIMIT, .code = 131056,
                  .retry_after_s = 2};
    fp_fault_push(srv, FP_META, &g, 1);
    meta_send_text(TO_E164, &r);
    assert_meta_error(&r, 429, 131056);
    ck_assert_str_eq(r.retry_after, "2");
    resp_free(&r);

    fp_fault h = {.kind = FP_FAULT_RATE_LIMIT};
    fp_fault_push(srv, FP_META, &h, 1);
    meta_send_text(TO_E164, &r);
    assert_meta_error(&r, 429, 130429);
    ck_assert_str_eq(r.retry_after, "");
    resp_free(&r);
}
END_TEST

START_TEST(test_provider_error_fault_has_each_providers_shape)
{
    fp_fault f = {.kind = FP_FAULT_PROVIDER_ERROR, .code = 63016};
    fp_fault_push(srv, FP_TWILIO, &f, 1);
    resp r;
    twilio_send_text(TO_WA, &r);
    assert_twilio_error(&r, 400, 63016);
    resp_free(&r);

    fp_fault g = {.kind = FP_FAULT_PROVIDER_ERROR, .code = 131047,
                  .details = "Message failed to send because more than 24 "
                             "hours have passed"};
    fp_fault_push(srv, FP_META, &g, 1);
    meta_send_text(TO_E164, &r);
    assert_meta_error(&r, 400, 131047);
    json_t *j = resp_json(&r);
    json_t *e = json_object_get(j, "error");
    ck_assert(strncmp(jstr_at(e, "message"), "(#131047) ", 10) == 0);
    ck_assert_ptr_nonnull(
        strstr(jstr_at(json_object_get(e, "error_data"), "details"),
               "24 hours"));
    ck_assert_ptr_null(json_object_get(e, "error_subcode"));
    json_decref(j);
    resp_free(&r);

    fp_fault h = {.kind = FP_FAULT_PROVIDER_ERROR, .code = 368,
                  .subcode = 2446079};
    fp_fault_push(srv, FP_META, &h, 1);
    meta_send_text(TO_E164, &r);
    assert_meta_error(&r, 403, 368);
    j = resp_json(&r);
    ck_assert_int_eq(
        jint_at(json_object_get(j, "error"), "error_subcode"), 2446079);
    json_decref(j);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_sent(srv), 0);
}
END_TEST

typedef struct bg_call {
    pthread_t thread;
    long timeout_ms;
    resp r;
    int64_t took_ms;
} bg_call;

static void *bg_twilio(void *arg)
{
    bg_call *b = arg;
    char url[256], *form = NULL;
    twilio_url(srv, SID, url, sizeof url);
    form_add(&form, "To", TO_WA);
    form_add(&form, "From", FROM_WA);
    form_add(&form, "Body", "slow");
    req q = {.url = url, .userpwd = SID ":" TOKEN, .body = form,
             .content_type = "application/x-www-form-urlencoded",
             .timeout_ms = b->timeout_ms};
    int64_t t0 = now_ms();
    CURL *c = curl_easy_init();
    request_on(c, &q, &b->r);
    curl_easy_cleanup(c);
    b->took_ms = now_ms() - t0;
    free(form);
    return NULL;
}

START_TEST(test_delay_fault_answers_late_without_holding_up_others)
{
    fp_fault f = {.kind = FP_FAULT_DELAY, .delay_ms = 400};
    fp_fault_push(srv, FP_TWILIO, &f, 1);
    bg_call slow = {.timeout_ms = 5000};
    pthread_create(&slow.thread, NULL, bg_twilio, &slow);
    ck_assert(fp_wait_requests(srv, 1, 5000));

    int64_t t0 = now_ms();
    resp r;
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_lt(now_ms() - t0, 300);
    resp_free(&r);

    pthread_join(slow.thread, NULL);
    ck_assert_int_eq(slow.r.rc, CURLE_OK);
    ck_assert_int_eq(slow.r.status, 201);
    ck_assert_int_ge(slow.took_ms, 390);
    resp_free(&slow.r);

    fp_request rec;
    ck_assert_int_eq(fp_request_get(srv, 0, &rec), 0);
    ck_assert_int_eq(rec.fault, FP_FAULT_DELAY);
    fp_request_free(&rec);
}
END_TEST

START_TEST(test_hang_fault_times_the_client_out_and_server_stays_healthy)
{
    fp_fault f = {.kind = FP_FAULT_HANG};
    fp_fault_push(srv, FP_TWILIO, &f, 1);
    bg_call hung = {.timeout_ms = 300};
    bg_twilio(&hung);
    ck_assert_int_eq(hung.r.rc, CURLE_OPERATION_TIMEDOUT);
    ck_assert_int_eq(hung.r.status, 0);
    ck_assert_int_lt(hung.took_ms, 2000);
    resp_free(&hung.r);

    resp r;
    twilio_send_text(TO_WA, &r);
    ck_assert_int_eq(r.status, 201);
    resp_free(&r);

    fp_request rec;
    ck_assert_int_eq(fp_request_get(srv, 0, &rec), 0);
    ck_assert_int_eq(rec.fault, FP_FAULT_HANG);
    ck_assert_int_eq(rec.status, 0);
    ck_assert_ptr_null(rec.message_id);
    fp_request_free(&rec);
    ck_assert_uint_eq(fp_count_sent(srv), 1);
}
END_TEST

START_TEST(test_stop_does_not_wait_for_hanging_or_idle_connections)
{
    CURL *idle = curl_easy_init(); /* keeps its connection open */
    char url[256];
    snprintf(url, sizeof url, "%s/", fp_base_url(srv));
    req q = {.url = url};
    resp r;
    request_on(idle, &q, &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);

    fp_fault f = {.kind = FP_FAULT_HANG};
    fp_fault_push(srv, FP_ANY, &f, -1);
    bg_call hung = {.timeout_ms = 10000};
    pthread_create(&hung.thread, NULL, bg_twilio, &hung);
    ck_assert(fp_wait_requests(srv, 2, 5000));

    int64_t t0 = now_ms();
    fp_stop(srv);
    srv = NULL;
    ck_assert_int_lt(now_ms() - t0, 1000);
    pthread_join(hung.thread, NULL);
    ck_assert_int_ne(hung.r.rc, CURLE_OK);
    ck_assert_int_lt(hung.took_ms, 2000);
    resp_free(&hung.r);
    curl_easy_cleanup(idle);
}
END_TEST

/* ==== Status callbacks =============================================== */

static int wait_requests(fp_server *s, size_t n)
{
    int64_t deadline = now_ms() + 20000;
    while (fp_request_count(s) < n && now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return fp_request_count(s) >= n;
}

START_TEST(test_twilio_status_callbacks_come_back_to_the_url_with_its_query)
{
    fp_stop(srv);
    fp_config cfg = {.twilio_account_sid = SID,
                     .twilio_auth_token = TOKEN,
                     .meta_access_token = META_TOKEN,
                     .send_status_callbacks = 1};
    srv = fp_start(&cfg);
    ck_assert_ptr_nonnull(srv);
    fp_server *sink = fp_start(NULL); /* records what it is sent */
    ck_assert_ptr_nonnull(sink);
    char cb[256];
    snprintf(cb, sizeof cb, "%s/status?wabot_send=r1%%3Ar0",
             fp_base_url(sink));
    char *form = NULL;
    form_add(&form, "To", "whatsapp:+14155550100");
    form_add(&form, "From", FROM_WA);
    form_add(&form, "StatusCallback", cb);
    form_add(&form, "Body", "hello");
    resp r;
    twilio_post(form, &r);
    free(form);
    ck_assert_int_eq(r.status, 201);
    json_t *j = resp_json(&r);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", jstr_at(j, "sid"));
    json_decref(j);
    resp_free(&r);

    ck_assert(wait_requests(sink, 2));
    const char *states[] = {"sent", "delivered"};
    for (size_t i = 0; i < 2; i++) {
        fp_request q;
        ck_assert_int_eq(fp_request_get(sink, i, &q), 0);
        ck_assert_str_eq(q.method, "POST");
        ck_assert_str_eq(q.path, "/status");
        ck_assert_str_eq(q.query, "wabot_send=r1%3Ar0");
        ck_assert_str_eq(q.content_type, "application/x-www-form-urlencoded");
        ck_assert_str_eq(fp_request_form(&q, "MessageSid", 0), sid);
        ck_assert_str_eq(fp_request_form(&q, "MessageStatus", 0), states[i]);
        ck_assert_str_eq(fp_request_form(&q, "To", 0),
                         "whatsapp:+14155550100");
        ck_assert_str_eq(fp_request_form(&q, "AccountSid", 0), SID);
        fp_request_free(&q);
    }
    /* The sink answers 404: both counted as failed, none sent. */
    int64_t deadline = now_ms() + 20000;
    while (fp_status_callbacks_failed(srv) < 2 && now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(fp_status_callbacks_failed(srv), 2);
    ck_assert_uint_eq(fp_status_callbacks_sent(srv), 0);
    fp_stop(sink);
}
END_TEST

START_TEST(test_drop_fault_closes_the_connection_without_an_answer)
{
    fp_fault f = {.kind = FP_FAULT_DROP};
    fp_fault_push(srv, FP_META, &f, 1);
    resp r;
    meta_send_text(TO_E164, &r);
    ck_assert_int_ne(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 0);
    resp_free(&r);
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

START_TEST(test_fault_times_count_down_then_normal_service_resumes)
{
    fp_fault f = {.kind = FP_FAULT_STATUS, .http_status = 503};
    fp_fault_push(srv, FP_TWILIO, &f, 2);
    fp_fault g = {.kind = FP_FAULT_STATUS, .http_status = 500};
    fp_fault_push(srv, FP_TWILIO, &g, 1);
    long want[] = {503, 503, 500, 201, 201};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        resp r;
        twilio_send_text(TO_WA, &r);
        ck_assert_int_eq(r.status, want[i]);
        resp_free(&r);
    }

    fp_fault h = {.kind = FP_FAULT_STATUS, .http_status = 500};
    fp_fault_push(srv, FP_META, &h, -1);
    for (int i = 0; i < 3; i++) {
        resp r;
        meta_send_text(TO_E164, &r);
        ck_assert_int_eq(r.status, 500);
        resp_free(&r);
    }
    fp_fault_clear(srv);
    resp r;
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_sent(srv), 3);
}
END_TEST

START_TEST(test_down_mode_answers_503_until_lifted)
{
    fp_set_down(srv, FP_META, 1);
    resp r;
    meta_send_text(TO_E164, &r);
    assert_meta_error(&r, 503, 2);
    resp_free(&r);
    twilio_send_text(TO_WA, &r);
    ck_assert_int_eq(r.status, 201);
    resp_free(&r);

    fp_set_down(srv, FP_ANY, 1);
    twilio_send_text(TO_WA, &r);
    assert_twilio_error(&r, 503, 20503);
    resp_free(&r);

    fp_set_down(srv, FP_ANY, 0);
    meta_send_text(TO_E164, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_sent(srv), 2);
}
END_TEST

/* ==== Recording under load =========================================== */

#define THREADS 8
#define PER_THREAD 25

typedef struct sender {
    pthread_t thread;
    int index;
    int ok;
} sender;

static void *send_many(void *arg)
{
    sender *w = arg;
    char to[32], json[256], url[256];
    snprintf(to, sizeof to, "+1415555%04d", w->index);
    snprintf(json, sizeof json,
             "{\"messaging_product\":\"whatsapp\",\"to\":\"%s\","
             "\"text\":{\"body\":\"n\"}}",
             to);
    twilio_url(srv, SID, url, sizeof url);
    CURL *c = curl_easy_init();
    for (int i = 0; i < PER_THREAD; i++) {
        resp r;
        if (i % 2 == 0) {
            meta_post_on(c, META_TOKEN, json, &r);
        } else {
            char form[256];
            snprintf(form, sizeof form, "To=%%2B%s&From=%%2B1&Body=n",
                     to + 1);
            req q = {.url = url, .userpwd = SID ":" TOKEN, .body = form,
                     .content_type = "application/x-www-form-urlencoded"};
            request_on(c, &q, &r);
        }
        w->ok += r.status == 200 || r.status == 201;
        free(r.body);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_concurrent_requests_from_8_threads_are_all_recorded)
{
    sender w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (sender){.index = i};
        pthread_create(&w[i].thread, NULL, send_many, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        ck_assert_int_eq(w[i].ok, PER_THREAD);
    }
    size_t n = fp_request_count(srv);
    ck_assert_uint_eq(n, THREADS * PER_THREAD);
    ck_assert_uint_eq(fp_count_sent(srv), n);
    for (int i = 0; i < THREADS; i++) {
        char to[32];
        snprintf(to, sizeof to, "+1415555%04d", i);
        ck_assert_uint_eq(fp_count_to(srv, to), PER_THREAD);
    }

    char *ids[THREADS * PER_THREAD];
    for (size_t i = 0; i < n; i++) {
        fp_request rec;
        ck_assert_int_eq(fp_request_get(srv, i, &rec), 0);
        ids[i] = strdup(rec.message_id);
        fp_request_free(&rec);
    }
    qsort(ids, n, sizeof ids[0], cmp_str);
    for (size_t i = 1; i < n; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
}
END_TEST

START_TEST(test_count_to_matches_both_providers_and_reset_forgets)
{
    resp r;
    twilio_send_text(TO_WA, &r);
    resp_free(&r);
    meta_send_text("14155550100", &r);
    resp_free(&r);
    twilio_post_as(SID ":bad", "To=x", &r);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_to(srv, TO_E164), 2);
    ck_assert_uint_eq(fp_count_to(srv, TO_WA), 2);
    ck_assert_uint_eq(fp_count_to(srv, "+19995550100"), 0);
    ck_assert_uint_eq(fp_request_count(srv), 3);
    /* the refused one (bad credentials) was no send */
    ck_assert_uint_eq(fp_count_sent(srv), 2);

    char *all = fp_requests_json(srv);
    json_t *j = json_loads(all, 0, NULL);
    ck_assert_uint_eq(json_array_size(j), 3);
    json_t *first = json_array_get(j, 0);
    ck_assert_str_eq(jstr_at(first, "provider"), "twilio");
    json_t *to = json_array_get(json_object_get(first, "form"), 0);
    ck_assert_str_eq(json_string_value(json_array_get(to, 1)), TO_WA);
    json_t *second = json_array_get(j, 1);
    ck_assert_str_eq(
        jstr_at(json_object_get(json_object_get(second, "json"), "text"),
                "body"),
        "hi");
    json_decref(j);
    free(all);

    fp_reset(srv);
    ck_assert_uint_eq(fp_request_count(srv), 0);
    ck_assert_uint_eq(fp_count_to(srv, TO_E164), 0);
    ck_assert_uint_eq(fp_count_sent(srv), 0);
    twilio_send_text(TO_WA, &r);
    resp_free(&r);
    ck_assert_uint_eq(fp_count_sent(srv), 1);
}
END_TEST

/* ==== The standalone executable ====================================== */

static int child_port(server_proc *p)
{
    ck_assert_msg(sp_wait_lines(p, SP_STDERR, "fake-provider listening on",
                                1, 10000),
                  "fake-provider did not start");
    char *text = sp_text(p, SP_STDERR);
    const char *at = strstr(text, "http://127.0.0.1:");
    ck_assert_ptr_nonnull(at);
    int port = atoi(at + strlen("http://127.0.0.1:"));
    free(text);
    ck_assert_int_gt(port, 0);
    return port;
}

static void child_call(int port, const char *method, const char *path,
                       const char *body, resp *r)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    req q = {.method = method, .url = url, .body = body,
             .content_type = body ? "application/json" : NULL};
    request(&q, r);
    ck_assert_int_eq(r->rc, CURLE_OK);
}

static void child_twilio(int port, resp *r)
{
    char url[256];
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/2010-04-01/Accounts/%s/Messages.json",
             port, SID);
    req q = {.url = url, .userpwd = SID ":" TOKEN,
             .content_type = "application/x-www-form-urlencoded",
             .body = "To=whatsapp%3A%2B14155550100&From=whatsapp%3A%2B1&"
                     "Body=hi"};
    request(&q, r);
}

static long long child_count(int port, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/__fake/count%s", query);
    resp r;
    child_call(port, "GET", path, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = resp_json(&r);
    long long n = jint_at(j, "count");
    json_decref(j);
    resp_free(&r);
    return n;
}

static void child_control_faults(int port)
{
    resp r;
    child_call(port, "POST", "/__fake/fault",
               "{\"provider\":\"twilio\",\"kind\":\"rate_limit\","
               "\"retry_after\":3,\"times\":1}",
               &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    child_twilio(port, &r);
    assert_twilio_error(&r, 429, 20429);
    ck_assert_str_eq(r.retry_after, "3");
    resp_free(&r);

    child_call(port, "POST", "/__fake/fault", "{\"kind\":\"bogus\"}", &r);
    ck_assert_int_eq(r.status, 400);
    resp_free(&r);

    child_call(port, "POST", "/__fake/down?provider=twilio&on=1", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    child_twilio(port, &r);
    assert_twilio_error(&r, 503, 20503);
    resp_free(&r);
    child_call(port, "POST", "/__fake/down?provider=twilio&on=0", NULL, &r);
    resp_free(&r);
}

static void child_control_records(int port)
{
    resp r;
    child_twilio(port, &r);
    ck_assert_int_eq(r.status, 201);
    resp_free(&r);
    ck_assert_int_eq(child_count(port, "?to=%2B14155550100"), 1);
    ck_assert_int_eq(child_count(port, ""), 1);

    child_call(port, "GET", "/__fake/requests", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = resp_json(&r);
    ck_assert_uint_eq(json_array_size(j), 3);
    json_t *last = json_array_get(j, 2);
    ck_assert_int_eq(jint_at(last, "status"), 201);
    ck_assert(strncmp(jstr_at(last, "message_id"), "SM", 2) == 0);
    ck_assert_str_eq(jstr_at(json_array_get(j, 0), "fault"), "rate_limit");
    json_decref(j);
    resp_free(&r);

    child_call(port, "POST", "/__fake/reset", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert_int_eq(child_count(port, ""), 0);
}

/* Start the executable with args, steer it through its control
 * endpoints, stop it with SIGTERM: exit status 0. */
static void control_then_sigterm(const char *const *args)
{
    server_proc p;
    ck_assert_int_eq(sp_spawn(&p, exe_path, args, NULL), 0);
    int port = child_port(&p);
    child_control_faults(port);
    child_control_records(port);

    int status = -1;
    ck_assert_int_eq(sp_stop(&p, SIGTERM, 5000, &status), 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    sp_free(&p);
}

START_TEST(test_executable_serves_control_endpoints_and_exits_on_sigterm)
{
    const char *const args[] = {"--port", "0", "--twilio-sid", SID,
                                "--twilio-token", TOKEN, "--meta-token",
                                META_TOKEN, NULL};
    control_then_sigterm(args);
}
END_TEST

/* One pool thread with hundreds of kept-alive connections, all asking at
 * once (the benchmark's sender connections): every answer comes at once.
 * libmicrohttpd 0.9.75's epoll mode left such bursts unanswered for the
 * connection timeout at 128 and 256 connections (fake_provider.c). The
 * executable, so that it can be stopped while the requests go out. */
START_TEST(test_one_pool_thread_answers_bursts_on_many_kept_alive_connections)
{
    const char *const args[] = {"--port", "0", "--pool", "1", NULL};
    server_proc p;
    ck_assert_int_eq(sp_spawn(&p, exe_path, args, NULL), 0);
    int port = child_port(&p);
    static const int sizes[] = {127, 128, 129, 256, 300};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char why[256] = "";
        int rc = http_bursts(port, sizes[i],
                             "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
                             "HTTP/1.1 404", 10, 10000, p.pid, why,
                             sizeof why);
        ck_assert_msg(rc == 0, "%d connections: %s", sizes[i], why);
    }
    int status = -1;
    ck_assert_int_eq(sp_stop(&p, SIGTERM, 5000, &status), 0);
    sp_free(&p);
}
END_TEST

START_TEST(test_executable_with_a_thread_pool_serves_and_refuses_bad_sizes)
{
    const char *const args[] = {"--port", "0", "--twilio-sid", SID,
                                "--twilio-token", TOKEN, "--meta-token",
                                META_TOKEN, "--pool", "2", NULL};
    control_then_sigterm(args);

    server_proc p;
    int status = -1;
    const char *const bad[] = {"--pool", "65", NULL};
    ck_assert_int_eq(sp_spawn(&p, exe_path, bad, NULL), 0);
    ck_assert_int_eq(sp_wait_exit(&p, 5000, &status), 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    sp_free(&p);
}
END_TEST

/* The document URL a provider would fetch, and the text, read the same
 * way for both providers; none for a plain text or an uploaded media. */
START_TEST(test_media_url_and_text_are_read_alike_for_both_providers)
{
    resp r;
    char *form = NULL;
    form_add(&form, "To", TO_WA);
    form_add(&form, "From", FROM_WA);
    form_add(&form, "Body", "Invoice INV-1");
    form_add(&form, "MediaUrl", "http://127.0.0.1:1/inv/a.pdf");
    twilio_post(form, &r);
    free(form);
    ck_assert_int_eq(r.status, 201);
    resp_free(&r);
    fp_request rec = last_request();
    ck_assert_str_eq(fp_request_media_url(&rec), "http://127.0.0.1:1/inv/a.pdf");
    ck_assert_str_eq(fp_request_text(&rec), "Invoice INV-1");
    fp_request_free(&rec);

    meta_post("{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
              "\"type\":\"document\",\"document\":{\"link\":"
              "\"http://127.0.0.1:1/inv/b.pdf\",\"caption\":\"Invoice INV-2\","
              "\"filename\":\"INV-2.pdf\"}}",
              &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    rec = last_request();
    ck_assert_str_eq(fp_request_media_url(&rec), "http://127.0.0.1:1/inv/b.pdf");
    ck_assert_str_eq(fp_request_text(&rec), "Invoice INV-2");
    fp_request_free(&rec);

    meta_post("{\"messaging_product\":\"whatsapp\",\"to\":\"14155550100\","
              "\"type\":\"image\",\"image\":{\"id\":\"1234\"}}",
              &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    rec = last_request();
    ck_assert_ptr_null(fp_request_media_url(&rec));
    ck_assert_ptr_null(fp_request_text(&rec));
    fp_request_free(&rec);

    meta_send_text("14155550100", &r);
    resp_free(&r);
    rec = last_request();
    ck_assert_ptr_null(fp_request_media_url(&rec));
    ck_assert_str_eq(fp_request_text(&rec), "hi");
    fp_request_free(&rec);

    /* The recording as JSON says the same. */
    char *all = fp_requests_json(srv);
    json_t *j = json_loads(all, 0, NULL);
    free(all);
    ck_assert_str_eq(jstr_at(json_array_get(j, 0), "media_url"),
                     "http://127.0.0.1:1/inv/a.pdf");
    ck_assert_str_eq(jstr_at(json_array_get(j, 1), "media_url"),
                     "http://127.0.0.1:1/inv/b.pdf");
    ck_assert(json_is_null(json_object_get(json_array_get(j, 3),
                                           "media_url")));
    json_decref(j);
}
END_TEST

static Suite *fake_provider_suite(void)
{
    Suite *s = suite_create("fake-provider");
    TCase *tw = tcase_create("twilio");
    tcase_add_checked_fixture(tw, setup, teardown);
    tcase_add_test(tw, test_twilio_send_answers_201_with_the_message_resource);
    tcase_add_test(tw, test_twilio_answer_is_jansson_compact_json_byte_for_byte);
    tcase_add_test(tw, test_twilio_request_is_recorded_with_every_field_in_order);
    tcase_add_test(tw, test_twilio_wrong_credentials_get_401_code_20003);
    tcase_add_test(tw,
                   test_twilio_incomplete_forms_get_400_with_the_documented_code);
    suite_add_tcase(s, tw);

    TCase *me = tcase_create("meta");
    tcase_add_checked_fixture(me, setup, teardown);
    tcase_add_test(me, test_meta_text_send_answers_200_with_a_wamid);
    tcase_add_test(me, test_meta_template_and_interactive_bodies_are_recorded);
    tcase_add_test(me, test_meta_wrong_token_gets_401_code_190);
    tcase_add_test(me, test_meta_invalid_bodies_get_400_code_100);
    tcase_add_test(me, test_meta_checks_configured_phone_number_id_and_version);
    tcase_add_test(me, test_unknown_paths_get_404_and_are_recorded);
    suite_add_tcase(s, me);

    TCase *fa = tcase_create("faults");
    tcase_add_checked_fixture(fa, setup, teardown);
    tcase_add_test(fa, test_status_fault_answers_that_status_with_provider_json);
    tcase_add_test(fa, test_rate_limit_fault_sends_429_with_retry_after);
    tcase_add_test(fa, test_provider_error_fault_has_each_providers_shape);
    tcase_add_test(fa, test_delay_fault_answers_late_without_holding_up_others);
    tcase_add_test(fa,
                   test_hang_fault_times_the_client_out_and_server_stays_healthy);
    tcase_add_test(fa,
                   test_stop_does_not_wait_for_hanging_or_idle_connections);
    tcase_add_test(fa, test_drop_fault_closes_the_connection_without_an_answer);
    tcase_add_test(fa, test_fault_times_count_down_then_normal_service_resumes);
    tcase_add_test(fa, test_down_mode_answers_503_until_lifted);
    suite_add_tcase(s, fa);

    TCase *rec = tcase_create("recording");
    tcase_add_checked_fixture(rec, setup, teardown);
    tcase_add_test(rec, test_concurrent_requests_from_8_threads_are_all_recorded);
    tcase_add_test(rec, test_count_to_matches_both_providers_and_reset_forgets);
    tcase_add_test(rec, test_media_url_and_text_are_read_alike_for_both_providers);
    tcase_add_test(rec,
                   test_twilio_status_callbacks_come_back_to_the_url_with_its_query);
    suite_add_tcase(s, rec);

    TCase *pool = tcase_create("thread_pool");
    tcase_add_checked_fixture(pool, setup_pool, teardown);
    tcase_add_test(pool, test_twilio_send_answers_201_with_the_message_resource);
    tcase_add_test(pool, test_meta_text_send_answers_200_with_a_wamid);
    tcase_add_test(pool, test_concurrent_requests_from_8_threads_are_all_recorded);
    tcase_add_test(pool, test_count_to_matches_both_providers_and_reset_forgets);
    suite_add_tcase(s, pool);

    TCase *ex = tcase_create("executable");
    tcase_set_timeout(ex, 120); /* a stalled burst waits 10 s to fail */
    tcase_add_test(ex,
                   test_executable_serves_control_endpoints_and_exits_on_sigterm);
    tcase_add_test(ex,
                   test_executable_with_a_thread_pool_serves_and_refuses_bad_sizes);
    tcase_add_test(ex,
        test_one_pool_thread_answers_bursts_on_many_kept_alive_connections);
    suite_add_tcase(s, ex);
    return s;
}

int main(int argc, char **argv)
{
    exe_path = argc > 1 ? argv[1] : getenv("FAKE_PROVIDER");
    if (exe_path == NULL || exe_path[0] == '\0') {
        fprintf(stderr, "usage: %s PATH-TO-fake-provider "
                        "(or set FAKE_PROVIDER)\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(fake_provider_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
