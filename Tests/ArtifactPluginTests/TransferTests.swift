import XCTest
@testable import ArtifactPlugin

final class PartPlanTests: XCTestCase {
    let GiB: Int64 = 1 << 30, MiB: Int64 = 1 << 20

    func testTwentyGiBUsesConfiguredParts() throws {
        let p = try PartPlan.make(size: 20 * GiB, preferredPartSize: 16 * MiB, limits: .s3, storeName: "S3")
        XCTAssertEqual(p.partSize, 16 * MiB)
        XCTAssertEqual(p.partCount, 1280)
        XCTAssertEqual(p.range(1280).length, 16 * MiB)
    }

    func testOneTiBGrowsPartsToFitTenThousand() throws {
        let p = try PartPlan.make(size: 1 << 40, preferredPartSize: 16 * MiB, limits: .s3, storeName: "S3")
        XCTAssertEqual(p.partSize, 105 * MiB)   // ceil(1 TiB / 10,000) = 104.86 MiB → 105 MiB
        XCTAssertLessThanOrEqual(p.partCount, 10_000)
        XCTAssertEqual(p.partCount, 9987)
    }

    func testOSSLimitsAndTheLargestObjects() throws {
        let tb: Int64 = 1_000_000_000_000
        let size = Int64(48.8 * Double(tb))
        XCTAssertThrowsError(try PartPlan.make(size: size, preferredPartSize: 16 * MiB, limits: .s3, storeName: "S3")) { e in
            XCTAssertTrue("\(e)".contains("largest object S3 holds"), "\(e)")
        }
        let oss = try PartPlan.make(size: size, preferredPartSize: 16 * MiB, limits: .oss, storeName: "OSS")
        XCTAssertLessThanOrEqual(oss.partCount, 10_000)
        XCTAssertLessThanOrEqual(oss.partSize, 5 * GiB)
        XCTAssertEqual(Int64(oss.partCount - 1) * oss.partSize + oss.range(oss.partCount).length, size)
        XCTAssertThrowsError(try PartPlan.make(size: 60 * tb, preferredPartSize: 16 * MiB, limits: .oss, storeName: "OSS")) { e in
            XCTAssertTrue("\(e)".contains("cannot upload"), "\(e)")
        }
    }

    func testSmallPartsRaisedToStoreMinimum() throws {
        XCTAssertEqual(try PartPlan.make(size: 100 * MiB, preferredPartSize: 1 * MiB, limits: .s3, storeName: "S3").partSize, 5 * MiB)
        XCTAssertEqual(try PartPlan.make(size: 100 * MiB, preferredPartSize: 1 * MiB, limits: .oss, storeName: "OSS").partSize, 1 * MiB)
    }
}

final class CRC64Tests: XCTestCase {
    func testCheckValue() {
        XCTAssertEqual(CRC64.checksum(Array("123456789".utf8)), 0x995D_C9BB_DF19_39FA)
        XCTAssertEqual(CRC64.checksum([UInt8]()), 0)
    }

    func testCombineOfRandomSplits() {
        var rng = SeededRandom(state: 42)
        let data = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC64.checksum(data)
        for _ in 0..<50 {
            let cut = Int.random(in: 0...data.count, using: &rng)
            let a = CRC64.checksum(data[..<cut]), b = CRC64.checksum(data[cut...])
            XCTAssertEqual(CRC64.combine(a, b, lengthB: Int64(data.count - cut)), whole)
        }
        // many pieces, like the parts of an upload
        var acc: UInt64 = 0
        for start in stride(from: 0, to: data.count, by: 7919) {
            let piece = data[start..<min(start + 7919, data.count)]
            acc = CRC64.combine(acc, CRC64.checksum(piece), lengthB: Int64(piece.count))
        }
        XCTAssertEqual(acc, whole)
    }

    func testIncrementalEqualsOneShot() {
        let data = Array((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var c = CRC64()
        c.update(data[..<3])
        c.update(data[3..<4001])
        c.update(data[4001...])
        XCTAssertEqual(c.value, CRC64.checksum(data))
    }
}

final class XMLReaderTests: XCTestCase {
    func testListingRecordsAndEntities() throws {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated>
        <NextContinuationToken>tok&amp;en</NextContinuationToken>
        <Contents><Key>a%2Fb+c</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag><Owner><ID>x</ID></Owner></Contents>
        <Contents><Key><![CDATA[raw<key>]]></Key><Size>0</Size></Contents>
        <!-- comment --></ListBucketResult>
        """
        let (recs, fields) = try XMLReader.records(Array(xml.utf8), record: "Contents")
        XCTAssertEqual(recs.count, 2)
        XCTAssertEqual(recs[0]["Key"], "a%2Fb+c")
        XCTAssertEqual(recs[0]["ETag"], "\"abc\"")
        XCTAssertEqual(recs[0]["Owner.ID"], "x")
        XCTAssertEqual(recs[1]["Key"], "raw<key>")
        XCTAssertEqual(fields["NextContinuationToken"], "tok&en")
        XCTAssertEqual(fields["IsTruncated"], "true")
        XCTAssertEqual(ObjectStoreClient.urlDecode("a%2Fb+c"), "a/b c")
    }

    func testEscapeRoundTrip() throws {
        let s = "k<&>\"'é"
        var got = ""
        try XMLReader.parse(Array("<K>\(XMLReader.escape(s))</K>".utf8)) { if case .text(let t) = $0 { got += t } }
        XCTAssertEqual(got, s)
    }
}

final class BufferPoolTests: XCTestCase {
    func testBudgetBoundsBuffersInUse() async throws {
        let pool = BufferPool(limit: 4 << 20)
        let a = try await pool.acquire(size: 2 << 20)
        let b = try await pool.acquire(size: 2 << 20)
        let third = Task { try await pool.acquire(size: 2 << 20) }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(pool.bytesInUse, 4 << 20, "a third buffer must wait")
        pool.release(a)
        let c = try await third.value
        XCTAssertTrue(c === a, "the released buffer is reused")
        pool.release(b)
        pool.release(c)
        XCTAssertEqual(pool.bytesInUse, 0)
        XCTAssertLessThanOrEqual(pool.peakBytes, 4 << 20)
    }

    func testCancelledWaiterLeaves() async throws {
        let pool = BufferPool(limit: 1 << 20)
        let a = try await pool.acquire(size: 1 << 20)
        let waiter = Task { try await pool.acquire(size: 1 << 20) }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        do {
            _ = try await waiter.value
            XCTFail("cancelled waiter got a buffer")
        } catch {}
        pool.release(a)
        XCTAssertEqual(pool.bytesInUse, 0)
    }
}

final class ChecksumPolicyTests: XCTestCase {
    func response(_ headers: [(String, String)]) -> HTTPResponse {
        HTTPResponse(status: 200, headers: headers, body: [], bodyLength: 0, trailers: [])
    }

    func testETagComparedOnlyWhenItIsAnMD5() throws {
        let policy = ChecksumPolicy(md5: true, crc64: false)
        let data: [UInt8] = Array("part bytes".utf8)
        let sent = data.withUnsafeBytes { policy.checksum($0) }
        let other = "\"0123456789abcdef0123456789abcdef\""
        XCTAssertNoThrow(try policy.verifySingle(response([("ETag", "\"\(sent.md5.hex)\"")]), sent, location: "s3://b/k"))
        XCTAssertThrowsError(try policy.verifySingle(response([("ETag", other)]), sent, location: "s3://b/k"))
        // SSE-KMS and SSE-C ETags are not MD5s of the data.
        XCTAssertNoThrow(try policy.verifySingle(response([("ETag", other), ("x-amz-server-side-encryption", "aws:kms")]), sent, location: "s3://b/k"))
        XCTAssertNoThrow(try policy.verifySingle(response([("ETag", other), ("x-amz-server-side-encryption-customer-algorithm", "AES256")]), sent, location: "s3://b/k"))
        XCTAssertThrowsError(try policy.verifySingle(response([("ETag", other), ("x-amz-server-side-encryption", "AES256")]), sent, location: "s3://b/k"))
        // multipart-style ETags are never compared with a part's MD5
        XCTAssertNoThrow(try policy.verifySingle(response([("ETag", "\"abc-3\"")]), sent, location: "s3://b/k"))
    }

    func testCRC64OfPartsAndObject() throws {
        let policy = ChecksumPolicy(md5: false, crc64: true)
        let a: [UInt8] = Array(repeating: 1, count: 1000), b: [UInt8] = Array(repeating: 2, count: 333)
        let ca = a.withUnsafeBytes { policy.checksum($0) }, cb = b.withUnsafeBytes { policy.checksum($0) }
        XCTAssertThrowsError(try policy.verifyPart(response([("x-oss-hash-crc64ecma", String(ca.crc64! ^ 1))]), ca, partNumber: 1, location: "oss://b/k"))
        let whole = CRC64.checksum(a + b)
        XCTAssertNoThrow(try policy.verifyObject(response([("x-oss-hash-crc64ecma", String(whole))]), parts: [ca, cb], location: "oss://b/k"))
        XCTAssertThrowsError(try policy.verifyObject(response([("x-oss-hash-crc64ecma", String(whole ^ 1))]), parts: [ca, cb], location: "oss://b/k"))
    }
}
