import PluginSupport

/// The plugin's former CRC-64/XZ (slicing-by-8 tables, 2.2 GB/s here), kept as the reference the
/// hardware CRC (ISA-L) is checked against.
struct CRC64Reference {
    static let polynomial: UInt64 = 0xC96C_5795_D787_0F42

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

    init() {}

    /// The CRC of everything passed to `update` so far.
    var value: UInt64 { ~crc }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
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

    mutating func update<B: Sequence>(_ bytes: B) where B.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }
}
