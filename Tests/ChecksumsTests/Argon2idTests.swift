import Checksums
import XCTest

/// SSE-C keys derived as Argo's S3 driver derives them (minio-go's DefaultPBKDF: Argon2id,
/// one pass, 64 MiB, four lanes, salt = bucket + key), so objects either writes the other reads.
final class Argon2idTests: XCTestCase {
    func testMatchesGolangXCryptoArgon2IDKey() throws {
        // golang.org/x/crypto/argon2.IDKey([]byte("argo-sse-c-secret"), []byte("my-bucketwf/pod/out.tgz"), 1, 64*1024, 4, 32),
        // computed with Debian's golang-golang-x-crypto-dev (the library minio-go v7 calls).
        let key = try Argon2id.derive(password: Array("argo-sse-c-secret".utf8), salt: Array("my-bucketwf/pod/out.tgz".utf8), .minioDefault)
        XCTAssertEqual(key.map { String(format: "%02x", $0) }.joined(), "6d0e7c9cbfe6457547d6bbfb039fd068d6e5b27199176fec274b2e2e402f88b4")
    }

    func testTheReferenceVector() throws {
        // The reference library's own argon2id v1.3 vector (its test.c: t=2, m=2^16 KiB, p=1),
        // also what golang.org/x/crypto gives for the same arguments.
        let key = try Argon2id.derive(password: Array("password".utf8), salt: Array("somesalt".utf8),
                                      .init(passes: 2, memoryKiB: 1 << 16, lanes: 1, length: 32))
        XCTAssertEqual(key.map { String(format: "%02x", $0) }.joined(), "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7")
    }
}
