import ArtifactCore
import Checksums
import Foundation
import StoreHTTP
import Transfer

/// What one request carries so the store can check its bytes: headers (Content-MD5,
/// `x-amz-checksum-*`) and the payload's SHA-256 to sign.
public struct RequestChecks: Sendable {
    public var headers: [(String, String)]
    /// Hex SHA-256 signed into the request; nil: UNSIGNED-PAYLOAD.
    public var payloadHash: String?

    public init(headers: [(String, String)] = [], payloadHash: String? = nil) {
        self.headers = headers
        self.payloadHash = payloadHash
    }

    public static let none = RequestChecks()
}

/// Which checks the parts of an upload carry.
public enum PartChecks: Sendable, Equatable {
    case fixed(ChecksumSet)
    /// The cheapest check the store turns out to enforce (`IntegrityProbe`).
    case learnedFromStore
}

/// How a dialect writes checksums on the wire and reads them back.
public struct ChecksumWire: Sendable, Equatable {
    /// S3: CRCs go in `x-amz-checksum-crc32`/`-crc32c`, are declared when an upload is created
    /// (`x-amz-checksum-algorithm`) and listed per part on completion.
    public var amzChecksums: Bool
    /// OSS: the header the store reports its CRC-64 of a part or object in.
    public var crc64Header: String?

    public init(amzChecksums: Bool, crc64Header: String?) {
        self.amzChecksums = amzChecksums
        self.crc64Header = crc64Header
    }

    /// The CRC the store verifies in a header, with that header's and XML element's names.
    static func crc(_ set: ChecksumSet) -> (kind: CRC32.Polynomial, header: String, element: String, algorithm: String)? {
        if set.contains(.crc32c) { return (.castagnoli, "x-amz-checksum-crc32c", "ChecksumCRC32C", "CRC32C") }
        if set.contains(.crc32) { return (.ieee, "x-amz-checksum-crc32", "ChecksumCRC32", "CRC32") }
        return nil
    }

    static func base64(_ v: UInt32) -> String { Data(CRC32.bigEndianBytes(v)).base64EncodedString() }

    static func crcValue(_ c: PartChecksums, _ kind: CRC32.Polynomial) -> UInt32? { kind == .castagnoli ? c.crc32c : c.crc32 }

    /// Everything in `c` this store can check, as request headers and a payload hash.
    public func requestChecks(_ c: PartChecksums) -> RequestChecks {
        var r = RequestChecks()
        if let md5 = c.md5 { r.headers.append(("Content-MD5", Data(md5).base64EncodedString())) }
        if amzChecksums, let crc = Self.crc(c.set), let v = Self.crcValue(c, crc.kind) { r.headers.append((crc.header, Self.base64(v))) }
        if amzChecksums, let sha = c.sha256 { r.payloadHash = sha.hex }
        return r
    }

    /// Headers of CreateMultipartUpload for parts checked with `set`.
    public func createHeaders(_ set: ChecksumSet) -> [(String, String)] {
        guard amzChecksums, let crc = Self.crc(set) else { return [] }
        return [("x-amz-checksum-algorithm", crc.algorithm)]
    }

    /// The part's checksum element of CompleteMultipartUpload, when its upload declared one.
    public func completeElement(_ c: PartChecksums) -> (name: String, value: String)? {
        guard amzChecksums, let crc = Self.crc(c.set), let v = Self.crcValue(c, crc.kind) else { return nil }
        return (crc.element, Self.base64(v))
    }

    /// Throws `IntegrityMismatch` when the store's answer shows it stored other bytes than sent.
    public func verify(_ response: HTTPResponse, _ sent: PartChecksums, what: String) throws {
        if let md5 = sent.md5, !Self.encryptedETag(response), let raw = response.header("ETag") {
            let etag = raw.trimming("\"").lowercased()
            if etag.count == 32, etag.allSatisfy({ $0.isHexDigit }), etag != md5.hex {
                throw IntegrityMismatch("\(what): the store's ETag \(etag) is not the MD5 of the bytes sent (\(md5.hex))")
            }
        }
        if amzChecksums, let crc = Self.crc(sent.set), let mine = Self.crcValue(sent, crc.kind), let theirs = response.header(crc.header),
           theirs != Self.base64(mine) {
            throw IntegrityMismatch("\(what): the store holds \(crc.algorithm) \(theirs.prefix(16)), the bytes sent have \(Self.base64(mine))")
        }
        if let h = crc64Header, let mine = sent.crc64, let theirs = response.header(h).flatMap({ UInt64($0) }), theirs != mine {
            throw IntegrityMismatch("\(what): the store holds CRC-64 \(theirs), the bytes sent have \(mine)")
        }
    }

    /// With SSE-KMS or customer keys an ETag is not the MD5 of the data (Content-MD5 still
    /// guarded the bytes on arrival), so it is not compared.
    static func encryptedETag(_ r: HTTPResponse) -> Bool {
        if r.header("x-amz-server-side-encryption-customer-algorithm") != nil { return true }
        if let sse = r.header("x-amz-server-side-encryption"), sse != "AES256" { return true }
        if let sse = r.header("x-oss-server-side-encryption"), sse != "AES256" { return true }
        return false
    }

    /// The completed object against its parts: the ETag's part count; the CRC-64 (the parts'
    /// combined) or the composite CRC-32C/CRC-32 (the CRC of the parts' CRCs) where the store
    /// reports one.
    public func verifyObject(_ response: HTTPResponse, parts: [UploadedPart], location: String) throws {
        let f = (try? XMLReader.records(response.body, record: "__none__").fields) ?? [:]
        if let etag = f["ETag"]?.trimming("\""), let dash = etag.lastIndex(of: "-"),
           let n = Int(etag[etag.index(after: dash)...]), n != parts.count {
            throw ArtifactError.corrupted("\(location): the completed object reports \(n) parts, \(parts.count) were sent")
        }
        if let h = crc64Header, let theirs = response.header(h).flatMap({ UInt64($0) }), parts.allSatisfy({ $0.checksums.crc64 != nil }) {
            let whole = parts.reduce(UInt64(0)) { CRC64.combine($0, $1.checksums.crc64!, lengthB: $1.length) }
            if whole != theirs {
                throw ArtifactError.corrupted("\(location): the completed object has CRC-64 \(theirs), its parts combine to \(whole)")
            }
        }
        if amzChecksums, let first = parts.first, let crc = Self.crc(first.checksums.set), let theirs = f[crc.element] {
            let values = parts.compactMap { Self.crcValue($0.checksums, crc.kind) }
            let expected = Self.base64(CRC32.composite(crc.kind, parts: values)) + "-\(parts.count)"
            if values.count == parts.count, theirs.contains("-"), theirs != expected {
                throw ArtifactError.corrupted("\(location): the completed object has \(crc.algorithm) \(theirs.prefix(24)), its parts make \(expected)")
            }
        }
    }
}

/// The checks of a store's uploads, as its dialect chose them from `multipart.checksum`.
public struct IntegrityPolicy: Sendable, Equatable {
    /// A single PUT (and an empty directory marker).
    public var object: ChecksumSet
    public var parts: PartChecks
    public var wire: ChecksumWire

    public init(object: ChecksumSet, parts: PartChecks, wire: ChecksumWire) {
        self.object = object
        self.parts = parts
        self.wire = wire
    }

    /// Why these checks, for the log line that says which one a store got.
    public var reason: String {
        switch parts {
        case .learnedFromStore: return "learned from the store"
        case .fixed(let s) where s.contains(.crc64) && wire.crc64Header != nil && !s.contains(.md5):
            return "the store reports the CRC-64 of every part and object; each is compared"
        case .fixed: return "multipart.checksum"
        }
    }
}
