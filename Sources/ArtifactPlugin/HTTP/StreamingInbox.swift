import PluginRPC

/// Response bytes of a streamed transfer, between curl's write callback (producer, loop thread)
/// and the caller (consumer task). Above `highWater` buffered bytes the callback pauses curl; the
/// consumer unpauses it once it has drained. Memory per stream stays near `highWater` plus
/// curl's own buffer, however slow the consumer.
final class StreamingInbox: @unchecked Sendable {
    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var buffered = 0
        var paused = false
        var done: Result<Void, Error>?
        var status: Int?
        var headers: [(String, String)] = []
        var headWaiter: CheckedContinuation<Void, Error>?
        var dataWaiter: CheckedContinuation<Void, Error>?
    }
    private let state = Locked(State())
    let highWater: Int
    /// Asks the loop to unpause the transfer (set by the client when it registers the transfer).
    var unpause: (@Sendable () -> Void)?

    init(highWater: Int = 512 << 10) {
        self.highWater = highWater
    }

    // MARK: producer (loop thread)

    func headReceived(status: Int, headers: [(String, String)]) {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            guard s.status == nil else { return nil }
            s.status = status
            s.headers = headers
            defer { s.headWaiter = nil }
            return s.headWaiter
        }
        w?.resume()
    }

    /// Takes the bytes, or returns false (and marks the transfer paused) when full.
    func offer(_ data: UnsafeRawBufferPointer) -> Bool {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>?? in
            if s.buffered >= highWater {
                s.paused = true
                return .none
            }
            s.chunks.append([UInt8](data))
            s.buffered += data.count
            defer { s.dataWaiter = nil }
            return .some(s.dataWaiter)
        }
        guard let waiter = w else { return false }
        waiter?.resume()
        return true
    }

    func complete(_ result: Result<Void, Error>) {
        let (hw, dw) = state.withLock { s -> (CheckedContinuation<Void, Error>?, CheckedContinuation<Void, Error>?) in
            if s.done == nil { s.done = result }
            defer { s.headWaiter = nil; s.dataWaiter = nil }
            return (s.headWaiter, s.dataWaiter)
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

    /// Waits for the status line and headers (or the transfer's end).
    func waitForHead() async throws -> (Int, [(String, String)])? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            let ready = state.withLock { s -> Result<Void, Error>? in
                if s.status != nil { return .success(()) }
                if let d = s.done { return d }
                s.headWaiter = c
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
        return state.withLock { s in s.status.map { ($0, s.headers) } }
    }

    /// Up to `max` bytes (everything queued so far, at least one chunk), or nil at the end.
    func next(max: Int) async throws -> [UInt8]? {
        while true {
            let (out, finished, wake) = try state.withLock { s -> ([UInt8]?, Bool, Bool) in
                if s.head < s.chunks.count {
                    // How many queued chunks fit in one piece; one chunk is handed over as it is,
                    // several are joined with a single copy each.
                    var end = s.head + 1
                    var size = s.chunks[s.head].count
                    while end < s.chunks.count, size + s.chunks[end].count <= max {
                        size += s.chunks[end].count
                        end += 1
                    }
                    var out: [UInt8]
                    if end == s.head + 1 {
                        out = s.chunks[s.head]
                    } else {
                        out = []
                        out.reserveCapacity(size)
                        for i in s.head..<end { out.append(contentsOf: s.chunks[i]) }
                    }
                    for i in s.head..<end { s.chunks[i] = [] }
                    s.head = end
                    if s.head == s.chunks.count { s.chunks.removeAll(keepingCapacity: true); s.head = 0 }
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
            if wake { unpause?() }
            if let out { return out }
            if finished { return nil }
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                let ready = state.withLock { s -> Bool in
                    if s.head < s.chunks.count || s.done != nil { return true }
                    s.dataWaiter = c
                    return false
                }
                if ready { c.resume() }
            }
        }
    }
}
