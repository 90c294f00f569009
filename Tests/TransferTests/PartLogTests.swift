import ArtifactCore
import Foundation
import PluginSupport
import TestSupport
import XCTest
@testable import Transfer

final class PartLogTests: XCTestCase {
    let source = SourceIdentity(path: "/out/big.bin", size: 16_000, mtimeNanos: 1, inode: 2, device: 3)

    func part(_ n: Int) -> UploadedPart {
        UploadedPart(number: n, etag: "\"etag-\(n)\"", length: 16, checksums: PartChecksums(md5: Array(repeating: UInt8(n % 256), count: 16), crc64: UInt64(n)))
    }

    func testAppendedRecordsReadBackAndATornLastRecordIsIgnored() throws {
        let dir = try TestPaths.temporaryDirectory("partlog")
        let store = PartLogStore(directory: dir)
        let header = PartLogHeader(transport: "s3://h/b", key: "wf/out", uploadID: "u-1", partSize: 16, source: source)
        let w = try store.create(header)
        for n in 1...5 { try w.append(part(n)) }
        let path = store.path(transport: "s3://h/b", key: "wf/out")
        // A crash in the middle of the next append: half a record, no newline.
        let fh = FileHandle(forWritingAtPath: path)!
        fh.seekToEndOfFile()
        fh.write(Data("{\"number\":6,\"etag\":\"\\\"et".utf8))
        try fh.close()
        guard case .success(let log) = store.load(transport: "s3://h/b", key: "wf/out") else { return XCTFail("the log must read back") }
        XCTAssertEqual(log.header, header)
        XCTAssertEqual(log.parts.keys.sorted(), [1, 2, 3, 4, 5])
        XCTAssertEqual(log.parts[3], part(3))
        // Continuing cuts the torn tail before appending.
        let again = try store.reopen(log)
        try again.append(part(6))
        guard case .success(let after) = store.load(transport: "s3://h/b", key: "wf/out") else { return XCTFail() }
        XCTAssertEqual(after.parts.keys.sorted(), [1, 2, 3, 4, 5, 6])
    }

    func testAnythingElseUnreadableMakesTheLogUnusable() {
        XCTAssertThrowsError(try PartLogContents.parse(Array("{not json\n".utf8)))
        XCTAssertThrowsError(try PartLogContents.parse([]))
        let header = try! JSONEncoder().encode(PartLogHeader(transport: "t", key: "k", uploadID: "u", partSize: 1, source: source))
        XCTAssertThrowsError(try PartLogContents.parse([UInt8](header) + [0x0A] + Array("garbage\n".utf8) + [0x0A]),
                             "a damaged record in the middle is not a torn tail")
        var v1 = PartLogHeader(transport: "t", key: "k", uploadID: "u", partSize: 1, source: source)
        v1.version = 1
        XCTAssertThrowsError(try PartLogContents.parse([UInt8](try! JSONEncoder().encode(v1)) + [0x0A]))
    }

    /// O(parts): a 1,000-part upload writes each part's record once (the old whole-file
    /// rewrite wrote ~73 MB for the same upload).
    func testOneThousandPartsWriteLinearBytes() throws {
        let dir = try TestPaths.temporaryDirectory("partlog")
        let store = PartLogStore(directory: dir)
        let w = try store.create(PartLogHeader(transport: "oss://h/b", key: "wf/big", uploadID: "0123456789ABCDEF0123456789ABCDEF", partSize: 102_400, source: source))
        for n in 1...1000 {
            try w.append(UploadedPart(number: n, etag: "\"0123456789abcdef0123456789abcdef\"", length: 102_400,
                                      checksums: PartChecksums(md5: Array(repeating: 0xAB, count: 16), crc64: UInt64.max - UInt64(n))))
        }
        let size = try FileManager.default.attributesOfItem(atPath: store.path(transport: "oss://h/b", key: "wf/big"))[.size] as! Int
        XCTAssertEqual(w.bytesWritten, size)
        XCTAssertLessThan(size, 200 * 1000, "records must be appended, not rewritten")
        print("part log for 1,000 parts: \(size) bytes written")
    }
}

final class ResumePlanTests: XCTestCase {
    let source = SourceIdentity(path: "/out/big.bin", size: 100, mtimeNanos: 5, inode: 7, device: 1)
    let plan = PartPlan(size: 100, partSize: 40, partCount: 3)

    func log(_ parts: [UploadedPart], source: SourceIdentity? = nil, partSize: Int64 = 40, transport: String = "s3://h/b") -> PartLogContents {
        PartLogContents(header: PartLogHeader(transport: transport, key: "k", uploadID: "u-9", partSize: partSize, source: source ?? self.source),
                        parts: Dictionary(uniqueKeysWithValues: parts.map { ($0.number, $0) }), validLength: 0)
    }

    func part(_ n: Int, etag: String, length: Int64) -> UploadedPart {
        UploadedPart(number: n, etag: etag, length: length, checksums: PartChecksums(md5: [1], crc64: 2))
    }

    func testStartDecisions() {
        XCTAssertEqual(ResumePlan.start(log: nil, source: source, partSize: 40, transport: "s3://h/b"), .fresh)
        XCTAssertEqual(ResumePlan.start(log: log([]), source: source, partSize: 40, transport: "s3://h/b"), .check(uploadID: "u-9"))
        var touched = source
        touched.mtimeNanos += 1
        XCTAssertEqual(ResumePlan.start(log: log([]), source: touched, partSize: 40, transport: "s3://h/b"),
                       .abandon(uploadID: "u-9", reason: "the source changed since the checkpoint"))
        XCTAssertEqual(ResumePlan.start(log: log([], partSize: 32), source: source, partSize: 40, transport: "s3://h/b"),
                       .abandon(uploadID: "u-9", reason: "the part size changed since the checkpoint"))
        XCTAssertEqual(ResumePlan.start(log: log([]), source: source, partSize: 40, transport: "s3://other/b"),
                       .abandon(uploadID: "u-9", reason: "the checkpoint is for another store"))
    }

    func testOnlyPartsTheStoreStillHoldsAsLoggedCount() {
        let logged = log([part(1, etag: "a", length: 40), part(2, etag: "b", length: 40), part(3, etag: "c", length: 20)]).parts
        let listed = [ListedPart(number: 1, etag: "a", size: 40),     // held as logged
                      ListedPart(number: 2, etag: "B", size: 40),     // another upload of part 2: not ours
                      ListedPart(number: 3, etag: "c", size: 19)]     // wrong size
        XCTAssertEqual(ResumePlan.candidates(logged: logged, listed: listed, plan: plan).map(\.number), [1])
        XCTAssertEqual(ResumePlan.candidates(logged: logged, listed: [], plan: plan), [])
        // A logged part beyond the plan (a stale log) never counts.
        let beyond = log([part(4, etag: "d", length: 40)]).parts
        XCTAssertEqual(ResumePlan.candidates(logged: beyond, listed: [ListedPart(number: 4, etag: "d", size: 40)], plan: plan), [])
    }
}
