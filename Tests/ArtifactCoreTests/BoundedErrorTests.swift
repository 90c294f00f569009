import PluginSupport
import XCTest
@testable import ArtifactCore

/// Errors that echo hostile input stay a few KiB and still say what was wrong.
final class BoundedErrorTests: XCTestCase {
    func configError(_ text: String) -> ConfigError? {
        do { _ = try testParser.parse(text); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    func testHugeScalarsKeepTheFieldAndTheReason() {
        let cases: [(String, String, String)] = [
            ("provider: local\ndirectory: " + String(repeating: "a", count: 3 << 20), "directory", "must be an absolute path"),
            ("provider: local\ndirectory: /x\nmultipart: {partSize: " + String(repeating: "9x", count: 1 << 20) + "}", "multipart.partSize", "expected a size"),
            ("endpoint: " + String(repeating: "h", count: 2 << 20) + "/p\nbucket: abc\nuseSDKCreds: true", "endpoint", "without a path"),
            ("endpoint: s3.example.com\nbucket: " + String(repeating: "B", count: 1 << 20) + "\nuseSDKCreds: true", "bucket", "not a valid bucket name"),
            ("provider: local\ndirectory: /x\ngc: {when: " + String(repeating: "w", count: 1 << 20) + "}", "gc.when", "must be one of"),
        ]
        for (text, field, reason) in cases {
            guard let e = configError(text) else { XCTFail("\(field): no error"); continue }
            XCTAssertLessThanOrEqual(e.description.utf8.count, 1024, field)
            XCTAssertEqual(e.field, field)
            XCTAssertTrue(e.reason.contains(reason), e.reason)
            XCTAssertTrue(e.reason.contains("bytes, cut)"), e.reason)
        }
    }

    func testLongUnknownFieldNamesAndDeepNesting() throws {
        let long = String(repeating: "k", count: 900)
        let e = try XCTUnwrap(configError("provider: local\ndirectory: /x\nmultipart: {\(long): 1}"))
        XCTAssertLessThanOrEqual(e.description.utf8.count, 1024)
        XCTAssertTrue(e.reason.contains("unknown field"))
        let deep = "provider: local\ndirectory: /x\nmultipart: " + String(repeating: "{a: ", count: 3000) + "1" + String(repeating: "}", count: 3000)
        let d = try XCTUnwrap(configError(deep))
        XCTAssertLessThanOrEqual(d.description.utf8.count, 1024, d.description)
    }

    func testHugeKeysAreRefusedBriefly() {
        do {
            _ = try ArtifactKeys.normalize(String(repeating: "a/", count: 1 << 20))
            XCTFail("a 2 MiB key must be refused")
        } catch {
            let text = "\(error)"
            XCTAssertLessThanOrEqual(text.utf8.count, 1400, "\(text.utf8.count) bytes")
            XCTAssertTrue(text.contains("longer than 1024 bytes"), text)
        }
    }
}
