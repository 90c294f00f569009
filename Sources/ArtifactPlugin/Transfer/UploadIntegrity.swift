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

/// S3: a part's ETag is the MD5 of its bytes; a completed object's ETag ends in `-<parts>`.
public struct S3Integrity: UploadIntegrity {
    public init() {}

    public func checksum(_ bytes: UnsafeRawBufferPointer) -> PartChecksum {
        PartChecksum(md5: Digest.hash(.md5, bytes), crc64: nil, length: Int64(bytes.count))
    }

    public func verifyPart(_ response: HTTPResponse, _ sent: PartChecksum, partNumber: Int, location: String) throws {
        try Self.checkETag(response, sent, what: "part \(partNumber) of \(location)")
    }

    public func verifySingle(_ response: HTTPResponse, _ sent: PartChecksum, location: String) throws {
        try Self.checkETag(response, sent, what: location)
    }

    public func verifyObject(_ response: HTTPResponse, parts: [PartChecksum], location: String) throws {
        let f = (try? XMLReader.records(response.body, record: "__none__").fields) ?? [:]
        guard let etag = f["ETag"]?.trimmingCharacters(in: "\"") else { return }
        if let dash = etag.lastIndex(of: "-"), let n = Int(etag[etag.index(after: dash)...]), n != parts.count {
            throw ArtifactError.corrupted("\(location): the completed object reports \(n) parts, \(parts.count) were sent")
        }
    }

    /// ETags that are plain MD5s (not SSE-KMS, not multipart) must equal ours.
    static func checkETag(_ response: HTTPResponse, _ sent: PartChecksum, what: String) throws {
        guard let raw = response.header("ETag") else { return }
        let etag = raw.trimmingCharacters(in: "\"").lowercased()
        guard etag.count == 32, etag.allSatisfy({ $0.isHexDigit }) else { return }
        guard etag == sent.md5.hex else {
            throw ArtifactError.corrupted("\(what): the store's ETag \(etag) is not the MD5 of the bytes sent (\(sent.md5.hex))")
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
