import ArtifactCore

/// A store module as the service meets it: its configuration schema (fields, defaults, YAML
/// description, when it is inferred) and the factory that makes its store. Its errors say their
/// own `FailureCategory`. The service lists providers in one table; adding a store is its module
/// plus one line there.
public protocol StoreProvider: StoreSchema {
    /// The store a configuration of this provider names. Throws `ConfigError` for a setting
    /// that parses but cannot be used (a region that cannot be derived), `CredentialError`
    /// when no credentials can be had.
    func makeStore(_ configuration: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore
}
