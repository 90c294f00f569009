#ifndef ARGO_PLUGIN_COPENSSL_SHIM_H
#define ARGO_PLUGIN_COPENSSL_SHIM_H
/* OpenSSL 3 only, no deprecated APIs: digests and MACs go through EVP. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#endif
