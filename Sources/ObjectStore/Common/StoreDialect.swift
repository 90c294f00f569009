import ArtifactCore
import Transfer

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

/// Where S3 and OSS differ, as behaviour: signing, header names, error codes, limits, the
/// integrity checks each verifies, the lifecycle XML flavour, how archived objects are restored.
/// The operations and their XML are otherwise the same (Common/), and nothing outside a dialect
/// asks which store it is talking to.
public protocol StoreDialect: Sendable {
    /// "S3" / "OSS", for messages.
    var name: String { get }
    /// URL scheme for locations in messages: `s3` / `oss`.
    var locationScheme: String { get }
    /// `x-amz-` / `x-oss-`.
    var headerPrefix: String { get }
    var limits: PartLimits { get }
    func sign(_ request: inout SignableRequest, credentials: Credentials, date: Int64)
    /// An error answer's code, typed.
    func classify(code: String, status: Int) -> StoreErrorKind
    /// With `encoding-type=url`, the listing's continuation token comes URL-encoded too (OSS).
    var encodesListTokens: Bool { get }
    /// What `multipart.checksum` means on this store.
    func integrity(_ setting: MultipartSettings.ChecksumKind) -> IntegrityPolicy
    /// How checksums are written in requests and read from answers.
    var checksumWire: ChecksumWire { get }
    /// The header that carries a new object's storage class.
    func storageClassHeader(_ storageClass: String) -> (String, String)
    /// The storage class lifecycle transitions go to when none is configured.
    var infrequentAccessClass: String { get }
    /// How lifecycle rules are written.
    var lifecycleFlavor: LifecycleFlavor { get }
    /// The request that starts restoring an archived object.
    func restoreOperation(_ key: String) -> StoreOperation
}

/// Lifecycle XML differs in the rule's prefix form, the element for aborting uploads, and the
/// document's namespace.
public enum LifecycleFlavor: Sendable, Equatable {
    /// `<Filter><Prefix>` (or rule-level `<Prefix>` where the bucket's rules use it),
    /// `AbortIncompleteMultipartUpload/DaysAfterInitiation`, the S3 namespace.
    case s3
    /// Rule-level `<Prefix>`, `AbortMultipartUpload/Days`, no namespace.
    case oss
}

/// What an error code means to the client and the engines.
public enum StoreErrorKind: Sendable, Equatable {
    case noSuchKey
    case noSuchBucket
    case noSuchUpload
    case accessDenied
    /// The key id is unknown, the signature wrong, the token expired: fetch credentials again.
    case credentialsRejected
    /// The bytes arrived damaged (their Content-MD5 or checksum did not match): send again.
    case badDigest
    case preconditionFailed
    /// An archived object that must be restored before it can be read.
    case archived
    /// Slow down: retry later, with backoff.
    case throttled
    /// A passing failure of the store (timeouts, internal errors, 5xx): retry.
    case transient
    case other

    /// For codes a dialect does not know: the HTTP status decides.
    public static func fromStatus(_ status: Int) -> StoreErrorKind {
        switch status {
        case 429: return .throttled
        case 500...: return .transient
        case 404: return .noSuchKey
        case 403: return .accessDenied
        case 412: return .preconditionFailed
        default: return .other
        }
    }
}

extension PartLimits {
    public static let s3 = PartLimits(minPartSize: 5 << 20, maxPartSize: 5 << 30, maxParts: 10_000, maxSinglePut: 5 << 30,
                                      maxObjectSize: 5 << 40, storeName: "S3")
    public static let oss = PartLimits(minPartSize: 100 << 10, maxPartSize: 5 << 30, maxParts: 10_000, maxSinglePut: 5 << 30,
                                       maxObjectSize: 48_800 << 30, storeName: "OSS")
}
