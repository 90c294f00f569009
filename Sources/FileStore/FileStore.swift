import ArtifactCore
import Foundation
import Glibc
import PluginSupport

/// Objects as files under a local directory (a PVC, a hostPath, a laptop folder).
/// Writes go to `<root>/.argo-partial/` first and are renamed into place once complete and
/// synced, so an object is never visible half-written and a failed write never damages an older
/// object. Nothing outside `root` is ever read or written, whatever the keys or symlinks say.
public final class FileStore: ArtifactStore {
    public let root: String
    private let staging: String
    private let io: IOPool
    public var displayName: String { "file://\(root)" }

    public init(root: String, io: IOPool = .shared) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        staging = r + "/" + ArtifactKeys.reservedPrefix
        self.io = io
    }

    public func locate(_ key: String) -> String { "file://\(root)/\(key)" }

    private func path(_ key: String) -> String { root + "/" + key }

    // MARK: safety

    /// Creates root and the staging directory on first use.
    private func prepare() throws {
        try FileSystem.makeDirectories(staging)
    }

    private var realRoot: String {
        get throws { try FileSystem.realPath(root) }
    }

    /// The deepest existing ancestor of `path` must resolve inside root: a symlink planted in the
    /// store cannot redirect a read or a write elsewhere.
    private func checkInside(_ path: String) throws {
        let rootReal = try realRoot
        var probe = path
        while true {
            if (try? FileSystem.kind(probe)) != nil, let r = try? FileSystem.realPath(probe) {
                if r == rootReal || r.hasPrefix(rootReal + "/") { return }
                throw ArtifactError.invalidKey(String(path.dropFirst(root.count + 1)), "resolves outside the store root \(root)")
            }
            let parent = FileSystem.parent(probe)
            if parent == probe || probe.count <= root.count { return }
            probe = parent
        }
    }

    // MARK: reading the namespace

    public func head(_ key: String) async throws -> ObjectInfo? {
        let p = path(key)
        return try await io.run { [self] in
            guard let (kind, st) = try FileSystem.kind(p), kind == .file else { return nil }
            try checkInside(p)
            return ObjectInfo(key: key, size: Int64(st.st_size), lastModified: Int64(st.st_mtim.tv_sec))
        }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await io.run { [self] in
            var out: [ObjectInfo] = []
            // Walk from the directory the prefix names; a prefix ending mid-name filters that level.
            let dirKey: String
            let namePrefix: String
            if let slash = prefix.lastIndex(of: "/") {
                dirKey = String(prefix[..<slash])
                namePrefix = String(prefix[prefix.index(after: slash)...])
            } else {
                dirKey = ""
                namePrefix = prefix
            }
            let dirPath = dirKey.isEmpty ? root : path(dirKey)
            guard let (kind, _) = try FileSystem.kind(dirPath), kind == .directory else { return [] }
            try checkInside(dirPath)
            try walk(dirPath, key: dirKey, namePrefix: namePrefix, into: &out)
            out.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            return out
        }
    }

    private func walk(_ dir: String, key: String, namePrefix: String, into out: inout [ObjectInfo]) throws {
        for raw in try FileSystem.entries(dir) {
            guard let name = String(validating: raw, as: UTF8.self) else {
                throw ArtifactError.store("\(displayName): a name under \(dir) is not valid UTF-8 and cannot be an object key")
            }
            if key.isEmpty && name.hasPrefix(ArtifactKeys.reservedPrefix) { continue }
            if !namePrefix.isEmpty && !name.hasPrefix(namePrefix) { continue }
            let childKey = key.isEmpty ? name : key + "/" + name
            let childPath = dir + "/" + name
            guard let (kind, st) = try FileSystem.kind(childPath) else { continue }
            switch kind {
            case .file:
                out.append(ObjectInfo(key: childKey, size: Int64(st.st_size), lastModified: Int64(st.st_mtim.tv_sec)))
            case .directory:
                let before = out.count
                try walk(childPath, key: childKey, namePrefix: "", into: &out)
                if out.count == before {
                    out.append(ObjectInfo(key: childKey + "/", size: 0, lastModified: Int64(st.st_mtim.tv_sec)))
                }
            case .symlink, .other:
                continue   // never created by us; never followed
            }
        }
    }

    public func hasObjects(prefix: String) async throws -> Bool {
        if prefix.isEmpty || prefix.hasSuffix("/") {
            let dir = prefix.isEmpty ? root : path(String(prefix.dropLast()))
            return try await io.run { [self] in
                guard let (kind, _) = try FileSystem.kind(dir), kind == .directory else { return false }
                try checkInside(dir)
                if prefix.isEmpty {
                    return try FileSystem.entries(dir).contains { !$0.starts(with: Array(ArtifactKeys.reservedPrefix.utf8)) }
                }
                return true   // an empty directory is itself a marker object `prefix`
            }
        }
        return try await !list(prefix: prefix).isEmpty
    }

    // MARK: writing

    /// A new staging path on the store's file system.
    private func stagingPath() throws -> String {
        try prepare()
        return staging + "/" + FileSystem.uniqueName(prefix: "")
    }

    /// Puts a finished staged file or tree at `key`: parents created inside root, then rename.
    private func commit(_ staged: String, to key: String, isDirectory: Bool) throws {
        let target = path(key)
        let parent = FileSystem.parent(target)
        try checkInside(parent)
        do {
            try FileSystem.makeDirectories(parent)
        } catch let e as FileSystemError where e.code == ENOTDIR {
            throw ArtifactError.conflict("cannot store \(locate(key)): an object on the way is a file, not a directory")
        }
        try checkInside(parent)
        if let (kind, _) = try FileSystem.kind(target), kind == .directory, !isDirectory {
            throw ArtifactError.conflict("cannot store a file at \(locate(key)): a directory artifact is there")
        }
        try FileSystem.rename(staged, target)
        try FileSystem.syncDirectory(parent)
    }

    public func upload(file source: String, to key: String) async throws {
        try await io.run { [self] token in
            let src = try FileDescriptor.openForReading(source)
            let size = Int64(try src.status().st_size)
            let staged = try stagingPath()
            do {
                let out = try FileDescriptor.createExclusive(staged)
                try out.copy(from: src, length: size, cancellation: token)
                try out.sync()
                try commit(staged, to: key, isDirectory: false)
            } catch {
                _ = try? FileSystem.remove(staged)
                throw error
            }
        }
    }

    public func uploadDirectory(_ files: [LocalFile], to key: String) async throws {
        let stagedRoot = try await io.run { [self] in
            let p = try stagingPath()
            try FileSystem.makeDirectories(p)
            return p
        }
        do {
            // Copy every file into the staged tree, a few at a time.
            try await forEachConcurrently(files, limit: 4) { [io] f in
                try await io.run { token in
                    let dest = stagedRoot + "/" + f.relativeKey
                    if f.relativeKey.hasSuffix("/") {
                        try FileSystem.makeDirectories(String(dest.dropLast()))
                        return
                    }
                    try FileSystem.makeDirectories(FileSystem.parent(dest))
                    let src = try FileDescriptor.openForReading(f.path!)
                    let out = try FileDescriptor.createExclusive(dest)
                    try out.copy(from: src, length: Int64(try src.status().st_size), cancellation: token)
                }
            }
            try await io.run { [self] in
                // One flush for the whole batch instead of an fsync per file.
                try FileSystem.syncFileSystem(containing: stagedRoot)
                let target = path(key)
                if let (kind, _) = try FileSystem.kind(target) {
                    guard kind == .directory else {
                        throw ArtifactError.conflict("cannot store a directory at \(locate(key)): a file object is there")
                    }
                    try checkInside(target)
                    // Objects already there and not in this Save stay (S3 semantics): link them
                    // into the staged tree, then swap the two trees in one step. Readers see
                    // the old tree or the new one, never a mix, and a failure changes nothing.
                    try FileSystem.linkMissing(from: target, into: stagedRoot)
                    try FileSystem.exchange(stagedRoot, target)
                    try FileSystem.syncDirectory(FileSystem.parent(target))
                    try FileSystem.removeTree(stagedRoot)   // now the old tree
                } else {
                    // The whole tree appears at once.
                    try commit(stagedRoot, to: key, isDirectory: true)
                }
            }
        } catch {
            _ = try? await io.runToCompletion { try FileSystem.removeTree(stagedRoot) }
            throw error
        }
    }

    public func upload(stream: ByteChunkSource, to key: String) async throws -> Int64 {
        let (staged, out) = try await io.run { [self] () -> (String, FileDescriptor) in
            let p = try stagingPath()
            return (p, try FileDescriptor.createExclusive(p))
        }
        var offset: Int64 = 0
        do {
            while let chunk = try await stream.next() {
                let at = offset
                try await io.run {
                    try chunk.withUnsafeBytes { try out.write($0, at: at) }
                }
                offset += Int64(chunk.count)
            }
            try await io.run { [self] in
                try out.sync()
                try commit(staged, to: key, isDirectory: false)
            }
            return offset
        } catch {
            _ = try? await io.runToCompletion { try FileSystem.remove(staged) }
            throw error
        }
    }

    // MARK: reading objects

    private func openObject(_ object: ObjectInfo) throws -> FileDescriptor {
        let p = path(object.key)
        try checkInside(FileSystem.parent(p))
        guard let (kind, _) = try FileSystem.kind(p), kind == .file else {
            throw ArtifactError.notFound(locate(object.key))
        }
        return try FileDescriptor.openRegularNoFollow(p)
    }

    public func download(_ object: ObjectInfo, to destination: String) async throws {
        try await io.run { [self] token in
            let src = try openObject(object)
            let size = Int64(try src.status().st_size)
            try LocalFiles.writeAtomically(destination, sync: false) { out in
                try out.copy(from: src, length: size, cancellation: token)
            }
        }
    }

    public func read(_ object: ObjectInfo, chunkSize: Int, into sink: ByteSink) async throws {
        let (src, size) = try await io.run { [self] () -> (FileDescriptor, Int64) in
            let fd = try openObject(object)
            return (fd, Int64(try fd.status().st_size))
        }
        guard size == object.size else {
            throw ArtifactError.conflict("\(locate(object.key)) changed while being read (size \(object.size) → \(size))")
        }
        var offset: Int64 = 0
        while offset < size {
            try Task.checkCancellation()
            let want = Int(min(Int64(chunkSize), size - offset))
            let at = offset
            let chunk = try await io.run { () -> [UInt8] in
                try [UInt8](unsafeUninitializedCapacity: want) { buf, count in
                    count = try src.read(into: UnsafeMutableRawBufferPointer(buf), at: at)
                }
            }
            guard chunk.count == want else {
                throw ArtifactError.conflict("\(locate(object.key)) shrank while being read (at byte \(offset + Int64(chunk.count)) of \(size))")
            }
            try await sink.send(chunk)
            offset += Int64(want)
        }
    }

    // MARK: deleting

    public func delete(_ keys: [String]) async throws {
        try await io.run { [self] in
            var parents = Set<String>()
            // Files first, then markers deepest first, so directories empty out before rmdir.
            for key in keys.sorted(by: { ($0.hasSuffix("/") ? 1 : 0, -$0.count) < ($1.hasSuffix("/") ? 1 : 0, -$1.count) }) {
                let p = path(key.hasSuffix("/") ? String(key.dropLast()) : key)
                try checkInside(FileSystem.parent(p))
                if key.hasSuffix("/") {
                    FileSystem.removeEmptyDirectory(p)
                } else if let (kind, _) = try FileSystem.kind(p), kind != .directory {
                    try FileSystem.remove(p)
                }
                parents.insert(FileSystem.parent(p))
            }
            // Directories left empty by the delete are not markers anyone saved: prune them.
            for var dir in parents.sorted(by: { $0.count > $1.count }) {
                while dir.count > root.count, dir.hasPrefix(root + "/"), FileSystem.removeEmptyDirectory(dir) {
                    dir = FileSystem.parent(dir)
                }
            }
        }
    }

    /// Staged writes do not belong to a key until renamed: a Delete has none to abort.
    public func abortUploads(prefix: String) async throws -> Int { 0 }

    /// Staged files and trees left by writes that never finished (a killed plugin).
    public func staleUploads(prefix: String, before cutoff: Int64) async throws -> [StaleUpload] {
        try await io.run { [self] in
            guard let (kind, _) = try FileSystem.kind(staging), kind == .directory else { return [] }
            return try FileSystem.entries(staging).compactMap { raw -> StaleUpload? in
                let name = String(decoding: raw, as: UTF8.self)
                guard let (_, st) = try FileSystem.kind(staging + "/" + name), Int64(st.st_mtim.tv_sec) < cutoff else { return nil }
                return StaleUpload(key: ArtifactKeys.reservedPrefix + "/" + name, id: name, started: Int64(st.st_mtim.tv_sec), bytes: Int64(st.st_size))
            }
        }
    }

    public func abort(_ upload: StaleUpload) async throws {
        try await io.run { [self] in try FileSystem.removeTree(staging + "/" + upload.id) }
    }
}
