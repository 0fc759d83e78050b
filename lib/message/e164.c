/* Phone numbers arrive as "whatsapp:+14155550100" (Twilio), "14155550100"
 * (Meta wa_id) or typed by hosts with separators; the library keys
 * everything by one form, E.164 with a leading '+'. */
#include <string.h>

#include "message.h"

#define E164_MIN_DIGITS 6
#define E164_MAX_DIGITS 15

int wb_e164_normalize(const char *in, char *out, size_t outsz)
{
    if (!in || !out || outsz < E164_MAX_DIGITS + 2)
        return WABOT_ERR_INVAL;
    if (strncmp(in, "whatsapp:", 9) == 0)
        in += 9;
    while (*in == ' ')
        in++;
    if (*in == '+')
        in++;
    size_t n = 0;
    out[n++] = '+';
    for (; *in; in++) {
        if (*in >= '0' && *in <= '9') {
            if (n > E164_MAX_DIGITS)
                return WABOT_ERR_PARSE;
            out[n++] = *in;
        } else if (!strchr(" -.()", *in)) {
            return WABOT_ERR_PARSE;
        }
    }
    out[n] = '\0';
    if (n - 1 < E164_MIN_DIGITS || out[1] == '0')
        return WABOT_ERR_PARSE;
    return WABOT_OK;
}
