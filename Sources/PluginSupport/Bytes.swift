/// Small text and byte helpers every layer uses.
extension Sequence where Element == UInt8 {
    /// Lowercase hex.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(underestimatedCount * 2)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// `"7".leftPadded(to: 2)` → `"07"`.
    public func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }

    /// Without leading and trailing spaces and tabs.
    public func trimmedSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }

    /// Without leading and trailing runs of `ch` (`"\"etag\""` → `etag`).
    public func trimming(_ ch: Character) -> String {
        var s = Substring(self)
        while s.first == ch { s.removeFirst() }
        while s.last == ch { s.removeLast() }
        return String(s)
    }
}

extension UInt64 {
    /// Eight bytes at `p`, little-endian, unaligned.
    @inline(__always)
    public init(littleEndianBytes p: UnsafePointer<UInt8>) {
        self = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
    }
}
