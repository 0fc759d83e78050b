/* What a provider's answer means for the message: sent, try again later
 * (throttled or a provider/network failure), or never (the request itself
 * is wrong for good). Codes from the providers' error references
 * (PROVIDERS.md). */
#include <stddef.h>

#include "wabot/transport.h"

typedef struct code_class {
    int code;
    int status;
} code_class;

static const code_class twilio_codes[] = {
    {20429, WABOT_ERR_RATE_LIMITED},  /* too many requests */
    {63018, WABOT_ERR_RATE_LIMITED},  /* channel rate limit */
    {63016, WABOT_ERR_WINDOW_CLOSED}, /* outside the 24 h window */
    {21211, WABOT_ERR_PERMANENT},     /* invalid To */
    {21614, WABOT_ERR_PERMANENT},     /* To is not a mobile number */
    {21610, WABOT_ERR_PERMANENT},     /* recipient unsubscribed */
    {63024, WABOT_ERR_PERMANENT},     /* invalid message recipient */
    {63003, WABOT_ERR_PERMANENT},     /* channel could not find To */
};

static const code_class meta_codes[] = {
    {130429, WABOT_ERR_RATE_LIMITED}, /* throughput reached */
    {131056, WABOT_ERR_RATE_LIMITED}, /* pair rate limit */
    {80007, WABOT_ERR_RATE_LIMITED},  /* WABA rate limit */
    {131048, WABOT_ERR_RATE_LIMITED}, /* spam rate limit */
    {131057, WABOT_ERR_RATE_LIMITED}, /* throughput upgrade in progress */
    {131047, WABOT_ERR_WINDOW_CLOSED},/* re-engagement required */
    {131026, WABOT_ERR_PERMANENT},    /* undeliverable */
    {131049, WABOT_ERR_PERMANENT},    /* not delivered for ecosystem health */
    {131050, WABOT_ERR_PERMANENT},    /* user stopped marketing messages */
    {368, WABOT_ERR_PERMANENT},       /* temporarily blocked for violations */
    {100, WABOT_ERR_PERMANENT},       /* invalid parameter */
    {131009, WABOT_ERR_PERMANENT},    /* parameter value not valid */
    {132000, WABOT_ERR_PERMANENT},    /* template parameter count mismatch */
    {132001, WABOT_ERR_PERMANENT},    /* template does not exist */
};

static int lookup(const code_class *t, size_t n, int code)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].code == code)
            return t[i].status;
    return 0;
}

int wabot_provider_classify(wabot_provider provider, int http_code, int code)
{
    if (http_code >= 200 && http_code < 300)
        return WABOT_OK;
    if (http_code <= 0)
        return WABOT_ERR_TRANSPORT;
    int s = 0;
    if (provider == WABOT_PROVIDER_TWILIO)
        s = lookup(twilio_codes, sizeof twilio_codes / sizeof *twilio_codes,
                   code);
    else if (provider == WABOT_PROVIDER_META)
        s = lookup(meta_codes, sizeof meta_codes / sizeof *meta_codes, code);
    if (s)
        return s;
    if (http_code == 429)
        return WABOT_ERR_RATE_LIMITED;
    /* Authentication and server-side trouble can heal (credentials being
     * rotated, an outage): retry, and let the breaker see it. */
    if (http_code >= 500 || http_code == 401 || http_code == 403 ||
        http_code == 408)
        return WABOT_ERR_TRANSPORT;
    return WABOT_ERR_PERMANENT; /* the request itself is wrong */
}
