import CCurl
import CSystem
import Glibc
import PluginSupport
import Synchronization

/// The HTTP client every remote store shares: one curl multi handle on its own thread, so
/// connections are reused across requests and many transfers run at once without a thread each.
/// The curl thread only moves bytes between sockets and memory; file bodies are read on the I/O
/// pool by a task beside the request, and responses written by the callers. Retries are the caller's business (requests must be
/// re-signed).
public final class HTTPClient: Sendable {
    enum Command: Sendable {
        case add(TransferJob)
        case cancel(UInt64)
        case unpause(UInt64)
    }

    private let commands = Locked<[Command]>([])
    /// Wakes the curl thread from curl_multi_poll (an extra fd it waits on).
    let wakeFD: Int32
    private let nextID = Atomic<UInt64>(0)
    private static let globalInit: Void = { curl_global_init(argo_curl_global_all()) }()

    /// The process-wide client.
    public static let shared = HTTPClient()

    /// Where file bodies are read.
    let io: IOPool

    public init(maxConnectionsPerHost: Int = 64, io: IOPool = .shared) {
        self.io = io
        _ = HTTPClient.globalInit
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd: \(errno)")
        SystemThread.start(name: "curl-loop") { CurlLoop(client: self, maxConnectionsPerHost: maxConnectionsPerHost).run() }
    }

    // MARK: API

    /// Sends the request and waits for the whole response (kept in memory up to `limit`).
    /// A file body is read on the I/O pool concurrently, as curl sends it.
    public func execute(_ request: HTTPRequest, limit: Int = 16 << 20,
                        options: HTTPTransportOptions = HTTPTransportOptions()) async throws -> HTTPResponse {
        let job = makeJob(request, .buffer(limit: limit), options)
        guard case .file(let fd, let offset, let length) = request.body, let writer = job.bodyWriter else {
            return try await run(job)
        }
        let io = self.io
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await writer.write(file: fd, offset: offset, length: length, io: io)
                    writer.finish()
                } catch {
                    writer.fail(error)
                }
            }
            defer { group.cancelAll() }
            return try await run(job)
        }
    }

    /// Starts the request and returns once its head has arrived; the body follows through
    /// `HTTPStreamingResponse.next`, with backpressure (curl pauses while the caller is behind).
    public func stream(_ request: HTTPRequest, segment: Int = 256 << 10,
                       options: HTTPTransportOptions = HTTPTransportOptions()) async throws -> HTTPStreamingResponse {
        let job = makeJob(request, .stream(segment: segment), options)
        let inbox = job.inbox!
        submit(.add(job))
        do {
            let head = try await withTaskCancellationHandler(operation: { try await inbox.waitForHead() },
                                                             onCancel: { self.cancel(job) })
            guard let (status, headers) = head else {
                throw HTTPClientError(kind: .connectionDropped, message: "\(request.method) \(job.redactedURL): no response")
            }
            return HTTPStreamingResponse(job: job, client: self, status: status, headers: headers)
        } catch {
            cancel(job)
            throw error
        }
    }

    // MARK: internals

    private func makeJob(_ request: HTTPRequest, _ body: HTTPResponseBody, _ options: HTTPTransportOptions) -> TransferJob {
        let id = nextID.add(1, ordering: .relaxed).newValue
        return TransferJob(id: id, request: request, responseBody: body, options: options,
                           unpause: { [weak self] in self?.submit(.unpause(id)) })
    }

    /// Waits for the curl thread to finish the transfer. Not `Locked.park`: a cancelled caller
    /// returns once the curl thread has removed the transfer (it does so at once), since curl
    /// reads the request body from the caller's memory until then.
    private func run(_ job: TransferJob) async throws -> HTTPResponse {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { c in
                job.setCompletion(c)
                submit(.add(job))
            }
        } onCancel: {
            cancel(job)
        }
    }

    func cancel(_ job: TransferJob) {
        // A cancel may overtake its add (a task cancelled before the request started).
        job.cancelRequested.store(true, ordering: .relaxed)
        submit(.cancel(job.id))
    }

    func submit(_ c: Command) {
        commands.withLock { $0.append(c) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    func takeCommands() -> [Command] {
        commands.withLock { q in
            defer { q = [] }
            return q
        }
    }
}

/// The curl thread: the multi handle, the transfers in flight, idle easy handles for reuse.
/// Created on that thread and never leaves it.
final class CurlLoop {
    private let client: HTTPClient
    private let multi: UnsafeMutableRawPointer
    private var active: [UInt64: EasyTransfer] = [:]
    private var byHandle: [UnsafeMutableRawPointer: UInt64] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []

    init(client: HTTPClient, maxConnectionsPerHost: Int) {
        self.client = client
        multi = curl_multi_init()
        argo_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        argo_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnectionsPerHost * 2)
    }

    func run() {
        var running: Int32 = 0
        var wake = curl_waitfd(fd: client.wakeFD, events: Int16(CURL_WAIT_POLLIN), revents: 0)
        while true {
            var value: UInt64 = 0
            _ = read(client.wakeFD, &value, 8)
            for c in client.takeCommands() {
                switch c {
                case .add(let job): add(job)
                case .cancel(let id): cancel(id)
                case .unpause(let id): if let t = active[id] { curl_easy_pause(t.easy, CURLPAUSE_CONT) }
                }
            }
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let h = msg.pointee.easy_handle, let id = byHandle[h], let t = active[id] else { continue }
                deliver(t, t.finish(code: msg.pointee.data.result))
            }
            curl_multi_poll(multi, &wake, 1, 1000, nil)
        }
    }

    private func add(_ job: TransferJob) {
        if job.cancelRequested.load(ordering: .relaxed) {
            job.deliver(.failure(job.cancelledError))
            return
        }
        let h = idleHandles.popLast() ?? curl_easy_init()!
        let t = EasyTransfer(job: job, easy: h)
        t.configure()
        active[job.id] = t
        byHandle[h] = job.id
        curl_multi_add_handle(multi, h)
    }

    private func cancel(_ id: UInt64) {
        guard let t = active[id] else { return }
        deliver(t, .failure(t.job.cancelledError))
    }

    private func deliver(_ t: EasyTransfer, _ result: Result<HTTPResponse, Error>) {
        curl_multi_remove_handle(multi, t.easy)
        active[t.job.id] = nil
        byHandle[t.easy] = nil
        // Handles are reused (their DNS and session caches stay warm); connections live in the multi.
        curl_easy_reset(t.easy)
        if idleHandles.count < 64 { idleHandles.append(t.easy) } else { curl_easy_cleanup(t.easy) }
        t.job.deliver(result)
    }
}

/// A response whose body is read as it arrives.
public final class HTTPStreamingResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    private let job: TransferJob
    private let client: HTTPClient
    private let finished = Atomic<Bool>(false)

    init(job: TransferJob, client: HTTPClient, status: Int, headers: [(String, String)]) {
        self.job = job
        self.client = client
        self.status = status
        self.headers = headers
    }

    deinit { cancel() }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.0.lowercased() == n }?.1
    }

    /// The next piece of the body (up to the segment size), nil at its end; throws if the
    /// transfer failed (a short body or a broken connection is a failure, never an end).
    public func next() async throws -> [UInt8]? {
        do {
            let chunk = try await withTaskCancellationHandler(operation: { try await job.inbox!.next() },
                                                              onCancel: { self.cancel() })
            if chunk == nil { finished.store(true, ordering: .relaxed) }
            return chunk
        } catch {
            cancel()
            throw error
        }
    }

    /// The body of an error response (kept apart, up to 64 KiB), once the transfer ended.
    public func errorBody() async throws -> [UInt8] {
        while try await next() != nil {}
        return job.streamOutcome.withLock { $0?.body } ?? []
    }

    /// Stops the transfer: no more bytes are pulled from the server.
    public func cancel() {
        let (first, _) = finished.compareExchange(expected: false, desired: true, ordering: .relaxed)
        if first { client.cancel(job) }
    }
}
