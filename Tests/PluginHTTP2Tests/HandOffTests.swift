import PluginSupport
import Synchronization
import XCTest
@testable import PluginHTTP2

/// The two hand-offs between the loop thread and a handler task, without a socket.
final class ResponseOutboxTests: XCTestCase {
    /// What the loop does for one DATA frame: reserve, then take the same bytes.
    func drain(_ outbox: ResponseOutbox, max: Int = 1 << 20) -> (bytes: [UInt8], read: BodyRead) {
        let r = outbox.reserve(max: max)
        guard case .bytes(let n, _, _) = r else { return ([], r) }
        var out: [UInt8] = []
        XCTAssertTrue(outbox.take(n) { storage, range in out += storage[range] })
        return (out, r)
    }

    func testWriterWaitsAtTheLimitAndTheLoopWakesIt() async throws {
        let outbox = ResponseOutbox(limit: 2)
        _ = try await outbox.write([1])
        _ = try await outbox.write([2])
        let third = Task { try await outbox.write([3]) }
        try await Task.sleep(for: .milliseconds(30))
        // The loop takes what is queued: the parked writer may go on.
        XCTAssertEqual(drain(outbox).bytes, [1, 2])
        _ = try await third.value
        XCTAssertEqual(drain(outbox).bytes, [3])
        // Nothing queued: nghttp2 is told to wait, and the next write says to resume.
        guard case .deferred = drain(outbox).read else { return XCTFail("an empty outbox defers") }
        let resume = try await outbox.write([4])
        XCTAssertTrue(resume, "a write after a deferral must ask the loop to resume the stream")
        XCTAssertFalse(outbox.finish(trailers: [HTTP2Header("grpc-status", "0")]))
        guard case .bytes(let n, let end, let trailers) = drain(outbox).read else { return XCTFail() }
        XCTAssertEqual(n, 1)
        XCTAssertTrue(end)
        XCTAssertEqual(trailers?.first?.value, "0")
    }

    func testPartialReadsKeepTheOrder() async throws {
        let outbox = ResponseOutbox(limit: 4)
        _ = try await outbox.write(Array(0..<10))
        _ = try await outbox.write(Array(10..<20))
        XCTAssertEqual(drain(outbox, max: 7).bytes, Array(0..<7))
        XCTAssertEqual(drain(outbox, max: 7).bytes, Array(7..<14))
        XCTAssertEqual(drain(outbox, max: 100).bytes, Array(14..<20))
    }

    /// The bytes go out as pieces of the writer's own arrays: the same storage, not copies.
    func testTakeHandsOverTheWritersBuffersUncopied() async throws {
        let outbox = ResponseOutbox(limit: 4)
        let payload = [UInt8](repeating: 7, count: 100_000)
        let address = payload.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        _ = try await outbox.write([0, 0, 0, 0, 5])
        _ = try await outbox.write(payload)
        guard case .bytes(let n, let end, _) = outbox.reserve(max: 16_384) else { return XCTFail() }
        XCTAssertEqual(n, 16_384)
        XCTAssertFalse(end)
        var pieces: [(UInt, Range<Int>)] = []
        XCTAssertTrue(outbox.take(n) { storage, range in pieces.append((storage.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }, range)) })
        XCTAssertEqual(pieces.count, 2, "a frame may span the prefix and the payload")
        XCTAssertEqual(pieces[1].0, address, "the payload is the writer's array itself")
        XCTAssertEqual(pieces[1].1, 0..<(16_384 - 5))
        XCTAssertFalse(outbox.take(200_000) { _, _ in }, "more than is queued cannot be taken")
    }

    func testClosingWakesAParkedWriterWithTheReason() async throws {
        let outbox = ResponseOutbox(limit: 1)
        _ = try await outbox.write([1])
        let parked = Task { try await outbox.write([2]) }
        try await Task.sleep(for: .milliseconds(30))
        outbox.close(.reset(8))
        do {
            _ = try await parked.value
            XCTFail("a write to a closed stream must fail")
        } catch let e as HTTP2StreamError {
            XCTAssertEqual("\(e)", "stream reset by the client (HTTP/2 error 8)")
        }
    }

    func testCancellingTheWriterUnparksIt() async throws {
        let outbox = ResponseOutbox(limit: 1)
        _ = try await outbox.write([1])
        let parked = Task { try await outbox.write([2]) }
        try await Task.sleep(for: .milliseconds(30))
        parked.cancel()
        do {
            _ = try await parked.value
            XCTFail("a cancelled writer must not stay parked")
        } catch is CancellationError {}
    }
}

final class RequestBodyTests: XCTestCase {
    func testCreditGoesBackOnlyAsTheHandlerReads() async throws {
        let credit = Locked(0)
        let body = HTTP2RequestBody(returnCredit: { n in credit.withLock { $0 += n } })
        let chunk = [UInt8](repeating: 1, count: 40 << 10)
        chunk.withUnsafeBytes { body.append($0) }
        chunk.withUnsafeBytes { body.append($0) }
        XCTAssertEqual(credit.withLock { $0 }, 0, "nothing read: no window update")
        _ = try await body.next()
        XCTAssertEqual(credit.withLock { $0 }, 40 << 10)
        _ = try await body.next()
        XCTAssertEqual(credit.withLock { $0 }, 80 << 10)
        body.finish()
        let end = try await body.next()
        XCTAssertNil(end)
    }

    func testWaitingReaderGetsDataAndFailure() async throws {
        let body = HTTP2RequestBody(returnCredit: { _ in })
        let reader = Task { try await body.next() }
        try await Task.sleep(for: .milliseconds(20))
        [UInt8]([9, 9]).withUnsafeBytes { body.append($0) }
        let first = try await reader.value
        XCTAssertEqual(first, [9, 9])
        let second = Task { try await body.next() }
        try await Task.sleep(for: .milliseconds(20))
        XCTAssertEqual(body.fail(.connectionClosed), 0)
        do {
            _ = try await second.value
            XCTFail("a body whose stream closed must fail, not end")
        } catch let e as HTTP2StreamError {
            XCTAssertEqual("\(e)", "connection closed")
        }
    }

    func testUnreadBytesAreReportedForTheConnectionWindow() {
        let body = HTTP2RequestBody(returnCredit: { _ in })
        [UInt8](repeating: 0, count: 1000).withUnsafeBytes { body.append($0) }
        XCTAssertEqual(body.fail(.reset(8)), 1000)
    }
}
