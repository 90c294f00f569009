import ArtifactProto
import Logging
import SwiftProtobuf

/// The protobuf messages the server handles (swift-protobuf's Message).
public typealias ProtoMessage = SwiftProtobuf.Message

/// What every call knows besides its request.
public struct RPCContext: Sendable {
    /// `Load`, `OpenStream`, …
    public var method: String
    /// `grpc` or `json`.
    public var transport: String
    /// When the client's deadline (grpc-timeout) expires, if it set one.
    public var deadline: ContinuousClock.Instant?
    public var logger: Logger

    public init(method: String, transport: String, deadline: ContinuousClock.Instant? = nil, logger: Logger) {
        self.method = method
        self.transport = transport
        self.deadline = deadline
        self.logger = logger
    }
}

/// Where OpenStream puts artifact bytes. Each `send` becomes one message (≤ 1 MiB is the
/// caller's promise); it suspends while the client is not reading.
public protocol OpenStreamSink: Sendable {
    func send(_ bytes: [UInt8]) async throws
}

/// Incoming messages of a client-streaming call, decoded one at a time as the caller asks:
/// nothing is read from the client before that (flow control holds it back).
public protocol RequestMessages<Message>: Sendable {
    associatedtype Message
    func next() async throws -> Message?
}

/// What answers Argo's artifact-driver service: the eight RPCs of `artifact.proto`. The router
/// decodes requests, calls these, and encodes the answers for gRPC or JSON. A thrown error
/// becomes a non-OK status: an `RPCError` as it is (the handler maps its own errors to one).
public protocol ArtifactRPCHandler: Sendable {
    func load(_ request: Artifact_LoadArtifactRequest, context: RPCContext) async throws -> Artifact_LoadArtifactResponse
    /// Sends the artifact's bytes; returning normally means the stream is complete (the router
    /// then sends `is_end`); throwing means it is not (the router sends the error, never `is_end`).
    func openStream(_ request: Artifact_OpenStreamRequest, context: RPCContext, sink: OpenStreamSink) async throws
    func save(_ request: Artifact_SaveArtifactRequest, context: RPCContext) async throws -> Artifact_SaveArtifactResponse
    func delete(_ request: Artifact_DeleteArtifactRequest, context: RPCContext) async throws -> Artifact_DeleteArtifactResponse
    func listObjects(_ request: Artifact_ListObjectsRequest, context: RPCContext) async throws -> Artifact_ListObjectsResponse
    func isDirectory(_ request: Artifact_IsDirectoryRequest, context: RPCContext) async throws -> Artifact_IsDirectoryResponse
    func saveStream(_ requests: any RequestMessages<Artifact_SaveStreamArtifactRequest>, context: RPCContext) async throws -> Artifact_SaveArtifactResponse
    func getCapabilities(_ request: Artifact_GetCapabilitiesRequest, context: RPCContext) async throws -> Artifact_GetCapabilitiesResponse
}
