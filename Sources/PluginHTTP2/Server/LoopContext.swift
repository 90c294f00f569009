import CSystem
import Glibc
import PluginSupport

/// The server's state on its loop thread: registered sockets, the listener, the connections
/// (and through them every nghttp2 session and stream). Created on the loop thread and used
/// only there; other threads reach it through `EventLoop.execute`.
final class LoopContext {
    let loop: EventLoop
    let shared: ServerShared
    private var callbacks: [Int32: (UInt32) -> Void] = [:]
    private var connections: [UInt64: HTTP2Connection] = [:]
    private var nextConnectionID: UInt64 = 0
    private var listener: UnixListener?
    /// Out of file descriptors: accepting resumes at this time.
    private var acceptResumesAt: ContinuousClock.Instant?
    private var closingWhenDrained = false
    /// Shared by all connections (one thread reads at a time).
    let readBuffer: UnsafeMutableRawBufferPointer

    init(loop: EventLoop, shared: ServerShared) {
        self.loop = loop
        self.shared = shared
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    // MARK: sockets

    func register(fd: Int32, events: EventLoop.Events, _ callback: @escaping (UInt32) -> Void) {
        callbacks[fd] = callback
        var ev = epoll_event(events: events.rawValue, data: epoll_data_t(fd: fd))
        epoll_ctl(loop.epollFD, EPOLL_CTL_ADD, fd, &ev)
    }

    func modify(fd: Int32, events: EventLoop.Events) {
        var ev = epoll_event(events: events.rawValue, data: epoll_data_t(fd: fd))
        epoll_ctl(loop.epollFD, EPOLL_CTL_MOD, fd, &ev)
    }

    func unregister(fd: Int32) {
        callbacks[fd] = nil
        epoll_ctl(loop.epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    func dispatch(fd: Int32, mask: UInt32) {
        callbacks[fd]?(mask)
    }

    // MARK: timers

    /// epoll_wait's timeout: until accepting resumes, or forever.
    func nextTimeoutMs() -> Int32 {
        guard let at = acceptResumesAt else { return -1 }
        let left = ContinuousClock.now.duration(to: at)
        return left <= .zero ? 0 : Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
    }

    func runTimers() {
        if let at = acceptResumesAt, ContinuousClock.now >= at {
            acceptResumesAt = nil
            if let l = listener { register(fd: l.fd, events: .readable) { [unowned self] _ in self.acceptAll() } }
        }
    }

    // MARK: listening

    func startListening(_ l: UnixListener) {
        listener = l
        register(fd: l.fd, events: .readable) { [unowned self] _ in self.acceptAll() }
    }

    func stopListening() {
        guard let l = listener else { return }
        if acceptResumesAt == nil { unregister(fd: l.fd) }
        acceptResumesAt = nil
        l.close()
        listener = nil
    }

    private func acceptAll() {
        guard let l = listener else { return }
        while let fd = l.accept() { adopt(fd) }
        if errno == EMFILE || errno == ENFILE {
            // Out of descriptors: the listener stays readable, so stop watching it for a moment
            // instead of spinning; connections closing will free descriptors.
            shared.logger.warning("out of file descriptors; pausing accepts for 100 ms")
            unregister(fd: l.fd)
            acceptResumesAt = ContinuousClock.now.advanced(by: .milliseconds(100))
        }
    }

    // MARK: connections

    /// Serves a connected socket (accepted here, or handed over) as one connection.
    func adopt(_ fd: Int32) {
        guard argo_set_nonblocking(fd) == 0 else {
            shared.logger.error("cannot serve a handed-over socket: \(SystemError.last("fcntl"))")
            Glibc.close(fd)
            return
        }
        nextConnectionID += 1
        do {
            let c = try HTTP2Connection(id: nextConnectionID, fd: fd, context: self)
            connections[c.id] = c
            shared.connections.increment()
            c.start()
        } catch {
            shared.logger.error("cannot start HTTP/2 session: \(error)")
            Glibc.close(fd)
        }
    }

    func connection(_ id: UInt64) -> HTTP2Connection? { connections[id] }

    func forEachConnection(_ body: (HTTP2Connection) -> Void) {
        for c in Array(connections.values) { body(c) }
    }

    /// Shutdown: from now on a connection closes as soon as everything it produced is sent.
    func closeConnectionsWhenDrained() {
        closingWhenDrained = true
        forEachConnection { if $0.isDrained { $0.close() } }
    }

    /// Called by a connection after it flushed.
    func connectionFlushed(_ c: HTTP2Connection) {
        if closingWhenDrained && c.isDrained { c.close() }
    }

    func connectionClosed(_ c: HTTP2Connection) {
        if connections.removeValue(forKey: c.id) != nil { shared.connections.decrement() }
    }

    func loopFinished() {
        forEachConnection { $0.close() }
        stopListening()
    }
}
