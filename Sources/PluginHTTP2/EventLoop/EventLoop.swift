import CNghttp2
import CSystem
import Glibc

/// One thread running epoll. Sockets are registered with a callback that runs on this thread;
/// any other thread hands work over with `execute`, which wakes the loop through an eventfd.
/// All nghttp2 sessions are touched only from here.
public final class EventLoop: @unchecked Sendable {
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: EPOLLIN.rawValue)
        public static let writable = Events(rawValue: EPOLLOUT.rawValue)
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private var callbacks: [Int32: (UInt32) -> Void] = [:]   // loop thread only
    private let queue = Locked<(work: [() -> Void], stopping: Bool)>(([], false))
    private var threadID: pthread_t?
    private let finished = Locked<Bool>(false)
    private var finishWaiters = Locked<[CheckedContinuation<Void, Never>]>([])

    public init() throws {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemError.last("epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw SystemError.last("eventfd") }
        var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: wakeFD))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &ev) == 0 else { throw SystemError.last("epoll_ctl") }
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    /// Starts the loop on its own thread.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let loop = Unmanaged<EventLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        threadID = tid
    }

    public var inLoop: Bool {
        guard let tid = threadID else { return false }
        return pthread_equal(tid, pthread_self()) != 0
    }

    /// Runs `work` on the loop thread, in submission order.
    public func execute(_ work: @escaping () -> Void) {
        let wasEmpty = queue.withLock { q -> Bool in
            let empty = q.work.isEmpty
            q.work.append(work)
            return empty
        }
        if wasEmpty { wake() }
    }

    /// Asks the loop to finish after the work queued so far; `waitUntilStopped` returns then.
    public func stop() {
        queue.withLock { $0.stopping = true }
        wake()
    }

    public func waitUntilStopped() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { f -> Bool in
                if !f { finishWaiters.withLock { $0.append(c) } }
                return f
            }
            if done { c.resume() }
        }
    }

    // MARK: loop-thread API

    public func register(fd: Int32, events: Events, _ callback: @escaping (UInt32) -> Void) {
        assert(inLoop || threadID == nil)
        callbacks[fd] = callback
        var ev = epoll_event(events: events.rawValue, data: epoll_data_t(fd: fd))
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev)
    }

    public func modify(fd: Int32, events: Events) {
        var ev = epoll_event(events: events.rawValue, data: epoll_data_t(fd: fd))
        epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &ev)
    }

    public func unregister(fd: Int32) {
        callbacks[fd] = nil
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func run() {
        let maxEvents = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        defer { events.deallocate() }
        var stopping = false
        while !stopping {
            let n = epoll_wait(epollFD, events, Int32(maxEvents), -1)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<Int(n) {
                let fd = events[i].data.fd
                let mask = events[i].events
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                callbacks[fd]?(mask)
            }
            // Drain handed-over work; work may enqueue more, which runs in the next turn.
            let (batch, stop) = queue.withLock { q -> ([() -> Void], Bool) in
                let w = q.work
                q.work = []
                return (w, q.stopping)
            }
            for work in batch { work() }
            if stop && queue.withLock({ $0.work.isEmpty }) { stopping = true }
        }
        let waiters = finished.withLock { f -> [CheckedContinuation<Void, Never>] in
            f = true
            return finishWaiters.withLock { w in defer { w = [] }; return w }
        }
        for w in waiters { w.resume() }
    }
}

/// An errno-carrying failure of a system call, with the call named.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public var description: String { "\(call): \(String(cString: strerror(code)))" }
    public static func last(_ call: String) -> SystemError { SystemError(call: call, code: errno) }
}
