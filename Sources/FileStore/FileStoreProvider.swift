import ArtifactCore
import PluginSupport
import StoreRuntime

/// Objects as files under a directory: its own configuration fields and its factory.
public struct FileStoreProvider: StoreProvider {
    public init() {}

    public let name = "file"
    public let isRemote = false
    public let summary = "stores objects under `root`"
    public let fields = ["root"]
    /// Files are written and synced locally: no check to choose from, every setting accepted.
    public let checksums = MultipartSettings.ChecksumKind.allCases

    /// A configuration with `root`.
    public func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool { fields.has("root") }

    public func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        guard let root = try fields.string("root") else {
            throw ConfigError("root", "missing; provider file needs an absolute directory, e.g. root: /data/artifacts")
        }
        guard root.hasPrefix("/") else {
            throw ConfigError("root", "must be an absolute path, got \(Echo.quoted(root))", line: fields.line(of: "root"))
        }
        return FileStoreSettings(root: root)
    }

    public func makeStore(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        guard let s = c.storeSettings(FileStoreSettings.self) else { throw ConfigError("root", "missing") }
        return FileStore(root: s.root, io: environment.io)
    }
}

/// The file store's own settings.
public struct FileStoreSettings: StoreSettings {
    /// Absolute directory that holds the objects.
    public var root: String

    public init(root: String) {
        self.root = root
    }

    public var yamlFields: [(String, String?)] { [("root", YAMLScalar.quote(root))] }
}
