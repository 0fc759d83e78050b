/* SipHash-1-3 with a random per-table key. Private. */
#ifndef WB_SIPHASH_H
#define WB_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t wb_siphash13(uint64_t k0, uint64_t k1, const void *data,
                      size_t len);
/* A fresh random key (getentropy, or time and `salt` without it). */
void wb_siphash_key(void *salt, uint64_t *k0, uint64_t *k1);

#endif
