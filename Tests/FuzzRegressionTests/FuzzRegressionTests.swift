import FuzzEntries
import Foundation
import TestSupport
import XCTest

/// Every committed fuzz input, through the same entry points libFuzzer drives: the seed corpus,
/// and each crash a fuzz run found (Tests/Fuzz/regressions/<target>/), kept as a regression test
/// once fixed.
final class FuzzRegressionTests: XCTestCase {
    func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let dir = TestPaths.repository.appendingPathComponent("Tests/Fuzz/\(kind)/\(target.rawValue)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    func testEverySeedAndEveryFoundCrashRunsClean() throws {
        var seeds = 0, regressions = 0
        for target in FuzzTarget.allCases {
            let corpus = inputs("corpus", target)
            XCTAssertFalse(corpus.isEmpty, "no seed corpus for \(target.rawValue)")
            for url in corpus { target.run([UInt8](try Data(contentsOf: url))) }
            seeds += corpus.count
            for url in inputs("regressions", target) {
                target.run([UInt8](try Data(contentsOf: url)))
                regressions += 1
            }
        }
        print("fuzz inputs replayed: \(seeds) seeds, \(regressions) regressions")
    }
}
