import Logging
import SwiftProtobuf

/// The protobuf messages the server handles (swift-protobuf's Message).
public typealias ProtoMessage = SwiftProtobuf.Message

/// What every call knows besides its request.
public struct RPCContext: Sendable {
    /// The method's name (`Load`).
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

/// Incoming messages of a call, decoded one at a time as the handler asks: nothing is read from
/// the client before that (flow control holds it back).
public protocol RequestMessages<Message>: Sendable {
    associatedtype Message
    func next() async throws -> Message?
}

/// Where a method's answers go, whichever transport carries them. `send` suspends while the
/// client is not reading.
public protocol ResponseMessages<Message>: Sendable {
    associatedtype Message: ProtoMessage
    func send(_ message: Message) async throws
    /// A message whose protobuf encoding is `head` followed by `payload` (the payload being the
    /// content of its last field): gRPC queues both as they are, with no copy of the payload; a
    /// transport that needs the message itself (JSON) builds it with `message`.
    func send(encodedHead head: [UInt8], payload: [UInt8], message: () -> Message) async throws
}
