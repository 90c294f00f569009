/// A small streaming XML reader for object-store responses: one pass over the bytes, events to
/// a callback, no tree. Handles what S3 and OSS send (elements, text, the five entities and
/// numeric references, CDATA, comments, the declaration); no DTDs, no namespaces beyond
/// ignoring prefixes.
public struct XMLReader {
    public enum Event: Sendable {
        case start(String)
        case text(String)
        case end(String)
    }

    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public let reason: String
        public var description: String { "malformed XML: \(reason)" }
    }

    public static func parse(_ bytes: [UInt8], _ handle: (Event) throws -> Void) throws {
        var i = 0
        let n = bytes.count
        var text: [UInt8] = []
        func flushText() throws {
            if !text.isEmpty {
                try handle(.text(decodeEntities(text)))
                text.removeAll(keepingCapacity: true)
            }
        }
        while i < n {
            let c = bytes[i]
            if c != UInt8(ascii: "<") {
                text.append(c)
                i += 1
                continue
            }
            if match(bytes, i, "<!--") {
                guard let e = find(bytes, i + 4, "-->") else { throw Malformed(reason: "unterminated comment") }
                i = e + 3
                continue
            }
            if match(bytes, i, "<![CDATA[") {
                guard let e = find(bytes, i + 9, "]]>") else { throw Malformed(reason: "unterminated CDATA") }
                try flushText()
                try handle(.text(String(decoding: bytes[(i + 9)..<e], as: UTF8.self)))
                i = e + 3
                continue
            }
            if match(bytes, i, "<?") || match(bytes, i, "<!") {
                guard let e = find(bytes, i + 2, ">") else { throw Malformed(reason: "unterminated declaration") }
                i = e + 1
                continue
            }
            try flushText()
            guard let close = find(bytes, i + 1, ">") else { throw Malformed(reason: "unterminated tag") }
            var inner = bytes[(i + 1)..<close]
            i = close + 1
            if inner.first == UInt8(ascii: "/") {
                try handle(.end(localName(inner.dropFirst())))
                continue
            }
            let selfClosing = inner.last == UInt8(ascii: "/")
            if selfClosing { inner = inner.dropLast() }
            let name = localName(inner)
            try handle(.start(name))
            if selfClosing { try handle(.end(name)) }
        }
        try flushText()
    }

    /// For each `record` element: its direct children's text, by child name (e.g. every
    /// `Contents` of a listing). Also returns top-level leaf values by name.
    public static func records(_ bytes: [UInt8], record: String) throws -> (records: [[String: String]], fields: [String: String]) {
        var records: [[String: String]] = []
        var fields: [String: String] = [:]
        var stack: [String] = []
        var current: [String: String]?
        var recordDepth = 0
        var textBuf = ""
        try parse(bytes) { ev in
            switch ev {
            case .start(let name):
                stack.append(name)
                textBuf = ""
                if name == record && current == nil {
                    current = [:]
                    recordDepth = stack.count
                }
            case .text(let t):
                textBuf += t
            case .end(let name):
                if current != nil {
                    if name == record && stack.count == recordDepth {
                        records.append(current!)
                        current = nil
                    } else if stack.count == recordDepth + 1 {
                        current![name] = textBuf
                    } else if stack.count > recordDepth + 1 {
                        // nested (e.g. Owner/ID): keep as Parent.Child
                        let parent = stack[recordDepth]
                        current!["\(parent).\(name)"] = textBuf
                    }
                } else if stack.count >= 2 {
                    if fields[name] == nil { fields[name] = textBuf }
                }
                textBuf = ""
                _ = stack.popLast()
            }
        }
        return (records, fields)
    }

    private static func localName<C: Collection>(_ raw: C) -> String where C.Element == UInt8 {
        let nameBytes = raw.prefix { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        let name = String(decoding: nameBytes, as: UTF8.self)
        if let colon = name.lastIndex(of: ":") { return String(name[name.index(after: colon)...]) }
        return name
    }

    private static func match(_ b: [UInt8], _ i: Int, _ s: String) -> Bool {
        let u = Array(s.utf8)
        return i + u.count <= b.count && b[i..<(i + u.count)].elementsEqual(u)
    }

    private static func find(_ b: [UInt8], _ from: Int, _ s: String) -> Int? {
        let u = Array(s.utf8)
        var i = from
        while i + u.count <= b.count {
            if b[i] == u[0] && b[i..<(i + u.count)].elementsEqual(u) { return i }
            i += 1
        }
        return nil
    }

    static func decodeEntities(_ raw: [UInt8]) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            // An entity is short: look for its ';' within a few bytes (not to the end, which made
            // text full of '&' quadratic).
            if raw[i] == UInt8(ascii: "&"), let semi = raw[i..<min(i + 12, raw.count)].firstIndex(of: UInt8(ascii: ";")) {
                let ent = String(decoding: raw[(i + 1)..<semi], as: UTF8.self)
                var scalar: UInt32?
                switch ent {
                case "amp": scalar = 0x26
                case "lt": scalar = 0x3C
                case "gt": scalar = 0x3E
                case "quot": scalar = 0x22
                case "apos": scalar = 0x27
                default:
                    if ent.hasPrefix("#x") { scalar = UInt32(ent.dropFirst(2), radix: 16) }
                    else if ent.hasPrefix("#") { scalar = UInt32(ent.dropFirst()) }
                }
                if let s = scalar, let u = Unicode.Scalar(s) {
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                    i = semi + 1
                    continue
                }
            }
            out.append(raw[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes text for an XML body we build (keys in DeleteObjects, lifecycle prefixes).
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                if ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r" { out += "&#\(ch.value);" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
