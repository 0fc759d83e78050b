#define _XOPEN_SOURCE 700 /* strptime */
/* Helpers shared by the provider transports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "provider.h"

int64_t wb_retry_after_ms(const wb_http_response *r)
{
    const char *v = wb_http_header_get(r, "Retry-After");
    if (!v || !*v)
        return 0;
    char *end;
    long long secs = strtoll(v, &end, 10);
    if (end != v && *end == '\0')
        return secs > 0 ? secs * 1000 : 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
        int64_t at = (int64_t)timegm(&tm) * 1000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        return at > now ? at - now : 0;
    }
    return 0;
}

void wb_provider_complete(wabot_send_op *op, wabot_provider provider,
                          const wb_http_response *r, const char *provider_id,
                          int code, const char *message)
{
    if (r->status != WABOT_OK) {
        wabot_send_op_fail(op, r->status, 0, r->error, 0);
        return;
    }
    int status = wabot_provider_classify(provider, r->code, code);
    if (status == WABOT_OK && provider_id && *provider_id) {
        wabot_send_op_ok(op, provider_id);
        return;
    }
    if (status == WABOT_OK) { /* 2xx without an id: not what the API says */
        status = WABOT_ERR_TRANSPORT;
        message = "success answer without a message id";
    }
    char text[300];
    snprintf(text, sizeof text, "HTTP %d: %s", r->code,
             message && *message ? message : "no error message");
    wabot_send_op_fail(op, status, code, text, wb_retry_after_ms(r));
}

int wb_form_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* Runs of unreserved bytes are appended whole: a form is mostly them. */
void wb_form_encode(wb_strbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (wb_form_unreserved(*p))
            p++;
        if (p > run)
            wb_strbuf_append(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == ' ') {
            wb_strbuf_putc(b, '+');
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            wb_strbuf_append(b, e, 3);
        }
        p++;
    }
}

int wb_url_ok(const char *url)
{
    return url && (strncmp(url, "http://", 7) == 0 ||
                   strncmp(url, "https://", 8) == 0) &&
           !strpbrk(url, " \t\r\n");
}

size_t wb_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int wb_transport_check(wabot_provider provider, const wabot_outbound *o,
                       char *why, size_t n)
{
    const char *reason = "";
    int rc = WABOT_OK;
    if (provider == WABOT_PROVIDER_META) {
        rc = wb_meta_check(o, &reason);
    } else if (provider == WABOT_PROVIDER_TWILIO) {
        size_t chars = wb_twilio_body_chars(o);
        if (chars > WB_TWILIO_BODY_MAX) {
            snprintf(why, n, "Twilio sends at most %d characters in one "
                     "message; this one has %zu%s", WB_TWILIO_BODY_MAX, chars,
                     wabot_outbound_option_count(o) ? " with its numbered "
                                                      "options" : "");
            return WABOT_ERR_TOO_LARGE;
        }
    }
    if (rc != WABOT_OK)
        snprintf(why, n, "%s: %s", wabot_provider_name(provider), reason);
    return rc;
}

wabot_provider wb_transport_provider(const wabot_transport *t)
{
    const char *name = wabot_transport_name(t);
    if (strcmp(name, "twilio") == 0)
        return WABOT_PROVIDER_TWILIO;
    if (strcmp(name, "meta") == 0)
        return WABOT_PROVIDER_META;
    return WABOT_PROVIDER_UNKNOWN;
}
