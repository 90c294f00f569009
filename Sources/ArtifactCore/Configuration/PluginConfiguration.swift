/// `plugin.configuration`, parsed. Field names follow Argo's own `s3:` and `oss:` artifact
/// types so an existing block can move under `plugin.configuration` unchanged; our additions
/// (`provider`, `multipart`, `load`, `lifecycle`, `gc`, `retry`) say what they do. These are the
/// fields every store shares; a store module's own fields are in `store` (see `StoreSchema`).
public struct PluginConfiguration: Sendable, Hashable {
    /// The store module's `provider:` name.
    public var provider: String
    /// The store module's own settings.
    public var store: AnyStoreSettings

    // remote stores
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

    public init(provider: String, store: any StoreSettings = NoStoreSettings()) {
        self.provider = provider
        self.store = AnyStoreSettings(store)
    }

    /// The store module's own settings, as its type.
    public func storeSettings<S: StoreSettings>(_: S.Type) -> S? { store.base as? S }
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
    /// Credentials from the environment, then the cloud's workload identity.
    public var useSDKCreds = false
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

    /// The machine itself (localhost, 127.0.0.0/8, ::1): nothing crosses a network.
    public var isLoopback: Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil } && parts[0] == "127"
    }

    /// `host` is an IP address or localhost: buckets go in the path, not the host name.
    public var isIPOrLocalhost: Bool {
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        if host.hasPrefix("[") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

/// Argo's spellings (`S3Bucket.addressingStyle`: "", `path`, `virtual-hosted`); "" (and no
/// field) is nil, the choice by endpoint.
public enum AddressingStyle: String, Sendable, Hashable, CaseIterable {
    case path
    case virtual = "virtual-hosted"

    /// `virtual`, this plugin's earlier spelling, is read as `virtual-hosted`.
    public static let aliases = ["virtual": AddressingStyle.virtual]
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
    /// Which of these a store takes, and how it sends each, is its module's business.
    public enum ChecksumKind: String, Sendable, Hashable, CaseIterable {
        /// The cheapest check the store enforces (its module says how that is found).
        case auto
        /// MD5 of every request's body (Content-MD5), and the ETag compared.
        case md5
        /// The payload's SHA-256, signed with the request; the store recomputes it.
        case sha256
        /// A CRC-32 of every part, sent for the store to check.
        case crc32
        /// A CRC-32C of every part, sent for the store to check.
        case crc32c
        /// A CRC-64 of every part and of the object, compared with the store's answer.
        case crc64
        case none
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
