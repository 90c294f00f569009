import Synchronization

/// A count of things in progress (open streams, open connections) that can be awaited until it
/// reaches zero, with a time limit: shutdown waits on it instead of polling.
public final class IdleCounter: Sendable {
    private struct State {
        var count = 0
        var started = 0               // every increment since the start
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var expired = Set<Int>()      // timed out before their waiter was registered
        var nextWaiter = 0
    }
    private let state = Locked(State())

    public init() {}

    public var count: Int { state.withLock { $0.count } }
    /// How many were ever started: unchanged between two looks means nothing began meanwhile.
    public var started: Int { state.withLock { $0.started } }

    public func increment() { state.withLock { $0.count += 1; $0.started += 1 } }

    public func decrement() {
        let wake = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.count -= 1
            guard s.count <= 0 else { return [] }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in wake { w.resume(returning: true) }
    }

    /// True once the count is zero; false when `timeout` passes first.
    public func waitUntilZero(timeout: Duration) async -> Bool {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        defer { state.withLock { _ = $0.expired.remove(id) } }
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await Timers.sleep(for: timeout) } catch { return }
                self.expire(id)
            }
            let reached = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { s -> Bool? in
                    if s.count <= 0 { return true }
                    if s.expired.contains(id) { return false }
                    s.waiters[id] = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
            group.cancelAll()
            return reached
        }
    }

    private func expire(_ id: Int) {
        let w = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let w = s.waiters.removeValue(forKey: id) else {
                s.expired.insert(id)
                return nil
            }
            return w
        }
        w?.resume(returning: false)
    }
}
