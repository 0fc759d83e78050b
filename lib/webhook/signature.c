/* Request signatures: Twilio's X-Twilio-Signature (HMAC-SHA1, Base64) and
 * Meta's X-Hub-Signature-256 (HMAC-SHA256, hex), with OpenSSL's libcrypto.
 *
 * Every comparison of a secret-derived value is CRYPTO_memcmp() over
 * fixed-size digests, so the time taken says nothing about how much of a
 * forged signature was right. Lengths are compared openly: the length of
 * a Base64 SHA-1 or a hex SHA-256 is public. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#endif

#include "internal/strbuf.h"
#include "internal/webhook.h"
#include "wabot/security.h"

#define SHA1_LEN 20
#define SHA256_LEN 32
#define SHA256_HEX_LEN 64
#define META_PREFIX "sha256="

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int hex_nibble(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode exactly 2*n hex digits of s[0..len) into out[n]; -1 if s is not
 * that. Either case is accepted: the digest, not its spelling, is what
 * must match. */
static int hex_decode(const char *s, size_t len, unsigned char *out, size_t n)
{
    if (len != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_nibble((unsigned char)s[2 * i]);
        int lo = hex_nibble((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* A header value without the white space around it (RFC 9110 allows
 * optional white space; some proxies add it). */
static const char *trim(const char *s, size_t *len)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
/* OpenSSL 3's HMAC() looks the algorithm up and builds a context on every
 * call: 2.9 us of a webhook's signature check, against 0.8 us for a
 * context kept with its key and started again (EVP_MAC_init without a
 * key reuses the one set). One context per thread and digest, for the
 * last key seen (a process checks with one token or secret, or a few). */
#define MAC_KEY_MAX 128

typedef struct mac_slot {
    EVP_MAC_CTX *ctx;
    size_t klen;
    char key[MAC_KEY_MAX];
} mac_slot;

typedef struct mac_cache {
    mac_slot sha1, sha256;
} mac_cache;

static pthread_key_t mac_tls;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static int mac_tls_ok;

static void mac_cache_free(void *p)
{
    mac_cache *c = p;
    EVP_MAC_CTX_free(c->sha1.ctx);
    EVP_MAC_CTX_free(c->sha256.ctx);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

static void mac_tls_init(void)
{
    mac_tls_ok = pthread_key_create(&mac_tls, mac_cache_free) == 0;
}

static mac_slot *mac_slot_of(const EVP_MD *md)
{
    pthread_once(&mac_once, mac_tls_init);
    if (!mac_tls_ok)
        return NULL;
    mac_cache *c = pthread_getspecific(mac_tls);
    if (c == NULL) {
        if ((c = calloc(1, sizeof *c)) == NULL)
            return NULL;
        if (pthread_setspecific(mac_tls, c) != 0) {
            free(c);
            return NULL;
        }
    }
    return md == EVP_sha1() ? &c->sha1 : md == EVP_sha256() ? &c->sha256
                                                            : NULL;
}

/* The thread's context for md and key, started; NULL to take HMAC(). */
static EVP_MAC_CTX *mac_ctx(const EVP_MD *md, const char *key, size_t klen)
{
    if (klen == 0 || klen > MAC_KEY_MAX)
        return NULL;
    mac_slot *s = mac_slot_of(md);
    if (s == NULL)
        return NULL;
    if (s->ctx != NULL && s->klen == klen && memcmp(s->key, key, klen) == 0 &&
        EVP_MAC_init(s->ctx, NULL, 0, NULL))
        return s->ctx;
    EVP_MAC_CTX_free(s->ctx);
    s->ctx = NULL;
    s->klen = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_end()};
    if (ctx == NULL ||
        !EVP_MAC_init(ctx, (const unsigned char *)key, klen, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    s->ctx = ctx;
    s->klen = klen;
    memcpy(s->key, key, klen);
    return ctx;
}
#endif

static int hmac(const EVP_MD *md, const char *key, const void *data,
                size_t len, unsigned char *out)
{
    size_t klen = strlen(key);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MAC_CTX *ctx = mac_ctx(md, key, klen);
    size_t got = 0;
    if (ctx != NULL)
        return EVP_MAC_update(ctx, len ? data : (const void *)"", len) &&
                       EVP_MAC_final(ctx, out, &got, (size_t)EVP_MD_get_size(md))
                   ? 0
                   : -1;
#endif
    unsigned int out_len = 0;
    /* HMAC() with a NULL data pointer and zero length is fine, but a
     * NULL key is not: an empty key is passed as "". */
    return HMAC(md, key, (int)klen, len ? data : (const void *)"", len, out,
                &out_len) != NULL
               ? 0
               : -1;
}

/* ------------------------------------------------------------------ */
/* Twilio                                                              */

/* Byte order, as the SDKs sort (code point order for UTF-8). */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

static int param_cmp(const void *pa, const void *pb)
{
    const wb_form_param *a = *(const wb_form_param *const *)pa;
    const wb_form_param *b = *(const wb_form_param *const *)pb;
    int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);
    return c != 0 ? c : bytes_cmp(a->value, a->value_len, b->value,
                                  b->value_len);
}

/* Every distinct parameter as name then value, sorted by name then value.
 * An exact repeat (same name and value) counts once, as in Twilio's
 * Python and Node SDKs, which sort the set of a name's values. */
static int sorted_params(const wabot_allocator *a, const wb_form *f,
                         wb_strbuf *out)
{
    size_t n = wb_form_count(f);
    if (n == 0)
        return WABOT_OK;
    const wb_form_param **v = wb_malloc(a, n * sizeof *v);
    if (v == NULL)
        return WABOT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = wb_form_at(f, i);
    qsort(v, n, sizeof *v, param_cmp);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i]->key_len + v[i]->value_len;
    wb_strbuf_reserve(out, total); /* one allocation, not a doubling each */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && param_cmp(&v[i - 1], &v[i]) == 0)
            continue;
        wb_strbuf_append(out, v[i]->key, v[i]->key_len);
        wb_strbuf_append(out, v[i]->value, v[i]->value_len);
    }
    wb_free(a, v);
    return out->oom ? WABOT_ERR_NOMEM : WABOT_OK;
}

/* Where the port of an absolute URL is: url[host_end..auth_end) is
 * ":port" or empty. 0 if url is not "scheme://authority...". */
typedef struct url_port {
    size_t host_end, auth_end;
    int https;
} url_port;

static int url_port_find(const char *url, url_port *p)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url)
        return 0;
    size_t auth = (size_t)(sep - url) + 3;
    size_t end = auth + strcspn(url + auth, "/?#");
    /* The host starts after any user info; an IPv6 literal ends at ']'. */
    size_t host = auth;
    for (size_t i = auth; i < end; i++)
        if (url[i] == '@')
            host = i + 1;
    size_t colon = end;
    const char *close = url[host] == '[' ? memchr(url + host, ']', end - host)
                                         : NULL;
    size_t from = close != NULL ? (size_t)(close - url) + 1 : host;
    for (size_t i = from; i < end; i++)
        if (url[i] == ':')
            colon = i;
    p->host_end = colon;
    p->auth_end = end;
    p->https = (size_t)(sep - url) == 5 && strncasecmp(url, "https", 5) == 0;
    return 1;
}

/* The URL without its port, or with the scheme's default port added when
 * it has none (Twilio signs one or the other depending on the product;
 * the SDKs accept both). */
static int url_variant(const char *url, int with_port, wb_strbuf *out)
{
    url_port p;
    if (!url_port_find(url, &p))
        return 0;
    int has_port = p.host_end < p.auth_end;
    if (with_port == has_port)
        return 0; /* the URL itself is this variant */
    wb_strbuf_append(out, url, p.host_end);
    if (with_port)
        wb_strbuf_puts(out, p.https ? ":443" : ":80");
    wb_strbuf_puts(out, url + p.auth_end);
    return 1;
}

/* Value of query parameter `name` in url (borrowed, length in *len), or
 * NULL. */
static const char *query_param(const char *url, const char *name,
                               size_t *len)
{
    const char *q = strchr(url, '?');
    size_t nlen = strlen(name);
    while (q != NULL) {
        q++;
        size_t plen = strcspn(q, "&#");
        if (plen > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            *len = plen - nlen - 1;
            return q + nlen + 1;
        }
        q = q[plen] == '&' ? q + plen : NULL;
    }
    return NULL;
}

/* 1 if url carries bodySHA256=<hex SHA-256 of body>. */
static int body_hash_ok(const char *url, const char *body, size_t len)
{
    size_t hlen = 0;
    const char *hex = query_param(url, "bodySHA256", &hlen);
    unsigned char want[SHA256_LEN], got[SHA256_LEN];
    unsigned int got_len = 0;
    if (hex == NULL || hex_decode(hex, hlen, want, SHA256_LEN) != 0)
        return 0;
    if (!EVP_Digest(len ? body : "", len, got, &got_len, EVP_sha256(),
                    NULL))
        return 0;
    return CRYPTO_memcmp(want, got, SHA256_LEN) == 0;
}

/* 1 if the Base64 HMAC-SHA1 of url + params equals sig[0..sig_len). */
static int twilio_matches(const char *token, const char *url,
                          const wb_strbuf *params, const char *sig,
                          size_t sig_len)
{
    wb_strbuf data;
    wb_strbuf_init(&data, NULL);
    size_t ulen = strlen(url);
    wb_strbuf_reserve(&data, ulen + params->len);
    wb_strbuf_append(&data, url, ulen);
    wb_strbuf_append(&data, params->data, params->len);
    unsigned char mac[SHA1_LEN];
    char b64[WB_TWILIO_SIG_LEN + 1];
    int ok = !data.oom && hmac(EVP_sha1(), token, data.data, data.len,
                               mac) == 0;
    wb_strbuf_free(&data);
    if (!ok)
        return 0;
    EVP_EncodeBlock((unsigned char *)b64, mac, SHA1_LEN);
    return sig_len == WB_TWILIO_SIG_LEN &&
           CRYPTO_memcmp(b64, sig, WB_TWILIO_SIG_LEN) == 0;
}

/* Try url as given, then its other port variant. */
static int twilio_url_matches(const char *token, const char *url,
                              const wb_strbuf *params, const char *sig,
                              size_t sig_len, int *oom)
{
    int ok = twilio_matches(token, url, params, sig, sig_len);
    wb_strbuf alt;
    wb_strbuf_init(&alt, NULL);
    for (int with_port = 0; with_port <= 1 && !ok; with_port++) {
        wb_strbuf_reset(&alt);
        if (url_variant(url, with_port, &alt) && !alt.oom)
            ok = twilio_matches(token, alt.data, params, sig, sig_len);
        if (alt.oom)
            *oom = 1;
    }
    wb_strbuf_free(&alt);
    return ok;
}

int wb_twilio_verify(const wabot_allocator *a, const char *token,
                     const char *const *urls, size_t n_urls,
                     const wb_form *form, const char *body, size_t len,
                     const char *signature)
{
    size_t sig_len;
    const char *sig = trim(signature, &sig_len);
    wb_strbuf params;
    wb_strbuf_init(&params, a);
    int rc = form != NULL ? sorted_params(a, form, &params) : WABOT_OK;
    int ok = 0, oom = 0;
    for (size_t i = 0; rc == WABOT_OK && i < n_urls && !ok; i++) {
        /* A raw body is signed through its hash in the URL: both must
         * hold, or a valid URL signature would vouch for any body. */
        if (form == NULL && !body_hash_ok(urls[i], body, len))
            continue;
        ok = twilio_url_matches(token, urls[i], &params, sig, sig_len, &oom);
    }
    wb_strbuf_free(&params);
    if (rc != WABOT_OK || (oom && !ok))
        return WABOT_ERR_NOMEM;
    return ok ? WABOT_OK : WABOT_ERR_AUTH;
}

int wb_twilio_sign(const char *token, const char *url, const wb_form *form,
                   char out[WB_TWILIO_SIG_LEN + 1])
{
    wb_strbuf data;
    wb_strbuf_init(&data, NULL);
    wb_strbuf_puts(&data, url);
    int rc = form != NULL ? sorted_params(NULL, form, &data) : WABOT_OK;
    unsigned char mac[SHA1_LEN];
    if (rc == WABOT_OK && (data.oom || hmac(EVP_sha1(), token, data.data,
                                            data.len, mac) != 0))
        rc = WABOT_ERR_NOMEM;
    wb_strbuf_free(&data);
    if (rc == WABOT_OK)
        EVP_EncodeBlock((unsigned char *)out, mac, SHA1_LEN);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Meta                                                                */

int wb_meta_verify(const char *secret, const char *body, size_t len,
                   const char *header)
{
    size_t hlen;
    const char *h = trim(header, &hlen);
    size_t plen = strlen(META_PREFIX);
    unsigned char want[SHA256_LEN], got[SHA256_LEN];
    if (hlen < plen || strncasecmp(h, META_PREFIX, plen) != 0 ||
        hex_decode(h + plen, hlen - plen, want, SHA256_LEN) != 0)
        return WABOT_ERR_AUTH;
    if (hmac(EVP_sha256(), secret, body, len, got) != 0)
        return WABOT_ERR_NOMEM;
    return CRYPTO_memcmp(want, got, SHA256_LEN) == 0 ? WABOT_OK
                                                     : WABOT_ERR_AUTH;
}

/* ------------------------------------------------------------------ */
/* Public API (no context: allocations go to libc)                     */

int wabot_twilio_signature_check(const char *auth_token, const char *url,
                                 wabot_twilio_body kind, const char *body,
                                 size_t len, const char *signature)
{
    if (auth_token == NULL || *auth_token == '\0' || url == NULL ||
        *url == '\0' || signature == NULL || *signature == '\0' ||
        (body == NULL && len > 0) ||
        (kind != WABOT_TWILIO_BODY_FORM && kind != WABOT_TWILIO_BODY_RAW))
        return WABOT_ERR_INVAL;
    wb_form *form = NULL;
    if (kind == WABOT_TWILIO_BODY_FORM) {
        /* No limits here: the caller chose to verify this body. */
        wb_form_limits lim = {(size_t)-1, (size_t)-1};
        wb_reject rej;
        int rc = wb_form_parse(&wb_libc_allocator, body, len, &lim, &form, &rej);
        if (rc != WABOT_OK)
            return rc == WABOT_ERR_NOMEM ? rc : WABOT_ERR_PARSE;
    }
    const char *urls[] = {url};
    int rc = wb_twilio_verify(NULL, auth_token, urls, 1, form, body, len,
                              signature);
    wb_form_free(form);
    return rc;
}

int wabot_meta_signature_check(const char *app_secret, const char *body,
                               size_t len, const char *header_value)
{
    if (app_secret == NULL || *app_secret == '\0' || header_value == NULL ||
        *header_value == '\0' || (body == NULL && len > 0))
        return WABOT_ERR_INVAL;
    return wb_meta_verify(app_secret, body, len, header_value);
}

int wabot_twilio_signature_compute(const char *auth_token, const char *url,
                                   const char *body, size_t len, char *out,
                                   size_t out_size)
{
    if (auth_token == NULL || *auth_token == '\0' || url == NULL ||
        *url == '\0' || (body == NULL && len > 0) || out == NULL ||
        out_size < WABOT_TWILIO_SIGNATURE_SIZE)
        return wb_detail(NULL, WABOT_ERR_INVAL,
                         "wabot_twilio_signature_compute: NULL or empty "
                         "token/url, NULL body with a length, or out under "
                         "%d bytes", WABOT_TWILIO_SIGNATURE_SIZE);
    wb_form_limits lim = {(size_t)-1, (size_t)-1};
    wb_form *form = NULL;
    wb_reject rej;
    int rc = wb_form_parse(&wb_libc_allocator, body != NULL ? body : "", len,
                           &lim, &form, &rej);
    if (rc != WABOT_OK)
        return wb_detail(NULL, rc == WABOT_ERR_NOMEM ? rc : WABOT_ERR_PARSE,
                         "wabot_twilio_signature_compute: %s", rej.message);
    rc = wb_twilio_sign(auth_token, url, form, out);
    wb_form_free(form);
    return rc == WABOT_OK ? rc
                          : wb_detail(NULL, rc, "twilio signature: out of "
                                                "memory");
}

int wabot_meta_signature_compute(const char *app_secret, const char *body,
                                 size_t len, char *out, size_t out_size)
{
    if (app_secret == NULL || *app_secret == '\0' ||
        (body == NULL && len > 0) || out == NULL ||
        out_size < WABOT_META_SIGNATURE_SIZE)
        return wb_detail(NULL, WABOT_ERR_INVAL,
                         "wabot_meta_signature_compute: NULL or empty secret, "
                         "NULL body with a length, or out under %d bytes",
                         WABOT_META_SIGNATURE_SIZE);
    unsigned char mac[SHA256_LEN];
    if (hmac(EVP_sha256(), app_secret, body != NULL ? body : "", len, mac) !=
        0)
        return wb_detail(NULL, WABOT_ERR_NOMEM, "meta signature: out of "
                                                "memory");
    static const char hex[] = "0123456789abcdef";
    size_t plen = strlen(META_PREFIX);
    memcpy(out, META_PREFIX, plen);
    for (size_t i = 0; i < SHA256_LEN; i++) {
        out[plen + 2 * i] = hex[mac[i] >> 4];
        out[plen + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[plen + 2 * SHA256_LEN] = '\0';
    return WABOT_OK;
}
