import XCTest
@testable import PluginRPC

final class GRPCFramingTests: XCTestCase {
    func testDeframerAcrossArbitrarySplits() throws {
        let messages: [[UInt8]] = [[], [1, 2, 3], Array(repeating: 7, count: 70_000), [9]]
        let wire = messages.flatMap { GRPCFraming.frame($0) }
        for split in [1, 2, 5, 6, 4096, wire.count] {
            var d = GRPCDeframer(maxMessageSize: 1 << 20)
            var got: [[UInt8]] = []
            var i = 0
            while i < wire.count {
                d.append(Array(wire[i..<min(i + split, wire.count)]))
                i += split
                while let m = try d.next() { got.append(m.payload) }
            }
            XCTAssertEqual(got, messages, "split \(split)")
            XCTAssertNil(d.partialProgress)
        }
    }

    func testOversizedPrefixRefusedBeforePayload() {
        var d = GRPCDeframer(maxMessageSize: 4 << 20)
        d.append([0, 0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try d.next()) { e in
            XCTAssertEqual((e as? RPCError)?.code, .resourceExhausted)
        }
    }

    func testTruncatedMessageProgress() throws {
        var d = GRPCDeframer(maxMessageSize: 100)
        d.append([0, 0, 0, 0, 10, 1, 2, 3])
        XCTAssertNil(try d.next())
        XCTAssertEqual(d.partialProgress?.have, 3)
        XCTAssertEqual(d.partialProgress?.need, 10)
    }

    func testTimeoutParsing() {
        XCTAssertEqual(GRPCTimeout.parse("100m"), .milliseconds(100))
        XCTAssertEqual(GRPCTimeout.parse("5S"), .seconds(5))
        XCTAssertEqual(GRPCTimeout.parse("1H"), .seconds(3600))
        XCTAssertNil(GRPCTimeout.parse("123456789S"))
        XCTAssertNil(GRPCTimeout.parse("10x"))
        XCTAssertNil(GRPCTimeout.parse("m"))
    }

    func testPercentEncoding() {
        XCTAssertEqual(PercentEncoding.encode("plain text"), "plain text")
        XCTAssertEqual(PercentEncoding.encode("100%"), "100%25")
        XCTAssertEqual(PercentEncoding.encode("a\nb"), "a%0Ab")
        XCTAssertEqual(PercentEncoding.encode("ü"), "%C3%BC")
    }
}
