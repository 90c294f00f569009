import ArtifactCore
import Foundation
import PluginSupport
import StoreHTTP
import Transfer

/// The engines' view of a bucket: each part or range as one request of the store's client, with
/// the dialect's integrity checks on every answer.
struct BucketPartTransport: PartTransport {
    let client: ObjectStoreClient
    let integrity: IntegrityPolicy
    /// Headers every new object gets (storage class, …).
    let objectHeaders: [(String, String)]

    func locate(_ key: String) -> String { client.locate(key) }
    /// The store and bucket, and the encryption asked for: a checkpoint of an upload begun with
    /// other encryption settings is not resumed into.
    var transportID: String {
        "\(client.dialect.locationScheme)://\(client.address.endpointHost)/\(client.address.bucket)"
            + (client.encryption.map { "#" + $0.fingerprint } ?? "")
    }
    var limits: PartLimits { client.dialect.limits }
    var objectChecksums: ChecksumSet { integrity.object }
    var downloadChecksum: ChecksumSet { integrity.wire.crc64Header != nil ? .crc64 : [] }
    var fileUploadMemory: Int { RequestMemory.fileUpload }
    func downloadMemory(segment: Int) -> Int { RequestMemory.streamedDownload(segment: segment) }

    func putObject(_ key: String, body: OutgoingBody, checksums: PartChecksums) async throws {
        let (wire, what) = (integrity.wire, locate(key))
        let r: HTTPResponse
        do {
            r = try await client.putObject(key, body: body, checks: wire.requestChecks(checksums),
                                           extraHeaders: objectHeaders, verify: { try wire.verify($0, checksums, what: what) })
        } catch let e as IntegrityMismatch {
            // Damaged on every attempt: remove it rather than leave it looking complete.
            await Cleanup.run("remove the damaged object \(what)") { try await client.deleteObject(key) }
            throw ArtifactError.corrupted(e.message)
        }
        try await checkEncryption(r, key)
    }

    /// The store's answer for a new object must report the encryption asked for; an object it
    /// wrote otherwise is removed (never a silent plaintext object).
    func checkEncryption(_ r: HTTPResponse, _ key: String) async throws {
        guard let encryption = client.encryption, let reported = encryption.mismatch(r) else { return }
        await Cleanup.run("remove the object written without encryption \(locate(key))") { try await client.deleteObject(key) }
        throw EncryptionNotApplied(location: locate(key), asked: encryption.summary, reported: reported,
                                   outcome: "the object it wrote was removed")
    }

    func createUpload(_ key: String) async throws -> NewUpload {
        let checks: ChecksumSet
        switch integrity.parts {
        case .fixed(let set):
            checks = set
            IntegrityProbe.shared.announce(set, storeID: transportID, reason: integrity.reason)
        case .learnedFromStore:
            checks = await IntegrityProbe.shared.partChecks(client: client, key: key, storeID: transportID)
        }
        let id = try await client.createMultipartUpload(key, extraHeaders: objectHeaders + integrity.wire.createHeaders(checks))
        return NewUpload(id: id, checksums: checks)
    }

    func uploadPart(_ key: String, uploadID: String, number: Int, body: OutgoingBody, checksums: PartChecksums) async throws -> UploadedPart {
        let (wire, what) = (integrity.wire, "part \(number) of \(locate(key))")
        let r: HTTPResponse
        do {
            r = try await client.uploadPart(key, uploadID: uploadID, partNumber: number, body: body,
                                            checks: wire.requestChecks(checksums),
                                            verify: { try wire.verify($0, checksums, what: what) })
        } catch let e as IntegrityMismatch {
            throw ArtifactError.corrupted(e.message)
        }
        guard let etag = r.header("ETag") else {
            throw ArtifactError.store("\(locate(key)): part \(number) stored without an ETag")
        }
        return UploadedPart(number: number, etag: etag, length: body.length, checksums: checksums)
    }

    /// CompleteMultipartUpload, then the object's checks. If a retried completion finds the
    /// upload gone, the first attempt may have succeeded with its answer lost: the object is
    /// accepted when it shows our parts.
    func completeUpload(_ key: String, uploadID: String, parts: [UploadedPart]) async throws {
        let r: HTTPResponse
        do {
            let wire = integrity.wire
            r = try await client.completeMultipartUpload(key, uploadID: uploadID, parts: parts.map {
                .init(number: $0.number, etag: $0.etag, checksum: wire.completeElement($0.checksums))
            })
        } catch let e as StoreError where e.kind == .noSuchUpload {
            guard let head = try await client.headResponse(key), let etag = head.header("ETag")?.trimming("\""),
                  etag.hasSuffix("-\(parts.count)"), Int64(head.header("Content-Length") ?? "") == parts.reduce(0, { $0 + $1.length }) else {
                throw e
            }
            Log.transfer.notice("\(locate(key)): completion answered NoSuchUpload after a retry, and the object shows our \(parts.count) parts: completed")
            var answer = HTTPResponse(status: 200, headers: [], body: Array("<CompleteMultipartUploadResult><ETag>\(etag)</ETag></CompleteMultipartUploadResult>".utf8), bodyLength: 0)
            if let h = integrity.wire.crc64Header, let crc = head.header(h) { answer.headers.append((h, crc)) }
            r = answer
        }
        do {
            try integrity.wire.verifyObject(r, parts: parts, location: locate(key))
        } catch {
            // A completed object that fails its checks is removed rather than left looking complete.
            await Cleanup.run("remove the damaged object \(locate(key))") { try await client.deleteObject(key) }
            throw error
        }
        // A completion's answer says nothing of encryption on every store (RGW 16's has no
        // headers): the finished object's HEAD does.
        if client.encryption != nil, let head = try await client.headResponse(key) {
            try await checkEncryption(head, key)
        }
    }

    func abortUpload(_ key: String, uploadID: String) async throws {
        try await client.abortMultipartUpload(key, uploadID: uploadID)
    }

    func listParts(_ key: String, uploadID: String) async throws -> [ListedPart]? {
        do {
            return try await client.listParts(key, uploadID: uploadID)
        } catch let e as StoreError where e.kind == .noSuchUpload || e.status == 404 {
            return nil
        }
    }

    func getObject(_ key: String, range: ByteRange?, ifMatch: String?, segment: Int) async throws -> any ObjectBodyStream {
        let s = try await client.getStream(key, range: range, ifMatch: ifMatch, segment: segment)
        return StreamedObjectBody(response: s, crc64Header: integrity.wire.crc64Header)
    }

    func retryPause(after error: any Error, attempt: Int) -> Duration? {
        let failure: RetryStrategy.Failure
        switch error {
        case let e as HTTPClientError: failure = e.kind == .cancelled ? .permanent : RetryStrategy.classify(e)
        case let e as StoreError: failure = RetryStrategy.classify(e)
        default: failure = .permanent
        }
        return client.retry.retry(after: failure, attempt: attempt, idempotent: true)
    }

    func failureKind(_ error: any Error) -> TransferFailureKind {
        switch error {
        case is CancellationError: return .interrupted
        case let e as HTTPClientError:
            if e.kind == .cancelled { return .interrupted }
            return e.isTransient ? .connectionDropped : .other
        case let e as StoreError:
            switch e.kind {
            case .preconditionFailed: return .objectChanged
            case .noSuchUpload: return .uploadGone
            case .noSuchKey: return .notFound
            default: return e.status >= 500 ? .interrupted : .other
            }
        default:
            return Task.isCancelled ? .interrupted : .other
        }
    }
}

/// A GET's body as the engines read it.
struct StreamedObjectBody: ObjectBodyStream {
    let response: HTTPStreamingResponse
    let info: ObjectBodyInfo

    init(response: HTTPStreamingResponse, crc64Header: String?) {
        self.response = response
        let length = Int64(response.header("Content-Length") ?? "")
        var total = response.status == 206 ? nil : length
        if let range = response.header("Content-Range"), let slash = range.lastIndex(of: "/") {
            total = Int64(range[range.index(after: slash)...]) ?? total
        }
        info = ObjectBodyInfo(bodyLength: length, objectSize: total, etag: response.header("ETag"),
                              lastModified: response.header("Last-Modified").flatMap(HTTPDate.parseRFC1123) ?? 0,
                              objectCRC64: crc64Header.flatMap { response.header($0) }.flatMap { UInt64($0) })
    }

    func next() async throws -> [UInt8]? { try await response.next() }
    func cancel() { response.cancel() }
}
