/// The request line and headers of one HTTP/2 stream.
public struct HTTP2RequestHead: Sendable {
    public var method: String = ""
    public var path: String = ""
    public var scheme: String = ""
    public var authority: String = ""
    /// Regular (non-pseudo) header fields, in arrival order.
    public var headers: [HTTP2Header] = []

    public init() {}

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// One incoming request: its head, and its body as a flow-controlled sequence of chunks.
public struct HTTP2Request: Sendable {
    public let head: HTTP2RequestHead
    public let body: HTTP2RequestBody
}

/// Something that answers requests. Each request runs as its own task, so a slow handler never
/// holds up other streams or the I/O loop.
public protocol HTTP2Handler: Sendable {
    func handle(_ request: HTTP2Request, _ response: HTTP2ResponseWriter) async
}
