import XCTest
@testable import ArtifactCore

final class KeyRulesTests: XCTestCase {
    func testNormalize() throws {
        XCTAssertEqual(try ArtifactKeys.normalize("wf/pod/out.tgz"), "wf/pod/out.tgz")
        XCTAssertEqual(try ArtifactKeys.normalize("wf/dir/"), "wf/dir")
        XCTAssertEqual(try ArtifactKeys.normalize("", allowEmpty: true), "")
        for bad in ["", "/etc/passwd", "a/../b", "..", "a/./b", "a//b", "a\u{0}b", "a\nb", ".argo-partial/x", "a/.argo-partial-1"] {
            XCTAssertThrowsError(try ArtifactKeys.normalize(bad), "accepted \(bad.debugDescription)")
        }
    }

    func testRelativeMarkers() throws {
        XCTAssertNoThrow(try ArtifactKeys.checkRelative("sub/empty/", allowTrailingSlash: true))
        XCTAssertThrowsError(try ArtifactKeys.checkRelative("../escape", allowTrailingSlash: true))
        XCTAssertThrowsError(try ArtifactKeys.checkRelative("a/../../x", allowTrailingSlash: true))
    }
}

final class TarHeaderTests: XCTestCase {
    func testUstarHeaderChecksumAndFields() {
        let h = TarStream.header(name: "dir/file.txt", size: 1234, mtime: 1_700_000_000, directory: false)
        XCTAssertEqual(h.count, 512)
        XCTAssertEqual(String(decoding: h[0..<12], as: UTF8.self), "dir/file.txt")
        XCTAssertEqual(String(decoding: h[124..<135], as: UTF8.self), String(1234, radix: 8).leftPadded(to: 11))
        var sumBytes = h
        for i in 148..<156 { sumBytes[i] = 0x20 }
        let sum = sumBytes.reduce(0) { $0 + Int($1) }
        let stored = Int(String(decoding: h[148..<154], as: UTF8.self), radix: 8)
        XCTAssertEqual(stored, sum)
        XCTAssertEqual(h[156], UInt8(ascii: "0"))
    }

    func testLongAndUnicodeNamesGetPaxHeaders() {
        let long = String(repeating: "d/", count: 80) + "ü.txt"
        let h = TarStream.header(name: long, size: 1, mtime: 0, directory: false)
        XCTAssertEqual(h.count % 512, 0)
        XCTAssertGreaterThan(h.count, 512)
        XCTAssertEqual(h[156], UInt8(ascii: "x"))
        let text = String(decoding: h[512..<(h.count - 512)], as: UTF8.self)
        XCTAssertTrue(text.contains("path=\(long)\n"))
    }

    func testPaxRecordLengthCountsItself() {
        for v in ["a", String(repeating: "x", count: 90), String(repeating: "y", count: 995)] {
            let r = TarStream.paxRecord("path", v)
            let declared = Int(String(decoding: r.prefix { $0 != 0x20 }, as: UTF8.self))
            XCTAssertEqual(declared, r.count)
        }
    }
}
