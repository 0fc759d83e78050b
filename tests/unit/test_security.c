/* Webhook security and inbound hygiene: the signature verifiers against
 * the providers' published SDK vectors, wabot_http_handle() refusing what
 * is not signed (and checking in the right order), Meta's verification
 * handshake, inbound dedup, the per-customer rate limit, opt-out keywords
 * and the options that configure them. Delivery receipts are in
 * test_receipts.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testutil.h"
#include "internal/ctx.h"
#include "internal/inbound.h"
#include "internal/webhook.h"

#define TWILIO_PATH "/whatsapp/webhook"
#define META_PATH "/whatsapp-v2/webhook"
#define CT_FORM "application/x-www-form-urlencoded"
#define CT_JSON "application/json"
#define TOKEN "12345"
#define APP_SECRET "meta-app-secret"
#define VERIFY_TOKEN "verify-me-please"
#define PUBLIC "https://bot.example.com"
#define CUSTOMER "+14155550100"

/* ------------------------------------------------------------------ */
/* Published vectors (Twilio's SDK request-validator tests, Meta's docs) */

#define VEC_URL "https://mycompany.com/myapp.php?foo=1&bar=2"
/* CallSid=CA1234567890ABCDE, Caller=+14158675309, Digits=1234,
 * From=+14158675309, To=+18005551212, in a deliberately unsorted order. */
#define VEC_FORM                                                             \
    "To=%2B18005551212&Caller=%2B14158675309&CallSid=CA1234567890ABCDE&"     \
    "From=%2B14158675309&Digits=1234"
#define VEC_BODY "{\"property\": \"value\", \"boolean\": true}"
#define VEC_BODY_HASH                                                        \
    "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"

static int twilio_form_ok(const char *url, const char *form, const char *sig)
{
    return wabot_twilio_signature_check(TOKEN, url, WABOT_TWILIO_BODY_FORM,
                                        form, strlen(form), sig) == WABOT_OK;
}

START_TEST(test_twilio_vector_as_published)
{
    ck_assert(twilio_form_ok(VEC_URL, VEC_FORM,
                             "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
}
END_TEST

START_TEST(test_twilio_vectors_with_and_without_default_ports)
{
    /* Signed with the port: accepted for the URL without it, and for the
     * URL with it. */
    ck_assert(twilio_form_ok(VEC_URL, VEC_FORM,
                             "kvajT1Ptam85bY51eRf/AJRuM3w="));
    ck_assert(twilio_form_ok("https://mycompany.com:443/myapp.php?foo=1&bar=2",
                             VEC_FORM, "kvajT1Ptam85bY51eRf/AJRuM3w="));
    /* Signed without the port: accepted for the URL with it. */
    ck_assert(twilio_form_ok("https://mycompany.com:443/myapp.php?foo=1&bar=2",
                             VEC_FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    ck_assert(twilio_form_ok("http://mycompany.com:80/myapp.php?foo=1&bar=2",
                             VEC_FORM, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    ck_assert(twilio_form_ok("http://mycompany.com/myapp.php?foo=1&bar=2",
                             VEC_FORM, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    ck_assert(twilio_form_ok("http://mycompany.com/myapp.php?foo=1&bar=2",
                             VEC_FORM, "OyGYPqTF6ztdbRNCvuQO/oPvqQ4="));
    ck_assert(twilio_form_ok("http://mycompany.com:80/myapp.php?foo=1&bar=2",
                             VEC_FORM, "OyGYPqTF6ztdbRNCvuQO/oPvqQ4="));
    ck_assert(twilio_form_ok("http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                             VEC_FORM, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    /* A non-default port is part of what was signed. */
    ck_assert(!twilio_form_ok("http://mycompany.com/myapp.php?foo=1&bar=2",
                              VEC_FORM, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    ck_assert(!twilio_form_ok("http://mycompany.com:4321/myapp.php?foo=1&"
                              "bar=2", VEC_FORM,
                              "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
}
END_TEST

START_TEST(test_twilio_vector_repeated_keys_sort_values)
{
    static const char *const forms[] = {
        "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
        "Digits=1234&SidAccount=AC123&Digits=5678&Sid=CA123",
    };
    for (size_t i = 0; i < 2; i++)
        ck_assert(twilio_form_ok(VEC_URL, forms[i],
                                 "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    ck_assert(!twilio_form_ok(VEC_URL, "Sid=CA123&SidAccount=AC123&"
                                       "Digits=5678",
                              "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
}
END_TEST

START_TEST(test_twilio_vectors_body_sha256)
{
    const char *urls[][2] = {
        {VEC_URL "&bodySHA256=" VEC_BODY_HASH, "a9nBmqA0ju/hNViExpshrM61xv4="},
        {"https://mycompany.com/myapp.php?bodySHA256=" VEC_BODY_HASH,
         "y77kIzt2vzLz71DgmJGsen2scGs="},
    };
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(wabot_twilio_signature_check(
                             TOKEN, urls[i][0], WABOT_TWILIO_BODY_RAW,
                             VEC_BODY, strlen(VEC_BODY), urls[i][1]),
                         WABOT_OK);
        /* One byte of the body changed: its hash no longer matches. */
        const char *other = "{\"property\": \"value\", \"boolean\": false}";
        ck_assert_int_eq(wabot_twilio_signature_check(
                             TOKEN, urls[i][0], WABOT_TWILIO_BODY_RAW, other,
                             strlen(other), urls[i][1]),
                         WABOT_ERR_AUTH);
    }
    /* Without bodySHA256 a raw body is not covered: refused. */
    ck_assert_int_eq(wabot_twilio_signature_check(
                         TOKEN, VEC_URL, WABOT_TWILIO_BODY_RAW, VEC_BODY,
                         strlen(VEC_BODY), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                     WABOT_ERR_AUTH);
}
END_TEST

START_TEST(test_twilio_altered_requests_fail)
{
    const char *sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    /* a parameter's value, an added parameter, a removed one */
    ck_assert(!twilio_form_ok(VEC_URL, "To=%2B18005551213&Caller=%2B141586753"
                                       "09&CallSid=CA1234567890ABCDE&From=%2B"
                                       "14158675309&Digits=1234", sig));
    ck_assert(!twilio_form_ok(VEC_URL, VEC_FORM "&Body=hi", sig));
    ck_assert(!twilio_form_ok(VEC_URL, "Caller=%2B14158675309&CallSid=CA12345"
                                       "67890ABCDE&From=%2B14158675309&Digits"
                                       "=1234", sig));
    /* the URL: path, query, host, scheme */
    ck_assert(!twilio_form_ok("https://mycompany.com/myapp.php?foo=1&bar=3",
                              VEC_FORM, sig));
    ck_assert(!twilio_form_ok("https://mycompany.com/other.php?foo=1&bar=2",
                              VEC_FORM, sig));
    ck_assert(!twilio_form_ok("https://evil.com/myapp.php?foo=1&bar=2",
                              VEC_FORM, sig));
    ck_assert(!twilio_form_ok("http://mycompany.com/myapp.php?foo=1&bar=2",
                              VEC_FORM, sig));
    /* the signature: one character, truncated, empty-ish, another token */
    ck_assert(!twilio_form_ok(VEC_URL, VEC_FORM,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B9="));
    ck_assert(!twilio_form_ok(VEC_URL, VEC_FORM, "RSOYDt4T1cUTdK1PDd93"));
    ck_assert(!twilio_form_ok(VEC_URL, VEC_FORM, " "));
    ck_assert_int_eq(wabot_twilio_signature_check("54321", VEC_URL,
                                                  WABOT_TWILIO_BODY_FORM,
                                                  VEC_FORM, strlen(VEC_FORM),
                                                  sig),
                     WABOT_ERR_AUTH);
    /* surrounding white space in the header is not part of it */
    ck_assert(twilio_form_ok(VEC_URL, VEC_FORM,
                             " RSOYDt4T1cUTdK1PDd93/VVr8B8= "));
}
END_TEST

START_TEST(test_twilio_check_rejects_bad_arguments)
{
    ck_assert_int_eq(wabot_twilio_signature_check(NULL, VEC_URL, 0, "", 0,
                                                  "x"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_check("", VEC_URL, 0, "", 0, "x"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_check(TOKEN, NULL, 0, "", 0, "x"),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_check(TOKEN, VEC_URL, 0, "", 0,
                                                  NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_check(TOKEN, VEC_URL, 0, NULL, 3,
                                                  "x"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_check(TOKEN, VEC_URL, 7, "", 0,
                                                  "x"), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_check(TOKEN, VEC_URL, 0, "a=%zz",
                                                  5, "x"), WABOT_ERR_PARSE);
}
END_TEST

/* The signing side gives the published signatures, and what it signs
 * verifies. */
START_TEST(test_signatures_computed_match_the_published_vectors)
{
    char sig[WABOT_TWILIO_SIGNATURE_SIZE];
    ck_assert_int_eq(wabot_twilio_signature_compute(TOKEN, VEC_URL, VEC_FORM,
                                                    strlen(VEC_FORM), sig,
                                                    sizeof sig),
                     WABOT_OK);
    ck_assert_str_eq(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    ck_assert_int_eq(wabot_twilio_signature_compute(TOKEN, VEC_URL, VEC_FORM,
                                                    strlen(VEC_FORM), sig,
                                                    sizeof sig - 1),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_twilio_signature_compute(TOKEN, VEC_URL, "a=%zz", 5,
                                                    sig, sizeof sig),
                     WABOT_ERR_PARSE);
    ck_assert_str_ne(wabot_errmsg(), "");
    char meta[WABOT_META_SIGNATURE_SIZE];
    ck_assert_int_eq(wabot_meta_signature_compute("TEST_APP_SECRET", "test", 4,
                                                  meta, sizeof meta),
                     WABOT_OK);
    ck_assert_str_eq(meta, "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e7"
                           "7598bcb6cfc6e0d9888221");
    ck_assert_int_eq(wabot_meta_signature_check("TEST_APP_SECRET", "test", 4,
                                                meta),
                     WABOT_OK);
    ck_assert_int_eq(wabot_meta_signature_compute("", "test", 4, meta,
                                                  sizeof meta),
                     WABOT_ERR_INVAL);
}
END_TEST

/* The signature contexts are kept per thread with their key: checks that
 * alternate keys and digests, on two threads, give every published
 * answer (a context reused with the wrong key would not). */
static void *alternate_keys(void *arg)
{
    (void)arg;
    const char *meta_test = "sha256=0c61947b610d4f45e65f3d680e26027121ec24"
                            "13e77598bcb6cfc6e0d9888221";
    const char *meta_secret = "sha256=0329a06b62cd16b33eb6792be8c60b158d89"
                              "a2ee3a876fce9a881ebb488c0914";
    for (int i = 0; i < 50; i++) {
        ck_assert(twilio_form_ok(VEC_URL, VEC_FORM,
                                 "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        ck_assert_int_eq(wabot_twilio_signature_check(
                             "other-token", VEC_URL, WABOT_TWILIO_BODY_FORM,
                             VEC_FORM, strlen(VEC_FORM),
                             "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                         WABOT_ERR_AUTH);
        ck_assert_int_eq(wabot_meta_signature_check("TEST_APP_SECRET", "test",
                                                    4, meta_test),
                         WABOT_OK);
        ck_assert_int_eq(wabot_meta_signature_check("secret", "test", 4,
                                                    meta_test),
                         WABOT_ERR_AUTH);
        ck_assert_int_eq(wabot_meta_signature_check("secret", "test", 4,
                                                    meta_secret),
                         WABOT_OK);
        ck_assert_int_eq(wabot_meta_signature_check("TEST_APP_SECRET", "test",
                                                    4, meta_secret),
                         WABOT_ERR_AUTH);
    }
    return NULL;
}

START_TEST(test_alternating_keys_and_threads_each_give_their_own_signature)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, alternate_keys, NULL), 0);
    alternate_keys(NULL);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

START_TEST(test_meta_vectors)
{
    ck_assert_int_eq(wabot_meta_signature_check(
                         "TEST_APP_SECRET", "test", 4,
                         "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e775"
                         "98bcb6cfc6e0d9888221"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_meta_signature_check(
                         "secret", "test", 4,
                         "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a87"
                         "6fce9a881ebb488c0914"),
                     WABOT_OK);
    /* hex digits in upper case name the same digest */
    ck_assert_int_eq(wabot_meta_signature_check(
                         "secret", "test", 4,
                         "sha256=0329A06B62CD16B33EB6792BE8C60B158D89A2EE3A87"
                         "6FCE9A881EBB488C0914"),
                     WABOT_OK);
}
END_TEST

START_TEST(test_meta_altered_requests_fail)
{
    const char *h = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce"
                    "9a881ebb488c0914";
    ck_assert_int_eq(wabot_meta_signature_check("secret", "tesT", 4, h),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check("secret", "test ", 5, h),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check("Secret", "test", 4, h),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check(
                         "secret", "test", 4,
                         "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a87"
                         "6fce9a881ebb488c0915"),
                     WABOT_ERR_AUTH);
    /* no prefix, the SHA-1 header's prefix, truncated, not hex */
    ck_assert_int_eq(wabot_meta_signature_check("secret", "test", 4, h + 7),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check(
                         "secret", "test", 4,
                         "sha1=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876f"
                         "ce9a881ebb488c0914"),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check("secret", "test", 4,
                                                "sha256=0329a06b"),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check(
                         "secret", "test", 4,
                         "sha256=zz29a06b62cd16b33eb6792be8c60b158d89a2ee3a87"
                         "6fce9a881ebb488c0914"),
                     WABOT_ERR_AUTH);
    ck_assert_int_eq(wabot_meta_signature_check("", "test", 4, h),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_meta_signature_check("secret", "test", 4, ""),
                     WABOT_ERR_INVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Fixture: a context with options, a middleware counting turns        */

static tu_env env;
static atomic_int n_turns;
static char last_text[256];

static int count_mw(wabot_turn *t, void *ud)
{
    (void)ud;
    atomic_fetch_add(&n_turns, 1);
    snprintf(last_text, sizeof last_text, "%s",
             wabot_message_text(wabot_turn_message(t)));
    wabot_turn_set_handled(t);
    return WABOT_OK;
}

/* Start env with name/value option pairs (NULL-terminated). */
static void start_v(const char *const *opts)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    for (; opts != NULL && opts[0] != NULL; opts += 2)
        ck_assert_msg(wabot_options_set(o, opts[0], opts[1]) == WABOT_OK,
                      "%s=%s: %s", opts[0], opts[1], wabot_options_errmsg(o));
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
    atomic_store(&n_turns, 0);
    last_text[0] = '\0';
    ck_assert_int_eq(wabot_use(env.ctx, "count", count_mw, NULL, NULL),
                     WABOT_OK);
}

#define START(...)                                                           \
    do {                                                                     \
        static const char *const opts_[] = {__VA_ARGS__, NULL};              \
        start_v(opts_);                                                      \
    } while (0)

static void teardown(void)
{
    if (env.ctx != NULL)
        tu_env_free(&env);
}

static int64_t counter(const char *name)
{
    return wabot_metrics_counter(env.ctx, name);
}

/* ---- requests ------------------------------------------------------- */

/* Headers are name/value pairs, NULL-terminated. */
static wabot_http_response *request_h(const char *method, const char *target,
                                      const char *const *hv, const char *body)
{
    wabot_http_header h[8] = {{NULL, NULL}};
    size_t n = 0;
    for (; hv != NULL && hv[0] != NULL && n < 8; hv += 2)
        h[n++] = (wabot_http_header){hv[0], hv[1]};
    wabot_http_response *r = NULL;
    int rc = wabot_http_handle(env.ctx, method, target, h, n, body,
                               body ? strlen(body) : 0, &r);
    ck_assert_msg(rc == WABOT_OK, "wabot_http_handle: %s (%s)",
                  wabot_strerror(rc), wabot_ctx_errmsg(env.ctx));
    ck_assert_ptr_nonnull(r);
    return r;
}

static void assert_status(wabot_http_response *r, int status,
                          const char *code)
{
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_msg(wabot_http_response_status(r) == status,
                  "status %d, expected %d: %s",
                  wabot_http_response_status(r), status, body);
    if (code != NULL) {
        char want[96];
        snprintf(want, sizeof want, "\"code\":\"%s\"", code);
        ck_assert_msg(strstr(body, want) != NULL, "no %s in %s", want, body);
    }
    wabot_http_response_free(r);
}

/* A Twilio inbound text message as a form body. */
static void twilio_form(char *out, size_t n, const char *sid,
                        const char *text)
{
    snprintf(out, n,
             "MessageSid=%s&AccountSid=AC0123&From=whatsapp%%3A%%2B14155550"
             "100&To=whatsapp%%3A%%2B14155238886&Body=%s&NumMedia=0", sid,
             text);
}

/* X-Twilio-Signature for url and a form body. */
static void twilio_sign(const char *token, const char *url, const char *form,
                        char sig[WB_TWILIO_SIG_LEN + 1])
{
    wb_form_limits lim = {1000, 100000};
    wb_form *f = NULL;
    wb_reject rej;
    ck_assert_int_eq(wb_form_parse(&env.ctx->alloc, form, strlen(form), &lim,
                                   &f, &rej), WABOT_OK);
    ck_assert_int_eq(wb_twilio_sign(token, url, f, sig), WABOT_OK);
    wb_form_free(f);
}

/* POST a form signed for `signed_url` (NULL: unsigned) with a Host. */
static wabot_http_response *post_twilio_as(const char *target,
                                           const char *host,
                                           const char *signed_url,
                                           const char *form)
{
    char sig[WB_TWILIO_SIG_LEN + 1];
    if (signed_url != NULL)
        twilio_sign(TOKEN, signed_url, form, sig);
    const char *hv[] = {"Content-Type", CT_FORM, "Host", host,
                        signed_url ? "X-Twilio-Signature" : NULL, sig, NULL};
    return request_h("POST", target, hv, form);
}

static wabot_http_response *post_twilio_signed(const char *form)
{
    return post_twilio_as(TWILIO_PATH, "bot.example.com",
                          PUBLIC TWILIO_PATH, form);
}

static void meta_sign(const char *secret, const char *body, char out[72])
{
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const void *)body,
         strlen(body), mac, &len);
    strcpy(out, "sha256=");
    for (int i = 0; i < 32; i++)
        sprintf(out + 7 + 2 * i, "%02x", mac[i]);
}

static const char META_TEXT[] =
    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
    "\"changes\":[{\"field\":\"messages\",\"value\":{\"messaging_product\":"
    "\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550001111\","
    "\"phone_number_id\":\"106\"},\"messages\":[{\"from\":\"14155550100\","
    "\"id\":\"wamid.A1\",\"timestamp\":\"1767225600\",\"type\":\"text\","
    "\"text\":{\"body\":\"hi meta\"}}]}}]}]}";

static wabot_http_response *post_meta_sig(const char *body, const char *sig)
{
    const char *hv[] = {"Content-Type", CT_JSON, sig ? "X-Hub-Signature-256"
                                                     : NULL, sig, NULL};
    return request_h("POST", META_PATH, hv, body);
}

/* ------------------------------------------------------------------ */
/* Through the HTTP entry                                              */

START_TEST(test_signed_twilio_webhook_is_handled)
{
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    char form[512];
    twilio_form(form, sizeof form, "SM00000000000000000000000000000001",
                "hello");
    assert_status(post_twilio_signed(form), 200, NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    ck_assert_str_eq(last_text, "hello");
}
END_TEST

START_TEST(test_forged_or_missing_twilio_signature_is_403_and_not_handled)
{
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    char form[512], sig[WB_TWILIO_SIG_LEN + 1];
    twilio_form(form, sizeof form, "SM00000000000000000000000000000002",
                "hello");
    /* missing */
    assert_status(post_twilio_as(TWILIO_PATH, "bot.example.com", NULL, form),
                  403, "invalid_signature");
    /* signed with another token */
    twilio_sign("not-the-token", PUBLIC TWILIO_PATH, form, sig);
    const char *hv[] = {"Content-Type", CT_FORM, "X-Twilio-Signature", sig,
                        NULL};
    assert_status(request_h("POST", TWILIO_PATH, hv, form), 403,
                  "invalid_signature");
    /* signed for another URL (a replay to another endpoint) */
    assert_status(post_twilio_as(TWILIO_PATH, "bot.example.com",
                                 "https://elsewhere.example.com"
                                 TWILIO_PATH, form),
                  403, "invalid_signature");
    /* a parameter changed after signing */
    twilio_sign(TOKEN, PUBLIC TWILIO_PATH, form, sig);
    char changed[512];
    twilio_form(changed, sizeof changed, "SM00000000000000000000000000000002",
                "hellO");
    const char *hv2[] = {"Content-Type", CT_FORM, "X-Twilio-Signature", sig,
                         NULL};
    assert_status(request_h("POST", TWILIO_PATH, hv2, changed), 403,
                  "invalid_signature");
    ck_assert_int_eq(atomic_load(&n_turns), 0);
    ck_assert_int_eq(counter("webhook.rejected.invalid_signature"), 4);
    ck_assert_int_eq(counter("messages.received"), 0);
}
END_TEST

START_TEST(test_rejection_message_never_holds_the_secret_or_signature)
{
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    char form[512], sig[WB_TWILIO_SIG_LEN + 1];
    twilio_form(form, sizeof form, "SM00000000000000000000000000000003", "x");
    twilio_sign(TOKEN, PUBLIC TWILIO_PATH, form, sig);
    const char *hv[] = {"Content-Type", CT_FORM, "X-Twilio-Signature",
                        "RSOYDt4T1cUTdK1PDd93/VVr8B8=", NULL};
    wabot_http_response *r = request_h("POST", TWILIO_PATH, hv, form);
    const char *body = wabot_http_response_body(r, NULL);
    ck_assert_ptr_null(strstr(body, TOKEN));
    ck_assert_ptr_null(strstr(body, sig));
    ck_assert_ptr_null(strstr(body, "RSOYDt4T1cUTdK1PDd93"));
    ck_assert_ptr_nonnull(strstr(body, "public_url"));
    assert_status(r, 403, "invalid_signature");
}
END_TEST

START_TEST(test_unconfigured_secret_refuses_unless_verification_is_off)
{
    START("public_url", PUBLIC);
    char form[512];
    twilio_form(form, sizeof form, "SM00000000000000000000000000000004", "x");
    assert_status(post_twilio_as(TWILIO_PATH, "h", NULL, form), 403,
                  "signature_not_configured");
    char sig[80];
    meta_sign(APP_SECRET, META_TEXT, sig);
    assert_status(post_meta_sig(META_TEXT, sig), 403,
                  "signature_not_configured");
    ck_assert_int_eq(atomic_load(&n_turns), 0);
    tu_env_free(&env);

    START("verify_signatures", "0");
    assert_status(post_twilio_as(TWILIO_PATH, "h", NULL, form), 200, NULL);
    assert_status(post_meta_sig(META_TEXT, NULL), 200, NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 2);
    ck_assert_int_eq(counter("webhook.signature_skipped"), 2);
}
END_TEST

START_TEST(test_public_url_prefix_and_ports)
{
    START("twilio_auth_token", TOKEN, "public_url",
          "https://gw.example.com:8443/bots/shop/");
    char form[512];
    twilio_form(form, sizeof form, "SM00000000000000000000000000000005", "a");
    assert_status(post_twilio_as(TWILIO_PATH "?x=1", "internal:3000",
                                 "https://gw.example.com:8443/bots/shop"
                                 TWILIO_PATH "?x=1", form),
                  200, NULL);
    /* the query is part of what is signed */
    twilio_form(form, sizeof form, "SM00000000000000000000000000000006", "b");
    assert_status(post_twilio_as(TWILIO_PATH "?x=2", "internal:3000",
                                 "https://gw.example.com:8443/bots/shop"
                                 TWILIO_PATH "?x=1", form),
                  403, "invalid_signature");
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    tu_env_free(&env);

    /* default port: Twilio may sign with or without it */
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    twilio_form(form, sizeof form, "SM00000000000000000000000000000007", "c");
    assert_status(post_twilio_as(TWILIO_PATH, "x",
                                 "https://bot.example.com:443" TWILIO_PATH,
                                 form),
                  200, NULL);
}
END_TEST

START_TEST(test_without_public_url_the_host_header_is_used)
{
    START("twilio_auth_token", TOKEN);
    char form[512];
    twilio_form(form, sizeof form, "SM00000000000000000000000000000008", "a");
    assert_status(post_twilio_as(TWILIO_PATH, "bot.local:8080",
                                 "http://bot.local:8080" TWILIO_PATH, form),
                  200, NULL);
    twilio_form(form, sizeof form, "SM00000000000000000000000000000009", "b");
    assert_status(post_twilio_as(TWILIO_PATH, "bot.example.com",
                                 "https://bot.example.com" TWILIO_PATH, form),
                  200, NULL);
    /* no Host and no public_url: nothing to check against */
    const char *hv[] = {"Content-Type", CT_FORM, "X-Twilio-Signature",
                        "RSOYDt4T1cUTdK1PDd93/VVr8B8=", NULL};
    assert_status(request_h("POST", TWILIO_PATH, hv, form), 403,
                  "invalid_signature");
    ck_assert_int_eq(atomic_load(&n_turns), 2);
}
END_TEST

START_TEST(test_forwarded_headers_only_when_trusted)
{
    char form[512], sig[WB_TWILIO_SIG_LEN + 1];
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    twilio_form(form, sizeof form, "SM00000000000000000000000000000010", "a");
    /* An attacker's X-Forwarded-Host is ignored by default. */
    twilio_sign(TOKEN, "https://attacker.example" TWILIO_PATH, form, sig);
    const char *hv[] = {"Content-Type", CT_FORM, "X-Twilio-Signature", sig,
                        "X-Forwarded-Host", "attacker.example", NULL};
    assert_status(request_h("POST", TWILIO_PATH, hv, form), 403,
                  "invalid_signature");
    tu_env_free(&env);

    START("twilio_auth_token", TOKEN, "trust_forwarded", "1");
    twilio_sign(TOKEN, "https://public.example.com" TWILIO_PATH, form, sig);
    const char *hv2[] = {"Content-Type", CT_FORM, "X-Twilio-Signature", sig,
                         "Host", "10.0.0.5:3000", "X-Forwarded-Proto",
                         "https, http", "X-Forwarded-Host",
                         "public.example.com", NULL};
    assert_status(request_h("POST", TWILIO_PATH, hv2, form), 200, NULL);
    /* a forged host with a path in it is not used */
    const char *hv3[] = {"Content-Type", CT_FORM, "X-Twilio-Signature", sig,
                         "X-Forwarded-Host", "public.example.com/x", NULL};
    twilio_form(form, sizeof form, "SM00000000000000000000000000000011", "a");
    assert_status(request_h("POST", TWILIO_PATH, hv3, form), 403,
                  "invalid_signature");
    ck_assert_int_eq(atomic_load(&n_turns), 1);
}
END_TEST

START_TEST(test_meta_signed_forged_and_missing)
{
    START("meta_app_secret", APP_SECRET);
    char sig[80];
    meta_sign("other-secret", META_TEXT, sig);
    assert_status(post_meta_sig(META_TEXT, sig), 403, "invalid_signature");
    assert_status(post_meta_sig(META_TEXT, NULL), 403, "invalid_signature");
    ck_assert_int_eq(atomic_load(&n_turns), 0);
    meta_sign(APP_SECRET, META_TEXT, sig);
    assert_status(post_meta_sig(META_TEXT, sig), 200, NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    ck_assert_str_eq(last_text, "hi meta");
    ck_assert_int_eq(counter("webhook.rejected.invalid_signature"), 2);
}
END_TEST

/* Path, method, content type and size are judged before the signature;
 * the body is parsed only after it. */
START_TEST(test_checks_run_in_order)
{
    START("twilio_auth_token", TOKEN, "meta_app_secret", APP_SECRET,
          "max_body_bytes", "64");
    const char *form = "MessageSid=SM1&From=whatsapp%3A%2B14155550100&"
                       "Body=this+is+a+body+longer+than+sixty-four+bytes";
    const char *hv[] = {"Content-Type", CT_FORM, NULL};
    assert_status(request_h("POST", "/nowhere", hv, form), 404, "not_found");
    assert_status(request_h("PUT", TWILIO_PATH, hv, form), 405,
                  "method_not_allowed");
    const char *xml[] = {"Content-Type", "text/xml", NULL};
    assert_status(request_h("POST", TWILIO_PATH, xml, form), 415,
                  "unsupported_media_type");
    assert_status(request_h("POST", TWILIO_PATH, hv, form), 413,
                  "body_too_large");
    /* unsigned garbage: refused for the signature, not parsed */
    assert_status(request_h("POST", TWILIO_PATH, hv, "a=1"), 403,
                  "invalid_signature");
    const char *json[] = {"Content-Type", CT_JSON, NULL};
    assert_status(request_h("POST", META_PATH, json, "{not json"), 403,
                  "invalid_signature");
    /* signed garbage: now it is parsed, and refused for what it is */
    char sig[80];
    meta_sign(APP_SECRET, "{not json", sig);
    assert_status(post_meta_sig("{not json", sig), 400, "malformed_json");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Meta's GET verification handshake                                   */

START_TEST(test_handshake_with_the_right_token_echoes_the_challenge)
{
    START("meta_verify_token", VERIFY_TOKEN);
    wabot_http_response *r = request_h(
        "GET", META_PATH "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
               "&hub.challenge=1158201444", NULL, NULL);
    size_t len;
    const char *body = wabot_http_response_body(r, &len);
    ck_assert_str_eq(body, "1158201444");
    ck_assert_str_eq(wabot_http_response_content_type(r), "text/plain");
    assert_status(r, 200, NULL);
    /* on the Twilio path too: both paths accept both providers */
    assert_status(request_h("GET", TWILIO_PATH "?hub.challenge=77&hub.mode="
                                   "subscribe&hub.verify_token="
                                   VERIFY_TOKEN, NULL, NULL),
                  200, NULL);
    ck_assert_int_eq(counter("webhook.verifications"), 2);
}
END_TEST

START_TEST(test_handshake_refusals_are_403)
{
    START("meta_verify_token", VERIFY_TOKEN);
    static const char *const targets[] = {
        META_PATH "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        META_PATH "?hub.mode=subscribe&hub.verify_token=verify-me-pleas"
                  "&hub.challenge=1",
        META_PATH "?hub.mode=unsubscribe&hub.verify_token=" VERIFY_TOKEN
                  "&hub.challenge=1",
        META_PATH "?hub.verify_token=" VERIFY_TOKEN "&hub.challenge=1",
        META_PATH "?hub.mode=subscribe&hub.challenge=1",
        META_PATH "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN,
        META_PATH "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
                  "&hub.challenge=%3Cscript%3E",
        META_PATH "?hub.mode=subscribe&hub.verify_token=%zz",
        META_PATH,
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        wabot_http_response *r = request_h("GET", targets[i], NULL, NULL);
        ck_assert_ptr_null(strstr(wabot_http_response_body(r, NULL),
                                  VERIFY_TOKEN));
        assert_status(r, 403, "verification_failed");
    }
    tu_env_free(&env);
    /* no token configured: no handshake can succeed */
    START("verify_signatures", "0");
    assert_status(request_h("GET", META_PATH "?hub.mode=subscribe&"
                                   "hub.verify_token=&hub.challenge=1",
                            NULL, NULL),
                  403, "verification_failed");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Input limits that were missing                                       */

START_TEST(test_meta_string_over_max_field_bytes_is_413)
{
    START("verify_signatures", "0", "max_field_bytes", "32");
    assert_status(post_meta_sig(META_TEXT, NULL), 200, NULL);
    const char *big =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
        "\"changes\":[{\"field\":\"messages\",\"value\":{\"messages\":[{"
        "\"from\":\"14155550100\",\"id\":\"wamid.B\",\"type\":\"text\","
        "\"text\":{\"body\":\"this text is longer than 32 bytes\"}}]}}]}]}";
    wabot_http_response *r = post_meta_sig(big, NULL);
    ck_assert_ptr_nonnull(strstr(wabot_http_response_body(r, NULL),
                                 "max_field_bytes"));
    assert_status(r, 413, "field_too_large");
}
END_TEST

START_TEST(test_meta_statuses_count_toward_the_batch_limit)
{
    START("verify_signatures", "0", "max_batch_messages", "2");
    const char *three =
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
        "\"changes\":[{\"field\":\"messages\",\"value\":{\"statuses\":["
        "{\"id\":\"wamid.1\",\"status\":\"sent\"},"
        "{\"id\":\"wamid.2\",\"status\":\"sent\"},"
        "{\"id\":\"wamid.3\",\"status\":\"sent\"}]}}]}]}";
    wabot_http_response *r = post_meta_sig(three, NULL);
    ck_assert_ptr_nonnull(strstr(wabot_http_response_body(r, NULL),
                                 "max_batch_messages"));
    assert_status(r, 413, "too_many_messages");
    ck_assert_int_eq(counter("receipts.sent"), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Dedup                                                               */

static int handle_text(const char *id, const char *text)
{
    wabot_message *m = tu_text(id, CUSTOMER, text);
    int rc = wabot_ctx_handle_message(env.ctx, m);
    wabot_message_free(m);
    return rc;
}

START_TEST(test_same_message_five_times_is_handled_once)
{
    START("verify_signatures", "1");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(handle_text("SMdup1", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    ck_assert_int_eq(counter("messages.duplicates"), 4);
    /* the same through the HTTP entry: answered 200 each time */
    tu_env_free(&env);
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    char form[512];
    twilio_form(form, sizeof form, "SM000000000000000000000000000000aa", "x");
    for (int i = 0; i < 5; i++)
        assert_status(post_twilio_signed(form), 200, NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    ck_assert_int_eq(counter("messages.duplicates"), 4);
}
END_TEST

static void *deliver_concurrently(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "SMconc%d", i);
        handle_text(id, "hi");
    }
    return NULL;
}

START_TEST(test_concurrent_deliveries_are_handled_once)
{
    START("inbound_rate_count", "0");
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, deliver_concurrently,
                                        NULL), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 20);
    /* a copy arriving while another is handled is "busy" (503: redeliver),
     * one arriving after is a duplicate (200) */
    ck_assert_int_eq(counter("messages.duplicates") +
                         counter("messages.in_progress"), 7 * 20);
}
END_TEST

START_TEST(test_claim_left_by_a_crash_expires_and_the_retry_is_handled)
{
    START("dedup_lease_ms", "30000");
    /* A handler claimed SMcrash and died: only its claim is left. */
    ck_assert_int_eq(wabot_storage_set_nx(env.storage, "dedup:SMcrash",
                                          "claim", 5, 30000, NULL),
                     WABOT_OK);
    /* still claimed: busy, so the provider redelivers rather than the
     * message being taken for handled */
    ck_assert_int_eq(handle_text("SMcrash", "hi"), WABOT_ERR_BUSY);
    ck_assert_int_eq(atomic_load(&n_turns), 0);
    tu_clock_advance(&env.clock, 30001);
    ck_assert_int_eq(handle_text("SMcrash", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    /* and now it is done for a day */
    tu_clock_advance(&env.clock, 23 * 3600 * 1000LL);
    ck_assert_int_eq(handle_text("SMcrash", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    tu_clock_advance(&env.clock, 3600 * 1000LL);
    ck_assert_int_eq(handle_text("SMcrash", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 2);
}
END_TEST

START_TEST(test_legacy_key_format_is_shared_with_the_old_system)
{
    START("dedup_key_format", "processed:{MessageSid}", "dedup_ttl_ms",
          "300000");
    /* the old system processed SMold */
    ck_assert_int_eq(wabot_storage_set(env.storage, "processed:SMold", "1", 1,
                                       300000, NULL), WABOT_OK);
    ck_assert_int_eq(handle_text("SMold", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 0);
    /* we process SMnew, and the old system can see it */
    ck_assert_int_eq(handle_text("SMnew", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(env.storage, "processed:SMnew", &v,
                                       NULL, NULL), WABOT_OK);
    wabot_free(v);
    tu_clock_advance(&env.clock, 300001);
    v = NULL;
    uint64_t ver = 0;
    int grc = wabot_storage_get(env.storage, "processed:SMnew", &v, NULL, &ver);
    ck_assert_msg(grc == WABOT_ERR_NOT_FOUND, "still there: \"%s\" v%llu",
                  v ? v : "", (unsigned long long)ver);
}
END_TEST

START_TEST(test_dedup_key_placeholders)
{
    START("verify_signatures", "1");
    wabot_message *m = tu_text("wamid.X", CUSTOMER, "hi");
    char key[128];
    ck_assert_int_eq(wb_dedup_key("{provider}/{org}/{id}/{wamid}/{other}", m,
                                  "acme", key, sizeof key), WABOT_OK);
    ck_assert_str_eq(key, "test/acme/wamid.X/wamid.X/{other}");
    ck_assert_int_eq(wb_dedup_key("{id}{id}{id}", m, "o", key, 10),
                     WABOT_ERR_INVAL);
    wabot_message_free(m);
}
END_TEST

START_TEST(test_dedup_can_be_turned_off)
{
    START("dedup", "0");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(handle_text("SMsame", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 3);
}
END_TEST

/* A turn that fails because the storage broke releases its claim: the
 * provider's redelivery (asked for with a 503) is handled. */
static atomic_int fail_storage_once;

static int flaky_mw(wabot_turn *t, void *ud)
{
    (void)ud;
    if (atomic_exchange(&fail_storage_once, 0))
        return WABOT_ERR_STORAGE;
    return wabot_next(t);
}

START_TEST(test_transient_failure_is_answered_503_and_redelivery_handled)
{
    START("twilio_auth_token", TOKEN, "public_url", PUBLIC);
    wabot_ctx_free(env.ctx); /* rebuild: the flaky step must run first */
    wabot_options *o = wabot_options_new();
    wabot_options_set(o, "twilio_auth_token", TOKEN);
    wabot_options_set(o, "public_url", PUBLIC);
    wabot_clock k = tu_clock_wabot(&env.clock);
    wabot_options_set_clock(o, &k);
    wabot_options_set_storage(o, env.storage);
    wabot_options_set_transport(o, env.rec);
    ck_assert_int_eq(wabot_ctx_new(&env.ctx, o), WABOT_OK);
    wabot_options_free(o);
    wabot_use(env.ctx, "flaky", flaky_mw, NULL, NULL);
    wabot_use(env.ctx, "count", count_mw, NULL, NULL);
    atomic_store(&fail_storage_once, 1);
    char form[512];
    twilio_form(form, sizeof form, "SM000000000000000000000000000000bb", "x");
    wabot_http_response *r = post_twilio_signed(form);
    /* The claim was released: the redelivery may come right away. */
    ck_assert_str_eq(wabot_http_response_header(r, "retry-after"), "1");
    ck_assert_uint_eq(wabot_http_response_header_count(r), 1);
    assert_status(r, 503, "temporarily_unavailable");
    ck_assert_int_eq(atomic_load(&n_turns), 0);
    assert_status(post_twilio_signed(form), 200, NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    assert_status(post_twilio_signed(form), 200, NULL);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Inbound rate limit                                                  */

START_TEST(test_over_the_limit_is_not_handled_and_noticed_once)
{
    START("inbound_rate_count", "2", "inbound_rate_period_ms", "60000",
          "inbound_rate_burst", "0", "inbound_rate_notice", "Slow down");
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "SMr%d", i);
        ck_assert_int_eq(handle_text(id, "hi"), WABOT_OK);
    }
    /* 2 a minute without burst: the first passes, the next waits 30 s */
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    ck_assert_int_eq(counter("messages.rate_limited"), 4);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 1);
    ck_assert_str_eq(wabot_outbound_text(wabot_recorder_get(env.rec, 0)),
                     "Slow down");
    ck_assert_str_eq(wabot_outbound_to(wabot_recorder_get(env.rec, 0)),
                     CUSTOMER);
    /* a limited message is done: its redelivery is a duplicate */
    ck_assert_int_eq(handle_text("SMr1", "hi"), WABOT_OK);
    ck_assert_int_eq(counter("messages.duplicates"), 1);
    /* later it passes again */
    tu_clock_advance(&env.clock, 30000);
    ck_assert_int_eq(handle_text("SMr9", "hi"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 2);
    /* other customers are not affected */
    wabot_message *m = tu_text("SMo1", "+14155550199", "hi");
    ck_assert_int_eq(wabot_ctx_handle_message(env.ctx, m), WABOT_OK);
    wabot_message_free(m);
    ck_assert_int_eq(atomic_load(&n_turns), 3);
}
END_TEST

START_TEST(test_rate_limit_zero_is_off_and_default_is_generous)
{
    START("inbound_rate_count", "0");
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "SMz%d", i);
        handle_text(id, "hi");
    }
    ck_assert_int_eq(atomic_load(&n_turns), 100);
    tu_env_free(&env);
    START("verify_signatures", "1");
    /* a person typing fast for a minute: 21 at once, then one every 2 s */
    for (int i = 0; i < 21; i++) {
        snprintf(id, sizeof id, "SMd%d", i);
        handle_text(id, "hi");
    }
    ck_assert_int_eq(atomic_load(&n_turns), 21);
    ck_assert_int_eq(counter("messages.rate_limited"), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Opt-out                                                             */

static int opted_out(void)
{
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(env.ctx, "default", CUSTOMER, &c),
                     WABOT_OK);
    int v = wabot_customer_opted_out(c);
    wabot_customer_free(c);
    return v;
}

static const char *reply_text(size_t i)
{
    return wabot_outbound_text(wabot_recorder_get(env.rec, i));
}

START_TEST(test_stop_sets_the_flag_and_confirms_once)
{
    START("optout_reply", "Bye", "optin_reply", "Welcome back");
    ck_assert_int_eq(handle_text("SMs1", "STOP"), WABOT_OK);
    tu_drain(env.ctx);
    ck_assert(opted_out());
    ck_assert_int_eq(atomic_load(&n_turns), 0); /* not routed further */
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 1);
    ck_assert_str_eq(reply_text(0), "Bye");
    ck_assert_int_eq(counter("optout.opted_out"), 1);
    /* still allowed to talk to the bot */
    ck_assert_int_eq(handle_text("SMs2", "what's new?"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    /* START re-subscribes, with its confirmation */
    ck_assert_int_eq(handle_text("SMs3", "start"), WABOT_OK);
    tu_drain(env.ctx);
    ck_assert(!opted_out());
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 2);
    ck_assert_str_eq(reply_text(1), "Welcome back");
    ck_assert_int_eq(counter("optout.opted_in"), 1);
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    /* START from a subscribed customer is an ordinary message */
    ck_assert_int_eq(handle_text("SMs4", "Start"), WABOT_OK);
    ck_assert_int_eq(atomic_load(&n_turns), 2);
    ck_assert_str_eq(last_text, "Start");
}
END_TEST

/* End to end with the outbound path: an opted-out customer gets no
 * campaign or reminder, and gets them again after START. */
START_TEST(test_stop_blocks_campaigns_and_start_allows_them_again)
{
    START("optout_reply", "Bye", "optin_reply", "Welcome back");
    handle_text("SMc1", "stop");
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 1); /* the "Bye" */
    ck_assert_int_eq(wabot_send_text(env.ctx, NULL, CUSTOMER, "50% off!",
                                     WABOT_CAT_CAMPAIGN, "camp-1", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_send_text(env.ctx, NULL, CUSTOMER, "Pay today",
                                     WABOT_CAT_REMINDER, "rem-1", NULL),
                     WABOT_OK);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 1);
    ck_assert_int_eq(counter("outbound.opted_out"), 2);
    handle_text("SMc2", "START");
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 2); /* "Welcome back" */
    ck_assert_int_eq(wabot_send_text(env.ctx, NULL, CUSTOMER, "50% off!",
                                     WABOT_CAT_CAMPAIGN, "camp-2", NULL),
                     WABOT_OK);
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 3);
    ck_assert_str_eq(reply_text(2), "50% off!");
}
END_TEST

START_TEST(test_keywords_are_folded_and_whole)
{
    static const char *const yes[] = {"stop", "Stop!", "  STOP  ", "Arrêt",
                                      "PARAR", "unsubscribe.", "Stopp"};
    static const char *const no[] = {"please stop", "stopped", "stop it",
                                     "don't stop"};
    START("verify_signatures", "1");
    char id[16];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(id, sizeof id, "SMy%zu", i);
        ck_assert_int_eq(wabot_customer_set_opted_out(env.ctx, "default",
                                                      CUSTOMER, 0), WABOT_OK);
        handle_text(id, yes[i]);
        ck_assert_msg(opted_out(), "'%s' did not opt out", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        snprintf(id, sizeof id, "SMn%zu", i);
        ck_assert_int_eq(wabot_customer_set_opted_out(env.ctx, "default",
                                                      CUSTOMER, 0), WABOT_OK);
        handle_text(id, no[i]);
        ck_assert_msg(!opted_out(), "'%s' opted out", no[i]);
    }
    ck_assert_int_eq(atomic_load(&n_turns), (int)(sizeof no / sizeof no[0]));
}
END_TEST

START_TEST(test_keyword_lists_are_configurable)
{
    START("optout_keywords", "BASTA, ALTO", "optin_keywords", "VOLVER",
          "optout_reply", "", "optin_reply", "");
    handle_text("SMk1", "stop");
    ck_assert_int_eq(atomic_load(&n_turns), 1);
    handle_text("SMk2", "basta");
    ck_assert(opted_out());
    handle_text("SMk3", "volver");
    ck_assert(!opted_out());
    tu_drain(env.ctx);
    ck_assert_uint_eq(wabot_recorder_count(env.rec), 0); /* no replies */
    tu_env_free(&env);
    START("optout_keywords", "");
    handle_text("SMk4", "STOP");
    ck_assert_int_eq(atomic_load(&n_turns), 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Options                                                             */

START_TEST(test_options_are_validated_when_set)
{
    wabot_options *o = wabot_options_new();
    static const char *const bad[][2] = {
        {"public_url", "bot.example.com"},
        {"public_url", "ftp://bot.example.com"},
        {"public_url", "https://"},
        {"public_url", "https://bot.example.com/x?y=1"},
        {"public_url", "https://user@bot.example.com"},
        {"dedup_key_format", "wabot:dedup"},
        {"dedup_key_format", "a\nb{id}"},
        {"twilio_auth_token", "abc\n"},
        {"verify_signatures", "2"},
        {"inbound_rate_count", "-1"},
        {"dedup_lease_ms", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(wabot_options_set(o, bad[i][0], bad[i][1]) ==
                          WABOT_ERR_INVAL,
                      "%s=%s accepted", bad[i][0], bad[i][1]);
    static const char *const good[][2] = {
        {"public_url", "https://bot.example.com"},
        {"public_url", "http://10.0.0.1:8080/prefix/"},
        {"public_url", ""},
        {"dedup_key_format", "processed:{MessageSid}"},
        {"inbound_rate_notice", ""},
        {"optout_keywords", ""},
        {"twilio_auth_token", ""},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(wabot_options_set(o, good[i][0], good[i][1]) ==
                          WABOT_OK,
                      "%s=%s: %s", good[i][0], good[i][1],
                      wabot_options_errmsg(o));
    const char *v;
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_DEDUP_KEY_FORMAT,
                                           NULL), WABOT_OK);
    ck_assert_int_eq(wabot_options_get_str(o, WABOT_OPT_DEDUP_KEY_FORMAT, &v),
                     WABOT_OK);
    ck_assert_str_eq(v, "dedup:{id}");
    int64_t n;
    ck_assert_int_eq(wabot_options_get_int(o, WABOT_OPT_VERIFY_SIGNATURES,
                                           &n), WABOT_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(wabot_options_get_int(o, WABOT_OPT_DEDUP_TTL_MS, &n),
                     WABOT_OK);
    ck_assert_int_eq(n, 24 * 3600 * 1000LL);
    wabot_options_free(o);
}
END_TEST

static Suite *security_suite(void)
{
    Suite *s = suite_create("security");
    TCase *vec = tcase_create("vectors");
    tcase_add_test(vec, test_signatures_computed_match_the_published_vectors);
    tcase_add_test(vec, test_twilio_vector_as_published);
    tcase_add_test(vec, test_twilio_vectors_with_and_without_default_ports);
    tcase_add_test(vec, test_twilio_vector_repeated_keys_sort_values);
    tcase_add_test(vec, test_twilio_vectors_body_sha256);
    tcase_add_test(vec, test_twilio_altered_requests_fail);
    tcase_add_test(vec, test_twilio_check_rejects_bad_arguments);
    tcase_add_test(vec, test_meta_vectors);
    tcase_add_test(vec, test_alternating_keys_and_threads_each_give_their_own_signature);
    tcase_add_test(vec, test_meta_altered_requests_fail);
    suite_add_tcase(s, vec);

    TCase *http = tcase_create("http");
    tcase_add_checked_fixture(http, NULL, teardown);
    tcase_add_test(http, test_signed_twilio_webhook_is_handled);
    tcase_add_test(http,
        test_forged_or_missing_twilio_signature_is_403_and_not_handled);
    tcase_add_test(http,
        test_rejection_message_never_holds_the_secret_or_signature);
    tcase_add_test(http,
        test_unconfigured_secret_refuses_unless_verification_is_off);
    tcase_add_test(http, test_public_url_prefix_and_ports);
    tcase_add_test(http, test_without_public_url_the_host_header_is_used);
    tcase_add_test(http, test_forwarded_headers_only_when_trusted);
    tcase_add_test(http, test_meta_signed_forged_and_missing);
    tcase_add_test(http, test_checks_run_in_order);
    tcase_add_test(http,
        test_handshake_with_the_right_token_echoes_the_challenge);
    tcase_add_test(http, test_handshake_refusals_are_403);
    tcase_add_test(http, test_meta_string_over_max_field_bytes_is_413);
    tcase_add_test(http, test_meta_statuses_count_toward_the_batch_limit);
    suite_add_tcase(s, http);

    TCase *dedup = tcase_create("dedup");
    tcase_add_checked_fixture(dedup, NULL, teardown);
    tcase_add_test(dedup, test_same_message_five_times_is_handled_once);
    tcase_add_test(dedup, test_concurrent_deliveries_are_handled_once);
    tcase_add_test(dedup,
        test_claim_left_by_a_crash_expires_and_the_retry_is_handled);
    tcase_add_test(dedup, test_legacy_key_format_is_shared_with_the_old_system);
    tcase_add_test(dedup, test_dedup_key_placeholders);
    tcase_add_test(dedup, test_dedup_can_be_turned_off);
    tcase_add_test(dedup,
        test_transient_failure_is_answered_503_and_redelivery_handled);
    suite_add_tcase(s, dedup);

    TCase *limit = tcase_create("inbound-limits");
    tcase_add_checked_fixture(limit, NULL, teardown);
    tcase_add_test(limit, test_over_the_limit_is_not_handled_and_noticed_once);
    tcase_add_test(limit, test_rate_limit_zero_is_off_and_default_is_generous);
    suite_add_tcase(s, limit);

    TCase *opt = tcase_create("opt-out");
    tcase_add_checked_fixture(opt, NULL, teardown);
    tcase_add_test(opt, test_stop_sets_the_flag_and_confirms_once);
    tcase_add_test(opt,
        test_stop_blocks_campaigns_and_start_allows_them_again);
    tcase_add_test(opt, test_keywords_are_folded_and_whole);
    tcase_add_test(opt, test_keyword_lists_are_configurable);
    tcase_add_test(opt, test_options_are_validated_when_set);
    suite_add_tcase(s, opt);
    return s;
}

int main(void)
{
    return tu_run_suite(security_suite());
}
