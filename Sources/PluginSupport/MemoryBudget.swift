import Synchronization

/// The process's one memory budget for transfer data (aws-c-s3's model, made process-wide):
/// part buffers, the queues of streamed requests and responses, stream buffers. Every store and
/// every call draws on it; a claim waits for room rather than allocating past the budget, so
/// memory stays bounded however many calls run and however large their objects are. A claim
/// larger than the whole budget fails at once with `MemoryBudgetError` (never a kill later).
///
/// Two kinds of claim, served in one queue in arrival order:
/// - `acquire(size:)` hands out a buffer (a plain `[UInt8]`, uniquely referenced: the taker fills
///   it in place, see `IOPool.run(moving:)`) to give back with `release`. Free buffers (up to a
///   quarter of the budget) are reused while anything is claimed, and freed when nothing is.
/// - `reserve(_:)` claims bytes that live elsewhere (an HTTP request's body queue, a response's
///   inbox), given back with `unreserve`.
public final class MemoryBudget: Sendable {
    private struct Waiter {
        var size: Int
        var buffer: Bool
        var c: CheckedContinuation<[UInt8]?, Error>
        var id: Int
    }
    private struct State: ParkingState {
        var inUse = 0          // bytes handed out or reserved
        var cached: [[UInt8]] = []
        var cachedBytes = 0
        var waiters: [Waiter] = []
        var peak = 0
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())
    public let limit: Int
    /// Named in errors ("the memory budget (72 MiB, from a 128 MiB limit)").
    public let origin: String

    public init(limit: Int, origin: String = "") {
        self.limit = max(0, limit)
        self.origin = origin
    }

    public var peakBytes: Int { state.withLock { $0.peak } }
    public var bytesInUse: Int { state.withLock { $0.inUse } }
    public var bytesCached: Int { state.withLock { $0.cachedBytes } }

    /// Fails at once when `size` can never fit.
    public func check(_ size: Int, for what: @autoclosure () -> String) throws {
        guard size <= limit else { throw MemoryBudgetError(needed: size, budget: limit, origin: origin, what: what()) }
    }

    public func acquire(size: Int, for what: @autoclosure () -> String = "a transfer buffer") async throws -> [UInt8] {
        try check(size, for: what())
        return try await claim(size, buffer: true)!
    }

    public func reserve(_ size: Int, for what: @autoclosure () -> String = "a streamed request") async throws {
        try check(size, for: what())
        _ = try await claim(size, buffer: false)
    }

    public func unreserve(_ size: Int) {
        give(size, buffer: nil)
    }

    /// `body` with `size` bytes reserved for it.
    public func withReservation<T>(_ size: Int, for what: @autoclosure () -> String = "a streamed request",
                                   _ body: () async throws -> T) async throws -> T {
        try await reserve(size, for: what())
        defer { unreserve(size) }
        return try await body()
    }

    private func claim(_ size: Int, buffer: Bool) async throws -> [UInt8]? {
        try await state.park({ s, id, c in
            if s.waiters.isEmpty, let b = Self.take(&s, size: size, buffer: buffer, limit: limit) { return .success(b) }
            s.waiters.append(Waiter(size: size, buffer: buffer, c: c, id: id))
            return nil
        }, unpark: { s, id in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }   // granted already
            return s.waiters.remove(at: i).c
        }, afterUnpark: {
            // A waiter that left may have been blocking smaller claims behind it.
            self.give(0, buffer: nil)
        })
    }

    /// Gives a buffer back (moved in: pass it with `consume`, so the budget's copy is the only
    /// one and the next taker writes it in place).
    public func release(_ buffer: consuming [UInt8]) {
        let size = buffer.count
        give(size, buffer: buffer)
    }

    private func give(_ size: Int, buffer: consuming [UInt8]?) {
        var returned = Optional(buffer)
        var wake: [(CheckedContinuation<[UInt8]?, Error>, [UInt8]?)] = []
        state.withLock { s in
            s.inUse -= size
            if let b = returned.take() ?? nil {
                s.cachedBytes += b.count
                s.cached.append(consume b)
            }
            while let first = s.waiters.first, let taken = Self.take(&s, size: first.size, buffer: first.buffer, limit: limit) {
                s.waiters.removeFirst()
                wake.append((first.c, taken))
            }
            if s.inUse == 0 && s.waiters.isEmpty {
                s.cached = []          // idle: give the memory back
                s.cachedBytes = 0
            }
            // Busy, a few free buffers serve the next parts; more would keep the memory of a
            // past peak for as long as transfers keep coming. The least recently freed go first.
            while s.cachedBytes > max(limit / 4, size), !s.cached.isEmpty {
                s.cachedBytes -= s.cached.removeFirst().count
            }
        }
        while let (c, b) = wake.popLast() { c.resume(returning: b) }
    }

    /// Nil: no room yet. `.some(nil)`: a reservation granted. `.some(buffer)`: a buffer.
    private static func take(_ s: inout State, size: Int, buffer: Bool, limit: Int) -> [UInt8]?? {
        if buffer, let i = s.cached.firstIndex(where: { $0.count == size }) {
            let b = s.cached.remove(at: i)
            s.cachedBytes -= size
            s.inUse += size
            s.peak = max(s.peak, s.inUse + s.cachedBytes)
            return .some(b)
        }
        // Make room by dropping cached buffers (of other sizes, or any for a reservation).
        while s.inUse + s.cachedBytes + size > limit, let b = s.cached.popLast() {
            s.cachedBytes -= b.count
        }
        guard s.inUse + s.cachedBytes + size <= limit else { return nil }
        s.inUse += size
        s.peak = max(s.peak, s.inUse + s.cachedBytes)
        guard buffer else { return .some(nil) }
        return .some([UInt8](unsafeUninitializedCapacity: size) { _, n in n = size })
    }
}

/// A claim that can never fit the memory budget: said at once, naming the limit and the need.
public struct MemoryBudgetError: CategorizedError, CustomStringConvertible, Sendable {
    public var category: FailureCategory { .resourceExhausted }
    public let needed: Int
    public let budget: Int
    public let origin: String
    public let what: String

    public var description: String {
        let from = origin.isEmpty ? "" : " (\(origin))"
        return "not enough memory: \(what) needs \(ResourceLimits.mebibytes(Int64(needed))), more than the plugin's whole transfer budget of \(ResourceLimits.mebibytes(Int64(budget)))\(from); raise the container's memory limit"
    }
}
