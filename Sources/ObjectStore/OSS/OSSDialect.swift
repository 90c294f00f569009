import ArtifactCore
import PluginSupport
import Transfer

/// OSS's error codes, typed (those the plugin acts on).
public enum OSSErrorCode: String, Sendable, CaseIterable {
    case noSuchKey = "NoSuchKey"
    case notFound = "NotFound"
    case noSuchBucket = "NoSuchBucket"
    case noSuchUpload = "NoSuchUpload"
    case accessDenied = "AccessDenied"
    case invalidAccessKeyID = "InvalidAccessKeyId"
    case signatureDoesNotMatch = "SignatureDoesNotMatch"
    case securityTokenExpired = "SecurityTokenExpired"
    case invalidSecurityToken = "InvalidSecurityToken"
    case invalidDigest = "InvalidDigest"
    case badDigest = "BadDigest"
    case preconditionFailed = "PreconditionFailed"
    case invalidObjectState = "InvalidObjectState"
    case throttling = "Throttling"
    case serviceBusy = "ServiceBusy"
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
        case .accessDenied: return .accessDenied
        case .invalidAccessKeyID, .signatureDoesNotMatch, .securityTokenExpired, .invalidSecurityToken: return .credentialsRejected
        case .invalidDigest, .badDigest: return .badDigest
        case .preconditionFailed: return .preconditionFailed
        case .invalidObjectState: return .archived
        case .throttling, .serviceBusy: return .throttled
        case .requestTimeout, .internalError, .serviceUnavailable, .requestTimeTooSkewed, .operationAborted: return .transient
        }
    }
}

/// Alibaba Cloud OSS: its own V4 signature, error codes and part limits, CRC-64 on every object.
public struct OSSDialect: StoreDialect {
    public let region: String
    public var name: String { "OSS" }
    public var locationScheme: String { "oss" }
    public var headerPrefix: String { "x-oss-" }
    public var limits: PartLimits { .oss }
    public var encodesListTokens: Bool { true }
    public var infrequentAccessClass: String { "IA" }
    public var lifecycleFlavor: LifecycleFlavor { .oss }

    /// OSS reports every object's (and every part's) CRC-64 in this header.
    public static let crc64Header = "x-oss-hash-crc64ecma"

    public init(region: String) { self.region = region }

    public func sign(_ r: inout SignableRequest, credentials: Credentials, date: Int64) {
        var s = OSSV4Signer.Request(method: r.method, bucket: r.bucket, key: r.key, query: r.query, headers: r.headers)
        OSSV4Signer(region: region).sign(&s, credentials: credentials, date: date)
        r.headers = s.headers
    }

    public func classify(code: String, status: Int) -> StoreErrorKind {
        OSSErrorCode(rawValue: code)?.kind ?? StoreErrorKind.fromStatus(status)
    }

    public var checksumWire: ChecksumWire { ChecksumWire(amzChecksums: false, crc64Header: Self.crc64Header) }

    /// auto: parts by CRC-64 (in hardware), compared with the CRC-64 OSS reports of each part
    /// and of the object; a single PUT also carries Content-MD5, so OSS refuses damaged bytes
    /// before the object is visible.
    public func integrity(_ setting: MultipartSettings.ChecksumKind) -> IntegrityPolicy {
        let w = checksumWire
        switch setting {
        case .auto: return IntegrityPolicy(object: [.md5, .crc64], parts: .fixed(.crc64), wire: w)
        case .md5: return IntegrityPolicy(object: .md5, parts: .fixed(.md5), wire: w)
        case .crc64: return IntegrityPolicy(object: .crc64, parts: .fixed(.crc64), wire: w)
        case .sha256, .crc32, .crc32c, .none: return IntegrityPolicy(object: [], parts: .fixed([]), wire: w)
        }
    }

    public func storageClassHeader(_ storageClass: String) -> (String, String) { ("x-oss-storage-class", storageClass) }

    /// OSS takes an empty body.
    public func restoreOperation(_ key: String) -> StoreOperation {
        var op = StoreOperation("RestoreObject", "POST", key: key)
        op.query = [("restore", "")]
        op.payloadHash = SigV4Signer.emptyPayloadHash
        return op
    }
}
