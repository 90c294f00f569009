import PluginSupport

/// A configuration problem, naming the field (dotted path) and why. Reported on the call.
public struct ConfigError: CategorizedError, CustomStringConvertible, Sendable, Equatable {
    public var category: FailureCategory { .invalidArgument }
    public var field: String
    public var reason: String
    public var line: Int?

    public init(_ field: String, _ reason: String, line: Int? = nil) {
        self.field = field
        self.reason = reason
        self.line = line
    }

    public var description: String {
        let at = line.map { " (line \($0))" } ?? ""
        return field.isEmpty ? "invalid plugin configuration\(at): \(reason)"
                             : "invalid plugin configuration: \(field)\(at): \(reason)"
    }
}
