import CArgon2

/// Argon2id (RFC 9106, version 1.3) through the reference library. The blocking, memory-hard
/// call: run it on the I/O pool, with its memory claimed from the budget.
public enum Argon2id {
    public struct Parameters: Sendable, Equatable {
        public var passes: UInt32
        public var memoryKiB: UInt32
        public var lanes: UInt32
        public var length: Int

        public init(passes: UInt32, memoryKiB: UInt32, lanes: UInt32, length: Int) {
            self.passes = passes
            self.memoryKiB = memoryKiB
            self.lanes = lanes
            self.length = length
        }

        /// minio-go's `encrypt.DefaultPBKDF`, which Argo's S3 driver derives SSE-C keys with:
        /// one pass, 64 MiB, four lanes, 32 bytes.
        public static let minioDefault = Parameters(passes: 1, memoryKiB: 64 * 1024, lanes: 4, length: 32)
        public var memoryBytes: Int { Int(memoryKiB) * 1024 }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "Argon2id: \(message)" }
    }

    public static func derive(password: [UInt8], salt: [UInt8], _ p: Parameters) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: p.length)
        let rc = password.withUnsafeBytes { pw in
            salt.withUnsafeBytes { s in
                out.withUnsafeMutableBytes { o in
                    argo_argon2id(p.passes, p.memoryKiB, p.lanes, pw.baseAddress, pw.count, s.baseAddress, s.count, o.baseAddress, o.count)
                }
            }
        }
        guard rc == 0 else { throw Failure(message: String(cString: argo_argon2_error(rc))) }
        return out
    }
}
