/// Rules for object keys, shared by every store.
public enum ArtifactKeys {
    /// Temp files and staging directories carry this name; no key may use it.
    public static let reservedPrefix = ".argo-partial"

    /// Validates a key from a request and drops a trailing `/` (Argo writes directory keys both
    /// ways). Refused: NUL and control characters, `.` or `..` segments, empty segments, a
    /// leading `/`, the reserved staging name.
    public static func normalize(_ key: String, allowEmpty: Bool = false) throws -> String {
        var k = key
        while k.hasSuffix("/") { k.removeLast() }
        if k.isEmpty {
            if allowEmpty { return "" }
            throw ArtifactError.invalidKey(key, "the key is empty")
        }
        try checkRelative(k, original: key)
        return k
    }

    /// A path relative to a directory artifact (or a key). Markers may end with one `/`.
    public static func checkRelative(_ path: String, original: String? = nil, allowTrailingSlash: Bool = false) throws {
        let shown = original ?? path
        if path.utf8.count > 1024 { throw ArtifactError.invalidKey(shown, "longer than 1024 bytes") }
        if path.hasPrefix("/") { throw ArtifactError.invalidKey(shown, "must be relative (no leading '/')") }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw ArtifactError.invalidKey(shown, "contains a NUL or control character")
        }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if allowTrailingSlash, segments.count > 1, segments.last == "" { segments.removeLast() }
        for s in segments {
            if s.isEmpty { throw ArtifactError.invalidKey(shown, "contains an empty path segment ('//')") }
            if s == "." || s == ".." { throw ArtifactError.invalidKey(shown, "contains a '\(s)' segment") }
            if s.hasPrefix(reservedPrefix) { throw ArtifactError.invalidKey(shown, "uses the reserved name \(reservedPrefix)") }
        }
    }

    /// `key/` — the prefix of a directory artifact's objects; "" for the whole store.
    public static func directoryPrefix(_ key: String) -> String {
        key.isEmpty ? "" : key + "/"
    }
}
