import ArtifactCore
import ArtifactProto
import ArtifactService
import Foundation
import ObjectStore
import PluginSupport
import SwiftProtobuf
@testable import PluginRPC

/// The parsers that meet untrusted bytes, as fuzz entry points: each takes arbitrary input,
/// must not crash, hang or grow without bound, and checks the invariants its parser promises
/// (a violated one is a crash too, so libFuzzer keeps the input). `plugin-fuzz` runs them under
/// libFuzzer; FuzzRegressionTests replay the committed corpus and every crash found.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// gRPC length-prefixed messages split into arbitrary chunks.
    case deframer
    /// JSON request bodies of the gateway's routes.
    case json
    /// `plugin.configuration` YAML.
    case config
    /// S3/OSS XML answers: listings, errors, multipart, lifecycle.
    case xml
    /// Key validation and normalisation.
    case keys
    /// Tar headers for arbitrary member names.
    case tar

    public func run(_ data: [UInt8]) {
        switch self {
        case .deframer: Self.deframer(data)
        case .json: Self.json(data)
        case .config: Self.config(data)
        case .xml: Self.xml(data)
        case .keys: Self.keys(data)
        case .tar: Self.tar(data)
        }
    }

    static func require(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok { fatalError("fuzz invariant violated: \(what())") }
    }

    /// Bytes fed in chunks whose sizes the input's first byte picks; every message that comes
    /// out must be one that went in, and nothing above the limit is buffered.
    static func deframer(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let limit = 1 << 16
        var d = GRPCDeframer(maxMessageSize: limit)
        let step = Int(first % 31) + 1
        var i = 1
        var payloadBytes = 0
        while i < data.count {
            d.append(Array(data[i..<min(i + step, data.count)]))
            i += step
            do {
                while let m = try d.next() {
                    require(m.payload.count <= limit, "a message over the limit came out")
                    payloadBytes += m.payload.count
                }
            } catch {
                require("\(error)".utf8.count < 4096, "an unbounded deframer error")
                return
            }
            require(d.pendingBytes <= limit + GRPCFraming.prefixSize + step, "the deframer buffered past one message")
        }
        require(payloadBytes <= data.count, "more payload out than bytes in")
    }

    /// Each route's request message from the bytes; a decoded message encodes again.
    static func json(_ data: [UInt8]) {
        func attempt<M: SwiftProtobuf.Message>(_: M.Type) {
            guard let m = try? M(jsonUTF8Bytes: data) else { return }
            let encoded: [UInt8]? = try? m.jsonUTF8Bytes()
            require(encoded != nil, "a decoded \(M.protoMessageName) does not encode")
        }
        attempt(Artifact_LoadArtifactRequest.self)
        attempt(Artifact_SaveArtifactRequest.self)
        attempt(Artifact_DeleteArtifactRequest.self)
        attempt(Artifact_ListObjectsRequest.self)
        attempt(Artifact_IsDirectoryRequest.self)
        attempt(Artifact_OpenStreamRequest.self)
    }

    /// A configuration parses or fails with a bounded error; one that parses is described as
    /// YAML that parses back to the same configuration.
    static func config(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        do {
            let parser = StoreProviders.parser
            let c = try parser.parse(text)
            let again = try parser.parse(c.yamlDescription)
            // A secret written inline comes back as <hidden>: then only that value may differ,
            // and the descriptions, which hide it both times, must agree.
            require(again == c || (c.yamlDescription.contains("<hidden>") && again.yamlDescription == c.yamlDescription), "config check's output does not parse back to the same configuration:\n\(c.yamlDescription)")
        } catch let e as ConfigError {
            require(e.description.utf8.count <= 2048, "a configuration error of \(e.description.utf8.count) bytes")
        } catch {
            require(false, "the parser threw a non-configuration error: \(error)")
        }
    }

    /// Every record shape the stores answer with; a rule list splits into whole rules.
    static func xml(_ data: [UInt8]) {
        for record in ["Contents", "CommonPrefixes", "Upload", "Part", "Error", "__none__", "Credentials"] {
            _ = try? XMLReader.records(data, record: record)
        }
        if let rules = try? LifecycleRule.existingRules(data) {
            for r in rules { require(r.raw.hasPrefix("<Rule") && r.raw.hasSuffix("</Rule>"), "a partial rule was split out") }
        }
        var text = ""
        if (try? XMLReader.parse(data, { if case .text(let t) = $0 { text += t } })) != nil {
            // Escaping what was read and reading it back gives it again.
            var back = ""
            try? XMLReader.parse(Array("<a>\(XMLReader.escape(text))</a>".utf8)) { if case .text(let t) = $0 { back += t } }
            require(back == text || text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" && $0 != "\n" && $0 != "\r" },
                    "escape does not round-trip")
        }
    }

    /// A key is refused with a bounded error, or normalised to a key that is accepted as it is
    /// and never climbs out of its directory.
    static func keys(_ data: [UInt8]) {
        let key = String(decoding: data, as: UTF8.self)
        do {
            let k = try ArtifactKeys.normalize(key)
            require((try? ArtifactKeys.normalize(k)) == k, "normalize is not idempotent for \(k.debugDescription)")
            require(!k.hasPrefix("/") && !k.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." || $0.isEmpty },
                    "an accepted key climbs or has empty segments: \(k.debugDescription)")
            require(!k.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "an accepted key has control characters")
            require(ArtifactKeys.directoryPrefix(k) == k + "/", "directory prefix")
        } catch {
            require("\(error)".utf8.count <= 2048, "a key error of \("\(error)".utf8.count) bytes")
        }
    }

    /// Headers for any name: whole 512-byte blocks, a valid checksum, and the name (ustar or
    /// pax) reading back as given.
    static func tar(_ data: [UInt8]) {
        guard data.count >= 9 else { return }
        let size = Int64(bitPattern: data[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) & 0x7FFF_FFFF_FFFF
        let name = String(decoding: data[9...], as: UTF8.self)
        guard !name.isEmpty, !name.contains("\u{0}") else { return }
        let directory = data[8] & 1 == 1
        let h = TarStream.header(name: name, size: size, mtime: 1_700_000_000, directory: directory)
        require(h.count % 512 == 0 && h.count >= 512, "header of \(h.count) bytes")
        var read = TarHeaderReader(h)
        guard let (readName, readSize) = read.member() else { return require(false, "the header does not read back") }
        require(readName == name, "name \(name.debugDescription) read back as \(readName.debugDescription)")
        require(readSize == size, "size \(size) read back as \(readSize)")
    }
}

/// Reads back what TarStream wrote: ustar blocks with checksums, pax `path` and `size` records.
struct TarHeaderReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ b: [UInt8]) { bytes = b }

    mutating func member() -> (String, Int64)? {
        var paxPath: String?, paxSize: Int64?
        while offset + 512 <= bytes.count {
            let h = Array(bytes[offset..<(offset + 512)])
            var sumBytes = h
            for i in 148..<156 { sumBytes[i] = 0x20 }
            guard let stored = Int(String(decoding: h[148..<154], as: UTF8.self).trimmingCharacters(in: .whitespaces), radix: 8),
                  stored == sumBytes.reduce(0, { $0 + Int($1) }) else { return nil }
            let size = Int64(String(decoding: h[124..<135], as: UTF8.self), radix: 8) ?? -1
            offset += 512
            if h[156] == UInt8(ascii: "x") {
                let n = Int(size)
                guard n >= 0, offset + n <= bytes.count else { return nil }
                var i = offset
                let end = offset + n
                offset += (n + 511) / 512 * 512
                // "<len> key=value\n", len counting the whole record in bytes.
                while i < end {
                    guard let space = bytes[i..<end].firstIndex(of: 0x20),
                          let len = Int(String(decoding: bytes[i..<space], as: UTF8.self)), len > space - i + 2, i + len <= end,
                          bytes[i + len - 1] == 0x0A else { return nil }
                    let body = bytes[(space + 1)..<(i + len - 1)]
                    guard let eq = body.firstIndex(of: UInt8(ascii: "=")) else { return nil }
                    let k = String(decoding: body[..<eq], as: UTF8.self)
                    let v = String(decoding: body[(eq + 1)...], as: UTF8.self)
                    if k == "path" { paxPath = v }
                    if k == "size" { paxSize = Int64(v) }
                    i += len
                }
                continue
            }
            let name = String(decoding: h[0..<100].prefix { $0 != 0 }, as: UTF8.self)
            return (paxPath ?? name, paxSize ?? size)
        }
        return nil
    }
}
