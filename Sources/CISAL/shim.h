// ISA-L's CRC routines (libisal-dev): carry-less-multiply (PCLMULQDQ/VPCLMULQDQ) code chosen at
// run time for the CPU. Typed wrappers with one calling convention each: the CRC of `len`
// bytes continuing from `crc` (the value of everything before, 0 for nothing), so a CRC can be
// computed piece by piece.
#ifndef ARGO_CISAL_SHIM_H
#define ARGO_CISAL_SHIM_H
#include <stdint.h>
#include <stddef.h>
#include <isa-l/crc.h>
#include <isa-l/crc64.h>

// CRC-64/XZ (OSS's crc64ecma): ISA-L's reflected ECMA-182 CRC inverts on entry and exit.
static inline uint64_t argo_crc64_xz(uint64_t crc, const void *buf, size_t len) {
    return crc64_ecma_refl(crc, (const unsigned char *)buf, (uint64_t)len);
}

// CRC-32 (IEEE, reflected: zlib's, S3's x-amz-checksum-crc32): inverts on entry and exit.
static inline uint32_t argo_crc32(uint32_t crc, const void *buf, size_t len) {
    return crc32_gzip_refl(crc, (const unsigned char *)buf, (uint64_t)len);
}

// CRC-32C (Castagnoli, S3's x-amz-checksum-crc32c). ISA-L's iSCSI routine neither inverts nor
// takes more than INT_MAX bytes at once: both are handled here.
static inline uint32_t argo_crc32c(uint32_t crc, const void *buf, size_t len) {
    uint32_t c = ~crc;
    const unsigned char *p = (const unsigned char *)buf;
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        c = crc32_iscsi((unsigned char *)p, n, c);
        p += n;
        len -= (size_t)n;
    }
    return ~c;
}
#endif
