import Checksums
import PluginSupport

/// AWS Signature Version 4 for S3 (HMAC-SHA256 and SHA-256 from OpenSSL).
public struct SigV4Signer: Sendable {
    public var region: String
    public var service = "s3"

    public init(region: String, service: String = "s3") {
        self.region = region
        self.service = service
    }

    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = Digest.sha256([UInt8]()).hex

    /// The request to sign: path already in its wire form (segments percent-encoded).
    public struct Request: Sendable {
        public var method: String
        public var encodedPath: String
        public var query: [(String, String)]
        public var headers: [(String, String)]
        public init(method: String, encodedPath: String, query: [(String, String)], headers: [(String, String)]) {
            self.method = method
            self.encodedPath = encodedPath
            self.query = query
            self.headers = headers
        }
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256`, the session token and `Authorization`.
    /// `date` is seconds since 1970 (the caller's clock, fixed in tests).
    public func sign(_ r: inout Request, credentials: Credentials, payloadHash: String, date: Int64) {
        let (amzDate, day) = Self.timestamps(date)
        r.headers.removeAll { ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].contains($0.0.lowercased()) }
        r.headers.append(("x-amz-date", amzDate))
        r.headers.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { r.headers.append(("x-amz-security-token", token)) }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(r.headers)
        let canonical = [r.method, r.encodedPath, URIEncoding.canonicalQuery(r.query), canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Digest.sha256(Array(canonical.utf8)).hex)"
        let signature = Digest.hmacSHA256(key: signingKey(credentials.secretAccessKey, day: day), Array(toSign.utf8)).hex
        r.headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
    }

    func signingKey(_ secret: String, day: String) -> [UInt8] {
        var k = Digest.hmacSHA256(key: Array(("AWS4" + secret).utf8), Array(day.utf8))
        k = Digest.hmacSHA256(key: k, Array(region.utf8))
        k = Digest.hmacSHA256(key: k, Array(service.utf8))
        return Digest.hmacSHA256(key: k, Array("aws4_request".utf8))
    }

    /// Lowercase names, values trimmed with inner runs of spaces folded, sorted by name;
    /// repeated names joined with commas.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (n, v) in headers {
            let name = n.lowercased()
            if name == "authorization" { continue }
            var folded = ""
            var lastSpace = false
            for ch in v.trimmedSpaces() {
                if ch == " " || ch == "\t" {
                    if !lastSpace { folded.append(" ") }
                    lastSpace = true
                } else {
                    folded.append(ch)
                    lastSpace = false
                }
            }
            merged[name, default: []].append(folded)
        }
        let names = merged.keys.sorted()
        let canonical = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    /// (`20261129T140000Z`, `20261129`)
    static func timestamps(_ date: Int64) -> (String, String) {
        let t = HTTPDate.components(date)
        let day = String(t.year).leftPadded(to: 4) + String(t.month).leftPadded(to: 2) + String(t.day).leftPadded(to: 2)
        let time = String(t.hour).leftPadded(to: 2) + String(t.minute).leftPadded(to: 2) + String(t.second).leftPadded(to: 2)
        return (day + "T" + time + "Z", day)
    }
}
