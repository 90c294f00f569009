import ArtifactCore
import Glibc
import Kubernetes
import ObjectStore
import PluginRPC
import PluginSupport
import StoreHTTP
import Transfer

/// The one boundary where the domain's errors become gRPC status codes (the error's text is
/// what the client reads; the code is how Argo's client and curl users classify it).
enum StatusMapping {
    static func code(_ error: any Error) -> RPCCode {
        switch error {
        case let e as RPCError: return e.code
        case is CancellationError: return .cancelled
        case let e as ArtifactError:
            switch e {
            case .notFound: return .notFound
            case .invalidKey, .invalidRequest, .badSource: return .invalidArgument
            case .conflict: return .failedPrecondition
            case .corrupted: return .dataLoss
            case .store: return .unavailable
            case .unsupported: return .unimplemented
            }
        case is ConfigError: return .invalidArgument
        case let e as FileSystemError:
            switch e.code {
            case ENOENT, ENOTDIR: return .notFound
            case EPERM, EACCES: return .permissionDenied
            case ENOSPC, EDQUOT: return .resourceExhausted
            default: return .internalError
            }
        case let e as StoreError:
            switch e.kind {
            case .noSuchKey, .noSuchBucket, .noSuchUpload: return .notFound
            case .accessDenied: return .permissionDenied
            case .credentialsRejected: return .unauthenticated
            case .preconditionFailed: return .aborted
            case .badDigest: return .dataLoss
            default: return e.status >= 500 ? .unavailable : .failedPrecondition
            }
        case let e as HTTPClientError: return e.kind == .cancelled ? .cancelled : .unavailable
        case is CredentialError: return .unauthenticated
        case is KubernetesError: return .failedPrecondition
        case is IntegrityMismatch: return .dataLoss
        case is MemoryBudgetError: return .resourceExhausted
        default: return .internalError
        }
    }
}
