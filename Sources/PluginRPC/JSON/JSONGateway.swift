import Foundation
import Logging
import PluginHTTP2
import PluginSupport
import SwiftProtobuf
import Synchronization

/// A service's methods as JSON over HTTP/2, following the proto's HTTP mapping (grpc-gateway
/// style): `POST <jsonPrefix><route>` with the request message as proto3 JSON (lowerCamelCase or
/// original field names). A unary answer is one JSON object with every field; a server stream
/// answers one `{"result": {...}}` per line, and an `{"error": {...}}` line if it fails once
/// started. Other errors answer an HTTP status and `{"code": N, "message": "..."}`.
struct JSONGateway {
    let service: RPCService
    let maxBodySize: Int
    let logger: Logger

    static let printOptions = JSONEncodingOptions()

    func handle(_ request: HTTP2Request, _ response: HTTP2ResponseWriter) async {
        // The whole request is read before any answer, errors included: curl stops sending when
        // a 4xx arrives early and ends the stream short of its content-length, which HTTP/2
        // then resets as a protocol error, losing the answer.
        // Any content-type is read as JSON: `curl -d` sends form-urlencoded by default.
        let body: [UInt8]
        do {
            guard let b = try await request.body.collect(limit: maxBodySize) else {
                return await Self.fail(response, RPCError(.resourceExhausted, "request body larger than \(maxBodySize) bytes"), status: 413)
            }
            body = b
        } catch {
            return
        }
        let route = String(request.head.path.dropFirst(service.jsonPrefix.count).prefix { $0 != "?" })
        guard let method = service.method(jsonRoute: route) else {
            return await Self.fail(response, RPCError(.notFound, "no route \(Echo.clip(request.head.path)); known: \(service.jsonRoutes.joined(separator: ", "))"), status: 404)
        }
        guard request.head.method == "POST" else {
            return await Self.fail(response, RPCError(.unimplemented, "\(Echo.clip(request.head.path)) takes POST, got \(Echo.quoted(request.head.method))"), status: 405)
        }
        let io = JSONCallIO(context: RPCContext(method: method.name, transport: "json", logger: logger), method: method,
                            body: body, answer: JSONAnswer(response: response))
        do {
            try await method.invoke(io)
            response.finish()
        } catch {
            let status = RPCError.from(error)
            guard io.answer.started else { return await Self.fail(response, status, status: nil) }
            // A stream already under way ends with an error line, never as if complete.
            try? await response.write(Array(#"{"error":"#.utf8) + Self.errorObject(status) + Array("}\n".utf8))
            response.finish()
        }
    }

    static func fail(_ response: HTTP2ResponseWriter, _ error: RPCError, status: Int?) async {
        response.sendHeaders([HTTP2Header(":status", String(status ?? error.code.httpStatus)),
                              HTTP2Header("content-type", "application/json")])
        try? await response.write(Self.errorObject(error) + [0x0A])
        response.finish()
    }

    static func errorObject(_ error: RPCError) -> [UInt8] {
        let obj: [String: Any] = ["code": error.code.rawValue, "message": Echo.cap(error.message)]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
    }

    /// The message as JSON with every field the method's defaults name filled in.
    static func completeJSON<M: ProtoMessage>(_ message: M, defaults: String) throws -> [UInt8] {
        let data: Data = try message.jsonUTF8Data(options: printOptions)
        var object = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        let filled = (try? JSONSerialization.jsonObject(with: Data(defaults.utf8)) as? [String: Any]) ?? [:]
        for (k, v) in filled where object[k] == nil { object[k] = v }
        return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}

/// One JSON call as a method sees it: the body as its one request, answers written as JSON.
struct JSONCallIO: RPCCallIO {
    let context: RPCContext
    var sendsFailureMessages: Bool { false }
    let method: RPCMethod
    let body: [UInt8]
    let answer: JSONAnswer

    func requests<M: ProtoMessage>(_: M.Type) -> any RequestMessages<M> { JSONRequest<M>(body: body) }

    func responses<M: ProtoMessage>(_: M.Type) -> any ResponseMessages<M> {
        JSONResponses<M>(answer: answer, lines: method.streaming == .serverStreaming, defaults: method.jsonDefaults)
    }
}

/// The request body as the call's one message (an empty body is the message with every field
/// at its default).
final class JSONRequest<M: ProtoMessage>: RequestMessages, Sendable {
    private let body: Locked<[UInt8]?>

    init(body: [UInt8]) { self.body = Locked(body) }

    func next() async throws -> M? {
        guard let body = body.withLock({ $0.take() }) else { return nil }
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return M() }
        do {
            return try M(jsonUTF8Bytes: body)
        } catch {
            throw RPCError(.invalidArgument, "cannot parse the body as \(M.protoMessageName) JSON: \(error)")
        }
    }
}

/// The response of one JSON call: headers go out with the first answer.
final class JSONAnswer: Sendable {
    let response: HTTP2ResponseWriter
    private let startedFlag = Locked(false)

    init(response: HTTP2ResponseWriter) { self.response = response }

    var started: Bool { startedFlag.withLock { $0 } }

    func write(_ bytes: [UInt8], contentType: String) async throws {
        if startedFlag.withLock({ s -> Bool in defer { s = true }; return !s }) {
            response.sendHeaders([HTTP2Header(":status", "200"), HTTP2Header("content-type", contentType)])
        }
        try await response.write(bytes)
    }
}

/// Answers as JSON: one complete object for a unary call, `{"result": ...}` lines for a stream.
struct JSONResponses<Message: ProtoMessage>: ResponseMessages {
    let answer: JSONAnswer
    let lines: Bool
    let defaults: String

    func send(_ message: Message) async throws {
        if lines {
            let json: [UInt8] = try message.jsonUTF8Bytes(options: JSONGateway.printOptions)
            try await answer.write(Array(#"{"result":"#.utf8) + json + Array("}\n".utf8), contentType: "application/x-ndjson")
        } else {
            try await answer.write(try JSONGateway.completeJSON(message, defaults: defaults) + [0x0A], contentType: "application/json")
        }
    }

    func send(encodedHead head: [UInt8], payload: [UInt8], message: () -> Message) async throws {
        try await send(message())
    }
}
