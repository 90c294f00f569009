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

/// An owner's one parked waiter (a stream's consumer, a body's producer) with its ticket.
public struct ParkedWaiter<T>: Sendable {
    public let id: Int
    public let continuation: CheckedContinuation<T, Error>
    public init(id: Int, continuation: CheckedContinuation<T, Error>) {
        self.id = id
        self.continuation = continuation
    }
}

extension Optional {
    /// Takes the parked waiter out if it is `id`'s (an `unpark` for owners of one waiter).
    public mutating func unpark<T>(_ id: Int) -> CheckedContinuation<T, Error>? where Wrapped == ParkedWaiter<T> {
        guard let w = self, w.id == id else { return nil }
        self = nil
        return w.continuation
    }

    /// Takes the parked waiter out, whoever's it is (to answer it).
    public mutating func take<T>() -> CheckedContinuation<T, Error>? where Wrapped == ParkedWaiter<T> {
        defer { self = nil }
        return self?.continuation
    }
}
