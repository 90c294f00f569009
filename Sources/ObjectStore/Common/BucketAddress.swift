import ArtifactCore
import PluginSupport

/// How requests reach a bucket: scheme, host and path, virtual-hosted or path-style.
public struct BucketAddress: Sendable, Hashable {
    public let scheme: String
    /// `endpoint[:port]` as configured (lowercase).
    public let endpointHost: String
    public let bucket: String
    public let pathStyle: Bool

    /// Cloud domains where buckets are addressed as `bucket.endpoint`.
    static let virtualHostedDomains = [".amazonaws.com", ".aliyuncs.com", ".amazonaws.com.cn", ".myqcloud.com", ".digitaloceanspaces.com", ".googleapis.com"]

    public init(endpoint: Endpoint, bucket: String, insecure: Bool?, style: AddressingStyle?) {
        scheme = endpoint.scheme ?? ((insecure ?? false) ? "http" : "https")
        var host = endpoint.host
        if let port = endpoint.port, !((scheme == "http" && port == 80) || (scheme == "https" && port == 443)) { host += ":\(port)" }
        endpointHost = host
        self.bucket = bucket
        switch style {
        case .path: pathStyle = true
        case .virtual: pathStyle = false
        case nil:
            // Virtual-hosted on the clouds' own domains (dotted names break TLS there, so those
            // stay path-style); path-style for IPs, localhost and private endpoints (MinIO, RGW).
            let cloud = Self.virtualHostedDomains.contains { endpoint.host.hasSuffix($0) }
            pathStyle = endpoint.isIPOrLocalhost || !cloud || (scheme == "https" && bucket.contains("."))
        }
    }

    public var host: String { pathStyle ? endpointHost : "\(bucket).\(endpointHost)" }

    /// Path-style wire path, for tests and oracles.
    public static func pathFor(bucket: String, key: String?) -> String {
        "/\(bucket)" + (key.map { "/" + URIEncoding.encode($0, keepSlash: true) } ?? "")
    }

    /// The wire path for a key (nil: the bucket itself).
    public func encodedPath(_ key: String?) -> String {
        let k = key.map { "/" + URIEncoding.encode($0, keepSlash: true) } ?? "/"
        return pathStyle ? "/\(bucket)" + (key == nil ? "" : k) : k
    }

    public func url(encodedPath: String, query: [(String, String)]) -> String {
        let q = query.isEmpty ? "" : "?" + query.map { $0.1.isEmpty && Self.valueless.contains($0.0) ? URIEncoding.encode($0.0) : "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        return "\(scheme)://\(host)\(encodedPath)\(q)"
    }

    /// Subresources written without `=` (`?uploads`, `?delete`).
    static let valueless: Set<String> = ["uploads", "delete", "lifecycle", "location", "acl", "restore", "versioning"]
}
