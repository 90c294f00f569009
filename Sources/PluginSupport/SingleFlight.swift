import Synchronization

/// Callers asking for the same key at the same time share one call: when credentials expire
/// under fifty part uploads, STS is asked once, not fifty times. The call runs in a task this
/// object owns; every caller awaits it, and it is forgotten once finished (success or not), so
/// the next call after that asks again. Cache what should be kept in the caller.
public final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let inflight = Locked<[Key: Task<Value, Error>]>([:])
    private let calls = Atomic<Int>(0)

    public init() {}

    /// How many calls actually ran (for tests and logs).
    public var callCount: Int { calls.load(ordering: .relaxed) }

    public func run(_ key: Key, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = inflight.withLock { m -> Task<Value, Error> in
            if let t = m[key] { return t }
            calls.add(1, ordering: .relaxed)
            let t = Task { try await body() }
            m[key] = t
            return t
        }
        let result = await task.result
        inflight.withLock { m in
            if m[key] == task { m[key] = nil }
        }
        return try result.get()
    }
}
