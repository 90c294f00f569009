import ArtifactCore
import Foundation
import PluginSupport
import Synchronization
import TestSupport
import XCTest
@testable import FileStore

/// The file store in process: objects are files under root, written through the staging area.
final class FileStoreTests: XCTestCase {
    final class Collect: ByteSink, Sendable {
        private let collected = Locked<[UInt8]>([])
        var bytes: [UInt8] { collected.withLock { $0 } }
        func send(_ b: [UInt8]) async throws { collected.withLock { $0 += b } }
    }

    func testRoundTripListAndDelete() async throws {
        let root = try TestPaths.temporaryDirectory("filestore")
        let store = FileStore(root: root)
        let src = try TestPaths.temporaryDirectory("src") + "/a.bin"
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        try Data(data).write(to: URL(fileURLWithPath: src))
        try await store.upload(file: src, to: "wf/pod/a.bin")
        let head = try await store.head("wf/pod/a.bin")
        XCTAssertEqual(head?.size, Int64(data.count))
        let listed = try await store.list(prefix: "wf/")
        XCTAssertEqual(listed.map(\.key), ["wf/pod/a.bin"])
        let sink = Collect()
        try await store.read(head!, chunkSize: 64 << 10, into: sink)
        XCTAssertEqual(sink.bytes, data)
        try await store.delete(["wf/pod/a.bin"])
        let gone = try await store.head("wf/pod/a.bin")
        XCTAssertNil(gone)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/wf"), "directories left empty by a delete are pruned")
        let staged = try FileManager.default.contentsOfDirectory(atPath: root + "/" + ArtifactKeys.reservedPrefix)
        XCTAssertEqual(staged, [], "nothing stays in the staging area")
    }

    func testAFailedStreamLeavesNoObjectAndKeepsTheOldOne() async throws {
        struct Broken: Error {}
        final class Failing: ByteChunkSource, Sendable {
            let sent = Locked(false)
            func next() async throws -> Data? {
                if sent.withLock({ s in defer { s = true }; return s }) { throw Broken() }
                return Data(repeating: 9, count: 1000)
            }
        }
        let root = try TestPaths.temporaryDirectory("filestore")
        let store = FileStore(root: root)
        final class One: ByteChunkSource, Sendable {
            let done = Locked(false)
            func next() async throws -> Data? { done.withLock { d in defer { d = true }; return d ? nil : Data([1, 2, 3]) } }
        }
        _ = try await store.upload(stream: One(), to: "k")
        do {
            _ = try await store.upload(stream: Failing(), to: "k")
            XCTFail("the stream failed")
        } catch is Broken {}
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/k"))), [1, 2, 3], "the old object is untouched")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/" + ArtifactKeys.reservedPrefix), [])
    }

    func testAPlantedSymlinkCannotRedirectAWrite() async throws {
        let root = try TestPaths.temporaryDirectory("filestore")
        let outside = try TestPaths.temporaryDirectory("outside")
        try FileManager.default.createSymbolicLink(atPath: root + "/wf", withDestinationPath: outside)
        let store = FileStore(root: root)
        let src = try TestPaths.temporaryDirectory("src") + "/x"
        try Data("x".utf8).write(to: URL(fileURLWithPath: src))
        do {
            try await store.upload(file: src, to: "wf/x")
            XCTFail("a write through a link leading outside root must fail")
        } catch {
            XCTAssertTrue("\(error)".contains("outside the store root"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
    }
}
