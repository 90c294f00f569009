/// The service's methods as the wire names them.
public enum ArtifactMethod: String, CaseIterable, Sendable {
    case load = "Load"
    case openStream = "OpenStream"
    case save = "Save"
    case delete = "Delete"
    case listObjects = "ListObjects"
    case isDirectory = "IsDirectory"
    case saveStream = "SaveStream"
    case getCapabilities = "GetCapabilities"

    public static let servicePath = "/artifact.ArtifactService/"

    /// The JSON gateway route (`POST /api/v1/artifacts/<route>`); nil where the proto maps none.
    public var jsonRoute: String? {
        switch self {
        case .load: return "load"
        case .openStream: return "stream"
        case .save: return "save"
        case .delete: return "delete"
        case .listObjects: return "list"
        case .isDirectory: return "is-directory"
        case .saveStream, .getCapabilities: return nil
        }
    }

    public static let jsonPrefix = "/api/v1/artifacts/"

    public static func fromJSONRoute(_ route: String) -> ArtifactMethod? {
        allCases.first { $0.jsonRoute == route }
    }
}
