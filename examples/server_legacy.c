/* wabot-server's legacy bot: the migration module's legacy handler as an
 * HTTP forward (libcurl) to the bot being replaced. The provider's
 * request goes out unchanged (method, path and query appended to
 * WABOT_LEGACY_URL, headers, body), so the legacy bot can still verify the
 * provider's signature when it is configured with the public URL the
 * provider calls; its status, content type and body are relayed. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_legacy.h"

typedef struct legacy {
    char *base; /* WABOT_LEGACY_URL without a trailing '/' */
    long timeout_ms;
} legacy;

static legacy the_legacy;

typedef struct body {
    char *data;
    size_t len;
    int oom;
} body;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    body *b = ud;
    size_t add = size * n;
    char *d = realloc(b->data, b->len + add + 1);
    if (d == NULL) {
        b->oom = 1;
        return 0;
    }
    memcpy(d + b->len, p, add);
    b->len += add;
    d[b->len] = '\0';
    b->data = d;
    return add;
}

/* Headers that describe this hop, not the request: libcurl sets its own. */
static int hop_header(const char *name)
{
    static const char *const hop[] = {"Host", "Content-Length", "Connection",
                                      "Transfer-Encoding", "Expect",
                                      "Keep-Alive"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return 1;
    return 0;
}

static int forward(void *ud, const char *method, const char *target,
                   const wabot_http_header *headers, size_t nheaders,
                   const char *req_body, size_t len, wabot_http_response *out)
{
    legacy *lg = ud;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return WABOT_ERR_NOMEM;
    size_t ulen = strlen(lg->base) + strlen(target) + 1;
    char *url = malloc(ulen);
    struct curl_slist *hl = NULL;
    body b = {NULL, 0, 0};
    int rc = WABOT_ERR_NOMEM;
    if (url == NULL)
        goto done;
    snprintf(url, ulen, "%s%s", lg->base, target);
    for (size_t i = 0; i < nheaders; i++) {
        if (hop_header(headers[i].name))
            continue;
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", headers[i].name,
                 headers[i].value);
        struct curl_slist *next = curl_slist_append(hl, line);
        if (next == NULL)
            goto done;
        hl = next;
    }
    struct curl_slist *next = curl_slist_append(hl, "Expect:");
    if (next == NULL)
        goto done;
    hl = next;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req_body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK || b.oom) {
        fprintf(stderr, "wabot-server: legacy bot %s: %s\n", url,
                b.oom ? "out of memory" : curl_easy_strerror(cc));
        rc = WABOT_ERR_TRANSPORT;
        goto done;
    }
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    rc = wabot_http_response_set_status(out, (int)status);
    if (rc == WABOT_OK)
        rc = wabot_http_response_set_body(out, ct, b.data != NULL ? b.data : "",
                                          b.len);
done:
    free(b.data);
    curl_slist_free_all(hl);
    free(url);
    curl_easy_cleanup(c);
    return rc;
}

int server_legacy_attach(wabot_ctx *ctx)
{
    const char *url = getenv("WABOT_LEGACY_URL");
    if (url == NULL || *url == '\0')
        return 0;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        fprintf(stderr, "wabot-server: WABOT_LEGACY_URL must be an http:// or "
                        "https:// URL\n");
        return -1;
    }
    const char *t = getenv("WABOT_LEGACY_TIMEOUT_MS");
    char *end = NULL;
    long timeout = t != NULL ? strtol(t, &end, 10) : 10000;
    if (t != NULL && (*t == '\0' || *end != '\0' || timeout <= 0)) {
        fprintf(stderr, "wabot-server: WABOT_LEGACY_TIMEOUT_MS must be a "
                        "positive number of milliseconds\n");
        return -1;
    }
    free(the_legacy.base);
    the_legacy.base = strdup(url);
    if (the_legacy.base == NULL)
        return -1;
    size_t n = strlen(the_legacy.base);
    while (n > 0 && the_legacy.base[n - 1] == '/')
        the_legacy.base[--n] = '\0';
    the_legacy.timeout_ms = timeout;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (wabot_migration_set_legacy(ctx, forward, &the_legacy) != WABOT_OK) {
        fprintf(stderr, "wabot-server: legacy bot: %s\n", wabot_errmsg());
        return -1;
    }
    fprintf(stderr, "wabot-server: legacy bot at %s (messages not routed "
                    "here are forwarded)\n", the_legacy.base);
    return 0;
}

void server_legacy_close(void)
{
    free(the_legacy.base);
    the_legacy.base = NULL;
}
