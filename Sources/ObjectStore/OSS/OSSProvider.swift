import ArtifactCore
import PluginSupport
import StoreRuntime

/// Alibaba Cloud OSS: its own configuration fields and its factory.
public struct OSSProvider: StoreProvider {
    public init() {}

    public let name = "oss"
    public let isRemote = true
    public let summary = "stores objects in an OSS bucket"
    public let fields = ["securityToken"]
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
        return OSSSettings(securityToken: try fields.string("securityToken"))
    }

    public func makeStore(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        guard let region = c.region ?? Self.regionFromEndpoint(c.endpoint!.host) else {
            throw ConfigError("region", "cannot be derived from endpoint \(c.endpoint!); set it (e.g. region: cn-hangzhou)")
        }
        return ObjectStore(configuration: c, dialect: OSSDialect(region: region),
                           credentials: try OSSCredentials.provider(c, settings: c.storeSettings(OSSSettings.self) ?? OSSSettings(),
                                                                    environment: environment),
                           environment: environment)
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

    public init(securityToken: String? = nil) {
        self.securityToken = securityToken
    }

    public var yamlFields: [(String, String?)] { [("securityToken", securityToken.map { _ in "<hidden>" })] }
}
