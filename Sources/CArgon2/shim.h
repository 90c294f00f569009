// Argon2id from the reference library (libargon2-dev): the key derivation Argo's S3 driver uses
// for SSE-C customer keys (minio-go's encrypt.DefaultPBKDF). One typed call; the library's own
// threads compute the lanes.
#ifndef ARGO_CARGON2_SHIM_H
#define ARGO_CARGON2_SHIM_H
#include <stdint.h>
#include <stddef.h>
#include <argon2.h>

// Argon2id, version 1.3: `out_len` bytes into `out`. Returns ARGON2_OK (0) or an error code.
static inline int argo_argon2id(uint32_t passes, uint32_t memory_kib, uint32_t lanes,
                                const void *password, size_t password_len,
                                const void *salt, size_t salt_len, void *out, size_t out_len) {
    return argon2id_hash_raw(passes, memory_kib, lanes, password, password_len, salt, salt_len, out, out_len);
}

static inline const char *argo_argon2_error(int code) { return argon2_error_message(code); }
#endif
