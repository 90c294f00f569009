import PluginSupport
import Synchronization

/// Response body bytes waiting for nghttp2, shared by the handler (producer) and the loop
/// (consumer). At most `limit` chunks wait here: a handler writing faster than the client
/// reads is suspended, so memory per stream stays bounded whatever the body size. The loop
/// never copies them: DATA frames go out as references into these buffers (`take`).
final class ResponseOutbox: Sendable {
    private struct State: ParkingState {
        var chunks: [[UInt8]] = []
        var head = 0
        var offset = 0            // bytes of chunks[head] already handed to nghttp2
        var queuedBytes = 0       // bytes of chunks not yet handed over
        var finished = false
        var trailers: [HTTP2Header]?
        var closed: HTTP2StreamError?
        var deferred = false      // nghttp2 was told DEFERRED and waits for resume_data
        var waiter: ParkedWaiter<Void>?
        var tickets = WaiterTickets()
        var pending: Int { chunks.count - head }
    }
    private let state = Locked(State())
    let limit: Int

    init(limit: Int = 2) {
        self.limit = limit
    }

    /// Queues one chunk, waiting while `limit` chunks are already queued.
    /// Returns true when the loop must be told to resume the stream.
    func write(_ bytes: [UInt8]) async throws -> Bool {
        while true {
            try Task.checkCancellation()
            let queued = try state.withLock { s -> Bool? in
                if let e = s.closed { throw e }
                if s.finished { throw HTTP2StreamError.cancelled }
                guard s.pending < limit else { return nil }
                s.chunks.append(bytes)
                s.queuedBytes += bytes.count
                let resume = s.deferred
                s.deferred = false
                return resume
            }
            if let queued { return queued }
            // Full: park until the loop drains a chunk, the stream closes or the task is cancelled.
            let room = limit
            try await state.park({ s, id, c in
                if let e = s.closed { return .failure(e) }
                if s.pending < room { return .success(()) }
                s.waiter = ParkedWaiter(id: id, continuation: c)
                return nil
            }, unpark: { s, id in s.waiter.unpark(id) })
        }
    }

    /// Ends the body; trailers (if any) follow it. Returns true when the loop must resume the stream.
    func finish(trailers: [HTTP2Header]?) -> Bool {
        state.withLock { s in
            guard !s.finished, s.closed == nil else { return false }
            s.finished = true
            s.trailers = trailers
            let resume = s.deferred
            s.deferred = false
            return resume
        }
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    // MARK: loop side

    /// How many queued bytes the next DATA frame may carry (at most `max`), and whether they end
    /// the body. Nothing moves yet: `take` hands the same bytes over when nghttp2 sends the frame.
    func reserve(max: Int) -> BodyRead {
        state.withLock { s in
            let n = min(max, s.queuedBytes)
            if n == 0 {
                if s.finished { return .bytes(count: 0, end: true, trailers: s.trailers) }
                s.deferred = true
                return .deferred
            }
            let end = s.finished && n == s.queuedBytes
            return .bytes(count: n, end: end, trailers: end ? s.trailers : nil)
        }
    }

    /// Hands the next `count` bytes to `sink` as pieces of the handler's own buffers (no copy),
    /// and wakes a writer waiting for room. False if fewer are queued (the stream was closed).
    func take(_ count: Int, into sink: (_ storage: [UInt8], _ range: Range<Int>) -> Void) -> Bool {
        var left = count
        let waiter = state.withLock { s -> CheckedContinuation<Void, Error>? in
            guard s.queuedBytes >= count else { return nil }
            while left > 0 {
                let chunk = s.chunks[s.head]
                let n = min(left, chunk.count - s.offset)
                sink(chunk, s.offset..<(s.offset + n))
                left -= n
                s.offset += n
                s.queuedBytes -= n
                if s.offset == chunk.count {
                    s.chunks[s.head] = []
                    s.head += 1
                    s.offset = 0
                    if s.head == s.chunks.count { s.chunks.removeAll(keepingCapacity: true); s.head = 0 }
                }
            }
            guard s.pending < limit else { return nil }
            return s.waiter.take()
        }
        waiter?.resume()
        return left == 0
    }

    /// The stream is gone: wake a parked writer with the reason.
    func close(_ error: HTTP2StreamError) {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            if s.closed == nil { s.closed = error }
            s.chunks = []
            s.head = 0
            s.offset = 0
            s.queuedBytes = 0
            return s.waiter.take()
        }
        w?.resume(throwing: error)
    }
}
