import ArtifactProto
import Foundation
import Logging
import PluginHTTP2
import PluginSupport
import SwiftProtobuf
import Synchronization

/// The same RPCs as JSON over HTTP/2, following the proto's HTTP mapping (grpc-gateway style):
/// `POST /api/v1/artifacts/<route>` with the request message as proto3 JSON (lowerCamelCase or
/// original field names). Errors answer an HTTP status and `{"code": N, "message": "..."}`;
/// `stream` answers one `{"result": {...}}` per line, and an `{"error": {...}}` line if it fails.
struct JSONGateway {
    let service: ArtifactRPCHandler
    let maxBodySize: Int
    let logger: Logger

    static let printOptions = JSONEncodingOptions()

    /// proto3 JSON leaves out fields at their default; a person reading `{}` for
    /// "not a directory" deserves better, so unary answers carry every field.
    static func defaults(for name: String) -> [String: Any] {
        switch name {
        case Artifact_ListObjectsResponse.protoMessageName: return ["objects": [String](), "error": ""]
        case Artifact_IsDirectoryResponse.protoMessageName: return ["isDirectory": false, "error": ""]
        default: return ["success": false, "error": ""]
        }
    }

    static func completeJSON<M: ProtoMessage>(_ message: M) throws -> [UInt8] {
        let data: Data = try message.jsonUTF8Data(options: printOptions)
        var object = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        for (k, v) in defaults(for: M.protoMessageName) where object[k] == nil { object[k] = v }
        return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    func handle(_ request: HTTP2Request, _ response: HTTP2ResponseWriter) async {
        // The whole request is read before any answer, errors included: curl stops sending when
        // a 4xx arrives early and ends the stream short of its content-length, which HTTP/2
        // then resets as a protocol error, losing the answer.
        // Any content-type is read as JSON: `curl -d` sends form-urlencoded by default.
        let body: [UInt8]
        do {
            guard let b = try await request.body.collect(limit: maxBodySize) else {
                return await fail(response, RPCError(.resourceExhausted, "request body larger than \(maxBodySize) bytes"), status: 413)
            }
            body = b
        } catch {
            return
        }
        let route = String(request.head.path.dropFirst(ArtifactMethod.jsonPrefix.count).prefix { $0 != "?" })
        guard let method = ArtifactMethod.fromJSONRoute(route) else {
            let known = ArtifactMethod.allCases.compactMap(\.jsonRoute).joined(separator: ", ")
            return await fail(response, RPCError(.notFound, "no route \(Echo.clip(request.head.path)); known: \(known)"), status: 404)
        }
        guard request.head.method == "POST" else {
            return await fail(response, RPCError(.unimplemented, "\(Echo.clip(request.head.path)) takes POST, got \(Echo.quoted(request.head.method))"), status: 405)
        }
        let context = RPCContext(method: method.rawValue, transport: "json", logger: logger)
        do {
            switch method {
            case .load:
                let r = try await service.load(try decode(body), context: context)
                await succeed(response, r)
            case .save:
                let r = try await service.save(try decode(body), context: context)
                await succeed(response, r)
            case .delete:
                let r = try await service.delete(try decode(body), context: context)
                await succeed(response, r)
            case .listObjects:
                let r = try await service.listObjects(try decode(body), context: context)
                await succeed(response, r)
            case .isDirectory:
                let r = try await service.isDirectory(try decode(body), context: context)
                await succeed(response, r)
            case .openStream:
                try await stream(try decode(body), context: context, response)
            case .saveStream, .getCapabilities:
                await fail(response, RPCError(.unimplemented, "\(method.rawValue) has no JSON mapping"), status: 501)
            }
        } catch {
            await fail(response, RPCError.from(error), status: nil)
        }
    }

    private func decode<M: ProtoMessage>(_ body: [UInt8]) throws -> M {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return M() }
        do {
            return try M(jsonUTF8Bytes: body)
        } catch {
            throw RPCError(.invalidArgument, "cannot parse the body as \(M.protoMessageName) JSON: \(error)")
        }
    }

    private func succeed<M: ProtoMessage>(_ response: HTTP2ResponseWriter, _ message: M) async {
        do {
            var bytes = try Self.completeJSON(message)
            bytes.append(0x0A)
            response.sendHeaders([HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/json")])
            try await response.write(bytes)
            response.finish()
        } catch {
            response.reset()
        }
    }

    private func fail(_ response: HTTP2ResponseWriter, _ error: RPCError, status: Int?) async {
        response.sendHeaders([HTTP2Header(":status", String(status ?? error.code.httpStatus)),
                              HTTP2Header("content-type", "application/json")])
        try? await response.write(Self.errorObject(error) + [0x0A])
        response.finish()
    }

    static func errorObject(_ error: RPCError) -> [UInt8] {
        let obj: [String: Any] = ["code": error.code.rawValue, "message": Echo.cap(error.message)]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
    }

    /// Newline-delimited results; `isEnd` closes a complete stream, an `error` line a failed one.
    private func stream(_ request: Artifact_OpenStreamRequest, context: RPCContext, _ response: HTTP2ResponseWriter) async throws {
        let sink = JSONStreamSink(response: response)
        do {
            try await service.openStream(request, context: context, sink: sink)
        } catch {
            let status = RPCError.from(error)
            if !sink.started { throw status }
            var line = Array(#"{"error":"#.utf8) + Self.errorObject(status) + Array("}\n".utf8)
            try? await response.write(line)
            line = []
            response.finish()
            return
        }
        var end = Artifact_OpenStreamResponse()
        end.isEnd = true
        try await sink.sendMessage(end)
        response.finish()
    }
}

/// OpenStream as JSON lines: `{"result": {"data": "<base64>", ...}}`.
final class JSONStreamSink: OpenStreamSink, Sendable {
    let response: HTTP2ResponseWriter
    private let startedFlag = Locked(false)

    init(response: HTTP2ResponseWriter) {
        self.response = response
    }

    var started: Bool { startedFlag.withLock { $0 } }

    func send(_ bytes: [UInt8]) async throws {
        var m = Artifact_OpenStreamResponse()
        m.data = Data(bytes)
        try await sendMessage(m)
    }

    func sendMessage(_ m: Artifact_OpenStreamResponse) async throws {
        let first = startedFlag.withLock { s -> Bool in defer { s = true }; return !s }
        if first {
            response.sendHeaders([HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/x-ndjson")])
        }
        let json: [UInt8] = try m.jsonUTF8Bytes(options: JSONGateway.printOptions)
        try await response.write(Array(#"{"result":"#.utf8) + json + Array("}\n".utf8))
    }
}
