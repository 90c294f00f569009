import XCTest
@testable import PluginSupport

final class MemoryBudgetTests: XCTestCase {
    func testBudgetBoundsBuffersInUse() async throws {
        let pool = MemoryBudget(limit: 4 << 20)
        let a = try await pool.acquire(size: 2 << 20)
        let b = try await pool.acquire(size: 2 << 20)
        let third = Task { try await pool.acquire(size: 2 << 20) }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(pool.bytesInUse, 4 << 20, "a third buffer must wait")
        let storageOfA = a.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        pool.release(consume a)
        let c = try await third.value
        XCTAssertEqual(c.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }, storageOfA, "the released buffer is reused")
        // Given back and taken again, it is the pool's only copy: written in place.
        let storageOfB = b.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        pool.release(consume b)
        var d = try await pool.acquire(size: 2 << 20)
        d[0] = 1
        XCTAssertEqual(d.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }, storageOfB, "the reused buffer was copied on write")
        pool.release(consume d)
        pool.release(c)
        XCTAssertEqual(pool.bytesInUse, 0)
        XCTAssertLessThanOrEqual(pool.peakBytes, 4 << 20)
    }

    func testWhileBusyOnlyAQuarterOfTheBudgetStaysCached() async throws {
        let pool = MemoryBudget(limit: 16 << 20)
        let held = try await pool.acquire(size: 1 << 20)      // keeps the pool busy
        var peak: [[UInt8]] = []
        for _ in 0..<15 { peak.append(try await pool.acquire(size: 1 << 20)) }
        while let b = peak.popLast() { pool.release(consume b) }
        XCTAssertEqual(pool.bytesCached, 4 << 20, "a past peak's buffers beyond a quarter of the budget are freed")
        pool.release(consume held)
        XCTAssertEqual(pool.bytesCached, 0, "idle: every buffer freed")
    }

    func testCancelledWaiterLeaves() async throws {
        let pool = MemoryBudget(limit: 1 << 20)
        let a = try await pool.acquire(size: 1 << 20)
        let waiter = Task { try await pool.acquire(size: 1 << 20) }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        do {
            _ = try await waiter.value
            XCTFail("cancelled waiter got a buffer")
        } catch is CancellationError {
        } catch {
            XCTFail("a cancelled waiter ends with CancellationError, not \(error)")
        }
        pool.release(a)
        XCTAssertEqual(pool.bytesInUse, 0)
    }

    func testReservationsShareTheBudgetWithBuffers() async throws {
        let budget = MemoryBudget(limit: 4 << 20)
        let a = try await budget.acquire(size: 3 << 20)
        let reserved = Task { try await budget.reserve(2 << 20) }
        try await Task.sleep(for: .milliseconds(30))
        XCTAssertEqual(budget.bytesInUse, 3 << 20, "the reservation waits for room")
        budget.release(consume a)
        try await reserved.value
        XCTAssertEqual(budget.bytesInUse, 2 << 20)
        XCTAssertEqual(budget.bytesCached, 0, "a reservation makes room by dropping cached buffers")
        let r = try await budget.withReservation(2 << 20) { budget.bytesInUse }
        XCTAssertEqual(r, 4 << 20)
        budget.unreserve(2 << 20)
        XCTAssertEqual(budget.bytesInUse, 0)
    }

    func testAClaimLargerThanTheBudgetFailsAtOnceNamingBoth() async {
        let budget = MemoryBudget(limit: 12 << 20, origin: "from a memory limit of 48 MiB")
        do {
            _ = try await budget.acquire(size: 16 << 20, for: "a SaveStream part buffer")
            XCTFail("a claim over the whole budget must fail")
        } catch let e as MemoryBudgetError {
            let text = "\(e)"
            for part in ["a SaveStream part buffer", "16 MiB", "12 MiB", "48 MiB"] {
                XCTAssertTrue(text.contains(part), "'\(part)' missing from: \(text)")
            }
        } catch {
            XCTFail("unexpected \(error)")
        }
        XCTAssertEqual(budget.bytesInUse, 0)
    }

    func testACancelledBigWaiterUnblocksSmallerOnesBehindIt() async throws {
        let budget = MemoryBudget(limit: 4 << 20)
        try await budget.reserve(3 << 20)
        let big = Task { try await budget.reserve(4 << 20) }
        try await Task.sleep(for: .milliseconds(20))
        let small = Task { try await budget.reserve(1 << 20) }   // queued behind the big one
        try await Task.sleep(for: .milliseconds(20))
        XCTAssertEqual(budget.bytesInUse, 3 << 20)
        big.cancel()
        try await small.value
        XCTAssertEqual(budget.bytesInUse, 4 << 20, "the small claim fits once the big one has left the queue")
        budget.unreserve(4 << 20)
    }
}

