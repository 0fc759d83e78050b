/* Comparing secrets (tokens, passwords) in constant time. Private. */
#ifndef WB_SECRET_H
#define WB_SECRET_H

#include <stddef.h>

/* 1 when a[0..an) equals b[0..bn), else 0. Their SHA-256 digests are
 * compared with CRYPTO_memcmp, so not even the length of the configured
 * secret shows in the timing. */
int wb_secret_equal(const char *a, size_t an, const char *b, size_t bn);

#endif
