import PluginRPC
import Foundation
import Logging

/// One operation against a bucket: what to send and how to read the answer.
public struct StoreOperation: Sendable {
    public var name: String
    public var method: String
    public var key: String?
    public var query: [(String, String)] = []
    public var headers: [(String, String)] = []
    public var body: HTTPRequestBody = .none
    /// SHA-256 of the body to sign it, nil for UNSIGNED-PAYLOAD (object data: Content-MD5 guards it).
    public var payloadHash: String?
    public var responseBody: HTTPResponseBody = .buffer(limit: 16 << 20)
    /// Safe to send again after a failure (GET, HEAD, PUT, DELETE, and POSTs that are).
    public var idempotent = true
    /// Statuses that are an answer, not an error (e.g. 404 for HEAD).
    public var accept: Set<Int> = []

    public init(_ name: String, _ method: String, key: String? = nil) {
        self.name = name
        self.method = method
        self.key = key
    }
}

/// Signed, retried requests to one bucket, for any dialect. Transient failures (connection
/// errors, 5xx, throttling) are retried with backoff for idempotent operations, re-signed each
/// time; everything else becomes a `StoreError` that names the operation and the object.
public final class ObjectStoreClient: Sendable {
    public let address: BucketAddress
    public let dialect: StoreDialect
    public let credentials: CredentialProvider
    public let transport: HTTPTransportOptions
    public let retry: RetryPolicy
    let http: HTTPClient
    let counters = RequestCounters()

    public init(address: BucketAddress, dialect: StoreDialect, credentials: CredentialProvider,
                transport: HTTPTransportOptions, retry: RetryPolicy, http: HTTPClient = .shared) {
        self.address = address
        self.dialect = dialect
        self.credentials = credentials
        self.transport = transport
        self.retry = retry
        self.http = http
    }

    public func locate(_ key: String?) -> String {
        "\(dialect.locationScheme)://\(address.bucket)" + (key.map { "/\($0)" } ?? "")
    }

    func prepare(_ op: StoreOperation, credentials c: Credentials) -> HTTPRequest {
        let path = address.encodedPath(op.key)
        var r = SignableRequest(method: op.method, host: address.host, bucket: address.bucket, key: op.key, encodedPath: path,
                                query: op.query, headers: [("Host", address.host)] + op.headers, payloadHash: op.payloadHash)
        dialect.sign(&r, credentials: c, date: HTTPDate.now())
        return HTTPRequest(method: op.method, url: address.url(encodedPath: path, query: op.query), headers: r.headers, body: op.body)
    }

    /// Sends `op`, retrying what may be retried; returns a 2xx (or accepted) response.
    public func send(_ op: StoreOperation) async throws -> HTTPResponse {
        try await retrying(op) { request in
            let r = try await self.http.execute(request, body: op.responseBody, options: self.transport)
            if (200..<300).contains(r.status) || op.accept.contains(r.status) { return .success(r) }
            return .failure(StoreError.parse(dialect: self.dialect.name, operation: op.name, location: self.locate(op.key), response: r))
        }
    }

    /// Starts a streamed GET; retries until the response head arrives. A non-2xx answer becomes
    /// a `StoreError` (its body read first).
    public func stream(_ op: StoreOperation) async throws -> HTTPStreamingResponse {
        try await retrying(op) { request in
            let s = try await self.http.stream(request, options: self.transport)
            if (200..<300).contains(s.status) { return .success(s) }
            let body = (try? await s.errorBody()) ?? []
            return .failure(StoreError.parse(dialect: self.dialect.name, operation: op.name, location: self.locate(op.key),
                                             response: HTTPResponse(status: s.status, headers: s.headers, body: body,
                                                                    bodyLength: Int64(body.count), trailers: [])))
        }
    }

    /// The one retry loop: each attempt is signed afresh; a store answer or a transport failure
    /// that is transient is tried again with backoff (idempotent operations only); rejected
    /// credentials are dropped so the next call fetches them again.
    private func retrying<T>(_ op: StoreOperation, _ attemptOnce: (HTTPRequest) async throws -> Result<T, StoreError>) async throws -> T {
        var attempt = 1
        while true {
            try Task.checkCancellation()
            let request = prepare(op, credentials: try await credentials.credentials())
            counters.count(op.name)
            do {
                switch try await attemptOnce(request) {
                case .success(let value):
                    return value
                case .failure(let e):
                    if ["InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "SecurityTokenExpired"].contains(e.code) {
                        credentials.invalidate()
                    }
                    guard op.idempotent, attempt < retry.attempts, isTransient(e) else { throw e }
                    Log.store.notice("\(op.name) \(locate(op.key)): \(e.code) (HTTP \(e.status)), retrying (attempt \(attempt + 1) of \(retry.attempts))")
                }
            } catch let e as HTTPClientError {
                guard e.kind != .cancelled else { throw CancellationError() }
                guard op.idempotent, attempt < retry.attempts, e.isTransient else { throw e }
                Log.store.notice("\(op.name) \(locate(op.key)): \(e.message), retrying (attempt \(attempt + 1) of \(retry.attempts))")
            }
            attempt += 1
            try await Task.sleep(for: retry.delay(beforeAttempt: attempt))
        }
    }

    func isTransient(_ e: StoreError) -> Bool {
        e.status >= 500 || e.status == 429 || dialect.transientErrorCodes.contains(e.code)
    }
}

/// Requests sent per operation name (tests and progress lines read them).
final class RequestCounters: @unchecked Sendable {
    private let counts = Locked([String: Int]())
    func count(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }
    var snapshot: [String: Int] { counts.current }
}
