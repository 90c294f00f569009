import PluginSupport
import Yams

/// Reads `plugin.configuration` (YAML) strictly: every field is known, typed and checked, and
/// an error names the field, the line and the reason. A typo is an error, not a silent default.
public enum ConfigParser {
    static let topLevelFields = [
        "provider", "root",
        "endpoint", "bucket", "region", "insecure", "addressingStyle",
        "accessKeySecret", "secretKeySecret", "sessionTokenSecret", "securityToken", "useSDKCreds", "roleARN",
        "createBucketIfNotPresent", "caSecret", "storageClass", "restoreArchived", "encryptionOptions",
        "lifecycleRule", "lifecycle", "multipart", "load", "gc", "retry", "timeouts",
    ]
    static let remoteOnly = ["endpoint", "bucket", "region", "insecure", "addressingStyle", "accessKeySecret",
                             "secretKeySecret", "sessionTokenSecret", "securityToken", "useSDKCreds", "roleARN",
                             "createBucketIfNotPresent", "caSecret", "storageClass", "restoreArchived", "lifecycleRule", "lifecycle"]

    public static func parse(_ text: String) throws -> PluginConfiguration {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw ConfigError("", "not valid YAML: \(Self.describe(e))")
        }
        guard let node else {
            throw ConfigError("", "empty; set at least `provider: file` with `root`, or `endpoint` and `bucket`")
        }
        let top = try Fields(node, path: "", allowed: topLevelFields)

        let endpoint = try top.string("endpoint").map { try parseEndpoint($0, line: top.line(of: "endpoint")) }
        let provider: PluginConfiguration.Provider
        if let p = try top.oneOf("provider", PluginConfiguration.Provider.self) {
            provider = p
        } else if top.has("root") {
            provider = .file
        } else if let endpoint {
            provider = endpoint.isAliyunOSS ? .oss : .s3
        } else {
            throw ConfigError("provider", "missing; say `provider: file` (with `root`), `s3` or `oss` (with `endpoint` and `bucket`)")
        }
        var c = PluginConfiguration(provider: provider)

        switch provider {
        case .file:
            for f in remoteOnly where top.has(f) {
                throw ConfigError(f, "not used by provider file (it stores objects under `root`)", line: top.line(of: f))
            }
            guard let root = try top.string("root") else {
                throw ConfigError("root", "missing; provider file needs an absolute directory, e.g. root: /data/artifacts")
            }
            guard root.hasPrefix("/") else {
                throw ConfigError("root", "must be an absolute path, got \(Echo.quoted(root))", line: top.line(of: "root"))
            }
            c.root = root
        case .s3, .oss:
            if top.has("root") {
                throw ConfigError("root", "only used by provider file", line: top.line(of: "root"))
            }
            guard let endpoint else { throw ConfigError("endpoint", "missing; provider \(provider) needs the store's endpoint") }
            c.endpoint = endpoint
            guard let bucket = try top.string("bucket"), !bucket.isEmpty else {
                throw ConfigError("bucket", "missing; provider \(provider) needs a bucket name")
            }
            try validateBucket(bucket, line: top.line(of: "bucket"))
            c.bucket = bucket
            c.region = try top.string("region")
            c.insecure = try top.bool("insecure")
            c.addressingStyle = try top.oneOf("addressingStyle", AddressingStyle.self)
            c.credentials.accessKeySecret = try top.secret("accessKeySecret")
            c.credentials.secretKeySecret = try top.secret("secretKeySecret")
            c.credentials.sessionTokenSecret = try top.secret("sessionTokenSecret")
            c.credentials.securityToken = try top.string("securityToken")
            c.credentials.useSDKCreds = try top.bool("useSDKCreds") ?? false
            c.credentials.roleARN = try top.string("roleARN")
            if (c.credentials.accessKeySecret == nil) != (c.credentials.secretKeySecret == nil) {
                let missing = c.credentials.accessKeySecret == nil ? "accessKeySecret" : "secretKeySecret"
                throw ConfigError(missing, "missing; accessKeySecret and secretKeySecret go together")
            }
            if c.credentials.accessKeySecret == nil && !c.credentials.useSDKCreds {
                throw ConfigError("accessKeySecret", "missing: no credentials configured; set accessKeySecret and secretKeySecret (Kubernetes Secret references), or useSDKCreds: true")
            }
            c.createBucketIfNotPresent = try top.boolOrObject("createBucketIfNotPresent", objectFields: ["objectLocking"])
            c.caSecret = try top.secret("caSecret")
            c.storageClass = try top.string("storageClass")
            if provider == .oss, let sc = c.storageClass {
                let classes = ["Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"]
                guard let canonical = classes.first(where: { $0.lowercased() == sc.lowercased() }) else {
                    throw ConfigError("storageClass", "must be one of \(classes.joined(separator: ", ")) for OSS; got \(Echo.quoted(sc))", line: top.line(of: "storageClass"))
                }
                c.storageClass = canonical
            }
            c.restoreArchived = try top.bool("restoreArchived") ?? false
            if top.has("encryptionOptions") {
                throw ConfigError("encryptionOptions", "server-side encryption options are not supported by this plugin yet; use the bucket's default encryption",
                                  line: top.line(of: "encryptionOptions"))
            }
            if let rule = try top.mapping("lifecycleRule", allowed: ["markInfrequentAccessAfterDays", "markDeletionAfterDays"]) {
                var l = LifecycleSettings()
                l.transitionAfterDays = try rule.int("markInfrequentAccessAfterDays", min: 0)
                l.expireAfterDays = try rule.int("markDeletionAfterDays", min: 0)
                if l.transitionAfterDays == 0 { l.transitionAfterDays = nil }
                if l.expireAfterDays == 0 { l.expireAfterDays = nil }
                // Argo reads 0 as "no rule"; both 0 is no lifecycle at all.
                c.lifecycle = l.hasAction ? l : nil
            }
            if let rule = try top.mapping("lifecycle", allowed: ["prefix", "expireAfterDays", "transitionAfterDays", "transitionStorageClass", "abortIncompleteUploadsAfterDays"]) {
                if c.lifecycle != nil { throw ConfigError("lifecycle", "give either lifecycleRule (Argo's form) or lifecycle, not both", line: rule.line) }
                var l = LifecycleSettings()
                l.prefix = try rule.string("prefix")
                l.expireAfterDays = try rule.int("expireAfterDays", min: 1)
                l.transitionAfterDays = try rule.int("transitionAfterDays", min: 0)
                l.transitionStorageClass = try rule.string("transitionStorageClass")
                l.abortIncompleteUploadsAfterDays = try rule.int("abortIncompleteUploadsAfterDays", min: 1)
                guard l.hasAction else {
                    throw ConfigError("lifecycle", "gives no rule; set expireAfterDays, transitionAfterDays or abortIncompleteUploadsAfterDays", line: rule.line)
                }
                c.lifecycle = l
            }
            if let l = c.lifecycle, let t = l.transitionAfterDays, let e = l.expireAfterDays, t >= e {
                throw ConfigError("lifecycle", "objects would expire (after \(e) days) before they move to \(l.transitionStorageClass ?? "infrequent access") (after \(t) days)")
            }
        }

        if let m = try top.mapping("multipart", allowed: ["threshold", "partSize", "concurrency", "memoryLimit", "checksum", "resume", "checkpointDir"]) {
            if let v = try m.size("threshold", min: 0) { c.multipart.threshold = v }
            if let v = try m.size("partSize", min: 100 << 10) { c.multipart.partSize = v }
            if let v = try m.int("concurrency", min: 1, max: 64) { c.multipart.concurrency = v }
            if let v = try m.size("memoryLimit", min: 1 << 20) { c.multipart.memoryLimit = v }
            if let v = try m.oneOf("checksum", MultipartSettings.ChecksumKind.self) {
                let allowed = MultipartSettings.ChecksumKind.allowed(for: provider)
                guard allowed.contains(v) else {
                    throw ConfigError("multipart.checksum", "\(v.rawValue) is not a check \(provider == .oss ? "OSS" : "an S3 store") verifies; use one of \(allowed.map(\.rawValue).joined(separator: ", "))",
                                      line: m.line(of: "checksum"))
                }
                c.multipart.checksum = v
            }
            if let v = try m.bool("resume") { c.multipart.resume = v }
            if let v = try m.string("checkpointDir") {
                guard v.hasPrefix("/") else { throw ConfigError("multipart.checkpointDir", "must be an absolute path, got \(Echo.quoted(v))", line: m.line(of: "checkpointDir")) }
                c.multipart.checkpointDir = v
            }
        }
        if let l = try top.mapping("load", allowed: ["partSize", "concurrency"]) {
            if let v = try l.size("partSize", min: 1 << 20) { c.load.partSize = v }
            if let v = try l.int("concurrency", min: 1, max: 64) { c.load.concurrency = v }
        }
        if let g = try top.mapping("gc", allowed: ["when", "onUnknown"]) {
            if let v = try g.oneOf("when", GCSettings.When.self) { c.gc.when = v }
            if let v = try g.oneOf("onUnknown", GCSettings.OnUnknown.self) { c.gc.onUnknown = v }
        }
        if let t = try top.mapping("timeouts", allowed: ["connect", "stall"]) {
            if let v = try t.duration("connect") { c.timeouts.connectSeconds = max(1, Int(v.components.seconds)) }
            if let v = try t.duration("stall") { c.timeouts.stallSeconds = max(1, Int(v.components.seconds)) }
        }
        if let r = try top.mapping("retry", allowed: ["attempts"]) {
            if let v = try r.int("attempts", min: 1, max: 20) { c.retry.attempts = v }
        }
        return c
    }

    /// A YAML error without the source text it quotes (which may hold an inline token).
    static func describe(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "\(problem) at line \(mark.line), column \(mark.column)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "fields given twice: \(duplicates.joined(separator: ", "))"
        default:
            return "cannot be read"
        }
    }

    static func parseEndpoint(_ raw: String, line: Int?) throws -> Endpoint {
        var s = Substring(raw.trimmedSpaces())
        var scheme: String?
        for p in ["http://", "https://"] where s.lowercased().hasPrefix(p) {
            scheme = String(p.dropLast(3))
            s = s.dropFirst(p.count)
        }
        if s.hasSuffix("/") { s = s.dropLast() }
        if s.contains("://") { throw ConfigError("endpoint", "scheme must be http:// or https://, got \(Echo.quoted(raw))", line: line) }
        if s.contains("/") { throw ConfigError("endpoint", "must be host[:port] without a path, got \(Echo.quoted(raw))", line: line) }
        guard !s.isEmpty else { throw ConfigError("endpoint", "is empty", line: line) }
        var host = String(s)
        var port: Int?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw ConfigError("endpoint", "unterminated IPv6 address in \(Echo.quoted(raw))", line: line) }
            let rest = host[host.index(after: close)...]
            if rest.hasPrefix(":") { port = Int(rest.dropFirst()) ; if port == nil { throw ConfigError("endpoint", "bad port in \(Echo.quoted(raw))", line: line) } }
            host = String(host[...close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), p > 0, p < 65536 else {
                throw ConfigError("endpoint", "bad port in \(Echo.quoted(raw))", line: line)
            }
            port = p
            host = String(host[..<colon])
        }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || "-._[]:".contains($0) }) else {
            throw ConfigError("endpoint", "\(Echo.quoted(host)) is not a host name", line: line)
        }
        return Endpoint(scheme: scheme, host: host.lowercased(), port: port)
    }

    static func validateBucket(_ b: String, line: Int?) throws {
        guard b.count >= 3, b.count <= 63,
              b.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }),
              b.first != "-", b.last != "-" else {
            throw ConfigError("bucket", "\(Echo.quoted(b)) is not a valid bucket name (3-63 characters: lowercase letters, digits, '-' and '.')", line: line)
        }
    }
}

/// One YAML mapping being read: checks field names up front, then typed accessors.
struct Fields {
    let path: String
    let line: Int?
    private var values: [String: Node] = [:]

    init(_ node: Node, path: String, allowed: [String]) throws {
        self.path = path
        line = node.mark.map { $0.line }
        guard let mapping = node.mapping else {
            throw ConfigError(path, "expected a mapping of fields, got \(Fields.kind(node))", line: line)
        }
        for (k, v) in mapping {
            guard let name = k.string else { throw ConfigError(path, "field names must be strings", line: k.mark?.line) }
            guard allowed.contains(name) else {
                let hint = Fields.closest(name, in: allowed).map { "; did you mean '\($0)'?" } ?? "; known fields: \(allowed.joined(separator: ", "))"
                throw ConfigError(Fields.join(path, name), "unknown field\(hint)", line: k.mark?.line)
            }
            guard values[name] == nil else { throw ConfigError(Fields.join(path, name), "given twice", line: k.mark?.line) }
            if case .scalar(let s) = v, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { continue }
            values[name] = v
        }
    }

    static func join(_ a: String, _ b: String) -> String { a.isEmpty ? Echo.clip(b, limit: 128) : a + "." + Echo.clip(b, limit: 128) }
    func has(_ name: String) -> Bool { values[name] != nil }
    func line(of name: String) -> Int? { values[name]?.mark?.line }

    private func scalar(_ name: String) throws -> String? {
        guard let v = values[name] else { return nil }
        guard case .scalar(let s) = v else {
            throw ConfigError(Fields.join(path, name), "expected a single value, got \(Fields.kind(v))", line: v.mark?.line)
        }
        return s.string
    }

    func string(_ name: String) throws -> String? { try scalar(name) }

    func bool(_ name: String) throws -> Bool? {
        guard let s = try scalar(name) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigError(Fields.join(path, name), "expected true or false, got \(Echo.quoted(s))", line: line(of: name))
        }
    }

    func int(_ name: String, min: Int? = nil, max: Int? = nil) throws -> Int? {
        guard let s = try scalar(name) else { return nil }
        guard let v = Int(s) else { throw ConfigError(Fields.join(path, name), "expected a whole number, got \(Echo.quoted(s))", line: line(of: name)) }
        if let min, v < min { throw ConfigError(Fields.join(path, name), "must be at least \(min), got \(v)", line: line(of: name)) }
        if let max, v > max { throw ConfigError(Fields.join(path, name), "must be at most \(max), got \(v)", line: line(of: name)) }
        return v
    }

    func size(_ name: String, min: Int64? = nil) throws -> Int64? {
        guard let s = try scalar(name) else { return nil }
        guard let v = Quantities.parseSize(s) else {
            throw ConfigError(Fields.join(path, name), "expected a size in bytes or with a unit (e.g. 16Mi, 1Gi), got \(Echo.quoted(s))", line: line(of: name))
        }
        if let min, v < min {
            throw ConfigError(Fields.join(path, name), "must be at least \(Quantities.formatBytes(min)), got \(Quantities.formatBytes(v))", line: line(of: name))
        }
        return v
    }

    func duration(_ name: String) throws -> Duration? {
        guard let s = try scalar(name) else { return nil }
        guard let d = Quantities.parseDuration(s), d > .zero else {
            throw ConfigError(Fields.join(path, name), "expected a duration such as 30s, 5m or 24h, got \(Echo.quoted(s))", line: line(of: name))
        }
        return d
    }

    func oneOf<E: RawRepresentable & CaseIterable>(_ name: String, _: E.Type) throws -> E? where E.RawValue == String {
        guard let s = try scalar(name) else { return nil }
        if let e = E(rawValue: s) ?? E.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) { return e }
        let choices = E.allCases.map(\.rawValue).joined(separator: ", ")
        throw ConfigError(Fields.join(path, name), "must be one of \(choices); got \(Echo.quoted(s))", line: line(of: name))
    }

    func mapping(_ name: String, allowed: [String]) throws -> Fields? {
        guard let v = values[name] else { return nil }
        return try Fields(v, path: Fields.join(path, name), allowed: allowed)
    }

    func secret(_ name: String) throws -> SecretReference? {
        guard let m = try mapping(name, allowed: ["name", "key", "optional"]) else { return nil }
        guard let n = try m.string("name"), !n.isEmpty else { throw ConfigError(Fields.join(path, name) + ".name", "missing; the Secret's name", line: m.line) }
        guard let k = try m.string("key"), !k.isEmpty else { throw ConfigError(Fields.join(path, name) + ".key", "missing; the key inside Secret \(n)", line: m.line) }
        return SecretReference(name: n, key: k, optional: try m.bool("optional") ?? false)
    }

    /// Argo's S3 type has `createBucketIfNotPresent: {objectLocking: bool}`, its OSS type a bool.
    func boolOrObject(_ name: String, objectFields: [String]) throws -> Bool {
        guard let v = values[name] else { return false }
        if case .mapping = v {
            _ = try Fields(v, path: Fields.join(path, name), allowed: objectFields)
            return true
        }
        return try bool(name) ?? false
    }

    static func kind(_ n: Node) -> String {
        switch n {
        case .scalar: return "a single value"   // never the value itself: it may be a secret
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The known field nearest to a misspelt one (edit distance ≤ 3, or same letters ignoring case).
    static func closest(_ name: String, in known: [String]) -> String? {
        guard name.count <= 64 else { return nil }   // a typo is short; an essay is not worth comparing
        let scored = known.map { ($0, distance(name.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= Swift.max(1, Swift.min(3, name.count / 3)) else { return nil }
        return best.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}
