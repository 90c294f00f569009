import ArtifactProto
import Foundation
import PluginRPC
import PluginSupport
import XCTest
@testable import ArtifactService

/// OpenStream's data messages are encoded by hand (the chunk is never copied): the bytes must be
/// exactly what SwiftProtobuf writes for the same message, and the JSON form the message itself.
final class OpenStreamEncodingTests: XCTestCase {
    final class Capture: ResponseMessages, Sendable {
        let sent = Locked((wire: [UInt8](), messages: [Artifact_OpenStreamResponse]()))
        var wire: [UInt8] { sent.withLock { $0.wire } }
        var messages: [Artifact_OpenStreamResponse] { sent.withLock { $0.messages } }
        func send(_ message: Artifact_OpenStreamResponse) async throws { sent.withLock { $0.messages.append(message) } }
        func send(encodedHead head: [UInt8], payload: [UInt8], message: () -> Artifact_OpenStreamResponse) async throws {
            let m = message()
            sent.withLock { $0.wire = head + payload; $0.messages.append(m) }
        }
    }

    func testTheHandEncodingIsSwiftProtobufs() async throws {
        for size in [1, 127, 128, 16_383, 16_384, 1 << 20, (1 << 20) + 3] {
            let chunk = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let capture = Capture()
            try await OpenStreamChunks(responses: capture).send(chunk)
            var m = Artifact_OpenStreamResponse()
            m.data = Data(chunk)
            XCTAssertEqual(capture.wire, try m.serializedBytes() as [UInt8], "size \(size)")
            XCTAssertEqual(capture.messages, [m], "size \(size)")
        }
    }
}
