import PluginSupport

/// The parsed configuration written back as YAML, every default filled in: what
/// `argo-artifact-plugin config check` prints. It parses back to the same configuration, except
/// that a secret written inline is shown only as `<hidden>` (the store module hides it), and
/// Secret references as their `{name, key}`.
extension PluginConfiguration {
    public var yamlDescription: String {
        var out: [String] = ["provider: \(YAMLScalar.quote(provider))"]
        func line(_ name: String, _ value: String?) { if let value { out.append("\(name): \(value)") } }
        func mapping(_ name: String, _ fields: [(String, String?)]) {
            let present = fields.compactMap { f in f.1.map { "  \(f.0): \($0)" } }
            guard !present.isEmpty else { return }
            out.append("\(name):")
            out += present
        }
        if let endpoint {
            line("endpoint", YAMLScalar.quote(endpoint.description))
            line("bucket", bucket.map(YAMLScalar.quote))
            line("region", region.map(YAMLScalar.quote))
            line("insecure", insecure.map(String.init))
            line("addressingStyle", addressingStyle?.rawValue)
            line("accessKeySecret", credentials.accessKeySecret?.yaml)
            line("secretKeySecret", credentials.secretKeySecret?.yaml)
            line("sessionTokenSecret", credentials.sessionTokenSecret?.yaml)
            line("useSDKCreds", String(credentials.useSDKCreds))
            line("createBucketIfNotPresent", String(createBucketIfNotPresent))
            line("caSecret", caSecret?.yaml)
            line("storageClass", storageClass.map(YAMLScalar.quote))
            line("restoreArchived", String(restoreArchived))
            if let l = lifecycle {
                mapping("lifecycle", [("prefix", l.prefix.map(YAMLScalar.quote)),
                                      ("expireAfterDays", l.expireAfterDays.map(String.init)),
                                      ("transitionAfterDays", l.transitionAfterDays.map(String.init)),
                                      ("transitionStorageClass", l.transitionStorageClass.map(YAMLScalar.quote)),
                                      ("abortIncompleteUploadsAfterDays", l.abortIncompleteUploadsAfterDays.map(String.init))])
            }
        }
        // A store's field of the same name as a shared one says it in the store's own form.
        for (name, value) in store.base.yamlFields {
            guard let value else { continue }
            if let i = out.firstIndex(where: { $0.hasPrefix(name + ": ") }) { out[i] = "\(name): \(value)" } else { line(name, value) }
        }
        mapping("multipart", [("threshold", Quantities.formatSize(multipart.threshold)),
                              ("partSize", Quantities.formatSize(multipart.partSize)),
                              ("concurrency", String(multipart.concurrency)),
                              ("memoryLimit", Quantities.formatSize(multipart.memoryLimit)),
                              ("checksum", multipart.checksum.rawValue),
                              ("resume", String(multipart.resume)),
                              ("checkpointDir", multipart.checkpointDir.map(YAMLScalar.quote))])
        mapping("load", [("partSize", Quantities.formatSize(load.partSize)), ("concurrency", String(load.concurrency))])
        mapping("gc", [("when", gc.when.rawValue), ("onUnknown", gc.onUnknown.rawValue)])
        mapping("retry", [("attempts", String(retry.attempts))])
        mapping("timeouts", [("connect", "\(timeouts.connectSeconds)s"), ("stall", "\(timeouts.stallSeconds)s")])
        return out.joined(separator: "\n") + "\n"
    }
}

extension SecretReference {
    /// The reference as YAML flow mapping (never a Secret's value: only its name and key).
    public var yaml: String {
        "{name: \(YAMLScalar.quote(name)), key: \(YAMLScalar.quote(key))" + (optional ? ", optional: true}" : "}")
    }
}

/// Scalars written plain when YAML reads them back as the same string, double-quoted otherwise.
public enum YAMLScalar {
    static let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "~", ""]

    public static func quote(_ s: String) -> String {
        let plainSafe = s.unicodeScalars.allSatisfy { u in
            (u.value >= 0x30 && u.value <= 0x39) || (u.value >= 0x41 && u.value <= 0x5A) || (u.value >= 0x61 && u.value <= 0x7A)
                || "-_./:@+".unicodeScalars.contains(u)
        }
        let startsSafe = s.first.map { $0.isLetter || $0 == "/" || $0 == "." || $0 == "_" } ?? false
        if plainSafe, startsSafe, !reserved.contains(s.lowercased()), !s.contains(": "), !s.hasSuffix(":") { return s }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F { out += "\\x" + String(u.value, radix: 16).leftPadded(to: 2) }
                else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
