/// The loop's side of one request/response exchange: the head being built and the handler's
/// task. Loop thread only.
final class LoopStream {
    let id: Int32
    let channel: StreamChannel
    var head = HTTP2RequestHead()
    var headerBytes = 0
    var task: Task<Void, Never>?

    init(id: Int32, channel: StreamChannel) {
        self.id = id
        self.channel = channel
    }

    /// The stream ended (normally or not): wake whoever waits on it and cancel an unfinished
    /// handler. Returns request bytes received but never consumed.
    func closed(_ reason: HTTP2StreamError?) -> Int {
        let unconsumed = channel.body.fail(reason ?? .connectionClosed)
        channel.outbox.close(reason ?? .cancelled)
        if reason != nil || !channel.outbox.isFinished { task?.cancel() }
        return unconsumed
    }
}

/// What the loop and a handler task share for one stream: the request body, the response
/// outbox, and how to reach the stream's connection on the loop.
final class StreamChannel: Sendable {
    let loop: EventLoop
    let connection: UInt64
    let stream: Int32
    let outbox: ResponseOutbox
    let body: HTTP2RequestBody

    init(loop: EventLoop, connection: UInt64, stream: Int32, outboxLimit: Int) {
        self.loop = loop
        self.connection = connection
        self.stream = stream
        outbox = ResponseOutbox(limit: outboxLimit)
        body = HTTP2RequestBody(returnCredit: { n in
            loop.execute { context in context.connection(connection)?.consume(stream: stream, bytes: n) }
        })
    }

    /// Runs `work` on the loop with the stream's connection, if it is still open.
    func post(_ work: @escaping @Sendable (HTTP2Connection, Int32) -> Void) {
        let (connection, stream) = (self.connection, self.stream)
        loop.execute { context in
            guard let c = context.connection(connection), !c.isClosed else { return }
            work(c, stream)
        }
    }
}
