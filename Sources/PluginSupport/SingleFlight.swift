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
    private struct State: ParkingState {
        var flights: [Key: Flight] = [:]
        var generations = 0
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())
    private let calls = Atomic<Int>(0)

    public init() {}

    /// How many calls actually ran (for tests and logs).
    public var callCount: Int { calls.load(ordering: .relaxed) }

    public func run(_ key: Key, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await state.park({ s, id, c in
            if s.flights[key] != nil {
                s.flights[key]!.waiters[id] = c
                return nil
            }
            s.generations += 1
            let generation = s.generations
            calls.add(1, ordering: .relaxed)
            var flight = Flight(generation: generation)
            flight.waiters[id] = c
            flight.task = Task {
                let result: Result<Value, Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                self.finish(key, generation, result)
            }
            s.flights[key] = flight
            return nil
        }, unpark: { s, id in
            guard var f = s.flights[key], let c = f.waiters.removeValue(forKey: id) else { return nil }   // already answered
            if f.waiters.isEmpty {
                s.flights[key] = nil
                f.task?.cancel()    // the last caller has gone
            } else {
                s.flights[key] = f
            }
            return c
        })
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
}
