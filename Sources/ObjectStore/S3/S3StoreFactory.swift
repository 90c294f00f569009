import ArtifactCore
import Foundation

/// An S3 configuration → its store.
public enum S3StoreFactory {
    public static func make(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> ObjectStore {
        let region = c.region ?? regionFromEndpoint(c.endpoint!.host) ?? "us-east-1"
        return ObjectStore(configuration: c, dialect: S3Dialect(region: region),
                           credentials: try S3Credentials.provider(c, environment: environment),
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
