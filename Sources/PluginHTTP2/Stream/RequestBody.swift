import PluginSupport
import Synchronization

/// Why a request body or response ended early.
public enum HTTP2StreamError: Error, CustomStringConvertible, Sendable {
    /// The client reset the stream (RST_STREAM) with this HTTP/2 error code.
    case reset(UInt32)
    /// The connection closed before the stream finished.
    case connectionClosed
    /// The server is shutting down and cancelled the call.
    case cancelled

    public var description: String {
        switch self {
        case .reset(let code): return "stream reset by the client (HTTP/2 error \(code))"
        case .connectionClosed: return "connection closed"
        case .cancelled: return "call cancelled"
        }
    }
}

/// The request body as the handler reads it: chunks in arrival order.
/// Receive-window credit goes back to the client only as chunks are taken here, so a handler
/// that stops reading stops the client (HTTP/2 flow control end to end).
public final class HTTP2RequestBody: Sendable {
    private struct State: ParkingState {
        var chunks: [[UInt8]] = []
        var head = 0
        var ended = false
        var failure: HTTP2StreamError?
        var waiter: ParkedWaiter<Void>?
        var unreturnedCredit = 0
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())
    /// Gives consumed bytes back to the flow-control window (posts to the loop).
    private let returnCredit: @Sendable (Int) -> Void
    private static let creditBatch = 32 * 1024

    init(returnCredit: @escaping @Sendable (Int) -> Void) {
        self.returnCredit = returnCredit
    }

    /// The next chunk, or nil at the end of the body. Throws when the stream failed or the task
    /// was cancelled.
    public func next() async throws -> [UInt8]? {
        while true {
            try Task.checkCancellation()
            let (result, credit) = state.withLock { s -> (Result<[UInt8]?, Error>?, Int) in
                if s.head < s.chunks.count {
                    let chunk = s.chunks[s.head]
                    s.chunks[s.head] = []
                    s.head += 1
                    if s.head == s.chunks.count { s.chunks.removeAll(keepingCapacity: true); s.head = 0 }
                    s.unreturnedCredit += chunk.count
                    var credit = 0
                    if s.unreturnedCredit >= Self.creditBatch || s.chunks.isEmpty {
                        credit = s.unreturnedCredit
                        s.unreturnedCredit = 0
                    }
                    return (.success(chunk), credit)
                }
                if let f = s.failure { return (.failure(f), 0) }
                if s.ended { return (.success(nil), 0) }
                return (nil, 0)
            }
            if credit > 0 { returnCredit(credit) }
            if let result { return try result.get() }
            // Nothing yet: park until the loop appends, ends or fails the body.
            try await state.park({ s, id, c in
                if s.head < s.chunks.count || s.failure != nil || s.ended { return .success(()) }
                s.waiter = ParkedWaiter(id: id, continuation: c)
                return nil
            }, unpark: { s, id in s.waiter.unpark(id) })
        }
    }

    /// Reads the whole body, failing once it exceeds `limit` bytes.
    public func collect(limit: Int) async throws -> [UInt8]? {
        var all: [UInt8] = []
        while let chunk = try await next() {
            all.append(contentsOf: chunk)
            if all.count > limit { return nil }
        }
        return all
    }

    /// The client sent END_STREAM (or the stream failed).
    public var isEnded: Bool { state.withLock { $0.ended || $0.failure != nil } }

    // MARK: loop side

    func append(_ bytes: UnsafeRawBufferPointer) {
        let chunk = [UInt8](bytes)
        let waiter = state.withLock { s -> CheckedContinuation<Void, Error>? in
            s.chunks.append(chunk)
            return s.waiter.take()
        }
        waiter?.resume()
    }

    func finish() {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            s.ended = true
            return s.waiter.take()
        }
        w?.resume()
    }

    /// The stream closed: a reader still waiting fails, unless the body had ended normally.
    /// Returns bytes received but never consumed, so the connection window can be restored.
    func fail(_ error: HTTP2StreamError) -> Int {
        let (w, unconsumed) = state.withLock { s -> (CheckedContinuation<Void, Error>?, Int) in
            if !s.ended { s.failure = error }
            let left = s.chunks[s.head...].reduce(0) { $0 + $1.count } + s.unreturnedCredit
            s.chunks = []
            s.head = 0
            s.unreturnedCredit = 0
            return (s.waiter.take(), left)
        }
        w?.resume()   // the reader then finds the failure (or the end)
        return unconsumed
    }
}
