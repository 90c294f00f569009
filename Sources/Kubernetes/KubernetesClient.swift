import ArtifactCore
import Foundation
import PluginSupport
import Synchronization
import StoreHTTP

/// Failures talking to the Kubernetes API, worded for the operator who must fix RBAC or a name.
public struct KubernetesError: CategorizedError, CustomStringConvertible, Sendable {
    /// The plugin cannot go on until the operator fixes RBAC, a name or the API's reachability.
    public var category: FailureCategory { .failedPrecondition }
    public var message: String
    public var status: Int?
    public init(message: String, status: Int? = nil) {
        self.message = message
        self.status = status
    }
    public var description: String { message }
}

/// The in-cluster Kubernetes API as a pod sees it: address from KUBERNETES_SERVICE_HOST/PORT,
/// token, CA and namespace from the service-account mount. (`ARGO_PLUGIN_SERVICEACCOUNT_DIR`
/// moves the mount, for tests against an API double.) Files are read on the I/O pool.
public final class KubernetesClient: Sendable {
    public let baseURL: String
    public let namespace: String
    private let serviceAccountDir: String
    private let transport: HTTPTransportOptions
    private let http: HTTPClient
    private let io: IOPool
    private let secretReads = SingleFlight<String, [String: [UInt8]]>()

    public static let defaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

    private init(baseURL: String, namespace: String, serviceAccountDir: String, transport: HTTPTransportOptions, http: HTTPClient, io: IOPool) {
        self.baseURL = baseURL
        self.namespace = namespace
        self.serviceAccountDir = serviceAccountDir
        self.transport = transport
        self.http = http
        self.io = io
    }

    /// The API of the cluster this pod runs in; fails plainly outside one.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 http: HTTPClient = .shared, io: IOPool = .shared) async throws -> KubernetesClient {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw KubernetesError(message: "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set), so Secrets cannot be read; use useSDKCreds or run in-cluster")
        }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        let h = host.contains(":") ? "[\(host)]" : host
        let dir = environment["ARGO_PLUGIN_SERVICEACCOUNT_DIR"] ?? defaultServiceAccountDir
        let (ns, ca) = try await io.run { () -> (String?, String?) in
            (try? String(contentsOfFile: dir + "/namespace", encoding: .utf8), try? String(contentsOfFile: dir + "/ca.crt", encoding: .utf8))
        }
        guard let ns else {
            throw KubernetesError(message: "no service-account namespace at \(dir)/namespace; is a service-account token mounted in this pod?")
        }
        var t = HTTPTransportOptions()
        t.caPEM = ca
        return KubernetesClient(baseURL: "https://\(h):\(port)", namespace: ns.trimmingCharacters(in: .whitespacesAndNewlines),
                                serviceAccountDir: dir, transport: t, http: http, io: io)
    }

    /// GET of an API path (`/api/v1/namespaces/ns/secrets/name`), decoded JSON object.
    /// `what` names the object in error texts ("secret my-cred").
    public func get(_ path: String, what: String) async throws -> [String: Any] {
        let tokenPath = serviceAccountDir + "/token"
        guard let token = try await io.run({ try? String(contentsOfFile: tokenPath, encoding: .utf8) }) else {
            throw KubernetesError(message: "cannot read the service-account token at \(tokenPath)")
        }
        let request = HTTPRequest(method: "GET", url: baseURL + path, headers: [
            ("Authorization", "Bearer " + token.trimmingCharacters(in: .whitespacesAndNewlines)),
            ("Accept", "application/json"),
        ])
        let r: HTTPResponse
        do {
            r = try await http.execute(request, limit: 4 << 20, options: transport)
        } catch {
            throw KubernetesError(message: "cannot reach the Kubernetes API at \(baseURL) to read \(what): \(error)")
        }
        switch r.status {
        case 200:
            guard let obj = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
                throw KubernetesError(message: "the Kubernetes API answered \(what) with something that is not a JSON object")
            }
            return obj
        case 401:
            throw KubernetesError(message: "the Kubernetes API rejected the pod's service-account token (401) reading \(what)", status: 401)
        case 403:
            throw KubernetesError(message: "the pod's service account may not read \(what) in namespace \(namespace) (403 Forbidden; RBAC: it needs `get` on it): \(Self.statusMessage(r.body))", status: 403)
        case 404:
            throw KubernetesError(message: "\(what) not found in namespace \(namespace)", status: 404)
        default:
            throw KubernetesError(message: "the Kubernetes API answered \(r.status) reading \(what): \(Self.statusMessage(r.body))", status: r.status)
        }
    }

    /// The decoded data of a Secret in the pod's namespace, byte for byte. Concurrent reads of
    /// the same Secret (an access key and its secret key) share one GET.
    public func secretData(_ name: String) async throws -> [String: [UInt8]] {
        try await secretReads.run(name) { [self] in
            let obj = try await get("/api/v1/namespaces/\(URIEncoding.encode(namespace))/secrets/\(URIEncoding.encode(name))", what: "secret \(name)")
            var out: [String: [UInt8]] = [:]
            for (k, v) in (obj["data"] as? [String: Any]) ?? [:] {
                guard let b64 = v as? String, let raw = Data(base64Encoded: b64) else {
                    throw KubernetesError(message: "secret \(name) key \(k) is not valid base64")
                }
                out[k] = [UInt8](raw)
            }
            return out
        }
    }

    /// One value of a Secret exactly as stored (Argo reads an SSE-C passphrase so: a trailing
    /// newline is part of it).
    public func secretBytes(_ ref: SecretReference) async throws -> [UInt8] {
        guard let v = try await secretData(ref.name)[ref.key] else {
            throw KubernetesError(message: "secret \(ref.name) in namespace \(namespace) has no key \(ref.key)")
        }
        return v
    }

    /// GETs of Secrets made so far (each concurrent group counts once).
    public var secretGetCount: Int { secretReads.callCount }

    /// One value of a Secret in the pod's namespace, decoded.
    public func secretValue(_ ref: SecretReference) async throws -> String {
        // Credentials and CA bundles as Argo reads them: surrounding whitespace (a newline from
        // `--from-file`, most often) is not part of a key.
        String(decoding: try await secretBytes(ref), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func statusMessage(_ body: [UInt8]) -> String {
        if let obj = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let m = obj["message"] as? String {
            return Echo.clip(m, limit: 512, keep: .head)
        }
        return Echo.clip(String(decoding: body.prefix(300), as: UTF8.self), limit: 300, keep: .head)
    }
}

/// The cluster's API, made once per process on first use (reading the service-account files),
/// shared by every store and the GC policy.
public final class KubernetesAccess: Sendable {
    private let environment: [String: String]
    private let http: HTTPClient
    private let io: IOPool
    private let made = Locked<Result<KubernetesClient, KubernetesError>?>(nil)
    private let making = SingleFlight<Int, KubernetesClient>()

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, http: HTTPClient = .shared, io: IOPool = .shared) {
        self.environment = environment
        self.http = http
        self.io = io
    }

    public static let shared = KubernetesAccess()

    public func client() async throws -> KubernetesClient {
        if let m = made.withLock({ $0 }) { return try m.get() }
        let (env, http, io) = (environment, http, io)
        do {
            let c = try await making.run(0) { try await KubernetesClient.inCluster(environment: env, http: http, io: io) }
            made.withLock { $0 = .success(c) }
            return c
        } catch let e as KubernetesError {
            throw e
        } catch {
            throw KubernetesError(message: "\(error)")
        }
    }
}
