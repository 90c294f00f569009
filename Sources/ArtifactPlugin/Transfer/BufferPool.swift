import PluginRPC

/// Part buffers for all uploads of a store, under one memory budget (aws-c-s3's model):
/// a part waits for a buffer rather than allocating past the budget, so memory stays bounded
/// however many transfers run and however large they are. Free buffers are reused while any
/// transfer is active, and returned to the system when none is.
public final class BufferPool: @unchecked Sendable {
    public final class Buffer: @unchecked Sendable {
        public let bytes: UnsafeMutableRawBufferPointer
        init(size: Int) { bytes = .allocate(byteCount: size, alignment: 4096) }
        deinit { bytes.deallocate() }
        public var size: Int { bytes.count }
    }

    private struct State {
        var inUse = 0          // bytes handed out
        var cached: [Buffer] = []
        var cachedBytes = 0
        var waiters: [(size: Int, c: CheckedContinuation<Buffer, Error>, id: Int)] = []
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

    public func acquire(size: Int) async throws -> Buffer {
        precondition(size <= limit, "a buffer larger than the pool's budget")
        try Task.checkCancellation()
        let id = state.withLock { s -> Int in s.nextID += 1; return s.nextID }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Buffer, Error>) in
                let got = state.withLock { s -> Result<Buffer, Error>? in
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if s.waiters.isEmpty, let b = Self.take(&s, size: size, limit: limit) { return .success(b) }
                    s.waiters.append((size, c, id))
                    return nil
                }
                if let got { c.resume(with: got) }
            }
        } onCancel: {
            let w = state.withLock { s -> CheckedContinuation<Buffer, Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else {
                    s.cancelled.insert(id)
                    return nil
                }
                return s.waiters.remove(at: i).c
            }
            w?.resume(throwing: CancellationError())
        }
    }

    public func release(_ buffer: Buffer) {
        var wake: [(CheckedContinuation<Buffer, Error>, Buffer)] = []
        state.withLock { s in
            s.inUse -= buffer.size
            s.cached.append(buffer)
            s.cachedBytes += buffer.size
            while let first = s.waiters.first, let b = Self.take(&s, size: first.size, limit: limit) {
                s.waiters.removeFirst()
                wake.append((first.c, b))
            }
            if s.inUse == 0 && s.waiters.isEmpty {
                s.cached = []          // idle: give the memory back
                s.cachedBytes = 0
            }
        }
        for (c, b) in wake { c.resume(returning: b) }
    }

    private static func take(_ s: inout State, size: Int, limit: Int) -> Buffer? {
        if let i = s.cached.firstIndex(where: { $0.size == size }) {
            let b = s.cached.remove(at: i)
            s.cachedBytes -= size
            s.inUse += size
            s.peak = max(s.peak, s.inUse + s.cachedBytes)
            return b
        }
        // Make room by dropping cached buffers of other sizes.
        while s.inUse + s.cachedBytes + size > limit, let b = s.cached.popLast() {
            s.cachedBytes -= b.size
        }
        guard s.inUse + s.cachedBytes + size <= limit else { return nil }
        s.inUse += size
        s.peak = max(s.peak, s.inUse + s.cachedBytes)
        return Buffer(size: size)
    }
}
