import ArtifactCore
import Checksums
import Foundation
import PluginSupport
import Synchronization

/// Downloads: a Load of one object into a local file (parallel ranged GETs, every range
/// If-Match the first ETag, pieces written in place on the I/O pool, the size and, where the
/// store reports one, the CRC-64 checked, then renamed into place), and a streamed read of one
/// object into a sink (resumed once after a dropped connection, never ending short).
public struct DownloadEngine: Sendable {
    public let transport: any PartTransport
    public let settings: LoadSettings
    public let io: IOPool
    /// Each request in flight claims its memory (the client's queues) here.
    public let budget: MemoryBudget
    /// Pieces a Load's answers arrive in (and the largest single write to the file). Small
    /// enough that a piece is still in the CPU's cache when it is copied into the page cache:
    /// with 1 MiB pieces that copy cost a 1 GiB Load 0.4-0.5 CPU s (perf, at 0.5 CPU).
    static let segment = 256 << 10

    public init(transport: any PartTransport, settings: LoadSettings, budget: MemoryBudget, io: IOPool = .shared) {
        self.transport = transport
        self.settings = settings
        self.budget = budget
        self.io = io
    }

    var checksCRC64: Bool { transport.downloadChecksum.contains(.crc64) }

    // MARK: Load

    /// Writes `object` to the local file `path`, atomically (a temp file beside it, then rename),
    /// without fsync: the file is the pod's scratch copy, loaded again after a crash.
    public func download(_ object: ObjectInfo, to path: String) async throws {
        let parent = FileSystem.parent(path)
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let temp = parent + "/" + FileSystem.uniqueName(prefix: ".\(name.prefix(64)).argo-partial-")
        let partSize = settings.partSize
        let fd = try await io.run { () -> FileDescriptor in
            try FileSystem.makeDirectories(parent)
            let fd = try FileDescriptor.createExclusive(temp)
            if object.size > partSize { try fd.truncate(to: object.size) }
            return fd
        }
        do {
            let ranges: [ByteRange?] = object.size > partSize
                ? stride(from: Int64(0), to: object.size, by: Int(partSize)).map { ByteRange(offset: $0, length: min(partSize, object.size - $0)) }
                : [nil]
            let pieces = Locked([Int64: (crc: UInt64?, length: Int64, whole: UInt64?)]())
            let crc = checksCRC64
            let perRange = transport.downloadMemory(segment: Self.segment)
            try budget.check(perRange, for: "one ranged read in flight")
            let inFlight = max(1, min(settings.concurrency, budget.limit / perRange))
            let writes = TurnTaking()   // one pwrite into the file at a time (see TurnTaking)
            try await forEachConcurrently(ranges, limit: inFlight) { [transport, io, budget] range in
                try await budget.withReservation(perRange, for: "one ranged read in flight") {
                    let start = range?.offset ?? 0
                    let want = range?.length ?? object.size
                    let location = transport.locate(object.key)
                    var offset = start
                    var sum = CRC64()
                    var objectCRC: UInt64?
                    var attempt = 1
                    // A body that breaks is fetched again from the byte reached (If-Match keeps the
                    // version), as often as the store's retry strategy allows.
                    while true {
                        do {
                            let rest = ByteRange(offset: offset, length: start + want - offset)
                            let body = try await transport.getObject(object.key, range: range == nil && offset == 0 ? nil : rest,
                                                                     ifMatch: object.etag, segment: Self.segment)
                            defer { body.cancel() }
                            if let n = body.info.bodyLength, n != start + want - offset {
                                throw ArtifactError.corrupted("\(location): bytes \(offset)-\(start + want - 1) came back as \(n) bytes")
                            }
                            objectCRC = objectCRC ?? body.info.objectCRC64
                            while let piece = try await body.next() {
                                guard offset + Int64(piece.count) <= start + want else {
                                    throw ArtifactError.corrupted("\(location): bytes \(start)-\(start + want - 1) came back longer")
                                }
                                let at = offset
                                try await writes.run { try await io.run { try piece.withUnsafeBytes { try fd.write($0, at: at) } } }
                                if crc { piece.withUnsafeBytes { sum.update($0) } }
                                offset += Int64(piece.count)
                            }
                            guard offset - start == want else {
                                throw ArtifactError.corrupted("\(location): bytes \(start)-\(start + want - 1) came back as \(offset - start) bytes")
                            }
                            break
                        } catch where offset < start + want && !Task.isCancelled && transport.failureKind(error) == .connectionDropped {
                            guard let pause = transport.retryPause(after: error, attempt: attempt) else { throw error }
                            Log.store.notice("\(location): \(error) at byte \(offset); fetching the rest again (attempt \(attempt + 1))")
                            attempt += 1
                            CallMetrics.countRetry()
                            try await Timers.sleep(for: pause)
                        }
                    }
                    let value = sum.value
                    pieces.withLock { $0[start] = (crc ? value : nil, want, objectCRC) }
                    CallMetrics.countPart()
                }
            }
            if crc {
                let ordered = pieces.withLock { $0.sorted { $0.key < $1.key }.map(\.value) }
                if let expected = ordered.compactMap(\.whole).first, ordered.allSatisfy({ $0.crc != nil }) {
                    let got = ordered.reduce(UInt64(0)) { CRC64.combine($0, $1.crc!, lengthB: $1.length) }
                    guard got == expected else {
                        throw ArtifactError.corrupted("\(transport.locate(object.key)): the bytes received have CRC-64 \(got), the store says \(expected)")
                    }
                }
            }
            let locate = transport.locate(object.key)
            try await io.run {
                let size = Int64(try fd.status().st_size)
                guard size == object.size else { throw ArtifactError.corrupted("\(locate): wrote \(size) bytes, expected \(object.size)") }
                if let (kind, _) = try FileSystem.kind(path), kind == .directory {
                    throw ArtifactError.conflict("cannot write file \(path): a directory is there")
                }
                try FileSystem.rename(temp, path)
            }
        } catch {
            _ = try? await io.runToCompletion { try FileSystem.remove(temp) }
            if transport.failureKind(error) == .objectChanged {
                throw ArtifactError.conflict("\(transport.locate(object.key)) was overwritten while being downloaded (its ETag changed); load it again")
            }
            throw error
        }
    }

    // MARK: streams

    /// Sends the object's bytes in pieces of at most `chunkSize`. A dropped connection is healed
    /// once by resuming at the byte reached (If-Match keeps two versions from mixing); a short
    /// body is an error, never an end; where the store reports a CRC-64 the bytes sent are
    /// checked against it before the stream may complete. `opened` is a GET already answered
    /// (OpenStream asks without a HEAD first). `memoryClaimed`: the caller holds `streamMemory`
    /// of the budget already (it claimed it before opening the GET).
    public func read(_ object: ObjectInfo, chunkSize: Int, into sink: ByteSink, opened: (any ObjectBodyStream)? = nil,
                     memoryClaimed: Bool = false) async throws {
        guard !memoryClaimed else { return try await readClaimed(object, chunkSize: chunkSize, into: sink, opened: opened) }
        try await budget.withReservation(streamMemory(chunkSize: chunkSize), for: "one stream") {
            try await readClaimed(object, chunkSize: chunkSize, into: sink, opened: nil)
        }
    }

    /// What one streamed read holds: the client's queues and a chunk on its way to the sink.
    public func streamMemory(chunkSize: Int) -> Int { transport.downloadMemory(segment: chunkSize) + chunkSize }

    private func readClaimed(_ object: ObjectInfo, chunkSize: Int, into sink: ByteSink, opened: (any ObjectBodyStream)?) async throws {
        var offset: Int64 = 0
        var resumed = false
        var crc = CRC64()
        var expectedCRC: UInt64?
        var pending = opened
        let location = transport.locate(object.key)
        while true {
            do {
                let body: any ObjectBodyStream
                if let p = pending {
                    body = p
                    pending = nil
                } else {
                    body = try await transport.getObject(object.key, range: offset > 0 ? ByteRange(offset: offset, length: nil) : nil,
                                                         ifMatch: object.etag, segment: chunkSize)
                }
                defer { body.cancel() }
                if expectedCRC == nil { expectedCRC = body.info.objectCRC64 }
                while let piece = try await body.next() {
                    if checksCRC64 { piece.withUnsafeBytes { crc.update($0) } }
                    try await sink.send(piece)
                    offset += Int64(piece.count)
                }
                guard offset == object.size else {
                    throw ArtifactError.corrupted("\(location): the store sent \(offset) of \(object.size) bytes")
                }
                if checksCRC64, let expectedCRC, crc.value != expectedCRC {
                    throw ArtifactError.corrupted("\(location): the bytes streamed have CRC-64 \(crc.value), the store says \(expectedCRC)")
                }
                return
            } catch where transport.failureKind(error) == .connectionDropped && !resumed && offset < object.size && !Task.isCancelled {
                resumed = true
                CallMetrics.countRetry()
                Log.store.notice("\(location): \(error) at byte \(offset); resuming from there")
            } catch where transport.failureKind(error) == .objectChanged {
                throw ArtifactError.conflict("\(location) was overwritten while being streamed (its ETag changed)")
            }
        }
    }
}
