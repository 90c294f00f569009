import PluginSupport
import Synchronization
import TestSupport
import XCTest
@testable import ArtifactCore

/// `gc.when` / `gc.onUnknown` as a decision table over Argo's workflow phases.
final class GCDecisionTests: XCTestCase {
    func settings(_ when: GCSettings.When, _ onUnknown: GCSettings.OnUnknown = .delete) -> GCSettings {
        var g = GCSettings()
        g.when = when
        g.onUnknown = onUnknown
        return g
    }

    func testTable() {
        let phases = ["Succeeded", "Failed", "Error", "Running", "Pending"]
        let table: [GCSettings.When: [Bool]] = [
            .always: [true, true, true, true, true],
            .succeeded: [true, false, false, false, false],
            .failed: [false, true, true, false, false],
        ]
        for (when, expected) in table {
            for (phase, deletes) in zip(phases, expected) {
                let d = GCDecision.decide(settings(when), workflow: "wf-1", phase: phase)
                XCTAssertEqual(d.deletes, deletes, "gc.when \(when.rawValue), phase \(phase)")
                if !deletes, case .keep(let why) = d {
                    XCTAssertEqual(why, "kept by policy: workflow wf-1 is \(phase), gc.when is \(when.rawValue)")
                }
            }
        }
    }

    func testUnknownFollowsOnUnknown() {
        XCTAssertTrue(GCDecision.decideUnknown(settings(.succeeded, .delete), why: "403").deletes)
        guard case .keep(let why) = GCDecision.decideUnknown(settings(.failed, .keep), why: "workflow gone") else { return XCTFail() }
        XCTAssertTrue(why.contains("unknown (workflow gone); gc.onUnknown is keep"), why)
    }
}

final class ArchiveSinkTests: XCTestCase {
    final class Collect: ByteSink, Sendable {
        private let collected = Locked<[[UInt8]]>([])
        var pieces: [[UInt8]] { collected.withLock { $0 } }
        func send(_ bytes: [UInt8]) async throws { collected.withLock { $0.append(bytes) } }
    }

    func testSmallWritesCoalesceAndLargeOnesPassThrough() async throws {
        let out = Collect()
        let sink = CoalescingSink(downstream: out, limit: 100)
        for _ in 0..<5 { try await sink.send([UInt8](repeating: 1, count: 30)) }
        try await sink.send([UInt8](repeating: 2, count: 80))
        try await sink.flush()
        XCTAssertEqual(out.pieces.map(\.count), [90, 60, 80])
        XCTAssertEqual(out.pieces.flatMap { $0 }.count, 5 * 30 + 80)
    }

    func testTarOfAFileAndADirectoryEndsWithTwoZeroBlocks() async throws {
        let out = Collect()
        let tar = TarStream(sink: out, chunkSize: 1 << 20)
        try await tar.addDirectory("d", mtime: 0)
        try await tar.addFile("d/f.txt", size: 3, mtime: 0) { inner in try await inner.send([65, 66, 67]) }
        try await tar.finish()
        let bytes = out.pieces.flatMap { $0 }
        XCTAssertEqual(bytes.count, 512 + 512 + 512 + 1024)
        XCTAssertEqual(String(decoding: bytes[0..<2], as: UTF8.self), "d/")
        XCTAssertEqual(Array(bytes[1024..<1027]), [65, 66, 67])
        XCTAssertTrue(bytes.suffix(1024).allSatisfy { $0 == 0 })
        // A file whose content is not the size its header says fails the archive.
        await assertThrows(ArtifactError.self, "a short member must fail", {
            try await TarStream(sink: Collect(), chunkSize: 1 << 20).addFile("x", size: 5, mtime: 0) { try await $0.send([1]) }
        }, check: { "\($0)".contains("expected 5 bytes, got 1") })
    }
}
