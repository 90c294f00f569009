import PluginSupport
import XCTest

/// Locked under contention: every change is seen whole, and (under `make test-tsan`) the lock's
/// hand-offs are visible to ThreadSanitizer, so locked accesses from many threads are no race.
final class LockedTests: XCTestCase {
    struct State {
        var calls: [(String, [String: String])] = []
        var counter = 0
    }

    func testManyTasksAppendAndReadUnderTheLock() async {
        let locked = Locked(State())
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<64 {
                group.addTask {
                    for i in 0..<200 {
                        let seen = locked.withLock { s -> Int in
                            let same = s.calls.filter { $0.0 == "t\(t)" && $0.1.keys.count == 1 }.count
                            s.calls.append(("t\(t)", ["i": String(i)]))
                            s.counter += 1
                            return same
                        }
                        XCTAssertEqual(seen, i)
                    }
                }
            }
        }
        XCTAssertEqual(locked.withLock { $0.counter }, 64 * 200)
        XCTAssertEqual(locked.withLock { $0.calls.count }, 64 * 200)
    }
}
