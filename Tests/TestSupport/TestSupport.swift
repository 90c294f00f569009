import Foundation
import PluginSupport
import Synchronization
import XCTest

/// SplitMix64: reproducible random inputs for tests.
public struct SeededRandom: RandomNumberGenerator {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Places in the repository tests read from.
public enum TestPaths {
    public static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    public static var fixtures: URL { repository.appendingPathComponent("Tests/Fixtures") }

    /// A new empty directory under the system's temp directory, removed when the test process
    /// exits (a test that wants its files to outlive a failure can still read them meanwhile).
    public static func temporaryDirectory(_ name: String = "test") throws -> String {
        let dir = NSTemporaryDirectory() + "argo-plugin-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = removeAtExit
        madeDirectories.withLock { $0.append(dir) }
        return dir
    }
}

private let madeDirectories = Locked<[String]>([])
private let removeAtExit: Void = {
    atexit {
        for dir in madeDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: dir) }
    }
}()

/// A count shared by the tasks of a test.
public final class Counter: Sendable {
    private let value = Locked(0)
    public init() {}
    public func add(_ n: Int = 1) { value.withLock { $0 += n } }
    public var count: Int { value.withLock { $0 } }
}

/// `body` must throw an `E` for which `check` holds; no error, or any other error, fails the test
/// (a bare `catch {}` would accept a wrong failure as readily as the right one).
public func assertThrows<E: Error>(_ expected: E.Type, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                                   _ body: () async throws -> Void, check: (E) -> Bool = { _ in true }) async {
    do {
        try await body()
        XCTFail("\(what): no error", file: file, line: line)
    } catch let e as E {
        XCTAssertTrue(check(e), "\(what): \(e)", file: file, line: line)
    } catch {
        XCTFail("\(what): threw \(type(of: error)) \(error), expected \(E.self)", file: file, line: line)
    }
}

/// Polls `condition` (what another task has reached) instead of sleeping a guessed time; fails
/// the test after 10 s.
public func waitUntil(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                      _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting until \(what)", file: file, line: line) }
        try await Timers.sleep(for: .milliseconds(1))
    }
}
