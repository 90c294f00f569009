import ArtifactProto
import PluginRPC

extension ArtifactServiceHandler {
    /// Argo's artifact-driver service (`artifact.proto`): every method once, with its JSON route
    /// and defaults, served over gRPC and JSON alike by `RPCRouter`.
    public var rpcService: RPCService {
        let result = #"{"success": false, "error": ""}"#
        return RPCService(name: "artifact.ArtifactService", jsonPrefix: "/api/v1/artifacts/", methods: [
            .unary("Load", json: "load", defaults: result) { try await self.load($0, context: $1) },
            .serverStreaming("OpenStream", json: "stream", Artifact_OpenStreamResponse.self, failure: Self.openStreamFailure) {
                try await self.openStream($0, context: $1, responses: $2)
            },
            .unary("Save", json: "save", defaults: result) { try await self.save($0, context: $1) },
            .unary("Delete", json: "delete", defaults: result) { try await self.delete($0, context: $1) },
            .unary("ListObjects", json: "list", defaults: #"{"objects": [], "error": ""}"#) { try await self.listObjects($0, context: $1) },
            .unary("IsDirectory", json: "is-directory", defaults: #"{"isDirectory": false, "error": ""}"#) {
                try await self.isDirectory($0, context: $1)
            },
            .clientStreaming("SaveStream") { try await self.saveStream($0, context: $1) },
            .unary("GetCapabilities") { try await self.getCapabilities($0, context: $1) },
        ])
    }

    /// Argo's client reads a stream without `is_end` as complete, so a failure is said in-band too.
    @Sendable static func openStreamFailure(_ status: RPCError) -> Artifact_OpenStreamResponse {
        var m = Artifact_OpenStreamResponse()
        m.error = status.message
        return m
    }
}
