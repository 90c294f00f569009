/// Text that came from outside (keys, paths, configuration values, a store's error message) as it
/// appears in an error or a log line: control characters escaped, so a hostile name cannot forge
/// lines, and cut with a marker past a limit, so an error always fits in what Argo's client
/// receives (4 MiB per message) and stays readable. The field and the reason around an echoed
/// value are never cut: values are clipped where they are echoed, and `cap` is the last guard.
public enum Echo {
    /// A configuration value, a key, a file name.
    public static let valueLimit = 256
    /// A whole error text or log line.
    public static let textLimit = 4096

    public enum Keep: Sendable { case head, middleCut }

    /// `s` with control characters escaped, cut to about `limit` bytes.
    public static func clip(_ s: String, limit: Int = valueLimit, keep: Keep = .middleCut) -> String {
        let escaped = escape(s)
        let n = escaped.utf8.count
        guard n > limit else { return escaped }
        let marker = "…(\(n) bytes, cut)…"
        let room = max(16, limit - marker.utf8.count)
        switch keep {
        case .head:
            return prefix(escaped, bytes: room) + marker
        case .middleCut:
            return prefix(escaped, bytes: room * 2 / 3) + marker + suffix(escaped, bytes: room / 3)
        }
    }

    /// `'value'`, clipped.
    public static func quoted(_ s: String, limit: Int = valueLimit) -> String { "'" + clip(s, limit: limit) + "'" }

    /// A whole text at most `limit` bytes: its start and its end kept (what failed, and why).
    public static func cap(_ s: String, limit: Int = textLimit) -> String {
        let n = s.utf8.count
        guard n > limit else { return s }
        let marker = " …(\(n - limit) bytes cut)… "
        let room = limit - marker.utf8.count
        return prefix(s, bytes: room / 2) + marker + suffix(s, bytes: room - room / 2)
    }

    public static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F { out += "\\x" + String(u.value, radix: 16).leftPadded(to: 2) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// The longest prefix of at most `bytes` UTF-8 bytes that ends on a character boundary.
    static func prefix(_ s: String, bytes: Int) -> String {
        var end = s.startIndex
        var used = 0
        for c in s.unicodeScalars.indices {
            let w = s.unicodeScalars[c].utf8.count
            if used + w > bytes { break }
            used += w
            end = s.unicodeScalars.index(after: c)
        }
        return String(s.unicodeScalars[..<end])
    }

    static func suffix(_ s: String, bytes: Int) -> String {
        var start = s.endIndex
        var used = 0
        var i = s.unicodeScalars.endIndex
        while i > s.unicodeScalars.startIndex {
            let prev = s.unicodeScalars.index(before: i)
            let w = s.unicodeScalars[prev].utf8.count
            if used + w > bytes { break }
            used += w
            start = prev
            i = prev
        }
        return String(s.unicodeScalars[start...])
    }
}
