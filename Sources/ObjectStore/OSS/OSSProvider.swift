import ArtifactCore
import PluginSupport
import StoreRuntime

/// Alibaba Cloud OSS: its own configuration fields and its factory.
public struct OSSProvider: StoreProvider {
    public init() {}

    public let name = "oss"
    public let isRemote = true
    public let summary = "stores objects in an OSS bucket"
    public let fields = ["securityToken", "encryptionOptions"]
    public let checksums: [MultipartSettings.ChecksumKind] = [.auto, .md5, .crc64, .none]
    static let storageClasses = ["Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"]

    /// An `*.aliyuncs.com` endpoint.
    public func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool {
        endpoint?.host.hasSuffix(".aliyuncs.com") ?? false
    }

    public func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        if let sc = c.storageClass {
            guard let canonical = Self.storageClasses.first(where: { $0.lowercased() == sc.lowercased() }) else {
                throw ConfigError("storageClass", "must be one of \(Self.storageClasses.joined(separator: ", ")) for OSS; got \(Echo.quoted(sc))",
                                  line: fields.line(of: "storageClass"))
            }
            c.storageClass = canonical
        }
        if fields.isMapping("createBucketIfNotPresent") {
            throw ConfigError("createBucketIfNotPresent", "takes true or false for OSS (Argo's OSS type is a bool; objectLocking is S3's)",
                              line: fields.line(of: "createBucketIfNotPresent"))
        }
        var s = OSSSettings(securityToken: try fields.string("securityToken"))
        if let e = try fields.mapping("encryptionOptions", allowed: ["enableEncryption", "kmsKeyId", "kmsEncryptionContext", "serverSideCustomerKeySecret"]) {
            for unsupported in ["kmsEncryptionContext", "serverSideCustomerKeySecret"] where e.has(unsupported) {
                throw ConfigError("encryptionOptions.\(unsupported)", "OSS has no such encryption option (it takes enableEncryption and kmsKeyId)",
                                  line: e.line(of: unsupported))
            }
            let enabled = try e.bool("enableEncryption") ?? false
            let keyID = try e.string("kmsKeyId").flatMap { $0.isEmpty ? nil : $0 }
            s.encryption = OSSEncryption(enabled: enabled, kmsKeyID: keyID)
        }
        return s
    }

    public func makeStore(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        guard let region = c.region ?? Self.regionFromEndpoint(c.endpoint!.host) else {
            throw ConfigError("region", "cannot be derived from endpoint \(c.endpoint!); set it (e.g. region: cn-hangzhou)")
        }
        let settings = c.storeSettings(OSSSettings.self) ?? OSSSettings()
        var encryption: (any ServerSideEncryption)?
        if let e = settings.encryption {
            if e.enabled {
                encryption = e
            } else if e.kmsKeyID != nil {
                Log.store.warning("encryptionOptions of bucket \(c.bucket!) name a KMS key but not enableEncryption: true; nothing is encrypted")
            }
        }
        return ObjectStore(configuration: c, dialect: OSSDialect(region: region),
                           credentials: try OSSCredentials.provider(c, settings: settings, environment: environment),
                           encryption: encryption, environment: environment)
    }

    /// `oss-cn-hangzhou.aliyuncs.com`, `oss-cn-hangzhou-internal.aliyuncs.com`,
    /// `cn-hangzhou.oss.aliyuncs.com`; accelerate and custom domains name no region.
    public static func regionFromEndpoint(_ host: String) -> String? {
        guard host.hasSuffix(".aliyuncs.com") else { return nil }
        let first = host.split(separator: ".")[0]
        if first.hasPrefix("oss-") {
            var r = String(first.dropFirst(4))
            if r.hasSuffix("-internal") { r.removeLast("-internal".count) }
            return r.hasPrefix("accelerate") ? nil : r
        }
        let parts = host.split(separator: ".")
        if parts.count >= 4, parts[1] == "oss" { return String(parts[0]) }
        return nil
    }
}

/// The OSS store's own settings.
public struct OSSSettings: StoreSettings {
    /// An STS token given inline (Argo's OSS `securityToken`): printed only as `<hidden>`.
    public var securityToken: String?
    /// `encryptionOptions` (this plugin's; Argo's OSS type has none), in S3's spelling.
    public var encryption: OSSEncryption?

    public init(securityToken: String? = nil, encryption: OSSEncryption? = nil) {
        self.securityToken = securityToken
        self.encryption = encryption
    }

    public var yamlFields: [(String, String?)] {
        [("securityToken", securityToken.map { _ in "<hidden>" }),
         ("encryptionOptions", encryption.map { e in
             "{enableEncryption: \(e.enabled)" + (e.kmsKeyID.map { ", kmsKeyId: \(YAMLScalar.quote($0))" } ?? "") + "}" })]
    }
}
