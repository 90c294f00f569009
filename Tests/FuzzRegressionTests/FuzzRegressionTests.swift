import FuzzEntries
import Foundation
import TestSupport
import XCTest

/// Every committed fuzz input, through the same entry points libFuzzer drives: the seed corpus,
/// and each crash or slow input a fuzz run found (Tests/Fuzz/regressions/<target>/), kept as a
/// regression test once fixed. Each input must also finish within `perInputLimit`, far under
/// libFuzzer's 10 s timeout: a parser gone quadratic fails here, not only under the fuzzer
/// (XML text full of '&' once took time quadratic in its length).
final class FuzzRegressionTests: XCTestCase {
    func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let dir = TestPaths.repository.appendingPathComponent("Tests/Fuzz/\(kind)/\(target.rawValue)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    static let perInputLimit: Duration = .seconds(5)   // ThreadSanitizer builds run this too

    func replay(_ target: FuzzTarget, _ url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        let started = ContinuousClock.now
        target.run(bytes)
        let took = ContinuousClock.now - started
        XCTAssertLessThan(took, Self.perInputLimit, "\(target.rawValue)/\(url.lastPathComponent) took \(took)")
    }

    func testEverySeedAndEveryFoundCrashRunsCleanAndQuickly() throws {
        var seeds = 0, regressions = 0
        for target in FuzzTarget.allCases {
            let corpus = inputs("corpus", target)
            XCTAssertFalse(corpus.isEmpty, "no seed corpus for \(target.rawValue)")
            for url in corpus { try replay(target, url) }
            seeds += corpus.count
            for url in inputs("regressions", target) {
                try replay(target, url)
                regressions += 1
            }
        }
        print("fuzz inputs replayed: \(seeds) seeds, \(regressions) regressions")
    }
}
