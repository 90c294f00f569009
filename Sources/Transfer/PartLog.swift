import ArtifactCore
import Checksums
import Foundation
import Glibc
import PluginSupport
import Synchronization

/// Which local file an upload reads, as it is now: a checkpoint applies only to the same file,
/// unchanged.
public struct SourceIdentity: Codable, Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var mtimeNanos: Int64
    public var inode: UInt64
    public var device: UInt64

    public init(path: String, size: Int64, mtimeNanos: Int64, inode: UInt64, device: UInt64) {
        self.path = path
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
        self.device = device
    }

    /// Blocking (stat): call on the I/O pool.
    public static func of(_ path: String) throws -> SourceIdentity {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FileSystemError.last("stat", path) }
        return SourceIdentity(path: path, size: Int64(st.st_size), mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                              inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
    }
}

/// The first record of a part log: which upload of which file it belongs to.
public struct PartLogHeader: Codable, Sendable, Equatable {
    public var version = PartLogHeader.currentVersion
    public var transport: String
    public var key: String
    public var uploadID: String
    public var partSize: Int64
    public var source: SourceIdentity
    /// What the upload's parts carry (declared when it was created): a resumed upload keeps it.
    public var checksums: [String]

    public static let currentVersion = 3

    public init(transport: String, key: String, uploadID: String, partSize: Int64, source: SourceIdentity, checksums: ChecksumSet = []) {
        self.transport = transport
        self.key = key
        self.uploadID = uploadID
        self.partSize = partSize
        self.source = source
        self.checksums = checksums.names
    }
}

/// A part log as read back: the header and every finished part.
public struct PartLogContents: Sendable, Equatable {
    public var header: PartLogHeader
    /// By part number (a part recorded twice: the later record).
    public var parts: [Int: UploadedPart]
    /// Bytes of whole records; a torn last record (a crash mid-append) lies beyond.
    public var validLength: Int

    /// Reads a log's bytes. A last record without its newline is torn and ignored; anything
    /// else that does not parse makes the whole log unusable (it is not ours, or it is damaged).
    public static func parse(_ bytes: [UInt8]) throws -> PartLogContents {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            lines.append(bytes[start..<i])
            start = i + 1
        }
        let validLength = start
        guard let first = lines.first else { throw PartLogError.unreadable("no header record") }
        let decoder = JSONDecoder()
        let header: PartLogHeader
        do {
            header = try decoder.decode(PartLogHeader.self, from: Data(first))
        } catch {
            throw PartLogError.unreadable("the header record does not parse")
        }
        guard header.version == PartLogHeader.currentVersion else {
            throw PartLogError.unreadable("version \(header.version), expected \(PartLogHeader.currentVersion)")
        }
        var parts: [Int: UploadedPart] = [:]
        for (i, line) in lines.dropFirst().enumerated() {
            guard let p = try? decoder.decode(UploadedPart.self, from: Data(line)) else {
                throw PartLogError.unreadable("record \(i + 2) does not parse")
            }
            parts[p.number] = p
        }
        return PartLogContents(header: header, parts: parts, validLength: validLength)
    }
}

public enum PartLogError: Error, CustomStringConvertible, Sendable {
    case unreadable(String)
    public var description: String {
        switch self {
        case .unreadable(let why): return "unreadable part log: \(why)"
        }
    }
}

/// Part logs, one per (store, key), in `multipart.checkpointDir`: the header when the upload is
/// created, then one appended record per finished part (O(parts) bytes in all, each record one
/// write and one fdatasync). Every call blocks: run them on the I/O pool.
public struct PartLogStore: Sendable {
    public let directory: String

    /// `directory`, else `checkpoints` under the environment's TMPDIR (or /tmp).
    public init(directory: String?, environment: [String: String] = [:]) {
        let tmp = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        self.directory = directory ?? (tmp + "/argo-artifact-plugin/checkpoints")
    }

    public func path(transport: String, key: String) -> String {
        directory + "/" + Digest.sha256(Array("\(transport)\n\(key)".utf8)).hex + ".partlog"
    }

    /// The log, nil when there is none.
    public func load(transport: String, key: String) -> Result<PartLogContents, any Error>? {
        let p = path(transport: transport, key: key)
        guard let data = FileManager.default.contents(atPath: p) else { return nil }
        return Result { try PartLogContents.parse([UInt8](data)) }
    }

    /// A new log with its header, in place once complete (temp file, sync, rename).
    public func create(_ header: PartLogHeader) throws -> PartLogWriter {
        try FileSystem.makeDirectories(directory)
        let p = path(transport: header.transport, key: header.key)
        var record = [UInt8](try JSONEncoder().encode(header))
        record.append(0x0A)
        try LocalFiles.writeAtomically(p) { fd in try record.withUnsafeBytes { try fd.write($0, at: 0) } }
        try FileSystem.syncDirectory(directory)
        return PartLogWriter(fd: try FileDescriptor.openForAppending(p), written: record.count)
    }

    /// Continues an existing log: a torn last record is cut off first.
    public func reopen(_ contents: PartLogContents) throws -> PartLogWriter {
        let p = path(transport: contents.header.transport, key: contents.header.key)
        let fd = try FileDescriptor.openForAppending(p)
        if Int64(try fd.status().st_size) != Int64(contents.validLength) { try fd.truncate(to: Int64(contents.validLength)) }
        return PartLogWriter(fd: fd, written: 0)
    }

    public func remove(transport: String, key: String) {
        _ = try? FileSystem.remove(path(transport: transport, key: key))
    }
}

/// Appends part records to one log. Records from concurrent parts are serialised; each is one
/// write, then fdatasync, so after a crash every record is whole or (the last) torn.
public final class PartLogWriter: Sendable {
    private let fd: FileDescriptor
    private let lock = Locked(0)     // bytes written by this writer

    init(fd: FileDescriptor, written: Int) {
        self.fd = fd
        lock.withLock { $0 = written }
    }

    /// Bytes this writer put in the file (the header included when it created it).
    public var bytesWritten: Int { lock.withLock { $0 } }

    /// Blocking: call on the I/O pool.
    public func append(_ part: UploadedPart) throws {
        var record = [UInt8](try JSONEncoder().encode(part))
        record.append(0x0A)
        try lock.withLock { n in
            try record.withUnsafeBytes { try fd.append($0) }
            try fd.syncData()
            n += record.count
        }
    }
}
