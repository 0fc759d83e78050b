/* Validation of the string options of wabot/security.h, called by the
 * option setters (lib/core/options.c): a bad public URL or dedup key
 * format is refused when it is set, not discovered on the first webhook
 * after a deploy. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "options.h"

/* Texts are sent as WhatsApp messages (4096 characters at most); lists of
 * keywords and secrets are far shorter in practice. */
#define MAX_TEXT 4096
#define MAX_SECRET 1024
#define MAX_URL 1024
#define MAX_KEY_FORMAT 256

int wb_security_option(wabot_option id)
{
    return id >= WABOT_OPT_TWILIO_AUTH_TOKEN &&
           id <= WABOT_OPT_RECEIPT_TTL_MS;
}

static int fail(char *why, size_t n, const char *msg)
{
    snprintf(why, n, "%s", msg);
    return WABOT_ERR_INVAL;
}

static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* "http(s)://host[:port][/prefix]" without query, fragment, user info or
 * white space: it is joined with request targets to rebuild signed URLs. */
static int check_public_url(const char *v, char *why, size_t n)
{
    if (*v == '\0')
        return WABOT_OK;
    const char *auth = NULL;
    if (strncasecmp(v, "https://", 8) == 0)
        auth = v + 8;
    else if (strncasecmp(v, "http://", 7) == 0)
        auth = v + 7;
    if (auth == NULL)
        return fail(why, n, "must start with https:// or http://");
    size_t alen = strcspn(auth, "/");
    if (alen == 0 || alen > 255)
        return fail(why, n, "needs a host (scheme://host[:port][/prefix])");
    if (strpbrk(v, "?# \t@") != NULL || has_control(v))
        return fail(why, n, "must not hold a query, fragment, user info or "
                            "white space");
    return WABOT_OK;
}

/* The key format must name the message, or every message would share one
 * key and only the first would ever be handled. */
static int check_key_format(const char *v, char *why, size_t n)
{
    if (strlen(v) > MAX_KEY_FORMAT || has_control(v))
        return fail(why, n, "must be at most 256 bytes without control "
                            "characters");
    if (strstr(v, "{id}") == NULL && strstr(v, "{MessageSid}") == NULL &&
        strstr(v, "{wamid}") == NULL)
        return fail(why, n, "must contain {id} (or {MessageSid}, {wamid})");
    return WABOT_OK;
}

int wb_security_option_check(wabot_option id, const char *v, char *why,
                             size_t n)
{
    switch (id) {
    case WABOT_OPT_PUBLIC_URL:
        return strlen(v) > MAX_URL ? fail(why, n, "is longer than 1024 bytes")
                                   : check_public_url(v, why, n);
    case WABOT_OPT_DEDUP_KEY_FORMAT:
        return check_key_format(v, why, n);
    case WABOT_OPT_TWILIO_AUTH_TOKEN:
    case WABOT_OPT_META_APP_SECRET:
    case WABOT_OPT_META_VERIFY_TOKEN:
        if (strlen(v) > MAX_SECRET || has_control(v))
            return fail(why, n, "must be at most 1024 bytes without "
                                "control characters");
        return WABOT_OK;
    default: /* keyword lists and texts; "" turns them off */
        if (strlen(v) > MAX_TEXT)
            return fail(why, n, "is longer than 4096 bytes");
        return WABOT_OK;
    }
}
