import Checksums
import PluginSupport

/// Which checksums go with the bytes of a request (or are kept in a part log).
public struct ChecksumSet: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Content-MD5 (and an ETag equal to it).
    public static let md5 = ChecksumSet(rawValue: 1 << 0)
    /// CRC-64/XZ (OSS's `x-oss-hash-crc64ecma`).
    public static let crc64 = ChecksumSet(rawValue: 1 << 1)
    /// SHA-256 of the payload, signed (SigV4's `x-amz-content-sha256`).
    public static let sha256 = ChecksumSet(rawValue: 1 << 2)
    /// `x-amz-checksum-crc32`.
    public static let crc32 = ChecksumSet(rawValue: 1 << 3)
    /// `x-amz-checksum-crc32c`.
    public static let crc32c = ChecksumSet(rawValue: 1 << 4)

    static let named: [(ChecksumSet, String)] = [(.sha256, "sha256"), (.crc32c, "crc32c"), (.crc32, "crc32"), (.crc64, "crc64"), (.md5, "md5")]

    /// `sha256+crc64`, or `none`.
    public var description: String {
        let names = Self.named.filter { contains($0.0) }.map(\.1)
        return names.isEmpty ? "none" : names.joined(separator: "+")
    }

    public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }

    /// From `names`; nil if one is unknown.
    public init?(names: [String]) {
        var s: ChecksumSet = []
        for n in names {
            guard let e = Self.named.first(where: { $0.1 == n }) else { return nil }
            s.insert(e.0)
        }
        self = s
    }
}

/// The checksums of one part (or object), computed from the bytes sent.
public struct PartChecksums: Sendable, Codable, Equatable {
    public var md5: [UInt8]?
    public var sha256: [UInt8]?
    public var crc32: UInt32?
    public var crc32c: UInt32?
    public var crc64: UInt64?

    public init(md5: [UInt8]? = nil, sha256: [UInt8]? = nil, crc32: UInt32? = nil, crc32c: UInt32? = nil, crc64: UInt64? = nil) {
        self.md5 = md5
        self.sha256 = sha256
        self.crc32 = crc32
        self.crc32c = crc32c
        self.crc64 = crc64
    }

    /// Which checksums are present.
    public var set: ChecksumSet {
        var s: ChecksumSet = []
        if md5 != nil { s.insert(.md5) }
        if sha256 != nil { s.insert(.sha256) }
        if crc32 != nil { s.insert(.crc32) }
        if crc32c != nil { s.insert(.crc32c) }
        if crc64 != nil { s.insert(.crc64) }
        return s
    }

    /// True when every checksum of `set` is present in both and equal (and `set` is not empty).
    public func matches(_ other: PartChecksums, in set: ChecksumSet) -> Bool {
        guard !set.isEmpty else { return false }
        if set.contains(.md5) { guard let a = md5, a == other.md5 else { return false } }
        if set.contains(.sha256) { guard let a = sha256, a == other.sha256 else { return false } }
        if set.contains(.crc32) { guard let a = crc32, a == other.crc32 else { return false } }
        if set.contains(.crc32c) { guard let a = crc32c, a == other.crc32c else { return false } }
        if set.contains(.crc64) { guard let a = crc64, a == other.crc64 else { return false } }
        return true
    }

    enum CodingKeys: String, CodingKey { case md5, sha256, crc32, crc32c, crc64 }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        md5 = try c.decodeIfPresent(String.self, forKey: .md5).flatMap(Self.unhex)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256).flatMap(Self.unhex)
        crc32 = try c.decodeIfPresent(UInt32.self, forKey: .crc32)
        crc32c = try c.decodeIfPresent(UInt32.self, forKey: .crc32c)
        crc64 = try c.decodeIfPresent(UInt64.self, forKey: .crc64)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(md5?.hex, forKey: .md5)
        try c.encodeIfPresent(sha256?.hex, forKey: .sha256)
        try c.encodeIfPresent(crc32, forKey: .crc32)
        try c.encodeIfPresent(crc32c, forKey: .crc32c)
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
        private var md5: Digest?
        private var sha256: Digest?
        private var crc32: CRC32?
        private var crc32c: CRC32?
        private var crc64: CRC64?

        public init(_ set: ChecksumSet) {
            md5 = set.contains(.md5) ? Digest(.md5) : nil
            sha256 = set.contains(.sha256) ? Digest(.sha256) : nil
            crc32 = set.contains(.crc32) ? CRC32(.ieee) : nil
            crc32c = set.contains(.crc32c) ? CRC32(.castagnoli) : nil
            crc64 = set.contains(.crc64) ? CRC64() : nil
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            md5?.update(bytes)
            sha256?.update(bytes)
            crc32?.update(bytes)
            crc32c?.update(bytes)
            crc64?.update(bytes)
        }

        public consuming func finish() -> PartChecksums {
            PartChecksums(md5: md5.take()?.finish(), sha256: sha256.take()?.finish(), crc32: crc32?.value,
                          crc32c: crc32c?.value, crc64: crc64?.value)
        }
    }
}
