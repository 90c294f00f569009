import XCTest
@testable import Transfer

final class BufferPoolTests: XCTestCase {
    func testBudgetBoundsBuffersInUse() async throws {
        let pool = BufferPool(limit: 4 << 20)
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
        let pool = BufferPool(limit: 16 << 20)
        let held = try await pool.acquire(size: 1 << 20)      // keeps the pool busy
        var peak: [[UInt8]] = []
        for _ in 0..<15 { peak.append(try await pool.acquire(size: 1 << 20)) }
        while let b = peak.popLast() { pool.release(consume b) }
        XCTAssertEqual(pool.bytesCached, 4 << 20, "a past peak's buffers beyond a quarter of the budget are freed")
        pool.release(consume held)
        XCTAssertEqual(pool.bytesCached, 0, "idle: every buffer freed")
    }

    func testCancelledWaiterLeaves() async throws {
        let pool = BufferPool(limit: 1 << 20)
        let a = try await pool.acquire(size: 1 << 20)
        let waiter = Task { try await pool.acquire(size: 1 << 20) }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        do {
            _ = try await waiter.value
            XCTFail("cancelled waiter got a buffer")
        } catch {}
        pool.release(a)
        XCTAssertEqual(pool.bytesInUse, 0)
    }
}

