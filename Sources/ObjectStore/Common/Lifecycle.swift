import ArtifactCore
import Checksums
import Foundation
import PluginSupport

/// Our lifecycle rule for one key prefix, and how it merges into a bucket's existing rules:
/// other rules are kept byte for byte; ours is added or replaced (stable id from the prefix);
/// a rule of someone else on the same prefix wins (we leave it and say so).
public struct LifecycleRule: Sendable, Equatable {
    public var prefix: String
    public var expireAfterDays: Int?
    public var transitionAfterDays: Int?
    public var transitionStorageClass: String?
    public var abortIncompleteUploadsAfterDays: Int?

    public static let idPrefix = "argo-artifact-plugin-"

    public var id: String { Self.idPrefix + Digest.sha256(Array(prefix.utf8)).hex.prefix(16) }

    public init(prefix: String, settings: LifecycleSettings) {
        self.prefix = prefix
        expireAfterDays = settings.expireAfterDays
        transitionAfterDays = settings.transitionAfterDays
        transitionStorageClass = settings.transitionStorageClass
        abortIncompleteUploadsAfterDays = settings.abortIncompleteUploadsAfterDays
    }

    /// The rule's XML; `legacyPrefix` writes `<Prefix>` at rule level (OSS, and S3 buckets whose
    /// rules use that older form) instead of `<Filter><Prefix>`.
    public func xml(legacyPrefix: Bool, flavor: LifecycleFlavor) -> String {
        var x = "<Rule><ID>\(XMLReader.escape(id))</ID>"
        x += legacyPrefix ? "<Prefix>\(XMLReader.escape(prefix))</Prefix>" : "<Filter><Prefix>\(XMLReader.escape(prefix))</Prefix></Filter>"
        x += "<Status>Enabled</Status>"
        if let t = transitionAfterDays, let sc = transitionStorageClass {
            x += "<Transition><Days>\(t)</Days><StorageClass>\(XMLReader.escape(sc))</StorageClass></Transition>"
        }
        if let e = expireAfterDays { x += "<Expiration><Days>\(e)</Days></Expiration>" }
        if let a = abortIncompleteUploadsAfterDays {
            switch flavor {
            case .oss: x += "<AbortMultipartUpload><Days>\(a)</Days></AbortMultipartUpload>"
            case .s3: x += "<AbortIncompleteMultipartUpload><DaysAfterInitiation>\(a)</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
            }
        }
        return x + "</Rule>"
    }

    /// One existing rule: its raw text (kept verbatim) and what identifies it.
    public struct Existing: Sendable {
        public var raw: String
        public var id: String
        public var prefix: String?
        public var legacyPrefix: Bool
    }

    /// Splits a GetBucketLifecycle answer into its rules, each kept as written.
    public static func existingRules(_ body: [UInt8]) throws -> [Existing] {
        let text = String(decoding: body, as: UTF8.self)
        var out: [Existing] = []
        var rest = text[...]
        while let start = rest.range(of: "<Rule>") ?? rest.range(of: "<Rule ") {
            guard let end = rest.range(of: "</Rule>", range: start.upperBound..<rest.endIndex) else {
                throw XMLReader.Malformed(reason: "unterminated <Rule>")
            }
            let raw = String(rest[start.lowerBound..<end.upperBound])
            var id = "", prefix: String?, legacy = false
            var depth = 0, path: [String] = [], textBuf = ""
            try XMLReader.parse(Array(raw.utf8)) { ev in
                switch ev {
                case .start(let n): path.append(n); depth += 1; textBuf = ""
                case .text(let t): textBuf += t
                case .end(let n):
                    if path == ["Rule", "ID"] { id = textBuf }
                    if path == ["Rule", "Prefix"] { prefix = textBuf; legacy = true }
                    if path == ["Rule", "Filter", "Prefix"] || path == ["Rule", "Filter", "And", "Prefix"] { prefix = textBuf }
                    if n == "Filter" && prefix == nil && path == ["Rule", "Filter"] { prefix = "" }
                    _ = path.popLast()
                    textBuf = ""
                }
            }
            out.append(Existing(raw: raw, id: id, prefix: prefix, legacyPrefix: legacy))
            rest = rest[end.upperBound...]
        }
        return out
    }

    public enum MergeOutcome: Sendable, Equatable {
        case unchanged
        case write(String)
        /// Someone else's rule covers this prefix; ours is not added.
        case conflict(otherID: String)
    }

    /// The configuration to write (or why not).
    public static func merge(_ ours: LifecycleRule, into existing: [Existing], flavor: LifecycleFlavor) -> MergeOutcome {
        if let other = existing.first(where: { $0.id != ours.id && $0.prefix == ours.prefix }) {
            return .conflict(otherID: other.id)
        }
        let legacy = flavor == .oss || existing.contains { $0.legacyPrefix }
        let mine = ours.xml(legacyPrefix: legacy, flavor: flavor)
        if let current = existing.first(where: { $0.id == ours.id }), normalize(current.raw) == normalize(mine) {
            return .unchanged
        }
        let kept = existing.filter { $0.id != ours.id }.map(\.raw)
        let ns = flavor == .oss ? "" : " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
        return .write("<?xml version=\"1.0\" encoding=\"UTF-8\"?><LifecycleConfiguration\(ns)>" + kept.joined() + mine + "</LifecycleConfiguration>")
    }

    /// Whitespace between tags does not make two rules different.
    static func normalize(_ s: String) -> String {
        var out = ""
        var inTag = false, pendingSpace = false
        for ch in s {
            if ch == "<" { inTag = true; pendingSpace = false; out.append(ch); continue }
            if ch == ">" { inTag = false; out.append(ch); continue }
            if !inTag && (ch == " " || ch == "\n" || ch == "\t" || ch == "\r") {
                if out.last != ">" { pendingSpace = true }
                continue
            }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(ch)
        }
        return out
    }
}

extension ObjectStoreClient {
    /// The bucket's lifecycle rules (none when it has no configuration).
    public func lifecycleRules() async throws -> [LifecycleRule.Existing] {
        var op = StoreOperation("GetBucketLifecycle", "GET")
        op.query = [("lifecycle", "")]
        op.payloadHash = SigV4Signer.emptyPayloadHash
        op.accept = [404]
        let r = try await send(op)
        if r.status == 404 { return [] }
        return try LifecycleRule.existingRules(r.body)
    }

    public func putLifecycle(_ xml: String) async throws {
        _ = try await send(Self.xmlOperation("PutBucketLifecycle", "PUT", query: [("lifecycle", "")], xml: xml, contentMD5: true))
    }

    /// Adds or updates our rule; returns what happened, for the log.
    public func applyLifecycle(_ rule: LifecycleRule) async throws -> String {
        for _ in 1...3 {
            let existing = try await lifecycleRules()
            switch LifecycleRule.merge(rule, into: existing, flavor: dialect.lifecycleFlavor) {
            case .unchanged:
                return "rule \(rule.id) for prefix '\(rule.prefix)' already in place"
            case .conflict(let other):
                return "left alone: rule '\(other)' (not ours) already covers prefix '\(rule.prefix)'"
            case .write(let xml):
                try await putLifecycle(xml)
                // The configuration is read, changed and written whole: another writer may have
                // raced us. Every rule we read (and ours) must still be there, or we go again.
                let after = Set(try await lifecycleRules().map(\.id))
                let expected = Set(existing.map(\.id)).union([rule.id])
                if expected.isSubset(of: after) {
                    return "rule \(rule.id) for prefix '\(rule.prefix)' written (\(existing.filter { $0.id != rule.id }.count) other rule(s) kept)"
                }
                try await Timers.sleep(for: .milliseconds(Int.random(in: 50...300)))
            }
        }
        return "rule \(rule.id) for prefix '\(rule.prefix)': another writer kept changing the bucket's lifecycle configuration; some rules may be missing"
    }
}
