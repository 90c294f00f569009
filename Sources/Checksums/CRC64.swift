import PluginSupport

/// CRC-64/XZ (ECMA-182 polynomial, reflected; init and xorout all ones) — what OSS calls
/// crc64ecma. Slicing-by-8: eight table lookups per 8 input bytes. `combine` joins the CRCs of
/// two adjacent pieces without their bytes (for multipart uploads).
public struct CRC64: Sendable {
    public static let polynomial: UInt64 = 0xC96C_5795_D787_0F42

    /// tables[k][b]: CRC of byte b followed by k zero bytes.
    static let tables: [[UInt64]] = {
        var t = [[UInt64]](repeating: [UInt64](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt64(i)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ polynomial : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    private static let flat: [UInt64] = tables.flatMap { $0 }

    private var crc: UInt64 = ~0

    public init() {}

    /// The CRC of everything passed to `update` so far.
    public var value: UInt64 { ~crc }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var n = bytes.count
        var c = crc
        Self.flat.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            while n >= 8 {
                let v = c ^ UInt64(littleEndianBytes: p)
                c = t[7 * 256 + Int(v & 0xFF)] ^ t[6 * 256 + Int((v >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((v >> 16) & 0xFF)] ^ t[4 * 256 + Int((v >> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((v >> 32) & 0xFF)] ^ t[2 * 256 + Int((v >> 40) & 0xFF)]
                    ^ t[1 * 256 + Int((v >> 48) & 0xFF)] ^ t[Int(v >> 56)]
                p += 8
                n -= 8
            }
            while n > 0 {
                c = t[Int((c ^ UInt64(p.pointee)) & 0xFF)] ^ (c >> 8)
                p += 1
                n -= 1
            }
        }
        crc = c
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
