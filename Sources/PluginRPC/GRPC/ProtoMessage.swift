import SwiftProtobuf
import PluginHTTP2

/// The protobuf messages the server handles (swift-protobuf's Message).
public typealias ProtoMessage = SwiftProtobuf.Message

/// Re-exported for the service layer, which shares the loop's lock type.
public typealias Locked = PluginHTTP2.Locked
