/* SipHash-1-3 for the in-memory hash tables (storage, scheduler): keys
 * embed phone numbers and provider ids chosen by outsiders, so chains must
 * not be floodable; each table gets its own random key. */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
    do {                                                                      \
        v0 += v1;                                                             \
        v1 = ROTL(v1, 13);                                                    \
        v1 ^= v0;                                                             \
        v0 = ROTL(v0, 32);                                                    \
        v2 += v3;                                                             \
        v3 = ROTL(v3, 16);                                                    \
        v3 ^= v2;                                                             \
        v0 += v3;                                                             \
        v3 = ROTL(v3, 21);                                                    \
        v3 ^= v0;                                                             \
        v2 += v1;                                                             \
        v1 = ROTL(v1, 17);                                                    \
        v1 ^= v2;                                                             \
        v2 = ROTL(v2, 32);                                                    \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t wb_siphash13(uint64_t k0, uint64_t k1, const void *data,
                      size_t len)
{
    const unsigned char *in = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const unsigned char *end = in + (len - len % 8);
    for (; in != end; in += 8) {
        uint64_t m = load_le64(in);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void wb_siphash_key(void *salt, uint64_t *k0, uint64_t *k1)
{
    uint64_t k[2];
    if (getentropy(k, sizeof k) != 0) {
        /* No entropy source: still vary per table and per run. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)(uintptr_t)salt ^ (uint64_t)ts.tv_nsec;
        k[1] = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
    }
    *k0 = k[0];
    *k1 = k[1];
}
