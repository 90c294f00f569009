import Foundation

/// Failures talking to the Kubernetes API, worded for the operator who must fix RBAC or a name.
public struct KubernetesError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var status: Int?
    public var description: String { message }
}

/// The in-cluster Kubernetes API as a pod sees it: address from KUBERNETES_SERVICE_HOST/PORT,
/// token, CA and namespace from the service-account mount. (`ARGO_PLUGIN_SERVICEACCOUNT_DIR`
/// moves the mount, for tests against an API double.)
public final class KubernetesClient: Sendable {
    public let baseURL: String
    public let namespace: String
    private let serviceAccountDir: String
    private let transport: HTTPTransportOptions
    private let http: HTTPClient

    public static let defaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, http: HTTPClient = .shared) throws {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw KubernetesError(message: "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set), so Secrets cannot be read; use useSDKCreds or run in-cluster")
        }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        let h = host.contains(":") ? "[\(host)]" : host
        baseURL = "https://\(h):\(port)"
        serviceAccountDir = environment["ARGO_PLUGIN_SERVICEACCOUNT_DIR"] ?? Self.defaultServiceAccountDir
        guard let ns = try? String(contentsOfFile: serviceAccountDir + "/namespace", encoding: .utf8) else {
            throw KubernetesError(message: "no service-account namespace at \(serviceAccountDir)/namespace; is a service-account token mounted in this pod?")
        }
        namespace = ns.trimmingCharacters(in: .whitespacesAndNewlines)
        var t = HTTPTransportOptions()
        t.caPEM = try? String(contentsOfFile: serviceAccountDir + "/ca.crt", encoding: .utf8)
        transport = t
        self.http = http
    }

    /// GET of an API path (`/api/v1/namespaces/ns/secrets/name`), decoded JSON object.
    /// `what` names the object in error texts ("secret my-cred").
    public func get(_ path: String, what: String) async throws -> [String: Any] {
        guard let token = try? String(contentsOfFile: serviceAccountDir + "/token", encoding: .utf8) else {
            throw KubernetesError(message: "cannot read the service-account token at \(serviceAccountDir)/token")
        }
        let request = HTTPRequest(method: "GET", url: baseURL + path, headers: [
            ("Authorization", "Bearer " + token.trimmingCharacters(in: .whitespacesAndNewlines)),
            ("Accept", "application/json"),
        ])
        let r: HTTPResponse
        do {
            r = try await http.execute(request, body: .buffer(limit: 4 << 20), options: transport)
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

    /// One value of a Secret in the pod's namespace, decoded.
    public func secretValue(_ ref: SecretReference) async throws -> String {
        let obj = try await get("/api/v1/namespaces/\(URIEncoding.encode(namespace))/secrets/\(URIEncoding.encode(ref.name))", what: "secret \(ref.name)")
        guard let data = obj["data"] as? [String: Any], let b64 = data[ref.key] as? String else {
            throw KubernetesError(message: "secret \(ref.name) in namespace \(namespace) has no key \(ref.key)")
        }
        guard let raw = Data(base64Encoded: b64) else {
            throw KubernetesError(message: "secret \(ref.name) key \(ref.key) is not valid base64")
        }
        return String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func statusMessage(_ body: [UInt8]) -> String {
        if let obj = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let m = obj["message"] as? String { return m }
        return String(decoding: body.prefix(300), as: UTF8.self)
    }
}
