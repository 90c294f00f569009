import ArtifactCore
import Foundation

/// An OSS configuration → its store.
public enum OSSStoreFactory {
    public static func make(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> ObjectStore {
        guard let region = c.region ?? regionFromEndpoint(c.endpoint!.host) else {
            throw ConfigError("region", "cannot be derived from endpoint \(c.endpoint!); set it (e.g. region: cn-hangzhou)")
        }
        return ObjectStore(configuration: c, dialect: OSSDialect(region: region),
                           credentials: try OSSCredentials.provider(c, environment: environment),
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
