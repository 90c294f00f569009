import Synchronization

/// A count of things in progress (open streams, open connections) that can be awaited until it
/// reaches zero, with a time limit: shutdown waits on it instead of polling.
public final class IdleCounter: Sendable {
    private struct State: ParkingState {
        var count = 0
        var started = 0               // every increment since the start
        var waiters: [Int: CheckedContinuation<Bool, Error>] = [:]
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())

    public init() {}

    public var count: Int { state.withLock { $0.count } }
    /// How many were ever started: unchanged between two looks means nothing began meanwhile.
    public var started: Int { state.withLock { $0.started } }

    public func increment() { state.withLock { $0.count += 1; $0.started += 1 } }

    public func decrement() {
        let wake = state.withLock { s -> [CheckedContinuation<Bool, Error>] in
            s.count -= 1
            guard s.count <= 0 else { return [] }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in wake { w.resume(returning: true) }
    }

    /// True once the count is zero; false when `timeout` passes first (or the caller is cancelled).
    public func waitUntilZero(timeout: Duration) async -> Bool {
        if state.withLock({ $0.count <= 0 }) { return true }
        let state = self.state
        return await Timers.answer(of: {
            (try? await state.park({ s, id, c in
                if s.count <= 0 { return .success(true) }
                s.waiters[id] = c
                return nil
            }, unpark: { s, id in s.waiters.removeValue(forKey: id) })) ?? false
        }, within: timeout, else: false)
    }
}
