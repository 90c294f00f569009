import PluginSupport
import Synchronization

/// A tar archive (POSIX ustar, with pax headers for long names and huge sizes) produced on the
/// fly into a byte sink, for streaming a directory artifact.
public final class TarStream: Sendable {
    private let sink: CoalescingSink

    public init(sink: ByteSink, chunkSize: Int) {
        self.sink = CoalescingSink(downstream: sink, limit: chunkSize)
    }

    public func addDirectory(_ name: String, mtime: Int64) async throws {
        try await sink.send(Self.header(name: name.hasSuffix("/") ? name : name + "/", size: 0, mtime: mtime, directory: true))
    }

    /// Writes the header, then whatever `content` sends (exactly `size` bytes), then padding.
    public func addFile(_ name: String, size: Int64, mtime: Int64, content: (ByteSink) async throws -> Void) async throws {
        try await sink.send(Self.header(name: name, size: size, mtime: mtime, directory: false))
        let counter = CountingSink(downstream: sink)
        try await content(counter)
        guard counter.count == size else {
            throw ArtifactError.conflict("\(name) changed while being archived: expected \(size) bytes, got \(counter.count)")
        }
        let pad = Int((512 - size % 512) % 512)
        if pad > 0 { try await sink.send([UInt8](repeating: 0, count: pad)) }
    }

    public func finish() async throws {
        try await sink.send([UInt8](repeating: 0, count: 1024))
        try await sink.flush()
    }

    // MARK: headers

    public static func header(name: String, size: Int64, mtime: Int64, directory: Bool) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        var out: [UInt8] = []
        var pax: [(String, String)] = []
        let fitsName = nameBytes.count <= 100 && name.unicodeScalars.allSatisfy(\.isASCII)
        if !fitsName { pax.append(("path", name)) }
        if size > 0o77777777777 { pax.append(("size", String(size))) }
        if !pax.isEmpty {
            var records: [UInt8] = []
            for (k, v) in pax { records += paxRecord(k, v) }
            out += ustar(name: "PaxHeaders/" + String(name.unicodeScalars.filter(\.isASCII).map(Character.init).suffix(80)),
                         size: Int64(records.count), mtime: mtime, type: UInt8(ascii: "x"), mode: 0o644)
            out += records
            out += [UInt8](repeating: 0, count: (512 - records.count % 512) % 512)
        }
        let shortName = fitsName ? name : String(decoding: nameBytes.filter { $0 < 0x80 }.suffix(99), as: UTF8.self)
        out += ustar(name: shortName, size: size > 0o77777777777 ? 0 : size, mtime: mtime,
                     type: directory ? UInt8(ascii: "5") : UInt8(ascii: "0"), mode: directory ? 0o755 : 0o644)
        return out
    }

    /// `"<len> key=value\n"` where len counts the whole record, itself included.
    public static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var len = body.utf8.count + 1
        while String(len).count + body.utf8.count != len { len = String(len).count + body.utf8.count }
        return Array((String(len) + body).utf8)
    }

    private static func ustar(name: String, size: Int64, mtime: Int64, type: UInt8, mode: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: [UInt8], _ at: Int, _ len: Int) { for (i, b) in s.prefix(len).enumerated() { h[at + i] = b } }
        func octal(_ v: Int64, _ at: Int, _ len: Int) {
            put(Array(String(v, radix: 8).leftPadded(to: len - 1).utf8), at, len - 1)
        }
        put(Array(name.utf8), 0, 100)
        octal(Int64(mode), 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(max(0, mtime), 136, 12)
        put(Array("        ".utf8), 148, 8)
        h[156] = type
        put(Array("ustar\u{0}00".utf8), 257, 8)
        put(Array("root".utf8), 265, 32)
        put(Array("root".utf8), 297, 32)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(Array(String(sum, radix: 8).leftPadded(to: 6).utf8) + [0, 0x20], 148, 8)
        return h
    }
}

/// Gathers small writes into messages of up to `limit` bytes; large ones pass straight through.
/// One task writes to it at a time; the lock only guards the buffer between awaits.
final class CoalescingSink: ByteSink, Sendable {
    private let downstream: ByteSink
    private let limit: Int
    private let buffer = Locked<[UInt8]>([])

    init(downstream: ByteSink, limit: Int) {
        self.downstream = downstream
        self.limit = limit
    }

    func send(_ bytes: [UInt8]) async throws {
        enum Next { case kept, flushFull([UInt8]), flushThenPass([UInt8]), flushThenKeep([UInt8]) }
        let next = buffer.withLock { b -> Next in
            if b.count + bytes.count <= limit {
                b += bytes
                if b.count == limit { defer { b = [] }; return .flushFull(b) }
                return .kept
            }
            let full = b
            b = bytes.count >= limit / 2 ? [] : bytes
            return bytes.count >= limit / 2 ? .flushThenPass(full) : .flushThenKeep(full)
        }
        switch next {
        case .kept: return
        case .flushFull(let b): try await downstream.send(b)
        case .flushThenPass(let b):
            if !b.isEmpty { try await downstream.send(b) }
            try await downstream.send(bytes)
        case .flushThenKeep(let b):
            if !b.isEmpty { try await downstream.send(b) }
        }
    }

    func flush() async throws {
        let b = buffer.withLock { b -> [UInt8] in defer { b = [] }; return b }
        if !b.isEmpty { try await downstream.send(b) }
    }
}

/// Counts what passes through (to check an object's size against its header).
final class CountingSink: ByteSink, Sendable {
    private let downstream: ByteSink
    private let counted = Locked<Int64>(0)

    init(downstream: ByteSink) {
        self.downstream = downstream
    }

    var count: Int64 { counted.withLock { $0 } }

    func send(_ bytes: [UInt8]) async throws {
        counted.withLock { $0 += Int64(bytes.count) }
        try await downstream.send(bytes)
    }
}
