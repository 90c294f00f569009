import Logging

/// JSON written by hand for log lines (no Foundation on the logging path): strings escaped per
/// RFC 8259, numbers as numbers.
enum JSONText {
    static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F || u.value == 0x2028 || u.value == 0x2029 {
                    out += "\\u" + String(u.value, radix: 16).leftPadded(to: 4)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    /// Whole numbers and finite decimals given as such stay numbers; everything else is a string.
    static func appendValue(_ v: Logger.MetadataValue, to out: inout String) {
        switch v {
        case .string(let s): appendString(Echo.cap(s), to: &out)
        case .stringConvertible(let c):
            if let i = c as? any BinaryInteger {
                out += "\(i)"
            } else if let d = c as? Double, d.isFinite {
                out += "\(d)"
            } else {
                appendString(Echo.cap("\(c)"), to: &out)
            }
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                appendValue(e, to: &out)
            }
            out += "]"
        case .dictionary(let d):
            out += "{"
            for (i, (k, e)) in d.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out += "," }
                appendString(k, to: &out)
                out += ":"
                appendValue(e, to: &out)
            }
            out += "}"
        }
    }
}
