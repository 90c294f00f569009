import Glibc
import PluginSupport
import Synchronization

/// A request body that a producer task fills while curl sends it: the producer `write`s chunks
/// (waiting while the queue holds `limit` bytes), curl's read callback takes bytes on the curl
/// thread and pauses the transfer when none are there yet. The producer does the slow part
/// (reading a file on the I/O pool); the curl thread only copies memory.
public final class RequestBodyWriter: Sendable {
    enum Read {
        case bytes(Int)
        case pause
        case end
        case abort
    }

    private struct State: ParkingState {
        var chunks: [[UInt8]] = []
        var head = 0
        var offset = 0              // bytes of chunks[head] already taken
        /// Bytes of the queued chunks, each counted whole until curl has taken all of it: what
        /// they occupy (a half-sent chunk is still all in memory), so the memory a request
        /// reserves (RequestMemory.fileUpload) holds however curl's reads fall.
        var held = 0
        var finished = false
        var failure: (any Error)?
        var transferEnded = false
        var curlPaused = false
        var waiter: ParkedWaiter<Void>?
        var tickets = WaiterTickets()
        var spent: [UInt8]?         // the last chunk curl finished with, for the producer to refill
    }
    private let state = Locked(State())
    let limit: Int
    private let unpause: @Sendable () -> Void

    init(limit: Int, unpause: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.unpause = unpause
    }

    /// Queues the next bytes of the body; waits while the queue is full. Throws once the
    /// transfer has ended (failed, cancelled).
    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        while true {
            let outcome = state.withLock { s -> Result<Bool, any Error>? in
                if s.transferEnded { return .failure(Self.transferEnded) }
                guard Self.admits(held: s.held, bytes.count, limit: limit) else { return nil }
                s.chunks.append(bytes)
                s.held += bytes.count
                defer { s.curlPaused = false }
                return .success(s.curlPaused)
            }
            switch outcome {
            case .success(let wasPaused):
                if wasPaused { unpause() }
                return
            case .failure(let e):
                throw e
            case nil:
                let (limit, size) = (self.limit, bytes.count)
                try await state.park({ s, id, c in
                    if s.transferEnded { return .failure(Self.transferEnded) }
                    if Self.admits(held: s.held, size, limit: limit) { return .success(()) }
                    s.waiter = ParkedWaiter(id: id, continuation: c)
                    return nil
                }, unpark: { s, id in s.waiter.unpark(id) })
            }
        }
    }

    /// A chunk fits when the queue is empty (one larger than `limit` still goes) or stays within it.
    private static func admits(held: Int, _ size: Int, limit: Int) -> Bool {
        held == 0 || held + size <= limit
    }

    /// A chunk curl has sent, whole (its count as written), for the producer to fill again: a
    /// file body then cycles through the same few buffers instead of allocating one per MiB
    /// (each above malloc's mmap threshold, so a fresh one costs page faults).
    public func takeSpentChunk() -> [UInt8]? {
        state.withLock { s in
            defer { s.spent = nil }
            return s.spent
        }
    }

    /// Whether the producer is parked at the limit (tests wait for this instead of sleeping).
    var producerParked: Bool { state.withLock { $0.waiter != nil } }

    /// The producer has written everything.
    public func finish() {
        let wasPaused = state.withLock { s -> Bool in
            s.finished = true
            defer { s.curlPaused = false }
            return s.curlPaused
        }
        if wasPaused { unpause() }
    }

    /// The producer failed: the transfer aborts, and `failure` says why.
    func fail(_ error: any Error) {
        let wasPaused = state.withLock { s -> Bool in
            if s.failure == nil { s.failure = error }
            defer { s.curlPaused = false }
            return s.curlPaused
        }
        if wasPaused { unpause() }
    }

    var failure: (any Error)? { state.withLock { $0.failure } }

    // MARK: curl thread

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Read {
        let (result, waiter) = state.withLock { s -> (Read, CheckedContinuation<Void, Error>?) in
            if s.failure != nil { return (.abort, nil) }
            var copied = 0, freed = false
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
                    s.held -= chunk.count
                    freed = true
                    let done = s.chunks[s.head]
                    s.chunks[s.head] = []
                    if s.spent == nil { s.spent = done }
                    s.head += 1
                    s.offset = 0
                    if s.head == s.chunks.count { s.chunks.removeAll(keepingCapacity: true); s.head = 0 }
                }
            }
            var w: CheckedContinuation<Void, Error>?
            if freed { w = s.waiter.take() }     // room only when a whole chunk went; it checks whether its own fits
            if copied > 0 { return (.bytes(copied), w) }
            if s.finished { return (.end, w) }
            s.curlPaused = true
            return (.pause, w)
        }
        waiter?.resume()
        return result
    }

    /// The transfer is over: a producer still waiting gives up.
    func ended() {
        let w = state.withLock { s -> CheckedContinuation<Void, Error>? in
            s.transferEnded = true
            s.chunks = []
            s.spent = nil
            return s.waiter.take()
        }
        w?.resume(throwing: Self.transferEnded)
    }

    /// What a producer hears once the transfer is over, whether it was waiting or not.
    static let transferEnded = HTTPClientError(kind: .cancelled, message: "request body no longer wanted: the transfer ended")
}

extension RequestBodyWriter {
    /// Writes `length` bytes of the file from `offset`, read on the I/O pool in `fileChunk`s as
    /// curl takes them (a chunk curl has finished with is filled again: no fresh pages per MiB).
    /// The one place a file body is read.
    func write(file fd: FileDescriptor, offset: Int64, length: Int64, io: IOPool) async throws {
        var pos = offset
        let end = offset + length
        while pos < end {
            let (at, want) = (pos, Int(min(Int64(RequestMemory.fileChunk), end - pos)))
            let spare = takeSpentChunk() ?? []
            // `consume`: without it the local keeps a second reference, and filling the chunk
            // copies it whole first (measured: 44 MiB more at the peak of four Saves).
            let (chunk, got) = try await io.run(moving: consume spare) { b, _ -> Int in
                if b.count < want {
                    b = [UInt8](unsafeUninitializedCapacity: want) { _, n in n = want }
                } else if b.count > want {
                    b.removeLast(b.count - want)
                }
                return try b.withUnsafeMutableBytes { try fd.read(into: $0, at: at) }
            }
            guard got == want else {
                throw FileSystemError(operation: "read (the file shrank while being sent)", path: fd.path, code: EIO)
            }
            try await write(chunk)
            pos += Int64(want)
        }
    }
}
