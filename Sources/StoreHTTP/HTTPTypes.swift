import PluginSupport

/// A request for the store HTTP client. Header names are sent as given.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: OutgoingBody

    public init(method: String, url: String, headers: [(String, String)] = [], body: OutgoingBody = .none) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Where a response body goes.
public enum HTTPResponseBody: Sendable {
    /// Kept in memory, up to `limit` bytes (error bodies and XML answers).
    case buffer(limit: Int)
    /// Handed to the caller as it arrives, in pieces of up to `segment` bytes, with
    /// backpressure (see `HTTPClient.stream`).
    case stream(segment: Int)
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Body bytes received.
    public var bodyLength: Int64
    /// HTTP/2 trailers, if any were sent.
    public var trailers: [(String, String)]

    public init(status: Int, headers: [(String, String)], body: [UInt8], bodyLength: Int64, trailers: [(String, String)] = []) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyLength = bodyLength
        self.trailers = trailers
    }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0.lowercased() == n }?.1
    }

    public func trailer(_ name: String) -> String? {
        let n = name.lowercased()
        return trailers.first { $0.0.lowercased() == n }?.1
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Per-request transport settings.
public struct HTTPTransportOptions: Sendable, Hashable {
    public var connectTimeoutSeconds = 10
    /// A transfer moving less than 1 byte/s for this long is dead.
    public var stallTimeoutSeconds = 30
    /// Verify TLS certificates (always, unless a test double says otherwise).
    public var verifyTLS = true
    /// PEM CA bundle replacing the system CAs (`caSecret`).
    public var caPEM: String?
    /// Talk to a Unix socket instead of TCP (tests against the plugin itself).
    public var unixSocketPath: String?
    public var httpVersion: HTTPVersion = .http1
    /// Keep the connection for later requests (off: one connection per request).
    public var reuseConnection = true

    public enum HTTPVersion: Sendable, Hashable {
        /// HTTP/2 over TLS when the server offers it, HTTP/1.1 otherwise.
        case automatic
        /// HTTP/1.1 (the default for stores: many parallel connections, as aws-c-s3 does).
        case http1
        /// HTTP/2 cleartext with prior knowledge.
        case http2PriorKnowledge
    }

    public init() {}
}

/// A transport failure, said plainly (DNS, connect, TLS, timeout, dropped connection).
public struct HTTPClientError: CategorizedError, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case dns, connect, tls, timeout, connectionDropped, cancelled, tooLarge, other
    }
    public var kind: Kind
    public var message: String
    public var curlCode: Int

    public init(kind: Kind, message: String, curlCode: Int = 0) {
        self.kind = kind
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String { message }

    public var category: FailureCategory { kind == .cancelled ? .cancelled : .unavailable }

    /// Worth another attempt (the request is idempotent, the failure is on the way).
    public var isTransient: Bool {
        switch kind {
        case .connect, .timeout, .connectionDropped, .dns: return true
        case .tls, .cancelled, .tooLarge, .other: return false
        }
    }
}
