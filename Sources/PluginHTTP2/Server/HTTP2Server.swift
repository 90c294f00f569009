import CNghttp2
import Glibc
import Logging
import PluginSupport
import Synchronization

/// An HTTP/2 (cleartext, prior knowledge) server on a Unix socket. One I/O thread runs every
/// connection; each request is handed to `handler` in its own task.
public final class HTTP2Server: Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        public var settings = HTTP2Settings()
        /// Response chunks a stream may hold before its handler is suspended: two gRPC messages,
        /// each written as a prefix and a payload.
        public var outboxLimit = 4
        public init(socketPath: String) { self.socketPath = socketPath }
    }

    let shared: ServerShared
    public let socketPath: String
    private let loop: EventLoop

    public init(configuration: Configuration, handler: HTTP2Handler, logger: Logger) throws {
        shared = ServerShared(settings: configuration.settings, outboxLimit: configuration.outboxLimit, handler: handler, logger: logger)
        socketPath = configuration.socketPath
        loop = try EventLoop()
    }

    /// Binds the socket (replacing a stale one) and starts serving. Blocking (socket calls):
    /// call it off the cooperative pool.
    public func start() throws {
        let listener = try UnixListener(path: socketPath)
        startLoop(listener)
    }

    /// Starts the loop without a listening socket: connections arrive through `adopt`
    /// (in-process tests over a socketpair).
    public func startWithoutListening() {
        startLoop(nil)
    }

    private func startLoop(_ listener: UnixListener?) {
        let shared = self.shared
        loop.start { loop in
            let context = LoopContext(loop: loop, shared: shared)
            if let listener { context.startListening(listener) }
            return context
        }
    }

    /// Serves an already connected stream socket as one HTTP/2 connection (the server owns
    /// and closes it from now on).
    public func adopt(_ fd: Int32) {
        loop.execute { context in context.adopt(fd) }
    }

    /// Requests in flight (streams open) right now.
    public var inFlight: Int { shared.streams.count }
    /// Streams (calls) started since the server began.
    public var callsStarted: Int { shared.streams.started }

    /// Graceful shutdown: stop accepting, GOAWAY every connection, let calls in flight finish
    /// for up to `grace`, then cancel them; finally close everything and remove the socket.
    public func shutdown(grace: Duration) async {
        guard shared.beginShutdown() else { return }
        loop.execute { context in
            context.stopListening()
            context.forEachConnection { $0.sendShutdownNotice() }
        }
        // One round trip for the notice to land before the final GOAWAY.
        try? await Timers.sleep(for: .milliseconds(50))
        loop.execute { context in context.forEachConnection { $0.sendGoaway() } }

        if await !shared.streams.waitUntilZero(timeout: grace) {
            shared.logger.warning("grace period over: cancelling \(inFlight) call(s) still in flight")
            loop.execute { context in context.forEachConnection { $0.cancelHandlers() } }
            _ = await shared.streams.waitUntilZero(timeout: .seconds(2))
        }
        // Each connection closes once its last frames (trailers included) reached the socket;
        // a client that stopped reading gets 2 s.
        loop.execute { context in context.closeConnectionsWhenDrained() }
        _ = await shared.connections.waitUntilZero(timeout: .seconds(2))
        loop.execute { context in context.forEachConnection { $0.close() } }
        // Closing cancelled what still ran; the loop keeps serving their last posts until they return.
        if await !shared.handlers.waitUntilZero(timeout: .seconds(2)) {
            shared.logger.warning("\(shared.handlers.count) handler(s) still running 2 s after their streams closed")
        }
        loop.stop()
        await loop.waitUntilStopped()
    }
}

/// What the server's loop side and its callers share: settings, the handler, and counts of open
/// streams and connections that shutdown waits on.
final class ServerShared: Sendable {
    let settings: HTTP2Settings
    let outboxLimit: Int
    let handler: HTTP2Handler
    let logger: Logger
    let streams = IdleCounter()
    /// Handler tasks not yet returned (each cancelled when its stream closes unfinished).
    let handlers = IdleCounter()
    let connections = IdleCounter()
    private let shuttingDown = Locked(false)

    init(settings: HTTP2Settings, outboxLimit: Int, handler: HTTP2Handler, logger: Logger) {
        self.settings = settings
        self.outboxLimit = outboxLimit
        self.handler = handler
        self.logger = logger
    }

    /// True for the first caller only.
    func beginShutdown() -> Bool {
        shuttingDown.withLock { s in
            defer { s = true }
            return !s
        }
    }
}
