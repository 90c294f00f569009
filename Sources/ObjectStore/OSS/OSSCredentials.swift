import ArtifactCore
import Foundation
import Kubernetes
import PluginSupport
import StoreHTTP
import StoreRuntime

/// OSS credentials: the configuration's Secrets (with Argo's inline `securityToken`); with
/// `useSDKCreds`, the Alibaba Cloud (or OSS_*) environment variables, then RRSA: the pod's OIDC
/// token exchanged at STS (AssumeRoleWithOIDC) for temporary credentials.
enum OSSCredentials {
    static func provider(_ c: PluginConfiguration, settings: OSSSettings, environment: StoreEnvironment) throws -> CredentialProvider {
        let environ = environment.processEnvironment, kubernetes = environment.kubernetes
        if let ak = c.credentials.accessKeySecret, let sk = c.credentials.secretKeySecret {
            let inlineToken = settings.securityToken
            let tokenRef = c.credentials.sessionTokenSecret
            return CredentialProvider(source: "\(ak) and \(sk)") {
                do {
                    let k8s = try await kubernetes.client()
                    async let id = k8s.secretValue(ak)
                    async let secret = k8s.secretValue(sk)
                    let token = tokenRef == nil ? inlineToken : try await k8s.secretValue(tokenRef!)
                    return Credentials(accessKeyID: try await id, secretAccessKey: try await secret,
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
            let token = env("ALIBABA_CLOUD_SECURITY_TOKEN", "OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN") ?? settings.securityToken
            return .fixed(Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token), source: "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)")
        }
        if let role = env("ALIBABA_CLOUD_ROLE_ARN"), let provider = env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"), let tokenFile = env("ALIBABA_CLOUD_OIDC_TOKEN_FILE") {
            let endpoint = env("ALIBABA_CLOUD_STS_ENDPOINT").map { $0.hasPrefix("http") ? $0 : "https://\($0)" }
                ?? (c.region.map { "https://sts.\($0).aliyuncs.com" } ?? "https://sts.aliyuncs.com")
            let session = env("ALIBABA_CLOUD_ROLE_SESSION_NAME") ?? "argo-artifact-plugin-\(env("ARGO_POD_NAME", "HOSTNAME") ?? "pod")"
            return CredentialProvider(source: "RRSA (role \(role))") {
                try await AlibabaSTS.assumeRoleWithOIDC(endpoint: endpoint, roleARN: role, providerARN: provider, tokenFile: tokenFile, sessionName: session,
                                                         http: environment.http, io: environment.io)
            }
        }
        throw CredentialError(message: "useSDKCreds is set but no credentials were found: neither ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (or OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET) nor RRSA's ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE are in the environment")
    }
}

/// Alibaba Cloud STS AssumeRoleWithOIDC (anonymous: the OIDC token is the proof).
enum AlibabaSTS {
    static func assumeRoleWithOIDC(endpoint: String, roleARN: String, providerARN: String, tokenFile: String, sessionName: String,
                                   http: any HTTPTransport, io: IOPool) async throws -> Credentials {
        guard let token = try await io.run({ try? String(contentsOfFile: tokenFile, encoding: .utf8) }) else {
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
            r = try await http.execute(HTTPRequest(method: "POST", url: endpoint + "/?" + query, headers: [
                ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
            ], body: .bytes(Array(form.utf8))), limit: 1 << 20, options: HTTPTransportOptions())
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
