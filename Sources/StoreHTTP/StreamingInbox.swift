import PluginSupport
import Synchronization

/// Response bytes of a streamed transfer, between curl's write callback (producer, curl thread)
/// and the caller (consumer task). The callback copies into segments of up to `segment` bytes
/// (the one copy between curl and the caller); the consumer takes whole segments, except the
/// response's first bytes (at once: a stream's first byte waits for nothing), the last ones and
/// what is there while curl is paused. Handing over every piece as it came made a consumer that
/// is ahead wake per TLS record (16 KiB): over HTTPS a Load spent +0.82 CPU s/GiB. Above
/// `highWater` queued bytes the callback pauses curl; the consumer unpauses it once it has
/// drained half. Memory per stream stays near `highWater` plus curl's own buffer, however slow
/// the consumer.
final class StreamingInbox: Sendable {
    private struct State: ParkingState {
        var ready: [[UInt8]] = []
        var head = 0
        var current: [UInt8] = []
        var buffered = 0
        var paused = false
        var handedOut = false   // the consumer has had bytes
        var done: Result<Void, any Error>?
        var status: Int?
        var headers: [(String, String)] = []
        var headWaiter: ParkedWaiter<Void>?
        var dataWaiter: ParkedWaiter<Void>?
        var tickets = WaiterTickets()

        /// A whole segment, or a part one that may go now: the response's first bytes, its last
        /// (the transfer is done), or all there is while curl is paused.
        var hasSomethingToTake: Bool {
            head < ready.count || (!current.isEmpty && (!handedOut || done != nil || paused))
        }
    }
    private let state = Locked(State())
    let segment: Int
    let highWater: Int
    /// Asks the curl thread to unpause the transfer.
    private let unpause: @Sendable () -> Void

    init(segment: Int, highWater: Int? = nil, unpause: @escaping @Sendable () -> Void) {
        self.segment = Self.segmentSize(segment)
        self.highWater = highWater ?? Self.highWater(segment: segment)
        self.unpause = unpause
    }

    static func segmentSize(_ asked: Int) -> Int { max(16 << 10, asked) }
    static func highWater(segment: Int) -> Int { max(512 << 10, 2 * segmentSize(segment)) }

    // MARK: producer (curl thread)

    func headReceived(status: Int, headers: [(String, String)]) {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            guard s.status == nil else { return nil }
            s.status = status
            s.headers = headers
            return s.headWaiter.take()
        }
        w?.resume()
    }

    /// Takes the bytes (always: refusing them would make curl keep a copy of its own) and says
    /// whether the transfer must pause now, the caller being behind.
    func offer(_ data: UnsafeRawBufferPointer) -> Bool {
        let (pause, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Error>?) in
            var rest = data
            while !rest.isEmpty {
                if s.current.capacity < segment { s.current.reserveCapacity(segment) }
                let n = min(segment - s.current.count, rest.count)
                s.current.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<n]))
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                if s.current.count == segment {
                    s.ready.append(s.current)
                    s.current = []
                }
            }
            s.buffered += data.count
            if s.buffered >= highWater { s.paused = true }
            return (s.paused, s.hasSomethingToTake ? s.dataWaiter.take() : nil)
        }
        waiter?.resume()
        return pause
    }

    func complete(_ result: Result<Void, any Error>) {
        let (hw, dw) = state.withLock { s -> (CheckedContinuation<Void, Error>?, CheckedContinuation<Void, Error>?) in
            if s.done == nil { s.done = result }
            return (s.headWaiter.take(), s.dataWaiter.take())
        }
        switch result {
        case .success:
            hw?.resume()
            dw?.resume()
        case .failure(let e):
            hw?.resume(throwing: e)
            dw?.resume(throwing: e)
        }
    }

    // MARK: consumer

    /// The consumer is parked, waiting for bytes (for tests).
    var consumerParked: Bool { state.withLock { $0.dataWaiter != nil } }

    /// Waits for the status line and headers (or the transfer's end).
    func waitForHead() async throws -> (Int, [(String, String)])? {
        try await state.park({ s, id, c in
            if s.status != nil { return .success(()) }
            if let d = s.done { return d }
            s.headWaiter = ParkedWaiter(id: id, continuation: c)
            return nil
        }, unpark: { s, id in s.headWaiter.unpark(id) })
        return state.withLock { s in s.status.map { ($0, s.headers) } }
    }

    /// The next segment (a full one, or what has arrived), or nil at the end.
    func next() async throws -> [UInt8]? {
        while true {
            let (out, finished, wake) = try state.withLock { s -> ([UInt8]?, Bool, Bool) in
                var out: [UInt8]?
                if s.head < s.ready.count {
                    out = s.ready[s.head]
                    s.ready[s.head] = []
                    s.head += 1
                    if s.head == s.ready.count { s.ready.removeAll(keepingCapacity: true); s.head = 0 }
                } else if s.hasSomethingToTake {
                    out = s.current
                    s.current = []
                }
                if let out {
                    s.handedOut = true
                    s.buffered -= out.count
                    var wake = false
                    if s.paused && s.buffered < highWater / 2 {
                        s.paused = false
                        wake = true
                    }
                    return (out, false, wake)
                }
                if let d = s.done {
                    try d.get()
                    return (nil, true, false)
                }
                return (nil, false, false)
            }
            if wake { unpause() }
            if let out { return out }
            if finished { return nil }
            try await state.park({ s, id, c in
                if s.hasSomethingToTake || s.done != nil { return .success(()) }
                s.dataWaiter = ParkedWaiter(id: id, continuation: c)
                return nil
            }, unpark: { s, id in s.dataWaiter.unpark(id) })
        }
    }
}
