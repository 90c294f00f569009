import Foundation
import PluginRPC

/// The upload engine (a meta request split into part requests, as in aws-c-s3): parts in
/// parallel under a concurrency limit and one memory budget, each part verified on its own,
/// the object verified at the end, and resumable from a checkpoint after a crash or restart.
public struct MultipartUploader: Sendable {
    public let client: ObjectStoreClient
    public let settings: MultipartSettings
    public let pool: BufferPool
    public let checkpoints: CheckpointStore
    public let integrity: UploadIntegrity
    /// Identifies the store in checkpoints (`s3://endpoint`).
    public let storeID: String
    /// Headers every new object gets (storage class, …).
    public var objectHeaders: [(String, String)] = []

    static let partAttempts = 3

    // MARK: files

    /// Uploads a local file: one PutObject up to the threshold, multipart above it.
    public func upload(file path: String, to key: String) async throws -> Int64 {
        let fd = try FileDescriptor.openForReading(path)
        let size = Int64(try fd.status().st_size)
        if size <= settings.threshold && size <= client.dialect.limits.maxSinglePut {
            try await putSingle(fd: fd, size: size, key: key)
            return size
        }
        try await uploadMultipart(fd: fd, path: path, size: size, key: key)
        return size
    }

    private func putSingle(fd: FileDescriptor, size: Int64, key: String) async throws {
        let cks = try await BlockingIO.run { try Self.checksumFile(fd, offset: 0, length: size, integrity: integrity) }
        try await putVerified(key: key, body: .file(fd, offset: 0, length: size), cks: cks)
    }

    /// One PutObject whose answer must show our bytes; a mismatch sends it again, and if it
    /// keeps failing the damaged object is deleted rather than left looking complete.
    func putVerified(key: String, body: HTTPRequestBody, cks: PartChecksum) async throws {
        for attempt in 1...Self.partAttempts {
            do {
                let r = try await client.putObject(key, body: body, md5: cks.md5.isEmpty ? nil : cks.md5, extraHeaders: objectHeaders)
                try integrity.verifySingle(r, cks, location: client.locate(key))
                return
            } catch let e as StoreError where (e.code == "BadDigest" || e.code == "InvalidDigest") && attempt < Self.partAttempts {
                Log.transfer.warning("\(client.locate(key)) arrived damaged (\(e.code)); sending it again")
            } catch let e as ArtifactError {
                guard case .corrupted = e else { throw e }
                guard attempt < Self.partAttempts else {
                    try? await client.deleteObject(key)
                    throw e
                }
                Log.transfer.warning("\(e); sending it again")
            }
        }
    }

    static func checksumFile(_ fd: FileDescriptor, offset: Int64, length: Int64, integrity: UploadIntegrity) throws -> PartChecksum {
        // Streaming hash in 1 MiB steps: memory stays flat for any size.
        var md5 = Digest(.md5)
        var crc = CRC64()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buf.deallocate() }
        var pos = offset
        let probe = integrity.checksum(UnsafeRawBufferPointer(start: nil, count: 0))
        let wantsCRC = probe.crc64 != nil
        let wantsMD5 = !probe.md5.isEmpty
        while pos < offset + length {
            let n = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[..<Int(min(Int64(buf.count), offset + length - pos))]), at: pos)
            guard n > 0 else { throw ArtifactError.badSource(fd.path, "the file shrank while being uploaded") }
            let chunk = UnsafeRawBufferPointer(rebasing: buf[..<n])
            if wantsMD5 { md5.update(chunk) }
            if wantsCRC { crc.update(chunk) }
            pos += Int64(n)
        }
        let digest = md5.finish()
        return PartChecksum(md5: wantsMD5 ? digest : [], crc64: wantsCRC ? crc.value : nil, length: length)
    }

    private func uploadMultipart(fd: FileDescriptor, path: String, size: Int64, key: String) async throws {
        let location = client.locate(key)
        let plan = try PartPlan.make(size: size, preferredPartSize: settings.partSize, limits: client.dialect.limits, storeName: client.dialect.name)
        let source = try UploadCheckpoint.identify(path)
        var done: [Int: UploadCheckpoint.Part] = [:]
        var uploadID: String?

        if settings.resume, let found = checkpoints.load(store: storeID, bucket: client.address.bucket, key: key) {
            switch found {
            case .failure(let e):
                Log.transfer.warning("\(location): checkpoint unreadable (\(e)); starting the upload over")
                checkpoints.remove(store: storeID, bucket: client.address.bucket, key: key)
            case .success(let cp):
                if cp.source == source && cp.partSize == plan.partSize && cp.store == storeID {
                    do {
                        let listed = Dictionary(try await client.listParts(key, uploadID: cp.uploadID).map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
                        for p in cp.parts {
                            guard let l = listed[p.number], l.etag == p.etag else { continue }
                            // The bytes on disk must still be the bytes that were sent.
                            let (off, len) = plan.range(p.number)
                            let local = try await BlockingIO.run { try Self.checksumFile(fd, offset: off, length: len, integrity: ChecksumPolicy(md5: true, crc64: false)) }
                            if local.md5.hex == p.md5 { done[p.number] = p }
                        }
                        uploadID = cp.uploadID
                        Log.transfer.info("\(location): resuming upload \(cp.uploadID): \(done.count) of \(plan.partCount) parts already stored and verified")
                    } catch let e as StoreError where e.code == "NoSuchUpload" || e.status == 404 {
                        Log.transfer.info("\(location): the checkpointed upload is gone from the store; starting over")
                        checkpoints.remove(store: storeID, bucket: client.address.bucket, key: key)
                    }
                } else {
                    Log.transfer.info("\(location): the source changed since the checkpoint (or the part size did); aborting the old upload and starting over")
                    try? await client.abortMultipartUpload(key, uploadID: cp.uploadID)
                    checkpoints.remove(store: storeID, bucket: client.address.bucket, key: key)
                }
            }
        }
        let id: String
        if let uploadID {
            id = uploadID
        } else {
            id = try await client.createMultipartUpload(key, extraHeaders: objectHeaders)
        }
        let book = PartBook(checkpoint: UploadCheckpoint(store: storeID, bucket: client.address.bucket, key: key, uploadID: id,
                                                         partSize: plan.partSize, source: source, parts: Array(done.values)),
                            store: settings.resume ? checkpoints : nil)
        if settings.resume && uploadID == nil { await book.persistOrDisable() }
        let progress = TransferProgress("upload \(location)", total: size, parts: plan.partCount)
        progress.add(bytes: done.values.reduce(Int64(0)) { $0 + plan.range($1.number).length }, part: false)

        do {
            let todo = (1...plan.partCount).filter { done[$0] == nil }
            let inFlight = max(1, min(settings.concurrency, Int(Int64(pool.limit) / plan.partSize)))
            let buffered = plan.partSize <= Int64(pool.limit)
            try await forEachConcurrently(todo, limit: inFlight) { n in
                let (off, len) = plan.range(n)
                let part: UploadCheckpoint.Part
                if buffered {
                    let buffer = try await pool.acquire(size: Int(plan.partSize))
                    defer { pool.release(buffer) }
                    let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[..<Int(len)])
                    let target = UncheckedSendable(bytes)   // owned by this task until released
                    let got = try await BlockingIO.run { try fd.read(into: target.value, at: off) }
                    guard got == Int(len) else { throw ArtifactError.badSource(path, "the file shrank while being uploaded") }
                    let cks = integrity.checksum(UnsafeRawBufferPointer(bytes))
                    part = try await sendPart(key: key, uploadID: id, number: n, body: .buffer(UnsafeRawBufferPointer(bytes)), cks: cks, progress: progress)
                } else {
                    // Parts larger than the whole memory budget are read from the file as they go.
                    let cks = try await BlockingIO.run { try Self.checksumFile(fd, offset: off, length: len, integrity: integrity) }
                    part = try await sendPart(key: key, uploadID: id, number: n, body: .file(fd, offset: off, length: len), cks: cks, progress: progress)
                }
                try await book.record(part)
                progress.add(bytes: len)
            }
            guard try UploadCheckpoint.identify(path) == source else {
                throw ArtifactError.badSource(path, "the file changed while it was being uploaded")
            }
            let parts = book.parts
            let r = try await complete(key: key, uploadID: id, parts: parts)
            checkpoints.remove(store: storeID, bucket: client.address.bucket, key: key)
            try await verifyCompleted(r, key: key, parts: parts.map { PartChecksum(md5: [], crc64: $0.crc64, length: plan.range($0.number).length) })
            progress.finish("done")
        } catch {
            if Self.isInterruption(error) && book.resumable {
                // A shutdown, a cancelled call or a store out of reach: keep the upload and its
                // checkpoint, so the next Save of this file uploads only what is missing.
                progress.finish("interrupted (checkpoint kept: the next Save of this file resumes)")
            } else {
                progress.finish("failed")
                await Cleanup.run("abort the upload of \(location)") { try await client.abortMultipartUpload(key, uploadID: id) }
                checkpoints.remove(store: storeID, bucket: client.address.bucket, key: key)
            }
            throw error
        }
    }

    /// Failures the next attempt may not meet: cancellation, and the store out of reach after
    /// every retry (connection errors, timeouts, 5xx).
    static func isInterruption(_ e: Error) -> Bool {
        if e is CancellationError { return true }
        if let h = e as? HTTPClientError, h.kind == .cancelled || h.isTransient { return true }
        if let s = e as? StoreError, s.status >= 500 { return true }
        return Task.isCancelled
    }

    /// One part with its checks; BadDigest or a checksum mismatch sends the part again.
    private func sendPart(key: String, uploadID: String, number: Int, body: HTTPRequestBody, cks: PartChecksum,
                          progress: TransferProgress) async throws -> UploadCheckpoint.Part {
        var attempt = 1
        while true {
            do {
                let r = try await client.uploadPart(key, uploadID: uploadID, partNumber: number, body: body, md5: cks.md5.isEmpty ? nil : cks.md5)
                try integrity.verifyPart(r, cks, partNumber: number, location: client.locate(key))
                guard let etag = r.header("ETag") else {
                    throw ArtifactError.store("\(client.locate(key)): part \(number) stored without an ETag")
                }
                return UploadCheckpoint.Part(number: number, etag: etag, md5: cks.md5.hex, crc64: cks.crc64, length: cks.length)
            } catch let e as StoreError where (e.code == "BadDigest" || e.code == "InvalidDigest") && attempt < Self.partAttempts {
                Log.transfer.warning("\(client.locate(key)): part \(number) arrived damaged (\(e.code)); sending it again")
            } catch let e as ArtifactError where attempt < Self.partAttempts {
                guard case .corrupted = e else { throw e }
                Log.transfer.warning("\(e); sending part \(number) again")
            }
            attempt += 1
            progress.retried()
        }
    }

    // MARK: streams

    /// Uploads bytes of unknown length (SaveStream): parts fill one at a time and go out
    /// concurrently as they fill; when every buffer is busy, reading stops (and HTTP/2 flow
    /// control holds the client back). Less than one part becomes a single PutObject.
    public func upload(stream: ByteChunkSource, to key: String) async throws -> Int64 {
        let location = client.locate(key)
        let partSize = Int(min(max(settings.partSize, client.dialect.limits.minPartSize), Int64(pool.limit)))
        // The buffer being filled belongs to this function until handed to a part task; on any
        // exit it goes back to the pool (a leaked buffer would shrink the budget for good).
        var owned: BufferPool.Buffer? = try await pool.acquire(size: partSize)
        defer { if let b = owned { pool.release(b) } }
        var filled = 0
        var total: Int64 = 0
        var uploadID: String?
        var partNumber = 0
        let book = PartBook(checkpoint: nil, store: nil)
        let progress = TransferProgress("upload \(location) (stream)", total: nil, parts: nil)
        let maxParts = client.dialect.limits.maxParts
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var running = 0
                func dispatch(_ b: BufferPool.Buffer, length: Int) async throws {
                    var handedOver = false
                    defer { if !handedOver { pool.release(b) } }
                    if uploadID == nil { uploadID = try await client.createMultipartUpload(key, extraHeaders: objectHeaders) }
                    partNumber += 1
                    guard partNumber <= maxParts else {
                        throw ArtifactError.unsupported("\(location): the stream is longer than \(maxParts) parts of \(Quantities.formatBytes(Int64(partSize))); raise multipart.partSize")
                    }
                    if running >= settings.concurrency {
                        try await group.next()
                        running -= 1
                    }
                    let (id, n) = (uploadID!, partNumber)
                    running += 1
                    handedOver = true
                    group.addTask {
                        defer { pool.release(b) }
                        let bytes = UnsafeRawBufferPointer(rebasing: b.bytes[..<length])
                        let part = try await sendPart(key: key, uploadID: id, number: n, body: .buffer(bytes), cks: integrity.checksum(bytes), progress: progress)
                        try await book.record(part)
                        progress.add(bytes: Int64(length))
                    }
                }
                while let chunk = try await stream.next() {
                    var offset = 0
                    while offset < chunk.count {
                        if filled == partSize {
                            let full = owned!
                            owned = nil
                            try await dispatch(full, length: filled)
                            owned = try await pool.acquire(size: partSize)
                            filled = 0
                        }
                        let n = min(partSize - filled, chunk.count - offset)
                        let target = owned!
                        chunk.withUnsafeBytes { src in
                            UnsafeMutableRawBufferPointer(rebasing: target.bytes[filled..<(filled + n)])
                                .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n)]))
                        }
                        filled += n
                        offset += n
                        total += Int64(n)
                    }
                }
                if uploadID == nil {
                    let bytes = UnsafeRawBufferPointer(rebasing: owned!.bytes[..<filled])
                    try await putVerified(key: key, body: .buffer(bytes), cks: integrity.checksum(bytes))
                    progress.add(bytes: Int64(filled))
                } else {
                    let last = owned!
                    owned = nil
                    try await dispatch(last, length: filled)
                }
                try await group.waitForAll()
            }
            if let id = uploadID {
                let parts = book.parts
                let r = try await complete(key: key, uploadID: id, parts: parts)
                try await verifyCompleted(r, key: key, parts: parts.map { PartChecksum(md5: [], crc64: $0.crc64, length: $0.length ?? 0) })
            }
            progress.finish("done")
            return total
        } catch {
            progress.finish("failed")
            // A stream has no checkpoint to resume from: whatever the reason, drop its parts.
            if let id = uploadID { await Cleanup.run("abort the upload of \(location)") { try await client.abortMultipartUpload(key, uploadID: id) } }
            throw error
        }
    }

    /// CompleteMultipartUpload. If a retried completion finds the upload gone, the first attempt
    /// may have succeeded with its answer lost: the object is accepted when it shows our parts.
    func complete(key: String, uploadID: String, parts: [UploadCheckpoint.Part]) async throws -> HTTPResponse {
        do {
            return try await client.completeMultipartUpload(key, uploadID: uploadID, parts: parts.map { .init(number: $0.number, etag: $0.etag) })
        } catch let e as StoreError where e.code == "NoSuchUpload" {
            guard let head = try await client.headObject(key), let etag = head.etag?.trimmingCharacters(in: "\""),
                  etag.hasSuffix("-\(parts.count)"), head.size == parts.reduce(0, { $0 + ($1.length ?? 0) }) || parts.contains(where: { $0.length == nil }) else {
                throw e
            }
            Log.transfer.notice("\(client.locate(key)): completion answered NoSuchUpload after a retry, and the object shows our \(parts.count) parts: completed")
            var r = HTTPResponse(status: 200, headers: [], body: Array("<CompleteMultipartUploadResult><ETag>\(etag)</ETag></CompleteMultipartUploadResult>".utf8), bodyLength: 0, trailers: [])
            if let crc = try await client.headCRC(key) { r.headers.append((ChecksumPolicy.crcHeader, String(crc))) }
            return r
        }
    }

    /// The completed object must pass the integrity checks; one that does not is deleted rather
    /// than left looking complete.
    func verifyCompleted(_ r: HTTPResponse, key: String, parts: [PartChecksum]) async throws {
        do {
            try integrity.verifyObject(r, parts: parts, location: client.locate(key))
        } catch {
            await Cleanup.run("remove the damaged object \(client.locate(key))") { try await client.deleteObject(key) }
            throw error
        }
    }
}

/// Clean-up that must happen even when the call that needs it was cancelled (a client reset, a
/// deadline, the end of the grace period): it runs detached from the caller's cancellation,
/// bounded in time, and its own failure is logged, not thrown.
enum Cleanup {
    static func run(_ what: String, timeout: Duration = .seconds(30), _ body: @escaping @Sendable () async throws -> Void) async {
        let task = Task.detached {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw ArtifactError.store("timed out after \(timeout)")
                }
                try await group.next()
                group.cancelAll()
            }
        }
        do {
            try await task.value
        } catch {
            Log.transfer.warning("could not \(what): \(error)")
        }
    }
}

/// Finished parts of one upload, and its checkpoint file kept in step.
final class PartBook: @unchecked Sendable {
    private let state: Locked<UploadCheckpoint?>
    private let partsDone = Locked([Int: UploadCheckpoint.Part]())
    private let store: CheckpointStore?
    private let writeLock = Locked(0)

    init(checkpoint: UploadCheckpoint?, store: CheckpointStore?) {
        state = Locked(checkpoint)
        self.store = store
        for p in checkpoint?.parts ?? [] { partsDone.withLock { $0[p.number] = p } }
    }

    var parts: [UploadCheckpoint.Part] { partsDone.current.values.sorted { $0.number < $1.number } }

    private let disabled = Locked(false)

    /// Whether a checkpoint is being kept (resume is on and writing it works).
    var resumable: Bool { store != nil && !disabled.current }

    func record(_ p: UploadCheckpoint.Part) async throws {
        partsDone.withLock { $0[p.number] = p }
        guard resumable else { return }
        await persistOrDisable()
    }

    /// A checkpoint that cannot be written (read-only /tmp, full disk) costs the resume, not the upload.
    func persistOrDisable() async {
        guard resumable else { return }
        do {
            try await BlockingIO.run { [self] in try persist() }
        } catch {
            disabled.withLock { $0 = true }
            Log.transfer.warning("cannot write the upload checkpoint (\(error)); continuing without resume")
        }
    }

    func persist() throws {
        guard let store else { return }
        // One writer at a time; each write has every part finished so far.
        try writeLock.withLock { _ in
            guard var c = state.current else { return }
            c.parts = parts
            try store.save(c)
        }
    }
}
