import ArtifactCore
import PluginSupport
import StoreHTTP

/// OSS server-side encryption: `x-oss-server-side-encryption: AES256` (OSS-managed keys), or
/// `KMS` with `x-oss-server-side-encryption-key-id`, on the requests that create an object. Reads
/// need nothing. The answer to a write, and a HEAD, report what OSS applied.
public struct OSSEncryption: ServerSideEncryption, Hashable {
    public var enabled: Bool
    public var kmsKeyID: String?

    public init(enabled: Bool, kmsKeyID: String?) {
        self.enabled = enabled
        self.kmsKeyID = kmsKeyID
    }

    public var summary: String {
        kmsKeyID.map { "KMS encryption with key \(Echo.quoted($0))" } ?? "OSS-managed encryption (x-oss-server-side-encryption: AES256)"
    }

    public var fingerprint: String { "oss-sse:" + (kmsKeyID.map { "kms:\($0)" } ?? "aes256") }

    public func headers(_ role: EncryptionRole, key: String) async throws -> [(String, String)] {
        guard role == .write else { return [] }
        if let id = kmsKeyID { return [("x-oss-server-side-encryption", "KMS"), ("x-oss-server-side-encryption-key-id", id)] }
        return [("x-oss-server-side-encryption", "AES256")]
    }

    public func mismatch(_ r: HTTPResponse) -> String? {
        let sse = r.header("x-oss-server-side-encryption")
        if let id = kmsKeyID {
            if sse == "KMS", r.header("x-oss-server-side-encryption-key-id") == id { return nil }
        } else if sse == "AES256" {
            return nil
        }
        let said = [sse.map { "x-oss-server-side-encryption: \($0)" },
                    r.header("x-oss-server-side-encryption-key-id").map { "key \(Echo.quoted($0))" }].compactMap { $0 }
        return said.isEmpty ? "no encryption" : said.joined(separator: ", ")
    }
}
