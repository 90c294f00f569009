import ArtifactCore
import Checksums
import Foundation
import PluginSupport
import Synchronization
import TestSupport
import XCTest
@testable import Transfer

/// A stream's chunks, as SaveStream hands them to the engine.
final class DataChunks: ByteChunkSource, Sendable {
    let chunks: Locked<[Data]>
    init(_ c: [Data]) { chunks = Locked(c) }
    func next() async throws -> Data? { chunks.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
}

/// The engines against an in-memory store double: resume, streams, ranges, integrity.
final class UploadEngineTests: XCTestCase {
    func settings(resume: Bool = true, dir: String) -> MultipartSettings {
        var m = MultipartSettings()
        m.threshold = 1 << 10
        m.partSize = 4 << 10
        m.concurrency = 3
        m.memoryLimit = 64 << 10
        m.resume = resume
        m.checkpointDir = dir
        return m
    }

    func sourceFile(_ size: Int, seed: UInt64 = 1) throws -> (String, [UInt8]) {
        var rng = SeededRandom(state: seed)
        let data = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = try TestPaths.temporaryDirectory("upload") + "/src.bin"
        try Data(data).write(to: URL(fileURLWithPath: path))
        return (path, data)
    }

    func testInterruptedUploadResumesWithOnlyTheMissingParts() async throws {
        let (path, data) = try sourceFile(37 << 10)             // 10 parts of 4 KiB
        let logs = try TestPaths.temporaryDirectory("logs")
        let store = InMemoryTransport()
        store.state.withLock { $0.cancelPartOnce = [7] }       // the call is cancelled at part 7 (a shutdown)
        let engine = UploadEngine(transport: store, settings: settings(dir: logs), budget: MemoryBudget(limit: 64 << 10), logs: PartLogStore(directory: logs))
        await assertThrows(CancellationError.self, "the first attempt must fail as cancelled") {
            _ = try await engine.upload(file: path, to: "wf/big")
        }
        XCTAssertEqual(store.openUploads, 1, "an interrupted upload is kept for the resume")
        let firstRun = store.count("UploadPart")
        // The parts the log says are done (parts still in flight when the call was cancelled
        // were never recorded, so they count as missing).
        guard case .success(let log) = PartLogStore(directory: logs).load(transport: store.transportID, key: "wf/big") else {
            return XCTFail("the interrupted upload's log must be there")
        }
        let done = log.parts.count
        XCTAssertGreaterThan(done, 0)
        _ = try await engine.upload(file: path, to: "wf/big")
        XCTAssertEqual(store.objects["wf/big"], data)
        XCTAssertEqual(store.count("CreateMultipartUpload"), 1, "the resume continues the same upload")
        XCTAssertEqual(store.count("UploadPart") - firstRun, 10 - done, "only the missing parts are sent again")
        XCTAssertEqual(store.openUploads, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: PartLogStore(directory: logs).path(transport: store.transportID, key: "wf/big")),
                       "success removes the part log")
    }

    func testChangedSourceAbandonsTheOldUpload() async throws {
        let (path, _) = try sourceFile(20 << 10)
        let logs = try TestPaths.temporaryDirectory("logs")
        let store = InMemoryTransport()
        store.state.withLock { $0.cancelPartOnce = [4] }
        let engine = UploadEngine(transport: store, settings: settings(dir: logs), budget: MemoryBudget(limit: 64 << 10), logs: PartLogStore(directory: logs))
        _ = try? await engine.upload(file: path, to: "k")
        // The step rewrites its output before the retry.
        var rng = SeededRandom(state: 9)
        let changed = (0..<(20 << 10)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(changed).write(to: URL(fileURLWithPath: path))
        _ = try await engine.upload(file: path, to: "k")
        XCTAssertEqual(store.objects["k"], changed)
        XCTAssertEqual(store.count("AbortMultipartUpload"), 1)
        XCTAssertEqual(store.count("CreateMultipartUpload"), 2)
        XCTAssertEqual(store.openUploads, 0)
    }

    func testPartsLargerThanTheWholeBudgetUploadFromTheFile() async throws {
        // A 5 TiB object's parts (525 MiB) inside a 128 MiB sidecar, scaled down: parts of 16 KiB
        // against a budget of 4 KiB. Each part in flight claims only the client's queues.
        let (path, data) = try sourceFile(100 << 10)
        var s = settings(resume: false, dir: "/tmp")
        s.partSize = 16 << 10
        let store = InMemoryTransport()
        let budget = MemoryBudget(limit: 4 << 10)
        let engine = UploadEngine(transport: store, settings: s, budget: budget, logs: PartLogStore(directory: "/tmp"))
        _ = try await engine.upload(file: path, to: "huge")
        XCTAssertEqual(store.objects["huge"], data)
        XCTAssertEqual(store.count("UploadPart"), 7)
        XCTAssertLessThanOrEqual(budget.peakBytes, 4 << 10, "memory held never grew with the part size")
        XCTAssertEqual(budget.bytesInUse, 0)
    }

    func testAStreamThatCannotFitOnePartFailsAtOnceAndLeavesNothing() async throws {
        let store = InMemoryTransport()   // smallest part: 1 KiB
        let engine = UploadEngine(transport: store, settings: settings(resume: false, dir: "/tmp"), budget: MemoryBudget(limit: 512),
                                  logs: PartLogStore(directory: "/tmp"))
        do {
            _ = try await engine.upload(stream: DataChunks([Data(repeating: 7, count: 4096)]), to: "s")
            XCTFail("a part buffer larger than the budget cannot be had")
        } catch let e as MemoryBudgetError {
            XCTAssertEqual(e.budget, 512)
        }
        XCTAssertEqual(store.count("CreateMultipartUpload") + store.count("PutObject"), 0, "refused before any request")
    }

    func testAFailureForGoodLeavesNoUploadAndNoLog() async throws {
        let (path, _) = try sourceFile(20 << 10)
        let logs = try TestPaths.temporaryDirectory("logs")
        let store = InMemoryTransport()
        store.state.withLock { $0.failPartOnce = [2] }
        let engine = UploadEngine(transport: store, settings: settings(dir: logs), budget: MemoryBudget(limit: 64 << 10), logs: PartLogStore(directory: logs))
        await assertThrows(ArtifactError.self, "the part failed for good", {
            _ = try await engine.upload(file: path, to: "k")
        }, check: { "\($0)".contains("SlowDown") })
        XCTAssertEqual(store.openUploads, 0, "a failed upload is aborted")
        XCTAssertEqual(store.count("AbortMultipartUpload"), 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: logs), [], "and its log removed")
    }

    func testASmallFileOfKnownSizeGoesUpInOnePutAndAChangedOneIsRefused() async throws {
        let (path, data) = try sourceFile(900)
        let store = InMemoryTransport()
        let engine = UploadEngine(transport: store, settings: settings(resume: false, dir: "/tmp"), budget: MemoryBudget(limit: 64 << 10),
                                  logs: PartLogStore(directory: "/tmp"))
        let sent = try await engine.upload(file: path, knownSize: 900, to: "dir/a")
        XCTAssertEqual(sent, 900)
        XCTAssertEqual(store.objects["dir/a"], data)
        // The directory was read when the file had other sizes: grown or shrunk, it is refused.
        for scanned: Int64 in [899, 901] {
            do {
                _ = try await engine.upload(file: path, knownSize: scanned, to: "dir/b")
                XCTFail("a file whose size changed since the scan was sent")
            } catch let e as ArtifactError {
                XCTAssertTrue("\(e)".contains(scanned < 900 ? "grew" : "shrank") && "\(e)".contains(path), "\(e)")
            }
        }
        XCTAssertNil(store.objects["dir/b"])
    }

    func testStreamOfUnknownLengthSplitsIntoPartsOrOnePut() async throws {
        let store = InMemoryTransport()
        let engine = UploadEngine(transport: store, settings: settings(resume: false, dir: "/tmp"), budget: MemoryBudget(limit: 64 << 10),
                                  logs: PartLogStore(directory: "/tmp"))
        var rng = SeededRandom(state: 3)
        let data = (0..<(13 << 10 + 5)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let pieces = stride(from: 0, to: data.count, by: 3000).map { Data(data[$0..<min($0 + 3000, data.count)]) }
        let n = try await engine.upload(stream: DataChunks(pieces), to: "s")
        XCTAssertEqual(n, Int64(data.count))
        XCTAssertEqual(store.objects["s"], data)
        XCTAssertEqual(store.count("UploadPart"), 4)
        _ = try await engine.upload(stream: DataChunks([Data([1, 2, 3])]), to: "small")
        XCTAssertEqual(store.objects["small"], [1, 2, 3])
        XCTAssertEqual(store.count("PutObject"), 1, "less than one part is one PutObject")
    }

    /// Buffers and reservations go back to the budget on every exit: a leaked one would shrink
    /// the process's budget for good.
    func testEveryExitGivesItsMemoryBack() async throws {
        let budget = MemoryBudget(limit: 64 << 10)
        let store = InMemoryTransport()
        let engine = UploadEngine(transport: store, settings: settings(resume: false, dir: "/tmp"), budget: budget,
                                  logs: PartLogStore(directory: "/tmp"))
        let pieces = (0..<5).map { Data(repeating: UInt8($0), count: 3000) }
        // A part failing for good in the middle of a stream, parts in flight beside it.
        store.state.withLock { $0.failPartOnce = [3] }
        await assertThrows(ArtifactError.self, "the third part failed for good") {
            _ = try await engine.upload(stream: DataChunks(pieces), to: "failed")
        }
        XCTAssertEqual(budget.bytesInUse, 0, "after a failed stream")
        // The source failing mid-stream.
        await assertThrows(CancellationError.self, "the source broke") {
            _ = try await engine.upload(stream: FailingChunks(before: 3, pieces), to: "broken")
        }
        XCTAssertEqual(budget.bytesInUse, 0, "after a broken source")
        // Files: a small one sent from a buffer, a big one from the file in parts.
        let (small, _) = try sourceFile(900)
        let (big, _) = try sourceFile(20 << 10, seed: 9)
        _ = try await engine.upload(file: small, to: "small")
        _ = try await engine.upload(file: big, to: "big")
        XCTAssertEqual(budget.bytesInUse, 0, "after file uploads")
        XCTAssertGreaterThan(budget.peakBytes, 0)
    }
}

/// Chunks that fail after `before` of them, as a client that goes away mid-stream.
final class FailingChunks: ByteChunkSource, Sendable {
    let rest: DataChunks
    let left: Locked<Int>
    init(before n: Int, _ c: [Data]) {
        rest = DataChunks(c)
        left = Locked(n)
    }
    func next() async throws -> Data? {
        guard left.withLock({ l -> Bool in l -= 1; return l >= 0 }) else { throw CancellationError() }
        return try await rest.next()
    }
}

final class DownloadEngineTests: XCTestCase {
    func testRangesLandInPlaceAndTheCRCIsChecked() async throws {
        let store = InMemoryTransport()
        var rng = SeededRandom(state: 5)
        let data = (0..<(3 << 20 + 7)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        store.state.withLock { $0.objects["o"] = data }
        var load = LoadSettings()
        load.partSize = 1 << 20
        load.concurrency = 3
        let dest = try TestPaths.temporaryDirectory("load") + "/sub/out.bin"
        try await DownloadEngine(transport: store, settings: load, budget: MemoryBudget(limit: 1 << 20))
            .download(ObjectInfo(key: "o", size: Int64(data.count), lastModified: 0, etag: "e"), to: dest)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: dest))), data)
        XCTAssertEqual(store.count("GetObject"), 4)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: FileSystem.parent(dest)).filter { $0 != "out.bin" }
        XCTAssertEqual(leftovers, [], "no temp file stays behind")
    }

    func testABrokenRangeIsFetchedAgainFromTheByteReached() async throws {
        let store = InMemoryTransport()
        let data = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        store.state.withLock { $0.objects["o"] = data; $0.dropGetAfter = [300_000] }
        var load = LoadSettings()
        load.partSize = 1 << 20
        load.concurrency = 1
        let dest = try TestPaths.temporaryDirectory("load") + "/out.bin"
        try await DownloadEngine(transport: store, settings: load, budget: MemoryBudget(limit: 1 << 20))
            .download(ObjectInfo(key: "o", size: Int64(data.count), lastModified: 0, etag: "e"), to: dest)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: dest))), data)
        XCTAssertEqual(store.count("GetObject"), 3, "two ranges, the first fetched again after it broke")
    }

    func testStreamResumesOnceAfterADroppedConnectionAndNeverEndsShort() async throws {
        final class Collect: ByteSink, Sendable {
            let bytes = Locked<[UInt8]>([])
            func send(_ b: [UInt8]) async throws { bytes.withLock { $0 += b } }
        }
        let store = InMemoryTransport()
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        store.state.withLock { $0.objects["o"] = data; $0.dropGetAfter = [40_000] }
        let engine = DownloadEngine(transport: store, settings: LoadSettings(), budget: MemoryBudget(limit: 1 << 20))
        let sink = Collect()
        try await engine.read(ObjectInfo(key: "o", size: Int64(data.count), lastModified: 0, etag: "e"), chunkSize: 16 << 10, into: sink)
        XCTAssertEqual(sink.bytes.withLock { $0 }, data)
        XCTAssertEqual(store.count("GetObject"), 2, "one resumed GET from the byte reached")
        // Two drops: the second is a failure, not a short success.
        store.state.withLock { $0.dropGetAfter = [10_000, 10_000] }
        await assertThrows(InMemoryTransport.Dropped.self, "a stream that broke twice must fail with the break") {
            try await engine.read(ObjectInfo(key: "o", size: Int64(data.count), lastModified: 0, etag: "e"), chunkSize: 16 << 10, into: Collect())
        }
    }
}
