/// gRPC length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length, payload.
public enum GRPCFraming {
    public static let prefixSize = 5

    /// A whole framed message built in one allocation.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(prefixSize + payload.count)
        appendPrefix(to: &out, length: payload.count)
        out.append(contentsOf: payload)
        return out
    }

    public static func appendPrefix(to out: inout [UInt8], length: Int) {
        let n = UInt32(length)
        out.append(0)
        out.append(UInt8(truncatingIfNeeded: n >> 24))
        out.append(UInt8(truncatingIfNeeded: n >> 16))
        out.append(UInt8(truncatingIfNeeded: n >> 8))
        out.append(UInt8(truncatingIfNeeded: n))
    }
}

/// Splits a request body into messages as its chunks arrive. A length over the receive limit is
/// refused as soon as the prefix is seen, before any of the payload is buffered.
struct GRPCDeframer: Sendable {
    struct Message: Sendable {
        var compressed: Bool
        var payload: [UInt8]
    }

    let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var start = 0

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    mutating func append(_ chunk: [UInt8]) {
        if start == buffer.count {
            buffer = chunk
            start = 0
        } else {
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: chunk)
        }
    }

    /// Bytes of an incomplete message still buffered.
    var pendingBytes: Int { buffer.count - start }

    /// How many bytes the message being assembled has, and needs (for error texts).
    var partialProgress: (have: Int, need: Int)? {
        let avail = buffer.count - start
        guard avail > 0 else { return nil }
        guard avail >= GRPCFraming.prefixSize else { return (avail, GRPCFraming.prefixSize) }
        return (avail - GRPCFraming.prefixSize, Int(length(at: start)))
    }

    mutating func next() throws -> Message? {
        let avail = buffer.count - start
        guard avail >= GRPCFraming.prefixSize else { return nil }
        let len = length(at: start)
        guard len <= UInt32(maxMessageSize) else {
            throw RPCError(.resourceExhausted, "received message larger than max (\(len) vs. \(maxMessageSize) bytes)")
        }
        let total = GRPCFraming.prefixSize + Int(len)
        guard avail >= total else { return nil }
        let flag = buffer[start]
        guard flag <= 1 else {
            throw RPCError(.internalError, "invalid gRPC message: compressed flag is \(flag), expected 0 or 1")
        }
        let payload = Array(buffer[(start + GRPCFraming.prefixSize)..<(start + total)])
        start += total
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            start = 0
        }
        return Message(compressed: flag == 1, payload: payload)
    }

    private func length(at i: Int) -> UInt32 {
        UInt32(buffer[i + 1]) << 24 | UInt32(buffer[i + 2]) << 16 | UInt32(buffer[i + 3]) << 8 | UInt32(buffer[i + 4])
    }
}

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
enum GRPCTimeout {
    static func parse(_ value: String) -> Duration? {
        guard let unit = value.last, value.count >= 2, value.count <= 9 else { return nil }
        guard let amount = Int64(value.dropLast()), amount >= 0 else { return nil }
        switch unit {
        case "H": return .seconds(amount * 3600)
        case "M": return .seconds(amount * 60)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }
}
