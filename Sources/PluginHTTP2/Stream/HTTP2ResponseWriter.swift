/// How a handler answers. Calls are safe from any task; each posts its nghttp2 work to the
/// connection's I/O loop. Order: `sendHeaders`, any `write`s, then `finish` (or `reset`).
public final class HTTP2ResponseWriter: Sendable {
    let channel: StreamChannel

    init(channel: StreamChannel) {
        self.channel = channel
    }

    /// Sends the response head. With `endStream` the response ends here (no body, no trailers).
    public func sendHeaders(_ headers: [HTTP2Header], endStream: Bool = false) {
        if endStream { _ = channel.outbox.finish(trailers: nil) }
        channel.post { c, stream in c.submitResponse(stream: stream, headers: headers, hasBody: !endStream) }
    }

    /// Queues body bytes; suspends while the client is not reading (flow control), and throws
    /// once the stream is gone or the task is cancelled.
    public func write(_ bytes: [UInt8]) async throws {
        if try await channel.outbox.write(bytes) { resume() }
    }

    /// Ends the body, followed by trailers when given.
    public func finish(trailers: [HTTP2Header]? = nil) {
        if channel.outbox.finish(trailers: trailers) { resume() }
    }

    /// Abandons the stream with RST_STREAM.
    public func reset(errorCode: UInt32 = 2) {
        channel.outbox.close(.cancelled)
        channel.post { c, stream in c.resetStream(stream, errorCode: errorCode) }
    }

    public var isFinished: Bool { channel.outbox.isFinished }

    private func resume() {
        channel.post { c, stream in c.resumeData(stream: stream) }
    }
}
