import Foundation
import Logging
import XCTest
@testable import PluginSupport

/// A JSON log line is one valid object whatever the message holds: no line can be forged, and
/// counts stay numbers.
final class JSONLogLineTests: XCTestCase {
    func testHostileTextStaysOneObjectWithArgosKeys() throws {
        let message = "Save 'a\"b\\c' failed:\n{\"level\":\"INFO\",\"msg\":\"forged\"}\u{7}\u{2028}end"
        let line = LineLogHandler.jsonLine(level: .warning, message: message,
                                           fields: ["bytes": .stringConvertible(Int64(42)), "seconds": .stringConvertible(0.25),
                                                    "artifact": .string("x\ny"), "msg": .string("must not replace msg")],
                                           time: "2026-12-07T03:00:00.000Z")
        XCTAssertTrue(line.hasSuffix("}\n"))
        XCTAssertEqual(line.dropLast().filter { $0 == "\n" }.count, 0, "one line")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["level"] as? String, "WARN")
        XCTAssertEqual(object["time"] as? String, "2026-12-07T03:00:00.000Z")
        XCTAssertEqual(object["msg"] as? String, message)
        XCTAssertEqual(object["bytes"] as? Int, 42)
        XCTAssertEqual(object["seconds"] as? Double, 0.25)
        XCTAssertEqual(object["artifact"] as? String, "x\ny")
    }

    func testLevelsAreSlogs() {
        XCTAssertEqual([Logger.Level.trace, .debug, .info, .notice, .warning, .error, .critical].map(LineLogHandler.jsonLevel),
                       ["DEBUG", "DEBUG", "INFO", "INFO", "WARN", "ERROR", "ERROR"])
    }
}
