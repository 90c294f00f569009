/// Access credentials. The secret and token never appear in descriptions, logs or errors.
public struct Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Seconds since 1970 after which the credentials are no longer valid (temporary ones).
    public var expiration: Int64?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Int64? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "credentials(access key \(Credentials.redact(accessKeyID))\(sessionToken == nil ? "" : ", temporary"))"
    }

    public var debugDescription: String { description }

    /// `AKIA…WXYZ`: enough to tell keys apart in a log, not enough to use.
    public static func redact(_ id: String) -> String {
        id.count <= 8 ? "****" : String(id.prefix(4)) + "…" + String(id.suffix(4))
    }
}
