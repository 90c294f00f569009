/// What a store module says about its part of `plugin.configuration`: its `provider:` name,
/// its own fields and how to read them, when a configuration without `provider:` means it, and
/// which upload checks its stores verify. The parser knows only the fields every store shares;
/// a store module brings the rest, and the service lists the modules in one table.
public protocol StoreSchema: Sendable {
    /// The `provider:` value.
    var name: String { get }
    /// Reached over the network: takes the common remote fields (endpoint, bucket, credentials,
    /// lifecycle, …). A local store refuses them.
    var isRemote: Bool { get }
    /// What the store is, for errors about fields it does not use ("stores objects under `root`").
    var summary: String { get }
    /// Its own top-level fields, beside the common ones.
    var fields: [String] { get }
    /// The `multipart.checksum` values its stores verify.
    var checksums: [MultipartSettings.ChecksumKind] { get }
    /// Whether a configuration that names no `provider` means this store (the table is asked
    /// in order; the first that claims it wins).
    func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool
    /// Reads its own fields; may check or normalise the common ones it has rules for (say, the
    /// storage classes it knows).
    func parse(_ fields: ConfigFields, into configuration: inout PluginConfiguration) throws -> any StoreSettings
}

/// A store module's own settings, parsed.
public protocol StoreSettings: Sendable, Hashable {
    /// Its fields as `config check` prints them, every default filled in: (name, YAML value),
    /// nil for an absent optional field. Secrets that can be written inline are hidden.
    var yamlFields: [(String, String?)] { get }
}

/// A store without settings of its own.
public struct NoStoreSettings: StoreSettings {
    public init() {}
    public var yamlFields: [(String, String?)] { [] }
}

/// Any store module's settings, comparable and hashable as a whole (configurations key the
/// store cache).
public struct AnyStoreSettings: Sendable, Hashable {
    public let base: any StoreSettings

    public init(_ base: any StoreSettings) { self.base = base }

    public static func == (a: AnyStoreSettings, b: AnyStoreSettings) -> Bool { a.base.isEqual(to: b.base) }
    public func hash(into h: inout Hasher) { base.hash(into: &h) }
}

extension StoreSettings {
    func isEqual(to other: any StoreSettings) -> Bool { (other as? Self) == self }
}
