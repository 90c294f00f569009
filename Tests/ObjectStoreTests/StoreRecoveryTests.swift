import ArtifactCore
import Foundation
import Synchronization
import TestSupport
import XCTest
@testable import ObjectStore
@testable import StoreHTTP
import StoreRuntime

/// The store's retry loop and recovery paths, on the in-memory S3 double (no server): what the
/// integration suite shows against RGW through the fault proxy, here one decision at a time.
final class StoreRecoveryTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "store-recovery-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private static let creds = Credentials(accessKeyID: "AKIDDOUBLE", secretAccessKey: "double-secret")

    private func client(_ s3: InMemoryS3, attempts: Int = 3, budget: Int = 500,
                        credentials: CredentialProvider = .fixed(creds, source: "test")) -> ObjectStoreClient {
        ObjectStoreClient(address: BucketAddress(endpoint: Endpoint(scheme: "http", host: "127.0.0.1", port: 9), bucket: s3.bucket,
                                                 insecure: true, style: .path),
                          dialect: S3Dialect(region: "us-east-1"), credentials: credentials, transport: HTTPTransportOptions(),
                          retry: RetryStrategy(attempts: attempts, baseDelayMs: 1, maxDelayMs: 5, budget: budget), http: s3)
    }

    private func store(_ s3: InMemoryS3) throws -> ObjectStore {
        let yaml = """
            endpoint: http://127.0.0.1:9
            bucket: \(s3.bucket)
            insecure: true
            useSDKCreds: true
            multipart: {threshold: 5Mi, partSize: 5Mi, checksum: md5, checkpointDir: \(dir)/checkpoints}
            """
        let env = StoreEnvironment(http: s3, processEnvironment: ["AWS_ACCESS_KEY_ID": "AKIDDOUBLE", "AWS_SECRET_ACCESS_KEY": "double-secret"])
        return try S3Provider().makeStore(try ConfigParser([S3Provider()]).parse(yaml), environment: env) as! ObjectStore
    }

    private func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private static func bytes(_ n: Int, seed: UInt8 = 1) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed } }

    // MARK: the retry loop

    func testTransientAnswersAreRetriedUntilOneSucceeds() async throws {
        let s3 = InMemoryS3()
        s3.fault = { $0.name == "PutObject" && $0.earlier < 2 ? .instead(InMemoryS3.error(500, "InternalError")) : nil }
        _ = try await client(s3).putObject("k", body: .bytes([1, 2, 3]))
        XCTAssertEqual(s3.calls("PutObject").count, 3)
        XCTAssertEqual(s3.object("k")?.bytes, [1, 2, 3])
    }

    func testABrokenConnectionIsRetriedAndACancelledOneIsNot() async throws {
        let s3 = InMemoryS3()
        s3.fault = { $0.key == "dropped" && $0.earlier == 0 ? .fail(HTTPClientError(kind: .connectionDropped, message: "reset")) : nil }
        _ = try await client(s3).putObject("dropped", body: .bytes([7]))
        XCTAssertEqual(s3.calls("PutObject").count, 2)

        s3.fault = { $0.key == "cancelled" ? .fail(HTTPClientError(kind: .cancelled, message: "cancelled")) : nil }
        await assertThrows(CancellationError.self, "a cancelled transfer is the caller's cancellation, not a failure to retry") {
            _ = try await self.client(s3).putObject("cancelled", body: .bytes([7]))
        }
        XCTAssertEqual(s3.calls.filter { $0.key == "cancelled" }.count, 1)
    }

    func testAPermanentErrorIsNotRetriedAndNamesTheOperationAndTheObject() async throws {
        let s3 = InMemoryS3()
        s3.fault = { _ in .instead(InMemoryS3.error(403, "AccessDenied", "Access Denied")) }
        await assertThrows(StoreError.self, "403 AccessDenied must fail at once", {
            _ = try await self.client(s3).putObject("dir/k", body: .bytes([1]))
        }, check: { e in
            XCTAssertEqual(e.kind, .accessDenied)
            XCTAssertEqual(e.attempts, 1)
            XCTAssertTrue("\(e)".contains("PutObject") && "\(e)".contains("s3://bkt/dir/k"), "\(e)")
            return true
        })
        XCTAssertEqual(s3.calls.count, 1)
    }

    func testARequestThatIsNotIdempotentIsNotSentTwice() async throws {
        let s3 = InMemoryS3()
        s3.fault = { _ in .instead(InMemoryS3.error(500, "InternalError")) }
        var op = StoreOperation("CreateMultipartUpload", "POST", key: "k")
        op.query = [("uploads", "")]
        op.idempotent = false
        await assertThrows(StoreError.self, "a 500 after a non-idempotent request is final") { _ = try await self.client(s3).send(op) }
        XCTAssertEqual(s3.calls.count, 1)
    }

    func testTheSharedRetryBudgetStopsRetriesWhileTheStoreKeepsFailing() async throws {
        let s3 = InMemoryS3()
        s3.fault = { _ in .instead(InMemoryS3.error(503, "ServiceUnavailable")) }
        // Two retries' worth of tokens (5 each) for the whole store, five attempts per request.
        let c = client(s3, attempts: 5, budget: 10)
        await assertThrows(StoreError.self, "the store stays down") { _ = try await c.putObject("a", body: .bytes([1])) }
        XCTAssertEqual(s3.calls.count, 3, "the first request spends the budget: 1 attempt + 2 retries")
        await assertThrows(StoreError.self, "the store stays down") { _ = try await c.putObject("b", body: .bytes([1])) }
        XCTAssertEqual(s3.calls.filter { $0.key == "b" }.count, 1, "an empty budget: no retries, however many attempts a request has")
        XCTAssertEqual(c.retry.tokensLeft, 0)
    }

    func testRejectedCredentialsAreFetchedAgainForTheNextRequest() async throws {
        let s3 = InMemoryS3()
        let fetches = Atomic<Int>(0)
        let provider = CredentialProvider(source: "counting") {
            fetches.add(1, ordering: .relaxed)
            return Self.creds
        }
        s3.fault = { $0.key == "first" ? .instead(InMemoryS3.error(403, "InvalidAccessKeyId", "The key does not exist")) : nil }
        let c = client(s3, credentials: provider)
        await assertThrows(StoreError.self, "rejected credentials fail the request", {
            _ = try await c.putObject("first", body: .bytes([1]))
        }, check: { $0.kind == .credentialsRejected })
        _ = try await c.putObject("second", body: .bytes([1]))
        XCTAssertEqual(fetches.load(ordering: .relaxed), 2, "the rejected credentials must not be used again")
    }

    // MARK: multipart completion

    func testACompletionWhoseAnswerWasLostIsAcceptedWhenTheObjectShowsOurParts() async throws {
        let s3 = InMemoryS3()
        // The store completes the upload, but the answer is lost: the retry hears NoSuchUpload.
        s3.fault = { $0.name == "CompleteMultipartUpload" && $0.earlier == 0 ? .after(InMemoryS3.error(500, "InternalError")) : nil }
        let data = Self.bytes(12 << 20)
        try await store(s3).upload(file: try file("big.bin", data), to: "out/big.bin")
        XCTAssertEqual(s3.calls("CompleteMultipartUpload").count, 2)
        XCTAssertEqual(s3.object("out/big.bin")?.bytes == data, true, "the object is the file")
        XCTAssertEqual(s3.object("out/big.bin")?.etag.hasSuffix("-3\""), true)
        XCTAssertEqual(s3.openUploads, 0)
    }

    func testNoSuchUploadOnCompletionFailsTheSaveWhenTheObjectIsNotOurs() async throws {
        let s3 = InMemoryS3()
        s3.fault = { $0.name == "CompleteMultipartUpload" ? .instead(InMemoryS3.error(404, "NoSuchUpload", "The specified upload does not exist.")) : nil }
        let path = try file("big.bin", Self.bytes(11 << 20))
        await assertThrows(Error.self, "an upload that vanished without our object is a failed Save") {
            try await self.store(s3).upload(file: path, to: "out/big.bin")
        }
        XCTAssertNil(s3.object("out/big.bin"), "no object may look complete")
    }

    // MARK: directory Save

    func testAFailedDirectorySaveRemovesWhatItWroteAndKeepsWhatWasThere() async throws {
        let s3 = InMemoryS3()
        s3.put("out/kept-from-before.txt", [9])
        for name in ["a", "b", "c", "d", "e"] { _ = try file("tree/\(name).txt", Self.bytes(100, seed: 3)) }
        s3.fault = { $0.name == "PutObject" && $0.key == "out/c.txt" ? .instead(InMemoryS3.error(403, "AccessDenied")) : nil }
        let st = try store(s3)
        let ops = ArtifactOperations(store: st, configuration: st.configuration)
        await assertThrows(StoreError.self, "one file refused fails the Save") { _ = try await ops.save(from: self.dir + "/tree", to: "out") }
        XCTAssertEqual(s3.keys, ["out/kept-from-before.txt"], "the Save's own objects are removed, the older one stays")
        XCTAssertFalse(s3.calls("PutObject").isEmpty)
    }

    // MARK: Argo's semantics over the store

    func testDeleteRemovesTheFileAndTheDirectoryFormButNotASiblingPrefix() async throws {
        let s3 = InMemoryS3()
        for k in ["art", "art/a.txt", "art/sub/b.txt", "artx/a.txt", "ar"] { s3.put(k, [1]) }
        let st = try store(s3)
        _ = try await ArtifactOperations(store: st, configuration: st.configuration).delete("art")
        XCTAssertEqual(s3.keys, ["ar", "artx/a.txt"])
        await assertThrows(ArtifactError.self, "an empty key would be the whole bucket") {
            _ = try await ArtifactOperations(store: st, configuration: st.configuration).delete("")
        }
        XCTAssertEqual(s3.keys, ["ar", "artx/a.txt"])
    }

    func testALoadRefusesAStoredKeyThatWouldClimbOutOfTheTarget() async throws {
        let s3 = InMemoryS3()
        s3.put("in/ok.txt", [1])
        s3.put("in/../../escape.txt", [2])
        let st = try store(s3)
        let target = dir + "/loaded"
        await assertThrows(ArtifactError.self, "a key with .. must fail the Load", {
            _ = try await ArtifactOperations(store: st, configuration: st.configuration).load("in", to: target)
        }, check: { "\($0)".contains("refusing to load") })
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/escape.txt"))
        XCTAssertTrue(s3.calls.allSatisfy { $0.method != "GET" || $0.key == nil }, "nothing is downloaded before the keys are checked")
    }
}
