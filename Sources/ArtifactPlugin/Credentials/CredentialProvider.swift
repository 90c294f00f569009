import Foundation
import PluginRPC

/// Where credentials come from, resolved lazily, cached, and refreshed shortly before they
/// expire (temporary ones) or every few minutes (Secrets may be rotated).
public final class CredentialProvider: @unchecked Sendable {
    public typealias Resolve = @Sendable () async throws -> Credentials

    private let resolve: Resolve
    private let describeSource: String
    private let cached = Locked<(value: Credentials, validUntil: Int64)?>(nil)
    private let refreshMargin: Int64
    private let staticTTL: Int64

    /// `source` says where they come from, for messages ("secret my-cred", "environment").
    public init(source: String, refreshMargin: Int64 = 300, staticTTL: Int64 = 600, _ resolve: @escaping Resolve) {
        self.resolve = resolve
        self.describeSource = source
        self.refreshMargin = refreshMargin
        self.staticTTL = staticTTL
    }

    public var source: String { describeSource }

    public func credentials(now: Int64 = HTTPDate.now()) async throws -> Credentials {
        if let c = cached.current, now < c.validUntil { return c.value }
        let fresh = try await resolve()
        let until = fresh.expiration.map { $0 - refreshMargin } ?? now + staticTTL
        cached.withLock { $0 = (fresh, max(until, now + 1)) }
        return fresh
    }

    /// Drops the cache (after the store rejected the credentials: they may have been rotated).
    public func invalidate() { cached.withLock { $0 = nil } }

    public static func fixed(_ c: Credentials, source: String) -> CredentialProvider {
        CredentialProvider(source: source, staticTTL: Int64.max / 2) { c }
    }
}

/// Thrown when a configuration names no way to get credentials, or that way fails.
public struct CredentialError: Error, CustomStringConvertible, Sendable, RPCStatusConvertible {
    public var message: String
    public var description: String { message }
    public var rpcError: RPCError { RPCError(.unauthenticated, message) }
}

/// S3 credentials, in Argo's order: the configuration's Secrets; with `useSDKCreds`, the
/// AWS environment variables, then a web-identity token (IRSA) exchanged at STS.
enum S3Credentials {
    static func provider(_ c: PluginConfiguration, environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> CredentialProvider {
        if let ak = c.credentials.accessKeySecret, let sk = c.credentials.secretKeySecret {
            let token = c.credentials.sessionTokenSecret
            return CredentialProvider(source: "\(ak) and \(sk)") {
                do {
                    let k8s = try KubernetesClient(environment: env)
                    return Credentials(accessKeyID: try await k8s.secretValue(ak),
                                       secretAccessKey: try await k8s.secretValue(sk),
                                       sessionToken: token == nil ? nil : try await k8s.secretValue(token!))
                } catch let e as KubernetesError {
                    throw CredentialError(message: "cannot get the store credentials: \(e.message)")
                }
            }
        }
        guard c.credentials.useSDKCreds else {
            throw CredentialError(message: "no credentials configured: set accessKeySecret and secretKeySecret (Kubernetes Secret references), or useSDKCreds: true")
        }
        if let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"], !id.isEmpty, !secret.isEmpty {
            return .fixed(Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }),
                          source: "environment (AWS_ACCESS_KEY_ID)")
        }
        if let tokenFile = env["AWS_WEB_IDENTITY_TOKEN_FILE"], let role = c.credentials.roleARN ?? env["AWS_ROLE_ARN"] {
            let region = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? c.region ?? "us-east-1"
            let endpoint = env["AWS_ENDPOINT_URL_STS"] ?? "https://sts.\(region).amazonaws.com"
            let session = env["AWS_ROLE_SESSION_NAME"] ?? "argo-artifact-plugin-\(env["ARGO_POD_NAME"] ?? env["HOSTNAME"] ?? "pod")"
            return CredentialProvider(source: "web identity (role \(role))") {
                try await STS.assumeRoleWithWebIdentity(endpoint: endpoint, roleARN: role, sessionName: session, tokenFile: tokenFile)
            }
        }
        throw CredentialError(message: "useSDKCreds is set but no credentials were found: neither AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY nor AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE are in the environment")
    }
}

/// AWS STS AssumeRoleWithWebIdentity (the token is the proof; the request is not signed).
enum STS {
    static func assumeRoleWithWebIdentity(endpoint: String, roleARN: String, sessionName: String, tokenFile: String) async throws -> Credentials {
        guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
            throw CredentialError(message: "cannot read the web-identity token file \(tokenFile)")
        }
        let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
                    ("RoleSessionName", String(sessionName.prefix(64))), ("DurationSeconds", "3600"),
                    ("WebIdentityToken", token.trimmingCharacters(in: .whitespacesAndNewlines))]
            .map { "\($0.0)=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        let r: HTTPResponse
        do {
            r = try await HTTPClient.shared.execute(HTTPRequest(method: "POST", url: endpoint + "/", headers: [
                ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/xml"),
            ], body: .bytes(Array(form.utf8))))
        } catch {
            throw CredentialError(message: "cannot reach STS at \(endpoint) to assume role \(roleARN): \(error)")
        }
        let (_, fields) = (try? XMLReader.records(r.body, record: "Credentials")) ?? ([], [:])
        let recs = (try? XMLReader.records(r.body, record: "Credentials").records) ?? []
        guard r.status == 200, let c = recs.first, let id = c["AccessKeyId"], let secret = c["SecretAccessKey"] else {
            throw CredentialError(message: "STS refused AssumeRoleWithWebIdentity for role \(roleARN): HTTP \(r.status) \(fields["Code"] ?? "") \(fields["Message"] ?? "")")
        }
        return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: c["SessionToken"],
                           expiration: c["Expiration"].flatMap(HTTPDate.parseISO8601))
    }
}
