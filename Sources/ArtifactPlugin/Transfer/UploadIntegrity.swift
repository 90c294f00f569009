/// Checksums of one part, computed from the bytes we send.
public struct PartChecksum: Sendable {
    public var md5: [UInt8]
    public var crc64: UInt64?
    public var length: Int64
}

/// What a dialect checks beyond Content-MD5: the part's answer, and the completed object.
public protocol UploadIntegrity: Sendable {
    func checksum(_ bytes: UnsafeRawBufferPointer) -> PartChecksum
    /// Throws `ArtifactError.corrupted` when the store's answer shows it stored other bytes.
    func verifyPart(_ response: HTTPResponse, _ sent: PartChecksum, partNumber: Int, location: String) throws
    func verifyObject(_ response: HTTPResponse, parts: [PartChecksum], location: String) throws
    /// Extra headers for single-PUT objects (none for S3).
    func verifySingle(_ response: HTTPResponse, _ sent: PartChecksum, location: String) throws
}

/// The checks an upload makes: Content-MD5 on every request (the store refuses altered bytes
/// with BadDigest) and a plain-MD5 ETag compared with ours; with CRC-64 (OSS), the store's
/// `x-oss-hash-crc64ecma` of every part and of the completed object (the parts' CRCs combined).
public struct ChecksumPolicy: UploadIntegrity {
    public var md5: Bool
    public var crc64: Bool

    public init(md5: Bool, crc64: Bool) {
        self.md5 = md5
        self.crc64 = crc64
    }

    /// `multipart.checksum` for a dialect: auto = MD5, plus CRC-64 on OSS.
    public static func from(_ kind: MultipartSettings.ChecksumKind, oss: Bool) -> ChecksumPolicy {
        switch kind {
        case .auto: return ChecksumPolicy(md5: true, crc64: oss)
        case .md5: return ChecksumPolicy(md5: true, crc64: false)
        case .crc64: return ChecksumPolicy(md5: false, crc64: oss)
        case .none: return ChecksumPolicy(md5: false, crc64: false)
        }
    }

    static let crcHeader = "x-oss-hash-crc64ecma"

    public func checksum(_ bytes: UnsafeRawBufferPointer) -> PartChecksum {
        var crc: UInt64?
        if crc64 {
            var c = CRC64()
            c.update(bytes)
            crc = c.value
        }
        return PartChecksum(md5: md5 ? Digest.hash(.md5, bytes) : [], crc64: crc, length: Int64(bytes.count))
    }

    public func verifyPart(_ response: HTTPResponse, _ sent: PartChecksum, partNumber: Int, location: String) throws {
        try verify(response, sent, what: "part \(partNumber) of \(location)")
    }

    public func verifySingle(_ response: HTTPResponse, _ sent: PartChecksum, location: String) throws {
        try verify(response, sent, what: location)
    }

    private func verify(_ response: HTTPResponse, _ sent: PartChecksum, what: String) throws {
        if md5, !sent.md5.isEmpty, !Self.encryptedETag(response), let raw = response.header("ETag") {
            let etag = raw.trimmingCharacters(in: "\"").lowercased()
            if etag.count == 32, etag.allSatisfy({ $0.isHexDigit }), etag != sent.md5.hex {
                throw ArtifactError.corrupted("\(what): the store's ETag \(etag) is not the MD5 of the bytes sent (\(sent.md5.hex))")
            }
        }
        if crc64, let mine = sent.crc64, let theirs = response.header(Self.crcHeader).flatMap({ UInt64($0) }), theirs != mine {
            throw ArtifactError.corrupted("\(what): the store holds CRC-64 \(theirs), the bytes sent have \(mine)")
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

    public func verifyObject(_ response: HTTPResponse, parts: [PartChecksum], location: String) throws {
        let f = (try? XMLReader.records(response.body, record: "__none__").fields) ?? [:]
        if let etag = f["ETag"]?.trimmingCharacters(in: "\""), let dash = etag.lastIndex(of: "-"),
           let n = Int(etag[etag.index(after: dash)...]), n != parts.count {
            throw ArtifactError.corrupted("\(location): the completed object reports \(n) parts, \(parts.count) were sent")
        }
        if crc64, let theirs = response.header(Self.crcHeader).flatMap({ UInt64($0) }), parts.allSatisfy({ $0.crc64 != nil }) {
            let whole = parts.reduce(UInt64(0)) { CRC64.combine($0, $1.crc64!, lengthB: $1.length) }
            if whole != theirs {
                throw ArtifactError.corrupted("\(location): the completed object has CRC-64 \(theirs), its parts combine to \(whole)")
            }
        }
    }
}

extension String {
    func trimmingCharacters(in ch: Character) -> String {
        var s = Substring(self)
        while s.first == ch { s.removeFirst() }
        while s.last == ch { s.removeLast() }
        return String(s)
    }
}
