import ArtifactCore
import Checksums
import Foundation
import StoreHTTP
import Transfer
import XCTest
@testable import ObjectStore

final class IntegrityPolicyTests: XCTestCase {
    func response(_ headers: [(String, String)], body: String = "") -> HTTPResponse {
        HTTPResponse(status: 200, headers: headers, body: Array(body.utf8), bodyLength: 0)
    }

    let s3Wire = S3Dialect(region: "us-east-1").checksumWire
    let ossWire = OSSDialect(region: "cn-hangzhou").checksumWire

    func testETagComparedOnlyWhenItIsAnMD5() throws {
        let wire = s3Wire
        let sent = PartChecksums.compute(Array("part bytes".utf8)[...], .md5)
        let other = "\"0123456789abcdef0123456789abcdef\""
        XCTAssertEqual(wire.requestChecks(sent).headers.map(\.0), ["Content-MD5"])
        XCTAssertNil(wire.requestChecks(sent).payloadHash)
        XCTAssertNoThrow(try wire.verify(response([("ETag", "\"\(sent.md5!.hex)\"")]), sent, what: "s3://b/k"))
        XCTAssertThrowsError(try wire.verify(response([("ETag", other)]), sent, what: "s3://b/k")) { XCTAssertTrue($0 is IntegrityMismatch) }
        // SSE-KMS and SSE-C ETags are not MD5s of the data.
        XCTAssertNoThrow(try wire.verify(response([("ETag", other), ("x-amz-server-side-encryption", "aws:kms")]), sent, what: "s3://b/k"))
        XCTAssertNoThrow(try wire.verify(response([("ETag", other), ("x-amz-server-side-encryption-customer-algorithm", "AES256")]), sent, what: "s3://b/k"))
        XCTAssertThrowsError(try wire.verify(response([("ETag", other), ("x-amz-server-side-encryption", "AES256")]), sent, what: "s3://b/k"))
        // multipart-style ETags are never compared with a part's MD5
        XCTAssertNoThrow(try wire.verify(response([("ETag", "\"abc-3\"")]), sent, what: "s3://b/k"))
    }

    func testSignedSHA256AndCRCHeaders() throws {
        let bytes = Array("part bytes".utf8)
        let sha = PartChecksums.compute(bytes[...], [.sha256, .crc64])
        XCTAssertEqual(s3Wire.requestChecks(sha).payloadHash, Digest.sha256(bytes).hex)
        XCTAssertTrue(s3Wire.requestChecks(sha).headers.isEmpty, "CRC-64 is only logged on S3")
        XCTAssertTrue(s3Wire.createHeaders(.sha256).isEmpty)
        XCTAssertNil(s3Wire.completeElement(sha))

        let c = PartChecksums.compute(bytes[...], .crc32c)
        let b64 = Data(CRC32.bigEndianBytes(CRC32.checksum(.castagnoli, bytes))).base64EncodedString()
        XCTAssertEqual(s3Wire.requestChecks(c).headers.first?.0, "x-amz-checksum-crc32c")
        XCTAssertEqual(s3Wire.requestChecks(c).headers.first?.1, b64)
        XCTAssertEqual(s3Wire.createHeaders(.crc32c).first?.1, "CRC32C")
        XCTAssertEqual(s3Wire.completeElement(c)?.name, "ChecksumCRC32C")
        XCTAssertEqual(s3Wire.createHeaders(.crc32).first?.1, "CRC32")
        // the store's echo must be ours
        XCTAssertNoThrow(try s3Wire.verify(response([("x-amz-checksum-crc32c", b64)]), c, what: "part 1"))
        XCTAssertThrowsError(try s3Wire.verify(response([("x-amz-checksum-crc32c", "AAAAAA==")]), c, what: "part 1")) { XCTAssertTrue($0 is IntegrityMismatch) }
        // OSS has no such headers: nothing of it is sent
        XCTAssertTrue(ossWire.requestChecks(c).headers.isEmpty)
        XCTAssertNil(ossWire.requestChecks(sha).payloadHash)
    }

    func testCompositeCRCOfTheCompletedObject() throws {
        let a: [UInt8] = Array(repeating: 1, count: 1000), b: [UInt8] = Array(repeating: 2, count: 333)
        let ca = PartChecksums.compute(a[...], .crc32c), cb = PartChecksums.compute(b[...], .crc32c)
        let parts = [UploadedPart(number: 1, etag: "e1", length: 1000, checksums: ca), UploadedPart(number: 2, etag: "e2", length: 333, checksums: cb)]
        let composite = Data(CRC32.bigEndianBytes(CRC32.composite(.castagnoli, parts: [ca.crc32c!, cb.crc32c!]))).base64EncodedString() + "-2"
        func answer(_ v: String) -> HTTPResponse {
            response([], body: "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag><ChecksumCRC32C>\(v)</ChecksumCRC32C></CompleteMultipartUploadResult>")
        }
        XCTAssertNoThrow(try s3Wire.verifyObject(answer(composite), parts: parts, location: "s3://b/k"))
        XCTAssertThrowsError(try s3Wire.verifyObject(answer("AAAAAA==-2"), parts: parts, location: "s3://b/k"))
    }

    func testCRC64OfPartsAndObject() throws {
        let wire = ossWire
        let a: [UInt8] = Array(repeating: 1, count: 1000), b: [UInt8] = Array(repeating: 2, count: 333)
        let ca = PartChecksums.compute(a[...], .crc64), cb = PartChecksums.compute(b[...], .crc64)
        XCTAssertThrowsError(try wire.verify(response([(OSSDialect.crc64Header, String(ca.crc64! ^ 1))]), ca, what: "part 1 of oss://b/k"))
        XCTAssertNoThrow(try wire.verify(response([(OSSDialect.crc64Header, String(ca.crc64!))]), ca, what: "part 1 of oss://b/k"))
        let whole = CRC64.checksum(a + b)
        let parts = [UploadedPart(number: 1, etag: "e1", length: 1000, checksums: ca), UploadedPart(number: 2, etag: "e2", length: 333, checksums: cb)]
        XCTAssertNoThrow(try wire.verifyObject(response([(OSSDialect.crc64Header, String(whole))]), parts: parts, location: "oss://b/k"))
        XCTAssertThrowsError(try wire.verifyObject(response([(OSSDialect.crc64Header, String(whole ^ 1))]), parts: parts, location: "oss://b/k"))
        XCTAssertThrowsError(try wire.verifyObject(response([], body: "<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag></CompleteMultipartUploadResult>"),
                                                   parts: parts, location: "oss://b/k")) { e in
            XCTAssertTrue("\(e)".contains("reports 3 parts, 2 were sent"), "\(e)")
        }
    }

    /// The probe's wrong values really are wrong, and its right ones right.
    func testProbeChecksums() {
        for check in [ChecksumSet.crc32c, .sha256] {
            let (right, wrong) = IntegrityProbe.probeChecksums(check)
            XCTAssertEqual(right, PartChecksums.compute(IntegrityProbe.body[...], check))
            XCTAssertNotEqual(right, wrong)
            XCTAssertEqual(right.set, wrong.set)
        }
    }
}

/// What each dialect carries as behaviour (nothing outside asks which store it is).
final class DialectTests: XCTestCase {
    let s3 = S3Dialect(region: "us-east-1"), oss = OSSDialect(region: "cn-hangzhou")

    func testErrorCodesAreTyped() {
        XCTAssertEqual(s3.classify(code: "NoSuchKey", status: 404), .noSuchKey)
        XCTAssertEqual(s3.classify(code: "NotFound", status: 404), .noSuchKey)
        XCTAssertEqual(s3.classify(code: "NoSuchBucket", status: 404), .noSuchBucket)
        XCTAssertEqual(s3.classify(code: "SlowDown", status: 503), .throttled)
        XCTAssertEqual(s3.classify(code: "XAmzContentSHA256Mismatch", status: 400), .badDigest)
        XCTAssertEqual(s3.classify(code: "SignatureDoesNotMatch", status: 403), .credentialsRejected)
        XCTAssertEqual(s3.classify(code: "InvalidObjectState", status: 403), .archived)
        XCTAssertEqual(oss.classify(code: "ServiceBusy", status: 503), .throttled)
        XCTAssertEqual(oss.classify(code: "SecurityTokenExpired", status: 403), .credentialsRejected)
        // unknown codes: the status decides
        XCTAssertEqual(s3.classify(code: "Weird", status: 502), .transient)
        XCTAssertEqual(oss.classify(code: "Weird", status: 429), .throttled)
        XCTAssertEqual(s3.classify(code: "Weird", status: 400), .other)
        // OSS has no SlowDown code of its own, S3 no ServiceBusy: each reads only its own
        XCTAssertEqual(oss.classify(code: "SlowDown", status: 400), .other)
    }

    func testIntegrityFollowsTheSetting() {
        XCTAssertEqual(s3.integrity(.auto).parts, .learnedFromStore, "S3 stores differ: auto learns what this one enforces")
        XCTAssertEqual(s3.integrity(.auto).object, .md5, "single PUTs keep Content-MD5, which every store verifies")
        XCTAssertEqual(s3.integrity(.sha256).parts, .fixed(.sha256))
        XCTAssertEqual(s3.integrity(.crc32c).parts, .fixed(.crc32c))
        XCTAssertEqual(s3.integrity(.none).parts, .fixed([]))
        XCTAssertEqual(oss.integrity(.auto).parts, .fixed(.crc64), "OSS reports the CRC-64 of every part")
        XCTAssertEqual(oss.integrity(.auto).object, [.md5, .crc64])
        XCTAssertEqual(oss.integrity(.crc64).object, .crc64)
        XCTAssertEqual(oss.integrity(.md5).parts, .fixed(.md5))
        XCTAssertEqual(oss.integrity(.none).object, [])
    }

    func testRestoreRequestsDiffer() {
        let a = s3.restoreOperation("k"), b = oss.restoreOperation("k")
        XCTAssertEqual(a.query.map(\.0), ["restore"])
        if case .bytes(let body) = a.body { XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("<Days>1</Days>")) } else { XCTFail("S3 restores with a RestoreRequest") }
        if case .none = b.body {} else { XCTFail("OSS restores with an empty body") }
    }

    func testHeadersAndLimits() {
        XCTAssertEqual(s3.storageClassHeader("GLACIER").0, "x-amz-storage-class")
        XCTAssertEqual(oss.storageClassHeader("IA").0, "x-oss-storage-class")
        XCTAssertEqual(s3.limits.minPartSize, 5 << 20)
        XCTAssertEqual(oss.limits.minPartSize, 100 << 10)
        XCTAssertEqual(s3.infrequentAccessClass, "STANDARD_IA")
        XCTAssertEqual(oss.infrequentAccessClass, "IA")
    }
}

/// The one retry strategy: what is retried, how often, and the shared budget.
final class RetryStrategyTests: XCTestCase {
    func storeError(_ kind: StoreErrorKind, status: Int) -> StoreError {
        StoreError(dialect: "S3", operation: "UploadPart", location: "s3://b/k", status: status, code: "X", kind: kind, message: "", requestID: nil)
    }

    func testClassification() {
        XCTAssertEqual(RetryStrategy.classify(storeError(.throttled, status: 503)), .throttled)
        XCTAssertEqual(RetryStrategy.classify(storeError(.transient, status: 500)), .transient)
        XCTAssertEqual(RetryStrategy.classify(storeError(.badDigest, status: 400)), .damaged)
        XCTAssertEqual(RetryStrategy.classify(storeError(.accessDenied, status: 403)), .permanent)
        XCTAssertEqual(RetryStrategy.classify(storeError(.other, status: 502)), .transient)
        XCTAssertEqual(RetryStrategy.classify(HTTPClientError(kind: .connectionDropped, message: "")), .transient)
        XCTAssertEqual(RetryStrategy.classify(HTTPClientError(kind: .tls, message: "")), .permanent)
    }

    func testAttemptsPerRequest() {
        let r = RetryStrategy(attempts: 3)
        XCTAssertNotNil(r.retry(after: .transient, attempt: 1, idempotent: true))
        XCTAssertNotNil(r.retry(after: .transient, attempt: 2, idempotent: true))
        XCTAssertNil(r.retry(after: .transient, attempt: 3, idempotent: true), "3 attempts in all")
        XCTAssertNil(r.retry(after: .permanent, attempt: 1, idempotent: true))
        XCTAssertNil(r.retry(after: .transient, attempt: 1, idempotent: false), "a non-idempotent request is not sent twice")
        XCTAssertNotNil(r.retry(after: .damaged, attempt: 1, idempotent: false), "damaged bytes are sent again")
    }

    func testCleanupGetsMoreAttemptsAndRunsOnAnEmptyBudget() {
        let r = RetryStrategy(attempts: 3, budget: 5)
        XCTAssertEqual(r.attempts(cleanup: true), 6)
        XCTAssertNotNil(r.retry(after: .transient, attempt: 1, idempotent: true))   // spends the budget
        XCTAssertNil(r.retry(after: .transient, attempt: 1, idempotent: true))
        XCTAssertNotNil(r.retry(after: .transient, attempt: 5, idempotent: true, cleanup: true),
                        "an abort still gets its attempts when the budget is spent")
        XCTAssertNil(r.retry(after: .transient, attempt: 6, idempotent: true, cleanup: true))
    }

    func testSharedBudgetStopsRetryStormsAndRefills() {
        let r = RetryStrategy(attempts: 5, budget: 20)
        var granted = 0
        while r.retry(after: .transient, attempt: 1, idempotent: true) != nil { granted += 1 }
        XCTAssertEqual(granted, 4, "20 tokens at 5 per retry")
        XCTAssertNil(r.retry(after: .throttled, attempt: 1, idempotent: true))
        r.succeeded(afterAttempts: 2)   // a retried request that succeeded gives its tokens back
        XCTAssertNotNil(r.retry(after: .transient, attempt: 1, idempotent: true))
        for _ in 0..<100 { r.succeeded(afterAttempts: 1) }
        XCTAssertEqual(r.tokensLeft, 20, "never above capacity")
    }

    func testBackoffIsBounded() {
        let r = RetryStrategy(attempts: 10, baseDelayMs: 100, maxDelayMs: 1000)
        for n in 2...10 {
            XCTAssertLessThanOrEqual(r.delay(beforeAttempt: n), .milliseconds(min(1000, 100 << (n - 2))))
            XCTAssertLessThanOrEqual(r.delay(beforeAttempt: n, throttled: true), .milliseconds(1000))
        }
    }
}

/// Lifecycle rules merged into a bucket's own: others kept byte for byte, ours added or
/// replaced, someone else's rule on our prefix left alone.
final class LifecycleMergeTests: XCTestCase {
    var settings: LifecycleSettings {
        var l = LifecycleSettings()
        l.expireAfterDays = 30
        l.transitionAfterDays = 7
        l.transitionStorageClass = "STANDARD_IA"
        l.abortIncompleteUploadsAfterDays = 2
        return l
    }

    func testOthersKeptVerbatimAndOursAdded() throws {
        let other = "<Rule><ID>keep-logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>"
        let existing = try LifecycleRule.existingRules(Array("<LifecycleConfiguration>\(other)</LifecycleConfiguration>".utf8))
        XCTAssertEqual(existing.map(\.id), ["keep-logs"])
        let ours = LifecycleRule(prefix: "wf/", settings: settings)
        guard case .write(let xml) = LifecycleRule.merge(ours, into: existing, flavor: .s3) else { return XCTFail("expected a write") }
        XCTAssertTrue(xml.contains(other), "the other rule is kept as written")
        XCTAssertTrue(xml.contains("<ID>\(ours.id)</ID><Filter><Prefix>wf/</Prefix></Filter>"))
        XCTAssertTrue(xml.contains("<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"))
        XCTAssertTrue(xml.contains("xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""))
        // Written again: nothing to do.
        let after = try LifecycleRule.existingRules(Array(xml.utf8))
        XCTAssertEqual(LifecycleRule.merge(ours, into: after, flavor: .s3), .unchanged)
    }

    func testOSSFlavourAndLegacyPrefix() throws {
        let ours = LifecycleRule(prefix: "wf/", settings: settings)
        guard case .write(let xml) = LifecycleRule.merge(ours, into: [], flavor: .oss) else { return XCTFail("expected a write") }
        XCTAssertTrue(xml.contains("<Prefix>wf/</Prefix><Status>"), "OSS writes the rule-level prefix")
        XCTAssertTrue(xml.contains("<AbortMultipartUpload><Days>2</Days></AbortMultipartUpload>"))
        XCTAssertFalse(xml.contains("xmlns"))
        // An S3 bucket whose rules use the older rule-level prefix gets ours in the same form.
        let legacy = try LifecycleRule.existingRules(Array("<LifecycleConfiguration><Rule><ID>x</ID><Prefix>a/</Prefix><Status>Enabled</Status></Rule></LifecycleConfiguration>".utf8))
        guard case .write(let s3xml) = LifecycleRule.merge(ours, into: legacy, flavor: .s3) else { return XCTFail("expected a write") }
        XCTAssertTrue(s3xml.contains("<ID>\(ours.id)</ID><Prefix>wf/</Prefix>"))
    }

    func testSomeoneElsesRuleOnOurPrefixWins() throws {
        let existing = try LifecycleRule.existingRules(Array("<LifecycleConfiguration><Rule><ID>theirs</ID><Filter><Prefix>wf/</Prefix></Filter><Status>Enabled</Status></Rule></LifecycleConfiguration>".utf8))
        XCTAssertEqual(LifecycleRule.merge(LifecycleRule(prefix: "wf/", settings: settings), into: existing, flavor: .s3), .conflict(otherID: "theirs"))
    }

    func testStableIDPerPrefix() {
        XCTAssertEqual(LifecycleRule(prefix: "wf/", settings: settings).id, LifecycleRule(prefix: "wf/", settings: LifecycleSettings()).id)
        XCTAssertNotEqual(LifecycleRule(prefix: "wf/", settings: settings).id, LifecycleRule(prefix: "wg/", settings: settings).id)
        XCTAssertTrue(LifecycleRule(prefix: "wf/", settings: settings).id.hasPrefix(LifecycleRule.idPrefix))
    }
}
