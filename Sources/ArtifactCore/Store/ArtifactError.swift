import PluginSupport

/// Failures of artifact operations, worded for the Argo user who reads them in the UI.
public enum ArtifactError: CategorizedError, CustomStringConvertible, Sendable {
    /// Nothing at the key, and nothing under it.
    case notFound(String)
    case invalidKey(String, String)
    case invalidRequest(String)
    /// The local file or directory handed to Save cannot be stored as it is.
    case badSource(String, String)
    /// The store holds something that does not fit (e.g. a file where a directory must go).
    case conflict(String)
    /// The bytes read or written do not match what was expected.
    case corrupted(String)
    /// The store failed; the text says how.
    case store(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .notFound(let location): return "artifact not found: \(location)"
        case .invalidKey(let key, let why): return "invalid artifact key '\(ArtifactError.printable(key))': \(why)"
        case .invalidRequest(let why): return "invalid request: \(why)"
        case .badSource(let path, let why): return "cannot save \(ArtifactError.printable(path)): \(why)"
        case .conflict(let why): return why
        case .corrupted(let why): return "data corrupted: \(why)"
        case .store(let why): return why
        case .unsupported(let why): return why
        }
    }

    public var category: FailureCategory {
        switch self {
        case .notFound: return .notFound
        case .invalidKey, .invalidRequest, .badSource: return .invalidArgument
        case .conflict: return .failedPrecondition
        case .corrupted: return .dataLoss
        case .store: return .unavailable
        case .unsupported: return .unimplemented
        }
    }

    /// Control characters shown escaped (a hostile name cannot forge log lines), and a name
    /// longer than a key may be cut with a marker.
    public static func printable(_ s: String) -> String { Echo.clip(s, limit: 1100) }
}
