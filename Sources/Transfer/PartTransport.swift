import ArtifactCore
import PluginSupport

/// What the transfer engines need from an object store, one request at a time. The store signs,
/// sends, retries and checks each request (a part's answer against the part's checksums, the
/// completed object against its parts); the engines plan, buffer, checkpoint and stream the
/// whole. (aws-c-s3's split: a meta request of part requests over one client.)
public protocol PartTransport: Sendable {
    /// `s3://bucket/key`, for messages.
    func locate(_ key: String) -> String
    /// Identifies the store and bucket in part logs (`s3://endpoint/bucket`).
    var transportID: String { get }
    /// Part sizes and counts the store accepts.
    var limits: PartLimits { get }
    /// Checksums a single PUT carries (the engine computes them from the bytes sent).
    var objectChecksums: ChecksumSet { get }
    /// The checksum the store reports of whole objects that a download can check (OSS: CRC-64).
    var downloadChecksum: ChecksumSet { get }

    /// One PUT of a whole object; checked against `checksums`, sent again if damaged.
    func putObject(_ key: String, body: OutgoingBody, checksums: PartChecksums) async throws
    /// Starts a multipart upload, and says which checksums its parts carry (the store's
    /// cheapest enforced check; a store may want it declared now).
    func createUpload(_ key: String) async throws -> NewUpload
    /// One part; checked against the store-checked members of `checksums`, sent again if damaged.
    func uploadPart(_ key: String, uploadID: String, number: Int, body: OutgoingBody, checksums: PartChecksums) async throws -> UploadedPart
    /// Completes the upload and checks the object against its parts; a damaged object is
    /// removed rather than left looking complete.
    func completeUpload(_ key: String, uploadID: String, parts: [UploadedPart]) async throws
    func abortUpload(_ key: String, uploadID: String) async throws
    /// The parts the store holds for an upload; nil when the upload is gone.
    func listParts(_ key: String, uploadID: String) async throws -> [ListedPart]?

    /// A GET of the object (or of `range`), `ifMatch` an ETag that must still be current. The
    /// body arrives in pieces of up to `segment` bytes.
    func getObject(_ key: String, range: ByteRange?, ifMatch: String?, segment: Int) async throws -> any ObjectBodyStream

    /// Memory one request holds inside the store's client while its body is read from a file as
    /// it is sent; the engines claim it from the memory budget for each such request in flight.
    var fileUploadMemory: Int { get }
    /// The same for a GET read in pieces of `segment` bytes.
    func downloadMemory(segment: Int) -> Int

    /// What a failure means to an engine (keep a checkpoint? restart? give up?).
    func failureKind(_ error: any Error) -> TransferFailureKind

    /// Whether a body that broke this way (on its `attempt`-th try) may be fetched again from the
    /// byte reached, and after how long: the store's one retry strategy and its budget decide.
    func retryPause(after error: any Error, attempt: Int) -> Duration?
}

/// Part limits of a store.
public struct PartLimits: Sendable, Equatable {
    public var minPartSize: Int64
    public var maxPartSize: Int64
    public var maxParts: Int
    public var maxSinglePut: Int64
    public var maxObjectSize: Int64
    /// "S3" / "OSS", for messages.
    public var storeName: String

    public init(minPartSize: Int64, maxPartSize: Int64, maxParts: Int, maxSinglePut: Int64, maxObjectSize: Int64, storeName: String) {
        self.minPartSize = minPartSize
        self.maxPartSize = maxPartSize
        self.maxParts = maxParts
        self.maxSinglePut = maxSinglePut
        self.maxObjectSize = maxObjectSize
        self.storeName = storeName
    }
}

/// A multipart upload just created.
public struct NewUpload: Sendable, Equatable {
    public var id: String
    /// What every part of it carries.
    public var checksums: ChecksumSet
    public init(id: String, checksums: ChecksumSet) {
        self.id = id
        self.checksums = checksums
    }
}

/// A part the store accepted, as the part log records it.
public struct UploadedPart: Sendable, Codable, Equatable {
    public var number: Int
    public var etag: String
    public var length: Int64
    public var checksums: PartChecksums

    public init(number: Int, etag: String, length: Int64, checksums: PartChecksums) {
        self.number = number
        self.etag = etag
        self.length = length
        self.checksums = checksums
    }
}

/// A part as ListParts reports it.
public struct ListedPart: Sendable, Equatable {
    public var number: Int
    public var etag: String
    public var size: Int64
    public init(number: Int, etag: String, size: Int64) {
        self.number = number
        self.etag = etag
        self.size = size
    }
}

/// `bytes=offset-(offset+length-1)`.
public struct ByteRange: Sendable, Equatable {
    public var offset: Int64
    /// nil: to the end.
    public var length: Int64?
    public init(offset: Int64, length: Int64?) {
        self.offset = offset
        self.length = length
    }
}

/// A GET's body, read as it arrives.
public protocol ObjectBodyStream: Sendable {
    var info: ObjectBodyInfo { get }
    /// The next piece, nil at the end; a short body or a broken connection throws.
    func next() async throws -> [UInt8]?
    /// Stops the transfer: no more bytes are pulled from the store.
    func cancel()
}

/// What a GET's head says about the object.
public struct ObjectBodyInfo: Sendable {
    /// Bytes in this response's body.
    public var bodyLength: Int64?
    /// Size of the whole object (from Content-Range, or Content-Length of a full GET).
    public var objectSize: Int64?
    public var etag: String?
    public var lastModified: Int64
    /// The store's CRC-64 of the whole object (OSS), when it says it.
    public var objectCRC64: UInt64?

    public init(bodyLength: Int64?, objectSize: Int64?, etag: String?, lastModified: Int64, objectCRC64: UInt64?) {
        self.bodyLength = bodyLength
        self.objectSize = objectSize
        self.etag = etag
        self.lastModified = lastModified
        self.objectCRC64 = objectCRC64
    }
}

/// How an engine reads a failure.
public enum TransferFailureKind: Sendable, Equatable {
    /// Cancelled, or the store out of reach after every retry: the next attempt may succeed, so
    /// an upload keeps its checkpoint.
    case interrupted
    /// A dropped connection in the middle of a body: a stream may resume from the byte reached.
    case connectionDropped
    /// The object changed meanwhile (If-Match failed).
    case objectChanged
    /// The multipart upload is gone.
    case uploadGone
    /// The object does not exist.
    case notFound
    case other
}
