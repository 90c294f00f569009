import PluginSupport
import StoreHTTP

/// An error answer from S3 or OSS, with everything a user needs to act: the operation, what it
/// was about, the store's code and message, the HTTP status and the request id. `kind` is the
/// code as the dialect reads it; code decisions are made on it, never on the text.
public struct StoreError: CategorizedError, CustomStringConvertible, Sendable {
    public var dialect: String
    public var operation: String
    /// `s3://bucket/key`
    public var location: String
    public var status: Int
    /// The store's code as sent (`NoSuchKey`), for messages.
    public var code: String
    public var kind: StoreErrorKind
    public var message: String
    public var requestID: String?
    /// How many times the request was sent before this answer was final (1: not retried).
    public var attempts = 1

    public init(dialect: String, operation: String, location: String, status: Int, code: String, kind: StoreErrorKind,
                message: String, requestID: String?) {
        self.dialect = dialect
        self.operation = operation
        self.location = location
        self.status = status
        self.code = code
        self.kind = kind
        self.message = message
        self.requestID = requestID
    }

    public var description: String {
        let rid = requestID.map { ", request id \($0)" } ?? ""
        let what: String
        switch kind {
        case .noSuchKey: what = "artifact not found: \(location)"
        case .noSuchBucket: what = "the bucket of \(location) does not exist (set createBucketIfNotPresent: true to create it)"
        case .accessDenied: what = "access denied: \(operation) on \(location) was refused; check the credentials and the bucket policy"
        case .credentialsRejected:
            switch code {
            case "InvalidAccessKeyId": what = "\(operation) on \(location): the store does not know the access key id"
            case "SignatureDoesNotMatch": what = "\(operation) on \(location): the store rejected the signature; the secret key is probably wrong"
            default: what = "\(operation) on \(location): the store rejected the credentials (expired or invalid token)"
            }
        case .badDigest: what = "\(operation) on \(location): the store received bytes that do not match their checksum"
        default: what = "\(dialect) \(operation) on \(location) failed"
        }
        let detail = message.isEmpty || message == code ? "" : ": \(message)"
        let tries = attempts > 1 ? " after \(attempts) attempts" : ""
        return "\(what)\(tries) (\(code), HTTP \(status)\(rid))\(detail)"
    }


    public var category: FailureCategory {
        switch kind {
        case .noSuchKey, .noSuchBucket, .noSuchUpload: return .notFound
        case .accessDenied: return .permissionDenied
        case .credentialsRejected: return .unauthenticated
        case .preconditionFailed: return .aborted
        case .badDigest: return .dataLoss
        default: return status >= 500 ? .unavailable : .failedPrecondition
        }
    }

    /// From an error response: XML body when there is one, otherwise the status alone (HEAD).
    static func parse(dialect: any StoreDialect, operation: String, location: String, response: HTTPResponse) -> StoreError {
        var code = "", message = "", rid: String?
        if let (_, f) = try? XMLReader.records(response.body, record: "__none__") {
            code = Echo.clip(f["Code"] ?? "", limit: 64, keep: .head)
            message = Echo.clip(f["Message"] ?? "", limit: 512, keep: .head)
            rid = f["RequestId"].map { Echo.clip($0, limit: 128, keep: .head) }
        }
        rid = rid ?? response.header("x-amz-request-id") ?? response.header("x-oss-request-id")
        if code.isEmpty {
            switch response.status {
            case 404: code = "NotFound"
            case 403: code = "AccessDenied"
            case 412: code = "PreconditionFailed"
            case 503: code = "ServiceUnavailable"
            case 400: code = "BadRequest"
            default: code = "HTTP\(response.status)"
            }
        }
        return StoreError(dialect: dialect.name, operation: operation, location: location, status: response.status,
                          code: code, kind: dialect.classify(code: code, status: response.status), message: message, requestID: rid)
    }
}

/// The store's answer shows it holds other bytes than those sent (an ETag or a checksum that
/// does not match): the request is sent again, and fails with this once attempts run out.
public struct IntegrityMismatch: CategorizedError, CustomStringConvertible, Sendable {
    public var category: FailureCategory { .dataLoss }
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "data corrupted: \(message)" }
}
