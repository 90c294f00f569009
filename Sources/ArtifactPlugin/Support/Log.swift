import Logging

/// The plugin's loggers. Lines never carry secrets: credentials are kept out of every message.
public enum Log {
    public static let service = Logger(label: "argo-artifact-plugin.service")
    public static let store = Logger(label: "argo-artifact-plugin.store")
    public static let transfer = Logger(label: "argo-artifact-plugin.transfer")
}
