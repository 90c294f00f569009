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

/// OSS credentials: the configuration's Secrets (with Argo's inline `securityToken`); with
/// `useSDKCreds`, the Alibaba Cloud (or OSS_*) environment variables, then RRSA: the pod's OIDC
/// token exchanged at STS (AssumeRoleWithOIDC) for temporary credentials.
enum OSSCredentials {
    static func provider(_ c: PluginConfiguration, environment environ: [String: String] = ProcessInfo.processInfo.environment) throws -> CredentialProvider {
        if let ak = c.credentials.accessKeySecret, let sk = c.credentials.secretKeySecret {
            let inlineToken = c.credentials.securityToken
            let tokenRef = c.credentials.sessionTokenSecret
            return CredentialProvider(source: "\(ak) and \(sk)") {
                do {
                    let k8s = try KubernetesClient(environment: environ)
                    let token = tokenRef == nil ? inlineToken : try await k8s.secretValue(tokenRef!)
                    return Credentials(accessKeyID: try await k8s.secretValue(ak), secretAccessKey: try await k8s.secretValue(sk),
                                       sessionToken: token.flatMap { $0.isEmpty ? nil : $0 })
                } catch let e as KubernetesError {
                    throw CredentialError(message: "cannot get the store credentials: \(e.message)")
                }
            }
        }
        guard c.credentials.useSDKCreds else {
            throw CredentialError(message: "no credentials configured: set accessKeySecret and secretKeySecret (Kubernetes Secret references), or useSDKCreds: true")
        }
        func env(_ names: String...) -> String? { names.lazy.compactMap { environ[$0] }.first { !$0.isEmpty } }
        if let id = env("ALIBABA_CLOUD_ACCESS_KEY_ID", "OSS_ACCESS_KEY_ID"), let secret = env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "OSS_ACCESS_KEY_SECRET") {
            let token = env("ALIBABA_CLOUD_SECURITY_TOKEN", "OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN") ?? c.credentials.securityToken
            return .fixed(Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token), source: "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)")
        }
        if let role = env("ALIBABA_CLOUD_ROLE_ARN"), let provider = env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"), let tokenFile = env("ALIBABA_CLOUD_OIDC_TOKEN_FILE") {
            let endpoint = env("ALIBABA_CLOUD_STS_ENDPOINT").map { $0.hasPrefix("http") ? $0 : "https://\($0)" }
                ?? (c.region.map { "https://sts.\($0).aliyuncs.com" } ?? "https://sts.aliyuncs.com")
            let session = env("ALIBABA_CLOUD_ROLE_SESSION_NAME") ?? "argo-artifact-plugin-\(env("ARGO_POD_NAME", "HOSTNAME") ?? "pod")"
            return CredentialProvider(source: "RRSA (role \(role))") {
                try await AlibabaSTS.assumeRoleWithOIDC(endpoint: endpoint, roleARN: role, providerARN: provider, tokenFile: tokenFile, sessionName: session)
            }
        }
        throw CredentialError(message: "useSDKCreds is set but no credentials were found: neither ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (or OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET) nor RRSA's ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE are in the environment")
    }
}

/// Alibaba Cloud STS AssumeRoleWithOIDC (anonymous: the OIDC token is the proof).
enum AlibabaSTS {
    static func assumeRoleWithOIDC(endpoint: String, roleARN: String, providerARN: String, tokenFile: String, sessionName: String) async throws -> Credentials {
        guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
            throw CredentialError(message: "cannot read the RRSA OIDC token file \(tokenFile)")
        }
        let now = HTTPDate.components(HTTPDate.now())
        let timestamp = "\(String(now.year).leftPadded(to: 4))-\(String(now.month).leftPadded(to: 2))-\(String(now.day).leftPadded(to: 2))T\(String(now.hour).leftPadded(to: 2)):\(String(now.minute).leftPadded(to: 2)):\(String(now.second).leftPadded(to: 2))Z"
        let query = [("Action", "AssumeRoleWithOIDC"), ("Format", "JSON"), ("Version", "2015-04-01"), ("Timestamp", timestamp)]
            .map { "\($0.0)=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        let form = [("RoleArn", roleARN), ("OIDCProviderArn", providerARN), ("OIDCToken", token.trimmingCharacters(in: .whitespacesAndNewlines)),
                    ("RoleSessionName", String(sessionName.prefix(64))), ("DurationSeconds", "3600")]
            .map { "\($0.0)=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        let r: HTTPResponse
        do {
            r = try await HTTPClient.shared.execute(HTTPRequest(method: "POST", url: endpoint + "/?" + query, headers: [
                ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
            ], body: .bytes(Array(form.utf8))))
        } catch {
            throw CredentialError(message: "cannot reach STS at \(endpoint) to assume role \(roleARN) with RRSA: \(error)")
        }
        let obj = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
        guard r.status == 200, let c = obj?["Credentials"] as? [String: Any], let id = c["AccessKeyId"] as? String,
              let secret = c["AccessKeySecret"] as? String else {
            let code = obj?["Code"] as? String ?? "HTTP \(r.status)"
            let message = obj?["Message"] as? String ?? ""
            throw CredentialError(message: "STS refused AssumeRoleWithOIDC for role \(roleARN): \(code) \(message)")
        }
        return Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: c["SecurityToken"] as? String,
                           expiration: (c["Expiration"] as? String).flatMap(HTTPDate.parseISO8601))
    }
}
