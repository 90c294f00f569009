import CSystem
import Glibc
import Synchronization

/// Sleeps that leave nothing behind when they are cancelled.
///
/// `Task.sleep` on Linux arms a dispatch timer that stays armed after the sleeping task is
/// cancelled: the timer, its source and the task's memory (about 0.6 KiB) live until the original
/// deadline. A per-call deadline or watchdog raced against the call therefore kept every finished
/// call's timer for the deadline's whole length: a soak with 600 s deadlines held ~8,000 of them
/// and its idle heap rose by megabytes (heaptrack: all under `swift_task_create_common` and
/// `dispatch_source_create` from `Task._sleep`). Here a cancelled sleeper is removed at once.
///
/// One thread keeps the sleepers ordered by deadline and waits in `ppoll` on an eventfd until
/// the first one is due. (Sleepers wait in that table rather than through `Locked.park`: it is the
/// primitive the deadline waits of `answer(of:within:else:)` are built on.)
public final class Timers: Sendable {
    public static let shared = Timers()

    /// Sleeps for `duration`, or throws `CancellationError` as soon as the task is cancelled.
    public static func sleep(for duration: Duration) async throws {
        try await shared.sleep(until: .now + duration)
    }

    public static func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await shared.sleep(until: deadline)
    }

    /// A wait with a deadline: `wait`'s answer, or `fallback` once `timeout` passes first (the
    /// wait is then cancelled, and returns at once as every parked waiter does).
    public static func answer<T: Sendable>(of wait: @escaping @Sendable () async -> T, within timeout: Duration,
                                           else fallback: T) async -> T {
        await withTaskGroup(of: T.self) { group in
            group.addTask { await wait() }
            group.addTask {
                try? await sleep(for: timeout)
                return fallback
            }
            let first = await group.next() ?? fallback
            group.cancelAll()
            return first
        }
    }

    private enum Slot {
        case pending                                      // id taken, continuation not yet stored
        case waiting(CheckedContinuation<Void, Error>)
        case cancelled                                    // cancelled before it was stored
    }

    private struct Sleeper {
        let deadline: ContinuousClock.Instant
        let id: UInt64
    }

    private struct State {
        var queue: [Sleeper] = []          // sorted by deadline, then id
        var slots: [UInt64: Slot] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Locked(State())
    private let wake: Int32

    /// Its own thread, for ever: the process uses `shared`; tests make their own to count sleepers.
    public init() {
        wake = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wake >= 0, "eventfd: \(errno)")
        SystemThread.start(name: "timers") { self.run() }
    }

    /// Sleepers not yet due or cancelled (for tests: a cancelled sleep must not stay counted).
    public var sleeping: Int { state.withLock { $0.slots.count } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try Task.checkCancellation()
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.slots[s.nextID] = .pending
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                let (cancelled, first) = state.withLock { s -> (Bool, Bool) in
                    if case .cancelled = s.slots[id] {
                        s.slots[id] = nil
                        return (true, false)
                    }
                    s.slots[id] = .waiting(c)
                    let at = s.queue.partitionIndex { ($0.deadline, $0.id) > (deadline, id) }
                    s.queue.insert(Sleeper(deadline: deadline, id: id), at: at)
                    return (false, at == 0)
                }
                if cancelled { c.resume(throwing: CancellationError()) } else if first { signal() }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Error>? in
                switch s.slots[id] {
                case .pending:
                    s.slots[id] = .cancelled
                    return nil
                case .waiting(let c):
                    s.slots[id] = nil
                    if let i = s.queue.firstIndex(where: { $0.id == id }) { s.queue.remove(at: i) }
                    return c
                case .cancelled, nil:
                    return nil   // already cancelled, or already due and resumed
                }
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// How long to wait for `deadline`, never negative: a negative wait means "no limit" to
    /// argo_wait_readable. (A deadline passed a few microseconds ago is a Duration of 0 s and
    /// negative attoseconds: checking the seconds alone once made the thread sleep for ever.)
    static func nanoseconds(from now: ContinuousClock.Instant, until deadline: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = (deadline - now).components
        return max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    private func run() {
        while true {
            let now = ContinuousClock.now
            let (due, next) = state.withLock { s -> ([CheckedContinuation<Void, Error>], ContinuousClock.Instant?) in
                var due: [CheckedContinuation<Void, Error>] = []
                var n = 0
                while n < s.queue.count, s.queue[n].deadline <= now {
                    if case .waiting(let c) = s.slots.removeValue(forKey: s.queue[n].id) { due.append(c) }
                    n += 1
                }
                s.queue.removeFirst(n)
                return (due, s.queue.first?.deadline)
            }
            for c in due { c.resume() }
            if let next {
                _ = argo_wait_readable(wake, Self.nanoseconds(from: .now, until: next))
            } else {
                _ = argo_wait_readable(wake, -1)
            }
            var drained: UInt64 = 0
            _ = read(wake, &drained, 8)
        }
    }
}

extension Array {
    /// The first index whose element satisfies `belongsAfter` (elements must be partitioned by it).
    fileprivate func partitionIndex(where belongsAfter: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongsAfter(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
