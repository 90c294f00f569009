import Checksums
import PluginSupport

/// Alibaba Cloud OSS Signature V4 (`OSS4-HMAC-SHA256`, scope `date/region/oss/aliyun_v4_request`):
/// the canonical URI always names the bucket, x-oss-* and content headers are signed, the
/// payload is `UNSIGNED-PAYLOAD`.
public struct OSSV4Signer: Sendable {
    public var region: String
    public var product = "oss"

    public init(region: String) { self.region = region }

    public struct Request: Sendable {
        public var method: String
        public var bucket: String?
        public var key: String?
        /// Query parameters, raw (unencoded); a valueless parameter has an empty value.
        public var query: [(String, String)]
        public var headers: [(String, String)]
        /// Extra header names to sign besides the default set (lowercase).
        public var additionalHeaders: [String] = []
        public init(method: String, bucket: String?, key: String?, query: [(String, String)], headers: [(String, String)]) {
            self.method = method
            self.bucket = bucket
            self.key = key
            self.query = query
            self.headers = headers
        }
    }

    /// Adds `x-oss-date`, `Date`, `x-oss-content-sha256`, the security token and `Authorization`.
    public func sign(_ r: inout Request, credentials: Credentials, date: Int64) {
        let (stamp, day) = SigV4Signer.timestamps(date)
        r.headers.removeAll { ["authorization", "x-oss-date", "date", "x-oss-content-sha256", "x-oss-security-token"].contains($0.0.lowercased()) }
        r.headers.append(("x-oss-date", stamp))
        r.headers.append(("Date", HTTPDate.rfc1123(date)))
        if let token = credentials.sessionToken { r.headers.append(("x-oss-security-token", token)) }
        r.headers.append(("x-oss-content-sha256", "UNSIGNED-PAYLOAD"))

        var uri = "/"
        if let b = r.bucket { uri += b + "/" }
        if let k = r.key { uri += k }
        let canonicalURI = URIEncoding.encode(uri, keepSlash: true)
        var pairs: [(String, String)] = r.query.map { (URIEncoding.encode($0.0), URIEncoding.encode($0.1)) }
        pairs.sort { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let canonicalQuery = pairs.map { (p: (String, String)) -> String in p.1.isEmpty ? p.0 : p.0 + "=" + p.1 }.joined(separator: "&")
        let additional = Array(Set(r.additionalHeaders.map { $0.lowercased() }.filter { name in
            !Self.isDefaultSigned(name) && r.headers.contains { $0.0.lowercased() == name && !$0.1.isEmpty }
        })).sorted()
        let signed = r.headers.map { ($0.0.lowercased(), $0.1.trimmedSpaces()) }
            .filter { Self.isDefaultSigned($0.0) || additional.contains($0.0) }
            .sorted { $0.0 < $1.0 }
        let canonicalHeaders = signed.map { "\($0.0):\($0.1)\n" }.joined()
        let canonical = "\(r.method)\n\(canonicalURI)\n\(canonicalQuery)\n\(canonicalHeaders)\n\(additional.joined(separator: ";"))\nUNSIGNED-PAYLOAD"
        let scope = "\(day)/\(region)/\(product)/aliyun_v4_request"
        let toSign = "OSS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(Digest.sha256(Array(canonical.utf8)).hex)"
        var k = Digest.hmacSHA256(key: Array(("aliyun_v4" + credentials.secretAccessKey).utf8), Array(day.utf8))
        k = Digest.hmacSHA256(key: k, Array(region.utf8))
        k = Digest.hmacSHA256(key: k, Array(product.utf8))
        k = Digest.hmacSHA256(key: k, Array("aliyun_v4_request".utf8))
        let signature = Digest.hmacSHA256(key: k, Array(toSign.utf8)).hex
        var auth = "OSS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope)"
        if !additional.isEmpty { auth += ",AdditionalHeaders=\(additional.joined(separator: ";"))" }
        r.headers.append(("Authorization", auth + ",Signature=\(signature)"))
    }

    static func isDefaultSigned(_ lower: String) -> Bool {
        lower.hasPrefix("x-oss-") || lower == "content-type" || lower == "content-md5"
    }
}
