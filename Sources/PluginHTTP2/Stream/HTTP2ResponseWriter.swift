/// How a handler answers. Calls are safe from any task; each posts its nghttp2 work to the
/// connection's I/O loop. Order: `sendHeaders`, any `write`s, then `finish` (or `reset`).
public final class HTTP2ResponseWriter: Sendable {
    let stream: HTTP2Stream

    init(stream: HTTP2Stream) {
        self.stream = stream
    }

    /// Sends the response head. With `endStream` the response ends here (no body, no trailers).
    public func sendHeaders(_ headers: [HTTP2Header], endStream: Bool = false) {
        let id = stream.id
        if endStream { _ = stream.outbox.finish(trailers: nil) }
        stream.post { conn in conn.session?.submitResponse(stream: id, headers: headers, hasBody: !endStream) }
    }

    /// Queues body bytes; suspends while the client is not reading (flow control), and throws
    /// once the stream is gone or the task is cancelled.
    public func write(_ bytes: [UInt8]) async throws {
        if try await stream.outbox.write(bytes) { resume() }
    }

    /// Ends the body, followed by trailers when given.
    public func finish(trailers: [HTTP2Header]? = nil) {
        if stream.outbox.finish(trailers: trailers) { resume() }
    }

    /// Abandons the stream with RST_STREAM.
    public func reset(errorCode: UInt32 = 2) {
        let id = stream.id
        stream.outbox.close(.cancelled)
        stream.post { conn in conn.session?.resetStream(id, errorCode: errorCode) }
    }

    public var isFinished: Bool { stream.outbox.isFinished }

    private func resume() {
        let id = stream.id
        stream.post { conn in conn.session?.resumeData(stream: id) }
    }
}
