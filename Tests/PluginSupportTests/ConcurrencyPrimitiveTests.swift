import PluginSupport
import Synchronization
import TestSupport
import XCTest
@testable import PluginSupport

final class SingleFlightTests: XCTestCase {
    func testConcurrentCallersShareOneCall() async throws {
        let flight = SingleFlight<String, Int>()
        let runs = Counter()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await flight.run("sts") {
                        runs.add()
                        try await Task.sleep(for: .milliseconds(50))
                        return 42
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        XCTAssertEqual(results, Array(repeating: 42, count: 50))
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(flight.callCount, 1)
        // Finished calls are forgotten: the next caller asks again.
        _ = try await flight.run("sts") { 7 }
        XCTAssertEqual(flight.callCount, 2)
    }

    func testAFailureReachesEveryWaiterAndIsNotKept() async throws {
        struct Boom: Error {}
        let flight = SingleFlight<Int, Int>()
        let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do {
                        _ = try await flight.run(1) { try await Task.sleep(for: .milliseconds(30)); throw Boom() }
                        return false
                    } catch is Boom { return true }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(failures, 10)
        let ok = try await flight.run(1) { 5 }
        XCTAssertEqual(ok, 5)
    }
}

extension SingleFlightTests {
    func testACancelledCallerLeavesAtOnceAndTheOthersStillGetTheAnswer() async throws {
        let flight = SingleFlight<Int, Int>()
        let release = Atomic<Bool>(false)
        let body: @Sendable () async throws -> Int = {
            while !release.load(ordering: .relaxed) { try await Timers.sleep(for: .milliseconds(1)) }
            return 42
        }
        let leaving = Task { try await flight.run(1, body) }
        let staying = Task { try await flight.run(1, body) }
        try await waitUntil("both callers wait") { flight.waiting(1) == 2 }
        leaving.cancel()
        await assertThrows(CancellationError.self, "a cancelled caller must not wait for the shared call") { _ = try await leaving.value }
        XCTAssertEqual(flight.waiting(1), 1)
        release.store(true, ordering: .relaxed)
        let answer = try await staying.value
        XCTAssertEqual(answer, 42)
        XCTAssertEqual(flight.callCount, 1)
    }

    func testTheLastCallerLeavingCancelsTheCallAndTheNextStartsAfresh() async throws {
        let flight = SingleFlight<Int, Int>()
        let sawCancellation = Atomic<Bool>(false)
        let caller = Task {
            try await flight.run(1) {
                do {
                    try await Timers.sleep(for: .seconds(60))
                } catch is CancellationError {
                    sawCancellation.store(true, ordering: .relaxed)
                    throw CancellationError()
                }
                return 1
            }
        }
        try await waitUntil("the caller waits") { flight.waiting(1) == 1 }
        caller.cancel()
        await assertThrows(CancellationError.self, "the only caller was cancelled") { _ = try await caller.value }
        try await waitUntil("the abandoned call sees its cancellation") { sawCancellation.load(ordering: .relaxed) }
        let next = try await flight.run(1) { 2 }
        XCTAssertEqual(next, 2, "a new caller must not get the abandoned call")
        XCTAssertEqual(flight.callCount, 2)
    }

    func testACallerCancelledBeforeItAsksDoesNotStartACall() async throws {
        let flight = SingleFlight<Int, Int>()
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await flight.run(1) { 1 }
        }
        await assertThrows(CancellationError.self, "already cancelled") { _ = try await caller.value }
        XCTAssertEqual(flight.callCount, 0)
    }
}

final class IdleCounterTests: XCTestCase {
    func testWaitEndsWhenTheCountReachesZeroOrTheTimeLimit() async throws {
        let c = IdleCounter()
        c.increment()
        c.increment()
        let started = ContinuousClock.now
        async let reached = c.waitUntilZero(timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(30))
        c.decrement()
        c.decrement()
        let done = await reached
        XCTAssertTrue(done)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2))
        c.increment()
        let timedOut = await c.waitUntilZero(timeout: .milliseconds(50))
        XCTAssertFalse(timedOut)
        let immediate = await c.waitUntilZero(timeout: .zero)
        XCTAssertFalse(immediate)
    }
}

final class DeferredWorkTests: XCTestCase {
    func testJobsRunWhenDueAndFinishRunsTheRestAtOnce() async throws {
        let work = DeferredWork()
        let ran = Locked<[String]>([])
        work.schedule(after: .milliseconds(20), "soon") { ran.withLock { $0.append("soon") } }
        work.schedule(after: .seconds(3600), "late") { ran.withLock { $0.append("late") } }
        let owner = Task { await work.run() }
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(ran.withLock { $0 }, ["soon"])
        XCTAssertEqual(work.pending, 1)
        work.finish()
        await owner.value
        XCTAssertEqual(ran.withLock { $0 }, ["soon", "late"], "shutdown runs what is left instead of dropping it")
    }
}

final class CleanupTests: XCTestCase {
    func testRunsEvenWhenTheCallerIsCancelled() async throws {
        let ran = Atomic<Bool>(false)
        let t = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await Cleanup.run("test") {
                try Task.checkCancellation()
                ran.store(true, ordering: .relaxed)
            }
        }
        await t.value
        XCTAssertTrue(ran.load(ordering: .relaxed))
    }
}

final class ParkingTests: XCTestCase {
    struct Owner: ParkingState {
        var tickets = WaiterTickets()
        var parked: [Int: CheckedContinuation<Int, Error>] = [:]
        var parkings = 0
    }

    static func parkHere(_ lock: Locked<Owner>) async throws -> Int {
        try await lock.park({ s, id, c in
            s.parkings += 1
            s.parked[id] = c
            return nil
        }, unpark: { s, id in s.parked.removeValue(forKey: id) })
    }

    func waitUntilParked(_ lock: Locked<Owner>, _ n: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while lock.withLock({ $0.parked.count }) < n {
            guard ContinuousClock.now < deadline else { return XCTFail("never parked") }
            try await Timers.sleep(for: .milliseconds(1))
        }
    }

    func testAnAnswerAtOnceAndAnAnswerLater() async throws {
        let lock = Locked(Owner())
        let now = try await lock.park({ _, _, _ in .success(1) }, unpark: { s, id in s.parked.removeValue(forKey: id) })
        XCTAssertEqual(now, 1)
        let later = Task { try await ParkingTests.parkHere(lock) }
        try await waitUntilParked(lock, 1)
        let c = lock.withLock { s in s.parked.removeValue(forKey: s.parked.keys.first!)! }
        c.resume(returning: 7)
        let seven = try await later.value
        XCTAssertEqual(seven, 7)
        later.cancel()   // after its answer: nothing to undo
    }

    func testACancelWhileParkedReturnsAtOnceAndLeavesNothingBehind() async throws {
        let lock = Locked(Owner())
        let left = Atomic<Int>(0)
        let waiter = Task {
            try await lock.park({ s, id, c in s.parked[id] = c; return nil },
                                unpark: { s, id in s.parked.removeValue(forKey: id) },
                                afterUnpark: { left.add(1, ordering: .relaxed) })
        }
        try await waitUntilParked(lock, 1)
        waiter.cancel()
        await assertThrows(CancellationError.self, "a cancelled waiter returns at once") { _ = try await waiter.value }
        XCTAssertTrue(lock.withLock { $0.parked.isEmpty })
        XCTAssertEqual(left.load(ordering: .relaxed), 1)
    }

    func testAWaiterCancelledBeforeItParksNeverParks() async throws {
        let lock = Locked(Owner())
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await ParkingTests.parkHere(lock)
        }
        await assertThrows(CancellationError.self, "cancelled before parking") { _ = try await waiter.value }
        XCTAssertEqual(lock.withLock { $0.parkings }, 0)
    }
}
