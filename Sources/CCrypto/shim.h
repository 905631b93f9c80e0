// CCrypto: not API. OpenSSL's libcrypto for SHA-256 digests of datasets, checkpoints and model
// parameters. Only Checksums imports it.
#ifndef PAIS_CCRYPTO_SHIM_H
#define PAIS_CCRYPTO_SHIM_H
#include <openssl/evp.h>
static inline const EVP_MD *ccrypto_sha256(void) { return EVP_sha256(); }
#endif
