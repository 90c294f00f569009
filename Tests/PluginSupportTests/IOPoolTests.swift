import PluginSupport
import Glibc
import Synchronization
import XCTest
@testable import PluginSupport

final class IOPoolTests: XCTestCase {
    func testMovedBufferIsFilledInPlaceAndReturned() async throws {
        let pool = IOPool(threads: 2)
        for size in [0, 1, 4096, 1 << 20] {
            let buffer = [UInt8](repeating: 0, count: size)
            let (filled, n) = try await pool.run(moving: buffer) { b, _ -> Int in
                for i in 0..<b.count { b[i] = UInt8(truncatingIfNeeded: i) }
                return b.count
            }
            XCTAssertEqual(n, size)
            XCTAssertEqual(filled.count, size)
            if size > 0 { XCTAssertEqual(filled[size - 1], UInt8(truncatingIfNeeded: size - 1)) }
        }
    }
}

extension IOPoolTests {
    /// The job fills the caller's buffer itself: the storage that comes back is the storage that
    /// went in (no copy-on-write copy of a part buffer).
    func testMovedBufferIsNotCopied() async throws {
        let pool = IOPool(threads: 1)
        let buffer = [UInt8](repeating: 0, count: 1 << 20)
        let before = buffer.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        let (filled, inside) = try await pool.run(moving: consume buffer) { b, _ -> UInt in
            b[0] = 7
            return b.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        }
        let after = filled.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        XCTAssertEqual(filled[0], 7)
        XCTAssertEqual(before, inside, "the job wrote into a copy")
        XCTAssertEqual(before, after)
    }

    func testCancelledBeforeStartNeverRuns() async throws {
        let pool = IOPool(threads: 1)
        let ran = Locked(false)
        // Keep the only thread busy so the next job waits in the queue: the job is submitted
        // only once the blocker is running (two tasks may otherwise start in either order).
        let blocking = Locked(false)
        let blocker = Task { try await pool.run { blocking.withLock { $0 = true }; usleep(200_000) } }
        while !blocking.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        let job = Task { try await pool.run { ran.withLock { $0 = true } } }
        try await Task.sleep(for: .milliseconds(20))
        job.cancel()
        do {
            try await job.value
            XCTFail("a job cancelled while queued must throw")
        } catch is CancellationError {}
        try await blocker.value
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertFalse(ran.withLock { $0 })
    }

    func testLongJobSeesCancellation() async throws {
        let pool = IOPool(threads: 1)
        let job = Task {
            try await pool.run { token -> Int in
                var n = 0
                while n < 1000 {
                    try token.check()
                    usleep(1000)
                    n += 1
                }
                return n
            }
        }
        try await Task.sleep(for: .milliseconds(30))
        job.cancel()
        do {
            _ = try await job.value
            XCTFail("the job ran to its end despite the cancellation")
        } catch is CancellationError {}
    }

    func testRunToCompletionRunsEvenWhenCancelled() async throws {
        let pool = IOPool(threads: 1)
        let ran = Locked(false)
        let t = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            _ = try? await pool.runToCompletion { ran.withLock { $0 = true } }
        }
        await t.value
        XCTAssertTrue(ran.withLock { $0 })
    }
}
