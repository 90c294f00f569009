import Synchronization
import TestSupport
import XCTest
@testable import StoreHTTP

/// The hand-offs between curl's callbacks (curl thread) and the caller's task, without curl.
final class StreamingInboxTests: XCTestCase {
    /// Offers `n` bytes; true when the transfer must pause afterwards.
    func offer(_ inbox: StreamingInbox, _ n: Int, byte: UInt8 = 1) -> Bool {
        [UInt8](repeating: byte, count: n).withUnsafeBytes { inbox.offer($0) }
    }

    func testPiecesJoinIntoSegmentsAndThePauseLifts() async throws {
        let unpaused = Atomic<Int>(0)
        let inbox = StreamingInbox(segment: 64 << 10, highWater: 256 << 10, unpause: { unpaused.add(1, ordering: .relaxed) })
        inbox.headReceived(status: 200, headers: [("Content-Length", "999")])
        let head = try await inbox.waitForHead()
        XCTAssertEqual(head?.0, 200)
        // Small pieces fill whole segments while the consumer is away.
        for _ in 0..<15 { XCTAssertFalse(offer(inbox, 16 << 10)) }
        XCTAssertTrue(offer(inbox, 16 << 10), "at the high-water mark the producer must pause (the bytes are still taken)")
        var sizes: [Int] = []
        for _ in 0..<3 { sizes.append(try await inbox.next()!.count) }
        XCTAssertEqual(sizes, [64 << 10, 64 << 10, 64 << 10])
        XCTAssertEqual(unpaused.load(ordering: .relaxed), 1, "draining below half must unpause curl once")
        // A consumer ahead of the producer waits for a whole segment, not a piece per callback
        // (over TLS a piece is one 16 KiB record); the last part goes at the end.
        _ = try await inbox.next()
        let ahead = Task { try await inbox.next() }
        try await waitUntil("the consumer waits") { inbox.consumerParked }
        XCTAssertFalse(offer(inbox, 100, byte: 7))
        XCTAssertTrue(inbox.consumerParked, "100 bytes must not wake a consumer that has had bytes")
        XCTAssertFalse(offer(inbox, (64 << 10) - 100, byte: 7))
        let whole = try await ahead.value
        XCTAssertEqual(whole?.count, 64 << 10, "a consumer ahead must get the whole segment, not the first 100 bytes")
        XCTAssertFalse(offer(inbox, 100, byte: 8))
        inbox.complete(.success(()))
        let last = try await inbox.next()
        XCTAssertEqual(last, [UInt8](repeating: 8, count: 100))
        let end = try await inbox.next()
        XCTAssertNil(end)
    }

    func testTheFirstBytesGoAtOnce() async throws {
        let inbox = StreamingInbox(segment: 1 << 20, unpause: {})
        inbox.headReceived(status: 200, headers: [])
        let first = Task { try await inbox.next() }
        try await waitUntil("the consumer waits") { inbox.consumerParked }
        XCTAssertFalse(offer(inbox, 10, byte: 3))
        let got = try await first.value
        XCTAssertEqual(got, [UInt8](repeating: 3, count: 10), "a stream's first bytes must not wait for a whole segment")
    }

    func testWhatIsQueuedGoesWhileCurlIsPaused() async throws {
        // A high-water mark below a segment: paused, the part segment must still go, or neither
        // side would move again.
        let unpaused = Atomic<Int>(0)
        let inbox = StreamingInbox(segment: 64 << 10, highWater: 16 << 10, unpause: { unpaused.add(1, ordering: .relaxed) })
        XCTAssertFalse(offer(inbox, 1))
        _ = try await inbox.next()
        XCTAssertTrue(offer(inbox, 20 << 10))
        let taking = Task { try await inbox.next() }
        try await waitUntil("the part segment goes while curl is paused") { unpaused.load(ordering: .relaxed) == 1 }
        taking.cancel()   // without the rule it would wait for ever
        let queued = try await taking.value
        XCTAssertEqual(queued?.count, 20 << 10)
        XCTAssertEqual(unpaused.load(ordering: .relaxed), 1)
    }

    func testFailureReachesAWaitingConsumer() async throws {
        let inbox = StreamingInbox(segment: 16 << 10, unpause: {})
        let waiting = Task { try await inbox.next() }
        try await Task.sleep(for: .milliseconds(20))
        inbox.complete(.failure(HTTPClientError(kind: .connectionDropped, message: "the connection to the store broke")))
        do {
            _ = try await waiting.value
            XCTFail("a broken transfer must throw, never end")
        } catch let e as HTTPClientError {
            XCTAssertEqual(e.kind, .connectionDropped)
        }
    }

    func testBytesQueuedBeforeAFailureAreStillDelivered() async throws {
        let inbox = StreamingInbox(segment: 16 << 10, unpause: {})
        XCTAssertFalse(offer(inbox, 10))
        inbox.complete(.failure(HTTPClientError(kind: .timeout, message: "stall")))
        let first = try await inbox.next()
        XCTAssertEqual(first?.count, 10)
        await assertThrows(HTTPClientError.self, "the failure must follow the bytes", {
            _ = try await inbox.next()
        }, check: { $0.kind == .timeout })
    }
}

final class RequestBodyWriterTests: XCTestCase {
    func read(_ w: RequestBodyWriter, _ n: Int) -> (RequestBodyWriter.Read, [UInt8]) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 1)
        defer { buf.deallocate() }
        let r = w.read(into: buf)
        if case .bytes(let k) = r { return (r, Array(buf[..<k])) }
        return (r, [])
    }

    func testEmptyPausesCurlAndTheNextWriteUnpausesIt() async throws {
        let unpaused = Atomic<Int>(0)
        let w = RequestBodyWriter(limit: 1 << 20, unpause: { unpaused.add(1, ordering: .relaxed) })
        guard case .pause = read(w, 100).0 else { return XCTFail("nothing written yet: curl must pause") }
        try await w.write([1, 2, 3])
        XCTAssertEqual(unpaused.load(ordering: .relaxed), 1)
        XCTAssertEqual(read(w, 2).1, [1, 2])
        XCTAssertEqual(read(w, 100).1, [3])
        w.finish()
        guard case .end = read(w, 100).0 else { return XCTFail("finished and drained: end of body") }
    }

    func testProducerWaitsAtTheLimitUntilCurlTakesBytes() async throws {
        let w = RequestBodyWriter(limit: 8, unpause: {})
        try await w.write([UInt8](repeating: 1, count: 8))
        let wrote = Atomic<Bool>(false)
        let second = Task {
            try await w.write([2])
            wrote.store(true, ordering: .relaxed)
        }
        try await waitUntil("the producer parks") { w.producerParked }
        XCTAssertFalse(wrote.load(ordering: .relaxed), "the producer must wait while the queue is full")
        XCTAssertEqual(read(w, 4).1, [1, 1, 1, 1])
        // Half sent, the chunk is still all in memory: no room yet (a wake-up would have taken
        // the waiter inside that read, so this needs no wait).
        XCTAssertTrue(w.producerParked, "a half-sent chunk still counts whole")
        XCTAssertFalse(wrote.load(ordering: .relaxed))
        XCTAssertEqual(read(w, 4).1, [1, 1, 1, 1])
        try await second.value
        XCTAssertTrue(wrote.load(ordering: .relaxed))
        XCTAssertEqual(read(w, 4).1, [2])
    }

    func testTheQueueNeverHoldsMoreThanItsLimitInWholeChunks() async throws {
        // Chunks of 3 under a limit of 8: two fit, a third waits until one has gone whole.
        let w = RequestBodyWriter(limit: 8, unpause: {})
        try await w.write([1, 1, 1])
        try await w.write([2, 2, 2])
        let third = Task { try await w.write([3, 3, 3]) }
        try await waitUntil("the producer parks") { w.producerParked }
        XCTAssertEqual(read(w, 5).1, [1, 1, 1, 2, 2], "one chunk gone whole, one half sent")
        try await third.value
        XCTAssertEqual(read(w, 10).1, [2, 3, 3, 3])
        // A chunk larger than the limit still goes, alone.
        try await w.write([UInt8](repeating: 4, count: 9))
        XCTAssertEqual(read(w, 20).1.count, 9)
    }

    func testAProducerCancelledBeforeItParksReturnsAtOnce() async throws {
        let w = RequestBodyWriter(limit: 1, unpause: {})
        try await w.write([1])
        let producer = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await w.write([2])
        }
        await assertThrows(CancellationError.self, "a cancelled producer must not park") { try await producer.value }
        XCTAssertFalse(w.producerParked)
    }

    func testAChunkCurlFinishedComesBackWholeForTheProducerToRefill() async throws {
        let w = RequestBodyWriter(limit: 1 << 20, unpause: {})
        try await w.write([1, 2, 3, 4])
        try await w.write([5, 6])
        XCTAssertEqual(read(w, 3).1, [1, 2, 3])
        XCTAssertNil(w.takeSpentChunk(), "a chunk curl is still reading must not be handed out")
        XCTAssertEqual(read(w, 2).1, [4, 5])
        XCTAssertEqual(w.takeSpentChunk(), [1, 2, 3, 4], "the finished chunk, count and bytes as written")
        XCTAssertNil(w.takeSpentChunk(), "handed out once")
        XCTAssertEqual(read(w, 10).1, [6])
        w.ended()
        XCTAssertNil(w.takeSpentChunk(), "nothing is kept once the transfer has ended")
    }

    func testProducerFailureAbortsAndTransferEndReleasesTheProducer() async throws {
        let w = RequestBodyWriter(limit: 4, unpause: {})
        w.fail(CancellationError())
        guard case .abort = read(w, 10).0 else { return XCTFail("a failed producer aborts the request") }
        let other = RequestBodyWriter(limit: 1, unpause: {})
        try await other.write([1])
        let waiting = Task { try await other.write([2]) }
        try await waitUntil("the producer parks") { other.producerParked }
        other.ended()
        // Parked or not yet when the transfer ends, the producer gets the same answer.
        await assertThrows(HTTPClientError.self, "the producer must not wait for a transfer that ended", {
            try await waiting.value
        }, check: { $0.kind == .cancelled })
    }
}
