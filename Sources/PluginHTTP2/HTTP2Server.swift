import CNghttp2
import Glibc
import Logging

/// An HTTP/2 (cleartext, prior knowledge) server on a Unix socket. One I/O thread runs every
/// connection; each request is handed to `handler` in its own task.
public final class HTTP2Server: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        public var settings = HTTP2Settings()
        /// Response chunks a stream may hold before its handler is suspended: two gRPC messages,
        /// each written as a prefix and a payload.
        public var outboxLimit = 4
        public init(socketPath: String) { self.socketPath = socketPath }
    }

    let settings: HTTP2Settings
    let outboxLimit: Int
    let handler: HTTP2Handler
    let logger: Logger
    public let socketPath: String
    private let loop: EventLoop
    private var listener: UnixListener?                  // loop thread after start
    private var connections: [ObjectIdentifier: HTTP2Connection] = [:]   // loop thread
    let readBuffer: UnsafeMutableRawBufferPointer        // shared by all connections (one thread)
    private let activeStreams = Locked(0)
    private let stopped = Locked(false)

    public init(configuration: Configuration, handler: HTTP2Handler, logger: Logger) throws {
        settings = configuration.settings
        outboxLimit = configuration.outboxLimit
        socketPath = configuration.socketPath
        self.handler = handler
        self.logger = logger
        loop = try EventLoop()
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Binds the socket (replacing a stale one) and starts serving.
    public func start() throws {
        let l = try UnixListener(path: socketPath)
        listener = l
        loop.register(fd: l.fd, events: .readable) { [unowned self] _ in self.acceptAll() }
        loop.start()
    }

    /// Requests in flight (streams open) right now.
    public var inFlight: Int { activeStreams.current }

    private func acceptAll() {
        guard let l = listener else { return }
        while let fd = l.accept() {
            do {
                let c = try HTTP2Connection(fd: fd, loop: loop, server: self)
                connections[ObjectIdentifier(c)] = c
                c.start()
            } catch {
                logger.error("cannot start HTTP/2 session: \(error)")
                Glibc.close(fd)
            }
        }
        if errno == EMFILE || errno == ENFILE {
            // Out of descriptors: the listener stays readable, so stop watching it for a moment
            // instead of spinning; connections closing will free descriptors.
            logger.warning("out of file descriptors; pausing accepts for 100 ms")
            loop.unregister(fd: l.fd)
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(100))
                self?.loop.execute { [weak self] in
                    guard let self, let l = self.listener else { return }
                    self.loop.register(fd: l.fd, events: .readable) { [unowned self] _ in self.acceptAll() }
                }
            }
        }
    }

    func connectionClosed(_ c: HTTP2Connection) {
        connections[ObjectIdentifier(c)] = nil
    }

    func streamOpened() { activeStreams.withLock { $0 += 1 } }
    func streamClosed() { activeStreams.withLock { $0 -= 1 } }

    /// Graceful shutdown: stop accepting, GOAWAY every connection, let calls in flight finish
    /// for up to `grace`, then cancel them; finally close everything and remove the socket.
    public func shutdown(grace: Duration) async {
        guard !stopped.withLock({ s in defer { s = true }; return s }) else { return }
        loop.execute { [self] in
            if let l = listener {
                loop.unregister(fd: l.fd)
                l.close()
                listener = nil
            }
            for c in connections.values { c.sendShutdownNotice() }
        }
        // One round trip for the notice to land before the final GOAWAY.
        try? await Task.sleep(for: .milliseconds(50))
        loop.execute { [self] in for c in connections.values { c.sendGoaway() } }

        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while inFlight > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if inFlight > 0 {
            logger.warning("grace period over: cancelling \(inFlight) call(s) still in flight")
            loop.execute { [self] in for c in connections.values { c.cancelHandlers() } }
            let hard = clock.now.advanced(by: .seconds(2))
            while inFlight > 0, clock.now < hard {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        // Close each connection once its last frames (trailers included) reached the socket;
        // a client that stopped reading gets 2 s.
        let drainDeadline = clock.now.advanced(by: .seconds(2))
        while clock.now < drainDeadline {
            let remaining = Locked(Int.max)
            loop.execute { [self] in
                for c in Array(connections.values) where c.isDrained { c.close() }
                remaining.withLock { $0 = connections.count }
            }
            try? await Task.sleep(for: .milliseconds(10))
            if remaining.current == 0 { break }
        }
        loop.execute { [self] in for c in Array(connections.values) { c.close() } }
        loop.stop()
        await loop.waitUntilStopped()
    }
}
