import ArtifactCore
import Foundation
import Kubernetes
import PluginSupport
import StoreHTTP
import StoreRuntime

/// S3 credentials, in Argo's order: the configuration's Secrets; with `useSDKCreds`, the
/// AWS environment variables, then a web-identity token (IRSA) exchanged at STS.
enum S3Credentials {
    static func provider(_ c: PluginConfiguration, settings: S3Settings, environment: StoreEnvironment) throws -> CredentialProvider {
        let env = environment.processEnvironment, kubernetes = environment.kubernetes
        if let ak = c.credentials.accessKeySecret, let sk = c.credentials.secretKeySecret {
            let token = c.credentials.sessionTokenSecret
            return CredentialProvider(source: "\(ak) and \(sk)") {
                do {
                    // Keys in one Secret come with one GET (the client shares concurrent reads).
                    let k8s = try await kubernetes.client()
                    async let id = k8s.secretValue(ak)
                    async let secret = k8s.secretValue(sk)
                    let session = token == nil ? nil : try await k8s.secretValue(token!)
                    return Credentials(accessKeyID: try await id, secretAccessKey: try await secret, sessionToken: session)
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
        if let tokenFile = env["AWS_WEB_IDENTITY_TOKEN_FILE"], let role = settings.roleARN ?? env["AWS_ROLE_ARN"] {
            let region = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? c.region ?? "us-east-1"
            let endpoint = env["AWS_ENDPOINT_URL_STS"] ?? "https://sts.\(region).amazonaws.com"
            let session = env["AWS_ROLE_SESSION_NAME"] ?? "argo-artifact-plugin-\(env["ARGO_POD_NAME"] ?? env["HOSTNAME"] ?? "pod")"
            return CredentialProvider(source: "web identity (role \(role))") {
                try await STS.assumeRoleWithWebIdentity(endpoint: endpoint, roleARN: role, sessionName: session, tokenFile: tokenFile,
                                                   http: environment.http, io: environment.io)
            }
        }
        throw CredentialError(message: "useSDKCreds is set but no credentials were found: neither AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY nor AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE are in the environment")
    }
}

/// AWS STS AssumeRoleWithWebIdentity (the token is the proof; the request is not signed).
enum STS {
    static func assumeRoleWithWebIdentity(endpoint: String, roleARN: String, sessionName: String, tokenFile: String,
                                          http: any HTTPTransport, io: IOPool) async throws -> Credentials {
        guard let token = try await io.run({ try? String(contentsOfFile: tokenFile, encoding: .utf8) }) else {
            throw CredentialError(message: "cannot read the web-identity token file \(tokenFile)")
        }
        let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
                    ("RoleSessionName", String(sessionName.prefix(64))), ("DurationSeconds", "3600"),
                    ("WebIdentityToken", token.trimmingCharacters(in: .whitespacesAndNewlines))]
            .map { "\($0.0)=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        let r: HTTPResponse
        do {
            r = try await http.execute(HTTPRequest(method: "POST", url: endpoint + "/", headers: [
                ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/xml"),
            ], body: .bytes(Array(form.utf8))), limit: 1 << 20, options: HTTPTransportOptions())
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

