import ArtifactCore
import StoreRuntime

/// Any S3-compatible store: its own configuration fields and its factory.
public struct S3Provider: StoreProvider {
    public init() {}

    public let name = "s3"
    public let isRemote = true
    public let summary = "stores objects in an S3 bucket"
    public let fields = ["roleARN", "encryptionOptions"]
    public let checksums: [MultipartSettings.ChecksumKind] = [.auto, .md5, .sha256, .crc32, .crc32c, .none]

    /// Any endpoint another provider did not claim first.
    public func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool { endpoint != nil }

    public func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        if fields.has("encryptionOptions") {
            throw ConfigError("encryptionOptions", "server-side encryption options are not supported by this plugin yet; use the bucket's default encryption",
                              line: fields.line(of: "encryptionOptions"))
        }
        return S3Settings(roleARN: try fields.string("roleARN"))
    }

    public func makeStore(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        let region = c.region ?? Self.regionFromEndpoint(c.endpoint!.host) ?? "us-east-1"
        return ObjectStore(configuration: c, dialect: S3Dialect(region: region),
                           credentials: try S3Credentials.provider(c, settings: c.storeSettings(S3Settings.self) ?? S3Settings(),
                                                                   environment: environment),
                           environment: environment)
    }

    /// `s3.us-west-2.amazonaws.com`, `s3-us-west-2.amazonaws.com`, `bucket.s3.eu-central-1.amazonaws.com`.
    public static func regionFromEndpoint(_ host: String) -> String? {
        guard host.hasSuffix(".amazonaws.com") || host.hasSuffix(".amazonaws.com.cn") else { return nil }
        let parts = host.split(separator: ".")
        for (i, p) in parts.enumerated() {
            if p.hasPrefix("s3-") { return String(p.dropFirst(3)) }
            if p == "s3", i + 1 < parts.count, parts[i + 1] != "amazonaws", parts[i + 1] != "dualstack" { return String(parts[i + 1]) }
        }
        return nil
    }
}

/// The S3 store's own settings.
public struct S3Settings: StoreSettings {
    /// The role to assume with the web-identity token (Argo's `roleARN`; overrides AWS_ROLE_ARN).
    public var roleARN: String?

    public init(roleARN: String? = nil) {
        self.roleARN = roleARN
    }

    public var yamlFields: [(String, String?)] { [("roleARN", roleARN.map(YAMLScalar.quote))] }
}
