import PluginSupport

/// How a method's messages flow.
public enum RPCStreaming: Sendable {
    case unary, serverStreaming, clientStreaming
}

/// One call as a transport (gRPC or JSON) presents it to a method.
protocol RPCCallIO: Sendable {
    var context: RPCContext { get }
    /// The transport carries a stream's failure as a message before the status (gRPC); JSON
    /// ends the stream with an error line of its own instead.
    var sendsFailureMessages: Bool { get }
    func requests<M: ProtoMessage>(_: M.Type) -> any RequestMessages<M>
    func responses<M: ProtoMessage>(_: M.Type) -> any ResponseMessages<M>
}

/// One method of a service: its name on the wire, its JSON route, its messages and streaming
/// kind, and its handler. The router serves gRPC and JSON from the same entry.
public struct RPCMethod: Sendable {
    public let name: String
    /// `POST <jsonPrefix><route>`; nil: gRPC only.
    public let jsonRoute: String?
    public let streaming: RPCStreaming
    public let requestType: String
    public let responseType: String
    /// A JSON object with every field of the answer at its default: proto3 JSON leaves such
    /// fields out, and a person reading `{}` for "not a directory" deserves better.
    public let jsonDefaults: String
    let invoke: @Sendable (any RPCCallIO) async throws -> Void

    /// One request, one answer.
    public static func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ name: String, json route: String? = nil, defaults: String = "{}",
        _ handler: @escaping @Sendable (Request, RPCContext) async throws -> Response) -> RPCMethod {
        RPCMethod(name: name, jsonRoute: route, streaming: .unary, requestType: Request.protoMessageName,
                  responseType: Response.protoMessageName, jsonDefaults: defaults) { call in
            let request = try await onlyRequest(Request.self, name, call)
            try await call.responses(Response.self).send(try await handler(request, call.context))
        }
    }

    /// One request, answers streamed as the handler sends them. `failure`: the message that says
    /// in-band that the stream failed, sent before the error status where the transport allows.
    public static func serverStreaming<Request: ProtoMessage, Response: ProtoMessage>(
        _ name: String, json route: String? = nil, _: Response.Type,
        failure: (@Sendable (RPCError) -> Response)? = nil,
        _ handler: @escaping @Sendable (Request, RPCContext, any ResponseMessages<Response>) async throws -> Void) -> RPCMethod {
        RPCMethod(name: name, jsonRoute: route, streaming: .serverStreaming, requestType: Request.protoMessageName,
                  responseType: Response.protoMessageName, jsonDefaults: "{}") { call in
            let request = try await firstRequest(Request.self, name, call)
            let responses = call.responses(Response.self)
            do {
                try await handler(request, call.context, responses)
            } catch {
                if let failure, call.sendsFailureMessages, !Task.isCancelled {
                    try? await responses.send(failure(RPCError.from(error)))
                }
                throw error
            }
        }
    }

    /// Requests streamed as the handler reads them, one answer. No JSON mapping.
    public static func clientStreaming<Request: ProtoMessage, Response: ProtoMessage>(
        _ name: String, _ handler: @escaping @Sendable (any RequestMessages<Request>, RPCContext) async throws -> Response) -> RPCMethod {
        RPCMethod(name: name, jsonRoute: nil, streaming: .clientStreaming, requestType: Request.protoMessageName,
                  responseType: Response.protoMessageName, jsonDefaults: "{}") { call in
            try await call.responses(Response.self).send(try await handler(call.requests(Request.self), call.context))
        }
    }

    private static func firstRequest<M: ProtoMessage>(_: M.Type, _ name: String, _ call: any RPCCallIO) async throws -> M {
        guard let request = try await call.requests(M.self).next() else {
            throw RPCError(.internalError, "\(name) expects one request message, got none")
        }
        return request
    }

    private static func onlyRequest<M: ProtoMessage>(_: M.Type, _ name: String, _ call: any RPCCallIO) async throws -> M {
        let requests = call.requests(M.self)
        guard let request = try await requests.next() else {
            throw RPCError(.internalError, "\(name) expects one request message, got none")
        }
        guard try await requests.next() == nil else {
            throw RPCError(.internalError, "\(name) expects one request message, got more")
        }
        return request
    }
}

/// A service: its gRPC name, the prefix of its JSON routes, and its methods, the one table
/// both transports are served from.
public struct RPCService: Sendable {
    /// `package.Service`: gRPC paths are `/<name>/<Method>`.
    public let name: String
    /// JSON routes are `POST <jsonPrefix><route>`.
    public let jsonPrefix: String
    public let methods: [RPCMethod]

    public init(name: String, jsonPrefix: String, methods: [RPCMethod]) {
        self.name = name
        self.jsonPrefix = jsonPrefix
        self.methods = methods
    }

    public var grpcPrefix: String { "/\(name)/" }

    func method(grpcPath path: String) -> RPCMethod? {
        guard path.hasPrefix(grpcPrefix) else { return nil }
        let name = path.dropFirst(grpcPrefix.count)
        return methods.first { $0.name == name }
    }

    func method(jsonRoute route: String) -> RPCMethod? { methods.first { $0.jsonRoute == route } }

    var jsonRoutes: [String] { methods.compactMap(\.jsonRoute) }
}
