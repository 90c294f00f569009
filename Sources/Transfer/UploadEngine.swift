import ArtifactCore
import Foundation
import PluginSupport
import Synchronization

/// The upload engine (a meta request split into part requests, as in aws-c-s3): parts in
/// parallel under a concurrency limit and one memory budget, each part checked by the store on
/// its own, the object checked at the end, and resumable from a part log after a crash or
/// restart. Memory comes from the process's one budget and does not grow with the part size: a
/// file part is hashed in small steps and then sent from the file (re-read from the page cache);
/// only a stream's parts (no file behind them) and small files are held in buffers. Files are
/// read on the I/O pool; nothing here blocks a thread of the cooperative pool.
public struct UploadEngine: Sendable {
    public let transport: any PartTransport
    public let settings: MultipartSettings
    public let budget: MemoryBudget
    public let logs: PartLogStore
    public let io: IOPool

    public init(transport: any PartTransport, settings: MultipartSettings, budget: MemoryBudget, logs: PartLogStore, io: IOPool = .shared) {
        self.transport = transport
        self.settings = settings
        self.budget = budget
        self.logs = logs
        self.io = io
    }

    /// The memory one upload may hold: the store's `multipart.memoryLimit`, within the budget.
    var memoryCap: Int { Int(min(Int64(budget.limit), settings.memoryLimit)) }

    /// Files up to this size are read once into a buffer and sent from it; larger ones are
    /// hashed, then sent from the file. Small beside the budget, so many fit at once.
    var readOnceLimit: Int64 { min(settings.partSize, Int64(max(256 << 10, memoryCap / 16))) }

    /// Logged with every part (whatever the store checks), so a resumed upload can check its
    /// finished parts against the file: CRC-64 costs next to nothing in hardware.
    static let logChecksums: ChecksumSet = .crc64

    // MARK: files

    /// Uploads a local file: one PutObject up to the threshold, multipart above it.
    public func upload(file path: String, to key: String) async throws -> Int64 {
        let (fd, source) = try await io.run { () -> (FileDescriptor, SourceIdentity) in
            let fd = try FileDescriptor.openForReading(path)
            return (fd, try SourceIdentity.of(path))
        }
        let size = source.size
        if size <= settings.threshold && size <= transport.limits.maxSinglePut {
            try await putSingle(fd: fd, size: size, key: key)
        } else {
            try await uploadMultipart(fd: fd, path: path, source: source, key: key)
        }
        return size
    }

    /// A file whose size the caller already knows (a directory scan's): a small one is opened,
    /// read and closed in one hop to the I/O pool, with no stat, and sent from a buffer; one
    /// that changed size since the scan is refused. Larger files take the usual path.
    public func upload(file path: String, knownSize size: Int64, to key: String) async throws -> Int64 {
        guard size <= settings.threshold, size <= transport.limits.maxSinglePut, size <= readOnceLimit else {
            return try await upload(file: path, to: key)
        }
        let set = transport.objectChecksums
        let buffer = try await budget.acquire(size: Int(size), for: "the file \(path)")
        let (filled, checksums) = try await io.run(moving: consume buffer) { b, _ -> PartChecksums in
            let fd = try FileDescriptor.openForReading(path)
            let checksums = try Self.read(fd, into: &b, offset: 0, length: Int(size), checksums: set)
            var past: UInt8 = 0
            guard try withUnsafeMutableBytes(of: &past, { try fd.read(into: $0, at: size) }) == 0 else {
                throw ArtifactError.badSource(path, "the file grew since the directory was read")
            }
            return checksums
        }
        try await put(key, from: filled, size: Int(size), checksums: checksums)
        return size
    }

    /// One PUT: small files through a buffer (read once), larger ones streamed from the file
    /// (read twice: once for the checksums the request carries, once to send).
    private func putSingle(fd: FileDescriptor, size: Int64, key: String) async throws {
        let set = transport.objectChecksums
        if size <= readOnceLimit {
            let buffer = try await budget.acquire(size: Int(size), for: "the file \(fd.path)")
            let (filled, checksums) = try await io.run(moving: consume buffer) { b, _ in
                try Self.read(fd, into: &b, offset: 0, length: Int(size), checksums: set)
            }
            try await put(key, from: filled, size: Int(size), checksums: checksums)
        } else {
            try await budget.withReservation(transport.fileUploadMemory, for: "one streamed request") {
                let checksums = try await io.run { token in try Self.checksum(fd, offset: 0, length: size, set: set, cancellation: token) }
                try await transport.putObject(key, body: .file(fd, offset: 0, length: size), checksums: checksums)
            }
        }
    }

    /// Sends a filled buffer as one object and gives the buffer back, whatever the answer.
    private func put(_ key: String, from filled: consuming [UInt8], size: Int, checksums: PartChecksums) async throws {
        do {
            try await transport.putObject(key, body: .bytes(filled[..<size]), checksums: checksums)
        } catch {
            budget.release(consume filled)
            throw error
        }
        budget.release(consume filled)
    }

    /// Reads `length` bytes at `offset` into the start of `buffer` and computes their checksums.
    /// Read and hashed in steps of `readStep`: each step is hashed while it is still in the
    /// core's cache, instead of reading a 16 MiB part back from memory once per checksum.
    static func read(_ fd: FileDescriptor, into buffer: inout [UInt8], offset: Int64, length: Int, checksums set: ChecksumSet) throws -> PartChecksums {
        var acc = PartChecksums.Accumulator(set)
        try buffer.withUnsafeMutableBytes { all in
            var done = 0
            while done < length {
                let step = UnsafeMutableRawBufferPointer(rebasing: all[done..<min(length, done + readStep)])
                let got = try fd.read(into: step, at: offset + Int64(done))
                guard got == step.count else { throw ArtifactError.badSource(fd.path, "the file shrank while being uploaded") }
                acc.update(UnsafeRawBufferPointer(step))
                done += got
            }
        }
        return acc.finish()
    }

    static let readStep = 256 << 10

    /// Checksums of a file region, read in 1 MiB steps: memory stays flat for any size.
    static func checksum(_ fd: FileDescriptor, offset: Int64, length: Int64, set: ChecksumSet, cancellation: IOCancellation) throws -> PartChecksums {
        var acc = PartChecksums.Accumulator(set)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buf.deallocate() }
        var pos = offset
        while pos < offset + length {
            try cancellation.check()
            let n = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[..<Int(min(Int64(buf.count), offset + length - pos))]), at: pos)
            guard n > 0 else { throw ArtifactError.badSource(fd.path, "the file shrank while being uploaded") }
            acc.update(UnsafeRawBufferPointer(rebasing: buf[..<n]))
            pos += Int64(n)
        }
        return acc.finish()
    }

    private func uploadMultipart(fd: FileDescriptor, path: String, source: SourceIdentity, key: String) async throws {
        let location = transport.locate(key)
        let plan = try PartPlan.make(size: source.size, preferredPartSize: settings.partSize, limits: transport.limits)
        // Each part in flight holds only the client's queues, whatever the part size.
        let perPart = Int(min(Int64(transport.fileUploadMemory), plan.partSize))
        try budget.check(perPart, for: "one part in flight")
        let transportID = transport.transportID
        let (logs, io) = (self.logs, self.io)
        var done: [Int: UploadedPart] = [:]
        var resumed: (id: String, log: PartLogContents)?

        if settings.resume {
            let found = try await io.run { logs.load(transport: transportID, key: key) }
            if case .failure(let e) = found {
                Log.transfer.warning("\(location): checkpoint unreadable (\(e)); starting the upload over")
                try await io.run { logs.remove(transport: transportID, key: key) }
            }
            let log = try? found?.get()
            switch ResumePlan.start(log: log, source: source, partSize: plan.partSize, transport: transportID) {
            case .fresh:
                break
            case .abandon(let oldID, let reason):
                Log.transfer.info("\(location): \(reason); aborting the old upload and starting over")
                try? await transport.abortUpload(key, uploadID: oldID)
                try await io.run { logs.remove(transport: transportID, key: key) }
            case .check(let oldID):
                if let listed = try await transport.listParts(key, uploadID: oldID) {
                    for p in ResumePlan.candidates(logged: log!.parts, listed: listed, plan: plan) {
                        // The bytes on disk must still be the bytes that were sent.
                        let (off, len) = plan.range(p.number)
                        let set = Self.logChecksums
                        let local = try await io.run { token in try Self.checksum(fd, offset: off, length: len, set: set, cancellation: token) }
                        if local.matches(p.checksums, in: set) { done[p.number] = p }
                    }
                    resumed = (oldID, log!)
                    Log.transfer.info("\(location): resuming upload \(oldID): \(done.count) of \(plan.partCount) parts already stored and verified")
                } else {
                    Log.transfer.info("\(location): the checkpointed upload is gone from the store; starting over")
                    try await io.run { logs.remove(transport: transportID, key: key) }
                }
            }
        }

        let upload: NewUpload
        if let resumed {
            upload = NewUpload(id: resumed.id, checksums: ChecksumSet(names: resumed.log.header.checksums) ?? [])
        } else {
            upload = try await transport.createUpload(key)
        }
        let id = upload.id
        var writer: PartLogWriter?
        if settings.resume {
            let header = PartLogHeader(transport: transportID, key: key, uploadID: id, partSize: plan.partSize, source: source,
                                       checksums: upload.checksums)
            let resumedLog = resumed?.log
            do {
                writer = try await io.run { try resumedLog.map { try logs.reopen($0) } ?? logs.create(header) }
            } catch {
                // A log that cannot be written (read-only /tmp, full disk) costs the resume, not the upload.
                Log.transfer.warning("\(location): cannot write the upload checkpoint (\(error)); continuing without resume")
            }
        }
        let book = PartBook(done: done)
        let progress = TransferProgress("upload \(location)", total: source.size, parts: plan.partCount)
        progress.add(bytes: done.values.reduce(Int64(0)) { $0 + $1.length }, part: false)

        do {
            try await progress.track {
                let todo = (1...plan.partCount).filter { done[$0] == nil }
                let inFlight = max(1, min(settings.concurrency, memoryCap / perPart))
                let set = upload.checksums.union(Self.logChecksums)
                try await forEachConcurrently(todo, limit: inFlight) { [self, writer] n in
                    let (off, len) = plan.range(n)
                    let part = try await budget.withReservation(perPart, for: "one part in flight") {
                        let checksums = try await io.run { token in try Self.checksum(fd, offset: off, length: len, set: set, cancellation: token) }
                        return try await transport.uploadPart(key, uploadID: id, number: n, body: .file(fd, offset: off, length: len), checksums: checksums)
                    }
                    book.record(part)
                    if let writer { try await io.run { try writer.append(part) } }
                    progress.add(bytes: len)
                }
                guard try await io.run({ try SourceIdentity.of(path) }) == source else {
                    throw ArtifactError.badSource(path, "the file changed while it was being uploaded")
                }
                try await transport.completeUpload(key, uploadID: id, parts: book.parts)
            }
            try? await io.run { logs.remove(transport: transportID, key: key) }
            progress.finish("done")
        } catch {
            if Self.wasCancelled(error) && writer != nil {
                // A shutdown or a cancelled call: keep the upload and its log, so the next Save
                // of this file (after a restart) uploads only what is missing.
                progress.finish("interrupted (checkpoint kept: the next Save of this file resumes)")
            } else {
                // Failed for good (the store's answers after every retry): nothing is left behind.
                // If even the abort fails (the store out of reach), the log stays, and the next
                // Save of this file resumes or aborts that upload.
                progress.finish("failed")
                let aborted = Locked(false)
                await Cleanup.run("abort the upload of \(location)") {
                    try await transport.abortUpload(key, uploadID: id)
                    aborted.withLock { $0 = true }
                }
                if aborted.withLock({ $0 }) || writer == nil {
                    _ = try? await io.runToCompletion { logs.remove(transport: transportID, key: key) }
                }
            }
            throw error
        }
    }

    /// The call was cancelled (a client reset, a deadline, the end of the grace period): not a
    /// failure of the upload itself.
    static func wasCancelled(_ error: any Error) -> Bool {
        error is CancellationError || Task.isCancelled
    }

    // MARK: streams

    /// Uploads bytes of unknown length (SaveStream): parts fill one at a time and go out
    /// concurrently as they fill; when every buffer is busy, reading stops (and HTTP/2 flow
    /// control holds the client back). Less than one part becomes a single PutObject.
    public func upload(stream: ByteChunkSource, to key: String) async throws -> Int64 {
        let location = transport.locate(key)
        // Parts are buffered (no file behind them): at least two fit the memory cap, one filling
        // while one is sent, unless the store's smallest part allows only one.
        let minPart = Int(transport.limits.minPartSize)
        let partSize = max(minPart, Int(min(max(settings.partSize, Int64(minPart)), Int64(memoryCap / 2))))
        try budget.check(partSize, for: "a SaveStream part buffer (the store's smallest part is \(Quantities.formatBytes(Int64(minPart))))")
        let concurrency = max(1, min(settings.concurrency, memoryCap / partSize - 1))
        let maxParts = transport.limits.maxParts
        // The buffer being filled belongs to this function until handed to a part task; on any
        // exit it goes back to the budget (a leaked buffer would shrink it for good).
        var owned: [UInt8]? = try await budget.acquire(size: partSize, for: "a SaveStream part buffer")
        defer { if let b = owned.take() { budget.release(b) } }
        var filled = 0
        var total: Int64 = 0
        var upload: NewUpload?
        var partNumber = 0
        let book = PartBook(done: [:])
        let progress = TransferProgress("upload \(location) (stream)", total: nil, parts: nil)
        do {
            try await progress.track {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var running = 0
                    func dispatch(_ b: consuming [UInt8], length: Int) async throws {
                        let handoff = MovedValue(b)
                        var handedOver = false
                        defer { if !handedOver { budget.release(handoff.take()) } }
                        if upload == nil { upload = try await transport.createUpload(key) }
                        partNumber += 1
                        guard partNumber <= maxParts else {
                            throw ArtifactError.unsupported("\(location): the stream is longer than \(maxParts) parts of \(Quantities.formatBytes(Int64(partSize))); raise multipart.partSize")
                        }
                        if running >= concurrency {
                            try await group.next()
                            running -= 1
                        }
                        let (id, set, n) = (upload!.id, upload!.checksums, partNumber)
                        running += 1
                        handedOver = true
                        group.addTask {
                            let buffer = handoff.take()
                            let part: UploadedPart
                            do {
                                let bytes = buffer[..<length]
                                part = try await transport.uploadPart(key, uploadID: id, number: n, body: .bytes(bytes),
                                                                      checksums: PartChecksums.compute(bytes, set))
                            } catch {
                                budget.release(consume buffer)
                                throw error
                            }
                            budget.release(consume buffer)
                            book.record(part)
                            progress.add(bytes: Int64(length))
                        }
                    }
                    while let chunk = try await stream.next() {
                        var offset = 0
                        while offset < chunk.count {
                            if filled == partSize {
                                try await dispatch(owned.take()!, length: filled)
                                owned = try await budget.acquire(size: partSize, for: "a SaveStream part buffer")
                                filled = 0
                            }
                            let n = min(partSize - filled, chunk.count - offset)
                            let (at, from) = (filled, offset)
                            owned!.withUnsafeMutableBytes { dst in
                                chunk.withUnsafeBytes { src in
                                    UnsafeMutableRawBufferPointer(rebasing: dst[at..<(at + n)])
                                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[from..<(from + n)]))
                                }
                            }
                            filled += n
                            offset += n
                            total += Int64(n)
                        }
                    }
                    if upload == nil {
                        let bytes = owned![..<filled]
                        try await transport.putObject(key, body: .bytes(bytes), checksums: PartChecksums.compute(bytes, transport.objectChecksums))
                        progress.add(bytes: Int64(filled))
                    } else {
                        try await dispatch(owned.take()!, length: filled)
                    }
                    try await group.waitForAll()
                }
                if let id = upload?.id { try await transport.completeUpload(key, uploadID: id, parts: book.parts) }
            }
            progress.finish("done")
            return total
        } catch {
            progress.finish("failed")
            // A stream has no checkpoint to resume from: whatever the reason, drop its parts.
            if let id = upload?.id { await Cleanup.run("abort the upload of \(location)") { try await transport.abortUpload(key, uploadID: id) } }
            throw error
        }
    }
}

/// The finished parts of one upload.
final class PartBook: Sendable {
    private let done: Locked<[Int: UploadedPart]>

    init(done: [Int: UploadedPart]) {
        self.done = Locked(done)
    }

    func record(_ p: UploadedPart) {
        done.withLock { $0[p.number] = p }
        CallMetrics.countPart()
    }

    var parts: [UploadedPart] { done.withLock { $0.values.sorted { $0.number < $1.number } } }
}
