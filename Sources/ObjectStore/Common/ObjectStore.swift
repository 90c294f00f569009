import ArtifactCore
import Foundation
import Kubernetes
import PluginSupport
import StoreHTTP
import StoreRuntime
import Synchronization
import Transfer

/// A bucket of an object store reached over HTTP (S3 or OSS): Argo's store operations on the
/// shared bucket operations, the upload engine and the download engine. What differs between
/// S3 and OSS is the dialect's business.
public final class ObjectStore: ArtifactStore {
    public let configuration: PluginConfiguration
    public let dialect: any StoreDialect
    public let address: BucketAddress
    let credentials: CredentialProvider
    let integrity: IntegrityPolicy
    let retry: RetryStrategy
    let objectHeaders: [(String, String)]
    let environment: StoreEnvironment
    /// Server-side encryption the configuration asks for (nil: the bucket's own default).
    let encryption: (any ServerSideEncryption)?
    /// Headers of CreateBucket when `createBucketIfNotPresent` makes the bucket (object lock, …).
    let bucketCreationHeaders: [(String, String)]
    private let encryptionConfirmed = Locked(false)
    private let prepared = Locked<ObjectStoreClient?>(nil)
    private let preparing = SingleFlight<Int, ObjectStoreClient>()
    private let retentionApplied = Locked(Set<String>())

    public var displayName: String { "\(dialect.locationScheme)://\(address.bucket)" }

    public init(configuration c: PluginConfiguration, dialect: any StoreDialect, credentials: CredentialProvider,
                encryption: (any ServerSideEncryption)? = nil, bucketCreationHeaders: [(String, String)] = [],
                environment: StoreEnvironment) {
        configuration = c
        self.encryption = encryption
        self.bucketCreationHeaders = bucketCreationHeaders
        self.dialect = dialect
        address = BucketAddress(endpoint: c.endpoint!, bucket: c.bucket!, insecure: c.insecure, style: c.addressingStyle)
        self.credentials = credentials
        integrity = dialect.integrity(c.multipart.checksum)
        retry = RetryStrategy(attempts: c.retry.attempts)
        objectHeaders = c.storageClass.map { [dialect.storageClassHeader($0)] } ?? []
        self.environment = environment
    }

    public func locate(_ key: String) -> String { "\(dialect.locationScheme)://\(address.bucket)/\(key)" }

    /// The client, ready: CA bundle fetched (caSecret), bucket created if asked. Made once per
    /// store and kept; concurrent first callers share one preparation, and a failed one is
    /// tried again by the next call.
    func client() async throws -> ObjectStoreClient {
        if let c = prepared.withLock({ $0 }) { return c }
        let c = try await preparing.run(0) { try await self.prepare() }
        prepared.withLock { $0 = c }
        return c
    }

    private func prepare() async throws -> ObjectStoreClient {
        var transport = HTTPTransportOptions()
        transport.httpVersion = .http1
        transport.connectTimeoutSeconds = configuration.timeouts.connectSeconds
        transport.stallTimeoutSeconds = configuration.timeouts.stallSeconds
        if let ca = configuration.caSecret {
            do {
                transport.caPEM = try await environment.kubernetes.client().secretValue(ca)
            } catch let e as KubernetesError {
                throw CredentialError(message: "cannot read caSecret: \(e.message)")
            }
        }
        let client = ObjectStoreClient(address: address, dialect: dialect, credentials: credentials, transport: transport,
                                       retry: retry, encryption: encryption, http: environment.http, io: environment.io)
        if configuration.createBucketIfNotPresent, try await !client.bucketExists() {
            try await client.createBucket(region: configuration.region, headers: bucketCreationHeaders)
            Log.store.info("created bucket \(displayName)")
        }
        return client
    }

    func transport() async throws -> BucketPartTransport {
        BucketPartTransport(client: try await client(), integrity: integrity, objectHeaders: objectHeaders)
    }

    /// The store's settings as caps within what the process's limits allow.
    var multipartSettings: MultipartSettings {
        var m = configuration.multipart
        m.concurrency = min(m.concurrency, environment.transferConcurrency)
        return m
    }

    var loadSettings: LoadSettings {
        var l = configuration.load
        l.concurrency = min(l.concurrency, environment.transferConcurrency)
        return l
    }

    func uploader() async throws -> UploadEngine {
        UploadEngine(transport: try await transport(), settings: multipartSettings, budget: environment.budget,
                     logs: PartLogStore(directory: configuration.multipart.checkpointDir, environment: environment.processEnvironment),
                     io: environment.io)
    }

    func downloader() async throws -> DownloadEngine {
        DownloadEngine(transport: try await transport(), settings: loadSettings, budget: environment.budget, io: environment.io)
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
        try await confirmEncryption(near: key)
        try await withEncryption(key) { _ = try await uploader().upload(file: path, to: key) }
    }

    public func upload(stream: ByteChunkSource, to key: String) async throws -> Int64 {
        try await confirmEncryption(near: key)
        return try await withEncryption(key) { try await uploader().upload(stream: stream, to: key) }
    }

    /// `body` with what the object's encryption needs made ready first (an SSE-C key), before
    /// the transfer claims memory: preparing may claim some itself.
    func withEncryption<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        guard let encryption else { return try await body() }
        try await encryption.retain(key)
        defer { encryption.release(key) }
        return try await body()
    }

    /// Before a store's first upload: an empty probe object beside the key, written with the
    /// encryption asked for, must come back reporting it (then it is removed). A store that
    /// ignores the request fails the Save before anything at the key is overwritten; every
    /// upload's own answer is checked as well (`BucketPartTransport`).
    func confirmEncryption(near key: String) async throws {
        guard let encryption, !encryptionConfirmed.withLock({ $0 }) else { return }
        let client = try await client()
        let probe = key + ".argo-sse-probe-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        // With Content-MD5, which buckets with default object-lock retention require.
        let checks = integrity.wire.requestChecks(PartChecksums.compute([UInt8]()[...], [.md5]))
        let r = try await client.putObject(probe, body: .none, checks: checks, extraHeaders: objectHeaders)
        await Cleanup.run("remove the encryption probe \(locate(probe))", logger: Log.store) { try await client.deleteObject(probe) }
        if let reported = encryption.mismatch(r) {
            throw EncryptionNotApplied(location: locate(key), asked: encryption.summary, reported: reported,
                                       outcome: "nothing was written there (an empty probe object showed it, and was removed)")
        }
        if encryptionConfirmed.withLock({ c in defer { c = true }; return !c }) {
            Log.store.info("\(displayName): the store applies \(encryption.summary)")
        }
    }

    /// Small files in flight at once in a directory Save: the HTTP client's connections per host.
    static let smallFileConcurrency = 64

    /// Files go up concurrently; if any fails, the objects this Save created are deleted again
    /// (objects that existed before are never touched by the clean-up).
    public func uploadDirectory(_ files: [LocalFile], to key: String) async throws {
        try await confirmEncryption(near: key)
        let client = try await client()
        let prefix = key + "/"
        let existing = Set(try await client.listAll(prefix: prefix).map(\.key))
        // Every key this Save started writing: a request sent in full just before a cancel can
        // still land after the clean-up began, so clean-up looks again for those.
        let attempted = Locked(Set<String>())
        let up = try await uploader()
        let objectHeaders = self.objectHeaders
        let markerChecks = integrity.wire.requestChecks(PartChecksums.compute([UInt8]()[...], integrity.object))
        do {
            // Concurrency sized to the work: small files (one PUT each, latency-bound) as many at
            // once as the client keeps connections to the host; big files, each already split
            // into parallel parts, a few at a time. Both groups run side by side.
            let single = configuration.multipart.threshold
            let small = files.filter { $0.size <= single }, big = files.filter { $0.size > single }
            let send: @Sendable (LocalFile) async throws -> Void = { f in
                let objectKey = prefix + f.relativeKey
                attempted.withLock { _ = $0.insert(objectKey) }
                try await self.withEncryption(objectKey) {
                    if let path = f.path {
                        _ = try await up.upload(file: path, knownSize: f.size, to: objectKey)
                    } else {
                        let r = try await client.putObject(objectKey, body: .none, checks: markerChecks, extraHeaders: objectHeaders)
                        if let e = self.encryption, let reported = e.mismatch(r) {
                            throw EncryptionNotApplied(location: self.locate(objectKey), asked: e.summary, reported: reported,
                                                       outcome: "the Save's objects are removed")
                        }
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await forEachConcurrently(small, limit: min(Self.smallFileConcurrency, small.count), send) }
                group.addTask { try await forEachConcurrently(big, limit: min(4, big.count), send) }
                try await group.waitForAll()
            }
        } catch {
            let ours = attempted.withLock { $0 }.subtracting(existing)
            if !ours.isEmpty {
                Log.store.warning("directory save to \(locate(key)) failed; removing the object(s) it had written")
                let sweep: @Sendable () async throws -> Void = {
                    let present = Set(try await client.listAll(prefix: prefix).map(\.key)).intersection(ours)
                    if !present.isEmpty { try await self.delete(Array(present)) }
                }
                await Cleanup.run("remove the objects of the failed save to \(locate(key))", logger: Log.store, sweep)
                // Late arrivals: look again at 2, 5 and 10 s, owned by the server's lifetime.
                let what = "remove late objects of the failed save to \(locate(key))"
                for delay in [2, 5, 10] {
                    environment.deferred?.schedule(after: .seconds(delay), what) { await Cleanup.run(what, logger: Log.store, sweep) }
                }
            }
            throw error
        }
    }

    // MARK: downloads

    public func download(_ object: ObjectInfo, to path: String) async throws {
        let engine = try await downloader()
        try await withEncryption(object.key) {
            try await restoringIfArchived(object) { try await engine.download(object, to: path) }
        }
    }

    public func read(_ object: ObjectInfo, chunkSize: Int, into sink: ByteSink) async throws {
        let engine = try await downloader()
        try await withEncryption(object.key) {
            try await restoringIfArchived(object) { try await engine.read(object, chunkSize: chunkSize, into: sink) }
        }
    }

    /// OpenStream of a key that may be a file: one GET, no HEAD first (the answer's headers give
    /// size and ETag), so the first byte comes one round trip sooner. Nil when there is no such
    /// object (a directory key, or nothing).
    public func readIfPresent(_ key: String, chunkSize: Int, into sink: ByteSink) async throws -> ObjectInfo? {
        let engine = try await downloader()
        return try await withEncryption(key) {
            try await environment.budget.withReservation(engine.streamMemory(chunkSize: chunkSize), for: "one stream") {
                try await readIfPresent(key, chunkSize: chunkSize, into: sink, engine: engine)
            }
        }
    }

    private func readIfPresent(_ key: String, chunkSize: Int, into sink: ByteSink, engine: DownloadEngine) async throws -> ObjectInfo? {
        let transport = engine.transport
        let first: any ObjectBodyStream
        do {
            first = try await transport.getObject(key, range: nil, ifMatch: nil, segment: chunkSize)
        } catch let e as StoreError where e.kind == .noSuchKey {
            return nil
        } catch let e as StoreError where e.kind == .archived {
            guard let object = try await head(key) else { return nil }
            try await restoringIfArchived(object) { try await engine.read(object, chunkSize: chunkSize, into: sink, memoryClaimed: true) }
            return object
        }
        guard let size = first.info.objectSize else {
            first.cancel()
            guard let o = try await head(key) else { return nil }
            try await restoringIfArchived(o) { try await engine.read(o, chunkSize: chunkSize, into: sink, memoryClaimed: true) }
            return o
        }
        let object = ObjectInfo(key: key, size: size, lastModified: first.info.lastModified, etag: first.info.etag)
        try await engine.read(object, chunkSize: chunkSize, into: sink, opened: first, memoryClaimed: true)
        return object
    }

    /// An archived object (OSS Archive / ColdArchive, S3 Glacier) cannot be read until restored:
    /// restore it and wait when `restoreArchived` is set, otherwise say what to do.
    private func restoringIfArchived(_ object: ObjectInfo, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let e as StoreError where e.kind == .archived {
            guard configuration.restoreArchived else {
                throw ArtifactError.conflict("\(locate(object.key)) is archived; restore it first (or set restoreArchived: true to let the plugin do it)")
            }
            let client = try await client()
            Log.store.info("\(locate(object.key)) is archived: restoring it before reading")
            try await client.restoreObject(object.key)
            let env = environment.processEnvironment
            let poll = env["ARGO_PLUGIN_RESTORE_POLL_SECONDS"].flatMap { Int($0) } ?? 10
            let limit = ContinuousClock.now.advanced(by: .seconds(env["ARGO_PLUGIN_RESTORE_MAX_SECONDS"].flatMap { Int($0) } ?? 6 * 3600))
            while true {
                try await Timers.sleep(for: .seconds(poll))
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
            failures = failed.withLock { $0 }
            pending = failures.map(\.key)
            if !pending.isEmpty && round < 3 {
                Log.store.notice("delete: \(pending.count) key(s) not deleted (\(failures.first!.code)); trying them again")
                try await Timers.sleep(for: .milliseconds(200 * round))
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
        guard var settings = configuration.lifecycle else { return }
        let prefix = retentionPrefix(for: key)
        // Once per process per bucket and prefix.
        guard retentionApplied.withLock({ $0.insert(prefix).inserted }) else { return }
        if settings.transitionAfterDays != nil && settings.transitionStorageClass == nil {
            settings.transitionStorageClass = dialect.infrequentAccessClass
        }
        do {
            let outcome = try await client().applyLifecycle(LifecycleRule(prefix: prefix, settings: settings))
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
