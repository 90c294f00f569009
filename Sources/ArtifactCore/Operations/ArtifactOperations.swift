import Foundation
import PluginSupport

/// Argo's artifact semantics over any store: a key is either a file (one object) or a directory
/// (objects under `key/`); Save and Load carry whole trees; Delete removes both forms and is
/// idempotent; `a/b` never touches `a/bc`. (In Argo a "driver" is the per-store code; here that
/// is an `ArtifactStore`. This is what Argo asks of every store.)
public struct ArtifactOperations: Sendable {
    public let store: ArtifactStore
    public let configuration: PluginConfiguration
    let io: IOPool
    /// OpenStream message size: well under grpc-go's 4 MiB receive limit. Each message costs a
    /// few thread hand-offs (store → handler → socket), so fewer, larger ones cost less CPU per
    /// GiB; a stream holds a few of them (the store's inbox, the outbox), about 5 MiB.
    public static let streamChunkSize = 1 << 20

    public init(store: ArtifactStore, configuration: PluginConfiguration, io: IOPool = .shared) {
        self.store = store
        self.configuration = configuration
        self.io = io
    }

    public struct Transferred: Sendable {
        public var objects = 0
        public var bytes: Int64 = 0
        /// An optional input artifact that does not exist: an empty directory was left instead.
        public var missingOptional = false
    }

    // MARK: Save

    public func save(from path: String, to key: String) async throws -> Transferred {
        let found = try await io.run { try FileSystem.kindFollowing(path).map { ($0.0, Int64($0.1.st_size)) } }
        guard let (kind, size) = found else {
            throw ArtifactError.badSource(path, "no such file or directory")
        }
        switch kind {
        case .file:
            try await store.upload(file: path, to: key)
            await store.applyRetention(forKey: key)
            return Transferred(objects: 1, bytes: size)
        case .directory:
            let scan = try await io.run { try LocalTree.scan(path) }
            for s in scan.skipped { Log.service.warning("save \(key): skipped \(s)") }
            try await store.uploadDirectory(scan.files, to: key)
            await store.applyRetention(forKey: key)
            return Transferred(objects: scan.files.count, bytes: scan.totalBytes)
        case .symlink, .other:
            throw ArtifactError.badSource(path, "not a regular file or directory")
        }
    }

    public func saveStream(_ chunks: ByteChunkSource, to key: String) async throws -> Transferred {
        let n = try await store.upload(stream: chunks, to: key)
        await store.applyRetention(forKey: key)
        return Transferred(objects: 1, bytes: n)
    }

    // MARK: Load

    /// `optional`: Argo's `Artifact.optional`. A missing optional artifact is not an error:
    /// Argo's plugin client turns every error into plain text, so the executor's "optional and
    /// not found → skip" never matches a plugin's answer. Instead an empty directory is left at
    /// `path`: the executor's `isTarball` reads a directory as "not a tarball" and renames it
    /// into place, and the step runs with an empty input directory where Argo's built-in
    /// drivers leave nothing.
    public func load(_ key: String, to path: String, optional: Bool) async throws -> Transferred {
        do {
            return try await load(key, to: path)
        } catch ArtifactError.notFound(let what) where optional {
            try await io.run {
                try FileSystem.makeDirectories(FileSystem.parent(path))
                if try FileSystem.kind(path) == nil { try FileSystem.makeDirectories(path) }
            }
            Log.service.info("optional artifact not found, left an empty directory at \(ArtifactError.printable(path)): \(what)")
            return Transferred(missingOptional: true)
        }
    }

    public func load(_ key: String, to path: String) async throws -> Transferred {
        if let object = try await store.head(key) {
            try await store.download(object, to: path)
            return Transferred(objects: 1, bytes: object.size)
        }
        let prefix = ArtifactKeys.directoryPrefix(key)
        let objects = try await store.list(prefix: prefix)
        guard !objects.isEmpty else { throw ArtifactError.notFound(notFoundText(key)) }
        // Every stored key must stay inside `path` once made relative: a crafted key such as
        // `key/../../etc/x` fails the Load instead of writing outside.
        for o in objects {
            let rel = String(o.key.dropFirst(prefix.count))
            do {
                try ArtifactKeys.checkRelative(rel, allowTrailingSlash: true)
            } catch {
                throw ArtifactError.conflict("refusing to load \(store.locate(o.key)): \(error); it would not stay inside \(path)")
            }
        }
        return try await loadTree(objects, prefix: prefix, to: path)
    }

    /// Downloads into a staging directory beside `path`, then moves it into place in one rename,
    /// so a failed Load leaves nothing half-written at `path`.
    private func loadTree(_ objects: [ObjectInfo], prefix: String, to path: String) async throws -> Transferred {
        let parent = FileSystem.parent(path)
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let staging = parent + "/" + FileSystem.uniqueName(prefix: ".\(name.prefix(64)).argo-partial-")
        let markers = objects.filter(\.isMarker).map { staging + "/" + String($0.key.dropFirst(prefix.count).dropLast()) }
        try await io.run { try FileSystem.makeDirectories(parent) }
        var done = Transferred()
        do {
            try await io.run {
                try FileSystem.makeDirectories(staging)
                for m in markers { try FileSystem.makeDirectories(m) }
            }
            let files = objects.filter { !$0.isMarker }
            try await forEachConcurrently(files, limit: configuration.load.concurrency) { o in
                try await store.download(o, to: staging + "/" + String(o.key.dropFirst(prefix.count)))
            }
            done.objects = files.count
            done.bytes = files.reduce(0) { $0 + $1.size }
            try await io.run {
                if let (kind, _) = try FileSystem.kind(path) {
                    guard kind == .directory else {
                        throw ArtifactError.conflict("cannot load a directory artifact into \(path): a file is there")
                    }
                    if !FileSystem.removeEmptyDirectory(path) {
                        // Files already at `path` stay unless the artifact has them: link them
                        // into the staged tree and swap the trees in one step (never a mix).
                        try FileSystem.linkMissing(from: path, into: staging)
                        try FileSystem.exchange(staging, path)
                        try FileSystem.removeTree(staging)
                        return
                    }
                }
                try FileSystem.rename(staging, path)
            }
        } catch {
            _ = try? await io.runToCompletion { try FileSystem.removeTree(staging) }
            throw error
        }
        return done
    }

    // MARK: browsing

    /// Full keys of every object under `key/` (markers excluded). A file key lists nothing; a key
    /// that is neither is not found (Argo's S3 driver does the same).
    public func listObjects(_ key: String) async throws -> [String] {
        let objects = try await store.list(prefix: ArtifactKeys.directoryPrefix(key))
        let keys = objects.filter { !$0.isMarker }.map(\.key)
        if keys.isEmpty && objects.isEmpty, !key.isEmpty, try await store.head(key) == nil {
            throw ArtifactError.notFound(notFoundText(key))
        }
        return keys
    }

    public func isDirectory(_ key: String) async throws -> Bool {
        try await store.hasObjects(prefix: ArtifactKeys.directoryPrefix(key))
    }

    // MARK: OpenStream

    /// A file streams as itself, a directory as a tar archive of its objects.
    public func openStream(_ key: String, into sink: ByteSink) async throws -> Transferred {
        if let object = try await store.readIfPresent(key, chunkSize: Self.streamChunkSize, into: sink) {
            return Transferred(objects: 1, bytes: object.size)
        }
        let prefix = ArtifactKeys.directoryPrefix(key)
        let objects = try await store.list(prefix: prefix)
        guard !objects.isEmpty else { throw ArtifactError.notFound(notFoundText(key)) }
        // Entry names come from stored keys: one that would climb out of the extraction directory
        // (`key/../x`, `key//abs`) fails the stream before any byte is sent.
        for o in objects {
            do {
                try ArtifactKeys.checkRelative(String(o.key.dropFirst(prefix.count)), allowTrailingSlash: true)
            } catch {
                throw ArtifactError.conflict("refusing to stream \(store.locate(o.key)) into a tar archive: \(error)")
            }
        }
        let tar = TarStream(sink: sink, chunkSize: Self.streamChunkSize)
        var done = Transferred()
        for o in objects {
            try Task.checkCancellation()
            let rel = String(o.key.dropFirst(prefix.count))
            if rel.isEmpty { continue }
            if o.isMarker {
                try await tar.addDirectory(rel, mtime: o.lastModified)
            } else {
                try await tar.addFile(rel, size: o.size, mtime: o.lastModified) { inner in
                    try await store.read(o, chunkSize: Self.streamChunkSize, into: inner)
                }
                done.objects += 1
                done.bytes += o.size
            }
        }
        try await tar.finish()
        return done
    }

    // MARK: Delete

    /// Removes the object at `key` and every object under `key/`, and aborts unfinished uploads
    /// there. Nothing there is success: Argo's GC retries, and a retry must not fail.
    public func delete(_ key: String) async throws -> Int {
        guard !key.isEmpty else {
            throw ArtifactError.invalidKey(key, "refusing to delete with an empty key (that would be the whole store)")
        }
        var keys = try await store.list(prefix: ArtifactKeys.directoryPrefix(key)).map(\.key)
        if try await store.head(key) != nil { keys.append(key) }
        if !keys.isEmpty { try await store.delete(keys) }
        let aborted = try await store.abortUploads(prefix: key)
        if aborted > 0 { Log.service.info("delete \(key): aborted \(aborted) unfinished upload(s)") }
        return keys.count
    }

    func notFoundText(_ key: String) -> String {
        "\(store.locate(key)) (no object at this key and none under \(key)/)"
    }
}
