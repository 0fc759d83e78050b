/* Keyword folding (see wabot_keyword_fold() in wabot/router.h). Private.
 *
 * Folding never makes text longer: every mapping turns a code point of k
 * bytes into at most k bytes, so an output buffer of n + 1 bytes always
 * suffices for n bytes of input. */
#ifndef WB_KEYWORD_FOLD_H
#define WB_KEYWORD_FOLD_H

#include <stddef.h>

/* Fold text[0..n) into out (capacity at least n + 1). Returns the folded
 * length; out is NUL-terminated. */
size_t wb_keyword_fold_to(const char *text, size_t n, char *out);

/* 1 if folding text[0..n) gives exactly folded[0..folded_len), else 0.
 * Allocates nothing and stops at the first difference, so routing can
 * compare against pre-folded keywords on every message. */
int wb_keyword_fold_equals(const char *text, size_t n, const char *folded,
                           size_t folded_len);

/* Byte length of the white-space code point at s[0..n) (ASCII white space,
 * NBSP and the other Unicode spaces folding collapses), 0 if s does not
 * start with one. Shared with command routes so "white space" means the
 * same thing everywhere in the router. */
size_t wb_fold_space_len(const char *s, size_t n);

#endif
