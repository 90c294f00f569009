import PluginSupport
import Yams

/// Reads `plugin.configuration` (YAML) strictly: every field is known, typed and checked, and
/// an error names the field, the line and the reason. A typo is an error, not a silent default.
/// The parser reads the fields every store shares; each store module (`StoreSchema`) reads its own.
public struct ConfigParser: Sendable {
    /// The store modules, in the order they are asked to claim a configuration without `provider`.
    public let schemas: [any StoreSchema]

    public init(_ schemas: [any StoreSchema]) {
        self.schemas = schemas
    }

    static let commonFields = ["provider", "multipart", "load", "gc", "retry", "timeouts"]
    static let remoteFields = ["endpoint", "bucket", "region", "insecure", "addressingStyle",
                               "accessKeySecret", "secretKeySecret", "sessionTokenSecret", "useSDKCreds",
                               "createBucketIfNotPresent", "caSecret", "storageClass", "restoreArchived",
                               "lifecycleRule", "lifecycle"]

    /// Fields of Argo's artifact types that a plugin configuration does not hold: moved over with
    /// an `s3:` or `oss:` block, they are named with where they belong.
    static let elsewhere = [
        "key": "the object key is the artifact's `plugin.key`, not part of the configuration",
        "keyFormat": "belongs to the artifact repository (`artifactRepository.plugin.keyFormat`), not to the plugin's configuration",
        "keyPrefix": "belongs to the artifact repository (deprecated there too: use keyFormat), not to the plugin's configuration",
    ]

    var names: String { schemas.map(\.name).joined(separator: ", ") }

    public func parse(_ text: String) throws -> PluginConfiguration {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw ConfigError("", "not valid YAML: \(Self.describe(e))")
        }
        guard let node else {
            throw ConfigError("", "empty; set at least `provider` (one of \(names)) and its fields")
        }
        var known = Self.commonFields + Self.remoteFields
        for s in schemas { known += s.fields.filter { !known.contains($0) } }
        let top = try ConfigFields(node, path: "", allowed: known + Self.elsewhere.keys)
        for (field, why) in Self.elsewhere where top.has(field) {
            throw ConfigError(field, why, line: top.line(of: field))
        }

        let endpoint = try top.string("endpoint").map { try Self.parseEndpoint($0, line: top.line(of: "endpoint")) }
        let schema: any StoreSchema
        if let name = try top.string("provider") {
            guard let s = schemas.first(where: { $0.name == name }) ?? schemas.first(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw ConfigError("provider", "must be one of \(names); got \(Echo.quoted(name))", line: top.line(of: "provider"))
            }
            schema = s
        } else if let s = schemas.first(where: { $0.claims(top, endpoint: endpoint) }) {
            schema = s
        } else {
            throw ConfigError("provider", "missing; say which store: one of \(names)")
        }
        for other in schemas where other.name != schema.name {
            for f in other.fields where !schema.fields.contains(f) && top.has(f) {
                let users = schemas.filter { $0.fields.contains(f) }.map(\.name)
                throw ConfigError(f, "only used by provider\(users.count > 1 ? "s" : "") \(users.joined(separator: ", "))", line: top.line(of: f))
            }
        }
        var c = PluginConfiguration(provider: schema.name)
        if schema.isRemote {
            try Self.parseRemote(top, endpoint: endpoint, into: &c)
        } else {
            for f in Self.remoteFields where top.has(f) {
                throw ConfigError(f, "not used by provider \(schema.name) (it \(schema.summary))", line: top.line(of: f))
            }
        }
        c.store = AnyStoreSettings(try schema.parse(top, into: &c))
        try Self.parseTransfers(top, schema: schema, into: &c)
        return c
    }

    /// The fields every store reached over the network shares.
    static func parseRemote(_ top: ConfigFields, endpoint: Endpoint?, into c: inout PluginConfiguration) throws {
        guard let endpoint else { throw ConfigError("endpoint", "missing; provider \(c.provider) needs the store's endpoint") }
        c.endpoint = endpoint
        guard let bucket = try top.string("bucket"), !bucket.isEmpty else {
            throw ConfigError("bucket", "missing; provider \(c.provider) needs a bucket name")
        }
        try validateBucket(bucket, line: top.line(of: "bucket"))
        c.bucket = bucket
        c.region = try top.string("region")
        c.insecure = try top.bool("insecure")
        if let style = try top.string("addressingStyle"), !style.isEmpty {
            c.addressingStyle = try AddressingStyle.aliases[style.lowercased()] ?? top.oneOf("addressingStyle", AddressingStyle.self)
        }
        c.credentials.accessKeySecret = try top.secret("accessKeySecret")
        c.credentials.secretKeySecret = try top.secret("secretKeySecret")
        c.credentials.sessionTokenSecret = try top.secret("sessionTokenSecret")
        c.credentials.useSDKCreds = try top.bool("useSDKCreds") ?? false
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
        c.restoreArchived = try top.bool("restoreArchived") ?? false
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
            if top.has("lifecycleRule") { throw ConfigError("lifecycle", "give either lifecycleRule (Argo's form) or lifecycle, not both", line: rule.line) }
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

    /// How transfers are split, checked, retried and timed out: the same knobs for every store.
    static func parseTransfers(_ top: ConfigFields, schema: any StoreSchema, into c: inout PluginConfiguration) throws {
        if let m = try top.mapping("multipart", allowed: ["threshold", "partSize", "concurrency", "memoryLimit", "checksum", "resume", "checkpointDir"]) {
            if let v = try m.size("threshold", min: 0) { c.multipart.threshold = v }
            if let v = try m.size("partSize", min: 100 << 10) { c.multipart.partSize = v }
            if let v = try m.int("concurrency", min: 1, max: 64) { c.multipart.concurrency = v }
            if let v = try m.size("memoryLimit", min: 1 << 20) { c.multipart.memoryLimit = v }
            if let v = try m.oneOf("checksum", MultipartSettings.ChecksumKind.self) {
                guard schema.checksums.contains(v) else {
                    throw ConfigError("multipart.checksum", "\(v.rawValue) is not a check provider \(schema.name) verifies; use one of \(schema.checksums.map(\.rawValue).joined(separator: ", "))",
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

/// One YAML mapping being read: checks field names up front, then typed accessors that name
/// the field, its line and the reason in every error. Store modules read their fields with it.
public struct ConfigFields {
    public let path: String
    public let line: Int?
    private var values: [String: Node] = [:]

    init(_ node: Node, path: String, allowed: [String]) throws {
        self.path = path
        line = node.mark.map { $0.line }
        guard let mapping = node.mapping else {
            throw ConfigError(path, "expected a mapping of fields, got \(ConfigFields.kind(node))", line: line)
        }
        for (k, v) in mapping {
            guard let name = k.string else { throw ConfigError(path, "field names must be strings", line: k.mark?.line) }
            guard allowed.contains(name) else {
                let hint = ConfigFields.closest(name, in: allowed).map { "; did you mean '\($0)'?" } ?? "; known fields: \(allowed.joined(separator: ", "))"
                throw ConfigError(ConfigFields.join(path, name), "unknown field\(hint)", line: k.mark?.line)
            }
            guard values[name] == nil else { throw ConfigError(ConfigFields.join(path, name), "given twice", line: k.mark?.line) }
            if case .scalar(let s) = v, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { continue }
            values[name] = v
        }
    }

    /// A field's dotted path for errors (`multipart.partSize`), long names clipped.
    public static func join(_ a: String, _ b: String) -> String { a.isEmpty ? Echo.clip(b, limit: 128) : a + "." + Echo.clip(b, limit: 128) }
    public func has(_ name: String) -> Bool { values[name] != nil }
    /// The field is given as a mapping (`{…}`), not a single value.
    public func isMapping(_ name: String) -> Bool {
        if case .mapping = values[name] { return true }
        return false
    }
    public func line(of name: String) -> Int? { values[name]?.mark?.line }

    private func scalar(_ name: String) throws -> String? {
        guard let v = values[name] else { return nil }
        guard case .scalar(let s) = v else {
            throw ConfigError(ConfigFields.join(path, name), "expected a single value, got \(ConfigFields.kind(v))", line: v.mark?.line)
        }
        return s.string
    }

    public func string(_ name: String) throws -> String? { try scalar(name) }

    public func bool(_ name: String) throws -> Bool? {
        guard let s = try scalar(name) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigError(ConfigFields.join(path, name), "expected true or false, got \(Echo.quoted(s))", line: line(of: name))
        }
    }

    public func int(_ name: String, min: Int? = nil, max: Int? = nil) throws -> Int? {
        guard let s = try scalar(name) else { return nil }
        guard let v = Int(s) else { throw ConfigError(ConfigFields.join(path, name), "expected a whole number, got \(Echo.quoted(s))", line: line(of: name)) }
        if let min, v < min { throw ConfigError(ConfigFields.join(path, name), "must be at least \(min), got \(v)", line: line(of: name)) }
        if let max, v > max { throw ConfigError(ConfigFields.join(path, name), "must be at most \(max), got \(v)", line: line(of: name)) }
        return v
    }

    public func size(_ name: String, min: Int64? = nil) throws -> Int64? {
        guard let s = try scalar(name) else { return nil }
        guard let v = Quantities.parseSize(s) else {
            throw ConfigError(ConfigFields.join(path, name), "expected a size in bytes or with a unit (e.g. 16Mi, 1Gi), got \(Echo.quoted(s))", line: line(of: name))
        }
        if let min, v < min {
            throw ConfigError(ConfigFields.join(path, name), "must be at least \(Quantities.formatBytes(min)), got \(Quantities.formatBytes(v))", line: line(of: name))
        }
        return v
    }

    public func duration(_ name: String) throws -> Duration? {
        guard let s = try scalar(name) else { return nil }
        guard let d = Quantities.parseDuration(s), d > .zero else {
            throw ConfigError(ConfigFields.join(path, name), "expected a duration such as 30s, 5m or 24h, got \(Echo.quoted(s))", line: line(of: name))
        }
        return d
    }

    public func oneOf<E: RawRepresentable & CaseIterable>(_ name: String, _: E.Type) throws -> E? where E.RawValue == String {
        guard let s = try scalar(name) else { return nil }
        if let e = E(rawValue: s) ?? E.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) { return e }
        let choices = E.allCases.map(\.rawValue).joined(separator: ", ")
        throw ConfigError(ConfigFields.join(path, name), "must be one of \(choices); got \(Echo.quoted(s))", line: line(of: name))
    }

    public func mapping(_ name: String, allowed: [String]) throws -> ConfigFields? {
        guard let v = values[name] else { return nil }
        return try ConfigFields(v, path: ConfigFields.join(path, name), allowed: allowed)
    }

    public func secret(_ name: String) throws -> SecretReference? {
        guard let m = try mapping(name, allowed: ["name", "key", "optional"]) else { return nil }
        guard let n = try m.string("name"), !n.isEmpty else { throw ConfigError(ConfigFields.join(path, name) + ".name", "missing; the Secret's name", line: m.line) }
        guard let k = try m.string("key"), !k.isEmpty else { throw ConfigError(ConfigFields.join(path, name) + ".key", "missing; the key inside Secret \(n)", line: m.line) }
        return SecretReference(name: n, key: k, optional: try m.bool("optional") ?? false)
    }

    /// Argo's S3 type has `createBucketIfNotPresent: {objectLocking: bool}`, its OSS type a bool.
    public func boolOrObject(_ name: String, objectFields: [String]) throws -> Bool {
        guard let v = values[name] else { return false }
        if case .mapping = v {
            _ = try ConfigFields(v, path: ConfigFields.join(path, name), allowed: objectFields)
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
