import PluginSupport

/// Sizes and durations as users write them in YAML.
public enum Quantities {
    /// Bytes: a whole number, optionally with Ki, Mi, Gi, Ti (binary) or K, M, G, T (decimal),
    /// and an optional trailing B: `16777216`, `16Mi`, `64MiB`, `1G`.
    public static func parseSize(_ text: String) -> Int64? {
        var s = text.trimmedSpaces()
        guard !s.isEmpty else { return nil }
        if s.hasSuffix("B") || s.hasSuffix("b") { s.removeLast() }
        let units: [(String, Int64)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
                                        ("K", 1_000), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000)]
        var multiplier: Int64 = 1
        for (suffix, m) in units where s.hasSuffix(suffix) {
            multiplier = m
            s.removeLast(suffix.count)
            break
        }
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(s) else { return nil }
        let (r, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : r
    }

    /// A duration: a whole number with s, m, h or d (`30s`, `15m`, `24h`, `30d`).
    public static func parseDuration(_ text: String) -> Duration? {
        let s = text.trimmedSpaces()
        guard let unit = s.last, let n = Int64(s.dropLast()), n >= 0 else { return nil }
        switch unit {
        case "s": return .seconds(n)
        case "m": return .seconds(n * 60)
        case "h": return .seconds(n * 3600)
        case "d": return .seconds(n * 86400)
        default: return nil
        }
    }

    /// A size as a configuration writes it: `16Mi` when a binary unit divides it, else bytes.
    public static func formatSize(_ n: Int64) -> String {
        for (suffix, m) in [("Ti", Int64(1) << 40), ("Gi", Int64(1) << 30), ("Mi", Int64(1) << 20), ("Ki", Int64(1) << 10)]
        where n != 0 && n % m == 0 {
            return "\(n / m)\(suffix)"
        }
        return String(n)
    }

    /// 1536 → "1.5 KiB"; for messages and progress lines.
    public static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var v = Double(n)
        var i = 0
        while abs(v) >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        if i == 0 { return "\(n) B" }
        let r = (v * 10).rounded() / 10
        return (r == r.rounded() ? String(Int64(r)) : String(r)) + " " + units[i]
    }
}
