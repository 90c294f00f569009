import Foundation
import PluginRPC

/// An object store reached over HTTP (S3 or OSS): Argo's store operations on top of the shared
/// bucket operations, the upload engine and the streaming reader.
public final class RemoteStore: ArtifactStore, @unchecked Sendable {
    public let configuration: PluginConfiguration
    public let dialect: StoreDialect
    public let address: BucketAddress
    let credentials: CredentialProvider
    let integrity: UploadIntegrity
    let pool: BufferPool
    let objectHeaders: [(String, String)]
    private let prepared = Locked<Task<ObjectStoreClient, Error>?>(nil)
    private let retentionApplied = Locked(Set<String>())

    public var displayName: String { "\(dialect.locationScheme)://\(address.bucket)" }

    public init(configuration c: PluginConfiguration, dialect: StoreDialect, credentials: CredentialProvider,
                integrity: UploadIntegrity, objectHeaders: [(String, String)] = []) {
        configuration = c
        self.dialect = dialect
        address = BucketAddress(endpoint: c.endpoint!, bucket: c.bucket!, insecure: c.insecure, style: c.addressingStyle)
        self.credentials = credentials
        self.integrity = integrity
        pool = BufferPool(limit: Int(c.multipart.memoryLimit))
        self.objectHeaders = objectHeaders
    }

    public func locate(_ key: String) -> String { "\(dialect.locationScheme)://\(address.bucket)/\(key)" }

    /// The client, ready: CA bundle fetched (caSecret), bucket created if asked. Once per store.
    func client() async throws -> ObjectStoreClient {
        let task = prepared.withLock { t -> Task<ObjectStoreClient, Error> in
            if let t { return t }
            let new = Task { try await self.prepare() }
            t = new
            return new
        }
        do {
            return try await task.value
        } catch {
            prepared.withLock { $0 = nil }   // try again on the next call
            throw error
        }
    }

    private func prepare() async throws -> ObjectStoreClient {
        var transport = HTTPTransportOptions()
        transport.httpVersion = .http1
        transport.connectTimeoutSeconds = configuration.timeouts.connectSeconds
        transport.stallTimeoutSeconds = configuration.timeouts.stallSeconds
        if let ca = configuration.caSecret {
            do {
                transport.caPEM = try await KubernetesClient().secretValue(ca)
            } catch let e as KubernetesError {
                throw CredentialError(message: "cannot read caSecret: \(e.message)")
            }
        }
        let client = ObjectStoreClient(address: address, dialect: dialect, credentials: credentials, transport: transport,
                                       retry: RetryPolicy(attempts: configuration.retry.attempts))
        if configuration.createBucketIfNotPresent, try await !client.bucketExists() {
            try await client.createBucket(region: configuration.region)
            Log.store.info("created bucket \(displayName)")
        }
        return client
    }

    var uploader: MultipartUploader {
        get async throws {
            var u = MultipartUploader(client: try await client(), settings: configuration.multipart, pool: pool,
                                      checkpoints: CheckpointStore(directory: configuration.multipart.checkpointDir),
                                      integrity: integrity, storeID: "\(dialect.locationScheme)://\(address.endpointHost)")
            u.objectHeaders = objectHeaders
            return u
        }
    }

    // MARK: namespace

    public func head(_ key: String) async throws -> ObjectInfo? {
        try await client().headObject(key)
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await client().listAll(prefix: prefix)
    }

    public func hasObjects(prefix: String) async throws -> Bool {
        try await !client().listObjectsV2(prefix: prefix, token: nil, maxKeys: 1).objects.isEmpty
    }

    // MARK: uploads

    public func upload(file path: String, to key: String) async throws {
        _ = try await uploader.upload(file: path, to: key)
    }

    public func upload(stream: ByteChunkSource, to key: String) async throws -> Int64 {
        try await uploader.upload(stream: stream, to: key)
    }

    /// Files go up concurrently; if any fails, the objects this Save created are deleted again
    /// (objects that existed before are never touched by the clean-up).
    public func uploadDirectory(_ files: [LocalFile], to key: String) async throws {
        let client = try await client()
        let prefix = key + "/"
        let existing = Set(try await client.listAll(prefix: prefix).map(\.key))
        // Every key this Save started writing: a request sent in full just before a cancel can
        // still land after the clean-up began, so clean-up looks again for those.
        let attempted = Locked(Set<String>())
        let up = try await uploader
        do {
            try await forEachConcurrently(files, limit: 16) { f in
                let objectKey = prefix + f.relativeKey
                attempted.withLock { _ = $0.insert(objectKey) }
                if let path = f.path {
                    _ = try await up.upload(file: path, to: objectKey)
                } else {
                    _ = try await client.putObject(objectKey, body: .none, md5: Digest.md5([UInt8]()), extraHeaders: self.objectHeaders)
                }
            }
        } catch {
            let ours = attempted.current.subtracting(existing)
            if !ours.isEmpty {
                Log.store.warning("directory save to \(locate(key)) failed; removing the object(s) it had written")
                let sweep: @Sendable () async throws -> Void = {
                    let present = Set(try await client.listAll(prefix: prefix).map(\.key)).intersection(ours)
                    if !present.isEmpty { try await self.delete(Array(present)) }
                }
                await Cleanup.run("remove the objects of the failed save to \(locate(key))", sweep)
                // Late arrivals: look a few more times in the background; the caller need not wait.
                Task.detached {
                    for delay in [2, 3, 5] {
                        try? await Task.sleep(for: .seconds(delay))
                        await Cleanup.run("remove late objects of the failed save to \(self.locate(key))", sweep)
                    }
                }
            }
            throw error
        }
    }

    // MARK: downloads

    /// Whether whole-object CRC-64 checks apply (OSS sends `x-oss-hash-crc64ecma`).
    var checksCRC64: Bool { (integrity as? ChecksumPolicy)?.crc64 ?? false }

    /// Big objects come down as parallel ranged GETs (every range If-Match the same ETag) written
    /// in place into a temp file beside `path`; the size (and on OSS the CRC-64) is checked, the
    /// file synced and renamed.
    public func download(_ object: ObjectInfo, to path: String, sync: Bool) async throws {
        try await restoringIfArchived(object) { try await self.downloadOnce(object, to: path, sync: sync) }
    }

    private func downloadOnce(_ object: ObjectInfo, to path: String, sync: Bool) async throws {
        let client = try await client()
        let parent = FileSystem.parent(path)
        try FileSystem.makeDirectories(parent)
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let temp = parent + "/" + FileSystem.uniqueName(prefix: ".\(name.prefix(64)).argo-partial-")
        let fd = try FileDescriptor.createExclusive(temp)
        let crc = checksCRC64
        do {
            let partSize = configuration.load.partSize
            let ranges = object.size > partSize
                ? stride(from: Int64(0), to: object.size, by: Int(partSize)).map { ($0, min(partSize, object.size - $0)) }
                : [(Int64(0), Int64(0))]
            if object.size > partSize { try fd.truncate(to: object.size) }
            let pieces = Locked([Int64: (crc: UInt64?, length: Int64, whole: UInt64?)]())
            try await forEachConcurrently(ranges, limit: configuration.load.concurrency) { (off, len) in
                let r = try await client.getRange(object.key, offset: off, length: len, ifMatch: object.etag, into: fd, fileOffset: off, crc64: crc)
                let want = len == 0 ? object.size : len
                guard r.bodyLength == want else {
                    throw ArtifactError.corrupted("\(self.locate(object.key)): bytes \(off)-\(off + want - 1) came back as \(r.bodyLength) bytes")
                }
                pieces.withLock { $0[off] = (r.crc64, r.bodyLength, r.header(ChecksumPolicy.crcHeader).flatMap { UInt64($0) }) }
                // Start writing this range to disk now, so the final fsync has little left.
                if sync { fd.startWriteback(offset: off, length: r.bodyLength) }
            }
            if crc {
                let ordered = pieces.current.sorted { $0.key < $1.key }.map(\.value)
                if let expected = ordered.compactMap(\.whole).first, ordered.allSatisfy({ $0.crc != nil }) {
                    let got = ordered.reduce(UInt64(0)) { CRC64.combine($0, $1.crc!, lengthB: $1.length) }
                    guard got == expected else {
                        throw ArtifactError.corrupted("\(locate(object.key)): the bytes received have CRC-64 \(got), the store says \(expected)")
                    }
                }
            }
            let size = Int64(try fd.status().st_size)
            guard size == object.size else { throw ArtifactError.corrupted("\(locate(object.key)): wrote \(size) bytes, expected \(object.size)") }
            if sync { try await BlockingIO.run { try fd.sync() } }
            if let (kind, _) = try FileSystem.kind(path), kind == .directory {
                throw ArtifactError.conflict("cannot write file \(path): a directory is there")
            }
            try FileSystem.rename(temp, path)
        } catch let e as StoreError where e.code == "PreconditionFailed" {
            _ = try? FileSystem.remove(temp)
            throw ArtifactError.conflict("\(locate(object.key)) was overwritten while being downloaded (its ETag changed); load it again")
        } catch {
            _ = try? FileSystem.remove(temp)
            throw error
        }
    }

    /// Streams the object. A dropped connection is healed once by resuming at the byte reached
    /// (If-Match keeps two versions from mixing); a short body is an error, never an end; on OSS
    /// the bytes sent are checked against the object's CRC-64 before the stream may complete.
    public func read(_ object: ObjectInfo, chunkSize: Int, into sink: ArtifactByteSink) async throws {
        try await restoringIfArchived(object) { try await self.readOnce(object, chunkSize: chunkSize, into: sink) }
    }

    /// OpenStream of a key that may be a file: one GET, no HEAD first (the answer's headers give
    /// size and ETag), so the first byte comes one round trip sooner. Nil when there is no such
    /// object (a directory key, or nothing).
    public func readIfPresent(_ key: String, chunkSize: Int, into sink: ArtifactByteSink) async throws -> ObjectInfo? {
        let client = try await client()
        let first: HTTPStreamingResponse
        do {
            first = try await client.getStream(key, ifMatch: nil)
        } catch let e as StoreError where e.code == "NoSuchKey" || (e.status == 404 && e.code != "NoSuchBucket") {
            return nil
        } catch let e as StoreError where e.code == "InvalidObjectState" {
            guard let object = try await head(key) else { return nil }
            try await read(object, chunkSize: chunkSize, into: sink)
            return object
        }
        let object = ObjectInfo(key: key, size: Int64(first.header("Content-Length") ?? "") ?? -1,
                                lastModified: first.header("Last-Modified").flatMap(HTTPDate.parseRFC1123) ?? 0,
                                etag: first.header("ETag"))
        guard object.size >= 0 else {
            first.cancel()
            guard let o = try await head(key) else { return nil }
            try await read(o, chunkSize: chunkSize, into: sink)
            return o
        }
        try await readOnce(object, chunkSize: chunkSize, into: sink, opened: first)
        return object
    }

    private func readOnce(_ object: ObjectInfo, chunkSize: Int, into sink: ArtifactByteSink, opened: HTTPStreamingResponse? = nil) async throws {
        let client = try await client()
        var offset: Int64 = 0
        var resumed = false
        var crc = CRC64()
        var expectedCRC: UInt64?
        var pending = opened
        while true {
            do {
                let s: HTTPStreamingResponse
                if let p = pending {
                    s = p
                    pending = nil
                } else {
                    s = try await client.getStream(object.key, offset: offset, ifMatch: object.etag)
                }
                defer { s.cancel() }
                if expectedCRC == nil { expectedCRC = s.header(ChecksumPolicy.crcHeader).flatMap { UInt64($0) } }
                while let chunk = try await s.next(max: chunkSize) {
                    if checksCRC64 { crc.update(chunk) }
                    try await sink.send(chunk)
                    offset += Int64(chunk.count)
                }
                guard offset == object.size else {
                    throw ArtifactError.corrupted("\(locate(object.key)): the store sent \(offset) of \(object.size) bytes")
                }
                if checksCRC64, let expectedCRC, crc.value != expectedCRC {
                    throw ArtifactError.corrupted("\(locate(object.key)): the bytes streamed have CRC-64 \(crc.value), the store says \(expectedCRC)")
                }
                return
            } catch let e as HTTPClientError where e.isTransient && !resumed && offset < object.size {
                resumed = true
                Log.store.notice("\(locate(object.key)): \(e.message) at byte \(offset); resuming from there")
            } catch let e as StoreError where e.code == "PreconditionFailed" {
                throw ArtifactError.conflict("\(locate(object.key)) was overwritten while being streamed (its ETag changed)")
            }
        }
    }

    /// An archived object (OSS Archive / ColdArchive, S3 Glacier) cannot be read until restored:
    /// restore it and wait when `restoreArchived` is set, otherwise say what to do.
    private func restoringIfArchived(_ object: ObjectInfo, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let e as StoreError where e.code == "InvalidObjectState" {
            guard configuration.restoreArchived else {
                throw ArtifactError.conflict("\(locate(object.key)) is archived; restore it first (or set restoreArchived: true to let the plugin do it)")
            }
            let client = try await client()
            Log.store.info("\(locate(object.key)) is archived: restoring it before reading")
            try await client.restoreObject(object.key, s3: dialect.locationScheme == "s3")
            let env = ProcessInfo.processInfo.environment
            let poll = env["ARGO_PLUGIN_RESTORE_POLL_SECONDS"].flatMap { Int($0) } ?? 10
            let limit = ContinuousClock.now.advanced(by: .seconds(env["ARGO_PLUGIN_RESTORE_MAX_SECONDS"].flatMap { Int($0) } ?? 6 * 3600))
            while true {
                try await Task.sleep(for: .seconds(poll))
                switch try await client.restoreState(object.key) {
                case .done: try await body(); return
                case .gone: throw ArtifactError.notFound(locate(object.key))
                case .pending:
                    guard ContinuousClock.now < limit else {
                        throw ArtifactError.conflict("\(locate(object.key)) is still being restored; load it again later")
                    }
                }
            }
        }
    }

    // MARK: deletes

    /// DeleteObjects in batches of 1000, a few batches at a time; keys the store reports as not
    /// deleted are tried again, and named if they still fail.
    public func delete(_ keys: [String]) async throws {
        let client = try await client()
        var pending = keys
        var failures: [(key: String, code: String, message: String)] = []
        for round in 1...3 where !pending.isEmpty {
            let batches = stride(from: 0, to: pending.count, by: 1000).map { Array(pending[$0..<min($0 + 1000, pending.count)]) }
            let failed = Locked([(key: String, code: String, message: String)]())
            try await forEachConcurrently(batches, limit: 4) { batch in
                let errs = try await client.deleteObjects(batch)
                failed.withLock { $0 += errs }
            }
            failures = failed.current
            pending = failures.map(\.key)
            if !pending.isEmpty && round < 3 {
                Log.store.notice("delete: \(pending.count) key(s) not deleted (\(failures.first!.code)); trying them again")
                try await Task.sleep(for: .milliseconds(200 * round))
            }
        }
        guard failures.isEmpty else {
            let shown = failures.prefix(5).map { "\($0.key): \($0.code) \($0.message)" }.joined(separator: "; ")
            throw ArtifactError.store("could not delete \(failures.count) object(s) from \(displayName): \(shown)\(failures.count > 5 ? "; …" : "")")
        }
    }

    // MARK: retention

    /// The lifecycle rule's prefix for a key: configured, or the key's first path segment.
    func retentionPrefix(for key: String) -> String {
        if let p = configuration.lifecycle?.prefix { return p }
        guard let slash = key.firstIndex(of: "/") else { return key }
        return String(key[...slash])
    }

    public func applyRetention(forKey key: String) async {
        guard let settings = configuration.lifecycle else { return }
        let prefix = retentionPrefix(for: key)
        // Once per process per bucket and prefix.
        guard retentionApplied.withLock({ $0.insert(prefix).inserted }) else { return }
        do {
            let outcome = try await client().applyLifecycle(LifecycleRule(prefix: prefix, settings: settings), oss: dialect.locationScheme == "oss")
            Log.store.info("lifecycle \(displayName): \(outcome)")
        } catch {
            retentionApplied.withLock { _ = $0.remove(prefix) }
            Log.store.warning("lifecycle \(displayName) prefix '\(prefix)': not applied (the Save itself succeeded): \(error)")
        }
    }

    public func staleUploads(prefix: String, before cutoff: Int64) async throws -> [StaleUpload] {
        try await client().listMultipartUploads(prefix: prefix).filter { $0.initiated < cutoff }
            .map { StaleUpload(key: $0.key, id: $0.uploadID, started: $0.initiated, bytes: nil) }
    }

    public func abort(_ upload: StaleUpload) async throws {
        try await client().abortMultipartUpload(upload.key, uploadID: upload.id)
    }

    public func abortUploads(prefix: String) async throws -> Int {
        let client = try await client()
        let uploads = try await client.listMultipartUploads(prefix: prefix).filter { $0.key == prefix || $0.key.hasPrefix(prefix + "/") }
        try await forEachConcurrently(uploads, limit: 8) { u in
            try await client.abortMultipartUpload(u.key, uploadID: u.uploadID)
        }
        return uploads.count
    }
}

/// S3 configuration → store.
/// OSS configuration → store.
enum OSSStoreFactory {
    static func make(_ c: PluginConfiguration) throws -> RemoteStore {
        guard let region = c.region ?? regionFromEndpoint(c.endpoint!.host) else {
            throw ConfigError("region", "cannot be derived from endpoint \(c.endpoint!); set it (e.g. region: cn-hangzhou)")
        }
        var headers: [(String, String)] = []
        if let sc = c.storageClass { headers.append(("x-oss-storage-class", sc)) }
        return RemoteStore(configuration: c, dialect: OSSDialect(region: region), credentials: try OSSCredentials.provider(c),
                           integrity: ChecksumPolicy.from(c.multipart.checksum, oss: true), objectHeaders: headers)
    }

    /// `oss-cn-hangzhou.aliyuncs.com`, `oss-cn-hangzhou-internal.aliyuncs.com`,
    /// `cn-hangzhou.oss.aliyuncs.com`; accelerate and custom domains name no region.
    static func regionFromEndpoint(_ host: String) -> String? {
        guard host.hasSuffix(".aliyuncs.com") else { return nil }
        let first = host.split(separator: ".")[0]
        if first.hasPrefix("oss-") {
            var r = String(first.dropFirst(4))
            if r.hasSuffix("-internal") { r.removeLast("-internal".count) }
            return r.hasPrefix("accelerate") ? nil : r
        }
        let parts = host.split(separator: ".")
        if parts.count >= 4, parts[1] == "oss" { return String(parts[0]) }
        return nil
    }
}

enum S3StoreFactory {
    static func make(_ c: PluginConfiguration) throws -> RemoteStore {
        let region = c.region ?? regionFromEndpoint(c.endpoint!.host) ?? "us-east-1"
        var headers: [(String, String)] = []
        if let sc = c.storageClass { headers.append(("x-amz-storage-class", sc)) }
        return RemoteStore(configuration: c, dialect: S3Dialect(region: region), credentials: try S3Credentials.provider(c),
                           integrity: ChecksumPolicy.from(c.multipart.checksum, oss: false), objectHeaders: headers)
    }

    /// `s3.us-west-2.amazonaws.com`, `s3-us-west-2.amazonaws.com`, `bucket.s3.eu-central-1.amazonaws.com`.
    static func regionFromEndpoint(_ host: String) -> String? {
        guard host.hasSuffix(".amazonaws.com") || host.hasSuffix(".amazonaws.com.cn") else { return nil }
        let parts = host.split(separator: ".")
        for (i, p) in parts.enumerated() {
            if p.hasPrefix("s3-") { return String(p.dropFirst(3)) }
            if p == "s3", i + 1 < parts.count, parts[i + 1] != "amazonaws", parts[i + 1] != "dualstack" { return String(parts[i + 1]) }
        }
        return nil
    }
}
