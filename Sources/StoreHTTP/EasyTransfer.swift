import CCurl
import Glibc
import PluginSupport
import Synchronization

/// A request as the caller hands it to the curl thread: everything the thread needs, and the
/// hand-offs back (the completion, the streaming inbox, the request-body stream). Sendable:
/// what both sides touch is behind locks or atomics.
final class TransferJob: Sendable {
    let id: UInt64
    let request: HTTPRequest
    let responseBody: HTTPResponseBody
    let options: HTTPTransportOptions
    /// Streamed responses: the caller's view of the body.
    let inbox: StreamingInbox?
    /// Streamed request bodies: what the producer fills.
    let bodyWriter: RequestBodyWriter?
    private let completion = Locked<CheckedContinuation<HTTPResponse, Error>?>(nil)
    /// For streamed responses: the final response (its error body, for messages).
    let streamOutcome = Locked<HTTPResponse?>(nil)
    let cancelRequested = Atomic<Bool>(false)

    init(id: UInt64, request: HTTPRequest, responseBody: HTTPResponseBody, options: HTTPTransportOptions,
         unpause: @escaping @Sendable () -> Void) {
        self.id = id
        self.request = request
        self.responseBody = responseBody
        self.options = options
        if case .stream(let segment) = responseBody {
            inbox = StreamingInbox(segment: segment, unpause: unpause)
        } else {
            inbox = nil
        }
        if case .file = request.body {
            bodyWriter = RequestBodyWriter(limit: RequestMemory.bodyQueue, unpause: unpause)
        } else {
            bodyWriter = nil
        }
    }

    /// The URL without its query (presigned URLs carry signatures there), cut if long.
    var redactedURL: String { Echo.clip(String(request.url.prefix { $0 != "?" }), limit: 512) }

    func setCompletion(_ c: CheckedContinuation<HTTPResponse, Error>) {
        completion.withLock { $0 = c }
    }

    /// Delivers the outcome to whoever waits (once).
    func deliver(_ result: Result<HTTPResponse, Error>) {
        if let inbox {
            // The outcome first: the consumer may read the error body as soon as it is woken.
            if case .success(let r) = result { streamOutcome.withLock { $0 = r } }
            inbox.complete(result.map { _ in () })
        }
        bodyWriter?.ended()
        let c = completion.withLock { c -> CheckedContinuation<HTTPResponse, Error>? in
            defer { c = nil }
            return c
        }
        c?.resume(with: result)
    }

    var cancelledError: HTTPClientError {
        HTTPClientError(kind: .cancelled, message: "\(request.method) \(redactedURL): cancelled")
    }
}

/// One request in flight on the curl thread: the easy handle's options, its callbacks and what
/// they collect. Created, used and dropped on the curl thread only.
final class EasyTransfer {
    let job: TransferJob
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    private var status = 0
    private var headers: [(String, String)] = []
    private var trailers: [(String, String)] = []
    private var body: [UInt8] = []
    private var bodyLength: Int64 = 0
    private var inBody = false
    private var tooLarge = false
    private var uploadOffset: Int64 = 0

    init(job: TransferJob, easy: UnsafeMutableRawPointer) {
        self.job = job
        self.easy = easy
        errorBuffer.initialize(to: 0)
    }

    deinit {
        errorBuffer.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
    }

    private var request: HTTPRequest { job.request }

    // MARK: configuring the easy handle

    func configure() {
        let h = easy
        let options = job.options
        let me = Unmanaged.passUnretained(self).toOpaque()
        argo_easy_setopt_string(h, CURLOPT_URL, request.url)
        argo_easy_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        argo_easy_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)
        argo_easy_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, options.connectTimeoutSeconds * 1000)
        argo_easy_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)
        argo_easy_setopt_long(h, CURLOPT_LOW_SPEED_TIME, options.stallTimeoutSeconds)
        argo_easy_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        // Large reads: fewer system calls and callbacks per GiB received.
        argo_easy_setopt_long(h, CURLOPT_BUFFERSIZE, RequestMemory.receiveBuffer)
        if options.httpVersion == .http1 {
            // Bigger upload reads help HTTP/1.1 throughput. (Not for HTTP/2: libcurl 7.88
            // resends data past 512 KiB when its h2 upload buffer is this large.)
            argo_easy_setopt_long(h, CURLOPT_UPLOAD_BUFFERSIZE, RequestMemory.uploadBuffer)
        }
        argo_easy_setopt_long(h, CURLOPT_SSL_VERIFYPEER, options.verifyTLS ? 1 : 0)
        argo_easy_setopt_long(h, CURLOPT_SSL_VERIFYHOST, options.verifyTLS ? 2 : 0)
        if let pem = options.caPEM {
            // libcurl copies the blob (CURL_BLOB_COPY), so the temporary buffer may go.
            var bytes = Array(pem.utf8)
            bytes.withUnsafeMutableBytes { raw in
                var blob = curl_blob(data: raw.baseAddress, len: raw.count, flags: UInt32(CURL_BLOB_COPY))
                _ = argo_easy_setopt_blob(h, CURLOPT_CAINFO_BLOB, &blob)
            }
        }
        if !options.reuseConnection {
            argo_easy_setopt_long(h, CURLOPT_FRESH_CONNECT, 1)
            argo_easy_setopt_long(h, CURLOPT_FORBID_REUSE, 1)
        }
        if let sock = options.unixSocketPath { argo_easy_setopt_string(h, CURLOPT_UNIX_SOCKET_PATH, sock) }
        switch options.httpVersion {
        case .automatic: argo_easy_setopt_long(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
        case .http1: argo_easy_setopt_long(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        case .http2PriorKnowledge: argo_easy_setopt_long(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
        }

        // Method and body.
        let method = request.method.uppercased()
        switch (method, request.body) {
        case ("HEAD", _):
            argo_easy_setopt_long(h, CURLOPT_NOBODY, 1)
        case ("GET", .none):
            argo_easy_setopt_long(h, CURLOPT_HTTPGET, 1)
        case (_, .none) where method != "PUT" && method != "POST":
            argo_easy_setopt_string(h, CURLOPT_CUSTOMREQUEST, method)
        default:
            // Every body goes through the read callback; UPLOAD + CUSTOMREQUEST gives any
            // method a body of known length.
            argo_easy_setopt_long(h, CURLOPT_UPLOAD, 1)
            argo_easy_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.length))
            if method != "PUT" { argo_easy_setopt_string(h, CURLOPT_CUSTOMREQUEST, method) }
            argo_easy_setopt_read_cb(h, EasyTransfer.readCallback)
            argo_easy_setopt_pointer(h, CURLOPT_READDATA, me)
            argo_easy_setopt_seek_cb(h, EasyTransfer.seekCallback)
            argo_easy_setopt_pointer(h, CURLOPT_SEEKDATA, me)
        }

        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        // No 100-continue round trip; and no default Accept / Content-Type guesses.
        for h in ["Expect:", "Accept:", "Content-Type:"] where !request.headers.contains(where: { "\($0.0):".lowercased() == h.lowercased() }) {
            list = curl_slist_append(list, h)
        }
        headerList = list
        argo_easy_setopt_slist(h, CURLOPT_HTTPHEADER, list)

        argo_easy_setopt_header_cb(h, EasyTransfer.headerCallback)
        argo_easy_setopt_pointer(h, CURLOPT_HEADERDATA, me)
        argo_easy_setopt_write_cb(h, EasyTransfer.writeCallback)
        argo_easy_setopt_pointer(h, CURLOPT_WRITEDATA, me)
    }

    /// Builds the outcome once curl says the transfer is done.
    func finish(code: CURLcode) -> Result<HTTPResponse, Error> {
        if let f = job.bodyWriter?.failure { return .failure(f) }
        if tooLarge {
            return .failure(HTTPClientError(kind: .tooLarge, message: "response from \(job.redactedURL) larger than expected"))
        }
        guard code == CURLE_OK else { return .failure(transportError(code)) }
        var s = 0
        argo_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &s)
        if s != 0 { status = s }
        return .success(HTTPResponse(status: status, headers: headers, body: body, bodyLength: bodyLength, trailers: trailers))
    }

    func transportError(_ code: CURLcode) -> HTTPClientError {
        let detail = String(cString: errorBuffer)
        let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: HTTPClientError.Kind
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .dns
        case CURLE_COULDNT_CONNECT: kind = .connect
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            kind = .tls
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            kind = .connectionDropped
        default: kind = .other
        }
        let what: String
        switch kind {
        case .dns: what = "cannot resolve the store's host name"
        case .connect: what = "cannot connect to the store"
        case .timeout: what = "the store stopped answering (timed out)"
        case .tls: what = "TLS failed"
        case .connectionDropped: what = "the connection to the store broke"
        default: what = "request failed"
        }
        var hint = ""
        if kind == .tls {
            var verify = 0
            argo_easy_getinfo_long(easy, CURLINFO_SSL_VERIFYRESULT, &verify)
            hint = TLSVerification.hint(verifyResult: verify, peerVerificationFailed: code == CURLE_PEER_FAILED_VERIFICATION)
        }
        return HTTPClientError(kind: kind, message: "\(request.method) \(job.redactedURL): \(what): \(text)\(hint)", curlCode: Int(code.rawValue))
    }

    // MARK: callbacks (curl thread)

    private func onHeaderLine(_ line: UnsafeRawBufferPointer) {
        var bytes = line[...]
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes = bytes.dropLast() }
        let s = String(decoding: bytes, as: UTF8.self)
        if s.hasPrefix("HTTP/") {
            // A new status line (after 100 Continue or a retry inside curl): start over.
            headers = []
            let parts = s.split(separator: " ", maxSplits: 2)
            if parts.count >= 2, let code = Int(parts[1]) { status = code }
            return
        }
        if s.isEmpty {
            if status >= 200 { job.inbox?.headReceived(status: status, headers: headers) }
            return
        }
        guard let colon = s.firstIndex(of: ":") else { return }
        let name = String(s[..<colon])
        var value = s[s.index(after: colon)...]
        while value.first == " " || value.first == "\t" { value.removeFirst() }
        if inBody { trailers.append((name, String(value))) } else { headers.append((name, String(value))) }
    }

    /// Returns bytes taken (all of them, or 0 to abort a body over its limit).
    private func onBody(_ data: UnsafeRawBufferPointer) -> Int {
        inBody = true
        switch job.responseBody {
        case .buffer(let limit):
            guard body.count + data.count <= limit else { tooLarge = true; return 0 }
            body.append(contentsOf: data)
        case .stream:
            if status >= 300 {
                // Error bodies are small: keep them for the error message.
                if body.count < 64 * 1024 { body.append(contentsOf: data.prefix(64 * 1024 - body.count)) }
            } else if job.inbox!.offer(data) {
                // Taken, and the caller is behind: no more until it unpauses (curl allows
                // pausing from inside its callback).
                curl_easy_pause(easy, CURLPAUSE_RECV)
            }
        }
        bodyLength += Int64(data.count)
        return data.count
    }

    private func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        switch request.body {
        case .none:
            return 0
        case .bytes(let src):
            let n = Int(min(Int64(buffer.count), Int64(src.count) - uploadOffset))
            guard n > 0 else { return 0 }
            src.withUnsafeBytes { raw in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[Int(uploadOffset)..<(Int(uploadOffset) + n)]))
            }
            uploadOffset += Int64(n)
            return n
        case .file:
            switch job.bodyWriter!.read(into: buffer) {
            case .bytes(let n):
                uploadOffset += Int64(n)
                return n
            case .pause: return argo_curl_readfunc_pause()
            case .end: return 0
            case .abort: return argo_curl_readfunc_abort()
            }
        }
    }

    /// curl rewinds a body only to send it again (a redirect, an auth retry): memory bodies can,
    /// file bodies (streamed as they are read) cannot: the caller's retry reads the file again.
    private func seek(to offset: Int64) -> Int32 {
        guard case .bytes = request.body else { return 2 }   // CURL_SEEKFUNC_CANTSEEK
        guard offset >= 0, offset <= request.body.length else { return 1 }
        uploadOffset = offset
        return 0
    }

    private static func owner(_ p: UnsafeMutableRawPointer?) -> EasyTransfer {
        Unmanaged<EasyTransfer>.fromOpaque(p!).takeUnretainedValue()
    }

    static let headerCallback: argo_curl_data_cb = { ptr, size, n, user in
        owner(user).onHeaderLine(UnsafeRawBufferPointer(start: ptr, count: size * n))
        return size * n
    }

    static let writeCallback: argo_curl_data_cb = { ptr, size, n, user in
        owner(user).onBody(UnsafeRawBufferPointer(start: ptr, count: size * n))
    }

    static let readCallback: argo_curl_data_cb = { ptr, size, n, user in
        owner(user).readBody(into: UnsafeMutableRawBufferPointer(start: ptr, count: size * n))
    }

    static let seekCallback: argo_curl_seek_cb = { user, offset, origin in
        guard origin == SEEK_SET else { return 2 }
        return owner(user).seek(to: Int64(offset))
    }
}
