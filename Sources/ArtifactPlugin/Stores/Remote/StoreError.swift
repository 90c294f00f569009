import PluginRPC

/// An error answer from S3 or OSS, with everything a user needs to act: the operation, what it
/// was about, the store's code and message, the HTTP status and the request id.
public struct StoreError: Error, CustomStringConvertible, Sendable, RPCStatusConvertible {
    public var dialect: String
    public var operation: String
    /// `s3://bucket/key`
    public var location: String
    public var status: Int
    public var code: String
    public var message: String
    public var requestID: String?

    public var description: String {
        let rid = requestID.map { ", request id \($0)" } ?? ""
        let what: String
        switch code {
        case "NoSuchKey": what = "artifact not found: \(location)"
        case "NoSuchBucket": what = "the bucket of \(location) does not exist (set createBucketIfNotPresent: true to create it)"
        case "AccessDenied", "Forbidden": what = "access denied: \(operation) on \(location) was refused; check the credentials and the bucket policy"
        case "InvalidAccessKeyId": what = "\(operation) on \(location): the store does not know the access key id"
        case "SignatureDoesNotMatch": what = "\(operation) on \(location): the store rejected the signature; the secret key is probably wrong"
        case "BadDigest", "InvalidDigest": what = "\(operation) on \(location): the store received bytes that do not match their checksum"
        default: what = "\(dialect) \(operation) on \(location) failed"
        }
        let detail = message.isEmpty || message == code ? "" : ": \(message)"
        return "\(what) (\(code), HTTP \(status)\(rid))\(detail)"
    }

    public var isNotFound: Bool { code == "NoSuchKey" || code == "NotFound" || (status == 404 && code != "NoSuchBucket" && code != "NoSuchUpload") }

    public var rpcError: RPCError {
        switch code {
        case "NoSuchKey", "NoSuchBucket", "NoSuchUpload": return RPCError(.notFound, description)
        case "AccessDenied", "Forbidden": return RPCError(.permissionDenied, description)
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken": return RPCError(.unauthenticated, description)
        case "PreconditionFailed": return RPCError(.aborted, description)
        case "BadDigest", "InvalidDigest": return RPCError(.dataLoss, description)
        default: return RPCError(status >= 500 ? .unavailable : .failedPrecondition, description)
        }
    }

    /// From an error response: XML body when there is one, otherwise the status alone (HEAD).
    static func parse(dialect: String, operation: String, location: String, response: HTTPResponse) -> StoreError {
        var code = "", message = "", rid: String?
        if let (_, f) = try? XMLReader.records(response.body, record: "__none__") {
            code = f["Code"] ?? ""
            message = f["Message"] ?? ""
            rid = f["RequestId"]
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
        return StoreError(dialect: dialect, operation: operation, location: location, status: response.status,
                          code: code, message: message, requestID: rid)
    }
}
