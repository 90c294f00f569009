import ArtifactCore
import ArtifactProto
import Foundation
import Kubernetes
import Logging
import StoreRuntime
import PluginRPC
import PluginSupport
import Synchronization

/// The artifact service Argo calls: resolves the configuration and the store of each call,
/// runs the operation with Argo's semantics, logs one line per call, and answers failures the
/// way Argo reads them (`success=false` / `error` text naming what went wrong, and the status
/// code `StatusMapping` gives it: the one place domain errors meet gRPC).
public final class ArtifactServiceHandler: Sendable {
    private let configs: ConfigCache
    private let outcome: WorkflowOutcomeLookup
    private let operations = Locked([PluginConfiguration: ArtifactOperations]())
    static let storesKept = 64
    var storesHeld: Int { operations.withLock { $0.count } }
    private let environment: StoreEnvironment
    private let storeFactory: @Sendable (PluginConfiguration) throws -> ArtifactStore

    /// `providers`: the store modules configurations may name (`StoreProviders.all`);
    /// `storeFactory` replaces their factories (tests).
    public init(environment: StoreEnvironment = StoreEnvironment(),
                providers: [any StoreProvider] = StoreProviders.all,
                storeFactory: (@Sendable (PluginConfiguration) throws -> ArtifactStore)? = nil,
                outcome: WorkflowOutcomeLookup? = nil) {
        self.environment = environment
        let factory = StoreFactory(providers: providers)
        configs = ConfigCache(parser: factory.parser)
        self.storeFactory = storeFactory ?? { try factory.make($0, environment: environment) }
        self.outcome = outcome ?? WorkflowOutcomeLookup(environment: environment.processEnvironment, kubernetes: environment.kubernetes)
    }

    /// The operations for an artifact's configuration (one store per distinct configuration, reused).
    func operations(_ artifact: Artifact_Artifact) throws -> ArtifactOperations {
        guard artifact.hasPlugin else {
            throw ArtifactError.invalidRequest("artifact '\(artifact.name)' has no plugin section (configuration and key)")
        }
        let config = try configs.configuration(for: artifact.plugin.configuration)
        if let d = operations.withLock({ $0[config] }) { return d }
        let d = ArtifactOperations(store: try storeFactory(config), configuration: config, io: environment.io)
        return operations.withLock { cache in
            if let existing = cache[config] { return existing }
            // Workflow authors write configurations: however many distinct ones arrive, a bounded
            // number of stores is kept (one dropped here finishes its calls in flight).
            if cache.count >= Self.storesKept { cache.remove(at: cache.startIndex) }
            cache[config] = d
            return d
        }
    }

    // MARK: unary calls

    public func load(_ request: Artifact_LoadArtifactRequest, context: RPCContext) async throws -> Artifact_LoadArtifactResponse {
        var r = Artifact_LoadArtifactResponse()
        let a = request.inputArtifact
        await run("Load", a, context) { d, key in
            try Self.checkLocalPath(request.path, "destination")
            let t = try await d.load(key, to: request.path, optional: a.optional)
            r.success = true
            if t.missingOptional { return CallOutcome("optional and not found: an empty directory left at \(request.path)") }
            return CallOutcome("to \(request.path): \(t.objects) object(s), \(t.bytes) bytes", bytes: t.bytes)
        } failed: { r.error = $0.text }
        return r
    }

    public func save(_ request: Artifact_SaveArtifactRequest, context: RPCContext) async throws -> Artifact_SaveArtifactResponse {
        var r = Artifact_SaveArtifactResponse()
        await run("Save", request.outputArtifact, context) { d, key in
            try Self.checkLocalPath(request.path, "source")
            let t = try await d.save(from: request.path, to: key)
            r.success = true
            return CallOutcome("from \(request.path): \(t.objects) object(s), \(t.bytes) bytes", bytes: t.bytes)
        } failed: { r.error = $0.text }
        return r
    }

    public func delete(_ request: Artifact_DeleteArtifactRequest, context: RPCContext) async throws -> Artifact_DeleteArtifactResponse {
        var r = Artifact_DeleteArtifactResponse()
        await run("Delete", request.artifact, context) { d, key in
            switch await outcome.decide(d.configuration.gc) {
            case .keep(let why):
                r.success = true
                return CallOutcome("nothing deleted: \(why)")
            case .delete(let why):
                let n = try await d.delete(key)
                r.success = true
                return CallOutcome("\(n) object(s) deleted" + (d.configuration.gc.when == .always ? "" : " (\(why))"))
            }
        } failed: { r.error = $0.text }
        return r
    }

    public func listObjects(_ request: Artifact_ListObjectsRequest, context: RPCContext) async throws -> Artifact_ListObjectsResponse {
        var r = Artifact_ListObjectsResponse()
        await run("ListObjects", request.artifact, context, allowEmptyKey: true) { d, key in
            r.objects = try await d.listObjects(key)
            return CallOutcome("\(r.objects.count) object(s)")
        } failed: { r.error = $0.text }
        return r
    }

    public func isDirectory(_ request: Artifact_IsDirectoryRequest, context: RPCContext) async throws -> Artifact_IsDirectoryResponse {
        var r = Artifact_IsDirectoryResponse()
        await run("IsDirectory", request.artifact, context, allowEmptyKey: true) { d, key in
            r.isDirectory = try await d.isDirectory(key)
            return CallOutcome("\(r.isDirectory)")
        } failed: { r.error = $0.text }
        return r
    }

    public func getCapabilities(_ request: Artifact_GetCapabilitiesRequest, context: RPCContext) async throws -> Artifact_GetCapabilitiesResponse {
        var r = Artifact_GetCapabilitiesResponse()
        r.supportsSaveStream = true
        return r
    }

    // MARK: streams

    /// The artifact's bytes in `data` messages, then one with `is_end`. A failure ends the call
    /// with a non-OK status (and the method's failure message, `error`), never `is_end`: Argo
    /// reads a stream that just stops as complete.
    public func openStream(_ request: Artifact_OpenStreamRequest, context: RPCContext,
                           responses: any ResponseMessages<Artifact_OpenStreamResponse>) async throws {
        let a = request.artifact
        var failure: Failure?
        await run("OpenStream", a, context) { d, key in
            let t = try await d.openStream(key, into: OpenStreamChunks(responses: responses))
            return CallOutcome("\(t.objects) object(s), \(t.bytes) bytes", bytes: t.bytes)
        } failed: { failure = $0 }
        if let failure { throw RPCError(StatusMapping.code(failure.error), failure.text) }
        var end = Artifact_OpenStreamResponse()
        end.isEnd = true
        try await responses.send(end)
    }

    /// Failures end the call with a non-OK status carrying the text: a client still sending
    /// (Argo's grpc-go SaveStream) sees only EOF on Send and reads the reason from the status.
    public func saveStream(_ requests: any RequestMessages<Artifact_SaveStreamArtifactRequest>, context: RPCContext) async throws -> Artifact_SaveArtifactResponse {
        guard let first = try await requests.next() else {
            throw RPCError(.invalidArgument, "SaveStream failed: the stream ended before its first message (the output artifact)")
        }
        var r = Artifact_SaveArtifactResponse()
        var failure: Failure?
        await run("SaveStream", first.outputArtifact, context) { d, key in
            let chunks = SaveStreamChunks(first: first.chunk, rest: requests)
            let t = try await d.saveStream(chunks, to: key)
            r.success = true
            return CallOutcome("\(t.bytes) bytes", bytes: t.bytes)
        } failed: { failure = $0 }
        if let failure { throw RPCError(StatusMapping.code(failure.error), failure.text) }
        return r
    }

    // MARK: common

    /// Runs one operation: resolves driver and key, logs the outcome with its duration (and, for
    /// JSON logs, its fields), and turns a failure into the text Argo shows (operation, artifact,
    /// location, cause).
    private func run(_ op: String, _ artifact: Artifact_Artifact, _ context: RPCContext, allowEmptyKey: Bool = false,
                     _ body: (ArtifactOperations, String) async throws -> CallOutcome,
                     failed: (Failure) -> Void) async {
        let clock = ContinuousClock()
        let start = clock.now
        let metrics = CallMetrics()
        var location = artifact.plugin.key
        var fields: Logger.Metadata = ["rpc": .string(op), "artifact": .string(artifact.name), "key": .string(artifact.plugin.key)]
        func finish(_ f: inout Logger.Metadata, bytes: Int64?) -> Duration {
            let took = clock.now - start
            f["seconds"] = .stringConvertible(Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
            if let bytes { f["bytes"] = .stringConvertible(bytes) }
            if metrics.parts > 0 { f["parts"] = .stringConvertible(metrics.parts) }
            if metrics.retries > 0 { f["retries"] = .stringConvertible(metrics.retries) }
            return took
        }
        do {
            let d = try operations(artifact)
            let key = try ArtifactKeys.normalize(artifact.plugin.key, allowEmpty: allowEmptyKey)
            location = d.store.locate(key)
            let outcome = try await CallMetrics.$current.withValue(metrics) { try await body(d, key) }
            let took = finish(&fields, bytes: outcome.bytes)
            Log.service.info("\(op) \(ArtifactError.printable(location)) ok: \(outcome.summary) in \(Self.ms(took))", metadata: fields)
        } catch {
            // Every echoed part is clipped where it is made; the cap keeps the whole within what
            // Argo's client receives, the operation and the cause at its two ends.
            let text = Echo.cap("\(op) of artifact \(Echo.quoted(artifact.name)) (\(ArtifactError.printable(location))) failed: \(Self.describe(error))")
            let took = finish(&fields, bytes: nil)
            fields["error"] = .string(Self.describe(error))
            Log.service.error("\(text) after \(Self.ms(took))", metadata: fields)
            failed(Failure(text: text, error: error))
        }
    }

    /// Argo always sends an absolute local path; a relative one would resolve against the
    /// plugin's working directory, somewhere the step never sees.
    static func checkLocalPath(_ path: String, _ role: String) throws {
        guard !path.isEmpty else { throw ArtifactError.invalidRequest("path (the local \(role)) is empty") }
        guard path.hasPrefix("/") else {
            throw ArtifactError.invalidRequest("path (the local \(role)) must be absolute, got \(Echo.quoted(path))")
        }
    }

    static func describe(_ error: Error) -> String {
        if error is CancellationError { return "cancelled" }
        if let e = error as? RPCError { return e.message }
        return String(describing: error)
    }

    static func ms(_ d: Duration) -> String {
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return ms < 1000 ? String(format: "%.1fms", ms) : String(format: "%.2fs", ms / 1000)
    }
}

/// What a successful operation says in its log line, and the bytes it moved.
struct CallOutcome {
    let summary: String
    let bytes: Int64?
    init(_ summary: String, bytes: Int64? = nil) {
        self.summary = summary
        self.bytes = bytes
    }
}

/// A failed operation: the text Argo shows, and the error behind it (for the status code).
struct Failure {
    let text: String
    let error: Error
}

/// The content chunks of a SaveStream call: the first message may carry one, then one per
/// message. One task reads it; the lock only guards the first chunk's hand-over.
final class SaveStreamChunks: ByteChunkSource, Sendable {
    private let first: Locked<Data?>
    private let rest: any RequestMessages<Artifact_SaveStreamArtifactRequest>

    init(first: Data, rest: any RequestMessages<Artifact_SaveStreamArtifactRequest>) {
        self.first = Locked(first.isEmpty ? nil : first)
        self.rest = rest
    }

    func next() async throws -> Data? {
        if let f = first.withLock({ $0.take() }) { return f }
        while let m = try await rest.next() {
            if !m.chunk.isEmpty { return m.chunk }
        }
        return nil
    }
}

/// OpenStream's bytes from Argo's semantics to the RPC layer, one `data` message per chunk.
/// The message is encoded by hand: its only field is `data` (field 1, bytes), so its encoding
/// is a tag and a length ahead of the chunk, and the chunk goes out as it is, never copied
/// (SwiftProtobuf would copy it into a Data and again into the encoded message).
struct OpenStreamChunks: ByteSink {
    let responses: any ResponseMessages<Artifact_OpenStreamResponse>

    func send(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await responses.send(encodedHead: Self.head(length: bytes.count), payload: bytes) {
            var m = Artifact_OpenStreamResponse()
            m.data = Data(bytes)
            return m
        }
    }

    /// Field 1, wire type 2 (length-delimited), then the length as a varint.
    static func head(length: Int) -> [UInt8] {
        var head: [UInt8] = [0x0A]
        var n = UInt64(length)
        while n >= 0x80 {
            head.append(UInt8(n & 0x7F) | 0x80)
            n >>= 7
        }
        head.append(UInt8(n))
        return head
    }
}
