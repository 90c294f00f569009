import PluginSupport
import Synchronization

/// Part buffers for all uploads of a store, under one memory budget (aws-c-s3's model): a part
/// waits for a buffer rather than allocating past the budget, so memory stays bounded however
/// many transfers run and however large they are. Free buffers (up to a quarter of the budget)
/// are reused while any transfer is active, and returned to the system when none is.
///
/// A buffer is a plain `[UInt8]` of the size asked for, handed out uniquely referenced: the
/// taker fills it in place (see `IOPool.run(moving:)`) and gives it back with `release`.
public final class BufferPool: Sendable {
    private struct State {
        var inUse = 0          // bytes handed out
        var cached: [[UInt8]] = []
        var cachedBytes = 0
        var waiters: [(size: Int, c: CheckedContinuation<[UInt8], Error>, id: Int)] = []
        var nextID = 0
        var peak = 0
        var cancelled = Set<Int>()   // waiters cancelled before they were queued
    }
    private let state = Locked(State())
    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    public var peakBytes: Int { state.withLock { $0.peak } }
    public var bytesInUse: Int { state.withLock { $0.inUse } }
    public var bytesCached: Int { state.withLock { $0.cachedBytes } }

    public func acquire(size: Int) async throws -> [UInt8] {
        precondition(size <= limit, "a buffer larger than the pool's budget")
        try Task.checkCancellation()
        let id = state.withLock { s -> Int in s.nextID += 1; return s.nextID }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8], Error>) in
                let got = state.withLock { s -> Result<[UInt8], Error>? in
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if s.waiters.isEmpty, let b = Self.take(&s, size: size, limit: limit) { return .success(b) }
                    s.waiters.append((size, c, id))
                    return nil
                }
                if let got { c.resume(with: got) }
            }
        } onCancel: {
            let w = state.withLock { s -> CheckedContinuation<[UInt8], Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else {
                    s.cancelled.insert(id)
                    return nil
                }
                return s.waiters.remove(at: i).c
            }
            w?.resume(throwing: CancellationError())
        }
    }

    /// Gives a buffer back (moved in: pass it with `consume`, so the pool's copy is the only one
    /// and the next taker writes it in place).
    public func release(_ buffer: consuming [UInt8]) {
        var returned = Optional(buffer)
        var wake: [(CheckedContinuation<[UInt8], Error>, [UInt8])] = []
        state.withLock { s in
            let b = returned.take()!
            let size = b.count
            s.inUse -= size
            s.cachedBytes += size
            s.cached.append(consume b)
            while let first = s.waiters.first, let taken = Self.take(&s, size: first.size, limit: limit) {
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
        while let (c, b) = wake.popLast() { c.resume(returning: consume b) }
    }

    private static func take(_ s: inout State, size: Int, limit: Int) -> [UInt8]? {
        if let i = s.cached.firstIndex(where: { $0.count == size }) {
            let b = s.cached.remove(at: i)
            s.cachedBytes -= size
            s.inUse += size
            s.peak = max(s.peak, s.inUse + s.cachedBytes)
            return b
        }
        // Make room by dropping cached buffers of other sizes.
        while s.inUse + s.cachedBytes + size > limit, let b = s.cached.popLast() {
            s.cachedBytes -= b.count
        }
        guard s.inUse + s.cachedBytes + size <= limit else { return nil }
        s.inUse += size
        s.peak = max(s.peak, s.inUse + s.cachedBytes)
        return [UInt8](unsafeUninitializedCapacity: size) { _, n in n = size }
    }
}
