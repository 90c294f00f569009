/// What a store's client needs from HTTP: a request answered whole, or one whose body streams.
/// `HTTPClient` (curl) is the plugin's; unit tests put a scripted double here to reach the retry
/// loop and the stores' recovery paths without a server.
public protocol HTTPTransport: Sendable {
    func execute(_ request: HTTPRequest, limit: Int, options: HTTPTransportOptions) async throws -> HTTPResponse
    func stream(_ request: HTTPRequest, segment: Int, options: HTTPTransportOptions) async throws -> HTTPStreamingResponse
}

extension HTTPClient: HTTPTransport {}
