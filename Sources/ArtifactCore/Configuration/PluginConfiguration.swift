/// `plugin.configuration`, parsed. Field names follow Argo's own `s3:` and `oss:` artifact
/// types so an existing block can move under `plugin.configuration` unchanged; our additions
/// (`provider`, `root`, `multipart`, `load`, `lifecycle`, `gc`, `retry`) say what they do.
public struct PluginConfiguration: Sendable, Hashable {
    public enum Provider: String, Sendable, Hashable, CaseIterable {
        case file, s3, oss
    }

    public var provider: Provider

    // file
    /// Absolute directory that holds the objects of the `file` provider.
    public var root: String?

    // s3 and oss
    public var endpoint: Endpoint?
    public var bucket: String?
    public var region: String?
    public var insecure: Bool?
    public var addressingStyle: AddressingStyle?
    public var credentials = CredentialSettings()
    public var createBucketIfNotPresent = false
    public var caSecret: SecretReference?
    public var storageClass: String?
    public var restoreArchived = false

    public var multipart = MultipartSettings()
    public var load = LoadSettings()
    public var lifecycle: LifecycleSettings?
    public var gc = GCSettings()
    public var retry = RetrySettings()
    public var timeouts = TimeoutSettings()

    public init(provider: Provider) {
        self.provider = provider
    }
}

/// `{name, key}` of a Kubernetes Secret in the pod's namespace.
public struct SecretReference: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var key: String
    public var optional = false
    public init(name: String, key: String, optional: Bool = false) {
        self.name = name
        self.key = key
        self.optional = optional
    }
    public var description: String { "secret \(name)/\(key)" }
}

public struct CredentialSettings: Sendable, Hashable {
    public init() {}
    public var accessKeySecret: SecretReference?
    public var secretKeySecret: SecretReference?
    public var sessionTokenSecret: SecretReference?
    /// OSS: an STS token given inline (Argo's `securityToken`).
    public var securityToken: String?
    /// Credentials from the environment, then the cloud's workload identity.
    public var useSDKCreds = false
    /// S3: role to assume with the web-identity token (Argo's `roleARN`).
    public var roleARN: String?
}

/// A store endpoint as written (`host[:port]`, optionally with `http://` or `https://`).
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String?      // "http" / "https" when written, nil otherwise
    public var host: String
    public var port: Int?
    public init(scheme: String?, host: String, port: Int?) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }
    public var description: String { (scheme.map { "\($0)://" } ?? "") + host + (port.map { ":\($0)" } ?? "") }

    /// `host` is an IP address or localhost: buckets go in the path, not the host name.
    public var isIPOrLocalhost: Bool {
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        if host.hasPrefix("[") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    public var isAliyunOSS: Bool { host.hasSuffix(".aliyuncs.com") }
}

public enum AddressingStyle: String, Sendable, Hashable, CaseIterable {
    case path, virtual
}

/// How uploads are split (the transfer engine's knobs).
public struct MultipartSettings: Sendable, Hashable {
    public init() {}
    public var threshold: Int64 = 64 << 20
    public var partSize: Int64 = 16 << 20
    public var concurrency = 8
    public var memoryLimit: Int64 = 256 << 20
    public var checksum: ChecksumKind = .auto
    public var resume = true
    public var checkpointDir: String?

    /// How every part of an upload is verified. A check the store does not enforce is no check:
    /// `auto` uses only what the store verifies (or what its answer lets the plugin compare).
    public enum ChecksumKind: String, Sendable, Hashable, CaseIterable {
        /// The cheapest check the store enforces: on S3 stores learned once per store and
        /// process (CRC-32C, else signed SHA-256, else Content-MD5); on OSS, CRC-64 compared
        /// with the store's answer. Single PUTs keep Content-MD5, which every store enforces.
        case auto
        /// Content-MD5 on every request (and the ETag compared).
        case md5
        /// S3: the payload's SHA-256 signed (SigV4); the store recomputes it.
        case sha256
        /// S3: `x-amz-checksum-crc32`.
        case crc32
        /// S3: `x-amz-checksum-crc32c`.
        case crc32c
        /// OSS: CRC-64 of every part and of the object, compared with the store's answer.
        case crc64
        case none

        /// The settings a provider takes (the others name another store's check).
        public static func allowed(for provider: PluginConfiguration.Provider) -> [ChecksumKind] {
            switch provider {
            case .oss: return [.auto, .md5, .crc64, .none]
            case .s3: return [.auto, .md5, .sha256, .crc32, .crc32c, .none]
            case .file: return allCases
            }
        }
    }
}

/// How loads are split into ranged reads.
public struct LoadSettings: Sendable, Hashable {
    public init() {}
    public var partSize: Int64 = 16 << 20
    public var concurrency = 8
}

/// Lifecycle rule applied to the artifact's prefix on Save.
public struct LifecycleSettings: Sendable, Hashable {
    public init() {}
    /// Key prefix the rule covers; nil: the artifact key's first path segment (`wf-name/`).
    public var prefix: String?
    public var expireAfterDays: Int?
    public var transitionAfterDays: Int?
    public var transitionStorageClass: String?
    public var abortIncompleteUploadsAfterDays: Int?

    /// The rule does something (a prefix alone does not).
    public var hasAction: Bool { expireAfterDays != nil || transitionAfterDays != nil || abortIncompleteUploadsAfterDays != nil }
}

/// Which workflows' artifacts Delete really removes.
public struct GCSettings: Sendable, Hashable {
    public init() {}
    public enum When: String, Sendable, Hashable, CaseIterable {
        case always = "Always", succeeded = "Succeeded", failed = "Failed"
    }
    public enum OnUnknown: String, Sendable, Hashable, CaseIterable {
        case delete, keep
    }
    public var when: When = .always
    public var onUnknown: OnUnknown = .delete
}

/// Network timeouts toward the store.
public struct TimeoutSettings: Sendable, Hashable {
    public init() {}
    public var connectSeconds = 10
    /// A transfer moving less than 1 byte/s for this long is dead.
    public var stallSeconds = 30
}

public struct RetrySettings: Sendable, Hashable {
    public init() {}
    /// Total attempts of an idempotent request (1 = no retry).
    public var attempts = 5
}
