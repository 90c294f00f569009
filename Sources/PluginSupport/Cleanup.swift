import Logging
import Synchronization

/// Clean-up that must happen even when the call that needs it was cancelled (a client reset, a
/// deadline, the end of the grace period): it runs in a task of its own, detached from the
/// caller's cancellation but awaited by it, bounded in time; its own failure is logged, not
/// thrown.
public enum Cleanup {
    public static func run(_ what: String, timeout: Duration = .seconds(30), logger: Logger = Log.transfer,
                           _ body: @escaping @Sendable () async throws -> Void) async {
        let task = Task.detached {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Timers.sleep(for: timeout)
                    throw CleanupTimeout(after: timeout)
                }
                try await group.next()
                group.cancelAll()
            }
        }
        do {
            try await task.value
        } catch {
            logger.warning("could not \(what): \(error)")
        }
    }

    struct CleanupTimeout: Error, CustomStringConvertible {
        let after: Duration
        var description: String { "timed out after \(after)" }
    }
}

/// Work that must happen later than the call that asks for it (a second look for objects of a
/// failed directory Save that land late), owned by the server's lifetime: `run` executes jobs
/// when they are due; `finish` runs what is left at once and returns (shutdown). Nothing here
/// outlives its owner.
public final class DeferredWork: Sendable {
    private struct Job: Sendable {
        let due: ContinuousClock.Instant
        let what: String
        let body: @Sendable () async -> Void
    }
    private struct State: ParkingState {
        var jobs: [Job] = []
        var wake: ParkedWaiter<Void>?
        var finishing = false
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())

    public init() {}

    public var pending: Int { state.withLock { $0.jobs.count } }

    public func schedule(after delay: Duration, _ what: String, _ body: @escaping @Sendable () async -> Void) {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            s.jobs.append(Job(due: .now.advanced(by: delay), what: what, body: body))
            return s.wake.take()
        }
        w?.resume()
    }

    /// The owner's loop: runs each job when it is due, until `finish` (or until the owner's task
    /// is cancelled: then jobs not yet due stay unrun).
    public func run() async {
        while !Task.isCancelled {
            let (due, next, finishing) = state.withLock { s -> ([Job], ContinuousClock.Instant?, Bool) in
                let now = ContinuousClock.now
                let due = s.finishing ? s.jobs : s.jobs.filter { $0.due <= now }
                s.jobs = s.finishing ? [] : s.jobs.filter { $0.due > now }
                return (due, s.jobs.map(\.due).min(), s.finishing)
            }
            for job in due { await job.body() }
            if finishing && due.isEmpty { return }
            if !due.isEmpty { continue }
            // Sleep until the next job is due, or a new one (or finish) arrives.
            let state = self.state
            let wait: @Sendable () async -> Void = {
                _ = try? await state.park({ s, id, c in
                    if s.finishing || s.jobs.contains(where: { $0.due <= .now }) || s.jobs.map(\.due).min() != next { return .success(()) }
                    s.wake = ParkedWaiter(id: id, continuation: c)
                    return nil
                }, unpark: { s, id in s.wake.unpark(id) })
            }
            if let next {
                await Timers.answer(of: wait, within: ContinuousClock.now.duration(to: next), else: ())
            } else {
                await wait()
            }
        }
    }

    /// Runs every job still waiting now, and makes `run` return.
    public func finish() {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            s.finishing = true
            return s.wake.take()
        }
        w?.resume()
    }
}
