import ArtifactCore
import Checksums
import Foundation
import PluginSupport
import StoreHTTP

/// S3's server-side encryption headers, and what a store's answer must report for each kind.
struct S3ServerSideEncryption: ServerSideEncryption {
    let mode: S3EncryptionMode
    /// SSE-C: the per-object keys.
    let customerKeys: CustomerKeys?

    var summary: String {
        switch mode {
        case .storeManaged: return "SSE-S3 (x-amz-server-side-encryption: AES256)"
        case .kms(let id, _): return "SSE-KMS with key \(Echo.quoted(id))"
        case .customerKey(let ref): return "SSE-C with the key derived from \(ref)"
        }
    }

    func headers(_ role: EncryptionRole, key: String) async throws -> [(String, String)] {
        switch (mode, role) {
        case (_, .none): return []
        case (.storeManaged, .write): return [("x-amz-server-side-encryption", "AES256")]
        case (.kms(let id, let context), .write):
            var h = [("x-amz-server-side-encryption", "aws:kms"), ("x-amz-server-side-encryption-aws-kms-key-id", id)]
            if let context { h.append(("x-amz-server-side-encryption-context", Data(context.utf8).base64EncodedString())) }
            return h
        case (.storeManaged, .data), (.kms, .data): return []
        case (.customerKey, _):
            let k = try await customerKeys!.key(for: key)
            return [("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                    ("x-amz-server-side-encryption-customer-key", Data(k).base64EncodedString()),
                    ("x-amz-server-side-encryption-customer-key-MD5", Data(Digest.md5(k)).base64EncodedString())]
        }
    }

    func mismatch(_ r: HTTPResponse) -> String? {
        let sse = r.header("x-amz-server-side-encryption")
        switch mode {
        case .storeManaged:
            return sse == "AES256" ? nil : Self.reported(r)
        case .kms(let id, _):
            // AWS reports the key's ARN, RGW the id as given.
            let reportedKey = r.header("x-amz-server-side-encryption-aws-kms-key-id") ?? ""
            return sse == "aws:kms" && (reportedKey == id || reportedKey.hasSuffix("/\(id)") || reportedKey.hasSuffix(":\(id)")) ? nil : Self.reported(r)
        case .customerKey:
            return r.header("x-amz-server-side-encryption-customer-algorithm") == "AES256" ? nil : Self.reported(r)
        }
    }

    static func reported(_ r: HTTPResponse) -> String {
        let said = [r.header("x-amz-server-side-encryption").map { "x-amz-server-side-encryption: \($0)" },
                    r.header("x-amz-server-side-encryption-aws-kms-key-id").map { "key \(Echo.quoted($0))" },
                    r.header("x-amz-server-side-encryption-customer-algorithm").map { "a customer key (\($0))" }].compactMap { $0 }
        return said.isEmpty ? "no encryption" : said.joined(separator: ", ")
    }
}

/// SSE-C keys, derived per object as Argo's S3 driver derives them (minio-go's DefaultPBKDF:
/// Argon2id of the Secret's value, salted with bucket + key), so that objects either writes the
/// other reads. A derivation takes 64 MiB for a moment (claimed from the memory budget) and runs
/// on the I/O pool; keys are kept per object key, and concurrent parts of one object share one
/// derivation.
final class CustomerKeys: Sendable {
    private let secret: @Sendable () async throws -> [UInt8]
    private let bucket: String
    private let budget: MemoryBudget
    private let io: IOPool
    private let derived = Locked([String: [UInt8]]())
    private let deriving = SingleFlight<String, [UInt8]>()
    static let kept = 1024

    init(bucket: String, budget: MemoryBudget, io: IOPool, secret: @escaping @Sendable () async throws -> [UInt8]) {
        self.bucket = bucket
        self.budget = budget
        self.io = io
        self.secret = secret
    }

    func key(for objectKey: String) async throws -> [UInt8] {
        if let k = derived.withLock({ $0[objectKey] }) { return k }
        let k = try await deriving.run(objectKey) { [self] in
            let password = try await secret()
            let salt = Array((bucket + objectKey).utf8)
            let p = Argon2id.Parameters.minioDefault
            return try await budget.withReservation(p.memoryBytes, for: "an SSE-C key derivation (Argon2id, 64 MiB, as Argo's S3 driver)") {
                try await io.run { try Argon2id.derive(password: password, salt: salt, p) }
            }
        }
        derived.withLock { d in
            if d.count >= Self.kept { d.removeAll() }
            d[objectKey] = k
        }
        return k
    }
}
