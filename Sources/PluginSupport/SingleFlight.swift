import Synchronization

/// Callers asking for the same key at the same time share one call: when credentials expire
/// under fifty part uploads, STS is asked once, not fifty times. The call runs in a task this
/// object owns; every caller waits for it, and it is forgotten once finished (success or not),
/// so the next call after that asks again. Cache what should be kept in the caller.
///
/// A cancelled caller returns at once with `CancellationError`; the others keep waiting. When
/// the last caller has gone, the call is cancelled and forgotten, so nothing runs on for no one
/// and the next caller starts afresh.
public final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Flight {
        let generation: Int
        var task: Task<Void, Never>?
        var waiters: [Int: CheckedContinuation<Value, Error>] = [:]
    }
    private struct State {
        var flights: [Key: Flight] = [:]
        var nextID = 0
        /// Callers that have an id but are not waiting yet: one cancelled in that window is
        /// taken out here, and its wait then ends at once.
        var arriving = Set<Int>()
    }
    private let state = Locked(State())
    private let calls = Atomic<Int>(0)

    public init() {}

    /// How many calls actually ran (for tests and logs).
    public var callCount: Int { calls.load(ordering: .relaxed) }

    public func run(_ key: Key, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try Task.checkCancellation()
        let id = state.withLock { s -> Int in
            s.nextID += 1
            s.arriving.insert(s.nextID)
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, Error>) in
                let waiting = state.withLock { s -> Bool in
                    guard s.arriving.remove(id) != nil else { return false }   // cancelled meanwhile
                    if s.flights[key] != nil {
                        s.flights[key]!.waiters[id] = c
                        return true
                    }
                    s.nextID += 1
                    let generation = s.nextID
                    calls.add(1, ordering: .relaxed)
                    var flight = Flight(generation: generation)
                    flight.waiters[id] = c
                    flight.task = Task {
                        let result: Result<Value, Error>
                        do { result = .success(try await body()) } catch { result = .failure(error) }
                        self.finish(key, generation, result)
                    }
                    s.flights[key] = flight
                    return true
                }
                if !waiting { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            leave(key, id)
        }
    }

    /// Callers waiting for `key` now (tests wait for this instead of sleeping).
    func waiting(_ key: Key) -> Int { state.withLock { $0.flights[key]?.waiters.count ?? 0 } }

    private func finish(_ key: Key, _ generation: Int, _ result: Result<Value, Error>) {
        let waiters = state.withLock { s -> [CheckedContinuation<Value, Error>] in
            guard let f = s.flights[key], f.generation == generation else { return [] }   // abandoned
            s.flights[key] = nil
            return Array(f.waiters.values)
        }
        for w in waiters { w.resume(with: result) }
    }

    private func leave(_ key: Key, _ id: Int) {
        let (waiter, abandoned) = state.withLock { s -> (CheckedContinuation<Value, Error>?, Task<Void, Never>?) in
            if s.arriving.remove(id) != nil { return (nil, nil) }
            guard var f = s.flights[key], let c = f.waiters.removeValue(forKey: id) else { return (nil, nil) }   // already answered
            if f.waiters.isEmpty {
                s.flights[key] = nil
                return (c, f.task)
            }
            s.flights[key] = f
            return (c, nil)
        }
        abandoned?.cancel()
        waiter?.resume(throwing: CancellationError())
    }
}
