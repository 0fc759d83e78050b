/* The lexical layer of the library's JSON scanners (lib/core/json_scan.c):
 * readers of a few known shapes on hot paths (a provider's answer id, the
 * outbound job payload) that walk the text instead of building a jansson
 * tree. They accept only what jansson would accept (strict strings: valid
 * UTF-8, valid escapes, no \u0000, no lone surrogates) and leave anything
 * else to a jansson decode, so the result is the one a decode gives.
 * Private. */
#ifndef WB_JSON_SCAN_H
#define WB_JSON_SCAN_H

#include <stddef.h>

typedef struct wb_jscan {
    const unsigned char *p, *end;
} wb_jscan;

/* Skip JSON whitespace. Inline: the scanners call it between every two
 * tokens, and mostly there is none or one space to skip. */
static inline void wb_jscan_ws(wb_jscan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* The string at s->p (on its opening quote): its raw bytes between the
 * quotes and whether it has escapes; s->p moves past the closing quote.
 * 0, or -1 if jansson would refuse it. */
int wb_jscan_string(wb_jscan *s, const unsigned char **start, size_t *len,
                    int *escaped);

/* Decode the raw bytes of a string wb_jscan_string accepted into out
 * (len + 1 bytes always suffice): escapes become the UTF-8 they stand
 * for, as jansson decodes them. NUL-terminated; returns the length. */
size_t wb_jscan_unescape(const unsigned char *raw, size_t len, char *out);

#endif
