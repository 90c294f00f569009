import COpenSSL
import PluginSupport

/// Hashes and MACs from OpenSSL 3 (EVP only), behind Swift types: no C pointers leak out.
public struct Digest: ~Copyable {
    public enum Algorithm: Sendable {
        case md5, sha256
        var evp: OpaquePointer? {
            switch self {
            case .md5: return EVP_md5()
            case .sha256: return EVP_sha256()
            }
        }
        var size: Int { self == .md5 ? 16 : 32 }
    }

    private let ctx: OpaquePointer
    private let algorithm: Algorithm

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, algorithm.evp, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public mutating func update<B: Sequence>(_ bytes: B) where B.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    public consuming func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.size)
        var n: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &n)
        return out
    }

    /// Loads OpenSSL's configuration and algorithms now (they are read from disk on first
    /// use): call it once at start-up, on a thread that may block.
    public static func prepare() {
        _ = sha256([UInt8]())
        _ = hmacSHA256(key: [0], [0])
    }

    public static func hash(_ algorithm: Algorithm, _ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var d = Digest(algorithm)
        d.update(bytes)
        return d.finish()
    }

    public static func sha256<B: Sequence>(_ bytes: B) -> [UInt8] where B.Element == UInt8 {
        var d = Digest(.sha256)
        d.update(bytes)
        return d.finish()
    }

    public static func md5<B: Sequence>(_ bytes: B) -> [UInt8] where B.Element == UInt8 {
        var d = Digest(.md5)
        d.update(bytes)
        return d.finish()
    }

    /// HMAC-SHA256 (EVP_Q_mac).
    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLen = 0
        key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                _ = EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, k.baseAddress, k.count, d.baseAddress, d.count, &out, 32, &outLen)
            }
        }
        return out
    }
}
