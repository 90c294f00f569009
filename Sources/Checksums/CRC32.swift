import CISAL

/// The 32-bit CRCs S3 stores verify (`x-amz-checksum-crc32`, `x-amz-checksum-crc32c`), by
/// ISA-L in hardware. S3 sends them big-endian, base64-encoded.
public struct CRC32: Sendable {
    public enum Polynomial: Sendable {
        /// IEEE 802.3 (zlib's CRC-32).
        case ieee
        /// Castagnoli (CRC-32C, iSCSI).
        case castagnoli
    }

    public let polynomial: Polynomial
    public private(set) var value: UInt32 = 0

    public init(_ polynomial: Polynomial) { self.polynomial = polynomial }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        switch polynomial {
        case .ieee: value = argo_crc32(value, base, bytes.count)
        case .castagnoli: value = argo_crc32c(value, base, bytes.count)
        }
    }

    public mutating func update<B: Sequence>(_ bytes: B) where B.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    public static func checksum<B: Sequence>(_ polynomial: Polynomial, _ bytes: B) -> UInt32 where B.Element == UInt8 {
        var c = CRC32(polynomial)
        c.update(bytes)
        return c.value
    }

    /// The value as S3 writes it: four bytes, big-endian.
    public static func bigEndianBytes(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// A multipart object's composite checksum as S3 reports it (`<base64>-<parts>`): the CRC of
    /// the parts' CRCs, each as four big-endian bytes.
    public static func composite(_ polynomial: Polynomial, parts: [UInt32]) -> UInt32 {
        checksum(polynomial, parts.flatMap(bigEndianBytes))
    }
}
