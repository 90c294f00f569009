import TestSupport
import XCTest
@testable import Checksums

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

