import Foundation
import Glibc
import Logging
import PluginSupport
import StoreHTTP
import Synchronization
import Transfer

/// One operation against a bucket: what to send and how to read the answer.
public struct StoreOperation: Sendable {
    public var name: String
    public var method: String
    public var key: String?
    public var query: [(String, String)] = []
    public var headers: [(String, String)] = []
    public var body: OutgoingBody = .none
    /// SHA-256 of the body to sign it, nil for UNSIGNED-PAYLOAD (object data: its checksums guard it).
    public var payloadHash: String?
    /// Largest answer body kept in memory.
    public var responseLimit = 16 << 20
    /// Safe to send again after a failure (GET, HEAD, PUT, DELETE, and POSTs that are).
    public var idempotent = true
    /// Statuses that are an answer, not an error (e.g. 404 for HEAD).
    public var accept: Set<Int> = []
    /// Clean-up (aborting an upload, deleting what a failed Save wrote): worth more attempts,
    /// since nothing else will remove what it leaves behind.
    public var cleanup = false
    /// False: a BadDigest answer is final (the integrity probe wants it, not a retry).
    public var retriesDamaged = true
    /// Checks a 2xx answer against what was sent; an `IntegrityMismatch` sends the request again.
    public var verify: (@Sendable (HTTPResponse) throws -> Void)?
    /// Which server-side encryption headers the request carries.
    public var encryption: EncryptionRole = .none

    public init(_ name: String, _ method: String, key: String? = nil) {
        self.name = name
        self.method = method
        self.key = key
    }
}

/// Signed, retried requests to one bucket, for any dialect: every request of a store goes
/// through the one retry loop here, signed afresh on each attempt. Transient failures are
/// retried with backoff (idempotent operations), damaged uploads are sent again, rejected
/// credentials are dropped so the next call fetches them again; everything else becomes a
/// `StoreError` that names the operation and the object.
public final class ObjectStoreClient: Sendable {
    public let address: BucketAddress
    public let dialect: any StoreDialect
    public let credentials: CredentialProvider
    public let transport: HTTPTransportOptions
    public let retry: RetryStrategy
    /// The store's server-side encryption, when the configuration asks for one.
    public let encryption: (any ServerSideEncryption)?
    let http: any HTTPTransport
    let io: IOPool

    public init(address: BucketAddress, dialect: any StoreDialect, credentials: CredentialProvider,
                transport: HTTPTransportOptions, retry: RetryStrategy, encryption: (any ServerSideEncryption)? = nil,
                http: any HTTPTransport = HTTPClient.shared, io: IOPool = .shared) {
        self.encryption = encryption
        self.address = address
        self.dialect = dialect
        self.credentials = credentials
        self.transport = transport
        self.retry = retry
        self.http = http
        self.io = io
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
            let r = try await self.http.execute(request, limit: op.responseLimit, options: self.transport)
            if (200..<300).contains(r.status) {
                try op.verify?(r)
                return .success(r)
            }
            if op.accept.contains(r.status) { return .success(r) }
            return .failure(StoreError.parse(dialect: self.dialect, operation: op.name, location: self.locate(op.key), response: r))
        }
    }

    /// Starts a streamed GET; retries until the response head arrives. A non-2xx answer becomes
    /// a `StoreError` (its body read first).
    public func stream(_ op: StoreOperation, segment: Int) async throws -> HTTPStreamingResponse {
        try await retrying(op) { request in
            let s = try await self.http.stream(request, segment: segment, options: self.transport)
            if (200..<300).contains(s.status) { return .success(s) }
            let body = (try? await s.errorBody()) ?? []
            return .failure(StoreError.parse(dialect: self.dialect, operation: op.name, location: self.locate(op.key),
                                             response: HTTPResponse(status: s.status, headers: s.headers, body: body, bodyLength: Int64(body.count))))
        }
    }

    /// The one retry loop.
    private func retrying<T>(_ op: StoreOperation, _ attemptOnce: (HTTPRequest) async throws -> Result<T, StoreError>) async throws -> T {
        var op = op
        if let encryption, op.encryption != .none, let key = op.key {
            op.headers += try await encryption.headers(op.encryption, key: key)
        }
        var attempt = 1
        while true {
            try Task.checkCancellation()
            let request = prepare(op, credentials: try await credentials.credentials())
            do {
                switch try await attemptOnce(request) {
                case .success(let value):
                    retry.succeeded(afterAttempts: attempt)
                    return value
                case .failure(var e):
                    if e.kind == .credentialsRejected { credentials.invalidate() }
                    e.attempts = attempt
                    if e.kind == .badDigest && !op.retriesDamaged { throw e }
                    guard let pause = retry.retry(after: RetryStrategy.classify(e), attempt: attempt, idempotent: op.idempotent,
                                                  cleanup: op.cleanup) else { throw e }
                    Log.store.notice("\(op.name) \(locate(op.key)): \(e.code) (HTTP \(e.status)), retrying (attempt \(attempt + 1) of \(retry.attempts(cleanup: op.cleanup)))")
                    attempt += 1
                    CallMetrics.countRetry()
                    try await Timers.sleep(for: pause)
                    continue
                }
            } catch let e as HTTPClientError {
                guard e.kind != .cancelled else { throw CancellationError() }
                guard let pause = retry.retry(after: RetryStrategy.classify(e), attempt: attempt, idempotent: op.idempotent,
                                              timedOut: e.kind == .timeout, cleanup: op.cleanup) else { throw e }
                Log.store.notice("\(op.name) \(locate(op.key)): \(e.message), retrying (attempt \(attempt + 1) of \(retry.attempts(cleanup: op.cleanup)))")
                attempt += 1
                CallMetrics.countRetry()
                try await Timers.sleep(for: pause)
            } catch let e as IntegrityMismatch {
                guard let pause = retry.retry(after: .damaged, attempt: attempt, idempotent: op.idempotent) else { throw e }
                Log.transfer.warning("\(e); sending it again (attempt \(attempt + 1) of \(retry.attempts))")
                attempt += 1
                CallMetrics.countRetry()
                try await Timers.sleep(for: pause)
            }
        }
    }
}
