/// A request on its way to an object store, before signing.
public struct SignableRequest: Sendable {
    public var method: String
    /// `host[:port]` as sent in the Host header.
    public var host: String
    public var bucket: String
    public var key: String?
    /// The path as sent (`/bucket/key` path-style, `/key` virtual-hosted), segments encoded.
    public var encodedPath: String
    public var query: [(String, String)]
    public var headers: [(String, String)]
    /// Hex SHA-256 of the body, or nil to sign it as UNSIGNED-PAYLOAD.
    public var payloadHash: String?
}

/// What differs between S3 and OSS at the HTTP level: signing, header prefixes, error codes,
/// and limits. The operations and their XML are otherwise the same.
public protocol StoreDialect: Sendable {
    /// "S3" / "OSS", for messages.
    var name: String { get }
    /// URL scheme for locations in messages: `s3` / `oss`.
    var locationScheme: String { get }
    /// `x-amz-` / `x-oss-`.
    var headerPrefix: String { get }
    /// Smallest and largest part, most parts, largest single PUT.
    var limits: StoreLimits { get }
    func sign(_ request: inout SignableRequest, credentials: Credentials, date: Int64)
    /// Error codes worth another attempt.
    var transientErrorCodes: Set<String> { get }
    /// With `encoding-type=url`, the listing's continuation token comes URL-encoded too (OSS).
    var encodesListTokens: Bool { get }
}

extension StoreDialect {
    public var encodesListTokens: Bool { false }
}

public struct StoreLimits: Sendable {
    public var minPartSize: Int64
    public var maxPartSize: Int64
    public var maxParts: Int
    public var maxSinglePut: Int64
    public var maxObjectSize: Int64

    public static let s3 = StoreLimits(minPartSize: 5 << 20, maxPartSize: 5 << 30, maxParts: 10_000, maxSinglePut: 5 << 30, maxObjectSize: 5 << 40)
    public static let oss = StoreLimits(minPartSize: 100 << 10, maxPartSize: 5 << 30, maxParts: 10_000, maxSinglePut: 5 << 30, maxObjectSize: 48_800 << 30)
}

/// AWS S3 and compatible stores (RGW, MinIO, OSS's S3 endpoint): SigV4.
public struct S3Dialect: StoreDialect {
    public let region: String
    public var name: String { "S3" }
    public var locationScheme: String { "s3" }
    public var headerPrefix: String { "x-amz-" }
    public var limits: StoreLimits { .s3 }
    public var transientErrorCodes: Set<String> { ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed", "OperationAborted"] }

    public init(region: String) { self.region = region }

    public func sign(_ r: inout SignableRequest, credentials: Credentials, date: Int64) {
        var s = SigV4Signer.Request(method: r.method, encodedPath: r.encodedPath, query: r.query, headers: r.headers)
        SigV4Signer(region: region).sign(&s, credentials: credentials, payloadHash: r.payloadHash ?? SigV4Signer.unsignedPayload, date: date)
        r.headers = s.headers
    }
}
