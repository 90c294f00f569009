import PluginHTTP2
import PluginSupport
import Synchronization

/// The response side of one gRPC call: headers go out with the first message; the status goes in
/// trailers, or alone (trailers-only) when nothing was sent. Closing is idempotent, so a deadline
/// and a finishing handler can race safely.
final class GRPCCall: Sendable {
    private let response: HTTP2ResponseWriter
    private let state = Locked((headersSent: false, closed: false))

    init(response: HTTP2ResponseWriter) {
        self.response = response
    }

    static let responseHeaders = [HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/grpc")]

    /// Sends one already-framed message.
    func send(framed: [UInt8]) async throws {
        try state.withLock { s in
            if s.closed { throw RPCError(.cancelled, "call already closed") }
            if !s.headersSent {
                s.headersSent = true
                response.sendHeaders(Self.responseHeaders)
            }
        }
        try await response.write(framed)
    }

    /// Sends one message as two writes, its prefix and its payload, so a large payload is queued
    /// as it is instead of being copied behind a 5-byte prefix.
    func send(prefix: [UInt8], payload: [UInt8]) async throws {
        try state.withLock { s in
            if s.closed { throw RPCError(.cancelled, "call already closed") }
            if !s.headersSent {
                s.headersSent = true
                response.sendHeaders(Self.responseHeaders)
            }
        }
        try await response.write(prefix)
        try await response.write(payload)
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Ends the call with OK (`error == nil`) or the error's status.
    func close(_ error: RPCError?, extraHeaders: [HTTP2Header] = []) {
        state.withLock { s in
            guard !s.closed else { return }
            s.closed = true
            var status = [HTTP2Header("grpc-status", String(error?.code.rawValue ?? 0))]
            if let error, !error.message.isEmpty {
                status.append(HTTP2Header("grpc-message", PercentEncoding.encode(Echo.cap(error.message))))
            }
            status += extraHeaders
            if s.headersSent {
                response.finish(trailers: status)
            } else {
                response.sendHeaders(Self.responseHeaders + status, endStream: true)
            }
        }
    }
}

/// Decodes request messages from a gRPC request body on demand. One task reads it at a time
/// (the call's handler); the lock only keeps the deframer's state safe between its awaits.
final class GRPCRequestReader<Message: ProtoMessage>: RequestMessages, Sendable {
    private let body: HTTP2RequestBody
    private let state: Locked<(deframer: GRPCDeframer, ended: Bool)>
    private let encoding: String?

    init(body: HTTP2RequestBody, maxMessageSize: Int, encoding: String?) {
        self.body = body
        self.state = Locked((GRPCDeframer(maxMessageSize: maxMessageSize), false))
        self.encoding = encoding
    }

    func next() async throws -> Message? {
        while true {
            let (message, ended, partial) = try state.withLock { s in
                (try s.deframer.next(), s.ended, s.deframer.partialProgress)
            }
            if let m = message {
                if m.compressed {
                    guard let encoding, encoding != "identity" else {
                        throw RPCError(.internalError, "message has the compressed flag set but the request names no grpc-encoding")
                    }
                    throw UnsupportedEncoding(encoding: encoding)
                }
                do {
                    return try Message(serializedBytes: m.payload)
                } catch {
                    throw RPCError(.invalidArgument, "cannot decode \(Message.protoMessageName) (\(m.payload.count) bytes): \(error)")
                }
            }
            if ended {
                if let (have, need) = partial {
                    throw RPCError(.internalError, "request ended inside a message: got \(have) of \(need) bytes")
                }
                return nil
            }
            guard let chunk = try await body.next() else {
                state.withLock { $0.ended = true }
                continue
            }
            state.withLock { $0.deframer.append(chunk) }
        }
    }
}

/// A message compressed with an encoding this server does not implement.
struct UnsupportedEncoding: RPCStatusConvertible, Sendable {
    let encoding: String
    var rpcError: RPCError {
        RPCError(.unimplemented, "message compressed with \(Echo.quoted(encoding)), which this server does not support (supported: identity)")
    }
}
