import Synchronization
@testable import PluginSupport
import XCTest

final class TimersTests: XCTestCase {
    func testSleepLastsAtLeastItsDuration() async throws {
        let start = ContinuousClock.now
        try await Timers.sleep(for: .milliseconds(60))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(60))
    }

    func testEarlierDeadlinesWakeFirstWhateverTheOrderOfArrival() async throws {
        let timers = Timers()
        let order = try await withThrowingTaskGroup(of: Int.self) { group in
            for ms in [120, 40, 80, 10] {
                group.addTask {
                    try await timers.sleep(until: .now + .milliseconds(ms))
                    return ms
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        XCTAssertEqual(order, [10, 40, 80, 120])
        XCTAssertEqual(timers.sleeping, 0)
    }

    /// The reason this type exists: a cancelled sleep returns at once and leaves nothing behind
    /// (Task.sleep keeps its timer and the task's memory until the original deadline).
    func testCancelledSleepThrowsAtOnceAndIsForgotten() async throws {
        let timers = Timers()
        let sleepers = (0..<200).map { _ in
            Task { try await timers.sleep(until: .now + .seconds(3600)) }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while timers.sleeping < 200, ContinuousClock.now < deadline { await Task.yield() }
        XCTAssertEqual(timers.sleeping, 200)
        let start = ContinuousClock.now
        for s in sleepers { s.cancel() }
        for s in sleepers {
            do {
                try await s.value
                XCTFail("a cancelled sleep returned normally")
            } catch is CancellationError {
            } catch {
                XCTFail("a cancelled sleep threw \(error), not CancellationError")
            }
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        XCTAssertEqual(timers.sleeping, 0, "cancelled sleepers are still held")
    }

    func testCancelledBeforeItStartsThrowsWithoutSleeping() async throws {
        let timers = Timers()
        let t = Task {
            while !Task.isCancelled { await Task.yield() }
            try await timers.sleep(until: .now + .seconds(3600))
        }
        t.cancel()
        do {
            try await t.value
            XCTFail("slept despite being cancelled")
        } catch is CancellationError {}
        XCTAssertEqual(timers.sleeping, 0)
    }

    func testANewEarlierSleeperWakesTheThreadWaitingOnALaterOne() async throws {
        let timers = Timers()
        let long = Task { try await timers.sleep(until: .now + .seconds(3600)) }
        while timers.sleeping < 1 { await Task.yield() }
        let start = ContinuousClock.now
        try await timers.sleep(until: .now + .milliseconds(30))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        long.cancel()
        _ = try? await long.value
        XCTAssertEqual(timers.sleeping, 0)
    }
}

final class TimersWaitTests: XCTestCase {
    /// The wait handed to ppoll: never negative (negative there means no limit at all).
    func testAJustPassedDeadlineWaitsZeroNotForEver() {
        let now = ContinuousClock.now
        XCTAssertEqual(Timers.nanoseconds(from: now, until: now - .nanoseconds(5012)), 0)
        XCTAssertEqual(Timers.nanoseconds(from: now, until: now - .seconds(3)), 0)
        XCTAssertEqual(Timers.nanoseconds(from: now, until: now + .milliseconds(1500)), 1_500_000_000)
        XCTAssertEqual(Timers.nanoseconds(from: now, until: now), 0)
    }

    /// Many short sleeps, some cancelled, across many tasks: every one ends (within 30 s: a
    /// sleeper the thread forgets fails the test instead of hanging it).
    func testThousandsOfShortSleepsAllEnd() async throws {
        let timers = Timers()
        let done = expectation(description: "every sleep ended")
        let work = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<50 {
                    group.addTask {
                        var rng = SystemRandomNumberGenerator()
                        for i in 0..<100 {
                            let d = Duration.microseconds(Int.random(in: 0...800, using: &rng))
                            if (t + i) % 7 == 0 {
                                let s = Task { try await timers.sleep(until: .now + d) }
                                s.cancel()
                                _ = try? await s.value
                            } else {
                                try await timers.sleep(until: .now + d)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            done.fulfill()
        }
        await fulfillment(of: [done], timeout: 30)
        work.cancel()
        XCTAssertEqual(timers.sleeping, 0)
    }
}

final class DeadlineTests: XCTestCase {
    func testTheWaitsAnswerOrTheFallbackAtTheDeadlineWithTheWaitCancelled() async throws {
        let quick = await Timers.answer(of: { 1 }, within: .seconds(10), else: 0)
        XCTAssertEqual(quick, 1)
        let sawCancel = Atomic<Bool>(false)
        let started = ContinuousClock.now
        let late = await Timers.answer(of: { () -> Int in
            do { try await Timers.sleep(for: .seconds(60)) } catch { sawCancel.store(true, ordering: .relaxed) }
            return 2
        }, within: .milliseconds(50), else: 0)
        XCTAssertEqual(late, 0)
        XCTAssertTrue(sawCancel.load(ordering: .relaxed), "the wait must be cancelled (and awaited) at the deadline")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
    }
}
