import PluginRPC
import PluginSupport

/// The one boundary where the domain's errors become gRPC status codes (the error's text is
/// what the client reads; the code is how Argo's client and curl users classify it). Each
/// module's errors say their own `FailureCategory`; nothing here knows a module's error types.
enum StatusMapping {
    static func code(_ error: any Error) -> RPCCode {
        switch error {
        case let e as RPCError: return e.code
        case is CancellationError: return .cancelled
        case let e as CategorizedError: return code(e.category)
        default: return .internalError
        }
    }

    static func code(_ category: FailureCategory) -> RPCCode {
        switch category {
        case .notFound: return .notFound
        case .invalidArgument: return .invalidArgument
        case .permissionDenied: return .permissionDenied
        case .unauthenticated: return .unauthenticated
        case .failedPrecondition: return .failedPrecondition
        case .aborted: return .aborted
        case .dataLoss: return .dataLoss
        case .unavailable: return .unavailable
        case .resourceExhausted: return .resourceExhausted
        case .unimplemented: return .unimplemented
        case .cancelled: return .cancelled
        case .internalError: return .internalError
        }
    }
}
