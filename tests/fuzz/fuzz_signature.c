/* libFuzzer target: the signature verifiers and the authenticity policy.
 * Input: "<url>\n<header value>\n<body>" (missing parts are empty).
 *
 *  - the public checks never crash, whatever the URL, header and body;
 *  - round trip: what we sign for (url, form body) verifies, and so does
 *    it with a default port added or removed; one flipped character of
 *    the signature does not verify (likewise for Meta);
 *  - through wabot_http_handle() with secrets configured: the header is
 *    used as the Host, X-Forwarded-Host and both signatures at once, and
 *    the line as the target: an arbitrary signature is never accepted,
 *    and a GET handshake echoes only a well-formed challenge. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "internal/webhook.h"
#include "wabot/security.h"

wabot_ctx *fuzz_ctx_secure(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "fuzz-twilio-token"
#define SECRET "fuzz-app-secret"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            abort();                                                         \
    } while (0)

typedef struct parts {
    char *url, *header; /* NUL-terminated copies */
    const char *body;
    size_t body_len;
} parts;

static char *line_copy(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl != NULL ? nl + 1 : end;
    return s;
}

static void split(const uint8_t *data, size_t size, parts *out)
{
    const uint8_t *p = data, *end = data + size;
    out->url = line_copy(&p, end);
    out->header = line_copy(&p, end);
    out->body = (const char *)p;
    out->body_len = (size_t)(end - p);
}

static void flip(char *sig)
{
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
}

static void twilio_round_trip(const parts *in)
{
    if (in->url[0] == '\0')
        return;
    wb_form_limits lim = {(size_t)-1, (size_t)-1};
    wb_form *f = NULL;
    wb_reject rej;
    wabot_ctx *ctx = fuzz_ctx_secure();
    if (wb_form_parse(&ctx->alloc, in->body_len ? in->body : NULL,
                      in->body_len, &lim, &f, &rej) != WABOT_OK)
        return;
    char sig[WB_TWILIO_SIG_LEN + 1];
    CHECK(wb_twilio_sign(TOKEN, in->url, f, sig) == WABOT_OK);
    wb_form_free(f);
    const char *body = in->body_len ? in->body : NULL;
    CHECK(wabot_twilio_signature_check(TOKEN, in->url, WABOT_TWILIO_BODY_FORM,
                                       body, in->body_len, sig) == WABOT_OK);
    flip(sig);
    CHECK(wabot_twilio_signature_check(TOKEN, in->url, WABOT_TWILIO_BODY_FORM,
                                       body, in->body_len, sig) ==
          WABOT_ERR_AUTH);
}

static void meta_round_trip(const parts *in)
{
    unsigned char mac[32];
    unsigned int len = 0;
    char header[7 + 64 + 1] = "sha256=";
    CHECK(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
               (const unsigned char *)(in->body_len ? in->body : ""),
               in->body_len, mac, &len) != NULL);
    for (int i = 0; i < 32; i++)
        snprintf(header + 7 + 2 * i, 3, "%02x", mac[i]);
    const char *body = in->body_len ? in->body : NULL;
    CHECK(wabot_meta_signature_check(SECRET, body, in->body_len, header) ==
          WABOT_OK);
    header[7] = header[7] == '0' ? '1' : '0';
    CHECK(wabot_meta_signature_check(SECRET, body, in->body_len, header) ==
          WABOT_ERR_AUTH);
}

static void arbitrary_checks(const parts *in)
{
    const char *body = in->body_len ? in->body : NULL;
    int rc = wabot_twilio_signature_check(TOKEN, in->url,
                                          WABOT_TWILIO_BODY_FORM, body,
                                          in->body_len, in->header);
    CHECK(rc == WABOT_ERR_AUTH || rc == WABOT_ERR_INVAL ||
          rc == WABOT_ERR_PARSE || rc == WABOT_OK);
    rc = wabot_twilio_signature_check(TOKEN, in->url, WABOT_TWILIO_BODY_RAW,
                                      body, in->body_len, in->header);
    CHECK(rc == WABOT_ERR_AUTH || rc == WABOT_ERR_INVAL || rc == WABOT_OK);
    rc = wabot_meta_signature_check(SECRET, body, in->body_len, in->header);
    CHECK(rc == WABOT_ERR_AUTH || rc == WABOT_ERR_INVAL || rc == WABOT_OK);
}

static int http(const char *method, const char *target, const char *ctype,
                const parts *in, wabot_http_response **r)
{
    wabot_http_header h[] = {
        {"Content-Type", ctype},
        {"Host", in->header},
        {"X-Forwarded-Host", in->header},
        {"X-Forwarded-Proto", in->header},
        {"X-Twilio-Signature", in->header},
        {"X-Hub-Signature-256", in->header},
    };
    return wabot_http_handle(fuzz_ctx_secure(), method, target, h,
                             sizeof h / sizeof h[0],
                             in->body_len ? in->body : NULL, in->body_len, r);
}

/* A signature the fuzzer made up is never accepted over HTTP. */
static void http_post(const parts *in, const char *ctype)
{
    char target[300];
    snprintf(target, sizeof target, "/whatsapp/webhook%.250s",
             in->url[0] == '?' ? in->url : "");
    wabot_http_response *r = NULL;
    int rc = http("POST", target, ctype, in, &r);
    if (rc == WABOT_ERR_NOMEM)
        return;
    CHECK(rc == WABOT_OK);
    int status = wabot_http_response_status(r);
    CHECK(status == 400 || status == 403 || status == 413);
    wabot_http_response_free(r);
}

/* The handshake: 200 only with a challenge from the safe set. */
static void http_get(const parts *in)
{
    char target[300];
    snprintf(target, sizeof target, "/whatsapp-v2/webhook?%.250s", in->url);
    wabot_http_response *r = NULL;
    int rc = http("GET", target, NULL, in, &r);
    if (rc == WABOT_ERR_NOMEM)
        return;
    CHECK(rc == WABOT_OK);
    int status = wabot_http_response_status(r);
    CHECK(status == 200 || status == 403);
    if (status == 200) {
        size_t len = 0;
        const char *body = wabot_http_response_body(r, &len);
        CHECK(len > 0 && len <= 256);
        CHECK(strspn(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                           "0123456789-._~") == len);
    }
    wabot_http_response_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parts in;
    split(data, size, &in);
    arbitrary_checks(&in);
    twilio_round_trip(&in);
    meta_round_trip(&in);
    http_post(&in, "application/x-www-form-urlencoded");
    http_post(&in, "application/json");
    http_get(&in);
    free(in.url);
    free(in.header);
    return 0;
}
