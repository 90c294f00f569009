import XCTest
@testable import PluginSupport

final class EchoTests: XCTestCase {
    func testShortTextsPassEscaped() {
        XCTAssertEqual(Echo.clip("plain"), "plain")
        XCTAssertEqual(Echo.clip("a\nb\u{7F}"), "a\\x0ab\\x7f")
        XCTAssertEqual(Echo.quoted("x"), "'x'")
    }

    func testLongValuesAreCutWithAMarkerOnCharacterBoundaries() {
        let s = String(repeating: "é日🚀", count: 10_000)
        let c = Echo.clip(s, limit: 256)
        XCTAssertLessThanOrEqual(c.utf8.count, 256)
        XCTAssertTrue(c.contains("…(\(s.utf8.count) bytes, cut)…"), c)
        XCTAssertTrue(c.hasPrefix("é日🚀"))
        XCTAssertTrue(c.hasSuffix("🚀"), "the end of a long name survives too")
        let head = Echo.clip(s, limit: 100, keep: .head)
        XCTAssertTrue(head.hasSuffix("bytes, cut)…"))
    }

    func testCapKeepsBothEnds() {
        let text = "Save of artifact 'x' failed: " + String(repeating: "z", count: 1 << 20) + " (the cause)"
        let capped = Echo.cap(text)
        XCTAssertLessThanOrEqual(capped.utf8.count, Echo.textLimit)
        XCTAssertTrue(capped.hasPrefix("Save of artifact 'x' failed: "))
        XCTAssertTrue(capped.hasSuffix(" (the cause)"))
        XCTAssertEqual(Echo.cap("short"), "short")
    }
}
