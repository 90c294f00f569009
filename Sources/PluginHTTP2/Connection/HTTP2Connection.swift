import CNghttp2
import CSystem
import Glibc
import Logging
import PluginSupport

/// One accepted client connection: its socket, its nghttp2 session and its open streams.
/// Everything here runs on the loop thread.
final class HTTP2Connection: ServerSessionDelegate {
    let id: UInt64
    let fd: Int32
    private unowned let context: LoopContext
    private(set) var session: ServerSession?
    private var streams: [Int32: LoopStream] = [:]
    private var output = OutputQueue()        // frames for the socket, payloads by reference
    private var watchingWritable = false
    private var prefaceMatched = 0            // client preface bytes seen so far
    private var prefaceChecked: Bool { prefaceMatched == Self.preface.count }
    private(set) var isClosed = false
    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private static let maxHeaderBytes = 64 * 1024

    init(id: UInt64, fd: Int32, context: LoopContext) throws {
        self.id = id
        self.fd = fd
        self.context = context
        session = try ServerSession(delegate: self, settings: context.shared.settings)
    }

    private var logger: Logger { context.shared.logger }

    /// Nothing left to write: every frame produced has reached the socket.
    var isDrained: Bool { output.isEmpty && !(session?.wantsWrite ?? false) }

    /// Our SETTINGS go out only once the client has proved it speaks HTTP/2, so an HTTP/1
    /// client gets a readable refusal instead of binary frames.
    func start() {
        context.register(fd: fd, events: .readable) { [unowned self] mask in self.onEvent(mask) }
    }

    private func onEvent(_ mask: UInt32) {
        if mask & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { readAvailable() }
        if !isClosed, mask & EPOLLOUT.rawValue != 0 { flush() }
    }

    private func readAvailable() {
        let buffer = context.readBuffer
        while !isClosed {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                if !prefaceChecked, !checkPreface(bytes) { return }
                do {
                    try session?.receive(bytes)
                } catch {
                    logger.debug("closing connection: \(error)")
                    flush()
                    close()
                    return
                }
                if n < buffer.count { break }
            } else if n == 0 {
                close()
                return
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { close(); return }
                break
            }
        }
        flush()
    }

    /// A client that is not speaking HTTP/2 gets told so instead of a bare disconnect.
    private func checkPreface(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = min(bytes.count, Self.preface.count - prefaceMatched)
        if bytes.prefix(n).elementsEqual(Self.preface[prefaceMatched..<(prefaceMatched + n)]) {
            prefaceMatched += n
            return true
        }
        let text = String(decoding: bytes.prefix(16), as: UTF8.self)
        if ["GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH "].contains(where: text.hasPrefix) {
            let body = "this socket speaks HTTP/2 only: use gRPC, or curl --http2-prior-knowledge for the JSON API\n"
            let reply = "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            _ = reply.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            logger.debug("refused an HTTP/1 request on the HTTP/2 socket")
        } else {
            logger.debug("closing connection: bytes received are not an HTTP/2 preface")
        }
        close()
        return false
    }

    /// Bytes gathered before a write: one writev carries many 16 KiB DATA frames.
    private static let sendBatch = 512 * 1024

    /// Writes whatever nghttp2 has to send, many frames per system call; watches for
    /// writability when the socket is full (and stops pulling frames until it drains).
    func flush() {
        guard !isClosed, prefaceChecked, let session else { return }
        while true {
            while output.count < Self.sendBatch {
                let chunk: UnsafeRawBufferPointer?
                do { chunk = try session.nextOutput() } catch { close(); return }
                guard let chunk else { break }
                output.appendCopy(chunk)
            }
            if output.isEmpty { break }
            switch output.write(to: fd) {
            case .drained: continue
            case .wouldBlock: watchWritable(true); return
            case .failed: close(); return
            }
        }
        watchWritable(false)
        if !session.wantsRead && !session.wantsWrite { close(); return }
        context.connectionFlushed(self)
    }

    private func watchWritable(_ on: Bool) {
        guard on != watchingWritable, !isClosed else { return }
        watchingWritable = on
        context.modify(fd: fd, events: on ? [.readable, .writable] : .readable)
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        context.unregister(fd: fd)
        Glibc.close(fd)
        let open = streams
        streams = [:]
        for (_, s) in open {
            _ = s.closed(.connectionClosed)
            context.shared.streams.decrement()
        }
        session = nil
        context.connectionClosed(self)
    }

    // MARK: work posted by handlers (through EventLoop.execute)

    func submitResponse(stream: Int32, headers: [HTTP2Header], hasBody: Bool) {
        session?.submitResponse(stream: stream, headers: headers, hasBody: hasBody)
        flush()
    }

    func resumeData(stream: Int32) {
        session?.resumeData(stream: stream)
        flush()
    }

    func resetStream(_ stream: Int32, errorCode: UInt32) {
        session?.resetStream(stream, errorCode: errorCode)
        flush()
    }

    func consume(stream: Int32, bytes: Int) {
        session?.consume(stream: stream, bytes: bytes)
        flush()
    }

    // MARK: graceful shutdown

    func sendShutdownNotice() {
        session?.submitShutdownNotice()
        flush()
    }

    func sendGoaway() {
        session?.submitGoaway()
        flush()
    }

    /// Cancels every handler still running on this connection (grace period over).
    func cancelHandlers() {
        for (_, s) in streams { s.task?.cancel() }
    }

    // MARK: ServerSessionDelegate

    func sessionBeginRequest(stream id: Int32) {
        streams[id] = LoopStream(id: id, channel: StreamChannel(loop: context.loop, connection: self.id, stream: id,
                                                                 outboxLimit: context.shared.outboxLimit))
        context.shared.streams.increment()
    }

    func sessionHeader(stream id: Int32, name: String, value: String) {
        guard let s = streams[id] else { return }
        s.headerBytes += name.utf8.count + value.utf8.count + 32
        if s.headerBytes > Self.maxHeaderBytes { return }   // nghttp2 bounds the block; we bound what we keep
        switch name {
        case ":method": s.head.method = value
        case ":path": s.head.path = value
        case ":scheme": s.head.scheme = value
        case ":authority": s.head.authority = value
        default:
            if !name.hasPrefix(":") { s.head.headers.append(HTTP2Header(name, value)) }
        }
    }

    func sessionRequestHeadersComplete(stream id: Int32, endStream: Bool) {
        guard let s = streams[id] else { return }
        if endStream { s.channel.body.finish() }
        let request = HTTP2Request(head: s.head, body: s.channel.body)
        let writer = HTTP2ResponseWriter(channel: s.channel)
        let (handler, handlers) = (context.shared.handler, context.shared.handlers)
        // Counted until it returns (a stream can close before its handler does): shutdown waits
        // for every one.
        handlers.increment()
        s.task = Task {
            defer { handlers.decrement() }
            await handler.handle(request, writer)
            // A handler that returns without ending its response leaves the client hanging: reset.
            if !writer.isFinished { writer.reset(errorCode: UInt32(NGHTTP2_INTERNAL_ERROR.rawValue)) }
        }
    }

    func sessionData(stream id: Int32, bytes: UnsafeRawBufferPointer) {
        if let s = streams[id] {
            s.channel.body.append(bytes)
        } else {
            session?.consume(stream: id, bytes: bytes.count)
        }
    }

    func sessionEndOfRequest(stream id: Int32) {
        streams[id]?.channel.body.finish()
    }

    func sessionStreamClosed(stream id: Int32, errorCode: UInt32) {
        guard let s = streams.removeValue(forKey: id) else { return }
        let unconsumed = s.closed(errorCode == 0 ? nil : .reset(errorCode))
        // Data received but never read still occupies the connection window: give it back.
        if unconsumed > 0 { session?.consume(stream: id, bytes: unconsumed) }
        context.shared.streams.decrement()
    }

    /// The response is complete but the client is still sending: tell it to stop (RFC 9113 §8.1,
    /// RST_STREAM with NO_ERROR) instead of leaving the stream open on unread data.
    func sessionSentEndOfResponse(stream id: Int32) {
        guard let s = streams[id], !s.channel.body.isEnded else { return }
        session?.resetStream(id, errorCode: 0)
    }

    func sessionReadBody(stream id: Int32, max: Int) -> BodyRead {
        guard let s = streams[id] else { return .bytes(count: 0, end: true, trailers: nil) }
        return s.channel.outbox.reserve(max: max)
    }

    func sessionSendData(stream id: Int32, frameHeader: UnsafeRawBufferPointer, length: Int) -> Bool {
        guard let s = streams[id] else { return false }
        output.appendCopy(frameHeader)
        return s.channel.outbox.take(length) { storage, range in output.appendReference(storage, range) }
    }
}
