import TestSupport
import XCTest
@testable import Checksums

final class CRC64Tests: XCTestCase {
    func testCheckValue() {
        XCTAssertEqual(CRC64.checksum(Array("123456789".utf8)), 0x995D_C9BB_DF19_39FA)
        XCTAssertEqual(CRC64.checksum([UInt8]()), 0)
    }

    /// ISA-L's CRC-64 against the plugin's former table code, on random inputs of every length
    /// class (the hardware code has separate paths below 16, 64, 256 bytes and for tails) and
    /// random splits into incremental updates.
    func testHardwareEqualsReferenceOnRandomInputsAndSplits() {
        var rng = SeededRandom(state: 7)
        let lengths = Array(0...300) + (0..<24).map { _ in Int.random(in: 301...400_000, using: &rng) }
        for n in lengths {
            let data = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var ref = CRC64Reference()
            data.withUnsafeBytes { ref.update($0) }
            XCTAssertEqual(CRC64.checksum(data), ref.value, "length \(n)")
            // the same bytes in random pieces
            var hw = CRC64()
            var at = 0
            while at < n {
                let step = min(n - at, Int.random(in: 1...max(1, n / 3 + 1), using: &rng))
                data[at..<(at + step)].withUnsafeBytes { hw.update($0) }
                at += step
            }
            XCTAssertEqual(hw.value, ref.value, "length \(n) in pieces")
        }
        // unaligned starts
        let data = (0..<4099).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for start in 0..<17 {
            var ref = CRC64Reference()
            data[start...].withUnsafeBytes { ref.update($0) }
            XCTAssertEqual(CRC64.checksum(data[start...]), ref.value, "offset \(start)")
        }
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
