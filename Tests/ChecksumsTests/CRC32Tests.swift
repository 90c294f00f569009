import TestSupport
import XCTest
@testable import Checksums

/// Bit-at-a-time reflected CRC-32: the definition, slow and obviously right.
private func bitwiseCRC32(_ poly: UInt32, _ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = ~0
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ poly : c >> 1 }
    }
    return ~c
}

final class CRC32Tests: XCTestCase {
    func testCheckValues() {
        let nine = Array("123456789".utf8)
        XCTAssertEqual(CRC32.checksum(.ieee, nine), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum(.castagnoli, nine), 0xE306_9283)
        XCTAssertEqual(CRC32.checksum(.castagnoli, [UInt8]()), 0)
        XCTAssertEqual(CRC32.checksum(.ieee, [UInt8]()), 0)
    }

    func testHardwareEqualsTheDefinitionOnRandomInputsAndSplits() {
        var rng = SeededRandom(state: 11)
        let lengths = Array(0...200) + (0..<20).map { _ in Int.random(in: 201...300_000, using: &rng) }
        for n in lengths {
            let data = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for (kind, poly) in [(CRC32.Polynomial.ieee, UInt32(0xEDB8_8320)), (.castagnoli, 0x82F6_3B78)] {
                let expected = bitwiseCRC32(poly, data)
                XCTAssertEqual(CRC32.checksum(kind, data), expected, "\(kind) length \(n)")
                var c = CRC32(kind)
                var at = 0
                while at < n {
                    let step = min(n - at, Int.random(in: 1...max(1, n / 2 + 1), using: &rng))
                    c.update(data[at..<(at + step)])
                    at += step
                }
                XCTAssertEqual(c.value, expected, "\(kind) length \(n) in pieces")
            }
        }
    }

    /// A multipart object's composite is the CRC-32C of its parts' CRCs, big-endian; SeaweedFS
    /// echoed `B21LrQ==` for a part holding "tail".
    func testCompositeOfPartChecksums() {
        XCTAssertEqual(CRC32.bigEndianBytes(0x0102_0304), [1, 2, 3, 4])
        XCTAssertEqual(CRC32.bigEndianBytes(CRC32.checksum(.castagnoli, Array("tail".utf8))), [0x07, 0x6D, 0x4B, 0xAD])
        let parts: [UInt32] = [0x1234_5678, 0x9ABC_DEF0]
        XCTAssertEqual(CRC32.composite(.castagnoli, parts: parts),
                       CRC32.checksum(.castagnoli, [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]))
    }
}
