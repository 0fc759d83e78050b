/* Is this request from the provider? The policy around the signature
 * primitives of signature.c: which secret applies, which URL the provider
 * signed (the library usually sits behind a proxy), what happens when a
 * secret is missing, and Meta's GET verification handshake.
 *
 * Every rejection is a 403 whose message names the header or option at
 * fault and never contains a secret, a computed signature or a body. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal/metrics.h"
#include "internal/secret.h"
#include "internal/strbuf.h"
#include "internal/webhook.h"

/* Longest signature header worth looking at: a valid one is 28 (Twilio)
 * or 71 (Meta) bytes. */
#define MAX_SIG_HEADER 512
/* Longest Host / X-Forwarded-Host value used to rebuild a URL. */
#define MAX_HOST 255
/* Meta's challenge is a number; anything beyond this set and length is
 * refused rather than echoed into a response body. */
#define MAX_CHALLENGE 256
#define CHALLENGE_CHARS                                                      \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

/* Header value by case-insensitive name (the first one), or NULL. */
const char *wb_header_get(const wb_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].name != NULL && r->headers[i].value != NULL &&
            strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Once per process, however many requests skip the check: loud enough to
 * be seen in every log, quiet enough not to drown it. */
static void warn_unverified(wabot_ctx *ctx)
{
    static atomic_int warned;
    wb_count(ctx, "webhook.signature_skipped", 1);
    if (atomic_exchange(&warned, 1) == 0)
        wb_log(ctx, WABOT_LOG_WARN, "webhook",
               "SIGNATURE VERIFICATION IS OFF (verify_signatures=0): anyone "
               "who can reach this endpoint can impersonate the provider; "
               "use this for local development only");
}

/* ------------------------------------------------------------------ */
/* The URL the provider signed                                          */

/* First element of a comma-separated header value (proxies append), trimmed,
 * into out; 0 if it is empty, too long or holds bytes no host or scheme
 * has (a forged header must not smuggle a path or a user into the URL). */
static int header_token(const char *v, char *out, size_t n, int is_proto)
{
    if (v == NULL)
        return 0;
    v += strspn(v, " \t");
    size_t len = strcspn(v, ",");
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= n)
        return 0;
    static const char host_chars[] = "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-:[]_";
    for (size_t i = 0; i < len; i++)
        if (strchr(host_chars, v[i]) == NULL || v[i] == '\0')
            return 0;
    memcpy(out, v, len);
    out[len] = '\0';
    if (is_proto)
        return strcasecmp(out, "https") == 0 || strcasecmp(out, "http") == 0;
    return 1;
}

/* scheme://authority and the path prefix of WABOT_OPT_PUBLIC_URL (checked
 * when the option was set: "http(s)://authority[/prefix]"). */
typedef struct origin {
    char scheme[8];
    char authority[MAX_HOST + 1];
    const char *prefix; /* borrowed; may be "" */
    size_t prefix_len;  /* without a trailing '/' */
} origin;

static int origin_parse(const char *url, origin *o)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL || (size_t)(sep - url) >= sizeof o->scheme)
        return 0;
    memcpy(o->scheme, url, (size_t)(sep - url));
    o->scheme[sep - url] = '\0';
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/");
    if (alen == 0 || alen > MAX_HOST)
        return 0;
    memcpy(o->authority, auth, alen);
    o->authority[alen] = '\0';
    o->prefix = auth + alen;
    o->prefix_len = strlen(o->prefix);
    while (o->prefix_len > 0 && o->prefix[o->prefix_len - 1] == '/')
        o->prefix_len--;
    return 1;
}

static void url_put(wb_strbuf *b, const char *scheme, const char *authority,
                    const char *prefix, size_t prefix_len, const char *target)
{
    wb_strbuf_puts(b, scheme); /* not printf: once or twice per webhook */
    wb_strbuf_append(b, "://", 3);
    wb_strbuf_puts(b, authority);
    wb_strbuf_append(b, prefix, prefix_len);
    if (target[0] != '/')
        wb_strbuf_putc(b, '/');
    wb_strbuf_puts(b, target);
}

/*
 * The URLs the provider may have signed, most likely first (at most 2):
 *  - WABOT_OPT_PUBLIC_URL joined with the target;
 *  - without it, the Host header with https, then http (the scheme is not
 *    visible behind a TLS-terminating proxy; an attacker gains nothing by
 *    choosing it, the HMAC still needs the secret);
 *  - with WABOT_OPT_TRUST_FORWARDED, X-Forwarded-Proto and
 *    X-Forwarded-Host replace the scheme and host of either.
 */
static size_t public_urls(const wabot_ctx *ctx, const wb_request *r,
                          wb_strbuf urls[2])
{
    char fproto[8] = "", fhost[MAX_HOST + 1] = "";
    if (ctx->cfg.trust_forwarded) {
        if (!header_token(wb_header_get(r, "X-Forwarded-Proto"), fproto,
                          sizeof fproto, 1))
            fproto[0] = '\0';
        if (!header_token(wb_header_get(r, "X-Forwarded-Host"), fhost,
                          sizeof fhost, 0))
            fhost[0] = '\0';
    }
    origin o;
    if (ctx->cfg.public_url[0] != '\0' &&
        origin_parse(ctx->cfg.public_url, &o)) {
        url_put(&urls[0], fproto[0] ? fproto : o.scheme,
                fhost[0] ? fhost : o.authority, o.prefix, o.prefix_len,
                r->target);
        return 1;
    }
    char host[MAX_HOST + 1];
    if (fhost[0] != '\0')
        memcpy(host, fhost, sizeof host);
    else if (!header_token(wb_header_get(r, "Host"), host, sizeof host, 0))
        return 0;
    if (fproto[0] != '\0') {
        url_put(&urls[0], fproto, host, "", 0, r->target);
        return 1;
    }
    url_put(&urls[0], "https", host, "", 0, r->target);
    url_put(&urls[1], "http", host, "", 0, r->target);
    return 2;
}

/* ------------------------------------------------------------------ */
/* Signatures                                                          */

static int not_configured(wb_reject *rej, const char *provider,
                          const char *option)
{
    return wb_reject_set(rej, WABOT_ERR_AUTH, 403, "signature_not_configured",
                         "%s webhooks are refused: no %s is configured "
                         "(set it, or turn verify_signatures off for local "
                         "development only)", provider, option);
}

/* The signature header, or a rejection when it is absent or oversized. */
static const char *signature_header(const wb_request *r, const char *name,
                                    wb_reject *rej)
{
    const char *sig = wb_header_get(r, name);
    if (sig == NULL || sig[0] == '\0') {
        wb_reject_set(rej, WABOT_ERR_AUTH, 403, "invalid_signature",
                      "the %s header is missing", name);
        return NULL;
    }
    if (strlen(sig) > MAX_SIG_HEADER) {
        wb_reject_set(rej, WABOT_ERR_AUTH, 403, "invalid_signature",
                      "the %s header is not a signature", name);
        return NULL;
    }
    return sig;
}

/* "<first URL tried, without its query>" for a rejection message: enough
 * to spot a wrong public_url, without echoing query values. */
static void url_hint(char *out, size_t n, const wb_strbuf *u)
{
    size_t len = strcspn(u->data, "?");
    snprintf(out, n, "%.*s", len > 160 ? 160 : (int)len, u->data);
}

int wb_verify_twilio(wabot_ctx *ctx, const wb_request *r, const wb_form *f,
                     wb_reject *rej)
{
    if (!ctx->cfg.verify_signatures) {
        warn_unverified(ctx);
        return WABOT_OK;
    }
    if (ctx->cfg.twilio_auth_token[0] == '\0')
        return not_configured(rej, "Twilio", "twilio_auth_token");
    const char *sig = signature_header(r, "X-Twilio-Signature", rej);
    if (sig == NULL)
        return WABOT_ERR_AUTH;
    wb_strbuf urls[2];
    wb_strbuf_init(&urls[0], &ctx->alloc);
    wb_strbuf_init(&urls[1], &ctx->alloc);
    size_t n = public_urls(ctx, r, urls);
    int rc;
    if (n == 0) {
        rc = wb_reject_set(rej, WABOT_ERR_AUTH, 403, "invalid_signature",
                           "cannot tell which URL Twilio signed: no Host "
                           "header and no public_url configured");
    } else if (urls[0].oom || urls[1].oom) {
        rc = WABOT_ERR_NOMEM;
    } else {
        const char *list[2] = {urls[0].data, urls[1].data};
        rc = wb_twilio_verify(&ctx->alloc, ctx->cfg.twilio_auth_token, list,
                              n, f, r->body, r->len, sig);
        if (rc == WABOT_ERR_AUTH) {
            char hint[192];
            url_hint(hint, sizeof hint, &urls[0]);
            wb_reject_set(rej, rc, 403, "invalid_signature",
                          "X-Twilio-Signature does not match the request "
                          "(signed URL assumed: %s; check public_url)", hint);
        }
    }
    wb_strbuf_free(&urls[0]);
    wb_strbuf_free(&urls[1]);
    return rc;
}

int wb_verify_meta(wabot_ctx *ctx, const wb_request *r, wb_reject *rej)
{
    if (!ctx->cfg.verify_signatures) {
        warn_unverified(ctx);
        return WABOT_OK;
    }
    if (ctx->cfg.meta_app_secret[0] == '\0')
        return not_configured(rej, "Meta", "meta_app_secret");
    const char *sig = signature_header(r, "X-Hub-Signature-256", rej);
    if (sig == NULL)
        return WABOT_ERR_AUTH;
    int rc = wb_meta_verify(ctx->cfg.meta_app_secret, r->body, r->len, sig);
    if (rc == WABOT_ERR_AUTH)
        wb_reject_set(rej, rc, 403, "invalid_signature",
                      "X-Hub-Signature-256 does not match the body");
    return rc;
}

/* ------------------------------------------------------------------ */
/* Meta's verification handshake                                       */

static int refuse(wb_reject *rej, const char *why)
{
    return wb_reject_set(rej, WABOT_ERR_AUTH, 403, "verification_failed",
                         "verification handshake refused: %s", why);
}

static int challenge_ok(const wb_form_param *c)
{
    return c != NULL && c->value_len > 0 && c->value_len <= MAX_CHALLENGE &&
           strspn(c->value, CHALLENGE_CHARS) == c->value_len;
}

static int handshake_check(wabot_ctx *ctx, const wb_form *q, wb_reject *rej)
{
    const char *mode = wb_form_get(q, "hub.mode");
    const wb_form_param *token = wb_form_find(q, "hub.verify_token");
    if (ctx->cfg.meta_verify_token[0] == '\0')
        return refuse(rej, "no meta_verify_token is configured");
    if (mode == NULL || strcmp(mode, "subscribe") != 0)
        return refuse(rej, "hub.mode must be subscribe");
    if (token == NULL ||
        !wb_secret_equal(token->value, token->value_len,
                         ctx->cfg.meta_verify_token,
                         strlen(ctx->cfg.meta_verify_token)))
        return refuse(rej, "hub.verify_token does not match");
    if (!challenge_ok(wb_form_find(q, "hub.challenge")))
        return refuse(rej, "hub.challenge must be 1 to 256 letters, digits "
                           "or -._~");
    return WABOT_OK;
}

int wb_meta_handshake(wabot_ctx *ctx, const char *query, wb_reject *rej,
                      wabot_http_response **resp)
{
    *resp = NULL;
    if (*query == '?')
        query++;
    wb_form_limits lim = {
        ctx->cfg.max_params > 0 ? (size_t)ctx->cfg.max_params : 0,
        ctx->cfg.max_field_bytes > 0 ? (size_t)ctx->cfg.max_field_bytes : 0};
    wb_form *q = NULL;
    wb_reject ignored;
    int rc = wb_form_parse(&ctx->alloc, query, strlen(query), &lim, &q,
                           &ignored);
    if (rc == WABOT_ERR_NOMEM)
        return rc;
    rc = rc != WABOT_OK ? refuse(rej, "the query does not decode")
                        : handshake_check(ctx, q, rej);
    if (rc == WABOT_OK) {
        const wb_form_param *c = wb_form_find(q, "hub.challenge");
        *resp = wb_response_new(ctx, 200, WB_CT_TEXT, c->value, c->value_len);
        rc = *resp != NULL ? WABOT_OK : WABOT_ERR_NOMEM;
        if (rc == WABOT_OK)
            wb_count(ctx, "webhook.verifications", 1);
    }
    wb_form_free(q);
    return rc;
}
