/* Constant-time comparison of secrets (lib/internal/secret.h). */
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "secret.h"

int wb_secret_equal(const char *a, size_t an, const char *b, size_t bn)
{
    unsigned char da[32], db[32];
    unsigned int la = 0, lb = 0;
    if (!EVP_Digest(a, an, da, &la, EVP_sha256(), NULL) ||
        !EVP_Digest(b, bn, db, &lb, EVP_sha256(), NULL))
        return 0;
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}
