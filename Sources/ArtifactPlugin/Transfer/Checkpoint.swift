import Foundation
import Glibc

/// What a resumable upload remembers between attempts (断点续传): the upload id, how the file was
/// split, which file it was, and every finished part. Written atomically after each part.
public struct UploadCheckpoint: Codable, Sendable, Equatable {
    public struct Source: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var mtimeNanos: Int64
        public var inode: UInt64
        public var device: UInt64
    }
    public struct Part: Codable, Sendable, Equatable {
        public var number: Int
        public var etag: String
        public var md5: String
        public var crc64: UInt64?
        public var length: Int64?
    }

    public var version = 1
    public var store: String
    public var bucket: String
    public var key: String
    public var uploadID: String
    public var partSize: Int64
    public var source: Source
    public var parts: [Part]

    /// Identity of a local file as it is now.
    public static func identify(_ path: String) throws -> Source {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FileSystemError.last("stat", path) }
        return Source(path: path, size: Int64(st.st_size), mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                      inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
    }
}

/// Checkpoint files, one per (store, bucket, key), in `multipart.checkpointDir`.
public struct CheckpointStore: Sendable {
    public let directory: String

    public init(directory: String?) {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        self.directory = directory ?? (tmp + "/argo-artifact-plugin/checkpoints")
    }

    public func path(store: String, bucket: String, key: String) -> String {
        directory + "/" + Digest.sha256(Array("\(store)\n\(bucket)\n\(key)".utf8)).hex + ".json"
    }

    /// The checkpoint, nil when there is none; a file that does not parse counts as corrupt.
    public func load(store: String, bucket: String, key: String) -> Result<UploadCheckpoint, Error>? {
        let p = path(store: store, bucket: bucket, key: key)
        guard let data = FileManager.default.contents(atPath: p) else { return nil }
        do {
            return .success(try JSONDecoder().decode(UploadCheckpoint.self, from: data))
        } catch {
            return .failure(error)
        }
    }

    public func save(_ c: UploadCheckpoint) throws {
        try FileSystem.makeDirectories(directory)
        let data = try JSONEncoder().encode(c)
        try LocalFiles.writeAtomically(path(store: c.store, bucket: c.bucket, key: c.key)) { fd in
            try data.withUnsafeBytes { try fd.write($0, at: 0) }
        }
    }

    public func remove(store: String, bucket: String, key: String) {
        _ = try? FileSystem.remove(path(store: store, bucket: bucket, key: key))
    }
}
