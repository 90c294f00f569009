public enum PluginVersion {
    public static let current = "0.1.0"
}
