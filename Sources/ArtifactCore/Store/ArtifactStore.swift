import Foundation
import PluginSupport

/// One stored object as listings and HEAD report it.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Seconds since 1970.
    public var lastModified: Int64
    public var etag: String?

    public init(key: String, size: Int64, lastModified: Int64, etag: String? = nil) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
    }

    /// An empty-directory marker (`dir/`), kept so empty directories survive a round trip.
    public var isMarker: Bool { key.hasSuffix("/") }
}

/// A local regular file to store under a directory artifact.
public struct LocalFile: Sendable, Equatable {
    /// Path relative to the artifact's key (`sub/file.txt`), or `sub/empty/` for a marker.
    public var relativeKey: String
    /// Where to read it (nil for a marker).
    public var path: String?
    public var size: Int64

    public init(relativeKey: String, path: String?, size: Int64) {
        self.relativeKey = relativeKey
        self.path = path
        self.size = size
    }
}

/// Chunks of a SaveStream upload, in order; nil at the end. One task reads it.
public protocol ByteChunkSource: Sendable {
    func next() async throws -> Data?
}

/// Where a streamed object's bytes go (OpenStream): each `send` is one piece for the caller
/// (at most the chunk size asked for); it suspends while the caller is not reading.
public protocol ByteSink: Sendable {
    func send(_ bytes: [UInt8]) async throws
}

/// What every store (file, S3, OSS) offers the service. Keys reaching a store are already
/// validated by `ArtifactKeys`; a store checks only what is particular to it.
public protocol ArtifactStore: Sendable {
    /// `file:///data`, `s3://bucket`, for messages.
    var displayName: String { get }
    /// `s3://bucket/key`, for messages.
    func locate(_ key: String) -> String

    /// The object at exactly `key`; nil when there is none.
    func head(_ key: String) async throws -> ObjectInfo?
    /// Every object whose key starts with `prefix`, markers included, in key order.
    func list(prefix: String) async throws -> [ObjectInfo]
    /// Whether any object's key starts with `prefix`.
    func hasObjects(prefix: String) async throws -> Bool

    /// Stores a local file at `key`; the object appears only when complete.
    func upload(file path: String, to key: String) async throws
    /// Stores many files under `key/`; on failure no new object is left behind.
    func uploadDirectory(_ files: [LocalFile], to key: String) async throws
    /// Stores streamed bytes of unknown length at `key`; the object appears only when complete.
    func upload(stream: ByteChunkSource, to key: String) async throws -> Int64

    /// Writes the object to the local file `path`, visible only when complete (a temp file,
    /// then rename). Not synced: a loaded file is the pod's scratch copy, and after a crash the
    /// pod runs the Load again.
    func download(_ object: ObjectInfo, to path: String) async throws
    /// Sends the object's bytes in chunks of at most `chunkSize`, failing if it changed meanwhile.
    func read(_ object: ObjectInfo, chunkSize: Int, into sink: ByteSink) async throws
    /// Streams the object at `key` if there is one (nil otherwise), in as few round trips as the
    /// store allows.
    func readIfPresent(_ key: String, chunkSize: Int, into sink: ByteSink) async throws -> ObjectInfo?

    /// Deletes these objects; absent ones count as deleted.
    func delete(_ keys: [String]) async throws
    /// Aborts unfinished multipart uploads under `prefix`; returns how many.
    func abortUploads(prefix: String) async throws -> Int

    /// After a successful Save: make sure the configured lifecycle rule covers the key.
    /// Never fails the Save; problems are logged.
    func applyRetention(forKey key: String) async

    /// Unfinished uploads (or staged partial files) under `prefix` started before `cutoff`.
    func staleUploads(prefix: String, before cutoff: Int64) async throws -> [StaleUpload]
    func abort(_ upload: StaleUpload) async throws
}

/// An upload that never finished: a multipart upload in a bucket, a staged file in a directory.
public struct StaleUpload: Sendable {
    public var key: String
    public var id: String
    public var started: Int64
    public var bytes: Int64?

    public init(key: String, id: String, started: Int64, bytes: Int64?) {
        self.key = key
        self.id = id
        self.started = started
        self.bytes = bytes
    }
}

extension ArtifactStore {
    public func applyRetention(forKey key: String) async {}

    public func readIfPresent(_ key: String, chunkSize: Int, into sink: ByteSink) async throws -> ObjectInfo? {
        guard let object = try await head(key) else { return nil }
        try await read(object, chunkSize: chunkSize, into: sink)
        return object
    }
}
