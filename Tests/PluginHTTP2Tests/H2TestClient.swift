import CNghttp2
import CSystem
import Glibc

/// A minimal HTTP/2 client for in-process tests: nghttp2's client session over one end of a
/// socketpair, driven synchronously (call it on an I/O thread, not the cooperative pool).
final class H2TestClient {
    struct Response {
        var status = 0
        var headers: [(String, String)] = []
        var trailers: [(String, String)] = []
        var body: [UInt8] = []
        var closedWith: UInt32?
    }

    let fd: Int32
    private var session: OpaquePointer?
    private var responses: [Int32: Response] = [:]
    private var bodies: [Int32: (bytes: [UInt8], offset: Int)] = [:]
    private(set) var goawayReceived = false
    private var headersDone: Set<Int32> = []
    private var endless: Set<Int32> = []
    /// With `autoWindow: false` the client returns receive-window credit only through `consume`.
    init(fd: Int32, autoWindow: Bool = true) {
        self.fd = fd
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, namelen, value, valuelen, _, user in
            let me = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            let n = String(decoding: UnsafeBufferPointer(start: name, count: namelen), as: UTF8.self)
            let v = String(decoding: UnsafeBufferPointer(start: value, count: valuelen), as: UTF8.self)
            let id = frame!.pointee.hd.stream_id
            if n == ":status" {
                me.responses[id, default: Response()].status = Int(v) ?? 0
            } else if me.headersDone.contains(id) {
                me.responses[id, default: Response()].trailers.append((n, v))
            } else {
                me.responses[id, default: Response()].headers.append((n, v))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            let me = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            let hd = frame!.pointee.hd
            if UInt32(hd.type) == NGHTTP2_HEADERS.rawValue { me.headersDone.insert(hd.stream_id) }
            if UInt32(hd.type) == NGHTTP2_GOAWAY.rawValue { me.goawayReceived = true }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, stream, data, len, user in
            let me = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            me.responses[stream, default: Response()].body.append(contentsOf: UnsafeBufferPointer(start: data, count: len))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, stream, code, user in
            let me = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            me.responses[stream, default: Response()].closedWith = code
            return 0
        }
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        if !autoWindow { nghttp2_option_set_no_auto_window_update(option, 1) }
        var s: OpaquePointer?
        nghttp2_session_client_new2(&s, callbacks, Unmanaged.passUnretained(self).toOpaque(), option)
        session = s
        nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
    }

    deinit {
        nghttp2_session_del(session)
        close(fd)
    }

    /// Starts a POST with `body` (sent as the server's flow control allows), or with a body
    /// that never ends (`endless`); returns the stream id.
    func start(path: String, headers: [(String, String)] = [], body: [UInt8]?, endless: Bool = false) -> Int32 {
        let body = endless ? [] : body
        let all = [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", path)] + headers
        var storage: [[UInt8]] = all.flatMap { [Array($0.0.utf8), Array($0.1.utf8)] }
        let id: Int32 = storage.withUnsafeMutableBufferPointer { parts in
            var nva: [nghttp2_nv] = []
            for i in stride(from: 0, to: parts.count, by: 2) {
                nva.append(parts[i].withUnsafeMutableBufferPointer { n in
                    parts[i + 1].withUnsafeMutableBufferPointer { v in
                        nghttp2_nv(name: n.baseAddress, value: v.baseAddress, namelen: n.count, valuelen: v.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
                    }
                })
            }
            guard body != nil else { return nghttp2_submit_request(session, nil, &nva, nva.count, nil, nil) }
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: { _, stream, buf, length, flags, _, user in
                let me = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
                guard var b = me.bodies[stream] else {
                    if me.endless.contains(stream) { return ssize_t(NGHTTP2_ERR_DEFERRED.rawValue) }
                    flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                    return 0
                }
                let n = min(length, b.bytes.count - b.offset)
                b.bytes.withUnsafeBytes { src in buf!.update(from: src.baseAddress!.assumingMemoryBound(to: UInt8.self) + b.offset, count: n) }
                b.offset += n
                me.bodies[stream] = b
                if b.offset == b.bytes.count { flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
                return n
            })
            return nghttp2_submit_request(session, nil, &nva, nva.count, &provider, nil)
        }
        if endless { self.endless.insert(id) } else if let body { bodies[id] = (body, 0) }
        return id
    }

    func reset(_ stream: Int32) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, UInt32(NGHTTP2_CANCEL.rawValue))
    }

    /// Returns receive-window credit for `bytes` of stream data (with `autoWindow: false`).
    func consume(_ stream: Int32, _ bytes: Int) {
        nghttp2_session_consume(session, stream, bytes)
    }

    func response(_ stream: Int32) -> Response? { responses[stream] }

    /// Moves bytes both ways until `done` holds or `timeoutMs` passes; false on timeout.
    @discardableResult
    func pump(timeoutMs: Int = 5000, until done: (H2TestClient) -> Bool) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(timeoutMs))
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { buf.deallocate() }
        while ContinuousClock.now < deadline {
            flushOut()
            if done(self) { return true }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 20) > 0 {
                let n = read(fd, buf.baseAddress, buf.count)
                if n <= 0 { return done(self) }
                _ = nghttp2_session_mem_recv(session, buf.baseAddress!.assumingMemoryBound(to: UInt8.self), n)
            }
        }
        return done(self)
    }

    /// Waits until `stream` closed.
    @discardableResult
    func finish(_ stream: Int32, timeoutMs: Int = 5000) -> Response? {
        pump(timeoutMs: timeoutMs) { $0.responses[stream]?.closedWith != nil }
        return responses[stream]
    }

    private func flushOut() {
        while true {
            var ptr: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &ptr)
            guard n > 0, let ptr else { return }
            var off = 0
            while off < n {
                let w = write(fd, ptr + off, n - off)
                if w <= 0 { return }
                off += w
            }
        }
    }
}

/// A connected pair of Unix stream sockets.
func socketPair() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
    return (fds[0], fds[1])
}
