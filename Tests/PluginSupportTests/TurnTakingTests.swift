import PluginSupport
import TestSupport
import XCTest

final class TurnTakingTests: XCTestCase {
    struct Seen {
        var inside = 0
        var most = 0
        var order: [Int] = []
        var released = false
    }

    func testSectionsRunOneAtATimeInArrivalOrder() async throws {
        let turns = TurnTaking()
        let seen = Locked(Seen())
        var tasks: [Task<Void, Error>] = []
        for n in 0..<8 {
            tasks.append(Task { @Sendable in
                try await turns.run {
                    seen.withLock { s in
                        s.inside += 1
                        s.most = max(s.most, s.inside)
                        s.order.append(n)
                    }
                    // The first holds its turn until all the others wait behind it.
                    while n == 0 && !seen.withLock({ $0.released }) { try await Timers.sleep(for: .milliseconds(1)) }
                    try await Timers.sleep(for: .milliseconds(1))
                    seen.withLock { $0.inside -= 1 }
                }
            })
            // Arrival order is the order the tasks reach the queue.
            try await waitUntil("task \(n) holds the turn or waits") { turns.waiting == n && seen.withLock { !$0.order.isEmpty } }
        }
        seen.withLock { $0.released = true }
        for t in tasks { try await t.value }
        XCTAssertEqual(seen.withLock { $0.order }, Array(0..<8))
        XCTAssertEqual(seen.withLock { $0.most }, 1, "two sections ran at once")
        XCTAssertEqual(turns.waiting, 0)
    }

    func testACancelledWaiterLeavesAtOnceAndNeverRunsItsSection() async throws {
        let turns = TurnTaking()
        let seen = Locked(Seen())
        let holder = Task { @Sendable in
            try await turns.run {
                seen.withLock { $0.order.append(0) }
                while !seen.withLock({ $0.released }) { try await Timers.sleep(for: .milliseconds(1)) }
            }
        }
        try await waitUntil("the holder has the turn") { seen.withLock { $0.order == [0] } }
        let leaving = Task { @Sendable in try await turns.run { seen.withLock { $0.order.append(1) } } }
        try await waitUntil("the second task waits") { turns.waiting == 1 }
        let staying = Task { @Sendable in try await turns.run { seen.withLock { $0.order.append(2) } } }
        try await waitUntil("the third task waits") { turns.waiting == 2 }
        leaving.cancel()
        await assertThrows(CancellationError.self, "a cancelled waiter must not wait for its turn") { try await leaving.value }
        XCTAssertEqual(turns.waiting, 1)
        seen.withLock { $0.released = true }
        try await holder.value
        try await staying.value
        XCTAssertEqual(seen.withLock { $0.order }, [0, 2], "only the waiter that stayed ran")
    }

    func testAFailingSectionPassesTheTurnOn() async throws {
        struct Boom: Error {}
        let turns = TurnTaking()
        await assertThrows(Boom.self, "the section's error reaches its caller") { try await turns.run { throw Boom() } }
        let next = try await turns.run { 7 }
        XCTAssertEqual(next, 7)
        XCTAssertEqual(turns.waiting, 0)
    }
}
