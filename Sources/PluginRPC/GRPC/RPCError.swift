import PluginSupport

/// gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
public enum RPCCode: Int, Sendable, CustomStringConvertible {
    case ok = 0, cancelled = 1, unknown = 2, invalidArgument = 3, deadlineExceeded = 4, notFound = 5
    case alreadyExists = 6, permissionDenied = 7, resourceExhausted = 8, failedPrecondition = 9
    case aborted = 10, outOfRange = 11, unimplemented = 12, internalError = 13, unavailable = 14
    case dataLoss = 15, unauthenticated = 16

    public var description: String {
        switch self {
        case .ok: return "OK"
        case .cancelled: return "CANCELLED"
        case .unknown: return "UNKNOWN"
        case .invalidArgument: return "INVALID_ARGUMENT"
        case .deadlineExceeded: return "DEADLINE_EXCEEDED"
        case .notFound: return "NOT_FOUND"
        case .alreadyExists: return "ALREADY_EXISTS"
        case .permissionDenied: return "PERMISSION_DENIED"
        case .resourceExhausted: return "RESOURCE_EXHAUSTED"
        case .failedPrecondition: return "FAILED_PRECONDITION"
        case .aborted: return "ABORTED"
        case .outOfRange: return "OUT_OF_RANGE"
        case .unimplemented: return "UNIMPLEMENTED"
        case .internalError: return "INTERNAL"
        case .unavailable: return "UNAVAILABLE"
        case .dataLoss: return "DATA_LOSS"
        case .unauthenticated: return "UNAUTHENTICATED"
        }
    }

    /// The HTTP status the JSON gateway answers with (grpc-gateway's mapping).
    public var httpStatus: Int {
        switch self {
        case .ok: return 200
        case .cancelled: return 499
        case .unknown, .internalError, .dataLoss: return 500
        case .invalidArgument, .failedPrecondition, .outOfRange: return 400
        case .deadlineExceeded: return 504
        case .notFound: return 404
        case .alreadyExists, .aborted: return 409
        case .permissionDenied: return 403
        case .resourceExhausted: return 429
        case .unimplemented: return 501
        case .unavailable: return 503
        case .unauthenticated: return 401
        }
    }
}

/// A failed call: the status code and the text the client (and Argo's user) will read.
public struct RPCError: Error, CustomStringConvertible, Sendable {
    public var code: RPCCode
    public var message: String
    public init(_ code: RPCCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// Errors that know which gRPC status they stand for.
public protocol RPCStatusConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError: RPCStatusConvertible {
    public var rpcError: RPCError { self }
}

extension RPCError {
    /// Any error, as the status a client should see.
    public static func from(_ error: Error) -> RPCError {
        if let e = error as? RPCStatusConvertible { return e.rpcError }
        if error is CancellationError { return RPCError(.cancelled, "call cancelled") }
        return RPCError(.internalError, String(describing: error))
    }
}

/// grpc-message is percent-encoded: every byte outside printable ASCII, and '%' itself.
enum PercentEncoding {
    static func encode(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if b >= 0x20 && b <= 0x7E && b != 0x25 {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}
