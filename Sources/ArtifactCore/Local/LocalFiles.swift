import PluginSupport

/// Writing into the pod's file system (Load destinations).
public enum LocalFiles {
    /// Writes `path` through a temp file beside it, synced and renamed: a reader never sees a
    /// partial file, and a failed write leaves an existing file untouched.
    /// With `sync: false` the caller syncs a whole batch at once (see `FileSystem.syncFileSystem`).
    public static func writeAtomically(_ path: String, sync: Bool = true, _ fill: (FileDescriptor) throws -> Void) throws {
        let dir = FileSystem.parent(path)
        try FileSystem.makeDirectories(dir)
        let base = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let temp = dir + "/" + FileSystem.uniqueName(prefix: ".\(base.prefix(64)).argo-partial-")
        do {
            let out = try FileDescriptor.createExclusive(temp)
            try fill(out)
            if sync { try out.sync() }
            if let (kind, _) = try FileSystem.kind(path), kind == .directory {
                throw ArtifactError.conflict("cannot write file \(path): a directory is there")
            }
            try FileSystem.rename(temp, path)
        } catch {
            _ = try? FileSystem.remove(temp)
            throw error
        }
    }
}
