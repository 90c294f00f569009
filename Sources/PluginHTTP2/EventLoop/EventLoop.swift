import CSystem
import Glibc
import PluginSupport
import Synchronization

/// One thread running epoll for the server. Sockets are registered (on that thread) with a
/// callback; any other thread hands work over with `execute`, which wakes the loop through an
/// eventfd. The work receives the loop's `LoopContext`, the one object that holds the server's
/// loop-side state (connections, sessions, streams): it never leaves the loop thread, so that
/// state needs no locks and no Sendable promise the compiler cannot check.
final class EventLoop: Sendable {
    struct Events: OptionSet, Sendable {
        let rawValue: UInt32
        static let readable = Events(rawValue: EPOLLIN.rawValue)
        static let writable = Events(rawValue: EPOLLOUT.rawValue)
    }

    typealias Work = @Sendable (LoopContext) -> Void

    let epollFD: Int32
    private let wakeFD: Int32
    private struct Queue {
        var work: [Work] = []
        var stopping = false
    }
    private let queue = Locked(Queue())
    private let thread = Locked<pthread_t?>(nil)
    private let stopped = Locked<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init() throws {
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

    /// Starts the loop thread; `makeContext` runs first on that thread and builds its state.
    func start(_ makeContext: @escaping @Sendable (EventLoop) -> LoopContext) {
        let start = Unmanaged.passRetained(StartBox(loop: self, makeContext: makeContext))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<StartBox>.fromOpaque(raw!).takeRetainedValue()
            _ = argo_set_thread_name("http2-loop")
            box.loop.run(box.makeContext(box.loop))
            return nil
        }, start.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread.withLock { $0 = tid }
        pthread_detach(tid)
    }

    private final class StartBox {
        let loop: EventLoop
        let makeContext: @Sendable (EventLoop) -> LoopContext
        init(loop: EventLoop, makeContext: @escaping @Sendable (EventLoop) -> LoopContext) {
            self.loop = loop
            self.makeContext = makeContext
        }
    }

    /// Runs `work` on the loop thread, in submission order.
    func execute(_ work: @escaping Work) {
        let wasEmpty = queue.withLock { q -> Bool in
            let empty = q.work.isEmpty
            q.work.append(work)
            return empty
        }
        if wasEmpty { wake() }
    }

    /// Asks the loop to finish after the work queued so far; `waitUntilStopped` returns then.
    func stop() {
        queue.withLock { $0.stopping = true }
        wake()
    }

    /// Returns once the loop thread has stopped. Not cancellable, and so not `Locked.park`:
    /// shutdown must not go on (remove the socket, exit) while the thread still runs.
    func waitUntilStopped() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = stopped.withLock { s -> Bool in
                if !s.done { s.waiters.append(c) }
                return s.done
            }
            if done { c.resume() }
        }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func run(_ context: LoopContext) {
        let maxEvents = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        defer { events.deallocate() }
        var stopping = false
        while !stopping {
            let n = epoll_wait(epollFD, events, Int32(maxEvents), context.nextTimeoutMs())
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<Int(n) {
                let fd = events[i].data.fd
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                context.dispatch(fd: fd, mask: events[i].events)
            }
            context.runTimers()
            // Handed-over work; work may enqueue more, which runs in the next turn.
            let (batch, stop) = queue.withLock { q -> ([Work], Bool) in
                defer { q.work = [] }
                return (q.work, q.stopping)
            }
            for work in batch { work(context) }
            if stop && queue.withLock({ $0.work.isEmpty }) { stopping = true }
        }
        context.loopFinished()
        let waiters = stopped.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}
