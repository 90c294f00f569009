import CSystem
import Glibc

/// A failed file-system call, naming the operation and the path (never file contents).
public struct FileSystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let code: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }
    public static func last(_ op: String, _ path: String) -> FileSystemError { FileSystemError(operation: op, path: path, code: errno) }
}

extension FileSystemError: CategorizedError {
    public var category: FailureCategory {
        switch code {
        case ENOENT, ENOTDIR: return .notFound
        case EPERM, EACCES: return .permissionDenied
        case ENOSPC, EDQUOT: return .resourceExhausted
        default: return .internalError
        }
    }
}

/// An open file descriptor, closed when the last reference goes. Its calls block: run them on
/// the `IOPool`.
public final class FileDescriptor: Sendable {
    public let fd: Int32
    public let path: String

    public init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { Glibc.close(fd) }

    public static func openForReading(_ path: String) throws -> FileDescriptor {
        let fd = argo_open(path, O_RDONLY, 0)
        guard fd >= 0 else { throw FileSystemError.last("open", path) }
        return FileDescriptor(fd: fd, path: path)
    }

    /// Opens a regular file, refusing a symlink in the last component (O_NOFOLLOW): what was
    /// checked is what is read, even if the name is swapped for a link meanwhile.
    public static func openRegularNoFollow(_ path: String) throws -> FileDescriptor {
        let fd = argo_open(path, O_RDONLY | O_NOFOLLOW, 0)
        guard fd >= 0 else { throw FileSystemError.last("open", path) }
        let d = FileDescriptor(fd: fd, path: path)
        guard FileSystem.kindOf(try d.status()) == .file else {
            throw FileSystemError(operation: "open (not a regular file)", path: path, code: EINVAL)
        }
        return d
    }

    /// Creates a new file that must not exist yet (temp files).
    public static func createExclusive(_ path: String, mode: mode_t = 0o644) throws -> FileDescriptor {
        let fd = argo_open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw FileSystemError.last("create", path) }
        return FileDescriptor(fd: fd, path: path)
    }

    /// Opens a file for appending (O_APPEND: every write lands at the end, whole).
    public static func openForAppending(_ path: String) throws -> FileDescriptor {
        let fd = argo_open(path, O_WRONLY | O_APPEND, 0)
        guard fd >= 0 else { throw FileSystemError.last("open", path) }
        return FileDescriptor(fd: fd, path: path)
    }

    /// Appends all of `bytes` (a file opened with `openForAppending`).
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError.last("write", path)
            }
            done += n
        }
    }

    /// fdatasync: the data (and the size) on disk, without other metadata.
    public func syncData() throws {
        guard fdatasync(fd) == 0 else { throw FileSystemError.last("fdatasync", path) }
    }

    public func status() throws -> stat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileSystemError.last("stat", path) }
        return st
    }

    /// Positional read into `buffer`; fewer bytes only at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError.last("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError.last("write", path)
            }
            done += n
        }
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw FileSystemError.last("fsync", path) }
    }

    public func truncate(to size: Int64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw FileSystemError.last("truncate", path) }
    }

    /// Copies `length` bytes from `source` (at 0) to this file (at 0) inside the kernel when it
    /// can (copy_file_range, as cp does), with a read/write loop as the fallback.
    /// Writeback of each copied stretch starts at once, so the final fsync has little left to do
    /// and copying overlaps writing to disk. A cancelled job stops between stretches.
    public func copy(from source: FileDescriptor, length: Int64, cancellation: IOCancellation? = nil) throws {
        var inOff: Int64 = 0
        var outOff: Int64 = 0
        let stretch: Int64 = 64 << 20
        var flushedTo: Int64 = 0
        while inOff < length {
            try cancellation?.check()
            let want = Int(min(length - inOff, stretch))
            let n = argo_copy_file_range(source.fd, &inOff, fd, &outOff, want)
            if n > 0 {
                if outOff - flushedTo >= stretch || outOff == length {
                    _ = argo_start_writeback(fd, flushedTo, outOff - flushedTo)
                    flushedTo = outOff
                }
                continue
            }
            if n == 0 { break }
            if errno == EINTR { continue }
            if errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP {
                try copyByReading(from: source, offset: inOff, length: length - inOff, cancellation: cancellation)
                return
            }
            throw FileSystemError.last("copy to", path)
        }
        guard inOff == length else {
            throw FileSystemError(operation: "copy from (file shrank while copying)", path: source.path, code: EIO)
        }
    }

    private func copyByReading(from source: FileDescriptor, offset: Int64, length: Int64, cancellation: IOCancellation?) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var pos = offset
        while pos < offset + length {
            try cancellation?.check()
            let want = Int(min(Int64(buffer.count), offset + length - pos))
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), at: pos)
            if n == 0 { throw FileSystemError(operation: "copy from (file shrank while copying)", path: source.path, code: EIO) }
            try write(UnsafeRawBufferPointer(rebasing: buffer[..<n]), at: pos)
            pos += Int64(n)
        }
    }
}

/// Path-level calls used by the stores and the service.
public enum FileSystem {
    public enum Kind: Sendable { case file, directory, symlink, other }

    /// What is at `path` (lstat: a symlink is a symlink); nil when nothing is there.
    public static func kind(_ path: String) throws -> (Kind, stat)? {
        try status(path, follow: false)
    }

    /// Like `kind`, following symlinks: nil when nothing (or a dangling link) is there.
    public static func kindFollowing(_ path: String) throws -> (Kind, stat)? {
        try status(path, follow: true)
    }

    private static func status(_ path: String, follow: Bool) throws -> (Kind, stat)? {
        var st = stat()
        guard (follow ? stat(path, &st) : lstat(path, &st)) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw FileSystemError.last("stat", path)
        }
        return (kindOf(st), st)
    }

    public static func kindOf(_ st: stat) -> Kind {
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// Entry names of a directory (raw bytes, since names need not be UTF-8), without . and ..
    public static func entries(_ path: String) throws -> [[UInt8]] {
        guard let dir = opendir(path) else { throw FileSystemError.last("list", path) }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let ent = readdir(dir) else {
                if errno != 0 { throw FileSystemError.last("list", path) }
                break
            }
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw -> [UInt8] in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }

    /// mkdir -p; directories made here are 0755. Only the missing tail of the path is created.
    public static func makeDirectories(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { return }
        let parts = path.split(separator: "/")
        var existing = parts.count
        var probe = path
        while existing > 0 {
            if stat(probe, &st) == 0 { break }
            existing -= 1
            probe = parent(probe)
        }
        var current = (path.hasPrefix("/") ? "" : ".") + parts.prefix(existing).map { "/" + $0 }.joined()
        for part in parts.dropFirst(existing) {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FileSystemError.last("create directory", current)
            }
        }
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw FileSystemError(operation: "create directory (a file is in the way)", path: path, code: ENOTDIR)
        }
    }

    /// Swaps two existing paths in one step (renameat2 RENAME_EXCHANGE).
    public static func exchange(_ a: String, _ b: String) throws {
        guard argo_rename_exchange(a, b) == 0 else { throw FileSystemError.last("exchange with \(b):", a) }
    }

    /// Hard-links every entry of `from` that `into` lacks, recursively (same file system): the
    /// old content of a directory copied into a new tree without copying bytes.
    public static func linkMissing(from: String, into: String) throws {
        for raw in try entries(from) {
            let n = String(decoding: raw, as: UTF8.self)
            let src = from + "/" + n, dst = into + "/" + n
            guard let (kind, _) = try FileSystem.kind(src) else { continue }
            if let (dkind, _) = try FileSystem.kind(dst) {
                if kind == .directory && dkind == .directory { try linkMissing(from: src, into: dst) }
                continue   // the new tree's entry wins
            }
            switch kind {
            case .directory:
                try makeDirectories(dst)
                try linkMissing(from: src, into: dst)
            case .file:
                guard link(src, dst) == 0 else { throw FileSystemError.last("link to \(dst) from", src) }
            default:
                continue
            }
        }
    }

    public static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw FileSystemError.last("rename to \(to) from", from) }
    }

    /// Removes a file; true when it was there.
    @discardableResult
    public static func remove(_ path: String) throws -> Bool {
        if unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw FileSystemError.last("remove", path)
    }

    /// Removes an empty directory; false when it is not empty or not there.
    @discardableResult
    public static func removeEmptyDirectory(_ path: String) -> Bool {
        rmdir(path) == 0
    }

    /// rm -r without following symlinks.
    public static func removeTree(_ path: String) throws {
        guard let (kind, _) = try kind(path) else { return }
        if kind == .directory {
            for name in try entries(path) {
                try removeTree(path + "/" + String(decoding: name, as: UTF8.self))
            }
            guard rmdir(path) == 0 || errno == ENOENT else { throw FileSystemError.last("remove directory", path) }
        } else {
            try remove(path)
        }
    }

    public static func syncDirectory(_ path: String) throws {
        let fd = argo_open(path, O_RDONLY | O_DIRECTORY, 0)
        guard fd >= 0 else { throw FileSystemError.last("open directory", path) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw FileSystemError.last("fsync directory", path) }
    }

    /// Flushes the whole file system holding `path`: one call for a batch of many small files.
    public static func syncFileSystem(containing path: String) throws {
        let fd = argo_open(path, O_RDONLY | O_DIRECTORY, 0)
        guard fd >= 0 else { throw FileSystemError.last("open directory", path) }
        defer { Glibc.close(fd) }
        guard argo_syncfs(fd) == 0 else { throw FileSystemError.last("syncfs", path) }
    }

    public static func realPath(_ path: String) throws -> String {
        guard let p = realpath(path, nil) else { throw FileSystemError.last("resolve", path) }
        defer { free(p) }
        return String(cString: p)
    }

    public static func readLink(_ path: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { throw FileSystemError.last("read link", path) }
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A name no other writer picks: `<prefix><16 random hex digits>`.
    public static func uniqueName(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        return prefix + String(rng.next() as UInt64, radix: 16).leftPadded(to: 16)
    }

    /// The directory part of a path (`/a/b` → `/a`, `b` → `.`).
    public static func parent(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "." }
        return i == path.startIndex ? "/" : String(path[..<i])
    }
}
