import Logging
import PluginHTTP2
import PluginSupport

/// Routes HTTP/2 requests to a service's methods: gRPC on `/<service>/<Method>`, JSON on
/// `<jsonPrefix><route>`, both from the service's one method table.
public struct RPCRouter: HTTP2Handler {
    public let service: RPCService
    /// Largest request message accepted (grpc-go's default is 4 MiB).
    public let maxReceiveMessageSize: Int
    public let logger: Logger

    public init(service: RPCService, maxReceiveMessageSize: Int = 4 << 20, logger: Logger) {
        self.service = service
        self.maxReceiveMessageSize = maxReceiveMessageSize
        self.logger = logger
    }

    public func handle(_ request: HTTP2Request, _ response: HTTP2ResponseWriter) async {
        let path = request.head.path
        if path.hasPrefix(service.jsonPrefix) {
            await JSONGateway(service: service, maxBodySize: maxReceiveMessageSize, logger: logger).handle(request, response)
            return
        }
        let contentType = request.head.header("content-type") ?? ""
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc+proto")
                || contentType.hasPrefix("application/grpc;") else {
            let status = contentType.hasPrefix("application/grpc") || path.hasPrefix(service.grpcPrefix) ? 415 : 404
            await plainError(response, status: status,
                             "\(Echo.clip(path)): expected content-type application/grpc (or JSON under \(service.jsonPrefix)), got \(Echo.quoted(contentType))")
            return
        }
        let call = GRPCCall(response: response)
        guard request.head.method == "POST" else {
            call.close(RPCError(.internalError, "gRPC requires POST, got \(Echo.quoted(request.head.method))"))
            return
        }
        guard let method = service.method(grpcPath: path) else {
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
        let io = GRPCCallIO(context: RPCContext(method: method.name, transport: "grpc",
                                                deadline: timeout.map { ContinuousClock.now.advanced(by: $0) }, logger: logger),
                            call: call, body: request.body, maxMessageSize: maxReceiveMessageSize,
                            encoding: request.head.header("grpc-encoding"))
        await withDeadline(timeout, call: call) {
            try await method.invoke(io)
            call.close(nil)
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

    private func plainError(_ response: HTTP2ResponseWriter, status: Int, _ text: String) async {
        response.sendHeaders([HTTP2Header(":status", String(status)), HTTP2Header("content-type", "text/plain")])
        try? await response.write(Array((text + "\n").utf8))
        response.finish()
    }
}

/// One gRPC call as a method sees it: request messages deframed from the body on demand,
/// answers framed onto the response.
struct GRPCCallIO: RPCCallIO {
    let context: RPCContext
    var sendsFailureMessages: Bool { true }
    let call: GRPCCall
    let body: HTTP2RequestBody
    let maxMessageSize: Int
    let encoding: String?

    func requests<M: ProtoMessage>(_: M.Type) -> any RequestMessages<M> {
        GRPCRequestReader<M>(body: body, maxMessageSize: maxMessageSize, encoding: encoding)
    }

    func responses<M: ProtoMessage>(_: M.Type) -> any ResponseMessages<M> { GRPCResponses<M>(call: call) }
}

/// Answers of a gRPC call, each one length-prefixed message.
struct GRPCResponses<Message: ProtoMessage>: ResponseMessages {
    let call: GRPCCall

    func send(_ message: Message) async throws {
        try await call.send(framed: GRPCFraming.frame(try message.serializedBytes()))
    }

    func send(encodedHead head: [UInt8], payload: [UInt8], message: () -> Message) async throws {
        var prefix = [UInt8]()
        prefix.reserveCapacity(GRPCFraming.prefixSize + head.count)
        GRPCFraming.appendPrefix(to: &prefix, length: head.count + payload.count)
        prefix.append(contentsOf: head)
        try await call.send(prefix: prefix, payload: payload)
    }
}
