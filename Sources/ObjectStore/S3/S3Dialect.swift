import ArtifactCore
import PluginSupport
import Transfer

/// S3's error codes, typed (those the plugin acts on).
public enum S3ErrorCode: String, Sendable, CaseIterable {
    case noSuchKey = "NoSuchKey"
    case notFound = "NotFound"
    case noSuchBucket = "NoSuchBucket"
    case noSuchUpload = "NoSuchUpload"
    case accessDenied = "AccessDenied"
    case forbidden = "Forbidden"
    case invalidAccessKeyID = "InvalidAccessKeyId"
    case signatureDoesNotMatch = "SignatureDoesNotMatch"
    case expiredToken = "ExpiredToken"
    case invalidToken = "InvalidToken"
    case badDigest = "BadDigest"
    case invalidDigest = "InvalidDigest"
    case xAmzContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
    case preconditionFailed = "PreconditionFailed"
    case invalidObjectState = "InvalidObjectState"
    case slowDown = "SlowDown"
    case requestTimeout = "RequestTimeout"
    case internalError = "InternalError"
    case serviceUnavailable = "ServiceUnavailable"
    case requestTimeTooSkewed = "RequestTimeTooSkewed"
    case operationAborted = "OperationAborted"

    public var kind: StoreErrorKind {
        switch self {
        case .noSuchKey, .notFound: return .noSuchKey
        case .noSuchBucket: return .noSuchBucket
        case .noSuchUpload: return .noSuchUpload
        case .accessDenied, .forbidden: return .accessDenied
        case .invalidAccessKeyID, .signatureDoesNotMatch, .expiredToken, .invalidToken: return .credentialsRejected
        case .badDigest, .invalidDigest, .xAmzContentSHA256Mismatch: return .badDigest
        case .preconditionFailed: return .preconditionFailed
        case .invalidObjectState: return .archived
        case .slowDown: return .throttled
        case .requestTimeout, .internalError, .serviceUnavailable, .requestTimeTooSkewed, .operationAborted: return .transient
        }
    }
}

/// AWS S3 and compatible stores (RGW, MinIO, SeaweedFS, OSS's S3 endpoint): SigV4.
public struct S3Dialect: StoreDialect {
    public let region: String
    public var name: String { "S3" }
    public var locationScheme: String { "s3" }
    public var headerPrefix: String { "x-amz-" }
    public var limits: PartLimits { .s3 }
    public var encodesListTokens: Bool { false }
    public var infrequentAccessClass: String { "STANDARD_IA" }
    public var lifecycleFlavor: LifecycleFlavor { .s3 }

    public init(region: String) { self.region = region }

    public func sign(_ r: inout SignableRequest, credentials: Credentials, date: Int64) {
        var s = SigV4Signer.Request(method: r.method, encodedPath: r.encodedPath, query: r.query, headers: r.headers)
        SigV4Signer(region: region).sign(&s, credentials: credentials, payloadHash: r.payloadHash ?? SigV4Signer.unsignedPayload, date: date)
        r.headers = s.headers
    }

    public func classify(code: String, status: Int) -> StoreErrorKind {
        S3ErrorCode(rawValue: code)?.kind ?? StoreErrorKind.fromStatus(status)
    }

    /// CRCs in `x-amz-checksum-*` headers; no CRC-64 answer header.
    public var checksumWire: ChecksumWire { ChecksumWire(amzChecksums: true, crc64Header: nil) }

    /// S3 stores differ in what they enforce: `auto` learns it per store (parts) and keeps
    /// Content-MD5, which every S3 store verifies, for single PUTs.
    public func integrity(_ setting: MultipartSettings.ChecksumKind) -> IntegrityPolicy {
        let w = checksumWire
        switch setting {
        case .auto: return IntegrityPolicy(object: .md5, parts: .learnedFromStore, wire: w)
        case .md5: return IntegrityPolicy(object: .md5, parts: .fixed(.md5), wire: w)
        case .sha256: return IntegrityPolicy(object: .sha256, parts: .fixed(.sha256), wire: w)
        case .crc32: return IntegrityPolicy(object: .crc32, parts: .fixed(.crc32), wire: w)
        case .crc32c: return IntegrityPolicy(object: .crc32c, parts: .fixed(.crc32c), wire: w)
        case .crc64, .none: return IntegrityPolicy(object: [], parts: .fixed([]), wire: w)
        }
    }

    public func storageClassHeader(_ storageClass: String) -> (String, String) { ("x-amz-storage-class", storageClass) }

    /// S3 wants a RestoreRequest saying for how long.
    public func restoreOperation(_ key: String) -> StoreOperation {
        ObjectStoreClient.xmlOperation("RestoreObject", "POST", key: key, query: [("restore", "")],
                                       xml: "<RestoreRequest><Days>1</Days></RestoreRequest>", contentMD5: true)
    }
}
