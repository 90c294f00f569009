import PluginSupport
/// The files of a local directory that Save stores (Argo's `archive: none`).
public enum LocalTree {
    public struct Scan: Sendable {
        public var files: [LocalFile] = []
        /// Entries passed over, each with the reason (logged by the caller).
        public var skipped: [String] = []
        public var totalBytes: Int64 = 0
    }

    /// Walks `root`. Regular files are stored, empty directories become markers. A symlink is
    /// followed only when it stays inside `root` (a step must not smuggle e.g. the service-account
    /// token into an artifact): a link leading outside fails the Save, naming the link.
    public static func scan(_ root: String) throws -> Scan {
        let realRoot = try FileSystem.realPath(root)
        var scan = Scan()
        try walk(root, relative: "", root: root, realRoot: realRoot, into: &scan)
        return scan
    }

    private static func walk(_ dir: String, relative: String, root: String, realRoot: String, into scan: inout Scan) throws {
        var any = false
        let names = try FileSystem.entries(dir).sorted { $0.lexicographicallyPrecedes($1) }
        for raw in names {
            let shownPath = dir + "/" + String(decoding: raw, as: UTF8.self)
            guard let name = String(validating: raw, as: UTF8.self) else {
                let escaped = raw.map { $0 < 0x80 && $0 >= 0x20 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16).leftPadded(to: 2) }.joined()
                throw ArtifactError.badSource(dir + "/" + escaped, "the file name is not valid UTF-8, and object keys must be")
            }
            let path = dir + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            do {
                try ArtifactKeys.checkRelative(rel)
            } catch {
                throw ArtifactError.badSource(path, "its name cannot be an object key: \(error)")
            }
            guard let (kind, st) = try FileSystem.kind(path) else { continue }
            switch kind {
            case .file:
                scan.files.append(LocalFile(relativeKey: rel, path: path, size: Int64(st.st_size)))
                scan.totalBytes += Int64(st.st_size)
                any = true
            case .directory:
                try walk(path, relative: rel, root: root, realRoot: realRoot, into: &scan)
                any = true
            case .symlink:
                let target = (try? FileSystem.readLink(path)) ?? "?"
                guard let resolved = try? FileSystem.realPath(path) else {
                    // Dangling now, but where would it lead? Outside is refused all the same.
                    let lexical = lexicallyResolved(target, from: FileSystem.parent(path), root: root, realRoot: realRoot)
                    guard lexical == realRoot || lexical.hasPrefix(realRoot + "/") else {
                        throw ArtifactError.badSource(path, "symlink points outside the artifact directory (to \(target)); refusing to store it")
                    }
                    scan.skipped.append("\(shownPath): dangling symlink to \(target)")
                    continue
                }
                guard resolved == realRoot || resolved.hasPrefix(realRoot + "/") else {
                    throw ArtifactError.badSource(path, "symlink points outside the artifact directory (to \(target), which resolves to \(resolved)); refusing to store it")
                }
                guard let (tkind, tst) = try FileSystem.kindFollowing(path) else { continue }
                if tkind == .file {
                    scan.files.append(LocalFile(relativeKey: rel, path: path, size: Int64(tst.st_size)))
                    scan.totalBytes += Int64(tst.st_size)
                    any = true
                } else {
                    scan.skipped.append("\(shownPath): symlink to a directory inside the artifact (its files are stored where they really are)")
                }
            case .other:
                scan.skipped.append("\(shownPath): not a regular file (socket, FIFO or device)")
            }
        }
        if !any && !relative.isEmpty && scan.skipped.allSatisfy({ !$0.hasPrefix(dir + "/") }) {
            scan.files.append(LocalFile(relativeKey: relative + "/", path: nil, size: 0))
        }
    }

    /// `target` of a link in `dir`, resolved by text alone (`..` and `.` folded), expressed
    /// against the real root path.
    static func lexicallyResolved(_ target: String, from dir: String, root: String, realRoot: String) -> String {
        var base = target.hasPrefix("/") ? "" : dir
        if base.hasPrefix(root) { base = realRoot + base.dropFirst(root.count) }
        var parts: [Substring] = []
        for p in (base + "/" + target).split(separator: "/") {
            if p == "." || p.isEmpty { continue }
            if p == ".." { _ = parts.popLast() } else { parts.append(p) }
        }
        return "/" + parts.joined(separator: "/")
    }
}
