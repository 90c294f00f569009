import CSystem
import Glibc

/// Bytes on their way to one socket, in order: what nghttp2 serialised itself (frame headers,
/// HEADERS, SETTINGS, WINDOW_UPDATE: small, copied here) and DATA payloads as references into
/// the handlers' own buffers (never copied). Written with `writev`, many frames per system
/// call. Loop thread only.
struct OutputQueue {
    private struct Segment {
        var storage: [UInt8]
        var start: Int
        var end: Int
        /// Bytes copied in here (more may be appended); otherwise a handler's buffer.
        var owned: Bool
        var count: Int { end - start }
    }

    private var segments: [Segment] = []
    private var head = 0
    /// Bytes queued and not yet written.
    private(set) var count = 0

    /// Owned segments stop growing here, so appending never moves much.
    private static let ownedCapacity = 64 << 10
    /// Segments per writev (well under IOV_MAX).
    private static let batch = 64

    var isEmpty: Bool { count == 0 }

    /// Queues a copy of small bytes, joined to the last segment when that one is ours.
    mutating func appendCopy(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if head < segments.count, segments[segments.count - 1].owned,
           segments[segments.count - 1].storage.count + bytes.count <= Self.ownedCapacity {
            segments[segments.count - 1].storage.append(contentsOf: bytes)
            segments[segments.count - 1].end += bytes.count
        } else {
            var storage = [UInt8]()
            storage.reserveCapacity(max(bytes.count, 4096))
            storage.append(contentsOf: bytes)
            segments.append(Segment(storage: storage, start: 0, end: bytes.count, owned: true))
        }
        count += bytes.count
    }

    /// Queues `storage[range]` as it is: the array is kept (not copied) until written.
    mutating func appendReference(_ storage: [UInt8], _ range: Range<Int>) {
        guard !range.isEmpty else { return }
        segments.append(Segment(storage: storage, start: range.lowerBound, end: range.upperBound, owned: false))
        count += range.count
    }

    enum WriteResult {
        /// Everything queued reached the socket.
        case drained
        /// The socket is full; wait until it is writable.
        case wouldBlock
        /// The connection is broken.
        case failed
    }

    /// Writes as much as the socket takes.
    mutating func write(to fd: Int32) -> WriteResult {
        while count > 0 {
            let n = writeBatch(fd)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
                return .failed
            }
            consume(n)
            if count > 0 && n == 0 { return .wouldBlock }
        }
        return .drained
    }

    /// One gathered write of up to `batch` segments; the arrays' storage is pinned by nesting their
    /// `withUnsafeBytes` scopes for the duration of the call. sendmsg with MSG_NOSIGNAL, not
    /// writev: a client gone mid-write is EPIPE to handle, never a SIGPIPE.
    private func writeBatch(_ fd: Int32) -> Int {
        let last = min(segments.count, head + Self.batch)
        var iov = [iovec](repeating: iovec(), count: last - head)
        func pin(_ i: Int) -> Int {
            if i == last {
                return iov.withUnsafeMutableBufferPointer { v in argo_send_vectors(fd, v.baseAddress, Int32(v.count)) }
            }
            let s = segments[i]
            return s.storage.withUnsafeBytes { raw in
                iov[i - head] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + s.start), iov_len: s.count)
                return pin(i + 1)
            }
        }
        return pin(head)
    }

    private mutating func consume(_ written: Int) {
        var left = written
        count -= written
        while left > 0 {
            let n = segments[head].count
            if left >= n {
                left -= n
                segments[head] = Segment(storage: [], start: 0, end: 0, owned: false)   // release the buffer now
                head += 1
            } else {
                segments[head].start += left
                left = 0
            }
        }
        if head == segments.count {
            segments.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 {
            segments.removeFirst(head)
            head = 0
        }
    }
}
