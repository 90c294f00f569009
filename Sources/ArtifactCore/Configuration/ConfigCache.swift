import PluginSupport
import Synchronization

/// Argo sends the same configuration text on every call: parse it once per distinct text.
/// Failures are cached too, so a broken config costs one parse, not one per call.
public final class ConfigCache: Sendable {
    private let entries = Locked([String: Result<PluginConfiguration, ConfigError>]())
    private let capacity: Int
    private let parser: ConfigParser
    static let largestKept = 64 << 10

    public init(parser: ConfigParser, capacity: Int = 64) {
        self.parser = parser
        self.capacity = capacity
    }

    public func configuration(for text: String) throws -> PluginConfiguration {
        if let hit = entries.withLock({ $0[text] }) { return try hit.get() }
        let result: Result<PluginConfiguration, ConfigError>
        do {
            result = .success(try parser.parse(text))
        } catch let e as ConfigError {
            result = .failure(e)
        }
        // Configurations are small; a huge text (hostile, or a mistake) is parsed but not kept.
        if text.utf8.count <= Self.largestKept {
            entries.withLock { e in
                if e.count >= capacity { e.removeAll() }
                e[text] = result
            }
        }
        return try result.get()
    }
}
