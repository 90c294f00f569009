import Logging

/// The plugin's loggers, one per layer. Lines never carry secrets: credentials are kept out of
/// every message.
public enum Log {
    public static let server = Logger(label: "argo-artifact-plugin.server")
    public static let service = Logger(label: "argo-artifact-plugin.service")
    public static let store = Logger(label: "argo-artifact-plugin.store")
    public static let transfer = Logger(label: "argo-artifact-plugin.transfer")
}
