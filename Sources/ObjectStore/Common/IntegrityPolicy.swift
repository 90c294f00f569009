import ArtifactCore
import Checksums
import Foundation
import StoreHTTP
import Transfer

/// The checks an upload makes on one store, as its dialect chose them from `multipart.checksum`:
/// Content-MD5 on every request (the store refuses altered bytes with BadDigest) and a plain-MD5
/// ETag compared with ours; with CRC-64 (OSS), the store's `x-oss-hash-crc64ecma` of every part
/// and of the completed object (the parts' CRCs combined).
public struct IntegrityPolicy: Sendable, Equatable {
    public var contentMD5: Bool
    /// The header a store reports its CRC-64 in (OSS), when it is checked.
    public var crc64Header: String?

    public init(contentMD5: Bool, crc64Header: String?) {
        self.contentMD5 = contentMD5
        self.crc64Header = crc64Header
    }

    public static let none = IntegrityPolicy(contentMD5: false, crc64Header: nil)

    /// What the engine computes of each part.
    public var checksums: ChecksumSet {
        var s: ChecksumSet = []
        if contentMD5 { s.insert(.md5) }
        if crc64Header != nil { s.insert(.crc64) }
        return s
    }

    /// Request headers that let the store check the bytes it receives.
    public func requestHeaders(_ c: PartChecksums) -> [(String, String)] {
        guard contentMD5, let md5 = c.md5 else { return [] }
        return [("Content-MD5", Data(md5).base64EncodedString())]
    }

    /// Throws `IntegrityMismatch` when the store's answer shows it stored other bytes.
    public func verify(_ response: HTTPResponse, _ sent: PartChecksums, what: String) throws {
        if contentMD5, let md5 = sent.md5, !Self.encryptedETag(response), let raw = response.header("ETag") {
            let etag = raw.trimming("\"").lowercased()
            if etag.count == 32, etag.allSatisfy({ $0.isHexDigit }), etag != md5.hex {
                throw IntegrityMismatch("\(what): the store's ETag \(etag) is not the MD5 of the bytes sent (\(md5.hex))")
            }
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

    /// The completed object: its ETag's part count, and with CRC-64 its CRC against the parts'.
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
    }
}
