import Checksums
import PluginSupport

/// Which checksums a store wants of the bytes it receives.
public struct ChecksumSet: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Content-MD5 (and an ETag equal to it).
    public static let md5 = ChecksumSet(rawValue: 1 << 0)
    /// CRC-64/XZ (OSS's `x-oss-hash-crc64ecma`).
    public static let crc64 = ChecksumSet(rawValue: 1 << 1)
}

/// The checksums of one part (or object), computed from the bytes sent.
public struct PartChecksums: Sendable, Codable, Equatable {
    public var md5: [UInt8]?
    public var crc64: UInt64?

    public init(md5: [UInt8]? = nil, crc64: UInt64? = nil) {
        self.md5 = md5
        self.crc64 = crc64
    }

    enum CodingKeys: String, CodingKey { case md5, crc64 }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        md5 = try c.decodeIfPresent(String.self, forKey: .md5).flatMap(Self.unhex)
        crc64 = try c.decodeIfPresent(UInt64.self, forKey: .crc64)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(md5?.hex, forKey: .md5)
        try c.encodeIfPresent(crc64, forKey: .crc64)
    }

    static func unhex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var i = 0
        while i < u.count {
            guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    public static func compute(_ bytes: UnsafeRawBufferPointer, _ set: ChecksumSet) -> PartChecksums {
        var a = Accumulator(set)
        a.update(bytes)
        return a.finish()
    }

    public static func compute(_ bytes: ArraySlice<UInt8>, _ set: ChecksumSet) -> PartChecksums {
        bytes.withUnsafeBytes { compute($0, set) }
    }

    /// Checksums computed piece by piece (a part read from a file in steps).
    public struct Accumulator: ~Copyable {
        private var md5 = Digest(.md5)
        private let wantsMD5: Bool
        private var crc: CRC64?

        public init(_ set: ChecksumSet) {
            wantsMD5 = set.contains(.md5)
            crc = set.contains(.crc64) ? CRC64() : nil
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            if wantsMD5 { md5.update(bytes) }
            crc?.update(bytes)
        }

        public consuming func finish() -> PartChecksums {
            let crcValue = crc?.value
            return PartChecksums(md5: wantsMD5 ? md5.finish() : nil, crc64: crcValue)
        }
    }
}
