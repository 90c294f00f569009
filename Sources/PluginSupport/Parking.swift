/// State that parks waiters keeps their tickets here.
public protocol ParkingState: Sendable {
    var tickets: WaiterTickets { get set }
}

/// Ids of an owner's waiters, and which of them have taken a ticket but not parked yet.
public struct WaiterTickets: Sendable {
    private var last = 0
    private var arriving = Set<Int>()
    public init() {}

    mutating func issue() -> Int {
        last += 1
        arriving.insert(last)
        return last
    }

    /// At parking: false when the waiter was cancelled since it took its ticket.
    mutating func arrive(_ id: Int) -> Bool { arriving.remove(id) != nil }

    /// At cancellation: true when the waiter had not parked yet (its parking then fails).
    mutating func cancelBeforeParking(_ id: Int) -> Bool { arriving.remove(id) != nil }
}

/// The one way a task parks under an owner's lock, with one cancellation rule: a cancelled
/// waiter returns at once with `CancellationError`, whether the cancel comes before it parked
/// or while it waits; a waiter already answered keeps its answer. Nothing is kept for a
/// waiter that is gone (no set of cancelled ids growing with every late cancel).
extension Locked where Value: ParkingState {
    /// `park` runs under the lock with the waiter's id: it answers at once (a result) or keeps
    /// the continuation and returns nil; the owner resumes it later. On cancellation `unpark`
    /// takes the continuation back out under the lock (nil: already answered), and
    /// `afterUnpark` runs after it was resumed (outside the lock).
    public func park<T>(_ park: @Sendable (inout Value, Int, CheckedContinuation<T, Error>) -> Result<T, Error>?,
                        unpark: @Sendable (inout Value, Int) -> CheckedContinuation<T, Error>?,
                        afterUnpark: @Sendable () -> Void = {}) async throws -> T {
        try Task.checkCancellation()
        let id = withLock { $0.tickets.issue() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
                let now = withLock { s -> Result<T, Error>? in
                    guard s.tickets.arrive(id) else { return .failure(CancellationError()) }
                    return park(&s, id, c)
                }
                if let now { c.resume(with: now) }
            }
        } onCancel: {
            let waiter = withLock { s -> CheckedContinuation<T, Error>? in
                if s.tickets.cancelBeforeParking(id) { return nil }
                return unpark(&s, id)
            }
            waiter?.resume(throwing: CancellationError())
            afterUnpark()
        }
    }
}
