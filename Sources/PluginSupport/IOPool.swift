import CSystem
import Glibc
import Synchronization

/// Cancellation as a blocking job sees it: a long job (a big copy) checks it between chunks.
public final class IOCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    public func check() throws { if isCancelled { throw CancellationError() } }
    func cancel() { flag.store(true, ordering: .relaxed) }
}

/// A fixed set of threads for blocking file-system work (the reads and writes of transfers,
/// copies, fsync, directory walks), so none of it runs on Swift's cooperative pool or on an I/O
/// loop thread, and a slow disk delays only the jobs waiting for it. Jobs start in submission
/// order. A job whose task is cancelled before it starts never runs; a running job sees the
/// cancellation through its `IOCancellation`. (Jobs wait in the pool's own table, not through
/// `Locked.park`: a cancelled caller returns at once only while its job is queued; once it runs,
/// the caller waits for it, since the job may be filling the caller's buffer.)
public final class IOPool: Sendable {
    /// The process's pool: what `sizeShared` set before first use (the CPU quota's share), else
    /// 8 (file I/O waits more than it computes, so more threads than cores keep a disk busy).
    public static let shared = IOPool(threads: sharedThreads.load(ordering: .acquiring), name: "io")
    private static let sharedThreads = Atomic<Int>(8)

    /// Sizes the shared pool; only before its first use (Serve does it at start).
    public static func sizeShared(threads: Int) {
        sharedThreads.store(max(1, threads), ordering: .releasing)
    }

    private enum JobState {
        case queued(@Sendable () -> Void, abandon: @Sendable () -> Void)
        case running
        case finished
        case cancelledEarly
    }
    private struct State {
        var order: [UInt64] = []
        var head = 0
        var jobs: [UInt64: JobState] = [:]
        var nextID: UInt64 = 0
        var stopping = false
    }
    private let state = Locked(State())
    /// eventfd in semaphore mode: one count per queued job; each read takes one.
    private let ready: Int32
    public let threadCount: Int

    public init(threads: Int, name: String = "io") {
        threadCount = max(1, min(threads, 256))
        ready = eventfd(0, Int32(EFD_SEMAPHORE | EFD_CLOEXEC))
        precondition(ready >= 0, "eventfd: \(errno)")
        for i in 0..<threadCount {
            SystemThread.start(name: "\(name)-\(i)") { self.work() }
        }
    }

    /// Runs `body` on a pool thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable (IOCancellation) throws -> T) async throws -> T {
        let token = IOCancellation()
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        defer { state.withLock { _ = $0.jobs.removeValue(forKey: id) } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
                let queued = state.withLock { s -> Bool in
                    if case .cancelledEarly = s.jobs[id] { return false }
                    s.jobs[id] = .queued({ c.resume(with: Result { try body(token) }) },
                                         abandon: { c.resume(throwing: CancellationError()) })
                    s.order.append(id)
                    return true
                }
                if queued { post() } else { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            token.cancel()
            let abandon = state.withLock { s -> (@Sendable () -> Void)? in
                switch s.jobs[id] {
                case .queued(_, let abandon):
                    s.jobs[id] = .finished
                    return abandon
                case nil:
                    s.jobs[id] = .cancelledEarly
                    return nil
                case .running, .finished, .cancelledEarly:
                    return nil
                }
            }
            abandon?()
        }
    }

    /// Runs `body` on a pool thread, cancellable before it starts.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run { (_: IOCancellation) in try body() }
    }

    /// Runs `body` on a pool thread with `value` moved in and handed back: a part buffer is
    /// filled in place by the job (no copy), and returned to the caller with the job's result.
    public func run<V: Sendable, T: Sendable>(moving value: consuming V,
                                              _ body: @escaping @Sendable (inout V, IOCancellation) throws -> T) async throws -> (V, T) {
        let box = MovedValue(value)
        let result = try await run { token in try box.withValue { try body(&$0, token) } }
        return (box.take(), result)
    }

    /// Runs `body` on a pool thread even if the calling task is cancelled: clean-up (removing a
    /// staged file) that must happen however the call ended.
    public func runToCompletion<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            state.withLock { s in
                s.nextID += 1
                let id = s.nextID
                s.jobs[id] = .queued({
                    c.resume(with: Result { try body() })
                    self.state.withLock { _ = $0.jobs.removeValue(forKey: id) }
                }, abandon: { c.resume(throwing: CancellationError()) })
                s.order.append(id)
            }
            post()
        }
    }

    private func post() {
        var one: UInt64 = 1
        _ = write(ready, &one, 8)
    }

    private func work() {
        while true {
            var value: UInt64 = 0
            let n = read(ready, &value, 8)
            if n < 0 { if errno == EINTR { continue } else { return } }
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                guard s.head < s.order.count else { return nil }
                let id = s.order[s.head]
                s.head += 1
                if s.head > 1024 && s.head * 2 > s.order.count {
                    s.order.removeFirst(s.head)
                    s.head = 0
                }
                guard case .queued(let run, _) = s.jobs[id] else { return nil }
                s.jobs[id] = .running
                return run
            }
            job?()
        }
    }
}

/// Bounded parallelism over a collection; the first error cancels the rest and is rethrown.
public func forEachConcurrently<T: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<max(1, limit) {
            guard let item = iterator.next() else { break }
            group.addTask { try await body(item) }
        }
        while try await group.next() != nil {
            if let item = iterator.next() { group.addTask { try await body(item) } }
        }
    }
}

/// A value handed from one task (or job) to another; the lock makes the hand-over safe, and the
/// value moves in and out, so an array stays uniquely referenced (filled in place, never copied
/// behind the caller's back).
public final class MovedValue<V: Sendable>: Sendable {
    private let value: Locked<V?>
    public init(_ v: consuming V) { value = Locked(Optional(v)) }
    public func withValue<T: Sendable>(_ body: (inout V) throws -> T) throws -> T {
        try value.withLock { v in
            var inner = v!
            v = nil                      // the lock's copy goes: `inner` is the only reference
            let result = Result { try body(&inner) }
            v = inner
            return try result.get()
        }
    }
    /// Moves the value out (once).
    public func take() -> V {
        value.withLock { v in
            let out = v!
            v = nil
            return out
        }
    }
}
