import CCurl
import PluginRPC
import Glibc

/// The HTTP client every remote store shares: one curl multi handle on its own thread, so
/// connections are reused across requests and many transfers run at once without a thread each.
/// Retries are the caller's business (requests must be re-signed).
public final class HTTPClient: @unchecked Sendable {
    fileprivate enum Command {
        case add(CurlTransfer)
        case cancel(CurlTransfer)
        case unpause(CurlTransfer)
    }

    private let multi: UnsafeMutableRawPointer
    private let commands = Locked<[Command]>([])
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]   // loop thread
    private var idleHandles: [UnsafeMutableRawPointer] = []              // loop thread
    private static let globalInit: Void = { curl_global_init(argo_curl_global_all()) }()

    /// The process-wide client.
    public static let shared = HTTPClient()

    public init(maxConnectionsPerHost: Int = 64) {
        _ = HTTPClient.globalInit
        multi = curl_multi_init()
        argo_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        argo_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnectionsPerHost * 2)
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        pthread_create(&tid, nil, { raw in
            Unmanaged<HTTPClient>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        pthread_detach(tid)
    }

    // MARK: API

    /// Sends the request and waits for the whole response.
    public func execute(_ request: HTTPRequest, body: HTTPResponseBody = .buffer(limit: 16 << 20),
                        options: HTTPTransportOptions = HTTPTransportOptions()) async throws -> HTTPResponse {
        let t = CurlTransfer(request: request, responseBody: body, options: options)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { c in
                t.completion = c
                submit(.add(t))
            }
        } onCancel: {
            submit(.cancel(t))
        }
    }

    /// Starts the request and returns once its head has arrived; the body follows through
    /// `HTTPStreamingResponse.next`, with backpressure (curl pauses while the caller is behind).
    public func stream(_ request: HTTPRequest, options: HTTPTransportOptions = HTTPTransportOptions()) async throws -> HTTPStreamingResponse {
        let t = CurlTransfer(request: request, responseBody: .stream, options: options)
        let inbox = t.inbox!
        inbox.unpause = { [weak self, weak t] in
            if let self, let t { self.submit(.unpause(t)) }
        }
        let response = HTTPStreamingResponse(transfer: t, client: self)
        submit(.add(t))
        do {
            guard let (status, headers) = try await withTaskCancellationHandler(operation: { try await inbox.waitForHead() },
                                                                                  onCancel: { response.cancel() }) else {
                throw HTTPClientError(kind: .connectionDropped, message: "\(request.method) \(t.redactedURL): no response", curlCode: 0)
            }
            response.status = status
            response.headers = headers
            return response
        } catch {
            response.cancel()
            throw error
        }
    }

    // MARK: loop

    fileprivate func submit(_ c: Command) {
        // A cancel may overtake its add (a task cancelled before the request started).
        if case .cancel(let t) = c { t.cancelRequested.withLock { $0 = true } }
        commands.withLock { $0.append(c) }
        curl_multi_wakeup(multi)
    }

    private func run() {
        var running: Int32 = 0
        while true {
            for c in commands.withLock({ q -> [Command] in defer { q = [] }; return q }) {
                switch c {
                case .add(let t): add(t)
                case .cancel(let t): cancel(t)
                case .unpause(let t): if let h = t.easy, active[h] === t { curl_easy_pause(h, CURLPAUSE_CONT) }
                }
            }
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let h = msg.pointee.easy_handle else { continue }
                complete(h, code: msg.pointee.data.result)
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    private func add(_ t: CurlTransfer) {
        if t.cancelRequested.current {
            let e = HTTPClientError(kind: .cancelled, message: "\(t.request.method) \(t.redactedURL): cancelled", curlCode: 0)
            t.inbox?.complete(.failure(e))
            if let c = t.completion { t.completion = nil; c.resume(throwing: e) }
            return
        }
        let h = idleHandles.popLast() ?? curl_easy_init()!
        t.configure(h)
        active[h] = t
        curl_multi_add_handle(multi, h)
    }

    private func cancel(_ t: CurlTransfer) {
        guard let h = t.easy, active[h] === t else { return }
        deliver(t, h, .failure(HTTPClientError(kind: .cancelled, message: "\(t.request.method) \(t.redactedURL): cancelled", curlCode: 0)))
    }

    private func complete(_ h: UnsafeMutableRawPointer, code: CURLcode) {
        guard let t = active[h] else { return }
        deliver(t, h, t.finish(code: code))
    }

    private func deliver(_ t: CurlTransfer, _ h: UnsafeMutableRawPointer, _ result: Result<HTTPResponse, Error>) {
        curl_multi_remove_handle(multi, h)
        active[h] = nil
        // Handles are reused (their DNS and session caches stay warm); connections live in the multi.
        curl_easy_reset(h)
        if idleHandles.count < 64 { idleHandles.append(h) } else { curl_easy_cleanup(h) }
        t.easy = nil
        if let inbox = t.inbox {
            // The outcome first: the consumer may read the error body as soon as it is woken.
            if case .success(let r) = result { t.streamOutcome.withLock { $0 = r } }
            inbox.complete(result.map { _ in () })
        }
        if let c = t.completion {
            t.completion = nil
            c.resume(with: result)
        }
    }
}

/// A response whose body is read as it arrives.
public final class HTTPStreamingResponse: @unchecked Sendable {
    public internal(set) var status = 0
    public internal(set) var headers: [(String, String)] = []
    private let transfer: CurlTransfer
    private weak var client: HTTPClient?
    private let finished = Locked(false)

    init(transfer: CurlTransfer, client: HTTPClient) {
        self.transfer = transfer
        self.client = client
    }

    deinit { cancel() }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0.lowercased() == n }?.1
    }

    /// Up to `max` bytes of body, nil at its end; throws if the transfer failed (a short body
    /// or a broken connection is a failure, never an end).
    public func next(max: Int = 1 << 20) async throws -> [UInt8]? {
        do {
            let chunk = try await withTaskCancellationHandler(operation: { try await transfer.inbox!.next(max: max) },
                                                              onCancel: { self.cancel() })
            if chunk == nil { finished.withLock { $0 = true } }
            return chunk
        } catch {
            cancel()
            throw error
        }
    }

    /// The body of an error response (kept apart, up to 64 KiB), once the transfer ended.
    public func errorBody() async throws -> [UInt8] {
        while try await next() != nil {}
        return transfer.streamOutcome.current?.body ?? []
    }

    /// Stops the transfer: no more bytes are pulled from the server.
    public func cancel() {
        let wasDone = finished.withLock { f -> Bool in defer { f = true }; return f }
        if !wasDone { client?.submit(.cancel(transfer)) }
    }
}
