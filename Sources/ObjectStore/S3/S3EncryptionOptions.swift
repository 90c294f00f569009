import ArtifactCore
import Foundation
import PluginSupport

/// Argo's `S3EncryptionOptions`, read with Argo's rules (workflow/artifacts/s3/s3.go): nothing is
/// encrypted unless `enableEncryption` is true; then a customer key (SSE-C) wins, else a KMS key
/// (SSE-KMS, with an optional encryption context), else the store's own keys (SSE-S3). A customer
/// key and a KMS key cannot go together, and a customer key needs TLS (here: or a loopback
/// endpoint, for tests).
public struct S3EncryptionOptions: Sendable, Hashable {
    public var enableEncryption = false
    public var kmsKeyID: String?
    /// The JSON object as written (validated); sent base64-encoded.
    public var kmsEncryptionContext: String?
    public var customerKeySecret: SecretReference?

    public init() {}

    /// What the store is asked to do, by Argo's precedence; nil: no encryption.
    public var mode: S3EncryptionMode? {
        guard enableEncryption else { return nil }
        if let secret = customerKeySecret { return .customerKey(secret) }
        if let id = kmsKeyID, !id.isEmpty { return .kms(keyID: id, context: kmsEncryptionContext) }
        return .storeManaged
    }

    static func parse(_ f: ConfigFields, endpoint: Endpoint, insecure: Bool?) throws -> S3EncryptionOptions {
        var o = S3EncryptionOptions()
        o.enableEncryption = try f.bool("enableEncryption") ?? false
        o.kmsKeyID = try f.string("kmsKeyId").flatMap { $0.isEmpty ? nil : $0 }
        o.customerKeySecret = try f.secret("serverSideCustomerKeySecret")
        let at = { (name: String) in f.line(of: name) ?? f.line }
        if o.customerKeySecret != nil && o.kmsKeyID != nil {
            throw ConfigError("encryptionOptions", "serverSideCustomerKeySecret and kmsKeyId cannot be set together (as in Argo)", line: f.line)
        }
        if let context = try f.string("kmsEncryptionContext"), !context.isEmpty {
            guard o.kmsKeyID != nil else {
                throw ConfigError("encryptionOptions.kmsEncryptionContext", "needs kmsKeyId (a context goes with a KMS key)", line: at("kmsEncryptionContext"))
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(context.utf8)), object is [String: Any] else {
                throw ConfigError("encryptionOptions.kmsEncryptionContext", "must be a JSON object such as {\"team\": \"data\"}", line: at("kmsEncryptionContext"))
            }
            o.kmsEncryptionContext = context
        }
        if o.enableEncryption, o.customerKeySecret != nil, endpoint.scheme == "http" || (endpoint.scheme == nil && insecure == true),
           !endpoint.isLoopback {
            throw ConfigError("encryptionOptions.serverSideCustomerKeySecret",
                              "needs TLS: the customer key is sent with every request; use an https endpoint (insecure: false)", line: at("serverSideCustomerKeySecret"))
        }
        return o
    }

    /// Back as a YAML flow mapping (`config check`; it parses again to the same options).
    var yaml: String {
        var parts = ["enableEncryption: \(enableEncryption)"]
        if let k = kmsKeyID { parts.append("kmsKeyId: \(YAMLScalar.quote(k))") }
        if let c = kmsEncryptionContext { parts.append("kmsEncryptionContext: \(YAMLScalar.quote(c))") }
        if let s = customerKeySecret { parts.append("serverSideCustomerKeySecret: \(s.yaml)") }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

/// The server-side encryption an S3 store is asked for.
public enum S3EncryptionMode: Sendable, Hashable {
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    case storeManaged
    /// SSE-KMS with a key id and an optional context (JSON).
    case kms(keyID: String, context: String?)
    /// SSE-C with a key derived per object from the Secret's value.
    case customerKey(SecretReference)
}
