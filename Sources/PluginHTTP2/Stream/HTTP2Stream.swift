/// One request/response exchange on a connection. The head is built on the loop thread; the
/// body and outbox are the thread-safe hand-off between the loop and the handler task.
final class HTTP2Stream: @unchecked Sendable {
    let id: Int32
    private weak var connection: HTTP2Connection?
    private let loop: EventLoop
    var head = HTTP2RequestHead()          // loop thread, until dispatch
    var headerBytes = 0                    // loop thread
    let outbox: ResponseOutbox
    private(set) var body: HTTP2RequestBody!
    var task: Task<Void, Never>?           // loop thread

    init(id: Int32, connection: HTTP2Connection, loop: EventLoop, outboxLimit: Int) {
        self.id = id
        self.connection = connection
        self.loop = loop
        self.outbox = ResponseOutbox(limit: outboxLimit)
        self.body = HTTP2RequestBody(returnCredit: { [weak self] n in
            self?.post { conn in
                if let id = self?.id { conn.session?.consume(stream: id, bytes: n) }
            }
        })
    }

    /// Runs `work` on the loop with the live connection, then flushes what it produced.
    func post(_ work: @escaping (HTTP2Connection) -> Void) {
        loop.execute { [weak connection] in
            guard let connection, !connection.isClosed else { return }
            work(connection)
            connection.flush()
        }
    }

    /// The stream ended (normally or not): wake whoever waits on it and cancel an unfinished handler.
    /// Returns request bytes received but never consumed.
    func closed(_ reason: HTTP2StreamError?) -> Int {
        let unconsumed = body.fail(reason ?? .connectionClosed)
        outbox.close(reason ?? .cancelled)
        if reason != nil || !outbox.isFinished { task?.cancel() }
        return unconsumed
    }
}
