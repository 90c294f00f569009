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

    var fingerprint: String {
        switch mode {
        case .storeManaged: return "sse-s3"
        case .kms(let id, let context): return "sse-kms:\(id):\(context ?? "")"
        case .customerKey(let ref): return "sse-c:\(ref.name)/\(ref.key)"
        }
    }

    func retain(_ key: String) async throws { try await customerKeys?.retain(key) }
    func release(_ key: String) { customerKeys?.release(key) }

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
            // AWS reports the key's ARN, RGW the id as given; an alias resolves to a key whose
            // ARN does not name it, so for an alias the kind is what can be checked.
            let reportedKey = r.header("x-amz-server-side-encryption-aws-kms-key-id") ?? ""
            let isAlias = id.hasPrefix("alias/") || id.contains(":alias/")
            return sse == "aws:kms" && (isAlias || reportedKey == id || reportedKey.hasSuffix("/\(id)") || reportedKey.hasSuffix(":\(id)"))
                ? nil : Self.reported(r)
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
/// on the I/O pool; concurrent requests for one object share one derivation. A transfer retains
/// its object's key before it claims any memory of its own (a derivation waiting for room that
/// the same transfer holds would wait for ever) and releases it when done; keys no transfer
/// holds are dropped once many are kept. The Secret is read once per store.
final class CustomerKeys: Sendable {
    private let secret: @Sendable () async throws -> [UInt8]
    private let bucket: String
    private let budget: MemoryBudget
    private let io: IOPool
    private let keys = Locked([String: (key: [UInt8], holders: Int)]())
    private let deriving = SingleFlight<String, [UInt8]>()
    private let secretRead = SingleFlight<Int, [UInt8]>()
    private let secretValue = Locked<[UInt8]?>(nil)
    static let kept = 1024

    init(bucket: String, budget: MemoryBudget, io: IOPool, secret: @escaping @Sendable () async throws -> [UInt8]) {
        self.bucket = bucket
        self.budget = budget
        self.io = io
        self.secret = secret
    }

    func retain(_ objectKey: String) async throws {
        let k = try await key(for: objectKey)
        keys.withLock { m in
            var entry = m[objectKey] ?? (k, 0)
            entry.holders += 1
            m[objectKey] = entry
        }
    }

    func release(_ objectKey: String) {
        keys.withLock { m in
            if var entry = m[objectKey] {
                entry.holders = max(0, entry.holders - 1)
                m[objectKey] = entry
            }
        }
    }

    func key(for objectKey: String) async throws -> [UInt8] {
        if let k = keys.withLock({ $0[objectKey]?.key }) { return k }
        let k = try await deriving.run(objectKey) { [self] in
            let password = try await passphrase()
            let salt = Array((bucket + objectKey).utf8)
            let p = Argon2id.Parameters.minioDefault
            return try await budget.withReservation(p.memoryBytes, for: "an SSE-C key derivation (Argon2id, 64 MiB, as Argo's S3 driver)") {
                try await io.run { try Argon2id.derive(password: password, salt: salt, p) }
            }
        }
        keys.withLock { m in
            if m.count >= Self.kept { m = m.filter { $0.value.holders > 0 } }
            if m[objectKey] == nil { m[objectKey] = (k, 0) }
        }
        return k
    }

    private func passphrase() async throws -> [UInt8] {
        if let s = secretValue.withLock({ $0 }) { return s }
        let s = try await secretRead.run(0) { try await self.secret() }
        secretValue.withLock { $0 = s }
        return s
    }
}
