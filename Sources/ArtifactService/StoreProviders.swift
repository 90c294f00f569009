import ArtifactCore
import FileStore
import ObjectStore
import StoreRuntime

/// The stores this plugin knows: one line each. A configuration without `provider` goes to the
/// first that claims it (file: it has `root`; oss: an `*.aliyuncs.com` endpoint; s3: any other
/// endpoint), so a more general provider comes after the ones it would shadow.
public enum StoreProviders {
    public static let all: [any StoreProvider] = [
        FileStoreProvider(),
        OSSProvider(),
        S3Provider(),
    ]

    public static var parser: ConfigParser { ConfigParser(all) }
}

/// The store a configuration names, made by the provider that parsed it.
public struct StoreFactory: Sendable {
    public let providers: [any StoreProvider]

    public init(providers: [any StoreProvider] = StoreProviders.all) {
        self.providers = providers
    }

    public var parser: ConfigParser { ConfigParser(providers) }

    public func make(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        guard let p = providers.first(where: { $0.name == c.provider }) else {
            throw ConfigError("provider", "no store module named \(c.provider)")
        }
        return try p.makeStore(c, environment: environment)
    }
}
