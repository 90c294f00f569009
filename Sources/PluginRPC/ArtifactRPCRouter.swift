import ArtifactProto
import Logging
import PluginHTTP2
import PluginSupport
import SwiftProtobuf

/// Routes HTTP/2 requests to the artifact service: gRPC on `/artifact.ArtifactService/<Method>`,
/// JSON on `/api/v1/artifacts/<route>`.
public struct ArtifactRPCRouter: HTTP2Handler {
    public let service: ArtifactRPCHandler
    /// Largest request message accepted (grpc-go's default is 4 MiB).
    public let maxReceiveMessageSize: Int
    public let logger: Logger

    public init(service: ArtifactRPCHandler, maxReceiveMessageSize: Int = 4 << 20, logger: Logger) {
        self.service = service
        self.maxReceiveMessageSize = maxReceiveMessageSize
        self.logger = logger
    }

    public func handle(_ request: HTTP2Request, _ response: HTTP2ResponseWriter) async {
        let path = request.head.path
        if path.hasPrefix(ArtifactMethod.jsonPrefix) {
            await JSONGateway(service: service, maxBodySize: maxReceiveMessageSize, logger: logger)
                .handle(request, response)
            return
        }
        let contentType = request.head.header("content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+proto")
                || contentType.hasPrefix("application/grpc;") else {
            await plainError(response, status: contentType.hasPrefix("application/grpc") ? 415 : (path.hasPrefix("/artifact.") ? 415 : 404),
                       "\(Echo.clip(path)): expected content-type application/grpc (or JSON under \(ArtifactMethod.jsonPrefix)), got \(Echo.quoted(contentType))")
            return
        }
        let call = GRPCCall(response: response)
        guard request.head.method == "POST" else {
            call.close(RPCError(.internalError, "gRPC requires POST, got \(Echo.quoted(request.head.method))"))
            return
        }
        guard path.hasPrefix(ArtifactMethod.servicePath),
              let method = ArtifactMethod(rawValue: String(path.dropFirst(ArtifactMethod.servicePath.count))) else {
            call.close(RPCError(.unimplemented, "unknown method \(Echo.clip(path))"))
            return
        }
        var timeout: Duration?
        if let t = request.head.header("grpc-timeout") {
            guard let parsed = GRPCTimeout.parse(t) else {
                call.close(RPCError(.internalError, "malformed grpc-timeout \(Echo.quoted(t))"))
                return
            }
            timeout = parsed
        }
        let encoding = request.head.header("grpc-encoding")
        let context = RPCContext(method: method.rawValue, transport: "grpc",
                                 deadline: timeout.map { ContinuousClock.now.advanced(by: $0) }, logger: logger)
        await withDeadline(timeout, call: call) {
            try await self.dispatch(method, request: request, call: call, encoding: encoding, context: context)
        }
    }

    /// Runs the call; when the deadline passes first, answers DEADLINE_EXCEEDED and cancels it.
    private func withDeadline(_ timeout: Duration?, call: GRPCCall, _ body: @escaping @Sendable () async throws -> Void) async {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await body()
                } catch {
                    let status = RPCError.from(error)
                    let extra = error is UnsupportedEncoding ? [HTTP2Header("grpc-accept-encoding", "identity")] : []
                    call.close(status, extraHeaders: extra)
                }
                return true
            }
            if let timeout {
                group.addTask {
                    do { try await Timers.sleep(for: timeout) } catch { return false }
                    return false
                }
            }
            if let first = await group.next(), first == false, !Task.isCancelled {
                call.close(RPCError(.deadlineExceeded, "deadline exceeded after \(timeout!)"))
            }
            group.cancelAll()
        }
    }

    private func dispatch(_ method: ArtifactMethod, request: HTTP2Request, call: GRPCCall,
                          encoding: String?, context: RPCContext) async throws {
        func unary<Req: ProtoMessage, Resp: ProtoMessage>(_: Req.Type, _ run: (Req) async throws -> Resp) async throws {
            let reader = GRPCRequestReader<Req>(body: request.body, maxMessageSize: maxReceiveMessageSize, encoding: encoding)
            guard let req = try await reader.next() else {
                throw RPCError(.internalError, "\(method.rawValue) expects one request message, got none")
            }
            guard try await reader.next() == nil else {
                throw RPCError(.internalError, "\(method.rawValue) expects one request message, got more")
            }
            let resp = try await run(req)
            try await call.send(framed: GRPCFraming.frame(try resp.serializedBytes()))
            call.close(nil)
        }
        switch method {
        case .load: try await unary(Artifact_LoadArtifactRequest.self) { try await service.load($0, context: context) }
        case .save: try await unary(Artifact_SaveArtifactRequest.self) { try await service.save($0, context: context) }
        case .delete: try await unary(Artifact_DeleteArtifactRequest.self) { try await service.delete($0, context: context) }
        case .listObjects: try await unary(Artifact_ListObjectsRequest.self) { try await service.listObjects($0, context: context) }
        case .isDirectory: try await unary(Artifact_IsDirectoryRequest.self) { try await service.isDirectory($0, context: context) }
        case .getCapabilities:
            try await unary(Artifact_GetCapabilitiesRequest.self) { try await service.getCapabilities($0, context: context) }
        case .openStream:
            let reader = GRPCRequestReader<Artifact_OpenStreamRequest>(body: request.body, maxMessageSize: maxReceiveMessageSize, encoding: encoding)
            guard let req = try await reader.next() else {
                throw RPCError(.internalError, "OpenStream expects one request message, got none")
            }
            let sink = GRPCOpenStreamSink(call: call)
            do {
                try await service.openStream(req, context: context, sink: sink)
            } catch {
                // Argo reads a stream without is_end as complete: say it failed in-band too.
                let status = RPCError.from(error)
                if !call.isClosed, !Task.isCancelled {
                    var m = Artifact_OpenStreamResponse()
                    m.error = status.message
                    try? await call.send(framed: GRPCFraming.frame(try m.serializedBytes()))
                }
                throw status
            }
            var end = Artifact_OpenStreamResponse()
            end.isEnd = true
            try await call.send(framed: GRPCFraming.frame(try end.serializedBytes()))
            call.close(nil)
        case .saveStream:
            let reader = GRPCRequestReader<Artifact_SaveStreamArtifactRequest>(body: request.body, maxMessageSize: maxReceiveMessageSize, encoding: encoding)
            let resp = try await service.saveStream(reader, context: context)
            try await call.send(framed: GRPCFraming.frame(try resp.serializedBytes()))
            call.close(nil)
        }
    }

    private func plainError(_ response: HTTP2ResponseWriter, status: Int, _ text: String) async {
        response.sendHeaders([HTTP2Header(":status", String(status)), HTTP2Header("content-type", "text/plain")])
        try? await response.write(Array((text + "\n").utf8))
        response.finish()
    }
}

/// OpenStream's data messages, encoded by hand: field 1 (bytes) is all a data chunk carries, so
/// the payload is queued as it is, behind a small separately written prefix (no copy).
struct GRPCOpenStreamSink: OpenStreamSink {
    let call: GRPCCall

    func send(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        var header: [UInt8] = [0x0A]
        var n = UInt64(bytes.count)
        while n >= 0x80 {
            header.append(UInt8(n & 0x7F) | 0x80)
            n >>= 7
        }
        header.append(UInt8(n))
        var prefix = [UInt8]()
        prefix.reserveCapacity(GRPCFraming.prefixSize + header.count)
        GRPCFraming.appendPrefix(to: &prefix, length: header.count + bytes.count)
        prefix.append(contentsOf: header)
        try await call.send(prefix: prefix, payload: bytes)
    }
}
