import PluginSupport
import Synchronization

/// Response body bytes waiting for nghttp2, shared by the handler (producer) and the loop
/// (consumer). At most `limit` chunks wait here: a handler writing faster than the client
/// reads is suspended, so memory per stream stays bounded whatever the body size.
final class ResponseOutbox: Sendable {
    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var offset = 0            // bytes of chunks[head] already handed to nghttp2
        var finished = false
        var trailers: [HTTP2Header]?
        var closed: HTTP2StreamError?
        var deferred = false      // nghttp2 was told DEFERRED and waits for resume_data
        var waiter: CheckedContinuation<Void, Error>?
        var cancelled = false
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
                let resume = s.deferred
                s.deferred = false
                return resume
            }
            if let queued { return queued }
            // Full: park until the loop drains a chunk, the stream closes or the task is cancelled.
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                    let immediate = state.withLock { s -> Result<Void, Error>? in
                        if s.cancelled { return .failure(CancellationError()) }
                        if let e = s.closed { return .failure(e) }
                        if s.pending < limit { return .success(()) }
                        s.waiter = c
                        return nil
                    }
                    if let immediate { c.resume(with: immediate) }
                }
            } onCancel: {
                let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
                    s.cancelled = true
                    defer { s.waiter = nil }
                    return s.waiter
                }
                w?.resume(throwing: CancellationError())
            }
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

    func read(into buffer: UnsafeMutableRawBufferPointer) -> BodyRead {
        var copied = 0
        let (result, waiter) = state.withLock { s -> (BodyRead, CheckedContinuation<Void, Error>?) in
            while copied < buffer.count, s.head < s.chunks.count {
                let chunk = s.chunks[s.head]
                let n = min(buffer.count - copied, chunk.count - s.offset)
                chunk.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[copied..<(copied + n)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[s.offset..<(s.offset + n)]))
                }
                copied += n
                s.offset += n
                if s.offset == chunk.count {
                    s.chunks[s.head] = []
                    s.head += 1
                    s.offset = 0
                    if s.head == s.chunks.count { s.chunks.removeAll(keepingCapacity: true); s.head = 0 }
                }
            }
            var w: CheckedContinuation<Void, Error>?
            if s.pending < limit, let waiter = s.waiter { w = waiter; s.waiter = nil }
            if s.pending == 0 && s.finished { return (.bytes(count: copied, end: true, trailers: s.trailers), w) }
            if copied == 0 {
                s.deferred = true
                return (.deferred, w)
            }
            return (.bytes(count: copied, end: false, trailers: nil), w)
        }
        waiter?.resume()
        return result
    }

    /// The stream is gone: wake a parked writer with the reason.
    func close(_ error: HTTP2StreamError) {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            if s.closed == nil { s.closed = error }
            s.chunks = []
            s.head = 0
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(throwing: error)
    }
}
