import CNghttp2

/// A header field as Swift sees it; names are lowercase on the wire.
public struct HTTP2Header: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// What the response body source answers when nghttp2 asks for bytes.
enum BodyRead {
    /// The next DATA frame carries `count` bytes (handed over uncopied by `sessionSendData`);
    /// `end` closes the body (with trailers, if any).
    case bytes(count: Int, end: Bool, trailers: [HTTP2Header]?)
    /// Nothing to send now; `resumeData` will be called when there is.
    case deferred
}

/// Events of a server-side HTTP/2 session, delivered on the loop thread.
protocol ServerSessionDelegate: AnyObject {
    func sessionBeginRequest(stream: Int32)
    func sessionHeader(stream: Int32, name: String, value: String)
    func sessionRequestHeadersComplete(stream: Int32, endStream: Bool)
    func sessionData(stream: Int32, bytes: UnsafeRawBufferPointer)
    func sessionEndOfRequest(stream: Int32)
    func sessionStreamClosed(stream: Int32, errorCode: UInt32)
    func sessionReadBody(stream: Int32, max: Int) -> BodyRead
    /// A DATA frame goes out: its 9-byte header, then the `length` bytes `sessionReadBody`
    /// promised, queued in order for the socket. False: they are gone (a broken connection).
    func sessionSendData(stream: Int32, frameHeader: UnsafeRawBufferPointer, length: Int) -> Bool
    /// The last frame of a response (END_STREAM) went out.
    func sessionSentEndOfResponse(stream: Int32)
}

/// Flow-control and concurrency settings announced to clients.
public struct HTTP2Settings: Sendable {
    public var maxConcurrentStreams: UInt32 = 1024
    /// Per-stream receive window: bounds what a client can push before the handler reads it.
    public var initialStreamWindow: Int32 = 1 << 20
    /// Connection receive window, shared by all streams of a connection.
    public var connectionWindow: Int32 = 16 << 20
    public var maxFrameSize: UInt32 = 16_384
    public init() {}
}

/// The thin typed wrapper around `nghttp2_session` (server side). No C pointer leaves this file.
/// Input is fed with `receive`, output is pulled with `nextOutput`; callbacks go to the delegate.
final class ServerSession {
    private var session: OpaquePointer?
    unowned let delegate: ServerSessionDelegate

    enum Failure: Error, CustomStringConvertible {
        case nghttp2(Int32, String)
        var description: String {
            switch self {
            case .nghttp2(let code, let what): return "\(what): \(String(cString: nghttp2_strerror(code)))"
            }
        }
    }

    init(delegate: ServerSessionDelegate, settings: HTTP2Settings) throws {
        self.delegate = delegate
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, ServerSession.onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, ServerSession.onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, ServerSession.onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, ServerSession.onDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, ServerSession.onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, ServerSession.onFrameSend)
        nghttp2_session_callbacks_set_send_data_callback(callbacks, ServerSession.sendData)
        nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks, ServerSession.frameLength)

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        // Window updates follow what handlers consume, so a slow reader holds the client back.
        nghttp2_option_set_no_auto_window_update(option, 1)

        var s: OpaquePointer?
        let rc = nghttp2_session_server_new2(&s, callbacks, Unmanaged.passUnretained(self).toOpaque(), option)
        guard rc == 0, let s else { throw Failure.nghttp2(rc, "nghttp2_session_server_new2") }
        session = s

        var iv = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(settings.initialStreamWindow)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
        ]
        let src = nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &iv, iv.count)
        guard src == 0 else { throw Failure.nghttp2(src, "nghttp2_submit_settings") }
        let wrc = nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindow)
        guard wrc == 0 else { throw Failure.nghttp2(wrc, "nghttp2_session_set_local_window_size") }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: I/O

    /// Feeds bytes read from the socket. Throws on a protocol error (the connection must close).
    func receive(_ bytes: UnsafeRawBufferPointer) throws {
        guard let session, let base = bytes.baseAddress else { return }
        let n = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if n < 0 { throw Failure.nghttp2(Int32(n), "receive") }
    }

    /// Serialises the next pending frames; the bytes are valid until the next call.
    func nextOutput() throws -> UnsafeRawBufferPointer? {
        guard let session else { return nil }
        var ptr: UnsafePointer<UInt8>?
        let n = nghttp2_session_mem_send(session, &ptr)
        if n < 0 { throw Failure.nghttp2(Int32(n), "send") }
        guard n > 0, let ptr else { return nil }
        return UnsafeRawBufferPointer(start: ptr, count: n)
    }

    var wantsRead: Bool { session.map { nghttp2_session_want_read($0) != 0 } ?? false }
    var wantsWrite: Bool { session.map { nghttp2_session_want_write($0) != 0 } ?? false }

    // MARK: submissions

    /// Response headers; with `hasBody` the body is pulled through `sessionReadBody`.
    func submitResponse(stream: Int32, headers: [HTTP2Header], hasBody: Bool) {
        guard let session else { return }
        withNameValues(headers) { nva in
            if hasBody {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: ServerSession.readBody)
                _ = nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, &provider)
            } else {
                _ = nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, nil)
            }
        }
    }

    func resumeData(stream: Int32) {
        guard let session else { return }
        _ = nghttp2_session_resume_data(session, stream)
    }

    func resetStream(_ stream: Int32, errorCode: UInt32) {
        guard let session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)
    }

    /// Returns receive-window credit for bytes the application has consumed.
    func consume(stream: Int32, bytes: Int) {
        guard let session, bytes > 0 else { return }
        _ = nghttp2_session_consume(session, stream, bytes)
    }

    /// First phase of a graceful shutdown: tells the client no new streams will be accepted soon.
    func submitShutdownNotice() {
        guard let session else { return }
        _ = nghttp2_submit_shutdown_notice(session)
    }

    /// Final GOAWAY naming the last stream we will process.
    func submitGoaway(errorCode: UInt32 = 0) {
        guard let session else { return }
        let last = nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }

    private func withNameValues<R>(_ headers: [HTTP2Header], _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> R) -> R {
        // One contiguous byte block holds every name and value for the duration of the call.
        var storage: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        for h in headers {
            let n0 = storage.count; storage.append(contentsOf: h.name.utf8)
            let v0 = storage.count; storage.append(contentsOf: h.value.utf8)
            spans.append((n0, h.name.utf8.count, v0, h.value.utf8.count))
        }
        storage.append(0)
        return storage.withUnsafeMutableBufferPointer { bytes in
            var nva = spans.map { s in
                nghttp2_nv(name: bytes.baseAddress! + s.0, value: bytes.baseAddress! + s.2,
                           namelen: s.1, valuelen: s.3, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeMutableBufferPointer { body($0) }
        }
    }

    // MARK: C callbacks (user_data is this wrapper, unretained; it outlives the session)

    private static func owner(_ userData: UnsafeMutableRawPointer?) -> ServerSession {
        Unmanaged<ServerSession>.fromOpaque(userData!).takeUnretainedValue()
    }

    private static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
        guard let frame else { return 0 }
        if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
           frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
            owner(userData).delegate.sessionBeginRequest(stream: frame.pointee.hd.stream_id)
        }
        return 0
    }

    private static let onHeader: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, userData in
        guard let frame, let name, let value else { return 0 }
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
              frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
        let n = String(decoding: UnsafeBufferPointer(start: name, count: namelen), as: UTF8.self)
        let v = String(decoding: UnsafeBufferPointer(start: value, count: valuelen), as: UTF8.self)
        owner(userData).delegate.sessionHeader(stream: frame.pointee.hd.stream_id, name: n, value: v)
        return 0
    }

    private static let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
        guard let frame else { return 0 }
        let hd = frame.pointee.hd
        let endStream = (hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)) != 0
        let delegate = owner(userData).delegate
        switch UInt32(hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                delegate.sessionRequestHeadersComplete(stream: hd.stream_id, endStream: endStream)
            } else if endStream {
                delegate.sessionEndOfRequest(stream: hd.stream_id)   // request trailers
            }
        case NGHTTP2_DATA.rawValue:
            if endStream { delegate.sessionEndOfRequest(stream: hd.stream_id) }
        default:
            break
        }
        return 0
    }

    private static let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
        guard let frame else { return 0 }
        let hd = frame.pointee.hd
        let type = UInt32(hd.type)
        if (type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue),
           hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
            owner(userData).delegate.sessionSentEndOfResponse(stream: hd.stream_id)
        }
        return 0
    }

    private static let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, stream, data, len, userData in
        owner(userData).delegate.sessionData(stream: stream, bytes: UnsafeRawBufferPointer(start: data, count: len))
        return 0
    }

    private static let onStreamClose: nghttp2_on_stream_close_callback = { _, stream, errorCode, userData in
        owner(userData).delegate.sessionStreamClosed(stream: stream, errorCode: errorCode)
        return 0
    }

    /// Bodies are never copied into nghttp2: each DATA frame is sent NO_COPY, its payload queued
    /// by the delegate from the handler's buffers.
    private static let readBody: nghttp2_data_source_read_callback = { session, stream, _, length, flags, _, userData in
        let me = owner(userData)
        switch me.delegate.sessionReadBody(stream: stream, max: length) {
        case .deferred:
            return ssize_t(NGHTTP2_ERR_DEFERRED.rawValue)
        case .bytes(let count, let end, let trailers):
            var f: UInt32 = count > 0 ? NGHTTP2_DATA_FLAG_NO_COPY.rawValue : 0
            if end {
                f |= NGHTTP2_DATA_FLAG_EOF.rawValue
                if let trailers {
                    f |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                    me.withNameValues(trailers) { nva in
                        _ = nghttp2_submit_trailer(session, stream, nva.baseAddress, nva.count)
                    }
                }
            }
            flags!.pointee |= f
            return count
        }
    }

    /// DATA frames as large as the client allows (nghttp2 would stop at 16 KiB): fewer frames,
    /// fewer callbacks per GiB when a client announces a larger SETTINGS_MAX_FRAME_SIZE.
    private static let frameLength: nghttp2_data_source_read_length_callback = { _, _, _, sessionWindow, streamWindow, maxFrame, _ in
        max(1, min(Int(sessionWindow), Int(streamWindow), Int(maxFrame), 1 << 20))
    }

    private static let sendData: nghttp2_send_data_callback = { _, frame, framehd, length, _, userData in
        guard let frame, let framehd, frame.pointee.data.padlen == 0 else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        let ok = owner(userData).delegate.sessionSendData(stream: frame.pointee.hd.stream_id,
                                                          frameHeader: UnsafeRawBufferPointer(start: framehd, count: 9), length: length)
        return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
    }
}
