import CISAL

/// CRC-64/XZ (ECMA-182 polynomial, reflected; init and xorout all ones): what OSS calls
/// crc64ecma. Computed by ISA-L with carry-less multiply (tens of GB/s per core). `combine`
/// joins the CRCs of two adjacent pieces without their bytes (for multipart uploads).
public struct CRC64: Sendable {
    public static let polynomial: UInt64 = 0xC96C_5795_D787_0F42

    public private(set) var value: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        value = argo_crc64_xz(value, base, bytes.count)
    }

    public mutating func update<B: Sequence>(_ bytes: B) where B.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    public static func checksum<B: Sequence>(_ bytes: B) -> UInt64 where B.Element == UInt8 {
        var c = CRC64()
        c.update(bytes)
        return c.value
    }

    // MARK: combine (zlib's crc32_combine method, over GF(2))

    private static func gf2Times(_ mat: [UInt64], _ vec: UInt64) -> UInt64 {
        var sum: UInt64 = 0
        var v = vec
        var i = 0
        while v != 0 {
            if v & 1 == 1 { sum ^= mat[i] }
            v >>= 1
            i += 1
        }
        return sum
    }

    private static func gf2Square(_ mat: [UInt64]) -> [UInt64] {
        (0..<64).map { gf2Times(mat, mat[$0]) }
    }

    /// CRC of A followed by B, from crc(A), crc(B) and the length of B.
    public static func combine(_ crcA: UInt64, _ crcB: UInt64, lengthB: Int64) -> UInt64 {
        guard lengthB > 0 else { return crcA }
        var odd = [UInt64](repeating: 0, count: 64)
        odd[0] = polynomial
        var row: UInt64 = 1
        for i in 1..<64 {
            odd[i] = row
            row <<= 1
        }
        var even = gf2Square(odd)   // 2 zero bits
        odd = gf2Square(even)       // 4 zero bits
        var a = crcA
        var len = lengthB
        repeat {
            even = gf2Square(odd)
            if len & 1 == 1 { a = gf2Times(even, a) }
            len >>= 1
            if len == 0 { break }
            odd = gf2Square(even)
            if len & 1 == 1 { a = gf2Times(odd, a) }
            len >>= 1
        } while len != 0
        return a ^ crcB
    }
}
